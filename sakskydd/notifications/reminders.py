"""`sakskydd reminders run`: e-mail reminders of due and overdue items, idempotently.

Each active user who can have items (a samordnare, ersättare or chef assignment, or an open
holder notice) gets their to-do list from sakskydd.deadlines; every item whose reminder stage
(deadlines.reminder_stage) has not been sent to them yet is reminded. One e-mail per user and
run lists the new reminders, with links and without free text (no unit, analysis, asset or
position names, never a person's name or personnummer): the details are behind the login.
The SentReminder rows are the in-app record (the home page shows "Påmind" on those items) and
make a second run send nothing new.

Per user: insert the SentReminder rows (and count the holder-notice reminders) and flush, send
the e-mail, commit. A failed send rolls the user's rows back, so the next run tries again; a
concurrent run that got there first (unique key) is skipped.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select, union, update
from sqlalchemy.exc import IntegrityError
from werkzeug.routing import BuildError

from sakskydd import audit
from sakskydd.accounts.models import AssignmentStatus, Role, RoleAssignment, User
from sakskydd.assets.models import HolderNotice
from sakskydd.audit.tags import Event
from sakskydd.db import utcnow
from sakskydd.deadlines import (
    DueItem,
    ItemKind,
    Rules,
    due_items_for_user,
    link_target,
    local_today,
    reminder_stage,
)
from sakskydd.extensions import db
from sakskydd.notifications.mail import send_mail
from sakskydd.notifications.models import SentReminder
from sakskydd.procurements.rules import DUTY_RULES
from sakskydd.vetting.rules import CLASS_LABELS

log = logging.getLogger(__name__)

MAIL_SUBJECT: Final = "Påminnelse från sakskydd"
# Roles whose holders can have items beyond their own holder notices.
ROLES_WITH_ITEMS: Final = (Role.SAMORDNARE, Role.ERSATTARE, Role.CHEF, Role.UPPHANDLARE)


@dataclass(frozen=True)
class PlannedReminder:
    """One reminder to send: to whom, about what, at which stage."""

    user_id: uuid.UUID
    username: str
    item: DueItem
    stage: str


@dataclass
class RunResult:
    planned: list[PlannedReminder] = field(default_factory=list)
    sent: int = 0  # reminders recorded (and mailed, when the user has an address)
    mails: int = 0
    failed: int = 0  # reminders whose e-mail could not be sent; tried again next run
    skipped: int = 0  # reminders another run recorded meanwhile

    @property
    def users(self) -> int:
        return len({p.user_id for p in self.planned})


def _candidate_users() -> list[User]:
    with_roles = select(RoleAssignment.user_id).where(
        RoleAssignment.status == AssignmentStatus.ACTIVE, RoleAssignment.role.in_(ROLES_WITH_ITEMS)
    )
    with_notices = select(HolderNotice.user_id).where(HolderNotice.acknowledged_at.is_(None))
    relevant = union(with_roles, with_notices).subquery()
    return list(
        db.scalars(
            select(User)
            .where(User.is_active.is_(True), User.id.in_(select(relevant.c[0])))
            .order_by(User.username)
        )
    )


def _already_sent(user_id: uuid.UUID, planned: Sequence[PlannedReminder]) -> set[tuple[str, str, str]]:
    if not planned:
        return set()
    subjects = sorted({str(p.item.subject_id) for p in planned})
    rows = db.execute(
        select(SentReminder.kind, SentReminder.subject_id, SentReminder.stage).where(
            SentReminder.user_id == user_id, SentReminder.subject_id.in_(subjects)
        )
    )
    return {(kind, subject, stage) for kind, subject, stage in rows}


def plan_reminders(today: dt.date, rules: Rules | None = None) -> list[PlannedReminder]:
    """Every reminder due today that has not been sent; reads only."""
    rules = rules or Rules.from_settings(current_app.config["SAKSKYDD_SETTINGS"])
    # reminder_stage has nothing to send for an item due later than the lead time, so the
    # items due further ahead (omkontroller years away, contract-end duties) are not loaded.
    horizon = today + dt.timedelta(days=rules.reminder_lead_days)
    planned: list[PlannedReminder] = []
    for user in _candidate_users():
        mine = []
        for item in due_items_for_user(user, today, rules=rules, horizon=horizon):
            stage = reminder_stage(item, today, rules)
            if stage is not None:
                mine.append(PlannedReminder(user.id, user.username, item, stage))
        sent = _already_sent(user.id, mine)
        planned += [p for p in mine if (p.item.kind.value, str(p.item.subject_id), p.stage) not in sent]
    return planned


def mail_link(item: DueItem | None) -> str:
    """The absolute address of the item's page, or of the home page when that page does not exist."""
    settings = current_app.config["SAKSKYDD_SETTINGS"]
    parts = urlsplit(settings.base_url)
    adapter = current_app.url_map.bind(
        parts.netloc or "localhost", script_name=parts.path or "/", url_scheme=parts.scheme or "https"
    )
    if item is not None:
        endpoint, values = link_target(item)
        if endpoint in current_app.view_functions:
            try:
                return adapter.build(endpoint, values, force_external=True)
            except BuildError:
                log.warning("no URL for %s", endpoint)
    return adapter.build("main.home", {}, force_external=True)


