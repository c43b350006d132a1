"""Security-protected procurements: create and change, triage, confirmation, duties, supplier
follow-up and contract end (DOMAIN.md §3).

Workflow: ny → triagerad (the upphandlare answered; rules.derive proposes an outcome) →
bekräftad (the samordnare confirmed it, or overrode it with a reason; the duties are created
from the confirmed outcome) → avslutad (the contract-end duties are done and the final note
written). Samråd ending in "stopped" sets the procurement to stoppad. A new triage of a
confirmed procurement sends it back for confirmation; its duties are kept and brought in line
at the next confirmation (open duties no longer required are withdrawn, done ones kept).

Services take explicit arguments, check the rules, change the models, write the history
(ProcurementChange) and the audit event in the same transaction, and flush; the view commits.
A broken rule raises a DomainError subclass whose Swedish message is safe to show.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final

from flask import current_app
from sqlalchemy import ColumnElement, and_, or_, select

from sakskydd import audit, versioned_lists
from sakskydd.accounts.models import AssignmentStatus, Role, RoleAssignment, User
from sakskydd.audit.tags import Event
from sakskydd.db import utcnow
from sakskydd.deadlines import add_months, local_today
from sakskydd.extensions import db
from sakskydd.identifiers import IdentifierError, normalise_org_number
from sakskydd.organisations.models import Operator, OrgUnit
from sakskydd.organisations.scope import chef_unit_ids, coordinated_unit_ids, upphandlare_unit_ids
from sakskydd.procurements import rules
from sakskydd.procurements.models import (
    ActionStatus,
    DutyStatus,
    FollowUpAction,
    FollowUpResult,
    FollowUpRun,
    FollowUpTemplate,
    Procurement,
    ProcurementChange,
    ProcurementDuty,
    ProcurementKind,
    ProcurementStatus,
    SubSupplier,
)
from sakskydd.procurements.rules import ConsultationOutcome, DutyKind, Outcome, TriageAnswers
from sakskydd.records import (
    DomainError,
    DowngradeNeedsTwoPersons,
    check_free_text,
    check_version,
    clean_text,
    flush_versioned,
    plain_value,
    track_changes,
)

EDITABLE_FIELDS: Final = (
    "kind",
    "title",
    "registry_number",
    "responsible_id",
    "procedure_starts_on",
    "contract_starts_on",
    "contract_ends_on",
    "supplier_name",
    "supplier_org_number",
    "supplier_contact",
    "classification",
)
ENCRYPTED_FIELDS: Final = frozenset({"supplier_contact", "override_reason", "final_note", "note", "findings"})
MAX_LENGTHS: Final[Mapping[str, int]] = {
    "title": 200,
    "registry_number": 50,
    "supplier_name": 200,
    "supplier_contact": 1000,
    "reference": 100,
    "note": 2000,
    "reason": 2000,
    "findings": 4000,
    "description": 300,
    "responsible": 200,
    "item": 300,
}
MAX_TEMPLATE_ITEMS: Final = 40
MAX_ACTIONS: Final = 20

KIND_LABELS: Final[Mapping[str, str]] = {
    ProcurementKind.PROCUREMENT: "Upphandling",
    ProcurementKind.AGREEMENT: "Avtal",
    ProcurementKind.COOPERATION: "Samarbete",
}
STATUS_LABELS: Final[Mapping[str, str]] = {
    ProcurementStatus.NEW: "Ny – triage ej besvarad",
    ProcurementStatus.TRIAGED: "Väntar på samordnarens bekräftelse",
    ProcurementStatus.CONFIRMED: "Bekräftad",
    ProcurementStatus.STOPPED: "Stoppad vid samråd",
    ProcurementStatus.CLOSED: "Avslutad",
}
DUTY_STATUS_LABELS: Final[Mapping[str, str]] = {
    DutyStatus.OPEN: "Öppen",
    DutyStatus.DONE: "Klar",
    DutyStatus.NOT_APPLICABLE: "Ej aktuell",
    DutyStatus.WITHDRAWN: "Bortfallen",
}
RESULT_LABELS: Final[Mapping[str, str]] = {
    FollowUpResult.MET: "Uppfyllt",
    FollowUpResult.FINDING: "Brist",
    FollowUpResult.NOT_APPLICABLE: "Ej aktuellt",
}
ACTION_STATUS_LABELS: Final[Mapping[str, str]] = {ActionStatus.OPEN: "Öppen", ActionStatus.DONE: "Klar"}

# The city's minimum requirements for following up a supplier (seeds/001), used until the chef
# of an operator saves a checklist of their own.
DEFAULT_FOLLOW_UP_ITEMS: Final[tuple[str, ...]] = (
    "Säkerhetsskyddsavtalet med bilagor är aktuellt och känt hos leverantören.",
    "Leverantören har en utsedd kontaktperson för säkerhetsskydd.",
    "Personal i säkerhetsklassade befattningar är säkerhetsprövad och registerkontrollerad.",
    "Leverantörens personal har genomgått säkerhetsskyddsutbildning.",
    "Säkerhetsskyddsklassificerade uppgifter hanteras och förvaras enligt avtalet.",
    "Informationssystem som används för uppgifterna är godkända för dem.",
    "Tillträde till lokaler och system är begränsat till behöriga.",
    "Incidenter och avvikelser har rapporterats till oss utan dröjsmål.",
    "Förändringar hos leverantören (ägare, underleverantörer, personal, lokaler) har anmälts.",
    "Underleverantörer har motsvarande avtal och följs upp av leverantören.",
)


class ProcurementClosed(DomainError):
    def __init__(self) -> None:
        super().__init__("Ärendet är avslutat och kan inte ändras.")


class WrongStage(DomainError):
    """The procurement is not at the step the action belongs to (workflow skipping)."""


def _settings() -> Any:
    return current_app.config["SAKSKYDD_SETTINGS"]


def _ceiling() -> int:
    return int(_settings().max_classification)


def cadence() -> dict[str, int]:
    """Months between supplier follow-ups per outcome, from SAKSKYDD_FOLLOW_UP_MONTHS."""
    one, two, three, agreement = _settings().follow_up_months
    return {Outcome.SUA_1: one, Outcome.SUA_2: two, Outcome.SUA_3: three, Outcome.AGREEMENT: agreement}


def _history(actor: User, procurement: Procurement, what: str, changes: Mapping[str, Any]) -> None:
    db.add(
        ProcurementChange(procurement_id=procurement.id, actor_id=actor.id, what=what, changes=dict(changes))
    )


def _writable(procurement: Procurement) -> None:
    if procurement.status == ProcurementStatus.CLOSED:
        raise ProcurementClosed()


def _text(
    values: Mapping[str, Any], name: str, *, required: str | None = None, limit: str | None = None
) -> Any:
    value = clean_text(values.get(name))
    if value is None and required:
        raise DomainError(required)
    if value is not None and len(value) > MAX_LENGTHS[limit or name]:
        raise DomainError(f"Texten är för lång (högst {MAX_LENGTHS[limit or name]} tecken).")
    return value


def _org_number(value: str | None, what: str) -> str | None:
    value = clean_text(value)
    if value is None:
        return None
    try:
        return normalise_org_number(value)
    except IdentifierError as exc:
        raise DomainError(f"{what}: {exc}") from None


# --- who may be responsible ------------------------------------------------------------------


def responsible_candidates(unit_id: uuid.UUID) -> list[User]:
    """Active upphandlare of the unit, by name."""
    return list(
        db.scalars(
            select(User)
            .join(RoleAssignment, RoleAssignment.user_id == User.id)
            .where(
                RoleAssignment.unit_id == unit_id,
                RoleAssignment.role == Role.UPPHANDLARE,
                RoleAssignment.status == AssignmentStatus.ACTIVE,
                User.is_active.is_(True),
            )
            .order_by(User.display_name, User.username)
            .distinct()
        )
    )


def owner_candidates(unit_id: uuid.UUID) -> list[User]:
    """Who may own a duty: the unit's active upphandlare, samordnare and ersättare."""
    return list(
        db.scalars(
            select(User)
            .join(RoleAssignment, RoleAssignment.user_id == User.id)
            .where(
                RoleAssignment.unit_id == unit_id,
                RoleAssignment.role.in_((Role.UPPHANDLARE, Role.SAMORDNARE, Role.ERSATTARE)),
                RoleAssignment.status == AssignmentStatus.ACTIVE,
                User.is_active.is_(True),
            )
            .order_by(User.display_name, User.username)
            .distinct()
        )
    )


