#!/usr/bin/env bash
# Federation benchmark: Tributary against Hive Gateway and Apollo Gateway, all serving the
# committed supergraph (schema/federation/supergraph.graphql) over the demo subgraphs
# (`tributary subgraphs`: products :4201, reviews :4202, inventory :4203), with the method
# of the peer harness (/work/shared/peers/bench.sh; its scripts/harness.py does the
# measuring, see fedharness.py).
#
#   benches/federation/bench.sh [GATEWAY ...]
#     GATEWAY = tributary | hive-gateway | hive-gateway-router | apollo-gateway
#               (default: these four; hive-gateway-router is Hive Gateway with
#               @graphql-hive/router-runtime, the Rust query planner)
#             | hive-gateway-dedupe | hive-gateway-router-dedupe
#               (Hive's defaults: identical in-flight subgraph requests of concurrent
#               clients are sent once and shared; not comparable per request, as
#               tailcall-dedupe in the peer harness. The four above share nothing.)
#   LATENCIES=0,20 DURATION=10 CONNS=50 RUNS=1 benches/federation/bench.sh
#
# For each subgraph latency in LATENCIES (the subgraphs are started once per setting,
# `tributary subgraphs --latency-ms L`) and each gateway: start the gateway (pinned to its
# own core when PIN=1), check its answer against the subgraphs called directly, then
#   (i)   sequential latency: SEQ_N keep-alive requests, median; the same three subgraph
#         requests called directly give the critical path (products, then the slower of
#         reviews and inventory): overhead = gateway median - chain
#   (ii)  subgraph requests per query: SEQ_N more sequential requests, counters differenced
#   (iii) load: WARMUP_S of wrk, then wrk -t1 -cCONNS -dDURATION (RPS, p50/p99), gateway
#         CPU seconds per request (/proc utime+stime of the gateway's process tree), subgraph
#         requests per query under load
#   (iv)  peak RSS of the gateway's process tree (sampled every 200 ms over the whole cell)
# then stop the gateway (TERM, KILL after 5 s, by PID). One JSON line per (gateway, latency)
# goes to results/<UTC date>.jsonl; the batch's table and its ratios are printed, and the
# ratios record is appended to results/<UTC date>.ratios.jsonl.
# Traffic goes to 127.0.0.1 only. Every wait is bounded, and the whole run stops starting
# new cells after BUDGET_S seconds.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
GW_DIR="$HERE/gateways"
PEERS_DIR="${PEERS_DIR:-$(cd "$ROOT/.." && pwd)/shared/peers}"
[ -f "$PEERS_DIR/scripts/harness.py" ] || PEERS_DIR=/work/shared/peers
export PEERS_DIR

RUNS="${RUNS:-1}"                    # rounds per latency setting (each runs every gateway once; medians reported)
LATENCIES="${LATENCIES:-0,20}"       # subgraph latency settings, ms; the largest is the "realistic" one
REALISTIC_MS="${REALISTIC_MS:-$(tr ',' '\n' <<<"$LATENCIES" | sort -n | tail -1)}"
DURATION="${DURATION:-10}"
CONNS="${CONNS:-50}"
WARMUP_S="${WARMUP_S:-3}"
SEQ_N="${SEQ_N:-30}"
SEQ_WARMUP="${SEQ_WARMUP:-5}"
WRK_THREADS="${WRK_THREADS:-1}"
BUDGET_S="${BUDGET_S:-1800}"         # no new cell starts after this many seconds
READY_TIMEOUT="${READY_TIMEOUT:-120}"
NICE="${NICE:-$([ "$(id -u)" = 0 ] && echo -10 || echo 0)}"
QUIET_PCT="${QUIET_PCT:-10}"
QUIET_WAIT="${QUIET_WAIT:-60}"
BUILD_WAIT="${BUILD_WAIT:-900}"      # before each cell, wait up to this long while cargo/rustc run on the machine
GW_PORT="${GW_PORT:-4000}"
SG_BASE="${SG_BASE_PORT:-4201}"      # products, reviews, inventory on this port and the next two
NCPU="$(nproc)"
PIN="${PIN:-$([ "$NCPU" -ge 2 ] && echo 1 || echo 0)}"
GW_CPUS="${GW_CPUS:-1}"
REST_CPUS="${REST_CPUS:-0}"
NODE_BIN="${NODE_BIN:-node}"
TRIBUTARY_BIN="${TRIBUTARY_BIN:-$ROOT/target/release/tributary}"
SUPERGRAPH="${SUPERGRAPH:-$ROOT/schema/federation/supergraph.graphql}"
QUERY="${QUERY:-$HERE/top-products.graphql}"
DAY="$(date -u +%Y-%m-%d)"
RESULTS="${RESULTS:-$HERE/results/$DAY.jsonl}"
RATIOS="${RESULTS%.jsonl}.ratios.jsonl"
BATCH="${BATCH:-$(date -u +%Y%m%dT%H%M%SZ)-$$}"
GW_URL="http://127.0.0.1:$GW_PORT/graphql"
H="python3 $HERE/fedharness.py"
TMP="$(mktemp -d /tmp/fed-bench.XXXXXX)"
T_START=$(date +%s)

