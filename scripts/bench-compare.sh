#!/usr/bin/env bash
# scripts/bench-compare.sh — run the baselines and mailcrypt in one run and
# print one line per performance target of issue 7:
#   target <name> ratio=<measured> goal=<goal> <met|not-met>
# Ratios, not absolute numbers: these machines are noisy, so every pair is
# measured back to back in the same run.
#
# Needs: openssl (CLI), python3 with `cryptography` for the per-mail open
# baseline (installed with pip if missing), /usr/bin/time for memory.
# Env: QUICK=1 shortens every measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
QUICK=${QUICK:-0}
OUT=${BENCH_OUT:-target/bench-compare}
mkdir -p "$OUT"

line() { # name measured goal cmp(ge|le)
    local met
    met=$(python3 -c "import sys; m,g,c=float(sys.argv[1]),float(sys.argv[2]),sys.argv[3]; print('met' if (m>=g if c=='ge' else m<=g) else 'not-met')" "$2" "$3" "$4")
    echo "target $1 ratio=$2 goal=$3 $met" | tee -a "$OUT/summary.txt"
}
: > "$OUT/summary.txt"

cargo build --release --features cli --quiet
cargo build --release --examples --quiet
MC=target/release/mailcrypt
TP=target/release/examples/throughput

# --- 1. body throughput vs `openssl speed` (16 KiB blocks, one core) -------
secs=3; [ "$QUICK" = 1 ] && secs=1
ossl_gcm=$(openssl speed -elapsed -seconds "$secs" -evp aes-256-gcm -bytes 16384 2>/dev/null | awk 'tolower($1)=="aes-256-gcm" {print $2}' | sed 's/k$//')
ossl_chacha=$(openssl speed -elapsed -seconds "$secs" -evp chacha20-poly1305 -bytes 16384 2>/dev/null | awk 'tolower($1)=="chacha20-poly1305" {print $2}' | sed 's/k$//')
# openssl prints 1000s of bytes per second
ossl_gcm_bps=$(python3 -c "print(float('$ossl_gcm')*1000)")
ossl_chacha_bps=$(python3 -c "print(float('$ossl_chacha')*1000)")
"$TP" "$secs" > "$OUT/throughput.txt"
cat "$OUT/throughput.txt"
get() { awk -v k="$1" '$1==k {print $2}' "$OUT/throughput.txt"; }
for size in 1MiB 16MiB; do
    line "aes-256-gcm-decrypt-$size-vs-openssl-speed" "$(python3 -c "print(round($(get gcm-decrypt-$size)/$ossl_gcm_bps,3))")" 1.0 ge
    line "aes-256-gcm-encrypt-$size-vs-openssl-speed" "$(python3 -c "print(round($(get gcm-encrypt-$size)/$ossl_gcm_bps,3))")" 1.0 ge
    line "aes-256-gcm-framing-overhead-$size" "$(python3 -c "print(round(1-$(get gcm-decrypt-$size)/$(get raw-aes-gcm-$size),3))")" 0.03 le
    line "chacha20-poly1305-decrypt-$size-vs-openssl-speed" "$(python3 -c "print(round($(get chacha-decrypt-$size)/$ossl_chacha_bps,3))")" 1.0 ge
done

# --- 2. per-mail open cost vs OpenSSL via Python cryptography --------------
python3 -c "import cryptography" 2>/dev/null || pip install -q cryptography >/dev/null 2>&1 || true
if python3 -c "import cryptography" 2>/dev/null; then
    n=300; [ "$QUICK" = 1 ] && n=60
    python3 scripts/open-cost-openssl.py "$n" > "$OUT/open-openssl.txt"
    cat "$OUT/open-openssl.txt"
    for k in p256 p384 p521 rsa2048; do
        ours=$(get "open-$k")
        theirs=$(awk -v k="$k" '$1==k {print $2}' "$OUT/open-openssl.txt")
        line "open-cost-$k-vs-openssl" "$(python3 -c "print(round($ours/$theirs,3))")" 0.5 le
    done
else
    echo "target open-cost ratio=nan goal=0.5 not-met (python cryptography unavailable)" | tee -a "$OUT/summary.txt"
fi

# --- 4. memory: peak RSS decrypting/encrypting 16 MiB, 256 MiB, 1 GiB ------
sizes="16 256 1024"; [ "$QUICK" = 1 ] && sizes="16 64"
key=vectors/oracle/keys/p256
for mb in $sizes; do
    head -c $((mb << 20)) /dev/zero > "$OUT/plain.bin"
    /usr/bin/time -f "%M" -o "$OUT/rss-enc" "$MC" encrypt -r $key/public.pem -o "$OUT/c.bin" "$OUT/plain.bin"
    /usr/bin/time -f "%M" -o "$OUT/rss-dec" "$MC" decrypt -k $key/private.pem -o "$OUT/p.bin" "$OUT/c.bin"
    cmp -s "$OUT/plain.bin" "$OUT/p.bin" || { echo "round trip failed at $mb MiB" >&2; exit 1; }
    line "peak-rss-MiB-encrypt-${mb}MiB" "$(python3 -c "print(round($(cat "$OUT/rss-enc")/1024,1))")" 16 le
    line "peak-rss-MiB-decrypt-${mb}MiB" "$(python3 -c "print(round($(cat "$OUT/rss-dec")/1024,1))")" 16 le
done
rm -f "$OUT/plain.bin" "$OUT/p.bin" "$OUT/c.bin"
echo "summary in $OUT/summary.txt"
