#!/usr/bin/env python3
"""interop/lib/dbox.py - the dbox and per-user store cells of interop/run.sh (issue 14).

Stores written by the real builds (vectors/dbox/: sdbox and mdbox from each build, sdbox and
mdbox that `upstream` and `new` wrote in turn, an sdbox with per-user keys from `upstream`;
vectors/userkeys/upstream and old-v1: per-user Maildir stores) are rewritten by the mailcrypt
rescue commands; then the real builds read every mail with ONE `doveadm fetch` per store
(`-f pager fetch "mailbox uid guid size.physical size.virtual text" all`). A mail passes when
its bytes equal the manifest's plaintext, size.physical/size.virtual are its plaintext sizes and
no Error/Warning/Panic/Fatal line names it; a line naming no mail fails the store-level cell.

  read        every single-build dbox store, read by every build: each mail as the manifest
              says (served, or the failure it records); `scan --json` must predict it.
  decrypt     `decrypt-store -k KEY SRC DST` (per-user: --attributes/--password-file) on every
              dbox store: SRC untouched, DST a Maildir++ tree (INBOX in DST/{cur,new}, other
              mailboxes DST/.<name>/), one plaintext per mail (S= = its size, mtime = the
              received time), and a build WITHOUT mail_crypt (`maildir:DST`) serves every mail.
  repair      the mixed dbox stores, every target T and each of T's builds: before, T fails
              on the mails of the other id form ("Private key not available", expected-fail);
              dry run changes nothing; `repair --target T --apply --log L` changes only the
              32-byte key ids inside the dbox files (sizes, metadata, index files kept); T
              serves every mail; `repair --undo L --apply` restores every byte.
  userkey     per-user stores (userkeys/upstream, userkeys/old-v1, dbox userkey-sdbox-upstream),
              every target: before, T fails; `repair --target T --attributes F --password-file P
              --apply --log L DIR`; T serves every mail with the repaired attribute file and the
              password; undo restores the attribute file and every mail byte for byte.
  scan        (in read/repair/userkey) `scan --json` prints one object per mail with
              readable_by[T] = "yes"|"no" and a {"summary": ...} object; every verdict must be
              what T's real build did (before and after repair).
  rekey       `rekey` on a dbox store refuses (exit 2, naming decrypt-store/doveadm) and
              changes no byte.

Called by interop/run.sh after store.py (INTEROP_DBOX=0 turns it off), same environment.
INTEROP_DBOX_CELLS="read decrypt repair userkey rekey" runs only some groups.
Writes $INTEROP_OUT/dbox.tsv (the columns of matrix.tsv) and dbox.txt. Python 3 standard
library only; exit status 1 when a cell is FAIL.
"""

import hashlib
import json
import os
import re
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__/ in the source tree
import dboxfmt  # noqa: E402
import matrix as M  # noqa: E402  Build (doveadm plumbing), mkcell, MARK, COLS
import store as S  # noqa: E402  mc, complaints, copy helpers, targets

REPO = os.path.dirname(os.path.dirname(HERE))
VEC = os.environ.get("INTEROP_DBOX_VECTORS") or os.path.join(REPO, "vectors", "dbox")
UVEC = os.environ.get("INTEROP_USERKEY_VECTORS") or os.path.join(REPO, "vectors", "userkeys")
KEYDIR = os.path.join(REPO, "vectors", "stores", "keys", "p256")
DWORK = os.path.join(M.WORK, "dbox")
CELLS = os.environ.get("INTEROP_DBOX_CELLS", "read decrypt repair userkey rekey").split()
LAYOUTS = ("sdbox", "mdbox")
MAIL_UID = S.MAIL_UID

ERR_NO_KEY = "Private key not available"
ERR_KEY_HASH = "Incorrect key hash"
KEYID_OFF = 50          # key id inside a v2 container with one recipient: bytes 50..82
PAGER_HEAD = re.compile(rb"mailbox: (.*)\nuid: (\d+)\nguid: (.*)\nsize\.physical: (\d*)\nsize\.virtual: (\d*)\ntext:\n")
ERR_MAIL = re.compile(r"box=(\S+) uid=(\d+)")
READ_PATH = re.compile(r"read\(/[^)]*\)")
TARGETS = list(S.TARGET_READERS)


def sha256(b):
    return hashlib.sha256(b).hexdigest()


# --- the stores ---------------------------------------------------------------------------
class Mail:
    def __init__(self, box, guid, plain, encrypted, id_form, rel=None, offset=None, size=None, uid=None,
                 expect=None):
        self.box = box
        self.guid = guid            # doveadm's guid: dbox G metadata / Maildir base name
        # Maildir without a G in dovecot-uidlist: the file name up to ':' (with ,S=,W=)
        self.guids = {guid, os.path.basename(rel).split(":")[0]} if rel else {guid}
        self.plain = plain
        self.encrypted = encrypted
        self.id_form = id_form      # spki_compressed | spki_uncompressed | v1 | -
        self.rel = rel              # mail file relative to the store's mail tree
        self.offset = offset        # dbox: container offset in rel
        self.size = size            # dbox: container size
        self.uid = uid
        self.expect = expect or {}  # build -> "yes" | error text the manifest recorded
        self.mid = "%s-%s" % (box, uid if uid is not None else guid[:8])


