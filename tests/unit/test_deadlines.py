"""The deadline rules of sakskydd.deadlines: plain values in, due items out (no database)."""

from __future__ import annotations

import calendar
import datetime as dt
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sakskydd.config import ANALYSIS_INTERVAL_CEILING_MONTHS, Settings
from sakskydd.deadlines import (
    CONFIRM_PERIOD_DAYS,
    FIRST_ANALYSIS_MONTHS,
    REVIEW_PERIOD_DAYS,
    TRIGGER_RESPONSE_MONTHS,
    AppointmentFacts,
    DueItem,
    FollowUpFacts,
    ItemKind,
    MeasureFacts,
    NoticeFacts,
    Rules,
    SubmittedAnalysisFacts,
    TriggerFacts,
    UnitFacts,
    VettingCaseFacts,
    add_months,
    analysis_due,
    analysis_item,
    applicability_item,
    coordinator_item,
    followup_due_on,
    followup_item,
    followup_review_item,
    link_target,
    local_date,
    measure_item,
    missing_coordinators,
    notice_item,
    reminder_stage,
    review_item,
    sort_items,
    unit_items,
    vetting_case_items,
    vetting_confirm_item,
    vetting_deregistration_item,
    vetting_recheck_item,
)
from sakskydd.organisations.models import Applicability, AppointmentRole
from sakskydd.vetting.models import CaseStatus
from sakskydd.vetting.rules import SecurityClass

SAM = AppointmentRole.SAMORDNARE
ERS = AppointmentRole.ERSATTARE
UNIT = uuid.UUID(int=1)
TODAY = dt.date(2027, 6, 15)


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC)


def unit(**kwargs) -> UnitFacts:  # type: ignore[no-untyped-def]
    values = {
        "unit_id": UNIT,
        "name": "Kulturnämnden",
        "created_on": dt.date(2025, 1, 1),
        "applicability": Applicability.YES,
        "assessed_on": dt.date(2026, 1, 31),
    }
    values.update(kwargs)
    return UnitFacts(**values)


def trigger(occurred: dt.date, recorded: dt.datetime | None = None, handled: bool = False) -> TriggerFacts:
    return TriggerFacts(occurred, recorded or at(occurred), "omorganisation", handled)


# --- strategies ----------------------------------------------------------------------------------

dates = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2090, 12, 31))
moments = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2090, 12, 31), timezones=st.just(dt.UTC)
)
triggers = st.builds(
    TriggerFacts,
    occurred_on=dates,
    recorded_at=moments,
    kind=st.just("ny_hotinformation"),
    handled=st.booleans(),
)
appointments = st.builds(
    AppointmentFacts,
    role=st.sampled_from([SAM, ERS]),
    starts_on=dates,
    ends_on=st.none() | dates,
)
units = st.builds(
    UnitFacts,
    unit_id=st.uuids(),
    name=st.just("Enheten"),
    created_on=dates,
    applicability=st.none() | st.sampled_from(list(Applicability)),
    assessed_on=st.none() | dates,
    last_approved_at=st.none() | moments,
    appointments=st.lists(appointments, max_size=4).map(tuple),
    triggers=st.lists(triggers, max_size=4).map(tuple),
)
covered_units = units.map(lambda u: UnitFacts(**{**u.__dict__, "applicability": Applicability.YES}))
intervals = st.integers(min_value=-50, max_value=1000)
measures = st.builds(
    MeasureFacts,
    measure_id=st.uuids(),
    unit_id=st.uuids(),
    analysis_id=st.uuids(),
    due_on=dates,
    status=st.sampled_from(["planerad", "pagar", "klar", "ej_genomford"]),
)
notices = st.builds(NoticeFacts, notice_id=st.uuids(), unit_id=st.uuids(), created_at=moments)
submitted = st.builds(
    SubmittedAnalysisFacts, analysis_id=st.uuids(), unit_id=st.uuids(), submitted_at=moments
)


# --- month arithmetic ----------------------------------------------------------------------------


@given(dates, st.integers(min_value=-240, max_value=240))
def test_add_months_moves_whole_months_and_clamps_the_day(day, months):
    result = add_months(day, months)
    assert (result.year * 12 + result.month) - (day.year * 12 + day.month) == months
    assert result.day == min(day.day, calendar.monthrange(result.year, result.month)[1])


@given(dates, dates, st.integers(min_value=-240, max_value=240))
def test_add_months_is_monotone_in_the_date(first, second, months):
    low, high = sorted((first, second))
    assert add_months(low, months) <= add_months(high, months)


