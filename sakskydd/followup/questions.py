"""The built-in questions of the yearly follow-up (seeds/003, Fokusområde 5; DOMAIN.md §5) and what
the registers already say about each of them.

Every built-in question has a stable key; the chef may reword, drop or add questions
(services.save_questionnaire) but a question keeping its key keeps its prefill. `prefill` reads
the facts of a batch of units in a fixed number of SQL statements (five, whatever the number of
units) and turns them into short Swedish fact strings and a suggested answer. The strings hold
dates and counts only: never a name, a personnummer or an asset's name.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Select, and_, exists, func, select

from sakskydd.analyses.models import AnalysisStatus, Measure, MeasureStatus, SecurityAnalysis
from sakskydd.assets.models import AssetStatus, AssetType, ProtectedAsset
from sakskydd.deadlines import (
    ItemKind,
    Rules,
    UnitFacts,
    analysis_due,
    as_utc,
    local_date,
    unit_facts,
    vetting_items,
)
from sakskydd.extensions import db
from sakskydd.followup.models import Answer
from sakskydd.organisations.models import Applicability, AppointmentRole, OrgUnit
from sakskydd.organisations.rules import missing_roles
from sakskydd.procurements.models import DutyStatus, Procurement, ProcurementDuty, ProcurementStatus
from sakskydd.vetting.models import CaseStatus, StepStatus, VettingCase, VettingStep
from sakskydd.vetting.rules import StepKind

APPLICABILITY: Final = "tillamplighet"
COORDINATORS: Final = "samordnare"
PROTECTED_PARTS: Final = "skyddsvarda_delar"
ANALYSIS: Final = "analys"
PLAN: Final = "plan"
SYSTEMS: Final = "system_tjanster"
SUA_REGISTER: Final = "sua_register"
VETTING: Final = "sakerhetsprovning"
TRAINING: Final = "utbildning"

# (key, question) in the order of the follow-up; the wording follows the programme's follow-up points.
BUILTIN_QUESTIONS: Final[tuple[tuple[str, str], ...]] = (
    (APPLICABILITY, "Har nämnden/bolaget bedömt om verksamheten omfattas av säkerhetsskyddslagstiftningen?"),
    (COORDINATORS, "Finns en utsedd säkerhetsskyddssamordnare och en ersättare?"),
    (
        PROTECTED_PARTS,
        "Har nämnden/bolaget kunskap om vilka delar av verksamheten som är skyddsvärda enligt "
        "säkerhetsskyddslagen?",
    ),
    (ANALYSIS, "Är säkerhetsskyddsanalysen aktuell och förmedlad till stadens säkerhetsskyddschef?"),
    (PLAN, "Genomförs åtgärderna i säkerhetsskyddsplanen enligt plan?"),
    (SYSTEMS, "Är driftsatta system och tjänster riskbedömda utifrån ett säkerhetsskyddsperspektiv?"),
    (SUA_REGISTER, "Är registret över säkerhetsskyddade upphandlingar och säkerhetsskyddsavtal aktuellt?"),
    (VETTING, "Är säkerhetsprövningarna aktuella, med omkontroller och avanmälningar gjorda i tid?"),
    (
        TRAINING,
        "Har berörd personal fått säkerhetsskyddsutbildning, och har utbildningen utvärderats så att "
        "den tillgodoser deltagarnas behov?",
    ),
)
BUILTIN_KEYS: Final = frozenset(key for key, _ in BUILTIN_QUESTIONS)
BUILTIN_TEXT: Final[Mapping[str, str]] = dict(BUILTIN_QUESTIONS)


def builtin_questionnaire() -> list[dict[str, Any]]:
    return [{"key": key, "text": text} for key, text in BUILTIN_QUESTIONS]


@dataclass(frozen=True)
class Prefill:
    """What the system knows about one question for one unit (plain facts, at most 300 characters)."""

    text: str
    suggested: Answer | None = None


@dataclass(frozen=True)
class Counts:
    """The register counts of one unit that the prefill needs (no names)."""

    assets: int = 0
    protected: int = 0
    assets_changed_on: dt.date | None = None
    systems: int = 0
    systems_assessed: int = 0
    measures_done: int = 0
    measures_open: int = 0
    measures_overdue: int = 0
    measures_not_done: int = 0
    submitted_on: dt.date | None = None
    procurements: int = 0
    duties_overdue: int = 0
    vetted: int = 0
    trained: int = 0
    rechecks_overdue: int = 0
    deregistrations_overdue: int = 0


# --- the rules: facts → fact string and suggestion (no database) --------------------------------

_OUTCOME_TEXT: Final = {
    Applicability.YES: "omfattas",
    Applicability.NO: "omfattas inte",
    Applicability.INVESTIGATING: "under utredning",
}


def _covered(unit: UnitFacts) -> bool:
    return unit.applicability == Applicability.YES


def applicability_prefill(unit: UnitFacts, counts: Counts, today: dt.date, rules: Rules) -> Prefill:
    if unit.applicability is None or unit.assessed_on is None:
        return Prefill("Ingen bedömning av om lagstiftningen är tillämplig är registrerad.", Answer.NO)
    text = f"Bedömd {unit.assessed_on.isoformat()}: {_OUTCOME_TEXT[unit.applicability]}."
    if unit.applicability == Applicability.INVESTIGATING:
        return Prefill(text, Answer.PARTLY)
    return Prefill(text, Answer.YES)


def coordinators_prefill(unit: UnitFacts, counts: Counts, today: dt.date, rules: Rules) -> Prefill:
    current = {a.role for a in unit.appointments if a.is_current(today)}
    has = [
        label
        for role, label in (
            (AppointmentRole.SAMORDNARE, "samordnare"),
            (AppointmentRole.ERSATTARE, "ersättare"),
        )
        if role in current
    ]
    text = (
        f"Förordnad i dag: {' och '.join(has)}."
        if has
        else "Ingen samordnare eller ersättare förordnad i dag."
    )
    if not _covered(unit):
        return Prefill(text, Answer.NOT_APPLICABLE if not has else None)
    missing = missing_roles(unit.applicability, current)
    if not missing:
        return Prefill(text, Answer.YES)
    return Prefill(text, Answer.NO if len(missing) == 2 else Answer.PARTLY)


def protected_parts_prefill(unit: UnitFacts, counts: Counts, today: dt.date, rules: Rules) -> Prefill:
    if counts.assets == 0:
        return Prefill("Registret över skyddsvärda objekt är tomt.", Answer.NO if _covered(unit) else None)
    changed = f"; senast ändrat {counts.assets_changed_on.isoformat()}" if counts.assets_changed_on else ""
    text = (
        f"{counts.assets} objekt i registret över skyddsvärda objekt, varav {counts.protected} "
        f"skyddsvärda eller skyddsobjekt{changed}."
    )
    return Prefill(text, Answer.YES)


def analysis_prefill(unit: UnitFacts, counts: Counts, today: dt.date, rules: Rules) -> Prefill:
    pending = (
        f" En analys skickades in {counts.submitted_on.isoformat()} och väntar på granskning."
        if (counts.submitted_on)
        else ""
    )
    if unit.last_approved_at is None:
        text = "Ingen fastställd säkerhetsskyddsanalys." + pending
        if not _covered(unit):
            return Prefill(text, Answer.NOT_APPLICABLE)
        return Prefill(text, Answer.PARTLY if pending else Answer.NO)
    approved_on = local_date(unit.last_approved_at)
    due = analysis_due(unit, rules.analysis_interval_months)
    text = f"Senaste analysen fastställd {approved_on.isoformat()}"
    if due is None:
        return Prefill(text + "." + pending, None)
    due_on, _reason = due
    late = due_on < today
    text += (
        f"; nästa ska vara fastställd senast {due_on.isoformat()}{' (försenad)' if late else ''}." + pending
    )
    if not late:
        return Prefill(text, Answer.YES)
    return Prefill(text, Answer.PARTLY if pending else Answer.NO)


def plan_prefill(unit: UnitFacts, counts: Counts, today: dt.date, rules: Rules) -> Prefill:
    if unit.last_approved_at is None:
        return Prefill("Ingen fastställd säkerhetsskyddsplan (ingen fastställd analys).", None)
    total = counts.measures_done + counts.measures_open + counts.measures_not_done
    if total == 0:
        return Prefill("Den fastställda planen har inga åtgärder.", None)
    text = (
        f"Planen har {total} åtgärder: {counts.measures_done} klara, {counts.measures_open} planerade "
        f"eller pågående (varav {counts.measures_overdue} försenade), "
        f"{counts.measures_not_done} ej genomförda."
    )
    if counts.measures_overdue or counts.measures_not_done:
        return Prefill(text, Answer.PARTLY)
    return Prefill(text, Answer.YES)


def systems_prefill(unit: UnitFacts, counts: Counts, today: dt.date, rules: Rules) -> Prefill | None:
    """Only the register's information systems are known; without any, the question is by hand."""
    if counts.systems == 0:
        return None
    text = (
        f"{counts.systems_assessed} av {counts.systems} informationssystem/it-tjänster i registret "
        "har ett datum för riskbedömning."
    )
    if counts.systems_assessed == counts.systems:
        return Prefill(text, Answer.YES)
    return Prefill(text, Answer.NO if counts.systems_assessed == 0 else Answer.PARTLY)