GATEWAYS=("$@")
[ ${#GATEWAYS[@]} -eq 0 ] && GATEWAYS=(tributary hive-gateway hive-gateway-router apollo-gateway)
IFS=',' read -r -a LATS <<<"$LATENCIES"

SG_PID=""; GW_PID=""; RSS_PID=""
log() { printf '[fedbench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# --- process control: only PIDs this script started ------------------------------------
descendants() { local p="$1" c; echo "$p"; for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do descendants "$c"; done; }
stop_tree() {
  local root="$1" pids p i alive
  [ -z "$root" ] && return 0
  kill -0 "$root" 2>/dev/null || { wait "$root" 2>/dev/null || true; return 0; }
  pids="$(descendants "$root" | tr '\n' ' ')"
  for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
  for i in $(seq 1 50); do
    alive=0; for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && break; sleep 0.1
  done
  for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
  wait "$root" 2>/dev/null || true
}
cleanup() {
  [ -n "$RSS_PID" ] && { kill -TERM "$RSS_PID" 2>/dev/null || true; wait "$RSS_PID" 2>/dev/null || true; }
  stop_tree "$GW_PID"; GW_PID=""
  stop_tree "$SG_PID"; SG_PID=""
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
[ "$NICE" != 0 ] && renice -n "$NICE" -p $$ >/dev/null
pin() { local cpus="$1"; shift; if [ "$PIN" = 1 ]; then taskset -c "$cpus" "$@"; else "$@"; fi; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- prerequisites ------------------------------------------------------------------------
command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)" >&2; exit 1; }
[ -f "$PEERS_DIR/scripts/harness.py" ] && [ -f "$PEERS_DIR/scripts/graphql.lua" ] ||
  { echo "peer harness not found at $PEERS_DIR (set PEERS_DIR)" >&2; exit 1; }
[ "$PIN" = 1 ] && [ "$NCPU" -lt 2 ] && { echo "PIN=1 needs >= 2 CPUs" >&2; exit 1; }

# The tributary binary is rebuilt only when it is missing or older than the newest commit
# that touched src/ or the manifests (a release build takes minutes: niced, once).
src_commit_time=$(git -C "$ROOT" log -1 --format=%ct -- src Cargo.toml Cargo.lock 2>/dev/null || echo 0)
if [ ! -x "$TRIBUTARY_BIN" ] || [ "$(stat -c %Y "$TRIBUTARY_BIN")" -lt "$src_commit_time" ]; then
  if [ "$TRIBUTARY_BIN" != "$ROOT/target/release/tributary" ]; then
    echo "TRIBUTARY_BIN=$TRIBUTARY_BIN is missing or older than the last commit touching src/" >&2; exit 1
  fi
  log "building $TRIBUTARY_BIN (nice cargo build --release --locked --bin tributary)"
  (cd "$ROOT" && nice -n 19 cargo build --release --locked --bin tributary)
fi
needs_node=0
for g in "${GATEWAYS[@]}"; do
  case "$g" in
    tributary) ;;
    hive-gateway|hive-gateway-router|hive-gateway-dedupe|hive-gateway-router-dedupe|apollo-gateway) needs_node=1 ;;
    *) echo "unknown gateway '$g' (tributary, hive-gateway, hive-gateway-router, apollo-gateway, hive-gateway-dedupe, hive-gateway-router-dedupe)" >&2; exit 2 ;;
  esac
done
if [ $needs_node = 1 ] && { [ ! -f "$GW_DIR/node_modules/.package-lock.json" ] ||
     [ "$GW_DIR/package-lock.json" -nt "$GW_DIR/node_modules/.package-lock.json" ]; }; then
  log "installing the peer gateways (npm ci in benches/federation/gateways)"
  (cd "$GW_DIR" && npm ci --no-audit --no-fund >/dev/null)
fi
NODE_VERSION="$("$NODE_BIN" --version 2>/dev/null || echo none)"
pkg_version() { "$NODE_BIN" -p "require('$GW_DIR/node_modules/$1/package.json').version" 2>/dev/null || echo "?"; }
# The label names the newest commit that touched src/ or the manifests (what the binary was
# checked against above), not the checkout's HEAD.
TRIBUTARY_COMMIT="$(git -C "$ROOT" log -1 --format=%h -- src Cargo.toml Cargo.lock 2>/dev/null || echo ?)"
for p in "$GW_PORT" $SG_BASE $((SG_BASE + 1)) $((SG_BASE + 2)); do
  if port_busy "$p"; then echo "port $p is already in use; refusing to start (stop whatever you started there)" >&2; exit 1; fi
done
mkdir -p "$(dirname "$RESULTS")" "$TMP/hive-cwd"
BODY="$TMP/body.json"
# The committed supergraph routes to 4201..4203; on other ports, serve a copy with only
# the join__graph urls rewritten.
if [ "$SG_BASE" != 4201 ]; then
  sed -e "s#127.0.0.1:4201/#127.0.0.1:$SG_BASE/#" -e "s#127.0.0.1:4202/#127.0.0.1:$((SG_BASE + 1))/#" \
      -e "s#127.0.0.1:4203/#127.0.0.1:$((SG_BASE + 2))/#" "$SUPERGRAPH" >"$TMP/supergraph.graphql"
  SUPERGRAPH="$TMP/supergraph.graphql"
fi
$H body --query "$QUERY" >"$BODY"

# --- gateways -------------------------------------------------------------------------------
gw_cmd() {
  local hive="cd $TMP/hive-cwd && exec $NODE_BIN $GW_DIR/node_modules/@graphql-hive/gateway/dist/bin.js"
  local hive_args="supergraph $SUPERGRAPH --host 127.0.0.1 --port $GW_PORT"
  local no_dedupe="-c $GW_DIR/hive-no-dedupe.config.mjs"
  case "$1" in
    tributary) echo "exec $TRIBUTARY_BIN serve $SUPERGRAPH --listen 127.0.0.1:$GW_PORT" ;;
    # Hive runs from an empty folder (it loads gateway.config.* from its working directory);
    # the apples-to-apples variants get hive-no-dedupe.config.mjs, the -dedupe ones Hive's defaults.
    hive-gateway) echo "$hive $no_dedupe $hive_args" ;;
    hive-gateway-router) echo "$hive $no_dedupe $hive_args --hive-router-runtime" ;;
    hive-gateway-dedupe) echo "$hive $hive_args" ;;
    hive-gateway-router-dedupe) echo "$hive $hive_args --hive-router-runtime" ;;
    apollo-gateway) echo "exec $NODE_BIN $GW_DIR/apollo-gateway.mjs" ;;
  esac
}
gw_version() {
  case "$1" in
    tributary) echo "tributary@$TRIBUTARY_COMMIT" ;;
    hive-gateway|hive-gateway-dedupe) echo "@graphql-hive/gateway@$(pkg_version @graphql-hive/gateway)" ;;
    hive-gateway-router|hive-gateway-router-dedupe) echo "@graphql-hive/gateway@$(pkg_version @graphql-hive/gateway)+@graphql-hive/router-runtime@$(pkg_version @graphql-hive/router-runtime)" ;;
    apollo-gateway) echo "@apollo/gateway@$(pkg_version @apollo/gateway)+@apollo/server@$(pkg_version @apollo/server)" ;;
  esac
}

