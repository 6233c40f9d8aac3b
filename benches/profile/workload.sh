# Sourced by profile.sh and callgrind.sh. Given WORKLOAD, PEERS, OUT and UP
# (the mock upstream's base port), sets SCHEMA (the schema file) and BODY (the
# request), and has `start_upstream [taskset prefix...]` start the upstreams at
# zero latency, wait for them, set UPP to their PID and export the *_URL
# variables the schemas read. SCHEMA, when set, is kept. The federation workload serves the demo
# supergraph over the demo subgraphs (`tributary subgraphs` of the binary
# FED_SUBGRAPHS_BIN, default target/release/tributary, on 4201..4203, the
# ports the supergraph names) with benches/federation/top-products.graphql.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
case "$WORKLOAD" in
  product-page) SCHEMA="${SCHEMA:-$ROOT/benches/peers/product-page.graphql}"; BODY="$PEERS/contract/request.json" ;;
  posts-users|posts-titles) SCHEMA="${SCHEMA:-$ROOT/benches/peers/posts.graphql}"; BODY="$PEERS/contract/$WORKLOAD.json" ;;
  federation)
    SCHEMA="${SCHEMA:-$ROOT/schema/federation/supergraph.graphql}"; BODY="$OUT/federation-request.json"
    python3 -c 'import json,sys; print(json.dumps({"query": open(sys.argv[1]).read()}))' \
      "$ROOT/benches/federation/top-products.graphql" >"$BODY" ;;
  *) echo "unknown workload $WORKLOAD" >&2; exit 2 ;;
esac
start_upstream() {
  if [ "$WORKLOAD" = federation ]; then
    "$@" "${FED_SUBGRAPHS_BIN:-$ROOT/target/release/tributary}" subgraphs --base-port 4201 >"$OUT/upstream.log" 2>&1 &
    UPP=$!
    for _ in $(seq 1 100); do
      curl -s -o /dev/null http://127.0.0.1:4203/ 2>/dev/null && break; sleep 0.05
    done
    return
  fi
  "$@" "$PEERS/upstream/target/release/mock-upstream" --host 127.0.0.1 --base-port "$UP" \
    --threads 1 --profile zero >"$OUT/upstream.log" 2>&1 &
  UPP=$!
  for _ in $(seq 1 100); do grep -q ready "$OUT/upstream.log" 2>/dev/null && break; sleep 0.05; done
  export CATALOGUE_URL=http://127.0.0.1:$UP/ PRICING_URL=http://127.0.0.1:$((UP + 1))/ \
    INVENTORY_URL=http://127.0.0.1:$((UP + 2))/ RECOMMENDATIONS_URL=http://127.0.0.1:$((UP + 3))/ \
    SHIPPING_URL=http://127.0.0.1:$((UP + 4))/ PLACEHOLDER_URL=http://127.0.0.1:$((UP + 5))/
}