def sua_register_prefill(unit: UnitFacts, counts: Counts, today: dt.date, rules: Rules) -> Prefill:
    if counts.procurements == 0:
        return Prefill("Inga pågående säkerhetsskyddade upphandlingar i registret.", None)
    text = (
        f"{counts.procurements} pågående upphandlingar i registret; "
        f"{counts.duties_overdue} förfallna skyldigheter."
    )
    return Prefill(text, Answer.PARTLY if counts.duties_overdue else Answer.YES)


def vetting_prefill(unit: UnitFacts, counts: Counts, today: dt.date, rules: Rules) -> Prefill:
    late = counts.rechecks_overdue + counts.deregistrations_overdue
    if counts.vetted == 0 and late == 0:
        return Prefill("Inga godkända säkerhetsprövningar registrerade.", None)
    text = (
        f"{counts.vetted} godkända säkerhetsprövningar; {counts.rechecks_overdue} försenade omkontroller "
        f"och {counts.deregistrations_overdue} försenade avanmälningar."
    )
    return Prefill(text, Answer.PARTLY if late else Answer.YES)


def training_prefill(unit: UnitFacts, counts: Counts, today: dt.date, rules: Rules) -> Prefill | None:
    """The checklist knows whether training was given, not whether it was evaluated: a complete
    record gets no suggestion (the evaluation is answered by hand)."""
    if counts.vetted == 0:
        return None
    text = (
        f"Säkerhetsskyddsutbildning registrerad i {counts.trained} av {counts.vetted} godkända "
        "säkerhetsprövningar. Utvärderingen besvaras för hand."
    )
    if counts.trained == counts.vetted:
        return Prefill(text, None)
    return Prefill(text, Answer.NO if counts.trained == 0 else Answer.PARTLY)


