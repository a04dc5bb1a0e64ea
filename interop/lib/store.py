#!/usr/bin/env python3
"""interop/lib/store.py - the store cells of interop/run.sh (issue 6).

Whole Maildir stores written by real Dovecot builds (vectors/stores/) are
rewritten by the mailcrypt rescue commands and then read, mail by mail, by the
real Dovecot builds with `doveadm fetch`:

  repair         mixed/Maildir (ids of the unpatched and of a patched build under
                 one P-256 key; no build reads it whole): before, the target's
                 builds fail on some mails (expected-fail); after `repair --target
                 T --apply` they serve every mail; `repair --undo` restores the
                 original bytes, and the build fails again exactly as before.
  rekey          mixed/Maildir and compressed/<env>/Maildir -> a fresh P-384 key;
                 the build for the target, configured with only the new key,
                 serves every mail (with its compression plugin for compressed/).
  decrypt-store  SRC DST and --in-place (mixed), SRC DST with and without --raw
                 (compressed): a build WITHOUT mail_crypt serves every mail
                 (--raw: with the compression plugin; without --raw: with no
                 plugin at all).

Every mail must come out byte-identical to its plaintext in vectors/stores/,
Dovecot's size.physical/size.virtual must equal the S=/W= of the (unchanged)
file name, and Dovecot must not log any Error/Warning for it. The stores keep
Dovecot's index files where the vectors have them, so the builds read them the
way a live server would after a rescue run.

Called by interop/run.sh after matrix.py, with the same environment (MAILCRYPT,
INTEROP_WORK, INTEROP_OUT, INTEROP_BUILDS, INTEROP_*_ROOT/PREFIX, INTEROP_JOBS).
Writes $INTEROP_OUT/stores.tsv (the columns of matrix.tsv) and stores.txt.
Python 3 standard library only; exit status 1 when a cell is FAIL.
"""

import concurrent.futures as cf
import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__/ in the source tree
import matrix as M  # noqa: E402  the Build class (doveadm plumbing) and helpers

MAILCRYPT = M.MAILCRYPT
WORK = M.WORK
OUT = M.OUT
VEC = os.environ.get("INTEROP_STORE_VECTORS") or os.path.join(os.path.dirname(os.path.dirname(HERE)),
                                                                 "vectors", "stores")
SWORK = os.path.join(WORK, "stores")
MAIL_UID = 65534

ERR_NO_KEY = "Private key not available"       # mail_crypt finds no key with the file's id
ERR_CIPHERTEXT = "Cached message size smaller than expected"   # ciphertext served without mail_crypt
COMPLAINT = re.compile(r"\b(Error|Warning|Panic|Fatal)\b")
PAGER = re.compile(rb"size\.physical: (\d+)\nsize\.virtual: (\d+)\ntext:\n")
NAME_SW = re.compile(r",S=(\d+),W=(\d+)")

# target -> the builds that must read the store after `repair/rekey --target`
TARGET_READERS = {"dovecot-2.3": ["new", "old"], "dovecot-2.3-openssl3-unpatched": ["upstream"],
                  "dovecot-2.4": ["v24"]}
BUILD_TARGET = {"new": "dovecot-2.3", "old": "dovecot-2.3", "upstream": "dovecot-2.3-openssl3-unpatched",
                "v24": "dovecot-2.4"}
SHORT_T = {"dovecot-2.3": "2.3", "dovecot-2.3-openssl3-unpatched": "2.3-unpatched", "dovecot-2.4": "2.4"}


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def read_tsv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def complaints(err):
    return [l.strip() for l in err.splitlines() if COMPLAINT.search(l)]


def short_err(text, n=300):
    return M.last_error(text)[:n]


# --- the sample stores ------------------------------------------------------------
class Mail:
    def __init__(self, rel, box, mid, plain, plain_sha, file_sha, encrypted, id_form, compression="none",
                 payload_size=None, payload_head=""):
        self.rel = rel
        self.box = box
        self.mid = mid
        with open(plain, "rb") as f:
            self.plain = f.read()
        if sha256(self.plain) != plain_sha:
            raise SystemExit("store vectors: %s does not match its manifest SHA-256" % plain)
        self.file_sha = file_sha
        self.encrypted = encrypted
        self.id_form = id_form
        self.compression = compression
        self.payload_size = payload_size
        self.payload_head = payload_head
        mm = NAME_SW.search(os.path.basename(rel))
        self.s, self.w = (int(mm.group(1)), int(mm.group(2))) if mm else (None, None)
        base = os.path.basename(rel).split(":")[0]
        self.guids = {base, base.split(",")[0]}


class Store:
    def __init__(self, name, maildir, mails, excluded=()):
        self.name = name
        self.maildir = maildir
        self.mails = mails
        self.excluded = set(excluded)


