"""Operators (verksamhetsutövare) and their organisation units."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sakskydd.db import Base, CreatedAt, UUIDPrimaryKey


class OperatorKind(enum.StrEnum):
    KOMMUN = "kommun"
    BOLAG = "bolag"


class UnitKind(enum.StrEnum):
    STADSDELSNAMND = "stadsdelsnamnd"
    FACKNAMND = "facknamnd"
    BOLAG = "bolag"
    OTHER = "annan"


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
