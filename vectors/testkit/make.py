#!/usr/bin/env python3
"""Regenerate the malformed containers of the testkit from the real Dovecot
vectors in ../dovecot/generated-2.3.21.1/. One defect per file; the expected
error kind of each is in manifest.tsv. Offsets refer to the v2 layout of
docs/format.md (P-256 recipient, uncompressed 65-byte ephemeral key)."""
import os, struct

HERE = os.path.dirname(os.path.abspath(__file__))
G = os.path.join(HERE, "..", "dovecot", "generated-2.3.21.1")

def rd(name):
    with open(os.path.join(G, name), "rb") as f:
        return bytearray(f.read())

aead = rd("gen23-v2-aead-p256.bin")      # hdr_len 255
hmac = rd("gen23-v2-hmac-cbc-p256.bin")  # hdr_len 271
none = rd("gen23-v2-none-cbc-p256.bin")
v1 = rd("gen23-v1-p256.bin")

# v2 offsets: 18 cipher OID (11), 29 MAC OID (11), 40 rounds, 44 kdlen,
# 48 count, 49 type, 50 id (32), 82 eph_len, 86 eph (65), 151 ek_len, 155 ek (64),
# 219 kh_len, 223 key check (32), 255 body.
cases = []

def case(name, data, key, expect, what):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(bytes(data))
    cases.append((name, key, expect, what))

def flip(d, off, mask=0x01):
    d = bytearray(d)
    d[off] ^= mask
    return d

def put32(d, off, v):
    d = bytearray(d)
    d[off:off + 4] = struct.pack(">I", v)
    return d

P256 = "../dovecot/sample-v2.key.pem"
case("not-a-container.bin", b"From: a@example.org\nSubject: hi\n\nhello\n", P256, "NotEncrypted", "plain mail, no magic")
case("garbage.bin", bytes(range(7, 250, 3)), P256, "NotEncrypted", "random bytes")
case("magic-only.bin", aead[:9], P256, "Truncated", "magic without version byte")
case("bad-version.bin", aead[:9] + b"\x03" + aead[10:], P256, "UnsupportedVersion", "version byte 3")
case("truncated-header.bin", aead[:100], P256, "Truncated", "file ends inside the header")
case("header-len-huge.bin", put32(aead, 14, 0xFFFFFFFF), P256, "HeaderTooLarge", "hdr_len 0xffffffff")
case("header-len-short.bin", put32(aead, 14, 10), P256, "Malformed", "hdr_len shorter than the fixed part")
case("kdlen-mismatch.bin", put32(aead, 44, 160), P256, "Malformed", "key-data length disagrees with hdr_len")
case("unknown-cipher-oid.bin", flip(aead, 28, 0x7f ^ 0x2e), P256, "UnsupportedCipher", "cipher OID ...1.127")
case("unknown-mac-oid.bin", flip(aead, 39, 0x7f ^ 0x01), P256, "UnsupportedHash", "MAC OID ...2.127")
case("bad-oid-tag.bin", flip(aead, 18, 0x06 ^ 0x04), P256, "Malformed", "cipher OID tag 0x04")
case("zero-recipients.bin", flip(aead, 48, 0x01), P256, "Malformed", "recipient count 0")
case("too-many-recipients.bin", flip(aead, 48, 0x01 ^ 0xc8), P256, "TooManyRecipients", "recipient count 200")
case("unknown-key-type.bin", flip(aead, 49, 0x02 ^ 0x07), P256, "UnsupportedKeyType", "key type 0x07")
case("wrong-key-id.bin", flip(aead, 60), P256, "NoMatchingKey", "one bit of the key id flipped")
case("eph-len-huge.bin", put32(aead, 82, 0x7FFFFFFF), P256, "Malformed", "ephemeral key length 2^31-1")
case("bad-ephemeral-point.bin", flip(aead, 100), P256, "Unwrap", "ephemeral point not on the curve")
case("wrapped-key-flipped.bin", flip(aead, 160), P256, "KeyCheck", "first block of the wrapped session key flipped")
case("wrapped-key-bad-padding.bin", flip(aead, 210), P256, "KeyCheck", "last block of the wrapped session key flipped (reported as a key-check failure: no padding oracle)")
case("rounds-too-large.bin", put32(aead, 40, 0xFFFFFFFF), P256, "Unwrap", "PBKDF2 rounds 2^32-1 (over the cap)")
case("rounds-changed.bin", put32(aead, 40, 2049), P256, "KeyCheck", "PBKDF2 rounds 2049 instead of 2048 (wrong KEK: key-check failure)")
case("key-check-flipped.bin", flip(aead, 240), P256, "KeyCheck", "key-check hash flipped")
short = bytearray(aead[:219]) + struct.pack(">I", 16) + aead[223:239] + aead[255:]
short = put32(short, 14, 255 - 16)
short = put32(short, 44, 207 - 16)
case("key-check-short.bin", short, P256, "KeyCheck", "key-check hash truncated to 16 bytes (Dovecot <= 2.4.2 accepted this)")
case("unknown-flag.bin", flip(aead, 13, 0x20), P256, "Unsupported", "flag bit 0x20")
case("contradictory-flags.bin", flip(aead, 13, 0x04), P256, "Unsupported", "flags AEAD|NONE")
case("aead-flag-cbc-cipher.bin", flip(hmac, 13, 0x03), P256, "Unsupported", "AEAD flag with aes-256-cbc")
case("same-calg.bin", flip(aead, 13, 0x10), P256, "KeyCheck", "flag 0x10 SAME_CALG set on a key wrapped with AES-256-CBC (GCM unwrap fails: key-check failure)")
case("tag-flipped.bin", flip(aead, len(aead) - 1), P256, "Authentication", "last byte of the GCM tag flipped")
case("body-flipped.bin", flip(aead, 260), P256, "Authentication", "body byte flipped")
case("truncated-body.bin", aead[:-5], P256, "Authentication", "last 5 bytes missing")
case("body-shorter-than-tag.bin", aead[:255 + 10], P256, "TruncatedBody", "10 bytes after the header")
case("hmac-flipped.bin", flip(hmac, len(hmac) - 1), P256, "Authentication", "HMAC footer flipped")
case("hmac-body-flipped.bin", flip(hmac, 280), P256, "Authentication", "CBC ciphertext flipped under HMAC")
case("none-cbc-truncated.bin", none[:-1], P256, "TruncatedBody", "CBC body not a multiple of 16")
case("none-cbc-bad-padding.bin", flip(none, len(none) - 1), P256, "BadPadding", "last CBC block flipped, no MAC")
case("v1-truncated.bin", v1[:60], P256, "Truncated", "v1 key data cut short")
case("v1-wrong-seed-hash.bin", flip(v1, 12 + 2 + 65 + 2 + 32 + 2 + 5), P256, "KeyCheck", "v1 seed hash flipped")
case("v1-empty-field.bin", v1[:12] + b"\x00\x00" + v1[14:], P256, "Malformed", "v1 ephemeral key length 0")

with open(os.path.join(HERE, "manifest.tsv"), "w") as f:
    f.write("file\tkey\texpected_error\tdefect\n")
    for c in cases:
        f.write("\t".join(c) + "\n")
print(len(cases), "cases")
