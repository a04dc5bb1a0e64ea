#!/usr/bin/env python3
"""verify.py STORE... (needs python3-cryptography)
Independent check of a per-user store: password -> user key -> folder key -> mails.
Accepts a stored key whose last field matches either the compressed- or uncompressed-SPKI id."""
import sys, os, hashlib, csv
from cryptography.hazmat.primitives.asymmetric import ec, x25519, x448
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives import serialization, hashes, padding
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

def pbkdf2(secret, salt, rounds, n):
    return PBKDF2HMAC(hashes.SHA256(), n, salt, rounds).derive(secret)
def ctr(key, iv, data):
    d = Cipher(algorithms.AES(key), modes.CTR(iv)).decryptor(); return d.update(data) + d.finalize()
CURVES = {"1.2.840.10045.3.1.7": ec.SECP256R1(), "1.3.132.0.34": ec.SECP384R1(), "1.3.132.0.35": ec.SECP521R1()}
def make_priv(algo, raw):
    if algo == "1.3.101.110": return x25519.X25519PrivateKey.from_private_bytes(raw)
    if algo == "1.3.101.111": return x448.X448PrivateKey.from_private_bytes(raw)
    L = int.from_bytes(raw[:4], "big"); assert L == len(raw) - 4, "MPI length"
    return ec.derive_private_key(int.from_bytes(raw[4:], "big"), CURVES[algo])
def ids(priv):
    """new ids (compressed and uncompressed SPKI) and, for EC, "old:" + v1 old id"""
    pub = priv.public_key()
    der = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if not isinstance(pub, ec.EllipticCurvePublicKey):
        return {hashlib.sha256(der).hexdigest()}
    out = set()
    for fmt in (serialization.PublicFormat.CompressedPoint, serialization.PublicFormat.UncompressedPoint):
        pt = pub.public_bytes(serialization.Encoding.X962, fmt)
        out.add(hashlib.sha256(spki(der, pt)).hexdigest())
    comp = pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    out.add("old:" + hashlib.sha256(comp.hex().upper().encode()).hexdigest())
    return out
def der_len(n):
    return bytes([n]) if n < 128 else bytes([0x81, n]) if n < 256 else bytes([0x82, n >> 8, n & 255])
def spki(orig_der, pt):
    # orig_der = SEQ { SEQ algid, BITSTRING }: keep algid, replace the point
    i = 2 if orig_der[1] < 128 else 2 + (orig_der[1] & 0x7f)
    alen = orig_der[i + 1]; algid = orig_der[i:i + 2 + alen]
    bs = b"\x03" + der_len(len(pt) + 1) + b"\x00" + pt
    body = algid + bs
    return b"\x30" + der_len(len(body)) + body
def exchange(priv, peer_bytes):
    if isinstance(priv, x25519.X25519PrivateKey): return priv.exchange(x25519.X25519PublicKey.from_public_bytes(peer_bytes))
    if isinstance(priv, x448.X448PrivateKey): return priv.exchange(x448.X448PublicKey.from_public_bytes(peer_bytes))
    return priv.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(priv.curve, peer_bytes))

