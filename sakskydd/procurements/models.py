"""Security-protected procurements: triage, duties, supplier follow-up and their history."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sakskydd.crypto.fields import EncryptedBytes, encrypted_field
from sakskydd.db import Base, CreatedAt, UUIDPrimaryKey
from sakskydd.procurements.rules import ConsultationOutcome, DutyKind, Outcome, Where


class ProcurementKind(enum.StrEnum):
    PROCUREMENT = "upphandling"
    AGREEMENT = "avtal"
    COOPERATION = "samarbete"


class ProcurementStatus(enum.StrEnum):
    NEW = "ny"  # the triage questions are not answered yet
    TRIAGED = "triagerad"  # answered; waiting for the samordnare's confirmation
    CONFIRMED = "bekraftad"  # the outcome is confirmed; the duties run
    STOPPED = "stoppad"  # the supervisory authority stopped the procedure at samråd
    CLOSED = "avslutad"  # the case is closed (final note), frozen


class DutyStatus(enum.StrEnum):
    OPEN = "oppen"
    DONE = "klar"
    NOT_APPLICABLE = "ej_aktuell"  # the samordnare's call, with a reason
    WITHDRAWN = "bortfallen"  # no longer required after a changed outcome


class FollowUpResult(enum.StrEnum):
    MET = "uppfyllt"
    FINDING = "brist"
    NOT_APPLICABLE = "ej_aktuellt"


class ActionStatus(enum.StrEnum):
    OPEN = "oppen"
    DONE = "klar"


def _enum(kind: type[enum.Enum], length: int = 30) -> Enum:
    return Enum(kind, native_enum=False, length=length)


class Procurement(UUIDPrimaryKey, CreatedAt, Base):
    """A procurement or other förfarande (agreement, cooperation) of a unit."""

    __tablename__ = "procurement"
    __table_args__ = (
        Index("ix_procurement_unit_status", "unit_id", "status"),
        Index("ix_procurement_responsible", "responsible_id"),
    )
    __encrypted__ = ("supplier_contact", "override_reason", "final_note")

    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"))
    kind: Mapped[ProcurementKind] = mapped_column(_enum(ProcurementKind, 20))
    title: Mapped[str] = mapped_column(String(200))  # neutral
    registry_number: Mapped[str] = mapped_column(String(50))  # diarienummer
    responsible_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))
    procedure_starts_on: Mapped[dt.date]
    contract_starts_on: Mapped[dt.date | None]
    contract_ends_on: Mapped[dt.date | None]
    supplier_name: Mapped[str | None] = mapped_column(String(200))
    supplier_org_number: Mapped[str | None] = mapped_column(String(11))
    supplier_contact_ct: Mapped[bytes | None] = mapped_column("supplier_contact", EncryptedBytes)
    status: Mapped[ProcurementStatus] = mapped_column(
        _enum(ProcurementStatus, 20), default=ProcurementStatus.NEW
    )
    # The triage answers (None until answered) and the derivation they gave.
    q_classified_access: Mapped[bool | None]
    q_sensitive_activity: Mapped[bool | None]
    q_where: Mapped[Where | None] = mapped_column(_enum(Where, 20))
    q_staff_vetting: Mapped[bool | None]
    q_restricted_access: Mapped[bool | None]
    q_sub_suppliers: Mapped[bool | None]
    triaged_at: Mapped[dt.datetime | None]
    triaged_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    proposed_outcome: Mapped[Outcome | None] = mapped_column(_enum(Outcome, 20))
    proposed_consultation: Mapped[bool | None]
    # The samordnare's confirmation (or override, with a reason).
    outcome: Mapped[Outcome | None] = mapped_column(_enum(Outcome, 20))
    consultation: Mapped[bool | None]
    confirmed_on: Mapped[dt.date | None]
    confirmed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    overridden: Mapped[bool] = mapped_column(default=False)
    override_reason_ct: Mapped[bytes | None] = mapped_column("override_reason", EncryptedBytes)
    signed_on: Mapped[dt.date | None]  # the säkerhetsskyddsavtal or överenskommelse
    final_note_ct: Mapped[bytes | None] = mapped_column("final_note", EncryptedBytes)
    closed_on: Mapped[dt.date | None]
    attested: Mapped[bool] = mapped_column(default=False)
    classification: Mapped[int] = mapped_column(SmallInteger, default=0)
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    supplier_contact = encrypted_field("supplier_contact_ct", table="procurement", column="supplier_contact")
    override_reason = encrypted_field("override_reason_ct", table="procurement", column="override_reason")
    final_note = encrypted_field("final_note_ct", table="procurement", column="final_note")
    unit = relationship("OrgUnit")
    responsible = relationship("User", foreign_keys=[responsible_id])
    confirmed_by = relationship("User", foreign_keys=[confirmed_by_id])
    triaged_by = relationship("User", foreign_keys=[triaged_by_id])
    sub_suppliers: Mapped[list[SubSupplier]] = relationship(
        back_populates="procurement", cascade="all, delete-orphan", order_by="SubSupplier.created_at"
    )
    duties: Mapped[list[ProcurementDuty]] = relationship(
        back_populates="procurement", cascade="all, delete-orphan", order_by="ProcurementDuty.position"
    )

    __mapper_args__ = {"version_id_col": version}


class SubSupplier(UUIDPrimaryKey, CreatedAt, Base):
    __tablename__ = "procurement_sub_supplier"

    procurement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("procurement.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    org_number: Mapped[str | None] = mapped_column(String(11))

    procurement: Mapped[Procurement] = relationship(back_populates="sub_suppliers")


class ProcurementDuty(UUIDPrimaryKey, CreatedAt, Base):
    """One checklist item of a procurement (rules.DutyKind)."""

    __tablename__ = "procurement_duty"
    __table_args__ = (
        UniqueConstraint("procurement_id", "kind"),
        Index("ix_procurement_duty_open_due", "status", "due_on"),
        Index("ix_procurement_duty_owner", "owner_id", "status"),
    )
    __encrypted__ = ("note",)

    procurement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("procurement.id"))
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"))
    kind: Mapped[DutyKind] = mapped_column(_enum(DutyKind, 40))
    position: Mapped[int] = mapped_column(Integer)  # the rules' order
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))
    due_on: Mapped[dt.date | None]
    status: Mapped[DutyStatus] = mapped_column(_enum(DutyStatus, 20), default=DutyStatus.OPEN)
    done_on: Mapped[dt.date | None]
    done_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    reference: Mapped[str | None] = mapped_column(String(100))
    consultation_outcome: Mapped[ConsultationOutcome | None] = mapped_column(_enum(ConsultationOutcome, 20))
    count_required: Mapped[int | None]  # staff vetting: positions to vet
    count_done: Mapped[int | None]
    note_ct: Mapped[bytes | None] = mapped_column("note", EncryptedBytes)
    attested: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    note = encrypted_field("note_ct", table="procurement_duty", column="note")
    procurement: Mapped[Procurement] = relationship(back_populates="duties")
    owner = relationship("User", foreign_keys=[owner_id])
    done_by = relationship("User", foreign_keys=[done_by_id])

    __mapper_args__ = {"version_id_col": version}


class ProcurementChange(UUIDPrimaryKey, CreatedAt, Base):
    """History: one change of a procurement or its duties, with plain values of plain fields and
    only the names of encrypted ones."""

    __tablename__ = "procurement_change"

    procurement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("procurement.id"), index=True)
    actor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))
    what: Mapped[str] = mapped_column(String(40))  # e.g. "created", "triaged", "duty:samrad"
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    actor = relationship("User")


class FollowUpTemplate(UUIDPrimaryKey, CreatedAt, Base):
    """The supplier follow-up checklist of minimum requirements, per operator; every save is a
    new version and runs keep the texts they were made with."""

    __tablename__ = "followup_template"
    __table_args__ = (UniqueConstraint("operator_id", "version_no"),)

    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("operator.id"))
    version_no: Mapped[int] = mapped_column(Integer)
    items: Mapped[list[str]] = mapped_column(JSON)  # neutral requirement texts, in order
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))

    created_by = relationship("User")


class FollowUpRun(UUIDPrimaryKey, CreatedAt, Base):
    """One follow-up of a supplier against the checklist."""

    __tablename__ = "followup_run"
    __table_args__ = (Index("ix_followup_run_procurement", "procurement_id", "performed_on"),)
    __encrypted__ = ("findings",)

    procurement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("procurement.id"))
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"))
    template_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("followup_template.id"))
    performed_on: Mapped[dt.date]
    performed_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))
    # [[requirement text, result], …] as checked (the template may change later).
    results: Mapped[list[list[str]]] = mapped_column(JSON)
    findings_ct: Mapped[bytes | None] = mapped_column("findings", EncryptedBytes)
    attested: Mapped[bool] = mapped_column(default=False)

    findings = encrypted_field("findings_ct", table="followup_run", column="findings")
    performed_by = relationship("User")
    actions: Mapped[list[FollowUpAction]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="FollowUpAction.due_on"
    )


class FollowUpAction(UUIDPrimaryKey, CreatedAt, Base):
    """An action agreed with the supplier at a follow-up, with its due date."""

    __tablename__ = "followup_action"
    __table_args__ = (Index("ix_followup_action_open_due", "status", "due_on"),)

    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("followup_run.id"), index=True)
    procurement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("procurement.id"), index=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"))
    description: Mapped[str] = mapped_column(String(300))  # neutral
    responsible: Mapped[str] = mapped_column(String(200))  # a function, at the supplier or here
    due_on: Mapped[dt.date]
    status: Mapped[ActionStatus] = mapped_column(_enum(ActionStatus, 20), default=ActionStatus.OPEN)
    done_on: Mapped[dt.date | None]
    done_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    version: Mapped[int] = mapped_column(default=1)

    run: Mapped[FollowUpRun] = relationship(back_populates="actions")

    __mapper_args__ = {"version_id_col": version}
