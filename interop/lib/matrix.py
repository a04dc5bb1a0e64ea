#!/usr/bin/env python3
"""interop/lib/matrix.py - the interoperability matrix of interop/run.sh.

Drives the real Dovecot builds (doveadm with a throw-away minimal config, no
daemon) and the mailcrypt CLI in both directions, judges every cell against
its expectation and writes the matrix (printed and TSV).

Called by interop/run.sh, which installs the builds and generates the keys and
plaintexts first. Python 3 standard library only.

Environment (set by run.sh):
  MAILCRYPT            mailcrypt binary
  INTEROP_WORK         work dir with keys/ and plain/ (containers go there too)
  INTEROP_OUT          results dir (matrix.tsv, matrix.txt, summary.txt)
  INTEROP_BUILDS       builds to drive (subset of "new old upstream v24")
  INTEROP_OLD_ROOT, INTEROP_V24_ROOT, INTEROP_UPSTREAM_PREFIX   where they are
  INTEROP_USERKEYS     1 (default) / 0: per-user key cells on/off
  INTEROP_REQUIRE_USERKEYS  1: a skipped per-user cell counts as FAIL
  INTEROP_JOBS         parallel jobs (default: number of CPUs)
  INTEROP_MATRIX_KEYS  only these keys (default: all of KEYS)
  INTEROP_MATRIX_MODES only these modes (space-separated fnmatch patterns,
                       e.g. "v2-samecalg c:*"; default: all)
"""

import concurrent.futures as cf
import fnmatch
import hashlib
import os
import secrets
import shutil
import struct
import subprocess
import sys
import tempfile
import time

MAILCRYPT = os.environ["MAILCRYPT"]
WORK = os.environ["INTEROP_WORK"]
OUT = os.environ["INTEROP_OUT"]
BUILDS = os.environ.get("INTEROP_BUILDS", "new old upstream v24").split()
USERKEYS = os.environ.get("INTEROP_USERKEYS", "1") == "1"
REQUIRE_USERKEYS = os.environ.get("INTEROP_REQUIRE_USERKEYS", "0") == "1"
JOBS = int(os.environ.get("INTEROP_JOBS") or os.cpu_count() or 2)
TIMEOUT = int(os.environ.get("INTEROP_CELL_TIMEOUT", "300"))
SYS_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"

# key name -> (type, curve, point form of the PEM files); "c" = the same key
# pair re-encoded with compressed points (openssl pkey -ec_conv_form compressed)
KEYS = [
    ("p256", "EC", "prime256v1", "uncompressed"),
    ("p256c", "EC", "prime256v1", "compressed"),
    ("p384", "EC", "secp384r1", "uncompressed"),
    ("p384c", "EC", "secp384r1", "compressed"),
    ("p521", "EC", "secp521r1", "uncompressed"),
    ("p521c", "EC", "secp521r1", "compressed"),
    ("rsa2048", "RSA", None, None),
    # RFC 8410 keys (openssl genpkey -algorithm X25519/X448): Dovecot 2.4 only,
    # the 2.3 builds panic when they load one
    ("x25519", "X", "X25519", None),
    ("x448", "X", "X448", None),
]
KEYINFO = {k[0]: k for k in KEYS}
SIZES = ["0", "1", "10k", "1m", "mail"]
USER_CURVES = [("user-p256", "prime256v1"), ("user-p384", "secp384r1"), ("user-p521", "secp521r1")]

# mailcrypt writers: name -> (encrypt args, modes)
MC_WRITERS = [
    ("mailcrypt:dovecot-2.3", ["--target", "dovecot-2.3"], ["v2-aead", "v2-hmac"]),
    ("mailcrypt:dovecot-2.3-openssl3-unpatched", ["--target", "dovecot-2.3-openssl3-unpatched"],
     ["v2-aead", "v2-hmac"]),
    ("mailcrypt:dovecot-2.4", ["--target", "dovecot-2.4"], ["v2-aead", "v2-hmac", "v2-chacha"]),
    ("mailcrypt:v1", ["--format", "v1"], ["v1"]),
]
MODE_ALGO = {"v2-aead": "aes-256-gcm-sha256", "v2-hmac": "aes-256-cbc-sha256",
             "v2-chacha": "chacha20-poly1305-sha256", "v2-samecalg": "aes-256-gcm-sha256"}
# extra `mailcrypt encrypt` arguments of a mode
MODE_ARGS = {"v2-samecalg": ["--same-calg"]}
# Every other crypt_write_algorithm value Dovecot accepts and mailcrypt writes
# (issue 9 item 4), as modes "c:<algo>": Dovecot 2.4 (v24) writes each for
# mailcrypt to decrypt; mailcrypt writes each (--target dovecot-2.4) for every
# build to decrypt. Only for the keys in CIPHER_KEYS and the sizes in
# CIPHER_SIZES, to keep the cell count reasonable.
CIPHER_ALGOS = (
    ["aes-128-gcm-sha256", "aes-192-gcm-sha256", "aes-128-cbc-sha256", "aes-192-cbc-sha256"]
    + ["aes-%d-%s-sha256" % (b, m) for b in (128, 192) for m in ("ofb", "cfb")]
    + ["aes-256-ofb-sha256", "aes-256-cfb-sha256"]
    + ["camellia-%d-%s-sha256" % (b, m) for b in (128, 192, 256) for m in ("cbc", "ofb", "cfb", "ctr")]
    + ["aria-%d-%s-sha256" % (b, m) for b in (128, 192, 256) for m in ("cbc", "ofb", "cfb", "ctr", "gcm")]
    + ["sm4-%s-sha256" % m for m in ("cbc", "ofb", "cfb", "ctr")]
    + ["des-ede3-cbc-sha256", "camellia-256-cbc-sha512", "aria-128-gcm-sha1", "sm4-cbc-sha384",
       "des-ede3-cbc-sha1", "aria-256-ctr-sha512"]
)
for _a in CIPHER_ALGOS:
    MODE_ALGO["c:" + _a] = _a
