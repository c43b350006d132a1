"""The auditors' workspace: search the audit trail and read one event.

An auditor (revisor) reaches the events of their operators (and the bolag under them): events
about those operators' units, events without a unit by or about those operators' people, and
the system's own events (SYSTEM_EVENTS: policy loads, key operations, reminder runs,
checkpoints, backups). The payload
is shown as stored: ids, field names and counts; sensitive details stay sealed, so an auditor
never sees a decrypted field (SECURITY.md).

Pagination is keyset on `seq` (`fore`: older than, `efter`: newer than), so a page costs the
same at the head of the trail and millions of events back; the filters use the indexed columns
(event, actor, unit); the dates compare occurred_at (an index for it is issue 7's to measure).
Every search is itself audited (`audit.searched`) with the filters as ids and flags, never the
typed text.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import tempfile
import uuid
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from sakskydd import audit
from sakskydd.accounts.models import User
from sakskydd.audit.models import AuditEvent, AuditHead
from sakskydd.audit.range_export import write_range_export
from sakskydd.audit.tags import Event, Outcome
from sakskydd.audit.verify import load_checkpoints
from sakskydd.auditing import verification
from sakskydd.auditing.models import RunStatus
from sakskydd.authz import permissions as perm
from sakskydd.authz.enforcement import authorize, is_allowed, parse_uuid
from sakskydd.extensions import db
from sakskydd.organisations.models import OrgUnit
from sakskydd.organisations.rules import LOCAL_TIMEZONE
from sakskydd.organisations.scope import revisor_operator_ids
from sakskydd.web.listing import contains_pattern, search_text

auditing = Blueprint("auditing", __name__)

PAGE_SIZE = 50
MAX_PEOPLE = 50  # a person filter matching more people than this is too broad
OUTCOME_LABELS = {Outcome.SUCCESS: "Lyckades", Outcome.FAILURE: "Misslyckades", Outcome.DENIED: "Nekad"}


def _me() -> User:
    return current_user._get_current_object()  # type: ignore[no-any-return]


def _scope_units() -> Any:
    return select(OrgUnit.id).where(OrgUnit.operator_id.in_(revisor_operator_ids(_me().id)))


def _scope_people() -> Any:
    return select(User.id).where(User.operator_id.in_(revisor_operator_ids(_me().id)))


# The system's own events (no person, no unit) that every auditor reads: the state of the
# installation, not of anyone's account. Others without a person (a failed login, an expired
# session) are about a user account, and visible only to that account's operators' auditors.
SYSTEM_EVENTS = tuple(
    e.value
    for e in Event
    if e.value.startswith(("keys.", "policy.", "demo.", "reminders.", "crypto.", "backup."))
    or e in (Event.AUDIT_CHECKPOINT, Event.AUDIT_EXPORTED)
)


def visible_clause() -> Any:
    """The events the signed-in auditor reaches (see the module docstring)."""
    no_unit = AuditEvent.unit_id.is_(None)
    people = [str(ident) for ident in db.scalars(_scope_people())]
    return or_(
        AuditEvent.unit_id.in_(_scope_units()),
        and_(no_unit, AuditEvent.actor_id.in_(_scope_people())),
        and_(no_unit, AuditEvent.actor_id.is_(None), AuditEvent.event.in_(SYSTEM_EVENTS)),
        and_(
            no_unit,
            AuditEvent.actor_id.is_(None),
            AuditEvent.target_type == "user_account",
            AuditEvent.target_id.in_(people),
        ),
    )


def _day_start(day: dt.date) -> dt.datetime:
    """Midnight of a day in the city's calendar, in UTC (occurred_at is stored in UTC)."""
    return dt.datetime.combine(day, dt.time(), LOCAL_TIMEZONE).astimezone(dt.UTC)


