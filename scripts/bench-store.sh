#!/usr/bin/env bash
# scripts/bench-store.sh [N] — files per second for `mailcrypt scan` and
# `repair`, bytes per second for `decrypt-store`, on an N-mail store
# (default 10 000; sizes drawn like real mail: median ~50 KB, a few MiB
# attachments), against a shell loop over the real `doveadm fs get` on the
# same files, measured in the same run. Needs the Debian 12 host
# `dovecot-core` package (apt-get install dovecot-core) for the baseline.
# Prints `target <name> ratio=<x> goal=<y> <met|not-met>` lines like
# scripts/bench-compare.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
JOBS=${JOBS:-$(nproc)}
W=${BENCH_STORE_DIR:-/var/tmp/mailcrypt-bench-store}
cargo build --release --features cli --quiet
MC=$PWD/target/release/mailcrypt
KEY=$PWD/vectors/oracle/keys/p256
rm -rf "$W"; mkdir -p "$W/Maildir/cur" "$W/flat"
python3 - "$N" "$W" <<'PY'
import os, random, sys
n, w = int(sys.argv[1]), sys.argv[2]
random.seed(1)
os.makedirs(f"{w}/plain", exist_ok=True)
for i in range(n):
    r = random.random()
    size = int(random.lognormvariate(10.8, 0.9)) if r < 0.98 else random.randint(1 << 20, 4 << 20)
    with open(f"{w}/plain/{i}", "wb") as f:
        f.write(os.urandom(size).replace(b"\r", b"\x0e"))
PY
echo "[bench-store] encrypting $N mails (unpatched-build ids, so repair has work)"
t0=$(date +%s.%N)
for f in "$W"/plain/*; do
    i=$(basename "$f"); s=$(stat -c %s "$f")
    "$MC" encrypt -r "$KEY/public.pem" --key-id-form uncompressed -o "$W/Maildir/cur/17000$i.M${i}P1.h,S=$s,W=$s:2,S" "$f"
done
du -sh "$W/Maildir" | sed 's/^/[bench-store] store size /'
bytes=$(du -sb "$W/plain" | cut -f1)
rm -rf "$W/plain"
now() { date +%s.%N; }
rate() { python3 -c "print(round($1/($3-$2),1))"; }
t=$(now); "$MC" scan -j "$JOBS" -k "$KEY/private.pem" "$W/Maildir" > /dev/null; scan=$(rate "$N" "$t" "$(now)")
t=$(now); "$MC" scan --verify -j "$JOBS" -k "$KEY/private.pem" "$W/Maildir" > /dev/null; verify=$(rate "$N" "$t" "$(now)")
t=$(now); "$MC" repair --target dovecot-2.3 --apply -j "$JOBS" -k "$KEY/private.pem" "$W/Maildir" > /dev/null; repair=$(rate "$N" "$t" "$(now)")
t=$(now); "$MC" decrypt-store -j "$JOBS" -k "$KEY/private.pem" "$W/Maildir" "$W/plain-out" > /dev/null; dstore=$(rate "$bytes" "$t" "$(now)")
echo "[bench-store] scan $scan files/s, scan --verify $verify files/s, repair $repair files/s, decrypt-store $dstore B/s"
if command -v doveadm >/dev/null; then
    # Baseline: the same containers read by the real doveadm, one process per mail.
    cp "$W/Maildir/cur/"* "$W/flat/" 2>/dev/null || true
    mkdir -p "$W/run"
    printf 'base_dir = %s/run\nlog_path = /dev/stderr\nssl = no\n' "$W" > "$W/min.conf"
    t=$(now)
    for f in "$W"/flat/*; do
        doveadm -c "$W/min.conf" fs get crypt "private_key_path=$KEY/private.pem:posix:prefix=$W/flat/" "$(basename "$f")" > /dev/null
    done
    dove=$(rate "$bytes" "$t" "$(now)")
    dove_files=$(python3 -c "print($dove*$N/$bytes)")
    echo "[bench-store] doveadm fs get loop: $dove B/s"
    echo "target decrypt-store-vs-doveadm ratio=$(python3 -c "print(round($dstore/$dove,2))") goal=3 $(python3 -c "print('met' if $dstore/$dove>=3 else 'not-met')")"
    echo "target scan-verify-vs-doveadm ratio=$(python3 -c "print(round($verify/$dove_files,2))") goal=3 $(python3 -c "print('met' if $verify/$dove_files>=3 else 'not-met')")"
else
    echo "[bench-store] doveadm not installed: no baseline"
fi
rm -rf "$W"