def load_mixed():
    base = os.path.join(VEC, "mixed")
    mails = [Mail(r["maildir_file"], r["mailbox"], "%s-%s" % (r["mailbox"], r["uid"]),
                  os.path.join(base, r["plaintext"]), r["plaintext_sha256"], r["file_sha256"],
                  r["encrypted"] == "yes", r["key_id_form"], r["compression"])
             for r in read_tsv(os.path.join(base, "manifest.tsv"))]
    return Store("mixed", os.path.join(base, "Maildir"), mails)


def load_compressed(env):
    """compressed/<env>/ without the raw-deflate mails (no Dovecot build reads
    them: raw deflate has no magic bytes, see vectors/stores/README.md)."""
    base = os.path.join(VEC, "compressed", env)
    mails, excluded = [], []
    for r in read_tsv(os.path.join(base, "manifest.tsv")):
        if r["compression"] == "deflate":
            excluded.append(r["maildir_file"])
            continue
        tag = r["compression"] if r["compression"] == r["requested_method"] else \
            "%s(%s)" % (r["compression"], r["requested_method"])
        mails.append(Mail(r["maildir_file"], "INBOX", "INBOX-%s-%s" % (r["uid"], tag),
                          os.path.join(VEC, r["plaintext"]), r["plaintext_sha256"], r["file_sha256"], True,
                          r["key_id_form"], r["compression"], int(r["payload_size"]), r["payload_head_hex"]))
    return Store("compressed-" + env, os.path.join(base, "Maildir"), mails, excluded)


def key_ids(pub):
    """{'spki_compressed': id, 'spki_uncompressed': id} of an EC public key PEM"""
    out = {}
    for form, extra in (("spki_uncompressed", []), ("spki_compressed", ["-ec_conv_form", "compressed"])):
        der = subprocess.run(["openssl", "pkey", "-pubin", "-in", pub, "-outform", "DER"] + extra,
                             capture_output=True, check=True).stdout
        out[form] = sha256(der)
    return out


# --- Maildir helpers ----------------------------------------------------------------
def folders(md):
    return [""] + sorted(n for n in os.listdir(md) if n.startswith(".") and n not in (".", "..")
                         and os.path.isdir(os.path.join(md, n)))


def mail_files(md):
    """relative paths of the mail files (cur/ and new/ of INBOX and every .Folder)"""
    out = []
    for f in folders(md):
        for sub in ("cur", "new"):
            p = os.path.join(md, f, sub)
            if os.path.isdir(p):
                out += [os.path.join(f, sub, n) for n in sorted(os.listdir(p)) if not n.startswith(".")]
    return sorted(out)


def stray_temp_files(md):
    out = []
    for dp, _dn, fn in os.walk(md):
        out += [os.path.relpath(os.path.join(dp, n), md) for n in fn if "mailcrypt" in n]
    return out


def snapshot(md):
    snap = {}
    for rel in mail_files(md):
        p = os.path.join(md, rel)
        st = os.lstat(p)
        with open(p, "rb") as f:
            data = f.read()
        snap[rel] = dict(size=st.st_size, mtime=st.st_mtime_ns, uid=st.st_uid, gid=st.st_gid,
                         mode=st.st_mode & 0o7777, sha=sha256(data), data=data)
    return snap


def meta_changes(before, after, fields=("mtime", "uid", "gid", "mode")):
    """names added/removed and metadata changes between two snapshots"""
    probs = []
    if set(before) != set(after):
        gone = sorted(set(before) - set(after))
        new = sorted(set(after) - set(before))
        probs.append("file names changed: gone %s, new %s" % (gone[:3], new[:3]))
    for rel in sorted(set(before) & set(after)):
        for k in fields:
            if before[rel][k] != after[rel][k]:
                probs.append("%s: %s %s -> %s" % (rel, k, before[rel][k], after[rel][k]))
    return probs


def copy_maildir(src, dst, exclude=()):
    exclude = set(exclude)

    def ignore(d, names):
        rel = os.path.relpath(d, src)
        return [n for n in names if os.path.normpath(os.path.join(rel, n)) in exclude]

    shutil.copytree(src, dst, copy_function=shutil.copy2, ignore=ignore)
    # git keeps no empty directories: recreate cur/ new/ tmp/ as Dovecot left them
    for f in folders(dst):
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(dst, f, sub), exist_ok=True)


def give_to_mail_user(path):
    """chown -R 65534:65534, directories 0700 (what an admin does after copying)"""
    for dp, dn, fn in os.walk(path):
        os.chown(dp, MAIL_UID, MAIL_UID)
        os.chmod(dp, 0o700)
        for n in fn:
            os.chown(os.path.join(dp, n), MAIL_UID, MAIL_UID)


# --- mailcrypt ------------------------------------------------------------------------
def mc(args, logfile):
    """run mailcrypt; stdout+stderr go to logfile; returns (rc, output)"""
    try:
        p = subprocess.run([MAILCRYPT] + args, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=M.TIMEOUT)
        rc, out = p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        rc, out = 124, "timeout after %d s" % M.TIMEOUT
    with open(logfile, "a") as f:
        f.write("$ mailcrypt %s\n%s(exit %d)\n\n" % (" ".join(args), out, rc))
    return rc, out


