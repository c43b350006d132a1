"""The chef's consolidated picture: per unit and in total, counts and deadlines only.

Aggregation awareness (DOMAIN.md): the figures are counts per unit, never lists of what is
protected where; no asset, procurement or person is named here. Everything is gathered in a
fixed number of SQL statements (GROUP BY over the scope of units, whatever their number), and
the due dates come from the rules in deadlines.py.
"""

from __future__ import annotations

import datetime as dt
import uuid
from bisect import bisect_right
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final, TypeVar

from sqlalchemy import Date, Integer, Select, String, and_, case, cast, func, literal, null, select, union_all
from sqlalchemy.orm import aliased

from sakskydd.analyses.models import AnalysisStatus, Measure, MeasureStatus, SecurityAnalysis
from sakskydd.assets.models import AssetCount, HolderNotice
from sakskydd.deadlines import (
    Rules,
    TriggerFacts,
    UnitFacts,
    analysis_due,
    as_member,
    as_utc,
    local_date,
    vetting_items,
)
from sakskydd.organisations.models import (
    Applicability,
    ApplicabilityAssessment,
    AppointmentRole,
    Operator,
    OrgUnit,
    RevisionTrigger,
)
from sakskydd.organisations.rules import LOCAL_TIMEZONE
from sakskydd.organisations.services import current_outcome_column, has_current_appointment_column
from sakskydd.procurements.models import DutyStatus, Procurement, ProcurementDuty, ProcurementStatus
from sakskydd.vetting.models import VettingCase

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from sakskydd.config import Settings

SNAPSHOT_FORMAT: Final = 1
# A procurement whose outcome the samordnare has not confirmed yet.
UNCONFIRMED: Final = "ej_bekraftad"
RUNNING_PROCUREMENTS: Final = (
    ProcurementStatus.TRIAGED,
    ProcurementStatus.CONFIRMED,
    ProcurementStatus.STOPPED,
)
# The per-year series go back at most this many years.
MAX_YEARS: Final = 15
_Row = TypeVar("_Row", bound=tuple[Any, ...])


@dataclass
class UnitFigures:
    """One unit's line of the picture."""

    unit_id: uuid.UUID
    name: str
    kind: str
    operator_id: uuid.UUID
    operator_name: str
    created_on: dt.date
    applicability: str | None = None
    has_samordnare: bool = False
    has_ersattare: bool = False
    analysis_id: uuid.UUID | None = None  # the latest analysis (any status)
    analysis_status: str | None = None
    analysis_cycle: int | None = None
    analysis_due_on: dt.date | None = None  # deadlines.analysis_due
    analysis_due_reason: str | None = None
    analysis_overdue: bool = False
    has_current_analysis: bool = False  # fastställd and not overdue
    measures_total: int = 0  # the plan in force: the latest fastställd analysis' measures
    measures_done: int = 0
    measures_overdue: int = 0
    assets_by_level: Counter[str] = field(default_factory=Counter)
    assets_by_type: Counter[str] = field(default_factory=Counter)
    procurements_by_outcome: Counter[str] = field(default_factory=Counter)
    procurements_by_status: Counter[str] = field(default_factory=Counter)
    vetting_by_class: Counter[str] = field(default_factory=Counter)
    vetting_by_status: Counter[str] = field(default_factory=Counter)
    overdue_duties: int = 0  # open procurement duties past their deadline
    overdue_vetting: int = 0  # omkontroll, avanmälan or confirmation past its deadline
    unacknowledged_notices: int = 0
    overdue_notices: int = 0

    @property
    def is_assessed(self) -> bool:
        return self.applicability is not None

    @property
    def is_covered(self) -> bool:
        return self.applicability == Applicability.YES

    @property
    def overdue_count(self) -> int:
        """Everything past its deadline in the unit: the analysis, measures, duties, vetting, notices."""
        return (
            int(self.analysis_overdue)
            + self.measures_overdue
            + self.overdue_duties
            + self.overdue_vetting
            + self.overdue_notices
        )

    @property
    def assets_total(self) -> int:
        return sum(self.assets_by_level.values())

    @property
    def procurements_total(self) -> int:
        return sum(self.procurements_by_status.values())

    @property
    def vetting_total(self) -> int:
        return sum(self.vetting_by_status.values())

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe: the unit's name and kind and its counts; no id, nothing encrypted."""
        return {
            "name": self.name,
            "operator": self.operator_name,
            "kind": self.kind,
            "applicability": self.applicability,
            "has_samordnare": self.has_samordnare,
            "has_ersattare": self.has_ersattare,
            "analysis_status": self.analysis_status,
            "analysis_cycle": self.analysis_cycle,
            "analysis_due_on": self.analysis_due_on.isoformat() if self.analysis_due_on else None,
            "analysis_overdue": self.analysis_overdue,
            "has_current_analysis": self.has_current_analysis,
            "measures_total": self.measures_total,
            "measures_done": self.measures_done,
            "measures_overdue": self.measures_overdue,
            "assets_by_level": dict(self.assets_by_level),
            "assets_by_type": dict(self.assets_by_type),
            "procurements_by_outcome": dict(self.procurements_by_outcome),
            "procurements_by_status": dict(self.procurements_by_status),
            "vetting_by_class": dict(self.vetting_by_class),
            "vetting_by_status": dict(self.vetting_by_status),
            "overdue_duties": self.overdue_duties,
            "overdue_vetting": self.overdue_vetting,
            "unacknowledged_notices": self.unacknowledged_notices,
            "overdue_notices": self.overdue_notices,
            "overdue_count": self.overdue_count,
        }


