"""The to-do list up to a horizon (deadlines.due_items_for_user(horizon=…), due_list_for_user):
exactly the items of the whole list due on or before the horizon, the later ones counted exactly,
in the same number of statements; vetting_items(overdue_only=…, horizon=…)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import pytest
from factories import Person, count_statements, make_operator, make_unit, make_user
from test_home import holder_notice

from sakskydd.accounts.models import AssignmentStatus, Role, RoleAssignment, User
from sakskydd.analyses.models import AnalysisStatus, Measure, MeasureArea, MeasureStatus, SecurityAnalysis
from sakskydd.deadlines import (
    DueItem,
    ItemKind,
    Rules,
    _latest_start_due_by,
    add_months,
    due_items_for_user,
    due_list_for_user,
    local_today,
    vetting_items,
)
from sakskydd.extensions import db
from sakskydd.organisations.models import (
    Applicability,
    ApplicabilityAssessment,
    Appointment,
    AppointmentRole,
    OrgUnit,
    RevisionTrigger,
    RevisionTriggerKind,
)
from sakskydd.organisations.scope import coordinated_unit_ids
from sakskydd.procurements.models import (
    ActionStatus,
    DutyStatus,
    FollowUpAction,
    FollowUpRun,
    Procurement,
    ProcurementDuty,
    ProcurementKind,
    ProcurementStatus,
)
from sakskydd.procurements.rules import DutyKind, Outcome
from sakskydd.vetting.models import CaseStatus, Position, StepStatus, VettingCase, VettingStep
from sakskydd.vetting.rules import SecurityClass, StepKind, add_years

pytestmark = pytest.mark.db

TODAY = local_today()
RULES = Rules()  # the defaults: omkontroll every fifth year, avanmälan within 7 days, lead 30 days
# Horizons around every boundary the world below has, and years ahead.
OFFSETS = (
    -400,
    -31,
    -15,
    -8,
    -1,
    0,
    1,
    6,
    7,
    13,
    14,
    15,
    29,
    30,
    31,
    45,
    100,
    365,
    366,
    800,
    1500,
    1826,
    4000,
)
# An omkontroll over a leap day: checked 28 Feb, 29 Feb and 1 Mar of a leap year, due five years on.
LEAP_CHECKS = (dt.date(2024, 2, 28), dt.date(2024, 2, 29), dt.date(2024, 3, 1), dt.date(2023, 3, 1))
LEAP_HORIZONS = (
    dt.date(2028, 2, 28),
    dt.date(2028, 2, 29),
    dt.date(2028, 3, 1),
    dt.date(2029, 2, 27),
    dt.date(2029, 2, 28),
    dt.date(2029, 3, 1),
)


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    """The year's follow-up falls due in 20 days: inside the lead time today, outside it for
    the horizons before it."""
    day = TODAY + dt.timedelta(days=20)
    settings.followup_due = (day.month, day.day) if day.year == TODAY.year else (12, 31)
    return settings


def days(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


def moment(n: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(days=n)


@dataclass
class World:
    samordnare: Person
    ersattare: Person
    chef: Person
    upphandlare: Person
    owner: Person  # owns one duty, no role
    unit: OrgUnit

    def users(self) -> list[User]:
        return [p.user for p in (self.samordnare, self.ersattare, self.chef, self.upphandlare, self.owner)]


def _grant(who: Person, role: Role, unit: OrgUnit) -> None:
    db.add(RoleAssignment(user_id=who.id, role=role, unit_id=unit.id, status=AssignmentStatus.ACTIVE))


def _position(unit: OrgUnit, author: Person, klass: SecurityClass) -> Position:
    position = Position(
        unit_id=unit.id,
        title=f"Befattning {klass.value}",
        security_class=klass,
        decided_on=days(-2000),
        decided_by="Kommunstyrelsen",
        reference="KS 1",
        created_by_id=author.id,
    )
    db.add(position)
    db.flush()
    return position


def _case(position: Position, author: Person, status: CaseStatus, **dates: object) -> VettingCase:
    case = VettingCase(
        id=uuid.uuid4(),
        unit_id=position.unit_id,
        position_id=position.id,
        security_class=position.security_class,
        status=status,
        created_by_id=author.id,
        **dates,
    )
    db.add(case)
    db.flush()
    return case


def _requested(case: VettingCase) -> None:
    """The registerkontroll of the case is requested (so leaving calls for an avanmälan)."""
    db.add(
        VettingStep(
            case_id=case.id,
            unit_id=case.unit_id,
            kind=StepKind.REGISTER_CHECK_REQUESTED,
            position=6,
            status=StepStatus.DONE,
            done_on=days(-100),
        )
    )


def _vetting(unit: OrgUnit, a: Person, b: Person) -> None:
    """Cases whose items fall due from years ago to five years ahead, across every rule."""
    positions = {klass: _position(unit, a, klass) for klass in SecurityClass}
    approved = CaseStatus.APPROVED
    for position in positions.values():
        # Omkontroll (klass 1 and 2 only) due on each offset, and one checked on the horizon's edge.
        for offset in (-400, -31, -1, 0, 1, 13, 14, 29, 30, 31, 60, 365, 366, 1000, 1825):
            checked = add_years(days(offset), -RULES.vetting_recheck_years)
            _case(position, a, approved, checked_on=checked, decided_on=checked, decided_by_id=a.id)
        for checked in LEAP_CHECKS:
            _case(position, a, approved, checked_on=checked, decided_on=checked, decided_by_id=b.id)
        _case(position, a, approved, checked_on=None, decided_on=days(-10), decided_by_id=a.id)
        # Anonymised by the retention run: nothing, however overdue.
        _case(position, a, approved, checked_on=days(-3000), anonymised_on=days(-1))
    klass_2, klass_3 = positions[SecurityClass.CLASS_2], positions[SecurityClass.CLASS_3]
    # Avanmälan: people who left on various days, with and without a registerkontroll requested.
    for offset in (-30, -8, -7, -1, 0, 7, 8, 20, 40, 400):
        for position, status in ((klass_2, approved), (klass_3, CaseStatus.IN_PROGRESS)):
            requested = _case(position, a, status, checked_on=days(-900), left_on=days(offset))
            _requested(requested)
            _case(position, a, status, checked_on=days(-900), left_on=days(offset))  # no registerkontroll
    done = _case(klass_2, a, approved, checked_on=days(-900), left_on=days(-30), deregistered_on=days(-20))
    _requested(done)
    # A beslut waiting for the second person, taken by a, by b or by nobody recorded.
    for offset in (-40, -15, -14, -1, 0, 1, 16, 30):
        for decider in (a.id, b.id, None):
            _case(klass_3, a, CaseStatus.DECIDED, decided_on=days(offset), decided_by_id=decider)
    # Decided and the person already left: an avanmälan and a confirmation.
    for offset in (-20, 10, 50):
        both = _case(
            klass_2,
            a,
            CaseStatus.DECIDED,
            decided_on=days(offset - 5),
            decided_by_id=b.id,
            left_on=days(offset),
        )
        _requested(both)
    # Closed, not approved: nothing.
    _case(klass_2, a, CaseStatus.CLOSED, checked_on=days(-3000), left_on=days(-100))
    _case(klass_2, a, CaseStatus.NOT_APPROVED, decided_on=days(-100), decided_by_id=a.id)


def _procurement(
    unit: OrgUnit, responsible: Person, status: ProcurementStatus, **fields: object
) -> Procurement:
    row = Procurement(
        unit_id=unit.id,
        kind=ProcurementKind.PROCUREMENT,
        title=f"Upphandling {uuid.uuid4().hex[:6]}",
        registry_number="Dnr 1",
        responsible_id=responsible.id,
        procedure_starts_on=days(-400),
        status=status,
        created_by_id=responsible.id,
        **fields,
    )
    db.add(row)
    db.flush()
    return row


def _duty(
    procurement: Procurement, kind: DutyKind, owner: Person, due_on: dt.date | None, **fields: object
) -> None:
    db.add(
        ProcurementDuty(
            procurement_id=procurement.id,
            unit_id=procurement.unit_id,
            kind=kind,
            position=list(DutyKind).index(kind),
            owner_id=owner.id,
            due_on=due_on,
            **fields,
        )
    )


def _procurements(unit: OrgUnit, other: OrgUnit, w: World) -> None:
    kinds = (DutyKind.FIRST_VISIT, DutyKind.NOTIFY_ENDED, DutyKind.INFORMATION_RETURNED)
    for offset in (-60, -1, 0, 14, 30, 31, 90, 400, 1200):
        # A confirmed agreement: a supplier follow-up a cadence after signing or the last run.
        signed = add_months(days(offset), -6)
        row = _procurement(
            unit, w.upphandlare, ProcurementStatus.CONFIRMED, outcome=Outcome.SUA_1, signed_on=signed
        )
        _duty(row, kinds[0], w.upphandlare, days(offset))
        _duty(row, kinds[1], w.owner, days(offset + 1))
        _duty(row, kinds[2], w.upphandlare, days(offset), status=DutyStatus.DONE)
    _duty(row, DutyKind.FINAL_NOTE, w.upphandlare, None)  # no deadline yet
    followed = _procurement(
        unit, w.upphandlare, ProcurementStatus.CONFIRMED, outcome=Outcome.SUA_3, signed_on=days(-900)
    )
    run = FollowUpRun(
        procurement_id=followed.id,
        unit_id=unit.id,
        performed_on=add_months(days(40), -12),
        performed_by_id=w.upphandlare.id,
        results=[],
    )
    db.add(run)
    db.flush()
    actions = [("Åtgärd", offset, ActionStatus.OPEN) for offset in (-10, 0, 30, 31, 200)]
    for description, offset, status in [*actions, ("Klar", -5, ActionStatus.DONE)]:
        db.add(
            FollowUpAction(
                run_id=run.id,
                procurement_id=followed.id,
                unit_id=unit.id,
                description=description,
                responsible="Leverantören",
                due_on=days(offset),
                status=status,
            )
        )
    # Triages waiting for the samordnare, answered on various days (by the upphandlare).
    for offset in (-30, -14, 0, 20):
        _procurement(
            unit,
            w.upphandlare,
            ProcurementStatus.TRIAGED,
            triaged_at=moment(offset),
            triaged_by_id=w.upphandlare.id,
        )
    # Another unit of the chef's operator: the chef sees its duty only once overdue.
    elsewhere = _procurement(
        other, w.chef, ProcurementStatus.CONFIRMED, outcome=Outcome.SUA_2, signed_on=days(-30)
    )
    _duty(elsewhere, DutyKind.FIRST_VISIT, w.chef, days(-3))
    _duty(elsewhere, DutyKind.NOTIFY_ENDED, w.chef, days(300))


def _world(app) -> World:  # type: ignore[no-untyped-def]
    operator = make_operator()
    samordnare, ersattare, upphandlare, owner = (make_user(app, operator) for _ in range(4))
    chef = make_user(app, operator, roles=[(Role.CHEF, operator)])
    unit = make_unit(operator, "Kulturnämnden")
    other = make_unit(operator, "Miljönämnden")  # never assessed: a finding for the chef
    _grant(samordnare, Role.SAMORDNARE, unit)
    _grant(ersattare, Role.ERSATTARE, unit)
    _grant(upphandlare, Role.UPPHANDLARE, unit)
    _grant(upphandlare, Role.UPPHANDLARE, other)
    w = World(samordnare, ersattare, chef, upphandlare, owner, unit)
    db.add(
        ApplicabilityAssessment(
            unit_id=unit.id,
            outcome=Applicability.YES,
            decided_on=days(-900),
            decided_by="Nämnden",
            attested=True,
            recorded_by_id=samordnare.id,
        )
    )
    db.add(
        Appointment(
            unit_id=unit.id,
            user_id=samordnare.id,
            role=AppointmentRole.SAMORDNARE,
            starts_on=days(-800),
            recorded_by_id=samordnare.id,
        )
    )  # no ersättare appointed: a finding since the assessment
    plan = SecurityAnalysis(
        unit_id=unit.id,
        cycle_year=TODAY.year - 1,
        title="Analys",
        status=AnalysisStatus.APPROVED,
        created_by_id=samordnare.id,
        decided_at=moment(-300),
    )
    db.add(plan)
    db.add(
        SecurityAnalysis(
            unit_id=unit.id,
            cycle_year=TODAY.year,
            title="Ny analys",
            status=AnalysisStatus.SUBMITTED,
            created_by_id=samordnare.id,
            submitted_at=moment(-5),
        )
    )
    db.flush()
    for offset in (-40, -3, 0, 10, 30, 31, 45, 200, 400, 900, 1500):
        db.add(
            Measure(
                analysis_id=plan.id,
                unit_id=unit.id,
                area=MeasureArea.PHYSICAL,
                title=f"Åtgärd {offset}",
                responsible_function="Fastighetschef",
                due_on=days(offset),
                status=MeasureStatus.IN_PROGRESS if offset % 2 else MeasureStatus.PLANNED,
                attested=True,
            )
        )
    db.add(
        Measure(
            analysis_id=plan.id,
            unit_id=unit.id,
            area=MeasureArea.PHYSICAL,
            title="Klar",
            responsible_function="Fastighetschef",
            due_on=days(500),
            status=MeasureStatus.DONE,
            attested=True,
        )
    )
    db.add(
        RevisionTrigger(
            unit_id=unit.id,
            kind=RevisionTriggerKind.NEW_SYSTEM,
            occurred_on=days(-5),
            recorded_by_id=samordnare.id,
            attested=True,
        )
    )
    _vetting(unit, samordnare, ersattare)
    _procurements(unit, other, w)
    for offset, holder in ((-30, samordnare), (-3, samordnare), (0, samordnare), (-1, owner), (0, chef)):
        holder_notice(unit, samordnare, holder, moment(offset))
    db.commit()
    return w


def _statements(app, call, *loaded: User) -> tuple[object, int]:  # type: ignore[no-untyped-def]
    """What `call` returns, and how many statements it ran (the users it reads loaded first:
    a rollback expires them)."""
    for user in loaded:
        assert user.username
    with count_statements(app) as statements:
        result = call()
    db.rollback()
    return result, len([s for s in statements if not s.startswith("BEGIN")])


def _due_by(items: list[DueItem], horizon: dt.date) -> list[DueItem]:
    return [item for item in items if item.due_on is None or item.due_on <= horizon]


def test_the_list_up_to_a_horizon_is_the_whole_lists_items_due_by_it(app) -> None:  # type: ignore[no-untyped-def]
    w = _world(app)
    for user in w.users():
        full, statements = _statements(
            app, lambda user=user: due_items_for_user(user, TODAY, rules=RULES), user
        )
        assert statements <= 7
        kinds = {item.kind for item in full}
        for offset in OFFSETS:
            horizon = days(offset)
            expected = _due_by(full, horizon)
            items, within = _statements(
                app,
                lambda user=user, h=horizon: due_items_for_user(user, TODAY, rules=RULES, horizon=h),
                user,
            )
            assert items == expected, (user.username, offset)
            listed, counted = _statements(
                app, lambda user=user, h=horizon: due_list_for_user(user, TODAY, h, rules=RULES), user
            )
            assert listed.items == expected, (user.username, offset)
            assert listed.later == len(full) - len(expected), (user.username, offset, kinds)
            # The horizon and the count cost no statement of their own.
            assert within == counted == statements, (user.username, offset)

    # The world spreads every kind of dated item over the horizons (so the above covers them).
    every = [item for user in w.users() for item in due_items_for_user(user, TODAY, rules=RULES)]
    spread = {(item.kind, item.due_on <= days(30), item.due_on > days(30)) for item in every}
    for kind in (
        ItemKind.MEASURE_DUE,
        ItemKind.PROCUREMENT_DUTY,
        ItemKind.FOLLOW_UP_ACTION,
        ItemKind.SUPPLIER_FOLLOW_UP,
        ItemKind.PROCUREMENT_CONFIRM,
        ItemKind.VETTING_RECHECK,
        ItemKind.VETTING_DEREGISTRATION,
        ItemKind.VETTING_CONFIRM,
    ):
        assert (kind, True, False) in spread and (kind, False, True) in spread, kind
    assert {item.kind for item in every} >= {
        ItemKind.COORDINATOR_MISSING,
        ItemKind.APPLICABILITY_MISSING,
        ItemKind.ANALYSIS_DUE,
        ItemKind.ANALYSIS_REVIEW,
        ItemKind.NOTICE_UNACKNOWLEDGED,
        ItemKind.FOLLOWUP_DUE,
    }


def test_the_later_count_and_the_horizon_day_by_day_and_over_leap_days(app) -> None:  # type: ignore[no-untyped-def]
    """Every day around the boundaries, and omkontroller across 29 February (add_years moves
    it to the 28th: the count in SQL must agree with the rules)."""
    w = _world(app)
    user = w.samordnare.user
    full = due_items_for_user(user, TODAY, rules=RULES)
    horizons = [days(offset) for offset in range(-45, 70)] + list(LEAP_HORIZONS)
    for horizon in horizons:
        listed = due_list_for_user(user, TODAY, horizon, rules=RULES)
        expected = _due_by(full, horizon)
        assert listed.items == expected, horizon
        assert listed.later == len(full) - len(expected), horizon
    leap = {item.params["checked_on"] for item in full if item.kind == ItemKind.VETTING_RECHECK}
    assert {day.isoformat() for day in LEAP_CHECKS} <= leap


def test_vetting_items_overdue_only_and_up_to_a_horizon(app) -> None:  # type: ignore[no-untyped-def]
    w = _world(app)

    def key(item: DueItem) -> tuple[str, str]:
        return item.kind.value, str(item.subject_id)

    scope = coordinated_unit_ids(w.samordnare.id)
    for user_id in (None, w.samordnare.id, w.ersattare.id):
        full = sorted(vetting_items(scope, TODAY, RULES, user_id=user_id), key=key)
        assert any(item.overdue for item in full) and not all(item.overdue for item in full)
        overdue, statements = _statements(
            app,
            lambda user_id=user_id: vetting_items(scope, TODAY, RULES, user_id=user_id, overdue_only=True),
        )
        assert statements == 1
        assert sorted(overdue, key=key) == [item for item in full if item.overdue]
        for offset in OFFSETS:
            horizon = days(offset)
            within = vetting_items(scope, TODAY, RULES, user_id=user_id, horizon=horizon)
            assert sorted(within, key=key) == _due_by(full, horizon), offset
            both = vetting_items(scope, TODAY, RULES, user_id=user_id, horizon=horizon, overdue_only=True)
            assert sorted(both, key=key) == [i for i in full if i.overdue and i.due_on <= horizon], offset


@pytest.mark.parametrize(
    "due",
    [
        lambda day: add_years(day, 5),
        lambda day: add_years(day, 1),
        lambda day: add_months(day, 1),
        lambda day: add_months(day, 6),
        lambda day: add_months(day, 24),
        lambda day: day + dt.timedelta(days=14),
    ],
)
def test_latest_start_due_by_is_the_last_start_due_in_time(due) -> None:  # type: ignore[no-untyped-def]
    day = dt.date(2027, 1, 1)
    while day < dt.date(2030, 1, 1):
        start = _latest_start_due_by(day, due)
        assert due(start) <= day < due(start + dt.timedelta(days=1)), day
        day += dt.timedelta(days=1)
