#!/usr/bin/env python3
"""interop/lib/keys.py - the key cells of interop/run.sh (issue 4).

"Keys mailcrypt writes load in every real build": every real Dovecot build is
given key files that mailcrypt wrote and must use them.

  keys-write    the key files below are written and checked (a `2:` file starts with
                `2:` and has no trailing newline; PEM headers as intended).
  keys-load     mailcrypt writes a private key (`key generate --format pem|dovecot|jwk`,
                with and without --password-file; `key convert` of an
                openssl-generated PEM --to dovecot (with and without
                --out-password-file) and --to jwk), for P-256, P-384, P-521 and
                RSA-2048. Each build uses that file as its global private key
                (2.3: fs crypt private_key_path=FILE[:password=PW]; 2.4:
                crypt_global_private_key { crypt_private_key_file,
                crypt_private_key_password }) to decrypt a container that
                mailcrypt encrypted for the matching public key and that
                build's target; the bytes must equal the plaintext.
  keys-encrypt  the reverse: each build encrypts (fs crypt public_key_path= /
                crypt_global_public_key_file) with a public key mailcrypt wrote
                (SPKI PEM, Dovecot `2:` public string), mailcrypt decrypts with
                the matching mailcrypt-written private key.
  keys-store    the per-user stores of vectors/userkeys/<env>/ (written by the
                real build <env>): the build reads every mail as stored, then
                mailcrypt rewrites the user private key string (re-encrypted
                under the password) and the folder private key string
                (key-encrypted to the user key) in the attribute file, and the
                same build must read every mail again, byte-exact.

A cell is ok, expected-fail (fails in the real build with the expected
message) or FAIL. Writes $INTEROP_OUT/keys.tsv (the columns of matrix.tsv) and
keys.txt. Called by interop/run.sh after matrix.py with the same environment.
Python 3 standard library only; exit status 1 when a cell is FAIL.
"""

import concurrent.futures as cf
import csv
import os
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
VEC = os.environ.get("INTEROP_USERKEY_VECTORS") or os.path.join(os.path.dirname(os.path.dirname(HERE)),
                                                                   "vectors", "userkeys")
KWORK = os.path.join(WORK, "keycells")
PASSWORD = "kc-Pw_7x.mailcrypt"   # no ':' (fs crypt parameter separator), no newline
SIZE = "mail"                      # the RFC 5322 plaintext of the run
ALGO = "aes-256-gcm-sha256"

# key type -> (mailcrypt --curve, openssl genpkey options)
KEYTYPES = [
    ("p256", "p256", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                      "-pkeyopt", "ec_param_enc:named_curve"]),
    ("p384", "p384", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp384r1",
                      "-pkeyopt", "ec_param_enc:named_curve"]),
    ("p521", "p521", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp521r1",
                      "-pkeyopt", "ec_param_enc:named_curve"]),
    ("rsa2048", "rsa2048", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
]
# private key variants written by mailcrypt: name -> (how, format, password?)
VARIANTS = [
    ("gen-pem", "generate", "pem", False),
    ("gen-pem-pw", "generate", "pem", True),
    ("gen-dovecot", "generate", "dovecot", False),
    ("gen-dovecot-pw", "generate", "dovecot", True),
    ("gen-jwk", "generate", "jwk", False),
    ("conv-dovecot", "convert", "dovecot", False),
    ("conv-dovecot-pw", "convert", "dovecot", True),
    ("conv-jwk", "convert", "jwk", False),
]
# public keys written by mailcrypt that the builds encrypt with: name -> variant
PUB_VARIANTS = [("pub-pem", "gen-pem"), ("pub-dovecot", "gen-dovecot")]
USERKEY_ENVS = ["new", "old", "upstream", "v24"]   # vectors/userkeys/<env>, read by build <env>

# --- expectations ----------------------------------------------------------------------
# Every build loads PKCS#8 PEM (also encrypted, with the password), `2:` key files
# (no trailing newline) and, through the same format detection, JWK key files. The
# one exception, measured: Dovecot 2.4.1 aborts on an EC JWK global key file
# (its key loader hands a password pointer to the JWK loader, which asserts there
# is none); RSA JWK files load.
ERR_V24_EC_JWK = "assertion failed: (password == NULL && dec_key == NULL)"