# --- visibility ------------------------------------------------------------------------------


def visible_clause(user: User) -> ColumnElement[bool]:
    """The procurements a user reaches (the same rules as policies/procurements.cedar):
    the unit's samordnare/ersättare and the operator's chef see all of them, an upphandlare the
    ones they are responsible for in their own units; never above the user's clearance."""
    return and_(
        Procurement.classification <= user.clearance,
        or_(
            Procurement.unit_id.in_(coordinated_unit_ids(user.id)),
            Procurement.unit_id.in_(chef_unit_ids(user.id)),
            and_(
                Procurement.responsible_id == user.id, Procurement.unit_id.in_(upphandlare_unit_ids(user.id))
            ),
        ),
    )


def load_visible(user: User, procurement_id: uuid.UUID) -> Procurement | None:
    return db.scalar(select(Procurement).where(Procurement.id == procurement_id, visible_clause(user)))


# --- create and change ------------------------------------------------------------------------


def _clean(unit_id: uuid.UUID, values: Mapping[str, Any], actor: User) -> dict[str, Any]:
    unknown = set(values) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not assignable: {sorted(unknown)}")
    missing = set(EDITABLE_FIELDS) - set(values)
    if missing:
        raise ValueError(f"missing: {sorted(missing)}")
    try:
        kind = ProcurementKind(values["kind"])
        classification = int(values["classification"] or 0)
    except (ValueError, TypeError) as exc:
        raise DomainError("Välj typ av förfarande bland alternativen.") from exc
    cleaned: dict[str, Any] = {
        "kind": kind,
        "classification": classification,
        "title": _text(values, "title", required="Ange en neutral benämning."),
        "registry_number": _text(values, "registry_number", required="Ange diarienumret."),
        "supplier_name": _text(values, "supplier_name"),
        "supplier_contact": _text(values, "supplier_contact"),
        "supplier_org_number": _org_number(
            values["supplier_org_number"], "Leverantörens organisationsnummer"
        ),
    }
    if cleaned["supplier_org_number"] and not cleaned["supplier_name"]:
        raise DomainError("Ange leverantörens namn tillsammans med organisationsnumret.")
    if cleaned["supplier_contact"] and not cleaned["supplier_name"]:
        raise DomainError("Ange leverantörens namn tillsammans med kontaktuppgifterna.")
    for name in ("procedure_starts_on", "contract_starts_on", "contract_ends_on"):
        day = values[name]
        if day is not None and (not isinstance(day, dt.date) or isinstance(day, dt.datetime)):
            raise ValueError(f"{name} must be a date")
        cleaned[name] = day
    if cleaned["procedure_starts_on"] is None:
        raise DomainError("Ange när förfarandet planeras börja.")
    starts, ends = cleaned["contract_starts_on"], cleaned["contract_ends_on"]
    if starts is not None and starts < cleaned["procedure_starts_on"]:
        raise DomainError("Avtalet kan inte börja före förfarandet.")
    if ends is not None and (starts is None or ends < starts):
        raise DomainError("Avtalets slutdatum kräver ett startdatum och kan inte ligga före det.")
    responsible = values["responsible_id"]
    if not isinstance(responsible, uuid.UUID) or responsible not in {
        u.id for u in responsible_candidates(unit_id)
    }:
        raise DomainError("Välj en ansvarig upphandlare vid enheten.")
    cleaned["responsible_id"] = responsible
    if classification > actor.clearance:
        raise DomainError(
            "Du kan inte märka uppgifterna med en högre säkerhetsskyddsklass än din egen behörighetsnivå."
        )
    return cleaned


