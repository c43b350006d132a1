"""The chef's consolidated picture and the stadsövergripande säkerhetsanalys.

The picture is per operator (the city's chef reaches the city and its bolag); loaders scope to
the chef's operators so anything else is a 404, and the policies (policies/oversight.cedar)
decide reading, editing (own operator only), adoption and exports (step-up).
"""

from __future__ import annotations

from typing import Any, Final

from flask import Blueprint, abort, current_app, flash, g, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from sakskydd.accounts.models import User
from sakskydd.admin.forms import UNIT_KIND_LABELS
from sakskydd.analyses.forms import STATUS_LABELS as ANALYSIS_STATUS_LABELS
from sakskydd.assets.forms import TYPE_LABELS as ASSET_TYPE_LABELS
from sakskydd.authz import permissions as perm
from sakskydd.authz.enforcement import allowed_actions, authorize, parse_uuid
from sakskydd.classification import DAMAGE_LEVEL_LABELS
from sakskydd.deadlines import local_today
from sakskydd.exports import Table, send_table
from sakskydd.extensions import db
from sakskydd.organisations.models import Operator
from sakskydd.organisations.rules import LOCAL_TIMEZONE
from sakskydd.organisations.scope import chef_operator_ids
from sakskydd.organisations.services import APPLICABILITY_LABELS, NOT_ASSESSED_LABEL
from sakskydd.oversight import services, stored
from sakskydd.oversight.figures import UNCONFIRMED, UnitFigures, operator_figures
from sakskydd.oversight.forms import ConclusionsForm, CreateForm, MeasureForm, ThreatNoteForm, VersionForm
from sakskydd.oversight.models import CityWideAnalysis, CityWideMeasure, ThreatNote
from sakskydd.procurements.rules import OUTCOME_SHORT
from sakskydd.procurements.services import STATUS_LABELS as PROCUREMENT_STATUS_LABELS
from sakskydd.vetting.rules import CLASS_LABELS
from sakskydd.vetting.services import CASE_STATUS_LABELS
from sakskydd.web.actions import carry_out, submit
from sakskydd.web.forms import ceiling
from sakskydd.web.listing import Page, page_for
from sakskydd.web.redirects import see_other

oversight = Blueprint("oversight", __name__)

PAGE_SIZE: Final = 50
# Every export of the picture or of a city-wide analysis carries this marking (DOMAIN.md:
# aggregation awareness); the print page shows it on every page.
HANDLING_MARKING: Final = (
    "Sammanställning – hanteras enligt stadens rutin för aggregerade uppgifter om säkerhetsskydd, "
    "sprid inte vidare"
)
APPLICABILITY_FILTERS: Final = {**APPLICABILITY_LABELS, "ej": NOT_ASSESSED_LABEL}
ANALYSIS_FILTERS: Final = {**ANALYSIS_STATUS_LABELS, "ingen": "Ingen analys"}
SORT_LABELS: Final = {
    "namn": "Namn",
    "typ": "Typ av enhet",
    "frist": "Analysens frist",
    "forsenat": "Flest försenade först",
    "skyddsvarden": "Flest skyddsvärden först",
}
KEY_FIGURES: Final = {
    "units": "Enheter",
    "assessed": "Bedömda enligt lagen",
    "covered": "Omfattas av lagen",
    "with_samordnare": "Med samordnare",
    "with_ersattare": "Med ersättare",
    "current_analysis": "Med aktuell fastställd analys",
    "analysis_overdue": "Analys försenad",
    "measures_total": "Åtgärder i gällande planer",
    "measures_done": "Åtgärder klara",
    "measures_overdue": "Åtgärder försenade",
    "assets": "Skyddsvärden",
    "procurements": "Säkerhetsskyddade förfaranden",
    "vetting_cases": "Säkerhetsprövningar",
    "overdue_duties": "Försenade skyldigheter i förfaranden",
    "overdue_vetting": "Försenade omkontroller och avanmälningar",
    "unacknowledged_notices": "Okvitterade meddelanden",
    "overdue_notices": "Okvitterade meddelanden efter påminnelsedag",
    "units_with_overdue": "Enheter med något försenat",
}
DAMAGE_LEVEL_SHORT: Final = {
    "ingen": "Ingen",
    "ringa": "Ringa",
    "inte_obetydlig": "Inte obetydlig",
    "allvarlig": "Allvarlig",
    "synnerligen_allvarlig": "Synnerligen allvarlig",
}
BREAKDOWNS: Final = {
    "assets_by_level": ("Skyddsvärden per skadenivå", DAMAGE_LEVEL_LABELS),
    "assets_by_type": ("Skyddsvärden per typ", ASSET_TYPE_LABELS),
    "procurements_by_outcome": (
        "Förfaranden per avtal och nivå",
        {**OUTCOME_SHORT, UNCONFIRMED: "Ej bekräftat"},
    ),
    "procurements_by_status": ("Förfaranden per status", PROCUREMENT_STATUS_LABELS),
    "vetting_by_class": ("Säkerhetsprövningar per säkerhetsklass", CLASS_LABELS),
    "vetting_by_status": ("Säkerhetsprövningar per status", CASE_STATUS_LABELS),
}