@given(dates, st.integers(min_value=-120, max_value=120), st.integers(min_value=-120, max_value=120))
def test_add_months_is_monotone_in_the_months(day, a, b):
    low, high = sorted((a, b))
    assert add_months(day, low) <= add_months(day, high)


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (dt.date(2027, 1, 31), 1, dt.date(2027, 2, 28)),
        (dt.date(2028, 1, 31), 1, dt.date(2028, 2, 29)),
        (dt.date(2027, 3, 31), -1, dt.date(2027, 2, 28)),
        (dt.date(2027, 8, 31), 6, dt.date(2028, 2, 29)),
        (dt.date(2026, 12, 15), 1, dt.date(2027, 1, 15)),
        (dt.date(2026, 5, 31), 24, dt.date(2028, 5, 31)),
        (dt.date(2026, 5, 30), 0, dt.date(2026, 5, 30)),
    ],
)
def test_add_months_examples(day, months, expected):
    assert add_months(day, months) == expected


# --- properties of the analysis rule -------------------------------------------------------------


@given(covered_units, intervals)
def test_analysis_is_never_due_later_than_the_law_allows_after_an_approval(facts, interval):
    due = analysis_due(facts, interval)
    if facts.last_approved_at is not None:
        assert due is not None
        assert due[0] <= add_months(local_date(facts.last_approved_at), ANALYSIS_INTERVAL_CEILING_MONTHS)


@given(units, intervals, triggers)
def test_a_new_trigger_never_makes_the_analysis_due_later(facts, interval, extra):
    before = analysis_due(facts, interval)
    after = analysis_due(UnitFacts(**{**facts.__dict__, "triggers": (*facts.triggers, extra)}), interval)
    assert (before is None) == (after is None)
    if before is not None and after is not None:
        assert after[0] <= before[0]


@given(units, intervals)
def test_only_covered_units_need_an_analysis(facts, interval):
    if facts.applicability != Applicability.YES:
        assert analysis_due(facts, interval) is None


@given(
    st.lists(units, max_size=3),
    st.lists(measures, max_size=3),
    st.lists(notices, max_size=3),
    st.lists(submitted, max_size=3),
    dates,
    st.integers(min_value=1, max_value=24),
    st.integers(min_value=1, max_value=60),
)
def test_an_item_is_overdue_exactly_when_its_due_date_has_passed(
    some_units, some_measures, some_notices, some_submitted, today, interval, notice_days
):
    rules = Rules(analysis_interval_months=interval, notice_reminder_days=notice_days)
    items: list[DueItem] = []
    for facts in some_units:
        items += unit_items(facts, today, rules, coordinator=True)
    items += [i for m in some_measures if (i := measure_item(m, today)) is not None]
    items += [notice_item(n, today, notice_days) for n in some_notices]
    items += [review_item(s, today) for s in some_submitted]
    for item in items:
        assert item.overdue == (item.due_on < today)
    ordered = sort_items(items)
    assert [i.due_on for i in ordered] == sorted(i.due_on for i in ordered)


@given(units, dates, st.integers(min_value=1, max_value=24))
def test_the_chef_sees_a_subset_of_the_coordinators_items(facts, today, interval):
    rules = Rules(analysis_interval_months=interval)
    coordinator = unit_items(facts, today, rules, coordinator=True)
    chef = unit_items(facts, today, rules, coordinator=False, chef=True)
    assert all(item in coordinator for item in chef)
    assert all(item.overdue for item in chef if item.kind == ItemKind.ANALYSIS_DUE)


# --- the analysis rule, case by case -------------------------------------------------------------


@pytest.mark.parametrize("outcome", [Applicability.NO, Applicability.INVESTIGATING, None])
def test_a_unit_that_is_not_covered_needs_no_analysis(outcome):
    assert analysis_item(unit(applicability=outcome), TODAY, 12) is None


def test_first_analysis_is_due_a_start_period_after_the_unit_was_assessed_covered():
    item = analysis_item(unit(assessed_on=dt.date(2026, 11, 30)), TODAY, 12)
    assert item is not None
    assert item.due_on == dt.date(2027, 2, 28) == add_months(dt.date(2026, 11, 30), FIRST_ANALYSIS_MONTHS)
    assert item.title_key == "analysis_first"
    assert item.overdue
    assert item.kind == ItemKind.ANALYSIS_DUE and item.subject_id == UNIT


@pytest.mark.parametrize(("interval", "expected"), [(12, dt.date(2027, 3, 10)), (6, dt.date(2026, 9, 10))])
def test_renewal_is_due_the_interval_after_the_last_approval(interval, expected):
    item = analysis_item(unit(last_approved_at=at(dt.date(2026, 3, 10))), TODAY, interval)
    assert item is not None and item.due_on == expected and item.title_key == "analysis_renewal"


def test_interval_setting_above_the_law_is_capped_at_24_months():
    due = analysis_due(unit(last_approved_at=at(dt.date(2026, 3, 10))), 36)
    assert due == (dt.date(2028, 3, 10), "renewal")