CIPHER_MODES = ["c:" + a for a in CIPHER_ALGOS]
CIPHER_KEYS = ["p256c", "x25519"]
CIPHER_SIZES = ["1", "10k", "1m"]
MATRIX_KEYS = os.environ.get("INTEROP_MATRIX_KEYS", "").split()
MATRIX_MODES = os.environ.get("INTEROP_MATRIX_MODES", "").split()


def selected(key, mode):
    """INTEROP_MATRIX_KEYS / INTEROP_MATRIX_MODES: run only these cells."""
    if MATRIX_KEYS and key not in MATRIX_KEYS:
        return False
    return not MATRIX_MODES or any(fnmatch.fnmatchcase(mode, p) for p in MATRIX_MODES)


def sizes_for(mode):
    return CIPHER_SIZES if mode.startswith("c:") else SIZES


def mc_modes(writer, modes, key):
    """the modes mailcrypt writer `writer` writes for `key`"""
    kt = KEYINFO[key][1]
    if kt == "X" and writer != "mailcrypt:dovecot-2.4":
        return []  # refused: the 2.3 builds panic on X25519/X448 keys
    out = [m for m in modes if not (m == "v1" and kt != "EC")]
    if writer == "mailcrypt:dovecot-2.4":
        if kt != "RSA":
            out.append("v2-samecalg")  # SAME_CALG needs an EC/X25519/X448 recipient
        if key in CIPHER_KEYS:
            out += CIPHER_MODES
    return [m for m in out if selected(key, m)]
# the mailcrypt target each build is meant to be written for
BUILD_TARGET = {"new": "mailcrypt:dovecot-2.3", "old": "mailcrypt:dovecot-2.3",
                "upstream": "mailcrypt:dovecot-2.3-openssl3-unpatched", "v24": "mailcrypt:dovecot-2.4"}

# expected error texts of the known-incompatible cells
ERR_NO_KEY = "no private key available"
ERR_CIPHER = "unsupported/invalid cipher"
ERR_KEY_HASH = "Incorrect key hash"
ERR_MC_REFUSE = "cannot read chacha20"
ERR_X_PANIC = "Panic: file dcrypt-openssl.c"
ERR_SAMECALG_23 = "Cannot perform key decryption"
ERR_SHA384_OLD = "unsupported hash algorithm: SHA384"


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def last_error(text):
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    errs = [l for l in lines if "rror" in l or "anic" in l or "atal" in l]
    pick = errs[-1] if errs else (lines[-1] if lines else "")
    return pick.replace("\t", " ")[:400]


