#!/usr/bin/env python3
"""Federation helpers for bench.sh (stdlib only). Subcommands of its own:

  body      --query F [--operation-name N]     -> the POST body (JSON) for an operation file
  expected  --base-port P                      -> the workload's `data`, built by calling the three subgraphs
                                                  directly (products, then reviews and inventory _entities)
  chain     --base-port P --n N --warmup W     -> sequential medians of those three direct subgraph requests and
                                                  the critical path: products + max(reviews, inventory)
  stats     --base-port P                      -> requests served so far by each subgraph (GET /__stats; the
                                                  counters have no reset, so bench.sh takes differences)
  verdict   --jsonl F --batch B [--realistic-ms L] -> table of a batch and its `ratios` record (JSON, last line)

Everything else (wait, check, seqlat, cputicks, rss, cpustat, busy, foreign, threads) is the peer harness's
scripts/harness.py (PEERS_DIR, default /work/shared/peers), so both benchmarks measure the same way.
"""
import argparse
import json
import os
import statistics
import sys
import time
import urllib.request
import http.client

SUBGRAPHS = ["products", "reviews", "inventory"]  # base port + 0, 1, 2 (src/demo/subgraphs/mod.rs)
FIRST = 20
PRODUCTS_Q = "query { topProducts(first: %d) { upc name price weight } }" % FIRST
REVIEWS_Q = ("query($r: [_Any!]!) { _entities(representations: $r) "
             "{ ... on Product { reviews { body author { username } } } } }")
INVENTORY_Q = ("query($r: [_Any!]!) { _entities(representations: $r) "
               "{ ... on Product { inStock shippingEstimate } } }")


def _url(port):
    return f"http://127.0.0.1:{port}/graphql"


