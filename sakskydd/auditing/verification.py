"""Verification of the audit chain on demand, from the auditors' workspace.

A request starts a run (a VerificationRun row and an audit.verification_started event) and a
background thread verifies the chain as `sakskydd audit verify` does: every link, every MAC,
every checkpoint stored in the database and in the instance's checkpoint file, their
signatures against the *trusted public key* (SAKSKYDD_AUDIT_PUBLIC_KEY_FILE: the web process
never reads the signing key). The thread reports its progress in the row about twice a second,
and at the end writes the result with an audit.verified event, in one transaction.

The thread reads through an engine of its own without the application's BEGIN IMMEDIATE: on
SQLite a verification must not hold the write lock while it reads millions of rows (WAL gives
it a consistent view of the committed events, which never change). A run whose heartbeat is
older than STALE_AFTER died with its process and is shown as stopped; a new run may then start.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask import Flask, current_app, g
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from sakskydd import audit
from sakskydd.audit.checkpoints import (
    CHECKPOINT_FILE_NAME,
    SigningKeyError,
    load_public_key,
    read_checkpoint_file,
)
from sakskydd.audit.models import AuditCheckpoint, AuditHead
from sakskydd.audit.tags import Event, Outcome
from sakskydd.audit.verify import Checkpoint, VerifyResult, key_fingerprint, verify_database
from sakskydd.auditing.models import RunStatus, VerificationRun
from sakskydd.crypto.fields import current_keyring
from sakskydd.db import utcnow
from sakskydd.extensions import db, get_database

log = logging.getLogger(__name__)

STALE_AFTER = dt.timedelta(minutes=2)
REPORT_EVERY = 0.5  # seconds between progress reports
HISTORY = 10  # runs shown on the status page
THREADS_EXTENSION = "sakskydd.audit_verification_threads"  # started here; joined at shutdown in tests


@dataclass(frozen=True)
class TrustedKey:
    """The public key checkpoints are verified with, or why there is none."""

    key: Ed25519PublicKey | None
    path: Path | None
    problem: str | None = None

    @property
    def fingerprint(self) -> str | None:
        return key_fingerprint(self.key) if self.key is not None else None


def _settings() -> Any:
    return current_app.config["SAKSKYDD_SETTINGS"]


def trusted_key() -> TrustedKey:
    path = _settings().audit_public_key_file
    if path is None:
        return TrustedKey(None, None, "Ingen publik nyckel är konfigurerad (SAKSKYDD_AUDIT_PUBLIC_KEY_FILE).")
    try:
        return TrustedKey(load_public_key(Path(path).read_bytes()), Path(path))
    except FileNotFoundError:
        return TrustedKey(None, Path(path), "Den publika nyckeln saknas; kör 'sakskydd audit public-key'.")
    except (OSError, SigningKeyError) as exc:
        log.warning("audit public key %s cannot be read: %s", path, type(exc).__name__)
        return TrustedKey(None, Path(path), "Den publika nyckeln kan inte läsas.")


def external_checkpoints() -> list[Checkpoint]:
    path = Path(_settings().instance_path) / CHECKPOINT_FILE_NAME
    if not path.exists():
        return []
    return read_checkpoint_file(path)


def is_stale(run: VerificationRun, now: dt.datetime | None = None) -> bool:
    return run.status == RunStatus.RUNNING and (now or utcnow()) - run.heartbeat_at > STALE_AFTER


def effective_status(run: VerificationRun) -> RunStatus:
    """What the run is: a running run whose process died is shown as stopped."""
    return RunStatus.FAILED if is_stale(run) else run.status


def recent_runs() -> list[VerificationRun]:
    newest_first = (VerificationRun.started_at.desc(), VerificationRun.id)
    return list(db.scalars(select(VerificationRun).order_by(*newest_first).limit(HISTORY)))


def latest_checkpoint() -> AuditCheckpoint | None:
    return db.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1))


def start(user_id: uuid.UUID) -> tuple[VerificationRun, bool]:
    """Start a run, or give the one already running; (run, started). The caller commits, then
    calls launch(run) when `started`."""
    now = utcnow()
    running = list(db.scalars(select(VerificationRun).where(VerificationRun.status == RunStatus.RUNNING)))
    for run in running:
        if not is_stale(run, now):
            return run, False
    for run in running:  # died with their process
        run.status, run.finished_at = RunStatus.FAILED, now
        run.reason = "Verifieringen avbröts (processen stannade)."
    head = db.scalar(select(AuditHead.seq).where(AuditHead.id == 1)) or 0
    run = VerificationRun(
        id=uuid.uuid4(), started_by_id=user_id, started_at=now, heartbeat_at=now, upto=head, checked=0
    )
    db.add(run)
    db.flush()
    audit.record(
        Event.AUDIT_VERIFICATION_STARTED,
        target_type="audit_verification_run",
        target_id=run.id,
        detail={"upto": head},
    )
    return run, True


def launch(run: VerificationRun) -> threading.Thread:
    """Verify in a background thread of this process (after the run's row is committed)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    origin = {"system": "background", "request_id": getattr(g, "request_id", "")}
    thread = threading.Thread(
        target=_work, args=(app, run.id, origin), name=f"audit-verify-{run.id}", daemon=True
    )
    thread.start()
    threads = app.extensions.setdefault(THREADS_EXTENSION, [])
    threads[:] = [t for t in threads if t.is_alive()] + [thread]
    return thread


def reader_engine(app: Flask | None = None) -> Any:
    """An engine for a long read: no BEGIN IMMEDIATE (SQLite), no pooled connection kept; None
    for an in-memory database (which exists only in the application's own connection)."""
    url = get_database(app).engine.url
    if url.get_backend_name() == "sqlite" and (url.database or ":memory:") == ":memory:":
        return None
    return create_engine(url, poolclass=NullPool)


def _work(app: Flask, run_id: uuid.UUID, origin: dict[str, str]) -> None:
    with app.app_context():
        database = get_database(app)
        writer = database.session_factory()
        engine = reader_engine(app)
        try:
            result, key = _verify(writer, engine, run_id)
            _finish(writer, run_id, origin, result, key)
        except Exception as exc:  # the run must end with a status, whatever happened
            writer.rollback()
            log.error("audit verification %s failed: %s", run_id, type(exc).__name__)
            _fail(writer, run_id, origin)
        finally:
            writer.close()
            if engine is not None:
                engine.dispose()


def _verify(writer: Session, engine: Any, run_id: uuid.UUID) -> tuple[VerifyResult, TrustedKey]:
    key = trusted_key()
    extra = external_checkpoints()
    mac_key = current_keyring().audit_mac_key
    last = 0.0

    def report(seq: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < REPORT_EVERY:
            return
        last = now
        writer.execute(
            update(VerificationRun)
            .where(VerificationRun.id == run_id)
            .values(checked=seq, heartbeat_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        writer.commit()

    reader = Session(engine) if engine is not None else get_database().session_factory()
    try:
        result = verify_database(
            reader, mac_key=mac_key, public_key=key.key, extra_checkpoints=extra, progress=report
        )
    finally:
        reader.rollback()
        reader.close()
    return result, key


def _finish(
    writer: Session, run_id: uuid.UUID, origin: dict[str, str], result: VerifyResult, key: TrustedKey
) -> None:
    run = writer.get(VerificationRun, run_id)
    if run is None:
        return
    run.status = RunStatus.INTACT if result.ok else RunStatus.BROKEN
    run.finished_at = run.heartbeat_at = utcnow()
    run.checked = result.count
    run.upto = max(run.upto, result.count)
    run.checkpoints = result.checkpoints
    run.key_fingerprint = key.fingerprint
    run.first_bad_seq, run.code = result.first_bad_seq, result.code
    run.reason = (result.reason or "")[:300] or None
    detail: dict[str, Any] = {"ok": result.ok, "count": result.count, "checkpoints": result.checkpoints}
    if not result.ok:
        detail.update(first_bad_seq=result.first_bad_seq, failure=result.code)
    audit.record(
        Event.AUDIT_VERIFIED,
        outcome=Outcome.SUCCESS if result.ok else Outcome.FAILURE,
        actor=run.started_by_id,
        target_type="audit_verification_run",
        target_id=run.id,
        detail=detail,
        session=writer,
        source=origin,
    )
    writer.commit()


def _fail(writer: Session, run_id: uuid.UUID, origin: dict[str, str]) -> None:
    try:
        run = writer.get(VerificationRun, run_id)
        if run is None:
            return
        run.status, run.finished_at = RunStatus.FAILED, utcnow()
        run.reason = "Verifieringen kunde inte slutföras; försök igen eller kör 'sakskydd audit verify'."
        audit.record(
            Event.AUDIT_VERIFIED,
            outcome=Outcome.FAILURE,
            actor=run.started_by_id,
            target_type="audit_verification_run",
            target_id=run.id,
            detail={"ok": False, "failure": "run_failed"},
            session=writer,
            source=origin,
        )
        writer.commit()
    except Exception as exc:
        writer.rollback()
        log.error("audit verification %s: the failure could not be recorded: %s", run_id, type(exc).__name__)
