"""Read and write Dovecot mail-crypt encrypted mail from Python.

A binding of the Rust library `mailcrypt`: it opens ``CRYPTED`` containers
(format v1 and v2) written by every Dovecot build, whichever key-id
convention the build used (compressed or uncompressed point, v1 ids),
with AES-GCM, ChaCha20-Poly1305, the HMAC modes, EC P-256/384/521, X25519,
X448, RSA and ML-KEM keys, and per-user key stores. No OpenSSL.

>>> import mailcrypt, pathlib
>>> ring = mailcrypt.KeyRing()
>>> ring.add_file("vectors/dovecot/sample-v2.key.pem")
'ab13d251976dedab546b67354e7678821740dd534b749c2857f66bf62bbaddfd'
>>> mail = mailcrypt.decrypt(pathlib.Path("vectors/dovecot/sample-v2.bin").read_bytes(), ring)
>>> len(mail)
13534

Cryptography and file I/O run with the GIL released, so several threads
can decrypt at once. Errors are subclasses of :class:`MailcryptError`.
"""

from __future__ import annotations

import io
import os
from typing import Any, Dict, Iterable, Optional, Protocol, Union

from . import _native
from ._native import (
    TARGETS,
    AuthenticationError,
    BadPasswordError,
    KeyRing,
    MailcryptError,
    MalformedError,
    NoKeyError,
    UnsupportedError,
    is_encrypted,
)

__all__ = [
    "TARGETS",
    "AuthenticationError",
    "BadPasswordError",
    "KeyRing",
    "MailReader",
    "MailcryptError",
    "MalformedError",
    "NoKeyError",
    "UnsupportedError",
    "decrypt",
    "decrypt_stream",
    "encrypt",
    "inspect",
    "is_encrypted",
    "key_ids",
    "open",
]

try:
    from importlib.metadata import PackageNotFoundError, version

    try:
        __version__ = version("mailcrypt")
    except PackageNotFoundError:  # imported from a source tree
        __version__ = "0+unknown"
except ImportError:  # pragma: no cover - Python < 3.8 has no importlib.metadata
    __version__ = "0+unknown"

#: Anything that names a file.
PathLike = Union[str, "os.PathLike[str]"]
#: Bytes-like input.
Buffer = Union[bytes, bytearray, memoryview]



class BinaryReadable(Protocol):
    """A binary file object to read from (``seek``/``seekable`` optional)."""

    def read(self, size: int = ..., /) -> Optional[bytes]: ...


class BinaryWritable(Protocol):
    """A binary file object to write to."""

    def write(self, data: bytes, /) -> Optional[int]: ...


#: A container to read: a path or a binary file object.
Source = Union[PathLike, BinaryReadable]

#: Default cap on ciphertext buffered to authenticate a non-seekable input.
DEFAULT_MAX_BUFFER = 256 * 1024 * 1024


def decrypt(
    data: Buffer,
    ring: KeyRing,
    verified: bool = True,
    *,
    decompress: bool = False,
    allow_ofb_cfb: bool = False,
    require_integrity: bool = False,
) -> bytes:
    """Decrypt a whole container held in memory and return the plaintext.

    ``verified=True`` authenticates the body before any plaintext is
    produced; with ``False`` the body is decrypted in one streaming pass
    (the tag is still checked at the end, so the result is the same for
    data in memory). ``decompress=True`` also undoes Dovecot's
    compression layer (gzip, bzip2, xz, zstd, Dovecot-LZ4) when the
    plaintext starts with one of their magics. ``allow_ofb_cfb`` accepts
    the unauthenticated-OID OFB/CFB/CTR bodies (see the library's
    security notes); ``require_integrity`` refuses v1 files and flag NONE.

    A 0-byte input is Dovecot's encrypted form of an empty mail and gives
    ``b""``.

    Raises :class:`NoKeyError` (no key in ``ring`` matches; ``key_ids``
    lists the ids the file names), :class:`AuthenticationError` (tag,
    HMAC or key check failed: tampered or corrupt), :class:`MalformedError`
    (not a container, truncated, bad header), :class:`UnsupportedError`.

    >>> ring = KeyRing()
    >>> _ = ring.add_file("vectors/dovecot/sample-v2.key.pem")
    >>> # Written by unpatched Dovecot 2.3 on OpenSSL 3 (uncompressed-point id):
    >>> path = "vectors/dovecot/generated-2.3.21.1/gen23-openssl3-v2-aead-to-pem-pubkey.bin"
    >>> import pathlib
    >>> decrypt(pathlib.Path(path).read_bytes(), ring)
    b'hello\\n'
    """
    return _native._decrypt(
        data, ring, verified, decompress, allow_ofb_cfb, require_integrity
    )


