#!/usr/bin/env python3
"""build-manifest-mixed.py: mixed/manifest.tsv from mixed/save.tsv, mixed/fetch-sizes.tsv,
mixed/readback.tsv and the files in mixed/Maildir"""
import os, sys, csv, json, hashlib, subprocess
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcstore
S = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
M = os.path.join(S, "mixed")
priv = mcstore.load_priv(os.path.join(S, "keys/p256/private.pem"))
saves = list(csv.DictReader(open(os.path.join(M, "save.tsv")), delimiter="\t"))
sizes = list(csv.DictReader(open(os.path.join(M, "fetch-sizes.tsv")), delimiter="\t"))
rb = list(csv.DictReader(open(os.path.join(M, "readback.tsv")), delimiter="\t"))
base = lambda g: g.split(":")[0].split(",")[0]
files = {}
for root, dirs, fs in os.walk(os.path.join(M, "Maildir")):
    if os.path.basename(root) in ("new", "cur"):
        for f in fs:
            files[base(f)] = os.path.relpath(os.path.join(root, f), os.path.join(M, "Maildir"))
# uid order per mailbox = save order per mailbox
order = {}
for s in saves:
    order.setdefault(s["mailbox"], []).append(s)
readers = [("new", "p256"), ("old", "p256"), ("upstream", "p256"), ("v24", "p256"), ("upstream", "p256c"), ("old", "p256c")]
out = []
for box in ("INBOX", "Sub"):
    rows = [r for r in sizes if r["mailbox"] == box]
    for sv, sz in zip(order[box], sorted(rows, key=lambda r: int(r["uid"]))):
        fn = files[base(sz["guid"])]
        path = os.path.join(M, "Maildir", fn)
        pt = open(os.path.join(M, "plain", sv["n"] + ".eml"), "rb").read(); ptsha = hashlib.sha256(pt).hexdigest()
        data = open(path, "rb").read()
        enc = data[:9] == mcstore.MAGIC
        got = mcstore.decrypt(data, priv)
        assert hashlib.sha256(got).hexdigest() == ptsha, fn
        if enc:
            hdr = json.loads(subprocess.run(["python3", "/work/shared/oracle/dcrypt-header.py", path, "--pub",
                              os.path.join(S, "keys/p256/public.pem")], capture_output=True, check=True).stdout)
            hv, fl, ci, kid, form = "v%d" % hdr["version"], ",".join(hdr["flag_names"]), hdr["cipher"], hdr["keys"][0]["key_id"], hdr["keys"][0]["key_id_form"]
        else:
            hv = fl = ci = kid = form = "-"
        ext = dict(kv.split("=", 1) for kv in fn.split(":")[0].split(",")[1:])
        row = dict(maildir_file=fn, mailbox=box, uid=sz["uid"], flags_imap=sz["flags"], writer=sv["writer"],
                   plaintext="plain/%s.eml" % sv["n"], plaintext_sha256=ptsha, plaintext_size=len(pt),
                   file_sha256=hashlib.sha256(data).hexdigest(), file_size=len(data),
                   encrypted="yes" if enc else "no", header_version=hv, flags=fl, cipher=ci, key_id=kid, key_id_form=form,
                   compression="none", s_size=ext["S"], w_size=ext["W"])
        for r, k in readers:
            hit = [x for x in rb if x["reader"] == r and x["key"] == k and x["mailbox"] == box and base(x["guid"]) == base(sz["guid"])]
            col = "read_" + r + ("" if k == "p256" else "_" + k)
            if not hit:
                row[col] = "not tested"; continue
            x = hit[0]
            if x["rc"] == "0" and x["out_sha256"] == ptsha:
                row[col] = "ok"
            else:
                e = x["error"]
                i = e.find("failed: Private key")
                row[col] = f"no: exit {x['rc']}: " + (e[i + 8:] if i >= 0 else e)
        out.append(row)
with open(os.path.join(M, "manifest.tsv"), "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(out[0].keys()), delimiter="\t", lineterminator="\n")
    w.writeheader(); w.writerows(out)
print(f"mixed: {len(out)} rows")