class Store:
    """kind: dbox | maildir; crypt: global | user; tree: the mail tree's name in the vector dir"""

    def __init__(self, name, src, kind, layout, crypt, tree, mails, writer=None):
        self.name, self.src, self.kind, self.layout, self.crypt, self.tree = name, src, kind, layout, crypt, tree
        self.mails = mails
        self.writer = writer
        self.attributes = os.path.join(src, "dovecot-attributes") if crypt == "user" else None
        self.password_file = os.path.join(src, "password") if crypt == "user" else None


def load_dbox_stores():
    man = S.read_tsv(os.path.join(VEC, "manifest.tsv"))
    out = {}
    for r in man:
        out.setdefault(r["store"], []).append(r)
    stores = {}
    for name, rows in out.items():
        src = os.path.join(VEC, name)
        lay = rows[0]["layout"]
        crypt = "user" if os.path.exists(os.path.join(src, "dovecot-attributes")) else "global"
        mails = []
        for r in rows:
            with open(os.path.join(src, r["plaintext"]), "rb") as f:
                plain = f.read()
            if sha256(plain) != r["plaintext_sha256"]:
                raise SystemExit("dbox vectors: %s/%s does not match its manifest SHA-256" % (name, r["plaintext"]))
            exp = {b: ("yes" if r["read_" + b] == "yes" else r["read_" + b]) for b in S.BUILD_TARGET}
            mails.append(Mail(r["mailbox"], r["guid"], plain, r["encrypted"] == "yes", r["key_id_form"],
                              os.path.relpath(r["dbox_file"], lay), int(r["container_offset"]),
                              int(r["container_size"]), int(r["uid"]), exp))
        writers = {r["writer"] for r in rows}
        stores[name] = Store(name, src, "dbox", lay, crypt, lay, mails, writers.pop() if len(writers) == 1 else None)
    return stores


def load_userkey_maildir(env):
    src = os.path.join(UVEC, env)
    mails = []
    for r in S.read_tsv(os.path.join(src, "manifest.tsv")):
        with open(os.path.join(src, r["plaintext"]), "rb") as f:
            plain = f.read()
        base = os.path.basename(r["maildir_file"]).split(":")[0].split(",")[0]
        form = "v1" if r["header_version"] == "v1" else "spki_compressed"
        mails.append(Mail("INBOX", base, plain, True, form, rel=r["maildir_file"],
                          uid=int(r["plaintext"].split("/")[-1].split(".")[0])))
    return Store("userkeys-" + env, src, "maildir", "maildir", "user", "Maildir", mails, env)


# --- Dovecot homes ----------------------------------------------------------------------------
def mail_conf(b, d, driver, crypt, keydir=None, password=None, rotate=None):
    """a minimal mail config for build b in temp dir d: the store at d/home/<driver-dir>
    (sdbox/, mdbox/, Maildir/); crypt = global (keydir's pair) | user (attribute file
    d/home/dovecot-attributes, password) | none (mail_crypt off)."""
    i = b.inner(d)
    path = "%s/home/%s" % (i, "Maildir" if driver == "maildir" else driver)
    c = b.base_conf(d) + "mail_uid = %d\nmail_gid = %d\n" % (MAIL_UID, MAIL_UID)
    if crypt == "global":
        for n in ("public.pem", "private.pem"):
            shutil.copy(os.path.join(keydir, n), os.path.join(d, n))
            os.chmod(os.path.join(d, n), 0o644)
    if b.is24:
        c += "mail_driver = %s\nmail_path = %s\n" % (driver, path)
        if rotate:
            c += "mdbox_rotate_size = %s\n" % rotate
        if crypt != "none":
            c += "mail_plugins {\n  mail_crypt = yes\n}\n"
        if crypt == "global":
            c += ("crypt_global_public_key_file = %s/public.pem\n"
                  "crypt_global_private_key main {\n  crypt_private_key_file = %s/private.pem\n}\n" % (i, i))
        elif crypt == "user":
            c += ("mail_attribute {\n  dict file {\n    dict_file_path = %s/home/dovecot-attributes\n  }\n}\n"
                  "crypt_user_key_curve = prime256v1\ncrypt_user_key_password = %s\n"
                  "crypt_user_key_require_encrypted = yes\n" % (i, password))
    else:
        c += "mail_location = %s:%s\n" % (driver, path)
        if rotate:
            c += "mdbox_rotate_size = %s\n" % rotate
        c += "mail_plugins = %s\n" % ("" if crypt == "none" else "mail_crypt")
        if crypt == "user":
            c += "mail_attribute_dict = file:%s/home/dovecot-attributes\n" % i
        c += "plugin {\n"
        if crypt == "global":
            c += ("  mail_crypt_global_public_key = <%s/public.pem\n"
                  "  mail_crypt_global_private_key = <%s/private.pem\n"
                  "  mail_crypt_save_version = 2\n" % (i, i))
        elif crypt == "user":
            c += ("  mail_crypt_curve = prime256v1\n  mail_crypt_save_version = 2\n"
                  "  mail_crypt_private_password = %s\n  mail_crypt_require_encrypted_user_key = yes\n" % password)
        c += "}\n"
    with open(os.path.join(d, "dovecot.conf"), "w") as f:
        f.write(c)
    return c