def variant_format(variant):
    return dict((v[0], v[2]) for v in VARIANTS)[variant]


def expect_load(kt, variant, build):
    """None = must decrypt exactly; else the error text the build must print."""
    if build.is24 and variant_format(variant) == "jwk" and kt != "rsa2048":
        return ERR_V24_EC_JWK
    return None


def upstream_compressed(kt, variant, build):
    """Unpatched 2.3 on OpenSSL 3 derives an EC key's id from the form it loaded:
    a PEM key file gives the PEM's point form (mailcrypt writes uncompressed PEM),
    a `2:` or JWK key file the compressed form every other build uses. mailcrypt
    --target dovecot-2.3-openssl3-unpatched follows the point form of the public
    PEM it is given, so for a non-PEM key file it is given the compressed PEM."""
    return build.name == "upstream" and kt != "rsa2048" and variant_format(variant) != "pem"


# before mailcrypt rewrote the stored keys, unpatched 2.3 on OpenSSL 3 cannot read its own
# store: the private-key strings end in the uncompressed-point id, the names use the compressed
ERR_STORE_BEFORE = {"upstream": "Incorrect key hash"}


# --- helpers ---------------------------------------------------------------------------
def run(argv, stdin=None):
    try:
        p = subprocess.run(argv, stdin=stdin or subprocess.DEVNULL, capture_output=True, timeout=M.TIMEOUT)
    except subprocess.TimeoutExpired:
        return 124, b"", "timeout after %d s" % M.TIMEOUT
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def mc(args, log):
    rc, out, err = run([MAILCRYPT] + args)
    with open(log, "a") as f:
        f.write("$ mailcrypt %s\n%s(exit %d)\n\n" % (" ".join(args), err, rc))
    return rc, err


def last_error(text):
    """the Panic line if there is one (the backtrace that follows is noise), else
    matrix.py's choice"""
    for l in text.splitlines():
        if "Panic:" in l:
            return l.strip()[:400]
    return M.last_error(text)


def cell(direction, writer, reader, key, mode, size, expected, status, detail=""):
    c = M.mkcell(direction, writer, reader, key, mode, size)
    return dict(c, expected=expected, status=status, detail=detail)


def judge_bytes(direction, writer, reader, key, mode, size, expect, rc, err, data, plain):
    got = None
    if rc == 0:
        got = "ok" if data == plain else "wrong-bytes"
    if expect is None:
        if got == "ok":
            return cell(direction, writer, reader, key, mode, size, "ok", "ok")
        if got == "wrong-bytes":
            return cell(direction, writer, reader, key, mode, size, "ok", "FAIL",
                        "exit 0 but the output differs from the plaintext (%d vs %d bytes)"
                        % (len(data), len(plain)))
        return cell(direction, writer, reader, key, mode, size, "ok", "FAIL",
                    "exit %d: %s" % (rc, last_error(err)))
    exp = "fail: " + expect
    if got == "ok":
        return cell(direction, writer, reader, key, mode, size, exp, "FAIL", "worked although it must fail")
    if got == "wrong-bytes":
        return cell(direction, writer, reader, key, mode, size, exp, "FAIL", "exit 0 with wrong output")
    if expect in err:
        return cell(direction, writer, reader, key, mode, size, exp, "expected-fail", last_error(err))
    return cell(direction, writer, reader, key, mode, size, exp, "FAIL",
                "failed differently: exit %d: %s" % (rc, last_error(err)))


