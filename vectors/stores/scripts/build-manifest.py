#!/usr/bin/env python3
"""build-manifest.py STOREDIR WRITER READBACK.tsv [--mixed]
Writes STOREDIR/manifest.tsv from the mail files in STOREDIR/Maildir, STOREDIR/save.tsv (save order ->
uid) and the read-back results (rows: store, key, reader, mailbox, uid, guid, rc, out_size, out_sha256, error)."""
import sys, os, csv, json, hashlib, subprocess
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcstore
S = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
store, writer, rbfile = sys.argv[1], sys.argv[2], sys.argv[3]
priv = mcstore.load_priv(os.path.join(S, "keys/p256/private.pem"))
plains = {}
for n in ("mail1", "mail2"):
    b = open(os.path.join(S, "plain", n + ".eml"), "rb").read()
    plains[n] = (b, hashlib.sha256(b).hexdigest())
saves = [r for r in csv.DictReader(open(os.path.join(store, "save.tsv")), delimiter="\t") if r["rc"] == "0"]
sizes = list(csv.DictReader(open(os.path.join(store, "fetch-sizes.tsv")), delimiter="\t"))
assert len(saves) == len(sizes), (len(saves), len(sizes))
files = {}
for sub in ("new", "cur"):
    d = os.path.join(store, "Maildir", sub)
    for f in os.listdir(d) if os.path.isdir(d) else []:
        files[f.split(",")[0]] = sub + "/" + f
rb = [l.rstrip("\n").split("\t") for l in open(rbfile)]
readers = ["new", "old", "upstream", "v24"]
out = []
for sv, sz in zip(saves, sizes):
    fn = files[sz["guid"]]
    path = os.path.join(store, "Maildir", fn)
    inf, payload = mcstore.info(priv, path)
    hdr = json.loads(subprocess.run(["python3", "/work/shared/oracle/dcrypt-header.py", path, "--pub",
                                     os.path.join(S, "keys/p256/public.pem")], capture_output=True, check=True).stdout)
    comp = inf["compression"]
    if comp == "none" and sv["method"] == "deflate":
        comp = "deflate"
    pt, ptsha = plains[sv["plaintext"]]
    assert hashlib.sha256(mcstore.decompress(payload, comp)).hexdigest() == ptsha, fn
    ext = dict(kv.split("=", 1) for kv in fn.split(":")[0].split(",")[1:])
    row = dict(maildir_file=fn, plaintext="plain/%s.eml" % sv["plaintext"], plaintext_sha256=ptsha,
               plaintext_size=len(pt), file_sha256=inf["file_sha256"], file_size=inf["file_size"],
               header_version="v%d" % hdr["version"], flags=",".join(hdr["flag_names"]), cipher=hdr["cipher"],
               key_id=hdr["keys"][0]["key_id"], key_id_form=hdr["keys"][0]["key_id_form"],
               header_length=hdr["header_length"], compression=comp, requested_method=sv["method"],
               payload_size=inf["payload_size"], payload_head_hex=payload[:16].hex(),
               s_size=ext.get("S", "-"), w_size=ext.get("W", "-"), uid=sz["uid"], writer_env=writer)
    for r in readers:
        hits = [x for x in rb if x[2] == r and x[3] == "INBOX" and x[5].split(":")[0].split(",")[0] == sz["guid"]]
        if not hits:
            row["read_" + r] = "not tested"; continue
        x = hits[0]
        key = "" if x[1] == "p256" else f" (key {x[1]})"
        if x[6] == "0" and x[8] == ptsha:
            row["read_" + r] = "ok" + key
        elif x[8] == hashlib.sha256(payload).hexdigest():
            row["read_" + r] = f"no{key}: served the still-compressed payload ({x[7]} B), exit {x[6]}" + (f", {x[9]}" if len(x) > 9 and x[9] else "")
        else:
            row["read_" + r] = f"no{key}: exit {x[6]}, {x[7]} B output" + (f", {x[9]}" if len(x) > 9 and x[9] else "")
    out.append(row)
with open(os.path.join(store, "manifest.tsv"), "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(out[0].keys()), delimiter="\t", lineterminator="\n")
    w.writeheader(); w.writerows(out)
print(f"{store}: {len(out)} rows")
