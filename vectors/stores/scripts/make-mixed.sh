#!/bin/bash
# make-mixed.sh OUTDIR -- one Maildir (INBOX + Sub) written by upstream then new under ONE key
# pair (keys/p256, uncompressed-point PEMs), plus 2 unencrypted mails; index files kept.
set -uo pipefail
S=$(cd "$(dirname "$0")/.." && pwd)
. "$S/scripts/lib.sh"
OUT=$1; P="$OUT/plain"
T=$(mk_home new); trap 'rm -rf "$T"' EXIT
LOG="$OUT/doveadm.log"; : > "$LOG"
write_conf new "$T" p256 yes none; cp "$T/dovecot.conf" "$T/crypt.conf"
write_conf new "$T" p256 no none;  cp "$T/dovecot.conf" "$T/plain.conf"
run() { # run ENV CONF ARGS...
  local env=$1 conf=$2; shift 2
  cp "$T/$conf" "$T/dovecot.conf"
  echo "+ [$env, $conf] doveadm $*" >> "$LOG"
  dv "$env" "$T" "$@" 2>&1 | sed "s#$T#/TMP#g" >> "$LOG"
  echo "  exit ${PIPESTATUS[0]}" >> "$LOG"
}
echo -e "n\twriter\tmailbox" > "$OUT/save.tsv"
save() { # save ENV CONF BOX N
  cp "$T/$2" "$T/dovecot.conf"
  echo "+ [$1, $2] doveadm save -m $3 < plain/$4.eml" >> "$LOG"
  dv "$1" "$T" save -m "$3" < "$P/$4.eml" 2>&1 | sed "s#$T#/TMP#g" >> "$LOG"
  echo "  exit ${PIPESTATUS[0]}" >> "$LOG"
  echo -e "$4\t$1$( [ "$2" = plain.conf ] && echo -plain)\t$3" >> "$OUT/save.tsv"
}
run upstream crypt.conf mailbox create Sub
save upstream crypt.conf INBOX 1
save upstream crypt.conf INBOX 2
save upstream crypt.conf Sub 3
save new crypt.conf INBOX 4
save new crypt.conf INBOX 5
save new crypt.conf Sub 6
save new plain.conf INBOX 7
save new plain.conf Sub 8
run new plain.conf flags add '\Seen' mailbox INBOX uid 1
run new plain.conf flags add '\Seen' mailbox INBOX uid 4
run new plain.conf flags add '\Seen \Flagged' mailbox Sub uid 2
run new plain.conf mailbox status "guid uidvalidity messages" INBOX Sub
cp "$T/plain.conf" "$T/dovecot.conf"
dv new "$T" -f tab fetch "mailbox uid guid flags size.physical size.virtual" all > "$OUT/fetch-sizes.tsv" 2>> "$LOG"
cp "$T/crypt.conf" "$T/dovecot.conf"
rm -rf "$OUT/Maildir"; cp -a "$T/home/Maildir" "$OUT/Maildir"
chown -R root:root "$OUT/Maildir"; find "$OUT/Maildir" -type f -exec chmod 644 {} +; find "$OUT/Maildir" -type d -exec chmod 755 {} +
(cd "$OUT/Maildir" && find . -type f -printf '%P\t%s\n' | sort) > "$OUT/files.txt"
sed "s#$T#/TMP#g" "$T/crypt.conf" > "$OUT/dovecot.conf"
