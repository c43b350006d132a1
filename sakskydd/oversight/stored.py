"""The stored picture: the chef's picture of an operator kept as it was last compiled.

Compiling the picture reads every unit of the operator (figures.py); at national scale (2 000
units) that takes about a second (docs/benchmarks.md). A view therefore shows the stored picture
when nothing it depends on can have changed since it was compiled, and compiles it again
otherwise. Whether anything has changed is known exactly, not guessed: every change is audited
in its own transaction (DESIGN.md), and the audit chain's seq is gapless and assigned under the
head lock, so a change committed after the compilation has a seq above the head the compilation
read first. The stored picture is current when

- it was compiled today (overdue is a matter of the date) with the same settings (rules_key);
- no audit event after its head is a change, i.e. every later event is in UNCHANGING_EVENTS
  (reads, sign-ins, exports, key and audit operations). Any other event, including a kind added
  later, counts as a change: an unknown event can make the picture compile too often, never
  leave it stale.

`SAKSKYDD_PICTURE_MAX_AGE_SECONDS` (default 0) lets a changed picture still be shown for that
long after its compilation, marked as such with a button to compile it now; `sakskydd oversight
refresh` on a timer compiles every stale stored picture in the background, so that at national
scale the chef's views read one row. The stored picture is derived data (counts and unit names,
like a city-wide analysis' snapshot, nothing encrypted): every view of it is audited as a read
(oversight.read), and a compilation the chef asks for as oversight.compiled.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from sakskydd.audit.models import AuditEvent, AuditHead
from sakskydd.audit.tags import Event
from sakskydd.db import utcnow
from sakskydd.deadlines import Rules, local_today
from sakskydd.organisations.models import Operator
from sakskydd.oversight.figures import Figures, UnitFigures, YearFigures, operator_figures, yearly_series
from sakskydd.oversight.models import StoredPicture

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from sakskydd.config import Settings

# Bumped when the payload's shape changes: a stored picture of another format is compiled again.
PICTURE_FORMAT: Final = 1
# Audit events that never change a figure of the picture. Everything else is a change.
UNCHANGING_EVENTS: Final = frozenset(
    {
        # Reads and exports
        Event.ANALYSIS_READ,
        Event.ASSET_READ,
        Event.CITYWIDE_READ,
        Event.FOLLOWUP_READ,
        Event.OVERSIGHT_READ,
        Event.OVERSIGHT_COMPILED,
        Event.PROCUREMENT_READ,
        Event.UNIT_READ,
        Event.VETTING_LOOKUP,
        Event.VETTING_READ_PERSONAL,
        Event.AUDIT_EXPORTED,
        Event.CITYWIDE_EXPORTED,
        Event.OVERSIGHT_EXPORTED,
        Event.PROCUREMENT_EXPORTED,
        # The audit trail, keys and policies
        Event.AUDIT_CHECKPOINT,
        Event.AUDIT_SEARCHED,
        Event.AUDIT_VERIFICATION_STARTED,
        Event.AUDIT_VERIFIED,
        Event.BACKUP_CREATED,
        Event.CRYPTO_DECRYPT_FAILED,
        Event.KEYS_ADDED,
        Event.KEYS_DISABLED,
        Event.KEYS_PROMOTED,
        Event.KEYS_REENCRYPTED,
        Event.KEYS_REWRAPPED,
        Event.POLICY_LOADED,
        # Signing in and out, sessions, denied requests, reminders
        Event.AUTH_ACTIVATION_USED,
        Event.AUTH_LOGIN_FAILURE,
        Event.AUTH_LOGIN_LOCKED,
        Event.AUTH_LOGIN_SUCCESS,
        Event.AUTH_LOGOUT,
        Event.AUTH_MFA_ENROLLED,
        Event.AUTH_MFA_FAILURE,
        Event.AUTH_MFA_RESET,
        Event.AUTH_MFA_SUCCESS,
        Event.AUTH_PASSWORD_CHANGED,
        Event.AUTH_RECOVERY_REGENERATED,
        Event.AUTH_RECOVERY_USED,
        Event.AUTH_STEPUP_FAILURE,
        Event.AUTH_STEPUP_SUCCESS,
        Event.AUTHZ_DENY,
        Event.SESSION_ENDED,
        Event.SESSION_EXPIRED,
        Event.REMINDERS_SENT,
    }
)
# A current picture's head is moved forward (one UPDATE) once this many events have passed it,
# so that the check for changes never reads more than this many events.
ADVANCE_AFTER: Final = 1000
_UUIDS: Final = ("unit_id", "operator_id", "analysis_id")
_DATES: Final = ("created_on", "analysis_due_on")


@dataclass
class Picture:
    """The picture as shown: the figures, the yearly series, when they were compiled, and
    whether a change has been recorded since (only when shown within the maximum age)."""

    figures: Figures
    years: list[YearFigures]
    compiled_at: dt.datetime
    changed_since: bool = False


def rules_key(settings: Settings) -> str:
    """The payload format (with the figures' field names, so that a field added to them is never
    read from an older payload) and every setting the figures depend on, hashed."""
    rules = dataclasses.astuple(Rules.from_settings(settings))
    shape = [f.name for model in (UnitFigures, YearFigures) for f in dataclasses.fields(model)]
    return hashlib.sha256(repr((PICTURE_FORMAT, shape, rules)).encode()).hexdigest()


def encode(figures: Figures, years: list[YearFigures]) -> str:
    def unit(u: UnitFigures) -> dict[str, Any]:
        row = {f.name: getattr(u, f.name) for f in dataclasses.fields(u)}
        for name in (*_UUIDS, *_DATES):
            row[name] = str(row[name]) if row[name] is not None else None
        return row

    return json.dumps(
        {
            "today": figures.today.isoformat(),
            "operators": [[str(ident), name] for ident, name in figures.operators],
            "units": [unit(u) for u in figures.units],
            "years": [{**dataclasses.asdict(y), "on": y.on.isoformat()} for y in years],
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def decode(payload: str) -> tuple[Figures, list[YearFigures]]:
    data = json.loads(payload)
    counters = [f.name for f in dataclasses.fields(UnitFigures) if f.default_factory is Counter]
    units = []
    for row in data["units"]:
        for name in _UUIDS:
            row[name] = uuid.UUID(row[name]) if row[name] is not None else None
        for name in _DATES:
            row[name] = dt.date.fromisoformat(row[name]) if row[name] is not None else None
        for name in counters:
            row[name] = Counter(row[name])
        units.append(UnitFigures(**row))
    figures = Figures(
        dt.date.fromisoformat(data["today"]),
        [(uuid.UUID(ident), name) for ident, name in data["operators"]],
        units,
    )
    years = [YearFigures(**{**y, "on": dt.date.fromisoformat(y["on"])}) for y in data["years"]]
    return figures, years


def _state(session: Session, operator_id: uuid.UUID) -> tuple[int, StoredPicture | None, int | None]:
    """In one statement: the audit head, the stored picture (if any) and the seq of the first
    change after it (None when there is none)."""
    head = select(AuditHead.seq).where(AuditHead.id == 1).scalar_subquery()
    first_change = (
        select(func.min(AuditEvent.seq))
        .where(
            AuditEvent.seq > StoredPicture.audit_seq,
            AuditEvent.seq <= head,
            AuditEvent.event.not_in(sorted(UNCHANGING_EVENTS)),
        )
        .scalar_subquery()
    )
    row = session.execute(
        select(func.coalesce(head, 0), StoredPicture, first_change)
        .select_from(Operator)
        .outerjoin(StoredPicture, StoredPicture.operator_id == Operator.id)
        .where(Operator.id == operator_id)
        .execution_options(populate_existing=True)
    ).one()
    return int(row[0]), row[1], row[2]


def picture_of(
    session: Session, operator_id: uuid.UUID, settings: Settings, *, recompile: bool = False
) -> Picture:
    """The operator's picture: the stored one when it is current (or changed but within the
    maximum age), else compiled now and stored."""
    today = local_today()
    head, stored, first_change = _state(session, operator_id)
    if stored is not None and not recompile and _compiled_for(stored, today, settings):
        changed = first_change is not None
        age = (utcnow() - stored.compiled_at).total_seconds()
        if not changed or age < settings.picture_max_age_seconds:
            if not changed and head - stored.audit_seq > ADVANCE_AFTER:
                stored.audit_seq = head
            figures, years = decode(stored.payload)
            return Picture(figures, years, stored.compiled_at, changed_since=changed)
    return compile_picture(session, operator_id, today, settings, head)


def _compiled_for(stored: StoredPicture, today: dt.date, settings: Settings) -> bool:
    """Compiled today with today's settings (and payload format)."""
    return stored.compiled_on == today and stored.rules_key == rules_key(settings)


