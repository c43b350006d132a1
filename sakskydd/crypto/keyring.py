"""The unwrapped keys of one process, and the creation of the first keys."""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.orm import Session

from sakskydd.crypto.errors import KEKError, KeyRingError
from sakskydd.crypto.models import LOADED_STATUSES, CryptoKey, KeyPurpose, KeyStatus
from sakskydd.crypto.providers import KEKProvider
from sakskydd.db import utcnow

__all__ = ["KeyRing", "KeyRingError", "ensure_initial_keys", "new_key_id"]

DATA_KEY_SIZE = 32
FIELD_INFO_PREFIX = b"sakskydd/field/v1|"


class KeyRing:
    """Unwrapped keys held in memory: data keys by id, the blind-index key and the audit MAC key."""

    def __init__(
        self,
        *,
        primary_id: int,
        data_keys: Mapping[int, bytes],
        blind_index_key: bytes,
        audit_mac_key: bytes,
    ) -> None:
        if primary_id not in data_keys:
            raise KeyRingError("the primary data key is not in the key ring")
        self.primary_id = primary_id
        self._data_keys = dict(data_keys)
        self.blind_index_key = blind_index_key
        self.audit_mac_key = audit_mac_key
        self._column_keys: dict[tuple[int, str, str], AESGCM] = {}

    def __repr__(self) -> str:  # never show key material
        return f"<KeyRing primary={self.primary_id} data_keys={sorted(self._data_keys)}>"

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._data_keys

    @property
    def data_key_ids(self) -> list[int]:
        return sorted(self._data_keys)

    def data_key(self, key_id: int) -> bytes:
        """The data key with this id; raises KeyError when it is not loaded."""
        return self._data_keys[key_id]

    def column_cipher(self, key_id: int, table: str, column: str) -> AESGCM:
        """AES-GCM under the per-column key HKDF(data key, table, column); cached. Raises KeyError."""
        cache_key = (key_id, table, column)
        cipher = self._column_keys.get(cache_key)
        if cipher is None:
            info = FIELD_INFO_PREFIX + table.encode() + b"|" + column.encode()
            derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(
                self._data_keys[key_id]
            )
            cipher = self._column_keys[cache_key] = AESGCM(derived)
        return cipher

    @classmethod
    def load(cls, session: Session, provider: KEKProvider) -> KeyRing:
        """Unwrap the primary and enabled keys; raises KeyRingError (KEKError for a wrong KEK)."""
        rows = session.scalars(select(CryptoKey).where(CryptoKey.status.in_(LOADED_STATUSES))).all()
        data_keys: dict[int, bytes] = {}
        primaries: dict[KeyPurpose, int] = {}
        singles: dict[KeyPurpose, bytes] = {}
        for row in rows:
            if row.kek_id != provider.kek_id:
                raise KEKError(
                    f"key {row.id} is wrapped by KEK {row.kek_id}, "
                    f"not by the configured KEK {provider.kek_id}"
                )
            key = provider.unwrap(row.id, row.wrapped_key)
            if row.status == KeyStatus.PRIMARY:
                if row.purpose in primaries:
                    raise KeyRingError(f"more than one primary {row.purpose} key")
                primaries[row.purpose] = row.id
            if row.purpose == KeyPurpose.DATA:
                data_keys[row.id] = key
            elif row.status == KeyStatus.PRIMARY:
                singles[row.purpose] = key
        for purpose in KeyPurpose:
            if purpose not in primaries:
                raise KeyRingError(f"no primary {purpose} key (run the setup command or `sakskydd keys`)")
        return cls(
            primary_id=primaries[KeyPurpose.DATA],
            data_keys=data_keys,
            blind_index_key=singles[KeyPurpose.BLIND_INDEX],
            audit_mac_key=singles[KeyPurpose.AUDIT_MAC],
        )


def new_key_id(session: Session) -> int:
    """A random, unused, non-zero 31-bit key id."""
    while True:
        key_id = secrets.randbits(31)
        if key_id and session.get(CryptoKey, key_id) is None:
            return key_id


def create_key(session: Session, provider: KEKProvider, purpose: KeyPurpose, status: KeyStatus) -> CryptoKey:
    """Generate, wrap and add (not flush) one key."""
    key_id = new_key_id(session)
    now = utcnow()
    key = CryptoKey(
        id=key_id,
        purpose=purpose,
        status=status,
        wrapped_key=provider.wrap(key_id, secrets.token_bytes(DATA_KEY_SIZE)),
        kek_id=provider.kek_id,
        created_at=now,
        promoted_at=now if status == KeyStatus.PRIMARY else None,
    )
    session.add(key)
    return key


def ensure_initial_keys(session: Session, provider: KEKProvider) -> list[CryptoKey]:
    """Create a primary data, blind-index and audit-MAC key where none exists; idempotent.

    Returns the keys created (flushed, not committed). Each creation is audited with
    `keys.added` in the same transaction.
    """
    existing = set(
        session.scalars(select(CryptoKey.purpose).where(CryptoKey.status == KeyStatus.PRIMARY)).all()
    )
    created = [
        create_key(session, provider, purpose, KeyStatus.PRIMARY)
        for purpose in KeyPurpose
        if purpose not in existing
    ]
    if not created:
        return []
    session.flush()
    from sakskydd import audit  # imported late: audit depends on the key ring

    keyring = KeyRing.load(session, provider)
    for key in created:
        audit.record(
            audit.Event.KEYS_ADDED,
            target_type="crypto_key",
            target_id=str(key.id),
            detail={
                "key_id": key.id,
                "purpose": str(key.purpose),
                "status": str(key.status),
                "initial": True,
            },
            session=session,
            keyring=keyring,
        )
    return created