wait_quiet() {  # the machine's busy % before a cell; waits up to QUIET_WAIT s for quiet
  local waited=0 busy
  while :; do
    busy=$($H busy --seconds 1)
    if [ "${busy%.*}" -lt "$QUIET_PCT" ] || [ "$waited" -ge "$QUIET_WAIT" ]; then break; fi
    [ "$waited" = 0 ] && log "machine busy (${busy}% of all CPUs); waiting up to ${QUIET_WAIT}s"
    sleep 4; waited=$((waited + 5))
  done
  [ "$waited" -gt 0 ] && log "waited ${waited}s for quiet (now ${busy}%)"
  echo "$busy"
}
# By process name: `pgrep -f "cargo|rustc"` would also match processes whose command line
# merely mentions ~/.cargo.
builds_running() { pgrep -x 'cargo|rustc|clippy-driver|cargo-clippy' >/dev/null 2>&1; }
wait_builds() {  # no measurement while a build runs: wait up to BUILD_WAIT s (then run; the record says so)
  local waited=0
  while builds_running && [ "$waited" -lt "$BUILD_WAIT" ]; do
    [ "$waited" = 0 ] && log "a cargo/rustc build is running; waiting up to ${BUILD_WAIT}s for it to finish"
    sleep 5; waited=$((waited + 5))
  done
  [ "$waited" -gt 0 ] && log "waited ${waited}s for builds"
  return 0
}

