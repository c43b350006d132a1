"""Pages of the yearly follow-up (årlig uppföljning): a unit's follow-ups, opening this year's,
answering, submitting, the chef's review, the chef's overview of an operator's units for a year
and the questionnaire editor.

The loaders scope in SQL: a follow-up is fetched only from a unit the user reaches as its
samordnare/ersättare or as chef of its operator (a kommun's chef also over its bolag), so
anyone else gets a 404 as for a missing id; the policies then decide (policies/oversight.cedar).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, current_app, flash, render_template, request
from flask_login import current_user
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import selectinload

from sakskydd.accounts.models import User
from sakskydd.audit.models import AuditEvent
from sakskydd.audit.tags import Event
from sakskydd.authz import permissions as perm
from sakskydd.authz.enforcement import allowed_actions, authorize, parse_uuid
from sakskydd.deadlines import Rules, current_assessment, followup_due_on, local_today
from sakskydd.extensions import db
from sakskydd.followup import forms, services
from sakskydd.followup.models import AnnualFollowUp, Answer, FollowUpStatus
from sakskydd.organisations.models import Applicability, ApplicabilityAssessment, Operator, OrgUnit
from sakskydd.organisations.scope import (
    chef_operator_ids,
    load_chef_operator,
    load_readable_unit,
    readable_unit_ids,
)
from sakskydd.web.actions import carry_out, submit
from sakskydd.web.forms import ceiling
from sakskydd.web.redirects import see_other

followup = Blueprint("followup", __name__)

FOLLOWUP_ACTIONS = (perm.FOLLOWUP_EDIT, perm.FOLLOWUP_SUBMIT, perm.FOLLOWUP_REVIEW)
HISTORY_LABELS = {
    Event.FOLLOWUP_OPENED.value: "Öppnad",
    Event.FOLLOWUP_SUBMITTED.value: "Inskickad",
    Event.FOLLOWUP_RETURNED.value: "Återremitterad",
    Event.FOLLOWUP_REVIEWED.value: "Granskad",
}
NOT_OPENED = "ej_oppnad"
OVERDUE = "forsenad"
STATUS_FILTERS = {
    NOT_OPENED: services.NOT_OPENED_LABEL,
    **{status.value: label for status, label in services.STATUS_LABELS.items()},
    OVERDUE: "Försenade",
}
EDIT_BLANK_ROWS = 3


def _me() -> User:
    return current_user._get_current_object()  # type: ignore[no-any-return]


def _rules() -> Rules:
    return Rules.from_settings(current_app.config["SAKSKYDD_SETTINGS"])


@followup.context_processor
def _labels() -> dict[str, Any]:
    return {
        "FOLLOWUP_STATUS_LABELS": services.STATUS_LABELS,
        "FOLLOWUP_ANSWER_LABELS": services.ANSWER_LABELS,
        "FOLLOWUP_NOT_OPENED": services.NOT_OPENED_LABEL,
    }


# --- loaders: scoped in SQL, so a foreign or out-of-reach id is a 404 ---------------------------


def load_unit(unit_id: str, **_: Any) -> OrgUnit | None:
    return load_readable_unit(unit_id, _me().id)


def load_followup(followup_id: str, **_: Any) -> AnnualFollowUp | None:
    ident = parse_uuid(followup_id)
    if ident is None:
        return None
    return db.scalar(
        select(AnnualFollowUp)
        .where(AnnualFollowUp.id == ident, AnnualFollowUp.unit_id.in_(readable_unit_ids(_me().id)))
        .options(selectinload(AnnualFollowUp.answers), selectinload(AnnualFollowUp.unit))
    )


def load_operator(operator_id: str, **_: Any) -> Operator | None:
    return load_chef_operator(operator_id, _me().id)


# --- a unit's follow-ups ---------------------------------------------------------------------


@followup.route("/enheter/<unit_id>/uppfoljning")
@authorize(perm.FOLLOWUP_LIST, load=load_unit)
def unit_list(unit: OrgUnit, unit_id: str) -> Any:
    rows = list(
        db.scalars(
            select(AnnualFollowUp)
            .where(AnnualFollowUp.unit_id == unit.id)
            .order_by(AnnualFollowUp.year.desc())
        )
    )
    year = local_today().year
    can_open = not any(r.year == year for r in rows) and perm.FOLLOWUP_OPEN in allowed_actions(
        unit, [perm.FOLLOWUP_OPEN]
    )
    return render_template(
        "followup/unit_list.html",
        unit=unit,
        followups=rows,
        year=year,
        today=local_today(),
        can_open=can_open,
        due_on=followup_due_on(year, _rules().followup_due),
        form=forms.ActionForm(),
    )


@followup.route("/enheter/<unit_id>/uppfoljning/oppna", methods=["POST"])
@authorize(perm.FOLLOWUP_OPEN, load=load_unit)
def open_followup(unit: OrgUnit, unit_id: str) -> Any:
    form = forms.ActionForm()
    if not form.validate_on_submit():
        flash("Formuläret hade gått ut. Försök igen.", "error")
        return see_other("followup.unit_list", unit_id=unit.id)
    outcome = carry_out(
        lambda: services.open_followup(_me(), unit, today=local_today(), rules=_rules()),
        "Årets uppföljning är öppnad. Det som systemet redan vet är ifyllt som underlag.",
    )
    if outcome.done:
        return see_other("followup.detail", followup_id=outcome.value.id)
    flash(outcome.error or "", "error")
    return see_other("followup.unit_list", unit_id=unit.id)


# --- one follow-up ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRow:
    what: str
    at: Any
    by: str


def _history(item: AnnualFollowUp) -> list[HistoryRow]:
    """Who opened, submitted, returned and reviewed it, and when (from its audit events)."""
    rows = db.execute(
        select(AuditEvent.event, AuditEvent.occurred_at, User.display_name)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .where(
            AuditEvent.target_type == AnnualFollowUp.__tablename__,
            AuditEvent.target_id == str(item.id),
            AuditEvent.event.in_(list(HISTORY_LABELS)),
        )
        .order_by(AuditEvent.seq)
    )
    return [HistoryRow(HISTORY_LABELS[r.event], r.occurred_at, r.display_name or "–") for r in rows]


def _is_overdue(item: AnnualFollowUp) -> bool:
    return item.status in services.EDITABLE and item.due_on < local_today()


@followup.route("/uppfoljning/<followup_id>")
@authorize(perm.FOLLOWUP_READ, load=load_followup)
def detail(item: AnnualFollowUp, followup_id: str) -> Any:
    services.record_read(item)
    db.commit()
    return render_template(
        "followup/detail.html",
        f=item,
        unit=item.unit,
        history=_history(item),
        can=allowed_actions(item, FOLLOWUP_ACTIONS),
        overdue=_is_overdue(item),
        unanswered=services.unanswered(item),
    )


def _answer_inputs(form: Any, item: AnnualFollowUp) -> dict[int, services.AnswerInput]:
    inputs = {}
    for a in item.answers:
        value = getattr(form, forms.answer_field(a.position)).data
        inputs[a.position] = services.AnswerInput(
            Answer(value) if value else None, getattr(form, forms.comment_field(a.position)).data
        )
    return inputs


def _prefill_answers(form: Any, item: AnnualFollowUp) -> None:
    for a in item.answers:
        chosen = a.answer or a.suggested  # the system's suggestion until the samordnare answers
        getattr(form, forms.answer_field(a.position)).data = chosen.value if chosen else None
        getattr(form, forms.comment_field(a.position)).data = a.comment
    form.version.data = item.version


@followup.route("/uppfoljning/<followup_id>/svar", methods=["GET", "POST"])
@authorize(perm.FOLLOWUP_EDIT, load=load_followup)
def answer(item: AnnualFollowUp, followup_id: str) -> Any:
    if item.status not in services.EDITABLE:
        flash("Uppföljningen är inskickad eller granskad och kan inte ändras.", "error")
        return see_other("followup.detail", followup_id=item.id)
    form = forms.answers_form(item)
    if request.method == "GET":
        services.record_read(item, view="answer")
        db.commit()
        _prefill_answers(form, item)
    outcome, errors = submit(
        form,
        lambda: services.save_answers(
            _me(),
            item,
            _answer_inputs(form, item),
            attested=bool(form.attested.data),
            ceiling=ceiling(),
            version=form.version.data,
        ),
        "Svaren är sparade.",
        record=item,
    )
    if outcome.done:
        return see_other("followup.detail", followup_id=item.id)
    return render_template(
        "followup/answer.html", f=item, unit=item.unit, form=form, errors=errors
    ), outcome.status


@followup.route("/uppfoljning/<followup_id>/skicka-in", methods=["GET", "POST"])
@authorize(perm.FOLLOWUP_SUBMIT, load=load_followup)
def submit_followup(item: AnnualFollowUp, followup_id: str) -> Any:
    form = forms.SubmitForm()
    if request.method == "GET":
        form.version.data = item.version
    outcome, errors = submit(
        form,
        lambda: services.submit_followup(_me(), item, version=form.version.data),
        "Uppföljningen är inskickad till säkerhetsskyddschefen.",
        record=item,
    )
    if outcome.done:
        return see_other("followup.detail", followup_id=item.id)
    return render_template(
        "followup/submit.html",
        f=item,
        unit=item.unit,
        form=form,
        errors=errors,
        unanswered=services.unanswered(item),
        editable=item.status in services.EDITABLE,
    ), outcome.status


def _chef_comments(form: Any, item: AnnualFollowUp) -> dict[int, str | None]:
    return {a.position: getattr(form, forms.chef_comment_field(a.position)).data for a in item.answers}


def _carry_review(form: Any, item: AnnualFollowUp) -> None:
    review = services.return_followup if form.decision.data == "aterremittera" else services.review_followup
    review(
        _me(),
        item,
        comment=form.comment.data,
        chef_comments=_chef_comments(form, item),
        attested=bool(form.attested.data),
        ceiling=ceiling(),
        version=form.version.data,
    )


@followup.route("/uppfoljning/<followup_id>/granska", methods=["GET", "POST"])
@authorize(perm.FOLLOWUP_REVIEW, load=load_followup)
def review(item: AnnualFollowUp, followup_id: str) -> Any:
    form = forms.review_form(item)
    if request.method == "GET":
        services.record_read(item, view="review")
        db.commit()
        form.version.data = item.version
        for a in item.answers:
            getattr(form, forms.chef_comment_field(a.position)).data = a.chef_comment
    returned = form.decision.data == "aterremittera"
    outcome, errors = submit(
        form,
        lambda: _carry_review(form, item),
        "Uppföljningen är återremitterad till samordnaren." if returned else "Uppföljningen är granskad.",
        record=item,
    )
    if outcome.done:
        return see_other("followup.detail", followup_id=item.id)
    return render_template(
        "followup/review.html",
        f=item,
        unit=item.unit,
        form=form,
        errors=errors,
        reviewable=item.status == FollowUpStatus.SUBMITTED,
    ), outcome.status


# --- the chef's overview ---------------------------------------------------------------------


@dataclass(frozen=True)
class OverviewRow:
    unit_id: uuid.UUID
    unit_name: str
    followup_id: uuid.UUID | None
    status: str  # a FollowUpStatus value or NOT_OPENED
    due_on: Any
    overdue: bool
    submitted_at: Any
    reviewed_at: Any


def _year(raw: str | None, today: Any) -> int:
    year = int(raw) if raw and raw.isascii() and raw.isdigit() else today.year
    return year if 2000 <= year <= today.year + 1 else today.year


def _overview_rows(operator: Operator, year: int) -> list[OverviewRow]:
    """Every active unit of the operator assessed as covered, or with a follow-up that year
    (one statement)."""
    today = local_today()
    outcome = current_assessment(today).with_only_columns(ApplicabilityAssessment.outcome).scalar_subquery()
    default_due = followup_due_on(year, _rules().followup_due)
    rows = db.execute(
        select(
            OrgUnit.id,
            OrgUnit.name,
            AnnualFollowUp.id.label("followup_id"),
            AnnualFollowUp.status,
            AnnualFollowUp.due_on,
            AnnualFollowUp.submitted_at,
            AnnualFollowUp.reviewed_at,
        )
        .outerjoin(AnnualFollowUp, and_(AnnualFollowUp.unit_id == OrgUnit.id, AnnualFollowUp.year == year))
        .where(
            OrgUnit.operator_id == operator.id,
            OrgUnit.is_active.is_(True),
            or_(outcome == Applicability.YES, AnnualFollowUp.id.is_not(None)),
        )
        .order_by(OrgUnit.name)
    ).all()
    result = []
    for r in rows:
        status = FollowUpStatus(r.status).value if r.status is not None else NOT_OPENED
        due_on = r.due_on or default_due
        waiting = status in (NOT_OPENED, FollowUpStatus.DRAFT.value, FollowUpStatus.RETURNED.value)
        result.append(
            OverviewRow(
                r.id,
                r.name,
                r.followup_id,
                status,
                due_on,
                waiting and due_on < today,
                r.submitted_at,
                r.reviewed_at,
            )
        )
    return result


@followup.route("/verksamhetsutovare/<operator_id>/uppfoljning")
@authorize(perm.FOLLOWUP_OVERVIEW, load=load_operator)
def overview(operator: Operator, operator_id: str) -> Any:
    today = local_today()
    year = _year(request.args.get("ar"), today)
    wanted = request.args.get("status") or ""
    wanted = wanted if wanted in STATUS_FILTERS else ""
    rows = _overview_rows(operator, year)
    counts = {key: sum(1 for r in rows if r.status == key) for key in STATUS_FILTERS}
    counts[OVERDUE] = sum(1 for r in rows if r.overdue)
    shown = [r for r in rows if not wanted or (r.overdue if wanted == OVERDUE else r.status == wanted)]
    operators = db.execute(
        select(Operator.id, Operator.name)
        .where(Operator.id.in_(chef_operator_ids(_me().id)))
        .order_by(Operator.name)
    ).all()
    return render_template(
        "followup/overview.html",
        operator=operator,
        operators=operators,
        year=year,
        years=list(range(today.year + 1, today.year - 6, -1)),
        wanted=wanted,
        filters=STATUS_FILTERS,
        counts=counts,
        rows=shown,
        total=len(rows),
        not_opened=NOT_OPENED,
    )


# --- the questionnaire -----------------------------------------------------------------------


def _editor_rows(questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The questions in force, the built-in ones left out (offered unticked) and blank rows."""
    keys = {q.get("key") for q in questions}
    rows = [{"key": q.get("key") or "", "text": q["text"], "include": True} for q in questions]
    rows += [
        {"key": key, "text": text, "include": False}
        for key, text in services.questions.BUILTIN_QUESTIONS
        if key not in keys
    ]
    rows += [{"key": "", "text": "", "include": True} for _ in range(EDIT_BLANK_ROWS)]
    return rows


