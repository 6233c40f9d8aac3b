#!/usr/bin/env bash
# Runs each fuzz target of tests/fuzz.rs for a bounded time with many cases:
#   scripts/fuzz.sh                 # 60 s per target
#   FUZZ_SECONDS=600 scripts/fuzz.sh sdl_loader_never_panics
# A failing case is shrunk and written by proptest to
# tests/proptest-regressions/fuzz.txt: commit that file, it is replayed first
# on every run of the suite, and turn the case into a named test if it
# deserves one.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${FUZZ_SECONDS:-60}
targets=("$@")
if ((${#targets[@]} == 0)); then
    targets=(sdl_loader_never_panics rendering_keeps_the_request_shape request_parsing_never_panics cost_analysis_is_fast_and_total)
fi

cargo test --locked --test fuzz --no-run || exit 1
status=0
for target in "${targets[@]}"; do
    started=$(date +%s)
    # More cases than fit in the time: `timeout` ends the run, which then
    # counts as passed (exit 124); any other failure is a finding.
    FUZZ_CASES=100000000 timeout --signal=INT "$seconds" \
        cargo test --locked --test fuzz -q -- --exact --nocapture "$target" >"/tmp/fuzz-$target.log" 2>&1
    rc=$?
    took=$(($(date +%s) - started))
    case $rc in
        0 | 124 | 130)
            done_cases=$(grep -o 'fuzz: [0-9]* cases' "/tmp/fuzz-$target.log" | tail -1 | grep -o '[0-9]*')
            echo "fuzz: $target ran ${took}s, ${done_cases:-<1000} cases, without a failure"
            ;;
        *)
            echo "fuzz: $target FAILED after ${took}s (exit $rc); the case is in tests/proptest-regressions/fuzz.txt"
            tail -40 "/tmp/fuzz-$target.log"
            status=1
            ;;
    esac
done
exit $status
