"""Retention (gallring) of closed vetting cases: `sakskydd retention run [--dry-run]`.

DOMAIN.md §4: per record type, a configurable period after the case closed (the city archive
authority sets the values); a scheduled job destroys what has expired and leaves an audit event
saying so. Two record types ("rules"):

- ``vetting_closed``: a case with status avslutad, SAKSKYDD_RETENTION_VETTING_CLOSED_DAYS after
  its closed_on (the day the person left the position or the avanmälan was made);
- ``vetting_not_approved``: a case with status ej godkänd, SAKSKYDD_RETENTION_VETTING_NOT_APPROVED_DAYS
  after its closed_on (the day the beslut was confirmed).

A case is due on ``rules.disposal_due(closed_on, period)`` and is disposed of on that day or any
later run: disposed when ``today >= due_on``. Open, approved and already anonymised cases are
never touched.

Disposal anonymises, it does not delete: the personal fields are destroyed (the name and
personnummer ciphertexts and the blind index set to NULL), the case's uppföljning notes are
deleted, and anonymised_on is set. The row stays with its unit, position, class, status, dates
and checklist steps, so counts and statistics by class and status are unchanged; the history
(VettingChange) holds no personal data and stays too. Each case is disposed of in its own
transaction together with its one audit event (``vetting.disposed``: rule, closed_on and the
number of notes deleted; never a name or personnummer), so an interrupted run keeps what it did
and is simply run again. The case is read again under a row lock before it is changed, and
skipped when it no longer matches the plan (anonymised meanwhile, reopened, another closing
date): a second or concurrent run disposes nothing twice.

On SQLite the destroyed content must not linger in the database file. The engine
(sakskydd.extensions) does not set ``PRAGMA secure_delete``; SQLite's compile-time default
decides (on in Debian's build, off in others), so each disposal switches it on for its
connection: the cells and pages it frees (the old row, its index entries, the notes) are
zeroed. After a run that disposed of anything the WAL is checkpointed and truncated, since its
older frames still hold the pages as they were before. (A copy that an earlier update of the
row left in a page's free space on a build without secure_delete is not reached by this; the
engine-wide setting is the cure for that.) On PostgreSQL the old row versions stay in the table
files until VACUUM reclaims them: that is the operator's routine maintenance (autovacuum, or
VACUUM after a run).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import and_, or_, select, text
from sqlalchemy.orm.exc import StaleDataError

from sakskydd import audit
from sakskydd.audit.tags import Event
from sakskydd.db import utcnow
from sakskydd.extensions import db, get_database
from sakskydd.vetting import rules
from sakskydd.vetting.models import CaseStatus, VettingCase

log = logging.getLogger(__name__)

RULE_CLOSED: Final = "vetting_closed"
RULE_NOT_APPROVED: Final = "vetting_not_approved"

# The record types: the status a closed case has, its rule name and the setting with its period.
RULES: Final[Mapping[CaseStatus, tuple[str, str]]] = {
    CaseStatus.CLOSED: (RULE_CLOSED, "retention_vetting_closed_days"),
    CaseStatus.NOT_APPROVED: (RULE_NOT_APPROVED, "retention_vetting_not_approved_days"),
}
RULE_STATUS: Final[Mapping[str, CaseStatus]] = {rule: status for status, (rule, _) in RULES.items()}


@dataclass(frozen=True)
class Disposal:
    """One case whose personal data is due for destruction; ids and dates only."""

    case_id: uuid.UUID
    unit_id: uuid.UUID
    rule: str
    closed_on: dt.date
    due_on: dt.date


def period_days(settings: Any, rule: str) -> int:
    status = RULE_STATUS[rule]
    return int(getattr(settings, RULES[status][1]))


def plan_disposals(today: dt.date, settings: Any) -> list[Disposal]:
    """Every case not yet anonymised whose retention period has run out by `today` (due on
    closed_on + period, disposed when today >= due), oldest first. One SELECT; reads only."""
    cutoffs = {
        status: today - dt.timedelta(days=period_days(settings, rule)) for status, (rule, _) in RULES.items()
    }
    rows = db.execute(
        select(VettingCase.id, VettingCase.unit_id, VettingCase.status, VettingCase.closed_on)
        .where(
            VettingCase.anonymised_on.is_(None),
            VettingCase.closed_on.is_not(None),
            # closed_on + period <= today, written as closed_on <= today - period (index-friendly
            # and the same on SQLite and PostgreSQL).
            or_(*(and_(VettingCase.status == s, VettingCase.closed_on <= c) for s, c in cutoffs.items())),
        )
        .order_by(VettingCase.closed_on, VettingCase.id)
    ).all()
    planned = []
    for case_id, unit_id, status, closed_on in rows:
        rule = RULES[status][0]
        due_on = rules.disposal_due(closed_on, period_days(settings, rule))
        assert due_on is not None  # noqa: S101 - closed_on is not NULL in the query
        planned.append(Disposal(case_id, unit_id, rule, closed_on, due_on))
    return planned


def _still_due(case: VettingCase | None, disposal: Disposal, today: dt.date) -> bool:
    """The case as it is now still matches the plan (same unit, status, closing date; not
    anonymised) and its due date has come."""
    return (
        case is not None
        and case.anonymised_on is None
        and case.unit_id == disposal.unit_id
        and case.status == RULE_STATUS.get(disposal.rule)
        and case.closed_on == disposal.closed_on
        and today >= disposal.due_on
    )


def _is_sqlite() -> bool:
    return db.get_bind().dialect.name == "sqlite"


def _dispose_one(disposal: Disposal, today: dt.date) -> bool:
    """Destroy one case's personal data and record it, in the current transaction (not committed).
    Returns False (nothing changed) when the case no longer matches the plan."""
    if _is_sqlite():
        # Zero freed cells and pages of this connection's writes (the destroyed ciphertext).
        db.execute(text("PRAGMA secure_delete = ON"))
    # Read again under a row lock (PostgreSQL FOR UPDATE; SQLite's transactions already hold the
    # write lock), overwriting whatever an earlier read left in the session.
    case = db.get(VettingCase, disposal.case_id, with_for_update=True, populate_existing=True)
    if not _still_due(case, disposal, today):
        return False
    assert case is not None  # noqa: S101 - checked by _still_due
    db.expire(case, ["notes"])
    notes_deleted = len(case.notes)
    case.notes.clear()  # delete-orphan: the VettingNote rows are deleted at the flush
    case.person_name_ct = None
    case.personnummer_ct = None
    case.pnr_index = None
    case.anonymised_on = today
    case.updated_at = utcnow()
    db.flush()  # the version column moves on (and catches a concurrent change)
    audit.record(
        Event.VETTING_DISPOSED,
        target=case,
        changed=["anonymised_on", "notes", "person_name", "personnummer", "pnr_index"],
        detail={
            "rule": disposal.rule,
            "closed_on": disposal.closed_on.isoformat(),
            "notes_deleted": notes_deleted,
            "run_on": today.isoformat(),
        },
    )
    return True


def dispose(disposals: Iterable[Disposal], today: dt.date) -> int:
    """Dispose of the planned cases, each in its own transaction with its audit event; returns
    how many were disposed of (a case changed since planning is skipped and not counted).
    Commits per case: call it with nothing pending in the session."""
    done = 0
    disposals = list(disposals)
    for disposal in disposals:
        try:
            disposed = _dispose_one(disposal, today)
        except StaleDataError:
            # Another writer changed the row between our read and our update: leave it to the
            # next run, which plans afresh.
            db.rollback()
            log.warning("retention: case %s changed during the run; skipped", disposal.case_id)
            continue
        except Exception:
            db.rollback()
            raise
        if not disposed:
            db.rollback()
            log.info("retention: case %s no longer due; skipped", disposal.case_id)
            continue
        db.commit()
        done += 1
        log.info("retention: case %s disposed of (%s)", disposal.case_id, disposal.rule)
    if disposals and _is_sqlite():
        # Also when nothing was disposed this time: an interrupted earlier run may have left
        # its frames in the WAL.
        truncate_sqlite_wal()
    return done


def truncate_sqlite_wal() -> None:
    """Checkpoint the WAL into the database file and truncate it, so no frame written before the
    disposal (holding the destroyed ciphertext) is left in the -wal file. Runs on a connection of
    its own outside any transaction (each disposal has committed or rolled back by now)."""
    raw = get_database().engine.raw_connection()
    try:
        # The engine's connections run in autocommit mode (transactions are begun explicitly),
        # so the checkpoint runs outside a transaction, as it must.
        connection = raw.driver_connection
        assert connection is not None  # noqa: S101
        busy, _frames, _done = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        raw.close()
    if busy:
        log.warning("retention: the SQLite WAL could not be truncated (another connection is reading)")
