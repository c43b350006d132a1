"""Personnel vetting pages: the befattningsförteckning, vetting cases and their checklist, the beslut
and its confirmation, notes, omkontroll, the end of a case, the lookup by personnummer, the
overview of counts and the interview template.

Need-to-know (policies/vetting.cedar): only the unit's samordnare/ersättare reach a case; the
loaders fetch cases from their units only, so anyone else (the chef included) gets a 404, as
for a missing id. Every page showing a name or personnummer is audited (vetting.read_personal).
The personnummer never travels in a URL: the lookup is a POST and its answer a page, not a
redirect; a refused form never shows the typed number again.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, abort, current_app, flash, render_template, request
from flask_login import current_user
from sqlalchemy import and_, func, select
from sqlalchemy import case as sql_case
from sqlalchemy.orm import selectinload

from sakskydd.accounts.models import User
from sakskydd.analyses.models import SecurityAnalysis
from sakskydd.authz import permissions as perm
from sakskydd.authz.enforcement import allowed_actions, authorize, is_allowed, parse_uuid
from sakskydd.deadlines import ItemKind, Rules, local_today, vetting_items
from sakskydd.extensions import db
from sakskydd.organisations.models import Operator, OrgUnit
from sakskydd.organisations.scope import (
    chef_operator_ids,
    coordinated_unit_ids,
    load_chef_operator,
    load_readable_unit,
    readable_unit_ids,
)
from sakskydd.vetting import rules, services
from sakskydd.vetting.forms import (
    ConfirmDecisionForm,
    DecisionForm,
    EndForm,
    InterviewTemplateForm,
    LookupForm,
    NoteForm,
    OpenCaseForm,
    PositionForm,
    RecheckForm,
    StepForm,
)
from sakskydd.vetting.models import CaseStatus, Position, StepStatus, VettingCase, VettingChange, VettingStep
from sakskydd.vetting.rules import SecurityClass, StepKind
from sakskydd.web.actions import carry_out, submit
from sakskydd.web.listing import page_of
from sakskydd.web.redirects import see_other

vetting = Blueprint("vetting", __name__)

PAGE_SIZE = 25
POSITION_PAGE_SIZE = 50
HISTORY_LIMIT = 50

_STATUS_RANK = sql_case(*[(VettingCase.status == s, rank) for rank, s in enumerate(CaseStatus)], else_=99)
_CLASS_RANK = sql_case(
    *[(VettingCase.security_class == c, rank) for rank, c in enumerate(SecurityClass)], else_=99
)
# Whitelisted sort keys (`sortera`); names are encrypted, so there is no sorting by name.
CASE_SORTS: dict[str, tuple[Any, ...]] = {
    "oppnad": (VettingCase.created_at.desc(),),
    "status": (_STATUS_RANK, VettingCase.created_at.desc()),
    "klass": (_CLASS_RANK, VettingCase.created_at.desc()),
    "befattning": (Position.title, VettingCase.created_at.desc()),
}
CASE_SORT_LABELS = {
    "oppnad": "Senast öppnade först",
    "status": "Status",
    "klass": "Placering",
    "befattning": "Befattning",
}
# The `visa` filter: closed and disposed cases are hidden unless asked for.
SHOW_LABELS = {"aktiva": "Aktiva ärenden", "avslutade": "Avslutade ärenden", "alla": "Alla ärenden"}

WHAT_LABELS = {
    "opened": "Ärendet öppnat",
    "decided": "Beslut fattat",
    "confirmed": "Beslutet bekräftat",
    "sent_back": "Beslutet återförvisat",
    "note": "Uppföljningsanteckning",
    "rechecked": "Omkontroll",
    "ended": "Personen lämnade befattningen eller ärendet avbröts",
}
FIELD_LABELS = {
    "person_name": "Namn",
    "personnummer": "Personnummer",
    "position_id": "Befattning",
    "status": "Status",
    "done_on": "Datum",
    "reference": "Referens",
    "control_reason": "Kontrollorsak",
    "decision": "Beslut",
    "decided_on": "Beslutsdatum",
    "text": "Anteckning",
    "checked_on": "Kontrollerad",
    "left_on": "Lämnade befattningen",
    "deregistered_on": "Avanmäld",
}
OVERDUE_LABELS = {
    ItemKind.VETTING_RECHECK: "Omkontroll",
    ItemKind.VETTING_DEREGISTRATION: "Avanmälan",
    ItemKind.VETTING_CONFIRM: "Beslut att bekräfta",
}


def _me() -> User:
    return current_user._get_current_object()  # type: ignore[no-any-return]


@vetting.app_context_processor
def _labels() -> dict[str, Any]:
    return {
        "VETTING_CLASS_LABELS": rules.CLASS_LABELS,
        "VETTING_STEP_LABELS": rules.STEP_LABELS,
        "VETTING_STATUS_LABELS": services.CASE_STATUS_LABELS,
        "VETTING_DECISION_LABELS": rules.DECISION_LABELS,
        "VETTING_CONTROL_REASON_LABELS": rules.CONTROL_REASON_LABELS,
    }


# --- loaders: scoped in SQL, so a foreign or out-of-reach id is a 404 ---------------------------


def load_unit(unit_id: str, **_: Any) -> OrgUnit | None:
    return load_readable_unit(unit_id, _me().id)


def load_position(position_id: str, **_: Any) -> Position | None:
    ident = parse_uuid(position_id)
    if ident is None:
        return None
    return db.scalar(
        select(Position)
        .where(Position.id == ident, Position.unit_id.in_(readable_unit_ids(_me().id)))
        .options(selectinload(Position.unit))
    )


def load_case(case_id: str, **_: Any) -> VettingCase | None:
    """A case of a unit where the user is samordnare or ersättare; nobody else reaches one."""
    ident = parse_uuid(case_id)
    if ident is None:
        return None
    return db.scalar(
        select(VettingCase)
        .where(VettingCase.id == ident, VettingCase.unit_id.in_(coordinated_unit_ids(_me().id)))
        .options(
            selectinload(VettingCase.unit),
            selectinload(VettingCase.position),
            selectinload(VettingCase.steps).selectinload(VettingStep.done_by),
        )
    )


def load_template_operator(operator_id: str, **_: Any) -> Operator | None:
    return load_chef_operator(operator_id, _me().id)


def _rules() -> Rules:
    return Rules.from_settings(current_app.config["SAKSKYDD_SETTINGS"])


# --- the overview of counts ---------------------------------------------------------------------


@vetting.route("/sakerhetsprovning")
@authorize(perm.VETTING_OVERVIEW)
def overview() -> Any:
    """Counts by class and status and overdue items per unit; never a person."""
    me = _me()
    scope = readable_unit_ids(me.id)
    units = list(db.scalars(select(OrgUnit).where(OrgUnit.id.in_(scope)).order_by(OrgUnit.name, OrgUnit.id)))
    chosen = parse_uuid(request.args.get("enhet", ""))
    if chosen not in {u.id for u in units}:
        chosen = None
    in_view = [chosen] if chosen else [u.id for u in units]
    counts: dict[uuid.UUID, dict[str, int]] = {}
    matrix: dict[str, dict[str, int]] = {c.value: {s.value: 0 for s in CaseStatus} for c in SecurityClass}
    for unit_id, klass, status, number in db.execute(
        select(VettingCase.unit_id, VettingCase.security_class, VettingCase.status, func.count())
        .where(VettingCase.unit_id.in_(scope))
        .group_by(VettingCase.unit_id, VettingCase.security_class, VettingCase.status)
    ):
        klass, status = SecurityClass(klass), CaseStatus(status)
        per_unit = counts.setdefault(unit_id, {s.value: 0 for s in CaseStatus})
        per_unit[status.value] += number
        if unit_id in in_view:
            matrix[klass.value][status.value] += number
    positions = dict(
        db.execute(
            select(Position.unit_id, func.count())
            .where(Position.unit_id.in_(scope), Position.ended_on.is_(None))
            .group_by(Position.unit_id)
        ).all()
    )
    overdue: dict[uuid.UUID, dict[str, int]] = {}
    for item in vetting_items(scope, local_today(), _rules()):
        if item.overdue and item.unit_id is not None:
            per = overdue.setdefault(item.unit_id, {})
            per[item.kind.value] = per.get(item.kind.value, 0) + 1
    coordinated = set(db.scalars(coordinated_unit_ids(me.id)))
    return render_template(
        "vetting/overview.html",
        units=units,
        chosen=chosen,
        counts=counts,
        matrix=matrix,
        positions=positions,
        overdue=overdue,
        coordinated=coordinated,
        statuses=list(CaseStatus),
        classes=list(SecurityClass),
        overdue_labels=OVERDUE_LABELS,
        template_operators=list(
            db.scalars(
                select(Operator).where(Operator.id.in_(chef_operator_ids(me.id))).order_by(Operator.name)
            )
        ),
    )


# --- the befattningsförteckning ---------------------------------------------------------------


@vetting.route("/enheter/<unit_id>/befattningar")
@authorize(perm.VETTING_POSITIONS, load=load_unit)
def positions(unit: OrgUnit, unit_id: str) -> Any:
    show_ended = request.args.get("visa") == "alla"
    query = select(Position).where(Position.unit_id == unit.id)
    if not show_ended:
        query = query.where(Position.ended_on.is_(None))
    query = query.order_by(Position.security_class, Position.title, Position.id)
    page = page_of(query, request.args.get("sida", 1, type=int), POSITION_PAGE_SIZE)
    rows = list(
        db.scalars(query.options(selectinload(Position.analysis)).offset(page.offset).limit(page.size))
    )
    active = dict(
        db.execute(
            select(VettingCase.position_id, func.count())
            .where(VettingCase.unit_id == unit.id, VettingCase.status.in_(services.ACTIVE_STATUSES))
            .group_by(VettingCase.position_id)
        ).all()
    )
    can = allowed_actions(unit, (perm.VETTING_POSITION_CREATE, perm.VETTING_CASES))
    return render_template(
        "vetting/positions.html",
        unit=unit,
        rows=rows,
        page=page,
        show_ended=show_ended,
        active=active,
        can=can,
        perm=perm,
    )


def _position_form(unit_id: uuid.UUID, form: PositionForm) -> PositionForm:
    analyses = db.execute(
        select(SecurityAnalysis.id, SecurityAnalysis.cycle_year, SecurityAnalysis.title)
        .where(SecurityAnalysis.unit_id == unit_id, SecurityAnalysis.classification <= _me().clearance)
        .order_by(SecurityAnalysis.cycle_year.desc(), SecurityAnalysis.title)
    ).all()
    form.analysis.choices = [("", "Ingen angiven")] + [
        (str(a.id), f"{a.cycle_year}: {a.title}") for a in analyses
    ]
    return form


def _position_values(form: PositionForm) -> dict[str, Any]:
    return {
        "title": form.title.data,
        "security_class": form.security_class.data,
        "decided_on": form.decided_on.data,
        "decided_by": form.decided_by.data,
        "reference": form.reference.data,
        "government_reference": form.government_reference.data,
        "analysis_id": parse_uuid(form.analysis.data or ""),
        "ended_on": form.ended_on.data if "ended_on" in form else None,
    }


@vetting.route("/enheter/<unit_id>/befattningar/ny", methods=["GET", "POST"])
@authorize(perm.VETTING_POSITION_CREATE, load=load_unit)
def position_create(unit: OrgUnit, unit_id: str) -> Any:
    form = _position_form(unit.id, PositionForm())
    del form.ended_on  # a new position is current
    outcome, errors = submit(
        form,
        lambda: services.create_position(_me(), unit, _position_values(form)),
        "Befattningen är införd i befattningsförteckningen.",
    )
    if outcome.done:
        return see_other("vetting.positions", unit_id=unit.id)
    return render_template("vetting/position_form.html", unit=unit, position=None, form=form, errors=errors)


@vetting.route("/befattningar/<position_id>", methods=["GET", "POST"])
@authorize(perm.VETTING_POSITION_EDIT, load=load_position)
def position_edit(position: Position, position_id: str) -> Any:
    if request.method == "GET":
        form = PositionForm(obj=position)
        form.analysis.data = str(position.analysis_id) if position.analysis_id else ""
        form.security_class.data = position.security_class.value
    else:
        form = PositionForm()
    _position_form(position.unit_id, form)
    outcome, errors = submit(
        form,
        lambda: services.update_position(_me(), position, _position_values(form), form.version.data),
        None,
        record=position,
    )
    if outcome.done:
        flash("Ändringarna är sparade." if outcome.value else "Inga ändringar att spara.", "success")
        return see_other("vetting.positions", unit_id=position.unit_id)
    return render_template(
        "vetting/position_form.html", unit=position.unit, position=position, form=form, errors=errors
    ), outcome.status


# --- the unit's cases ---------------------------------------------------------------------------


@vetting.route("/enheter/<unit_id>/provningar")
@authorize(perm.VETTING_CASES, load=load_unit)
def cases(unit: OrgUnit, unit_id: str) -> Any:
    args = request.args
    status = args.get("status", "") if args.get("status", "") in services.CASE_STATUS_LABELS else ""
    klass = args.get("klass", "") if args.get("klass", "") in rules.CLASS_LABELS else ""
    show = args.get("visa", "aktiva") if args.get("visa", "aktiva") in SHOW_LABELS else "aktiva"
    sort = args.get("sortera", "oppnad") if args.get("sortera", "oppnad") in CASE_SORTS else "oppnad"
    position_id = parse_uuid(args.get("befattning", ""))
    conditions: list[Any] = [VettingCase.unit_id == unit.id]
    if status:
        conditions.append(VettingCase.status == CaseStatus(status))
    if klass:
        conditions.append(VettingCase.security_class == SecurityClass(klass))
    if position_id is not None:
        conditions.append(VettingCase.position_id == position_id)
    if show == "aktiva":
        conditions.append(VettingCase.status.in_(services.ACTIVE_STATUSES))
    elif show == "avslutade":
        conditions.append(VettingCase.status.not_in(services.ACTIVE_STATUSES))
    query = (
        select(VettingCase)
        .join(Position, Position.id == VettingCase.position_id)
        .where(and_(*conditions))
        .order_by(*CASE_SORTS[sort], VettingCase.id)
    )
    page = page_of(query, args.get("sida", 1, type=int), PAGE_SIZE)
    rows = list(
        db.scalars(query.options(selectinload(VettingCase.position)).offset(page.offset).limit(page.size))
    )
    services.record_reads(unit, rows, view="list")  # the list shows names
    db.commit()
    filters = {"status": status, "klass": klass, "visa": show, "befattning": str(position_id or "")}
    return render_template(
        "vetting/cases.html",
        unit=unit,
        rows=rows,
        page=page,
        filters=filters,
        sort=sort,
        sort_labels=CASE_SORT_LABELS,
        show_labels=SHOW_LABELS,
        positions=services.positions_of(unit.id, include_ended=True),
        is_filtered=bool(status or klass or position_id or show != "aktiva"),
        pager_args={"unit_id": unit.id, "sortera": sort, **{k: v for k, v in filters.items() if v}},
        lookup_form=LookupForm(formdata=None),
        can_open=is_allowed(perm.VETTING_OPEN, unit),
        today=local_today(),
    )


@vetting.route("/enheter/<unit_id>/provningar/sok", methods=["POST"])
@authorize(perm.VETTING_LOOKUP, load=load_unit)
def lookup(unit: OrgUnit, unit_id: str) -> Any:
    """A person's cases in this unit by exact personnummer; answered on this page (no redirect,
    so the number is in no URL), never with another unit's cases."""
    form = LookupForm()
    errors: list[str] = []
    found: list[VettingCase] | None = None
    if form.validate_on_submit():

        def look() -> list[VettingCase]:
            cases = services.lookup(_me(), unit, form.personnummer.data)
            services.record_reads(unit, cases, view="lookup")  # the answer shows names
            return cases

        outcome = carry_out(look, None)
        found, errors = (outcome.value, []) if outcome.done else (None, [outcome.error or ""])
    else:
        if form.csrf_token.errors:
            abort(400)
        errors = form.error_messages()
    return render_template(
        "vetting/lookup.html",
        unit=unit,
        form=LookupForm(formdata=None),
        errors=errors,
        found=found,
    )