# --- mailcrypt writes the keys ---------------------------------------------------------------
def make_keys(kt, curve, genopts):
    """all private-key variants of one key type; returns
    ({variant: dict(priv, password, pub_pem, pub_native) or dict(error)}, rows)"""
    d = os.path.join(KWORK, kt)
    os.makedirs(d, exist_ok=True)
    log = os.path.join(d, "mailcrypt.log")
    pwfile = os.path.join(KWORK, "password")
    res, rows = {}, []
    ossl = os.path.join(d, "openssl.pem")
    rc, _o, err = run(["openssl", "genpkey"] + genopts + ["-out", ossl])
    if rc != 0:
        raise RuntimeError("openssl genpkey failed: " + err)
    for variant, how, fmt, pw in VARIANTS:
        vd = os.path.join(d, variant)
        os.makedirs(vd, exist_ok=True)
        ext = {"pem": "pem", "dovecot": "dovecot", "jwk": "jwk"}[fmt]
        priv = os.path.join(vd, "private." + ext)
        pub_native = os.path.join(vd, "public." + ext)
        if how == "generate":
            args = ["key", "generate", "--curve", curve, "--format", fmt, "-o", priv, "--public-out", pub_native]
            if pw:
                args += ["--password-file", pwfile]
        else:
            args = ["key", "convert", ossl, "--to", fmt, "-o", priv]
            if pw:
                args += ["--out-password-file", pwfile]
            pub_native = None
        rc, err = mc(args, log)
        probs = []
        if rc != 0 or not os.path.exists(priv):
            probs.append("mailcrypt %s failed: exit %d: %s" % (" ".join(args[:2]), rc, last_error(err)))
        else:
            with open(priv, "rb") as f:
                data = f.read()
            if fmt == "dovecot" and data.endswith(b"\n"):
                probs.append("the Dovecot key file ends in a newline (Dovecot refuses that)")
            if fmt == "dovecot" and not data.startswith(b"2:"):
                probs.append("the Dovecot key file does not start with '2:'")
            if fmt == "pem":
                want = b"-----BEGIN ENCRYPTED PRIVATE KEY-----" if pw else b"-----BEGIN PRIVATE KEY-----"
                if not data.startswith(want):
                    probs.append("PEM does not start with %s" % want.decode())
        pub_pem = os.path.join(vd, "public-spki.pem")
        if not probs:
            cargs = ["key", "convert", priv, "--to", "pem", "--public", "-o", pub_pem]
            if pw:
                cargs += ["--password-file", pwfile]
            rc, err = mc(cargs, log)
            if rc != 0:
                probs.append("mailcrypt key convert --public failed: exit %d: %s" % (rc, last_error(err)))
            elif kt != "rsa2048":
                rc, err = mc([a if a != pub_pem else pub_pem + ".c" for a in cargs]
                             + ["--point-form", "compressed"], log)
                if rc != 0:
                    probs.append("mailcrypt key convert --public --point-form compressed failed: exit %d: %s"
                                 % (rc, last_error(err)))
        if probs:
            res[variant] = dict(error="; ".join(probs))
            rows.append(cell("keys-write", "mailcrypt", "-", kt, variant, "-", "ok", "FAIL", "; ".join(probs)))
        else:
            res[variant] = dict(priv=priv, password=PASSWORD if pw else None, pwfile=pwfile if pw else None,
                                pub_pem=pub_pem, pub_native=pub_native)
            rows.append(cell("keys-write", "mailcrypt", "-", kt, variant, "-", "ok", "ok",
                             os.path.basename(priv)))
    return res, rows


# --- Dovecot with a global key file ------------------------------------------------------------
def fs_get(build, priv, password, infile):
    d = build.mktemp()
    try:
        i = build.inner(d)
        shutil.copy(priv, d + "/private.key")
        os.makedirs(d + "/store")
        shutil.copy(infile, d + "/store/data")
        conf = build.base_conf(d)
        if build.is24:
            conf += "crypt_global_private_key main {\n  crypt_private_key_file = %s/private.key\n" % i
            if password:
                conf += "  crypt_private_key_password = %s\n" % password
            conf += "}\nfs crypt {\n}\nfs posix {\n  fs_posix_prefix = %s/store/\n}\n" % i
            args = ["fs", "get", "", "data"]
        else:
            p = "private_key_path=%s/private.key" % i
            if password:
                p += ":password=%s" % password
            args = ["fs", "get", "crypt", "%s:posix:prefix=%s/store/" % (p, i), "data"]
        with open(d + "/dovecot.conf", "w") as f:
            f.write(conf)
        with open(d + "/out.bin", "wb") as o:
            rc, err = build.doveadm(d, args, stdout=o)
        with open(d + "/out.bin", "rb") as f:
            data = f.read()
        return rc, err, data
    finally:
        shutil.rmtree(d, ignore_errors=True)


