"""Wrapped data keys of the field-level encryption (SECURITY.md, "Field-level encryption")."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Enum, Index, Integer, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from sakskydd.db import Base, utcnow


class KeyPurpose(enum.StrEnum):
    DATA = "data"
    BLIND_INDEX = "blind_index"
    AUDIT_MAC = "audit_mac"


class KeyStatus(enum.StrEnum):
    PRIMARY = "primary"  # seals new values (data keys); the one key in use (other purposes)
    ENABLED = "enabled"  # opens existing values, seals nothing
    DISABLED = "disabled"  # no row uses it any more; not loaded
    DESTROYED = "destroyed"  # wrapped material erased


# Statuses whose keys are unwrapped into the key ring.
LOADED_STATUSES = (KeyStatus.PRIMARY, KeyStatus.ENABLED)


class CryptoKey(Base):
    """Datanyckel: a random key wrapped by the key-encryption key (KEK)."""

    __tablename__ = "crypto_key"

    # The 4-byte key id written into every ciphertext: random, non-zero, 31 bits.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    purpose: Mapped[KeyPurpose] = mapped_column(Enum(KeyPurpose, native_enum=False, length=16))
    status: Mapped[KeyStatus] = mapped_column(Enum(KeyStatus, native_enum=False, length=16))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    kek_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    promoted_at: Mapped[dt.datetime | None]
    disabled_at: Mapped[dt.datetime | None]

    __table_args__ = (
        # Backstop for the rule enforced in services: at most one primary key per purpose.
        Index(
            "ix_crypto_key_one_primary_per_purpose",
            "purpose",
            unique=True,
            sqlite_where=text("status = 'primary'"),
            postgresql_where=text("status = 'primary'"),
        ),
    )