def compile_picture(
    session: Session, operator_id: uuid.UUID, today: dt.date, settings: Settings, head: int
) -> Picture:
    """Compile the picture and store it with `head`, the audit head read before compiling (a
    change committed meanwhile has a later seq, so the next view compiles again)."""
    figures = operator_figures(session, [operator_id], today, settings)
    years = yearly_series(session, figures, settings)
    compiled_at = utcnow()
    values = {
        "operator_id": operator_id,
        "compiled_at": compiled_at,
        "compiled_on": today,
        "audit_seq": head,
        "rules_key": rules_key(settings),
        "payload": encode(figures, years),
    }
    # Two views compiling at once: the last to commit is stored, each with its own head.
    insert = postgresql.insert if session.connection().dialect.name == "postgresql" else sqlite.insert
    statement = insert(StoredPicture).values(values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[StoredPicture.operator_id],
            set_={name: statement.excluded[name] for name in values if name != "operator_id"},
        ),
        execution_options={"synchronize_session": False},
    )
    return Picture(figures, years, compiled_at)


def refresh(session: Session, settings: Settings) -> tuple[int, int]:
    """Compile every stored picture that is not current (`sakskydd oversight refresh`), each
    committed on its own. Returns (compiled, already current)."""
    compiled = current = 0
    stored_ids = select(StoredPicture.operator_id).order_by(StoredPicture.operator_id)
    for operator_id in session.scalars(stored_ids).all():
        head, stored, first_change = _state(session, operator_id)
        today = local_today()
        if stored is not None and _compiled_for(stored, today, settings) and first_change is None:
            current += 1
        else:
            compile_picture(session, operator_id, today, settings, head)
            compiled += 1
        session.commit()
    return compiled, current