run_cell() {
  local gw="$1" lat="$2" cmd t0 ready_s errors=0 pre_busy build_busy=0
  cmd="$(gw_cmd "$gw")"
  log "=== $gw @ ${lat} ms (run $RUN/$RUNS) ==="
  wait_builds
  pre_busy=$(wait_quiet)
  builds_running && { build_busy=1; log "note: a cargo/rustc process is running during this cell"; }
  NODE_ENV=production PORT="$GW_PORT" HOST=127.0.0.1 SUPERGRAPH="$SUPERGRAPH" \
    pin "$GW_CPUS" bash -c "$cmd" >"$TMP/gw-$gw-$lat.log" 2>&1 &
  GW_PID=$!
  t0=$(date +%s.%N)
  if ! $H wait --url "$GW_URL" --body "$BODY" --timeout "$READY_TIMEOUT"; then
    tail -30 "$TMP/gw-$gw-$lat.log" >&2; stop_tree "$GW_PID"; GW_PID=""; return 1
  fi
  ready_s=$(python3 -c "import time;print(round(time.time()-$t0,2))")
  $H rss --pid "$GW_PID" --out "$TMP/rss.json" & RSS_PID=$!
  if ! $H check --url "$GW_URL" --body "$BODY" --expected "$TMP/expected.json"; then
    log "WRONG ANSWER from $gw"; errors=$((errors + 1))
  fi

  # (i) sequential latency, and (ii) subgraph requests per query from the same kind of run
  local seq chain s0 s1 probe
  seq=$(timeout 300 $H seqlat --url "$GW_URL" --body "$BODY" --n "$SEQ_N" --warmup "$SEQ_WARMUP")
  chain=$(timeout 300 $H chain --base-port $SG_BASE --n "$SEQ_N" --warmup "$SEQ_WARMUP")
  s0=$($H stats --base-port $SG_BASE)
  probe=$(timeout 300 $H seqlat --url "$GW_URL" --body "$BODY" --n "$SEQ_N" --warmup 0)
  s1=$($H stats --base-port $SG_BASE)
  log "seq: gateway $(python3 -c "import json,sys;print(json.loads(sys.argv[1])['median_ms'])" "$seq") ms | direct chain $(python3 -c "import json,sys;print(json.loads(sys.argv[1])['chain_ms'])" "$chain") ms"

  # (iii) load
  BODY_FILE="$BODY" timeout $((WARMUP_S + 30)) wrk -t"$WRK_THREADS" -c"$CONNS" -d"${WARMUP_S}s" -s "$PEERS_DIR/scripts/graphql.lua" "$GW_URL" >/dev/null 2>&1 || true
  sleep 1
  local gw0 gw1 sg0 sg1 st0 st1 m0 m1 fticks
  st0=$($H stats --base-port $SG_BASE)
  gw0=$($H cputicks --pid "$GW_PID"); sg0=$($H cputicks --pid "$SG_PID"); m0=$($H cpustat)
  $H foreign --pid $$ --snapshot "$TMP/foreign.json"
  BODY_FILE="$BODY" /usr/bin/time -f "WRKCPU %U %S" -o "$TMP/wrk.time" \
    timeout $((DURATION + 30)) wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 10s --latency \
    -s "$PEERS_DIR/scripts/graphql.lua" "$GW_URL" >"$TMP/wrk.out" 2>&1 || true
  gw1=$($H cputicks --pid "$GW_PID"); sg1=$($H cputicks --pid "$SG_PID"); m1=$($H cpustat)
  fticks=$($H foreign --pid $$ --since "$TMP/foreign.json")
  st1=$($H stats --base-port $SG_BASE)
  builds_running && build_busy=1
  if ! $H check --url "$GW_URL" --body "$BODY" --expected "$TMP/expected.json"; then
    log "WRONG ANSWER from $gw after load"; errors=$((errors + 1))
  fi
  kill -TERM "$RSS_PID" 2>/dev/null || true; wait "$RSS_PID" 2>/dev/null || true; RSS_PID=""
  local threads; threads=$($H threads --pid "$GW_PID")
  stop_tree "$GW_PID"; GW_PID=""

  local wrkjson; wrkjson=$(grep '^JSON ' "$TMP/wrk.out" | sed 's/^JSON //' || true)
  if [ -z "$wrkjson" ]; then cat "$TMP/wrk.out" >&2; log "wrk produced no summary"; return 1; fi
  python3 - "$gw" "$(gw_version "$gw")" "$lat" "$seq" "$chain" "$s0" "$s1" "$probe" "$wrkjson" "$st0" "$st1" \
      "$gw0" "$gw1" "$sg0" "$sg1" "$m0" "$m1" "$fticks" "$TMP/wrk.time" "$TMP/rss.json" "$errors" "$ready_s" \
      "$threads" "$pre_busy" "$build_busy" >>"$RESULTS" <<'PY'
import json, os, platform, sys
(gw, version, lat, seq, chain, s0, s1, probe, wrk, st0, st1, gw0, gw1, sg0, sg1, m0, m1, fticks, wrktime, rssf,
 errors, ready_s, threads, pre_busy, build_busy) = sys.argv[1:]
seq, chain, probe, wrk = json.loads(seq), json.loads(chain), json.loads(probe), json.loads(wrk)
s0, s1, st0, st1 = json.loads(s0), json.loads(s1), json.loads(st0), json.loads(st1)
tck = os.sysconf("SC_CLK_TCK")
env = os.environ
conns = int(env["CONNS"])
reqs = wrk["requests"]; dur = wrk["duration_us"] / 1e6
nq = reqs + conns  # completed + (at most) in flight when wrk stops, as in the peer harness
seq_calls = {k: s1[k] - s0[k] for k in s1}
load_calls = {k: st1[k] - st0[k] for k in st1}
wrk_cpu = None
try:
    u, s = open(wrktime).read().split("WRKCPU")[1].split()[:2]; wrk_cpu = round(float(u) + float(s), 2)
except Exception:
    pass
rss = json.load(open(rssf)) if os.path.exists(rssf) else {}
(mt0, mi0), (mt1, mi1) = [int(x) for x in m0.split()], [int(x) for x in m1.split()]
errs = wrk["err_connect"] + wrk["err_read"] + wrk["err_write"] + wrk["err_status"] + wrk["err_timeout"] + int(errors)
rec = {
  "batch": env["BATCH"], "run": int(env.get("RUN", "1")), "workload": "top-products", "gateway": gw, "version": version, "latency_ms": int(lat),
  "host": platform.node(), "ncpu": os.cpu_count(), "node": env.get("NODE_VERSION"), "pin": env.get("PIN"),
  "nice": int(env.get("NICE") or 0), "conns": conns, "duration_s": round(dur, 2), "ready_s": float(ready_s),
  "gw_threads": int(threads),
  "rps": round(reqs / dur, 1), "requests": reqs,
  "p50_ms": wrk["p50_us"] / 1000, "p90_ms": wrk["p90_us"] / 1000, "p99_ms": wrk["p99_us"] / 1000,
  "p999_ms": wrk["p999_us"] / 1000, "max_ms": wrk["max_us"] / 1000, "errors": errs,
  "gw_cpu_s": round((int(gw1) - int(gw0)) / tck, 2),
  "gw_cpu_us_per_req": round((int(gw1) - int(gw0)) / tck / reqs * 1e6, 1) if reqs else None,
  "subgraphs_cpu_s": round((int(sg1) - int(sg0)) / tck, 2), "wrk_cpu_s": wrk_cpu,
  "peak_rss_mib": round(rss.get("peak_tree_rss_kib", 0) / 1024, 1),
  "seq_median_ms": seq["median_ms"], "seq_p90_ms": seq["p90_ms"], "seq_min_ms": seq["min_ms"], "seq_max_ms": seq["max_ms"],
  "direct_ms": {k: chain[k + "_ms"] for k in ("products", "reviews", "inventory")},
  "chain_ms": chain["chain_ms"], "chain_hops": chain["hops"],
  "overhead_ms": round(seq["median_ms"] - chain["chain_ms"], 3),
  "upstream_calls_per_query": round(sum(seq_calls.values()) / probe["n"], 3),
  "upstream_calls_by_subgraph": {k: round(v / probe["n"], 3) for k, v in seq_calls.items()},
  "upstream_calls_per_query_load": round(sum(load_calls.values()) / nq, 3) if reqs else None,
  "upstream_calls_by_subgraph_load": {k: round(v / nq, 3) for k, v in load_calls.items()} if reqs else None,
  "pre_run_busy_pct": float(pre_busy), "other_cpu_s": round(int(fticks) / tck, 2),
  "softirq_cpu_s": round((mi1 - mi0) / tck, 2), "build_running": bool(int(build_busy)),
}
print(json.dumps(rec))
print(f"  {gw} @ {lat} ms: {rec['rps']:.0f} rps p50 {rec['p50_ms']:.2f} p99 {rec['p99_ms']:.2f} ms | "
      f"cpu {rec['gw_cpu_us_per_req']} us/req | seq p50 {rec['seq_median_ms']:.2f} ms (chain {rec['chain_ms']:.2f}, "
      f"overhead {rec['overhead_ms']:.2f}) | calls/query {rec['upstream_calls_per_query']} "
      f"(load {rec['upstream_calls_per_query_load']}) | rss {rec['peak_rss_mib']} MiB | other cpu {rec['other_cpu_s']} s "
      f"| errors {errs}", file=sys.stderr)
PY
}

