#!/usr/bin/env bash
# Checks Tributary's peer-harness configurations against a copy of the harness
# (default /tmp/peers, see /work/shared/peers/README.md): for each workload,
# starts the mock upstream and `ours.sh`, then
#   - `tributary check` accepts the SDL,
#   - the served schema equals the contract (introspection, descriptions ignored),
#   - the answer's `data` equals `scripts/harness.py expected --workload W`,
#   - the upstream calls per query (expected: 5, 11, 1).
#   PEERS=/tmp/peers TRIBUTARY_BIN=target/release/tributary benches/peers/verify.sh
# Ports: gateway 4700, upstream 4701..4706 (override with GW_PORT / UP_BASE).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PEERS="${PEERS:-/tmp/peers}"
BIN="${TRIBUTARY_BIN:-$HERE/../../target/release/tributary}"
GW_PORT="${GW_PORT:-4700}"
UP_BASE="${UP_BASE:-4701}"
H="python3 $PEERS/scripts/harness.py"
URL="http://127.0.0.1:$GW_PORT/graphql"
TMP="$(mktemp -d /tmp/tributary-verify.XXXXXX)"
UP_PID=""; GW_PID=""
cleanup() {
  [ -n "$GW_PID" ] && { kill -TERM "$GW_PID" 2>/dev/null || true; wait "$GW_PID" 2>/dev/null || true; }
  [ -n "$UP_PID" ] && { kill -TERM "$UP_PID" 2>/dev/null || true; wait "$UP_PID" 2>/dev/null || true; }
  rm -rf "$TMP"
}
trap cleanup EXIT

"$BIN" check "$HERE/product-page.graphql" "$HERE/posts.graphql"
"$PEERS/upstream/target/release/mock-upstream" --host 127.0.0.1 --base-port "$UP_BASE" --threads 1 >"$TMP/up.log" 2>&1 &
UP_PID=$!
for _ in $(seq 1 100); do grep -q ready "$TMP/up.log" 2>/dev/null && break; sleep 0.05; done
$H config --upstream-base-port "$UP_BASE" --latencies 0,0,0,0,0,0
export CATALOGUE_URL="http://127.0.0.1:$UP_BASE/" PRICING_URL="http://127.0.0.1:$((UP_BASE + 1))/" \
  INVENTORY_URL="http://127.0.0.1:$((UP_BASE + 2))/" RECOMMENDATIONS_URL="http://127.0.0.1:$((UP_BASE + 3))/" \
  SHIPPING_URL="http://127.0.0.1:$((UP_BASE + 4))/" PLACEHOLDER_URL="http://127.0.0.1:$((UP_BASE + 5))/"
fail=0
for W in product-page posts-users posts-titles; do
  case $W in
    product-page) BODY="$PEERS/contract/request.json"; CONTRACT="$PEERS/contract/schema.graphql"; CALLS=5 ;;
    posts-users) BODY="$PEERS/contract/posts-users.json"; CONTRACT="$PEERS/contract/posts.graphql"; CALLS=11 ;;
    posts-titles) BODY="$PEERS/contract/posts-titles.json"; CONTRACT="$PEERS/contract/posts.graphql"; CALLS=1 ;;
  esac
  $H expected --upstream-base-port "$UP_BASE" --workload "$W" --id 42 >"$TMP/expected.json"
  WORKLOAD=$W PORT=$GW_PORT HOST=127.0.0.1 TRIBUTARY_BIN="$BIN" "$HERE/ours.sh" >"$TMP/gw.log" 2>&1 &
  GW_PID=$!
  $H wait --url "$URL" --body "$BODY" --timeout 30
  NODE_PATH="$PEERS/node_modules" node "$HERE/schema-diff.mjs" "$URL" "$CONTRACT" || fail=1
  $H stats --upstream-base-port "$UP_BASE" --reset >/dev/null
  if $H check --url "$URL" --body "$BODY" --expected "$TMP/expected.json"; then
    echo "$W: data equals harness.py expected"
  else
    echo "$W: WRONG ANSWER"; fail=1
  fi
  calls=$($H stats --upstream-base-port "$UP_BASE" | python3 -c 'import json,sys; print(sum(json.load(sys.stdin)["requests"].values()))')
  echo "$W: $calls upstream calls for one query (expected $CALLS)"
  [ "$calls" = "$CALLS" ] || fail=1
  kill -TERM "$GW_PID"; wait "$GW_PID" 2>/dev/null || true; GW_PID=""
done
exit $fail
