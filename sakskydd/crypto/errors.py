"""Exceptions of the crypto package; messages never carry key material or plaintext."""

from __future__ import annotations

import uuid


class CryptoError(Exception):
    """Base class of every error raised by sakskydd.crypto."""


class KeyRingError(CryptoError):
    """The key ring cannot be built: no KEK, no primary key, or a key that will not unwrap."""


class KEKError(KeyRingError):
    """The key-encryption key is missing, malformed, unsafe to use, or does not match."""


class KeyOperationError(CryptoError):
    """A key-management operation was refused (wrong state, rows still using the key, ...)."""


class DecryptionError(CryptoError):
    """A sealed value could not be opened.

    The message is always the same; the attributes say where it happened (for the audit
    event) but never why, so that no oracle about keys, tags or formats leaks.
    """

    MESSAGE = "encrypted value could not be decrypted"

    def __init__(
        self,
        *,
        table: str | None = None,
        column: str | None = None,
        row_id: uuid.UUID | None = None,
        key_id: int | None = None,
    ) -> None:
        super().__init__(self.MESSAGE)
        self.table = table
        self.column = column
        self.row_id = row_id
        self.key_id = key_id


class PlaintextNotAllowed(TypeError):
    """Something other than a sealed value was about to reach an encrypted column."""