@oversight.context_processor
def _labels() -> dict[str, Any]:
    return {
        "UNIT_KIND_LABELS": UNIT_KIND_LABELS,
        "APPLICABILITY_LABELS": APPLICABILITY_LABELS,
        "NOT_ASSESSED_LABEL": NOT_ASSESSED_LABEL,
        "ANALYSIS_STATUS_LABELS": ANALYSIS_STATUS_LABELS,
        "CITYWIDE_STATUS_LABELS": services.STATUS_LABELS,
        "CATEGORY_LABELS": services.CATEGORY_LABELS,
        "KEY_FIGURES": KEY_FIGURES,
        "BREAKDOWNS": BREAKDOWNS,
        "HANDLING_MARKING": HANDLING_MARKING,
        "DAMAGE_LEVEL_SHORT": DAMAGE_LEVEL_SHORT,
    }


def _me() -> User:
    return current_user._get_current_object()  # type: ignore[no-any-return]


def _settings() -> Any:
    return current_app.config["SAKSKYDD_SETTINGS"]


# --- loaders: scoped to the chef's operators in SQL, so anything else is a 404 -----------------


def load_operator(operator_id: str, **_: Any) -> Operator | None:
    """The operator among the chef's operators, all read in one statement: the overview's
    operator choice lists them, and reuses this read (`_chef_operators`)."""
    ident = parse_uuid(operator_id)
    if ident is None:
        return None
    operators = _chef_operators()
    return next((operator for operator in operators if operator.id == ident), None)


def load_citywide(analysis_id: str, **_: Any) -> CityWideAnalysis | None:
    ident = parse_uuid(analysis_id)
    if ident is None:
        return None
    return db.scalar(
        select(CityWideAnalysis).where(
            CityWideAnalysis.id == ident, CityWideAnalysis.operator_id.in_(chef_operator_ids(_me().id))
        )
    )


def _part(model: type[Any], analysis: CityWideAnalysis, part_id: str) -> Any:
    """A measure or note of this analysis; anything else is a 404."""
    ident = parse_uuid(part_id)
    row = db.get(model, ident) if ident is not None else None
    if row is None or row.analysis_id != analysis.id:
        abort(404)
    return row


# --- the picture -------------------------------------------------------------------------------


def _filters() -> dict[str, str]:
    args = request.args
    return {
        "enhetstyp": args.get("enhetstyp", "") if args.get("enhetstyp", "") in UNIT_KIND_LABELS else "",
        "tillamplighet": (
            args.get("tillamplighet", "") if args.get("tillamplighet", "") in APPLICABILITY_FILTERS else ""
        ),
        "analys": args.get("analys", "") if args.get("analys", "") in ANALYSIS_FILTERS else "",
        "forsenade": "ja" if args.get("forsenade") == "ja" else "",
    }


def _matches(unit: UnitFigures, filters: dict[str, str]) -> bool:
    if filters["enhetstyp"] and unit.kind != filters["enhetstyp"]:
        return False
    if filters["tillamplighet"] and (unit.applicability or "ej") != filters["tillamplighet"]:
        return False
    if filters["analys"] and (unit.analysis_status or "ingen") != filters["analys"]:
        return False
    return not (filters["forsenade"] and unit.overdue_count == 0)


_SORTS: Final = {
    "namn": lambda u: (u.name,),
    "typ": lambda u: (u.kind, u.name),
    "frist": lambda u: (u.analysis_due_on is None, u.analysis_due_on or local_today(), u.name),
    "forsenat": lambda u: (-u.overdue_count, u.name),
    "skyddsvarden": lambda u: (-u.assets_total, u.name),
}


