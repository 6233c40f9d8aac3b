#!/usr/bin/env bash
# Installs what tributary's test suite needs on a fresh Debian 12 machine (run as
# root). Idempotent and quiet when everything is already there. Uses only Debian's
# package archive, the npm registry and PyPI.
#   - chromium (headless GraphiQL test), redis-server (cache tests), wrk (load tests),
#     lsof and jq (the federation audit, scripts/federation-audit.sh, which installs its
#     own Node.js 22 and npm packages)
#   - tests/js/node_modules from tests/js/package-lock.json (graphql-http audit,
#     playwright-core, GraphiQL/React assets)
#   - benches/federation/node_modules from its package-lock.json (supergraph
#     composition, checked by tests/subgraphs.rs)
#   - tests/helm/venv: a Python virtual environment with Helm's Go SDK
#     (helm-python-sdk, pinned by hash in tests/helm/requirements.txt), with which
#     tests/helm.rs renders and lints deploy/helm/tributary
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
js="$root/tests/js"
federation="$root/benches/federation"

# Runs a command with its output kept back unless it fails.
quietly() {
    local log
    log=$(mktemp)
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        echo "test-deps: failed: $*" >&2
        return 1
    fi
    rm -f "$log"
}

# Debian packages, by the binary that each provides.
declare -A packages=([chromium]=/usr/bin/chromium [redis-server]=redis-server [wrk]=wrk [lsof]=lsof [jq]=jq)
missing=()
for pkg in "${!packages[@]}"; do
    command -v "${packages[$pkg]}" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "test-deps: apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    quietly apt-get update
    quietly apt-get install -y --no-install-recommends "${missing[@]}"
fi

# Node.js comes with the machine (Debian 12's own nodejs is 18, too old for playwright-core).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "test-deps: node and npm (Node.js >= 20) are required but not installed" >&2
    exit 1
fi
if (($(node -p 'process.versions.node.split(".")[0]') < 20)); then
    echo "test-deps: Node.js >= 20 is required, found $(node --version)" >&2
    exit 1
fi

# npm writes node_modules/.package-lock.json on every install: older than the
# lockfile (or absent) means the installed tree is stale.
if [[ ! -f "$js/node_modules/.package-lock.json" || "$js/package-lock.json" -nt "$js/node_modules/.package-lock.json" ]]; then
    echo "test-deps: npm ci --prefix tests/js"
    quietly npm ci --prefix "$js" --no-audit --no-fund
fi
if [[ ! -f "$federation/node_modules/.package-lock.json" || "$federation/package-lock.json" -nt "$federation/node_modules/.package-lock.json" ]]; then
    echo "test-deps: npm ci --prefix benches/federation"
    quietly npm ci --prefix "$federation" --no-audit --no-fund
fi

# Helm's SDK for tests/helm.rs, in a virtual environment of its own. Debian keeps
# `python3 -m venv` in python3-venv.
helm_venv="$root/tests/helm/venv"
helm_requirements="$root/tests/helm/requirements.txt"
if [[ ! -f "$helm_venv/.installed" || "$helm_requirements" -nt "$helm_venv/.installed" ]]; then
    if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        echo "test-deps: apt-get install python3 python3-venv"
        export DEBIAN_FRONTEND=noninteractive
        quietly apt-get update
        quietly apt-get install -y --no-install-recommends python3 python3-venv
    fi
    echo "test-deps: pip install -r tests/helm/requirements.txt into tests/helm/venv"
    rm -rf "$helm_venv"
    quietly python3 -m venv "$helm_venv"
    quietly "$helm_venv/bin/pip" install --no-input --disable-pip-version-check --require-hashes --no-deps -r "$helm_requirements"
    touch "$helm_venv/.installed"
fi