def job_load(kt, variant, info, build, plain):
    """mailcrypt encrypts for the variant's public key and the build's target; the
    build decrypts with the mailcrypt-written private key file."""
    writer = "mailcrypt:" + variant
    if "error" in info:
        return [cell("keys-load", writer, build.label, kt, variant, SIZE, "ok", "FAIL",
                     "no key file: " + info["error"])]
    target = M.BUILD_TARGET[build.name].split(":", 1)[1]
    pub = info["pub_pem"]
    if upstream_compressed(kt, variant, build):
        pub += ".c"
    cont = os.path.join(os.path.dirname(info["priv"]), "container.%s.%s.bin" % (target, os.path.basename(pub)))
    log = os.path.join(os.path.dirname(info["priv"]), "encrypt-%s.log" % build.name)
    if not os.path.exists(cont):
        # builds sharing a target (new, old) may get here at once: one temp
        # file each, the atomic rename makes either result the container
        tmp = "%s.%s.tmp" % (cont, build.name)
        rc, err = mc(["encrypt", "-r", pub, "--target", target, "--cipher", ALGO,
                      "-o", tmp, M.PLAIN[SIZE]], log)
        if rc != 0:
            return [cell("keys-load", writer, build.label, kt, variant, SIZE, "ok", "FAIL",
                         "mailcrypt encrypt failed: exit %d: %s" % (rc, last_error(err)))]
        os.replace(tmp, cont)
    rc, err, data = fs_get(build, info["priv"], info["password"], cont)
    return [judge_bytes("keys-load", writer, build.label, kt, variant, SIZE, expect_load(kt, variant, build),
                        rc, err, data, plain)]


def job_encrypt(kt, pubvar, info, build, plain):
    """the build encrypts with a mailcrypt-written public key; mailcrypt decrypts."""
    reader = "mailcrypt"
    writer = build.label
    if "error" in info or not info.get("pub_native"):
        return [cell("keys-encrypt", writer, reader, kt, pubvar, SIZE, "ok", "FAIL",
                     "no public key file: " + info.get("error", "-"))]
    out = os.path.join(os.path.dirname(info["priv"]), "%s.%s.bin" % (pubvar, build.name))
    rc, err = build.fs_put(info["pub_native"], ALGO, M.PLAIN[SIZE], out)
    if rc != 0:
        return [cell("keys-encrypt", writer, reader, kt, pubvar, SIZE, "ok", "FAIL",
                     "%s could not encrypt with the key: exit %d: %s" % (build.label, rc, last_error(err)))]
    args = ["decrypt", "-k", info["priv"]]
    if info["pwfile"]:
        args += ["--password-file", info["pwfile"]]
    rc, data, err = run([MAILCRYPT] + args + [out])
    return [judge_bytes("keys-encrypt", writer, reader, kt, pubvar, SIZE, None, rc, err, data, plain)]


# --- per-user stores ---------------------------------------------------------------------------
def read_tsv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def attr_pairs(path):
    with open(path) as f:
        lines = f.read().split("\n")
    return lines


