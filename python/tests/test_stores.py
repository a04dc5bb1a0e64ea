"""Per-user key stores (vectors/userkeys) opened from the attribute file and
password, and the whole Maildir stores of vectors/stores (compressed
mails of three builds, the mixed upstream + new store)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import mailcrypt
from conftest import (
    COMPRESSED,
    STORE_KEY,
    USER_MAILS,
    VECTORS,
    CompressedMail,
    StoreMail,
    read_tsv,
    ring_for,
    sha256,
    user_stores,
)

_RINGS: dict = {}


def store_ring(mail: StoreMail) -> mailcrypt.KeyRing:
    if mail.store not in _RINGS:
        ring = mailcrypt.KeyRing()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a clean store loads without warnings
            ids = ring.add_attributes(mail.attributes, mail.password())
        assert len(ids) == 2, f"{mail.store.name}: user key and INBOX key, got {ids}"
        assert len(ring) == 2
        _RINGS[mail.store] = ring
    return _RINGS[mail.store]


@pytest.mark.parametrize("mail", USER_MAILS, ids=lambda m: m.id)
def test_user_store_mail_decrypts(mail: StoreMail) -> None:
    expected = mail.plaintext.read_bytes()
    assert sha256(expected) == mail.sha256
    ring = store_ring(mail)
    data = mail.file.read_bytes()
    assert mailcrypt.decrypt(data, ring) == expected
    with mailcrypt.open(mail.file, ring) as f:
        assert f.read() == expected
        m = f.info["match"]
    assert m["key_id"] == mail.key_id
    assert m["key"].startswith("folder key"), m
    if mail.version == "v1":
        assert m["convention"] == "v1"


@pytest.mark.parametrize("store", user_stores(), ids=lambda p: p.name)
def test_password_as_str_path_as_pathlike(store: Path) -> None:
    pw = (store / "password").read_bytes().rstrip(b"\n").decode()
    ring = mailcrypt.KeyRing()
    assert len(ring.add_attributes(store / "dovecot-attributes", pw)) == 2
    ring2 = mailcrypt.KeyRing()
    assert len(ring2.add_attributes(str(store / "dovecot-attributes"), bytearray(pw.encode()))) == 2


@pytest.mark.parametrize("store", user_stores(), ids=lambda p: p.name)
def test_wrong_or_missing_password(store: Path) -> None:
    attrs = store / "dovecot-attributes"
    with pytest.raises(mailcrypt.BadPasswordError, match="wrong password"):
        mailcrypt.KeyRing().add_attributes(attrs, "not the password")
    with pytest.raises(mailcrypt.BadPasswordError):
        mailcrypt.KeyRing().add_attributes(attrs)
    # BadPasswordError is a MailcryptError.
    with pytest.raises(mailcrypt.MailcryptError):
        mailcrypt.KeyRing().add_attributes(attrs, b"")


def test_attribute_file_without_keys_is_malformed(tmp_path: Path) -> None:
    f = tmp_path / "attrs"
    f.write_bytes(b"priv/some/other/attribute\nvalue\n")
    with pytest.raises(mailcrypt.MalformedError):
        mailcrypt.KeyRing().add_attributes(f, "pw")
    with pytest.raises(FileNotFoundError):
        mailcrypt.KeyRing().add_attributes(tmp_path / "missing", "pw")


_STORE_RING = None


def store_key_ring() -> mailcrypt.KeyRing:
    global _STORE_RING
    if _STORE_RING is None:
        _STORE_RING = ring_for([STORE_KEY])
    return _STORE_RING


@pytest.mark.parametrize("mail", COMPRESSED, ids=lambda m: m.id)
def test_compressed_store_mail(mail: CompressedMail, tmp_path: Path) -> None:
    r = mail.row
    data = mail.file.read_bytes()
    raw = mailcrypt.decrypt(data, store_key_ring())
    assert len(raw) == int(r["payload_size"])
    assert raw[: len(r["payload_head_hex"]) // 2].hex() == r["payload_head_hex"]
    plain = mailcrypt.decrypt(data, store_key_ring(), decompress=True)
    if r["compression"] == "deflate":
        # Raw deflate has no magic: it comes out as stored.
        assert plain == raw
    else:
        assert sha256(plain) == r["plaintext_sha256"]
    out = tmp_path / "out"
    with open(out, "wb") as w:
        mailcrypt.decrypt_stream(mail.file, w, store_key_ring(), decompress=True, verified=False)
    assert out.read_bytes() == plain


def test_compressed_stores_cover_every_method() -> None:
    assert {m.row["compression"] for m in COMPRESSED} >= {"none", "gz", "bz2", "xz", "lz4", "zstd"}


def test_mixed_store() -> None:
    base = VECTORS / "stores" / "mixed"
    ring = store_key_ring()
    rows = read_tsv(base / "manifest.tsv")
    assert any(r["key_id_form"] == "spki_uncompressed" for r in rows)
    for r in rows:
        f = base / "Maildir" / r["maildir_file"]
        data = f.read_bytes()
        assert mailcrypt.is_encrypted(data) == (r["encrypted"] == "yes")
        plain = mailcrypt.decrypt(data, ring) if r["encrypted"] == "yes" else data
        assert sha256(plain) == r["plaintext_sha256"], f
