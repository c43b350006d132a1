"""Field-level encryption: the sealed format, the column type, the descriptor, blind indexes.

Format of a sealed value (SECURITY.md, "Field-level encryption")::

    0x01 ‖ key id (4 bytes, big-endian) ‖ nonce (12 bytes) ‖ AES-256-GCM ciphertext + tag

The associated data binds the version, table, column, row UUID, unit UUID (nil UUID when
the row has no unit) and key id, so a value copied to another row, column or unit does
not open. The AES key is derived per column from the data key with HKDF.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from flask import current_app
from sqlalchemy import LargeBinary, TypeDecorator
from sqlalchemy.engine import Dialect

from sakskydd.crypto.errors import DecryptionError, KeyRingError, PlaintextNotAllowed
from sakskydd.crypto.keyring import KeyRing

__all__ = [
    "DecryptionError",
    "EncryptedBytes",
    "EncryptedField",
    "FieldRegistration",
    "PlaintextNotAllowed",
    "Sealed",
    "blind_index",
    "current_keyring",
    "encrypted_field",
    "key_id_of",
    "move_to_unit",
    "open_sealed",
    "registered_fields",
    "seal",
]

VERSION = 0x01
HEADER_SIZE = 5  # version + key id
NONCE_SIZE = 12
TAG_SIZE = 16
MIN_SIZE = HEADER_SIZE + NONCE_SIZE + TAG_SIZE
AAD_LABEL = b"sakskydd/field/v1"
BLIND_INDEX_LABEL = b"sakskydd/blind-index/v1|"
BLIND_INDEX_SIZE = 16
KEYRING_EXTENSION = "sakskydd.keyring"


class Sealed(bytes):
    """Bytes that are known to be ciphertext (the only thing EncryptedBytes accepts)."""

    __slots__ = ()


def current_keyring() -> KeyRing:
    """The key ring of the current Flask application; raises KeyRingError when none is loaded."""
    keyring = current_app.extensions.get(KEYRING_EXTENSION)
    if keyring is None:
        raise KeyRingError("no key ring loaded (sakskydd.crypto.init_app)")
    return keyring


def _aad(header: bytes, table: str, column: str, row_id: uuid.UUID, unit_id: uuid.UUID | None) -> bytes:
    table_b = table.encode()
    column_b = column.encode()
    return b"".join(
        (
            AAD_LABEL,
            header,
            len(table_b).to_bytes(2, "big"),
            table_b,
            len(column_b).to_bytes(2, "big"),
            column_b,
            row_id.bytes,
            (unit_id or uuid.UUID(int=0)).bytes,
        )
    )


def seal(
    plaintext: bytes,
    *,
    table: str,
    column: str,
    row_id: uuid.UUID,
    unit_id: uuid.UUID | None,
    keyring: KeyRing,
) -> Sealed:
    """Encrypt under the primary data key, bound to table, column, row and unit."""
    if not isinstance(row_id, uuid.UUID):
        raise TypeError("row_id must be a UUID (set the row id before encrypted attributes)")
    key_id = keyring.primary_id
    header = bytes((VERSION,)) + key_id.to_bytes(4, "big")
    nonce = os.urandom(NONCE_SIZE)
    cipher = keyring.column_cipher(key_id, table, column)
    return Sealed(
        header + nonce + cipher.encrypt(nonce, plaintext, _aad(header, table, column, row_id, unit_id))
    )


def key_id_of(ciphertext: bytes) -> int | None:
    """The key id in a sealed value's header, or None when the header is malformed."""
    if len(ciphertext) < MIN_SIZE or ciphertext[0] != VERSION:
        return None
    return int.from_bytes(ciphertext[1:HEADER_SIZE], "big")


def open_sealed(
    ciphertext: bytes,
    *,
    table: str,
    column: str,
    row_id: uuid.UUID,
    unit_id: uuid.UUID | None,
    keyring: KeyRing,
) -> bytes:
    """Decrypt a sealed value; raises DecryptionError (always the same message) on any failure."""
    key_id = key_id_of(ciphertext)
    if key_id is None or key_id not in keyring:
        raise DecryptionError(table=table, column=column, row_id=row_id, key_id=key_id)
    header = ciphertext[:HEADER_SIZE]
    nonce = ciphertext[HEADER_SIZE : HEADER_SIZE + NONCE_SIZE]
    try:
        return keyring.column_cipher(key_id, table, column).decrypt(
            nonce, ciphertext[HEADER_SIZE + NONCE_SIZE :], _aad(header, table, column, row_id, unit_id)
        )
    except (InvalidTag, ValueError):
        # Built only here: on the hot path (every decryption) the error object cost 4 % of a
        # re-encryption run (docs/benchmarks.md section 5).
        raise DecryptionError(table=table, column=column, row_id=row_id, key_id=key_id) from None


