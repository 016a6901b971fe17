#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 20) on the stable toolchain, starting from the
# committed seeds (fuzz/corpus/<target>); what the fuzzer learns goes to fuzz/target/corpus and
# crashing inputs to fuzz/artifacts/<target>. Prints executions and findings per target and exits
# 1 if any target found something.
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-20}"
shift || true
tools="$PWD/.tools/cargo"
export PATH="$tools/bin:$PATH"
if ! cargo fuzz --version 2>/dev/null | grep -q '0.13.2'; then
    echo "== installing cargo-fuzz 0.13.2 into .tools/cargo"
    cargo install cargo-fuzz --version 0.13.2 --locked --root "$tools" --quiet
fi

cd fuzz
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
# No sanitizer: the stable toolchain cannot build one, and the code under test has no unsafe.
echo "== building the fuzz targets"
cargo fuzz build --sanitizer none

failed=0
printf '%-30s %12s %10s %8s  %s\n' target executions exec/s corpus findings
for target in "${targets[@]}"; do
    work="target/corpus/$target"
    mkdir -p "$work" "artifacts/$target"
    log="target/fuzz-$target.log"
    status=0
    cargo fuzz run --sanitizer none "$target" "$work" "corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
        >"$log" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    size=$(find "$work" -type f | wc -l)
    findings=$(find "artifacts/$target" -type f | wc -l)
    printf '%-30s %12s %10s %8s  %s\n' "$target" "${runs:-?}" "${rate:-?}" "$size" "$findings"
    if [ "$status" -ne 0 ] || [ "$findings" -ne 0 ]; then
        failed=1
        echo "---- $target failed (exit $status); the end of its log ($log):"
        tail -40 "$log"
    fi
done
exit "$failed"