# The totals' plain counts: name → how a unit contributes.
_TOTAL_COUNTS: Final = {
    "units": lambda u: 1,
    "assessed": lambda u: int(u.is_assessed),
    "covered": lambda u: int(u.is_covered),
    "with_samordnare": lambda u: int(u.has_samordnare),
    "with_ersattare": lambda u: int(u.has_ersattare),
    "current_analysis": lambda u: int(u.has_current_analysis),
    "analysis_overdue": lambda u: int(u.analysis_overdue),
    "measures_total": lambda u: u.measures_total,
    "measures_done": lambda u: u.measures_done,
    "measures_overdue": lambda u: u.measures_overdue,
    "assets": lambda u: u.assets_total,
    "procurements": lambda u: u.procurements_total,
    "vetting_cases": lambda u: u.vetting_total,
    "overdue_duties": lambda u: u.overdue_duties,
    "overdue_vetting": lambda u: u.overdue_vetting,
    "unacknowledged_notices": lambda u: u.unacknowledged_notices,
    "overdue_notices": lambda u: u.overdue_notices,
    "units_with_overdue": lambda u: int(u.overdue_count > 0),
}
_TOTAL_COUNTERS: Final = (
    "assets_by_level",
    "assets_by_type",
    "procurements_by_outcome",
    "procurements_by_status",
    "vetting_by_class",
    "vetting_by_status",
)


def totals_of(units: Iterable[UnitFigures]) -> dict[str, Any]:
    """The sums over `units`: plain counts and the summed breakdowns (dicts of counts)."""
    units = list(units)
    totals: dict[str, Any] = {name: sum(count(u) for u in units) for name, count in _TOTAL_COUNTS.items()}
    for name in _TOTAL_COUNTERS:
        summed: Counter[str] = Counter()
        for unit in units:
            summed.update(getattr(unit, name))
        totals[name] = dict(summed)
    return totals


@dataclass
class Figures:
    """The picture of a set of operators on a day."""

    today: dt.date
    operators: list[tuple[uuid.UUID, str]]
    units: list[UnitFigures]

    @property
    def totals(self) -> dict[str, Any]:
        return totals_of(self.units)

    def for_operator(self, operator_id: uuid.UUID) -> list[UnitFigures]:
        return [u for u in self.units if u.operator_id == operator_id]

    def as_snapshot(self) -> dict[str, Any]:
        """JSON-safe, counts only (unit names allowed), nothing encrypted: what a city-wide
        analysis keeps and freezes at adoption."""
        return {
            "format": SNAPSHOT_FORMAT,
            "compiled_on": self.today.isoformat(),
            "operators": [name for _, name in self.operators],
            "totals": self.totals,
            "units": [unit.as_dict() for unit in self.units],
        }


# --- gathering -----------------------------------------------------------------------------------


def _unit_scope(operator_ids: Collection[uuid.UUID]) -> Select[Any]:
    return select(OrgUnit.id).where(OrgUnit.operator_id.in_(operator_ids), OrgUnit.is_active.is_(True))