@vetting.route("/enheter/<unit_id>/provningar/ny", methods=["GET", "POST"])
@authorize(perm.VETTING_OPEN, load=load_unit)
def open_case(unit: OrgUnit, unit_id: str) -> Any:
    form = OpenCaseForm()
    current = services.positions_of(unit.id)
    form.position.choices = [("", "Välj befattning")] + [
        (str(p.id), f"{p.title} – {rules.CLASS_LABELS[p.security_class]}") for p in current
    ]
    if request.method == "GET" and request.args.get("befattning"):
        form.position.data = request.args.get("befattning")
    outcome, errors = submit(
        form,
        lambda: services.open_case(
            _me(),
            unit,
            position_id=parse_uuid(form.position.data or ""),
            person_name=form.person_name.data,
            personnummer=form.personnummer.data,
        ),
        "Ärendet är öppnat. Följ checklistan i ordning.",
    )
    if outcome.done:
        return see_other("vetting.case", case_id=outcome.value.id)
    return render_template(
        "vetting/open_case.html", unit=unit, form=form, errors=errors, has_positions=bool(current)
    )


# --- one case -----------------------------------------------------------------------------------


def _step_states(case_: VettingCase) -> dict[uuid.UUID, list[StepKind]]:
    """Per open step, what must be done before it (empty: it may be marked done now)."""
    done = {s.kind for s in case_.steps if s.status == StepStatus.DONE}
    return {
        s.id: rules.missing_for_step(s.kind, case_.security_class, done)
        for s in case_.steps
        if s.status == StepStatus.OPEN
    }


