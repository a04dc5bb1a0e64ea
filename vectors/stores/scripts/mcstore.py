#!/usr/bin/env python3
"""mcstore.py - independent (non-Dovecot) decryptor/decompressor for the sample stores.

Needs python3 + the `cryptography` package; zstd payloads are decoded with the `zstd`
command line tool (no Python module needed); Dovecot's LZ4 framing is decoded by the
pure-Python LZ4 block decoder below.

  mcstore.py info PRIV.pem FILE          -> JSON: container + payload facts
  mcstore.py decrypt PRIV.pem FILE       -> decrypted payload (may still be compressed) on stdout
  mcstore.py plain PRIV.pem FILE         -> decrypted and decompressed message on stdout
  mcstore.py verify STOREDIR...          -> check every manifest.tsv row of each store dir
                                            (plaintext sha256 after decrypt + decompress)

Only what the stores need: v2 containers, EC (P-256) recipients, AEAD (aes-256-gcm) or
HMAC (aes-256-cbc + sha256); plain (unencrypted) files pass through.
"""
import sys, os, json, hashlib, csv, zlib, bz2, lzma, subprocess
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives import serialization, hashes, padding, hmac
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

MAGIC = b"CRYPTED\x03\x07"
LZ4_MAGIC = b"Dovecot-LZ4\x0d\x2a\x9b\xc5"


def load_priv(path):
    return serialization.load_pem_private_key(open(path, "rb").read(), None)


def parse_v2(data):
    flags = int.from_bytes(data[10:14], "big")
    hl = int.from_bytes(data[14:18], "big")
    p = 18
    cipher_oid = data[p:p + 2 + data[p + 1]]; p += 2 + data[p + 1]
    mac_oid = data[p:p + 2 + data[p + 1]]; p += 2 + data[p + 1]
    rounds = int.from_bytes(data[p:p + 4], "big"); p += 8
    assert data[p] == 1, "one recipient expected"; p += 1
    ktype = data[p]; kid = data[p + 1:p + 33]; p += 33
    n = int.from_bytes(data[p:p + 4], "big"); eph = data[p + 4:p + 4 + n]; p += 4 + n
    n = int.from_bytes(data[p:p + 4], "big"); ek = data[p + 4:p + 4 + n]; p += 4 + n
    n = int.from_bytes(data[p:p + 4], "big"); khash = data[p + 4:p + 4 + n]
    return dict(flags=flags, hl=hl, cipher_oid=cipher_oid.hex(), mac_oid=mac_oid.hex(), rounds=rounds,
                ktype=ktype, kid=kid, eph=eph, ek=ek, khash=khash)


def decrypt(data, priv):
    """returns the decrypted payload; raises on any error (wrong key, bad tag)"""
    if data[:9] != MAGIC:
        return data  # not encrypted: Dovecot's mail_crypt passes such files through
    assert data[9] == 2, "only v2 containers here"
    h = parse_v2(data)
    S = priv.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(priv.curve, h["eph"]))
    t = PBKDF2HMAC(hashes.SHA256(), 48, h["eph"], h["rounds"]).derive(S)
    d = Cipher(algorithms.AES(t[:32]), modes.CBC(t[32:])).decryptor()
    blob = d.update(h["ek"]) + d.finalize()
    u = padding.PKCS7(128).unpadder(); blob = u.update(blob) + u.finalize()
    hh = hashlib.sha256(blob).digest()
    for i in range(1, h["rounds"] + 1):
        hh = hashlib.sha256(hh + i.to_bytes(4, "big")).digest()
    assert hh == h["khash"], "key hash mismatch"
    body = data[h["hl"]:]
    if h["flags"] & 2:  # AEAD: key 32 + iv 12 + aad 16 -- aes-256-gcm
        assert len(blob) == 60
        return AESGCM(blob[:32]).decrypt(blob[32:44], body, blob[44:60])
    # HMAC: key 32 + iv 16 + hmac key 32 (aes-256-cbc + sha256)
    assert len(blob) == 80
    ct, tag = body[:-32], body[-32:]
    m = hmac.HMAC(blob[48:80], hashes.SHA256()); m.update(ct); m.verify(tag)
    d = Cipher(algorithms.AES(blob[:32]), modes.CBC(blob[32:48])).decryptor()
    pt = d.update(ct) + d.finalize()
    u = padding.PKCS7(128).unpadder()
    return u.update(pt) + u.finalize()