def dv(b, d, words, rest=(), pre=(), stdin=None):
    """doveadm as the mail user with home d/home (2.4: --no-userdb-lookup after the command words)"""
    args = list(pre) + list(words) + (["--no-userdb-lookup"] if b.is24 else []) + list(rest)
    tmp = os.path.join(d, "dv.out")
    with open(tmp, "wb") as o:
        rc, err = b.doveadm(d, args, user=True, stdin=stdin, stdout=o)
    with open(tmp, "rb") as f:
        out = f.read()
    os.unlink(tmp)
    return rc, out, err


def fetch_all(b, d):
    """ONE doveadm process reads every mail of every mailbox. Returns (rc, {(box, guid): rec},
    complaints naming no mail). rec: uid, phys, virt, text, errs (complaint lines naming it)."""
    rc, out, err = dv(b, d, ["fetch"], ["mailbox uid guid size.physical size.virtual text", "all"],
                      pre=["-f", "pager"])
    recs, by_uid = {}, {}
    for part in out.split(b"\x0c\n") if out else []:
        m = PAGER_HEAD.match(part)
        if not m:
            continue
        box, uid, guid = (m.group(k).decode("utf-8", "replace") for k in (1, 2, 3))
        rec = dict(uid=uid, phys=int(m.group(4)) if m.group(4) else None,
                   virt=int(m.group(5)) if m.group(5) else None, text=part[m.end():], errs=[])
        recs[(box, guid)] = rec
        by_uid[(box, uid)] = rec
    general = []
    lines = S.complaints(err)
    for n, line in enumerate(lines):
        mm = ERR_MAIL.search(line)
        if not (mm and (mm.group(1), mm.group(2)) in by_uid) and n + 1 < len(lines):
            # 2.3.13 logs "read() failed: read(<file>) failed: ..." right before the
            # "fetch(text) failed for box=.. uid=.." line of the same file: that mail's
            nxt, path = ERR_MAIL.search(lines[n + 1]), READ_PATH.search(line)
            if nxt and path and path.group(0) in lines[n + 1]:
                mm = nxt
        if mm and (mm.group(1), mm.group(2)) in by_uid:
            by_uid[(mm.group(1), mm.group(2))]["errs"].append(line)
        else:
            general.append(line)
    return rc, recs, general


class Home:
    """a temp dir inside the build's root with home/<tree> (+ home/dovecot-attributes)"""

    def __init__(self, build, flow):
        self.b = build
        self.flow = flow
        self.d = build.mktemp(mail=True)
        self.home = self.d + "/home"

    def tree(self, name):
        return os.path.join(self.home, name)

    def conf(self, driver, crypt, password=None):
        c = mail_conf(self.b, self.d, driver, crypt, KEYDIR, password)
        with open(os.path.join(self.flow.dir, "dovecot-%s-%d.conf" % (self.b.name, self.flow.step_no())), "w") as f:
            f.write(c)

    def close(self, keep):
        if keep:
            dst = os.path.join(self.flow.dir, "home-%s" % self.b.name)
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(self.home, dst, symlinks=True)
        shutil.rmtree(self.d, ignore_errors=True)


def give(path):
    S.give_to_mail_user(path)


def put_store(store, home):
    """copy the store's mail tree (+ attribute file) into the home, as an admin would"""
    dst = home.tree(store.tree)
    if store.kind == "maildir":
        S.copy_maildir(os.path.join(store.src, store.tree), dst)
    else:
        shutil.copytree(os.path.join(store.src, store.tree), dst, symlinks=True, copy_function=shutil.copy2)
    if store.attributes:
        shutil.copy2(store.attributes, os.path.join(home.home, "dovecot-attributes"))
    give(home.home)
    return dst


def password(store):
    with open(store.password_file) as f:
        return f.read()