def mc_summary(out):
    """the command's own summary line (e.g. `repair applied: 8 mail files, ...`)"""
    lines = [l.strip() for l in out.splitlines() if l.strip()]
    summ = [l for l in lines if re.match(r"(repair|rekey|undo|decrypt-store)\b[^:/]*:", l)]
    pick = summ[-1] if summ else (lines[-1] if lines else "")
    return pick[:300]


def mc_decrypt(args, path):
    p = subprocess.run([MAILCRYPT, "decrypt"] + args + [path], capture_output=True, timeout=M.TIMEOUT)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


# --- one Dovecot home with a store --------------------------------------------------
class Home:
    def __init__(self, build, flow):
        self.b = build
        self.flow = flow
        self.d = build.mktemp(mail=True)
        self.md = self.d + "/home/Maildir"

    def conf(self, keydir=None, compress=False):
        """minimal config: mail_crypt with the global key pair in keydir (None:
        mail_crypt off), the compression plugin on/off (reading only)."""
        b, d = self.b, self.d
        i = b.inner(d)
        if keydir:
            for n in ("public.pem", "private.pem"):
                shutil.copy(os.path.join(keydir, n), os.path.join(d, n))
                os.chmod(os.path.join(d, n), 0o644)
        conf = b.base_conf(d) + "mail_uid = %d\nmail_gid = %d\n" % (MAIL_UID, MAIL_UID)
        if b.is24:
            conf += "mail_driver = maildir\nmail_path = %s/home/Maildir\n" % i
            pl = (["mail_compress"] if compress else []) + (["mail_crypt"] if keydir else [])
            if pl:
                conf += "mail_plugins {\n%s}\n" % "".join("  %s = yes\n" % p for p in pl)
            if keydir:
                conf += ("crypt_global_public_key_file = %s/public.pem\n"
                         "crypt_global_private_key main {\n  crypt_private_key_file = %s/private.pem\n}\n"
                         % (i, i))
        else:
            conf += "mail_location = maildir:%s/home/Maildir\n" % i
            pl = (["zlib"] if compress else []) + (["mail_crypt"] if keydir else [])
            conf += "mail_plugins = %s\n" % " ".join(pl)
            if keydir:
                conf += ("plugin {\n  mail_crypt_global_public_key = <%s/public.pem\n"
                         "  mail_crypt_global_private_key = <%s/private.pem\n"
                         "  mail_crypt_save_version = 2\n}\n" % (i, i))
        with open(d + "/dovecot.conf", "w") as f:
            f.write(conf)
        with open(os.path.join(self.flow.dir, "dovecot-%s.conf" % self.flow.step_no()), "w") as f:
            f.write(conf)

    def dv(self, words, rest, pre=(), out=None):
        args = list(pre) + list(words) + (["--no-userdb-lookup"] if self.b.is24 else []) + list(rest)
        tmp = self.d + "/dv.out"
        with open(tmp, "wb") as o:
            rc, err = self.b.doveadm(self.d, args, user=True, stdout=o)
        with open(tmp, "rb") as f:
            data = f.read()
        os.unlink(tmp)
        return rc, data, err

    def read_all(self):
        """list every mailbox and every mail; fetch size.physical, size.virtual
        and text of each mail separately. Returns ({(box, guid): result}, problems)."""
        res, probs = {}, []
        rc, data, err = self.dv(["mailbox", "list"], [])
        for c in complaints(err):
            probs.append("mailbox list: " + c[:300])
        if rc != 0:
            probs.append("mailbox list: exit %d" % rc)
            return res, probs
        for box in [l for l in data.decode("utf-8", "replace").splitlines() if l]:
            rc, data, err = self.dv(["fetch"], ["uid guid", "mailbox", box, "all"], pre=["-f", "tab"])
            for c in complaints(err):
                probs.append("fetch uid guid %s: %s" % (box, c[:300]))
            if rc != 0:
                probs.append("fetch uid guid %s: exit %d" % (box, rc))
                continue
            for line in data.decode("utf-8", "replace").splitlines()[1:]:
                if not line.strip():
                    continue
                uid, guid = line.split("\t")[:2]
                rc, out, err = self.dv(["fetch"], ["size.physical size.virtual text", "mailbox", box, "uid", uid],
                                       pre=["-f", "pager"])
                m = PAGER.match(out)
                res[(box, guid)] = dict(uid=uid, rc=rc, err=err,
                                        phys=int(m.group(1)) if m else None,
                                        virt=int(m.group(2)) if m else None,
                                        text=out[m.end():] if m else out)
        return res, probs

    def close(self, keep):
        if keep:
            dst = os.path.join(self.flow.dir, "home-%s" % self.b.name)
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(self.d + "/home", dst, symlinks=True)
        shutil.rmtree(self.d, ignore_errors=True)


