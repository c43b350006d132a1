"""The procurement register: triage, confirmation, duties, supplier follow-up, contract end, export."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, abort, flash, render_template, request
from flask_login import current_user
from sqlalchemy import Select, and_, case, func, or_, select, union
from sqlalchemy.orm import aliased, selectinload

from sakskydd import audit
from sakskydd.accounts.forms import ConfirmForm
from sakskydd.accounts.models import User
from sakskydd.audit.tags import Event
from sakskydd.authz import permissions as perm
from sakskydd.authz.enforcement import allowed_actions, authorize, is_allowed, parse_uuid
from sakskydd.classification import CLASSIFICATION_LABELS
from sakskydd.exports import Table, send_table
from sakskydd.extensions import db
from sakskydd.organisations.models import Operator, OrgUnit
from sakskydd.organisations.scope import load_chef_operator, readable_unit_ids, upphandlare_unit_ids
from sakskydd.procurements import rules, services
from sakskydd.procurements.forms import (
    YES_NO,
    ActionForm,
    CloseForm,
    ConfirmTriageForm,
    DutyForm,
    ExportForm,
    FollowUpForm,
    ProcurementForm,
    SubSupplierForm,
    TemplateForm,
    TriageForm,
)
from sakskydd.procurements.models import (
    ActionStatus,
    DutyStatus,
    FollowUpAction,
    FollowUpRun,
    Procurement,
    ProcurementChange,
    ProcurementDuty,
    ProcurementStatus,
    SubSupplier,
)
from sakskydd.web.actions import carry_out
from sakskydd.web.listing import contains_pattern, page_of, search_text
from sakskydd.web.redirects import see_other

procurements = Blueprint("procurements", __name__)

PAGE_SIZE = 25
HISTORY_LIMIT = 50
EXPORT_LIMIT = 10000
HANDLING_MARKING = (
    "Hanteras enligt stadens rutin för säkerhetsskydd – sammanställning av säkerhetsskyddade "
    "förfaranden, sprid inte vidare"
)

# The current duty (first open one in the rules' order) and the next deadline, per procurement,
# as correlated subqueries: the register costs the same number of statements for any page.
_current = aliased(ProcurementDuty)
_next = aliased(ProcurementDuty)
CURRENT_DUTY = (
    select(_current.kind)
    .where(_current.procurement_id == Procurement.id, _current.status == DutyStatus.OPEN)
    .order_by(_current.position)
    .limit(1)
    .correlate(Procurement)
    .scalar_subquery()
)
NEXT_DEADLINE = (
    select(func.min(_next.due_on))
    .where(_next.procurement_id == Procurement.id, _next.status == DutyStatus.OPEN)
    .correlate(Procurement)
    .scalar_subquery()
)
_OUTCOME_RANK = case(
    *[(Procurement.outcome == outcome, rank) for rank, outcome in enumerate(rules.Outcome)], else_=99
)
SORTS: dict[str, tuple[Any, ...]] = {
    "frist": (NEXT_DEADLINE.is_(None), NEXT_DEADLINE, Procurement.title),
    "titel": (Procurement.title,),
    "diarienummer": (Procurement.registry_number,),
    "niva": (_OUTCOME_RANK, Procurement.title),
    "status": (Procurement.status, Procurement.title),
    "skapad": (Procurement.created_at.desc(),),
}
SORT_LABELS = {
    "frist": "Nästa frist (närmast först)",
    "titel": "Benämning",
    "diarienummer": "Diarienummer",
    "niva": "Avtal och nivå",
    "status": "Status",
    "skapad": "Senast registrerade först",
}
FIELD_LABELS = {
    "kind": "Typ",
    "title": "Benämning",
    "registry_number": "Diarienummer",
    "responsible_id": "Ansvarig upphandlare",
    "procedure_starts_on": "Förfarandet börjar",
    "contract_starts_on": "Avtalet börjar",
    "contract_ends_on": "Avtalet slutar",
    "supplier_name": "Leverantör",
    "supplier_org_number": "Organisationsnummer",
    "supplier_contact": "Kontaktuppgifter",
    "classification": "Säkerhetsskyddsklass",
    "sub_suppliers": "Underleverantörer",
    "outcome": "Utfall",
    "consultation": "Samråd",
    "override_reason": "Skäl",
    "proposed_outcome": "Föreslaget utfall",
    "status": "Status",
    "done_on": "Gjord",
    "reference": "Referens",
    "owner_id": "Ansvarig",
    "note": "Anteckning",
    "consultation_outcome": "Samrådets utfall",
    "count_required": "Befattningar",
    "count_done": "Säkerhetsprövade",
    "final_note": "Slutanteckning",
    "performed_on": "Uppföljning",
    "findings": "Iakttagelser",
    **{f"q_{name}": text for name, text in rules.QUESTIONS.items()},
}
WHAT_LABELS = {
    "created": "Registrerad",
    "updated": "Ändrad",
    "sub_supplier_added": "Underleverantör tillagd",
    "sub_supplier_removed": "Underleverantör borttagen",
    "triaged": "Triage besvarad",
    "confirmed": "Utfallet bekräftat",
    "overridden": "Utfallet ändrat av samordnaren",
    "closed": "Ärendet avslutat",
    "follow_up": "Uppföljning av leverantören",
    "follow_up_action": "Åtgärd från uppföljning",
}


def _me() -> User:
    return current_user._get_current_object()  # type: ignore[no-any-return]


def _what_label(what: str) -> str:
    if what.startswith("duty:"):
        kind = what.split(":", 1)[1]
        try:
            return rules.DUTY_RULES[rules.DutyKind(kind)].label
        except ValueError:
            return kind
    return WHAT_LABELS.get(what, what)


@procurements.app_context_processor
def _labels() -> dict[str, Any]:
    return {
        "PROCUREMENT_STATUS_LABELS": services.STATUS_LABELS,
        "PROCUREMENT_KIND_LABELS": services.KIND_LABELS,
        "OUTCOME_LABELS": rules.OUTCOME_LABELS,
        "OUTCOME_SHORT": rules.OUTCOME_SHORT,
        "DUTY_RULES": rules.DUTY_RULES,
        "DUTY_STATUS_LABELS": services.DUTY_STATUS_LABELS,
        "PHASE_LABELS": rules.PHASE_LABELS,
        "CONSULTATION_OUTCOME_LABELS": rules.CONSULTATION_OUTCOME_LABELS,
        "RESULT_LABELS": services.RESULT_LABELS,
        "PROCUREMENT_FIELD_LABELS": FIELD_LABELS,
        "procurement_what": _what_label,
        "describe_change": describe_change,
    }


# --- loaders: scoped in SQL to what the user reaches, so a foreign id is a 404 -----------------


def load_procurement(procurement_id: str, **_: Any) -> Procurement | None:
    ident = parse_uuid(procurement_id)
    if ident is None:
        return None
    return services.load_visible(_me(), ident)


def load_creation_unit(unit_id: str, **_: Any) -> OrgUnit | None:
    """A unit the user works in (upphandlare, coordinator or chef); the policy decides on creation."""
    ident = parse_uuid(unit_id)
    if ident is None:
        return None
    me = _me().id
    reachable = union(readable_unit_ids(me), upphandlare_unit_ids(me)).subquery()
    return db.scalar(select(OrgUnit).where(OrgUnit.id == ident, OrgUnit.id.in_(select(reachable.c[0]))))


def load_template_operator(operator_id: str, **_: Any) -> Operator | None:
    return load_chef_operator(operator_id, _me().id)


def _part(model: type[Any], procurement: Procurement, part_id: str) -> Any:
    """A duty, sub-supplier or action of this procurement; anything else is a 404."""
    ident = parse_uuid(part_id)
    row = db.get(model, ident) if ident is not None else None
    if row is None or row.procurement_id != procurement.id:
        abort(404)
    return row


# --- the register -----------------------------------------------------------------------------


def _creatable_units() -> list[OrgUnit]:
    return list(
        db.scalars(
            select(OrgUnit).where(OrgUnit.id.in_(upphandlare_unit_ids(_me().id))).order_by(OrgUnit.name)
        )
    )


def _register_query() -> tuple[Select[Any], dict[str, str], str]:
    """The register's rows for the request's filters (also used by the export)."""
    me = _me()
    args = request.args
    filters = {
        "q": search_text(args.get("q")),
        "enhet": args.get("enhet", ""),
        "utfall": args.get("utfall", "") if args.get("utfall", "") in rules.OUTCOME_LABELS else "",
        "status": args.get("status", "") if args.get("status", "") in services.STATUS_LABELS else "",
        "forsenade": "ja" if args.get("forsenade") == "ja" else "",
    }
    sort = args.get("sortera", "frist")
    if sort not in SORTS:
        sort = "frist"
    conditions: list[Any] = [services.visible_clause(me)]
    if filters["q"]:
        pattern = contains_pattern(filters["q"])
        conditions.append(
            or_(
                Procurement.title.ilike(pattern, escape="\\"),
                Procurement.registry_number.ilike(pattern, escape="\\"),
                Procurement.supplier_name.ilike(pattern, escape="\\"),
            )
        )
    unit_id = parse_uuid(filters["enhet"])
    if unit_id is None:
        filters["enhet"] = ""
    else:
        conditions.append(Procurement.unit_id == unit_id)
    if filters["utfall"]:
        conditions.append(Procurement.outcome == rules.Outcome(filters["utfall"]))
    if filters["status"]:
        conditions.append(Procurement.status == ProcurementStatus(filters["status"]))
    if filters["forsenade"]:
        conditions.append(services.local_today() > NEXT_DEADLINE)
    query = (
        select(
            Procurement,
            OrgUnit.name.label("unit_name"),
            User.display_name.label("responsible_name"),
            CURRENT_DUTY.label("current_duty"),
            NEXT_DEADLINE.label("next_deadline"),
        )
        .join(OrgUnit, OrgUnit.id == Procurement.unit_id)
        .join(User, User.id == Procurement.responsible_id)
        .where(and_(*conditions))
        .order_by(*SORTS[sort], Procurement.id)
    )
    return query, filters, sort


@procurements.route("/upphandlingar")
@authorize(perm.PROCUREMENT_REGISTER)
def index() -> Any:
    query, filters, sort = _register_query()
    page = page_of(query, request.args.get("sida", 1, type=int), PAGE_SIZE)
    rows = list(db.execute(query.offset(page.offset).limit(page.size)))
    units = list(
        db.scalars(
            select(OrgUnit)
            .where(OrgUnit.id.in_(select(Procurement.unit_id).where(services.visible_clause(_me()))))
            .order_by(OrgUnit.name)
        )
    )
    return render_template(
        "procurements/index.html",
        rows=rows,
        page=page,
        filters=filters,
        sort=sort,
        sort_labels=SORT_LABELS,
        units=units,
        creatable=_creatable_units(),
        today=services.local_today(),
        is_filtered=any(filters.values()),
        pager_args={"sortera": sort, **{k: v for k, v in filters.items() if v}},
        export_form=ExportForm(formdata=None),
        can_export=is_allowed(perm.PROCUREMENT_EXPORT),
    )


@procurements.route("/upphandlingar/export")
@authorize(perm.PROCUREMENT_EXPORT)
def export() -> Any:
    """The filtered register as XLSX or CSV (step-up; audited with the filters and row count)."""
    fmt = request.args.get("format", "xlsx")
    if fmt not in ("xlsx", "csv"):
        abort(400)
    query, filters, _sort = _register_query()
    rows = list(db.execute(query.limit(EXPORT_LIMIT + 1)))
    if len(rows) > EXPORT_LIMIT:
        flash(f"Exporten får omfatta högst {EXPORT_LIMIT} förfaranden. Avgränsa med filtren.", "error")
        return see_other("procurements.index", **{k: v for k, v in filters.items() if v})
    table = Table(
        title="Säkerhetsskyddade förfaranden",
        marking=HANDLING_MARKING,
        columns=[
            "Enhet",
            "Benämning",
            "Diarienummer",
            "Typ",
            "Leverantör",
            "Avtal och nivå",
            "Samråd",
            "Status",
            "Aktuell skyldighet",
            "Nästa frist",
            "Ansvarig upphandlare",
            "Avtalet börjar",
            "Avtalet slutar",
        ],
        rows=[
            [
                row.unit_name,
                row.Procurement.title,
                row.Procurement.registry_number,
                services.KIND_LABELS[row.Procurement.kind],
                row.Procurement.supplier_name,
                rules.OUTCOME_LABELS[row.Procurement.outcome] if row.Procurement.outcome else "Ej bekräftat",
                row.Procurement.consultation,
                services.STATUS_LABELS[row.Procurement.status],
                rules.DUTY_RULES[rules.DutyKind(row.current_duty)].label if row.current_duty else None,
                row.next_deadline,
                row.responsible_name,
                row.Procurement.contract_starts_on,
                row.Procurement.contract_ends_on,
            ]
            for row in rows
        ],
    )
    audit.record(
        Event.PROCUREMENT_EXPORTED,
        target_type="procurement",
        # The filters used, but not the search text: whatever was typed stays out of the trail.
        detail={
            "format": fmt,
            "rows": len(rows),
            "filters": {k: (True if k == "q" else v) for k, v in filters.items() if v},
        },
    )
    db.commit()
    return send_table(table, fmt, "sakerhetsskyddade-forfaranden")


# --- create, read, change -----------------------------------------------------------------


def _procurement_form(unit_id: uuid.UUID, form: ProcurementForm) -> ProcurementForm:
    candidates = services.responsible_candidates(unit_id)
    form.responsible.choices = [("", "Välj ansvarig")] + [
        (str(u.id), u.display_name or u.username) for u in candidates
    ]
    return form


@procurements.route("/enheter/<unit_id>/upphandlingar/ny", methods=["GET", "POST"])
@authorize(perm.PROCUREMENT_CREATE, load=load_creation_unit)
def create(unit: OrgUnit, unit_id: str) -> Any:
    form = _procurement_form(unit.id, ProcurementForm())
    if request.method == "GET":
        form.responsible.data = str(_me().id)
    error = None
    if form.validate_on_submit():
        outcome = carry_out(
            lambda: services.create_procurement(
                _me(), unit, form.values(), attested=bool(form.attested.data)
            ),
            "Förfarandet är registrerat. Besvara triagefrågorna.",
        )
        if outcome.done:
            return see_other("procurements.triage", procurement_id=outcome.value.id)
        error = outcome.error
    return render_template(
        "procurements/form.html",
        form=form,
        unit=unit,
        procurement=None,
        errors=([error] if error else []) + form.error_messages(),
    )


@procurements.route("/upphandlingar/<procurement_id>")
@authorize(perm.PROCUREMENT_READ, load=load_procurement)
def detail(procurement: Procurement, procurement_id: str) -> Any:
    services.record_read(procurement)
    db.commit()
    duties = list(
        db.scalars(
            select(ProcurementDuty)
            .where(ProcurementDuty.procurement_id == procurement.id)
            .options(selectinload(ProcurementDuty.owner), selectinload(ProcurementDuty.done_by))
            .order_by(ProcurementDuty.position)
        )
    )
    runs = list(
        db.scalars(
            select(FollowUpRun)
            .where(FollowUpRun.procurement_id == procurement.id)
            .options(selectinload(FollowUpRun.actions), selectinload(FollowUpRun.performed_by))
            .order_by(FollowUpRun.performed_on.desc(), FollowUpRun.created_at.desc())
        )
    )
    history = list(
        db.scalars(
            select(ProcurementChange)
            .where(ProcurementChange.procurement_id == procurement.id)
            .options(selectinload(ProcurementChange.actor))
            .order_by(ProcurementChange.created_at.desc(), ProcurementChange.id)
            .limit(HISTORY_LIMIT)
        )
    )
    names = {
        str(u.id): u.display_name
        for u in db.scalars(select(User).where(User.id.in_(_history_user_ids(history))))
    }
    answers = services.answers_of(procurement)
    derivation = rules.derive(answers) if answers else None
    last_run = runs[0].performed_on if runs else None
    can = allowed_actions(
        procurement,
        (
            perm.PROCUREMENT_EDIT,
            perm.PROCUREMENT_TRIAGE,
            perm.PROCUREMENT_CONFIRM,
            perm.PROCUREMENT_UPDATE_DUTY,
            perm.PROCUREMENT_FOLLOW_UP,
            perm.PROCUREMENT_CLOSE,
        ),
    )
    return render_template(
        "procurements/detail.html",
        p=procurement,
        duties=duties,
        phases=_by_phase(duties),
        runs=runs,
        history=history,
        names=names,
        answers=answers,
        derivation=derivation,
        questions=rules.QUESTIONS,
        where_labels=rules.WHERE_LABELS,
        follow_up_due=services.follow_up_due(procurement, last_run),
        today=services.local_today(),
        can=can,
        perm=perm,
        action_form=ActionForm(formdata=None),
        sub_form=SubSupplierForm(formdata=None),
        classification_labels=CLASSIFICATION_LABELS,
        closable=procurement.status in (ProcurementStatus.CONFIRMED, ProcurementStatus.STOPPED),
        writable=procurement.status != ProcurementStatus.CLOSED,
        open_actions=[a for r in runs for a in r.actions if a.status == ActionStatus.OPEN],
    )


def _display(name: str, value: Any, names: dict[str, str]) -> str:
    if value is None:
        return "–"
    if name in ("responsible_id", "owner_id"):
        return names.get(str(value), "(okänd)")
    if isinstance(value, bool):
        return "Ja" if value else "Nej"
    labels: dict[str, Any] = {
        "outcome": rules.OUTCOME_LABELS,
        "proposed_outcome": rules.OUTCOME_LABELS,
        "kind": services.KIND_LABELS,
        "status": {**services.DUTY_STATUS_LABELS, **services.STATUS_LABELS},
        "consultation_outcome": rules.CONSULTATION_OUTCOME_LABELS,
        "classification": {str(k): v for k, v in CLASSIFICATION_LABELS.items()},
        "q_where": rules.WHERE_LABELS,
    }
    return str(labels.get(name, {}).get(str(value), value))


def describe_change(change: ProcurementChange, names: dict[str, str]) -> list[str]:
    """One history row as Swedish phrases: encrypted fields by name only, others old → new."""
    phrases = []
    for name, values in (change.changes or {}).items():
        label = FIELD_LABELS.get(name, name)
        if name in services.ENCRYPTED_FIELDS or values is None:
            phrases.append(f"{label} (ändrad)")
        elif isinstance(values, list) and len(values) == 2:
            phrases.append(
                f"{label}: {_display(name, values[0], names)} → {_display(name, values[1], names)}"
            )
        else:
            phrases.append(f"{label}: {_display(name, values, names)}")
    return phrases


def _history_user_ids(history: list[ProcurementChange]) -> set[uuid.UUID]:
    ids = set()
    for change in history:
        for name in ("responsible_id", "owner_id"):
            values = (change.changes or {}).get(name)
            for value in values if isinstance(values, list) else [values]:
                ident = parse_uuid(value) if isinstance(value, str) else None
                if ident:
                    ids.add(ident)
    return ids


def _by_phase(duties: list[ProcurementDuty]) -> list[tuple[rules.Phase, list[ProcurementDuty]]]:
    grouped: dict[rules.Phase, list[ProcurementDuty]] = {}
    for duty in duties:
        grouped.setdefault(rules.DUTY_RULES[duty.kind].phase, []).append(duty)
    return [(phase, grouped[phase]) for phase in rules.Phase if phase in grouped]


@procurements.route("/upphandlingar/<procurement_id>/andra", methods=["GET", "POST"])
@authorize(perm.PROCUREMENT_EDIT, load=load_procurement)
def edit(procurement: Procurement, procurement_id: str) -> Any:
    if procurement.status == ProcurementStatus.CLOSED:
        flash("Ärendet är avslutat och kan inte ändras.", "error")
        return see_other("procurements.detail", procurement_id=procurement.id)
    if request.method == "GET":
        services.record_read(procurement, view="edit")
        db.commit()
        form = ProcurementForm(
            obj=procurement, marking=procurement.classification, version=procurement.version
        )
        form.responsible.data = str(procurement.responsible_id)
        form.attested.data = False
    else:
        form = ProcurementForm()
    _procurement_form(procurement.unit_id, form)
    errors: list[str] = []
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            outcome = carry_out(
                lambda: services.update_procurement(
                    _me(), procurement, form.values(), form.version.data, attested=bool(form.attested.data)
                ),
                None,
            )
            if outcome.done:
                flash("Ändringarna är sparade." if outcome.value else "Inga ändringar att spara.", "success")
                return see_other("procurements.detail", procurement_id=procurement.id)
            errors, status = [outcome.error or ""], outcome.status
            if outcome.stale:
                form.version.data = procurement.version
                form.version.raw_data = [str(procurement.version)]
        errors += form.error_messages()
    return render_template(
        "procurements/form.html", form=form, unit=procurement.unit, procurement=procurement, errors=errors
    ), status


@procurements.route("/upphandlingar/<procurement_id>/underleverantorer", methods=["POST"])
@authorize(perm.PROCUREMENT_EDIT, load=load_procurement)
def add_sub_supplier(procurement: Procurement, procurement_id: str) -> Any:
    form = SubSupplierForm()
    if not form.validate_on_submit():
        for message in [f"{f.label.text}: {e}" for f in form for e in f.errors]:
            flash(message, "error")
        return see_other("procurements.detail", procurement_id=procurement.id, _anchor="underleverantorer")
    outcome = carry_out(
        lambda: services.add_sub_supplier(_me(), procurement, form.name.data or "", form.org_number.data),
        "Underleverantören är tillagd.",
    )
    if not outcome.done:
        flash(outcome.error or "", "error")
    return see_other("procurements.detail", procurement_id=procurement.id, _anchor="underleverantorer")


@procurements.route(
    "/upphandlingar/<procurement_id>/underleverantorer/<sub_id>/ta-bort", methods=["GET", "POST"]
)
@authorize(perm.PROCUREMENT_EDIT, load=load_procurement)
def remove_sub_supplier(procurement: Procurement, procurement_id: str, sub_id: str) -> Any:
    sub = _part(SubSupplier, procurement, sub_id)
    form = ConfirmForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        outcome = carry_out(
            lambda: services.remove_sub_supplier(_me(), procurement, sub), "Underleverantören är borttagen."
        )
        if not outcome.done:
            flash(outcome.error or "", "error")
        return see_other("procurements.detail", procurement_id=procurement.id, _anchor="underleverantorer")
    return render_template("procurements/confirm_remove_sub.html", p=procurement, sub=sub, form=form)


# --- triage and confirmation ----------------------------------------------------------------


@procurements.route("/upphandlingar/<procurement_id>/triage", methods=["GET", "POST"])
@authorize(perm.PROCUREMENT_TRIAGE, load=load_procurement)
def triage(procurement: Procurement, procurement_id: str) -> Any:
    if procurement.status in (ProcurementStatus.CLOSED, ProcurementStatus.STOPPED):
        flash("Triagen kan inte ändras när ärendet är stoppat eller avslutat.", "error")
        return see_other("procurements.detail", procurement_id=procurement.id)
    form = TriageForm()
    answers = services.answers_of(procurement)
    if request.method == "GET":
        form.version.data = procurement.version
        if answers is not None:
            for name in TriageForm.ANSWERS:
                getattr(form, name).data = "ja" if getattr(answers, name) else "nej"
            form.where.data = answers.where.value
    errors: list[str] = []
    status = 200
    if form.validate_on_submit():
        values = {name: getattr(form, name).data == "ja" for name in TriageForm.ANSWERS}
        given = rules.TriageAnswers(where=rules.Where(form.where.data), **values)
        outcome = carry_out(
            lambda: services.triage(_me(), procurement, given, form.version.data),
            "Triagen är sparad. Samordnaren bekräftar eller ändrar utfallet.",
        )
        if outcome.done:
            return see_other("procurements.detail", procurement_id=procurement.id, _anchor="triage")
        errors, status = [outcome.error or ""], outcome.status
    elif request.method == "POST":
        errors = [f"{f.label.text}: {e}" for f in form for e in f.errors if f.name != "csrf_token"]
        if form.csrf_token.errors:
            abort(400)
    confirmed = procurement.status == ProcurementStatus.CONFIRMED
    return render_template(
        "procurements/triage.html",
        p=procurement,
        form=form,
        errors=errors,
        confirmed=confirmed,
        yes_no=YES_NO,
    ), status


def _nothing_to_confirm(procurement: Procurement) -> tuple[str, str]:
    """Why the confirmation page has nothing to confirm: for a late second confirmation (two
    samordnare at once, or a form left open), who already did it."""
    if procurement.confirmed_by_id is None:
        return "Det finns ingen besvarad triage som väntar på bekräftelse.", "error"
    if procurement.confirmed_by_id == _me().id:
        return "Du har redan bekräftat triagen. Utfallet och skyldigheterna visas nedan.", "info"
    return "Någon annan har redan bekräftat triagen. Utfallet och skyldigheterna visas nedan.", "info"


@procurements.route("/upphandlingar/<procurement_id>/bekrafta", methods=["GET", "POST"])
@authorize(perm.PROCUREMENT_CONFIRM, load=load_procurement)
def confirm(procurement: Procurement, procurement_id: str) -> Any:
    answers = services.answers_of(procurement)
    if procurement.status != ProcurementStatus.TRIAGED or answers is None:
        flash(*_nothing_to_confirm(procurement))
        return see_other("procurements.detail", procurement_id=procurement.id)
    derivation = rules.derive(answers)
    form = ConfirmTriageForm()
    if request.method == "GET":
        form.outcome.data = derivation.outcome.value
        form.consultation.data = derivation.consultation
        form.version.data = procurement.version
    errors: list[str] = []
    status = 200
    if form.validate_on_submit():
        outcome = carry_out(
            lambda: services.confirm(
                _me(),
                procurement,
                outcome=rules.Outcome(form.outcome.data),
                consultation=bool(form.consultation.data),
                reason=form.reason.data,
                attested=bool(form.attested.data),
                version=form.version.data,
            ),
            None,
        )
        if outcome.done:
            flash(
                "Utfallet är ändrat och skälet sparat. Skyldigheterna följer det nya utfallet."
                if outcome.value
                else "Utfallet är bekräftat. Skyldigheterna och deras frister visas nedan.",
                "success",
            )
            return see_other("procurements.detail", procurement_id=procurement.id, _anchor="skyldigheter")
        errors, status = [outcome.error or ""], outcome.status
    elif request.method == "POST":
        errors = form.error_messages()
    return render_template(
        "procurements/confirm.html",
        p=procurement,
        form=form,
        errors=errors,
        derivation=derivation,
        answers=answers,
        questions=rules.QUESTIONS,
        where_labels=rules.WHERE_LABELS,
    ), status


# --- duties -----------------------------------------------------------------------------------


@procurements.route("/upphandlingar/<procurement_id>/skyldigheter/<duty_id>", methods=["GET", "POST"])
@authorize(perm.PROCUREMENT_UPDATE_DUTY, load=load_procurement)
def duty(procurement: Procurement, procurement_id: str, duty_id: str) -> Any:
    item: ProcurementDuty = _part(ProcurementDuty, procurement, duty_id)
    if item.kind == rules.DutyKind.FINAL_NOTE:
        return see_other("procurements.close", procurement_id=procurement.id)
    if procurement.status == ProcurementStatus.CLOSED or item.status == DutyStatus.WITHDRAWN:
        flash("Skyldigheten kan inte ändras.", "error")
        return see_other("procurements.detail", procurement_id=procurement.id)
    form = DutyForm()
    # Only the duty's own fields are shown, posted and validated.
    if item.kind != rules.DutyKind.CONSULTATION:
        del form.consultation_outcome
    if item.kind != rules.DutyKind.STAFF_VETTING:
        del form.count_required
        del form.count_done
    form.owner.choices = [
        (str(u.id), u.display_name or u.username) for u in services.owner_candidates(procurement.unit_id)
    ]
    if str(item.owner_id) not in {value for value, _ in form.owner.choices}:
        form.owner.choices.insert(0, (str(item.owner_id), item.owner.display_name if item.owner else "–"))
    if request.method == "GET":
        form.status.data = item.status.value
        form.done_on.data = item.done_on or (
            services.local_today() if item.status == DutyStatus.OPEN else None
        )
        form.reference.data = item.reference
        form.owner.data = str(item.owner_id)
        if "consultation_outcome" in form:
            answered = item.consultation_outcome
            form.consultation_outcome.data = answered.value if answered else ""
        if "count_required" in form:
            form.count_required.data = item.count_required
            form.count_done.data = item.count_done
        form.note.data = item.note
        form.version.data = item.version
    errors: list[str] = []
    status = 200
    if form.validate_on_submit():
        values = {
            "status": form.status.data,
            "done_on": form.done_on.data,
            "reference": form.reference.data,
            "owner_id": parse_uuid(form.owner.data or ""),
            "consultation_outcome": form.data.get("consultation_outcome"),
            "count_required": form.data.get("count_required"),
            "count_done": form.data.get("count_done"),
            "note": form.note.data,
        }
        outcome = carry_out(
            lambda: services.update_duty(
                _me(), procurement, item, values, attested=bool(form.attested.data), version=form.version.data
            ),
            None,
        )
        if outcome.done:
            flash("Skyldigheten är uppdaterad." if outcome.value else "Inga ändringar att spara.", "success")
            return see_other("procurements.detail", procurement_id=procurement.id, _anchor="skyldigheter")
        errors, status = [outcome.error or ""], outcome.status
        if outcome.stale:
            form.version.data = item.version
            form.version.raw_data = [str(item.version)]
    elif request.method == "POST":
        errors = form.error_messages()
    return render_template(
        "procurements/duty.html",
        p=procurement,
        duty=item,
        rule=rules.DUTY_RULES[item.kind],
        form=form,
        errors=errors,
    ), status


# --- supplier follow-up -----------------------------------------------------------------------


@procurements.route("/upphandlingar/<procurement_id>/uppfoljning/ny", methods=["GET", "POST"])
@authorize(perm.PROCUREMENT_FOLLOW_UP, load=load_procurement)
def follow_up(procurement: Procurement, procurement_id: str) -> Any:
    if procurement.status != ProcurementStatus.CONFIRMED or not (
        procurement.outcome and procurement.outcome.is_protected
    ):
        flash("Leverantörsuppföljning görs av bekräftade säkerhetsskyddade förfaranden.", "error")
        return see_other("procurements.detail", procurement_id=procurement.id)
    template, items = services.current_template(procurement.unit.operator_id)
    form = FollowUpForm()
    results = [request.form.get(f"result-{i}", "") for i in range(len(items))]
    if request.method == "GET":
        form.performed_on.data = services.local_today()
    errors: list[str] = []
    if form.validate_on_submit():
        # row.form: a FormField's own `description` attribute would shadow the subfield.
        actions = [
            {
                "description": row.form.description.data,
                "responsible": row.form.responsible.data,
                "due_on": row.form.due_on.data,
            }
            for row in form.actions
        ]
        outcome = carry_out(
            lambda: services.record_follow_up(
                _me(),
                procurement,
                performed_on=form.performed_on.data,
                results=results,
                findings=form.findings.data,
                actions=actions,
                attested=bool(form.attested.data),
                template=template,
                items=items,
            ),
            "Uppföljningen är registrerad.",
        )
        if outcome.done:
            return see_other("procurements.detail", procurement_id=procurement.id, _anchor="uppfoljning")
        errors = [outcome.error or ""]
    elif request.method == "POST":
        errors = form.error_messages()
    return render_template(
        "procurements/follow_up.html",
        p=procurement,
        form=form,
        items=list(enumerate(items)),
        results=results,
        result_choices=FollowUpForm.RESULT_CHOICES,
        template=template,
        errors=errors,
    )


@procurements.route("/upphandlingar/<procurement_id>/atgarder/<action_id>", methods=["POST"])
@authorize(perm.PROCUREMENT_FOLLOW_UP, load=load_procurement)
def follow_up_action(procurement: Procurement, procurement_id: str, action_id: str) -> Any:
    action: FollowUpAction = _part(FollowUpAction, procurement, action_id)
    form = ActionForm()
    if not form.validate_on_submit():
        flash("Ange datum då åtgärden blev klar som ÅÅÅÅ-MM-DD.", "error")
        return see_other("procurements.detail", procurement_id=procurement.id, _anchor="uppfoljning")
    done = action.status == ActionStatus.OPEN
    outcome = carry_out(
        lambda: services.update_action(
            _me(), procurement, action, done=done, done_on=form.done_on.data, version=form.version.data
        ),
        "Åtgärden är markerad som klar." if done else "Åtgärden är öppen igen.",
    )
    if not outcome.done:
        flash(outcome.error or "", "error")
    return see_other("procurements.detail", procurement_id=procurement.id, _anchor="uppfoljning")


# --- contract end -----------------------------------------------------------------------------


@procurements.route("/upphandlingar/<procurement_id>/avsluta", methods=["GET", "POST"])
@authorize(perm.PROCUREMENT_CLOSE, load=load_procurement)
def close(procurement: Procurement, procurement_id: str) -> Any:
    if procurement.status not in (ProcurementStatus.CONFIRMED, ProcurementStatus.STOPPED):
        flash("Ärendet kan avslutas först när triagen är bekräftad, och bara en gång.", "error")
        return see_other("procurements.detail", procurement_id=procurement.id)
    form = CloseForm()
    if request.method == "GET":
        form.version.data = procurement.version
    errors: list[str] = []
    status = 200
    if form.validate_on_submit():
        outcome = carry_out(
            lambda: services.close(
                _me(),
                procurement,
                final_note=form.final_note.data,
                attested=bool(form.attested.data),
                version=form.version.data,
            ),
            "Ärendet är avslutat.",
        )
        if outcome.done:
            return see_other("procurements.detail", procurement_id=procurement.id)
        errors, status = [outcome.error or ""], outcome.status
    elif request.method == "POST":
        errors = form.error_messages()
    return render_template(
        "procurements/close.html",
        p=procurement,
        form=form,
        errors=errors,
        blockers=services.open_end_blockers(procurement),
    ), status


# --- the operator's follow-up checklist --------------------------------------------------------


@procurements.route("/verksamhetsutovare/<operator_id>/uppfoljningsmall", methods=["GET", "POST"])
@authorize(perm.PROCUREMENT_TEMPLATE, load=load_template_operator)
def template(operator: Operator, operator_id: str) -> Any:
    current, items = services.current_template(operator.id)
    form = TemplateForm()
    if request.method == "GET":
        form.items.data = "\n".join(items)
    errors: list[str] = []
    if form.validate_on_submit():
        outcome = carry_out(lambda: services.save_template(_me(), operator, form.items.data or ""), None)
        if outcome.done:
            flash(
                f"Checklistan är sparad som version {outcome.value.version_no}."
                if outcome.value
                else "Inga ändringar att spara.",
                "success",
            )
            return see_other("procurements.template", operator_id=operator.id)
        errors = [outcome.error or ""]
    elif request.method == "POST":
        errors = [f"{f.label.text}: {e}" for f in form for e in f.errors]
    return render_template(
        "procurements/template.html",
        operator=operator,
        form=form,
        errors=errors,
        current=current,
        inherited=current is not None and current.operator_id != operator.id,
        versions=services.template_versions(operator.id),
    )
