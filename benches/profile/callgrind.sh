#!/usr/bin/env bash
# Instructions per request, counted by valgrind's callgrind: unlike CPU time
# they do not drift with machine noise, so two builds compare exactly.
#
#   benches/profile/callgrind.sh [product-page|posts-users|posts-titles|federation] [BIN...]
#
# For each binary (default target/release/tributary): starts the peer
# harness's mock upstream at zero latency (PEERS, default /tmp/peers, with
# its upstream built), runs the gateway under callgrind on the workload's
# schema (benches/peers/*.graphql, or the demo supergraph), sends WARM (50) requests, zeroes the
# counters, sends N (200) more one at a time over one keep-alive connection,
# and prints instructions per request (gateway process, all threads).
# SCHEMA=FILE serves FILE instead of the workload's schema (the same types
# with other @server settings, e.g. `compression: false`). FRESH=1 makes
# every request a new document (a comment with the request's number appended
# to the query), so each one is parsed, measured and validated: the cost of a
# document the gateway has not seen.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORKLOAD="${1:-product-page}"
shift || true
BINS=("$@")
[ ${#BINS[@]} -eq 0 ] && BINS=("$HERE/../../target/release/tributary")
PEERS="${PEERS:-/tmp/peers}"
N="${N:-200}"
WARM="${WARM:-50}"
OUT="${OUT:-/tmp/tributary-callgrind}"
GP=4710; UP=4711
mkdir -p "$OUT"
# shellcheck source=workload.sh
. "$HERE/workload.sh"
UPP=""; GWP=""
cleanup() {
  for p in $GWP $UPP; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
start_upstream
send() {
  python3 - "$1" "$BODY" "$GP" "${FRESH:-0}" <<'PY'
import http.client, json, sys, time
n, body, port, fresh = int(sys.argv[1]), open(sys.argv[2], 'rb').read(), int(sys.argv[3]), sys.argv[4] == '1'
c = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
stamp = time.monotonic_ns()
for i in range(n):
    if fresh:
        request = json.loads(body)
        request['query'] += f'\n# {stamp}-{i}'
        sent = json.dumps(request).encode()
    else:
        sent = body
    c.request('POST', '/graphql', sent, {'content-type': 'application/json'})
    r = c.getresponse(); data = r.read()
    if r.status != 200 or b'"errors"' in data:
        sys.exit(f'bad answer {r.status}: {data[:300]!r}')
PY
}
for BIN in "${BINS[@]}"; do
  valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.%p" --collect-atstart=yes \
    "$BIN" serve "$SCHEMA" --listen 127.0.0.1:$GP >"$OUT/gateway.log" 2>&1 &
  GWP=$!
  python3 "$PEERS/scripts/harness.py" wait --url http://127.0.0.1:$GP/graphql --body "$BODY" --timeout 120 >/dev/null
  send "$WARM"
  callgrind_control --zero $GWP >/dev/null
  send "$N"
  callgrind_control --dump=measured $GWP >/dev/null
  sleep 1
  kill -TERM $GWP; wait $GWP 2>/dev/null || true; GWP=""
  # The dump taken after zeroing holds exactly the N requests.
  measured=$(grep -l 'measured' "$OUT"/callgrind.* 2>/dev/null | xargs -r grep -h '^summary:' | awk '{s += $2} END {print s}')
  echo "$WORKLOAD $BIN: $((measured / N)) instructions/request (N=$N after $WARM warm-up)"
  # KEEP=1 keeps the measured dump for callgrind_annotate.
  if [ "${KEEP:-0}" = 1 ]; then
    for f in $(grep -l 'measured' "$OUT"/callgrind.*); do mv "$f" "$OUT/measured-$WORKLOAD-$(basename "$BIN")-$(date +%s%N).out"; done
  fi
  rm -f "$OUT"/callgrind.*
done
