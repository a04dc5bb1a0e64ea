#!/bin/bash
# make-compressed.sh ENV OUTDIR  -- one Maildir written by ENV with mail_crypt (global P-256 key,
# keys/p256) + the compression plugin, 2 mails (plain/mail1.eml, plain/mail2.eml) per method.
# Writes OUTDIR/Maildir/new/*, OUTDIR/save.tsv (uid, method, plaintext, file, doveadm rc),
# OUTDIR/dovecot.conf, OUTDIR/doveadm.log, OUTDIR/skipped-files.txt.
set -uo pipefail
S=$(cd "$(dirname "$0")/.." && pwd)
. "$S/scripts/lib.sh"
ENV=$1 OUT=$2
mkdir -p "$OUT"
T=$(mk_home "$ENV"); trap 'rm -rf "$T"' EXIT
IN=$(inner "$ENV" "$T")
write_conf "$ENV" "$T" p256 yes read
if oracle_is_24 "$ENV"; then METHODS="none gz bz2 deflate lz4 zstd xz"; else METHODS="none gz bz2 deflate xz lz4 zstd"; fi
LOG="$OUT/doveadm.log"; : > "$LOG"
echo -e "method\tplaintext\trc\tstderr" > "$OUT/save.tsv"
for m in $METHODS; do
  if oracle_is_24 "$ENV"; then
    o=(); [ "$m" != none ] && o=(-o "mail_compress_write_method=$m")
  else
    o=(); [ "$m" != none ] && o=(-o "plugin/zlib_save=$m" -o "plugin/zlib_save_level=6")
  fi
  for p in mail1 mail2; do
    echo "+ doveadm ${o[*]} save -m INBOX < plain/$p.eml" >> "$LOG"
    dv "$ENV" "$T" "${o[@]}" save -m INBOX < "$S/plain/$p.eml" > "$T/err" 2>&1
    rc=$?
    sed "s#$IN#~#g" "$T/err" | cut -c1-300 >> "$LOG"
    echo -e "$m\t$p\t$rc\t$(grep -v 'Raw backtrace' "$T/err" | head -1 | cut -c1-200)" >> "$OUT/save.tsv"
  done
done
echo "+ doveadm -f tab fetch 'uid guid size.physical size.virtual' mailbox INBOX all" >> "$LOG"
dv "$ENV" "$T" -f tab fetch "uid guid size.physical size.virtual" mailbox INBOX all > "$OUT/fetch-sizes.tsv" 2>> "$LOG"
cat "$OUT/fetch-sizes.tsv" >> "$LOG"
mkdir -p "$OUT/Maildir/new" "$OUT/Maildir/cur"
cp -p "$T/home/Maildir/new/"* "$OUT/Maildir/new/" 2>/dev/null
cp -p "$T/home/Maildir/cur/"* "$OUT/Maildir/cur/" 2>/dev/null
chown -R root:root "$OUT/Maildir"; chmod 644 "$OUT"/Maildir/*/*
(cd "$T/home/Maildir" && find . -maxdepth 1 -type f -printf '%P\t%s\n' | sort) > "$OUT/skipped-files.txt"
sed "s#$IN#/TMP#g" "$T/dovecot.conf" > "$OUT/dovecot.conf"
