#!/usr/bin/env python3
"""Attributes the samples of a `perf record --call-graph dwarf` profile of the
gateway to components.

    perf record -e cpu-clock -F 399 --call-graph dwarf,65528 -p PID -- sleep 8
    perf script -F comm,tid,time,ip,sym,dso --no-inline > stacks.txt
    python3 benches/profile/phases.py stacks.txt

Kernel and allocator time count as their own components. Any other sample is
charged to the nearest enclosing frame (leaf to root) that belongs to a
component; utility frames (std, core, alloc, hashbrown, indexmap, http,
bytes, futures, memcpy, ...) are charged to whoever called them.
"""
import collections
import re
import sys

# (component, regex on one frame's symbol); first match wins for a frame.
COMPONENTS = [
    ("async-graphql: validate", r"^async_graphql::validation::"),
    ("async-graphql: parse", r"^(async_graphql_parser::|async_graphql::parser::|pest::)"),
    ("async-graphql: execute (dynamic schema, extensions, values)", r"^<?(async_graphql|async_graphql_value)::|^<async_graphql|as async_graphql::"),
    ("ours: upstream request render (templates, url crate)", r"tributary::upstream::request|^<?url::|^<?idna::|percent_encoding"),
    ("ours: upstream guards (breaker, retry budget, deadlines)", r"tributary::upstream::guard"),
    ("ours: upstream client wrapper (body read, JSON parse)", r"tributary::upstream::client"),
    ("ours: plan/exec/resolvers/coercion", r"tributary::(exec|schema)::"),
    ("ours: HTTP handler, document cache, response", r"tributary::(http|gateway|server)::|^<?moka::"),
    ("serde_json", r"^<?serde_json::|serde_core::|serde_json::"),
    ("reqwest + hyper client + pool", r"^<?(reqwest|hyper_util::client|hyper::client|hyper_rustls|tower::retry|tower_http)::|reqwest::|hyper_util::client"),
    ("hyper h1 (client or server, by stack)", r"^<?(hyper::proto|httparse|hyper::body|hyper::common)"),
    ("axum + hyper server", r"^<?(axum|hyper::server|hyper_util::server|tower::)|axum::|hyper_util::server"),
    ("tokio runtime (scheduler, io driver, timers, mpsc)", r"^<?tokio::"),
]
COMPONENTS = [(name, re.compile(rx)) for name, rx in COMPONENTS]


def read(path):
    samples, frames = [], []
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        if not line.strip():
            if frames:
                samples.append(frames)
            frames = []
            continue
        m = re.match(r"\s+[0-9a-f]+ (.*) \((.*)\)$", line)
        if m:
            frames.append((m.group(1), m.group(2)))
    if frames:
        samples.append(frames)
    return samples


def component(stack):
    sym, dso = stack[0]
    if "kernel" in dso:
        return "kernel (syscalls, TCP/loopback, scheduler)"
    if sym.startswith(("mi_", "_mi_")) or "mimalloc" in sym:
        return "allocator (mimalloc malloc/free)"
    joined = "\n".join(s for s, _ in stack)
    for s, _ in stack:
        for name, rx in COMPONENTS:
            if rx.search(s):
                if name.startswith("hyper h1"):
                    return ("hyper h1 client side" if re.search(r"hyper::client::", joined)
                            else "axum + hyper server")
                if name == "reqwest + hyper client + pool" or name == "axum + hyper server":
                    return name
                return name
    if "vdso" in dso:
        return "vdso clock_gettime"
    return "other (std/libc without an owner frame)"


GROUPS = {
    "ours": lambda c: c.startswith("ours:"),
    "async-graphql": lambda c: c.startswith("async-graphql"),
    "upstream HTTP client (reqwest/hyper client, tokio mpsc to conn task)": lambda c: c in ("reqwest + hyper client + pool", "hyper h1 client side"),
    "server HTTP (axum/hyper server)": lambda c: c == "axum + hyper server",
    "serde_json": lambda c: c == "serde_json",
    "tokio runtime": lambda c: c.startswith("tokio"),
    "allocator": lambda c: c.startswith("allocator"),
    "kernel": lambda c: c.startswith("kernel"),
}


def main(path):
    samples = read(path)
    n = len(samples)
    comp = collections.Counter(component(st) for st in samples)
    # where serde_json time comes from
    sj = collections.Counter()
    for st in samples:
        if component(st) == "serde_json":
            joined = "\n".join(s for s, _ in st)
            if "tributary::upstream" in joined:
                sj["upstream response parse"] += 1
            elif "parse_body" in joined:
                sj["request body parse"] += 1
            elif "json_response" in joined or "serde_json::ser" in joined:
                sj["response serialization"] += 1
            else:
                sj["other"] += 1
    print(f"{n} samples ({path})\n")
    print("by component (leaf, or nearest owning frame):")
    for k, v in comp.most_common():
        print(f"  {100.0 * v / n:5.1f}%  {k}")
    print("\ngrouped:")
    for g, f in GROUPS.items():
        v = sum(c for k, c in comp.items() if f(k))
        print(f"  {100.0 * v / n:5.1f}%  {g}")
    if sj:
        print("\nserde_json by context:")
        for k, v in sj.most_common():
            print(f"  {100.0 * v / n:5.1f}%  {k}")


if __name__ == "__main__":
    main(sys.argv[1])
