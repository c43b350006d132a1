"""The chef's consolidated figures: correct counts against known data, the rules of deadlines.py
for due dates, and a constant number of SQL statements whatever the number of units and rows.

The world builders here are shared by test_oversight_pages.py and test_citywide.py."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from factories import Person, count_statements, make_operator, make_unit, make_user
from flask import Flask

from sakskydd.accounts.models import Role
from sakskydd.analyses.models import AnalysisStatus, Measure, MeasureArea, MeasureStatus, SecurityAnalysis
from sakskydd.assets.models import AssetRevision, AssetType, HolderNotice, ProtectedAsset
from sakskydd.classification import DamageLevel
from sakskydd.deadlines import local_today
from sakskydd.extensions import db
from sakskydd.organisations.models import (
    Applicability,
    ApplicabilityAssessment,
    Appointment,
    AppointmentRole,
    Operator,
    OperatorKind,
    OrgUnit,
    UnitKind,
)
from sakskydd.oversight.figures import operator_figures, yearly_series
from sakskydd.procurements.models import (
    DutyStatus,
    Procurement,
    ProcurementDuty,
    ProcurementKind,
    ProcurementStatus,
)
from sakskydd.procurements.rules import DutyKind, Outcome
from sakskydd.vetting.models import CaseStatus, Position, VettingCase
from sakskydd.vetting.rules import SecurityClass

pytestmark = pytest.mark.db

TODAY = local_today()


def days(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


def moment(n_days: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(days=n_days)


def assess(
    unit: OrgUnit, by: Person, outcome: Applicability = Applicability.YES, on: dt.date | None = None
) -> None:
    db.add(
        ApplicabilityAssessment(
            unit_id=unit.id,
            outcome=outcome,
            decided_on=on or days(-400),
            decided_by="Nämnden",
            attested=True,
            recorded_by_id=by.id,
        )
    )


def appoint(unit: OrgUnit, person: Person, role: AppointmentRole) -> None:
    db.add(
        Appointment(
            unit_id=unit.id, user_id=person.id, role=role, starts_on=days(-300), recorded_by_id=person.id
        )
    )


def analysis(
    unit: OrgUnit,
    author: Person,
    status: AnalysisStatus,
    *,
    decided_days_ago: int | None = None,
    year: int = 0,
) -> SecurityAnalysis:
    row = SecurityAnalysis(
        id=uuid.uuid4(),
        unit_id=unit.id,
        cycle_year=year or TODAY.year,
        title=f"Analys {unit.name}",
        status=status,
        created_by_id=author.id,
        decided_at=moment(-decided_days_ago) if decided_days_ago is not None else None,
        submitted_at=moment(-5) if status == AnalysisStatus.SUBMITTED else None,
    )
    db.add(row)
    db.flush()
    return row


def measure(row: SecurityAnalysis, due_on: dt.date, status: MeasureStatus = MeasureStatus.PLANNED) -> None:
    db.add(
        Measure(
            id=uuid.uuid4(),
            analysis_id=row.id,
            unit_id=row.unit_id,
            area=MeasureArea.PHYSICAL,
            title="Åtgärd",
            responsible_function="Fastighetschef",
            due_on=due_on,
            status=status,
            attested=True,
        )
    )


def asset(unit: OrgUnit, author: Person, level: DamageLevel, kind: AssetType) -> ProtectedAsset:
    row = ProtectedAsset(
        id=uuid.uuid4(),
        unit_id=unit.id,
        type=kind,
        name="Skyddsvärde",
        damage_level=level,
        owner="IT-chef",
        created_by_id=author.id,
    )
    db.add(row)
    db.flush()
    return row


def notice(row: ProtectedAsset, holder: Person, sent_days_ago: int) -> None:
    revision = AssetRevision(asset_id=row.id, unit_id=row.unit_id, actor_id=holder.id, changes={})
    db.add(revision)
    db.flush()
    db.add(
        HolderNotice(
            asset_id=row.id,
            unit_id=row.unit_id,
            revision_id=revision.id,
            user_id=holder.id,
            created_at=moment(-sent_days_ago),
        )
    )


def procurement(
    unit: OrgUnit, author: Person, outcome: Outcome | None, status: ProcurementStatus
) -> Procurement:
    row = Procurement(
        id=uuid.uuid4(),
        unit_id=unit.id,
        kind=ProcurementKind.PROCUREMENT,
        title="Upphandling",
        registry_number="Dnr 1",
        responsible_id=author.id,
        procedure_starts_on=TODAY,
        status=status,
        outcome=outcome,
        created_by_id=author.id,
    )
    db.add(row)
    db.flush()
    return row


def duty(row: Procurement, author: Person, due_on: dt.date, kind: DutyKind = DutyKind.ASSESSMENT) -> None:
    db.add(
        ProcurementDuty(
            procurement_id=row.id,
            unit_id=row.unit_id,
            kind=kind,
            position=0,
            owner_id=author.id,
            due_on=due_on,
            status=DutyStatus.OPEN,
        )
    )


def vetting_case(
    unit: OrgUnit, author: Person, klass: SecurityClass, status: CaseStatus, **values: object
) -> None:
    position = Position(
        unit_id=unit.id,
        title="Befattning",
        security_class=klass,
        decided_on=days(-100),
        decided_by="Kommunstyrelsen",
        reference="KS 1",
        created_by_id=author.id,
    )
    db.add(position)
    db.flush()
    db.add(
        VettingCase(
            id=uuid.uuid4(),
            unit_id=unit.id,
            position_id=position.id,
            security_class=klass,
            status=status,
            created_by_id=author.id,
            **values,
        )
    )


def full_unit(operator: Operator, author: Person, name: str | None = None) -> OrgUnit:
    """A covered unit with everything the picture counts, with known numbers:
    samordnare (no ersättare); last year's approved analysis (200 days ago) with 3 measures
    (1 done, 1 overdue, 1 coming) and this year's submitted one; 3 assets (2 allvarlig
    informationssystem, 1 ringa lokal, + 1 archived not counted); 2 procurements (SUA 2
    bekräftad with an overdue duty, one new); 2 vetting cases (klass 2 godkänd with an omkontroll
    long overdue, klass 3 pågående); 2 unacknowledged notices (one past its reminder day)."""
    unit = make_unit(operator, name, kind=UnitKind.STADSDELSNAMND)
    assess(unit, author)
    appoint(unit, author, AppointmentRole.SAMORDNARE)
    approved = analysis(unit, author, AnalysisStatus.APPROVED, decided_days_ago=200, year=TODAY.year - 1)
    measure(approved, days(-30), MeasureStatus.DONE)
    measure(approved, days(-3))
    measure(approved, days(40))
    analysis(unit, author, AnalysisStatus.SUBMITTED)
    system = asset(unit, author, DamageLevel.SERIOUS, AssetType.SYSTEM)
    asset(unit, author, DamageLevel.SERIOUS, AssetType.SYSTEM)
    premises = asset(unit, author, DamageLevel.MINOR, AssetType.PREMISES)
    asset(unit, author, DamageLevel.MINOR, AssetType.PREMISES).is_archived = True
    notice(system, author, 30)
    notice(premises, author, 1)
    confirmed = procurement(unit, author, Outcome.SUA_2, ProcurementStatus.CONFIRMED)
    duty(confirmed, author, days(-2))
    duty(confirmed, author, days(10), DutyKind.SUITABILITY)
    procurement(unit, author, None, ProcurementStatus.NEW)
    vetting_case(
        unit,
        author,
        SecurityClass.CLASS_2,
        CaseStatus.APPROVED,
        checked_on=days(-6 * 366),
        decided_on=days(-6 * 366),
    )
    vetting_case(unit, author, SecurityClass.CLASS_3, CaseStatus.IN_PROGRESS)
    db.flush()
    return unit


class World:
    """The city (kommun) with two units and a bolag operator with one; a foreign kommun."""

    def __init__(self, app: Flask) -> None:
        self.city = make_operator("Staden")
        self.bolag = make_operator("Stadens Bostads AB", kind=OperatorKind.BOLAG, parent=self.city)
        self.foreign = make_operator("Grannkommunen")
        self.helper = make_user(app, self.city)
        self.full = full_unit(self.city, self.helper, "Norrmalms stadsdelsnämnd")
        self.empty = make_unit(self.city, "Kulturnämnden", kind=UnitKind.FACKNAMND)
        assess(self.empty, self.helper, Applicability.NO)
        self.bolag_unit = make_unit(self.bolag, "Bostadsbolaget", kind=UnitKind.BOLAG)
        self.foreign_unit = full_unit(self.foreign, self.helper, "Grannens nämnd")
        db.commit()
        self.chef = make_user(app, self.city, roles=[(Role.CHEF, self.city)], clearance=2)
        self.bolag_chef = make_user(app, self.bolag, roles=[(Role.CHEF, self.bolag)])
        self.foreign_chef = make_user(app, self.foreign, roles=[(Role.CHEF, self.foreign)])
        self.samordnare = make_user(app, self.city, roles=[(Role.SAMORDNARE, self.full)])
        self.upphandlare = make_user(app, self.city, roles=[(Role.UPPHANDLARE, self.full)])
        self.revisor = make_user(app, self.city, roles=[(Role.REVISOR, self.city)])
        self.admin = make_user(app, self.city, roles=[(Role.ADMIN, self.city)])
        db.close()


@pytest.fixture
def world(app: Flask) -> World:
    return World(app)


def _settings(app: Flask):  # type: ignore[no-untyped-def]
    return app.config["SAKSKYDD_SETTINGS"]


def test_figures_count_known_data_per_unit(app: Flask, world: World) -> None:
    figures = operator_figures(db, [world.city.id], TODAY, _settings(app))
    by_name = {u.name: u for u in figures.units}
    assert set(by_name) == {"Norrmalms stadsdelsnämnd", "Kulturnämnden"}  # not the bolag, not the neighbour
    full = by_name["Norrmalms stadsdelsnämnd"]
    assert (full.applicability, full.has_samordnare, full.has_ersattare) == ("ja", True, False)
    assert (full.analysis_status, full.analysis_cycle) == ("inskickad", TODAY.year)
    # deadlines.analysis_due: the approval 200 days ago + 12 months.
    assert full.analysis_due_on is not None and not full.analysis_overdue and full.has_current_analysis
    assert (full.measures_total, full.measures_done, full.measures_overdue) == (3, 1, 1)
    assert full.assets_by_level == {"allvarlig": 2, "ringa": 1}
    assert full.assets_by_type == {"informationssystem": 2, "lokal": 1}
    assert full.procurements_by_outcome == {"sua_2": 1, "ej_bekraftad": 1}
    assert full.procurements_by_status == {"bekraftad": 1, "ny": 1}
    assert full.vetting_by_class == {"klass_2": 1, "klass_3": 1}
    assert full.vetting_by_status == {"godkand": 1, "pagaende": 1}
    assert (full.overdue_duties, full.overdue_vetting) == (1, 1)
    assert (full.unacknowledged_notices, full.overdue_notices) == (2, 1)
    assert full.overdue_count == 1 + 1 + 1 + 1  # measure, duty, omkontroll, notice
    empty = by_name["Kulturnämnden"]
    assert empty.applicability == "nej" and empty.analysis_due_on is None and empty.overdue_count == 0
    assert empty.assets_by_level == {} and empty.analysis_status is None


def test_totals_and_snapshot_are_counts_only(app: Flask, world: World) -> None:
    figures = operator_figures(db, [world.city.id, world.bolag.id], TODAY, _settings(app))
    totals = figures.totals
    assert (totals["units"], totals["assessed"], totals["covered"], totals["current_analysis"]) == (
        3,
        2,
        1,
        1,
    )
    assert totals["assets"] == 3 and totals["assets_by_level"] == {"allvarlig": 2, "ringa": 1}
    assert totals["units_with_overdue"] == 1
    snapshot = figures.as_snapshot()
    text = json.dumps(snapshot)  # JSON-safe
    assert "Skyddsvärde" not in text and "Befattning" not in text and "Upphandling" not in text
    assert str(world.full.id) not in text
    assert snapshot["operators"] == ["Staden", "Stadens Bostads AB"]
    assert [u["name"] for u in snapshot["units"]] == [
        "Kulturnämnden",
        "Norrmalms stadsdelsnämnd",
        "Bostadsbolaget",
    ]


def test_an_overdue_analysis_follows_the_deadline_rules(app: Flask, world: World) -> None:
    unit = make_unit(world.city, "Sen nämnd")
    assess(unit, world.helper, on=days(-200))  # covered 200 days ago, never approved: first + 3 months
    db.commit()
    figures = operator_figures(db, [world.city.id], TODAY, _settings(app))
    late = next(u for u in figures.units if u.name == "Sen nämnd")
    assert late.analysis_due_reason == "first" and late.analysis_overdue and not late.has_current_analysis


def test_yearly_series_reconstructs_coverage(app: Flask, world: World) -> None:
    figures = operator_figures(db, [world.city.id], TODAY, _settings(app))
    years = yearly_series(db, figures, _settings(app))
    assert years[-1].year == TODAY.year and years[-1].on == TODAY
    now = years[-1]
    assert (now.units, now.assessed, now.covered, now.current_analysis, now.analysis_overdue) == (
        2,
        2,
        1,
        1,
        0,
    )
    # Both assessments were decided 400 days ago: before that, nothing was assessed.
    before = [y for y in years if y.on < days(-400)]
    assert all(y.assessed == 0 for y in before)


def _grow(app: Flask, world: World, size: int) -> None:
    for _ in range(size):
        full_unit(world.city, world.helper)
    db.commit()


def test_statement_count_does_not_grow_with_units_or_rows(app: Flask, world: World) -> None:
    counts = []
    for size in (1, 6):
        _grow(app, world, size)
        with count_statements(app) as statements:
            figures = operator_figures(db, [world.city.id], TODAY, _settings(app))
            yearly_series(db, figures, _settings(app))
        db.rollback()
        assert figures.totals["assets"] >= 3 * size
        counts.append(len([s for s in statements if not s.startswith("BEGIN")]))
    assert counts[0] == counts[1] <= 11, counts


def test_no_units_no_statements_beyond_the_first(app: Flask, world: World) -> None:
    lonely = make_operator("Tom kommun")
    db.commit()
    with count_statements(app) as statements:
        figures = operator_figures(db, [lonely.id], TODAY, _settings(app))
    db.rollback()
    assert figures.units == [] and figures.totals["units"] == 0
    assert len([s for s in statements if not s.startswith("BEGIN")]) == 1
    assert yearly_series(db, figures, _settings(app)) == []
