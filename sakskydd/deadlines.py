"""Every due date and overdue item, computed from the rules in one place (DOMAIN.md §1, §2, §4).

Two layers:
- the rules: plain functions over plain values (the `*Facts` dataclasses), no database and no
  Flask, tested exhaustively in tests/unit/test_deadlines.py;
- the gathering: `due_items_for_user` reads the facts of the units a user reaches with a fixed
  number of SQL statements (batched over the scope subqueries of organisations/scope.py,
  whatever the number of units) and applies the rules; `vetting_items` does the same for the
  vetting cases of any scope of units, in one statement.

An item is overdue when its due date is before today. Dates are the city's calendar
(Europe/Stockholm): timestamps are turned into local dates before any rule sees them.
"""

from __future__ import annotations

import calendar
import datetime as dt
import enum
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from sakskydd.config import ANALYSIS_INTERVAL_CEILING_MONTHS
from sakskydd.organisations.models import Applicability, AppointmentRole
from sakskydd.organisations.rules import LOCAL_TIMEZONE, missing_roles
from sakskydd.vetting.models import CaseStatus
from sakskydd.vetting.rules import (
    DEFAULT_RECHECK_YEARS,
    SecurityClass,
    add_years,
    deregistration_due,
    recheck_due,
)

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, Select

    from sakskydd.accounts.models import User
    from sakskydd.config import Settings

# A unit newly assessed as covered has this long to get its first analysis fastställd.
FIRST_ANALYSIS_MONTHS: Final = 3
# After a revision trigger (reorganisation, incident …) the analysis is due this soon.
TRIGGER_RESPONSE_MONTHS: Final = 1
# The chef is expected to approve or return a submitted analysis within this many days.
REVIEW_PERIOD_DAYS: Final = 30

OPEN_MEASURE_STATUSES: Final = frozenset({"planerad", "pagar"})


class ItemKind(enum.StrEnum):
    """What a to-do is about; the value is also SentReminder.kind."""

    ANALYSIS_DUE = "analysis_due"
    ANALYSIS_REVIEW = "analysis_review"
    MEASURE_DUE = "measure_due"
    NOTICE_UNACKNOWLEDGED = "notice_unacknowledged"
    COORDINATOR_MISSING = "coordinator_missing"
    APPLICABILITY_MISSING = "applicability_missing"
    PROCUREMENT_CONFIRM = "procurement_confirm"
    PROCUREMENT_DUTY = "procurement_duty"
    SUPPLIER_FOLLOW_UP = "supplier_follow_up"
    FOLLOW_UP_ACTION = "follow_up_action"
    VETTING_CONFIRM = "vetting_confirm"
    VETTING_DEREGISTRATION = "vetting_deregistration"
    VETTING_RECHECK = "vetting_recheck"
    FOLLOWUP_DUE = "followup_due"
    FOLLOWUP_REVIEW = "followup_review"


# Findings that are due from the day they arise: reminded once, not again when overdue.
IMMEDIATE_KINDS: Final = frozenset({ItemKind.COORDINATOR_MISSING, ItemKind.APPLICABILITY_MISSING})
# Among items due on the same day: the ones that block others first.
_KIND_ORDER: Final = {
    ItemKind.APPLICABILITY_MISSING: 0,
    ItemKind.COORDINATOR_MISSING: 1,
    ItemKind.ANALYSIS_REVIEW: 2,
    ItemKind.ANALYSIS_DUE: 3,
    ItemKind.MEASURE_DUE: 4,
    ItemKind.NOTICE_UNACKNOWLEDGED: 5,
    ItemKind.PROCUREMENT_CONFIRM: 6,
    ItemKind.PROCUREMENT_DUTY: 7,
    ItemKind.SUPPLIER_FOLLOW_UP: 8,
    ItemKind.FOLLOW_UP_ACTION: 9,
    ItemKind.VETTING_CONFIRM: 10,
    ItemKind.VETTING_DEREGISTRATION: 11,
    ItemKind.VETTING_RECHECK: 12,
    ItemKind.FOLLOWUP_REVIEW: 13,
    ItemKind.FOLLOWUP_DUE: 14,
}
# The samordnare is expected to confirm or override a procurement's triage within this many days;
# a vetting beslut is confirmed (or sent back) by a second samordnare/ersättare within as many.
CONFIRM_PERIOD_DAYS: Final = 14


# --- inputs and output ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Rules:
    """The settings the rules depend on (sakskydd/config.py)."""

    analysis_interval_months: int = 12
    reminder_lead_days: int = 30
    notice_reminder_days: int = 7
    # Supplier follow-up every N months at SUA nivå 1, 2, 3 and for an överenskommelse.
    follow_up_months: tuple[int, int, int, int] = (6, 12, 12, 24)
    # Omkontroll of klass 1 and 2 every N years after the last registerkontroll.
    vetting_recheck_years: int = DEFAULT_RECHECK_YEARS
    # "Utan dröjsmål": the avanmälan of a registerkontroll this many days after the person left.
    prompt_duty_days: int = 7
    # The yearly follow-up is due on this day (month, day) each year (tertial 2).
    followup_due: tuple[int, int] = (9, 15)

    @classmethod
    def from_settings(cls, settings: Settings) -> Rules:
        return cls(
            analysis_interval_months=settings.analysis_interval_months,
            reminder_lead_days=settings.reminder_lead_days,
            notice_reminder_days=settings.notice_reminder_days,
            follow_up_months=settings.follow_up_months,
            vetting_recheck_years=settings.vetting_recheck_years,
            prompt_duty_days=settings.prompt_duty_days,
            followup_due=settings.followup_due,
        )

    def follow_up_cadence(self, outcome: str) -> int | None:
        """Months between supplier follow-ups for an outcome value; None without an agreement."""
        order = ("sua_1", "sua_2", "sua_3", "overenskommelse")
        return self.follow_up_months[order.index(outcome)] if outcome in order else None


@dataclass(frozen=True)
class AppointmentFacts:
    role: AppointmentRole
    starts_on: dt.date
    ends_on: dt.date | None = None

    def is_current(self, on: dt.date) -> bool:
        return self.starts_on <= on and (self.ends_on is None or self.ends_on >= on)


@dataclass(frozen=True)
class TriggerFacts:
    """A revision trigger: when it happened, when it was recorded, whether an analysis handled it."""

    occurred_on: dt.date
    recorded_at: dt.datetime
    kind: str = ""
    handled: bool = False


@dataclass(frozen=True)
class UnitFacts:
    """What the rules need to know about one unit."""

    unit_id: uuid.UUID
    name: str
    created_on: dt.date
    applicability: Applicability | None = None  # the current assessment's outcome; None: never assessed
    assessed_on: dt.date | None = None  # the current assessment's date
    last_approved_at: dt.datetime | None = None  # the latest fastställd analysis' decision
    appointments: tuple[AppointmentFacts, ...] = ()
    triggers: tuple[TriggerFacts, ...] = ()


@dataclass(frozen=True)
class MeasureFacts:
    measure_id: uuid.UUID
    unit_id: uuid.UUID
    analysis_id: uuid.UUID
    due_on: dt.date
    status: str
    area: str = ""
    title: str = ""
    unit_name: str = ""


@dataclass(frozen=True)
class NoticeFacts:
    notice_id: uuid.UUID
    unit_id: uuid.UUID
    created_at: dt.datetime
    asset_name: str = ""


@dataclass(frozen=True)
class SubmittedAnalysisFacts:
    analysis_id: uuid.UUID
    unit_id: uuid.UUID
    submitted_at: dt.datetime
    cycle_year: int = 0
    title: str = ""
    unit_name: str = ""


@dataclass(frozen=True)
class ProcurementFacts:
    """A procurement in progress (status triagerad, bekräftad or stoppad)."""

    procurement_id: uuid.UUID
    unit_id: uuid.UUID
    title: str
    status: str
    triaged_at: dt.datetime | None = None
    outcome: str | None = None
    signed_on: dt.date | None = None
    last_follow_up_on: dt.date | None = None


@dataclass(frozen=True)
class DutyFacts:
    duty_id: uuid.UUID
    procurement_id: uuid.UUID
    unit_id: uuid.UUID
    kind: str
    due_on: dt.date | None
    title: str = ""


