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
# VARIANT=dedupe shares identical in-flight calls between client requests
# (`dedupe: true`); VARIANT=cache adds a 60 s response cache; VARIANT=window
# batches Post.user across requests (`batch: { window: "1ms" }`, WINDOW
# overrides the window) and VARIANT=window-dedupe does both, as Tailcall's
# app-wide batch loaders do. All share work between requests, so they are
# separate peers (ours-dedupe, ours-cache, ours-window, ...):
#   "ours-dedupe=env VARIANT=dedupe /work/main/benches/peers/ours.sh"
SCHEMA="$HERE/$SCHEMA_FILE"
case "${VARIANT:-}" in
  "") ;;
  dedupe | cache | window | window-dedupe)
    extra=''
    [ "$VARIANT" = dedupe ] || [ "$VARIANT" = window-dedupe ] && extra=', dedupe: true'
    [ "$VARIANT" = cache ] && extra=', cache: { ttl: "60s" }'
    window=''
    case "$VARIANT" in window*) window=", window: \"${WINDOW:-1ms}\"" ;; esac
    SCHEMA="$(mktemp -t "tributary-$VARIANT-XXXX.graphql")"
    sed -e "s/poolMaxIdle: 200)/poolMaxIdle: 200$extra)/" \
        -e "s/batch: { key: \"id\" }/batch: { key: \"id\"$window }/" "$HERE/$SCHEMA_FILE" > "$SCHEMA"
    ;;
  *) echo "ours.sh: unknown VARIANT '${VARIANT}'" >&2; exit 2 ;;
esac
exec "$BIN" serve "$SCHEMA" --listen "${HOST:-127.0.0.1}:${PORT:-4000}"