# --- a flow: one store, one operation, one reader -----------------------------------
class Flow:
    KIND = "store"            # direction column and cell prefix (dbox.py: "dbox")
    WORKDIR = SWORK

    def __init__(self, store, op, reader, key):
        self.store = store
        self.op = op              # e.g. "repair:2.3"
        self.reader = reader      # Build
        self.key = key            # the reader's mail_crypt key ("-" = mail_crypt off)
        self.writer = "%s:%s" % (store.name, op)
        self.rows = []
        self.dir = os.path.join(self.WORKDIR, re.sub(r"[^A-Za-z0-9._-]+", "_",
                                                     "%s-%s-%s-%s" % (store.name, op, reader.name, key)))
        os.makedirs(self.dir, exist_ok=True)
        self.log = os.path.join(self.dir, "mailcrypt.log")
        self.steps = 0

    def step_no(self):
        self.steps += 1
        return self.steps

    def cell(self, phase, item, expected, status, detail=""):
        c = M.mkcell(self.KIND, self.writer, self.reader.label, self.key, phase, item)
        c["cell"] = self.KIND + ":" + c["cell"]
        self.rows.append(dict(c, expected=expected, status=status, detail=detail))

    def check(self, phase, probs, ok_detail=""):
        """a store-level cell: ok when probs is empty"""
        if probs:
            self.cell(phase, "-", "ok", "FAIL", "; ".join(probs)[:1500])
        else:
            self.cell(phase, "-", "ok", "ok", ok_detail)

    def read_pass(self, home, phase, expect, names):
        """Dovecot reads every mail of the store. expect(mail) -> None (must be
        served exactly, quietly) or the error text the build must fail with.
        names: the mail file names the store must still have afterwards."""
        res, probs = home.read_all()
        seen = set()
        observed = {}
        for m in self.store.mails:
            r = None
            for (box, guid), v in res.items():
                if box == m.box and guid in m.guids:
                    r = v
                    seen.add((box, guid))
            observed[m.rel] = bool(r and r["rc"] == 0 and r["text"] == m.plain)
            exp = expect(m)
            if r is None:
                self.cell(phase, m.mid, "ok" if exp is None else "fail: " + exp, "FAIL",
                          "Dovecot does not list this mail")
                continue
            exact = r["rc"] == 0 and r["text"] == m.plain
            cpl = complaints(r["err"])
            if exp is None:
                if exact and not cpl and r["phys"] == m.s and r["virt"] == m.w:
                    self.cell(phase, m.mid, "ok", "ok")
                elif exact and cpl:
                    self.cell(phase, m.mid, "ok", "FAIL", "served the right bytes but logged: " + cpl[0][:300])
                elif exact:
                    self.cell(phase, m.mid, "ok", "FAIL", "size.physical/virtual %s/%s but the name says S=%s W=%s"
                              % (r["phys"], r["virt"], m.s, m.w))
                elif r["rc"] == 0:
                    self.cell(phase, m.mid, "ok", "FAIL", "exit 0 but served %d bytes that differ from the "
                              "plaintext (%d B)" % (len(r["text"]), len(m.plain)))
                else:
                    self.cell(phase, m.mid, "ok", "FAIL", "exit %d: %s" % (r["rc"], short_err(r["err"])))
            else:
                if exact:
                    self.cell(phase, m.mid, "fail: " + exp, "FAIL", "served the plaintext although it must fail")
                elif r["rc"] != 0 and exp in r["err"]:
                    self.cell(phase, m.mid, "fail: " + exp, "expected-fail", short_err(r["err"]))
                else:
                    self.cell(phase, m.mid, "fail: " + exp, "FAIL", "failed differently: exit %d: %s"
                              % (r["rc"], short_err(r["err"])))
        extra = sorted(set(res) - seen)
        if extra:
            probs.append("Dovecot lists %d mails the manifest does not have: %s" % (len(extra), "; ".join(
                "%s uid %s guid %s: %s" % (box, res[(box, g)]["uid"], g,
                                           "exit %d: %s" % (res[(box, g)]["rc"], short_err(res[(box, g)]["err"], 200))
                                           if res[(box, g)]["rc"] else "served %d B" % len(res[(box, g)]["text"]))
                for box, g in extra[:2])))
        now = mail_files(home.md)
        if now != sorted(names):
            probs.append("the mail file names are not the original ones: %s" %
                         sorted(set(now) ^ set(names))[:4])
        self.check(phase + ":store", probs, "%d mails listed, no complaint, names unchanged" % len(res))
        return observed

    def scan_check(self, phase, md, keyfile, target, observed):
        """`mailcrypt scan --json` must predict what the real build did"""
        rc, out = mc(["scan", "--json", "-k", keyfile, md], self.log)
        if rc != 0:
            self.check(phase + ":scan", ["mailcrypt scan failed: exit %d: %s" % (rc, mc_summary(out))])
            return
        pred = {}
        for line in out.splitlines():
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if "file" in o:
                rel = os.path.relpath(o["file"], md)
                pred[rel] = o.get("readable_by", {}).get(target, "yes") if o.get("class") == "encrypted" \
                    else "yes"
        probs = []
        for m in self.store.mails:
            p = pred.get(m.rel)
            real = "yes" if observed.get(m.rel) else "no"
            if p != real:
                probs.append("%s: scan says %s=%s, %s %s" % (m.mid, target, p, self.reader.label,
                                                              "served it" if real == "yes" else "failed"))
        self.check(phase + ":scan", probs, "scan --json predicted the real build for %d mails" % len(pred))


