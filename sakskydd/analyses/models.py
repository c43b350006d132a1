"""Säkerhetsskyddsanalys: one row per version; references, linked assets, measures, transitions."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import Enum, ForeignKey, Index, Integer, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sakskydd.classification import DamageLevel
from sakskydd.crypto.fields import EncryptedBytes, encrypted_field
from sakskydd.db import Base, CreatedAt, UUIDPrimaryKey


class AnalysisStatus(enum.StrEnum):
    DRAFT = "utkast"
    SUBMITTED = "inskickad"
    RETURNED = "aterremitterad"
    APPROVED = "faststalld"


class AnalysisOutcome(enum.StrEnum):
    """Slutsats: is the unit's activity security-sensitive?"""

    UNDECIDED = "ej_klar"
    SENSITIVE = "sakerhetskanslig"
    NOT_SENSITIVE = "inte_sakerhetskanslig"


class ReferenceKind(enum.StrEnum):
    THREAT = "hot"
    VULNERABILITY = "sarbarhet"
    SOURCE = "underlag"


class MeasureArea(enum.StrEnum):
    INFORMATION = "informationssakerhet"
    PHYSICAL = "fysisk_sakerhet"
    PERSONNEL = "personalsakerhet"


class MeasureStatus(enum.StrEnum):
    PLANNED = "planerad"
    IN_PROGRESS = "pagar"
    DONE = "klar"
    NOT_DONE = "ej_genomford"


# Verksamhetsbeskrivning (Säpo step 1): the five categories, in Säpo's order.
CATEGORY_FIELDS = (
    "cat_external_security",
    "cat_internal_security",
    "cat_essential_services",
    "cat_economy",
    "cat_dependencies",
)


class SecurityAnalysis(UUIDPrimaryKey, CreatedAt, Base):
    """Säkerhetsskyddsanalys (one version of one unit's analysis for one cycle)."""

    __tablename__ = "security_analysis"
    __table_args__ = (
        UniqueConstraint("unit_id", "cycle_year", "version_no"),
        Index("ix_security_analysis_unit_status", "unit_id", "status"),
    )
    __encrypted__ = ("scope_note", "threat_summary", "vulnerability_summary", "conclusion")

    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"))
    cycle_year: Mapped[int] = mapped_column(Integer)
    version_no: Mapped[int] = mapped_column(Integer, default=1)
    # The analysis this one was copied from (last year's, or the previous version).
    based_on_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("security_analysis.id"))
    status: Mapped[AnalysisStatus] = mapped_column(
        Enum(AnalysisStatus, native_enum=False, length=20), default=AnalysisStatus.DRAFT
    )
    title: Mapped[str] = mapped_column(String(200))
    cat_external_security: Mapped[bool] = mapped_column(default=False)
    cat_internal_security: Mapped[bool] = mapped_column(default=False)
    cat_essential_services: Mapped[bool] = mapped_column(default=False)
    cat_economy: Mapped[bool] = mapped_column(default=False)
    cat_dependencies: Mapped[bool] = mapped_column(default=False)
    international_commitments: Mapped[bool] = mapped_column(default=False)
    outcome: Mapped[AnalysisOutcome] = mapped_column(
        Enum(AnalysisOutcome, native_enum=False, length=30), default=AnalysisOutcome.UNDECIDED
    )
    # Neutral, attested free text (encrypted); never the classified substance.
    scope_note_ct: Mapped[bytes | None] = mapped_column("scope_note", EncryptedBytes)
    threat_summary_ct: Mapped[bytes | None] = mapped_column("threat_summary", EncryptedBytes)
    vulnerability_summary_ct: Mapped[bytes | None] = mapped_column("vulnerability_summary", EncryptedBytes)
    conclusion_ct: Mapped[bytes | None] = mapped_column("conclusion", EncryptedBytes)
    attested: Mapped[bool] = mapped_column(default=False)
    # The record's own marking (≤ the deployment ceiling); clearance is compared with it.
    classification: Mapped[int] = mapped_column(SmallInteger, default=0)
    due_on: Mapped[dt.date | None]
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))
    submitted_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    submitted_at: Mapped[dt.datetime | None]
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    scope_note = encrypted_field("scope_note_ct", table="security_analysis", column="scope_note")
    threat_summary = encrypted_field("threat_summary_ct", table="security_analysis", column="threat_summary")
    vulnerability_summary = encrypted_field(
        "vulnerability_summary_ct", table="security_analysis", column="vulnerability_summary"
    )
    conclusion = encrypted_field("conclusion_ct", table="security_analysis", column="conclusion")

    unit = relationship("OrgUnit")
    references: Mapped[list[AnalysisReference]] = relationship(
        back_populates="analysis", order_by="AnalysisReference.created_at", cascade="all, delete-orphan"
    )
    assets: Mapped[list[AnalysisAsset]] = relationship(
        back_populates="analysis", order_by="AnalysisAsset.created_at", cascade="all, delete-orphan"
    )
    measures: Mapped[list[Measure]] = relationship(
        back_populates="analysis", order_by="Measure.due_on", cascade="all, delete-orphan"
    )
    transitions: Mapped[list[AnalysisTransition]] = relationship(
        back_populates="analysis", order_by="AnalysisTransition.created_at"
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_frozen(self) -> bool:
        return self.status == AnalysisStatus.APPROVED

    @property
    def is_editable(self) -> bool:
        return self.status in (AnalysisStatus.DRAFT, AnalysisStatus.RETURNED)


class AnalysisReference(UUIDPrimaryKey, CreatedAt, Base):
    """Hänvisning: a threat, vulnerability or source recorded as a neutral summary + a reference."""

    __tablename__ = "analysis_reference"
    __encrypted__ = ("summary",)

    analysis_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("security_analysis.id"), index=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"))
    kind: Mapped[ReferenceKind] = mapped_column(Enum(ReferenceKind, native_enum=False, length=20))
    reference: Mapped[str] = mapped_column(String(100))  # diarienummer / document id
    location: Mapped[str | None] = mapped_column(String(200))  # where the document is kept
    # The referenced document's marking: any level, since only the reference is stored.
    document_classification: Mapped[int] = mapped_column(SmallInteger, default=0)
    summary_ct: Mapped[bytes | None] = mapped_column("summary", EncryptedBytes)
    attested: Mapped[bool] = mapped_column(default=False)

    summary = encrypted_field("summary_ct", table="analysis_reference", column="summary")
    analysis: Mapped[SecurityAnalysis] = relationship(back_populates="references")


class AnalysisAsset(UUIDPrimaryKey, CreatedAt, Base):
    """An asset of the register as assessed in this analysis (konsekvensbedömning)."""

    __tablename__ = "analysis_asset"
    __table_args__ = (UniqueConstraint("analysis_id", "asset_id"),)

    analysis_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("security_analysis.id"))
    asset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("protected_asset.id"), index=True)
    damage_level: Mapped[DamageLevel] = mapped_column(Enum(DamageLevel, native_enum=False, length=30))

    analysis: Mapped[SecurityAnalysis] = relationship(back_populates="assets")
    # Loaded with the link (a join): the analysis page names every linked asset, and a lazy load
    # would cost one statement per asset shown.
    asset = relationship("ProtectedAsset", lazy="joined", innerjoin=True)


