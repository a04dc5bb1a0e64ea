"""The `dcrypt-decrypt` console script: every container the CLI decrypts,
with dcrypt-decrypt.py's flags (-f, -i, -k, -w, --warn) plus -k repeated,
--password-file, --attributes and -z."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

from conftest import CASES, COMPRESSED, STORE_KEY, USER_MAILS, VECTORS, Case, CompressedMail, StoreMail, sha256
from mailcrypt._dcrypt_decrypt import run


def _script() -> str:
    # The console script pip installed next to this interpreter.
    here = Path(sys.executable).parent / "dcrypt-decrypt"
    found = str(here) if here.is_file() else shutil.which("dcrypt-decrypt")
    assert found, "the dcrypt-decrypt console script is not installed"
    return found


def script(args: List[str], stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([_script(), *args], input=stdin, capture_output=True, check=False)


def _key_args(keys: List[Path]) -> List[str]:
    return [a for k in keys for a in ("-k", str(k))]


def _case_args(case: Case) -> List[str]:
    return _key_args(case.keys) + (["--allow-ofb-cfb"] if case.ofb_cfb else [])


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_every_container(case: Case, tmp_path: Path) -> None:
    out = tmp_path / "out.eml"
    assert run([*_case_args(case), "-f", str(case.file), "-w", str(out)]) == 0
    assert out.read_bytes() == case.expected()
    # Only the output file is left in the directory (atomic write).
    assert os.listdir(tmp_path) == ["out.eml"]


# The installed script itself (a process per file): one container of every
# manifest, build, format, key type and cipher family (test_every_container
# runs the same code in-process over all of them).
def _one_of_each() -> List[Case]:
    picked: dict = {}
    for c in CASES:
        r = c.row
        if c.file.stat().st_size == 0:
            continue
        family = r.get("algorithm", "").split("-")[0]
        kind = (c.manifest, r.get("env"), r.get("format"), r.get("key_type"), r.get("curve"), family)
        picked.setdefault(kind, c)
    return list(picked.values())


@pytest.mark.parametrize("case", _one_of_each(), ids=lambda c: c.id)
def test_installed_script(case: Case, tmp_path: Path) -> None:
    out = tmp_path / "out.eml"
    p = script([*_case_args(case), "-f", str(case.file), "-w", str(out)])
    assert p.returncode == 0, p.stderr.decode()
    assert out.read_bytes() == case.expected()


@pytest.mark.parametrize("mail", USER_MAILS, ids=lambda m: m.id)
def test_user_store_with_attributes_and_password_file(mail: StoreMail, tmp_path: Path) -> None:
    out = tmp_path / "out.eml"
    args = ["--attributes", str(mail.attributes), "--password-file", str(mail.store / "password")]
    p = script([*args, "-f", str(mail.file), "-w", str(out)])
    assert p.returncode == 0, p.stderr.decode()
    assert sha256(out.read_bytes()) == mail.sha256


@pytest.mark.parametrize("mail", COMPRESSED, ids=lambda m: m.id)
def test_compressed_store_mail(mail: CompressedMail, tmp_path: Path) -> None:
    out = tmp_path / "out.eml"
    # Raw by default, as dcrypt-decrypt.py: the compressed payload.
    assert run(["-k", str(STORE_KEY), "-f", str(mail.file), "-w", str(out)]) == 0
    assert len(out.read_bytes()) == int(mail.row["payload_size"])
    assert run(["-z", "-k", str(STORE_KEY), "-f", str(mail.file), "-w", str(out)]) == 0
    if mail.row["compression"] != "deflate":
        assert sha256(out.read_bytes()) == mail.row["plaintext_sha256"]


def test_stdin_stdout_and_info() -> None:
    case = next(c for c in CASES if c.file.name == "sample-v2.bin")
    p = script(["-k", str(case.keys[0])], stdin=case.file.read_bytes())
    assert p.returncode == 0, p.stderr.decode()
    assert p.stdout == case.expected()
    p = script(["-i", "-k", str(case.keys[0]), "-f", str(case.file)])
    assert p.returncode == 0
    assert p.stdout == case.expected()
    err = p.stderr.decode()
    for line in ("Version", "Cipher algo    : aes-256-gcm", "Key digest", "Matching key", "spki-compressed"):
        assert line in err, err
    # -i alone: the header only, nothing on stdout.
    p = script(["-i", "-f", str(case.file)])
    assert p.returncode == 0 and p.stdout == b""
    assert "Cipher algo" in p.stderr.decode()


def test_usage_errors() -> None:
    p = script([])
    assert p.returncode == 2
    assert b"-k/--key" in p.stderr
    p = script(["--no-such-flag"])
    assert p.returncode == 2


def test_several_keys_and_password_file(tmp_path: Path) -> None:
    # v1 file by Dovecot's own tests plus an encrypted Dovecot key string.
    v1 = next(c for c in CASES if c.file.name == "sample-v1.bin")
    enc = VECTORS / "dovecot" / "v2-ec-p256-private-password.dovecot"
    pw = tmp_path / "pw"
    pw.write_bytes(b"This Is Sparta\n")
    out = tmp_path / "out"
    args = ["-k", str(enc), *_key_args(v1.keys), "--password-file", str(pw)]
    assert run([*args, "-f", str(v1.file), "-w", str(out)]) == 0
    assert out.read_bytes() == v1.expected()
    pw.write_bytes(b"wrong\n")
    p = script([*args, "-f", str(v1.file), "-w", str(out)])
    assert p.returncode == 1
    assert b"wrong password" in p.stderr


def test_wrong_key_fails_and_writes_nothing(tmp_path: Path) -> None:
    case = next(
        c
        for c in CASES
        if c.manifest == "oracle" and "/p384/" in str(c.file) and c.row["format"] == "v2-aead" and c.row["ciphertext_size"] != "0"
    )
    out = tmp_path / "out"
    p = script(["-k", str(VECTORS / "oracle/keys/p256/private.pem"), "-f", str(case.file), "-w", str(out)])
    assert p.returncode == 1
    assert b"no private key available" in p.stderr
    assert case.row["key_id"].encode() in p.stderr
    assert os.listdir(tmp_path) == []


def test_tampered_without_and_with_warn(tmp_path: Path) -> None:
    case = next(
        c for c in CASES if c.manifest == "oracle" and c.row["format"] == "v2-aead" and int(c.row["ciphertext_size"]) > 70000
    )
    data = bytearray(case.file.read_bytes())
    data[-1] ^= 1
    bad = tmp_path / "bad.bin"
    bad.write_bytes(bytes(data))
    out = tmp_path / "out"
    key = _key_args(case.keys)
    # Without --warn: an error, and no byte of the file is written.
    p = script([*key, "-f", str(bad), "-w", str(out)])
    assert p.returncode == 1
    assert b"authentication failed" in p.stderr
    assert not out.exists()
    p = script([*key, "-f", str(bad)])
    assert p.returncode == 1 and p.stdout == b""
    # With --warn: a warning; the unauthenticated plaintext is kept.
    p = script([*key, "--warn", "-f", str(bad), "-w", str(out)])
    assert p.returncode == 0, p.stderr.decode()
    assert b"warning" in p.stderr and b"authentication failed" in p.stderr
    got = out.read_bytes()
    expected = case.expected()
    assert len(got) > 0 and expected.startswith(got)
    assert sorted(os.listdir(tmp_path)) == ["bad.bin", "out"]
