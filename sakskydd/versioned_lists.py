"""Operator-level lists kept by the chef with every save as a new version: the supplier
follow-up checklist (procurements) and the topics of the säkerhetsprövningsintervju (vetting).

A model for such a list has `operator_id`, `version_no`, `created_by_id` and one JSON list
attribute (`items`/`topics`). A bolag without a list of its own uses its kommun's; without
either, the code's default applies. Records made with a list keep the version they used.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from sakskydd import audit
from sakskydd.accounts.models import User
from sakskydd.audit.tags import Event
from sakskydd.extensions import db
from sakskydd.organisations.models import Operator
from sakskydd.records import DomainError, serialise_on


@dataclass(frozen=True)
class ListKind:
    """One kind of versioned list: its model, list attribute, default, limits and audit event."""

    model: Any
    attr: str
    default: tuple[str, ...]
    event: Event
    what: str  # Swedish, for messages: "Checklistan", "Intervjumallen"
    max_items: int = 40
    max_length: int = 300


def operator_chain(operator_id: uuid.UUID) -> list[uuid.UUID]:
    """The operator and its parent (a bolag's own list first, then the kommun's)."""
    parent = db.scalar(select(Operator.parent_id).where(Operator.id == operator_id))
    return [operator_id] + ([parent] if parent else [])


def current(kind: ListKind, operator_id: uuid.UUID) -> tuple[Any | None, list[str]]:
    """The list in force for an operator: its own latest version, else its kommun's, else the
    default (None, kind.default)."""
    for owner in operator_chain(operator_id):
        row = db.scalar(
            select(kind.model)
            .where(kind.model.operator_id == owner)
            .order_by(kind.model.version_no.desc())
            .limit(1)
        )
        if row is not None:
            return row, list(getattr(row, kind.attr))
    return None, list(kind.default)


def versions(kind: ListKind, operator_id: uuid.UUID) -> list[Any]:
    """The operator's own versions, newest first."""
    model = kind.model
    query = select(model).where(model.operator_id == operator_id).order_by(model.version_no.desc())
    return list(db.scalars(query))


def parse(kind: ListKind, text: str | None) -> list[str]:
    """One entry per non-empty line; raises DomainError on an empty, too long or repeated list."""
    entries = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not entries:
        raise DomainError(f"{kind.what} måste ha minst en punkt (en per rad).")
    if len(entries) > kind.max_items:
        raise DomainError(f"{kind.what} får ha högst {kind.max_items} punkter.")
    if any(len(entry) > kind.max_length for entry in entries):
        raise DomainError(f"Varje punkt får vara högst {kind.max_length} tecken.")
    if len(set(entries)) != len(entries):
        raise DomainError(f"Samma punkt står flera gånger i {kind.what.lower()}.")
    return entries


def save(kind: ListKind, actor: User, operator: Operator, text: str | None) -> Any | None:
    """Save the list as the operator's next version (audited); None when nothing changed."""
    entries = parse(kind, text)
    serialise_on(Operator, operator.id)  # two saves at once: versions n and n+1, never the same n twice
    _row, in_force = current(kind, operator.id)
    own: Sequence[Any] = versions(kind, operator.id)
    if own and entries == in_force:
        return None
    version_no = (own[0].version_no + 1) if own else 1
    row = kind.model(operator_id=operator.id, version_no=version_no, created_by_id=actor.id)
    setattr(row, kind.attr, entries)
    db.add(row)
    db.flush()
    audit.record(
        kind.event,
        target=operator,
        changed=[kind.attr],
        detail={"version": version_no, kind.attr: len(entries)},
    )
    return row