def main(store):
    pw = open(os.path.join(store, "password"), "rb").read()
    attrs = open(os.path.join(store, "dovecot-attributes")).read().split("\n")
    kv = dict(zip(attrs[0::2], attrs[1::2]))
    U = "vendor/vendor.dovecot/pvt/server/vendor/vendor.dovecot/pvt/crypt/privkeys/"
    B = "vendor/vendor.dovecot/pvt/crypt/privkeys/"
    keys = {}   # id -> private key object
    notes = []
    for name, val in kv.items():  # user keys first
        if U in name:
            f = val.split(":"); assert f[0] == "2" and f[2] == "2", val
            algo, cipher, salt, h, rounds, enc, kid = f[1], f[3], bytes.fromhex(f[4]), f[5], int(f[6]), bytes.fromhex(f[7]), f[8]
            assert cipher == "aes-256-ctr" and h == "sha256"
            t = pbkdf2(pw, salt, rounds, 48)
            priv = make_priv(algo, ctr(t[:32], t[32:], enc))
            got = ids(priv); attr_id = name.rsplit("/", 1)[1]
            assert kid in {i.replace("old:", "") for i in got} and attr_id in got, (kid, attr_id, got)
            if kid != attr_id: notes.append(f"user key stored under {attr_id[:8]} but last field {kid[:8]}")
            for i in got: keys[i.replace("old:", "")] = priv
    for name, val in kv.items():
        if B in name and U not in name:
            f = val.split(":"); assert f[0] == "2" and f[2] == "1", val
            algo, salt, rounds, enc, peer, enckid, kid = f[1], bytes.fromhex(f[4]), int(f[6]), bytes.fromhex(f[7]), bytes.fromhex(f[8]), f[9], f[10]
            upriv = keys[enckid]
            t = pbkdf2(exchange(upriv, peer), salt, rounds, 48)
            priv = make_priv(algo, ctr(t[:32], t[32:], enc))
            got = ids(priv); attr_id = name.rsplit("/", 1)[1]
            assert kid in {i.replace("old:", "") for i in got} and attr_id in got, (kid, attr_id, got)
            if kid != attr_id: notes.append(f"folder key stored under {attr_id[:8]} but last field {kid[:8]}")
            for i in got: keys[i.replace("old:", "")] = priv
    ok = 0
    rows = list(csv.DictReader(open(os.path.join(store, "manifest.tsv")), delimiter="\t"))
    for r in rows:
        data = open(os.path.join(store, "Maildir", r["maildir_file"]), "rb").read()
        assert data[:9] == b"CRYPTED\x03\x07"
        if data[9] == 1:
            kd = int.from_bytes(data[10:12], "big"); p = 12; fl = []
            for _ in range(4):
                n = int.from_bytes(data[p:p + 2], "big"); fl.append(data[p + 2:p + 2 + n]); p += 2 + n
            priv = keys[fl[1].hex()]
            seed = ctr(hashlib.sha256(exchange(priv, fl[0])).digest(), bytes(16), fl[3])
            assert hashlib.sha256(seed).digest() == fl[2]
            pt = ctr(seed, bytes(16), data[12 + kd:])
        else:
            flags = int.from_bytes(data[10:14], "big"); hl = int.from_bytes(data[14:18], "big")
            p = 18; p += 2 + data[p + 1]; p += 2 + data[p + 1]
            rounds = int.from_bytes(data[p:p + 4], "big"); p += 8
            assert data[p] == 1; p += 1
            kid = data[p + 1:p + 33].hex(); p += 33
            n = int.from_bytes(data[p:p + 4], "big"); R = data[p + 4:p + 4 + n]; p += 4 + n
            n = int.from_bytes(data[p:p + 4], "big"); ek = data[p + 4:p + 4 + n]; p += 4 + n
            priv = keys[kid]
            t = pbkdf2(exchange(priv, R), R, rounds, 48)
            d = Cipher(algorithms.AES(t[:32]), modes.CBC(t[32:])).decryptor(); blob = d.update(ek) + d.finalize()
            u = padding.PKCS7(128).unpadder(); blob = u.update(blob) + u.finalize()
            assert flags == 2 and len(blob) == 60
            h = hashlib.sha256(blob).digest()
            for i in range(1, 2049): h = hashlib.sha256(h + i.to_bytes(4, "big")).digest()
            n = int.from_bytes(data[p:p + 4], "big"); assert data[p + 4:p + 4 + n] == h
            pt = AESGCM(blob[:32]).decrypt(blob[32:44], data[hl:], blob[44:60])
        assert hashlib.sha256(pt).hexdigest() == r["plaintext_sha256"], r["maildir_file"]
        ok += 1
    print(f"{os.path.basename(store)}: {ok}/{len(rows)} mails decrypted independently; {'; '.join(notes) or 'ids consistent'}")
for s in sys.argv[1:]:
    try: main(s)
    except Exception as e: print(f"{os.path.basename(s)}: FAILED {type(e).__name__}: {e}")