def _latest_analysis(column: Any) -> Any:
    """A column of the unit's latest analysis (by cycle and version), correlated to OrgUnit."""
    latest = aliased(SecurityAnalysis)
    return (
        select(column(latest))
        .where(latest.unit_id == OrgUnit.id)
        .order_by(latest.cycle_year.desc(), latest.version_no.desc(), latest.created_at.desc())
        .limit(1)
        .correlate(OrgUnit)
        .scalar_subquery()
    )


def _unit_rows(session: Session, operator_ids: Collection[uuid.UUID], today: dt.date) -> list[Any]:
    assessed_on = (
        select(ApplicabilityAssessment.decided_on)
        .where(ApplicabilityAssessment.unit_id == OrgUnit.id, ApplicabilityAssessment.decided_on <= today)
        .order_by(ApplicabilityAssessment.decided_on.desc(), ApplicabilityAssessment.created_at.desc())
        .limit(1)
        .correlate(OrgUnit)
        .scalar_subquery()
    )
    approved = aliased(SecurityAnalysis)
    last_approved = (
        select(func.max(approved.decided_at))
        .where(approved.unit_id == OrgUnit.id, approved.status == AnalysisStatus.APPROVED)
        .correlate(OrgUnit)
        .scalar_subquery()
    )
    return list(
        session.execute(
            select(
                OrgUnit.id,
                OrgUnit.name,
                OrgUnit.kind,
                OrgUnit.created_at,
                Operator.id.label("operator_id"),
                Operator.name.label("operator_name"),
                current_outcome_column(today).label("outcome"),
                assessed_on.label("assessed_on"),
                last_approved.label("last_approved_at"),
                has_current_appointment_column(AppointmentRole.SAMORDNARE, today).label("has_samordnare"),
                has_current_appointment_column(AppointmentRole.ERSATTARE, today).label("has_ersattare"),
                _latest_analysis(lambda a: a.id).label("analysis_id"),
                _latest_analysis(lambda a: a.status).label("analysis_status"),
                _latest_analysis(lambda a: a.cycle_year).label("analysis_cycle"),
            )
            .join(Operator, Operator.id == OrgUnit.operator_id)
            .where(OrgUnit.operator_id.in_(operator_ids), OrgUnit.is_active.is_(True))
            .order_by(Operator.name, OrgUnit.name)
        )
    )


def _open_triggers(session: Session, scope: Select[Any]) -> dict[uuid.UUID, list[TriggerFacts]]:
    triggers: dict[uuid.UUID, list[TriggerFacts]] = {}
    for row in session.execute(
        select(
            RevisionTrigger.unit_id,
            RevisionTrigger.kind,
            RevisionTrigger.occurred_on,
            RevisionTrigger.created_at,
        ).where(RevisionTrigger.unit_id.in_(scope), RevisionTrigger.handled_by_analysis_id.is_(None))
    ):
        triggers.setdefault(row.unit_id, []).append(
            TriggerFacts(row.occurred_on, as_utc(row.created_at), str(getattr(row.kind, "value", row.kind)))
        )
    return triggers


def _unit_figures(row: Any, triggers: list[TriggerFacts], today: dt.date, rules: Rules) -> UnitFigures:
    outcome = as_member(Applicability, row.outcome)
    facts = UnitFacts(
        unit_id=row.id,
        name=row.name,
        created_on=local_date(row.created_at),
        applicability=outcome,
        assessed_on=row.assessed_on,
        last_approved_at=as_utc(row.last_approved_at),
        triggers=tuple(triggers),
    )
    due = analysis_due(facts, rules.analysis_interval_months)
    overdue = due is not None and due[0] < today
    return UnitFigures(
        unit_id=row.id,
        name=row.name,
        kind=_value(row.kind),
        operator_id=row.operator_id,
        operator_name=row.operator_name,
        created_on=facts.created_on,
        applicability=outcome.value if outcome else None,
        has_samordnare=bool(row.has_samordnare),
        has_ersattare=bool(row.has_ersattare),
        analysis_id=row.analysis_id,
        analysis_status=as_member(AnalysisStatus, row.analysis_status).value if row.analysis_status else None,
        analysis_cycle=row.analysis_cycle,
        analysis_due_on=due[0] if due else None,
        analysis_due_reason=due[1] if due else None,
        analysis_overdue=overdue,
        has_current_analysis=outcome == Applicability.YES
        and facts.last_approved_at is not None
        and not overdue,
    )