Rule = Callable[[UnitFacts, Counts, dt.date, Rules], Prefill | None]
RULES: Final[Mapping[str, Rule]] = {
    APPLICABILITY: applicability_prefill,
    COORDINATORS: coordinators_prefill,
    PROTECTED_PARTS: protected_parts_prefill,
    ANALYSIS: analysis_prefill,
    PLAN: plan_prefill,
    SYSTEMS: systems_prefill,
    SUA_REGISTER: sua_register_prefill,
    VETTING: vetting_prefill,
    TRAINING: training_prefill,
}


def prefill_unit(unit: UnitFacts, counts: Counts, today: dt.date, rules: Rules) -> dict[str, Prefill]:
    """Every key the system has something to say about, for one unit."""
    found = {key: rule(unit, counts, today, rules) for key, rule in RULES.items()}
    return {key: value for key, value in found.items() if value is not None}


# --- the gathering --------------------------------------------------------------------------------


def _count(model: Any, *conditions: Any) -> Any:
    return select(func.count(model.id)).where(*conditions).correlate(OrgUnit).scalar_subquery()


def _counts_statement(unit_scope: Select[Any], today: dt.date) -> Select[Any]:
    """One statement: the counts of every unit of the scope, as correlated subqueries."""
    live = and_(ProtectedAsset.unit_id == OrgUnit.id, ProtectedAsset.is_archived.is_(False))
    system = and_(live, ProtectedAsset.type == AssetType.SYSTEM)
    latest = (
        select(SecurityAnalysis.id)
        .where(SecurityAnalysis.unit_id == OrgUnit.id, SecurityAnalysis.status == AnalysisStatus.APPROVED)
        .order_by(SecurityAnalysis.decided_at.desc())
        .limit(1)
        .correlate(OrgUnit)
        .scalar_subquery()
    )
    in_plan = Measure.analysis_id == latest
    open_measure = Measure.status.in_((MeasureStatus.PLANNED, MeasureStatus.IN_PROGRESS))
    running = Procurement.status.in_(
        (ProcurementStatus.TRIAGED, ProcurementStatus.CONFIRMED, ProcurementStatus.STOPPED)
    )
    vetted = and_(
        VettingCase.unit_id == OrgUnit.id,
        VettingCase.status == CaseStatus.APPROVED,
        VettingCase.left_on.is_(None),
        VettingCase.anonymised_on.is_(None),
    )
    trained = exists().where(
        VettingStep.case_id == VettingCase.id,
        VettingStep.kind == StepKind.TRAINING,
        VettingStep.status == StepStatus.DONE,
    )
    return select(
        OrgUnit.id,
        _count(ProtectedAsset, live).label("assets"),
        _count(ProtectedAsset, live, ProtectedAsset.status != AssetStatus.NORMAL).label("protected"),
        select(func.max(func.coalesce(ProtectedAsset.updated_at, ProtectedAsset.created_at)))
        .where(live)
        .correlate(OrgUnit)
        .scalar_subquery()
        .label("assets_changed_at"),
        _count(ProtectedAsset, system).label("systems"),
        _count(ProtectedAsset, system, ProtectedAsset.risk_assessed_on.is_not(None)).label(
            "systems_assessed"
        ),
        _count(Measure, in_plan, Measure.status == MeasureStatus.DONE).label("measures_done"),
        _count(Measure, in_plan, open_measure).label("measures_open"),
        _count(Measure, in_plan, open_measure, Measure.due_on < today).label("measures_overdue"),
        _count(Measure, in_plan, Measure.status == MeasureStatus.NOT_DONE).label("measures_not_done"),
        select(func.max(SecurityAnalysis.submitted_at))
        .where(SecurityAnalysis.unit_id == OrgUnit.id, SecurityAnalysis.status == AnalysisStatus.SUBMITTED)
        .correlate(OrgUnit)
        .scalar_subquery()
        .label("submitted_at"),
        _count(Procurement, Procurement.unit_id == OrgUnit.id, running).label("procurements"),
        select(func.count(ProcurementDuty.id))
        .join(Procurement, Procurement.id == ProcurementDuty.procurement_id)
        .where(
            ProcurementDuty.unit_id == OrgUnit.id,
            running,
            ProcurementDuty.status == DutyStatus.OPEN,
            ProcurementDuty.due_on < today,
        )
        .correlate(OrgUnit)
        .scalar_subquery()
        .label("duties_overdue"),
        _count(VettingCase, vetted).label("vetted"),
        _count(VettingCase, vetted, trained).label("trained"),
    ).where(OrgUnit.id.in_(unit_scope))


