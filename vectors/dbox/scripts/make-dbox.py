#!/usr/bin/env python3
"""make-dbox.py [STORE...] -- write the dbox sample stores of vectors/dbox/ with the real builds.

Every store is made by `doveadm` of the oracle builds (shared/oracle/, installed by
interop/run.sh --install-only under /var/cache/mailcrypt-interop), then read back mail by mail
by every build (`readback.tsv`), and `manifest.tsv` is rebuilt from the dbox files
(interop/lib/dboxfmt.py) + an independent decryption (../../stores/scripts/mcstore.py).
Run as root. Without arguments every store is (re)made; STORE names select some.
The Build class (doveadm plumbing: chroots, 2.4 syntax) is interop/lib/matrix.py's.
"""
import csv
import hashlib
import json
import re
import os
import shutil
import subprocess
import sys

S = os.path.dirname(os.path.abspath(__file__))
D = os.path.dirname(S)                      # vectors/dbox
REPO = os.path.dirname(os.path.dirname(D))
IC = os.environ.get("INTEROP_CACHE", "/var/cache/mailcrypt-interop")


def upstream_prefix():
    base = os.path.join(IC, "upstream")
    cands = sorted((p for p in os.listdir(base) if p.startswith("dovecot-2.3.")), reverse=True) \
        if os.path.isdir(base) else []
    for p in cands:
        if os.path.exists(os.path.join(base, p, "bin", "doveadm")):
            return os.path.join(base, p)
    return "/nonexistent"


os.environ.setdefault("MAILCRYPT", "/bin/false")
os.environ.setdefault("INTEROP_WORK", "/tmp")
os.environ.setdefault("INTEROP_OUT", "/tmp")
os.environ.setdefault("INTEROP_OLD_ROOT", os.path.join(IC, "chroot-bullseye"))
os.environ.setdefault("INTEROP_V24_ROOT", os.path.join(IC, "chroot-trixie"))
os.environ.setdefault("INTEROP_UPSTREAM_PREFIX", upstream_prefix())
sys.path.insert(0, os.path.join(REPO, "interop", "lib"))
sys.path.insert(0, os.path.join(REPO, "vectors", "stores", "scripts"))
sys.dont_write_bytecode = True
import matrix as M  # noqa: E402
import dboxfmt  # noqa: E402
import dbox as DB  # noqa: E402  mail_conf, dv, fetch_all (the harness's doveadm plumbing)
import mcstore  # noqa: E402

KEYDIR = os.path.join(REPO, "vectors", "stores", "keys", "p256")
KEYIDS = json.load(open(os.path.join(KEYDIR, "keyids.json")))
PASSWORD = "Tr0ub4dor&3-mailcrypt"   # as vectors/userkeys
ROTATE = "2k"                        # mdbox_rotate_size: 2 mails per m-file with these plaintexts
READERS = ["new", "old", "upstream", "v24"]
# DBOX_READERS="new old": read back with these builds only (testing; the committed tables use all four)
ACTIVE_READERS = os.environ.get("DBOX_READERS", " ".join(READERS)).split()
BUILDS = {}


def build(name):
    if name not in BUILDS:
        BUILDS[name] = M.Build(name)
    return BUILDS[name]


def conf(b, d, lay, crypt):
    """crypt: global (keys/p256 global pair) | user (per-user keys, password) | no"""
    return DB.mail_conf(b, d, lay, {"no": "none"}.get(crypt, crypt), KEYDIR, PASSWORD,
                        ROTATE if lay == "mdbox" else None)


dv = DB.dv


give = DB.give