class Measure(UUIDPrimaryKey, CreatedAt, Base):
    """Säkerhetsskyddsåtgärd in the analysis' plan."""

    __tablename__ = "measure"
    __table_args__ = (Index("ix_measure_unit_status_due", "unit_id", "status", "due_on"),)
    __encrypted__ = ("description",)

    analysis_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("security_analysis.id"), index=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"))
    area: Mapped[MeasureArea] = mapped_column(Enum(MeasureArea, native_enum=False, length=30))
    title: Mapped[str] = mapped_column(String(200))  # neutral
    description_ct: Mapped[bytes | None] = mapped_column("description", EncryptedBytes)
    attested: Mapped[bool] = mapped_column(default=False)
    responsible_function: Mapped[str] = mapped_column(String(200))
    due_on: Mapped[dt.date]
    status: Mapped[MeasureStatus] = mapped_column(
        Enum(MeasureStatus, native_enum=False, length=20), default=MeasureStatus.PLANNED
    )
    done_on: Mapped[dt.date | None]
    version: Mapped[int] = mapped_column(default=1)

    description = encrypted_field("description_ct", table="measure", column="description")
    analysis: Mapped[SecurityAnalysis] = relationship(back_populates="measures")

    __mapper_args__ = {"version_id_col": version}


_STATUS_TYPE = Enum(AnalysisStatus, native_enum=False, length=20)


class AnalysisTransition(UUIDPrimaryKey, CreatedAt, Base):
    """One step of the workflow (the visible history; the audit trail holds the same facts)."""

    __tablename__ = "analysis_transition"
    __encrypted__ = ("comment",)

    analysis_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("security_analysis.id"), index=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"))
    from_status: Mapped[AnalysisStatus | None] = mapped_column(_STATUS_TYPE)
    to_status: Mapped[AnalysisStatus] = mapped_column(_STATUS_TYPE)
    actor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))
    comment_ct: Mapped[bytes | None] = mapped_column("comment", EncryptedBytes)

    comment = encrypted_field("comment_ct", table="analysis_transition", column="comment")
    analysis: Mapped[SecurityAnalysis] = relationship(back_populates="transitions")
    actor = relationship("User")