def _value(value: Any) -> str:
    """An enum read through a query or subquery: its value (SQLite may give the stored name)."""
    return str(getattr(value, "value", value))


def _add_plan(
    session: Session, scope: Select[Any], today: dt.date, units: dict[uuid.UUID, UnitFigures]
) -> None:
    """The plan in force: the measures of each unit's latest fastställd analysis."""
    # Each unit's latest fastställd analysis, once per unit (not once per analysis row).
    latest = (
        select(
            SecurityAnalysis.unit_id.label("unit_id"),
            func.max(SecurityAnalysis.decided_at).label("decided_at"),
        )
        .where(SecurityAnalysis.unit_id.in_(scope), SecurityAnalysis.status == AnalysisStatus.APPROVED)
        .group_by(SecurityAnalysis.unit_id)
        .subquery()
    )
    is_open = Measure.status.in_((MeasureStatus.PLANNED, MeasureStatus.IN_PROGRESS))
    for row in session.execute(
        select(
            Measure.unit_id,
            func.count(),
            func.sum(case((Measure.status == MeasureStatus.DONE, 1), else_=0)),
            func.sum(case((and_(is_open, Measure.due_on < today), 1), else_=0)),
        )
        .join(SecurityAnalysis, SecurityAnalysis.id == Measure.analysis_id)
        .join(
            latest,
            and_(
                latest.c.unit_id == SecurityAnalysis.unit_id,
                latest.c.decided_at == SecurityAnalysis.decided_at,
            ),
        )
        .where(Measure.unit_id.in_(scope), SecurityAnalysis.status == AnalysisStatus.APPROVED)
        .group_by(Measure.unit_id)
    ):
        unit = units.get(row[0])
        if unit is not None:
            unit.measures_total, unit.measures_done, unit.measures_overdue = row[1], row[2] or 0, row[3] or 0


def _add_counts(
    session: Session, scope: Select[Any], today: dt.date, rules: Rules, units: dict[uuid.UUID, UnitFigures]
) -> None:
    """Every grouped count of the picture in one statement (UNION ALL): assets by level and by
    type, procurements by outcome and status, vetting cases by class and status, overdue
    procurement duties, and unacknowledged holder notices with those past their reminder day.

    The assets are not counted here: their counts are kept per unit, level and type
    (assets/counts.py), and only the two sums the picture shows are read, by level and by type
    (units x (5 + 7) rows at most, where the joint counts are units x 35). Procurements and
    vetting cases are grouped by both their columns in one pass over each table."""
    total = func.sum(AssetCount.total)
    # A notice is overdue once its reminder day has passed (deadlines.notice_item), i.e. when it
    # was sent before the local midnight starting `today - notice_reminder_days`.
    cutoff = dt.datetime.combine(
        today - dt.timedelta(days=rules.notice_reminder_days), dt.time(0), tzinfo=LOCAL_TIMEZONE
    ).astimezone(dt.UTC)
    parts = [
        _grouped("level", total, scope, AssetCount.damage_level),
        _grouped("type", total, scope, AssetCount.type),
        _grouped("procurements", func.count(), scope, Procurement.outcome, Procurement.status),
        _grouped("vetting", func.count(), scope, VettingCase.security_class, VettingCase.status),
        _grouped("duties", func.count(), scope, model=ProcurementDuty)
        .join(Procurement, Procurement.id == ProcurementDuty.procurement_id)
        .where(
            Procurement.status.in_(RUNNING_PROCUREMENTS),
            ProcurementDuty.status == DutyStatus.OPEN,
            ProcurementDuty.due_on < today,
        ),
        _grouped(
            "notices",
            func.count(),
            scope,
            model=HolderNotice,
            late=func.sum(case((HolderNotice.created_at < cutoff, 1), else_=0)),
        ).where(HolderNotice.acknowledged_at.is_(None)),
    ]
    # Which counters each part fills, from its first and second column: (attribute, the column
    # enum's stored names to values, the key of a NULL).
    fills = {
        "level": (("assets_by_level", _names(AssetCount.damage_level), ""),),
        "type": (("assets_by_type", _names(AssetCount.type), ""),),
        "procurements": (
            ("procurements_by_outcome", _names(Procurement.outcome), UNCONFIRMED),
            ("procurements_by_status", _names(Procurement.status), ""),
        ),
        "vetting": (
            ("vetting_by_class", _names(VettingCase.security_class), ""),
            ("vetting_by_status", _names(VettingCase.status), ""),
        ),
    }
    for kind, unit_id, first, second, count, late in session.execute(union_all(*parts)).all():
        unit = units.get(unit_id)
        if unit is None or not count:  # a kept count that went back to zero keeps its row
            continue
        if kind == "duties":
            unit.overdue_duties = count
        elif kind == "notices":
            unit.unacknowledged_notices, unit.overdue_notices = count, late or 0
        else:
            for (attribute, names, missing), stored in zip(fills[kind], (first, second), strict=False):
                getattr(unit, attribute)[names.get(stored, stored) if stored is not None else missing] += (
                    count
                )


