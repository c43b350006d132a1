"""Declarative base with a naming convention, UUID primary keys and UTC timestamps."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import DateTime, MetaData, TypeDecorator, Uuid
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime, uuid.UUID: Uuid}

    def __init__(self, **kwargs: Any) -> None:
        # The row id is set before any other attribute, so encrypted attributes can bind
        # their associated data to it (SECURITY.md, field encryption).
        if "id" in self.__mapper__.columns and "id" not in kwargs:
            pk = self.__mapper__.columns["id"]
            if isinstance(pk.type, Uuid):
                self.id = uuid.uuid4()
        # Plain attributes first, so encrypted ones see the unit they belong to.
        ordered = sorted(kwargs.items(), key=lambda item: item[0] in getattr(self, "__encrypted__", ()))
        for key, value in ordered:
            if not hasattr(type(self), key):
                raise TypeError(f"{key!r} is an invalid keyword argument for {type(self).__name__}")
            setattr(self, key, value)


class UUIDPrimaryKey:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


class CreatedAt:
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