def _gql(conn, query, variables=None):
    body = json.dumps({"query": query, "variables": variables or {}})
    conn.request("POST", "/graphql", body=body, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    doc = json.loads(r.read())
    if r.status != 200 or doc.get("errors"):
        raise SystemExit(f"subgraph answered HTTP {r.status}: {json.dumps(doc)[:500]}")
    return doc["data"]


def _conns(base):
    return [http.client.HTTPConnection("127.0.0.1", base + i, timeout=30) for i in range(3)]


def _direct(base, conns=None):
    conns = conns or _conns(base)
    products = _gql(conns[0], PRODUCTS_Q)["topProducts"]
    reviews = _gql(conns[1], REVIEWS_Q, {"r": [{"__typename": "Product", "upc": p["upc"]} for p in products]})
    stock = _gql(conns[2], INVENTORY_Q, {"r": [{"__typename": "Product", "upc": p["upc"], "price": p["price"],
                                                "weight": p["weight"]} for p in products]})
    return products, reviews["_entities"], stock["_entities"]


def cmd_body(a):
    doc = {"query": open(a.query).read(), "variables": {}}
    if a.operation_name:
        doc["operationName"] = a.operation_name
    print(json.dumps(doc))


def cmd_expected(a):
    products, reviews, stock = _direct(a.base_port)
    data = {"topProducts": [
        {"upc": p["upc"], "name": p["name"], "price": p["price"], "reviews": r["reviews"],
         "inStock": s["inStock"], "shippingEstimate": s["shippingEstimate"]}
        for p, r, s in zip(products, reviews, stock)]}
    json.dump(data, sys.stdout, sort_keys=True)
    print()


def cmd_chain(a):
    conns = _conns(a.base_port)
    products, _, _ = _direct(a.base_port, conns)
    calls = [
        (PRODUCTS_Q, None),
        (REVIEWS_Q, {"r": [{"__typename": "Product", "upc": p["upc"]} for p in products]}),
        (INVENTORY_Q, {"r": [{"__typename": "Product", "upc": p["upc"], "price": p["price"], "weight": p["weight"]}
                             for p in products]}),
    ]
    samples = [[], [], []]
    for i in range(a.warmup + a.n):
        for k, (q, v) in enumerate(calls):
            t0 = time.perf_counter()
            _gql(conns[k], q, v)
            if i >= a.warmup:
                samples[k].append((time.perf_counter() - t0) * 1000.0)
    med = [round(statistics.median(s), 3) for s in samples]
    print(json.dumps({"n": a.n, "products_ms": med[0], "reviews_ms": med[1], "inventory_ms": med[2],
                      "chain_ms": round(med[0] + max(med[1], med[2]), 3), "hops": 2}))


def cmd_stats(a):
    out = {}
    for i, name in enumerate(SUBGRAPHS):
        with urllib.request.urlopen(f"http://127.0.0.1:{a.base_port + i}/__stats", timeout=5) as r:
            out[name] = json.loads(r.read())["requests"]
    print(json.dumps(out))


def _median_record(rs):
    """One row per (gateway, latency): the median of each numeric field over the runs."""
    out = dict(rs[0])
    for k, v in rs[0].items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("latency_ms", "run"):
            vals = [r[k] for r in rs if isinstance(r.get(k), (int, float))]
            out[k] = statistics.median(vals) if vals else None
    out["errors"] = sum(r.get("errors", 0) for r in rs)
    out["runs"] = len(rs)
    rps = [r["rps"] for r in rs if r.get("rps") is not None]
    out["rps_range"] = f"{min(rps):.0f}-{max(rps):.0f}" if len(rps) > 1 else "-"
    return out


def cmd_verdict(a):
    rows = [json.loads(l) for l in open(a.jsonl) if l.strip()]
    rows = [r for r in rows if r.get("batch") == a.batch]
    groups = {}
    for r in rows:
        groups.setdefault((r["gateway"], r["latency_ms"]), []).append(r)
    by = {k: _median_record(v) for k, v in groups.items()}
    cols = ["latency_ms", "gateway", "runs", "rps", "rps_range", "p50_ms", "p99_ms", "gw_cpu_us/req", "seq_p50_ms",
            "chain_ms", "overhead_ms", "calls/query (seq)", "calls/query (load)", "peak_rss_MiB", "gw_cpu_s",
            "subgraphs_cpu_s", "other_cpu_s", "errors"]
    print("(medians over runs)" if any(len(v) > 1 for v in groups.values()) else "")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    f = lambda v, s: "-" if v is None else format(v, s)  # noqa: E731
    for (g, latency), r in sorted(by.items(), key=lambda kv: kv[0][1]):
        print("| " + " | ".join([
            str(latency), g, str(r["runs"]), f(r["rps"], ".0f"), r["rps_range"], f(r["p50_ms"], ".2f"),
            f(r["p99_ms"], ".2f"), f(r["gw_cpu_us_per_req"], ".0f"), f(r["seq_median_ms"], ".2f"),
            f(r["chain_ms"], ".2f"), f(r["overhead_ms"], ".2f"), f(r["upstream_calls_per_query"], ".2f"),
            f(r["upstream_calls_per_query_load"], ".2f"), f(r["peak_rss_mib"], ".0f"), f(r["gw_cpu_s"], ".1f"),
            f(r["subgraphs_cpu_s"], ".1f"), f(r["other_cpu_s"], ".2f"), str(r["errors"])]) + " |")
    lat = sorted({latency for _, latency in by})
    realistic = a.realistic_ms if a.realistic_ms is not None else (max(lat) if lat else None)
    ours = "tributary"

    def ratio(k, peer, latency):
        o, p = by.get((ours, latency)), by.get((peer, latency))
        if not o or not p or not o.get(k) or not p.get(k):
            return None
        return round(o[k] / p[k], 3)

    peers = sorted({g for g, _ in by} - {ours})
    rec = {"kind": "ratios", "batch": a.batch, "realistic_latency_ms": realistic, "ours": ours,
           "runs": max((len(v) for v in groups.values()), default=0),
           "cpu_per_req_vs": {}, "rps_vs": {}, "overhead_ms": {}, "p50_ms": {}}
    for latency in lat:
        for p in peers:
            rec["cpu_per_req_vs"].setdefault(p, {})[str(latency)] = ratio("gw_cpu_us_per_req", p, latency)
            rec["rps_vs"].setdefault(p, {})[str(latency)] = ratio("rps", p, latency)
    for (g, latency), r in by.items():
        if latency == realistic:
            rec["overhead_ms"][g] = r["overhead_ms"]
            rec["p50_ms"][g] = r["p50_ms"]
    print()
    print(f"ratios (tributary / peer; overhead = sequential gateway p50 - direct subgraph chain at {realistic} ms):")
    x = lambda v: "-" if v is None else f"{v:.3g}x"  # noqa: E731
    for p in peers:
        c, rr = rec["cpu_per_req_vs"][p], rec["rps_vs"][p]
        print(f"  vs {p:<27} CPU/request " + ", ".join(f"{x(v)} @{k} ms" for k, v in c.items())
              + " | RPS " + ", ".join(f"{x(v)} @{k} ms" for k, v in rr.items()))
    print("  overhead @%s ms: " % realistic
          + ", ".join(f"{g} {v:.2f} ms" for g, v in sorted(rec["overhead_ms"].items()) if v is not None))
    print(json.dumps(rec))


def main():
    own = {"body", "expected", "chain", "stats", "verdict"}
    if len(sys.argv) > 1 and sys.argv[1] not in own and sys.argv[1] not in ("-h", "--help"):
        peers = os.environ.get("PEERS_DIR", "/work/shared/peers")
        sys.path.insert(0, os.path.join(peers, "scripts"))
        try:
            import harness  # the peer harness's helpers (stdlib only)
        except ImportError:
            raise SystemExit(f"fedharness: {peers}/scripts/harness.py not found (set PEERS_DIR)")
        return harness.main()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("body"); p.add_argument("--query", required=True); p.add_argument("--operation-name")
    for name in ("expected", "stats"):
        p = sub.add_parser(name); p.add_argument("--base-port", type=int, default=4201)
    p = sub.add_parser("chain"); p.add_argument("--base-port", type=int, default=4201)
    p.add_argument("--n", type=int, default=30); p.add_argument("--warmup", type=int, default=5)
    p = sub.add_parser("verdict"); p.add_argument("--jsonl", required=True); p.add_argument("--batch", required=True)
    p.add_argument("--realistic-ms", type=int)
    a = ap.parse_args()
    return globals()["cmd_" + a.cmd](a) or 0


if __name__ == "__main__":
    sys.exit(main())
