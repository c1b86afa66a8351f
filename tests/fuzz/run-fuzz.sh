#!/usr/bin/env bash
# run-fuzz.sh: runs every libFuzzer target of a CERTLINE_FUZZ build for SECONDS each, over a
# copy of its seed corpus (the committed corpus is never written), and prints per target the
# run time, executions, coverage, new corpus entries and whether it found a crash. Findings are
# kept under BUILD/fuzz-run/<target>/ (crash-*, leak-*, timeout-*, oom-*).
# Usage: run-fuzz.sh BUILD SECONDS [TARGET...]   (make fuzz FUZZ_SECONDS=60 FUZZ_TARGETS=...)
set -uo pipefail

if [[ $# -lt 2 ]]; then
    echo "usage: $0 BUILD SECONDS [TARGET...]" >&2
    exit 2
fi
build=$(cd -- "$1" && pwd)
seconds=$2
shift 2
here=$(cd -- "$(dirname -- "$0")" && pwd)
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    for exe in "$build"/tests/fuzz/fuzz_*; do
        [[ -x $exe && ! -d $exe ]] && targets+=("$(basename -- "$exe")")
    done
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
found=0
summary=()
for target in "${targets[@]}"; do
    name=${target#fuzz_}
    exe=$build/tests/fuzz/fuzz_$name
    work=$build/fuzz-run/fuzz_$name
    if [[ ! -x $exe ]]; then
        echo "run-fuzz: no target $exe" >&2
        found=1
        continue
    fi
    rm -rf -- "$work"
    mkdir -p -- "$work/corpus"
    seeds=("$here/corpus/$name")
    # The SOAP wire checks' raw hostile requests seed the dispatch target too.
    [[ $name == soap_dispatch && -d $here/corpus/soap_request ]] && seeds+=("$here/corpus/soap_request")
    for dir in "${seeds[@]}"; do
        [[ -d $dir ]] && cp -- "$dir"/* "$work/corpus/" 2>/dev/null
    done
    echo "run-fuzz: $target for $seconds s over $(ls "$work/corpus" | wc -l) seed(s)"
    start=$(date +%s)
    (cd -- "$work" && "$exe" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" >"$work/log" 2>&1)
    rc=$?
    took=$(($(date +%s) - start))
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
    added=$(sed -n 's/^stat::new_units_added: *//p' "$work/log" | tail -1)
    cov=$(grep -oE '(INITED|DONE|pulse|NEW|REDUCE) +cov: [0-9]+' "$work/log" | tail -1 | grep -oE '[0-9]+$')
    artifacts=$(ls "$work" | grep -E '^(crash|leak|timeout|oom|slow-unit)-' | tr '\n' ' ')
    if [[ $rc -ne 0 || -n $artifacts ]]; then
        result="FINDING (exit $rc) ${artifacts:-see $work/log}"
        found=1
    else
        result="no crash"
    fi
    summary+=("$(printf '%-22s %6ss %12s %8s %6s  %s' "$target" "$took" "${runs:-?}" "${cov:-?}" "${added:-?}" "$result")")
done
echo
printf '%-22s %7s %12s %8s %6s  %s\n' target time executions coverage new result
printf '%s\n' "${summary[@]}"
echo "logs and findings: $build/fuzz-run/<target>/"
exit $found
