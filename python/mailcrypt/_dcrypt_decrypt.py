"""``dcrypt-decrypt``: a drop-in for Dovecot's ``dcrypt-decrypt.py`` (dovecot/tools).

The flags of the original keep their meaning:

    -f, --file FILE   container to read (default: standard input)
    -i, --info        print what the header says (to standard error)
    -k, --key KEY     private key file
    -w, --write FILE  write the plaintext there (default: standard output)
        --warn        a failed integrity check is a warning, not an error

and these are added:

    -k more than once          every key is tried, under every key-id convention
    --password-file F          password of encrypted keys / of the user key
    --attributes FILE          a user's Dovecot attribute file (per-user keys)
    -z, --decompress           undo Dovecot's compression layer (gz, bz2, xz, zstd, lz4)
    --allow-ofb-cfb            accept OFB/CFB/CTR bodies
    --require-integrity        refuse v1 files and flag NONE

Unlike the original it opens every build's mail: v1 containers, mail from
unpatched Dovecot 2.3 on OpenSSL 3 (uncompressed-point key ids), HMAC and
ChaCha20-Poly1305 bodies, X25519/X448, RSA, P-384/P-521 keys, encrypted
PKCS#8 and Dovecot key strings. It streams (bounded memory), writes ``-w``
atomically (a temporary file renamed into place; nothing is left on
failure), and without ``--warn`` writes no byte of a file that fails
authentication. Differences in output: ``-i`` prints the header and which
key matched but never session keys; "no matching key" is an error (exit
status 1, the ids tried on standard error) rather than a message on
standard output with status 0.

Exit status: 0 success, 1 failure, 2 usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import Any, BinaryIO, Dict, List, Optional, Sequence

import mailcrypt

TOOL = "dcrypt-decrypt"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=TOOL,
        description="Decrypt a Dovecot mail-crypt file (any Dovecot build). "
        "Either -k/--key (or --attributes) or -i/--info is needed.",
    )
    p.add_argument("-f", "--file", metavar="FILE", help="file to read (default: stdin)")
    p.add_argument(
        "-i", "--info", action="store_true", help="show information about the file (on stderr)"
    )
    p.add_argument(
        "-k",
        "--key",
        metavar="KEY",
        action="append",
        default=[],
        help="private key to decrypt the file with; may be given several times "
        "(PEM, encrypted PEM, SEC1, PKCS#1, DER, Dovecot key string, JWK)",
    )
    p.add_argument(
        "-w", "--write", metavar="FILE", help="file to write the plaintext to (default: stdout)"
    )
    p.add_argument(
        "--warn",
        action="store_true",
        help="if the integrity check fails, warn instead of erroring out "
        "(the plaintext decrypted before the check is kept, unauthenticated)",
    )
    p.add_argument(
        "--password-file",
        metavar="F",
        help="file holding the password of encrypted keys (one trailing newline is ignored)",
    )
    p.add_argument(
        "--attributes",
        metavar="FILE",
        help="a user's Dovecot mailbox attribute file: its user and folder keys "
        "are opened with --password-file and added",
    )
    p.add_argument(
        "-z",
        "--decompress",
        action="store_true",
        help="undo Dovecot's compression layer (zlib/mail_compress plugin)",
    )
    p.add_argument(
        "--allow-ofb-cfb", action="store_true", help="accept OFB, CFB and CTR bodies"
    )
    p.add_argument(
        "--require-integrity",
        action="store_true",
        help="refuse files without integrity protection (v1, flag NONE)",
    )
    return p


def _read_password(path: Optional[str]) -> Optional[bytes]:
    if path is None:
        return None
    with open(path, "rb") as f:
        pw = f.read()
    if pw.endswith(b"\n"):
        pw = pw[:-1]
        if pw.endswith(b"\r"):
            pw = pw[:-1]
    return pw


def _line(key: str, value: Any, level: int = 1) -> str:
    indent = "  " * (level - 1) + ("- " if level > 1 else "")
    return f"{indent}{key:<{max(15 - len(indent), 1)}}: {value}"


def _info_lines(info: Dict[str, Any]) -> List[str]:
    """The header description printed by -i (no secrets, unlike the original)."""
    if info.get("format") == "empty":
        return [_line("Version", "empty file (Dovecot's encrypted form of an empty mail)")]
    out = [_line("Version", info["format"].lstrip("v"))]
    if "flags" in info:
        out.append(_line("Flags", f"{info['flags']:#04x} ({info['integrity']})"))
    else:
        out.append(_line("Integrity", info["integrity"]))
    out.append(_line("Header length", info["header_len"]))
    out.append(_line("Cipher algo", info["cipher"]))
    if "mac" in info:
        out.append(_line("Digest algo", info["mac"]))
        out.append(_line("Rounds", info["rounds"]))
    recipients = info.get("recipients", [])
    out.append("")
    out.append(f"Key{'s' if len(recipients) != 1 else ''} (total: {len(recipients)})")
    for r in recipients:
        out.append(_line("Key type", r["type"], level=2))
        out.append(_line("Key digest", r["key_id"], level=2))
    if "match" in info:
        m = info["match"]
        out.append("")
        if m is None:
            reason = info.get("match_error")
            out.append(_line("Matching key", f"none ({reason})" if reason else "none"))
        else:
            out.append(_line("Matching key", m["key"]))
            out.append(_line("Key digest", m["key_id"], level=2))
            out.append(_line("Id convention", m["convention"], level=2))
    return out


class _Counting:
    """A binary writer that counts what passes through it."""

    def __init__(self, inner: BinaryIO) -> None:
        self.inner = inner
        self.count = 0

    def write(self, data: bytes) -> int:
        n = self.inner.write(data)
        n = len(data) if n is None else n
        self.count += n
        return n

    def flush(self) -> None:
        self.inner.flush()


class _AtomicFile:
    """A temporary file beside ``path``, renamed over it on commit."""

    def __init__(self, path: str) -> None:
        self.path = path
        directory = os.path.dirname(os.path.abspath(path))
        fd, self.tmp = tempfile.mkstemp(prefix=".dcrypt-decrypt.", suffix=".tmp", dir=directory)
        self.file = os.fdopen(fd, "wb")

    def commit(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.tmp, self.path)
        try:
            dfd = os.open(os.path.dirname(os.path.abspath(self.path)), os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(dfd)
        except OSError:
            pass
        finally:
            os.close(dfd)

    def discard(self) -> None:
        self.file.close()
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass


def _warn(msg: str) -> None:
    print(f"{TOOL}: warning: {msg}", file=sys.stderr)


def _fail(msg: str) -> int:
    print(f"{TOOL}: {msg}", file=sys.stderr)
    return 1


def _load_ring(args: argparse.Namespace, password: Optional[bytes]) -> mailcrypt.KeyRing:
    ring = mailcrypt.KeyRing()
    for path in args.key:
        ring.add_file(path, password)
    if args.attributes:
        import warnings

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ring.add_attributes(args.attributes, password)
        for w in caught:
            _warn(str(w.message))
    return ring


def run(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    if not args.key and not args.attributes and not args.info:
        _parser().print_usage(sys.stderr)
        print(
            f"{TOOL}: error: Either -k/--key (or --attributes) or -i/--info is necessary",
            file=sys.stderr,
        )
        return 2
    stdin = args.file in (None, "-")
    decrypting = bool(args.key or args.attributes)
    try:
        ring = _load_ring(args, _read_password(args.password_file))
    except (mailcrypt.MailcryptError, OSError) as e:
        return _fail(str(e))

    if not decrypting:
        # -i alone: describe the header only.
        try:
            header = mailcrypt.inspect(sys.stdin.buffer.read() if stdin else args.file)
        except (mailcrypt.MailcryptError, OSError) as e:
            return _fail(str(e))
        print("\n".join(_info_lines(header)), file=sys.stderr)
        return 0

    source: Any = sys.stdin.buffer if stdin else args.file
    sink: Optional[_AtomicFile] = None
    try:
        if args.write and args.write != "-":
            sink = _AtomicFile(args.write)
            out = _Counting(sink.file)
        else:
            out = _Counting(sys.stdout.buffer)
    except OSError as e:
        return _fail(str(e))

    status = 0
    info: Optional[Dict[str, Any]] = None
    try:
        info = mailcrypt.decrypt_stream(
            source,
            out,
            ring,
            # --warn streams (plaintext goes out as it is decrypted);
            # otherwise nothing is written before the file is authenticated.
            verified=not args.warn,
            decompress=args.decompress,
            allow_ofb_cfb=args.allow_ofb_cfb,
            require_integrity=args.require_integrity,
        )
        if info.get("authenticated") is False:
            _warn(
                f"{args.file or 'input'} has no integrity protection (v1 or flag NONE): "
                "corruption cannot be detected"
            )
    except mailcrypt.AuthenticationError as e:
        if args.warn and out.count > 0:
            _warn(
                f"{e}; the {out.count} bytes decrypted before the check were written "
                "anyway (--warn): they are not authenticated"
            )
        else:
            status = _fail(str(e))
    except (mailcrypt.MailcryptError, OSError) as e:
        status = _fail(str(e))

    if sink is not None:
        if status == 0:
            try:
                sink.commit()
            except OSError as e:
                sink.discard()
                status = _fail(f"writing {args.write}: {e}")
        else:
            sink.discard()
    else:
        try:
            sys.stdout.buffer.flush()
        except OSError as e:
            status = _fail(f"writing standard output: {e}")

    if args.info:
        try:
            described = mailcrypt.inspect(args.file, ring) if not stdin else info
        except (mailcrypt.MailcryptError, OSError):
            described = info
        if described:
            print("\n".join(_info_lines(described)), file=sys.stderr)
    return status


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())


if __name__ == "__main__":
    main()