def test_approval_date_is_the_swedish_calendar_date():
    # 23:30 UTC on 9 March is 00:30 on 10 March in Stockholm.
    approved = dt.datetime(2026, 3, 9, 23, 30, tzinfo=dt.UTC)
    assert analysis_due(unit(last_approved_at=approved), 12) == (dt.date(2027, 3, 10), "renewal")


def test_an_open_trigger_brings_the_analysis_forward():
    facts = unit(
        last_approved_at=at(dt.date(2027, 3, 1)),
        triggers=(trigger(dt.date(2027, 5, 31), at(dt.date(2027, 6, 1))),),
    )
    item = analysis_item(facts, TODAY, 12)
    assert item is not None
    assert item.due_on == dt.date(2027, 6, 30) == add_months(dt.date(2027, 5, 31), TRIGGER_RESPONSE_MONTHS)
    assert item.title_key == "analysis_trigger" and item.params["trigger"] == "omorganisation"
    assert not item.overdue


def test_handled_triggers_and_triggers_recorded_before_the_approval_do_not_count():
    approved = at(dt.date(2027, 3, 1))
    facts = unit(
        last_approved_at=approved,
        triggers=(
            trigger(dt.date(2027, 2, 1), at(dt.date(2027, 2, 1))),  # before the approval
            trigger(dt.date(2027, 4, 1), at(dt.date(2027, 4, 1)), handled=True),
        ),
    )
    assert analysis_due(facts, 12) == (dt.date(2028, 3, 1), "renewal")


def test_a_trigger_later_than_the_regular_due_date_changes_nothing():
    facts = unit(
        last_approved_at=at(dt.date(2026, 7, 1)),
        triggers=(trigger(dt.date(2027, 6, 20), at(dt.date(2027, 6, 20))),),
    )
    assert analysis_due(facts, 12) == (dt.date(2027, 7, 1), "renewal")


def test_a_trigger_before_any_approval_can_bring_the_first_analysis_forward():
    facts = unit(assessed_on=dt.date(2027, 5, 1), triggers=(trigger(dt.date(2027, 5, 10)),))
    assert analysis_due(facts, 12) == (dt.date(2027, 6, 10), "trigger")


# --- coordinators and applicability --------------------------------------------------------------


def test_covered_unit_without_ersattare_is_a_finding_due_since_it_was_covered():
    facts = unit(appointments=(AppointmentFacts(SAM, dt.date(2026, 2, 1)),))
    item = coordinator_item(facts, TODAY)
    assert item is not None
    assert item.params["missing"] == ["ersattare"]
    assert item.due_on == dt.date(2026, 1, 31) and item.overdue


def test_a_missing_role_counts_from_the_day_after_the_last_appointment_ended():
    facts = unit(
        appointments=(
            AppointmentFacts(SAM, dt.date(2026, 2, 1)),
            AppointmentFacts(ERS, dt.date(2026, 2, 1), dt.date(2027, 5, 31)),
            AppointmentFacts(ERS, dt.date(2027, 8, 1)),  # starts later: not current today
        )
    )
    assert missing_coordinators(facts, TODAY) == {ERS: dt.date(2027, 6, 1)}


def test_unit_with_both_roles_current_has_no_finding():
    facts = unit(
        appointments=(
            AppointmentFacts(SAM, dt.date(2026, 2, 1), dt.date(2027, 6, 15)),  # last day today
            AppointmentFacts(ERS, dt.date(2027, 6, 15)),
        )
    )
    assert coordinator_item(facts, TODAY) is None


def test_unit_without_any_coordinator_misses_both():
    item = coordinator_item(unit(), TODAY)
    assert item is not None and item.params["missing"] == ["samordnare", "ersattare"]


@pytest.mark.parametrize("outcome", [Applicability.NO, Applicability.INVESTIGATING])
def test_a_unit_that_is_not_covered_needs_no_coordinators(outcome):
    assert coordinator_item(unit(applicability=outcome), TODAY) is None


def test_unit_never_assessed_is_due_from_its_creation():
    item = applicability_item(unit(applicability=None, assessed_on=None), TODAY)
    assert item is not None
    assert item.kind == ItemKind.APPLICABILITY_MISSING and item.due_on == dt.date(2025, 1, 1) and item.overdue
    assert applicability_item(unit(applicability=Applicability.NO), TODAY) is None