def job_store(env, build):
    src = os.path.join(VEC, env)
    fdir = os.path.join(KWORK, "store-" + env)
    os.makedirs(fdir, exist_ok=True)
    log = os.path.join(fdir, "mailcrypt.log")
    rows = []
    with open(os.path.join(src, "password")) as f:
        pw = f.read()
    pwfile = os.path.join(fdir, "password")
    with open(pwfile, "w") as f:
        f.write(pw)
    mails = read_tsv(os.path.join(src, "manifest.tsv"))
    plains = {}
    for m in mails:
        base = os.path.basename(m["maildir_file"]).split(":")[0]
        with open(os.path.join(src, m["plaintext"]), "rb") as f:
            plains[base] = (m["plaintext"].split("/")[-1].split(".")[0], f.read())
    store = M.UserStore(build, "prime256v1", 2, pw)
    try:
        home = store.d + "/home"
        md = home + "/Maildir"
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(md, sub))
        for m in mails:
            shutil.copy2(os.path.join(src, "Maildir", m["maildir_file"]), os.path.join(md, m["maildir_file"]))
        shutil.copy(os.path.join(src, "dovecot-attributes"), store.attributes)
        for dp, _dn, fn in os.walk(home):
            os.chown(dp, 65534, 65534)
            for n in fn:
                os.chown(os.path.join(dp, n), 65534, 65534)
        with open(store.d + "/dovecot.conf", "w") as f:
            f.write(store.conf)
        # the vectors keep no index files: give INBOX back the mailbox GUID its
        # attribute names carry (doveadm mailbox update --mailbox-guid)
        lines = attr_pairs(store.attributes)
        old_guid = lines[0].split("/")[1]
        rc, err = build.doveadm(store.d, ["mailbox", "update"] + store.extra() +
                                ["--mailbox-guid", old_guid, "INBOX"], user=True)
        if rc != 0:
            return [cell("keys-store", "dovecot-" + env, build.label, "user-p256", "setup", "-", "ok", "FAIL",
                         "doveadm mailbox update --mailbox-guid: exit %d: %s" % (rc, last_error(err)))]

        def read_pass(phase, writer, expect):
            out = []
            tmp = store.d + "/fetch.out"
            with open(tmp, "wb") as o:
                rc, err = build.doveadm(store.d, ["-f", "tab", "fetch"] + store.extra() +
                                        ["uid guid", "mailbox", "INBOX", "all"], user=True, stdout=o)
            with open(tmp, "rb") as f:
                listing = f.read().decode("utf-8", "replace").splitlines()[1:]
            uids = {}
            for line in listing:
                if line.strip():
                    u, g = line.split("\t")[:2]
                    uids[g] = u
            for base, (n, plain) in sorted(plains.items(), key=lambda x: x[1][0]):
                size = "mail" + n
                if base not in uids:
                    out.append(cell("keys-store", writer, build.label, "user-p256", phase, size,
                                    "ok" if expect is None else "fail: " + expect, "FAIL",
                                    "mail %s not listed by doveadm fetch: exit %d: %s" % (base, rc, last_error(err))))
                    continue
                with open(tmp, "wb") as o:
                    rc2, err2 = build.doveadm(store.d, ["-f", "pager", "fetch"] + store.extra() +
                                              ["text", "mailbox", "INBOX", "uid", uids[base]], user=True, stdout=o)
                with open(tmp, "rb") as f:
                    data = f.read()
                if rc2 == 0:
                    data = data[6:] if data.startswith(b"text:\n") else b"?" + data
                out.append(judge_bytes("keys-store", writer, build.label, "user-p256", phase, size, expect,
                                       rc2, err2, data, plain))
            return out

        rows += read_pass("as-stored", "dovecot-" + env, ERR_STORE_BEFORE.get(env))

        # mailcrypt rewrites the user and folder private key strings
        lines = attr_pairs(store.attributes)
        ui = fi = None
        for i in range(0, len(lines) - 1, 2):
            k = lines[i]
            if "/crypt/privkeys/" in k:
                if "/pvt/server/" in k:
                    ui = i + 1
                else:
                    fi = i + 1
        if ui is None or fi is None:
            raise RuntimeError("no user/folder private key in the attribute file")
        files = {}
        for name, idx in (("user.dovecot", ui), ("folder.dovecot", fi)):
            files[name] = os.path.join(fdir, name)
            with open(files[name], "w") as f:
                f.write(lines[idx])
        u_clear, u_new, u_pub, f_new = (os.path.join(fdir, n) for n in
                                        ("user.clear", "user.new", "user.pub.pem", "folder.new"))
        steps = [
            ["key", "convert", files["user.dovecot"], "--to", "dovecot", "--password-file", pwfile, "-o", u_clear],
            ["key", "convert", files["user.dovecot"], "--to", "dovecot", "--password-file", pwfile,
             "--out-password-file", pwfile, "-o", u_new],
            ["key", "convert", files["user.dovecot"], "--to", "pem", "--public", "--password-file", pwfile,
             "-o", u_pub],
            ["key", "convert", files["folder.dovecot"], "--to", "dovecot", "-k", u_clear, "--encrypt-to", u_pub,
             "-o", f_new],
        ]
        for a in steps:
            rc, err = mc(a, log)
            if rc != 0:
                rows.append(cell("keys-store", "mailcrypt", build.label, "user-p256", "rewritten", "-", "ok", "FAIL",
                                 "mailcrypt %s failed: exit %d: %s" % (" ".join(a[:3]), rc, last_error(err))))
                return rows
        with open(u_new) as f:
            new_u = f.read()
        with open(f_new) as f:
            new_f = f.read()
        if new_u == lines[ui] or new_f == lines[fi] or "\n" in new_u or "\n" in new_f:
            rows.append(cell("keys-store", "mailcrypt", build.label, "user-p256", "rewritten", "-", "ok", "FAIL",
                             "mailcrypt did not write new key strings"))
            return rows
        lines[ui], lines[fi] = new_u, new_f
        with open(store.attributes, "w") as f:
            f.write("\n".join(lines))
        shutil.copy(store.attributes, os.path.join(fdir, "dovecot-attributes.rewritten"))
        rows += read_pass("rewritten", "mailcrypt", None)
        return rows
    finally:
        store.close()