class _RawReader(io.RawIOBase):
    """The raw layer under :class:`MailReader`: plaintext from the native reader."""

    def __init__(self, native: _native._Reader) -> None:
        super().__init__()
        self._native = native

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._native.read(len(view))
        n = len(data)
        view[:n] = data
        return n

    def readall(self) -> bytes:
        return self._native.read(-1)

    def close(self) -> None:
        if not self.closed:
            self._native.close()
        super().close()

    @property
    def info(self) -> Dict[str, Any]:
        return self._native.info


class MailReader(io.BufferedReader):
    """A binary, buffered, read-only file of plaintext (made by :func:`open`).

    It supports ``read``, ``read1``, ``readinto``, ``readline``, iteration
    over lines and the ``with`` statement. The tag (or HMAC) is checked at
    the end: the read that reaches the end of a tampered file raises
    :class:`AuthenticationError`, never a clean end-of-file.
    """

    def __init__(self, native: _native._Reader) -> None:
        super().__init__(_RawReader(native), buffer_size=64 * 1024)

    @property
    def info(self) -> Dict[str, Any]:
        """What the header says and which key opened the file.

        The keys of :func:`inspect` (``format``, ``cipher``, ``recipients``,
        ...) plus ``authenticated`` (whether the body carries a tag or HMAC)
        and ``match`` (``{"key", "key_id", "convention"}``, or ``None`` for
        an empty mail).
        """
        return self.raw.info  # type: ignore[attr-defined, no-any-return]


def open(  # noqa: A001 - the module's reader, as gzip.open or tarfile.open
    source: Source,
    ring: KeyRing,
    *,
    verified: bool = False,
    allow_ofb_cfb: bool = False,
    require_integrity: bool = False,
    max_buffer: int = DEFAULT_MAX_BUFFER,
) -> MailReader:
    """Open a container for reading its plaintext in pieces.

    ``source`` is a path (``str`` or ``os.PathLike``) or a binary file
    object (anything with ``read``; ``seek``/``seekable`` are used when
    ``verified``). Memory stays bounded (64 KiB chunks) whatever the size.

    By default the plaintext streams as it is decrypted, as Dovecot does:
    the tag (or HMAC) is checked when the end of the input is reached, and
    the read that gets there raises :class:`AuthenticationError` for a
    tampered file instead of returning end-of-file. Plaintext read before
    that is unauthenticated: treat it as complete only once a read has
    returned ``b""``. ``verified=True`` authenticates the whole body first
    (a second pass over a seekable source, or a copy of at most
    ``max_buffer`` bytes of a non-seekable one), so no byte of a tampered
    file is ever returned.

    Key lookup happens here: :class:`NoKeyError` and header errors are
    raised by ``open`` itself.

    >>> ring = KeyRing()
    >>> _ = ring.add_file("vectors/dovecot/sample-v2.key.pem")
    >>> with open("vectors/dovecot/sample-v2.bin", ring) as mail:
    ...     first = mail.readline()
    ...     rest = mail.read()
    >>> len(first) + len(rest)
    13534
    >>> mail.info["match"]["convention"]
    'spki-compressed'
    """
    native = _native._open(
        source, ring, verified, allow_ofb_cfb, require_integrity, max_buffer
    )
    return MailReader(native)


def decrypt_stream(
    source: Source,
    destination: BinaryWritable,
    ring: KeyRing,
    *,
    verified: bool = True,
    decompress: bool = False,
    allow_ofb_cfb: bool = False,
    require_integrity: bool = False,
    max_buffer: int = DEFAULT_MAX_BUFFER,
) -> Dict[str, Any]:
    """Decrypt ``source`` into the binary file object ``destination``.

    Like :func:`open` followed by a copy, but the whole copy (and the
    decompression, with ``decompress=True``) runs without the GIL, in
    bounded memory. With ``verified=True`` (the default) nothing is
    written for a tampered file; with ``False`` plaintext is written as it
    is decrypted and a tampered file raises :class:`AuthenticationError`
    at its end, after the unauthenticated plaintext was written.

    Returns the reader's ``info`` dict plus ``written`` (bytes written).

    >>> import io
    >>> ring = KeyRing()
    >>> _ = ring.add_file("vectors/dovecot/sample-v2.key.pem")
    >>> out = io.BytesIO()
    >>> decrypt_stream("vectors/dovecot/sample-v2.bin", out, ring)["written"]
    13534
    """
    return _native._decrypt_stream(
        source,
        destination,
        ring,
        verified,
        decompress,
        allow_ofb_cfb,
        require_integrity,
        max_buffer,
    )