def header_key_id(path):
    try:
        return M.header_key_id(path)[1]
    except Exception as e:  # noqa: BLE001
        return "(%s)" % e


# --- the flows ------------------------------------------------------------------------
def flow_repair(store, target, reader, keyname):
    """repair --target T: before (expected-fail on the other id form), dry run,
    --apply, files, after (every mail), --undo, after-undo (as before)."""
    f = Flow(store, "repair:" + SHORT_T[target], reader, keyname)
    keydir = os.path.join(VEC, "keys", keyname)
    priv = os.path.join(keydir, "private.pem")
    ids = key_ids(os.path.join(keydir, "public.pem"))
    pem_form = "spki_compressed" if keyname.endswith("c") else "spki_uncompressed"
    want = pem_form if target == "dovecot-2.3-openssl3-unpatched" else "spki_compressed"
    home = Home(reader, f)
    keep = True
    try:
        copy_maildir(store.maildir, home.md, store.excluded)
        give_to_mail_user(home.d + "/home")
        home.conf(keydir)
        names = mail_files(home.md)
        orig = snapshot(home.md)

        def before(m):
            return None if not m.encrypted or m.id_form == want else ERR_NO_KEY

        obs = f.read_pass(home, "before", before, names)
        f.scan_check("before", home.md, priv, target, obs)

        rc, out = mc(["repair", "--target", target, "-k", priv, home.md], f.log)
        probs = [] if rc == 0 else ["exit %d: %s" % (rc, mc_summary(out))]
        now = snapshot(home.md)
        probs += meta_changes(orig, now, ("mtime", "uid", "gid", "mode", "sha"))
        f.check("dry-run", probs, mc_summary(out))

        log = os.path.join(f.dir, "repair.log")
        rc, out = mc(["repair", "--target", target, "--apply", "--log", log, "-k", priv, home.md], f.log)
        f.check("apply", [] if rc == 0 else ["exit %d: %s" % (rc, mc_summary(out))], mc_summary(out))

        # files: same names, size, mtime, owner, mode; only the 32-byte key id of
        # the mails with the other id form changed, to the id the target wants
        now = snapshot(home.md)
        probs = meta_changes(orig, now, ("size", "mtime", "uid", "gid", "mode"))
        changed = 0
        for m in store.mails:
            a, b = orig.get(m.rel), now.get(m.rel)
            if not a or not b:
                continue
            if not m.encrypted or m.id_form == want:
                if a["sha"] != b["sha"]:
                    probs.append("%s: changed although %s already reads it" % (m.mid, target))
                continue
            diff = [i for i, (x, y) in enumerate(zip(a["data"], b["data"])) if x != y]
            if not diff:
                probs.append("%s: not rewritten" % m.mid)
                continue
            changed += 1
            if diff[-1] - diff[0] >= 32:
                probs.append("%s: bytes %d..%d changed (more than the 32-byte key id)" % (m.mid, diff[0], diff[-1]))
            got = header_key_id(os.path.join(home.md, m.rel))
            if got != ids[want]:
                probs.append("%s: key id now %s, %s wants %s" % (m.mid, got, target, ids[want]))
        probs += ["temp file left: %s" % t for t in stray_temp_files(home.md)]
        f.check("files", probs, "%d files: only the key id rewritten (%d), names, sizes, mtimes, owner, "
                "mode unchanged" % (len(now), changed))

        obs = f.read_pass(home, "after", lambda m: None, names)
        f.scan_check("after", home.md, priv, target, obs)

        rc, out = mc(["repair", "--undo", log, "-k", priv, "--apply"], f.log)
        now = snapshot(home.md)
        probs = [] if rc == 0 else ["exit %d: %s" % (rc, mc_summary(out))]
        probs += meta_changes(orig, now, ("size", "mtime", "uid", "gid", "mode"))
        for m in store.mails:
            if m.rel in now and now[m.rel]["sha"] != m.file_sha:
                probs.append("%s: not byte-identical to the original" % m.mid)
        probs += ["temp file left: %s" % t for t in stray_temp_files(home.md)]
        f.check("undo", probs, "%d files byte-identical to the originals (%s)" % (len(now), mc_summary(out)))

        f.read_pass(home, "after-undo", before, names)
        keep = any(r["status"] == "FAIL" for r in f.rows)
    finally:
        home.close(keep)
    return f.rows