def create_procurement(
    actor: User, unit: OrgUnit, values: Mapping[str, Any], *, attested: bool
) -> Procurement:
    """Register a procurement of `unit`. Raises DomainError or ClassificationAboveCeiling."""
    cleaned = _clean(unit.id, values, actor)
    check_free_text(
        [cleaned["supplier_contact"]],
        attested=attested,
        marking=cleaned["classification"],
        ceiling=_ceiling(),
    )
    contact = cleaned.pop("supplier_contact")
    procurement = Procurement(unit_id=unit.id, created_by_id=actor.id, **cleaned)
    procurement.supplier_contact = contact
    procurement.attested = bool(attested and contact)
    db.add(procurement)
    db.flush()
    changed = sorted(
        [n for n, v in cleaned.items() if v is not None] + (["supplier_contact"] if contact else [])
    )
    _history(
        actor,
        procurement,
        "created",
        {n: None if n in ENCRYPTED_FIELDS else plain_value(cleaned[n]) for n in changed},
    )
    audit.record(Event.PROCUREMENT_CREATED, target=procurement, changed=changed)
    return procurement


def record_read(procurement: Procurement, *, view: str = "detail") -> None:
    """A sensitive read: the page shows the decrypted supplier contact and notes."""
    audit.record(Event.PROCUREMENT_READ, target=procurement, detail={"view": view})


def update_procurement(
    actor: User, procurement: Procurement, values: Mapping[str, Any], version: int | None, *, attested: bool
) -> list[str]:
    """Change the procurement's own data; deadlines follow changed dates. Returns the changed names."""
    _writable(procurement)
    check_version(procurement, version)
    cleaned = _clean(procurement.unit_id, values, actor)
    check_free_text(
        [cleaned["supplier_contact"]],
        attested=attested,
        marking=cleaned["classification"],
        ceiling=_ceiling(),
    )
    if cleaned["classification"] < procurement.classification:
        raise DowngradeNeedsTwoPersons()
    changes = track_changes(procurement, cleaned, ENCRYPTED_FIELDS)
    if not changes:
        return []
    if "supplier_contact" in changes:
        procurement.attested = bool(attested and cleaned["supplier_contact"])
    procurement.updated_at = utcnow()
    flush_versioned()
    if changes.keys() & {"procedure_starts_on", "contract_starts_on", "contract_ends_on"}:
        refresh_due_dates(procurement)
    _history(actor, procurement, "updated", changes)
    audit.record(Event.PROCUREMENT_UPDATED, target=procurement, changed=sorted(changes))
    return sorted(changes)


