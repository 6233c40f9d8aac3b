#!/usr/bin/env python3
"""Ratios of `ours` to the Tailcall peers, per batch of the peer harness.

    python3 benches/peers/ratios.py /tmp/peers/results/results.jsonl BATCH [BATCH ...]

For each batch and workload: medians over the batch's runs of each peer, and
for every peer whose label starts with `ours`: ours / tailcall (product-page), ours / tailcall-plain (posts-*: the
apples-to-apples Tailcall configuration; `tailcall` there batches and shares
upstream calls across client requests, so it is shown for reference only).
Also checks the targets: CPU/request <= 0.7x (goal 0.5x), RPS >= 1.5x,
overhead < 0.5 ms, p99/p50 <= 2, peak RSS <= Tailcall's.
"""
import json
import statistics
import sys


def main(path, batches):
    recs = [json.loads(l) for l in open(path) if l.strip()]
    for batch in batches:
        rows = [r for r in recs if r["batch"] == batch]
        print(f"\n## batch {batch}")
        for wl in ("product-page", "posts-users", "posts-titles"):
            by = {}
            for r in rows:
                if r["workload"] == wl:
                    by.setdefault(r["peer"], []).append(r)
            ours_names = sorted(p for p in by if p.startswith("ours"))
            if not ours_names:
                continue
            med = {p: {k: statistics.median([x[k] for x in rs]) for k in
                       ("rps", "gw_cpu_us_per_req", "p50_ms", "p99_ms", "overhead_ms", "peak_rss_mib",
                        "upstream_calls_per_query", "other_cpu_s")} | {"n": len(rs)}
                   for p, rs in by.items()}
            print(f"\n{wl}")
            print("| peer | runs | RPS | CPU/req (us) | p50 / p99 (ms) | p99/p50 | overhead (ms) | peak RSS (MiB) | calls/query | other CPU (s) |")
            print("|---|---|---|---|---|---|---|---|---|---|")
            for p, m in sorted(med.items()):
                print(f"| {p} | {m['n']} | {m['rps']:.0f} | {m['gw_cpu_us_per_req']:.0f} | {m['p50_ms']:.2f} / {m['p99_ms']:.2f} "
                      f"| {m['p99_ms'] / m['p50_ms']:.2f} | {m['overhead_ms']:.2f} | {m['peak_rss_mib']:.1f} "
                      f"| {m['upstream_calls_per_query']:.2f} | {m['other_cpu_s']:.1f} |")
            refs = ["tailcall"] if wl == "product-page" else ["tailcall-plain", "tailcall"]
            for name in ours_names:
                o = med[name]
                for ref in refs:
                    if ref not in med:
                        continue
                    t = med[ref]
                    note = "" if ref != "tailcall" or wl == "product-page" else " (shares calls across requests: not comparable)"
                    cpu = o["gw_cpu_us_per_req"] / t["gw_cpu_us_per_req"]
                    rps = o["rps"] / t["rps"]
                    rss = o["peak_rss_mib"] / t["peak_rss_mib"]
                    print(f"{name} / {ref}{note}: CPU/req {cpu:.2f}x (target <= 0.7, goal 0.5: "
                          f"{'met' if cpu <= 0.7 else f'short, needs -{(1 - 0.7 / cpu) * 100:.0f}%'}), "
                          f"RPS {rps:.2f}x (target >= 1.5: {'met' if rps >= 1.5 else 'short'}), "
                          f"peak RSS {rss:.2f}x ({'met' if rss <= 1 else 'short'})")
                print(f"{name}: overhead {o['overhead_ms']:.2f} ms (target < 0.5: {'met' if o['overhead_ms'] < 0.5 else 'short'}), "
                      f"p99/p50 {o['p99_ms'] / o['p50_ms']:.2f} (target <= 2: {'met' if o['p99_ms'] / o['p50_ms'] <= 2 else 'short'})")

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