def _selection(units: list[UnitFigures]) -> tuple[list[UnitFigures], dict[str, str], str]:
    filters = _filters()
    sort = request.args.get("sortera", "namn")
    sort = sort if sort in SORT_LABELS else "namn"
    chosen = sorted((u for u in units if _matches(u, filters)), key=_SORTS[sort])
    return chosen, filters, sort


def _page(total: int) -> Page:
    return page_for(total, request.args.get("sida", 1, type=int), PAGE_SIZE)


def _chef_operators() -> list[Operator]:
    """The operators the user is chef of (and the bolag under them), by name; read once a request."""
    cached = g.get("_oversight_chef_operators")
    if cached is None:
        cached = list(
            db.scalars(
                select(Operator).where(Operator.id.in_(chef_operator_ids(_me().id))).order_by(Operator.name)
            )
        )
        g._oversight_chef_operators = cached
    return list(cached)


@oversight.route("/oversikt/<operator_id>")
@authorize(perm.OVERSIGHT_VIEW, load=load_operator)
def overview(operator: Operator, operator_id: str) -> Any:
    """The picture as stored when nothing has changed since it was compiled (oversight/stored.py),
    else compiled now."""
    picture = stored.picture_of(db, operator.id, _settings())
    figures = picture.figures
    chosen, filters, sort = _selection(figures.units)
    services.record_oversight_read(operator, len(chosen), {k: v for k, v in filters.items() if v})
    db.commit()
    page = _page(len(chosen))
    can = allowed_actions(operator, [perm.OVERSIGHT_EXPORT, perm.CITYWIDE_READ])
    return render_template(
        "oversight/overview.html",
        operator=operator,
        operators=_chef_operators(),
        figures=figures,
        totals=figures.totals,
        years=picture.years,
        compiled_at=picture.compiled_at.astimezone(LOCAL_TIMEZONE),
        changed_since=picture.changed_since,
        recompile_form=FlaskForm() if picture.changed_since else None,
        units=chosen[page.offset : page.offset + page.size],
        page=page,
        filters=filters,
        sort=sort,
        sort_labels=SORT_LABELS,
        unit_kinds=UNIT_KIND_LABELS,
        applicability_filters=APPLICABILITY_FILTERS,
        analysis_filters=ANALYSIS_FILTERS,
        is_filtered=any(filters.values()),
        pager_args={"sortera": sort, **{k: v for k, v in filters.items() if v}},
        can_export=perm.OVERSIGHT_EXPORT in can,
        can_read_citywide=perm.CITYWIDE_READ in can,
    )


@oversight.route("/oversikt/<operator_id>/sammanstall", methods=["POST"])
@authorize(perm.OVERSIGHT_VIEW, load=load_operator)
def recompile(operator: Operator, operator_id: str) -> Any:
    """Compile the picture now, when it is shown as it was before a later change (audited; the
    view that follows is audited as a read)."""
    if not FlaskForm().validate_on_submit():
        abort(400)
    picture = stored.picture_of(db, operator.id, _settings(), recompile=True)
    services.record_oversight_compiled(operator, len(picture.figures.units))
    db.commit()
    flash("Sammanställningen är uppdaterad.", "success")
    return see_other("oversight.overview", operator_id=operator.id)


def _unit_row(unit: UnitFigures) -> list[object]:
    return [
        unit.name,
        UNIT_KIND_LABELS.get(unit.kind, unit.kind),
        APPLICABILITY_LABELS.get(unit.applicability or "", NOT_ASSESSED_LABEL),
        "Ja" if unit.has_samordnare else "Nej",
        "Ja" if unit.has_ersattare else "Nej",
        ANALYSIS_STATUS_LABELS.get(unit.analysis_status or "", "Ingen analys"),
        unit.analysis_due_on,
        unit.measures_total,
        unit.measures_done,
        unit.measures_overdue,
        unit.assets_total,
        unit.procurements_total,
        unit.vetting_total,
        unit.overdue_duties,
        unit.overdue_vetting,
        unit.unacknowledged_notices,
        unit.overdue_count,
    ]


UNIT_COLUMNS: Final = [
    "Enhet",
    "Typ",
    "Omfattas",
    "Samordnare",
    "Ersättare",
    "Analysens status",
    "Analysens frist",
    "Åtgärder",
    "Åtgärder klara",
    "Åtgärder försenade",
    "Skyddsvärden",
    "Förfaranden",
    "Säkerhetsprövningar",
    "Försenade skyldigheter",
    "Försenade prövningsfrister",
    "Okvitterade meddelanden",
    "Försenat totalt",
]