class EncryptedBytes(TypeDecorator[bytes]):
    """A binary column that only ever receives ciphertext: anything but Sealed raises."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        if not isinstance(value, Sealed):
            raise PlaintextNotAllowed("only sealed values may be written to an encrypted column")
        return bytes(value)

    def process_literal_param(self, value: Any, dialect: Dialect) -> str:
        raise PlaintextNotAllowed("encrypted columns cannot be rendered as literals")

    def process_result_value(self, value: Any, dialect: Dialect) -> Sealed | None:
        if value is None:
            return None
        return Sealed(value)


@dataclass(frozen=True)
class FieldRegistration:
    """One encrypted attribute: where its ciphertext lives and what it is bound to."""

    model: type
    ct_attr: str
    table: str
    column: str
    unit_attr: str
    attr: str


_registry: list[FieldRegistration] = []


def registered_fields(metadata: Any = None) -> list[FieldRegistration]:
    """Every encrypted attribute declared so far; only tables of `metadata` when given."""
    if metadata is None:
        return list(_registry)
    return [f for f in _registry if getattr(f.model, "__table__", None) is metadata.tables.get(f.table)]


class EncryptedField:
    """Descriptor: assigning plaintext seals it into `ct_attr`; reading opens it."""

    def __init__(self, ct_attr: str, *, table: str, column: str, unit_attr: str, text: bool) -> None:
        self.ct_attr = ct_attr
        self.table = table
        self.column = column
        self.unit_attr = unit_attr
        self.text = text
        self.name = ct_attr

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        _registry.append(
            FieldRegistration(
                model=owner,
                ct_attr=self.ct_attr,
                table=self.table,
                column=self.column,
                unit_attr=self.unit_attr,
                attr=name,
            )
        )

    def _context(self, obj: Any) -> tuple[uuid.UUID, uuid.UUID | None]:
        row_id = getattr(obj, "id", None)
        if not isinstance(row_id, uuid.UUID):
            raise TypeError(
                f"{type(obj).__name__}.id must be set before {self.name} (it binds the ciphertext)"
            )
        return row_id, getattr(obj, self.unit_attr, None)

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        ciphertext = getattr(obj, self.ct_attr)
        if ciphertext is None:
            return None
        row_id, unit_id = self._context(obj)
        plaintext = open_sealed(
            ciphertext,
            table=self.table,
            column=self.column,
            row_id=row_id,
            unit_id=unit_id,
            keyring=current_keyring(),
        )
        return plaintext.decode("utf-8") if self.text else plaintext

    def __set__(self, obj: Any, value: str | bytes | None) -> None:
        if value is None:
            setattr(obj, self.ct_attr, None)
            return
        if self.text:
            if not isinstance(value, str):
                raise TypeError(f"{self.name} takes str")
            data = value.encode("utf-8")
        else:
            if not isinstance(value, bytes | bytearray | memoryview):
                raise TypeError(f"{self.name} takes bytes")
            data = bytes(value)
        row_id, unit_id = self._context(obj)
        setattr(
            obj,
            self.ct_attr,
            seal(
                data,
                table=self.table,
                column=self.column,
                row_id=row_id,
                unit_id=unit_id,
                keyring=current_keyring(),
            ),
        )


def encrypted_field(
    ct_attr: str, *, table: str, column: str, unit_attr: str = "unit_id", text: bool = True
) -> Any:
    """An attribute whose value is sealed into the EncryptedBytes attribute `ct_attr` of the row."""
    return EncryptedField(ct_attr, table=table, column=column, unit_attr=unit_attr, text=text)


def move_to_unit(row: Any, unit_id: uuid.UUID | None, *, unit_attr: str = "unit_id") -> None:
    """Give a row another unit, re-sealing its encrypted attributes (they are bound to the unit)."""
    fields = [f for f in _registry if isinstance(row, f.model) and f.unit_attr == unit_attr]
    values = {f.attr: getattr(row, f.attr) for f in fields}
    setattr(row, unit_attr, unit_id)
    for name, value in values.items():
        setattr(row, name, value)


def normalise_for_index(value: str) -> str:
    """NFKC, case-folded, with all whitespace removed (what a blind index compares)."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())
    return "".join(folded.split())


def blind_index(value: str, unit_id: uuid.UUID | None, keyring: KeyRing) -> bytes:
    """HMAC-SHA-256 (blind-index key) of the normalised value and the unit, truncated to 16 bytes."""
    message = BLIND_INDEX_LABEL + (unit_id or uuid.UUID(int=0)).bytes + normalise_for_index(value).encode()
    return hmac.digest(keyring.blind_index_key, message, hashlib.sha256)[:BLIND_INDEX_SIZE]