def _describe(change: VettingChange) -> str:
    """One history row: plain values of plain fields, only the names of personal ones."""
    what = change.what
    if what.startswith("step:"):
        try:
            title = rules.STEP_LABELS[StepKind(what.split(":", 1)[1])]
        except ValueError:
            title = what
    else:
        title = WHAT_LABELS.get(what, what)
    phrases = []
    for name, values in (change.changes or {}).items():
        if name in ("position_id",):
            continue
        label = FIELD_LABELS.get(name, name)
        if values is None or name in ("person_name", "personnummer", "text"):
            phrases.append(label)
        elif isinstance(values, list) and len(values) == 2:
            phrases.append(f"{label}: {_display(name, values[0])} → {_display(name, values[1])}")
        else:
            phrases.append(f"{label}: {_display(name, values)}")
    return f"{title}" + (f" ({'; '.join(phrases)})" if phrases else "")


def _display(name: str, value: Any) -> str:
    if value is None:
        return "–"
    labels: dict[str, Any] = {
        "status": {
            **services.CASE_STATUS_LABELS,
            "klar": "Klar",
            "oppen": "Inte klar",
            "open": "Öppet",
        },
        "control_reason": rules.CONTROL_REASON_LABELS,
        "decision": rules.DECISION_LABELS,
    }
    return str(labels.get(name, {}).get(str(value), value))


