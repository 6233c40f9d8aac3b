#!/usr/bin/env bash
# Profiles Tributary under the peer harness's zero-latency load, with perf.
#
#   benches/profile/profile.sh [product-page|posts-users|posts-titles|federation]
#
# Needs: a copy of the peer harness with its mock upstream built (PEERS,
# default /tmp/peers), wrk, perf (linux-perf), taskset; a release binary
# (TRIBUTARY_BIN, default target/release/tributary: its `line-tables-only`
# debug info gives symbols). The gateway runs on cpu 1, upstream + wrk on
# cpu 0; ports 4700 (gateway) and 4701..4706 (upstream).
#
# MODE=dwarf (default): perf record --call-graph dwarf at FREQ (399) Hz for
#   SECS (8) s, then benches/profile/phases.py prints time by component.
# MODE=flat: no call graph, FREQ 1999: perf report by symbol and by DSO.
# OUT (default /tmp/tributary-profile) keeps perf.data, stacks and wrk output.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORKLOAD="${1:-product-page}"
PEERS="${PEERS:-/tmp/peers}"
BIN="${TRIBUTARY_BIN:-$HERE/../../target/release/tributary}"
OUT="${OUT:-/tmp/tributary-profile}"
MODE="${MODE:-dwarf}"
SECS="${SECS:-8}"
GP=4700; UP=4701
if [ "$MODE" = dwarf ]; then FREQ="${FREQ:-399}"; else FREQ="${FREQ:-1999}"; fi
mkdir -p "$OUT"
# shellcheck source=workload.sh
. "$HERE/workload.sh"
UPP=""; GWP=""; WRKP=""
cleanup() {
  for p in $WRKP $GWP $UPP; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
start_upstream taskset -c 0
taskset -c 1 "$BIN" serve "$SCHEMA" --listen 127.0.0.1:$GP >"$OUT/gateway.log" 2>&1 &
GWP=$!
python3 "$PEERS/scripts/harness.py" wait --url http://127.0.0.1:$GP/graphql --body "$BODY" --timeout 30
BODY_FILE="$BODY" taskset -c 0 wrk -t1 -c50 -d$((SECS + 6))s -s "$PEERS/scripts/graphql.lua" \
  http://127.0.0.1:$GP/graphql >"$OUT/wrk-$WORKLOAD-$MODE.out" 2>&1 &
WRKP=$!
sleep 3   # warm-up
T0=$(awk '{print $14 + $15}' /proc/$GWP/stat)
if [ "$MODE" = dwarf ]; then
  perf record -q -e cpu-clock -F "$FREQ" --call-graph dwarf,65528 -p $GWP -o "$OUT/perf-$WORKLOAD-$MODE.data" -- sleep "$SECS"
else
  perf record -q -e cpu-clock -F "$FREQ" -p $GWP -o "$OUT/perf-$WORKLOAD-$MODE.data" -- sleep "$SECS"
fi
T1=$(awk '{print $14 + $15}' /proc/$GWP/stat)
wait $WRKP || true; WRKP=""
grep '^JSON' "$OUT/wrk-$WORKLOAD-$MODE.out" | sed "s/^JSON /wrk: /"
echo "gateway CPU during perf: $(( (T1 - T0) ))/$(getconf CLK_TCK) s over ${SECS} s (perf adds overhead; use the benchmarks for CPU/request)"
if [ "$MODE" = dwarf ]; then
  perf script -i "$OUT/perf-$WORKLOAD-$MODE.data" -F comm,tid,time,ip,sym,dso --no-inline 2>/dev/null >"$OUT/stacks-$WORKLOAD.txt"
  python3 "$HERE/phases.py" "$OUT/stacks-$WORKLOAD.txt"
else
  perf report -i "$OUT/perf-$WORKLOAD-$MODE.data" --stdio --no-children --sort dso 2>/dev/null | grep -v '^#' | grep -v '^$' | head -8
  perf report -i "$OUT/perf-$WORKLOAD-$MODE.data" --stdio --no-children --sort sym 2>/dev/null | grep -v '^#' | grep -v '^$' | head -40
fi