# --- measures, notices, reviews ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "due_on", "expected"),
    [
        ("planerad", dt.date(2027, 6, 14), "overdue"),
        ("pagar", dt.date(2027, 6, 15), "due"),
        ("planerad", dt.date(2027, 7, 1), "due"),
        ("klar", dt.date(2027, 1, 1), None),
        ("ej_genomford", dt.date(2027, 1, 1), None),
    ],
)
def test_open_measures_are_due_on_their_date_and_overdue_after_it(status, due_on, expected):
    facts = MeasureFacts(
        uuid.uuid4(), UNIT, uuid.uuid4(), due_on, status, "fysisk_sakerhet", "Lås", "Enheten"
    )
    item = measure_item(facts, TODAY)
    if expected is None:
        assert item is None
    else:
        assert item is not None and item.overdue == (expected == "overdue") and item.due_on == due_on
        assert item.analysis_id == facts.analysis_id and item.subject_id == facts.measure_id


def test_unacknowledged_notice_is_due_notice_reminder_days_after_it_was_sent():
    facts = NoticeFacts(uuid.uuid4(), UNIT, at(dt.date(2027, 6, 1), 10), "Serverrummet")
    item = notice_item(facts, TODAY, 7)
    assert item.due_on == dt.date(2027, 6, 8) and item.overdue
    assert item.params == {"asset": "Serverrummet", "sent_on": "2027-06-01"}


def test_submitted_analysis_is_due_for_review_within_the_review_period():
    facts = SubmittedAnalysisFacts(
        uuid.uuid4(), UNIT, at(dt.date(2027, 6, 1)), 2027, "Analys 2027", "Enheten"
    )
    item = review_item(facts, TODAY)
    assert item.kind == ItemKind.ANALYSIS_REVIEW
    assert item.due_on == dt.date(2027, 6, 1) + dt.timedelta(days=REVIEW_PERIOD_DAYS)
    assert not item.overdue


def test_chef_gets_the_findings_and_only_an_overdue_analysis():
    due_later = unit(last_approved_at=at(dt.date(2027, 1, 1)))  # due 2028, covered, no coordinators
    kinds = {i.kind for i in unit_items(due_later, TODAY, Rules(), coordinator=False, chef=True)}
    assert kinds == {ItemKind.COORDINATOR_MISSING}
    overdue = unit(last_approved_at=at(dt.date(2026, 1, 1)))
    kinds = {i.kind for i in unit_items(overdue, TODAY, Rules(), coordinator=False, chef=True)}
    assert kinds == {ItemKind.COORDINATOR_MISSING, ItemKind.ANALYSIS_DUE}
    assert unit_items(overdue, TODAY, Rules(), coordinator=False, chef=False) == []


# --- reminder stages, order, links ---------------------------------------------------------------


def _item(kind: ItemKind, due_on: dt.date) -> DueItem:
    return DueItem(kind, UNIT, uuid.uuid4(), due_on, due_on < TODAY, kind.value, {})


@pytest.mark.parametrize(
    ("kind", "due_on", "expected"),
    [
        (ItemKind.MEASURE_DUE, TODAY + dt.timedelta(days=31), None),
        (ItemKind.MEASURE_DUE, TODAY + dt.timedelta(days=30), "lead:2027-07-15"),
        (ItemKind.MEASURE_DUE, TODAY, "lead:2027-06-15"),
        (ItemKind.MEASURE_DUE, TODAY - dt.timedelta(days=1), "overdue:2027-06-14"),
        (ItemKind.ANALYSIS_DUE, TODAY - dt.timedelta(days=400), "overdue:2026-05-11"),
        (ItemKind.ANALYSIS_REVIEW, TODAY + dt.timedelta(days=29), "lead:2027-07-14"),
        (ItemKind.COORDINATOR_MISSING, TODAY - dt.timedelta(days=100), "due:2027-03-07"),
        (ItemKind.APPLICABILITY_MISSING, TODAY, "due:2027-06-15"),
        (ItemKind.NOTICE_UNACKNOWLEDGED, TODAY + dt.timedelta(days=1), None),
        (ItemKind.NOTICE_UNACKNOWLEDGED, TODAY, "ack:1"),
        (ItemKind.NOTICE_UNACKNOWLEDGED, TODAY - dt.timedelta(days=6), "ack:1"),
        (ItemKind.NOTICE_UNACKNOWLEDGED, TODAY - dt.timedelta(days=7), "ack:2"),
        (ItemKind.NOTICE_UNACKNOWLEDGED, TODAY - dt.timedelta(days=15), "ack:3"),
    ],
)
def test_reminder_stages(kind, due_on, expected):
    rules = Rules(reminder_lead_days=30, notice_reminder_days=7)
    assert reminder_stage(_item(kind, due_on), TODAY, rules) == expected


