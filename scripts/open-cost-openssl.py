#!/usr/bin/env python3
"""Per-mail open cost with OpenSSL (through Python `cryptography`): the
same operations mailcrypt does to open a v2 header — ECDH (or RSA-OAEP),
PBKDF2-HMAC-SHA256 2048 rounds to 48 bytes, AES-256-CBC unwrap, and the
2048-step SHA-256 key-check chain — timed in-process (no start-up cost).
Prints `<key> <seconds per open>`."""
import hashlib, os, sys, time
from cryptography.hazmat.primitives import hashes, padding as sympad
from cryptography.hazmat.primitives.asymmetric import ec, rsa, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
blob = os.urandom(60)

def keycheck(b):
    h = hashlib.sha256(b).digest()
    for i in range(1, 2049):
        h = hashlib.sha256(h + i.to_bytes(4, "big")).digest()
    return h

def cbc_unwrap(k, iv, ct):
    d = Cipher(algorithms.AES(k), modes.CBC(iv)).decryptor()
    u = sympad.PKCS7(128).unpadder()
    return u.update(d.update(ct) + d.finalize()) + u.finalize()

def cbc_wrap(k, iv, pt):
    p = sympad.PKCS7(128).padder()
    e = Cipher(algorithms.AES(k), modes.CBC(iv)).encryptor()
    return e.update(p.update(pt) + p.finalize()) + e.finalize()

for name, curve in [("p256", ec.SECP256R1()), ("p384", ec.SECP384R1()), ("p521", ec.SECP521R1())]:
    priv = ec.generate_private_key(curve)
    eph = ec.generate_private_key(curve)
    from cryptography.hazmat.primitives import serialization
    R = eph.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    S = eph.exchange(ec.ECDH(), priv.public_key())
    t = PBKDF2HMAC(hashes.SHA256(), 48, R, 2048).derive(S)
    ek = cbc_wrap(t[:32], t[32:], blob)
    kc = keycheck(blob)
    start = time.perf_counter()
    for _ in range(n):
        peer = ec.EllipticCurvePublicKey.from_encoded_point(curve, R)
        s = priv.exchange(ec.ECDH(), peer)
        t = PBKDF2HMAC(hashes.SHA256(), 48, R, 2048).derive(s)
        b = cbc_unwrap(t[:32], t[32:], ek)
        assert keycheck(b) == kc
    print(name, (time.perf_counter() - start) / n)

priv = rsa.generate_private_key(65537, 2048)
oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
ek = priv.public_key().encrypt(blob, oaep)
kc = keycheck(blob)
start = time.perf_counter()
for _ in range(n):
    b = priv.decrypt(ek, oaep)
    assert keycheck(b) == kc
print("rsa2048", (time.perf_counter() - start) / n)
