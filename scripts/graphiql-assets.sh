#!/usr/bin/env bash
# Copy the GraphiQL 3 UMD bundle, the React 18 UMD builds and the graphql-ws
# client (GraphiQL's subscriptions) that the gateway
# serves with `--graphiql-assets DIR` (or TRIBUTARY_GRAPHIQL_ASSETS=DIR) into DEST.
# The files come from tests/js/node_modules (pinned in tests/js/package-lock.json);
# `npm ci` runs first if that folder is missing. Only the npm registry is used.
#
#   scripts/graphiql-assets.sh DEST
set -euo pipefail

if [[ $# -ne 1 || -z "$1" ]]; then
    echo "usage: $0 DEST" >&2
    exit 2
fi
dest=$1
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
modules="$root/tests/js/node_modules"

if [[ ! -d "$modules" ]]; then
    npm ci --prefix "$root/tests/js" --no-audit --no-fund --loglevel=error >&2
fi

# source path inside node_modules -> file name the gateway expects
assets=(
    "graphiql/graphiql.min.js"
    "graphiql/graphiql.min.css"
    "react/umd/react.production.min.js"
    "react-dom/umd/react-dom.production.min.js"
    "graphql-ws/umd/graphql-ws.min.js"
)

mkdir -p "$dest"
for asset in "${assets[@]}"; do
    src="$modules/$asset"
    if [[ ! -f "$src" ]]; then
        echo "$0: missing $src (run: npm ci --prefix tests/js)" >&2
        exit 1
    fi
    cp "$src" "$dest/$(basename "$asset")"
done