@given(dates, st.integers(min_value=0, max_value=90), st.sampled_from(list(ItemKind)))
def test_daily_runs_remind_of_one_due_date_at_most_twice(due_on, lead, kind):
    """Run every day from well before to well after the due date: a dated item gets a lead
    and an overdue reminder, a finding one, a notice one every notice_reminder_days."""
    rules = Rules(reminder_lead_days=lead, notice_reminder_days=7)
    stages = set()
    for offset in range(-120, 61):
        today = due_on + dt.timedelta(days=offset)
        stage = reminder_stage(
            DueItem(kind, UNIT, UNIT, due_on, due_on < today, kind.value, {}), today, rules
        )
        if stage is not None:
            stages.add(stage)
    if kind == ItemKind.NOTICE_UNACKNOWLEDGED:
        assert stages == {f"ack:{n}" for n in range(1, 10)}  # days 0..60 after the due date
    elif kind in (ItemKind.COORDINATOR_MISSING, ItemKind.APPLICABILITY_MISSING):
        assert stages == {f"due:{due_on.isoformat()}"}
    else:
        assert stages == {f"lead:{due_on.isoformat()}", f"overdue:{due_on.isoformat()}"}


def test_items_are_sorted_by_date_and_one_subject_appears_once():
    a = _item(ItemKind.MEASURE_DUE, dt.date(2027, 7, 1))
    b = _item(ItemKind.ANALYSIS_DUE, dt.date(2027, 5, 1))
    c = _item(ItemKind.COORDINATOR_MISSING, dt.date(2027, 7, 1))
    assert sort_items([a, b, c, a]) == [b, c, a]


def test_links_go_to_the_page_where_the_item_is_dealt_with():
    notice = _item(ItemKind.NOTICE_UNACKNOWLEDGED, TODAY)
    assert link_target(notice) == ("assets.notice", {"notice_id": str(notice.subject_id)})
    measure = measure_item(MeasureFacts(uuid.uuid4(), UNIT, uuid.UUID(int=7), TODAY, "planerad"), TODAY)
    assert measure is not None
    assert link_target(measure) == ("analyses.detail", {"analysis_id": str(uuid.UUID(int=7))})
    assert link_target(coordinator_item(unit(), TODAY)) == ("units.detail", {"unit_id": str(UNIT)})  # type: ignore[arg-type]


# --- säkerhetsprövning: omkontroll, avanmälan, a beslut to confirm --------------------------------

CASE = uuid.UUID(int=42)
DECIDER = uuid.UUID(int=100)
OTHER_COORDINATOR = uuid.UUID(int=101)
K1, K2, K3, UNPLACED = (
    SecurityClass.CLASS_1,
    SecurityClass.CLASS_2,
    SecurityClass.CLASS_3,
    SecurityClass.UNPLACED,
)


def case(**kwargs) -> VettingCaseFacts:  # type: ignore[no-untyped-def]
    """An approved klass 2 case, register-checked 2024-01-10, still in the position."""
    values = {
        "case_id": CASE,
        "unit_id": UNIT,
        "status": CaseStatus.APPROVED,
        "security_class": K2,
        "checked_on": dt.date(2024, 1, 10),
        "decided_on": dt.date(2024, 2, 1),
        "decided_by_id": DECIDER,
        "register_check_requested": True,
        "position_title": "Drifttekniker",
        "unit_name": "Kulturnämnden",
    }
    values.update(kwargs)
    return VettingCaseFacts(**values)


def left(on: dt.date, **kwargs) -> VettingCaseFacts:  # type: ignore[no-untyped-def]
    return case(left_on=on, **kwargs)


def decided(on: dt.date, **kwargs) -> VettingCaseFacts:  # type: ignore[no-untyped-def]
    return case(status=CaseStatus.DECIDED, decided_on=on, checked_on=dt.date(2027, 5, 2), **kwargs)


VETTING = Rules(vetting_recheck_years=5, prompt_duty_days=7)
vetting_cases = st.builds(
    VettingCaseFacts,
    case_id=st.uuids(),
    unit_id=st.uuids(),
    status=st.sampled_from(list(CaseStatus)),
    security_class=st.sampled_from(list(SecurityClass)),
    checked_on=st.none() | dates,
    left_on=st.none() | dates,
    deregistered_on=st.none() | dates,
    decided_on=st.none() | dates,
    decided_by_id=st.none() | st.sampled_from([DECIDER, OTHER_COORDINATOR]),
    register_check_requested=st.booleans(),
    position_title=st.just("Drifttekniker"),
    unit_name=st.just("Kulturnämnden"),
    anonymised_on=st.none() | dates,
)


def test_rules_take_the_vetting_settings():
    settings = Settings(vetting_recheck_years=3, prompt_duty_days=10)
    rules = Rules.from_settings(settings)
    assert (rules.vetting_recheck_years, rules.prompt_duty_days) == (3, 10)
    assert (Rules().vetting_recheck_years, Rules().prompt_duty_days) == (5, 7)


