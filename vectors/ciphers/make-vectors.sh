#!/bin/bash
# make-vectors.sh ORACLE_DIR ALGO...
#
# Encrypt the vectors/x25519 plaintexts with the real Dovecot 2.4.1 (oracle
# env v24, doveadm fs put, crypt_write_algorithm = ALGO) for the X25519 key,
# decrypt each file back with the same Dovecot, and append a row per file to
# manifest.tsv (columns as in README.md). PLAINS (default "1b 33b") picks the
# plaintexts. Run from this directory.
set -uo pipefail
ORACLE=$1; shift
KEYREL=../x25519/keys/x25519
VER=$(chroot /opt/trixie dovecot --version 2>/dev/null || echo "2.4.1-4 (7d8c0e5759)")
sha() { sha256sum "$1" | cut -d' ' -f1; }
mkdir -p enc/v24
[ -f manifest.tsv ] || printf 'file\talgorithm\tenv\tdovecot_version\tkey_dir\tplaintext\tplaintext_sha256\tciphertext_sha256\tciphertext_size\tdovecot_decrypt\n' > manifest.tsv
for algo in "$@"; do
  for p in ${PLAINS:-1b 33b}; do
    f=enc/v24/$p.$algo.bin
    plain=../x25519/plain/$p.bin
    if ! DCORACLE_FORMAT=v2 DCORACLE_ALGO=$algo "$ORACLE/dovecot-encrypt.sh" v24 "$KEYREL" "$plain" "$f"; then
      echo "$algo $p: Dovecot 2.4.1 refused to write" >&2; rm -f "$f"; continue
    fi
    tmp=$(mktemp)
    dec=fail
    "$ORACLE/dovecot-decrypt.sh" v24 "$KEYREL" "$f" "$tmp" && cmp -s "$tmp" "$plain" && dec=ok
    rm -f "$tmp"
    printf '%s\t%s\tv24\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$f" "$algo" "$VER" "$KEYREL" "$plain" \
      "$(sha "$plain")" "$(sha "$f")" "$(stat -c %s "$f")" "$dec" >> manifest.tsv
    echo "$f $dec"
  done
done
