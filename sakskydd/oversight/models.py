"""Stadsövergripande säkerhetsanalys: per operator and year a snapshot of the consolidated
figures, the chef's conclusions, city-wide measures and omvärldsbevakning notes.

Draft → adopted (step-up). An adopted analysis, its measures and its notes are frozen: the
snapshot is what the figures were when it was adopted, comparable with earlier years."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, BigInteger, Enum, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sakskydd.crypto.fields import EncryptedBytes, encrypted_field
from sakskydd.db import Base, CreatedAt, UUIDPrimaryKey


class CityWideStatus(enum.StrEnum):
    DRAFT = "utkast"
    ADOPTED = "antagen"


class ThreatCategory(enum.StrEnum):
    """Categories of an omvärldsbevakning note (the threats säkerhetsskyddet protects against)."""

    ESPIONAGE = "spioneri"
    SABOTAGE = "sabotage"
    TERRORISM = "terrorism"
    SUBVERSION = "otillborlig_paverkan"
    CYBER = "it_angrepp"
    INSIDER = "insider"
    SUPPLY_CHAIN = "leverantorskedja"
    OTHER = "ovrigt"


class CityWideAnalysis(UUIDPrimaryKey, CreatedAt, Base):
    """One operator's city-wide analysis for one year."""

    __tablename__ = "citywide_analysis"
    __table_args__ = (UniqueConstraint("operator_id", "year"),)
    __encrypted__ = ("conclusions",)

    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("operator.id"))
    year: Mapped[int] = mapped_column(Integer)
    status: Mapped[CityWideStatus] = mapped_column(
        Enum(CityWideStatus, native_enum=False, length=20), default=CityWideStatus.DRAFT
    )
    # The consolidated figures (counts only, no names of what is protected), compiled on
    # demand while a draft and frozen at adoption.
    snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    snapshot_at: Mapped[dt.datetime | None]
    # The chef's conclusions: neutral text and references, never classified substance.
    conclusions_ct: Mapped[bytes | None] = mapped_column("conclusions", EncryptedBytes)
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))
    adopted_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    adopted_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    conclusions = encrypted_field("conclusions_ct", table="citywide_analysis", column="conclusions")

    operator = relationship("Operator")
    measures: Mapped[list[CityWideMeasure]] = relationship(
        back_populates="analysis", order_by="CityWideMeasure.position", cascade="all, delete-orphan"
    )
    threat_notes: Mapped[list[ThreatNote]] = relationship(
        back_populates="analysis", order_by="ThreatNote.noted_on", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_frozen(self) -> bool:
        return self.status == CityWideStatus.ADOPTED


class CityWideMeasure(UUIDPrimaryKey, CreatedAt, Base):
    """A city-wide measure: a neutral title, a reference, who is responsible and by when."""

    __tablename__ = "citywide_measure"

    analysis_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("citywide_analysis.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    reference: Mapped[str | None] = mapped_column(String(100))
    responsible_function: Mapped[str | None] = mapped_column(String(200))
    due_on: Mapped[dt.date | None]

    analysis: Mapped[CityWideAnalysis] = relationship(back_populates="measures")


class ThreatNote(UUIDPrimaryKey, CreatedAt, Base):
    """Omvärldsbevakning: a note on the threat picture with its date, source reference, a
    neutral summary (encrypted) and categories (ThreatCategory values)."""

    __tablename__ = "threat_note"
    __encrypted__ = ("summary",)

    analysis_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("citywide_analysis.id"), index=True)
    noted_on: Mapped[dt.date]
    source_reference: Mapped[str] = mapped_column(String(200))
    summary_ct: Mapped[bytes | None] = mapped_column("summary", EncryptedBytes)
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))

    summary = encrypted_field("summary_ct", table="threat_note", column="summary")
    analysis: Mapped[CityWideAnalysis] = relationship(back_populates="threat_notes")


class StoredPicture(Base):
    """The chef's picture of one operator as it was last compiled (oversight/stored.py): the
    figures and the yearly series as JSON (counts and unit names only, like a city-wide
    analysis' snapshot), the day and the settings they were compiled for, and the audit head at
    that moment, so that a later view knows whether anything has changed since."""

    __tablename__ = "oversight_picture"

    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("operator.id"), primary_key=True)
    compiled_at: Mapped[dt.datetime]
    compiled_on: Mapped[dt.date]
    # Every change is audited in its own transaction: no change after this seq, no new figure.
    audit_seq: Mapped[int] = mapped_column(BigInteger)
    # The format of the payload and the settings the figures depend on (stored.rules_key).
    rules_key: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
