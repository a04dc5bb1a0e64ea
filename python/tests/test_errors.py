"""Errors: every malformed-input testkit file raises the class its
manifest's error kind maps to; wrong key, tampering, garbage and bad
passwords raise the exceptions a caller acts on."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import mailcrypt
from conftest import CASES, VECTORS, flip_last_byte, read_tsv, ring_for

# vectors/testkit/manifest.tsv error kinds (the library's variants) -> class.
KIND_CLASS = {
    "NotEncrypted": mailcrypt.MalformedError,
    "UnsupportedVersion": mailcrypt.MalformedError,
    "Truncated": mailcrypt.MalformedError,
    "HeaderTooLarge": mailcrypt.MalformedError,
    "Malformed": mailcrypt.MalformedError,
    "TooManyRecipients": mailcrypt.MalformedError,
    "Unwrap": mailcrypt.MalformedError,
    "TruncatedBody": mailcrypt.MalformedError,
    "BadPadding": mailcrypt.MalformedError,
    "UnsupportedCipher": mailcrypt.UnsupportedError,
    "UnsupportedHash": mailcrypt.UnsupportedError,
    "UnsupportedKeyType": mailcrypt.UnsupportedError,
    "Unsupported": mailcrypt.UnsupportedError,
    "NoMatchingKey": mailcrypt.NoKeyError,
    "KeyCheck": mailcrypt.AuthenticationError,
    "Authentication": mailcrypt.AuthenticationError,
}

TESTKIT = read_tsv(VECTORS / "testkit" / "manifest.tsv")
SAMPLE_KEY = VECTORS / "dovecot" / "sample-v2.key.pem"
P256 = VECTORS / "oracle" / "keys" / "p256"


@pytest.mark.parametrize("row", TESTKIT, ids=lambda r: r["file"])
def test_testkit_file_raises_its_class(row) -> None:
    cls = KIND_CLASS[row["expected_error"]]
    ring = ring_for([VECTORS / "testkit" / row["key"]])
    path = VECTORS / "testkit" / row["file"]
    data = path.read_bytes()
    for verified in (True, False):
        with pytest.raises(cls) as e:
            mailcrypt.decrypt(data, ring, verified)
        assert isinstance(e.value, mailcrypt.MailcryptError)
        assert str(e.value)
    with pytest.raises(cls):
        with mailcrypt.open(path, ring) as f:
            f.read()
    out = io.BytesIO()
    with pytest.raises(cls):
        mailcrypt.decrypt_stream(path, out, ring)
    assert out.getvalue() == b"", "verified mode wrote plaintext of a bad file"


def test_wrong_key_lists_the_ids_wanted_and_tried() -> None:
    row = next(
        c
        for c in CASES
        if c.manifest == "oracle" and "/p384/" in str(c.file) and c.row["format"] == "v2-aead" and c.row["ciphertext_size"] != "0"
    )
    ring = mailcrypt.KeyRing()
    ring.add_file(P256 / "private.pem")
    p256_ids = json.loads((P256 / "keyids.json").read_text())
    with pytest.raises(mailcrypt.NoKeyError) as e:
        mailcrypt.decrypt(row.file.read_bytes(), ring)
    err = e.value
    assert err.key_ids == [row.row["key_id"]]
    assert len(err.tried) == 1
    label, ids = err.tried[0]
    assert label == str(P256 / "private.pem")
    assert ids["spki-compressed"] == p256_ids["spki_compressed"]
    assert ids["spki-uncompressed"] == p256_ids["spki_uncompressed"]
    assert ids["v1"] == p256_ids["old_hex_compressed"]
    assert row.row["key_id"] in str(err)
    # open() raises it at once; an empty ring says no key was given.
    with pytest.raises(mailcrypt.NoKeyError):
        mailcrypt.open(row.file, ring)
    with pytest.raises(mailcrypt.NoKeyError, match="no private key was given") as e:
        mailcrypt.decrypt(row.file.read_bytes(), mailcrypt.KeyRing())
    assert e.value.tried == []


@pytest.mark.parametrize("fmt", ["v2-aead", "v2-hmac"])
def test_tampered_body(fmt: str, tmp_path: Path) -> None:
    cases = [
        c
        for c in CASES
        if c.manifest == "oracle" and c.row["format"] == fmt and int(c.row["ciphertext_size"]) > 70000
    ]
    assert cases, fmt
    for case in cases[:2]:
        ring = ring_for(case.keys)
        bad = flip_last_byte(case.file.read_bytes())
        for verified in (True, False):
            with pytest.raises(mailcrypt.AuthenticationError):
                mailcrypt.decrypt(bad, ring, verified)
        f = tmp_path / "bad.bin"
        f.write_bytes(bad)
        # Verified: open() itself refuses, nothing is returned.
        with pytest.raises(mailcrypt.AuthenticationError):
            mailcrypt.open(f, ring, verified=True)
        # Streaming: unauthenticated plaintext comes out as it is
        # decrypted; the read that reaches the end raises, never a clean
        # end of file.
        got = bytearray()
        with pytest.raises(mailcrypt.AuthenticationError):
            with mailcrypt.open(f, ring) as r:
                while True:
                    chunk = r.read1(65536)
                    if not chunk:
                        break
                    got += chunk
        expected = case.expected()
        assert expected.startswith(bytes(got))
        # decrypt_stream: verified writes nothing, streaming stops with
        # the same error.
        for verified in (True, False):
            out = io.BytesIO()
            with pytest.raises(mailcrypt.AuthenticationError):
                mailcrypt.decrypt_stream(f, out, ring, verified=verified)
            if verified:
                assert out.getvalue() == b""
            assert expected.startswith(out.getvalue())


def test_garbage_and_plain_mail_are_malformed() -> None:
    ring = ring_for([SAMPLE_KEY])
    for data in (b"\x00" * 100, b"From: a@b\n\nhello\n", b"CRYPTED", b"CRYPTED\x03\x07\x09"):
        with pytest.raises(mailcrypt.MalformedError):
            mailcrypt.decrypt(data, ring)
        with pytest.raises(mailcrypt.MalformedError):
            mailcrypt.inspect(data)
    # A 0-byte file is Dovecot's encrypted form of an empty mail.
    assert mailcrypt.decrypt(b"", ring) == b""
    assert mailcrypt.inspect(b"")["format"] == "empty"


def test_require_integrity_and_ofb_opt_in() -> None:
    v1 = next(c for c in CASES if c.manifest == "oracle" and c.row["format"] == "v1" and c.row["ciphertext_size"] != "0")
    ring = ring_for(v1.keys)
    assert mailcrypt.decrypt(v1.file.read_bytes(), ring) == v1.expected()
    with pytest.raises(mailcrypt.AuthenticationError, match="integrity"):
        mailcrypt.decrypt(v1.file.read_bytes(), ring, require_integrity=True)
    with mailcrypt.open(v1.file, ring) as f:
        assert f.info["authenticated"] is False
    ofb = next(c for c in CASES if c.manifest == "ciphers" and "-ofb-" in c.file.name and c.file.stat().st_size > 0)
    with pytest.raises(mailcrypt.UnsupportedError):
        mailcrypt.decrypt(ofb.file.read_bytes(), ring_for(ofb.keys))
    assert mailcrypt.decrypt(ofb.file.read_bytes(), ring_for(ofb.keys), allow_ofb_cfb=True) == ofb.expected()


def test_key_loading_errors(tmp_path: Path) -> None:
    enc = VECTORS / "dovecot" / "v2-ec-p256-private-password.dovecot"
    ring = mailcrypt.KeyRing()
    with pytest.raises(mailcrypt.BadPasswordError, match="no password"):
        ring.add_file(enc)
    with pytest.raises(mailcrypt.BadPasswordError, match="wrong password"):
        ring.add_file(enc, "This Is Sparta!")
    with pytest.raises(mailcrypt.BadPasswordError):
        ring.add_bytes(enc.read_bytes(), b"wrong")
    assert len(ring) == 0
    ring.add_file(enc, "This Is Sparta")
    ring.add_bytes(enc.read_bytes(), b"This Is Sparta")
    assert len(ring) == 2
    with pytest.raises(FileNotFoundError):
        ring.add_file(tmp_path / "missing.pem")
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"not a key at all")
    with pytest.raises(mailcrypt.MalformedError, match=str(junk)):
        ring.add_file(junk)
    with pytest.raises(mailcrypt.MailcryptError, match="public key"):
        ring.add_file(P256 / "public.pem")
    with pytest.raises(TypeError):
        ring.add_file(P256 / "private.pem", 1234)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ring.add_bytes("a str is not key bytes")  # type: ignore[arg-type]


def test_reader_closed_and_python_source_errors(sample_ring) -> None:
    f = mailcrypt.open(VECTORS / "dovecot" / "sample-v2.bin", sample_ring)
    f.close()
    with pytest.raises(ValueError):
        f.read()

    class Boom(Exception):
        pass

    class Source(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.data = io.BytesIO(data)
            self.calls = 0

        def readable(self) -> bool:
            return True

        def readinto(self, b) -> int:
            self.calls += 1
            if self.calls > 3:
                raise Boom("source failed")
            chunk = self.data.read(min(len(b), 200))
            b[: len(chunk)] = chunk
            return len(chunk)

    data = (VECTORS / "dovecot" / "sample-v2.bin").read_bytes()
    # The source's own exception comes through unchanged.
    with pytest.raises(Boom):
        with mailcrypt.open(Source(data), sample_ring) as r:
            r.read()
    with pytest.raises(TypeError):
        mailcrypt.open(12345, sample_ring)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="BytesIO"):
        mailcrypt.open(data, sample_ring)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        mailcrypt.open(VECTORS / "no-such-file.bin", sample_ring)