def add_sub_supplier(actor: User, procurement: Procurement, name: str, org_number: str | None) -> SubSupplier:
    _writable(procurement)
    clean_name = _text(
        {"name": name}, "name", required="Ange underleverantörens namn.", limit="supplier_name"
    )
    number = _org_number(org_number, "Underleverantörens organisationsnummer")
    sub = SubSupplier(name=clean_name, org_number=number)
    procurement.sub_suppliers.append(sub)
    db.flush()
    summary = _sync_sub_supplier_duty(procurement)
    _history(actor, procurement, "sub_supplier_added", {"sub_suppliers": [None, clean_name]})
    audit.record(Event.PROCUREMENT_UPDATED, target=procurement, changed=["sub_suppliers"], detail=summary)
    return sub


def remove_sub_supplier(actor: User, procurement: Procurement, sub: SubSupplier) -> None:
    if sub.procurement_id != procurement.id:
        raise ValueError("the sub-supplier belongs to another procurement")
    _writable(procurement)
    _history(actor, procurement, "sub_supplier_removed", {"sub_suppliers": [sub.name, None]})
    procurement.sub_suppliers.remove(sub)  # delete-orphan deletes the row
    db.flush()
    summary = _sync_sub_supplier_duty(procurement)
    audit.record(Event.PROCUREMENT_UPDATED, target=procurement, changed=["sub_suppliers"], detail=summary)


def _sync_sub_supplier_duty(procurement: Procurement) -> dict[str, int] | None:
    """A confirmed agreement gains the sub-supplier duty with its first sub-supplier (and loses
    it, while still open, with the last one unless the triage said there would be some). The
    changed duty counts for the audit event, or None."""
    if procurement.status != ProcurementStatus.CONFIRMED:
        return None
    return {k: v for k, v in _sync_duties(procurement).items() if v} or None


# --- triage and confirmation ------------------------------------------------------------------


def answers_of(procurement: Procurement) -> TriageAnswers | None:
    if procurement.triaged_at is None or procurement.q_where is None:
        return None
    return TriageAnswers(
        classified_access=bool(procurement.q_classified_access),
        sensitive_activity=bool(procurement.q_sensitive_activity),
        where=procurement.q_where,
        staff_vetting=bool(procurement.q_staff_vetting),
        restricted_access=bool(procurement.q_restricted_access),
        sub_suppliers=bool(procurement.q_sub_suppliers),
    )


def triage(
    actor: User, procurement: Procurement, answers: TriageAnswers, version: int | None
) -> rules.Derivation:
    """Record the upphandlare's answers and the proposed outcome; the samordnare confirms next.

    Raises ProcurementClosed, WrongStage (stopped), StaleRecord.
    """
    _writable(procurement)
    if procurement.status == ProcurementStatus.STOPPED:
        raise WrongStage("Förfarandet är stoppat vid samråd; triagen kan inte ändras.")
    check_version(procurement, version)
    derivation = rules.derive(answers)
    previous = answers_of(procurement)
    if previous == answers and procurement.status != ProcurementStatus.NEW:
        return derivation
    changes: dict[str, Any] = {}
    for name in (
        "classified_access",
        "sensitive_activity",
        "where",
        "staff_vetting",
        "restricted_access",
        "sub_suppliers",
    ):
        value = getattr(answers, name)
        old = getattr(procurement, f"q_{name}")
        if old != value:
            changes[f"q_{name}"] = [plain_value(old), plain_value(value)]
        setattr(procurement, f"q_{name}", value)
    changes["proposed_outcome"] = [plain_value(procurement.proposed_outcome), derivation.outcome.value]
    procurement.proposed_outcome = derivation.outcome
    procurement.proposed_consultation = derivation.consultation
    procurement.triaged_at = utcnow()
    procurement.triaged_by_id = actor.id
    status_before = procurement.status
    procurement.status = ProcurementStatus.TRIAGED
    procurement.updated_at = utcnow()
    flush_versioned()
    _history(actor, procurement, "triaged", changes)
    audit.record(
        Event.PROCUREMENT_TRIAGED,
        target=procurement,
        changed=sorted(changes),
        detail={
            "proposed": derivation.outcome.value,
            "consultation": derivation.consultation,
            "from_status": status_before.value,
        },
    )
    return derivation


