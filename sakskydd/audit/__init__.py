"""The chained, append-only audit trail: `record(Event.…, …)` in the caller's transaction.

SECURITY.md, "Audit trail"; operations and payload format in docs/audit.md.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from sakskydd.audit.chain import (
    GENESIS_HASH,
    canonical_json,
    entry_hash,
    entry_mac,
    format_time,
    leaf_hash,
    payload_seq,
)
from sakskydd.audit.models import AuditEvent, AuditHead
from sakskydd.audit.tags import Event, Outcome
from sakskydd.db import utcnow

if TYPE_CHECKING:
    from flask import Flask

    from sakskydd.crypto.keyring import KeyRing

__all__ = [
    "AuditWriteError",
    "Event",
    "Outcome",
    "SensitiveDetail",
    "init_app",
    "lock_head",
    "record",
    "set_context_provider",
]

ContextProvider = Callable[[], Mapping[str, Any] | None]
CLI_SOURCE = {"system": "cli"}
AUDIT_EXTENSION = "sakskydd.audit"
HEAD_ID = 1

_context_provider: ContextProvider | None = None

# Words that must never name a value in an audit payload (SECURITY.md: no passwords,
# codes, tokens, personnummer or decrypted values).
_SENSITIVE_WORDS = frozenset(
    {"code", "codes", "otp", "totp", "pin", "pwd", "pnr", "passwd", "passphrase", "plaintext", "cleartext"}
)
_SENSITIVE_PARTS = ("password", "secret", "token", "personnummer", "samordningsnummer", "decrypted")
_WORD_SPLIT = re.compile(r"[^0-9A-Za-z]+|(?<=[a-z0-9])(?=[A-Z])")


class AuditWriteError(RuntimeError):
    """The audit event could not be appended; the caller's transaction must roll back."""


class SensitiveDetail(ValueError):
    """A payload key names a value that must never be audited (password, token, code, …)."""


def set_context_provider(fn: ContextProvider | None) -> None:
    """Register the function that describes who is acting and from where.

    `fn()` returns None outside a request (the source is then {"system": "cli"}), or a
    mapping with "actor" (user, units, roles, clearance as evaluated, hashed session id,
    MFA age in whole seconds) and "source" (ip, request_id). Top-level actor keys
    (actor_id/user_id/user, roles, units, clearance, session, mfa_age/mfa_age_seconds) are
    merged into the actor; any other top-level key joins the source.
    """
    global _context_provider
    _context_provider = fn


def init_app(app: Flask) -> None:
    """Remember where the checkpoint signing key lives; nothing is loaded or verified here."""
    settings = app.config["SAKSKYDD_SETTINGS"]
    app.extensions[AUDIT_EXTENSION] = {"signing_key_file": settings.signing_key_file}


def _is_sensitive(key: str) -> bool:
    lowered = key.lower()
    if any(part in lowered for part in _SENSITIVE_PARTS):
        return True
    return any(word.lower() in _SENSITIVE_WORDS for word in _WORD_SPLIT.split(key) if word)


def _guard(value: Any, path: str) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and _is_sensitive(key):
                raise SensitiveDetail(f"{path}.{key} must not be audited")
            _guard(item, f"{path}.{key}")
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _guard(item, path)


def _jsonable(value: Any) -> Any:
    """Plain JSON values from the few richer types callers pass; floats are left to be refused."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, int | float):
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return format_time(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return int(value.total_seconds())
    if isinstance(value, Mapping):
        return {str(k) if isinstance(k, uuid.UUID | enum.Enum) else k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((_jsonable(v) for v in value), key=str)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    raise TypeError(f"{type(value).__name__} cannot be audited")


def _as_uuid(value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        return uuid.UUID(value)
    candidate = getattr(value, "id", None)
    if isinstance(candidate, uuid.UUID):
        return candidate
    raise TypeError("actor must be a user id or an object with a UUID id")


# Top-level context keys that describe the actor, and the name each gets in payload["actor"].
_ACTOR_KEYS = {
    "actor_id": "user",
    "user_id": "user",
    "user": "user",
    "roles": "roles",
    "units": "units",
    "clearance": "clearance",
    "session": "session",
    "mfa_age": "mfa_age",
    "mfa_age_seconds": "mfa_age",
}


def _context() -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(actor, source) from the registered provider; other top-level keys join the source."""
    context = _context_provider() if _context_provider is not None else None
    if context is None:
        return None, dict(CLI_SOURCE)
    actor: dict[str, Any] = dict(context.get("actor") or {})
    source: dict[str, Any] = dict(context.get("source") or {})
    for key, value in context.items():
        if key in ("actor", "source"):
            continue
        if key in _ACTOR_KEYS:
            actor[_ACTOR_KEYS[key]] = value
        else:
            source[key] = value
    return (actor or None), (source or dict(CLI_SOURCE))