# store name -> (layout, crypt, steps); a step is (env, "crypt"|"plain", box, n) or (env, "create", box)
# or (env, "userkey") = `mailbox cryptokey generate -U`
def stores():
    out = {}
    for lay in ("sdbox", "mdbox"):
        for env in READERS:
            out["%s-%s" % (lay, env)] = (lay, "global", [(env, "create", "Sub"), (env, "crypt", "INBOX", 1),
                                                       (env, "crypt", "INBOX", 2), (env, "crypt", "INBOX", 3),
                                                       (env, "crypt", "Sub", 4)])
        # upstream and new in turn on one store: every m-file gets a mail of each id form
        out["mixed-" + lay] = (lay, "global", [
            ("upstream", "create", "Sub"), ("upstream", "crypt", "INBOX", 1), ("new", "crypt", "INBOX", 2),
            ("upstream", "crypt", "INBOX", 3), ("new", "crypt", "Sub", 4), ("upstream", "crypt", "Sub", 5),
            ("new", "crypt", "INBOX", 6), ("new", "plain", "Sub", 7)])
    out["userkey-sdbox-upstream"] = ("sdbox", "user", [
        ("upstream", "userkey"), ("upstream", "create", "Sub"), ("upstream", "crypt", "INBOX", 1),
        ("upstream", "crypt", "INBOX", 2), ("upstream", "crypt", "Sub", 3)])
    return out


def make(name, lay, crypt, steps):
    out = os.path.join(D, name)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(os.path.join(out, "plain"))
    specs = ["%d:%s%s:%s" % (s[3], s[0], "-plain" if s[1] == "plain" else "", s[2]) for s in steps if len(s) == 4]
    subprocess.run([sys.executable, os.path.join(S, "make-plain.py"), os.path.join(out, "plain")] + specs, check=True)
    # all writers share one home; chroot builds see it through a copy made per step
    home = None
    logf = open(os.path.join(out, "doveadm.log"), "w")
    saves = []
    confs = {}
    for st in steps:
        b = build(st[0])
        d = b.mktemp(mail=True)
        if home:
            shutil.rmtree(d + "/home")
            shutil.copytree(home, d + "/home", symlinks=True)
            give(d + "/home")
        c = conf(b, d, lay, "no" if st[1] == "plain" else crypt)
        confs.setdefault((st[0], st[1] == "plain"), c.replace(b.inner(d), "/TMP"))
        if st[1] == "create":
            rc, o, e = dv(b, d, ["mailbox", "create"], [st[2]])
            what = "mailbox create " + st[2]
        elif st[1] == "userkey":
            rc, o, e = dv(b, d, ["mailbox", "cryptokey", "generate"], ["-U"])
            what = "mailbox cryptokey generate -U"
        else:
            with open(os.path.join(out, "plain", "%d.eml" % st[3]), "rb") as inp:
                rc, o, e = dv(b, d, ["save"], ["-m", st[2]], stdin=inp)
            what = "save -m %s < plain/%d.eml" % (st[2], st[3])
            saves.append((st[2], st[3], st[0] + ("-plain" if st[1] == "plain" else "")))
        logf.write("+ [%s%s] doveadm %s\n%s%s[exit %d]\n" % (st[0], ", mail_crypt off" if st[1] == "plain" else "",
                                                           what, o.decode(), e.replace(b.inner(d), "/TMP"), rc))
        if rc != 0:
            raise SystemExit("%s: %s failed: %s" % (name, what, e))
        if home:
            shutil.rmtree(os.path.dirname(home))
        home = d + "/home"
    # the writer's own view (mail_crypt off: no decryption needed): mailbox uid guid sizes
    b = build(steps[-1][0])
    d = os.path.dirname(home)
    conf(b, d, lay, "no")
    rc, o, e = dv(b, d, ["fetch"], ["mailbox uid guid size.physical size.virtual date.received", "all"],
                  pre=["-f", "tab"])
    logf.write("+ doveadm -f tab fetch 'mailbox uid guid size.physical size.virtual date.received' all\n%s[exit %d]\n"
               % (e, rc))
    with open(os.path.join(out, "fetch.tsv"), "wb") as f:
        f.write(o)
    logf.close()
    shutil.copytree(os.path.join(home, lay), os.path.join(out, lay), symlinks=True)
    if crypt == "user":
        shutil.copy(os.path.join(home, "dovecot-attributes"), os.path.join(out, "dovecot-attributes"))
        with open(os.path.join(out, "password"), "w") as f:
            f.write(PASSWORD)
    with open(os.path.join(out, "dovecot.conf"), "w") as f:
        for (env, plain), c in confs.items():
            f.write("# --- %s%s (/TMP = the deleted temp dir)\n%s" % (env, ", mail_crypt off" if plain else "", c))
    with open(os.path.join(out, "save.tsv"), "w") as f:
        f.write("mailbox\tn\twriter\n" + "".join("%s\t%d\t%s\n" % s for s in saves))
    shutil.rmtree(d)
    for dp, dn, fn in os.walk(out):
        os.chown(dp, 0, 0)
        os.chmod(dp, 0o755)
        for n in fn:
            os.chown(os.path.join(dp, n), 0, 0)
            os.chmod(os.path.join(dp, n), 0o644)


