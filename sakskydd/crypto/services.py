"""Key operations: add, promote, re-encrypt, disable, rewrap, status. Each one is audited.

The order of a data-key rotation (docs/key-management.md): `add` → restart → `promote` →
restart → `reencrypt` → `disable`. Blind-index and audit-MAC keys are never rotated
(indexes and MACs must stay stable); they are only rewrapped with the KEK.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import LargeBinary, bindparam, func, select, type_coerce, update
from sqlalchemy.orm import Session

from sakskydd import audit
from sakskydd.crypto.errors import DecryptionError, KEKError, KeyOperationError
from sakskydd.crypto.fields import FieldRegistration, Sealed, open_sealed, registered_fields, seal
from sakskydd.crypto.keyring import KeyRing, create_key
from sakskydd.crypto.models import CryptoKey, KeyPurpose, KeyStatus
from sakskydd.crypto.providers import KEKProvider
from sakskydd.db import utcnow

__all__ = [
    "KeyUsage",
    "ReencryptResult",
    "add_key",
    "count_pending",
    "disable_key",
    "key_status",
    "promote_key",
    "record_decryption_failure",
    "reencrypt",
    "rewrap",
]


def _fields(fields: Iterable[FieldRegistration] | None) -> list[FieldRegistration]:
    if fields is not None:
        return list(fields)
    import sakskydd.models  # noqa: F401  (every model module, so that every encrypted field is registered)
    from sakskydd.db import Base

    return registered_fields(Base.metadata)


def _columns(reg: FieldRegistration) -> tuple[Any, Any, Any, Any]:
    """(table, primary-key column, ciphertext column, unit column or None) of a registration."""
    mapper = reg.model.__mapper__  # type: ignore[attr-defined]
    table = mapper.local_table
    (pk,) = mapper.primary_key
    ct = mapper.attrs[reg.ct_attr].columns[0]
    unit = mapper.attrs[reg.unit_attr].columns[0] if reg.unit_attr in mapper.attrs else None
    return table, pk, ct, unit


def _key_id_expr(ct: Any) -> Any:
    # Bytes 2..5 of the sealed value (SQL substr is 1-based); compared as plain binary.
    return func.substr(type_coerce(ct, LargeBinary), 2, 4)


def _key_id_bytes(key_id: int) -> Any:
    return bindparam(None, key_id.to_bytes(4, "big"), type_=LargeBinary)


def _rows_using(session: Session, key_id: int, fields: list[FieldRegistration]) -> int:
    total = 0
    for reg in fields:
        _, _, ct, _ = _columns(reg)
        total += (
            session.scalar(
                select(func.count()).where(ct.is_not(None), _key_id_expr(ct) == _key_id_bytes(key_id))
            )
            or 0
        )
    return total


def _get_key(session: Session, key_id: int) -> CryptoKey:
    key = session.get(CryptoKey, key_id)
    if key is None:
        raise KeyOperationError(f"no key with id {key_id}")
    return key


def add_key(session: Session, provider: KEKProvider, keyring: KeyRing) -> CryptoKey:
    """Add a new data key as `enabled` (it opens nothing yet and seals nothing until promoted)."""
    key = create_key(session, provider, KeyPurpose.DATA, KeyStatus.ENABLED)
    session.flush()
    audit.record(
        audit.Event.KEYS_ADDED,
        target_type="crypto_key",
        target_id=str(key.id),
        detail={"key_id": key.id, "purpose": str(key.purpose), "status": str(key.status)},
        session=session,
        keyring=keyring,
    )
    return key


def promote_key(session: Session, keyring: KeyRing, key_id: int) -> CryptoKey:
    """Make an enabled data key the primary; the old primary becomes enabled. Raises KeyOperationError."""
    key = _get_key(session, key_id)
    if key.purpose != KeyPurpose.DATA:
        raise KeyOperationError(f"{key.purpose} keys are never rotated, only rewrapped")
    if key.status != KeyStatus.ENABLED:
        raise KeyOperationError(f"key {key_id} is {key.status}; only an enabled key can be promoted")
    if key_id not in keyring:
        raise KeyOperationError(f"key {key_id} is not loaded; reload the key ring before promoting it")
    previous = session.scalars(
        select(CryptoKey).where(CryptoKey.purpose == KeyPurpose.DATA, CryptoKey.status == KeyStatus.PRIMARY)
    ).all()
    for old in previous:
        old.status = KeyStatus.ENABLED
    session.flush()  # the old primary steps down first (unique index on the primary per purpose)
    key.status = KeyStatus.PRIMARY
    key.promoted_at = utcnow()
    session.flush()
    audit.record(
        audit.Event.KEYS_PROMOTED,
        target_type="crypto_key",
        target_id=str(key.id),
        detail={"key_id": key.id, "previous_key_ids": [old.id for old in previous]},
        session=session,
        keyring=keyring,
    )
    return key


@dataclass
class ReencryptResult:
    rows: int = 0
    batches: int = 0
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (table, column, row id)


def count_pending(
    session: Session, keyring: KeyRing, fields: Iterable[FieldRegistration] | None = None
) -> int:
    """How many encrypted values are not sealed under the primary key."""
    total = 0
    for reg in _fields(fields):
        _, _, ct, _ = _columns(reg)
        total += (
            session.scalar(
                select(func.count()).where(
                    ct.is_not(None), _key_id_expr(ct) != _key_id_bytes(keyring.primary_id)
                )
            )
            or 0
        )
    return total


def reencrypt(
    session: Session,
    keyring: KeyRing,
    batch_size: int = 500,
    progress: Callable[[int], Any] | None = None,
    *,
    fields: Iterable[FieldRegistration] | None = None,
) -> ReencryptResult:
    """Re-seal every value not under the primary key, committing each batch; resumable by re-running.

    Each new value is opened again before it is written. Updates compare the old ciphertext
    so a concurrent edit is never overwritten (that row is picked up on the next run), and
    bypass the ORM so optimistic version counters are not bumped. A value that does not open
    is left alone, audited as `crypto.decrypt_failed` and reported in the result.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    result = ReencryptResult()
    primary = _key_id_bytes(keyring.primary_id)
    for reg in _fields(fields):
        table, pk, ct, unit = _columns(reg)
        columns = [pk, ct] + ([unit] if unit is not None else [])
        last_pk: Any = None
        while True:
            query = select(*columns).where(ct.is_not(None), _key_id_expr(ct) != primary)
            if last_pk is not None:
                query = query.where(pk > last_pk)
            rows = session.execute(query.order_by(pk).limit(batch_size)).all()
            if not rows:
                session.commit()  # ends the read transaction (SQLite holds the write lock)
                break
            last_pk = rows[-1][0]
            updates = []
            for row in rows:
                row_id, old = row[0], row[1]
                unit_id = row[2] if unit is not None else None
                context = {"table": reg.table, "column": reg.column, "row_id": row_id, "unit_id": unit_id}
                try:
                    plaintext = open_sealed(old, keyring=keyring, **context)
                    new = seal(plaintext, keyring=keyring, **context)
                    if open_sealed(new, keyring=keyring, **context) != plaintext:
                        raise DecryptionError(table=reg.table, column=reg.column, row_id=row_id)
                except DecryptionError as error:
                    result.failed.append((reg.table, reg.column, str(row_id)))
                    record_decryption_failure(error, session=session, keyring=keyring)
                    continue
                updates.append({"b_pk": row_id, "b_old": Sealed(old), "b_new": new})
            if updates:
                statement = (
                    update(table)
                    .where(pk == bindparam("b_pk"), ct == bindparam("b_old"))
                    .values({ct.key: bindparam("b_new")})
                )
                session.connection().execute(statement, updates)
                audit.record(
                    audit.Event.KEYS_REENCRYPTED,
                    target_type="crypto_key",
                    target_id=str(keyring.primary_id),
                    detail={"table": reg.table, "column": reg.column, "rows": len(updates)},
                    session=session,
                    keyring=keyring,
                )
            session.commit()
            result.rows += len(updates)
            result.batches += 1
            if progress is not None:
                progress(len(rows))
    return result


