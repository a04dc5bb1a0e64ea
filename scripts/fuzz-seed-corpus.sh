#!/usr/bin/env bash
# Build the seed corpora of the fuzz targets from vectors/ into
# fuzz/corpus/<target>/ (git-ignored), and add the inputs earlier runs found
# and kept in fuzz/grown/<target>/ (scripts/fuzz-keep-corpus.sh). Safe to
# re-run: seeds are named by the SHA-1 of their content, as libFuzzer names
# the inputs it adds, so nothing is duplicated and inputs the fuzzer found
# are kept.
#
#   FUZZ_CORPUS_DIR=DIR  write the corpora under DIR instead of fuzz/corpus
#   FUZZ_SEEDS_ONLY=1    the seeds alone, without fuzz/grown/
#
# Needs python3. With the openssl command-line tool it also derives DER,
# PKCS#1, SEC1, base64 and Dovecot key-string forms of the vector keys
# (the library itself never uses OpenSSL).
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 - "$@" <<'PY'
import base64, hashlib, json, os, pathlib, shutil, subprocess, sys

ROOT = pathlib.Path(".")
CORPUS = pathlib.Path(os.environ.get("FUZZ_CORPUS_DIR") or ROOT / "fuzz" / "corpus")
V = ROOT / "vectors"
MAGIC = b"CRYPTED\x03\x07"
counts = {}

def add(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    p = d / hashlib.sha1(data).hexdigest()
    if not p.exists():
        p.write_bytes(data)
        counts[target] = counts.get(target, 0) + 1

def files():
    for p in sorted(V.rglob("*")):
        if p.is_file():
            yield p

have_openssl = shutil.which("openssl") is not None

def ossl(*args, stdin=None):
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True, check=True).stdout

# --- containers: header and decrypt -------------------------------------
for p in files():
    data = p.read_bytes()
    if data.startswith(MAGIC) or p.parent.name == "testkit" and p.suffix == ".bin":
        add("header", data[:4096])
        if len(data) <= 96 * 1024:
            add("decrypt", data)
    elif p.suffix == ".asc":
        try:
            raw = base64.b64decode(b"".join(data.split()))
            if raw.startswith(MAGIC):
                add("header", raw[:4096])
                add("decrypt", raw)
        except Exception:
            pass
add("decrypt", b"")
add("header", MAGIC + b"\x02")

# --- key files: PEM, DER, base64 ------------------------------------------
pems = [p for p in files() if p.suffix == ".pem"]
for p in pems:
    data = p.read_bytes()
    add("key_pem_der", data)
    add("key_pem_der", base64.b64encode(data))  # Dovecot's one-line form
    lines = [l for l in data.decode(errors="replace").splitlines() if l and not l.startswith("-----")]
    try:
        der = base64.b64decode("".join(lines))
        add("key_pem_der", der)
        add("key_pem_der", base64.b64encode(der))
    except Exception:
        pass

if have_openssl:
    for p in pems:
        if "private" not in p.name and "key.pem" not in p.name:
            continue
        try:
            for pw in (b"This Is Sparta", b"Tr0ub4dor&3-mailcrypt"):
                add("key_pem_der", ossl("pkcs8", "-topk8", "-in", str(p), "-v2", "aes-256-cbc",
                                        "-iter", "1000", "-passout", "pass:" + pw.decode()))
            add("key_pem_der", ossl("pkcs8", "-topk8", "-in", str(p), "-v2", "aes-128-cbc",
                                    "-scrypt", "-scrypt_N", "1024", "-passout", "pass:This Is Sparta"))
        except subprocess.CalledProcessError:
            pass
        for cmd in (["ec", "-in", str(p)], ["ec", "-in", str(p), "-conv_form", "compressed"],
                    ["rsa", "-in", str(p), "-traditional"], ["ec", "-in", str(p), "-outform", "DER"],
                    ["rsa", "-in", str(p), "-traditional", "-outform", "DER"],
                    ["pkey", "-in", str(p), "-pubout"], ["pkey", "-in", str(p), "-pubout", "-outform", "DER"],
                    ["rsa", "-in", str(p), "-RSAPublicKey_out"]):
            try:
                add("key_pem_der", ossl(*cmd))
            except subprocess.CalledProcessError:
                pass

