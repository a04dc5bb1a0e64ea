"""Type stubs of the PyO3 extension under the ``mailcrypt`` package."""

import os
from typing import Any, Dict, List, Optional, Tuple, Union

_Path = Union[str, "os.PathLike[str]"]
_Buffer = Union[bytes, bytearray, memoryview]
_Password = Union[str, bytes, bytearray, memoryview, None]

TARGETS: Tuple[str, ...]

class MailcryptError(Exception): ...

class NoKeyError(MailcryptError):
    key_ids: List[str]
    tried: List[Tuple[str, Dict[str, str]]]

class AuthenticationError(MailcryptError): ...
class MalformedError(MailcryptError): ...
class BadPasswordError(MailcryptError): ...
class UnsupportedError(MailcryptError): ...

class KeyRing:
    def __init__(self) -> None: ...
    def add_file(
        self, path: _Path, password: _Password = None, *, label: Optional[str] = None
    ) -> str: ...
    def add_bytes(
        self, data: _Buffer, password: _Password = None, *, label: Optional[str] = None
    ) -> str: ...
    def add_attributes(self, path: _Path, password: _Password = None) -> List[str]: ...
    def __len__(self) -> int: ...

class _Reader:
    def read(self, size: int = -1) -> bytes: ...
    def close(self) -> None: ...
    @property
    def info(self) -> Dict[str, Any]: ...

def _decrypt(
    data: _Buffer,
    ring: KeyRing,
    verified: bool = True,
    decompress: bool = False,
    allow_ofb_cfb: bool = False,
    require_integrity: bool = False,
) -> bytes: ...
def _open(
    source: Any,
    ring: KeyRing,
    verified: bool = False,
    allow_ofb_cfb: bool = False,
    require_integrity: bool = False,
    max_buffer: int = ...,
) -> _Reader: ...
def _decrypt_stream(
    source: Any,
    destination: Any,
    ring: KeyRing,
    verified: bool = True,
    decompress: bool = False,
    allow_ofb_cfb: bool = False,
    require_integrity: bool = False,
    max_buffer: int = ...,
) -> Dict[str, Any]: ...
def _encrypt(
    data: _Buffer,
    recipients: Any,
    target: str = "dovecot-2.3",
    cipher: str = "aes-256-gcm-sha256",
    key_id_form: Optional[str] = None,
    multiple_recipients: bool = False,
    same_calg: bool = False,
) -> bytes: ...
def _inspect(source: Union[_Buffer, _Path], ring: Optional[KeyRing] = None) -> Dict[str, Any]: ...
def _key_ids(source: Union[_Buffer, _Path], password: _Password = None) -> Dict[str, Any]: ...
def is_encrypted(data: _Buffer) -> bool: ...
