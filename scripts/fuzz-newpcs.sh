#!/usr/bin/env bash
# Where did a fuzzing run's late coverage come from? For a libFuzzer log
# written with `-print_pcs=1` (FUZZ_EXTRA_ARGS=-print_pcs=1
# scripts/fuzz-campaign.sh ...), prints every edge found after the corpus
# was loaded (INITED): minutes into the run, `cov` after it, and the
# function and source line, symbolized with llvm-symbolizer. Tells a slow
# coverage tail in mailcrypt's own code apart from one in a dependency, or
# from edges that re-running the same corpus reaches only sometimes (hash
# table order under std's RandomState, branches on random key material).
#
#   scripts/fuzz-newpcs.sh LOG BINARY LOAD_BASE
#
# The -s none fuzz binaries are position-independent and libFuzzer prints
# run-time addresses, so LOAD_BASE is the start of the binary's first
# mapping in /proc/<pid>/maps while the run is going (hex, with or without
# 0x); a run started under `setarch -R` has base 0x555555554000.
set -euo pipefail
[ $# -eq 3 ] || { sed -n '2,16p' "$0"; exit 2; }
log=$1 bin=$2 base=$((16#${3#0x}))
command -v llvm-symbolizer >/dev/null || { echo "llvm-symbolizer not found" >&2; exit 1; }
# A NEW_PC line comes just before the status line of the input that found
# it; that line's execution count over its exec/s is the time.
awk '
    /INITED/ { inited = 1; next }
    !inited { next }
    $1 == "NEW_PC:" { pend[++np] = $2; next }
    /^#[0-9]+\t/ && np > 0 {
        n = substr($1, 2) + 0; c = ""; r = ""
        for (i = 2; i < NF; i++) {
            if ($i == "cov:") c = $(i + 1)
            if ($i == "exec/s:") r = $(i + 1) + 0
        }
        for (k = 1; k <= np; k++) printf "%.1f %s %s\n", (r > 0 ? n / r / 60 : 0), c, pend[k]
        np = 0
    }' "$log" | while read -r min cov pc; do
    off=$(printf '0x%x' $((pc - base)))
    loc=$(llvm-symbolizer --obj="$bin" --functions=linkage --demangle --inlining=false "$off" | head -2 | paste -sd'|')
    printf '%6s min  cov %-5s %s\n' "$min" "$cov" "${loc//|/  at }"
done
