#!/bin/bash -eu
# ClusterFuzzLite / OSS-Fuzz build: every cargo-fuzz target in fuzz/ (the
# kernels included: fuzz/Cargo.toml enables x86-kernels), with its seed
# corpus (scripts/fuzz-seed-corpus.sh, from vectors/) and dictionary.
# The builder sets the sanitizer flags; cargo fuzz adds libFuzzer.
cd "$SRC/mailcrypt"
source scripts/fuzz-env.sh
cargo fuzz build -O
scripts/fuzz-seed-corpus.sh
release=fuzz/target/x86_64-unknown-linux-gnu/release
for t in "${FUZZ_TARGETS[@]}"; do
    cp "$release/$t" "$OUT/$t"
    if [ -d "fuzz/corpus/$t" ]; then
        (cd "fuzz/corpus/$t" && zip -q -r "$OUT/${t}_seed_corpus.zip" .)
    fi
    if [ -s "fuzz/dict/$t.dict" ]; then
        cp "fuzz/dict/$t.dict" "$OUT/$t.dict"
    fi
    # The RSS cap and per-input timeout of scripts/fuzz-smoke.sh.
    printf '[libfuzzer]\nrss_limit_mb = 512\ntimeout = %s\n' "$(fuzz_timeout "$t")" >"$OUT/$t.options"
done
