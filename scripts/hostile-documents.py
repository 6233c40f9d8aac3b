#!/usr/bin/env python3
"""Times hostile GraphQL documents against a running gateway (docs/benchmarks.md,
"Hostile documents against the limits"). Usage:

    tributary upstreams --zero-latency --base-port 4301 &
    sed 's/maxCost: 2000/maxCost: 50000/; s/maxDepth: 16/maxDepth: 32/' schema/demo.graphql > /tmp/limits.graphql
    CATALOGUE_URL=http://127.0.0.1:4301 PRICING_URL=http://127.0.0.1:4302 INVENTORY_URL=http://127.0.0.1:4303 \\
    RECOMMENDATIONS_URL=http://127.0.0.1:4304 SHIPPING_URL=http://127.0.0.1:4305 ORDERS_URL=http://127.0.0.1:4306 \\
        tributary serve /tmp/limits.graphql --listen 127.0.0.1:4666 &
    scripts/hostile-documents.py http://127.0.0.1:4666/graphql

Prints, per document, its size, the status and the best of 5 sequential requests.
"""
import json
import sys
import time
import urllib.error
import urllib.request

URL = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:4666/graphql"


def post(query):
    body = json.dumps({"query": query}).encode()
    req = urllib.request.Request(URL, data=body, headers={
        "content-type": "application/json",
        "accept": "application/graphql-response+json",
    })
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(req) as r:
            data, status = r.read(), r.status
    except urllib.error.HTTPError as e:
        data, status = e.read(), e.code
    return (time.perf_counter() - started) * 1000, status, data[:110]


def fragments(depth, leaf="name"):
    doc = f'query {{ product(id: "1") {{ details {{ ...F{depth} }} }} }}\nfragment F0 on CatalogueEntry {{ {leaf} }}\n'
    for i in range(1, depth + 1):
        doc += f"fragment F{i} on CatalogueEntry {{ ...F{i-1} ...F{i-1} }}\n"
    return doc


CASES = {
    "exponential fragments (2^30 fields)": fragments(30),
    "30,000 __typename aliases": "{ " + " ".join(f"t{i}: __typename" for i in range(30000)) + " }",
    "1,000 aliases x 10 list items (accepted)":
        '{ product(id: "1") { recommendations(limit: 10) { '
        + " ".join(f"a{i}: productId" for i in range(1000)) + " } } }",
    "1,000 aliases, same name, conflicting args":
        '{ product(id: "1") { '
        + " ".join(f"r: recommendations(limit: {i % 50 + 1}) {{ productId }}" for i in range(1000)) + " } }",
    "fragments 12 deep x2 (4,096 fields, accepted)": fragments(12),
}

for name, query in CASES.items():
    runs = [post(query) for _ in range(5)]
    best = min(r[0] for r in runs)
    print(f"{name:48s} {len(query):>8d} B  status {runs[0][1]}  best {best:7.2f} ms  {runs[0][2]!r}")