def snapshot(root):
    """{relative path: bytes} of every regular file below root"""
    out = {}
    for dp, _dn, fn in os.walk(root):
        for n in fn:
            p = os.path.join(dp, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = f.read()
    return out


def is_mail_file(store, rel):
    if store.kind == "dbox":
        return bool(dboxfmt.NAME.match(os.path.basename(rel)))
    return os.path.basename(os.path.dirname(rel)) in ("cur", "new")


def diff_files(a, b, only=None):
    """paths that differ between two snapshots (added, removed or changed), restricted by only(rel)"""
    out = []
    for rel in sorted(set(a) | set(b)):
        if only and not only(rel):
            continue
        if a.get(rel) != b.get(rel):
            out.append(rel + (" (new)" if rel not in a else " (gone)" if rel not in b else ""))
    return out


def key_args(store):
    if store.crypt == "user":
        return ["--attributes", None, "--password-file", store.password_file]   # attribute path set per home
    return ["-k", os.path.join(KEYDIR, "private.pem")]


def with_attr(args, attr):
    return [attr if a is None else a for a in args]


# --- a flow: one store, one operation, one reader ------------------------------------------------
class Flow(S.Flow):
    """one store, one operation, one reader (store.py's Flow: cells, checks, work dir)"""
    KIND = "dbox"
    WORKDIR = DWORK

    def mc(self, args):
        return S.mc(args, self.log)

    def read_pass(self, home, phase, expect, mails=None, by_text=False):
        """one doveadm fetch of the whole store. expect(mail) -> None (served exactly, quietly)
        or the error text the build must fail with. by_text: match mails by (mailbox, bytes)
        (decrypt-store output, whose GUIDs are new file names). Returns {mid: "yes"|"no"}."""
        mails = mails if mails is not None else self.store.mails
        rc, recs, general = fetch_all(self.reader, home.d)
        observed, seen = {}, set()
        for m in mails:
            key = None
            for k, v in recs.items():
                if k[0] == m.box and k not in seen and (v["text"] == m.plain if by_text else k[1] in m.guids):
                    key = k
                    break
            exp = expect(m)
            want = "ok" if exp is None else "fail: " + exp
            if key is None:
                observed[m.mid] = "no"
                self.cell(phase, m.mid, want, "FAIL", "Dovecot does not list this mail (doveadm exit %d)" % rc)
                continue
            seen.add(key)
            r = recs[key]
            exact = r["text"] == m.plain and not r["errs"]
            observed[m.mid] = "yes" if exact else "no"
            if exp is None:
                if exact and r["phys"] == len(m.plain) and r["virt"] == len(m.plain) + m.plain.count(b"\n"):
                    self.cell(phase, m.mid, want, "ok")
                elif exact:
                    self.cell(phase, m.mid, want, "FAIL", "size.physical/virtual %s/%s, plaintext %d B with %d LF"
                              % (r["phys"], r["virt"], len(m.plain), m.plain.count(b"\n")))
                elif r["text"] == m.plain:
                    self.cell(phase, m.mid, want, "FAIL", "served the right bytes but logged: " + r["errs"][0][:300])
                else:
                    self.cell(phase, m.mid, want, "FAIL", "served %d B (plaintext %d B): %s" % (
                        len(r["text"]), len(m.plain), (r["errs"] or ["no error logged"])[0][:300]))
            elif exact:
                self.cell(phase, m.mid, want, "FAIL", "served the plaintext although it must fail")
            elif any(exp in e for e in r["errs"]):
                self.cell(phase, m.mid, want, "expected-fail", [e for e in r["errs"] if exp in e][0][:300])
            else:
                self.cell(phase, m.mid, want, "FAIL", "failed differently: %s" % (
                    (r["errs"] or ["no error logged, %d B served" % len(r["text"])])[0][:300]))
        probs = ["logged: " + g[:300] for g in general]
        extra = sorted(set(recs) - seen)
        if extra:
            probs.append("Dovecot lists %d mails the manifest does not have: %s" % (
                len(extra), ", ".join("%s uid %s" % (k[0], recs[k]["uid"]) for k in extra[:3])))
        if rc != 0 and all(expect(m) is None for m in mails):
            probs.append("doveadm fetch exit %d" % rc)
        self.check(phase + ":store", probs, "%d mails listed, one doveadm fetch, exit %d" % (len(recs), rc))
        return observed

    def scan_check(self, phase, tree, kargs, target, observed, mails=None):
        """`mailcrypt scan --json` must say readable_by[target] = what the real build did"""
        mails = mails if mails is not None else self.store.mails
        rc, out = self.mc(["scan", "--json"] + kargs + [tree])
        objs, summary = [], None
        for line in out.splitlines():
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if not isinstance(o, dict):
                continue
            if "summary" in o:
                summary = o
            elif "file" in o:
                objs.append(o)
        probs = []
        if summary is None:
            probs.append("no {\"summary\": ...} object (exit %d: %s)" % (rc, S.mc_summary(out)))
        if rc not in (0, 1):
            probs.append("exit %d: %s" % (rc, S.mc_summary(out)))
        for m in mails:
            cand = []
            for o in objs:
                rel = os.path.relpath(o["file"], tree) if os.path.isabs(o["file"]) else o["file"]
                if self.store.kind == "dbox":
                    if o.get("guid") == m.guid:
                        cand.append((o, rel))
                elif rel == m.rel:
                    cand.append((o, rel))
            if len(cand) != 1:
                probs.append("%s: %d scan objects" % (m.mid, len(cand)))
                continue
            o, rel = cand[0]
            if self.store.kind == "dbox":
                got = (rel, o.get("offset"), o.get("mailbox"))
                if got != (m.rel, m.offset, m.box):
                    probs.append("%s: scan says file/offset/mailbox %s, manifest %s" % (
                        m.mid, got, (m.rel, m.offset, m.box)))
            rb = o.get("readable_by")
            verdict = rb.get(target) if isinstance(rb, dict) else ("yes" if not m.encrypted else None)
            real = observed.get(m.mid)
            if verdict != real:
                probs.append("%s: scan says %s=%s, %s %s" % (m.mid, target, verdict, self.reader.label,
                                                              "served it" if real == "yes" else "did not"))
        self.check(phase + ":scan", probs, "scan --json predicted %s for %d mails (%s)" % (
            self.reader.label, len(mails), S.mc_summary(out)))


# --- the flows --------------------------------------------------------------------------------
def flow_read(store, reader):
    """(d) a single-build dbox store read by one build, as the manifest says; scan predicts it"""
    f = Flow(store, "read", reader, "p256")
    home = Home(reader, f)
    keep = True
    try:
        tree = put_store(store, home)
        home.conf(store.layout, "global")

        def exp(m):
            e = m.expect[reader.name]
            return None if e == "yes" else (ERR_NO_KEY if ERR_NO_KEY in e else e)

        obs = f.read_pass(home, "read", exp)
        f.scan_check("read", tree, key_args(store), S.BUILD_TARGET[reader.name], obs)
        keep = any(r["status"] == "FAIL" for r in f.rows)
    finally:
        home.close(keep)
    return f.rows


def flow_decrypt(store, reader):
    """(a) decrypt-store SRC DST from a dbox store; a build without mail_crypt serves DST"""
    f = Flow(store, "decrypt-store", reader, "-")
    home = Home(reader, f)
    keep = True
    try:
        src = os.path.join(f.dir, "src")
        os.makedirs(src)
        srctree = os.path.join(src, store.tree)
        shutil.copytree(os.path.join(store.src, store.tree), srctree, symlinks=True, copy_function=shutil.copy2)
        kargs = key_args(store)
        if store.crypt == "user":
            shutil.copy2(store.attributes, os.path.join(src, "dovecot-attributes"))
            kargs = with_attr(kargs, os.path.join(src, "dovecot-attributes"))
        orig = snapshot(src)
        dst = home.tree("Maildir")
        rc, out = f.mc(["decrypt-store"] + kargs + [srctree, dst])
        f.check("apply", [] if rc == 0 else ["exit %d: %s" % (rc, S.mc_summary(out))], S.mc_summary(out))
        probs = ["SRC changed: " + p for p in diff_files(orig, snapshot(src))]
        # DST: Maildir++ -- INBOX in DST/{cur,new}, mailbox X in DST/.X/{cur,new}
        got = {}
        if os.path.isdir(dst):
            for dp, _dn, fn in os.walk(dst):
                for n in fn:
                    rel = os.path.relpath(os.path.join(dp, n), dst)
                    parts = rel.split(os.sep)
                    if parts[-2:-1] in (["cur"], ["new"]) and len(parts) in (2, 3):
                        box = "INBOX" if len(parts) == 2 else parts[0][1:] if parts[0].startswith(".") else None
                        with open(os.path.join(dst, rel), "rb") as fh:
                            got.setdefault(box, []).append((rel, fh.read(), os.stat(os.path.join(dst, rel))))
                    elif parts[-1] not in ("maildirfolder",) and "dovecot" not in parts[-1]:
                        probs.append("unexpected file in DST: " + rel)
        meta = {}
        for mm in dboxfmt_mails(store, srctree):
            meta[mm.guid] = mm.meta
        for m in store.mails:
            cand = [x for x in got.get(m.box, []) if x[1] == m.plain]
            if len(cand) != 1:
                probs.append("%s: %d files in DST/%s hold its plaintext" % (
                    m.mid, len(cand), "" if m.box == "INBOX" else "." + m.box))
                continue
            rel, data, st = cand[0]
            mm = re.search(r",S=(\d+)", os.path.basename(rel))
            if not mm or int(mm.group(1)) != len(m.plain):
                probs.append("%s: %s has no S=%d" % (m.mid, rel, len(m.plain)))
            r = meta.get(m.guid, {}).get("R")
            if r and int(st.st_mtime) != int(r, 16):
                probs.append("%s: mtime %d, received time %d" % (m.mid, int(st.st_mtime), int(r, 16)))
        n = sum(len(v) for v in got.values())
        if n != len(store.mails):
            probs.append("DST holds %d mail files for %d mails" % (n, len(store.mails)))
        f.check("files", probs, "SRC untouched; DST Maildir++ with %d plaintexts (S=, mtime = received)" % n)
        if os.path.isdir(dst):
            give(home.home)
        home.conf("maildir", "none")
        f.read_pass(home, "after", lambda m: None, by_text=True)
        keep = any(r["status"] == "FAIL" for r in f.rows)
    finally:
        home.close(keep)
    return f.rows


def dboxfmt_mails(store, tree):
    _lay, files = dboxfmt.dbox_files(tree)
    out = []
    for p in files:
        out += dboxfmt.parse(p)
    return out


def want_form(target):
    """the id form target T reads for keys/p256 (uncompressed-point PEMs, as the builds load them)"""
    return "spki_uncompressed" if target == "dovecot-2.3-openssl3-unpatched" else "spki_compressed"


def flow_repair(store, target, reader):
    """(b) a mixed dbox store: before / scan / dry run / apply / files / after / scan / undo"""
    f = Flow(store, "repair:" + S.SHORT_T[target], reader, "p256")
    ids = S.key_ids(os.path.join(KEYDIR, "public.pem"))
    want = want_form(target)
    priv = os.path.join(KEYDIR, "private.pem")
    home = Home(reader, f)
    keep = True
    try:
        tree = put_store(store, home)
        home.conf(store.layout, "global")
        orig = snapshot(tree)

        def before(m):
            return None if not m.encrypted or m.id_form == want else ERR_NO_KEY

        obs = f.read_pass(home, "before", before)
        f.scan_check("before", tree, ["-k", priv], target, obs)

        pre = snapshot(tree)   # Dovecot's reads update its index files; mailcrypt must not
        rc, out = f.mc(["repair", "--target", target, "-k", priv, tree])
        probs = [] if rc == 0 else ["exit %d: %s" % (rc, S.mc_summary(out))]
        probs += ["changed by the dry run: " + p for p in diff_files(pre, snapshot(tree))]
        f.check("dry-run", probs, S.mc_summary(out))

        log = os.path.join(f.dir, "repair.log")
        rc, out = f.mc(["repair", "--target", target, "--apply", "--log", log, "-k", priv, tree])
        f.check("apply", [] if rc == 0 else ["exit %d: %s" % (rc, S.mc_summary(out))], S.mc_summary(out))

        now = snapshot(tree)
        probs = ["index file changed: " + p for p in diff_files(pre, now, lambda r: not is_mail_file(store, r))]
        probs += ["mail file added/removed: " + p for p in diff_files(pre, now, lambda r: is_mail_file(store, r))
                  if p.endswith(")")]
        allowed = {}   # rel -> set of byte positions that may change
        rewritten = 0
        for m in store.mails:
            if m.encrypted and m.id_form != want:
                allowed.setdefault(m.rel, set()).update(range(m.offset + KEYID_OFF, m.offset + KEYID_OFF + 32))
        for rel in sorted(set(pre) & set(now)):
            if not is_mail_file(store, rel):
                continue
            a, b = pre[rel], now[rel]
            if len(a) != len(b):
                probs.append("%s: size %d -> %d" % (rel, len(a), len(b)))
                continue
            bad = [i for i in range(len(a)) if a[i] != b[i] and i not in allowed.get(rel, ())]
            if bad:
                probs.append("%s: bytes %d..%d changed outside the key ids to rewrite" % (rel, bad[0], bad[-1]))
        for m in store.mails:
            if not m.encrypted:
                continue
            kid = now.get(m.rel, b"")[m.offset + KEYID_OFF:m.offset + KEYID_OFF + 32].hex()
            if kid != ids[want]:
                probs.append("%s: key id %s, %s wants %s" % (m.mid, kid[:16], target, ids[want][:16]))
            elif m.id_form != want:
                rewritten += 1
        probs += ["temp file left: %s" % t for t in S.stray_temp_files(tree)]
        # the case that matters for mdbox: one m-file holding mails of both id forms
        both = sorted({m.rel for m in store.mails if m.rel in allowed and m.encrypted and m.id_form == want})
        if store.layout == "mdbox" and not both:
            probs.append("no m-file holds mails of both id forms: the store does not test the mixed-file case")
        f.check("files", probs, "only the 32-byte key ids changed (%d mails in %d dbox files, %d of them also "
                "holding mails already in %s's form); sizes, metadata, index files kept"
                % (rewritten, len(allowed), len(both), target))

        obs = f.read_pass(home, "after", lambda m: None)
        f.scan_check("after", tree, ["-k", priv], target, obs)

        pre = snapshot(tree)
        rc, out = f.mc(["repair", "--undo", log, "-k", priv, "--apply"])
        now = snapshot(tree)
        probs = [] if rc == 0 else ["exit %d: %s" % (rc, S.mc_summary(out))]
        probs += ["not restored: " + p for p in diff_files(orig, now, lambda r: is_mail_file(store, r))]
        probs += ["index file changed by undo: " + p for p in diff_files(pre, now,
                                                                          lambda r: not is_mail_file(store, r))]
        f.check("undo", probs, "every dbox file byte-identical to the original (%s)" % S.mc_summary(out))
        keep = any(r["status"] == "FAIL" for r in f.rows)
    finally:
        home.close(keep)
    return f.rows


def flow_userkey(store, target, reader):
    """(c) a per-user store: before (T fails) / scan / apply / after / scan / undo"""
    f = Flow(store, "repair:" + S.SHORT_T[target], reader, "user-p256")
    pw = password(store)
    home = Home(reader, f)
    keep = True
    try:
        tree = put_store(store, home)
        attr = os.path.join(home.home, "dovecot-attributes")
        home.conf(store.layout, "user", pw)
        if store.kind == "maildir":
            # the Maildir vectors keep no index files: give INBOX back the mailbox GUID
            # its attribute names carry (as keys.py does)
            with open(attr) as fh:
                guid = fh.readline().split("/")[1]
            rc, _o, err = dv(reader, home.d, ["mailbox", "update"], ["--mailbox-guid", guid, "INBOX"])
            if rc != 0:
                f.check("setup", ["doveadm mailbox update --mailbox-guid: exit %d: %s" % (rc, S.short_err(err))])
                return f.rows
        kargs = ["--attributes", attr, "--password-file", store.password_file]
        orig = snapshot(tree)
        with open(attr, "rb") as fh:
            orig_attr = fh.read()
        before_err = ERR_KEY_HASH if store.writer == "upstream" else ERR_NO_KEY
        obs = f.read_pass(home, "before", lambda m: before_err)
        f.scan_check("before", tree, kargs, target, obs)

        pre = snapshot(tree)
        log = os.path.join(f.dir, "repair.log")
        rc, out = f.mc(["repair", "--target", target] + kargs + ["--apply", "--log", log, tree])
        f.check("apply", [] if rc == 0 else ["exit %d: %s" % (rc, S.mc_summary(out))], S.mc_summary(out))
        now = snapshot(tree)
        probs = ["index file changed: " + p for p in diff_files(pre, now, lambda r: not is_mail_file(store, r))]
        probs += ["mail file added/removed: " + p for p in diff_files(pre, now, lambda r: is_mail_file(store, r))
                  if p.endswith(")")]
        probs += ["temp file left: %s" % t for t in S.stray_temp_files(tree)]
        with open(attr, "rb") as fh:
            changed_attr = fh.read() != orig_attr
        changed = diff_files(pre, now, lambda r: is_mail_file(store, r))
        # what T needs (measured, issue 14): the stored private-key strings of the unpatched
        # build's stores end in the wrong id -> the attribute file must change; v1 mails with
        # folder keys are read by no build -> every one must be re-encrypted as v2
        if store.writer == "upstream" and not changed_attr:
            probs.append("attribute file not rewritten")
        v1 = [m for m in store.mails if m.id_form == "v1"]
        if v1 and len(changed) != len(v1):
            probs.append("%d of %d v1 mails rewritten" % (len(changed), len(v1)))
        f.check("files", probs, "attribute file %s; %d mail files rewritten" % (
            "rewritten" if changed_attr else "unchanged", len(changed)))

        obs = f.read_pass(home, "after", lambda m: None)
        f.scan_check("after", tree, kargs, target, obs)

        pre = snapshot(tree)
        rc, out = f.mc(["repair", "--undo", log] + kargs + ["--apply"])
        now = snapshot(tree)
        probs = [] if rc == 0 else ["exit %d: %s" % (rc, S.mc_summary(out))]
        probs += ["not restored: " + p for p in diff_files(orig, now, lambda r: is_mail_file(store, r))]
        probs += ["index file changed by undo: " + p for p in diff_files(pre, now,
                                                                          lambda r: not is_mail_file(store, r))]
        with open(attr, "rb") as fh:
            if fh.read() != orig_attr:
                probs.append("attribute file not restored")
        f.check("undo", probs, "attribute file and every mail byte-identical (%s)" % S.mc_summary(out))
        keep = any(r["status"] == "FAIL" for r in f.rows)
    finally:
        home.close(keep)
    return f.rows


class NoBuild:
    name = "none"
    label = "mailcrypt"


def flow_rekey(store):
    """(e) rekey refuses a dbox store and changes nothing"""
    f = Flow(store, "rekey", NoBuild(), "p256")
    tree = os.path.join(f.dir, store.tree)
    shutil.copytree(os.path.join(store.src, store.tree), tree, symlinks=True, copy_function=shutil.copy2)
    orig = snapshot(tree)
    newpub = os.path.join(REPO, "vectors", "stores", "keys", "p256c", "public.pem")
    rc, out = f.mc(["rekey", "--to", newpub, "-k", os.path.join(KEYDIR, "private.pem"), tree])
    probs = [] if rc == 2 else ["exit %d, expected 2" % rc]
    if not re.search(r"decrypt-store|doveadm", out):
        probs.append("message names neither decrypt-store nor doveadm: %s" % S.mc_summary(out))
    probs += ["changed: " + p for p in diff_files(orig, snapshot(tree))]
    f.check("refuse", probs, "exit 2, nothing changed: " + S.mc_summary(out))
    return f.rows


# --- output ------------------------------------------------------------------------------------
PHASES = ["setup", "read", "read:store", "read:scan", "before", "before:store", "before:scan", "dry-run", "apply",
          "files", "after", "after:store", "after:scan", "undo", "refuse"]


def render(rows, order):
    lines = ["dbox and per-user stores (issue 14): mailcrypt rewrites the store, the real build reads it",
             "  one character per mail for read/before/after, one per check otherwise (. ok  x expected-fail"
             "  F FAIL); :s = store-level check of that read, :scan = scan --json predicted the build"]
    groups = {}
    for r in rows:
        groups.setdefault((r["writer"], r["reader"]), []).append(r)
    w1 = max([len("store:operation")] + [len(k[0]) for k in groups])
    w2 = max([len("reader")] + [len(M.short(k[1])) for k in groups])
    lines.append("  %-*s  %-*s  phases" % (w1, "store:operation", w2, "reader"))
    for k in order:
        if k not in groups:
            continue
        sel = groups.pop(k)
        parts = []
        for ph in PHASES:
            cs = [r for r in sel if r["mode"] == ph]
            if cs:
                parts.append("%s %s" % (ph.replace(":store", ":s"), "".join(M.MARK[r["status"]] for r in cs)))
        lines.append("  %-*s  %-*s  %s" % (w1, k[0], w2, M.short(k[1]), "  ".join(parts)))
    for k, sel in groups.items():   # harness errors
        lines.append("  %-*s  %-*s  %s" % (w1, k[0], w2, M.short(k[1]), "".join(M.MARK[r["status"]] for r in sel)))
    return "\n".join(lines) + "\n"


def guarded(fn, *args):
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001 - reported as a cell
        import traceback
        name = "/".join(getattr(a, "name", str(a)) for a in args)
        return [dict(M.mkcell("dbox", "harness:" + fn.__name__, "-", "-", "-", name),
                     cell="dbox:%s(%s)" % (fn.__name__, name), expected="no error", status="FAIL",
                     detail="harness error: %r %s" % (e, traceback.format_exc().splitlines()[-3:]))]


def main():
    t0 = time.time()
    builds = {n: M.Build(n) for n in M.BUILDS}
    shutil.rmtree(DWORK, ignore_errors=True)
    os.makedirs(DWORK)
    dstores = load_dbox_stores()
    ustores = [load_userkey_maildir(e) for e in ("upstream", "old-v1")]
    ustores += [s for s in dstores.values() if s.crypt == "user"]
    jobs = []

    def add(fn, args, key):
        jobs.append((fn, args, key))

    single = [s for s in dstores.values() if s.crypt == "global" and s.writer]
    mixed = [s for s in dstores.values() if s.crypt == "global" and not s.writer]
    if "read" in CELLS:
        for s in single:
            for rn in builds:
                add(flow_read, (s, builds[rn]), (s.name + ":read", builds[rn].label))
    # every target T with each of T's builds
    pairs = [(t, builds[rn]) for t in TARGETS for rn in S.TARGET_READERS[t] if rn in builds]
    for group, fn, stores in (("repair", flow_repair, mixed), ("userkey", flow_userkey, ustores)):
        if group in CELLS:
            for s in stores:
                for t, b in pairs:
                    add(fn, (s, t, b), ("%s:repair:%s" % (s.name, S.SHORT_T[t]), b.label))
    if "decrypt" in CELLS:
        # one reader without mail_crypt per store: `new`, plus v24 for the mixed stores
        for s in dstores.values():
            for rn in ["new"] + (["v24"] if s in mixed else []):
                if rn in builds:
                    add(flow_decrypt, (s, builds[rn]), (s.name + ":decrypt-store", builds[rn].label))
    if "rekey" in CELLS:
        for s in mixed:
            add(flow_rekey, (s,), (s.name + ":rekey", "mailcrypt"))

    return S.run_and_report(jobs, guarded, render, "dbox", "DBOX", t0)


if __name__ == "__main__":
    sys.exit(main())