@dataclass(frozen=True)
class ActionFacts:
    action_id: uuid.UUID
    procurement_id: uuid.UUID
    unit_id: uuid.UUID
    due_on: dt.date
    title: str = ""


@dataclass(frozen=True)
class VettingCaseFacts:
    """A säkerhetsprövning case, without the person: never a name or personnummer here.

    `status` and `security_class` are the case's (vetting.models.CaseStatus, rules.SecurityClass);
    `register_check_requested`: the REGISTER_CHECK_REQUESTED step is done (so leaving the
    position calls for an avanmälan, vetting.services.needs_deregistration).
    """

    case_id: uuid.UUID
    unit_id: uuid.UUID
    status: CaseStatus
    security_class: SecurityClass
    checked_on: dt.date | None = None
    left_on: dt.date | None = None
    deregistered_on: dt.date | None = None
    decided_on: dt.date | None = None
    decided_by_id: uuid.UUID | None = None
    register_check_requested: bool = False
    position_title: str = ""
    unit_name: str = ""
    anonymised_on: dt.date | None = None  # the retention run destroyed the personal data


@dataclass(frozen=True)
class DueItem:
    """One to-do: what (kind, subject), for which unit, due when, and the key of its Swedish text.

    `params` holds the values the text needs (names, dates, labels' keys); never free text
    beyond neutral titles, and never a person's name or personnummer. `analysis_id` is the
    record a link opens when it is not the subject (the analysis a measure belongs to);
    `vetting_case_id` the vetting case an item is about.
    """

    kind: ItemKind
    unit_id: uuid.UUID | None
    subject_id: uuid.UUID
    due_on: dt.date
    overdue: bool
    title_key: str
    params: Mapping[str, Any] = field(default_factory=dict)
    analysis_id: uuid.UUID | None = None
    procurement_id: uuid.UUID | None = None
    vetting_case_id: uuid.UUID | None = None
    followup_id: uuid.UUID | None = None


@dataclass(frozen=True)
class FollowUpFacts:
    """A unit's yearly follow-up for one year; `followup_id` None: not opened yet.

    `status` is the follow-up's (followup.models.FollowUpStatus value); `covered`: the unit is
    currently assessed as covered ("ja").
    """

    unit_id: uuid.UUID
    unit_name: str
    year: int
    due_on: dt.date
    covered: bool = True
    followup_id: uuid.UUID | None = None
    status: str | None = None
    submitted_at: dt.datetime | None = None
    submitted_by_id: uuid.UUID | None = None


# --- calendar ------------------------------------------------------------------------------------


def local_today() -> dt.date:
    return dt.datetime.now(LOCAL_TIMEZONE).date()


