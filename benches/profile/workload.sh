# Sourced by profile.sh and callgrind.sh. Given WORKLOAD, PEERS, OUT and UP
# (the mock upstream's base port), sets SDL (the schema in benches/peers) and
# BODY (the request), and has `start_upstream [taskset prefix...]` start the
# peer harness's mock upstream at zero latency, wait for it, set UPP to its
# PID and export the *_URL variables the schemas read.
case "$WORKLOAD" in
  product-page) SDL=product-page.graphql; BODY="$PEERS/contract/request.json" ;;
  posts-users|posts-titles) SDL=posts.graphql; BODY="$PEERS/contract/$WORKLOAD.json" ;;
  *) echo "unknown workload $WORKLOAD" >&2; exit 2 ;;
esac
start_upstream() {
  "$@" "$PEERS/upstream/target/release/mock-upstream" --host 127.0.0.1 --base-port "$UP" \
    --threads 1 --profile zero >"$OUT/upstream.log" 2>&1 &
  UPP=$!
  for _ in $(seq 1 100); do grep -q ready "$OUT/upstream.log" 2>/dev/null && break; sleep 0.05; done
  export CATALOGUE_URL=http://127.0.0.1:$UP/ PRICING_URL=http://127.0.0.1:$((UP + 1))/ \
    INVENTORY_URL=http://127.0.0.1:$((UP + 2))/ RECOMMENDATIONS_URL=http://127.0.0.1:$((UP + 3))/ \
    SHIPPING_URL=http://127.0.0.1:$((UP + 4))/ PLACEHOLDER_URL=http://127.0.0.1:$((UP + 5))/
}
