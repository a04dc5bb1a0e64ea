#!/usr/bin/env bash
# CI smoke fuzzing: build every fuzz target, then run each for a short
# while (default 60 s) on its seed corpus with the RSS cap and per-input
# timeout of the campaign. Exits non-zero on any crash, panic, leak,
# timeout or out-of-memory, and leaves the reproducer in
# fuzz/artifacts/<target>/.
#
#   scripts/fuzz-smoke.sh [SECONDS] [TARGET...]
#
# Needs cargo-fuzz (installed with `cargo install cargo-fuzz --locked` when
# missing, unless FUZZ_NO_INSTALL=1), a C++ compiler for libFuzzer, and
# python3 for the seed corpus. Works on stable Rust (RUSTC_BOOTSTRAP=1 is
# set for cargo-fuzz's -Z flags). See docs/security.md.
set -euo pipefail
source "$(dirname "$0")/fuzz-env.sh"
cd "$FUZZ_ROOT"

SECONDS_EACH=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${FUZZ_TARGETS[@]}")

fuzz_require_cargo_fuzz
# The seeds alone, not fuzz/grown/: libFuzzer runs its whole corpus once
# before the time budget applies, and the grown corpora would add minutes
# under ASan (decrypt and roundtrip run a few inputs a second there).
FUZZ_SEEDS_ONLY=1 scripts/fuzz-seed-corpus.sh
echo "== building fuzz targets (sanitizer: $FUZZ_SANITIZER)"
fuzz_build

export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=32:detect_leaks=1}
failed=()
for t in "${TARGETS[@]}"; do
    mkdir -p "fuzz/artifacts/$t" "fuzz/corpus/$t"
    log=$(mktemp)
    echo "== $t: ${SECONDS_EACH} s"
    if nice -n "$FUZZ_NICE" "$FUZZ_BIN/$t" "fuzz/corpus/$t" \
        -max_total_time="$SECONDS_EACH" \
        -rss_limit_mb="$FUZZ_RSS_MB" \
        -timeout="$(fuzz_timeout "$t")" \
        $(fuzz_dict_arg "$t") \
        -artifact_prefix="fuzz/artifacts/$t/" \
        -print_final_stats=1 >"$log" 2>&1; then
        grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" |
            sed "s/^/   $t /"
    else
        echo "!! $t failed:" >&2
        grep -E 'ERROR|panicked|SUMMARY|Test unit written' -A3 "$log" | head -40 >&2
        failed+=("$t")
    fi
    rm -f "$log"
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz smoke FAILED: ${failed[*]} (reproducers in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz smoke: ${#TARGETS[@]} targets, no finding"