def detect(payload):
    """compression detection by magic, as Dovecot's compression plugin does on read"""
    if payload[:2] == b"\x1f\x8b":
        return "gz"
    if payload[:2] == b"BZ" and payload[2:3] in (b"h", b"0") and b"1" <= payload[3:4] <= b"9" \
            and payload[4:10] == b"\x31\x41\x59\x26\x53\x59":
        return "bz2"
    if payload[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if payload[:15] == LZ4_MAGIC:
        return "lz4"
    if payload[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    return "none"


def lz4_block(src, max_out):
    """decode one raw LZ4 block (no frame)"""
    out = bytearray(); i = 0; n = len(src)
    while i < n:
        tok = src[i]; i += 1
        lit = tok >> 4
        if lit == 15:
            while True:
                b = src[i]; i += 1; lit += b
                if b != 255: break
        out += src[i:i + lit]; i += lit
        if i >= n:
            break  # last sequence has literals only
        off = src[i] | (src[i + 1] << 8); i += 2
        assert off > 0 and off <= len(out), "bad lz4 offset"
        ml = tok & 15
        if ml == 15:
            while True:
                b = src[i]; i += 1; ml += b
                if b != 255: break
        ml += 4
        start = len(out) - off
        for k in range(ml):  # byte-wise: overlapping copies are allowed
            out.append(out[start + k])
        assert len(out) <= max_out, "lz4 chunk larger than announced"
    return bytes(out)


def dovecot_lz4(payload):
    """Dovecot's own LZ4 framing: 15-byte magic, BE32 max uncompressed chunk size,
    then chunks of (BE32 compressed length, raw LZ4 block) until EOF"""
    assert payload[:15] == LZ4_MAGIC
    maxc = int.from_bytes(payload[15:19], "big")
    p = 19; out = bytearray(); chunks = []
    while p < len(payload):
        n = int.from_bytes(payload[p:p + 4], "big"); p += 4
        assert 0 < n <= 1024 * 1024 and p + n <= len(payload), "bad chunk length"
        blk = lz4_block(payload[p:p + n], maxc); p += n
        chunks.append((n, len(blk))); out += blk
    return bytes(out), maxc, chunks


def decompress(payload, method):
    if method == "none":
        return payload
    if method == "gz":
        return zlib.decompress(payload, 16 + zlib.MAX_WBITS)
    if method == "deflate":
        return zlib.decompress(payload, -zlib.MAX_WBITS)
    if method == "bz2":
        return bz2.decompress(payload)
    if method == "xz":
        return lzma.decompress(payload)
    if method == "lz4":
        return dovecot_lz4(payload)[0]
    if method == "zstd":
        return subprocess.run(["zstd", "-dc"], input=payload, capture_output=True, check=True).stdout
    raise ValueError(method)


def info(priv, path):
    data = open(path, "rb").read()
    r = {"file_size": len(data), "file_sha256": hashlib.sha256(data).hexdigest()}
    if data[:9] != MAGIC:
        r["encrypted"] = False
        payload = data
    else:
        r["encrypted"] = True
        h = parse_v2(data)
        r["header_length"] = h["hl"]; r["key_id"] = h["kid"].hex()
        payload = decrypt(data, priv)
    m = detect(payload)
    r.update(payload_size=len(payload), payload_head_hex=payload[:32].hex(), compression=m)
    if m == "lz4":
        _, maxc, chunks = dovecot_lz4(payload)
        r["lz4_max_chunk"] = maxc; r["lz4_chunks"] = chunks
    return r, payload


def verify(store):
    rows = list(csv.DictReader(open(os.path.join(store, "manifest.tsv")), delimiter="\t"))
    priv = load_priv(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "keys", "p256", "private.pem"))
    ok = 0; bad = []
    for r in rows:
        data = open(os.path.join(store, "Maildir", r["maildir_file"]), "rb").read()
        payload = decrypt(data, priv)
        method = r["compression"]
        if detect(payload) != method and not (method == "deflate" and detect(payload) == "none"):
            bad.append(f"{r['maildir_file']}: detected {detect(payload)} != {method}"); continue
        pt = decompress(payload, method)
        if hashlib.sha256(pt).hexdigest() != r["plaintext_sha256"]:
            bad.append(f"{r['maildir_file']}: plaintext mismatch"); continue
        ok += 1
    print(f"{store}: {ok}/{len(rows)} ok" + "".join("\n  " + b for b in bad))
    return not bad


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "info":
        r, _ = info(load_priv(sys.argv[2]), sys.argv[3]); print(json.dumps(r))
    elif cmd == "decrypt":
        sys.stdout.buffer.write(decrypt(open(sys.argv[3], "rb").read(), load_priv(sys.argv[2])))
    elif cmd == "plain":
        p = decrypt(open(sys.argv[3], "rb").read(), load_priv(sys.argv[2]))
        sys.stdout.buffer.write(decompress(p, detect(p)))
    elif cmd == "verify":
        sys.exit(0 if all([verify(s) for s in sys.argv[2:]]) else 1)
    else:
        sys.exit(__doc__)