@vetting.route("/provningar/<case_id>")
@authorize(perm.VETTING_READ_PERSONAL, load=load_case)
def case(case_: VettingCase, case_id: str) -> Any:
    services.record_read(case_)
    db.commit()
    history = list(
        db.scalars(
            select(VettingChange)
            .where(VettingChange.case_id == case_.id)
            .options(selectinload(VettingChange.actor))
            .order_by(VettingChange.created_at.desc(), VettingChange.id)
            .limit(HISTORY_LIMIT)
        )
    )
    settings = current_app.config["SAKSKYDD_SETTINGS"]
    can = allowed_actions(case_, (perm.VETTING_UPDATE, perm.VETTING_DECIDE, perm.VETTING_CONFIRM_DECISION))
    writable = (
        case_.status not in (CaseStatus.CLOSED, CaseStatus.NOT_APPROVED) and case_.anonymised_on is None
    )
    return render_template(
        "vetting/case.html",
        c=case_,
        history=[(change, _describe(change)) for change in history],
        waiting=_step_states(case_),
        missing_for_decision=rules.missing_for_decision(
            case_.security_class, {s.kind for s in case_.steps if s.status == StepStatus.DONE}
        ),
        recheck_due=rules.recheck_due(case_.security_class, case_.checked_on, settings.vetting_recheck_years)
        if case_.status == CaseStatus.APPROVED and case_.left_on is None
        else None,
        needs_deregistration=services.needs_deregistration(case_),
        can=can,
        perm=perm,
        writable=writable,
        own_decision=case_.decided_by_id == _me().id,
        today=local_today(),
        StepKind=StepKind,
        CaseStatus=CaseStatus,
    )