def readback(name, lay, crypt):
    """every build reads every mail of the store (whole tree incl. index files copied), one
    doveadm fetch per build as the interop harness does"""
    src = os.path.join(D, name)
    rows = []
    for rn in ACTIVE_READERS:
        b = build(rn)
        d = b.mktemp(mail=True)
        try:
            shutil.copytree(os.path.join(src, lay), os.path.join(d, "home", lay), symlinks=True)
            if crypt == "user":
                shutil.copy(os.path.join(src, "dovecot-attributes"), os.path.join(d, "home", "dovecot-attributes"))
            give(d + "/home")
            conf(b, d, lay, crypt)
            rc, recs, general = DB.fetch_all(b, d)
            for (box, guid), r in sorted(recs.items(), key=lambda x: (x[0][0], int(x[1]["uid"]))):
                if general:
                    raise SystemExit("%s read by %s: complaint naming no mail: %s" % (name, rn, general[0]))
                err = [e for e in r["errs"] if "fetch(" in e][:1] or r["errs"][:1]
                err = re.sub(r"^doveadm\([^)]*\)(<[^>]*>)*: ", "", err[0].replace(b.inner(d), "")) if err else ""
                rows.append(dict(store=name, reader=rn, mailbox=box, uid=r["uid"], guid=guid,
                                 fetch_exit=rc, out_size=len(r["text"]),
                                 out_sha256=hashlib.sha256(r["text"]).hexdigest(),
                                 error=err[:400].replace("\t", " ")))
        finally:
            shutil.rmtree(d, ignore_errors=True)
    return rows


def folder_key_forms(attr):
    """{id: form} for the folder/user public keys in a per-user attribute file (compressed id = the name)"""
    from cryptography.hazmat.primitives import serialization
    lines = open(attr).read().split("\n")
    out = {}
    for k, v in zip(lines[0::2], lines[1::2]):
        if "/crypt/pubkeys/" in k:
            spki = bytes.fromhex(v.split(":")[1])
            pub = serialization.load_der_public_key(spki)
            unc = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            cmp_ = hashlib.sha256(spki).hexdigest()
            out[cmp_] = "spki_compressed"
            out[hashlib.sha256(unc).hexdigest()] = "spki_uncompressed"
    return out


COLS = ["store", "layout", "mailbox", "uid", "guid", "writer", "dbox_file", "hdr_offset", "container_offset",
        "container_size", "meta_Z", "meta_V", "encrypted", "key_id", "key_id_form", "recipient",
        "plaintext", "plaintext_sha256", "plaintext_size", "read_new", "read_old", "read_upstream", "read_v24"]