@pytest.mark.parametrize(
    ("klass", "checked_on", "years", "today", "due_on", "overdue"),
    [
        (K2, dt.date(2022, 6, 15), 5, dt.date(2027, 6, 15), dt.date(2027, 6, 15), False),  # the due day
        (K2, dt.date(2022, 6, 15), 5, dt.date(2027, 6, 16), dt.date(2027, 6, 15), True),  # the day after
        (K1, dt.date(2022, 6, 15), 5, dt.date(2027, 6, 14), dt.date(2027, 6, 15), False),
        (K1, dt.date(2024, 2, 29), 5, TODAY, dt.date(2029, 2, 28), False),  # no 29 Feb in 2029
        (K2, dt.date(2024, 2, 29), 4, TODAY, dt.date(2028, 2, 29), False),  # a leap year again
        (K2, dt.date(2023, 3, 1), 3, TODAY, dt.date(2026, 3, 1), True),
        (K1, dt.date(2019, 12, 31), 1, TODAY, dt.date(2020, 12, 31), True),
    ],
)
def test_omkontroll_is_due_the_recheck_years_after_the_last_registerkontroll(
    klass, checked_on, years, today, due_on, overdue
):
    item = vetting_recheck_item(
        case(security_class=klass, checked_on=checked_on), today, Rules(vetting_recheck_years=years)
    )
    assert item == DueItem(
        ItemKind.VETTING_RECHECK,
        UNIT,
        CASE,
        due_on,
        overdue,
        "vetting_recheck",
        {
            "position": "Drifttekniker",
            "klass": klass.value,
            "unit": "Kulturnämnden",
            "checked_on": checked_on.isoformat(),
        },
        vetting_case_id=CASE,
    )


@pytest.mark.parametrize(
    "facts",
    [
        case(security_class=K3),  # klass 3 has no omkontroll
        case(security_class=UNPLACED),  # nor vetting without placement
        case(checked_on=None),  # no registerkontroll answered yet
        case(status=CaseStatus.IN_PROGRESS),
        case(status=CaseStatus.DECIDED),
        case(status=CaseStatus.NOT_APPROVED),
        case(status=CaseStatus.CLOSED),
        case(left_on=dt.date(2027, 1, 1)),  # the person left: an avanmälan instead
        case(anonymised_on=dt.date(2027, 1, 1)),
    ],
)
def test_no_omkontroll_outside_an_approved_klass_1_or_2_person_in_the_position(facts):
    assert vetting_recheck_item(facts, TODAY, VETTING) is None


@pytest.mark.parametrize(
    ("left_on", "prompt", "today", "due_on", "overdue"),
    [
        (dt.date(2027, 6, 8), 7, TODAY, dt.date(2027, 6, 15), False),  # due today
        (dt.date(2027, 6, 7), 7, TODAY, dt.date(2027, 6, 14), True),  # due yesterday
        (dt.date(2027, 6, 14), 1, TODAY, dt.date(2027, 6, 15), False),
        (dt.date(2028, 2, 22), 7, TODAY, dt.date(2028, 2, 29), False),  # into 29 February
        (dt.date(2027, 2, 22), 7, TODAY, dt.date(2027, 3, 1), True),  # no 29 February in 2027
        (dt.date(2027, 5, 20), 30, dt.date(2027, 6, 19), dt.date(2027, 6, 19), False),
        (dt.date(2027, 5, 20), 30, dt.date(2027, 6, 20), dt.date(2027, 6, 19), True),
    ],
)
def test_avanmalan_is_due_the_prompt_days_after_the_person_left(left_on, prompt, today, due_on, overdue):
    item = vetting_deregistration_item(left(left_on), today, Rules(prompt_duty_days=prompt))
    assert item == DueItem(
        ItemKind.VETTING_DEREGISTRATION,
        UNIT,
        CASE,
        due_on,
        overdue,
        "vetting_deregistration",
        {
            "position": "Drifttekniker",
            "klass": "klass_2",
            "unit": "Kulturnämnden",
            "left_on": left_on.isoformat(),
        },
        vetting_case_id=CASE,
    )


@pytest.mark.parametrize(
    ("status", "klass", "expected"),
    [
        (CaseStatus.APPROVED, K2, dt.date(2027, 6, 8)),
        (CaseStatus.APPROVED, K3, dt.date(2027, 6, 8)),  # klass 3 has a registerkontroll too
        (CaseStatus.IN_PROGRESS, K1, dt.date(2027, 6, 8)),  # left before the beslut
        (CaseStatus.DECIDED, K2, dt.date(2027, 6, 8)),
        (CaseStatus.NOT_APPROVED, K2, None),  # closed by the confirmed beslut
        (CaseStatus.CLOSED, K2, None),
    ],
)
def test_avanmalan_is_needed_while_the_case_is_open(status, klass, expected):
    item = vetting_deregistration_item(
        left(dt.date(2027, 6, 1), status=status, security_class=klass), TODAY, VETTING
    )
    assert (item.due_on if item else None) == expected


