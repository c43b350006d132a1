"""Personnel vetting: the befattningsförteckning, vetting cases and their checklist, the beslut
with the two-person rule, follow-up notes, re-checks, the end of a case and the lookup by
personnummer (DOMAIN.md §4).

Workflow of a case: pågående (the checklist is followed in order, rules.missing_for_step) →
beslut fattat (one authorised person took the beslut once every step before it was done) →
godkänd or ej godkänd (a second person confirmed it; neither may be the other) → avslutad (the
person left the position and, when a registerkontroll was requested, its avanmälan is
recorded). Säkerhetsskyddsutbildning and uppföljning follow an approval; klass 1 and 2 are
re-checked every SAKSKYDD_VETTING_RECHECK_YEARS.

Personal data (name, personnummer, notes) is encrypted; the personnummer also gets a keyed
blind index bound to the unit, so a lookup finds only the unit's own cases. No name or
personnummer reaches the history, the audit trail or a log: ids, field names and counts only.

Services take explicit arguments, check the rules, change the models, write the history
(VettingChange) and the audit event in the same transaction, and flush; the view commits.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any, Final

from flask import current_app
from sqlalchemy import select

from sakskydd import audit, versioned_lists
from sakskydd.accounts.models import User
from sakskydd.analyses.models import SecurityAnalysis
from sakskydd.audit.tags import Event
from sakskydd.crypto.fields import blind_index
from sakskydd.db import utcnow
from sakskydd.deadlines import local_today
from sakskydd.extensions import db
from sakskydd.identifiers import IdentifierError, normalise_personnummer
from sakskydd.organisations.models import Operator, OrgUnit
from sakskydd.records import (
    DomainError,
    apply_changes,
    check_free_text,
    check_version,
    clean_text,
    flush_versioned,
    plain_value,
    serialise_on,
    track_changes,
)
from sakskydd.vetting import rules
from sakskydd.vetting.models import (
    CaseStatus,
    InterviewTemplate,
    Position,
    StepStatus,
    VettingCase,
    VettingChange,
    VettingNote,
    VettingStep,
)
from sakskydd.vetting.rules import ControlReason, Decision, SecurityClass, StepKind

MAX_LENGTHS: Final[Mapping[str, int]] = {
    "title": 200,
    "decided_by": 200,
    "reference": 100,
    "person_name": 200,
    "note": 2000,
}
# Cases whose person holds (or is on the way to) the position: one at a time per person and position.
ACTIVE_STATUSES: Final = (CaseStatus.IN_PROGRESS, CaseStatus.DECIDED, CaseStatus.APPROVED)

CASE_STATUS_LABELS: Final[Mapping[str, str]] = {
    CaseStatus.IN_PROGRESS: "Pågående",
    CaseStatus.DECIDED: "Beslut fattat – väntar på bekräftelse",
    CaseStatus.APPROVED: "Godkänd",
    CaseStatus.NOT_APPROVED: "Ej godkänd",
    CaseStatus.CLOSED: "Avslutad",
}

# The city's interview topics (seeds/001: "en checklista/intervjumall för säkerhetsklassning av
# personer"), used until the chef saves the operator's own. Topics only: the answers are never
# stored in sakskydd.
DEFAULT_INTERVIEW_TOPICS: Final[tuple[str, ...]] = (
    "Syftet med säkerhetsprövningen och hur uppgifterna hanteras.",
    "Utbildning och tidigare anställningar (jämför med CV och intyg).",
    "Lojalitet och pålitlighet: förståelse för uppdragets krav på säkerhetsskydd.",
    "Sårbarheter: ekonomi, beroenden och annat som kan utnyttjas för påtryckningar.",
    "Kontakter och resor som kan vara av betydelse för säkerhetsskyddet.",
    "Samtycke till registerkontroll och vad den innebär.",
    "Skyldigheten att anmäla ändrade förhållanden.",
)
INTERVIEW_LIST: Final = versioned_lists.ListKind(
    model=InterviewTemplate,
    attr="topics",
    default=DEFAULT_INTERVIEW_TOPICS,
    event=Event.VETTING_TEMPLATE_SAVED,
    what="Intervjumallen",
)


class WrongStage(DomainError):
    """The case is not at the stage the action belongs to (workflow skipping)."""


class CaseClosed(DomainError):
    def __init__(self) -> None:
        super().__init__("Ärendet är avslutat och kan inte ändras.")


def _settings() -> Any:
    return current_app.config["SAKSKYDD_SETTINGS"]


def _ceiling() -> int:
    return int(_settings().max_classification)


def _text(values: Mapping[str, Any], name: str, *, required: str | None = None) -> Any:
    value = clean_text(values.get(name))
    if value is None and required:
        raise DomainError(required)
    if value is not None and len(value) > MAX_LENGTHS[name]:
        raise DomainError(f"Texten är för lång (högst {MAX_LENGTHS[name]} tecken).")
    return value


def _date(value: Any, *, required: str | None, today: dt.date, future: str | None = None) -> dt.date | None:
    if value is None:
        if required:
            raise DomainError(required)
        return None
    if not isinstance(value, dt.date):
        raise DomainError("Ange datum som ÅÅÅÅ-MM-DD.")
    if future and value > today:
        raise DomainError(future)
    return value


def _history(actor: User, case: VettingCase, what: str, changes: Mapping[str, Any]) -> None:
    db.add(VettingChange(case_id=case.id, actor_id=actor.id, what=what, changes=dict(changes)))


def _keyring() -> Any:
    return current_app.extensions["sakskydd.keyring"]


def normalised_personnummer(value: str | None, today: dt.date) -> str:
    """The personnummer as ÅÅÅÅMMDD-NNNN, or DomainError with a message that never echoes it."""
    try:
        return normalise_personnummer(value or "", today=today)
    except IdentifierError as exc:
        raise DomainError(str(exc)) from None


def personnummer_index(canonical: str, unit_id: uuid.UUID) -> bytes:
    """The keyed blind index of a canonical personnummer within a unit."""
    return blind_index(canonical, unit_id, _keyring())


# --- positions ------------------------------------------------------------------------------------


def _clean_position(unit_id: uuid.UUID, values: Mapping[str, Any], today: dt.date) -> dict[str, Any]:
    try:
        security_class = SecurityClass(values.get("security_class") or "")
    except ValueError:
        raise DomainError("Välj befattningens placering bland alternativen.") from None
    decided_on = _date(
        values.get("decided_on"),
        required="Ange när placeringen beslutades.",
        today=today,
        future="Beslutsdatumet kan inte ligga i framtiden.",
    )
    government = clean_text(values.get("government_reference"))
    if security_class.decided_by_government and government is None:
        raise DomainError("Säkerhetsklass 1 beslutas av regeringen: ange regeringsbeslutets diarienummer.")
    if not security_class.decided_by_government and government is not None:
        raise DomainError("Bara säkerhetsklass 1 har ett regeringsbeslut; klass 2 och 3 beslutar kommunen.")
    if government is not None and len(government) > MAX_LENGTHS["reference"]:
        raise DomainError(f"Texten är för lång (högst {MAX_LENGTHS['reference']} tecken).")
    analysis_id = values.get("analysis_id")
    if analysis_id is not None:
        owner = db.scalar(select(SecurityAnalysis.unit_id).where(SecurityAnalysis.id == analysis_id))
        if owner != unit_id:
            raise DomainError("Välj en av enhetens säkerhetsskyddsanalyser.")
    ended_on = _date(values.get("ended_on"), required=None, today=today)
    if ended_on is not None and decided_on is not None and ended_on < decided_on:
        raise DomainError("Befattningen kan inte avvecklas före placeringsbeslutet.")
    return {
        "title": _text(values, "title", required="Ange befattningens benämning."),
        "security_class": security_class,
        "decided_on": decided_on,
        "decided_by": _text(values, "decided_by", required="Ange vem som beslutade placeringen."),
        "reference": _text(values, "reference", required="Ange placeringsbeslutets diarienummer."),
        "government_reference": government,
        "analysis_id": analysis_id,
        "ended_on": ended_on,
    }


def create_position(
    actor: User, unit: OrgUnit, values: Mapping[str, Any], *, today: dt.date | None = None
) -> Position:
    cleaned = _clean_position(unit.id, values, today or local_today())
    position = Position(unit_id=unit.id, created_by_id=actor.id, **cleaned)
    db.add(position)
    flush_versioned()
    audit.record(
        Event.VETTING_POSITION_CREATED,
        target=position,
        changed=sorted(k for k, v in cleaned.items() if v is not None),
        detail={"security_class": position.security_class.value},
    )
    return position


def update_position(
    actor: User,
    position: Position,
    values: Mapping[str, Any],
    version: int | None,
    *,
    today: dt.date | None = None,
) -> list[str]:
    """Change a position; cases already opened keep the placement they were opened with (a new
    placement means a new case). Returns the changed names."""
    check_version(position, version)
    cleaned = _clean_position(position.unit_id, values, today or local_today())
    changed = apply_changes(position, cleaned)
    if not changed:
        return []
    position.updated_at = utcnow()
    flush_versioned()
    audit.record(Event.VETTING_POSITION_UPDATED, target=position, changed=changed)
    return changed


def positions_of(unit_id: uuid.UUID, *, include_ended: bool = False) -> list[Position]:
    query = select(Position).where(Position.unit_id == unit_id)
    if not include_ended:
        query = query.where(Position.ended_on.is_(None))
    return list(db.scalars(query.order_by(Position.security_class, Position.title)))


# --- cases --------------------------------------------------------------------------------------


def open_case(
    actor: User,
    unit: OrgUnit,
    *,
    position_id: uuid.UUID | None,
    person_name: str | None,
    personnummer: str | None,
    today: dt.date | None = None,
) -> VettingCase:
    """One person for one current position of the unit; the checklist follows its placement."""
    today = today or local_today()
    position = db.get(Position, position_id) if position_id is not None else None
    if position is None or position.unit_id != unit.id or position.ended_on is not None:
        raise DomainError("Välj en av enhetens befattningar i befattningsförteckningen.")
    name = _text({"person_name": person_name}, "person_name", required="Ange personens namn.")
    canonical = normalised_personnummer(personnummer, today)
    index = personnummer_index(canonical, unit.id)
    serialise_on(Position, position.id)  # a double submit opens one case, not two
    for other in db.scalars(
        select(VettingCase).where(
            VettingCase.unit_id == unit.id,
            VettingCase.pnr_index == index,
            VettingCase.position_id == position.id,
            VettingCase.status.in_(ACTIVE_STATUSES),
        )
    ):
        if other.personnummer == canonical:
            raise DomainError("Personen har redan ett pågående ärende för den här befattningen.")
    case = VettingCase(
        id=uuid.uuid4(),  # the ciphertext binds the row id
        unit_id=unit.id,
        position_id=position.id,
        security_class=position.security_class,
        pnr_index=index,
        created_by_id=actor.id,
    )
    case.person_name = name
    case.personnummer = canonical
    for kind in rules.steps_for(position.security_class):
        case.steps.append(VettingStep(unit_id=unit.id, kind=kind, position=rules.STEP_ORDER.index(kind)))
    db.add(case)
    flush_versioned()
    _history(
        actor, case, "opened", {"person_name": None, "personnummer": None, "position_id": str(position.id)}
    )
    audit.record(
        Event.VETTING_CASE_OPENED,
        target=case,
        changed=["person_name", "personnummer", "position_id"],
        detail={"security_class": case.security_class.value},
    )
    return case


def record_read(case: VettingCase, *, view: str = "detail") -> None:
    """Every open of a case with personal data (SECURITY.md: vetting.read_personal)."""
    audit.record(Event.VETTING_READ_PERSONAL, target=case, detail={"view": view})


def record_reads(unit: OrgUnit, cases: list[VettingCase], *, view: str) -> None:
    """A page listing people of the unit's cases (the case list, a lookup's answer): one
    vetting.read_personal with the case ids shown, never a name. Nothing shown, nothing read."""
    if cases:
        audit.record(
            Event.VETTING_READ_PERSONAL,
            target=unit,
            detail={"view": view, "cases": [str(c.id) for c in cases]},
        )


def _writable(case: VettingCase) -> None:
    if case.status in (CaseStatus.CLOSED, CaseStatus.NOT_APPROVED) or case.anonymised_on is not None:
        raise CaseClosed()


def _done_kinds(case: VettingCase, *, besides: VettingStep | None = None) -> set[StepKind]:
    return {s.kind for s in case.steps if s.status == StepStatus.DONE and s is not besides}


def update_step(
    actor: User,
    case: VettingCase,
    step: VettingStep,
    *,
    done: bool,
    done_on: dt.date | None,
    reference: str | None,
    control_reason: str | None,
    version: int | None,
    today: dt.date | None = None,
) -> bool:
    """Mark a step done (in order) or open again (only while nothing built on it is done and no
    beslut is taken). Returns whether anything changed."""
    if step.case_id != case.id:
        raise ValueError("the step belongs to another case")
    _writable(case)
    check_version(step, version)
    today = today or local_today()
    if step.kind == StepKind.TRAINING:
        if case.status != CaseStatus.APPROVED or not rules.training_allowed(case.decision):
            raise WrongStage(
                "Säkerhetsskyddsutbildningen registreras när beslutet om godkännande är bekräftat."
            )
    elif case.status != CaseStatus.IN_PROGRESS:
        raise WrongStage("Stegen före beslutet kan inte ändras när beslutet är fattat.")
    elif case.left_on is not None:
        raise WrongStage("Ärendet är avbrutet: personen har lämnat befattningen.")
    reference = _text({"reference": reference}, "reference")
    reason: ControlReason | None = None
    if done:
        done_on = _date(
            done_on,
            required="Ange datum då steget gjordes.",
            today=today,
            future="Datumet kan inte ligga i framtiden.",
        )
        missing = rules.missing_for_step(step.kind, case.security_class, _done_kinds(case, besides=step))
        if missing:
            names = ", ".join(rules.STEP_LABELS[k].lower() for k in missing)
            raise WrongStage(f"Stegen följs i ordning. Först måste detta vara klart: {names}.")
        if step.kind == StepKind.REGISTER_CHECK_REQUESTED:
            try:
                reason = ControlReason(control_reason or "")
            except ValueError:
                raise DomainError("Ange kontrollorsak för registerkontrollen.") from None
        if step.kind in (StepKind.INTERVIEW, StepKind.REGISTER_CHECK_REQUESTED) and reference is None:
            raise DomainError("Ange en referens (diarienummer eller dokument-id) för steget.")
    else:
        done_on, reference = None, None
        dependants = [
            s.kind
            for s in case.steps
            if s.status == StepStatus.DONE and step.kind in rules.PREREQUISITES[s.kind]
        ]
        if dependants:
            names = ", ".join(rules.STEP_LABELS[k].lower() for k in dependants)
            raise WrongStage(f"Steget kan inte öppnas igen: {names} bygger på det.")
    status = StepStatus.DONE if done else StepStatus.OPEN
    template_id = None
    if done and step.kind == StepKind.INTERVIEW:
        row, _topics = current_interview_template(case.unit.operator_id)
        template_id = row.id if row is not None else None
    new = {"status": status, "done_on": done_on, "reference": reference, "control_reason": reason}
    changes = track_changes(step, new, ())
    if not changes:
        return False
    step.done_by_id = actor.id if done else None
    step.template_id = template_id
    step.updated_at = utcnow()
    if step.kind == StepKind.REGISTER_CHECK_ANSWERED:
        case.checked_on = done_on
    case.updated_at = utcnow()
    flush_versioned()
    _history(actor, case, f"step:{step.kind.value}", changes)
    audit.record(
        Event.VETTING_STEP_UPDATED,
        target=case,
        changed=sorted(changes),
        detail={"step": step.kind.value, "status": status.value},
    )
    return True


def decide(
    actor: User,
    case: VettingCase,
    *,
    decision: str | None,
    decided_on: dt.date | None,
    reference: str | None,
    version: int | None,
    today: dt.date | None = None,
) -> None:
    """The beslut, once every step before it is done; a second person confirms it."""
    _writable(case)
    check_version(case, version)
    today = today or local_today()
    if case.status != CaseStatus.IN_PROGRESS:
        raise WrongStage("Beslutet är redan fattat.")
    if case.left_on is not None:
        raise WrongStage("Ärendet är avbrutet: personen har lämnat befattningen.")
    missing = rules.missing_for_decision(case.security_class, _done_kinds(case))
    if missing:
        names = ", ".join(rules.STEP_LABELS[k].lower() for k in missing)
        raise WrongStage(f"Beslut kan fattas först när alla steg före beslutet är klara. Kvar: {names}.")
    try:
        chosen = Decision(decision or "")
    except ValueError:
        raise DomainError("Välj beslut: godkänd eller ej godkänd.") from None
    case.decided_on = _date(
        decided_on,
        required="Ange beslutsdatum.",
        today=today,
        future="Beslutsdatumet kan inte ligga i framtiden.",
    )
    case.decision_reference = _text(
        {"reference": reference}, "reference", required="Ange beslutets diarienummer."
    )
    case.decision = chosen
    case.decided_by_id = actor.id
    case.status = CaseStatus.DECIDED
    case.updated_at = utcnow()
    flush_versioned()
    _history(
        actor, case, "decided", {"decision": [None, chosen.value], "decided_on": case.decided_on.isoformat()}
    )
    audit.record(
        Event.VETTING_DECIDED,
        target=case,
        changed=["decision", "decided_on"],
        detail={"decision": chosen.value},
    )


def confirm_decision(
    actor: User, case: VettingCase, *, confirm: bool, version: int | None, today: dt.date | None = None
) -> None:
    """The second person confirms the beslut (or sends it back). Not approved closes the case."""
    _writable(case)
    check_version(case, version)
    today = today or local_today()
    if case.status != CaseStatus.DECIDED or case.decision is None:
        raise WrongStage("Det finns inget beslut som väntar på bekräftelse.")
    if not rules.may_confirm(case.decided_by_id, actor.id):
        # The policy sod.confirm_own_vetting_decision refuses this first; held here too.
        raise DomainError("Beslutet ska bekräftas av en annan person än den som fattade det.")
    decision = case.decision
    if confirm:
        case.status = CaseStatus.APPROVED if decision == Decision.APPROVED else CaseStatus.NOT_APPROVED
        case.confirmed_by_id = actor.id
        case.confirmed_on = today
        if case.status == CaseStatus.NOT_APPROVED:
            case.closed_on = today
    else:
        case.status = CaseStatus.IN_PROGRESS
        case.decision = None
        case.decided_by_id = None
        case.decided_on = None
        case.decision_reference = None
    case.updated_at = utcnow()
    flush_versioned()
    _history(actor, case, "confirmed" if confirm else "sent_back", {"decision": decision.value})
    audit.record(
        Event.VETTING_DECISION_CONFIRMED,
        target=case,
        changed=["status"],
        detail={"decision": decision.value, "confirmed": confirm},
    )


def add_note(
    actor: User,
    case: VettingCase,
    *,
    text: str | None,
    noted_on: dt.date | None,
    attested: bool,
    today: dt.date | None = None,
) -> VettingNote:
    """An uppföljning note on an approved person: neutral, attested, encrypted."""
    _writable(case)
    today = today or local_today()
    if case.status != CaseStatus.APPROVED:
        raise WrongStage("Uppföljningsanteckningar förs om en godkänd person.")
    body = _text({"note": text}, "note", required="Skriv anteckningen.")
    check_free_text([body], attested=attested, ceiling=_ceiling())
    day = _date(noted_on, required="Ange datum.", today=today, future="Datumet kan inte ligga i framtiden.")
    note = VettingNote(
        id=uuid.uuid4(),  # the ciphertext binds the row id
        case_id=case.id,
        unit_id=case.unit_id,
        noted_on=day,
        attested=True,
        created_by_id=actor.id,
    )
    note.text = body
    case.notes.append(note)
    flush_versioned()
    _history(actor, case, "note", {"text": None})
    audit.record(Event.VETTING_NOTE_ADDED, target=case, changed=["note"])
    return note


def record_recheck(
    actor: User,
    case: VettingCase,
    *,
    checked_on: dt.date | None,
    reference: str | None,
    version: int | None,
    today: dt.date | None = None,
) -> None:
    """An omkontroll of an approved klass 1 or 2 person: the next one counts from its date."""
    _writable(case)
    check_version(case, version)
    today = today or local_today()
    if case.status != CaseStatus.APPROVED or not case.security_class.has_special_investigation:
        raise WrongStage("Omkontroll görs för godkända personer i säkerhetsklass 1 och 2.")
    if case.left_on is not None:
        raise WrongStage("Personen har lämnat befattningen; ingen omkontroll görs.")
    day = _date(
        checked_on,
        required="Ange datum för omkontrollen.",
        today=today,
        future="Datumet kan inte ligga i framtiden.",
    )
    if case.checked_on is not None and day is not None and day < case.checked_on:
        raise DomainError("Omkontrollen kan inte vara äldre än den senaste kontrollen.")
    ref = _text({"reference": reference}, "reference", required="Ange omkontrollens diarienummer.")
    before = case.checked_on
    case.checked_on = day
    case.updated_at = utcnow()
    flush_versioned()
    _history(
        actor,
        case,
        "rechecked",
        {"checked_on": [plain_value(before), plain_value(day)], "reference": ref},
    )
    audit.record(Event.VETTING_RECHECKED, target=case, changed=["checked_on"])


def needs_deregistration(case: VettingCase) -> bool:
    """A requested registerkontroll is avanmäld when the person leaves the position."""
    return any(
        s.kind == StepKind.REGISTER_CHECK_REQUESTED and s.status == StepStatus.DONE for s in case.steps
    )


def end_case(
    actor: User,
    case: VettingCase,
    *,
    left_on: dt.date | None,
    deregistered_on: dt.date | None,
    reference: str | None,
    version: int | None,
    today: dt.date | None = None,
) -> bool:
    """The person left the position (or the case is discontinued). With a requested
    registerkontroll the case closes when its avanmälan is recorded; otherwise at once.
    Returns whether the case is closed."""
    _writable(case)
    check_version(case, version)
    today = today or local_today()
    if case.status == CaseStatus.DECIDED:
        raise WrongStage(
            "Beslutet väntar på bekräftelse. Bekräfta eller återförvisa det innan ärendet avslutas."
        )
    left = _date(
        left_on,
        required="Ange när personen lämnade befattningen.",
        today=today,
        future="Datumet kan inte ligga i framtiden.",
    )
    deregistered = _date(
        deregistered_on, required=None, today=today, future="Datumet kan inte ligga i framtiden."
    )
    ref = _text({"reference": reference}, "reference")
    if deregistered is not None and left is not None and deregistered < left:
        raise DomainError("Avanmälan kan inte vara gjord före dagen personen lämnade befattningen.")
    if deregistered is not None and ref is None:
        raise DomainError("Ange avanmälans diarienummer.")
    if deregistered is not None and not needs_deregistration(case):
        raise DomainError("Ingen registerkontroll är begärd i ärendet, så ingen avanmälan behövs.")
    changes = {"left_on": [plain_value(case.left_on), plain_value(left)]}
    case.left_on = left
    if deregistered is not None:
        changes["deregistered_on"] = [plain_value(case.deregistered_on), plain_value(deregistered)]
        case.deregistered_on = deregistered
        case.deregistration_reference = ref
    closes = not needs_deregistration(case) or case.deregistered_on is not None
    if closes:
        case.status = CaseStatus.CLOSED
        case.closed_on = max(d for d in (left, case.deregistered_on) if d is not None)
        changes["status"] = ["open", CaseStatus.CLOSED.value]
    case.updated_at = utcnow()
    flush_versioned()
    _history(actor, case, "ended", changes)
    audit.record(Event.VETTING_ENDED, target=case, changed=sorted(changes), detail={"closed": closes})
    return closes


def lookup(
    actor: User, unit: OrgUnit, personnummer: str | None, *, today: dt.date | None = None
) -> list[VettingCase]:
    """The unit's cases of a person, by exact personnummer: the blind index narrows within the
    unit, the decrypted value confirms. Never another unit's cases. Audited without the number."""
    canonical = normalised_personnummer(personnummer, today or local_today())
    index = personnummer_index(canonical, unit.id)
    found = [
        case
        for case in db.scalars(
            select(VettingCase)
            .where(VettingCase.unit_id == unit.id, VettingCase.pnr_index == index)
            .order_by(VettingCase.created_at.desc())
        )
        if case.personnummer == canonical
    ]
    audit.record(
        Event.VETTING_LOOKUP,
        target=unit,
        detail={"found": len(found), "cases": [str(c.id) for c in found]},
    )
    return found


# --- the interview template ---------------------------------------------------------------------


def current_interview_template(operator_id: uuid.UUID) -> tuple[InterviewTemplate | None, list[str]]:
    return versioned_lists.current(INTERVIEW_LIST, operator_id)


def interview_template_versions(operator_id: uuid.UUID) -> list[InterviewTemplate]:
    return versioned_lists.versions(INTERVIEW_LIST, operator_id)


def save_interview_template(actor: User, operator: Operator, text: str | None) -> InterviewTemplate | None:
    return versioned_lists.save(INTERVIEW_LIST, actor, operator, text)
