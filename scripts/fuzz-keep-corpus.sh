#!/usr/bin/env bash
# Keep what fuzzing found, in the repository. fuzz/corpus/ is git-ignored
# and does not outlive a machine, so without this every campaign on a new
# machine starts again from the seeds, and a slow target's coverage never
# gets the hours it needs to level off. This minimizes fuzz/corpus/<target>/
# with libFuzzer's -merge=1 (a smallest set of inputs with the same coverage
# features), drops the inputs scripts/fuzz-seed-corpus.sh makes anyway from
# vectors/, and writes the rest to fuzz/grown/<target>/ (replacing it), which
# is tracked; scripts/fuzz-seed-corpus.sh copies it back into the corpus.
#
#   scripts/fuzz-keep-corpus.sh TARGET...
#
#   FUZZ_CORPUS_DIR=DIR  read DIR/<target>/ instead of fuzz/corpus/<target>/
#   FUZZ_KEEP_MAX_BYTES=N  keep only inputs of at most N bytes (default:
#                all, but 8192 for decrypt: its larger inputs are mutants
#                of the vector containers, up to 70 KiB, which the seeds
#                bring back; 2 MB kept instead of 22 MB, and git keeps
#                every version)
#
# Runs the binaries already in FUZZ_TARGET_DIR (fuzz-env.sh; build them
# with scripts/fuzz-campaign.sh). Stop the target's fuzzing first: the
# merge reads the corpus directory.
set -euo pipefail
source "$(dirname "$0")/fuzz-env.sh"
cd "$FUZZ_ROOT"
[ $# -gt 0 ] || { sed -n '2,22p' "$0"; exit 2; }
corpus=${FUZZ_CORPUS_DIR:-fuzz/corpus}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
FUZZ_CORPUS_DIR="$work/seeds" FUZZ_SEEDS_ONLY=1 scripts/fuzz-seed-corpus.sh >/dev/null
mkdir -p fuzz/grown

for t in "$@"; do
    bin=$FUZZ_BIN/$t
    [ -x "$bin" ] || { echo "no binary $bin: build it first (scripts/fuzz-campaign.sh)" >&2; exit 1; }
    [ -d "$corpus/$t" ] || { echo "no corpus $corpus/$t" >&2; exit 1; }
    merged="$work/$t"
    mkdir -p "$merged"
    nice -n "$FUZZ_NICE" "$bin" -merge=1 -rss_limit_mb="$FUZZ_RSS_MB" \
        -timeout="$(fuzz_timeout "$t")" "$merged" "$corpus/$t" >"$work/$t.log" 2>&1 ||
        { tail -20 "$work/$t.log" >&2; exit 1; }
    # Seeds come back from vectors/ on every machine: do not store them twice.
    if [ -d "$work/seeds/$t" ]; then
        for s in "$work/seeds/$t"/*; do rm -f "$merged/$(basename "$s")"; done
    fi
    max=${FUZZ_KEEP_MAX_BYTES:-}
    if [ -z "$max" ] && [ "$t" = decrypt ]; then max=8192; fi
    if [ -n "$max" ]; then
        find "$merged" -type f -size +"${max}c" -delete
    fi
    new=$(mktemp -d "fuzz/grown/.$t.XXXXXX")
    cp "$merged"/* "$new"/ 2>/dev/null || true
    rm -rf "fuzz/grown/$t"
    mv "$new" "fuzz/grown/$t"
    echo "$t: $(find "$corpus/$t" -type f | wc -l) inputs -> merged $(find "$merged" -type f | wc -l) beyond the seeds," \
        "kept in fuzz/grown/$t ($(du -sb "fuzz/grown/$t" | cut -f1) bytes${max:+, inputs of at most $max bytes})"
done