def flow_rekey(store, target, reader, newkey, compress):
    """rekey --to NEW --target T -k OLD: before (the build, configured with only
    the new key, fails on every encrypted mail), --apply, files, after, again."""
    f = Flow(store, "rekey:" + SHORT_T[target], reader, "p384new")
    old = os.path.join(VEC, "keys", "p256", "private.pem")
    ids = key_ids(os.path.join(newkey, "public.pem"))
    # the PEM of the new key has the uncompressed point (openssl default)
    want = "spki_uncompressed" if target == "dovecot-2.3-openssl3-unpatched" else "spki_compressed"
    home = Home(reader, f)
    keep = True
    try:
        copy_maildir(store.maildir, home.md, store.excluded)
        give_to_mail_user(home.d + "/home")
        home.conf(newkey, compress)
        names = mail_files(home.md)
        orig = snapshot(home.md)
        f.read_pass(home, "before", lambda m: ERR_NO_KEY if m.encrypted else None, names)

        log = os.path.join(f.dir, "rekey.log")
        rc, out = mc(["rekey", "--to", os.path.join(newkey, "public.pem"), "--target", target,
                      "--log", log, "-k", old, home.md], f.log)
        f.check("apply", [] if rc == 0 else ["exit %d: %s" % (rc, mc_summary(out))], mc_summary(out))

        now = snapshot(home.md)
        probs = meta_changes(orig, now)
        sizes = []
        for m in store.mails:
            a, b = orig.get(m.rel), now.get(m.rel)
            if not a or not b:
                continue
            if not m.encrypted:
                if a["sha"] != b["sha"]:
                    probs.append("%s: plain mail changed" % m.mid)
                continue
            p = os.path.join(home.md, m.rel)
            got = header_key_id(p)
            if got != ids[want]:
                probs.append("%s: key id now %s, %s wants %s" % (m.mid, got, target, ids[want]))
            sizes.append("%d->%d" % (a["size"], b["size"]))
            if compress:
                # rekey keeps the compressed bytes: the new payload is the old one
                rc1, new_payload, e1 = mc_decrypt(["--raw", "-k", os.path.join(newkey, "private.pem")], p)
                rc2, old_payload, e2 = mc_decrypt(["--raw", "-k", old], os.path.join(store.maildir, m.rel))
                if rc1 != 0 or rc2 != 0:
                    probs.append("%s: mailcrypt decrypt --raw failed: %s" % (m.mid, short_err(e1 + e2)))
                elif new_payload != old_payload or len(new_payload) != m.payload_size \
                        or not new_payload.hex().startswith(m.payload_head):
                    probs.append("%s: payload changed (%d B, was %d B %s)" % (m.mid, len(new_payload),
                                                                               m.payload_size, m.compression))
            if m.s != len(m.plain) or m.w != len(m.plain) + m.plain.count(b"\n"):
                probs.append("%s: name says S=%s W=%s, plaintext %d B with %d LF" %
                             (m.mid, m.s, m.w, len(m.plain), m.plain.count(b"\n")))
        probs += ["temp file left: %s" % t for t in stray_temp_files(home.md)]
        f.check("files", probs, "names (S=/W= = plaintext sizes), mtimes, owner, mode unchanged; key id %s; "
                "file sizes %s%s" % (ids[want][:16] + "…", " ".join(sizes[:4]) + (" …" if len(sizes) > 4 else ""),
                                     "; compressed payload kept byte for byte" if compress else ""))

        f.read_pass(home, "after", lambda m: None, names)

        # resumable: a second run finds nothing to do and changes nothing
        before2 = snapshot(home.md)
        rc, out = mc(["rekey", "--to", os.path.join(newkey, "public.pem"), "--target", target,
                      "-k", old, home.md], f.log)
        probs = [] if rc == 0 else ["exit %d: %s" % (rc, mc_summary(out))]
        probs += meta_changes(before2, snapshot(home.md), ("size", "mtime", "uid", "gid", "mode", "sha"))
        f.check("again", probs, "second run changed nothing: " + mc_summary(out))
        keep = any(r["status"] == "FAIL" for r in f.rows)
    finally:
        home.close(keep)
    return f.rows