def _step(case_: VettingCase, step_id: str) -> VettingStep:
    ident = parse_uuid(step_id)
    step = next((s for s in case_.steps if s.id == ident), None)
    if step is None:
        abort(404)
    return step


@vetting.route("/provningar/<case_id>/steg/<step_id>", methods=["GET", "POST"])
@authorize(perm.VETTING_UPDATE, load=load_case)
def step(case_: VettingCase, case_id: str, step_id: str) -> Any:
    item = _step(case_, step_id)
    form = StepForm()
    if item.kind != StepKind.REGISTER_CHECK_REQUESTED:
        del form.control_reason
    if request.method == "GET":
        form.status.data = "klar"  # done (again): a done step's form changes its date or reference
        form.done_on.data = item.done_on or local_today()
        form.reference.data = item.reference
        if "control_reason" in form:
            form.control_reason.data = item.control_reason.value if item.control_reason else ""
        form.version.data = item.version
    done = form.status.data == "klar"
    outcome, errors = submit(
        form,
        lambda: services.update_step(
            _me(),
            case_,
            item,
            done=done,
            done_on=form.done_on.data,
            reference=form.reference.data,
            control_reason=form.data.get("control_reason"),
            version=form.version.data,
        ),
        None,
        record=item,
    )
    if outcome.done:
        flash(
            ("Steget är markerat som klart." if done else "Steget är öppnat igen.")
            if outcome.value
            else "Inga ändringar att spara.",
            "success",
        )
        return see_other("vetting.case", case_id=case_.id, _anchor="checklista")
    topics: list[str] = []
    template = None
    if item.kind == StepKind.INTERVIEW:
        template, topics = services.current_interview_template(case_.unit.operator_id)
    return render_template(
        "vetting/step.html",
        c=case_,
        item=item,
        form=form,
        errors=errors,
        waiting=_step_states(case_).get(item.id, []),
        topics=topics,
        template=template,
    ), outcome.status