def confirm(
    actor: User,
    procurement: Procurement,
    *,
    outcome: Outcome,
    consultation: bool,
    reason: str | None,
    attested: bool,
    version: int | None,
    today: dt.date | None = None,
) -> bool:
    """The samordnare confirms the proposed outcome, or overrides it with a reason (required,
    attested, encrypted). The duties follow the confirmed outcome. Returns whether it was an
    override. Raises WrongStage, DomainError, StaleRecord, ClassificationAboveCeiling."""
    _writable(procurement)
    if procurement.status != ProcurementStatus.TRIAGED or procurement.proposed_outcome is None:
        raise WrongStage("Triagen måste vara besvarad och vänta på bekräftelse.")
    if actor.id == procurement.triaged_by_id:
        # The policy sod.confirm_own_triage refuses this before the service runs; held here
        # too, so no other caller (the CLI, the demo) can confirm its own triage.
        raise DomainError("Du kan inte bekräfta en triage som du själv har besvarat.")
    check_version(procurement, version)
    today = today or local_today()
    overridden = outcome != procurement.proposed_outcome or consultation != bool(
        procurement.proposed_consultation
    )
    reason = _text({"reason": reason}, "reason")
    if overridden:
        if reason is None:
            raise DomainError("Ange skälet till att du ändrar det föreslagna utfallet.")
        check_free_text([reason], attested=attested, ceiling=_ceiling())
    elif reason is not None:
        check_free_text([reason], attested=attested, ceiling=_ceiling())
    before = procurement.outcome
    procurement.outcome = outcome
    procurement.consultation = consultation
    procurement.overridden = overridden
    procurement.override_reason = reason
    procurement.confirmed_on = today
    procurement.confirmed_by_id = actor.id
    procurement.status = ProcurementStatus.CONFIRMED
    procurement.updated_at = utcnow()
    flush_versioned()
    summary = _sync_duties(procurement)
    _history(
        actor,
        procurement,
        "overridden" if overridden else "confirmed",
        {
            "outcome": [plain_value(before), outcome.value],
            "consultation": [None, consultation],
            **({"override_reason": None} if reason else {}),
        },
    )
    audit.record(
        Event.PROCUREMENT_CONFIRMED,
        target=procurement,
        changed=["outcome", "consultation"] + (["override_reason"] if reason else []),
        detail={
            "proposed": procurement.proposed_outcome.value,
            "outcome": outcome.value,
            "consultation": consultation,
            "overridden": overridden,
            "reason_given": reason is not None,
            **summary,
        },
    )
    return overridden


def _dates(procurement: Procurement) -> rules.DutyDates:
    return rules.DutyDates(
        procedure_starts_on=procurement.procedure_starts_on,
        contract_starts_on=procurement.contract_starts_on,
        contract_ends_on=procurement.contract_ends_on,
        confirmed_on=procurement.confirmed_on,
        signed_on=procurement.signed_on,
    )


def required_duties(procurement: Procurement) -> tuple[DutyKind, ...]:
    if procurement.outcome is None:
        return ()
    return rules.duties_for(
        procurement.outcome,
        consultation=bool(procurement.consultation),
        sub_suppliers=bool(procurement.q_sub_suppliers) or bool(procurement.sub_suppliers),
    )


def _sync_duties(procurement: Procurement) -> dict[str, int]:
    """Bring the duties in line with the confirmed outcome; counts for the audit event."""
    required = required_duties(procurement)
    existing = {d.kind: d for d in procurement.duties}
    prompt = _settings().prompt_duty_days
    dates = _dates(procurement)
    added = withdrawn = reopened = 0
    for kind in required:
        duty = existing.get(kind)
        if duty is None:
            owner = (
                procurement.confirmed_by_id if kind == DutyKind.CONSULTATION else procurement.responsible_id
            )
            procurement.duties.append(
                ProcurementDuty(
                    unit_id=procurement.unit_id,
                    kind=kind,
                    position=rules.DUTY_ORDER.index(kind),
                    owner_id=owner or procurement.responsible_id,
                    due_on=rules.due_on(kind, dates, prompt),
                    count_required=0 if kind == DutyKind.STAFF_VETTING else None,
                    count_done=0 if kind == DutyKind.STAFF_VETTING else None,
                )
            )
            added += 1
        elif duty.status == DutyStatus.WITHDRAWN:
            duty.status = DutyStatus.OPEN
            duty.updated_at = utcnow()
            reopened += 1
    for kind, duty in existing.items():
        if kind not in required and duty.status == DutyStatus.OPEN:
            duty.status = DutyStatus.WITHDRAWN
            duty.updated_at = utcnow()
            withdrawn += 1
    flush_versioned()
    refresh_due_dates(procurement)
    return {"duties_added": added, "duties_withdrawn": withdrawn, "duties_reopened": reopened}


def refresh_due_dates(procurement: Procurement) -> None:
    """Recompute every duty's deadline from the procurement's dates (rules.due_on)."""
    prompt = _settings().prompt_duty_days
    dates = _dates(procurement)
    for duty in procurement.duties:
        due = rules.due_on(duty.kind, dates, prompt)
        if duty.due_on != due:
            duty.due_on = due
    flush_versioned()


# --- duties -----------------------------------------------------------------------------------


