#!/usr/bin/env bash
# Fuzz smoke run for CI: builds every target of fuzz/ with cargo-fuzz
# (nightly, libFuzzer) and runs each, one at a time, for T seconds
# (argument 1, default 60) from its seed corpus in corpus/<target>/ plus the
# dictionary qga.dict. New inputs go to a temporary directory, never into
# the committed seeds. Exits non-zero on any crash, leak, timeout or OOM;
# the reproducer is left in fuzz/artifacts/<target>/.
#
#   fuzz/run-ci.sh [seconds-per-target]
set -euo pipefail

T="${1:-60}"
cd "$(dirname "$0")"

# The project's one pinned nightly (.ci/nightly-toolchain).
N="+${QGA_NIGHTLY:-$(cat ../.ci/nightly-toolchain)}"
rustup toolchain list | grep -q "^${N#+}" || rustup toolchain install "${N#+}" --profile minimal
cargo "$N" fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked

start=$(date +%s)
cargo "$N" fuzz build
work="$(mktemp -d)"
trap 'rm -rf "$work"; rm -f fuzz-*.log' EXIT

targets=$(cargo "$N" fuzz list)
if [ -z "$targets" ]; then
    echo "fuzz: FAILED: cargo fuzz list found no targets"
    exit 1
fi
failed=()
for t in $targets; do
    mkdir -p "$work/$t"
    echo "== fuzz $t: ${T}s"
    if cargo "$N" fuzz run "$t" "$work/$t" "corpus/$t" -- \
        -max_total_time="$T" -dict=qga.dict -jobs=1 -workers=1 \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$work/$t.log" 2>&1; then
        grep -E '^stat::(number_of_executed_units|average_exec_per_sec)' "$work/$t.log" || true
    else
        failed+=("$t")
        tail -n 60 "$work/$t.log"
    fi
done

echo "fuzz: $(( $(date +%s) - start ))s"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]}"
    exit 1
fi
echo "fuzz: all targets clean"
