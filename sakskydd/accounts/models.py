"""Users, role assignments, recovery codes, activation tokens and server-side sessions."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Enum, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sakskydd.crypto.fields import EncryptedBytes, encrypted_field
from sakskydd.db import Base, CreatedAt, UUIDPrimaryKey
from sakskydd.organisations.models import Operator, OrgUnit


class Role(enum.StrEnum):
    SAMORDNARE = "samordnare"
    ERSATTARE = "ersattare"
    UPPHANDLARE = "upphandlare"
    CHEF = "chef"
    REVISOR = "revisor"
    ADMIN = "admin"

    @property
    def scope(self) -> str:
        """Unit roles are given per unit; the others per operator."""
        return "unit" if self in UNIT_ROLES else "operator"

    @property
    def needs_second_approval(self) -> bool:
        return self in (Role.CHEF, Role.ADMIN)


UNIT_ROLES = frozenset({Role.SAMORDNARE, Role.ERSATTARE, Role.UPPHANDLARE})


class AssignmentStatus(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    REJECTED = "rejected"
    REVOKED = "revoked"


class Clearance(enum.IntEnum):
    """Säkerhetsskyddsklassificering the person may see (0 = none)."""

    NONE = 0
    BEGRANSAT_HEMLIG = 1
    KONFIDENTIELL = 2
    HEMLIG = 3
    KVALIFICERAT_HEMLIG = 4


class User(UUIDPrimaryKey, CreatedAt, Base):
    """Användare."""

    __tablename__ = "user_account"
    __encrypted__ = ("totp_secret", "totp_pending_secret")

    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("operator.id"), index=True)
    clearance: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(default=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    password_changed_at: Mapped[dt.datetime | None]
    totp_secret_ct: Mapped[bytes | None] = mapped_column("totp_secret", EncryptedBytes)
    # A new secret waits here until the user confirms it with a code; the active one keeps working.
    totp_pending_ct: Mapped[bytes | None] = mapped_column("totp_pending_secret", EncryptedBytes)
    totp_enrolled_at: Mapped[dt.datetime | None]
    totp_last_step: Mapped[int | None]
    failed_logins: Mapped[int] = mapped_column(default=0)
    last_failed_at: Mapped[dt.datetime | None]
    locked_until: Mapped[dt.datetime | None]
    last_login_at: Mapped[dt.datetime | None]
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    version: Mapped[int] = mapped_column(default=1)

    operator: Mapped[Operator] = relationship()
    assignments: Mapped[list[RoleAssignment]] = relationship(
        back_populates="user", foreign_keys="RoleAssignment.user_id", order_by="RoleAssignment.created_at"
    )

    totp_secret = encrypted_field("totp_secret_ct", table="user_account", column="totp_secret")
    totp_pending_secret = encrypted_field(
        "totp_pending_ct", table="user_account", column="totp_pending_secret"
    )

    __table_args__ = (CheckConstraint("clearance >= 0 AND clearance <= 4", name="clearance_range"),)
    __mapper_args__ = {"version_id_col": version}

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)

    @property
    def has_mfa(self) -> bool:
        return self.totp_enrolled_at is not None

    @property
    def active_assignments(self) -> list[RoleAssignment]:
        return [a for a in self.assignments if a.status == AssignmentStatus.ACTIVE]


class RoleAssignment(UUIDPrimaryKey, CreatedAt, Base):
    """Rolltilldelning: a role for one unit or one operator."""

    __tablename__ = "role_assignment"
    __table_args__ = (
        CheckConstraint("(unit_id IS NULL) <> (operator_id IS NULL)", name="exactly_one_scope"),
        Index("ix_role_assignment_user_status", "user_id", "status"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=20))
    unit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    operator_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("operator.id"), index=True)
    status: Mapped[AssignmentStatus] = mapped_column(Enum(AssignmentStatus, native_enum=False, length=20))
    granted_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[dt.datetime | None]
    revoked_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    revoked_at: Mapped[dt.datetime | None]

    user: Mapped[User] = relationship(back_populates="assignments", foreign_keys=[user_id])
    unit: Mapped[OrgUnit | None] = relationship()
    operator: Mapped[Operator | None] = relationship()
    granted_by: Mapped[User | None] = relationship(foreign_keys=[granted_by_id])

    @property
    def scope_name(self) -> str:
        if self.unit is not None:
            return self.unit.name
        return self.operator.name if self.operator is not None else ""


class RecoveryCode(UUIDPrimaryKey, CreatedAt, Base):
    """Återställningskod: single use, stored Argon2-hashed."""

    __tablename__ = "recovery_code"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(255))
    used_at: Mapped[dt.datetime | None]


class ActivationToken(UUIDPrimaryKey, CreatedAt, Base):
    """Aktiveringslänk: a 256-bit single-use token, stored as its SHA-256."""

    __tablename__ = "activation_token"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))


class UserSession(UUIDPrimaryKey, CreatedAt, Base):
    """Server-side session; the cookie carries only a random token whose hash is stored here."""

    __tablename__ = "user_session"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_seen_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    mfa_at: Mapped[dt.datetime | None]
    authenticated_at: Mapped[dt.datetime | None]
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(200))

    user: Mapped[User | None] = relationship()


class KnownLoginSource(UUIDPrimaryKey, Base):
    """Where a user has logged in from before (a keyed hash), to notice new ones."""

    __tablename__ = "known_login_source"
    __table_args__ = (Index("ix_known_login_source_user_source", "user_id", "source_hash", unique=True),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    source_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    first_seen_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]
