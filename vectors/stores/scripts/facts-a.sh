#!/bin/bash
# facts-a.sh OUTDIR: does each build still serve a mail correctly after its file content is replaced
# (same name, mtime preserved unless the variant says otherwise) by another valid encoding of the
# same plaintext? Works on copies of mixed/Maildir (index files included).
# Target: INBOX uid 3 (written by new, compressed-point id, plaintext mixed/plain/4.eml, S=4415).
# Variants (OUTDIR/variants/*):
#   same      another `doveadm save` of the same plaintext by new (same key): same size, other bytes
#   v24       the same plaintext saved by v24 (2.4.1): same size
#   hmac      fs-crypt container, algo aes-256-cbc-sha256 (HMAC flag), written by new: larger file
#   gz        new with zlib_save=gz + mail_crypt: smaller file, payload = gzip stream
#   plain     the plaintext itself (what decrypt-store --in-place produces)
#   same-touch  like `same`, but the replacement keeps the current time as mtime (not preserved)
#   wrongsize   NEGATIVE control: encryption of a different plaintext (mixed/plain/6.eml, 4413 B) -> S= is wrong
#   repair      INBOX uid 1 (written by upstream, uncompressed-point id) with only the 32-byte key id
#               rewritten to the compressed-point id (what `repair` does)
set -uo pipefail
S=$(cd "$(dirname "$0")/.." && pwd); . "$S/scripts/lib.sh"
OUT=$1; V=$OUT/variants; mkdir -p "$V"
M=$S/mixed
TGT=$(awk -F'\t' '$2=="INBOX" && $3=="3"{print $1}' "$M/manifest.tsv")
REP=$(awk -F'\t' '$2=="INBOX" && $3=="1"{print $1}' "$M/manifest.tsv")
savefile() { # savefile ENV CRYPTCOMP PLAIN OUT
  local T; T=$(mk_home $1); write_conf $1 $T p256 yes $2
  dv $1 $T save -m INBOX < "$3" 2>/dev/null; cp "$(find $T/home/Maildir/new -type f | head -1)" "$4"; rm -rf "$T"
}
if [ ! -f "$V/plain" ]; then
  savefile new none "$M/plain/4.eml" "$V/same"
  savefile v24 none "$M/plain/4.eml" "$V/v24"
  savefile new gz "$M/plain/4.eml" "$V/gz"
  savefile new none "$M/plain/6.eml" "$V/wrongsize"
  DCORACLE_ALGO=aes-256-cbc-sha256 /work/shared/oracle/dovecot-encrypt.sh new "$S/keys/p256" "$M/plain/4.eml" "$V/hmac"
  cp "$M/plain/4.eml" "$V/plain"
  cp "$V/same" "$V/same-touch"
  python3 - "$M/Maildir/$REP" "$V/repair" "$S/keys/p256/keyids.json" <<'PY'
import sys, json
d = bytearray(open(sys.argv[1], "rb").read()); ids = json.load(open(sys.argv[3]))
p = 18; p += 2 + d[p + 1]; p += 2 + d[p + 1]; p += 8; assert d[p] == 1; p += 2
assert d[p:p + 32].hex() == ids["spki_uncompressed"]
d[p:p + 32] = bytes.fromhex(ids["spki_compressed"])
open(sys.argv[2], "wb").write(d)
print("key id at offset", p, file=sys.stderr)
PY
  (cd "$V" && for f in *; do echo -e "$f\t$(stat -c %s "$f")\t$(sha256sum < "$f" | cut -c1-64)"; done) > "$OUT/variants.tsv"
fi
F="size.physical size.virtual date.received"
echo -e "reader\tkey\tcache\tvariant\tmailbox_uid\tfile_size_before\tfile_size_after\tbefore(size.physical size.virtual date.received)\tafter(size.physical size.virtual date.received)\ttext\trc\terror"
for r in new old upstream v24; do
  for variant in same v24 hmac gz plain same-touch wrongsize repair; do
    for cache in warm cold; do
      if [ $variant = repair ]; then uid=1; file=$REP; exp="$M/plain/1.eml"; else uid=3; file=$TGT; exp="$M/plain/4.eml"; fi
      ks=p256; [ $r = upstream ] && [ $variant != repair ] && ks=p256c
      co=read; [ $r = upstream ] && co=none
      T=$(mk_home $r); write_conf $r $T $ks yes $co
      cp -a "$M/Maildir" "$T/home/Maildir"; mkdir -p "$T/home/Maildir/tmp" "$T/home/Maildir/cur" "$T/home/Maildir/.Sub/tmp" "$T/home/Maildir/.Sub/cur"
      chown -R 65534:65534 "$T/home/Maildir"
      before="-"
      if [ $cache = warm ]; then
        dv $r $T fetch "text hdr imap.bodystructure imap.envelope body.snippet $F" mailbox INBOX uid $uid > /dev/null 2>&1
        before=$(dv $r $T -f tab fetch "$F" mailbox INBOX uid $uid 2>/dev/null | tail -1 | tr '\t' ' ')
      fi
      P="$T/home/Maildir/$file"; sb=$(stat -c %s "$P")
      cp "$V/$variant" "$T/home/Maildir/tmp/replace"; chown 65534:65534 "$T/home/Maildir/tmp/replace"
      [ $variant != same-touch ] && touch -r "$P" "$T/home/Maildir/tmp/replace"
      [ $variant = same-touch ] && touch -d '2030-01-01 00:00:00' "$T/home/Maildir/tmp/replace"
      mv "$T/home/Maildir/tmp/replace" "$P"
      after=$(dv $r $T -f tab fetch "$F" mailbox INBOX uid $uid 2>/dev/null | tail -1 | tr '\t' ' ')
      dv $r $T -f pager fetch text mailbox INBOX uid $uid > "$T/out" 2> "$T/err"; rc=$?
      if [ "$(tail -c +7 "$T/out" | sha256sum)" = "$(sha256sum < "$exp")" ]; then txt=ok; else txt="wrong ($(( $(stat -c %s "$T/out") - 6 )) B)"; fi
      err=$(grep -m1 -E 'Error|Panic|Warning' "$T/err" | sed -e 's/^doveadm([^)]*)\(<[^>]*>\)*: //' -e "s#$(inner $r $T)/home/#~/#g" | cut -c1-300)
      # a second fetch: did the first one rename / repair something?
      dv $r $T -f pager fetch text mailbox INBOX uid $uid > "$T/out2" 2> "$T/err2"; rc2=$?
      ls2=$(ls "$(dirname "$P")" | grep -F "$(basename "${file%%,*}")")
      [ "$ls2" != "$(basename "$file")" ] && err="$err [file now named: $ls2]"
      [ $rc2 != $rc ] && err="$err [2nd fetch exit $rc2]"
      echo -e "$r\t$ks\t$cache\t$variant\tINBOX/$uid\t$sb\t$(stat -c %s "$(dirname "$P")/$ls2" 2>/dev/null)\t$before\t$after\t$txt\t$rc\t$err"
      rm -rf "$T"
    done
  done
done