def update_duty(
    actor: User,
    procurement: Procurement,
    duty: ProcurementDuty,
    values: Mapping[str, Any],
    *,
    attested: bool,
    version: int | None,
    today: dt.date | None = None,
) -> list[str]:
    """Record progress on one duty: status, date done, reference, owner, note, and for samråd its
    outcome, for staff vetting the counts. Refuses access before a signed agreement, a duty
    done before its prerequisites, a date in the future. Returns the changed names."""
    if duty.procurement_id != procurement.id:
        raise ValueError("the duty belongs to another procurement")
    _writable(procurement)
    if procurement.status not in (ProcurementStatus.CONFIRMED, ProcurementStatus.STOPPED):
        raise WrongStage("Skyldigheterna följs upp först när triagen är bekräftad.")
    if duty.status == DutyStatus.WITHDRAWN:
        raise WrongStage("Skyldigheten har fallit bort efter ett ändrat utfall och kan inte ändras.")
    if duty.kind == DutyKind.FINAL_NOTE:
        raise WrongStage("Slutanteckningen görs när ärendet avslutas.")
    check_version(duty, version)
    today = today or local_today()
    try:
        status = DutyStatus(values["status"])
    except ValueError as exc:
        raise DomainError("Välj en status bland alternativen.") from exc
    if status == DutyStatus.WITHDRAWN:
        raise DomainError("Välj en status bland alternativen.")
    done_on = values.get("done_on")
    reference = _text(values, "reference")
    note = _text(values, "note")
    check_free_text([note], attested=attested, ceiling=_ceiling())
    owner_id = values.get("owner_id") or duty.owner_id
    if owner_id != duty.owner_id and owner_id not in {u.id for u in owner_candidates(procurement.unit_id)}:
        raise DomainError("Välj en ansvarig bland enhetens upphandlare, samordnare och ersättare.")
    cleaned: dict[str, Any] = {"status": status, "reference": reference, "owner_id": owner_id, "note": note}
    if status == DutyStatus.DONE:
        if done_on is None:
            raise DomainError("Ange datum då skyldigheten fullgjordes.")
        if done_on > today:
            raise DomainError("Datumet kan inte ligga i framtiden.")
        present = [d.kind for d in procurement.duties if d.status != DutyStatus.WITHDRAWN]
        done = [d.kind for d in procurement.duties if d.status == DutyStatus.DONE and d.id != duty.id]
        missing = rules.missing_prerequisites(duty.kind, done, present)
        if missing:
            if duty.kind == DutyKind.ACCESS_GRANTED:
                raise DomainError(
                    "Leverantören kan inte få tillgång innan säkerhetsskyddsavtalet är undertecknat. "
                    "Registrera först att avtalet är undertecknat."
                )
            names = ", ".join(rules.DUTY_RULES[k].label.lower() for k in missing)
            raise DomainError(f"Detta kan registreras först när följande är klart: {names}.")
        cleaned["done_on"] = done_on
    else:
        cleaned["done_on"] = None
        if duty.status == DutyStatus.DONE:
            _refuse_reopen_with_dependants(procurement, duty)
    if status == DutyStatus.NOT_APPLICABLE and note is None:
        raise DomainError("Ange i anteckningen varför skyldigheten inte är aktuell.")
    if duty.kind == DutyKind.CONSULTATION:
        raw = values.get("consultation_outcome") or None
        try:
            consultation_outcome = ConsultationOutcome(raw) if raw else None
        except ValueError as exc:
            raise DomainError("Välj samrådets utfall bland alternativen.") from exc
        if status == DutyStatus.DONE and consultation_outcome is None:
            raise DomainError("Ange samrådets utfall: fortsätta, åtgärder eller stoppat.")
        cleaned["consultation_outcome"] = consultation_outcome if status == DutyStatus.DONE else None
    if duty.kind == DutyKind.STAFF_VETTING:
        required, done_count = values.get("count_required"), values.get("count_done")
        if required is None or done_count is None or required < 0 or done_count < 0:
            raise DomainError("Ange antal befattningar att säkerhetspröva och antal klara (0 eller fler).")
        if done_count > required:
            raise DomainError("Fler klara än befattningar att säkerhetspröva.")
        if status == DutyStatus.DONE and done_count < required:
            raise DomainError(f"{required - done_count} av {required} säkerhetsprövningar återstår.")
        cleaned["count_required"], cleaned["count_done"] = required, done_count
    changes = track_changes(duty, cleaned, ENCRYPTED_FIELDS)
    if not changes:
        return []
    if "note" in changes:
        duty.attested = bool(attested and note)
    duty.done_by_id = actor.id if status == DutyStatus.DONE else None
    duty.updated_at = utcnow()
    _after_duty_change(procurement, duty)
    flush_versioned()
    _history(actor, procurement, f"duty:{duty.kind.value}", changes)
    audit.record(
        Event.PROCUREMENT_DUTY_UPDATED,
        target=procurement,
        changed=sorted(changes),
        detail={"duty": duty.kind.value, "status": status.value},
    )
    return sorted(changes)


