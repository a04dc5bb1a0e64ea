"""Shared helpers: the repository's vectors, enumerated as tests/common/mod.rs does.

Expected plaintexts come from the manifests (their SHA-256 column and the
plaintext files it names), never from the code under test.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import pytest

#: The repository root (python/tests/ -> python/ -> root), or $MAILCRYPT_REPO.
ROOT = Path(os.environ.get("MAILCRYPT_REPO", Path(__file__).resolve().parents[2]))
VECTORS = ROOT / "vectors"


def read_tsv(path: Path) -> List[Dict[str, str]]:
    """Rows of a TSV file with a header line (blank lines skipped)."""
    assert path.is_file(), f"{path} is missing"
    with open(path, newline="", encoding="utf-8") as f:
        lines = [line for line in f.read().split("\n") if line.strip()]
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def flip_last_byte(data: bytes) -> bytes:
    """``data`` with the low bit of its last byte (inside a v2 container's tag) flipped."""
    return data[:-1] + bytes([data[-1] ^ 1])


@dataclass
class Case:
    """One container, the keys that open it and its exact plaintext."""

    manifest: str
    file: Path
    keys: List[Path]
    plaintext: Optional[Path]
    sha256: str
    ofb_cfb: bool = False
    row: Dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.manifest}:{self.file.relative_to(VECTORS / self.manifest)}"

    def expected(self) -> bytes:
        data = self.plaintext.read_bytes() if self.plaintext else b""
        assert sha256(data) == self.sha256, f"{self.plaintext} does not match its manifest hash"
        return data


def _key_dir_cases(name: str, ofb_cfb: bool = False) -> List[Case]:
    base = VECTORS / name
    return [
        Case(
            manifest=name,
            file=base / r["file"],
            keys=[base / r["key_dir"] / "private.pem"],
            plaintext=base / r["plaintext"],
            sha256=r["plaintext_sha256"],
            ofb_cfb=ofb_cfb,
            row=r,
        )
        for r in read_tsv(base / "manifest.tsv")
    ]


def all_cases() -> List[Case]:
    """Every manifest entry under vectors/ (as tests/common/mod.rs all_cases)."""
    cases = []
    dv = VECTORS / "dovecot"
    for r in read_tsv(dv / "manifest.tsv"):
        cases.append(
            Case(
                manifest="dovecot",
                file=dv / r["file"],
                keys=[dv / k for k in r["keys"].split(",")],
                plaintext=None if r["plaintext"] == "-" else dv / r["plaintext"],
                sha256=r["plaintext_sha256"],
                row=r,
            )
        )
    cases += _key_dir_cases("oracle")
    # Every other cipher/hash pair Dovecot 2.4.1 writes (OFB/CFB/CTR need the opt-in).
    cases += _key_dir_cases("ciphers", ofb_cfb=True)
    cases += _key_dir_cases("x25519")
    cases += _key_dir_cases("mlkem")
    return cases


CASES = all_cases()


@dataclass
class StoreMail:
    """One mail of a per-user store (vectors/userkeys/<store>)."""

    store: Path
    file: Path
    plaintext: Path
    sha256: str
    key_id: str
    version: str

    @property
    def id(self) -> str:
        return f"{self.store.name}:{self.file.name}"

    @property
    def attributes(self) -> Path:
        return self.store / "dovecot-attributes"

    def password(self) -> bytes:
        pw = (self.store / "password").read_bytes()
        return pw[:-1] if pw.endswith(b"\n") else pw


def user_stores() -> List[Path]:
    top = VECTORS / "userkeys"
    dirs = sorted(p for p in top.iterdir() if (p / "manifest.tsv").is_file())
    assert dirs, f"no user store in {top}"
    return dirs


def user_mails() -> List[StoreMail]:
    out = []
    for d in user_stores():
        for r in read_tsv(d / "manifest.tsv"):
            out.append(
                StoreMail(
                    store=d,
                    file=d / "Maildir" / r["maildir_file"],
                    plaintext=d / r["plaintext"],
                    sha256=r["plaintext_sha256"],
                    key_id=r["key_id"],
                    version=r["header_version"],
                )
            )
    return out


USER_MAILS = user_mails()


@dataclass
class CompressedMail:
    """A mail the real builds wrote with compression in front of mail_crypt."""

    env: str
    file: Path
    row: Dict[str, str]

    @property
    def id(self) -> str:
        return f"{self.env}:{self.row['compression']}:{self.file.name}"


STORE_KEY = VECTORS / "stores" / "keys" / "p256" / "private.pem"


def compressed_mails() -> List[CompressedMail]:
    out = []
    for env in ("new", "old", "v24"):
        d = VECTORS / "stores" / "compressed" / env
        for r in read_tsv(d / "manifest.tsv"):
            out.append(CompressedMail(env=env, file=d / "Maildir" / r["maildir_file"], row=r))
    return out


COMPRESSED = compressed_mails()


def ring_for(keys: List[Path]):
    import mailcrypt

    ring = mailcrypt.KeyRing()
    for k in keys:
        ring.add_file(k)
    return ring


@pytest.fixture(scope="session")
def sample_ring():
    return ring_for([VECTORS / "dovecot" / "sample-v2.key.pem"])

