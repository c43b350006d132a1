"""Key-encryption-key (KEK) providers behind one small protocol.

A provider wraps and unwraps data keys; the KEK itself never leaves it. A key service
(Vault Transit, a cloud KMS) fits behind the same protocol: `kek_id` names the key
version, `wrap`/`unwrap` call the service.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sakskydd.crypto.errors import KEKError

if TYPE_CHECKING:
    from sakskydd.config import Settings

KEK_SIZE = 32
NONCE_SIZE = 12
WRAP_LABEL = b"sakskydd/kek-wrap/v1"


@runtime_checkable
class KEKProvider(Protocol):
    """Wraps data keys under a key-encryption key it never reveals."""

    @property
    def kek_id(self) -> str: ...

    def wrap(self, key_id: int, data_key: bytes) -> bytes: ...

    def unwrap(self, key_id: int, wrapped: bytes) -> bytes: ...


def _wrap_aad(key_id: int) -> bytes:
    return WRAP_LABEL + b"|" + key_id.to_bytes(4, "big")


class _LocalKEKProvider:
    """AES-256-GCM with a KEK held in this process: nonce ‖ ciphertext+tag."""

    def __init__(self, kek: bytes) -> None:
        if len(kek) != KEK_SIZE:
            raise KEKError("the key-encryption key must be 32 bytes")
        self._aead = AESGCM(kek)
        # A fingerprint, not the key: SHA-256 under a label, first 128 bits as hex.
        self._kek_id = hashlib.sha256(b"sakskydd/kek-id/v1|" + kek).hexdigest()[:32]

    @property
    def kek_id(self) -> str:
        return self._kek_id

    def wrap(self, key_id: int, data_key: bytes) -> bytes:
        nonce = os.urandom(NONCE_SIZE)
        return nonce + self._aead.encrypt(nonce, data_key, _wrap_aad(key_id))

    def unwrap(self, key_id: int, wrapped: bytes) -> bytes:
        try:
            return self._aead.decrypt(wrapped[:NONCE_SIZE], wrapped[NONCE_SIZE:], _wrap_aad(key_id))
        except (InvalidTag, ValueError):
            raise KEKError(f"key {key_id} cannot be unwrapped with KEK {self._kek_id}") from None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} kek_id={self._kek_id}>"


def _decode_kek(text: str, origin: str) -> bytes:
    try:
        kek = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KEKError(f"the key-encryption key in {origin} is not valid base64") from None
    if len(kek) != KEK_SIZE:
        raise KEKError(f"the key-encryption key in {origin} must be 32 bytes")
    return kek


class FileKEKProvider(_LocalKEKProvider):
    """KEK as base64 in a file readable by its owner only (mode 0600 or stricter)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            raise KEKError(f"key-encryption key file {self.path} does not exist") from None
        except OSError as exc:
            raise KEKError(f"key-encryption key file {self.path} cannot be opened: {exc.strerror}") from None
        with os.fdopen(fd, "r", encoding="ascii") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise KEKError(f"key-encryption key file {self.path} is not a regular file")
            if info.st_mode & 0o077:
                raise KEKError(
                    f"key-encryption key file {self.path} is accessible by group or others "
                    f"(mode {stat.S_IMODE(info.st_mode):04o}); run chmod 600"
                )
            text = handle.read()
        super().__init__(_decode_kek(text, str(self.path)))


class EnvKEKProvider(_LocalKEKProvider):
    """KEK as base64 in an environment variable (SAKSKYDD_KEK)."""

    def __init__(self, b64: str) -> None:
        super().__init__(_decode_kek(b64, "SAKSKYDD_KEK"))


def generate_kek_file(path: str | os.PathLike[str]) -> Path:
    """Create a new random KEK file with mode 0600; refuses to overwrite (FileExistsError)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(base64.b64encode(secrets.token_bytes(KEK_SIZE)).decode("ascii") + "\n")
    return path


def provider_from_settings(settings: Settings) -> KEKProvider:
    """The configured provider: SAKSKYDD_KEK wins over SAKSKYDD_KEK_FILE; raises KEKError."""
    if settings.kek_b64:
        return EnvKEKProvider(settings.kek_b64)
    if settings.kek_file is not None:
        return FileKEKProvider(settings.kek_file)
    raise KEKError("no key-encryption key configured (SAKSKYDD_KEK_FILE or SAKSKYDD_KEK)")