@pytest.mark.parametrize(
    "facts",
    [
        case(),  # still in the position
        left(dt.date(2027, 6, 1), register_check_requested=False),  # nothing to avanmäla
        left(dt.date(2027, 6, 1), register_check_requested=False, security_class=UNPLACED),
        left(dt.date(2027, 6, 1), deregistered_on=dt.date(2027, 6, 3)),  # already done
        left(dt.date(2027, 6, 1), anonymised_on=dt.date(2027, 6, 10)),
    ],
)
def test_no_avanmalan_without_a_requested_registerkontroll_or_once_it_is_recorded(facts):
    assert vetting_deregistration_item(facts, TODAY, VETTING) is None


@pytest.mark.parametrize(
    ("decided_on", "today", "due_on", "overdue"),
    [
        (dt.date(2027, 6, 1), TODAY, dt.date(2027, 6, 15), False),  # due today
        (dt.date(2027, 5, 31), TODAY, dt.date(2027, 6, 14), True),  # due yesterday
        (dt.date(2028, 2, 15), dt.date(2028, 2, 20), dt.date(2028, 2, 29), False),  # 29 February
        (dt.date(2027, 2, 15), dt.date(2027, 3, 2), dt.date(2027, 3, 1), True),
        (dt.date(2026, 12, 25), TODAY, dt.date(2027, 1, 8), True),  # over the new year
    ],
)
def test_a_beslut_waits_for_confirmation_the_confirm_period(decided_on, today, due_on, overdue):
    assert CONFIRM_PERIOD_DAYS == 14
    item = vetting_confirm_item(decided(decided_on), today)
    assert item == DueItem(
        ItemKind.VETTING_CONFIRM,
        UNIT,
        CASE,
        due_on,
        overdue,
        "vetting_confirm",
        {
            "position": "Drifttekniker",
            "klass": "klass_2",
            "unit": "Kulturnämnden",
            "decided_on": decided_on.isoformat(),
        },
        vetting_case_id=CASE,
    )


@pytest.mark.parametrize(
    "facts",
    [
        case(),  # confirmed: approved
        case(status=CaseStatus.IN_PROGRESS, decided_on=None, decided_by_id=None),  # sent back
        case(status=CaseStatus.NOT_APPROVED),
        case(status=CaseStatus.CLOSED),
        decided(dt.date(2027, 6, 1), anonymised_on=dt.date(2027, 6, 2)),
        case(status=CaseStatus.DECIDED, decided_on=None),
    ],
)
def test_only_a_beslut_waiting_for_its_second_person_is_to_be_confirmed(facts):
    assert vetting_confirm_item(facts, TODAY) is None


def test_the_one_who_took_the_beslut_is_not_asked_to_confirm_it():
    waiting = decided(dt.date(2027, 6, 1))
    assert vetting_case_items(waiting, TODAY, VETTING, viewer_id=DECIDER) == []
    (mine,) = vetting_case_items(waiting, TODAY, VETTING, viewer_id=OTHER_COORDINATOR)
    assert (mine.kind, mine.due_on) == (ItemKind.VETTING_CONFIRM, dt.date(2027, 6, 15))
    (anyone,) = vetting_case_items(waiting, TODAY, VETTING)  # e.g. for counts
    assert anyone == mine
    # The decider still gets the other items of the case: the two-person rule is about the beslut.
    gone = decided(dt.date(2027, 6, 1), left_on=dt.date(2027, 6, 3))
    assert [i.kind for i in vetting_case_items(gone, TODAY, VETTING, viewer_id=DECIDER)] == [
        ItemKind.VETTING_DEREGISTRATION
    ]
    assert {i.kind for i in vetting_case_items(gone, TODAY, VETTING, viewer_id=OTHER_COORDINATOR)} == {
        ItemKind.VETTING_DEREGISTRATION,
        ItemKind.VETTING_CONFIRM,
    }
    (recheck,) = vetting_case_items(case(), TODAY, VETTING, viewer_id=DECIDER)
    assert (recheck.kind, recheck.due_on) == (ItemKind.VETTING_RECHECK, dt.date(2029, 1, 10))


