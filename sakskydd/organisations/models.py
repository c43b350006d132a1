"""Operators (verksamhetsutövare), their units, supervisory authorities, applicability and appointments."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import Column, Enum, ForeignKey, Index, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sakskydd.crypto.fields import EncryptedBytes, encrypted_field
from sakskydd.db import Base, CreatedAt, UUIDPrimaryKey


class OperatorKind(enum.StrEnum):
    KOMMUN = "kommun"
    BOLAG = "bolag"


class UnitKind(enum.StrEnum):
    STADSDELSNAMND = "stadsdelsnamnd"
    FACKNAMND = "facknamnd"
    BOLAG = "bolag"
    OTHER = "annan"


class AuthorityKind(enum.StrEnum):
    LANSSTYRELSE = "lansstyrelse"
    SECTOR = "sektorsmyndighet"


class Applicability(enum.StrEnum):
    """Omfattas verksamheten av säkerhetsskyddslagstiftningen?"""

    YES = "ja"
    NO = "nej"
    INVESTIGATING = "utredning"


class AppointmentRole(enum.StrEnum):
    SAMORDNARE = "samordnare"
    ERSATTARE = "ersattare"


class RevisionTriggerKind(enum.StrEnum):
    """Händelser som kräver att säkerhetsskyddsanalysen ses över (DOMAIN.md §1, cycle)."""

    REORGANISATION = "omorganisation"
    NEW_ACTIVITY = "ny_verksamhet"
    NEW_SYSTEM = "nytt_system_eller_upphandling"
    THREAT_INFORMATION = "ny_hotinformation"
    INCIDENT = "sakerhetsincident"


operator_supervisor = Table(
    "operator_supervisor",
    Base.metadata,
    Column("operator_id", ForeignKey("operator.id", ondelete="CASCADE"), primary_key=True),
    Column("authority_id", ForeignKey("supervisory_authority.id"), primary_key=True),
)


class SupervisoryAuthority(UUIDPrimaryKey, Base):
    """Tillsynsmyndighet: a länsstyrelse or a sector authority."""

    __tablename__ = "supervisory_authority"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[AuthorityKind] = mapped_column(Enum(AuthorityKind, native_enum=False, length=20))


class Operator(UUIDPrimaryKey, CreatedAt, Base):
    """Verksamhetsutövare: the legal person with its own säkerhetsskydd duties."""

    __tablename__ = "operator"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[OperatorKind] = mapped_column(Enum(OperatorKind, native_enum=False, length=20))
    org_number: Mapped[str | None] = mapped_column(String(11))
    # A municipal bolag points at the kommun that owns it; the city's chef sees its bolag.
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("operator.id"))
    is_active: Mapped[bool] = mapped_column(default=True)
    version: Mapped[int] = mapped_column(default=1)

    parent: Mapped[Operator | None] = relationship(remote_side="Operator.id")
    units: Mapped[list[OrgUnit]] = relationship(back_populates="operator", order_by="OrgUnit.name")
    supervisors: Mapped[list[SupervisoryAuthority]] = relationship(
        secondary=operator_supervisor, order_by="SupervisoryAuthority.name"
    )

    __mapper_args__ = {"version_id_col": version}


class OrgUnit(UUIDPrimaryKey, CreatedAt, Base):
    """Organisationsenhet: a nämnd/förvaltning or a bolag."""

    __tablename__ = "org_unit"
    __table_args__ = (UniqueConstraint("operator_id", "name"),)

    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("operator.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[UnitKind] = mapped_column(Enum(UnitKind, native_enum=False, length=20))
    is_active: Mapped[bool] = mapped_column(default=True)
    deactivated_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    operator: Mapped[Operator] = relationship(back_populates="units")

    __mapper_args__ = {"version_id_col": version}


class ApplicabilityAssessment(UUIDPrimaryKey, CreatedAt, Base):
    """Bedömning av om säkerhetsskyddslagstiftningen är tillämplig. Rows are never changed: the
    newest decision is the current one, the older ones are its history."""

    __tablename__ = "applicability_assessment"
    __table_args__ = (Index("ix_applicability_unit_decided", "unit_id", "decided_on"),)
    __encrypted__ = ("reasoning",)

    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"))
    outcome: Mapped[Applicability] = mapped_column(Enum(Applicability, native_enum=False, length=20))
    decided_on: Mapped[dt.date]
    decided_by: Mapped[str] = mapped_column(String(200))  # who decided, e.g. "Nämnden"
    reference: Mapped[str | None] = mapped_column(String(100))  # diarienummer of the decision
    reasoning_ct: Mapped[bytes | None] = mapped_column("reasoning", EncryptedBytes)
    attested: Mapped[bool] = mapped_column(default=False)
    recorded_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))

    reasoning = encrypted_field("reasoning_ct", table="applicability_assessment", column="reasoning")


class Appointment(UUIDPrimaryKey, CreatedAt, Base):
    """Förordnande av säkerhetsskyddssamordnare eller ersättare för en enhet."""

    __tablename__ = "appointment"
    __table_args__ = (Index("ix_appointment_unit_role", "unit_id", "role"),)

    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))
    role: Mapped[AppointmentRole] = mapped_column(Enum(AppointmentRole, native_enum=False, length=20))
    starts_on: Mapped[dt.date]
    ends_on: Mapped[dt.date | None]
    reference: Mapped[str | None] = mapped_column(String(100))
    recorded_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))
    version: Mapped[int] = mapped_column(default=1)

    user = relationship("User", foreign_keys=[user_id])

    __mapper_args__ = {"version_id_col": version}

    def is_current(self, on: dt.date) -> bool:
        return self.starts_on <= on and (self.ends_on is None or self.ends_on >= on)


class RevisionTrigger(UUIDPrimaryKey, CreatedAt, Base):
    """Händelse som kräver översyn av säkerhetsskyddsanalysen."""

    __tablename__ = "revision_trigger"
    __encrypted__ = ("note",)

    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"), index=True)
    kind: Mapped[RevisionTriggerKind] = mapped_column(Enum(RevisionTriggerKind, native_enum=False, length=40))
    occurred_on: Mapped[dt.date]
    note_ct: Mapped[bytes | None] = mapped_column("note", EncryptedBytes)
    attested: Mapped[bool] = mapped_column(default=False)
    recorded_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))
    # Set when an analysis taken after the trigger has been fastställd.
    handled_by_analysis_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("security_analysis.id"))

    note = encrypted_field("note_ct", table="revision_trigger", column="note")