def manifest(name, lay, crypt, rb):
    src = os.path.join(D, name)
    root = os.path.join(src, lay)
    saves = list(csv.DictReader(open(os.path.join(src, "save.tsv")), delimiter="\t"))
    fetch = list(csv.DictReader(open(os.path.join(src, "fetch.tsv")), delimiter="\t"))
    # UIDs follow the save order inside a mailbox
    by_box = {}
    for s in saves:
        by_box.setdefault(s["mailbox"], []).append(s)
    guid_of = {(r["mailbox"], int(r["uid"])): r["guid"] for r in fetch}
    want = {}
    for box, ss in by_box.items():
        for uid, s in enumerate(ss, 1):
            want[guid_of[(box, uid)]] = (box, uid, s)
    priv = mcstore.load_priv(os.path.join(KEYDIR, "private.pem")) if crypt == "global" else None
    forms = {v: k for k, v in KEYIDS.items()} if crypt == "global" else \
        folder_key_forms(os.path.join(src, "dovecot-attributes"))
    _lay, files = dboxfmt.dbox_files(root)
    rows = []
    for p in files:
        data = open(p, "rb").read()
        for m in dboxfmt.parse(p, data):
            box, uid, s = want.pop(m.guid)
            if lay == "sdbox" and dboxfmt.sdbox_mailbox_uid(root, p) != (box, uid):
                raise SystemExit("%s: %s is not %s/%d" % (name, p, box, uid))
            if lay == "mdbox" and m.meta.get("B") != box:
                raise SystemExit("%s: B=%s, saved to %s" % (name, m.meta.get("B"), box))
            body = data[m.offset:m.offset + m.size]
            plain = open(os.path.join(src, "plain", s["n"] + ".eml"), "rb").read()
            enc = body.startswith(mcstore.MAGIC)
            if enc:
                kid = mcstore.parse_v2(body)["kid"].hex()
                form = forms.get(kid, "?")
                if priv:
                    assert mcstore.decrypt(body, priv) == plain, (name, p, m.offset)
            else:
                assert body == plain, (name, p)
                kid = form = "-"
            # Z (physical size) is written only when it differs from the stored body size: encrypted mails
            assert ("Z" in m.meta) == enc and int(m.meta.get("Z", "%x" % m.size), 16) == len(plain)
            assert int(m.meta["V"], 16) == len(plain) + plain.count(b"\n")
            r = dict(store=name, layout=lay, mailbox=box, uid=uid, guid=m.guid, writer=s["writer"],
                     dbox_file=os.path.relpath(p, src), hdr_offset=m.hdr_offset, container_offset=m.offset,
                     container_size=m.size, meta_Z=m.meta.get("Z", "-"), meta_V=m.meta["V"], encrypted="yes" if enc else "no",
                     key_id=kid, key_id_form=form,
                     recipient=("global keys/p256" if crypt == "global" else "folder key") if enc else "-",
                     plaintext="plain/%s.eml" % s["n"], plaintext_sha256=hashlib.sha256(plain).hexdigest(),
                     plaintext_size=len(plain))
            for rn in READERS:
                got = [x for x in rb if x["reader"] == rn and x["guid"] == m.guid and x["mailbox"] == box]
                if not got:
                    r["read_" + rn] = "no: not listed"
                elif got[0]["out_sha256"] == r["plaintext_sha256"] and not got[0]["error"]:
                    r["read_" + rn] = "yes"
                else:
                    r["read_" + rn] = "no: " + (got[0]["error"] or "served %s B that differ" % got[0]["out_size"])
            rows.append(r)
    if want:
        raise SystemExit("%s: mails not found in the dbox files: %s" % (name, want))
    return rows


def main():
    sel = sys.argv[1:]
    all_stores = stores()
    for n in sel:
        if n not in all_stores:
            raise SystemExit("unknown store %s (have: %s)" % (n, " ".join(all_stores)))
    man_path = os.path.join(D, "manifest.tsv")
    rb_path = os.path.join(D, "readback.tsv")
    old_man = list(csv.DictReader(open(man_path), delimiter="\t")) if os.path.exists(man_path) else []
    old_rb = list(csv.DictReader(open(rb_path), delimiter="\t")) if os.path.exists(rb_path) else []
    todo = sel or list(all_stores)
    man = [r for r in old_man if r["store"] not in todo and r["store"] in all_stores]
    rbs = [r for r in old_rb if r["store"] not in todo and r["store"] in all_stores]
    for n in todo:
        lay, crypt, steps = all_stores[n]
        print("==", n, flush=True)
        make(n, lay, crypt, steps)
        rb = readback(n, lay, crypt)
        rbs += rb
        man += manifest(n, lay, crypt, rb)
    order = list(all_stores)
    man.sort(key=lambda r: (order.index(r["store"]), r["dbox_file"], int(r["hdr_offset"])))
    rbs.sort(key=lambda r: (order.index(r["store"]), READERS.index(r["reader"]), r["mailbox"], int(r["uid"])))
    with open(man_path, "w") as f:
        f.write("\t".join(COLS) + "\n")
        for r in man:
            f.write("\t".join(str(r[c]) for c in COLS) + "\n")
    rcols = ["store", "reader", "mailbox", "uid", "guid", "fetch_exit", "out_size", "out_sha256", "error"]
    with open(rb_path, "w") as f:
        f.write("\t".join(rcols) + "\n")
        for r in rbs:
            f.write("\t".join(str(r[c]) for c in rcols) + "\n")


if __name__ == "__main__":
    main()