def render_reminder_mail(user: User, reminders: Sequence[PlannedReminder]) -> str:
    """The e-mail body: kinds, due dates and links only."""
    template = current_app.jinja_env.get_template("mail/reminder.txt")
    rows = [{"item": p.item, "stage": p.stage, "link": mail_link(p.item)} for p in reminders]
    # Rendered outside a request: the views' context processors do not run, so the template
    # gets the labels it needs here.
    return template.render(
        user=user, reminders=rows, home=mail_link(None), DUTY_RULES=DUTY_RULES, CLASS_LABELS=CLASS_LABELS
    )


def _record(user_id: uuid.UUID, reminders: Sequence[PlannedReminder]) -> None:
    now = utcnow()
    for p in reminders:
        db.add(
            SentReminder(
                kind=p.item.kind.value,
                subject_id=str(p.item.subject_id),
                user_id=user_id,
                stage=p.stage,
                due_on=p.item.due_on,
            )
        )
        if p.item.kind == ItemKind.NOTICE_UNACKNOWLEDGED:
            # A plain UPDATE, not the ORM: the reminder must not bump the notice's version and
            # turn the holder's acknowledgement in flight into a conflict.
            db.execute(
                update(HolderNotice)
                .where(HolderNotice.id == p.item.subject_id, HolderNotice.acknowledged_at.is_(None))
                .values(last_reminded_at=now, reminder_count=HolderNotice.reminder_count + 1)
                .execution_options(synchronize_session=False)
            )
    db.flush()


def send_reminders(today: dt.date | None = None, *, dry_run: bool = False) -> RunResult:
    """Plan and (unless dry_run) send today's reminders; audits one REMINDERS_SENT per real run."""
    today = today or local_today()
    result = RunResult(planned=plan_reminders(today))
    db.rollback()  # planning only read; do not hold a transaction while mailing
    if dry_run:
        return result
    by_user: dict[uuid.UUID, list[PlannedReminder]] = {}
    for p in result.planned:
        by_user.setdefault(p.user_id, []).append(p)
    for user_id, reminders in by_user.items():
        user = db.get(User, user_id)
        if user is None or not user.is_active:
            db.rollback()
            continue
        try:
            _record(user_id, reminders)
            if user.email:
                send_mail(user.email, MAIL_SUBJECT, render_reminder_mail(user, reminders))
                result.mails += 1
            db.commit()
            result.sent += len(reminders)
        except IntegrityError:
            db.rollback()
            result.skipped += len(reminders)
        except (smtplib.SMTPException, OSError, ValueError) as error:
            db.rollback()
            result.failed += len(reminders)
            log.warning("reminder e-mail to user %s failed: %s", user_id, type(error).__name__)
    detail: dict[str, Any] = {"count": result.sent}
    if result.failed:
        detail["failed"] = result.failed
    audit.record(Event.REMINDERS_SENT, detail=detail)
    db.commit()
    return result
