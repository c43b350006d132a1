"""Units and coordinators: applicability, appointments, revision triggers, supervisors, findings.

Services take explicit arguments (the acting user, the unit, the values), check the rules, change
the models, record the audit event in the same transaction and flush; the view commits. A
broken rule raises a DomainError subclass whose Swedish message is safe to show.

`coordinator_findings` and `current_applicability` are also used by the deadline engine and the
chef's consolidated picture: they run a fixed number of SQL statements whatever the number of
units.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, not_, or_, select
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import flag_modified

from sakskydd import audit
from sakskydd.accounts.models import User
from sakskydd.audit.tags import Event
from sakskydd.deadlines import local_today  # today in the city's calendar
from sakskydd.extensions import db
from sakskydd.organisations.models import (
    Applicability,
    ApplicabilityAssessment,
    Appointment,
    AppointmentRole,
    Operator,
    OrgUnit,
    RevisionTrigger,
    RevisionTriggerKind,
    SupervisoryAuthority,
)
from sakskydd.organisations.rules import (  # noqa: F401  (re-exported for views and templates)
    APPLICABILITY_MISSING,
    ERSATTARE_MISSING,
    FINDING_LABELS,
    LOCAL_TIMEZONE,
    SAMORDNARE_MISSING,
    findings_for,
)
from sakskydd.records import (
    DomainError,
    check_free_text,
    check_version,
    clean_text,
    flush_versioned,
    serialise_on,
)

APPLICABILITY_LABELS: Final[Mapping[str, str]] = {
    Applicability.YES: "Ja",
    Applicability.NO: "Nej",
    Applicability.INVESTIGATING: "Under utredning",
}
NOT_ASSESSED_LABEL: Final = "Ej bedömd"
APPOINTMENT_ROLE_LABELS: Final[Mapping[str, str]] = {
    AppointmentRole.SAMORDNARE: "Säkerhetsskyddssamordnare",
    AppointmentRole.ERSATTARE: "Ersättare",
}
TRIGGER_KIND_LABELS: Final[Mapping[str, str]] = {
    RevisionTriggerKind.REORGANISATION: "Omorganisation",
    RevisionTriggerKind.NEW_ACTIVITY: "Ny verksamhet",
    RevisionTriggerKind.NEW_SYSTEM: "Nytt IT-system eller ny upphandling",
    RevisionTriggerKind.THREAT_INFORMATION: "Ny hotinformation",
    RevisionTriggerKind.INCIDENT: "Säkerhetsincident",
}

MAX_TEXT: Final = 5000
MAX_SHORT: Final = 100
MAX_DECIDED_BY: Final = 200


# --- errors ------------------------------------------------------------------------------------


class UnitInactive(DomainError):
    def __init__(self) -> None:
        super().__init__("Enheten är inaktiverad. Dess uppgifter kan inte längre ändras.")


class DateInFuture(DomainError):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what} kan inte ligga i framtiden.")


class ReasoningRequired(DomainError):
    def __init__(self) -> None:
        super().__init__(
            "En bedömning att verksamheten inte omfattas ska också dokumenteras: skriv en motivering."
        )


class InvalidValue(DomainError):
    """A value outside what the form offers (a tampered request or a caller's mistake)."""


class AppointeeNotEligible(DomainError):
    def __init__(self) -> None:
        super().__init__(
            "Personen kan inte förordnas för enheten: kontot är inaktiverat eller hör till en annan "
            "verksamhetsutövare."
        )


class OverlappingAppointment(DomainError):
    def __init__(self) -> None:
        super().__init__("Personen har redan ett förordnande med samma roll för enheten under den perioden.")


class EndBeforeStart(DomainError):
    def __init__(self) -> None:
        super().__init__("Slutdatum kan inte ligga före startdatum.")


class AppointmentAlreadyEnded(DomainError):
    def __init__(self) -> None:
        super().__init__("Förordnandet är redan avslutat.")


class SupervisorRequired(DomainError):
    def __init__(self) -> None:
        super().__init__("Välj minst en tillsynsmyndighet.")


# --- dates ---------------------------------------------------------------------------------------


# --- status in SQL: one expression per fact, correlated to OrgUnit.id ----------------------------


def _id_in(column: Any, unit_ids: Select[Any] | Iterable[uuid.UUID]) -> ColumnElement[bool]:
    """`column IN (…)` for a SELECT of ids or a list of ids (an empty list matches nothing)."""
    if isinstance(unit_ids, Select):
        return column.in_(unit_ids)  # type: ignore[no-any-return]
    ids = list(unit_ids)
    return column.in_(ids) if ids else false()  # type: ignore[no-any-return]


def _ranked_assessments(on: dt.date | None) -> Select[Any]:
    """The latest decision per unit (decided_on, then the later recording) as rank 1."""
    rank = (
        func.row_number()
        .over(
            partition_by=ApplicabilityAssessment.unit_id,
            order_by=(
                ApplicabilityAssessment.decided_on.desc(),
                ApplicabilityAssessment.created_at.desc(),
                ApplicabilityAssessment.id.desc(),
            ),
        )
        .label("rank")
    )
    query = select(ApplicabilityAssessment.id, ApplicabilityAssessment.unit_id, rank)
    if on is not None:
        query = query.where(ApplicabilityAssessment.decided_on <= on)
    return query


def current_outcome_column(on: dt.date | None = None) -> ColumnElement[Any]:
    """The unit's current applicability outcome (NULL: never assessed), correlated to OrgUnit.id."""
    latest = aliased(ApplicabilityAssessment)
    query = select(latest.outcome).where(latest.unit_id == OrgUnit.id)
    if on is not None:
        query = query.where(latest.decided_on <= on)
    return (
        query.order_by(latest.decided_on.desc(), latest.created_at.desc(), latest.id.desc())
        .limit(1)
        .correlate(OrgUnit)
        .scalar_subquery()
    )


def _current_appointment_filter(appointment: Any, on: dt.date) -> ColumnElement[bool]:
    return and_(
        appointment.starts_on <= on,
        or_(appointment.ends_on.is_(None), appointment.ends_on >= on),
    )


def has_current_appointment_column(role: AppointmentRole, on: dt.date) -> ColumnElement[bool]:
    """Whether the unit has someone appointed to `role` on `on`, correlated to OrgUnit.id."""
    appointment = aliased(Appointment)
    return (
        exists()
        .where(
            appointment.unit_id == OrgUnit.id,
            appointment.role == role,
            _current_appointment_filter(appointment, on),
        )
        .correlate(OrgUnit)
    )


def has_findings_clause(on: dt.date) -> ColumnElement[bool]:
    """SQL twin of `findings_for`: not assessed, or covered and missing a coordinator or deputy."""
    outcome = current_outcome_column(on)
    return or_(
        outcome.is_(None),
        and_(
            outcome == Applicability.YES,
            or_(
                not_(has_current_appointment_column(AppointmentRole.SAMORDNARE, on)),
                not_(has_current_appointment_column(AppointmentRole.ERSATTARE, on)),
            ),
        ),
    )


def coordinator_findings(
    unit_ids: Select[Any] | Sequence[uuid.UUID], on: dt.date
) -> dict[uuid.UUID, list[str]]:
    """Findings per unit on the date `on`, in one SQL statement whatever the number of units.

    `unit_ids` is a SELECT of unit ids (e.g. scope.readable_unit_ids(user_id)) or a list of ids.
    Returns {unit_id: [codes]} for every active unit among them (an empty list: no finding).
    Codes: "applicability_missing" (no assessment decided on or before `on`), and for units whose
    current assessment is "ja": "samordnare_missing", "ersattare_missing" (no appointment with
    that role current on `on`). FINDING_LABELS has the Swedish text of each code.
    """
    query = select(
        OrgUnit.id,
        current_outcome_column(on).label("outcome"),
        has_current_appointment_column(AppointmentRole.SAMORDNARE, on).label("has_samordnare"),
        has_current_appointment_column(AppointmentRole.ERSATTARE, on).label("has_ersattare"),
    ).where(_id_in(OrgUnit.id, unit_ids), OrgUnit.is_active.is_(True))
    return {
        row.id: findings_for(
            row.outcome,
            has_samordnare=bool(row.has_samordnare),
            has_ersattare=bool(row.has_ersattare),
        )
        for row in db.execute(query)
    }


def current_applicability(
    unit_ids: Select[Any] | Sequence[uuid.UUID], *, on: dt.date | None = None
) -> dict[uuid.UUID, ApplicabilityAssessment]:
    """The current assessment of each unit, in one SQL statement.

    Returns {unit_id: assessment} for the units that have one (a unit never assessed is absent).
    The current assessment is the one with the latest decided_on (the later recording on a tie);
    with `on`, only decisions taken on or before that date count.
    """
    ranked = _ranked_assessments(on).where(_id_in(ApplicabilityAssessment.unit_id, unit_ids)).subquery()
    rows = db.scalars(
        select(ApplicabilityAssessment)
        .join(ranked, ranked.c.id == ApplicabilityAssessment.id)
        .where(ranked.c.rank == 1)
    )
    return {row.unit_id: row for row in rows}


def current_appointees(
    unit_ids: Sequence[uuid.UUID], on: dt.date
) -> dict[uuid.UUID, dict[AppointmentRole, list[User]]]:
    """Who is appointed to each unit on `on`, by role (one statement)."""
    result: dict[uuid.UUID, dict[AppointmentRole, list[User]]] = {}
    if not unit_ids:
        return result
    rows = db.execute(
        select(Appointment.unit_id, Appointment.role, User)
        .join(User, User.id == Appointment.user_id)
        .where(Appointment.unit_id.in_(list(unit_ids)), _current_appointment_filter(Appointment, on))
        .order_by(Appointment.starts_on, User.display_name)
    )
    for unit_id, role, user in rows:
        result.setdefault(unit_id, {}).setdefault(AppointmentRole(role), []).append(user)
    return result


# --- applicability -------------------------------------------------------------------------------


def record_unit_read(unit: OrgUnit) -> None:
    """The unit page shows decrypted reasoning and notes: every view of it is audited."""
    audit.record(Event.UNIT_READ, target=unit)


def _check_unit_active(unit: OrgUnit) -> None:
    if not unit.is_active:
        raise UnitInactive()


def _check_length(value: str | None, limit: int, what: str) -> None:
    if value is not None and len(value) > limit:
        raise InvalidValue(f"{what} får vara högst {limit} tecken.")


def assess_applicability(
    actor: User,
    unit: OrgUnit,
    *,
    outcome: Applicability | str,
    decided_on: dt.date,
    decided_by: str,
    reference: str | None,
    reasoning: str | None,
    attested: bool,
    marking: int,
    ceiling: int,
    today: dt.date | None = None,
) -> ApplicabilityAssessment:
    """Record a new applicability decision; earlier ones stay unchanged as the history.

    Raises UnitInactive, InvalidValue, DateInFuture, ReasoningRequired, MissingAttestation,
    classification.ClassificationAboveCeiling.
    """
    _check_unit_active(unit)
    try:
        outcome = Applicability(outcome)
    except ValueError:
        raise InvalidValue("Välj om verksamheten omfattas, inte omfattas eller är under utredning.") from None
    decided_by_clean = clean_text(decided_by)
    reference_clean = clean_text(reference)
    reasoning_clean = clean_text(reasoning)
    if decided_by_clean is None:
        raise InvalidValue("Ange vem som fattade beslutet, till exempel ”Nämnden”.")
    _check_length(decided_by_clean, MAX_DECIDED_BY, "Beslutsfattare")
    _check_length(reference_clean, MAX_SHORT, "Diarienumret")
    _check_length(reasoning_clean, MAX_TEXT, "Motiveringen")
    if decided_on > (today or local_today()):
        raise DateInFuture("Beslutsdatum")
    if outcome == Applicability.NO and reasoning_clean is None:
        raise ReasoningRequired()
    check_free_text([reasoning_clean], attested=attested, marking=marking, ceiling=ceiling)
    assessment = ApplicabilityAssessment(
        unit_id=unit.id,
        outcome=outcome,
        decided_on=decided_on,
        decided_by=decided_by_clean,
        reference=reference_clean,
        reasoning=reasoning_clean,
        attested=bool(attested and reasoning_clean),
        recorded_by_id=actor.id,
    )
    db.add(assessment)
    db.flush()
    changed = ["outcome", "decided_on", "decided_by"]
    changed += [
        name for name, value in (("reference", reference_clean), ("reasoning", reasoning_clean)) if value
    ]
    audit.record(
        Event.UNIT_APPLICABILITY_ASSESSED,
        target=unit,
        unit_id=unit.id,
        changed=changed,
        detail={"outcome": outcome.value, "assessment_id": str(assessment.id)},
    )
    return assessment


# --- appointments --------------------------------------------------------------------------------


def operator_tree_ids(operator: Operator) -> Select[Any]:
    """The unit's operator, its parent and its children: whose staff may be appointed."""
    related = [operator.id] + ([operator.parent_id] if operator.parent_id else [])
    return select(Operator.id).where(or_(Operator.id.in_(related), Operator.parent_id == operator.id))


def eligible_appointees(unit: OrgUnit) -> list[User]:
    """Active accounts whose home operator is in the unit's operator tree, by name."""
    return list(
        db.scalars(
            select(User)
            .where(User.is_active.is_(True), User.operator_id.in_(operator_tree_ids(unit.operator)))
            .order_by(User.display_name, User.username)
        )
    )


def _is_eligible(unit: OrgUnit, user: User) -> bool:
    return user.is_active and user.operator_id in set(db.scalars(operator_tree_ids(unit.operator)))


def record_appointment(
    actor: User,
    unit: OrgUnit,
    *,
    user: User,
    role: AppointmentRole | str,
    starts_on: dt.date,
    ends_on: dt.date | None,
    reference: str | None,
) -> Appointment:
    """Record that `user` is appointed samordnare or ersättare of the unit from `starts_on`.

    The appointment is the formal record only; it grants no role in the system.
    Raises UnitInactive, InvalidValue, AppointeeNotEligible, EndBeforeStart, OverlappingAppointment.
    """
    _check_unit_active(unit)
    try:
        role = AppointmentRole(role)
    except ValueError:
        raise InvalidValue("Välj säkerhetsskyddssamordnare eller ersättare.") from None
    reference_clean = clean_text(reference)
    _check_length(reference_clean, MAX_SHORT, "Diarienumret")
    if not _is_eligible(unit, user):
        raise AppointeeNotEligible()
    if ends_on is not None and ends_on < starts_on:
        raise EndBeforeStart()
    serialise_on(OrgUnit, unit.id)  # the overlap check and the insert, one at a time per unit
    overlap = db.scalar(
        select(Appointment.id).where(
            Appointment.unit_id == unit.id,
            Appointment.user_id == user.id,
            Appointment.role == role,
            or_(Appointment.ends_on.is_(None), Appointment.ends_on >= starts_on),
            *([Appointment.starts_on <= ends_on] if ends_on is not None else []),
        )
    )
    if overlap is not None:
        raise OverlappingAppointment()
    appointment = Appointment(
        unit_id=unit.id,
        user_id=user.id,
        role=role,
        starts_on=starts_on,
        ends_on=ends_on,
        reference=reference_clean,
        recorded_by_id=actor.id,
    )
    db.add(appointment)
    db.flush()
    audit.record(
        Event.UNIT_APPOINTMENT_RECORDED,
        target=appointment,
        changed=["user_id", "role", "starts_on"]
        + (["ends_on"] if ends_on else [])
        + (["reference"] if reference_clean else []),
        detail={"role": role.value},
    )
    return appointment


def end_appointment(
    actor: User,
    appointment: Appointment,
    *,
    ends_on: dt.date,
    version: int | None,
    today: dt.date | None = None,
) -> Appointment:
    """Set the last day of an appointment (today, a past day or a planned future day).

    Raises StaleRecord (someone changed it since the form was opened), AppointmentAlreadyEnded,
    EndBeforeStart.
    """
    check_version(appointment, version)
    if appointment.ends_on is not None and appointment.ends_on < (today or local_today()):
        raise AppointmentAlreadyEnded()
    if ends_on < appointment.starts_on:
        raise EndBeforeStart()
    if appointment.ends_on == ends_on:
        return appointment
    appointment.ends_on = ends_on
    flush_versioned()
    audit.record(
        Event.UNIT_APPOINTMENT_ENDED,
        target=appointment,
        changed=["ends_on"],
        detail={"role": AppointmentRole(appointment.role).value},
    )
    return appointment


# --- revision triggers ---------------------------------------------------------------------------


def record_revision_trigger(
    actor: User,
    unit: OrgUnit,
    *,
    kind: RevisionTriggerKind | str,
    occurred_on: dt.date,
    note: str | None,
    attested: bool,
    marking: int,
    ceiling: int,
    today: dt.date | None = None,
) -> RevisionTrigger:
    """Record an event that calls for a review of the unit's säkerhetsskyddsanalys.

    Raises UnitInactive, InvalidValue, DateInFuture, MissingAttestation,
    classification.ClassificationAboveCeiling.
    """
    _check_unit_active(unit)
    try:
        kind = RevisionTriggerKind(kind)
    except ValueError:
        raise InvalidValue("Välj vilken sorts händelse det gäller.") from None
    note_clean = clean_text(note)
    _check_length(note_clean, MAX_TEXT, "Anteckningen")
    if occurred_on > (today or local_today()):
        raise DateInFuture("Datum för händelsen")
    check_free_text([note_clean], attested=attested, marking=marking, ceiling=ceiling)
    trigger = RevisionTrigger(
        unit_id=unit.id,
        kind=kind,
        occurred_on=occurred_on,
        note=note_clean,
        attested=bool(attested and note_clean),
        recorded_by_id=actor.id,
    )
    db.add(trigger)
    db.flush()
    audit.record(
        Event.UNIT_TRIGGER_RECORDED,
        target=trigger,
        changed=["kind", "occurred_on"] + (["note"] if note_clean else []),
        detail={"kind": kind.value},
    )
    return trigger


# --- supervisory authorities ---------------------------------------------------------------------


def set_operator_supervisors(
    actor: User, operator: Operator, authority_ids: Iterable[uuid.UUID], *, version: int | None
) -> list[SupervisoryAuthority]:
    """Replace the operator's supervisory authorities (at least one; a bolag may have several).

    Raises StaleRecord, SupervisorRequired, InvalidValue (an unknown authority).
    """
    check_version(operator, version)
    wanted = set(authority_ids)
    if not wanted:
        raise SupervisorRequired()
    authorities = list(
        db.scalars(
            select(SupervisoryAuthority)
            .where(SupervisoryAuthority.id.in_(wanted))
            .order_by(SupervisoryAuthority.name)
        )
    )
    if len(authorities) != len(wanted):
        raise InvalidValue("Okänd tillsynsmyndighet.")
    if {a.id for a in operator.supervisors} == wanted:
        return authorities
    operator.supervisors = authorities
    # The list lives in another table, so the operator row itself would not change: bump its
    # version so that a concurrent edit of the list (or of the operator) gets a clear conflict.
    flag_modified(operator, "name")
    flush_versioned()
    audit.record(
        Event.OPERATOR_SUPERVISORS_SET,
        target=operator,
        changed=["supervisors"],
        detail={"count": len(authorities)},
    )
    return authorities