def _date(raw: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat((raw or "").strip())
    except ValueError:
        return None


def _int(raw: str | None) -> int | None:
    text = (raw or "").strip()
    return int(text) if text.isascii() and text.isdecimal() and len(text) < 19 else None


class Search:
    """The request's filters, checked against whitelists; what the page and the audit event use."""

    def __init__(self, args: Any) -> None:
        self.person = search_text(args.get("person"))
        self.unit = parse_uuid(args.get("enhet", ""))
        self.target = search_text(args.get("objekt"))[:64]
        self.event = args.get("typ", "") if args.get("typ", "") in {e.value for e in Event} else ""
        self.outcome = args.get("utfall", "") if args.get("utfall", "") in {o.value for o in Outcome} else ""
        self.since = _date(args.get("fran"))
        self.until = _date(args.get("till"))
        self.before = _int(args.get("fore"))
        self.after = _int(args.get("efter"))
        self.errors: list[str] = []
        if args.get("fran") and self.since is None or args.get("till") and self.until is None:
            self.errors.append("Ange datum som ÅÅÅÅ-MM-DD.")
        if self.since and self.until and self.until < self.since:
            self.errors.append("Slutdatumet kan inte ligga före startdatumet.")
        self.people: list[User] = []

    @property
    def args(self) -> dict[str, str]:
        """The filters as URL arguments (for the pager)."""
        values = {
            "person": self.person,
            "enhet": str(self.unit or ""),
            "objekt": self.target,
            "typ": self.event,
            "utfall": self.outcome,
            "fran": self.since.isoformat() if self.since else "",
            "till": self.until.isoformat() if self.until else "",
        }
        return {k: v for k, v in values.items() if v}

    def conditions(self) -> list[Any] | None:
        """The WHERE conditions, or None when the filters cannot match anything."""
        conditions: list[Any] = [visible_clause()]
        if self.person:
            pattern = contains_pattern(self.person)
            self.people = list(
                db.scalars(
                    select(User)
                    .where(
                        User.id.in_(_scope_people()),
                        or_(
                            User.username.ilike(pattern, escape="\\"),
                            User.display_name.ilike(pattern, escape="\\"),
                        ),
                    )
                    .order_by(User.display_name, User.id)
                    .limit(MAX_PEOPLE + 1)
                )
            )
            if not self.people:
                return None
            if len(self.people) > MAX_PEOPLE:
                self.errors.append(f"Fler än {MAX_PEOPLE} personer matchar; skriv mer av namnet.")
                return None
            conditions.append(AuditEvent.actor_id.in_([p.id for p in self.people]))
        if self.unit is not None:
            conditions.append(AuditEvent.unit_id == self.unit)
        if self.target:
            conditions.append(AuditEvent.target_id == self.target)
        if self.event:
            conditions.append(AuditEvent.event == self.event)
        if self.outcome:
            conditions.append(AuditEvent.outcome == self.outcome)
        if self.since:
            conditions.append(AuditEvent.occurred_at >= _day_start(self.since))
        if self.until:
            conditions.append(AuditEvent.occurred_at < _day_start(self.until + dt.timedelta(days=1)))
        return conditions

    def audit_detail(self, shown: int) -> dict[str, Any]:
        """What the search itself leaves in the trail: ids and flags, never typed text."""
        detail: dict[str, Any] = {"shown": shown}
        if self.person:
            detail["people"] = [str(p.id) for p in self.people]
        for name, value in (
            ("unit", str(self.unit) if self.unit else None),
            ("target", bool(self.target) or None),
            ("event", self.event or None),
            ("outcome", self.outcome or None),
            ("since", self.since.isoformat() if self.since else None),
            ("until", self.until.isoformat() if self.until else None),
            ("before", self.before),
            ("after", self.after),
        ):
            if value is not None:
                detail[name] = value
        return detail


@auditing.route("/granskning")
@authorize(perm.AUDIT_SEARCH)
def events() -> Any:
    search = Search(request.args)
    rows: list[AuditEvent] = []
    newer = older = None
    conditions = None if search.errors else search.conditions()
    if conditions is not None and not search.errors:
        query = select(AuditEvent).where(*conditions)
        if search.after is not None:
            # Newer than `efter`: the next page towards the head, read upwards, shown newest first.
            upwards = query.where(AuditEvent.seq > search.after).order_by(AuditEvent.seq)
            page = list(db.scalars(upwards.limit(PAGE_SIZE + 1)))
            more_newer = len(page) > PAGE_SIZE
            rows = list(reversed(page[:PAGE_SIZE]))
            newer = rows[0].seq if rows and more_newer else None
            older = rows[-1].seq if rows else None
        else:
            if search.before is not None:
                query = query.where(AuditEvent.seq < search.before)
            page = list(db.scalars(query.order_by(AuditEvent.seq.desc()).limit(PAGE_SIZE + 1)))
            rows = page[:PAGE_SIZE]
            older = rows[-1].seq if len(page) > PAGE_SIZE else None
            newer = rows[0].seq if rows and search.before is not None else None
    names = _names(rows)
    units = {
        u.id: u.name
        for u in db.scalars(select(OrgUnit).where(OrgUnit.id.in_(_scope_units())).order_by(OrgUnit.name))
    }
    audit.record(Event.AUDIT_SEARCHED, detail=search.audit_detail(len(rows)))
    db.commit()
    return render_template(
        "auditing/events.html",
        rows=rows,
        search=search,
        names=names,
        units=units,
        newer=newer,
        older=older,
        event_types=sorted(e.value for e in Event),
        outcome_labels=OUTCOME_LABELS,
        is_filtered=bool(search.args),
        can_export=is_allowed(perm.AUDIT_EXPORT),
        can_verify=is_allowed(perm.AUDIT_READ_STATUS),
    )


def _names(rows: list[AuditEvent]) -> dict[uuid.UUID, str]:
    ids = {r.actor_id for r in rows if r.actor_id is not None}
    if not ids:
        return {}
    return {
        u.id: f"{u.display_name} ({u.username})" for u in db.scalars(select(User).where(User.id.in_(ids)))
    }


def load_event(seq: str, **_: Any) -> AuditEvent | None:
    number = _int(seq)
    if number is None:
        return None
    return db.scalar(select(AuditEvent).where(AuditEvent.seq == number, visible_clause()))


@auditing.route("/granskning/handelser/<seq>")
@authorize(perm.AUDIT_SEARCH, load=load_event)
def event(row: AuditEvent, seq: str) -> Any:
    audit.record(Event.AUDIT_SEARCHED, detail={"shown": 1, "seq": row.seq})
    db.commit()
    try:
        payload = json.dumps(json.loads(row.payload), indent=2, ensure_ascii=False, sort_keys=True)
    except ValueError:
        payload = row.payload
    unit = db.get(OrgUnit, row.unit_id) if row.unit_id else None
    return render_template(
        "auditing/event.html",
        row=row,
        payload=payload,
        actor=_names([row]).get(row.actor_id) if row.actor_id else None,
        unit=unit,
        outcome_labels=OUTCOME_LABELS,
    )


# --- verification of the chain -------------------------------------------------------------

RUN_LABELS = {
    RunStatus.RUNNING: "Pågår",
    RunStatus.INTACT: "Hel",
    RunStatus.BROKEN: "Bruten",
    RunStatus.FAILED: "Avbruten",
}


@auditing.route("/granskning/verifiering")
@authorize(perm.AUDIT_READ_STATUS)
def verification_status() -> Any:
    """The latest runs, the one in progress (the page reloads itself while it runs), the latest
    checkpoint and the trusted key."""
    runs = verification.recent_runs()
    latest = runs[0] if runs else None
    checkpoint = verification.latest_checkpoint()
    head = db.scalar(select(AuditHead.seq).where(AuditHead.id == 1)) or 0
    return render_template(
        "auditing/verification.html",
        runs=runs,
        latest=latest,
        status=verification.effective_status,
        labels=RUN_LABELS,
        running=latest is not None and verification.effective_status(latest) == RunStatus.RUNNING,
        checkpoint=checkpoint,
        head=head,
        key=verification.trusted_key(),
        me=_me().id,
        can_verify=is_allowed(perm.AUDIT_VERIFY),
    )


@auditing.route("/granskning/verifiering", methods=["POST"])
@authorize(perm.AUDIT_VERIFY)
def verify() -> Any:
    run, started = verification.start(_me().id)
    db.commit()
    if started:
        verification.launch(run)
        flash("Verifieringen har startat.", "success")
    else:
        flash("En verifiering pågår redan; dess resultat visas när den är klar.", "success")
    return redirect(url_for("auditing.verification_status"), code=303)


# --- export of a selection -----------------------------------------------------------------

EXPORT_MARKING = "Granskningslogg – utdrag för revision. Hanteras enligt stadens regler för loggdata."
MAX_EXPORT_RANGE = 2_000_000  # events from the first to the last selected


def _selected_range(conditions: list[Any]) -> tuple[int, int, int]:
    """(first, last, count) of the selected events; (0, 0, 0) when none."""
    first, last, count = db.execute(
        select(func.min(AuditEvent.seq), func.max(AuditEvent.seq), func.count()).where(*conditions)
    ).one()
    return (int(first), int(last), int(count)) if count else (0, 0, 0)


@auditing.route("/granskning/export")
@authorize(perm.AUDIT_EXPORT)
def export() -> Any:
    """The selection as a range export (JSON Lines): the selected events in full, the others of
    the range sealed, with checkpoints and the public key (sakskydd/audit/range_export.py)."""
    search = Search(request.args)
    conditions = None if search.errors else search.conditions()
    first = last = count = 0
    if conditions is not None and not search.errors:
        first, last, count = _selected_range(conditions)
    if not count or last - first + 1 > MAX_EXPORT_RANGE:
        if search.errors:
            flash(" ".join(search.errors), "error")
        elif not count:
            flash("Inga händelser matchar urvalet; det finns inget att exportera.", "error")
        else:
            flash(
                f"Urvalet spänner över mer än {MAX_EXPORT_RANGE} händelser. Avgränsa med datum eller filter.",
                "error",
            )
        return redirect(url_for("auditing.events", **search.args), code=303)
    key = verification.trusted_key()
    head_row = db.execute(select(AuditHead.seq, AuditHead.entry_hash).where(AuditHead.id == 1)).one()
    checkpoints = load_checkpoints(db) + verification.external_checkpoints()
    selection = search.audit_detail(count)
    selected = and_(*conditions)
    handle = tempfile.TemporaryFile("w+b")  # noqa: SIM115 - closed by the response once sent
    reader_engine = verification.reader_engine()
    try:
        with Session(reader_engine or db.get_bind()) as reader:
            text = io.TextIOWrapper(handle, encoding="utf-8", newline="\n")
            full, sealed = write_range_export(
                reader.connection(),
                text,
                first=first,
                last=last,
                selected=selected,
                checkpoints=checkpoints,
                head=(int(head_row[0]), bytes(head_row[1])),
                public_key=key.key,
                marking=EXPORT_MARKING,
                selection=selection,
            )
            text.flush()
            text.detach()  # the file stays open for sending
    except Exception:
        handle.close()
        raise
    finally:
        if reader_engine is not None:
            reader_engine.dispose()
    audit.record(
        Event.AUDIT_EXPORTED,
        detail={"first_seq": first, "last_seq": last, "full": full, "sealed": sealed, "selection": selection},
    )
    db.commit()
    handle.seek(0)
    name = f"granskningslogg-{first}-{last}.jsonl"
    response = send_file(handle, mimetype="application/x-ndjson", as_attachment=True, download_name=name)
    response.headers["Cache-Control"] = "no-store"
    return response