class Build:
    def __init__(self, name):
        self.name = name
        self.root = ""
        if name == "new":
            self.cmd = ["/usr/bin/doveadm"]
            self.path = SYS_PATH
            self.dovecot = ["/usr/sbin/dovecot"]
        elif name in ("old", "v24"):
            self.root = os.environ["INTEROP_OLD_ROOT" if name == "old" else "INTEROP_V24_ROOT"].rstrip("/")
            self.cmd = ["chroot", self.root, "/usr/bin/doveadm"]
            self.path = SYS_PATH
            self.dovecot = ["chroot", self.root, "/usr/sbin/dovecot"]
        elif name == "upstream":
            p = os.environ["INTEROP_UPSTREAM_PREFIX"].rstrip("/")
            self.cmd = [p + "/bin/doveadm"]
            self.path = p + "/bin:" + SYS_PATH
            self.dovecot = [p + "/sbin/dovecot"]
        else:
            raise SystemExit("unknown build " + name)
        self.version = subprocess.run(self.dovecot + ["--version"], capture_output=True,
                                      text=True).stdout.strip()
        self.is24 = self.version.startswith("2.4")
        self.label = "dovecot-" + name

    def expected_id_form(self, key):
        """point form of the key id this build looks for (EC keys)."""
        if self.name == "upstream":
            return KEYINFO[key][3]  # the form of the PEM it loaded
        return "compressed"

    def mktemp(self, mail=False):
        base = self.root + "/tmp"
        d = tempfile.mkdtemp(prefix="mci.", dir=base)
        os.chmod(d, 0o711)
        os.makedirs(d + "/run")
        if mail:
            os.makedirs(d + "/home")
            os.chown(d + "/home", 65534, 65534)
        return d

    def inner(self, path):
        return path[len(self.root):] if self.root else path

    def base_conf(self, d):
        i = self.inner(d)
        if self.is24:
            v = self.version.split()[0].split("-")[0]
            return ("dovecot_config_version = %s\ndovecot_storage_version = %s\n"
                    "base_dir = %s/run\nlog_path = /dev/stderr\n" % (v, v, i))
        return "base_dir = %s/run\nlog_path = /dev/stderr\nssl = no\n" % i

    def doveadm(self, d, args, user=False, stdin=None, stdout=None):
        env = ["env", "-i", "PATH=" + self.path, "LANG=C"]
        if user:
            env += ["USER=interop", "HOME=" + self.inner(d) + "/home"]
        argv = env + self.cmd + ["-c", self.inner(d) + "/dovecot.conf"] + args
        try:
            p = subprocess.run(argv, stdin=stdin or subprocess.DEVNULL,
                               stdout=stdout or subprocess.DEVNULL,
                               stderr=subprocess.PIPE, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            return 124, "timeout after %d s" % TIMEOUT
        return p.returncode, p.stderr.decode("utf-8", "replace")

    # --- operations ---------------------------------------------------------
    def fs_put(self, pub, algo, infile, outfile):
        d = self.mktemp()
        try:
            i = self.inner(d)
            shutil.copy(pub, d + "/public.pem")
            shutil.copy(infile, d + "/in.bin")
            os.makedirs(d + "/store")
            conf = self.base_conf(d)
            if self.is24:
                conf += ("crypt_global_public_key_file = %s/public.pem\n"
                         "crypt_write_algorithm = %s\n"
                         "fs crypt {\n}\nfs posix {\n  fs_posix_prefix = %s/store/\n}\n" % (i, algo, i))
                args = ["fs", "put", "", i + "/in.bin", "out.bin"]
            else:
                args = ["fs", "put", "crypt",
                        "algo=%s:public_key_path=%s/public.pem:posix:prefix=%s/store/" % (algo, i, i),
                        i + "/in.bin", "out.bin"]
            with open(d + "/dovecot.conf", "w") as f:
                f.write(conf)
            rc, err = self.doveadm(d, args)
            if rc == 0:
                if not os.path.exists(d + "/store/out.bin"):
                    return 1, "doveadm fs put wrote no file"
                shutil.copy(d + "/store/out.bin", outfile)
            return rc, err
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def fs_get(self, priv, infile, outfile):
        d = self.mktemp()
        try:
            i = self.inner(d)
            shutil.copy(priv, d + "/private.pem")
            os.makedirs(d + "/store")
            shutil.copy(infile, d + "/store/data")
            conf = self.base_conf(d)
            if self.is24:
                conf += ("crypt_global_private_key main {\n  crypt_private_key_file = %s/private.pem\n}\n"
                         "fs crypt {\n}\nfs posix {\n  fs_posix_prefix = %s/store/\n}\n" % (i, i))
                args = ["fs", "get", "", "data"]
            else:
                args = ["fs", "get", "crypt",
                        "private_key_path=%s/private.pem:posix:prefix=%s/store/" % (i, i), "data"]
            with open(d + "/dovecot.conf", "w") as f:
                f.write(conf)
            with open(d + "/out.bin", "wb") as o:
                rc, err = self.doveadm(d, args, stdout=o)
            if rc == 0:
                shutil.copy(d + "/out.bin", outfile)
            return rc, err
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def mail_save_v1(self, pub, infile, outfile):
        """v1 container via the mail_crypt plugin with a global key (2.3 only)."""
        d = self.mktemp(mail=True)
        try:
            i = self.inner(d)
            shutil.copy(pub, d + "/public.pem")
            conf = self.base_conf(d) + (
                "mail_uid = 65534\nmail_gid = 65534\n"
                "mail_location = maildir:%s/home/Maildir\n"
                "mail_plugins = mail_crypt\n"
                "plugin {\n  mail_crypt_global_public_key = <%s/public.pem\n"
                "  mail_crypt_save_version = 1\n}\n" % (i, i))
            with open(d + "/dovecot.conf", "w") as f:
                f.write(conf)
            with open(infile, "rb") as inp:
                rc, err = self.doveadm(d, ["save", "-m", "INBOX"], user=True, stdin=inp)
            if rc != 0:
                return rc, err
            files = maildir_files(d + "/home/Maildir")
            if len(files) != 1:
                return 1, "doveadm save stored %d mail files" % len(files)
            shutil.copy(files[0], outfile)
            return 0, err
        finally:
            shutil.rmtree(d, ignore_errors=True)


def maildir_files(md):
    out = []
    for sub in ("new", "cur"):
        p = os.path.join(md, sub)
        if os.path.isdir(p):
            out += [os.path.join(p, n) for n in sorted(os.listdir(p))]
    return out


class UserStore:
    """A per-user mail store with a password-protected user key (mail_crypt
    plugin, keys generated by Dovecot on first save, folder key encrypted to
    the user key, user key encrypted with the password)."""

    def __init__(self, build, curve, version, password):
        self.b = build
        self.d = build.mktemp(mail=True)
        i = build.inner(self.d)
        conf = build.base_conf(self.d) + "mail_uid = 65534\nmail_gid = 65534\n"
        if build.is24:
            conf += ("mail_driver = maildir\nmail_path = %s/home/Maildir\n"
                     "mail_plugins {\n  mail_crypt = yes\n}\n"
                     "mail_attribute {\n  dict file {\n    dict_file_path = %s/home/dovecot-attributes\n  }\n}\n"
                     "crypt_user_key_curve = %s\ncrypt_user_key_password = %s\n"
                     "crypt_user_key_require_encrypted = yes\n" % (i, i, curve, password))
        else:
            conf += ("mail_location = maildir:%s/home/Maildir\n"
                     "mail_attribute_dict = file:%s/home/dovecot-attributes\n"
                     "mail_plugins = mail_crypt\n"
                     "plugin {\n  mail_crypt_curve = %s\n  mail_crypt_save_version = %d\n"
                     "  mail_crypt_private_password = %s\n"
                     "  mail_crypt_require_encrypted_user_key = yes\n}\n" % (i, i, curve, version, password))
        self.conf = conf
        self.version = version
        self.attributes = self.d + "/home/dovecot-attributes"
        self.uids = 0

    def prepare(self):
        """v2: keys are generated by the first save, as in a live server.
        v1: Dovecot 2.3 cannot generate keys while mail_crypt_save_version = 1
        ("unsupported save_version=1"), so the user and INBOX folder keys are
        generated first with version 2 (doveadm mailbox cryptokey generate),
        then mail is saved with version 1."""
        conf = self.conf
        if self.version == 1:
            with open(self.d + "/dovecot.conf", "w") as f:
                f.write(conf.replace("mail_crypt_save_version = 1", "mail_crypt_save_version = 2"))
            rc, err = self.b.doveadm(self.d, ["mailbox", "cryptokey", "generate", "INBOX"], user=True)
            if rc != 0:
                return rc, err
        with open(self.d + "/dovecot.conf", "w") as f:
            f.write(conf)
        return 0, ""

    def extra(self):
        return ["--no-userdb-lookup"] if self.b.is24 else []

    def save(self, infile):
        before = set(maildir_files(self.d + "/home/Maildir"))
        with open(infile, "rb") as inp:
            rc, err = self.b.doveadm(self.d, ["save"] + self.extra() + ["-m", "INBOX"],
                                     user=True, stdin=inp)
        if rc != 0:
            return rc, err, None, None
        new = [f for f in maildir_files(self.d + "/home/Maildir") if f not in before]
        if len(new) != 1:
            return 1, "doveadm save stored %d new mail files" % len(new), None, None
        self.uids += 1
        return 0, err, new[0], self.uids

    def fetch(self, uid, outfile):
        tmp = self.d + "/fetch.out"
        with open(tmp, "wb") as o:
            rc, err = self.b.doveadm(self.d, ["-f", "pager", "fetch"] + self.extra() +
                                     ["text", "mailbox", "INBOX", "uid", str(uid)], user=True, stdout=o)
        if rc == 0:
            with open(tmp, "rb") as f:
                data = f.read()
            if not data.startswith(b"text:\n"):
                return 1, "unexpected doveadm fetch output"
            with open(outfile, "wb") as f:
                f.write(data[6:])
        return rc, err

    def keep(self, dest):
        shutil.copytree(self.d + "/home", dest, symlinks=True, dirs_exist_ok=True)

    def close(self):
        shutil.rmtree(self.d, ignore_errors=True)


# --- mailcrypt -----------------------------------------------------------------
def mc(args, stdin=None):
    try:
        p = subprocess.run([MAILCRYPT] + args, stdin=stdin or subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return 124, "timeout after %d s" % TIMEOUT
    return p.returncode, p.stderr.decode("utf-8", "replace")


def mc_supports_attributes():
    p = subprocess.run([MAILCRYPT, "decrypt", "--help"], capture_output=True, text=True)
    return "--attributes" in p.stdout


# --- cells ---------------------------------------------------------------------
PLAIN = {s: os.path.join(WORK, "plain", s + ".bin") for s in SIZES}
PLAIN_SHA = {}


def keyfile(key, which):
    return os.path.join(WORK, "keys", key, which + ".pem")


def judge(cell, expect, rc, err, outfile, size):
    """expect = None (must decrypt to the exact bytes) or an error substring."""
    got = None
    if rc == 0:
        if outfile and os.path.exists(outfile) and sha256_file(outfile) == PLAIN_SHA[size]:
            got = "ok"
        else:
            got = "wrong-bytes"
    if outfile and os.path.exists(outfile):
        os.unlink(outfile)
    if expect is None:
        if got == "ok":
            return dict(cell, expected="ok", status="ok", detail="")
        if got == "wrong-bytes":
            return dict(cell, expected="ok", status="FAIL",
                        detail="exit 0 but the output differs from the plaintext")
        return dict(cell, expected="ok", status="FAIL", detail="exit %d: %s" % (rc, last_error(err)))
    exp = "fail: " + expect
    if got == "ok":
        return dict(cell, expected=exp, status="FAIL", detail="decrypted although it must fail")
    if got == "wrong-bytes":
        return dict(cell, expected=exp, status="FAIL", detail="exit 0 with wrong output")
    if expect in err:
        return dict(cell, expected=exp, status="expected-fail", detail=last_error(err))
    return dict(cell, expected=exp, status="FAIL",
                detail="failed differently: exit %d: %s" % (rc, last_error(err)))


def mkcell(direction, writer, reader, key, mode, size):
    return dict(cell="%s>%s/%s/%s/%s" % (writer, reader, key, mode, size), direction=direction,
                writer=writer, reader=reader, key=key, mode=mode, size=size)


def write_modes(build, key):
    if build.is24:
        modes = ["v2-aead", "v2-hmac", "v2-chacha"]
        if key in CIPHER_KEYS:
            modes += CIPHER_MODES
    elif KEYINFO[key][1] == "X":
        modes = []  # the 2.3 builds panic on X25519/X448 keys
    else:
        modes = ["v2-aead", "v2-hmac"]
        if KEYINFO[key][1] == "EC":
            modes.append("v1")
    return [m for m in modes if selected(key, m)]


def job_dovecot_writes(build, key, mode):
    """Dovecot writes every plaintext; mailcrypt must decrypt each exactly."""
    rows = []
    d = os.path.join(WORK, "files", build.label, key)
    os.makedirs(d, exist_ok=True)
    for size in sizes_for(mode):
        f = os.path.join(d, "%s.%s.bin" % (size, mode))
        if mode == "v1":
            rc, err = build.mail_save_v1(keyfile(key, "public"), PLAIN[size], f)
        else:
            rc, err = build.fs_put(keyfile(key, "public"), MODE_ALGO[mode], PLAIN[size], f)
        if rc != 0:
            for reader, _ in mc_readers(key):
                c = mkcell("dovecot>mailcrypt", build.label, reader, key, mode, size)
                rows.append(dict(c, expected="ok", status="FAIL",
                                 detail="%s could not write the container: exit %d: %s"
                                 % (build.label, rc, last_error(err))))
            continue
        for reader, args in mc_readers(key):
            c = mkcell("dovecot>mailcrypt", build.label, reader, key, mode, size)
            out = f + ".mc-out"
            # OFB/CFB/CTR bodies are opt-in (docs/security.md)
            extra = ["--allow-ofb-cfb"] if mode.startswith("c:") else []
            rc, err = mc(["decrypt"] + args + extra + ["-o", out, f])
            rows.append(judge(c, None, rc, err, out, size))
    return rows


def other_form(key):
    """the same EC key pair in the other PEM point form (p256 <-> p256c)"""
    return key[:-1] if key.endswith("c") else key + "c"


def mc_readers(key):
    """mailcrypt decrypt variants for a Dovecot-written file of `key`:
    streaming, --verified (whole file authenticated before any output), and
    (EC) with the key PEM in the other point form: the key id must be found
    whichever form the key file and the writer used."""
    r = [("mailcrypt", ["-k", keyfile(key, "private")]),
         ("mailcrypt+verified", ["--verified", "-k", keyfile(key, "private")])]
    if KEYINFO[key][1] == "EC":
        r.append(("mailcrypt+otherpem", ["-k", keyfile(other_form(key), "private")]))
    return r


def mc_file(writer, key, mode, size):
    return os.path.join(WORK, "files", writer.replace(":", "_"), key, "%s.%s.bin" % (size, mode))


def job_mc_writes(writer, wargs, key, mode):
    """mailcrypt encrypts every plaintext; returns {size: error or None}."""
    res = {}
    for size in sizes_for(mode):
        f = mc_file(writer, key, mode, size)
        os.makedirs(os.path.dirname(f), exist_ok=True)
        args = ["encrypt", "-r", keyfile(key, "public")] + wargs
        if mode in MODE_ALGO:
            args += ["--cipher", MODE_ALGO[mode]]
        args += MODE_ARGS.get(mode, [])
        rc, err = mc(args + ["-o", f, PLAIN[size]])
        res[(writer, key, mode, size)] = None if rc == 0 and os.path.exists(f) else \
            "mailcrypt encrypt failed: exit %d: %s" % (rc, last_error(err))
    return res


def expect_dovecot_reads(writer, reader, key, mode, size):
    """None = must decrypt exactly; else the error text the real build must print."""
    if size == "0":
        return None  # an empty mail is a 0-byte file, readable everywhere
    if mode == "v1":
        return None  # every build reads v1 (old key id, no point-form question)
    kt, _curve, pem_form = KEYINFO[key][1:]
    if mode == "v2-chacha" and not reader.is24:
        return ERR_CIPHER  # checked before the key is loaded
    if kt == "X":
        return None if reader.is24 else ERR_X_PANIC
    if MODE_ALGO.get(mode, "").endswith("-sha384") and reader.name == "old":
        # Dovecot 2.3.13 has no SHA-384 ("Hash algorithm 'sha384' not
        # supported" when writing); measured, 2.3.19.1 and 2.4.1 have it
        return ERR_SHA384_OLD
    if kt == "RSA":
        id_err = None
    else:
        written = pem_form if writer == "mailcrypt:dovecot-2.3-openssl3-unpatched" else "compressed"
        id_err = None if written == reader.expected_id_form(key) else ERR_NO_KEY
    if mode == "v2-samecalg" and not reader.is24:
        # 2.3 ignores flag 0x10 and unwraps the key with AES-256-CBC (once
        # it has found the key: a key-id mismatch fails first)
        return id_err or ERR_SAMECALG_23
    return id_err


def job_dovecot_reads(writer, key, mode, reader, enc_errors):
    rows = []
    if mode.startswith("c:") and KEYINFO[key][1] == "X" and not reader.is24:
        return rows  # the X25519 panic of 2.3 is shown once per mode above, not per cipher
    for size in sizes_for(mode):
        cell = mkcell("mailcrypt>dovecot", writer, reader.label, key, mode, size)
        e = enc_errors.get((writer, key, mode, size))
        if e:
            rows.append(dict(cell, expected="?", status="FAIL", detail=e))
            continue
        f = mc_file(writer, key, mode, size)
        out = f + "." + reader.name + "-out"
        rc, err = reader.fs_get(keyfile(key, "private"), f, out)
        rows.append(judge(cell, expect_dovecot_reads(writer, reader, key, mode, size), rc, err, out, size))
    return rows


def job_userkeys(build, ukey, curve, version, attributes_ok):
    """Mail saved by Dovecot with per-user keys (password-protected user key,
    folder key encrypted to it) -> mailcrypt --attributes must decrypt it; and,
    as a check of the fixture itself, Dovecot reads it back."""
    rows = []
    mode = "user-v%d" % version
    pw = secrets.token_hex(12)
    store = UserStore(build, curve, version, pw)
    keepdir = os.path.join(WORK, "userstores", "%s-%s-%s" % (build.label, ukey, mode))
    try:
        pwfile = os.path.join(WORK, "userstores", "%s-%s-%s.password" % (build.label, ukey, mode))
        os.makedirs(os.path.dirname(pwfile), exist_ok=True)
        with open(pwfile, "w") as f:
            f.write(pw + "\n")
        prc, perr = store.prepare()
        for size in SIZES:
            c_mc = mkcell("userkeys", build.label, "mailcrypt", ukey, mode, size)
            c_dc = mkcell("userkeys", build.label, build.label, ukey, mode, size)
            if prc != 0:
                rc, err = prc, "key generation: " + perr
            else:
                rc, err, mailfile, uid = store.save(PLAIN[size])
            if rc != 0:
                d = "%s could not save the mail: exit %d: %s" % (build.label, rc, last_error(err))
                rows.append(dict(c_mc, expected="ok", status="FAIL", detail=d))
                rows.append(dict(c_dc, expected="?", status="FAIL", detail=d))
                continue
            # mailcrypt: attribute file + password -> plaintext
            if attributes_ok:
                out = store.d + "/mc.out"
                rc, err = mc(["decrypt", "--attributes", store.attributes, "--password-file", pwfile,
                              "-o", out, mailfile])
                rows.append(judge(c_mc, None, rc, err, out, size))
            else:
                rows.append(dict(c_mc, expected="ok",
                                 status="FAIL" if REQUIRE_USERKEYS else "skipped",
                                 detail="skipped (not implemented): `mailcrypt decrypt --help` "
                                        "lists no --attributes"))
            # the build reads its own mail back (proves the fixture is real)
            expect = None
            if size != "0":
                if version == 1:
                    expect = ERR_V1_USER
                elif build.name == "upstream":
                    expect = ERR_KEY_HASH
            out = store.d + "/dc.out"
            rc, err = store.fetch(uid, out)
            rows.append(judge(c_dc, expect, rc, err, out, size))
        store.keep(keepdir)
    finally:
        store.close()
    return rows


# Dovecot cannot read back v1 mails of a per-user store: it looks the folder
# key up by the v1 (old) id, which its key lookup never computes.
ERR_V1_USER = "Private key not available"


# --- key ids (header fields) -----------------------------------------------------
MAGIC = b"CRYPTED\x03\x07"


def header_key_id(path):
    with open(path, "rb") as f:
        data = f.read(4096)
    if not data.startswith(MAGIC):
        raise ValueError("not a container")
    if data[9] == 1:
        pos = 12
        (n,) = struct.unpack(">H", data[pos:pos + 2])
        pos += 2 + n  # ephemeral key
        (n,) = struct.unpack(">H", data[pos:pos + 2])
        return "v1", data[pos + 2:pos + 2 + n].hex()
    if data[9] != 2:
        raise ValueError("unknown version %d" % data[9])
    pos = 18
    for _ in range(2):  # cipher and MAC OIDs, full DER
        if data[pos] != 0x06 or data[pos + 1] & 0x80:
            raise ValueError("bad OID")
        pos += 2 + data[pos + 1]
    pos += 8  # rounds, key-data length
    count = data[pos]
    if count != 1:
        raise ValueError("%d recipients" % count)
    pos += 2  # count, key type
    return "v2", data[pos:pos + 32].hex()


def keyid_cells(builds):
    rows = []
    for b in builds:
        for key, kt, _c, _f in KEYS:
            if kt == "X" and not b.is24:
                continue
            pairs = [("v2-key-id", "v2-aead", BUILD_TARGET[b.name])]
            if kt == "EC" and not b.is24:
                pairs.append(("v1-key-id", "v1", "mailcrypt:v1"))
            for mode, fmode, target in pairs:
                if not selected(key, fmode):
                    continue
                cell = mkcell("key-id", b.label, target, key, mode, "10k")
                fd = os.path.join(WORK, "files", b.label, key, "10k.%s.bin" % fmode)
                fm = mc_file(target, key, fmode, "10k")
                try:
                    _, idd = header_key_id(fd)
                    _, idm = header_key_id(fm)
                except (OSError, ValueError, IndexError, struct.error) as e:
                    rows.append(dict(cell, expected="same id", status="FAIL",
                                     detail="cannot read the key ids: %s" % e))
                    continue
                if idd == idm:
                    rows.append(dict(cell, expected="same id", status="ok", detail=idd))
                else:
                    rows.append(dict(cell, expected="same id", status="FAIL",
                                     detail="%s wrote key id %s, %s wrote %s" % (b.label, idd, target, idm)))
    return rows


def refuse_cells():
    rows = []
    for writer, targ in (("mailcrypt:dovecot-2.3", "dovecot-2.3"),
                         ("mailcrypt:dovecot-2.3-openssl3-unpatched", "dovecot-2.3-openssl3-unpatched")):
        cell = mkcell("refuse", writer, "mailcrypt-encrypt", "p256", "v2-chacha", "10k")
        out = os.path.join(WORK, "refuse-%s.bin" % targ)
        rc, err = mc(["encrypt", "-r", keyfile("p256", "public"), "--target", targ,
                      "--cipher", MODE_ALGO["v2-chacha"], "-o", out, PLAIN["10k"]])
        exp = "fail: " + ERR_MC_REFUSE
        if rc == 0:
            rows.append(dict(cell, expected=exp, status="FAIL", detail="mailcrypt wrote a chacha20 file for %s" % targ))
        elif os.path.exists(out):
            rows.append(dict(cell, expected=exp, status="FAIL", detail="refused but left an output file"))
        elif ERR_MC_REFUSE in err:
            rows.append(dict(cell, expected=exp, status="expected-fail", detail=last_error(err)))
        else:
            rows.append(dict(cell, expected=exp, status="FAIL", detail="failed differently: " + last_error(err)))
    return rows


# --- output ----------------------------------------------------------------------
COLS = ["cell", "direction", "writer", "reader", "key", "mode", "size", "expected", "status", "detail"]
MARK = {"ok": ".", "expected-fail": "x", "FAIL": "F", "skipped": "s"}


def short(name):
    return (name.replace("mailcrypt:dovecot-2.3-openssl3-unpatched", "mc:2.3-unpatched")
            .replace("mailcrypt:dovecot-", "mc:").replace("mailcrypt:v1", "mc:v1")
            .replace("dovecot-", ""))


def render(rows, builds, info):
    lines = []
    lines.append("Dovecot builds:")
    for b in builds:
        lines.append("  %-9s %s" % (b.name, info[b.name]))
    lines.append("")
    lines.append("Legend: one character per plaintext size, in the order %s" % " ".join(SIZES))
    lines.append("  (0 B, 1 B, 10 KiB, 1 MiB random bytes, RFC 5322 mail):")
    lines.append("  . ok   x expected-fail (failed in the real build exactly as expected)   F FAIL   s skipped   - n/a")
    lines.append("  keys: pNNN = EC key in PEM with uncompressed point (openssl default), pNNNc = the same key")
    lines.append("  re-encoded with compressed points; rsa2048. mc:T = mailcrypt encrypt --target T.")
    sections = [
        ("Dovecot writes -> mailcrypt decrypts (mailcrypt: streaming; +verified: --verified;"
         " +otherpem: -k the same key\n  in the other PEM point form)", "dovecot>mailcrypt", [k[0] for k in KEYS]),
        ("mailcrypt writes -> Dovecot decrypts", "mailcrypt>dovecot", [k[0] for k in KEYS]),
        ("Per-user keys (password-protected user key, folder keys): Dovecot saves -> reader",
         "userkeys", [u for u, _ in USER_CURVES]),
        ("Key ids: Dovecot's header vs mailcrypt's for that build's target (10 KiB file)",
         "key-id", [k[0] for k in KEYS]),
        ("mailcrypt refuses what the target cannot read", "refuse", ["p256"]),
    ]
    for title, direction, keys in sections:
        sel = [r for r in rows if r["direction"] == direction]
        if not sel:
            continue
        lines.append("")
        lines.append(title)
        groups = {}
        for r in sel:
            groups.setdefault((r["writer"], r["reader"], r["mode"]), {}).setdefault(r["key"], {})[r["size"]] = r
        sizes = ["10k"] if direction in ("key-id", "refuse") else SIZES
        w1 = max(len("writer"), max(len(short(k[0])) for k in groups))
        w2 = max(len("reader"), max(len(short(k[1])) for k in groups))
        w3 = max(len("mode"), max(len(k[2]) for k in groups))
        cw = [max(len(sizes), len(k)) for k in keys]
        lines.append("  %-*s  %-*s  %-*s  " % (w1, "writer", w2, "reader", w3, "mode")
                     + " ".join("%-*s" % (c, k) for c, k in zip(cw, keys)).rstrip())
        for (wr, rd, mode), bykey in groups.items():
            cells = []
            for c, k in zip(cw, keys):
                if k not in bykey:
                    s = "-" * len(sizes)
                else:
                    s = "".join(MARK[bykey[k][sz]["status"]] if sz in bykey[k] else "-" for sz in sizes)
                cells.append("%-*s" % (c, s))
            lines.append(("  %-*s  %-*s  %-*s  " % (w1, short(wr), w2, short(rd), w3, mode)
                          + " ".join(cells)).rstrip())
    return "\n".join(lines) + "\n"


def guarded(fn, *args):
    """run one job; an exception becomes a FAIL cell instead of a crash"""
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001 - reported as a cell
        name = "/".join(getattr(a, "label", str(a)) for a in args if not isinstance(a, (dict, bool)))
        return [dict(mkcell("harness", fn.__name__, "-", "-", "-", "-"), cell="%s(%s)" % (fn.__name__, name),
                     expected="no error", status="FAIL", detail="harness error: %r" % e)]


def main():
    t0 = time.time()
    for s in SIZES:
        PLAIN_SHA[s] = sha256_file(PLAIN[s])
    builds = [Build(n) for n in BUILDS]
    info = {}
    for b in builds:
        info[b.name] = b.version
    with open(os.path.join(WORK, "builds.tsv")) as f:
        for line in f:
            n, desc = line.rstrip("\n").split("\t", 1)
            if n in info:
                info[n] = desc
    attributes_ok = mc_supports_attributes()
    rows = []
    with cf.ThreadPoolExecutor(max_workers=JOBS) as ex:
        futs = []
        # stage 1: the builds write (per-user stores first, they take longest),
        # mailcrypt writes
        if USERKEYS:
            for b in builds:
                for ukey, curve in USER_CURVES:
                    for v in ([2] if b.is24 else [2, 1]):
                        futs.append(ex.submit(guarded, job_userkeys, b, ukey, curve, v, attributes_ok))
        for b in builds:
            for key, *_ in KEYS:
                for mode in write_modes(b, key):
                    futs.append(ex.submit(guarded, job_dovecot_writes, b, key, mode))
        enc_futs = []
        for writer, wargs, modes in MC_WRITERS:
            for key, *_ in KEYS:
                for mode in mc_modes(writer, modes, key):
                    enc_futs.append(ex.submit(job_mc_writes, writer, wargs, key, mode))
        enc_errors = {}
        for f in enc_futs:
            enc_errors.update(f.result())
        # stage 2: every build reads every mailcrypt file
        for writer, wargs, modes in MC_WRITERS:
            for key, *_ in KEYS:
                for mode in mc_modes(writer, modes, key):
                    for b in builds:
                        futs.append(ex.submit(guarded, job_dovecot_reads, writer, key, mode, b, enc_errors))
        for f in futs:
            rows.extend(f.result())
    rows.extend(refuse_cells())
    rows.extend(keyid_cells([b for b in builds if BUILD_TARGET[b.name]]))

    order = {"dovecot>mailcrypt": 0, "mailcrypt>dovecot": 1, "userkeys": 2, "key-id": 3, "refuse": 4,
             "harness": 5}
    korder = {k[0]: i for i, k in enumerate(KEYS)}
    korder.update({u: i for i, (u, _) in enumerate(USER_CURVES)})
    rows.sort(key=lambda r: (order[r["direction"]], r["writer"], r["reader"], r["mode"].startswith("c:"),
                             r["mode"], korder.get(r["key"], 99),
                             SIZES.index(r["size"]) if r["size"] in SIZES else 9))
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "matrix.tsv"), "w") as f:
        f.write("\t".join(COLS) + "\n")
        for r in rows:
            f.write("\t".join(str(r[c]).replace("\t", " ").replace("\n", " ") for c in COLS) + "\n")
    text = render(rows, builds, info)
    counts = {s: sum(1 for r in rows if r["status"] == s) for s in ("ok", "expected-fail", "FAIL", "skipped")}
    bad = [r for r in rows if r["status"] == "FAIL"]
    skipped = [r for r in rows if r["status"] == "skipped"]
    tail = []
    if bad:
        tail.append("")
        tail.append("UNEXPECTED CELLS (%d):" % len(bad))
        for r in bad:
            tail.append("  FAIL %s: expected %s; %s" % (r["cell"], r["expected"], r["detail"]))
    if skipped:
        tail.append("")
        reasons = sorted({r["detail"] for r in skipped})
        tail.append("SKIPPED CELLS (%d, not counted as ok): %s" % (len(skipped), "; ".join(reasons)))
    if not USERKEYS:
        tail.append("")
        tail.append("per-user key cells disabled (INTEROP_USERKEYS=0)")
    text += "\n".join(tail) + ("\n" if tail else "")
    summary = "interop: %d cells: %d ok, %d expected-fail, %d FAIL, %d skipped" % (
        len(rows), counts["ok"], counts["expected-fail"], counts["FAIL"], counts["skipped"])
    with open(os.path.join(OUT, "matrix.txt"), "w") as f:
        f.write(text + "\n" + summary + "\n")
    with open(os.path.join(OUT, "summary.txt"), "w") as f:
        f.write(summary + "\n")
    sys.stdout.write(text)
    sys.stdout.write("\nmatrix: %.0f s, TSV: %s\n" % (time.time() - t0, os.path.join(OUT, "matrix.tsv")))
    sys.stdout.flush()
    # run.sh prints the summary line last
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