# --- Dovecot key strings ------------------------------------------------
for p in files():
    if p.suffix == ".dovecot":
        add("dovecot_key", p.read_bytes())
text = (V / "dovecot" / "invalid-key-strings.txt").read_text()
for line in text.splitlines():
    if line.startswith("key: "):
        add("dovecot_key", line[5:])
attr_files = [p for p in files() if p.name == "dovecot-attributes"]
for p in attr_files:
    lines = p.read_bytes().split(b"\n")
    for v in lines[1::2]:
        if v[:2] in (b"1\t", b"2:"):
            add("dovecot_key", v)

def mpi(b):
    b = b.lstrip(b"\0")
    if b and b[0] & 0x80:
        b = b"\0" + b
    return len(b).to_bytes(4, "big") + b

# Key encryption for Dovecot v2 key strings. AES-CTR, the only cipher the
# real builds write, works with either python's `cryptography` or the
# openssl tool; the AEAD key ciphers need `cryptography`.
try:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
    have_cryptography = True
except ImportError:
    have_cryptography = False
KEY_CIPHERS = {"aes-128-ctr": (16, 16), "aes-192-ctr": (24, 16), "aes-256-ctr": (32, 16),
               "aes-128-gcm": (16, 12), "aes-256-gcm": (32, 12), "chacha20-poly1305": (32, 12)}
KEY_HASHES = ["sha1", "sha224", "sha256", "sha384", "sha512", "md5"]

def key_encrypt(cipher, key, iv, data):
    if cipher.endswith("ctr"):
        if have_cryptography:
            e = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
            return e.update(data) + e.finalize()
        return ossl("enc", f"-aes-{8 * len(key)}-ctr", "-K", key.hex(), "-iv", iv.hex(),
                    "-nosalt", stdin=data)
    if cipher.endswith("gcm"):
        return AESGCM(key).encrypt(iv, data, None)
    return ChaCha20Poly1305(key).encrypt(iv, data, None)

def password_key(password, oid, cipher, salt_hex, hash_name, rounds, payload, kid):
    """A v2 key string protecting `payload` with `password`, as Dovecot does:
    PBKDF2 -> key || IV -> cipher (AEAD tag appended)."""
    kl, il = KEY_CIPHERS[cipher]
    kd = hashlib.pbkdf2_hmac(hash_name, password, bytes.fromhex(salt_hex), rounds, kl + il)
    ct = key_encrypt(cipher, kd[:kl], kd[kl:], payload)
    return f"2:{oid}:2:{cipher}:{salt_hex}:{hash_name}:{rounds}:{ct.hex()}:{kid}".encode()

# (curve OID, private payload, id) of every fixture key, for the
# attribute seeds below.
fixture_payloads = []
if have_openssl:
    # v2 strings for the vector keys: public, private in clear, and under
    # the first vector password, for EC and RSA.
    for p in [V / "dovecot/sample-v2.key.pem", V / "dovecot/rsa1024-private-pkcs8.pem",
              *sorted((V / "oracle/keys").glob("*/private.pem"))]:
        try:
            is_rsa = b"\nmodulus:" in ossl("pkey", "-in", str(p), "-noout", "-text")[:80]
            if is_rsa:
                spki = ossl("pkey", "-in", str(p), "-pubout", "-outform", "DER")
                payload = ossl("rsa", "-in", str(p), "-traditional", "-outform", "DER")
                oid = "1.2.840.113549.1.1.1"
            else:
                spki = ossl("ec", "-in", str(p), "-pubout", "-conv_form", "compressed", "-outform", "DER")
                sec1 = ossl("ec", "-in", str(p), "-outform", "DER")
                # SEC1: 30 len 02 01 01 04 L <scalar> ...
                i = 2 if sec1[1] < 0x80 else 2 + (sec1[1] & 0x7f)
                i += 3
                n = sec1[i + 1]
                payload = mpi(sec1[i + 2:i + 2 + n])
                curve = ossl("ec", "-in", str(p), "-noout", "-text").decode()
                oid = {"prime256v1": "1.2.840.10045.3.1.7", "secp384r1": "1.3.132.0.34",
                       "secp521r1": "1.3.132.0.35"}[next(w for w in ("prime256v1", "secp384r1", "secp521r1") if w in curve)]
            kid = hashlib.sha256(spki).hexdigest()
            fixture_payloads.append((oid, payload, kid))
            add("dovecot_key", f"2:{spki.hex()}:{kid}")
            add("dovecot_key", f"2:{oid}:0:{payload.hex()}:{kid}")
            salt = hashlib.sha256(p.read_bytes()).digest()[:16]
            add("dovecot_key", password_key(b"This Is Sparta", oid, "aes-256-ctr", salt.hex(),
                                            "sha256", 2048, payload, kid))
        except (subprocess.CalledProcessError, StopIteration, IndexError, KeyError):
            pass