def flow_decrypt_store(store, variant, reader, raw, compress_plugin):
    """decrypt-store SRC DST (variant "copy") or --in-place; the reader runs
    without mail_crypt (and with the compression plugin iff compress_plugin)."""
    op = "decrypt-store" + (" --in-place" if variant == "in-place" else "") + (" --raw" if raw else "")
    f = Flow(store, op, reader, "-")
    priv = os.path.join(VEC, "keys", "p256", "private.pem")
    home = Home(reader, f)
    keep = True
    try:
        home.conf(None, compress_plugin)
        extra = ["--raw"] if raw else []
        if variant == "in-place":
            copy_maildir(store.maildir, home.md, store.excluded)
            give_to_mail_user(home.d + "/home")
            names = mail_files(home.md)
            orig = snapshot(home.md)
            # negative control: without mail_crypt the build serves the ciphertext and fails
            f.read_pass(home, "before", lambda m: ERR_CIPHERTEXT if m.encrypted else None, names)
            rc, out = mc(["decrypt-store", "-k", priv] + extra + ["--in-place", home.md], f.log)
            f.check("apply", [] if rc == 0 else ["exit %d: %s" % (rc, mc_summary(out))], mc_summary(out))
            now = snapshot(home.md)
            probs = meta_changes(orig, now)
        else:
            src = os.path.join(f.dir, "src")
            shutil.rmtree(src, ignore_errors=True)
            copy_maildir(store.maildir, src, store.excluded)
            orig = snapshot(src)
            names = mail_files(src)
            rc, out = mc(["decrypt-store", "-k", priv] + extra + [src, home.md], f.log)
            f.check("apply", [] if rc == 0 else ["exit %d: %s" % (rc, mc_summary(out))], mc_summary(out))
            probs = ["SRC " + p for p in meta_changes(orig, snapshot(src), ("size", "mtime", "sha"))]
            now = snapshot(home.md) if os.path.isdir(home.md) else {}
            probs += meta_changes(orig, now, ("mtime",))
            owners = sorted({"%d:%d" % (v["uid"], v["gid"]) for v in now.values()})
            # what an admin does next: hand the copy to the mail user
            # (Dovecot creates the cur/ and tmp/ directories that are missing)
            if os.path.isdir(home.md):
                give_to_mail_user(home.md)
        for m in store.mails:
            b = now.get(m.rel)
            if not b:
                continue
            want = m.plain
            if raw and m.compression != "none":
                if b["size"] != m.payload_size or not b["data"].hex().startswith(m.payload_head):
                    probs.append("%s: %d B, expected the %s payload (%d B)" % (m.mid, b["size"], m.compression,
                                                                            m.payload_size))
                continue
            if b["data"] != want:
                probs.append("%s: file is not the plaintext (%d B, plaintext %d B)" % (m.mid, b["size"], len(want)))
            elif b["size"] != m.s:
                probs.append("%s: plaintext file %d B but the name says S=%s" % (m.mid, b["size"], m.s))
        for tree in [home.md] + ([] if variant == "in-place" else [src]):
            if os.path.isdir(tree):
                probs += ["temp file left: %s" % t for t in stray_temp_files(tree)]
        what = "raw payloads (compressed bytes)" if raw else "plaintexts, file size = S="
        f.check("files", probs, "%d files: names unchanged, mtimes kept, %s%s" % (
            len(now), what, "" if variant == "in-place" else "; DST written as %s (chown -R before Dovecot uses it)"
            % ",".join(owners)))

        f.read_pass(home, "after", lambda m: None, names)
        keep = any(r["status"] == "FAIL" for r in f.rows)
    finally:
        home.close(keep)
    return f.rows


# --- output ---------------------------------------------------------------------------
MARK = M.MARK
PHASE_ORDER = ["before", "before:store", "before:scan", "dry-run", "apply", "files", "after", "after:store",
               "after:scan", "undo", "after-undo", "after-undo:store", "again"]


def render(rows, flows_order):
    lines = ["Stores (issue 6): mailcrypt rewrites a whole Maildir, the real build reads every mail",
             "  one character per mail in manifest order for the read phases (before/after/after-undo),",
             "  one per check otherwise; :s = that read's store-level check (listing, no complaint, names),",
             "  :scan = `mailcrypt scan --json` predicted the build's result. key = the reader's mail_crypt key",
             "  (p384new = the fresh P-384 key rekey moved to; - = mail_crypt off)."]
    groups = {}
    for r in rows:
        groups.setdefault((r["writer"], r["reader"], r["key"]), []).append(r)
    w1 = max([len("store:operation")] + [len(k[0]) for k in groups])
    w2 = max([len("reader")] + [len(M.short(k[1])) for k in groups])
    w3 = max([len("key")] + [len(k[2]) for k in groups])
    lines.append("  %-*s  %-*s  %-*s  phases" % (w1, "store:operation", w2, "reader", w3, "key"))
    for k in flows_order:
        if k not in groups:
            continue
        sel = groups[k]
        parts = []
        for ph in PHASE_ORDER:
            cs = [r for r in sel if r["mode"] == ph]
            if not cs:
                continue
            label = ph.replace(":store", ":s")
            parts.append("%s %s" % (label, "".join(MARK[r["status"]] for r in cs)))
        lines.append("  %-*s  %-*s  %-*s  %s" % (w1, k[0], w2, M.short(k[1]), w3, k[2], "  ".join(parts)))
    return "\n".join(lines) + "\n"


def guarded(fn, *args):
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001 - reported as a cell
        import traceback
        name = "/".join(getattr(a, "name", str(a)) for a in args if not isinstance(a, bool))
        return [dict(M.mkcell("store", "harness", "-", "-", "-", "-"), cell="store:%s(%s)" % (fn.__name__, name),
                     expected="no error", status="FAIL",
                     detail="harness error: %r %s" % (e, traceback.format_exc().splitlines()[-3:]))]