def disable_key(
    session: Session, keyring: KeyRing, key_id: int, *, fields: Iterable[FieldRegistration] | None = None
) -> CryptoKey:
    """Disable a data key that no row uses any more. Raises KeyOperationError."""
    key = _get_key(session, key_id)
    if key.purpose != KeyPurpose.DATA:
        raise KeyOperationError(f"{key.purpose} keys are never rotated, only rewrapped")
    if key.status != KeyStatus.ENABLED:
        raise KeyOperationError(
            f"key {key_id} is {key.status}; only an enabled (non-primary) key can be disabled"
        )
    in_use = _rows_using(session, key_id, _fields(fields))
    if in_use:
        raise KeyOperationError(f"{in_use} values are still sealed under key {key_id}; run reencrypt first")
    key.status = KeyStatus.DISABLED
    key.disabled_at = utcnow()
    session.flush()
    audit.record(
        audit.Event.KEYS_DISABLED,
        target_type="crypto_key",
        target_id=str(key.id),
        detail={"key_id": key.id},
        session=session,
        keyring=keyring,
    )
    return key


def rewrap(session: Session, old_provider: KEKProvider, new_provider: KEKProvider, keyring: KeyRing) -> int:
    """Re-wrap every stored key under a new KEK (data untouched); resumable. Returns keys rewrapped."""
    if old_provider.kek_id == new_provider.kek_id:
        raise KeyOperationError("the new KEK is the same as the current one")
    keys = session.scalars(
        select(CryptoKey).where(CryptoKey.status != KeyStatus.DESTROYED).order_by(CryptoKey.id)
    ).all()
    count = 0
    for key in keys:
        if key.kek_id == new_provider.kek_id:
            continue  # done by an earlier, interrupted run
        if key.kek_id != old_provider.kek_id:
            raise KEKError(
                f"key {key.id} is wrapped by KEK {key.kek_id}, which is neither the old nor the new one"
            )
        material = old_provider.unwrap(key.id, key.wrapped_key)
        wrapped = new_provider.wrap(key.id, material)
        if new_provider.unwrap(key.id, wrapped) != material:
            raise KEKError(f"key {key.id} did not survive rewrapping")
        key.wrapped_key = wrapped
        key.kek_id = new_provider.kek_id
        count += 1
    session.flush()
    audit.record(
        audit.Event.KEYS_REWRAPPED,
        detail={"old_kek_id": old_provider.kek_id, "new_kek_id": new_provider.kek_id, "keys": count},
        session=session,
        keyring=keyring,
    )
    return count


