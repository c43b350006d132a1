"""In-app security notices."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sakskydd.db import Base, CreatedAt, UUIDPrimaryKey


class NoticeKind(enum.StrEnum):
    NEW_LOGIN_SOURCE = "new_login_source"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - an event name, not a password
    MFA_CHANGED = "mfa_changed"
    MFA_RESET = "mfa_reset"
    RECOVERY_CODE_USED = "recovery_code_used"
    RECOVERY_CODES_REGENERATED = "recovery_codes_regenerated"
    ACCOUNT_LOCKED = "account_locked"
    ROLE_GRANTED = "role_granted"
    ROLE_REVOKED = "role_revoked"
    SESSIONS_ENDED = "sessions_ended"
    APPROVAL_REQUESTED = "approval_requested"
    ACTIVATION_REISSUED = "activation_reissued"
    ANALYSIS_SUBMITTED = "analysis_submitted"
    ANALYSIS_RETURNED = "analysis_returned"
    ANALYSIS_APPROVED = "analysis_approved"


class Notice(UUIDPrimaryKey, CreatedAt, Base):
    """Säkerhetsnotis: something the user should know about their own account."""

    __tablename__ = "notice"
    __table_args__ = (Index("ix_notice_user_read", "user_id", "read_at"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    kind: Mapped[NoticeKind] = mapped_column(Enum(NoticeKind, native_enum=False, length=40))
    # Non-sensitive parameters only (time, a role name); never codes, tokens or secrets.
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    read_at: Mapped[dt.datetime | None]


class SentReminder(UUIDPrimaryKey, CreatedAt, Base):
    """A reminder that went out; the unique key makes `sakskydd reminders run` idempotent."""

    __tablename__ = "sent_reminder"
    __table_args__ = (
        UniqueConstraint("kind", "subject_id", "user_id", "stage"),
        Index("ix_sent_reminder_user_subject", "user_id", "subject_id"),
    )

    kind: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    # What this reminder is about in time, e.g. "due:2027-03-01" or "overdue:2027-03-01" or
    # "ack:2", so a new due date or a later stage reminds again but a rerun does not.
    stage: Mapped[str] = mapped_column(String(40))
    due_on: Mapped[dt.date | None]