def _grouped(
    kind: str,
    number: Any,
    scope: Select[Any],
    first: Any = None,
    second: Any = None,
    *,
    model: Any = None,
    late: Any = None,
) -> Select[Any]:
    """One part of _add_counts: `number` per unit (and `first`, and `second`), the enums as
    stored (their names: the parts' enum types differ, so each is decoded by _names); `late` is
    a second number, for the notices."""
    model = model if first is None else first.class_
    columns = [column for column in (first, second) if column is not None]
    return (
        select(
            literal(kind).label("kind"),
            model.unit_id,
            *(
                cast(column, String) if column is not None else cast(null(), String)
                for column in (first, second)
            ),
            number.label("n"),
            (late if late is not None else cast(null(), Integer)).label("late"),
        )
        .where(model.unit_id.in_(scope))
        .group_by(model.unit_id, *columns)
    )


def _names(column: Any) -> dict[str, str]:
    """An enum column's stored names and the members' values (what the counters are keyed by)."""
    return {member.name: str(member.value) for member in column.type.enum_class}


def _add_overdue_vetting(
    scope: Select[Any], today: dt.date, rules: Rules, units: dict[uuid.UUID, UnitFigures]
) -> None:
    """Overdue vetting items per unit: the rules (omkontroll, avanmälan) live in deadlines.py,
    in one statement; counted here."""
    for item in vetting_items(scope, today, rules, overdue_only=True):  # only the overdue ones
        if item.unit_id in units:
            units[item.unit_id].overdue_vetting += 1


def operator_figures(
    session: Session, operator_ids: Collection[uuid.UUID], today: dt.date, settings: Settings
) -> Figures:
    """The picture of the active units of `operator_ids` on `today`, in five SQL statements
    whatever the number of units and rows (units, triggers, plan, the grouped counts, vetting
    items; none when there are no units)."""
    rules = Rules.from_settings(settings)
    ids = sorted(set(operator_ids))
    rows = _unit_rows(session, ids, today) if ids else []
    operators = list(dict.fromkeys((row.operator_id, row.operator_name) for row in rows))
    if not rows:
        return Figures(today, operators, [])
    scope = _unit_scope(ids)
    triggers = _open_triggers(session, scope)
    units = {row.id: _unit_figures(row, triggers.get(row.id, []), today, rules) for row in rows}
    _add_plan(session, scope, today, units)
    _add_counts(session, scope, today, rules, units)
    _add_overdue_vetting(scope, today, rules, units)
    return Figures(today, operators, list(units.values()))


# --- over the years ------------------------------------------------------------------------------


@dataclass(frozen=True)
class YearFigures:
    """Coverage and overdue analyses at the end of one year (or today, for the current year)."""

    year: int
    on: dt.date
    units: int
    assessed: int
    covered: int
    current_analysis: int
    analysis_overdue: int