@dataclass(frozen=True)
class KeyUsage:
    id: int
    purpose: str
    status: str
    kek_id: str
    created_at: dt.datetime
    promoted_at: dt.datetime | None
    disabled_at: dt.datetime | None
    rows: int


def key_status(session: Session, *, fields: Iterable[FieldRegistration] | None = None) -> list[KeyUsage]:
    """Every key with the number of encrypted values sealed under it (data keys only)."""
    counts: dict[int, int] = {}
    for reg in _fields(fields):
        _, _, ct, _ = _columns(reg)
        kid = _key_id_expr(ct)
        for raw, n in session.execute(select(kid, func.count()).where(ct.is_not(None)).group_by(kid)):
            key_id = int.from_bytes(bytes(raw), "big")
            counts[key_id] = counts.get(key_id, 0) + n
    keys = session.scalars(select(CryptoKey).order_by(CryptoKey.purpose, CryptoKey.created_at)).all()
    return [
        KeyUsage(
            id=k.id,
            purpose=str(k.purpose),
            status=str(k.status),
            kek_id=k.kek_id,
            created_at=k.created_at,
            promoted_at=k.promoted_at,
            disabled_at=k.disabled_at,
            rows=counts.get(k.id, 0) if k.purpose == KeyPurpose.DATA else 0,
        )
        for k in keys
    ]


def record_decryption_failure(
    error: DecryptionError, *, session: Session | None = None, keyring: KeyRing | None = None
) -> None:
    """Audit a decryption failure (`crypto.decrypt_failed`): where, never why or what."""
    detail: dict[str, Any] = {"table": error.table, "column": error.column}
    if error.key_id is not None:
        detail["key_id"] = error.key_id
    audit.record(
        audit.Event.CRYPTO_DECRYPT_FAILED,
        outcome="failure",
        target_type=error.table,
        target_id=str(error.row_id) if isinstance(error.row_id, uuid.UUID) else None,
        detail=detail,
        session=session,
        keyring=keyring,
    )