def local_date(moment: dt.datetime) -> dt.date:
    """The city's calendar date of a timestamp (a naive one is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(LOCAL_TIMEZONE).date()


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later (or earlier), clamped to the month's end: Jan 31 + 1 = Feb 28/29."""
    index = day.year * 12 + (day.month - 1) + months
    year, month0 = divmod(index, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return dt.date(year, month0 + 1, min(day.day, last))


def followup_due_on(year: int, month_day: tuple[int, int]) -> dt.date:
    """The yearly follow-up's due date in `year` (a day past the month's end is its last day)."""
    month, day = month_day
    return dt.date(year, month, min(day, calendar.monthrange(year, month)[1]))


def is_overdue(due_on: dt.date, today: dt.date) -> bool:
    return due_on < today


def _item(
    kind: ItemKind,
    unit_id: uuid.UUID | None,
    subject_id: uuid.UUID,
    due_on: dt.date,
    today: dt.date,
    title_key: str,
    params: Mapping[str, Any],
    analysis_id: uuid.UUID | None = None,
    procurement_id: uuid.UUID | None = None,
    vetting_case_id: uuid.UUID | None = None,
) -> DueItem:
    return DueItem(
        kind,
        unit_id,
        subject_id,
        due_on,
        is_overdue(due_on, today),
        title_key,
        params,
        analysis_id,
        procurement_id,
        vetting_case_id,
    )


# --- the rules -----------------------------------------------------------------------------------


def analysis_interval(months: int) -> int:
    """The configured interval, never beyond the law's ceiling (and at least one month)."""
    return min(max(months, 1), ANALYSIS_INTERVAL_CEILING_MONTHS)


def open_triggers(unit: UnitFacts) -> list[TriggerFacts]:
    """Triggers recorded after the last fastställd analysis and not handled by one."""
    return [
        t
        for t in unit.triggers
        if not t.handled and (unit.last_approved_at is None or t.recorded_at > unit.last_approved_at)
    ]


def analysis_due(unit: UnitFacts, interval_months: int) -> tuple[dt.date, str] | None:
    """When the unit's analysis must be fastställd, and why ("first", "renewal", "trigger").

    Only a unit currently assessed as covered ("ja") needs one. The due date is the last
    approval + the interval (at most 24 months); with no approval yet, the date it was assessed
    covered + FIRST_ANALYSIS_MONTHS; an open revision trigger brings it forward to the trigger
    date + TRIGGER_RESPONSE_MONTHS when that is earlier.
    """
    if unit.applicability != Applicability.YES:
        return None
    if unit.last_approved_at is not None:
        due_on, reason = (
            add_months(local_date(unit.last_approved_at), analysis_interval(interval_months)),
            "renewal",
        )
    elif unit.assessed_on is not None:
        due_on, reason = add_months(unit.assessed_on, FIRST_ANALYSIS_MONTHS), "first"
    else:
        return None
    triggers = open_triggers(unit)
    if triggers:
        first = min(triggers, key=lambda t: (t.occurred_on, t.recorded_at))
        trigger_due = add_months(first.occurred_on, TRIGGER_RESPONSE_MONTHS)
        if trigger_due < due_on:
            due_on, reason = trigger_due, "trigger"
    return due_on, reason


def analysis_item(unit: UnitFacts, today: dt.date, interval_months: int) -> DueItem | None:
    due = analysis_due(unit, interval_months)
    if due is None:
        return None
    due_on, reason = due
    params: dict[str, Any] = {"unit": unit.name}
    if reason == "trigger":
        params["trigger"] = min(open_triggers(unit), key=lambda t: (t.occurred_on, t.recorded_at)).kind
    return _item(
        ItemKind.ANALYSIS_DUE, unit.unit_id, unit.unit_id, due_on, today, f"analysis_{reason}", params
    )


def missing_coordinators(unit: UnitFacts, today: dt.date) -> dict[AppointmentRole, dt.date]:
    """For a covered unit: each role it lacks by the findings rule (organisations/rules.py), and
    since when it is missing.

    Missing since the unit was assessed covered, or since the day after the last appointment of
    that role ended, whichever is later (a stable date, so reminders are not repeated daily).
    """
    if unit.assessed_on is None:
        return {}
    current = {a.role for a in unit.appointments if a.is_current(today)}
    missing: dict[AppointmentRole, dt.date] = {}
    for role in missing_roles(unit.applicability, current):
        of_role = [a for a in unit.appointments if a.role == role]
        since = unit.assessed_on
        ended = [a.ends_on for a in of_role if a.ends_on is not None and a.ends_on < today]
        if ended:
            since = max(since, max(ended) + dt.timedelta(days=1))
        missing[role] = since
    return missing


def coordinator_item(unit: UnitFacts, today: dt.date) -> DueItem | None:
    missing = missing_coordinators(unit, today)
    if not missing:
        return None
    roles = [
        role.value for role in (AppointmentRole.SAMORDNARE, AppointmentRole.ERSATTARE) if role in missing
    ]
    return _item(
        ItemKind.COORDINATOR_MISSING,
        unit.unit_id,
        unit.unit_id,
        min(missing.values()),
        today,
        "coordinator_missing",
        {"unit": unit.name, "missing": roles},
    )


def applicability_item(unit: UnitFacts, today: dt.date) -> DueItem | None:
    """A unit that has never assessed whether the law applies: due from its creation."""
    if unit.applicability is not None:
        return None
    return _item(
        ItemKind.APPLICABILITY_MISSING,
        unit.unit_id,
        unit.unit_id,
        unit.created_on,
        today,
        "applicability_missing",
        {"unit": unit.name},
    )


def measure_item(measure: MeasureFacts, today: dt.date) -> DueItem | None:
    """A planned or ongoing measure of the plan is due on its date and overdue after it."""
    if measure.status not in OPEN_MEASURE_STATUSES:
        return None
    return _item(
        ItemKind.MEASURE_DUE,
        measure.unit_id,
        measure.measure_id,
        measure.due_on,
        today,
        "measure_due",
        {"unit": measure.unit_name, "title": measure.title, "area": measure.area},
        analysis_id=measure.analysis_id,
    )


def notice_item(notice: NoticeFacts, today: dt.date, notice_reminder_days: int) -> DueItem:
    """An unacknowledged holder notice is due `notice_reminder_days` after it was sent."""
    created_on = local_date(notice.created_at)
    return _item(
        ItemKind.NOTICE_UNACKNOWLEDGED,
        notice.unit_id,
        notice.notice_id,
        created_on + dt.timedelta(days=notice_reminder_days),
        today,
        "notice_unacknowledged",
        {"asset": notice.asset_name, "sent_on": created_on.isoformat()},
    )


def review_item(analysis: SubmittedAnalysisFacts, today: dt.date) -> DueItem:
    """A submitted analysis waits for the chef's decision for at most REVIEW_PERIOD_DAYS."""
    submitted_on = local_date(analysis.submitted_at)
    return _item(
        ItemKind.ANALYSIS_REVIEW,
        analysis.unit_id,
        analysis.analysis_id,
        submitted_on + dt.timedelta(days=REVIEW_PERIOD_DAYS),
        today,
        "analysis_review",
        {
            "unit": analysis.unit_name,
            "title": analysis.title,
            "cycle": analysis.cycle_year,
            "submitted_on": submitted_on.isoformat(),
        },
        analysis_id=analysis.analysis_id,
    )


def confirm_item(procurement: ProcurementFacts, today: dt.date) -> DueItem | None:
    """A triage waiting for the samordnare is due CONFIRM_PERIOD_DAYS after it was answered."""
    if procurement.status != "triagerad" or procurement.triaged_at is None:
        return None
    triaged_on = local_date(procurement.triaged_at)
    return _item(
        ItemKind.PROCUREMENT_CONFIRM,
        procurement.unit_id,
        procurement.procurement_id,
        triaged_on + dt.timedelta(days=CONFIRM_PERIOD_DAYS),
        today,
        "procurement_confirm",
        {"title": procurement.title, "triaged_on": triaged_on.isoformat()},
        procurement_id=procurement.procurement_id,
    )


def duty_item(duty: DutyFacts, today: dt.date) -> DueItem | None:
    """An open duty with a deadline (rules.due_on gives it; some have none yet)."""
    if duty.due_on is None:
        return None
    return _item(
        ItemKind.PROCUREMENT_DUTY,
        duty.unit_id,
        duty.duty_id,
        duty.due_on,
        today,
        "procurement_duty",
        {"title": duty.title, "duty": duty.kind},
        procurement_id=duty.procurement_id,
    )


def follow_up_item(procurement: ProcurementFacts, today: dt.date, rules: Rules) -> DueItem | None:
    """A confirmed agreement's supplier is followed up a cadence (by nivå) after the last
    follow-up, or after the agreement was signed."""
    if procurement.status != "bekraftad" or procurement.outcome is None:
        return None
    months = rules.follow_up_cadence(procurement.outcome)
    start = procurement.last_follow_up_on or procurement.signed_on
    if months is None or start is None:
        return None
    return _item(
        ItemKind.SUPPLIER_FOLLOW_UP,
        procurement.unit_id,
        procurement.procurement_id,
        add_months(start, months),
        today,
        "supplier_follow_up",
        {"title": procurement.title},
        procurement_id=procurement.procurement_id,
    )


def action_item(action: ActionFacts, today: dt.date) -> DueItem:
    return _item(
        ItemKind.FOLLOW_UP_ACTION,
        action.unit_id,
        action.action_id,
        action.due_on,
        today,
        "follow_up_action",
        {"title": action.title},
        procurement_id=action.procurement_id,
    )


# Cases in these states hold a person who left the position before the case could close.
_DEREGISTRATION_STATUSES: Final = frozenset({CaseStatus.IN_PROGRESS, CaseStatus.DECIDED, CaseStatus.APPROVED})


def _vetting_item(
    case: VettingCaseFacts, kind: ItemKind, due_on: dt.date, today: dt.date, **dates: dt.date
) -> DueItem:
    """The item of a case: the position title, class and unit name, and the dates; no person."""
    params: dict[str, Any] = {
        "position": case.position_title,
        "klass": SecurityClass(case.security_class).value,
        "unit": case.unit_name,
    }
    params.update({name: day.isoformat() for name, day in dates.items()})
    return _item(
        kind, case.unit_id, case.case_id, due_on, today, kind.value, params, vetting_case_id=case.case_id
    )


def vetting_recheck_item(case: VettingCaseFacts, today: dt.date, rules: Rules) -> DueItem | None:
    """Omkontroll: an approved person still in a klass 1 or 2 position is re-checked
    `vetting_recheck_years` after the last registerkontroll (rules.recheck_due)."""
    if case.anonymised_on is not None or case.status != CaseStatus.APPROVED or case.left_on is not None:
        return None
    due_on = recheck_due(SecurityClass(case.security_class), case.checked_on, rules.vetting_recheck_years)
    if due_on is None or case.checked_on is None:
        return None
    return _vetting_item(case, ItemKind.VETTING_RECHECK, due_on, today, checked_on=case.checked_on)


def vetting_deregistration_item(case: VettingCaseFacts, today: dt.date, rules: Rules) -> DueItem | None:
    """Avanmälan: the person left the position, a registerkontroll was requested and its
    avanmälan is not recorded yet (the case stays open until it is): due `prompt_duty_days`
    after leaving (rules.deregistration_due)."""
    if (
        case.anonymised_on is not None
        or case.status not in _DEREGISTRATION_STATUSES
        or not case.register_check_requested
        or case.deregistered_on is not None
    ):
        return None
    due_on = deregistration_due(case.left_on, rules.prompt_duty_days)
    if due_on is None or case.left_on is None:
        return None
    return _vetting_item(case, ItemKind.VETTING_DEREGISTRATION, due_on, today, left_on=case.left_on)


def vetting_confirm_item(case: VettingCaseFacts, today: dt.date) -> DueItem | None:
    """A beslut waits for the second person's confirmation for CONFIRM_PERIOD_DAYS. Who may
    see it (not the one who took it) is for `vetting_case_items` to say."""
    if case.anonymised_on is not None or case.status != CaseStatus.DECIDED or case.decided_on is None:
        return None
    due_on = case.decided_on + dt.timedelta(days=CONFIRM_PERIOD_DAYS)
    return _vetting_item(case, ItemKind.VETTING_CONFIRM, due_on, today, decided_on=case.decided_on)


def vetting_case_items(
    case: VettingCaseFacts, today: dt.date, rules: Rules, *, viewer_id: uuid.UUID | None = None
) -> list[DueItem]:
    """Every item of one case. With `viewer_id` (the samordnare/ersättare the list is for):
    without the confirmation of a beslut the viewer took (the two-person rule)."""
    items = [
        vetting_recheck_item(case, today, rules),
        vetting_deregistration_item(case, today, rules),
    ]
    if viewer_id is None or case.decided_by_id != viewer_id:
        items.append(vetting_confirm_item(case, today))
    return [item for item in items if item is not None]


def unit_items(
    unit: UnitFacts, today: dt.date, rules: Rules, *, coordinator: bool = True, chef: bool = False
) -> list[DueItem]:
    """The unit's items for its samordnare/ersättare (all) and for the chef (the findings:
    applicability not assessed, missing coordinators, an overdue analysis)."""
    candidates = [
        applicability_item(unit, today),
        coordinator_item(unit, today),
        analysis_item(unit, today, rules.analysis_interval_months),
    ]
    items = []
    for item in candidates:
        if item is None:
            continue
        if coordinator or (chef and (item.kind != ItemKind.ANALYSIS_DUE or item.overdue)):
            items.append(item)
    return items


# A follow-up waiting for its samordnare: not opened, a draft, or returned by the chef.
_FOLLOWUP_OPEN_STATUSES: Final = frozenset({None, "utkast", "aterremitterad"})


def followup_item(followup: FollowUpFacts, today: dt.date) -> DueItem | None:
    """The year's follow-up is due on the follow-up date (settings.followup_due) for a covered unit
    until it is submitted; a follow-up already opened stays due even if the unit is no longer covered."""
    if followup.status not in _FOLLOWUP_OPEN_STATUSES:
        return None
    if followup.followup_id is None and not followup.covered:
        return None
    return DueItem(
        ItemKind.FOLLOWUP_DUE,
        followup.unit_id,
        followup.unit_id,  # one subject per unit and kind: opening the follow-up keeps its reminders
        followup.due_on,
        is_overdue(followup.due_on, today),
        "followup_returned" if followup.status == "aterremitterad" else "followup_due",
        {"unit": followup.unit_name, "year": followup.year},
        followup_id=followup.followup_id,
    )


def followup_review_item(followup: FollowUpFacts, today: dt.date) -> DueItem | None:
    """A submitted follow-up waits for the chef's review for at most REVIEW_PERIOD_DAYS."""
    if followup.status != "inskickad" or followup.followup_id is None or followup.submitted_at is None:
        return None
    submitted_on = local_date(followup.submitted_at)
    due_on = submitted_on + dt.timedelta(days=REVIEW_PERIOD_DAYS)
    return DueItem(
        ItemKind.FOLLOWUP_REVIEW,
        followup.unit_id,
        followup.followup_id,
        due_on,
        is_overdue(due_on, today),
        "followup_review",
        {"unit": followup.unit_name, "year": followup.year, "submitted_on": submitted_on.isoformat()},
        followup_id=followup.followup_id,
    )


def sort_items(items: Iterable[DueItem]) -> list[DueItem]:
    """By due date (overdue first), then kind, then unit, without duplicates of one subject."""
    seen: set[tuple[ItemKind, uuid.UUID]] = set()
    unique = []
    for item in items:
        key = (item.kind, item.subject_id)
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return sorted(
        unique,
        key=lambda i: (i.due_on, _KIND_ORDER[i.kind], str(i.params.get("unit", "")), str(i.subject_id)),
    )


def reminder_stage(item: DueItem, today: dt.date, rules: Rules) -> str | None:
    """The reminder this item calls for today, or None; a stage is sent at most once per user.

    - holder notices: "ack:<n>" on the due day and every notice_reminder_days after it;
    - findings due at once: "due:<due_on>", once;
    - dated items: "lead:<due_on>" within reminder_lead_days before the due date,
      "overdue:<due_on>" after it. A new due date is a new stage.
    """
    days_left = (item.due_on - today).days
    if item.kind == ItemKind.NOTICE_UNACKNOWLEDGED:
        if days_left > 0:
            return None
        return f"ack:{1 + (-days_left) // max(rules.notice_reminder_days, 1)}"
    if item.kind in IMMEDIATE_KINDS:
        return f"due:{item.due_on.isoformat()}" if days_left <= rules.reminder_lead_days else None
    if days_left < 0:
        return f"overdue:{item.due_on.isoformat()}"
    if days_left <= rules.reminder_lead_days:
        return f"lead:{item.due_on.isoformat()}"
    return None


def link_target(item: DueItem) -> tuple[str, dict[str, str]]:
    """The endpoint and URL arguments of the page where the item is dealt with."""
    if item.followup_id is not None:
        return "followup.detail", {"followup_id": str(item.followup_id)}
    if item.kind == ItemKind.FOLLOWUP_DUE:
        return "followup.unit_list", {"unit_id": str(item.unit_id)}
    if item.vetting_case_id is not None:
        return "vetting.case", {"case_id": str(item.vetting_case_id)}
    if item.kind == ItemKind.NOTICE_UNACKNOWLEDGED:
        return "assets.notice", {"notice_id": str(item.subject_id)}
    if item.procurement_id is not None:
        return "procurements.detail", {"procurement_id": str(item.procurement_id)}
    if item.analysis_id is not None:
        return "analyses.detail", {"analysis_id": str(item.analysis_id)}
    return "units.detail", {"unit_id": str(item.unit_id)}


# --- gathering -----------------------------------------------------------------------------------


def as_member(enum_type: type[enum.Enum], value: Any) -> Any:
    """A value read through a subquery may come back as the stored name instead of the member."""
    if value is None or isinstance(value, enum_type):
        return value
    text = str(value)
    return enum_type[text] if text in enum_type.__members__ else enum_type(text)


def _vetting_candidates() -> ColumnElement[bool]:
    """SQL: the cases that may have an item (a superset of what the vetting rules keep): not
    anonymised, and decided or approved, or in progress with a person who left."""
    from sqlalchemy import and_, or_

    from sakskydd.vetting.models import VettingCase

    # One IN over the status, not an OR of two: the unit-and-status index then drives the
    # statement (SQLite turned the OR into a scan of every unit's cases).
    return and_(
        VettingCase.anonymised_on.is_(None),
        VettingCase.status.in_((CaseStatus.IN_PROGRESS, CaseStatus.DECIDED, CaseStatus.APPROVED)),
        or_(VettingCase.status != CaseStatus.IN_PROGRESS, VettingCase.left_on.is_not(None)),
    )


def _vetting_overdue_candidates(today: dt.date, rules: Rules) -> ColumnElement[bool]:
    """SQL: the cases that may have an overdue item (a superset of what the rules keep): an
    omkontroll, an avanmälan or a confirmation whose due date has passed."""
    from sqlalchemy import and_, or_

    from sakskydd.vetting.models import VettingCase

    return or_(
        and_(
            VettingCase.status == CaseStatus.APPROVED,
            VettingCase.checked_on < add_years(today, -rules.vetting_recheck_years) + dt.timedelta(days=2),
        ),
        and_(
            VettingCase.left_on.is_not(None),
            VettingCase.deregistered_on.is_(None),
            VettingCase.left_on < today - dt.timedelta(days=rules.prompt_duty_days),
        ),
        and_(
            VettingCase.status == CaseStatus.DECIDED,
            VettingCase.decided_on < today - dt.timedelta(days=CONFIRM_PERIOD_DAYS),
        ),
    )


def _latest_start_due_by(horizon: dt.date, due: Callable[[dt.date], dt.date]) -> dt.date:
    """The latest start date whose due date `due(start)` is on or before `horizon`, for a rule
    that adds a fixed number of years or months to its start (non-decreasing, and never more
    than a few days off a plain shift: add_years, add_months)."""
    start = horizon
    while due(start) > horizon:  # back to a start that is due in time ...
        start -= dt.timedelta(days=max((due(start) - horizon).days, 1))
    while due(start + dt.timedelta(days=1)) <= horizon:  # ... then forward to the last one
        start += dt.timedelta(days=1)
    return start


def _vetting_items_after(horizon: dt.date, rules: Rules, viewer_id: uuid.UUID | None) -> ColumnElement[Any]:
    """SQL: how many of a case's items (vetting_case_items, for `viewer_id`) fall due after
    `horizon`. The three rules written out in SQL, to count the items a list up to the horizon
    leaves out without turning those cases into facts; they must agree with the rules exactly
    (tests/functional/test_home_horizon.py compares them case by case)."""
    from sqlalchemy import and_, case, or_, true

    from sakskydd.vetting.models import VettingCase

    alive = VettingCase.anonymised_on.is_(None)
    recheck = and_(
        alive,
        VettingCase.status == CaseStatus.APPROVED,
        VettingCase.left_on.is_(None),
        VettingCase.security_class.in_([c for c in SecurityClass if c.has_special_investigation]),
        VettingCase.checked_on.is_not(None),
        VettingCase.checked_on
        > _latest_start_due_by(horizon, lambda day: add_years(day, rules.vetting_recheck_years)),
    )
    deregistration = and_(
        alive,
        VettingCase.status.in_(sorted(_DEREGISTRATION_STATUSES)),
        VettingCase.deregistered_on.is_(None),
        VettingCase.left_on.is_not(None),
        VettingCase.left_on > horizon - dt.timedelta(days=rules.prompt_duty_days),
        _register_check_requested(),  # last: the subquery only for the few who left
    )
    confirm = and_(
        alive,
        VettingCase.status == CaseStatus.DECIDED,
        VettingCase.decided_on.is_not(None),
        true()
        if viewer_id is None
        else or_(VettingCase.decided_by_id.is_(None), VettingCase.decided_by_id != viewer_id),
        VettingCase.decided_on > horizon - dt.timedelta(days=CONFIRM_PERIOD_DAYS),
    )
    # A case has at most two items (an avanmälan and a confirmation), so the rules are added up.
    return case((recheck, 1), else_=0) + case((deregistration, 1), else_=0) + case((confirm, 1), else_=0)


def _register_check_requested() -> ColumnElement[bool]:
    """SQL, correlated with vetting_case: the case's registerkontroll has been requested."""
    from sqlalchemy import exists

    from sakskydd.vetting.models import StepStatus, VettingCase, VettingStep
    from sakskydd.vetting.rules import StepKind

    return exists().where(
        VettingStep.case_id == VettingCase.id,
        VettingStep.kind == StepKind.REGISTER_CHECK_REQUESTED,
        VettingStep.status == StepStatus.DONE,
    )


def vetting_items(
    unit_scope: Select[Any],
    today: dt.date,
    rules: Rules,
    *,
    user_id: uuid.UUID | None = None,
    overdue_only: bool = False,
    horizon: dt.date | None = None,
) -> list[DueItem]:
    """The vetting items (omkontroll, avanmälan, a beslut to confirm) of every case in the units
    of `unit_scope` (a SELECT of unit ids, e.g. organisations.scope.coordinated_unit_ids), in
    one SQL statement. With `user_id`: without the confirmations of the beslut that user took.
    With `overdue_only`: only the overdue items; with `horizon`: only those due on or before
    it. Both narrow the statement to the cases that can have such an item (the rules decide).

    The scope decides who sees what: the items name the position, class and unit (never the
    person), meant for the unit's samordnare/ersättare; anyone else gets counts at most.
    """
    items, _ = _vetting_items_and_later(
        unit_scope, today, rules, user_id=user_id, overdue_only=overdue_only, horizon=horizon
    )
    return items


def _vetting_items_and_later(
    unit_scope: Select[Any],
    today: dt.date,
    rules: Rules,
    *,
    user_id: uuid.UUID | None = None,
    overdue_only: bool = False,
    horizon: dt.date | None = None,
    count_later: bool = False,
) -> tuple[list[DueItem], int]:
    """vetting_items, and with `count_later` (and a horizon) how many items fall due after the
    horizon, counted in SQL in the same statement."""
    from sqlalchemy import func, select, true

    from sakskydd.organisations.models import OrgUnit
    from sakskydd.vetting.models import Position, VettingCase

    # correlate(None): the scope is an IN-subquery of a statement over org_unit.
    in_scope = VettingCase.unit_id.in_(unit_scope.correlate(None))
    rows = (
        select(
            VettingCase.id,
            VettingCase.unit_id,
            VettingCase.status,
            VettingCase.security_class,
            VettingCase.checked_on,
            VettingCase.left_on,
            VettingCase.deregistered_on,
            VettingCase.decided_on,
            VettingCase.decided_by_id,
            VettingCase.anonymised_on,
            _register_check_requested().label("register_check_requested"),
            Position.title,
            OrgUnit.name,
        )
        .join(Position, Position.id == VettingCase.position_id)
        .join(OrgUnit, OrgUnit.id == VettingCase.unit_id)
        .where(
            in_scope,
            _vetting_candidates(),
            _vetting_overdue_candidates(today, rules) if overdue_only else true(),
            # An item due on or before the horizon is one that is overdue the day after it.
            _vetting_overdue_candidates(horizon + dt.timedelta(days=1), rules)
            if horizon is not None
            else true(),
        )
    )
    later = None
    if count_later and horizon is not None:
        later = select(func.coalesce(func.sum(_vetting_items_after(horizon, rules, user_id)), 0)).where(
            in_scope, _vetting_candidates()
        )
    items: list[DueItem] = []
    found, count = _rows_and_later((rows, later))
    for row in found:
        facts = VettingCaseFacts(
            case_id=row.id,
            unit_id=row.unit_id,
            status=as_member(CaseStatus, row.status),
            security_class=as_member(SecurityClass, row.security_class),
            checked_on=row.checked_on,
            left_on=row.left_on,
            deregistered_on=row.deregistered_on,
            decided_on=row.decided_on,
            decided_by_id=row.decided_by_id,
            register_check_requested=bool(row.register_check_requested),
            position_title=row.title,
            unit_name=row.name,
            anonymised_on=row.anonymised_on,
        )
        items += [
            item
            for item in vetting_case_items(facts, today, rules, viewer_id=user_id)
            if (not overdue_only or item.overdue) and (horizon is None or item.due_on <= horizon)
        ]
    return items, count


def _rows_and_later(*reads: tuple[Select[Any], Select[Any] | None]) -> tuple[list[Any], int]:
    """The rows of each read's `rows`, and the sum of the numbers its `later` (a SELECT of one
    count, or None) gives, in one statement. Several reads are a UNION ALL of their rows, which
    must then select the same columns (_dated_columns). Each count rides on a row of its own
    (NULL in every column of `rows`, which must select a non-null `id`), so it answers even when
    there are no rows. (Not a join with subqueries: building their columns cost more than the
    statement.)"""
    from sqlalchemy import Integer, cast, null, union_all

    from sakskydd.extensions import db

    counting = any(later is not None for _, later in reads)
    branches: list[Select[Any]] = []
    for rows, later in reads:
        if not counting:
            branches.append(rows)
            continue
        branches.append(rows.add_columns(cast(null(), Integer).label("later_count")))
        if later is not None:
            padding = [null() for _ in rows.selected_columns]
            branches.append(later.with_only_columns(*padding, *later.selected_columns))
    result = db.execute(branches[0] if len(branches) == 1 else union_all(*branches)).all()
    if not counting:
        return list(result), 0
    count = sum(int(row.later_count) for row in result if row.later_count is not None)
    return [row for row in result if row.later_count is None], count


def current_assessment(today: dt.date) -> Select[Any]:
    """SQL: the unit's applicability assessment in force today, correlated with org_unit (use
    `.with_only_columns(...).scalar_subquery()` in a statement over OrgUnit)."""
    from sqlalchemy import select

    from sakskydd.organisations.models import ApplicabilityAssessment, OrgUnit

    return (
        select(ApplicabilityAssessment)
        .where(ApplicabilityAssessment.unit_id == OrgUnit.id, ApplicabilityAssessment.decided_on <= today)
        .order_by(ApplicabilityAssessment.decided_on.desc(), ApplicabilityAssessment.created_at.desc())
        .limit(1)
    )


def appointment_and_trigger_facts(
    unit_scope: Select[Any],
) -> tuple[dict[uuid.UUID, list[AppointmentFacts]], dict[uuid.UUID, list[TriggerFacts]]]:
    """Every coordinator appointment and every unhandled revision trigger of the units of
    `unit_scope` (a SELECT of ids), in one statement.

    One UNION ALL rather than two reads: both are a handful of dated rows per unit that only the
    rules turn into items. A `source` column tells them apart; `kind` is the appointment's role or
    the trigger's kind (the stored enum name, as text in both branches), `day` its start or its
    date, and the columns only one side has are NULL on the other.
    """
    from sqlalchemy import Date, String, cast, literal_column, null, select, type_coerce, union_all

    from sakskydd.db import UTCDateTime
    from sakskydd.extensions import db
    from sakskydd.organisations.models import Appointment, RevisionTrigger, RevisionTriggerKind

    appointments_read = select(
        Appointment.unit_id.label("unit_id"),
        literal_column("'appointment'", String).label("source"),
        type_coerce(Appointment.role, String).label("kind"),
        Appointment.starts_on.label("day"),
        Appointment.ends_on.label("ends_on"),
        cast(null(), UTCDateTime).label("recorded_at"),
    ).where(Appointment.unit_id.in_(unit_scope))
    triggers_read = select(
        RevisionTrigger.unit_id,
        literal_column("'trigger'", String),
        type_coerce(RevisionTrigger.kind, String),
        RevisionTrigger.occurred_on,
        cast(null(), Date),
        RevisionTrigger.created_at,
    ).where(RevisionTrigger.unit_id.in_(unit_scope), RevisionTrigger.handled_by_analysis_id.is_(None))

    appointments: dict[uuid.UUID, list[AppointmentFacts]] = {}
    triggers: dict[uuid.UUID, list[TriggerFacts]] = {}
    for row in db.execute(union_all(appointments_read, triggers_read)):
        if row.source == "appointment":
            appointments.setdefault(row.unit_id, []).append(
                AppointmentFacts(as_member(AppointmentRole, row.kind), row.day, row.ends_on)
            )
        else:
            triggers.setdefault(row.unit_id, []).append(
                TriggerFacts(row.day, as_utc(row.recorded_at), as_member(RevisionTriggerKind, row.kind).value)
            )
    return appointments, triggers


def unit_facts(unit_scope: Select[Any], today: dt.date) -> dict[uuid.UUID, UnitFacts]:
    """The UnitFacts of the units of `unit_scope` (a SELECT of unit ids) in two statements."""
    from sqlalchemy import func, select

    from sakskydd.analyses.models import AnalysisStatus, SecurityAnalysis
    from sakskydd.extensions import db
    from sakskydd.organisations.models import ApplicabilityAssessment, OrgUnit

    current = current_assessment(today)
    rows = db.execute(
        select(
            OrgUnit.id,
            OrgUnit.name,
            OrgUnit.created_at,
            current.with_only_columns(ApplicabilityAssessment.outcome).scalar_subquery().label("outcome"),
            current.with_only_columns(ApplicabilityAssessment.decided_on)
            .scalar_subquery()
            .label("assessed_on"),
            select(func.max(SecurityAnalysis.decided_at))
            .where(SecurityAnalysis.unit_id == OrgUnit.id, SecurityAnalysis.status == AnalysisStatus.APPROVED)
            .scalar_subquery()
            .label("last_approved_at"),
        ).where(OrgUnit.id.in_(unit_scope))
    ).all()
    if not rows:
        return {}
    appointments, triggers = appointment_and_trigger_facts(unit_scope)
    return {
        row.id: UnitFacts(
            unit_id=row.id,
            name=row.name,
            created_on=local_date(row.created_at),
            applicability=as_member(Applicability, row.outcome),
            assessed_on=row.assessed_on,
            last_approved_at=as_utc(row.last_approved_at),
            appointments=tuple(appointments.get(row.id, ())),
            triggers=tuple(triggers.get(row.id, ())),
        )
        for row in rows
    }


@dataclass(frozen=True)
class DueList:
    """A to-do list up to a horizon (sorted as sort_items) and how many more items fall due
    after it."""

    items: list[DueItem]
    later: int


def due_items_for_user(
    user: User, today: dt.date, *, rules: Rules | None = None, horizon: dt.date | None = None
) -> list[DueItem]:
    """The user's to-do list, sorted by due date; with `horizon`, only the items due on or
    before it (overdue ones included), exactly those of the whole list.

    samordnare/ersättare: every item of their units, the vetting items too (vetting_items: not
    the confirmation of a beslut they took themselves); chef: the findings of their operators'
    units and the submitted analyses waiting for review (never a vetting item: the chef sees
    counts elsewhere, not people); everyone: their own unacknowledged holder notices;
    procurement items (_procurement_items). Records marked above the user's clearance are left
    out. At most seven SQL statements, whatever the number of units and items (six when none of
    the user's units has a vetting case that may have an item): the units, their appointments
    and triggers, the analyses to review, the vetting cases, the running procurements, the
    measures, duties and follow-up actions (one UNION ALL), the holder notices. The horizon is
    applied in SQL to the measures, duties, follow-up actions and vetting cases (the sources
    that grow with the years), and to the rest after the rules.
    """
    return _gather(user, today, rules, horizon, count_later=False).items


def due_list_for_user(user: User, today: dt.date, horizon: dt.date, *, rules: Rules | None = None) -> DueList:
    """due_items_for_user up to `horizon`, and how many items fall due after it, in the same
    statements: the measures, duties, follow-up actions and vetting items after the horizon are
    counted in SQL (never loaded), the others after the rules."""
    return _gather(user, today, rules, horizon, count_later=True)


def _beyond(items: list[DueItem], horizon: dt.date | None) -> tuple[list[DueItem], int]:
    """The items due on or before the horizon, and how many are left out."""
    if horizon is None:
        return items, 0
    kept = [item for item in items if item.due_on <= horizon]
    return kept, len(items) - len(kept)


def _gather(
    user: User, today: dt.date, rules: Rules | None, horizon: dt.date | None, *, count_later: bool
) -> DueList:
    """due_items_for_user and due_list_for_user: the list up to `horizon` (all without one), and
    with `count_later` the number of items after it."""
    from flask import current_app
    from sqlalchemy import and_, exists, func, select
    from sqlalchemy.orm import aliased

    from sakskydd.accounts.models import AssignmentStatus, Role, RoleAssignment
    from sakskydd.analyses.models import AnalysisStatus, Measure, MeasureStatus, SecurityAnalysis
    from sakskydd.assets.models import HolderNotice, ProtectedAsset
    from sakskydd.extensions import db
    from sakskydd.followup.models import AnnualFollowUp
    from sakskydd.organisations.models import ApplicabilityAssessment, OrgUnit
    from sakskydd.organisations.scope import chef_unit_ids, coordinated_unit_ids
    from sakskydd.vetting.models import VettingCase

    rules = rules or Rules.from_settings(current_app.config["SAKSKYDD_SETTINGS"])
    count_later = count_later and horizon is not None
    # correlate(None): these run as IN-subqueries of statements over org_unit, and must not be
    # correlated with the outer org_unit.
    coordinated = coordinated_unit_ids(user.id).correlate(None)
    chef = chef_unit_ids(user.id).correlate(None)
    in_scope = OrgUnit.id.in_(coordinated) | OrgUnit.id.in_(chef)

    # The chef reviews the follow-ups of the own operator's units only (policies/oversight.cedar).
    own_chef = select(RoleAssignment.operator_id).where(
        RoleAssignment.user_id == user.id,
        RoleAssignment.status == AssignmentStatus.ACTIVE,
        RoleAssignment.role == Role.CHEF,
    )
    this_year = and_(AnnualFollowUp.unit_id == OrgUnit.id, AnnualFollowUp.year == today.year)

    current = current_assessment(today)
    approved = SecurityAnalysis.status == AnalysisStatus.APPROVED
    unit_rows = db.execute(
        select(
            OrgUnit.id,
            OrgUnit.name,
            OrgUnit.created_at,
            OrgUnit.id.in_(coordinated).label("is_coordinated"),
            OrgUnit.id.in_(chef).label("is_chef"),
            current.with_only_columns(ApplicabilityAssessment.outcome).scalar_subquery().label("outcome"),
            current.with_only_columns(ApplicabilityAssessment.decided_on)
            .scalar_subquery()
            .label("assessed_on"),
            select(func.max(SecurityAnalysis.decided_at))
            .where(SecurityAnalysis.unit_id == OrgUnit.id, approved)
            .scalar_subquery()
            .label("last_approved_at"),
            # Whether the vetting statement is needed at all.
            exists().where(VettingCase.unit_id == OrgUnit.id, _vetting_candidates()).label("has_vetting"),
            # The year's follow-up (at most one per unit and year).
            OrgUnit.operator_id.in_(own_chef).label("is_own_chef"),
            AnnualFollowUp.id.label("followup_id"),
            AnnualFollowUp.status.label("followup_status"),
            AnnualFollowUp.submitted_at.label("followup_submitted_at"),
            AnnualFollowUp.submitted_by_id.label("followup_submitted_by_id"),
        )
        .outerjoin(AnnualFollowUp, this_year)
        .where(OrgUnit.is_active.is_(True), in_scope)
    ).all()

    # Two kinds of sources: those decided in Python over a few rows per unit or procurement
    # (`decided`, cut at the horizon at the end), and those that grow with the years (measures,
    # duties, follow-up actions, vetting cases), cut at the horizon in SQL (`listed`) with what
    # falls due after it counted there (`later`).
    decided: list[DueItem] = []
    listed: list[DueItem] = []
    later = 0
    # The growing sources' reads (rows up to the horizon, count after it), run as one statement.
    dated: list[tuple[Select[Any], Select[Any] | None]] = []
    names: dict[uuid.UUID, str] = {}
    coordinated_ids: set[uuid.UUID] = set()
    chef_ids: set[uuid.UUID] = set()
    if unit_rows:
        scope_ids = select(OrgUnit.id).where(OrgUnit.is_active.is_(True), in_scope)
        appointments, triggers = appointment_and_trigger_facts(scope_ids)

        for row in unit_rows:
            names[row.id] = row.name
            if row.is_coordinated:
                coordinated_ids.add(row.id)
            if row.is_chef:
                chef_ids.add(row.id)
            facts = UnitFacts(
                unit_id=row.id,
                name=row.name,
                created_on=local_date(row.created_at),
                applicability=as_member(Applicability, row.outcome),
                assessed_on=row.assessed_on,
                last_approved_at=as_utc(row.last_approved_at),
                appointments=tuple(appointments.get(row.id, ())),
                triggers=tuple(triggers.get(row.id, ())),
            )
            decided += unit_items(
                facts, today, rules, coordinator=bool(row.is_coordinated), chef=bool(row.is_chef)
            )
            decided += _followup_items(row, facts, today, rules, user_id=user.id)

        if coordinated_ids:
            # The plan in force: the measures of each unit's latest fastställd analysis. Every
            # open one is an item (measure_item), so the horizon is exact in SQL.
            newer = aliased(SecurityAnalysis)
            latest_decision = (
                select(func.max(newer.decided_at))
                .where(newer.unit_id == SecurityAnalysis.unit_id, newer.status == AnalysisStatus.APPROVED)
                .scalar_subquery()
            )
            plan = (
                select(
                    *_dated_columns(
                        ItemKind.MEASURE_DUE,
                        Measure.id,
                        Measure.analysis_id,
                        Measure.unit_id,
                        Measure.due_on,
                        Measure.title,
                        detail=Measure.status,
                        area=Measure.area,
                    )
                )
                .join(SecurityAnalysis, SecurityAnalysis.id == Measure.analysis_id)
                .where(
                    Measure.unit_id.in_(coordinated),
                    Measure.status.in_((MeasureStatus.PLANNED, MeasureStatus.IN_PROGRESS)),
                    approved,
                    SecurityAnalysis.decided_at == latest_decision,
                    SecurityAnalysis.classification <= user.clearance,
                )
            )
            dated.append(
                (
                    plan if horizon is None else plan.where(Measure.due_on <= horizon),
                    _count_of(plan.where(Measure.due_on > horizon)) if count_later else None,
                )
            )

        if chef_ids:
            for row in db.execute(
                select(
                    SecurityAnalysis.id,
                    SecurityAnalysis.unit_id,
                    SecurityAnalysis.cycle_year,
                    SecurityAnalysis.title,
                    SecurityAnalysis.submitted_at,
                    SecurityAnalysis.created_at,
                ).where(
                    SecurityAnalysis.unit_id.in_(chef),
                    SecurityAnalysis.status == AnalysisStatus.SUBMITTED,
                    SecurityAnalysis.classification <= user.clearance,
                )
            ):
                if row.unit_id not in chef_ids:
                    continue  # an inactive unit
                decided.append(
                    review_item(
                        SubmittedAnalysisFacts(
                            analysis_id=row.id,
                            unit_id=row.unit_id,
                            submitted_at=as_utc(row.submitted_at or row.created_at),
                            cycle_year=row.cycle_year,
                            title=row.title,
                            unit_name=names[row.unit_id],
                        ),
                        today,
                    )
                )

        if any(row.is_coordinated and row.has_vetting for row in unit_rows):
            items, count = _vetting_items_and_later(
                coordinated_unit_ids(user.id),
                today,
                rules,
                user_id=user.id,
                horizon=horizon,
                count_later=count_later,
            )
            listed += items
            later += count

    procurement = _procurement_items(user, today, rules, horizon, count_later=count_later)
    decided += procurement.decided
    # The sources that grow with the years, read in one statement (_rows_and_later): the
    # measures of the plan (above), the procurement duties and the supplier follow-up actions.
    found, count = _rows_and_later(*dated, *procurement.dated)
    later += count
    for row in found:
        item = _dated_item(row, today, names)
        if item is not None and (row.kind != ItemKind.MEASURE_DUE or row.unit_id in coordinated_ids):
            listed.append(item)
    for row in db.execute(
        select(HolderNotice.id, HolderNotice.unit_id, HolderNotice.created_at, ProtectedAsset.name)
        .join(ProtectedAsset, ProtectedAsset.id == HolderNotice.asset_id)
        .where(
            HolderNotice.user_id == user.id,
            HolderNotice.acknowledged_at.is_(None),
            ProtectedAsset.classification <= user.clearance,
        )
    ):
        decided.append(
            notice_item(
                NoticeFacts(row.id, row.unit_id, as_utc(row.created_at), row.name),
                today,
                rules.notice_reminder_days,
            )
        )
    within, beyond = _beyond(decided, horizon)
    return DueList(sort_items(within + listed), later + beyond)


def _count_of(query: Select[Any]) -> Select[Any]:
    """SQL: the number of rows of `query`."""
    from sqlalchemy import func, select

    return select(func.count()).select_from(query.order_by(None).subquery())


def _followup_items(
    row: Any, unit: UnitFacts, today: dt.date, rules: Rules, *, user_id: uuid.UUID
) -> list[DueItem]:
    """The follow-up items of one unit row of due_items_for_user: the samordnare/ersättare's
    follow-up to answer (the chef's only when overdue), the own operator's chef's review (not of
    a follow-up the chef submitted)."""
    status = row.followup_status
    facts = FollowUpFacts(
        unit_id=unit.unit_id,
        unit_name=unit.name,
        year=today.year,
        due_on=followup_due_on(today.year, rules.followup_due),
        covered=unit.applicability == Applicability.YES,
        followup_id=row.followup_id,
        status=str(getattr(status, "value", status)) if status is not None else None,
        submitted_at=as_utc(row.followup_submitted_at),
        submitted_by_id=row.followup_submitted_by_id,
    )
    items = []
    due = followup_item(facts, today)
    if due is not None and (row.is_coordinated or (row.is_chef and due.overdue)):
        items.append(due)
    review = followup_review_item(facts, today)
    if review is not None and row.is_own_chef and facts.submitted_by_id != user_id:
        items.append(review)
    return items


@dataclass(frozen=True)
class _ProcurementItems:
    decided: list[DueItem]  # the confirmations and supplier follow-ups, whatever their date
    # The reads of the duties and follow-up actions (_dated_columns): the rows due on or before
    # the horizon and, when asked, the count of those after it; _gather runs them with the measures.
    dated: list[tuple[Select[Any], Select[Any] | None]]


def _procurement_items(
    user: User, today: dt.date, rules: Rules, horizon: dt.date | None = None, *, count_later: bool = False
) -> _ProcurementItems:
    """The procurement items of a user: the samordnare/ersättare of the unit get every item (and
    confirm triages answered by others); the responsible upphandlare the items of their
    procurements; a duty's owner that duty; the chef overdue duties (_dated_item). A running
    procurement has at most two items of its own, decided by the rules here in one statement; its
    duties and follow-up actions, which accumulate, are cut at `horizon` in SQL by the reads
    returned in `dated`, which the caller runs."""
    from sqlalchemy import and_, func, or_, select

    from sakskydd.extensions import db
    from sakskydd.organisations.scope import chef_unit_ids, coordinated_unit_ids, upphandlare_unit_ids
    from sakskydd.procurements.models import (
        ActionStatus,
        DutyStatus,
        FollowUpAction,
        FollowUpRun,
        Procurement,
        ProcurementDuty,
        ProcurementStatus,
    )
    from sakskydd.procurements.rules import Outcome

    coordinated = Procurement.unit_id.in_(coordinated_unit_ids(user.id).correlate(None))
    responsible = and_(
        Procurement.responsible_id == user.id,
        Procurement.unit_id.in_(upphandlare_unit_ids(user.id).correlate(None)),
    )
    chef = Procurement.unit_id.in_(chef_unit_ids(user.id).correlate(None))
    running = and_(
        Procurement.status.in_(
            (ProcurementStatus.TRIAGED, ProcurementStatus.CONFIRMED, ProcurementStatus.STOPPED)
        ),
        Procurement.classification <= user.clearance,
    )
    last_run = (
        select(func.max(FollowUpRun.performed_on))
        .where(FollowUpRun.procurement_id == Procurement.id)
        .scalar_subquery()
    )
    count_later = count_later and horizon is not None
    decided: list[DueItem] = []
    for row in db.execute(
        select(
            Procurement.id,
            Procurement.unit_id,
            Procurement.title,
            Procurement.status,
            Procurement.triaged_at,
            Procurement.triaged_by_id,
            Procurement.outcome,
            Procurement.signed_on,
            last_run.label("last_run"),
            coordinated.label("is_coordinated"),
        ).where(running, or_(coordinated, responsible))
    ):
        facts = ProcurementFacts(
            procurement_id=row.id,
            unit_id=row.unit_id,
            title=row.title,
            status=as_member(ProcurementStatus, row.status).value,
            triaged_at=as_utc(row.triaged_at),
            outcome=as_member(Outcome, row.outcome).value if row.outcome is not None else None,
            signed_on=row.signed_on,
            last_follow_up_on=_date(row.last_run),
        )
        if row.is_coordinated and row.triaged_by_id != user.id:
            confirm = confirm_item(facts, today)
            if confirm is not None:
                decided.append(confirm)
        follow_up = follow_up_item(facts, today, rules)
        if follow_up is not None:
            decided.append(follow_up)

    is_worker = or_(coordinated, responsible, ProcurementDuty.owner_id == user.id)
    duties = (
        select(
            *_dated_columns(
                ItemKind.PROCUREMENT_DUTY,
                ProcurementDuty.id,
                ProcurementDuty.procurement_id,
                ProcurementDuty.unit_id,
                ProcurementDuty.due_on,
                Procurement.title,
                detail=ProcurementDuty.kind,
                is_worker=is_worker,
            )
        )
        .join(Procurement, Procurement.id == ProcurementDuty.procurement_id)
        .where(
            running,
            ProcurementDuty.status == DutyStatus.OPEN,
            ProcurementDuty.due_on.is_not(None),
            or_(coordinated, responsible, chef, ProcurementDuty.owner_id == user.id),
        )
    )
    later_duties = None
    if count_later:
        # The user's own duties after the horizon, found through the user's procurements and the
        # duties they own (the register's indexes); someone else's duty is the chef's only once
        # overdue (below), so it counts only for a horizon before today.
        own = or_(
            ProcurementDuty.procurement_id.in_(
                select(Procurement.id).where(running, or_(coordinated, responsible)).correlate(None)
            ),
            ProcurementDuty.owner_id == user.id,
        )
        if horizon >= today - dt.timedelta(days=1):
            scope = own
        else:
            scope = or_(own, and_(chef, ProcurementDuty.due_on < today))
        later_duties = (
            select(func.count())
            .select_from(ProcurementDuty)
            .join(Procurement, Procurement.id == ProcurementDuty.procurement_id)
            .where(
                running, ProcurementDuty.status == DutyStatus.OPEN, ProcurementDuty.due_on > horizon, scope
            )
        )
    actions = (
        select(
            *_dated_columns(
                ItemKind.FOLLOW_UP_ACTION,
                FollowUpAction.id,
                FollowUpAction.procurement_id,
                FollowUpAction.unit_id,
                FollowUpAction.due_on,
                Procurement.title,
            )
        )
        .join(Procurement, Procurement.id == FollowUpAction.procurement_id)
        .where(running, FollowUpAction.status == ActionStatus.OPEN, or_(coordinated, responsible))
    )
    dated = [
        (duties if horizon is None else duties.where(ProcurementDuty.due_on <= horizon), later_duties),
        (
            actions if horizon is None else actions.where(FollowUpAction.due_on <= horizon),
            _count_of(actions.where(FollowUpAction.due_on > horizon)) if count_later else None,
        ),
    ]
    return _ProcurementItems(decided, dated)


def _dated_columns(
    kind: ItemKind,
    id_: Any,
    parent_id: Any,
    unit_id: Any,
    due_on: Any,
    title: Any,
    *,
    detail: Any = None,
    area: Any = None,
    is_worker: Any = None,
) -> list[Any]:
    """The columns of a read of a growing source (measures, procurement duties, follow-up
    actions), the same in each so that they run as one UNION ALL (_rows_and_later): the item
    kind; the record, the one it belongs to (analysis or procurement), its unit, due date and
    title; `detail` (a measure's status, a duty's kind) and `area` (a measure's) as the stored
    enum name, as text; `is_worker` (a duty's: the user works on it). What a source lacks is a
    typed NULL, so that PostgreSQL can match the branches' types."""
    from sqlalchemy import String, cast, literal_column, null, true, type_coerce

    def as_text(column: Any) -> Any:
        return cast(null(), String) if column is None else type_coerce(column, String)

    return [
        literal_column(f"'{kind.value}'", String).label("kind"),
        id_.label("id"),
        parent_id.label("parent_id"),
        unit_id.label("unit_id"),
        due_on.label("due_on"),
        title.label("title"),
        as_text(detail).label("detail"),
        as_text(area).label("area"),
        (true() if is_worker is None else is_worker).label("is_worker"),
    ]


def _dated_item(row: Any, today: dt.date, unit_names: Mapping[uuid.UUID, str]) -> DueItem | None:
    """The item of a row read with _dated_columns, by the rules of its kind; a duty only for one
    who works on it, or once overdue (the chef)."""
    from sakskydd.analyses.models import MeasureArea, MeasureStatus
    from sakskydd.procurements.rules import DutyKind

    kind = ItemKind(row.kind)
    if kind == ItemKind.MEASURE_DUE:
        return measure_item(
            MeasureFacts(
                measure_id=row.id,
                unit_id=row.unit_id,
                analysis_id=row.parent_id,
                due_on=row.due_on,
                status=str(as_member(MeasureStatus, row.detail).value),
                area=str(as_member(MeasureArea, row.area).value),
                title=row.title,
                unit_name=unit_names.get(row.unit_id, ""),
            ),
            today,
        )
    if kind == ItemKind.PROCUREMENT_DUTY:
        item = duty_item(
            DutyFacts(
                row.id,
                row.parent_id,
                row.unit_id,
                as_member(DutyKind, row.detail).value,
                row.due_on,
                row.title,
            ),
            today,
        )
        return item if item is not None and (row.is_worker or item.overdue) else None
    return action_item(ActionFacts(row.id, row.parent_id, row.unit_id, row.due_on, row.title), today)


def _date(value: Any) -> dt.date | None:
    """max() of a DATE column comes back as text on SQLite."""
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def as_utc(moment: Any) -> Any:
    """Timestamps read through a scalar subquery lose the UTC type on SQLite: put the zone back."""
    if isinstance(moment, dt.datetime) and moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    if isinstance(moment, str):  # SQLite returns max() of a DATETIME column as text
        return dt.datetime.fromisoformat(moment).replace(tzinfo=dt.UTC)
    return moment


def reminded_on(user_id: uuid.UUID, items: Sequence[DueItem]) -> dict[tuple[str, str], dt.datetime]:
    """When the user was last reminded of each of these items (one statement)."""
    from sqlalchemy import func, select

    from sakskydd.extensions import db
    from sakskydd.notifications.models import SentReminder

    if not items:
        return {}
    subjects = sorted({str(item.subject_id) for item in items})
    rows = db.execute(
        select(SentReminder.kind, SentReminder.subject_id, func.max(SentReminder.created_at))
        .where(SentReminder.user_id == user_id, SentReminder.subject_id.in_(subjects))
        .group_by(SentReminder.kind, SentReminder.subject_id)
    )
    return {(kind, subject): as_utc(at) for kind, subject, at in rows}