def _refuse_reopen_with_dependants(procurement: Procurement, duty: ProcurementDuty) -> None:
    for other in procurement.duties:
        if other.status == DutyStatus.DONE and duty.kind in rules.PREREQUISITES.get(other.kind, ()):
            if other.kind == DutyKind.ACCESS_GRANTED:
                remaining = [
                    d
                    for d in procurement.duties
                    if d.id != duty.id
                    and d.status == DutyStatus.DONE
                    and d.kind in rules.PREREQUISITES[DutyKind.ACCESS_GRANTED]
                ]
                if remaining:
                    continue
            raise DomainError(
                f"”{rules.DUTY_RULES[duty.kind].label}” kan inte öppnas igen när "
                f"”{rules.DUTY_RULES[other.kind].label}” är registrerad som klar."
            )


def _after_duty_change(procurement: Procurement, duty: ProcurementDuty) -> None:
    """What a duty's new state means for the procurement: signing date, samråd stop."""
    if duty.kind in (DutyKind.SUA_SIGNED, DutyKind.AGREEMENT_SIGNED):
        procurement.signed_on = duty.done_on if duty.status == DutyStatus.DONE else None
        refresh_due_dates(procurement)
    if duty.kind == DutyKind.CONSULTATION:
        stopped = duty.status == DutyStatus.DONE and duty.consultation_outcome == ConsultationOutcome.STOPPED
        if stopped and procurement.status == ProcurementStatus.CONFIRMED:
            procurement.status = ProcurementStatus.STOPPED
        elif not stopped and procurement.status == ProcurementStatus.STOPPED:
            procurement.status = ProcurementStatus.CONFIRMED
    procurement.updated_at = utcnow()


# --- contract end -----------------------------------------------------------------------------


def open_end_blockers(procurement: Procurement) -> list[ProcurementDuty]:
    """Open duties other than the final note: they must be done or not applicable first."""
    return [d for d in procurement.duties if d.status == DutyStatus.OPEN and d.kind != DutyKind.FINAL_NOTE]


def close(
    actor: User,
    procurement: Procurement,
    *,
    final_note: str | None,
    attested: bool,
    version: int | None,
    today: dt.date | None = None,
) -> None:
    """Close the case with the final note once every other duty is done or not applicable."""
    _writable(procurement)
    if procurement.status not in (ProcurementStatus.CONFIRMED, ProcurementStatus.STOPPED):
        raise WrongStage("Ärendet kan avslutas först när triagen är bekräftad.")
    check_version(procurement, version)
    today = today or local_today()
    note = _text({"note": final_note}, "note", required="Skriv en slutanteckning.")
    check_free_text([note], attested=attested, ceiling=_ceiling())
    blockers = open_end_blockers(procurement)
    if blockers:
        names = ", ".join(rules.DUTY_RULES[d.kind].label.lower() for d in blockers[:5])
        more = f" och {len(blockers) - 5} till" if len(blockers) > 5 else ""
        raise DomainError(f"Ärendet kan inte avslutas: öppna skyldigheter återstår ({names}{more}).")
    for duty in procurement.duties:
        if duty.kind == DutyKind.FINAL_NOTE and duty.status == DutyStatus.OPEN:
            duty.status = DutyStatus.DONE
            duty.done_on = today
            duty.done_by_id = actor.id
            duty.updated_at = utcnow()
    procurement.final_note = note
    procurement.attested = True
    procurement.closed_on = today
    status_before = procurement.status
    procurement.status = ProcurementStatus.CLOSED
    procurement.updated_at = utcnow()
    flush_versioned()
    _history(
        actor,
        procurement,
        "closed",
        {"status": [status_before.value, ProcurementStatus.CLOSED.value], "final_note": None},
    )
    audit.record(Event.PROCUREMENT_CLOSED, target=procurement, changed=["final_note", "status"])


# --- supplier follow-up -----------------------------------------------------------------------


# The supplier follow-up checklist: the chef's, versioned (sakskydd/versioned_lists.py).
FOLLOW_UP_LIST: Final = versioned_lists.ListKind(
    model=FollowUpTemplate,
    attr="items",
    default=DEFAULT_FOLLOW_UP_ITEMS,
    event=Event.PROCUREMENT_TEMPLATE_SAVED,
    what="Checklistan",
    max_items=MAX_TEMPLATE_ITEMS,
    max_length=MAX_LENGTHS["item"],
)


def current_template(operator_id: uuid.UUID) -> tuple[FollowUpTemplate | None, list[str]]:
    """The checklist in force for an operator: its own latest version, else its kommun's, else
    the city's default (None, DEFAULT_FOLLOW_UP_ITEMS)."""
    return versioned_lists.current(FOLLOW_UP_LIST, operator_id)


def template_versions(operator_id: uuid.UUID) -> list[FollowUpTemplate]:
    return versioned_lists.versions(FOLLOW_UP_LIST, operator_id)


def save_template(actor: User, operator: Operator, text: str) -> FollowUpTemplate | None:
    """Save the checklist (one requirement per line) as a new version; None when unchanged."""
    return versioned_lists.save(FOLLOW_UP_LIST, actor, operator, text)


