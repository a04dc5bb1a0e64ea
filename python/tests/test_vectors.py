"""Every container in vectors/ decrypts to its exact plaintext: whole,
verified and streaming, from a path, from a Python file object, in odd
read sizes, and through decrypt_stream."""

from __future__ import annotations

import io

import pytest

import mailcrypt
from conftest import CASES, COMPRESSED, USER_MAILS, VECTORS, Case, ring_for, sha256

# One ring per key set: loading keys once keeps the suite fast.
_RINGS: dict = {}


def ring(case: Case) -> mailcrypt.KeyRing:
    key = tuple(case.keys)
    if key not in _RINGS:
        _RINGS[key] = ring_for(case.keys)
    return _RINGS[key]


def test_enumeration_finds_every_manifest() -> None:
    # A parametrisation over an empty list would pass silently.
    assert len(CASES) > 400, len(CASES)
    assert {c.manifest for c in CASES} == {"dovecot", "oracle", "ciphers", "x25519", "mlkem"}
    assert len(USER_MAILS) >= 21
    assert len(COMPRESSED) >= 40


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_whole(case: Case) -> None:
    expected = case.expected()
    data = case.file.read_bytes()
    r = ring(case)
    for verified in (True, False):
        got = mailcrypt.decrypt(data, r, verified, allow_ofb_cfb=case.ofb_cfb)
        assert got == expected, f"verified={verified}"
    # bytearray and memoryview work as well as bytes.
    assert mailcrypt.decrypt(bytearray(data), r, allow_ofb_cfb=case.ofb_cfb) == expected
    assert mailcrypt.decrypt(memoryview(data), r, allow_ofb_cfb=case.ofb_cfb) == expected


def _read_in_pieces(f, size: int) -> bytes:
    out = bytearray()
    while True:
        chunk = f.read(size)
        if not chunk:
            return bytes(out)
        out += chunk


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_streaming(case: Case) -> None:
    expected = case.expected()
    r = ring(case)
    ofb = case.ofb_cfb
    # From a path, streaming, odd read sizes.
    with mailcrypt.open(case.file, r, allow_ofb_cfb=ofb) as f:
        assert _read_in_pieces(f, 777) == expected
        assert f.info["match"] is None or f.info["match"]["key_id"]
    # From a Python file object (seekable), verified first.
    with open(case.file, "rb") as raw, mailcrypt.open(raw, r, verified=True, allow_ofb_cfb=ofb) as f:
        buf = bytearray(4096)
        out = bytearray()
        while True:
            n = f.readinto(buf)
            if not n:
                break
            out += buf[:n]
        assert bytes(out) == expected
    # From a non-seekable object, verified through the bounded buffer.
    with mailcrypt.open(_Unseekable(case.file.read_bytes()), r, verified=True, allow_ofb_cfb=ofb) as f:
        assert f.read() == expected
    # Into a Python file object.
    sink = io.BytesIO()
    info = mailcrypt.decrypt_stream(str(case.file), sink, r, allow_ofb_cfb=ofb)
    assert sink.getvalue() == expected
    assert info["written"] == len(expected)


class _Unseekable(io.RawIOBase):
    """A pipe-like source: read() only, seekable() is False."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        chunk = self._data.read(min(len(b), 1000))
        b[: len(chunk)] = chunk
        return len(chunk)


def test_iteration_and_readline_give_the_lines() -> None:
    case = next(c for c in CASES if c.file.name == "sample-v2.bin")
    expected = case.expected()
    with mailcrypt.open(case.file, ring(case)) as f:
        lines = list(f)
    assert b"".join(lines) == expected
    assert lines == expected.splitlines(keepends=True)


def test_growing_reads_like_dovecots_test_stream() -> None:
    # test-stream.c test_read_increment: 500, 501, ... byte reads.
    case = next(c for c in CASES if c.file.name == "sample-v2.bin")
    total, size = 0, 500
    with mailcrypt.open(case.file, ring(case)) as f:
        while True:
            chunk = f.read1(size)
            if not chunk:
                break
            total += len(chunk)
            size += 1
    assert total == 13534


@pytest.mark.parametrize(
    "row",
    [c for c in CASES if c.manifest == "oracle" and c.row["ciphertext_size"] != "0"],
    ids=lambda c: c.id,
)
def test_match_convention_and_inspect_agree_with_the_oracle_manifest(row: Case) -> None:
    # The manifest's header columns come from the oracle's own stdlib
    # parser (dcrypt-header.py), independent of mailcrypt.
    conventions = {
        "spki_compressed": "spki-compressed",
        "spki_uncompressed": "spki-uncompressed",
        "old_hex_compressed": "v1",
        "spki": "spki",
    }
    r = row.row
    with mailcrypt.open(row.file, ring(row)) as f:
        m = f.info["match"]
    assert m["convention"] == conventions[r["key_id_form"]]
    assert m["key_id"] == r["key_id"]
    info = mailcrypt.inspect(row.file)
    assert info["file"] == str(row.file)
    assert info["size"] == int(r["ciphertext_size"])
    assert info["format"] == r["header_version"]
    assert info["recipients"][0]["key_id"] == r["key_id"]
    if r["header_version"] == "v2":
        assert info["integrity"] == r["flags"].lower()
        assert info["cipher"] == r["cipher"]
        assert info["mac"] == r["mac"]
        assert info["rounds"] == int(r["rounds"])
    # The same from bytes, and with a ring the match is named.
    from_bytes = mailcrypt.inspect(row.file.read_bytes(), ring(row))
    assert from_bytes["file"] is None
    assert from_bytes["match"]["convention"] == m["convention"]
    assert {k: v for k, v in from_bytes.items() if k not in ("file", "match")} == {
        k: v for k, v in info.items() if k != "file"
    }


def test_every_build_and_convention_is_covered() -> None:
    rows = [c.row for c in CASES if c.manifest == "oracle"]
    assert {r["env"] for r in rows} >= {"new", "old", "upstream", "v24"}
    assert {r["key_id_form"] for r in rows} >= {
        "spki_compressed",
        "spki_uncompressed",
        "old_hex_compressed",
    }
    assert {r["format"] for r in rows} >= {"v1", "v2-aead", "v2-hmac"}
    assert any(c.row.get("key_type") in ("X25519", "X448") for c in CASES if c.manifest == "x25519")
    assert sha256(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert (VECTORS / "dovecot" / "sample-v1.bin").is_file()