def lock_head(session: Session) -> tuple[int, bytes]:
    """Lock the chain head for this transaction and return (seq, entry_hash); creates it if absent.

    PostgreSQL: SELECT … FOR UPDATE. SQLite: the engine begins every transaction with
    BEGIN IMMEDIATE, so this transaction already holds the database's write lock.
    """
    dialect = session.get_bind().dialect.name
    query = select(AuditHead.seq, AuditHead.entry_hash).where(AuditHead.id == HEAD_ID)
    if dialect == "postgresql":
        query = query.with_for_update()
    row = session.connection().execute(query).first()
    if row is None:
        values = {"id": HEAD_ID, "seq": 0, "entry_hash": GENESIS_HASH}
        if dialect == "postgresql":
            session.execute(postgresql.insert(AuditHead).values(values).on_conflict_do_nothing())
        elif dialect == "sqlite":
            session.execute(sqlite.insert(AuditHead).values(values).on_conflict_do_nothing())
        else:  # pragma: no cover - only SQLite and PostgreSQL are supported
            session.execute(AuditHead.__table__.insert().values(values))
        row = session.connection().execute(query).one()
    return int(row[0]), bytes(row[1])


def record(
    event: Event | str,
    *,
    outcome: Outcome | str = Outcome.SUCCESS,
    actor: Any = None,
    target: Any = None,
    target_type: str | None = None,
    target_id: Any = None,
    unit_id: uuid.UUID | None = None,
    changed: Iterable[str] = (),
    reason: str | None = None,
    decision: Mapping[str, Any] | None = None,
    detail: Mapping[str, Any] | None = None,
    session: Session | None = None,
    keyring: KeyRing | None = None,
    source: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain in the session's current transaction and flush.

    `target` may be a model instance (type = its table, id, unit_id and classification
    taken from it); `actor` overrides the acting user (a UUID or a user); `source` the
    source (for work a request started in the background, which has no request of its own). Raises ValueError
    for an unknown tag or outcome, SensitiveDetail for a forbidden detail key, NotCanonical
    for floats, and any database error of the insert: the caller's change must then roll back.
    """
    event = Event(event)
    outcome = Outcome(outcome)
    if session is None:
        from sakskydd.extensions import db

        session = db
    if keyring is None:
        from sakskydd.crypto.fields import current_keyring

        keyring = current_keyring()

    detail = dict(detail or {})
    _guard(detail, "detail")
    _guard(decision or {}, "decision")

    actor_info, origin = _context()
    if source is not None:  # set by code (not from input), like the request's own source
        origin = dict(source)
    # The request's route decision (action, deciding policies, bundle hash) goes with every
    # event of that request unless the caller records a decision of its own (e.g. a denial).
    route_decision = origin.pop("decision", None)
    if decision is None:
        decision = route_decision
    if actor is not None:
        actor_uuid = _as_uuid(actor)
        if not actor_info or str(actor_info.get("user")) != str(actor_uuid):
            actor_info = {"user": str(actor_uuid)}
    actor_id = uuid.UUID(str(actor_info["user"])) if actor_info and actor_info.get("user") else None

    classification = None
    if target is not None:
        target_type = target_type or target.__tablename__
        target_id = target_id if target_id is not None else target.id
        unit_id = unit_id or getattr(target, "unit_id", None)
        if unit_id is None and target_type == "org_unit":
            unit_id = target.id  # a unit is its own unit: its auditors and the unit filter find it
        classification = getattr(target, "classification", None)
    if target_id is not None:
        target_id = str(target_id)
        if len(target_id) > 64:
            raise ValueError("target_id is longer than 64 characters")
    target_info: dict[str, Any] | None = None
    if target_type is not None or target_id is not None or unit_id is not None:
        target_info = {"type": target_type, "id": target_id, "unit": unit_id}
        if classification is not None:
            target_info["classification"] = classification

    # The caller's pending changes first, as the ORM's autoflush did (the statements below are
    # Core statements on the session's connection, which do not flush).
    session.flush()
    prev_seq, prev_hash = lock_head(session)
    seq = prev_seq + 1
    occurred_at = utcnow()
    payload = canonical_json(
        _jsonable(
            {
                "seq": seq,
                "time": occurred_at,
                "event": event.value,
                "outcome": outcome.value,
                "actor": actor_info,
                "source": origin,
                "target": target_info,
                "decision": decision,
                "changed": sorted(set(changed)),
                "reason": reason,
                "detail": detail,
            }
        )
    )
    if payload_seq(payload) != seq:  # verification reads seq with a fast scan; keep it unambiguous
        raise ValueError("the audit context must not contain a key named 'seq'")
    digest = entry_hash(prev_hash, leaf_hash(payload))
    connection = session.connection()
    head = AuditHead.__table__
    moved = connection.execute(
        update(head).where(head.c.id == HEAD_ID, head.c.seq == prev_seq).values(seq=seq, entry_hash=digest)
    )
    if moved.rowcount != 1:
        raise AuditWriteError("the audit head moved during an append")
    values = {
        "seq": seq,
        "occurred_at": occurred_at,
        "event": event.value,
        "outcome": outcome.value,
        "actor_id": actor_id,
        "target_type": target_type,
        "target_id": target_id,
        "unit_id": unit_id,
        "payload": payload,
        "entry_hash": digest,
        "mac": entry_mac(keyring.audit_mac_key, digest),
    }
    # A Core insert: the ORM's unit of work cost more than the hashing (docs/benchmarks.md section
    # 6). The returned object is what was written, not attached to the session (events are never
    # changed; read them back with a query).
    connection.execute(insert(AuditEvent.__table__).values(values))
    return AuditEvent(**values)
