"""Skyddsvärda objekt, their holders, their change history and the notices to holders."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Enum, ForeignKey, Index, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sakskydd.classification import DamageLevel
from sakskydd.crypto.fields import EncryptedBytes, encrypted_field
from sakskydd.db import Base, CreatedAt, UUIDPrimaryKey


class AssetType(enum.StrEnum):
    INFORMATION = "information"
    SYSTEM = "informationssystem"
    ROUTINE = "rutin"
    PERSONNEL = "personal"
    PREMISES = "lokal"
    FACILITY = "anlaggning"
    PROPERTY = "objekt"


class AssetStatus(enum.StrEnum):
    NORMAL = "normal"
    PROTECTED = "skyddsvart"
    PROTECTED_OBJECT = "skyddsobjekt"


# Fields whose change reaches every holder (seeds/001: "status- eller nivåändring").
NOTIFYING_FIELDS = ("status", "damage_level")


class ProtectedAsset(UUIDPrimaryKey, CreatedAt, Base):
    """Skyddsvärt objekt."""

    __tablename__ = "protected_asset"
    __table_args__ = (
        Index("ix_protected_asset_unit_name", "unit_id", "name"),
        Index("ix_protected_asset_unit_status", "unit_id", "status"),
        # Covers a count by unit, level and type from the index alone (the check of the kept
        # counts in assets/counts.py, the follow-up questions; the picture reads AssetCount).
        Index("ix_protected_asset_unit_counts", "unit_id", "is_archived", "damage_level", "type"),
    )
    __encrypted__ = ("note",)

    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"))
    type: Mapped[AssetType] = mapped_column(Enum(AssetType, native_enum=False, length=30))
    name: Mapped[str] = mapped_column(String(200))  # neutral
    damage_level: Mapped[DamageLevel] = mapped_column(Enum(DamageLevel, native_enum=False, length=30))
    status: Mapped[AssetStatus] = mapped_column(
        Enum(AssetStatus, native_enum=False, length=20), default=AssetStatus.NORMAL
    )
    owner: Mapped[str] = mapped_column(String(200))  # informationsägare (a function)
    reference: Mapped[str | None] = mapped_column(String(100))  # where details are kept
    location: Mapped[str | None] = mapped_column(String(200))
    risk_assessed_on: Mapped[dt.date | None]  # systems and services only
    note_ct: Mapped[bytes | None] = mapped_column("note", EncryptedBytes)
    attested: Mapped[bool] = mapped_column(default=False)
    classification: Mapped[int] = mapped_column(SmallInteger, default=0)
    is_archived: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[dt.datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    note = encrypted_field("note_ct", table="protected_asset", column="note")
    unit = relationship("OrgUnit")
    holders: Mapped[list[AssetHolder]] = relationship(
        back_populates="asset", cascade="all, delete-orphan", order_by="AssetHolder.created_at"
    )

    __mapper_args__ = {"version_id_col": version}


class AssetCount(Base):
    """The number of current (not archived) assets per unit, damage level and type.

    Kept by database triggers on protected_asset (assets/counts.py), in the same transaction as
    every insert, change and delete whatever makes it: the services, a bulk load or a restore.
    The chef's picture reads these rows instead of counting the register (DESIGN.md, "Performance
    budget": 5 million assets). A count that reached zero keeps its row, with 0."""

    __tablename__ = "asset_count"

    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"), primary_key=True)
    damage_level: Mapped[DamageLevel] = mapped_column(
        Enum(DamageLevel, native_enum=False, length=30), primary_key=True
    )
    type: Mapped[AssetType] = mapped_column(Enum(AssetType, native_enum=False, length=30), primary_key=True)
    total: Mapped[int]


class AssetHolder(UUIDPrimaryKey, CreatedAt, Base):
    """Innehavare: a unit or a named user that holds or owns the information."""

    __tablename__ = "asset_holder"
    __table_args__ = (
        CheckConstraint("(holder_unit_id IS NULL) <> (user_id IS NULL)", name="unit_or_user"),
        UniqueConstraint("asset_id", "holder_unit_id", "user_id"),
    )

    asset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("protected_asset.id"), index=True)
    holder_unit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("org_unit.id"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"), index=True)

    asset: Mapped[ProtectedAsset] = relationship(back_populates="holders")
    holder_unit = relationship("OrgUnit")
    user = relationship("User")


class AssetRevision(UUIDPrimaryKey, CreatedAt, Base):
    """One change of an asset: old and new values of non-sensitive fields, names of the others."""

    __tablename__ = "asset_revision"

    asset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("protected_asset.id"), index=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"))
    actor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))
    # {"field": [old, new]} for plain fields; {"note": null} when an encrypted field changed.
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    actor = relationship("User")


class HolderNotice(UUIDPrimaryKey, CreatedAt, Base):
    """Meddelande till en innehavare om en status- eller nivåändring, med kvittens."""

    __tablename__ = "holder_notice"
    __table_args__ = (
        UniqueConstraint("revision_id", "user_id"),
        Index("ix_holder_notice_user_open", "user_id", "acknowledged_at"),
    )

    asset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("protected_asset.id"), index=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"))
    revision_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("asset_revision.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))
    acknowledged_at: Mapped[dt.datetime | None]
    last_reminded_at: Mapped[dt.datetime | None]
    reminder_count: Mapped[int] = mapped_column(default=0)
    version: Mapped[int] = mapped_column(default=1)

    asset: Mapped[ProtectedAsset] = relationship()
    revision: Mapped[AssetRevision] = relationship()
    user = relationship("User")

    __mapper_args__ = {"version_id_col": version}
