#!/bin/bash
# read-back.sh READER_ENV KEYSUB CRYPT COMPRESS MAILDIR OUT.tsv
# Copy MAILDIR (the whole tree, index files included if present) into a fresh home of
# READER_ENV, configure mail_crypt (CRYPT=yes|no, global key keys/KEYSUB) and the compression
# plugin (COMPRESS=read|none), and `doveadm fetch text` every mail of every mailbox.
# OUT.tsv: reader, mailbox, uid, guid, rc, out_size, out_sha256, error (first Error line).
set -uo pipefail
S=$(cd "$(dirname "$0")/.." && pwd)
. "$S/scripts/lib.sh"
R=$1 KS=$2 CR=$3 CO=$4 MD=$5 OUT=$6
T=$(mk_home "$R"); trap 'rm -rf "$T"' EXIT
write_conf "$R" "$T" "$KS" "$CR" "$CO"
cp -a "$MD" "$T/home/Maildir"; chown -R 65534:65534 "$T/home/Maildir"
find "$T/home/Maildir" -type d -exec chmod 700 {} +
find "$T/home/Maildir" -maxdepth 1 -mindepth 1 -type d -name '.*' > "$T/dirs"; echo "$T/home/Maildir" >> "$T/dirs"
while read -r d; do mkdir -p "$d/cur" "$d/new" "$d/tmp"; done < "$T/dirs"
chown -R 65534:65534 "$T/home/Maildir"
: > "$OUT.tmp"
dv "$R" "$T" mailbox list > "$T/boxes" 2>/dev/null < /dev/null
while read -r box <&3; do
  dv "$R" "$T" -f tab fetch "uid guid" mailbox "$box" all 2>/dev/null < /dev/null | tail -n +2 > "$T/uids"
  while IFS=$'\t' read -r uid guid <&4; do
    dv "$R" "$T" -f pager fetch text mailbox "$box" uid "$uid" > "$T/out" 2> "$T/err" < /dev/null
    rc=$?
    # pager output is "text:\n" + message
    tail -c +7 "$T/out" > "$T/msg"
    err=$(grep -m1 'Error' "$T/err" | sed -e 's/^doveadm([^)]*)\(<[^>]*>\)*: //' -e 's#/tmp/dcoracle\.[A-Za-z0-9]*/home/#~/#g' | cut -c1-400)
    echo -e "$R\t$box\t$uid\t$guid\t$rc\t$(stat -c %s "$T/msg")\t$(sha256sum < "$T/msg" | cut -c1-64)\t$err" >> "$OUT.tmp"
  done 4< "$T/uids"
done 3< "$T/boxes"
mv "$OUT.tmp" "$OUT"
