"""A verification of the audit chain started from the auditors' workspace: its progress while
it runs and its result. The authoritative record is the audit.verified event it appends; this
row is what the status page shows (and where a running verification reports its progress)."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import BigInteger, Enum, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sakskydd.db import Base, UUIDPrimaryKey


class RunStatus(enum.StrEnum):
    RUNNING = "pagar"
    INTACT = "hel"
    BROKEN = "bruten"
    FAILED = "avbruten"  # the run itself failed (the process stopped, the database was unreachable)


class VerificationRun(UUIDPrimaryKey, Base):
    __tablename__ = "audit_verification_run"

    started_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))
    started_at: Mapped[dt.datetime]
    heartbeat_at: Mapped[dt.datetime]  # progress was last reported; a stale running run failed
    finished_at: Mapped[dt.datetime | None]
    status: Mapped[RunStatus] = mapped_column(
        Enum(RunStatus, native_enum=False, length=20), default=RunStatus.RUNNING
    )
    upto: Mapped[int] = mapped_column(BigInteger, default=0)  # the head when the run started
    checked: Mapped[int] = mapped_column(BigInteger, default=0)
    checkpoints: Mapped[int] = mapped_column(Integer, default=0)
    key_fingerprint: Mapped[str | None] = mapped_column(String(64))
    first_bad_seq: Mapped[int | None] = mapped_column(BigInteger)
    code: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(String(300))

    started_by = relationship("User")