# --- output ------------------------------------------------------------------------------------
def render(rows, builds):
    lines = ["Key cells (issue 4): keys mailcrypt writes, used by the real builds "
             "(. ok  x expected-fail  F FAIL  - n/a)"]
    kts = [k[0] for k in KEYTYPES]
    for title, direction, cols, keyf in (
            ("mailcrypt writes the private key file -> the build decrypts with it (rows: variant)",
             "keys-load", [b.label for b in builds], lambda r: (r["mode"], r["key"], r["reader"])),
            ("the build encrypts with a mailcrypt-written public key -> mailcrypt decrypts (rows: variant)",
             "keys-encrypt", [b.label for b in builds], lambda r: (r["mode"], r["key"], r["writer"]))):
        sel = [r for r in rows if r["direction"] == direction]
        if not sel:
            continue
        lines += ["", title]
        grid = {keyf(r): M.MARK[r["status"]] for r in sel}
        modes = []
        for r in sel:
            if r["mode"] not in modes:
                modes.append(r["mode"])
        lines.append("  %-16s %s" % ("", "  ".join("%-*s" % (len(kts) + 5, M.short(c)) for c in cols)))
        for m in modes:
            lines.append("  %-16s %s" % (m, "  ".join("%-*s" % (len(kts) + 5, "".join(
                grid.get((m, k, c), "-") for k in kts)) for c in cols)))
        lines.append("  (one character per key type in each build's column: p256 p384 p521 rsa2048)")
    sel = [r for r in rows if r["direction"] == "keys-store"]
    if sel:
        lines += ["", "per-user stores of vectors/userkeys/<env>, read by build <env> "
                  "(as stored, then with the key strings rewritten by mailcrypt)"]
        for env in USERKEY_ENVS:
            for phase in ("as-stored", "rewritten"):
                s = [r for r in sel if r["reader"] == "dovecot-" + env and r["mode"] == phase]
                if s:
                    lines.append("  %-9s %-10s %s" % (env, phase, "".join(M.MARK[r["status"]] for r in s)))
    w = [r for r in rows if r["direction"] == "keys-write"]
    lines += ["", "mailcrypt wrote %d of %d key files" % (sum(r["status"] == "ok" for r in w), len(w))]
    return "\n".join(l.rstrip() for l in lines) + "\n"