@given(vetting_cases, dates, st.integers(min_value=1, max_value=5), st.integers(min_value=1, max_value=30))
def test_vetting_items_properties(facts, today, years, prompt):
    rules = Rules(vetting_recheck_years=years, prompt_duty_days=prompt)
    items = vetting_case_items(facts, today, rules)
    if facts.anonymised_on is not None:
        assert items == []
    kinds = [i.kind for i in items]
    assert not {ItemKind.VETTING_RECHECK, ItemKind.VETTING_DEREGISTRATION} <= set(kinds)
    for item in items:
        assert item.overdue == (item.due_on < today)
        assert (item.subject_id, item.vetting_case_id, item.unit_id) == (
            facts.case_id,
            facts.case_id,
            facts.unit_id,
        )
        assert set(item.params) - {"checked_on", "left_on", "decided_on"} == {"position", "klass", "unit"}
        assert link_target(item) == ("vetting.case", {"case_id": str(facts.case_id)})
    mine = vetting_case_items(facts, today, rules, viewer_id=facts.decided_by_id)
    assert ItemKind.VETTING_CONFIRM not in {i.kind for i in mine} or facts.decided_by_id is None
    assert [i for i in items if i.kind != ItemKind.VETTING_CONFIRM] == [
        i for i in mine if i.kind != ItemKind.VETTING_CONFIRM
    ]


def test_vetting_items_sort_with_the_others_and_link_to_the_case():
    on = dt.date(2027, 7, 1)
    recheck = vetting_recheck_item(case(checked_on=dt.date(2022, 7, 1)), TODAY, VETTING)
    deregister = vetting_deregistration_item(left(dt.date(2027, 6, 24)), TODAY, VETTING)
    confirm = vetting_confirm_item(decided(dt.date(2027, 6, 17)), TODAY)
    measure = _item(ItemKind.MEASURE_DUE, on)
    assert recheck and deregister and confirm
    assert {recheck.due_on, deregister.due_on, confirm.due_on} == {on}
    assert sort_items([recheck, deregister, measure, confirm]) == [measure, confirm, deregister, recheck]
    assert link_target(recheck) == ("vetting.case", {"case_id": str(CASE)})


# --- the yearly follow-up -------------------------------------------------------------------------


def _followup(**values: object) -> FollowUpFacts:
    base: dict[str, object] = {
        "unit_id": uuid.UUID(int=7),
        "unit_name": "Kulturnämnden",
        "year": 2026,
        "due_on": dt.date(2026, 9, 15),
    }
    return FollowUpFacts(**{**base, **values})  # type: ignore[arg-type]


def test_followup_due_date_from_the_setting() -> None:
    assert followup_due_on(2026, (9, 15)) == dt.date(2026, 9, 15)
    assert followup_due_on(2026, (4, 31)) == dt.date(2026, 4, 30)  # clamped to the month's end
    assert Rules.from_settings(Settings()).followup_due == Settings().followup_due


def test_a_covered_unit_without_a_followup_is_due_on_the_followup_date() -> None:
    item = followup_item(_followup(), dt.date(2026, 9, 15))
    assert item is not None and item.kind == ItemKind.FOLLOWUP_DUE
    assert (item.due_on, item.overdue, item.subject_id) == (dt.date(2026, 9, 15), False, uuid.UUID(int=7))
    assert link_target(item) == ("followup.unit_list", {"unit_id": str(uuid.UUID(int=7))})
    late = followup_item(_followup(), dt.date(2026, 9, 16))
    assert late is not None and late.overdue
    assert followup_item(_followup(covered=False), dt.date(2026, 9, 16)) is None


def test_an_opened_followup_is_due_until_submitted() -> None:
    ident = uuid.UUID(int=9)
    for status, key in (("utkast", "followup_due"), ("aterremitterad", "followup_returned")):
        item = followup_item(_followup(followup_id=ident, status=status, covered=False), dt.date(2026, 10, 1))
        assert item is not None and item.title_key == key and item.overdue
        assert item.subject_id == uuid.UUID(int=7)  # the same subject as before it was opened
        assert link_target(item) == ("followup.detail", {"followup_id": str(ident)})
    for status in ("inskickad", "granskad"):
        assert followup_item(_followup(followup_id=ident, status=status), dt.date(2026, 10, 1)) is None


def test_a_submitted_followup_waits_for_the_chefs_review() -> None:
    ident = uuid.UUID(int=9)
    submitted = dt.datetime(2026, 9, 1, 22, 30, tzinfo=dt.UTC)  # 2 September in Stockholm
    facts = _followup(followup_id=ident, status="inskickad", submitted_at=submitted)
    item = followup_review_item(facts, dt.date(2026, 9, 20))
    assert item is not None and item.kind == ItemKind.FOLLOWUP_REVIEW and item.subject_id == ident
    assert item.due_on == dt.date(2026, 9, 2) + dt.timedelta(days=REVIEW_PERIOD_DAYS)
    assert item.params["submitted_on"] == "2026-09-02" and not item.overdue
    assert followup_review_item(facts, item.due_on + dt.timedelta(days=1)).overdue  # type: ignore[union-attr]
    assert followup_review_item(_followup(followup_id=ident, status="granskad"), dt.date(2026, 9, 20)) is None
    assert followup_review_item(_followup(), dt.date(2026, 9, 20)) is None
