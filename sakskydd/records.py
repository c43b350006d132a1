"""What every domain service shares: Swedish rule errors, optimistic versions, change tracking."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from sakskydd.classification import check_text_marking
from sakskydd.extensions import db


class DomainError(Exception):
    """A domain rule was broken; the message is Swedish and safe to show to the user."""


class StaleRecord(DomainError):
    """Someone else saved the record after this form was opened (optimistic version column)."""

    def __init__(self) -> None:
        super().__init__(
            "Någon annan har ändrat uppgifterna under tiden. Dina ändringar är kvar i formuläret; "
            "jämför dem med de nya uppgifterna och spara igen."
        )


class MissingAttestation(DomainError):
    def __init__(self) -> None:
        super().__init__(
            "Intyga att fritexten inte innehåller säkerhetsskyddsklassificerade uppgifter, "
            "eller lämna fritextfälten tomma."
        )


class DowngradeNeedsTwoPersons(DomainError):
    """SECURITY.md: a classification downgrade follows the two-person rule (not built yet)."""

    def __init__(self) -> None:
        super().__init__(
            "En sänkning av informationens säkerhetsskyddsklass ska göras av två personer och kan inte "
            "göras i det här formuläret. Behåll klassen och kontakta säkerhetsskyddschefen."
        )


def check_version(record: Any, version: int | None) -> None:
    """Raise StaleRecord unless the submitted version is the stored one (a missing one is stale)."""
    if version is None or record.version != version:
        raise StaleRecord()


def serialise_on(model: Any, ident: uuid.UUID) -> None:
    """Serialise a check-then-insert (is there already one?) with every other transaction doing
    the same under this parent row, so a double submit creates one record, not two.

    PostgreSQL: the row is locked (SELECT … FOR NO KEY UPDATE, which leaves foreign-key inserts
    alone) until the transaction ends, and the check that follows sees what the first one
    committed. SQLite: every transaction begins with BEGIN IMMEDIATE, so it is serialised already.
    Call it before the check.
    """
    if db.get_bind().dialect.name == "postgresql":
        db.execute(select(model.id).where(model.id == ident).with_for_update(key_share=True))


def check_free_text(texts: Iterable[str | None], *, attested: bool, marking: int = 0, ceiling: int) -> None:
    """The storage guard for a record's own free text: attested, and not marked above the ceiling.

    Raises MissingAttestation or classification.ClassificationAboveCeiling.
    """
    check_text_marking(marking, ceiling)
    if any(t and t.strip() for t in texts) and not attested:
        raise MissingAttestation()


def flush_versioned() -> None:
    """Flush; a version column that caught a save racing past check_version becomes StaleRecord."""
    try:
        db.flush()
    except StaleDataError as exc:
        raise StaleRecord() from exc


def apply_changes(record: Any, values: Mapping[str, Any]) -> list[str]:
    """Set the attributes that differ; return their names in a stable order (for the audit event)."""
    changed = []
    for name, value in values.items():
        if getattr(record, name) != value:
            setattr(record, name, value)
            changed.append(name)
    return sorted(changed)


def plain_value(value: Any) -> Any:
    """A JSON value for a record's history: enums by value, dates as ISO text, ids as text."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


def track_changes(record: Any, values: Mapping[str, Any], encrypted: Iterable[str]) -> dict[str, Any]:
    """Set the attributes that differ and return the history of the change: {name: [old, new]},
    or {name: None} for an encrypted field (its values never leave the record)."""
    hidden = set(encrypted)
    changes: dict[str, Any] = {}
    for name, value in values.items():
        old = getattr(record, name)
        if old == value:
            continue
        changes[name] = None if name in hidden else [plain_value(old), plain_value(value)]
        setattr(record, name, value)
    return changes


def clean_text(value: str | None) -> str | None:
    """Strip a form's free text; an empty answer is stored as None."""
    if value is None:
        return None
    value = value.strip()
    return value or None
