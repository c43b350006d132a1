"""The unit pages: applicability, appointments, revision triggers; the operator's supervisors."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, current_app, g, render_template, request
from flask_login import current_user
from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import selectinload

from sakskydd.accounts.models import User
from sakskydd.admin.forms import UNIT_KIND_LABELS
from sakskydd.authz import permissions as perm
from sakskydd.authz.enforcement import allowed_actions, authorize, parse_uuid
from sakskydd.classification import CLASSIFICATION_LABELS
from sakskydd.extensions import db
from sakskydd.organisations import scope, services
from sakskydd.organisations.forms import (
    AppointmentForm,
    AssessmentForm,
    EndAppointmentForm,
    RevisionTriggerForm,
    SupervisorsForm,
    error_messages,
)
from sakskydd.organisations.models import (
    Applicability,
    ApplicabilityAssessment,
    Appointment,
    AppointmentRole,
    AuthorityKind,
    Operator,
    OrgUnit,
    RevisionTrigger,
    SupervisoryAuthority,
)
from sakskydd.web.actions import carry_out
from sakskydd.web.forms import ceiling
from sakskydd.web.redirects import see_other

units = Blueprint("units", __name__)
PAGE_SIZE = 25
APPLICABILITY_FILTERS = ("ja", "nej", "utredning", "ej")
SORT_LABELS = {
    "namn": "Namn",
    "typ": "Typ av enhet",
    "tillamplighet": "Omfattas",
    "brister": "Brister först",
}
# Pages that other parts of issue 3 add; a link is shown only once its endpoint exists.
UNIT_LINKS = {
    "analyses": ("analyses.index", perm.ANALYSIS_LIST),
    "assets": ("assets.index", perm.ASSET_LIST),
    "positions": ("vetting.positions", perm.VETTING_POSITIONS),
    "vetting": ("vetting.cases", perm.VETTING_CASES),
}
UNIT_ACTIONS = (perm.UNIT_ASSESS, perm.UNIT_APPOINT, perm.UNIT_RECORD_TRIGGER)


@units.context_processor
def _labels() -> dict[str, Any]:
    return {
        "APPLICABILITY_LABELS": services.APPLICABILITY_LABELS,
        "NOT_ASSESSED_LABEL": services.NOT_ASSESSED_LABEL,
        "FINDING_LABELS": services.FINDING_LABELS,
        "APPOINTMENT_ROLE_LABELS": services.APPOINTMENT_ROLE_LABELS,
        "TRIGGER_KIND_LABELS": services.TRIGGER_KIND_LABELS,
        "UNIT_KIND_LABELS": UNIT_KIND_LABELS,
        "CLASSIFICATION_LABELS": CLASSIFICATION_LABELS,
    }


def _me() -> User:
    return current_user._get_current_object()  # type: ignore[no-any-return]


# --- loaders: scoped in SQL, so another organisation's ids look like missing ones (404) ---------


def load_unit(unit_id: str, **_: Any) -> OrgUnit | None:
    return scope.load_readable_unit(unit_id, _me().id)


def load_unit_of_appointment(unit_id: str, appointment_id: str, **_: Any) -> OrgUnit | None:
    """The unit, when the user reaches it and the appointment belongs to it (else 404)."""
    unit_ident, appointment_ident = parse_uuid(unit_id), parse_uuid(appointment_id)
    if unit_ident is None or appointment_ident is None:
        return None
    row = db.execute(
        select(OrgUnit, Appointment)
        .join(Appointment, Appointment.unit_id == OrgUnit.id)
        .where(
            OrgUnit.id == unit_ident,
            Appointment.id == appointment_ident,
            OrgUnit.id.in_(scope.readable_unit_ids(_me().id)),
        )
    ).first()
    if row is None:
        return None
    g.unit_appointment = row.Appointment
    return row.OrgUnit  # type: ignore[no-any-return]


def load_chef_operator(operator_id: str, **_: Any) -> Operator | None:
    ident = parse_uuid(operator_id)
    if ident is None:
        return None
    return db.scalar(
        select(Operator).where(Operator.id == ident, Operator.id.in_(scope.chef_operator_ids(_me().id)))
    )


# --- the list of units -------------------------------------------------------------------------


def _escape_like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


@units.route("/enheter")
@authorize(perm.UNIT_LIST)
def index() -> Any:
    query = (request.args.get("q") or "").strip()[:100]
    applicability = request.args.get("tillamplighet", "")
    applicability = applicability if applicability in APPLICABILITY_FILTERS else ""
    only_findings = request.args.get("brister") == "1"
    sort = request.args.get("sortera", "namn")
    sort = sort if sort in SORT_LABELS else "namn"
    page = max(request.args.get("sida", 1, type=int) or 1, 1)

    on = services.local_today()
    outcome = services.current_outcome_column(on)
    has_samordnare = services.has_current_appointment_column(AppointmentRole.SAMORDNARE, on)
    has_ersattare = services.has_current_appointment_column(AppointmentRole.ERSATTARE, on)
    has_findings = services.has_findings_clause(on)

    conditions = [OrgUnit.id.in_(scope.readable_unit_ids(_me().id)), OrgUnit.is_active.is_(True)]
    if query:
        pattern = _escape_like(query)
        conditions.append(
            or_(OrgUnit.name.ilike(pattern, escape="\\"), Operator.name.ilike(pattern, escape="\\"))
        )
    if applicability == "ej":
        conditions.append(outcome.is_(None))
    elif applicability:
        conditions.append(outcome == Applicability(applicability))
    if only_findings:
        conditions.append(has_findings)

    sorts: dict[str, Any] = {
        "namn": OrgUnit.name,
        "typ": OrgUnit.kind,
        "tillamplighet": case(
            (outcome == Applicability.YES, 0),
            (outcome == Applicability.INVESTIGATING, 1),
            (outcome == Applicability.NO, 2),
            else_=3,
        ),
        "brister": case((has_findings, 0), else_=1),
    }
    total = (
        db.scalar(
            select(func.count())
            .select_from(OrgUnit)
            .join(Operator, Operator.id == OrgUnit.operator_id)
            .where(*conditions)
        )
        or 0
    )
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    page = min(page, pages)
    rows = db.execute(
        select(
            OrgUnit,
            Operator,
            outcome.label("outcome"),
            has_samordnare.label("has_samordnare"),
            has_ersattare.label("has_ersattare"),
        )
        .join(Operator, Operator.id == OrgUnit.operator_id)
        .where(*conditions)
        # Grouped by operator; the chosen order applies within each operator.
        .order_by(Operator.name, Operator.id, sorts[sort], OrgUnit.name, OrgUnit.id)
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    appointees = services.current_appointees([row.OrgUnit.id for row in rows], on)

    groups: list[dict[str, Any]] = []
    for row in rows:
        if not groups or groups[-1]["operator"].id != row.Operator.id:
            groups.append({"operator": row.Operator, "units": []})
        outcome_value = row.outcome
        groups[-1]["units"].append(
            {
                "unit": row.OrgUnit,
                "outcome": outcome_value,
                "appointees": appointees.get(row.OrgUnit.id, {}),
                "findings": services.findings_for(
                    outcome_value,
                    has_samordnare=bool(row.has_samordnare),
                    has_ersattare=bool(row.has_ersattare),
                ),
            }
        )
    for group in groups:
        can = allowed_actions(group["operator"], [perm.OPERATOR_SET_SUPERVISORS, perm.PROCUREMENT_TEMPLATE])
        group["can_set_supervisors"] = perm.OPERATOR_SET_SUPERVISORS in can
        group["can_edit_template"] = perm.PROCUREMENT_TEMPLATE in can
    return render_template(
        "units/index.html",
        groups=groups,
        q=query,
        applicability=applicability,
        only_findings=only_findings,
        sort=sort,
        sorts=SORT_LABELS,
        page=page,
        pages=pages,
        total=total,
        filtered=bool(query or applicability or only_findings),
    )


# --- the unit page -----------------------------------------------------------------------------


@units.route("/enheter/<unit_id>")
@authorize(perm.UNIT_READ, load=load_unit)
def detail(unit: OrgUnit, unit_id: str) -> Any:
    services.record_unit_read(unit)
    db.commit()
    on = services.local_today()
    assessments = db.execute(
        select(ApplicabilityAssessment, User.display_name.label("recorded_by"))
        .outerjoin(User, User.id == ApplicabilityAssessment.recorded_by_id)
        .where(ApplicabilityAssessment.unit_id == unit.id)
        .order_by(
            ApplicabilityAssessment.decided_on.desc(),
            ApplicabilityAssessment.created_at.desc(),
            ApplicabilityAssessment.id.desc(),
        )
    ).all()
    current = next(
        (row.ApplicabilityAssessment for row in assessments if row.ApplicabilityAssessment.decided_on <= on),
        None,
    )
    appointments = list(
        db.scalars(
            select(Appointment)
            .where(Appointment.unit_id == unit.id)
            .options(selectinload(Appointment.user))
            .order_by(Appointment.starts_on.desc(), Appointment.created_at.desc())
        )
    )
    triggers = db.execute(
        select(RevisionTrigger, User.display_name.label("recorded_by"))
        .outerjoin(User, User.id == RevisionTrigger.recorded_by_id)
        .where(RevisionTrigger.unit_id == unit.id)
        .order_by(RevisionTrigger.occurred_on.desc(), RevisionTrigger.created_at.desc())
    ).all()
    findings = services.coordinator_findings([unit.id], on).get(unit.id, [])
    operator = db.scalar(
        select(Operator).where(Operator.id == unit.operator_id).options(selectinload(Operator.supervisors))
    )
    can = allowed_actions(unit, [*UNIT_ACTIONS, *(action for _, action in UNIT_LINKS.values())])
    can_supervisors = bool(allowed_actions(operator, [perm.OPERATOR_SET_SUPERVISORS]))
    links = {
        name: endpoint
        for name, (endpoint, action) in UNIT_LINKS.items()
        if endpoint in current_app.view_functions and action in can
    }
    return render_template(
        "units/detail.html",
        unit=unit,
        operator=operator,
        current=current,
        assessments=assessments,
        appointments=appointments,
        triggers=triggers,
        findings=findings,
        on=on,
        can=can,
        can_supervisors=can_supervisors,
        links=links,
    )


# --- applicability -----------------------------------------------------------------------------


@units.route("/enheter/<unit_id>/tillamplighet", methods=["GET", "POST"])
@authorize(perm.UNIT_ASSESS, load=load_unit)
def assess(unit: OrgUnit, unit_id: str) -> Any:
    form = AssessmentForm()
    error = None
    if request.method == "GET":
        form.decided_on.data = services.local_today()
    if form.validate_on_submit():
        outcome = carry_out(
            lambda: services.assess_applicability(
                _me(),
                unit,
                outcome=form.outcome.data or "",
                decided_on=form.decided_on.data,
                decided_by=form.decided_by.data or "",
                reference=form.reference.data,
                reasoning=form.reasoning.data,
                attested=bool(form.attested.data),
                marking=int(form.marking.data or 0),
                ceiling=ceiling(),
            ),
            "Bedömningen är registrerad.",
        )
        if outcome.done:
            return see_other("units.detail", unit_id=unit.id)
        error = outcome.error
    return render_template("units/assess.html", unit=unit, form=form, errors=_errors(form, error))


def _errors(form: Any, error: str | None) -> list[str]:
    return [*error_messages(form), *([error] if error else [])]


# --- appointments ------------------------------------------------------------------------------


@units.route("/enheter/<unit_id>/forordnanden/ny", methods=["GET", "POST"])
@authorize(perm.UNIT_APPOINT, load=load_unit)
def appoint(unit: OrgUnit, unit_id: str) -> Any:
    candidates = services.eligible_appointees(unit)
    form = AppointmentForm()
    form.user.choices = [("", "Välj …")] + [
        (str(u.id), f"{u.display_name} ({u.username})") for u in candidates
    ]
    error = None
    if request.method == "GET":
        form.starts_on.data = services.local_today()
    if form.validate_on_submit():
        person = next((u for u in candidates if str(u.id) == form.user.data), None)

        def record() -> Any:
            if person is None:
                raise services.AppointeeNotEligible()
            return services.record_appointment(
                _me(),
                unit,
                user=person,
                role=form.role.data or "",
                starts_on=form.starts_on.data,
                ends_on=form.ends_on.data,
                reference=form.reference.data,
            )

        outcome = carry_out(record, "Förordnandet är registrerat.")
        if outcome.done:
            return see_other("units.detail", unit_id=unit.id)
        error = outcome.error
    return render_template("units/appoint.html", unit=unit, form=form, errors=_errors(form, error))


@units.route("/enheter/<unit_id>/forordnanden/<appointment_id>/avsluta", methods=["GET", "POST"])
@authorize(perm.UNIT_APPOINT, load=load_unit_of_appointment)
def end_appointment(unit: OrgUnit, unit_id: str, appointment_id: str) -> Any:
    appointment: Appointment = g.unit_appointment
    form = EndAppointmentForm()
    error, status = None, 200
    if request.method == "GET":
        form.ends_on.data = services.local_today()
        form.version.data = appointment.version
    if form.validate_on_submit():
        outcome = carry_out(
            lambda: services.end_appointment(
                _me(), appointment, ends_on=form.ends_on.data, version=form.version.data
            ),
            "Förordnandet är avslutat.",
        )
        if outcome.done:
            return see_other("units.detail", unit_id=unit.id)
        error, status = outcome.error, outcome.status
        if outcome.stale:
            # The page now shows the stored appointment; saving again is a decision on that.
            form.version.data = appointment.version
            form.version.raw_data = [str(appointment.version)]
    return (
        render_template(
            "units/end_appointment.html",
            unit=unit,
            appointment=appointment,
            form=form,
            errors=_errors(form, error),
        ),
        status,
    )


# --- revision triggers -------------------------------------------------------------------------


@units.route("/enheter/<unit_id>/oversyn/ny", methods=["GET", "POST"])
@authorize(perm.UNIT_RECORD_TRIGGER, load=load_unit)
def record_trigger(unit: OrgUnit, unit_id: str) -> Any:
    form = RevisionTriggerForm()
    error = None
    if request.method == "GET":
        form.occurred_on.data = services.local_today()
    if form.validate_on_submit():
        outcome = carry_out(
            lambda: services.record_revision_trigger(
                _me(),
                unit,
                kind=form.kind.data or "",
                occurred_on=form.occurred_on.data,
                note=form.note.data,
                attested=bool(form.attested.data),
                marking=int(form.marking.data or 0),
                ceiling=ceiling(),
            ),
            "Händelsen är registrerad. Säkerhetsskyddsanalysen behöver ses över.",
        )
        if outcome.done:
            return see_other("units.detail", unit_id=unit.id)
        error = outcome.error
    return render_template("units/trigger.html", unit=unit, form=form, errors=_errors(form, error))


# --- supervisory authorities -------------------------------------------------------------------


@units.route("/verksamhetsutovare/<operator_id>/tillsynsmyndigheter", methods=["GET", "POST"])
@authorize(perm.OPERATOR_SET_SUPERVISORS, load=load_chef_operator)
def supervisors(operator: Operator, operator_id: str) -> Any:
    authorities = list(
        db.scalars(
            select(SupervisoryAuthority).order_by(
                case((SupervisoryAuthority.kind == AuthorityKind.LANSSTYRELSE, 0), else_=1),
                SupervisoryAuthority.name,
            )
        )
    )
    form = SupervisorsForm()
    form.authorities.choices = [(str(a.id), a.name) for a in authorities]
    error, status = None, 200
    if request.method == "GET":
        form.authorities.data = [str(a.id) for a in operator.supervisors]
        form.version.data = operator.version
    if form.validate_on_submit():
        outcome = carry_out(
            lambda: services.set_operator_supervisors(
                _me(),
                operator,
                [uuid.UUID(value) for value in form.authorities.data or []],
                version=form.version.data,
            ),
            "Tillsynsmyndigheterna är sparade.",
        )
        if outcome.done:
            return see_other("units.index")
        error, status = outcome.error, outcome.status
        if outcome.stale:
            form.version.data = operator.version
            form.version.raw_data = [str(operator.version)]
    current_names = [a.name for a in operator.supervisors]
    return (
        render_template(
            "units/supervisors.html",
            operator=operator,
            form=form,
            current_names=current_names,
            errors=_errors(form, error),
        ),
        status,
    )