@oversight.route("/oversikt/<operator_id>/export")
@authorize(perm.OVERSIGHT_EXPORT, load=load_operator)
def export(operator: Operator, operator_id: str) -> Any:
    """The filtered picture as XLSX (step-up; audited with the filters and the row count)."""
    figures = operator_figures(db, [operator.id], local_today(), _settings())
    chosen, filters, _sort = _selection(figures.units)
    table = Table(
        title=f"Sammanställning {operator.name}",
        marking=HANDLING_MARKING,
        columns=UNIT_COLUMNS,
        rows=[_unit_row(unit) for unit in chosen],
    )
    services.record_oversight_export(operator, "xlsx", len(chosen), {k: v for k, v in filters.items() if v})
    db.commit()
    return send_table(table, "xlsx", f"sammanstallning-{operator.name}")


# --- the city-wide analysis --------------------------------------------------------------------


@oversight.route("/oversikt/<operator_id>/stadsanalyser", methods=["GET"])
@authorize(perm.CITYWIDE_READ, load=load_operator)
def citywide_index(operator: Operator, operator_id: str) -> Any:
    form = CreateForm(formdata=None, year=local_today().year)
    return render_template(
        "oversight/citywide_index.html",
        operator=operator,
        analyses=services.analyses_of(operator.id),
        form=form,
        can_create=perm.CITYWIDE_EDIT in allowed_actions(operator, [perm.CITYWIDE_EDIT]),
        errors=[],
    )


@oversight.route("/oversikt/<operator_id>/stadsanalyser", methods=["POST"])
@authorize(perm.CITYWIDE_EDIT, load=load_operator)
def citywide_create(operator: Operator, operator_id: str) -> Any:
    form = CreateForm()
    outcome, errors = submit(
        form,
        lambda: services.create_analysis(_me(), operator, form.year.data),
        "Utkastet till stadsövergripande analys är skapat.",
    )
    if outcome.done:
        return see_other("oversight.citywide", analysis_id=outcome.value.id)
    return render_template(
        "oversight/citywide_index.html",
        operator=operator,
        analyses=services.analyses_of(operator.id),
        form=form,
        can_create=True,
        errors=errors,
    )


def _comparison(analysis: CityWideAnalysis) -> list[CityWideAnalysis]:
    """This analysis and the earlier adopted ones, oldest first, for key figures side by side."""
    return [*reversed(services.earlier_adopted(analysis)), analysis]


@oversight.route("/stadsanalyser/<analysis_id>")
@authorize(perm.CITYWIDE_READ, load=load_citywide)
def citywide(analysis: CityWideAnalysis, analysis_id: str) -> Any:
    services.record_read(analysis)
    db.commit()
    operator = db.get(Operator, analysis.operator_id)
    can = allowed_actions(analysis, [perm.CITYWIDE_EDIT, perm.CITYWIDE_ADOPT, perm.CITYWIDE_EXPORT])
    form = VersionForm(formdata=None, version=analysis.version)
    return render_template(
        "oversight/citywide.html",
        analysis=analysis,
        operator=operator,
        comparison=_comparison(analysis),
        form=form,
        can_edit=perm.CITYWIDE_EDIT in can and not analysis.is_frozen,
        can_adopt=perm.CITYWIDE_ADOPT in can and not analysis.is_frozen,
        can_export=perm.CITYWIDE_EXPORT in can,
    )


def _back(analysis: CityWideAnalysis, outcome: Any) -> Any:
    if not outcome.done:
        flash(outcome.error or "", "error")
    return see_other("oversight.citywide", analysis_id=analysis.id)


@oversight.route("/stadsanalyser/<analysis_id>/sammanstall", methods=["POST"])
@authorize(perm.CITYWIDE_EDIT, load=load_citywide)
def citywide_compile(analysis: CityWideAnalysis, analysis_id: str) -> Any:
    form = VersionForm()
    if not form.validate_on_submit():
        abort(400)
    outcome = carry_out(
        lambda: services.compile_snapshot(_me(), analysis, _settings(), version=form.version.data),
        "Siffrorna är sammanställda.",
    )
    return _back(analysis, outcome)