@vetting.route("/provningar/<case_id>/beslut", methods=["GET", "POST"])
@authorize(perm.VETTING_DECIDE, load=load_case)
def decide(case_: VettingCase, case_id: str) -> Any:
    form = DecisionForm()
    if request.method == "GET":
        form.decided_on.data = local_today()
        form.version.data = case_.version
    outcome, errors = submit(
        form,
        lambda: services.decide(
            _me(),
            case_,
            decision=form.decision.data,
            decided_on=form.decided_on.data,
            reference=form.reference.data,
            version=form.version.data,
        ),
        "Beslutet är registrerat. En annan behörig person ska nu bekräfta det.",
        record=case_,
    )
    if outcome.done:
        return see_other("vetting.case", case_id=case_.id, _anchor="beslut")
    done = {s.kind for s in case_.steps if s.status == StepStatus.DONE}
    return render_template(
        "vetting/decide.html",
        c=case_,
        form=form,
        errors=errors,
        missing=rules.missing_for_decision(case_.security_class, done),
    ), outcome.status


@vetting.route("/provningar/<case_id>/bekrafta", methods=["GET", "POST"])
@authorize(perm.VETTING_CONFIRM_DECISION, load=load_case)
def confirm(case_: VettingCase, case_id: str) -> Any:
    form = ConfirmDecisionForm()
    if request.method == "GET":
        form.version.data = case_.version
    confirmed = form.choice.data == "bekrafta"
    outcome, errors = submit(
        form,
        lambda: services.confirm_decision(_me(), case_, confirm=confirmed, version=form.version.data),
        "Beslutet är bekräftat." if confirmed else "Beslutet är återförvisat; ärendet är åter pågående.",
        record=case_,
    )
    if outcome.done:
        return see_other("vetting.case", case_id=case_.id, _anchor="beslut")
    return render_template(
        "vetting/confirm.html",
        c=case_,
        form=form,
        errors=errors,
        own_decision=case_.decided_by_id == _me().id,
    ), outcome.status


