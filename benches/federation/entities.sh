#!/usr/bin/env bash
# Supergraph entities below a REST answer (`@entity`), measured: the demo
# supergraph with schema/federation/overlay.graphql, the demo's subgraphs and
# REST services at zero latency, one operation that needs one REST call and
# three `@entity` fields (nested lists included), sent N (500) times one at a
# time after WARM (50). Prints upstream requests per query, the gateway's CPU
# per request (utime+stime from /proc) and latency p50/p99.
#
#   benches/federation/entities.sh [BIN]     (default target/release/tributary)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$HERE/../.."
BIN="${1:-$ROOT/target/release/tributary}"
N="${N:-500}"
WARM="${WARM:-50}"
PORT="${PORT:-4320}"
SG_PORT="${SG_PORT:-4330}"
UP_PORT="${UP_PORT:-4340}"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

"$BIN" subgraphs --base-port "$SG_PORT" >/dev/null 2>&1 & pids+=($!)
"$BIN" upstreams --base-port "$UP_PORT" --zero-latency >/dev/null 2>&1 & pids+=($!)
sleep 1
# The supergraph names the subgraphs' default ports; point them at ours.
work="$(mktemp -d)"
sed -e "s#127.0.0.1:4201#127.0.0.1:$SG_PORT#; s#127.0.0.1:4202#127.0.0.1:$((SG_PORT + 1))#; s#127.0.0.1:4203#127.0.0.1:$((SG_PORT + 2))#" \
  "$ROOT/schema/federation/supergraph.graphql" > "$work/supergraph.graphql"
SHIPPING_URL="http://127.0.0.1:$((UP_PORT + 4))" ORDERS_URL="http://127.0.0.1:$((UP_PORT + 5))" \
  "$BIN" serve "$work/supergraph.graphql" --overlay "$ROOT/schema/federation/overlay.graphql" \
  --listen "127.0.0.1:$PORT" >"$work/serve.log" 2>&1 & gw=$!; pids+=($gw)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done

python3 - "$PORT" "$gw" "$N" "$WARM" <<'PY'
import http.client, json, sys, time
port, pid, n, warm = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
query = ('{ recentOrders(customer: "c1") { id product { name inStock reviews { body } } '
         'lines { quantity product { name } } suggested { upc name } } }')
body = json.dumps({"query": query}).encode()
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
def ask(headers=None):
    c.request("POST", "/graphql", body, {"content-type": "application/json", **(headers or {})})
    r = c.getresponse(); data = json.loads(r.read())
    assert r.status == 200 and "errors" not in data, data
    return data
timeline = ask({"tributary-timeline": "1"})["extensions"]["timeline"]["calls"]
calls = {}
for call in timeline:
    calls[call["upstream"]] = calls.get(call["upstream"], 0) + 1
for _ in range(warm):
    ask()
def cpu():
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0
before, lat = cpu(), []
for _ in range(n):
    t = time.perf_counter(); ask(); lat.append((time.perf_counter() - t) * 1000)
used = cpu() - before
lat.sort()
print(f"upstream requests per query: {sum(calls.values())} ({', '.join(f'{k} {v}' for k, v in sorted(calls.items()))})")
print(f"gateway CPU per request: {used / n * 1e6:.0f} us (N={n})")
print(f"latency p50 {lat[n // 2]:.2f} ms, p99 {lat[int(n * 0.99) - 1]:.2f} ms")
PY