def _question_rows(form: forms.QuestionnaireForm) -> list[services.QuestionRow]:
    return [
        services.QuestionRow(entry.form.key.data or None, entry.form.text.data, bool(entry.form.include.data))
        for entry in form.rows
    ]


@followup.route("/verksamhetsutovare/<operator_id>/uppfoljning/fragor", methods=["GET", "POST"])
@authorize(perm.FOLLOWUP_QUESTIONNAIRE, load=load_operator)
def questionnaire(operator: Operator, operator_id: str) -> Any:
    current, items = services.current_questionnaire(operator.id)
    form = forms.QuestionnaireForm(data={"rows": _editor_rows(items)} if request.method == "GET" else None)
    outcome, errors = submit(
        form, lambda: services.save_questionnaire(_me(), operator, _question_rows(form)), None
    )
    if outcome.done:
        flash(
            f"Frågeformuläret är sparat som version {outcome.value.version_no}."
            if outcome.value
            else "Inga ändringar att spara.",
            "success",
        )
        return see_other("followup.questionnaire", operator_id=operator.id)
    return render_template(
        "followup/questionnaire.html",
        operator=operator,
        form=form,
        errors=errors,
        current=current,
        inherited=current is not None and current.operator_id != operator.id,
        versions=services.questionnaire_versions(operator.id),
        builtin_text=services.questions.BUILTIN_TEXT,
    )