def _day(value: Any) -> dt.date | None:
    return local_date(as_utc(value)) if value is not None else None


def gather_counts(unit_scope: Select[Any], today: dt.date, rules: Rules) -> dict[uuid.UUID, Counts]:
    """The counts of every unit of the scope: two statements (the counts, the vetting items)."""
    late: dict[tuple[uuid.UUID, ItemKind], int] = {}
    for item in vetting_items(unit_scope, today, rules):
        if item.overdue and item.unit_id is not None:
            late[(item.unit_id, item.kind)] = late.get((item.unit_id, item.kind), 0) + 1
    counts = {}
    for row in db.execute(_counts_statement(unit_scope, today)):
        counts[row.id] = Counts(
            assets=row.assets,
            protected=row.protected,
            assets_changed_on=_day(row.assets_changed_at),
            systems=row.systems,
            systems_assessed=row.systems_assessed,
            measures_done=row.measures_done,
            measures_open=row.measures_open,
            measures_overdue=row.measures_overdue,
            measures_not_done=row.measures_not_done,
            submitted_on=_day(row.submitted_at),
            procurements=row.procurements,
            duties_overdue=row.duties_overdue,
            vetted=row.vetted,
            trained=row.trained,
            rechecks_overdue=late.get((row.id, ItemKind.VETTING_RECHECK), 0),
            deregistrations_overdue=late.get((row.id, ItemKind.VETTING_DEREGISTRATION), 0),
        )
    return counts


def prefill(
    unit_ids: Iterable[uuid.UUID], today: dt.date, rules: Rules
) -> dict[uuid.UUID, dict[str, Prefill]]:
    """What the registers say about each built-in question for each unit: five statements for
    any number of units (unit facts: three; counts: one; vetting items: one)."""
    ids = sorted(set(unit_ids))
    if not ids:
        return {}
    scope = select(OrgUnit.id).where(OrgUnit.id.in_(ids))
    facts = unit_facts(scope, today)
    counts = gather_counts(scope, today, rules)
    return {
        unit_id: prefill_unit(unit, counts.get(unit_id, Counts()), today, rules)
        for unit_id, unit in facts.items()
    }
