"""Säkerhetsskyddsanalyser: list, edit, plan, workflow, versions and comparison."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from flask import Blueprint, abort, current_app, flash, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from sakskydd.accounts.forms import ConfirmForm
from sakskydd.accounts.models import User
from sakskydd.analyses import services
from sakskydd.analyses.forms import (
    AREA_LABELS,
    CATEGORY_LABELS,
    FIELD_LABELS,
    MEASURE_STATUS_LABELS,
    NEUTRAL_HINT,
    OUTCOME_LABELS,
    REFERENCE_KIND_LABELS,
    STATUS_LABELS,
    AnalysisForm,
    AnalysisStartForm,
    AssetLinkForm,
    MeasureForm,
    MeasureStatusForm,
    ReferenceForm,
    WorkflowForm,
)
from sakskydd.analyses.models import (
    CATEGORY_FIELDS,
    AnalysisAsset,
    AnalysisOutcome,
    AnalysisReference,
    AnalysisStatus,
    Measure,
    MeasureArea,
    MeasureStatus,
    ReferenceKind,
    SecurityAnalysis,
)
from sakskydd.assets.forms import TYPE_LABELS as ASSET_TYPE_LABELS
from sakskydd.assets.models import ProtectedAsset
from sakskydd.authz import permissions as perm
from sakskydd.authz.enforcement import allowed_actions, authorize, is_allowed, parse_uuid, require
from sakskydd.classification import (
    CLASSIFICATION_LABELS,
    DAMAGE_LEVEL_LABELS,
    DamageLevel,
)
from sakskydd.extensions import db
from sakskydd.organisations.models import OrgUnit
from sakskydd.organisations.scope import load_readable_unit, readable_unit_ids
from sakskydd.records import DomainError
from sakskydd.web.actions import carry_out
from sakskydd.web.redirects import see_other

analyses = Blueprint("analyses", __name__)


@analyses.app_context_processor
def _labels() -> dict[str, Any]:
    return {
        "ANALYSIS_STATUS_LABELS": STATUS_LABELS,
        "OUTCOME_LABELS": OUTCOME_LABELS,
        "CATEGORY_LABELS": CATEGORY_LABELS,
        "REFERENCE_KIND_LABELS": REFERENCE_KIND_LABELS,
        "AREA_LABELS": AREA_LABELS,
        "MEASURE_STATUS_LABELS": MEASURE_STATUS_LABELS,
        "DAMAGE_LEVEL_LABELS": DAMAGE_LEVEL_LABELS,
        "ASSET_TYPE_LABELS": ASSET_TYPE_LABELS,
        "MARKING_LABELS": CLASSIFICATION_LABELS,
        "ANALYSIS_FIELD_LABELS": FIELD_LABELS,
    }


def _me() -> User:
    return current_user._get_current_object()  # type: ignore[no-any-return]


def _ceiling() -> int:
    return int(current_app.config["SAKSKYDD_SETTINGS"].max_classification)


# --- loaders: scoped in SQL to the units the user reaches, so a foreign id is a 404 ---------------


def load_unit(unit_id: str, **_: Any) -> OrgUnit | None:
    return load_readable_unit(unit_id, _me().id)


def load_analysis(analysis_id: str, **_: Any) -> SecurityAnalysis | None:
    ident = parse_uuid(analysis_id)
    if ident is None:
        return None
    return db.scalar(
        select(SecurityAnalysis).where(
            SecurityAnalysis.id == ident, SecurityAnalysis.unit_id.in_(readable_unit_ids(_me().id))
        )
    )


def _part(model: type[Any], analysis: SecurityAnalysis, part_id: str) -> Any:
    """A reference, asset link or measure of this analysis; anything else is a 404."""
    ident = parse_uuid(part_id)
    row = db.get(model, ident) if ident is not None else None
    if row is None or row.analysis_id != analysis.id:
        abort(404)
    return row


# --- lists and creation ---------------------------------------------------------------------


@analyses.route("/enheter/<unit_id>/analyser")
@authorize(perm.ANALYSIS_LIST, load=load_unit)
def index(unit: OrgUnit, unit_id: str) -> Any:
    rows = services.unit_analyses(unit.id, _me().clearance)
    return render_template(
        "analyses/index.html",
        unit=unit,
        analyses=rows,
        open_analysis=services.open_analysis(unit.id),
        can_create=is_allowed(perm.ANALYSIS_CREATE, unit),
    )


@analyses.route("/enheter/<unit_id>/analyser/ny", methods=["GET", "POST"])
@authorize(perm.ANALYSIS_CREATE, load=load_unit)
def create(unit: OrgUnit, unit_id: str) -> Any:
    previous = services.unit_analyses(unit.id, _me().clearance)
    approved = [a for a in previous if a.status == AnalysisStatus.APPROVED]
    form = AnalysisStartForm()
    form.based_on.choices = [("", "Börja med en tom analys")] + [
        (str(a.id), f"{a.cycle_year} version {a.version_no} – {a.title} ({STATUS_LABELS[a.status.value]})")
        for a in approved
    ]
    if request.method == "GET":
        today = dt.date.today()
        form.cycle_year.data = today.year
        form.title.data = f"Säkerhetsskyddsanalys {today.year} – {unit.name}"
        if approved:
            form.based_on.data = str(approved[0].id)
    error = None
    if form.validate_on_submit():
        chosen = {str(a.id): a for a in approved}.get(form.based_on.data or "")
        if form.based_on.data and chosen is None:
            error = "Välj en fastställd analys av den här enheten att utgå från."
        else:
            outcome = carry_out(
                lambda: services.start_analysis(
                    _me(),
                    unit,
                    cycle_year=int(form.cycle_year.data or 0),
                    title=form.title.data or "",
                    due_on=form.due_on.data,
                    based_on=chosen,
                ),
                "Ett utkast till analys har skapats."
                if chosen is None
                else "Ett utkast har skapats utifrån den tidigare analysen.",
            )
            if outcome.done:
                return see_other("analyses.detail", analysis_id=outcome.value.id)
            error = outcome.error
    return render_template("analyses/create.html", unit=unit, form=form, error=error)


# --- reading --------------------------------------------------------------------------------


@analyses.route("/analyser/<analysis_id>")
@authorize(perm.ANALYSIS_READ, load=load_analysis)
def detail(analysis: SecurityAnalysis, analysis_id: str) -> Any:
    services.record_read(analysis)
    db.commit()
    unit = db.get(OrgUnit, analysis.unit_id)
    others = [a for a in services.unit_analyses(analysis.unit_id, _me().clearance) if a.id != analysis.id]
    allowed = allowed_actions(
        analysis,
        [perm.ANALYSIS_EDIT, perm.ANALYSIS_SUBMIT, perm.ANALYSIS_RETURN, perm.ANALYSIS_UPDATE_MEASURE_STATUS],
    )
    can = {
        "edit": analysis.is_editable and perm.ANALYSIS_EDIT in allowed,
        "new_version": analysis.status == AnalysisStatus.APPROVED and perm.ANALYSIS_EDIT in allowed,
        "submit": analysis.is_editable and perm.ANALYSIS_SUBMIT in allowed,
        "review": analysis.status == AnalysisStatus.SUBMITTED and perm.ANALYSIS_RETURN in allowed,
        "measure_status": analysis.status != AnalysisStatus.SUBMITTED
        and perm.ANALYSIS_UPDATE_MEASURE_STATUS in allowed,
    }
    users = _names(
        {t.actor_id for t in analysis.transitions} | {analysis.created_by_id, analysis.decided_by_id}
    )
    return render_template(
        "analyses/detail.html",
        analysis=analysis,
        unit=unit,
        others=others,
        can=can,
        users=users,
        problems=services.submission_problems(analysis) if can["submit"] else [],
        categories=[(name, getattr(analysis, name)) for name in CATEGORY_FIELDS],
        status_form=MeasureStatusForm(),
        confirm=ConfirmForm(),
    )


@analyses.route("/analyser/<analysis_id>/jamfor")
@authorize(perm.ANALYSIS_READ, load=load_analysis)
def compare(analysis: SecurityAnalysis, analysis_id: str) -> Any:
    other = load_analysis(request.args.get("med", ""))
    if other is None or other.unit_id != analysis.unit_id:
        abort(404)
    require(perm.ANALYSIS_READ, other)
    services.record_read(analysis, view="compare")
    services.record_read(other, view="compare")
    db.commit()
    left, right = sorted((analysis, other), key=lambda a: (a.cycle_year, a.version_no))
    return render_template(
        "analyses/compare.html",
        left=left,
        right=right,
        unit=db.get(OrgUnit, analysis.unit_id),
        rows=services.compare(left, right),
    )


def _names(ids: set[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    ids.discard(None)
    if not ids:
        return {}
    return {u.id: u.display_name for u in db.scalars(select(User).where(User.id.in_(ids)))}


# --- editing --------------------------------------------------------------------------------


def _values(form: AnalysisForm) -> dict[str, Any]:
    values: dict[str, Any] = {name: bool(getattr(form, name).data) for name in CATEGORY_FIELDS}
    values.update(
        title=(form.title.data or "").strip(),
        international_commitments=bool(form.international_commitments.data),
        outcome=AnalysisOutcome(form.outcome.data),
        due_on=form.due_on.data,
        attested=bool(form.attested.data),
        classification=int(form.marking.data or 0),
    )
    for name in services.TEXT_FIELDS:
        values[name] = (getattr(form, name).data or "").strip() or None
    return values


@analyses.route("/analyser/<analysis_id>/andra", methods=["GET", "POST"])
@authorize(perm.ANALYSIS_EDIT, load=load_analysis)
def edit(analysis: SecurityAnalysis, analysis_id: str) -> Any:
    if not analysis.is_editable:
        flash("Analysen kan inte ändras i sin nuvarande status.", "error")
        return see_other("analyses.detail", analysis_id=analysis.id)
    form = AnalysisForm(obj=analysis)
    if request.method == "GET":
        form.marking.data = analysis.classification
        form.outcome.data = analysis.outcome.value
        form.attested.data = False  # each save with free text is attested anew
    status = 200
    error = None
    if form.validate_on_submit():
        outcome = carry_out(
            lambda: services.update_analysis(
                _me(), analysis, _values(form), version=form.version.data, ceiling=_ceiling()
            ),
            "Analysen är sparad.",
        )
        if outcome.done:
            return see_other("analyses.detail", analysis_id=analysis.id)
        error, status = outcome.error, outcome.status
    return render_template(
        "analyses/edit.html", analysis=analysis, form=form, error=error, hint=NEUTRAL_HINT
    ), status


@analyses.route("/analyser/<analysis_id>/ny-version", methods=["POST"])
@authorize(perm.ANALYSIS_EDIT, load=load_analysis)
def new_version(analysis: SecurityAnalysis, analysis_id: str) -> Any:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    outcome = carry_out(
        lambda: services.new_version(_me(), analysis),
        "En ny version har skapats som utkast. Den fastställda versionen är oförändrad.",
    )
    if not outcome.done:
        flash(outcome.error or "", "error")
        return see_other("analyses.detail", analysis_id=analysis.id)
    return see_other("analyses.detail", analysis_id=outcome.value.id)


@analyses.route("/analyser/<analysis_id>/hanvisningar/ny", methods=["GET", "POST"])
@authorize(perm.ANALYSIS_EDIT, load=load_analysis)
def add_reference(analysis: SecurityAnalysis, analysis_id: str) -> Any:
    form = ReferenceForm()
    error = None
    if form.validate_on_submit():
        outcome = carry_out(
            lambda: services.add_reference(
                _me(),
                analysis,
                kind=ReferenceKind(form.kind.data),
                reference=form.reference.data or "",
                location=(form.location.data or "").strip() or None,
                document_classification=int(form.document_classification.data or 0),
                summary=(form.summary.data or "").strip() or None,
                attested=bool(form.attested.data),
                ceiling=_ceiling(),
            ),
            "Hänvisningen är sparad.",
        )
        if outcome.done:
            return see_other("analyses.detail", analysis_id=analysis.id)
        error = outcome.error
    return render_template("analyses/reference_form.html", analysis=analysis, form=form, error=error)


@analyses.route("/analyser/<analysis_id>/hanvisningar/<reference_id>/ta-bort", methods=["POST"])
@authorize(perm.ANALYSIS_EDIT, load=load_analysis)
def remove_reference(analysis: SecurityAnalysis, analysis_id: str, reference_id: str) -> Any:
    ref = _part(AnalysisReference, analysis, reference_id)
    return _remove(
        analysis, lambda: services.remove_reference(_me(), analysis, ref), "Hänvisningen är borttagen."
    )


@analyses.route("/analyser/<analysis_id>/skyddsvarden", methods=["GET", "POST"])
@authorize(perm.ANALYSIS_EDIT, load=load_analysis)
def link_asset(analysis: SecurityAnalysis, analysis_id: str) -> Any:
    assets = list(
        db.scalars(
            select(ProtectedAsset)
            .where(
                ProtectedAsset.unit_id == analysis.unit_id,
                ProtectedAsset.is_archived.is_(False),
                ProtectedAsset.classification <= _me().clearance,
            )
            .order_by(ProtectedAsset.name)
        )
    )
    form = AssetLinkForm()
    form.asset.choices = [(str(a.id), a.name) for a in assets]
    error = None
    if form.validate_on_submit():
        asset = {str(a.id): a for a in assets}.get(form.asset.data or "")

        def link() -> Any:
            if asset is None:
                raise DomainError("Välj ett objekt ur enhetens register.")
            return services.link_asset(_me(), analysis, asset, DamageLevel(form.damage_level.data))

        outcome = carry_out(link, "Skyddsvärdet är kopplat till analysen.")
        if outcome.done:
            return see_other("analyses.detail", analysis_id=analysis.id)
        error = outcome.error
    return render_template(
        "analyses/asset_link_form.html", analysis=analysis, form=form, error=error, has_assets=bool(assets)
    )


@analyses.route("/analyser/<analysis_id>/skyddsvarden/<link_id>/ta-bort", methods=["POST"])
@authorize(perm.ANALYSIS_EDIT, load=load_analysis)
def unlink_asset(analysis: SecurityAnalysis, analysis_id: str, link_id: str) -> Any:
    link = _part(AnalysisAsset, analysis, link_id)
    return _remove(analysis, lambda: services.unlink_asset(_me(), analysis, link), "Kopplingen är borttagen.")


def _measure_values(form: MeasureForm) -> dict[str, Any]:
    return {
        "area": MeasureArea(form.area.data),
        "title": form.title.data or "",
        "description": (form.description.data or "").strip() or None,
        "responsible_function": form.responsible_function.data or "",
        "due_on": form.due_on.data,
        "status": MeasureStatus(form.status.data or "planerad"),
        "done_on": form.done_on.data,
        "attested": bool(form.attested.data),
    }


@analyses.route("/analyser/<analysis_id>/atgarder/ny", methods=["GET", "POST"], defaults={"measure_id": None})
@analyses.route("/analyser/<analysis_id>/atgarder/<measure_id>", methods=["GET", "POST"])
@authorize(perm.ANALYSIS_EDIT, load=load_analysis)
def measure(analysis: SecurityAnalysis, analysis_id: str, measure_id: str | None) -> Any:
    existing = _part(Measure, analysis, measure_id) if measure_id else None
    form = MeasureForm(obj=existing)
    if request.method == "GET" and existing is not None:
        form.area.data, form.status.data = existing.area.value, existing.status.value
        form.attested.data = False  # each save with free text is attested anew
    error, status = None, 200
    if form.validate_on_submit():
        outcome = carry_out(
            lambda: services.save_measure(
                _me(),
                analysis,
                existing,
                _measure_values(form),
                version=form.version.data,
                ceiling=_ceiling(),
            ),
            "Åtgärden är sparad.",
        )
        if outcome.done:
            return see_other("analyses.detail", analysis_id=analysis.id)
        error, status = outcome.error, outcome.status
    return render_template(
        "analyses/measure_form.html", analysis=analysis, form=form, measure=existing, error=error
    ), status


@analyses.route("/analyser/<analysis_id>/atgarder/<measure_id>/ta-bort", methods=["POST"])
@authorize(perm.ANALYSIS_EDIT, load=load_analysis)
def remove_measure(analysis: SecurityAnalysis, analysis_id: str, measure_id: str) -> Any:
    row = _part(Measure, analysis, measure_id)
    return _remove(analysis, lambda: services.remove_measure(_me(), analysis, row), "Åtgärden är borttagen.")


@analyses.route("/analyser/<analysis_id>/atgarder/<measure_id>/status", methods=["POST"])
@authorize(perm.ANALYSIS_UPDATE_MEASURE_STATUS, load=load_analysis)
def measure_status(analysis: SecurityAnalysis, analysis_id: str, measure_id: str) -> Any:
    row = _part(Measure, analysis, measure_id)
    form = MeasureStatusForm()
    if not form.validate_on_submit():
        flash(
            "Statusen kunde inte sparas: " + " ".join(e for errs in form.errors.values() for e in errs),
            "error",
        )
        return see_other("analyses.detail", analysis_id=analysis.id)
    return _back_to_analysis(
        analysis,
        lambda: services.update_measure_status(
            _me(),
            analysis,
            row,
            status=MeasureStatus(form.status.data),
            done_on=form.done_on.data,
            version=form.version.data,
        ),
        "Åtgärdens status är sparad.",
    )


def _remove(analysis: SecurityAnalysis, action: Any, message: str) -> Any:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    return _back_to_analysis(analysis, action, message)


def _back_to_analysis(analysis: SecurityAnalysis, action: Any, message: str) -> Any:
    """A small change from the analysis page: carry it out, then back there with a message."""
    outcome = carry_out(action, message)
    if not outcome.done:
        flash(outcome.error or "", "error")
    return see_other("analyses.detail", analysis_id=analysis.id)


# --- workflow -------------------------------------------------------------------------------

# step → (endpoint, heading, message when done)
WORKFLOW = {
    "submit": ("analyses.submit", "Skicka in analysen", "Analysen är inskickad till säkerhetsskyddschefen."),
    "return": ("analyses.return_", "Återremittera analysen", "Analysen är återremitterad till enheten."),
    "approve": ("analyses.approve", "Fastställ analysen", "Analysen är fastställd och låst för ändringar."),
}


def _workflow(analysis: SecurityAnalysis, step: str) -> Any:
    form = WorkflowForm()
    if request.method == "GET":
        form.version.data = analysis.version
    error, status = None, 200
    if form.validate_on_submit():
        comment = (form.comment.data or "").strip()

        def step_action() -> None:
            if step == "submit":
                services.submit_analysis(_me(), analysis, version=form.version.data)
            elif step == "return":
                services.return_analysis(_me(), analysis, comment=comment, version=form.version.data)
            else:
                services.approve_analysis(_me(), analysis, comment=comment or None, version=form.version.data)

        outcome = carry_out(step_action, WORKFLOW[step][2])
        if outcome.done:
            return see_other("analyses.detail", analysis_id=analysis.id)
        error, status = outcome.error, outcome.status
        if isinstance(outcome.exception, services.NotReadyToSubmit):
            error = None  # the page lists the problems once, under its own heading
    return render_template(
        "analyses/workflow.html",
        analysis=analysis,
        unit=db.get(OrgUnit, analysis.unit_id),
        form=form,
        step=step,
        heading=WORKFLOW[step][1],
        error=error,
        problems=services.submission_problems(analysis) if step == "submit" else [],
        action=url_for(WORKFLOW[step][0], analysis_id=analysis.id),
    ), status


@analyses.route("/analyser/<analysis_id>/skicka-in", methods=["GET", "POST"])
@authorize(perm.ANALYSIS_SUBMIT, load=load_analysis)
def submit(analysis: SecurityAnalysis, analysis_id: str) -> Any:
    return _workflow(analysis, "submit")


@analyses.route("/analyser/<analysis_id>/aterremittera", methods=["GET", "POST"])
@authorize(perm.ANALYSIS_RETURN, load=load_analysis)
def return_(analysis: SecurityAnalysis, analysis_id: str) -> Any:
    return _workflow(analysis, "return")


@analyses.route("/analyser/<analysis_id>/faststall", methods=["GET", "POST"])
@authorize(perm.ANALYSIS_APPROVE, load=load_analysis)
def approve(analysis: SecurityAnalysis, analysis_id: str) -> Any:
    return _workflow(analysis, "approve")
