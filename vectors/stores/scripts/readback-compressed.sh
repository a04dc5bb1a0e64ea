#!/bin/bash
# readback-compressed.sh: every build reads every compressed/<env>/ store; writes
# compressed/readback.tsv and regenerates compressed/<env>/manifest.tsv.
# upstream has no compression plugin and is given the compressed-point PEM (keys/p256c) so that
# only the compression (not the key id) decides.
set -uo pipefail
S=$(cd "$(dirname "$0")/.." && pwd); cd "$S"
echo -e "store\tkey\treader\tmailbox\tuid\tguid\trc\tout_size\tout_sha256\terror" > compressed/readback.tsv
for st in new old v24; do
  for r in new old upstream v24; do
    if [ $r = upstream ]; then ks=p256c; co=none; else ks=p256; co=read; fi
    scripts/read-back.sh $r $ks yes $co compressed/$st/Maildir /tmp/rb.$$.tsv
    sed "s/^/$st\t$ks\t/" /tmp/rb.$$.tsv >> compressed/readback.tsv
  done
  awk -F'\t' -v s=$st '$1==s' compressed/readback.tsv > /tmp/rb.$$.tsv
  python3 scripts/build-manifest.py compressed/$st $st /tmp/rb.$$.tsv
done
rm -f /tmp/rb.$$.tsv
