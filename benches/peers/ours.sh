#!/usr/bin/env bash
# Starts Tributary for the peer harness (/work/shared/peers/bench.sh), picking
# the configuration for the workload bench.sh is running:
#   product-page               -> product-page.graphql
#   posts-users, posts-titles  -> posts.graphql
# bench.sh sets WORKLOAD, PORT (and the *_URL variables the SDL reads) and
# runs this pinned to the gateway core; it stops it with SIGTERM.
#
#   RUNS=1 WORKLOADS=all ./bench.sh tailcall apollo-server \
#     "ours=/work/main/benches/peers/ours.sh"
#
# TRIBUTARY_BIN overrides the binary (default: target/release/tributary).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN="${TRIBUTARY_BIN:-$HERE/../../target/release/tributary}"
case "${WORKLOAD:-product-page}" in
  product-page) SCHEMA_FILE=product-page.graphql ;;
  posts-users | posts-titles) SCHEMA_FILE=posts.graphql ;;
  *) echo "ours.sh: unknown WORKLOAD '${WORKLOAD}'" >&2; exit 2 ;;
esac
exec "$BIN" serve "$HERE/$SCHEMA_FILE" --listen "${HOST:-127.0.0.1}:${PORT:-4000}"
