#!/bin/bash
# readback-mixed.sh: every build reads every mail of mixed/Maildir (index files included);
# writes mixed/readback.tsv and mixed/manifest.tsv. Readers use keys/p256 (uncompressed-point PEMs,
# as the writers did); upstream and old also with keys/p256c (compressed-point PEMs).
set -uo pipefail
S=$(cd "$(dirname "$0")/.." && pwd); cd "$S"
echo -e "key\treader\tmailbox\tuid\tguid\trc\tout_size\tout_sha256\terror" > mixed/readback.tsv
for r in new old upstream v24 upstream:p256c old:p256c; do
  ks=p256; [ "${r#*:}" != "$r" ] && ks=${r#*:}
  scripts/read-back.sh "${r%%:*}" $ks yes none mixed/Maildir /tmp/rbm.$$.tsv
  sed "s/^/$ks\t/" /tmp/rbm.$$.tsv >> mixed/readback.tsv
done
rm -f /tmp/rbm.$$.tsv
python3 scripts/build-manifest-mixed.py