@oversight.route("/stadsanalyser/<analysis_id>/slutsatser", methods=["GET", "POST"])
@authorize(perm.CITYWIDE_EDIT, load=load_citywide)
def citywide_conclusions(analysis: CityWideAnalysis, analysis_id: str) -> Any:
    form = ConclusionsForm()
    if request.method == "GET":
        services.record_read(analysis, view="conclusions")
        db.commit()
        form.conclusions.data, form.version.data = analysis.conclusions, analysis.version
    outcome, errors = submit(
        form,
        lambda: services.update_conclusions(
            _me(),
            analysis,
            form.conclusions.data,
            attested=bool(form.attested.data),
            version=form.version.data,
            ceiling=ceiling(),
        ),
        "Slutsatserna är sparade.",
        record=analysis,
    )
    if outcome.done:
        return see_other("oversight.citywide", analysis_id=analysis.id)
    return render_template(
        "oversight/conclusions.html", analysis=analysis, form=form, errors=errors
    ), outcome.status


def _form_page(
    template: str, analysis: CityWideAnalysis, form: Any, action: Any, message: str, **context: Any
) -> Any:
    """A measure or note form: save and go back to the analysis, or show the form with errors."""
    outcome, errors = submit(form, action, message, record=analysis)
    if outcome.done:
        return see_other("oversight.citywide", analysis_id=analysis.id)
    return render_template(template, analysis=analysis, form=form, errors=errors, **context), outcome.status


@oversight.route(
    "/stadsanalyser/<analysis_id>/atgarder/ny", methods=["GET", "POST"], defaults={"measure_id": None}
)
@oversight.route("/stadsanalyser/<analysis_id>/atgarder/<measure_id>", methods=["GET", "POST"])
@authorize(perm.CITYWIDE_EDIT, load=load_citywide)
def citywide_measure(analysis: CityWideAnalysis, analysis_id: str, measure_id: str | None) -> Any:
    measure = _part(CityWideMeasure, analysis, measure_id) if measure_id else None
    form = MeasureForm(obj=measure) if request.method == "GET" else MeasureForm()
    if request.method == "GET":
        form.version.data = analysis.version
    return _form_page(
        "oversight/measure_form.html",
        analysis,
        form,
        lambda: services.save_measure(_me(), analysis, measure, form.data, version=form.version.data),
        "Åtgärden är sparad.",
        measure=measure,
    )


@oversight.route("/stadsanalyser/<analysis_id>/atgarder/<measure_id>/ta-bort", methods=["GET", "POST"])
@authorize(perm.CITYWIDE_EDIT, load=load_citywide)
def citywide_remove_measure(analysis: CityWideAnalysis, analysis_id: str, measure_id: str) -> Any:
    measure = _part(CityWideMeasure, analysis, measure_id)
    return _confirm_removal(
        analysis,
        f"åtgärden ”{measure.title}”",
        lambda version: services.remove_measure(_me(), analysis, measure, version=version),
        "Åtgärden är borttagen.",
    )


@oversight.route(
    "/stadsanalyser/<analysis_id>/omvarldsbevakning/ny", methods=["GET", "POST"], defaults={"note_id": None}
)
@oversight.route("/stadsanalyser/<analysis_id>/omvarldsbevakning/<note_id>", methods=["GET", "POST"])
@authorize(perm.CITYWIDE_EDIT, load=load_citywide)
def citywide_note(analysis: CityWideAnalysis, analysis_id: str, note_id: str | None) -> Any:
    note = _part(ThreatNote, analysis, note_id) if note_id else None
    form = ThreatNoteForm()
    if request.method == "GET":
        form.version.data = analysis.version
        if note is not None:
            services.record_read(analysis, view="note")
            db.commit()
            form.noted_on.data, form.source_reference.data = note.noted_on, note.source_reference
            form.summary.data, form.categories.data = note.summary, list(note.categories)
    return _form_page(
        "oversight/note_form.html",
        analysis,
        form,
        lambda: services.save_threat_note(
            _me(), analysis, note, form.data, version=form.version.data, ceiling=ceiling()
        ),
        "Noteringen är sparad.",
        note=note,
    )


@oversight.route("/stadsanalyser/<analysis_id>/omvarldsbevakning/<note_id>/ta-bort", methods=["GET", "POST"])
@authorize(perm.CITYWIDE_EDIT, load=load_citywide)
def citywide_remove_note(analysis: CityWideAnalysis, analysis_id: str, note_id: str) -> Any:
    note = _part(ThreatNote, analysis, note_id)
    return _confirm_removal(
        analysis,
        f"noteringen från {note.noted_on.isoformat()} ({note.source_reference})",
        lambda version: services.remove_threat_note(_me(), analysis, note, version=version),
        "Noteringen är borttagen.",
    )


