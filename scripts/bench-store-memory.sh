#!/usr/bin/env bash
# scripts/bench-store-memory.sh [N1] [N2] — peak RSS of the store commands
# at two store sizes (default 10 000 and 100 000 mails), issue 14: memory
# must stay flat in the number of mails (growth from N1 to N2 at most
# 16 MiB for scan, scan --json, repair and decrypt-store).
#
# Each store is a Maildir (INBOX and 9 folders) plus an mdbox with the same
# number of mails (10 per m-file), written as the unpatched build writes
# them (uncompressed-point key ids), so repair has work on every mail. Mail
# bodies are small (the question is the per-mail cost, not body size):
# a few distinct containers are copied under unique names.
#
# Prints one `target rss-growth-<cmd> mib=<x> goal=16 <met|not-met>` line
# per command and layout, and the raw peak RSS figures (GNU time, KiB).
#
# Environment: MAILCRYPT (a binary to measure instead of building one),
# BENCH_MEM_DIR (default /var/tmp/mailcrypt-bench-mem, removed
# at the end), CARGO_TARGET_DIR (honoured), JOBS (default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
N1=${1:-10000}
N2=${2:-100000}
JOBS=${JOBS:-$(nproc)}
W=${BENCH_MEM_DIR:-/var/tmp/mailcrypt-bench-mem}
TGT=${CARGO_TARGET_DIR:-$PWD/target}
KEY=$PWD/vectors/oracle/keys/p256

say() { echo "[bench-store-memory] $*"; }
die() { echo "[bench-store-memory] error: $*" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { apt-get install -y -qq time >/dev/null 2>&1 || die "GNU time (/usr/bin/time) is needed"; }
if [[ -n ${MAILCRYPT:-} ]]; then
    MC=$MAILCRYPT
else
    cargo build --release --features cli --quiet
    MC=$TGT/release/mailcrypt
fi
[[ -x $MC ]] || die "no binary at $MC"
rm -rf "$W"; mkdir -p "$W/proto"
trap '[[ ${KEEP_STORE:-0} = 1 ]] || rm -rf "$W"' EXIT
say "N1=$N1 N2=$N2 JOBS=$JOBS load $(cut -d' ' -f1-3 /proc/loadavg)"

# A few distinct containers (1-4 KiB plaintexts).
for i in 0 1 2 3; do
    head -c $((1024 * (i + 1))) /dev/urandom | tr '\r' 'x' > "$W/proto/$i.plain"
    "$MC" encrypt -r "$KEY/public.pem" --key-id-form uncompressed -o "$W/proto/$i.bin" "$W/proto/$i.plain"
done

make_store() { # n dir
    python3 - "$1" "$2" "$W/proto" <<'PY'
import os, shutil, sys
n, d, proto = int(sys.argv[1]), sys.argv[2], sys.argv[3]
blobs = [open(f"{proto}/{i}.bin", "rb").read() for i in range(4)]
sizes = [os.path.getsize(f"{proto}/{i}.plain") for i in range(4)]
folders = [""] + [f".F{k}" for k in range(9)]
for f in folders:
    for s in ("cur", "new", "tmp"):
        os.makedirs(f"{d}/Maildir/{f}/{s}", exist_ok=True)
for i in range(n):
    b = i % 4
    name = f"17{i:08d}.M{i}P1.mem,S={sizes[b]},W={sizes[b]}:2,S"
    with open(f"{d}/Maildir/{folders[i % 10]}/cur/{name}", "wb") as f:
        f.write(blobs[b])
# mdbox: 10 mails per m-file, in dbox framing.
os.makedirs(f"{d}/mdbox/storage", exist_ok=True)
for m in range((n + 9) // 10):
    out = bytearray(b"2 M1e C6b146f20\n")
    for k in range(10):
        i = m * 10 + k
        if i >= n:
            break
        c = blobs[i % 4]
        out += b"\x01\x02N          %016X\n" % len(c) + c
        out += b"\n\x01\x03\nZ%x\nR6b146f20\nGg%dx\nBF%d\n\n" % (sizes[i % 4], i, i % 10)
    with open(f"{d}/mdbox/storage/m.{m + 1}", "wb") as f:
        f.write(out)
PY
}

rss() { # label command... -> prints KiB
    local out=$W/rss.$$
    /usr/bin/time -f %M -o "$out" "$@" > /dev/null 2> "$W/stderr" || true
    tail -n1 "$out"
}

declare -A R
for n in "$N1" "$N2"; do
    d=$W/s$n
    say "making a store of $n Maildir mails and $n mdbox mails"
    make_store "$n" "$d"
    for layout in Maildir mdbox; do
        R[scan,$layout,$n]=$(rss "$MC" scan -j "$JOBS" -k "$KEY/private.pem" "$d/$layout")
        R[scan-json,$layout,$n]=$(rss "$MC" scan --json -j "$JOBS" -k "$KEY/private.pem" "$d/$layout")
        R[decrypt-store,$layout,$n]=$(rss "$MC" decrypt-store -j "$JOBS" -k "$KEY/private.pem" "$d/$layout" "$d/out-$layout")
        R[repair,$layout,$n]=$(rss "$MC" repair --target dovecot-2.3 --apply -j "$JOBS" -k "$KEY/private.pem" "$d/$layout")
        # the store must now be clean for dovecot-2.3
        "$MC" scan -k "$KEY/private.pem" "$d/$layout" | grep -q "dovecot-2.3: readable: $n" \
            || die "repair of $layout at $n did not fix every mail"
        say "$layout n=$n peak RSS KiB: scan ${R[scan,$layout,$n]} scan-json ${R[scan-json,$layout,$n]} decrypt-store ${R[decrypt-store,$layout,$n]} repair ${R[repair,$layout,$n]}"
    done
    rm -rf "$d"
done
for layout in Maildir mdbox; do
    for c in scan scan-json repair decrypt-store; do
        g=$(python3 -c "print(round((${R[$c,$layout,$N2]} - ${R[$c,$layout,$N1]}) / 1024, 1))")
        echo "target rss-growth-$c-$layout mib=$g goal=16 $(python3 -c "print('met' if $g <= 16 else 'not-met')") (KiB ${R[$c,$layout,$N1]} -> ${R[$c,$layout,$N2]})"
    done
done