def yearly_series(session: Session, figures: Figures, settings: Settings) -> list[YearFigures]:
    """Per year, reconstructed from the history the data keeps, in one SQL statement.

    What each series means, honestly:
    - `units`: today's active units that existed at the year's end (units deactivated since are
      not in the picture at all; the register keeps no history of unit deactivation here);
    - `assessed` / `covered`: of those, with an applicability assessment decided by the year's end /
      whose latest assessment by then said "ja" (assessments are never changed, so this is exact);
    - `current_analysis`: covered units with a fastställd analysis that was not overdue at the
      year's end by deadlines.analysis_due (approval dates are kept, so this is exact except that
      revision triggers are left out: their handling is not dated);
    - `analysis_overdue`: covered units whose analysis was overdue at the year's end on the same rule.
    The frozen, adopted figures of a year are in that year's city-wide analysis snapshot; this
    series recomputes every year on today's rules (the analysis interval setting) for comparability.
    """
    if not figures.units:
        return []
    rules = Rules.from_settings(settings)
    ids = [u.unit_id for u in figures.units]
    # The assessments and the approvals in one statement (UNION ALL): "a" rows carry an
    # assessment's decided_on, created_at and outcome; "b" rows an approval's decided_at.
    history = union_all(
        select(
            literal("a").label("kind"),
            ApplicabilityAssessment.unit_id,
            ApplicabilityAssessment.decided_on.label("day"),
            ApplicabilityAssessment.created_at.label("at"),
            cast(ApplicabilityAssessment.outcome, String).label("outcome"),
        ).where(ApplicabilityAssessment.unit_id.in_(ids)),
        select(
            literal("b"),
            SecurityAnalysis.unit_id,
            cast(null(), Date),
            SecurityAnalysis.decided_at,
            cast(null(), String),
        ).where(
            SecurityAnalysis.unit_id.in_(ids),
            SecurityAnalysis.status == AnalysisStatus.APPROVED,
            SecurityAnalysis.decided_at.is_not(None),
        ),
    )
    assessments: dict[uuid.UUID, list[tuple[dt.date, dt.datetime, Applicability]]] = {}
    approvals: dict[uuid.UUID, list[tuple[dt.date, dt.datetime]]] = {}
    for kind, unit_id, day, at, outcome in session.execute(history):
        moment = as_utc(at)
        if kind == "a":
            assessments.setdefault(unit_id, []).append((day, moment, as_member(Applicability, outcome)))
        else:
            approvals.setdefault(unit_id, []).append((local_date(moment), moment))  # the date once
    # In time order, so that each year takes the last row up to its end by bisection.
    for rows in (*assessments.values(), *approvals.values()):
        rows.sort(key=lambda row: (row[0], row[1]))
    first = min(
        [u.created_on.year for u in figures.units]
        + [day.year for rows in assessments.values() for day, _, _ in rows]
    )
    first = max(first, figures.today.year - MAX_YEARS + 1)
    return [
        _year(year, figures, assessments, approvals, rules) for year in range(first, figures.today.year + 1)
    ]


def _last_until(rows: list[_Row], on: dt.date) -> _Row | None:
    """The last of `rows` (sorted by their date, first) dated `on` or earlier."""
    index = bisect_right(rows, on, key=itemgetter(0))
    return rows[index - 1] if index else None


def _year(
    year: int,
    figures: Figures,
    assessments: dict[uuid.UUID, list[tuple[dt.date, dt.datetime, Applicability]]],
    approvals: dict[uuid.UUID, list[tuple[dt.date, dt.datetime]]],
    rules: Rules,
) -> YearFigures:
    on = min(dt.date(year, 12, 31), figures.today)
    counts: Counter[str] = Counter()
    for unit in figures.units:
        if unit.created_on > on:
            continue
        counts["units"] += 1
        decided = _last_until(assessments.get(unit.unit_id, []), on)
        if decided is None:
            continue
        counts["assessed"] += 1
        decided_on, _, outcome = decided
        approved = _last_until(approvals.get(unit.unit_id, []), on)
        facts = UnitFacts(
            unit.unit_id,
            unit.name,
            unit.created_on,
            applicability=outcome,
            assessed_on=decided_on,
            last_approved_at=approved[1] if approved else None,
        )
        due = analysis_due(facts, rules.analysis_interval_months)
        if due is None:
            continue
        counts["covered"] += 1
        if due[0] < on:
            counts["analysis_overdue"] += 1
        elif approved is not None:
            counts["current_analysis"] += 1
    return YearFigures(
        year,
        on,
        counts["units"],
        counts["assessed"],
        counts["covered"],
        counts["current_analysis"],
        counts["analysis_overdue"],
    )