def _confirm_removal(analysis: CityWideAnalysis, what: str, action: Any, message: str) -> Any:
    """GET: ask first; POST: remove and go back to the analysis."""
    form = VersionForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        return _back(analysis, carry_out(lambda: action(form.version.data), message))
    form.version.data = analysis.version
    return render_template(
        "oversight/confirm.html",
        analysis=analysis,
        form=form,
        heading="Ta bort " + what.split(" ", 1)[0],
        question=f"Vill du ta bort {what}? Det går inte att ångra.",
        button="Ta bort",
        cancel=url_for("oversight.citywide", analysis_id=analysis.id),
    )


@oversight.route("/stadsanalyser/<analysis_id>/anta", methods=["GET", "POST"])
@authorize(perm.CITYWIDE_ADOPT, load=load_citywide)
def citywide_adopt(analysis: CityWideAnalysis, analysis_id: str) -> Any:
    form = VersionForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        outcome = carry_out(
            lambda: services.adopt_analysis(_me(), analysis, _settings(), version=form.version.data),
            f"Den stadsövergripande analysen för {analysis.year} är antagen och låst.",
        )
        return _back(analysis, outcome)
    form.version.data = analysis.version
    return render_template(
        "oversight/confirm.html",
        analysis=analysis,
        form=form,
        heading=f"Anta den stadsövergripande analysen för {analysis.year}",
        question=(
            "När analysen antas sammanställs siffrorna en sista gång och allt låses: slutsatser, "
            "åtgärder och omvärldsbevakning kan inte ändras efteråt. Vill du anta analysen?"
        ),
        button="Anta analysen",
        cancel=url_for("oversight.citywide", analysis_id=analysis.id),
    )


def _citywide_rows(analysis: CityWideAnalysis) -> list[list[object]]:
    snapshot = analysis.snapshot or {}
    totals = snapshot.get("totals", {})
    rows: list[list[object]] = [
        ["Nyckeltal", label, totals.get(key), None, None] for key, label in KEY_FIGURES.items()
    ]
    for key, (title, labels) in BREAKDOWNS.items():
        rows += [[title, labels.get(k, k), v, None, None] for k, v in sorted(totals.get(key, {}).items())]
    for unit in snapshot.get("units", []):
        due = unit.get("analysis_due_on")
        status = ANALYSIS_STATUS_LABELS.get(unit.get("analysis_status") or "", "Ingen analys")
        rows.append(["Enhet", unit["name"], unit.get("overdue_count"), due, status])
    rows.append(["Slutsatser", None, analysis.conclusions, None, None])
    for m in analysis.measures:
        rows.append(["Åtgärd", m.title, m.responsible_function, m.due_on, m.reference])
    for n in analysis.threat_notes:
        categories = ", ".join(services.CATEGORY_LABELS.get(c, c) for c in n.categories)
        rows.append(["Omvärldsbevakning", n.source_reference, n.summary, n.noted_on, categories])
    return rows


@oversight.route("/stadsanalyser/<analysis_id>/export")
@authorize(perm.CITYWIDE_EXPORT, load=load_citywide)
def citywide_export(analysis: CityWideAnalysis, analysis_id: str) -> Any:
    """The analysis as XLSX (step-up; audited)."""
    rows = _citywide_rows(analysis)
    table = Table(
        title=f"Stadsövergripande säkerhetsanalys {analysis.year}",
        marking=HANDLING_MARKING,
        columns=["Avsnitt", "Uppgift", "Värde", "Datum", "Referens eller status"],
        rows=rows,
    )
    services.record_export(analysis, "xlsx", len(rows))
    db.commit()
    return send_table(table, "xlsx", f"stadsovergripande-analys-{analysis.year}")


@oversight.route("/stadsanalyser/<analysis_id>/utskrift")
@authorize(perm.CITYWIDE_EXPORT, load=load_citywide)
def citywide_print(analysis: CityWideAnalysis, analysis_id: str) -> Any:
    """A print-ready page (A4) that the browser prints to PDF; audited as an export."""
    services.record_export(analysis, "print", len((analysis.snapshot or {}).get("units", [])))
    db.commit()
    return render_template(
        "oversight/print.html",
        analysis=analysis,
        operator=db.get(Operator, analysis.operator_id),
        comparison=_comparison(analysis),
    )
