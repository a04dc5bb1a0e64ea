#!/bin/bash
# facts-c.sh: which Dovecot-owned files in a Maildir hold plaintext of encrypted mails, per build.
# For each build: save plain/mail1.eml + plain/mail2.eml encrypted (keys/p256) into a fresh Maildir,
# grep every non-mail file for plaintext markers; then run the fetches an IMAP client typically
# triggers (envelope, bodystructure, headers, snippet) and grep again.
set -uo pipefail
S=$(cd "$(dirname "$0")/.." && pwd); . "$S/scripts/lib.sh"
MARKERS=("Rescue sample" "alice@example.org" "Hello Bob" "sizes.csv" "rescue-boundary-2" "multipart" "Grüße")
echo -e "env\tstage\tfile\tsize\tmarkers_found"
for env in new old upstream v24; do
  ks=p256; [ $env = upstream ] && ks=p256c
  T=$(mk_home $env); write_conf $env $T $ks yes none
  for p in mail1 mail2; do dv $env $T save -m INBOX < "$S/plain/$p.eml" 2>/dev/null; done
  report() {
    (cd "$T/home/Maildir" && find . -type f -not -path './new/*' -not -path './cur/*' -printf '%P\n' | sort) | while read -r f; do
      found=""; for m in "${MARKERS[@]}"; do grep -qaF "$m" "$T/home/Maildir/$f" && found="$found${found:+, }$m"; done
      echo -e "$env\t$1\t$f\t$(stat -c %s "$T/home/Maildir/$f")\t${found:--}"
    done
  }
  report after-save
  dv $env $T fetch "imap.envelope imap.bodystructure hdr body.snippet" mailbox INBOX all > /dev/null 2>&1
  report after-imap-fetch
  rm -rf "$T"
done