# --- JWK ---------------------------------------------------------------
for p in files():
    if p.suffix == ".json" and p.name.startswith("jwk"):
        add("jwk", p.read_bytes())
for line in text.splitlines():
    if line.startswith("key: {"):
        add("jwk", line[5:])

# --- attribute files ---------------------------------------------------
for p in attr_files:
    add("attributes", p.read_bytes())
add("attributes", b"")
# The real builds only protect keys with aes-256-ctr and sha256. The
# library also reads the other key ciphers and PBKDF2 hashes, so the
# user keys of the vector attribute files are re-encrypted here under
# each of them (password = the fuzz target's, PASSWORDS[1]). Needs the
# `cryptography` module; without it this section is skipped.
PASSWORD = b"Tr0ub4dor&3-mailcrypt"

def open_password_key(value):
    """(oid, salt hex, id, payload) of a password-protected
    `2:<oid>:2:aes-256-ctr:<salt>:sha256:<rounds>:<enc>:<id>` string that
    PASSWORD opens; None for anything else."""
    f = value.decode(errors="replace").split(":")
    if len(f) != 9 or f[2] != "2" or f[3] != "aes-256-ctr" or f[5] != "sha256":
        return None
    kd = hashlib.pbkdf2_hmac("sha256", PASSWORD, bytes.fromhex(f[4]), int(f[6]), 48)
    payload = key_encrypt("aes-256-ctr", kd[:32], kd[32:], bytes.fromhex(f[7]))
    if int.from_bytes(payload[:4], "big") != len(payload) - 4:
        return None  # not this password
    return f[1], f[4], f[8], payload

if have_cryptography:
    fixtures_done = False
    for n, p in enumerate(attr_files):
        lines = p.read_bytes().split(b"\n")
        for i in range(1, len(lines), 2):
            opened = open_password_key(lines[i])
            if opened is None:
                continue
            oid, salt_hex, kid, payload = opened
            def with_value(v):
                return b"\n".join(lines[:i] + [v] + lines[i + 1:])
            # Every cipher x hash for the first file, one each for the rest;
            # 2048 rounds now and then, few otherwise to keep the target fast.
            for c, cipher in enumerate(KEY_CIPHERS):
                for h, hash_name in enumerate(KEY_HASHES):
                    k = c * len(KEY_HASHES) + h
                    if n == 0 or k % len(attr_files) == n:
                        rounds = 2048 if (c + h) % 5 == 0 else 3
                        v = password_key(PASSWORD, oid, cipher, salt_hex, hash_name, rounds, payload, kid)
                        add("attributes", with_value(v))
                        add("dovecot_key", v)
            # The vector files only hold P-256 user keys: the first slot
            # found also gets every fixture key (P-384, P-521, RSA: other
            # curves, longer payloads) under each key cipher. Its id then
            # differs from the file's public key, which the loader must take.
            if not fixtures_done:
                fixtures_done = True
                for f_oid, f_payload, f_kid in fixture_payloads:
                    for cipher in KEY_CIPHERS:
                        v = password_key(PASSWORD, f_oid, cipher, salt_hex, "sha256", 3, f_payload, f_kid)
                        add("attributes", with_value(v))
