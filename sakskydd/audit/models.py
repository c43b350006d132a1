"""The append-only audit trail, its head and its signed checkpoints (SECURITY.md, "Audit trail")."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sakskydd.db import Base


class AuditEvent(Base):
    """Granskningshändelse: one link of the hash chain. Rows are never updated or deleted."""

    __tablename__ = "audit_event"

    # Gapless, from 1, assigned under the head lock (never by the database).
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    occurred_at: Mapped[dt.datetime]
    event: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    # Copies of payload fields, for filtering only; the payload is what is hashed.
    actor_id: Mapped[uuid.UUID | None]
    target_type: Mapped[str | None] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(64))
    unit_id: Mapped[uuid.UUID | None]
    payload: Mapped[str] = mapped_column(Text)
    entry_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    mac: Mapped[bytes] = mapped_column(LargeBinary(32))

    __table_args__ = (
        # The auditors' search filters on one of these and pages by seq (keyset): each index
        # ends in seq, so a page is read in index order without sorting the matches.
        Index("ix_audit_event_actor_seq", "actor_id", "seq"),
        Index("ix_audit_event_unit_seq", "unit_id", "seq"),
        Index("ix_audit_event_event_seq", "event", "seq"),
        Index("ix_audit_event_target_seq", "target_id", "seq"),
        Index("ix_audit_event_target", "target_type", "target_id"),
        Index("ix_audit_event_occurred_at", "occurred_at"),
        CheckConstraint("seq >= 1", name="seq_positive"),
    )


class AuditHead(Base):
    """The newest link of the chain: one row (id 1), locked by every append."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    entry_hash: Mapped[bytes] = mapped_column(LargeBinary(32))

    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)


class AuditCheckpoint(Base):
    """Signerad kontrollpunkt: size, Merkle root and head hash signed with Ed25519."""

    __tablename__ = "audit_checkpoint"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)  # the size
    merkle_root: Mapped[bytes] = mapped_column(LargeBinary(32))
    head_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))
    signed_at: Mapped[dt.datetime]
    key_fingerprint: Mapped[str] = mapped_column(String(64))