Recipient = Union[PathLike, Buffer]


def encrypt(
    data: Buffer,
    recipients: Union[Recipient, Iterable[Recipient]],
    target: str = "dovecot-2.3",
    cipher: str = "aes-256-gcm-sha256",
    *,
    key_id_form: Optional[str] = None,
    multiple_recipients: bool = False,
    same_calg: bool = False,
) -> bytes:
    """Encrypt ``data`` into a container the Dovecot build ``target`` reads.

    ``recipients`` is one public key or a list of them, each a path
    (``str``/``os.PathLike``) or the key's bytes (SPKI PEM, a Dovecot key
    string, a JWK, or any private key form, whose public half is used).
    Several recipients need ``multiple_recipients=True`` (Dovecot itself
    cannot read such files).

    ``target`` is one of :data:`TARGETS` (``dovecot-2.3``,
    ``dovecot-2.3-openssl3-unpatched``, ``dovecot-2.4``, ``dovecot-main``):
    it picks the key-id convention and the ciphers allowed. ``cipher`` is a
    Dovecot ``crypt_write_algorithm`` name (``aes-256-gcm-sha256``,
    ``aes-256-cbc-sha256``, ``chacha20-poly1305-sha256`` for 2.4, ...).
    ``key_id_form`` (``"compressed"``/``"uncompressed"``) overrides the
    point form hashed into EC key ids; ``same_calg`` wraps the session key
    with the body cipher (2.4 only).

    >>> ring = KeyRing()
    >>> _ = ring.add_file("vectors/x25519/keys/x25519/private.pem")
    >>> box = encrypt(b"Subject: hi\\n\\nhello\\n", "vectors/x25519/keys/x25519/public.pem",
    ...               target="dovecot-2.4", cipher="chacha20-poly1305-sha256")
    >>> decrypt(box, ring)
    b'Subject: hi\\n\\nhello\\n'
    """
    if not isinstance(recipients, (str, bytes, bytearray, memoryview, os.PathLike)):
        recipients = list(recipients)
    return _native._encrypt(
        data, recipients, target, cipher, key_id_form, multiple_recipients, same_calg
    )


def inspect(
    source: Union[Buffer, PathLike], ring: Optional[KeyRing] = None
) -> Dict[str, Any]:
    """Describe a container's header, as ``mailcrypt inspect --json`` does.

    ``source`` is the container's bytes or a path (only the header is
    read). The dict has ``file`` (the path, or ``None`` for bytes),
    ``size``, ``format`` (``"v1"``, ``"v2"`` or ``"empty"``),
    ``header_len``, ``cipher``, ``integrity`` (``"aead"``, ``"hmac"``,
    ``"none"``), for v2 ``flags``, ``mac`` and ``rounds``, and
    ``recipients`` (``type``, ``key_id``, ``ephemeral_key_len``,
    ``encrypted_key_len``). With ``ring``, ``match`` names the key that
    opens the file (``key``, ``key_id``, ``convention``), or is ``None``
    with the reason in ``match_error``.

    Raises :class:`MalformedError` for a header that does not parse.

    >>> info = inspect("vectors/dovecot/sample-v2.bin")
    >>> info["format"], info["cipher"], info["integrity"]
    ('v2', 'aes-256-gcm', 'aead')
    >>> info["recipients"][0]["key_id"][:16]
    'ab13d251976dedab'
    """
    return _native._inspect(source, ring)


def key_ids(
    source: Union[PathLike, Buffer], password: Union[str, bytes, None] = None
) -> Dict[str, Any]:
    """A key's id under every convention, as ``mailcrypt keyid --json``.

    ``source`` is a key file's path or the key's bytes, private (opened
    with ``password`` if encrypted) or public. The dict has ``file`` (the
    path, or ``None`` for bytes), ``type`` (e.g. ``"EC P-256"``),
    ``point_form`` for EC keys (the form the file was written in) and
    ``ids``: ``{convention: hex id}`` with conventions
    ``spki-compressed``, ``spki-uncompressed``, ``v1`` (EC) or ``spki``,
    ``v1``, ``v1-colons`` (X25519/X448) or ``spki`` (RSA, ML-KEM).

    >>> ids = key_ids("vectors/dovecot/sample-v2.key.pem")["ids"]
    >>> ids["spki-compressed"][:16], sorted(ids)
    ('ab13d251976dedab', ['spki-compressed', 'spki-uncompressed', 'v1'])
    """
    return _native._key_ids(source, password)