def follow_up_due(procurement: Procurement, last_run_on: dt.date | None) -> dt.date | None:
    """When the supplier is next to be followed up: a cadence after the last run, or after the
    agreement was signed; None without a signed agreement or once closed."""
    if procurement.outcome is None or procurement.status == ProcurementStatus.CLOSED:
        return None
    months = rules.follow_up_months(procurement.outcome, cadence())
    start = last_run_on or procurement.signed_on
    if months is None or start is None:
        return None
    return add_months(start, months)


def record_follow_up(
    actor: User,
    procurement: Procurement,
    *,
    performed_on: dt.date | None,
    results: Sequence[str],
    findings: str | None,
    actions: Sequence[Mapping[str, Any]],
    attested: bool,
    template: FollowUpTemplate | None,
    items: Sequence[str],
    today: dt.date | None = None,
) -> FollowUpRun:
    """Record one follow-up run: a result per checklist item, findings, and the agreed actions.
    A finding needs at least one agreed action."""
    _writable(procurement)
    if procurement.status != ProcurementStatus.CONFIRMED or not (
        procurement.outcome and procurement.outcome.is_protected
    ):
        raise WrongStage("Uppföljning görs av bekräftade säkerhetsskyddade förfaranden.")
    today = today or local_today()
    if performed_on is None or performed_on > today:
        raise DomainError("Ange datum för uppföljningen (inte i framtiden).")
    if len(results) != len(items):
        raise DomainError("Ange ett resultat för varje punkt i checklistan.")
    try:
        parsed = [FollowUpResult(r) for r in results]
    except ValueError as exc:
        raise DomainError("Ange ett resultat för varje punkt i checklistan.") from exc
    findings = _text({"findings": findings}, "findings")
    cleaned_actions = []
    for action in actions[: MAX_ACTIONS + 1]:
        description = _text(action, "description")
        if description is None:
            continue
        responsible = _text(action, "responsible", required="Ange vem som ansvarar för varje åtgärd.")
        due = action.get("due_on")
        if due is None:
            raise DomainError("Ange ett datum då varje åtgärd ska vara klar.")
        cleaned_actions.append((description, responsible, due))
    if len(cleaned_actions) > MAX_ACTIONS:
        raise DomainError(f"Högst {MAX_ACTIONS} åtgärder per uppföljning.")
    # The findings and the agreed actions are free text: one attestation covers them all.
    check_free_text(
        [findings, *(d for d, _r, _due in cleaned_actions)], attested=attested, ceiling=_ceiling()
    )
    has_finding = FollowUpResult.FINDING in parsed
    if has_finding and not cleaned_actions:
        raise DomainError("En brist kräver minst en överenskommen åtgärd med datum.")
    run = FollowUpRun(
        procurement_id=procurement.id,
        unit_id=procurement.unit_id,
        template_id=template.id if template is not None else None,
        performed_on=performed_on,
        performed_by_id=actor.id,
        results=[[item, result.value] for item, result in zip(items, parsed, strict=True)],
    )
    run.findings = findings
    run.attested = bool(attested and findings)
    for description, responsible, due in cleaned_actions:
        run.actions.append(
            FollowUpAction(
                procurement_id=procurement.id,
                unit_id=procurement.unit_id,
                description=description,
                responsible=responsible,
                due_on=due,
            )
        )
    db.add(run)
    procurement.updated_at = utcnow()
    flush_versioned()
    _history(
        actor,
        procurement,
        "follow_up",
        {"performed_on": [None, performed_on.isoformat()], "findings": None if findings else [None, None]},
    )
    audit.record(
        Event.PROCUREMENT_FOLLOW_UP_RECORDED,
        target=procurement,
        changed=["follow_up"] + (["findings"] if findings else []),
        detail={
            "items": len(items),
            "findings": sum(1 for r in parsed if r == FollowUpResult.FINDING),
            "actions": len(cleaned_actions),
        },
    )
    return run


def update_action(
    actor: User,
    procurement: Procurement,
    action: FollowUpAction,
    *,
    done: bool,
    done_on: dt.date | None,
    version: int | None,
    today: dt.date | None = None,
) -> None:
    if action.procurement_id != procurement.id:
        raise ValueError("the action belongs to another procurement")
    _writable(procurement)
    check_version(action, version)
    today = today or local_today()
    if done:
        if done_on is None or done_on > today:
            raise DomainError("Ange datum då åtgärden blev klar (inte i framtiden).")
        action.status, action.done_on, action.done_by_id = ActionStatus.DONE, done_on, actor.id
    else:
        action.status, action.done_on, action.done_by_id = ActionStatus.OPEN, None, None
    flush_versioned()
    _history(actor, procurement, "follow_up_action", {"status": [None, action.status.value]})
    audit.record(
        Event.PROCUREMENT_ACTION_UPDATED,
        target=procurement,
        changed=["status"],
        detail={"action": str(action.id), "status": action.status.value},
    )
