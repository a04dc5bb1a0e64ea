# Shared by scripts/fuzz-*.sh (sourced, not run): locate cargo-fuzz, the
# toolchain flags and the target directory.
#
#   FUZZ_TARGET_DIR   where the fuzz build goes (default: $CARGO_TARGET_DIR
#                     or fuzz/target)
#   FUZZ_SANITIZER    address (default) or none
#   FUZZ_NO_INSTALL=1 fail instead of installing cargo-fuzz when missing
#   FUZZ_NICE         niceness of the fuzzing processes (default 10)
#   FUZZ_NO_BUILD=1   run the binaries already in FUZZ_TARGET_DIR
#   FUZZ_NO_TRACE_COMPARES=1
#                     build without comparison tracing (cargo fuzz
#                     --no-trace-compares): about 1.4x the rate of `body`,
#                     whose inputs have no magic values to discover; the
#                     results rows say `<sanitizer>-nocmp`

FUZZ_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FUZZ_TARGETS=(header body decrypt_cached decrypt dovecot_key key_pem_der jwk attributes roundtrip compress dbox)
FUZZ_TARGET_DIR=${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-$FUZZ_ROOT/fuzz/target}}
FUZZ_SANITIZER=${FUZZ_SANITIZER:-address}
FUZZ_LABEL=$FUZZ_SANITIZER
[ "${FUZZ_NO_TRACE_COMPARES:-0}" = 1 ] && FUZZ_LABEL=$FUZZ_SANITIZER-nocmp
FUZZ_NICE=${FUZZ_NICE:-10}
FUZZ_TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
FUZZ_BIN=$FUZZ_TARGET_DIR/$FUZZ_TRIPLE/release

# Per-target limits: RSS cap for every target, and a per-input timeout
# well above the documented worst case of one input (see docs/security.md):
# a container or key string at MAX_ROUNDS with SHA-512 costs about 0.5 s per
# key derivation in the instrumented build, several times that under ASan,
# and the decrypt target derives up to three times per input.
# The RSS cap is 256 MiB for the uninstrumented build (campaigns: every
# target stays under 64 MiB there) and 512 MiB under ASan, whose shadow
# memory, 32 MiB quarantine and allocator caches add 100+ MiB to any
# process (an ASan jwk smoke run once crossed 256 MiB with 25 MiB live).
if [ "$FUZZ_SANITIZER" = address ]; then
    FUZZ_RSS_MB=${FUZZ_RSS_MB:-512}
else
    FUZZ_RSS_MB=${FUZZ_RSS_MB:-256}
fi
fuzz_timeout() {
    case "$1" in
        decrypt | roundtrip | dovecot_key | key_pem_der | attributes) echo 120 ;;
        compress) echo 60 ;;
        *) echo 10 ;;
    esac
}

# cargo-fuzz passes -Z flags to rustc: nightly, or stable with
# RUSTC_BOOTSTRAP=1 (the project's machines have only stable).
if ! rustc --version | grep -q nightly; then
    export RUSTC_BOOTSTRAP=1
fi

fuzz_require_cargo_fuzz() {
    if cargo fuzz --version >/dev/null 2>&1; then
        return 0
    fi
    if [ "${FUZZ_NO_INSTALL:-0}" = 1 ]; then
        echo "cargo-fuzz is not installed: cargo install cargo-fuzz --locked" >&2
        return 1
    fi
    echo "== installing cargo-fuzz (cargo install cargo-fuzz --locked)" >&2
    cargo install cargo-fuzz --locked
}

fuzz_build() {
    if [ "${FUZZ_NO_BUILD:-0}" = 1 ]; then
        echo "== FUZZ_NO_BUILD=1: using the binaries in $FUZZ_BIN" >&2
        return 0
    fi
    local flags=()
    [ "${FUZZ_NO_TRACE_COMPARES:-0}" = 1 ] && flags=(--no-trace-compares)
    (cd "$FUZZ_ROOT" && cargo fuzz build -O -s "$FUZZ_SANITIZER" "${flags[@]}" \
        --target-dir "$FUZZ_TARGET_DIR" "$@")
}

# -dict=… for targets that have a dictionary in fuzz/dict/.
fuzz_dict_arg() {
    local d="$FUZZ_ROOT/fuzz/dict/$1.dict"
    [ -s "$d" ] && echo "-dict=$d"
    return 0
}