def main():
    t0 = time.time()
    builds = {n: M.Build(n) for n in M.BUILDS}
    os.makedirs(SWORK, exist_ok=True)
    mixed = load_mixed()
    comp = {e: load_compressed(e) for e in ("new", "old", "v24")}
    # the fresh key rekey moves to: P-384, PEMs with the uncompressed point (openssl default)
    newkey = os.path.join(WORK, "keys", "store-p384new")
    os.makedirs(newkey, exist_ok=True)
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp384r1",
                    "-pkeyopt", "ec_param_enc:named_curve", "-out", newkey + "/private.pem"],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", newkey + "/private.pem", "-pubout", "-out", newkey + "/public.pem"],
                   check=True, capture_output=True)

    jobs = []   # (fn, args, group key for rendering)

    def add(fn, args, key):
        jobs.append((fn, args, key))

    def lab(n):
        return builds[n].label

    # 1. repair the mixed store for each target, read by that target's builds
    for target, readers in TARGET_READERS.items():
        for rn in readers:
            if rn not in builds:
                continue
            keys = ["p256", "p256c"] if rn == "upstream" else ["p256"]
            for kn in keys:
                add(flow_repair, (mixed, target, builds[rn], kn),
                    ("mixed:repair:" + SHORT_T[target], lab(rn), kn))
    # 2. rekey the mixed store and the compressed stores to a fresh P-384 key
    for target, readers in TARGET_READERS.items():
        for rn in readers:
            if rn in builds:
                add(flow_rekey, (mixed, target, builds[rn], newkey, False),
                    ("mixed:rekey:" + SHORT_T[target], lab(rn), "p384new"))
    for env in ("new", "old", "v24"):
        if env in builds:
            t = BUILD_TARGET[env]
            add(flow_rekey, (comp[env], t, builds[env], newkey, True),
                ("%s:rekey:%s" % (comp[env].name, SHORT_T[t]), lab(env), "p384new"))
    # 3. decrypt-store: copy and in place (mixed), copy --raw / decompressed (compressed)
    for variant in ("copy", "in-place"):
        for rn in ("new", "old", "upstream", "v24"):
            if rn in builds:
                op = "decrypt-store" + (" --in-place" if variant == "in-place" else "")
                add(flow_decrypt_store, (mixed, variant, builds[rn], False, False),
                    ("mixed:" + op, lab(rn), "-"))
    for env in ("new", "old", "v24"):
        if env in builds:
            add(flow_decrypt_store, (comp[env], "copy", builds[env], True, True),
                ("%s:decrypt-store --raw" % comp[env].name, lab(env), "-"))
        for rn in (env, "upstream"):
            if rn in builds:
                add(flow_decrypt_store, (comp[env], "copy", builds[rn], False, False),
                    ("%s:decrypt-store" % comp[env].name, lab(rn), "-"))

    return run_and_report(jobs, guarded, render, "stores", "STORE", t0)


def run_and_report(jobs, guard, render_fn, base, what, t0):
    """run the flows (jobs: (fn, args, group key)) in parallel, write $INTEROP_OUT/<base>.tsv and
    <base>.txt, print the table and the summary; exit status 1 when a cell is FAIL"""
    rows = []
    with cf.ThreadPoolExecutor(max_workers=M.JOBS) as ex:
        futs = [ex.submit(guard, fn, *args) for fn, args, _k in jobs]
        for fu in futs:
            rows.extend(fu.result())

    tsv = os.path.join(OUT, base + ".tsv")
    with open(tsv, "w") as f:
        f.write("\t".join(M.COLS) + "\n")
        for r in rows:
            f.write("\t".join(str(r[c]).replace("\t", " ").replace("\n", " ") for c in M.COLS) + "\n")
    text = render_fn(rows, [k for _fn, _a, k in jobs])
    counts = {s: sum(1 for r in rows if r["status"] == s) for s in ("ok", "expected-fail", "FAIL", "skipped")}
    bad = [r for r in rows if r["status"] == "FAIL"]
    if bad:
        text += "\nUNEXPECTED %s CELLS (%d):\n" % (what, len(bad))
        for r in bad:
            text += "  FAIL %s: expected %s; %s\n" % (r["cell"], r["expected"], r["detail"])
    summary = "%s: %d cells: %d ok, %d expected-fail, %d FAIL, %d skipped" % (
        base, len(rows), counts["ok"], counts["expected-fail"], counts["FAIL"], counts["skipped"])
    with open(os.path.join(OUT, base + ".txt"), "w") as f:
        f.write(text + "\n" + summary + "\n")
    sys.stdout.write("\n" + text)
    sys.stdout.write("%s (%.0f s, TSV: %s)\n" % (summary, time.time() - t0, tsv))
    sys.stdout.flush()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