@vetting.route("/provningar/<case_id>/anteckning", methods=["GET", "POST"])
@authorize(perm.VETTING_UPDATE, load=load_case)
def note(case_: VettingCase, case_id: str) -> Any:
    form = NoteForm()
    if request.method == "GET":
        form.noted_on.data = local_today()
    outcome, errors = submit(
        form,
        lambda: services.add_note(
            _me(),
            case_,
            text=form.text.data,
            noted_on=form.noted_on.data,
            attested=bool(form.attested.data),
        ),
        "Anteckningen är sparad.",
    )
    if outcome.done:
        return see_other("vetting.case", case_id=case_.id, _anchor="uppfoljning")
    return render_template("vetting/note.html", c=case_, form=form, errors=errors)


@vetting.route("/provningar/<case_id>/omkontroll", methods=["GET", "POST"])
@authorize(perm.VETTING_UPDATE, load=load_case)
def recheck(case_: VettingCase, case_id: str) -> Any:
    form = RecheckForm()
    if request.method == "GET":
        form.checked_on.data = local_today()
        form.version.data = case_.version
    outcome, errors = submit(
        form,
        lambda: services.record_recheck(
            _me(),
            case_,
            checked_on=form.checked_on.data,
            reference=form.reference.data,
            version=form.version.data,
        ),
        "Omkontrollen är registrerad. Nästa omkontroll räknas från dess datum.",
        record=case_,
    )
    if outcome.done:
        return see_other("vetting.case", case_id=case_.id, _anchor="omkontroll")
    return render_template("vetting/recheck.html", c=case_, form=form, errors=errors), outcome.status


@vetting.route("/provningar/<case_id>/avsluta", methods=["GET", "POST"])
@authorize(perm.VETTING_UPDATE, load=load_case)
def end(case_: VettingCase, case_id: str) -> Any:
    form = EndForm()
    if request.method == "GET":
        form.left_on.data = case_.left_on or local_today()
        form.version.data = case_.version
    outcome, errors = submit(
        form,
        lambda: services.end_case(
            _me(),
            case_,
            left_on=form.left_on.data,
            deregistered_on=form.deregistered_on.data,
            reference=form.reference.data,
            version=form.version.data,
        ),
        None,
        record=case_,
    )
    if outcome.done:
        flash(
            "Ärendet är avslutat."
            if outcome.value
            else "Att personen lämnat befattningen är registrerat. Ärendet avslutas när "
            "avanmälan av registerkontrollen är gjord.",
            "success",
        )
        return see_other("vetting.case", case_id=case_.id)
    return render_template(
        "vetting/end.html",
        c=case_,
        form=form,
        errors=errors,
        needs_deregistration=services.needs_deregistration(case_),
    ), outcome.status


# --- the operator's interview template --------------------------------------------------------


@vetting.route("/verksamhetsutovare/<operator_id>/intervjumall", methods=["GET", "POST"])
@authorize(perm.VETTING_INTERVIEW_TEMPLATE, load=load_template_operator)
def interview_template(operator: Operator, operator_id: str) -> Any:
    current, topics = services.current_interview_template(operator.id)
    form = InterviewTemplateForm()
    if request.method == "GET":
        form.topics.data = "\n".join(topics)
    outcome, errors = submit(
        form, lambda: services.save_interview_template(_me(), operator, form.topics.data), None
    )
    if outcome.done:
        flash(
            f"Intervjumallen är sparad som version {outcome.value.version_no}."
            if outcome.value
            else "Inga ändringar att spara.",
            "success",
        )
        return see_other("vetting.interview_template", operator_id=operator.id)
    return render_template(
        "vetting/interview_template.html",
        operator=operator,
        form=form,
        errors=errors,
        current=current,
        inherited=current is not None and current.operator_id != operator.id,
        versions=services.interview_template_versions(operator.id),
    )