# dbox: the sdbox/mdbox files the real builds wrote, whole and cut short.
for p in files():
    if p.parent.name in ("dbox-Mails", "storage") and (p.name.startswith("u.") or p.name.startswith("m.")):
        data = p.read_bytes()
        add("dbox", data)
        add("dbox", data[: len(data) // 2])
add("attributes", b"k\x01t1\nv\x01n2\n")

# --- roundtrip: arbitrary-decoded options, any bytes will do ---------------
for n in (0, 1, 15, 16, 17, 64, 255, 1024):
    add("roundtrip", bytes((i * 37 + n) % 256 for i in range(n + 40)))

# --- compress: the compressed payloads real Dovecot builds wrote --------
# (fuzz/seeds/compress/: decrypted with `mailcrypt decrypt --raw` from
# vectors/stores/compressed), plus streams made here and the bare magics.
import bz2, gzip, lzma
for p in sorted((ROOT / "fuzz" / "seeds" / "compress").iterdir()):
    add("compress", p.read_bytes())
mail = b"From: a@example.org\r\nSubject: hi\r\n\r\n" + b"body line\r\n" * 200
add("compress", mail)
add("compress", gzip.compress(mail, mtime=0))
add("compress", bz2.compress(mail))
add("compress", lzma.compress(mail, format=lzma.FORMAT_XZ))
for magic in (b"\x1f\x8b", b"BZh9", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd",
              b"Dovecot-LZ4\x0d\x2a\x9b\xc5"):
    add("compress", magic)

# --- body: arbitrary-decoded (cipher, key, lengths, splits, tampering) ---
for n in (0, 1, 16, 64, 130, 520, 1100, 4200):
    for alg in range(4):
        add("body", bytes([alg]) + bytes((i * 131 + n + alg) % 256 for i in range(n + 80)))

# --- decrypt_cached: [session, mode] + data -------------------------------
# Session order = CONTAINERS in fuzz/fuzz_targets/decrypt_cached.rs; the
# files go in whole (the target skips the header), mode 0 = ciphertext
# with every read size; mode 1 = plaintext to encrypt, compressed payloads.
C = V / "ciphers" / "enc" / "v24"
cached = [C / "33b.aes-256-gcm-sha512.bin", C / "33b.chacha20-poly1305-sha512.bin",
          C / "33b.aes-256-cbc-sha384.bin", C / "33b.aes-128-gcm-sha256.bin",
          V / "oracle" / "enc" / "upstream" / "p256" / "33b.v1.bin",
          V / "x25519" / "enc" / "v24" / "x25519" / "33b.v2-hmac.bin",
          C / "33b.aria-256-gcm-sha256.bin", C / "33b.des-ede3-cbc-sha256.bin",
          C / "33b.aes-256-ofb-sha256.bin", C / "33b.aria-128-ctr-sha256.bin"]
payloads = [p.read_bytes() for p in sorted((ROOT / "fuzz" / "seeds" / "compress").iterdir())]
payloads.append(gzip.compress(mail, mtime=0))
for i, path in enumerate(cached):
    data = path.read_bytes()
    for mode in (0, 4, 8):
        add("decrypt_cached", bytes([i, mode]) + data)
    for j, pl in enumerate(payloads):
        if j % len(cached) == i or i < 3:
            add("decrypt_cached", bytes([i, 1 + 2 * (j % 6)]) + pl)

# --- grown: what earlier runs found, minimized and kept in the repository -
# (corpora do not outlive a machine; scripts/fuzz-keep-corpus.sh writes these)
GROWN = ROOT / "fuzz" / "grown"
if os.environ.get("FUZZ_SEEDS_ONLY") != "1" and GROWN.is_dir():
    for d in sorted(GROWN.iterdir()):
        if d.is_dir():
            for p in sorted(d.iterdir()):
                add(d.name, p.read_bytes())

for t in sorted(os.listdir(CORPUS)):
    print(f"{t}: {len(os.listdir(CORPUS / t))} seeds ({counts.get(t, 0)} new)")
PY
