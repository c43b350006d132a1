"""Personnel vetting: the befattningsförteckning, vetting cases with their checklist, follow-up
notes, the interview template, and the history of changes. Personal data (name, personnummer,
notes) is field-encrypted; the personnummer also has a keyed blind index for exact lookup within
the unit (SECURITY.md)."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sakskydd.crypto.fields import EncryptedBytes, encrypted_field
from sakskydd.db import Base, CreatedAt, UUIDPrimaryKey
from sakskydd.vetting.rules import ControlReason, Decision, SecurityClass, StepKind


class CaseStatus(enum.StrEnum):
    IN_PROGRESS = "pagaende"  # the checklist is being followed
    DECIDED = "beslut_fattat"  # a beslut is taken; waiting for the second person's confirmation
    APPROVED = "godkand"  # the confirmed beslut: approved; the person holds the position
    NOT_APPROVED = "ej_godkand"  # the confirmed beslut: not approved (closed)
    CLOSED = "avslutad"  # the person left the position or the case was discontinued


class StepStatus(enum.StrEnum):
    OPEN = "oppen"
    DONE = "klar"


def _enum(kind: type[enum.Enum], length: int = 30) -> Enum:
    return Enum(kind, native_enum=False, length=length)


class Position(UUIDPrimaryKey, CreatedAt, Base):
    """A position of the unit's befattningsförteckning and its placement decision."""

    __tablename__ = "vetting_position"
    __table_args__ = (Index("ix_vetting_position_unit", "unit_id", "ended_on"),)

    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"))
    title: Mapped[str] = mapped_column(String(200))  # neutral, e.g. "Drifttekniker"
    security_class: Mapped[SecurityClass] = mapped_column(_enum(SecurityClass, 20))
    decided_on: Mapped[dt.date]
    decided_by: Mapped[str] = mapped_column(String(200))  # the body or function that decided
    reference: Mapped[str] = mapped_column(String(100))  # diarienummer of the placement decision
    government_reference: Mapped[str | None] = mapped_column(String(100))  # klass 1 only
    analysis_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("security_analysis.id"))
    ended_on: Mapped[dt.date | None]  # no longer in the förteckning
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    # Positions and vetting cases are never säkerhetsskyddsklassificerade (the placement and the
    # case are unclassified metadata): the authorization baseline sees level 0.
    classification = 0

    unit = relationship("OrgUnit")
    analysis = relationship("SecurityAnalysis")

    __mapper_args__ = {"version_id_col": version}


class VettingCase(UUIDPrimaryKey, CreatedAt, Base):
    """One person for one position. After retention only the counts' columns stay."""

    __tablename__ = "vetting_case"
    __table_args__ = (
        Index("ix_vetting_case_unit_status", "unit_id", "status"),
        Index("ix_vetting_case_pnr", "unit_id", "pnr_index"),
    )
    __encrypted__ = ("person_name", "personnummer")

    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"))
    position_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("vetting_position.id"))
    security_class: Mapped[SecurityClass] = mapped_column(_enum(SecurityClass, 20))  # at opening
    person_name_ct: Mapped[bytes | None] = mapped_column("person_name", EncryptedBytes)
    personnummer_ct: Mapped[bytes | None] = mapped_column("personnummer", EncryptedBytes)
    pnr_index: Mapped[bytes | None] = mapped_column(LargeBinary(16))
    status: Mapped[CaseStatus] = mapped_column(_enum(CaseStatus, 20), default=CaseStatus.IN_PROGRESS)
    decision: Mapped[Decision | None] = mapped_column(_enum(Decision, 20))
    decided_on: Mapped[dt.date | None]
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    decision_reference: Mapped[str | None] = mapped_column(String(100))
    confirmed_on: Mapped[dt.date | None]
    confirmed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    checked_on: Mapped[dt.date | None]  # the last registerkontroll answer (omkontroll counts from it)
    left_on: Mapped[dt.date | None]  # the person left the position
    deregistered_on: Mapped[dt.date | None]  # avanmälan of the registerkontroll
    deregistration_reference: Mapped[str | None] = mapped_column(String(100))
    closed_on: Mapped[dt.date | None]  # retention counts from here
    anonymised_on: Mapped[dt.date | None]  # personal data destroyed by the retention run
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    classification = 0  # see Position

    person_name = encrypted_field("person_name_ct", table="vetting_case", column="person_name")
    personnummer = encrypted_field("personnummer_ct", table="vetting_case", column="personnummer")
    unit = relationship("OrgUnit")
    position: Mapped[Position] = relationship()
    decided_by = relationship("User", foreign_keys=[decided_by_id])
    confirmed_by = relationship("User", foreign_keys=[confirmed_by_id])
    created_by = relationship("User", foreign_keys=[created_by_id])
    steps: Mapped[list[VettingStep]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="VettingStep.position"
    )
    notes: Mapped[list[VettingNote]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="VettingNote.noted_on.desc()"
    )

    __mapper_args__ = {"version_id_col": version}


class VettingStep(UUIDPrimaryKey, CreatedAt, Base):
    """One checklist item of a case (rules.StepKind): status, date, who, reference."""

    __tablename__ = "vetting_step"
    __table_args__ = (UniqueConstraint("case_id", "kind"),)

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("vetting_case.id"))
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"))
    kind: Mapped[StepKind] = mapped_column(_enum(StepKind, 40))
    position: Mapped[int] = mapped_column(Integer)  # the rules' order
    status: Mapped[StepStatus] = mapped_column(_enum(StepStatus, 20), default=StepStatus.OPEN)
    done_on: Mapped[dt.date | None]
    done_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    reference: Mapped[str | None] = mapped_column(String(100))
    control_reason: Mapped[ControlReason | None] = mapped_column(_enum(ControlReason, 20))
    template_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("interview_template.id"))
    updated_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    case: Mapped[VettingCase] = relationship(back_populates="steps")
    done_by = relationship("User", foreign_keys=[done_by_id])
    template = relationship("InterviewTemplate")

    __mapper_args__ = {"version_id_col": version}


class VettingNote(UUIDPrimaryKey, CreatedAt, Base):
    """An uppföljning note: neutral, attested, encrypted."""

    __tablename__ = "vetting_note"
    __table_args__ = (Index("ix_vetting_note_case", "case_id", "noted_on"),)
    __encrypted__ = ("text",)

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("vetting_case.id"))
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"))
    noted_on: Mapped[dt.date]
    text_ct: Mapped[bytes] = mapped_column("text", EncryptedBytes)
    attested: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))

    text = encrypted_field("text_ct", table="vetting_note", column="text")
    case: Mapped[VettingCase] = relationship(back_populates="notes")
    created_by = relationship("User")


class VettingChange(UUIDPrimaryKey, CreatedAt, Base):
    """History of a case: plain values of plain fields, only the names of personal ones."""

    __tablename__ = "vetting_change"

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("vetting_case.id"), index=True)
    actor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))
    what: Mapped[str] = mapped_column(String(40))  # e.g. "opened", "step:intervju", "decided"
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    actor = relationship("User")


class InterviewTemplate(UUIDPrimaryKey, CreatedAt, Base):
    """The topics of the säkerhetsprövningsintervju, per operator, kept by the chef; every save
    is a version. The answers are never stored."""

    __tablename__ = "interview_template"
    __table_args__ = (UniqueConstraint("operator_id", "version_no"),)

    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("operator.id"))
    version_no: Mapped[int] = mapped_column(Integer)
    topics: Mapped[list[str]] = mapped_column(JSON)
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))

    created_by = relationship("User")