export BATCH CONNS NODE_VERSION PIN NICE RUNS
log "batch $BATCH: gateways ${GATEWAYS[*]}; latencies $LATENCIES ms; ${CONNS} conns, ${DURATION}s (+${WARMUP_S}s warm-up); pin=$PIN (gateway cpu $GW_CPUS, rest $REST_CPUS)"
for lat in "${LATS[@]}"; do
  log "starting subgraphs on 127.0.0.1:$SG_BASE..$((SG_BASE + 2)) at ${lat} ms (cpus $REST_CPUS when pinned)"
  pin "$REST_CPUS" "$TRIBUTARY_BIN" subgraphs --host 127.0.0.1 --base-port $SG_BASE --latency-ms "$lat" >"$TMP/subgraphs.log" 2>&1 &
  SG_PID=$!
  for i in $(seq 1 100); do [ "$(grep -c '^subgraph' "$TMP/subgraphs.log" 2>/dev/null)" = 3 ] && break; sleep 0.1; done
  [ "$(grep -c '^subgraph' "$TMP/subgraphs.log")" = 3 ] || { cat "$TMP/subgraphs.log" >&2; exit 1; }
  [ "$PIN" = 1 ] && taskset -pc "$REST_CPUS" $$ >/dev/null
  $H expected --base-port $SG_BASE >"$TMP/expected.json"
  for run in $(seq 1 "$RUNS"); do
    for gw in "${GATEWAYS[@]}"; do
      if [ $(( $(date +%s) - T_START )) -ge "$BUDGET_S" ]; then log "time budget (${BUDGET_S}s) used up: skipping $gw @ ${lat} ms"; continue; fi
      RUN="$run" run_cell "$gw" "$lat" || log "cell failed: $gw @ ${lat} ms (run $run)"
    done
  done
  stop_tree "$SG_PID"; SG_PID=""
done

echo
echo "batch $BATCH (workload top-products; $NCPU CPUs, pin=$PIN; nice $NICE; node $NODE_VERSION; ${CONNS} conns, ${DURATION}s; tributary $TRIBUTARY_COMMIT; records in ${RESULTS#$ROOT/})"
$H verdict --jsonl "$RESULTS" --batch "$BATCH" --realistic-ms "$REALISTIC_MS" | tee "$TMP/verdict.txt" | grep -v '^{"kind": "ratios"'
tail -1 "$TMP/verdict.txt" >>"$RATIOS"