def guarded(fn, *args):
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001 - reported as a cell
        name = "/".join(getattr(a, "label", str(a)) for a in args if isinstance(a, (str, M.Build)))
        return [cell("keys-harness", fn.__name__, "-", "-", "-", "-", "no error", "FAIL",
                     "harness error in %s(%s): %r" % (fn.__name__, name, e))]


def main():
    t0 = time.time()
    builds = [M.Build(n) for n in M.BUILDS]
    with open(M.PLAIN[SIZE], "rb") as f:
        plain = f.read()
    shutil.rmtree(KWORK, ignore_errors=True)
    os.makedirs(KWORK)
    with open(os.path.join(KWORK, "password"), "w") as f:
        f.write(PASSWORD + "\n")
    rows = []
    keys = {}
    with cf.ThreadPoolExecutor(max_workers=M.JOBS) as ex:
        for kt, (res, r) in zip([k[0] for k in KEYTYPES],
                                ex.map(lambda k: make_keys(*k), KEYTYPES)):
            keys[kt] = res
            rows += r
        futs = []
        for b in builds:
            if b.name in USERKEY_ENVS and os.path.isdir(os.path.join(VEC, b.name)):
                futs.append(ex.submit(guarded, job_store, b.name, b))
        # one thread per (key type, variant): the container is encrypted once per target
        for kt, *_ in KEYTYPES:
            for variant, *_ in VARIANTS:
                for b in builds:
                    futs.append(ex.submit(guarded, job_load, kt, variant, keys[kt][variant], b, plain))
            for pubvar, variant in PUB_VARIANTS:
                for b in builds:
                    futs.append(ex.submit(guarded, job_encrypt, kt, pubvar, keys[kt][variant], b, plain))
        for f in futs:
            rows.extend(f.result())
    order = {"keys-write": 0, "keys-load": 1, "keys-encrypt": 2, "keys-store": 3, "keys-harness": 4}
    kto = {k[0]: i for i, k in enumerate(KEYTYPES)}
    vo = {v[0]: i for i, v in enumerate(VARIANTS)}
    vo.update({p[0]: i for i, p in enumerate(PUB_VARIANTS)})
    rows.sort(key=lambda r: (order[r["direction"]], vo.get(r["mode"], 99), r["writer"], r["reader"],
                             kto.get(r["key"], 99), r["size"]))
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "keys.tsv"), "w") as f:
        f.write("\t".join(M.COLS) + "\n")
        for r in rows:
            f.write("\t".join(str(r[c]).replace("\t", " ").replace("\n", " ") for c in M.COLS) + "\n")
    text = render(rows, builds)
    counts = {s: sum(1 for r in rows if r["status"] == s) for s in ("ok", "expected-fail", "FAIL", "skipped")}
    bad = [r for r in rows if r["status"] == "FAIL"]
    xf = sorted({(r["direction"], r["reader"] if r["direction"] != "keys-encrypt" else r["writer"],
                  r["mode"], r["detail"]) for r in rows if r["status"] == "expected-fail"})
    if xf:
        text += "\nEXPECTED FAILURES (the real error each build printed):\n"
        seen = set()
        for d, b, mo, det in xf:
            if (d, b, mo) in seen:
                continue
            seen.add((d, b, mo))
            text += "  %s %s %s: %s\n" % (d, M.short(b), mo, det)
    if bad:
        text += "\nUNEXPECTED CELLS (%d):\n" % len(bad)
        for r in bad:
            text += "  FAIL %s: expected %s; %s\n" % (r["cell"], r["expected"], r["detail"])
    text += "\nkey cells: %d: %d ok, %d expected-fail, %d FAIL, %d skipped (%.0f s)\n" % (
        len(rows), counts["ok"], counts["expected-fail"], counts["FAIL"], counts["skipped"], time.time() - t0)
    with open(os.path.join(OUT, "keys.txt"), "w") as f:
        f.write(text)
    sys.stdout.write("\n" + text)
    sys.stdout.flush()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
