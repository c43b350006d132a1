"""The stadsövergripande säkerhetsanalys: a yearly draft per operator, its compiled figures, the
chef's conclusions, city-wide measures and omvärldsbevakning notes; adoption freezes it.

Every change takes the analysis' version (optimistic locking: measures and notes bump it too),
refuses an adopted analysis, and records an audit event with ids, counts and field names only,
never the conclusions' or a note's text.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import select

from sakskydd import audit
from sakskydd.audit.tags import Event
from sakskydd.db import utcnow
from sakskydd.deadlines import local_today
from sakskydd.extensions import db
from sakskydd.organisations.models import Operator
from sakskydd.oversight.figures import operator_figures
from sakskydd.oversight.models import (
    CityWideAnalysis,
    CityWideMeasure,
    CityWideStatus,
    ThreatCategory,
    ThreatNote,
)
from sakskydd.records import (
    DomainError,
    check_free_text,
    check_version,
    clean_text,
    flush_versioned,
    serialise_on,
)

if TYPE_CHECKING:
    from sakskydd.accounts.models import User
    from sakskydd.config import Settings

STATUS_LABELS: Final[Mapping[str, str]] = {
    CityWideStatus.DRAFT: "Utkast",
    CityWideStatus.ADOPTED: "Antagen",
}
CATEGORY_LABELS: Final[Mapping[str, str]] = {
    ThreatCategory.ESPIONAGE: "Spioneri",
    ThreatCategory.SABOTAGE: "Sabotage",
    ThreatCategory.TERRORISM: "Terrorism",
    ThreatCategory.SUBVERSION: "Otillbörlig påverkan",
    ThreatCategory.CYBER: "It-angrepp",
    ThreatCategory.INSIDER: "Insiderhot",
    ThreatCategory.SUPPLY_CHAIN: "Leverantörskedjan",
    ThreatCategory.OTHER: "Övrigt",
}
MAX_TEXT: Final = 10000
FIRST_YEAR: Final = 2000


class CityWideFrozen(DomainError):
    def __init__(self) -> None:
        super().__init__("Den stadsövergripande analysen är antagen och kan inte ändras.")


class CityWideExists(DomainError):
    def __init__(self, year: int) -> None:
        super().__init__(f"Det finns redan en stadsövergripande analys för {year}.")


# --- reading -------------------------------------------------------------------------------------


def analyses_of(operator_id: uuid.UUID) -> list[CityWideAnalysis]:
    """The operator's city-wide analyses, newest year first."""
    return list(
        db.scalars(
            select(CityWideAnalysis)
            .where(CityWideAnalysis.operator_id == operator_id)
            .order_by(CityWideAnalysis.year.desc())
        )
    )


def earlier_adopted(analysis: CityWideAnalysis, limit: int = 3) -> list[CityWideAnalysis]:
    """The adopted analyses of the same operator before this one's year, newest first."""
    return list(
        db.scalars(
            select(CityWideAnalysis)
            .where(
                CityWideAnalysis.operator_id == analysis.operator_id,
                CityWideAnalysis.year < analysis.year,
                CityWideAnalysis.status == CityWideStatus.ADOPTED,
            )
            .order_by(CityWideAnalysis.year.desc())
            .limit(limit)
        )
    )


def scope_operator_ids(operator: Operator) -> list[uuid.UUID]:
    """Whose units a city-wide analysis covers: the operator and the active bolag under it."""
    children = db.scalars(
        select(Operator.id).where(Operator.parent_id == operator.id, Operator.is_active.is_(True))
    )
    return [operator.id, *children]


# --- changes -------------------------------------------------------------------------------------


def _editable(analysis: CityWideAnalysis, version: int | None) -> None:
    if analysis.is_frozen:
        raise CityWideFrozen()
    check_version(analysis, version)


def _touch(analysis: CityWideAnalysis, event: Event, **detail: Any) -> None:
    analysis.updated_at = utcnow()  # bumps the version: a concurrent editor gets a conflict
    flush_versioned()
    audit.record(event, target=analysis, detail={"operator": str(analysis.operator_id), **detail})


def create_analysis(actor: User, operator: Operator, year: int) -> CityWideAnalysis:
    """The year's draft for the operator. Raises DomainError (a bad year), CityWideExists."""
    if not FIRST_YEAR <= year <= local_today().year + 1:
        raise DomainError(f"Ange ett år mellan {FIRST_YEAR} och {local_today().year + 1}.")
    serialise_on(Operator, operator.id)  # two chefs creating the year at once: one draft
    exists = db.scalar(
        select(CityWideAnalysis.id).where(
            CityWideAnalysis.operator_id == operator.id, CityWideAnalysis.year == year
        )
    )
    if exists is not None:
        raise CityWideExists(year)
    analysis = CityWideAnalysis(id=uuid.uuid4(), operator_id=operator.id, year=year, created_by_id=actor.id)
    db.add(analysis)
    flush_versioned()
    audit.record(Event.CITYWIDE_CREATED, target=analysis, detail={"operator": str(operator.id), "year": year})
    return analysis


def _compile(analysis: CityWideAnalysis, settings: Settings) -> None:
    operator = db.get(Operator, analysis.operator_id)
    assert operator is not None
    figures = operator_figures(db, scope_operator_ids(operator), local_today(), settings)
    analysis.snapshot = figures.as_snapshot()
    analysis.snapshot_at = utcnow()


def compile_snapshot(
    actor: User, analysis: CityWideAnalysis, settings: Settings, *, version: int | None
) -> None:
    """Compile (or refresh) the draft's figures. Raises CityWideFrozen, StaleRecord."""
    _editable(analysis, version)
    _compile(analysis, settings)
    _touch(analysis, Event.CITYWIDE_COMPILED, units=len(analysis.snapshot["units"]))


def update_conclusions(
    actor: User,
    analysis: CityWideAnalysis,
    text: str | None,
    *,
    attested: bool,
    version: int | None,
    ceiling: int,
) -> bool:
    """Save the chef's conclusions (neutral, attested free text); False when unchanged.

    Raises CityWideFrozen, StaleRecord, MissingAttestation, ClassificationAboveCeiling."""
    _editable(analysis, version)
    text = clean_text(text)
    _check_text(text, attested, ceiling)
    if analysis.conclusions == text:
        return False
    analysis.conclusions = text
    _touch(analysis, Event.CITYWIDE_UPDATED, fields=["conclusions"])
    return True


def _check_text(text: str | None, attested: bool, ceiling: int) -> None:
    if text is not None and len(text) > MAX_TEXT:
        raise DomainError(f"Texten får vara högst {MAX_TEXT} tecken.")
    check_free_text([text], attested=attested, ceiling=ceiling)


def _own(analysis: CityWideAnalysis, row: CityWideMeasure | ThreatNote) -> None:
    if row.analysis_id != analysis.id:
        raise DomainError("Raden hör inte till den här analysen.")


def save_measure(
    actor: User,
    analysis: CityWideAnalysis,
    measure: CityWideMeasure | None,
    values: Mapping[str, Any],
    *,
    version: int | None,
) -> CityWideMeasure:
    """Add (measure=None) or change a city-wide measure. Raises CityWideFrozen, StaleRecord, DomainError."""
    _editable(analysis, version)
    title = (values.get("title") or "").strip()
    if not title:
        raise DomainError("Ange åtgärden (en neutral rubrik).")
    plain = {
        "title": title,
        "reference": clean_text(values.get("reference")),
        "responsible_function": clean_text(values.get("responsible_function")),
        "due_on": values.get("due_on"),
    }
    if measure is None:
        position = 1 + max((m.position for m in analysis.measures), default=0)
        measure = CityWideMeasure(id=uuid.uuid4(), analysis_id=analysis.id, position=position, **plain)
        db.add(measure)
        change = "added"
    else:
        _own(analysis, measure)
        for name, value in plain.items():
            setattr(measure, name, value)
        change = "changed"
    _touch(analysis, Event.CITYWIDE_MEASURE_CHANGED, measure=str(measure.id), change=change)
    return measure


def remove_measure(
    actor: User, analysis: CityWideAnalysis, measure: CityWideMeasure, *, version: int | None
) -> None:
    _editable(analysis, version)
    _own(analysis, measure)
    analysis.measures.remove(measure)
    _touch(analysis, Event.CITYWIDE_MEASURE_CHANGED, measure=str(measure.id), change="removed")


def _categories(values: Iterable[str]) -> list[str]:
    chosen = sorted(set(values))
    if not chosen:
        raise DomainError("Välj minst en kategori.")
    for value in chosen:
        ThreatCategory(value)  # the form offers only these; anything else is a programming error
    return chosen


def save_threat_note(
    actor: User,
    analysis: CityWideAnalysis,
    note: ThreatNote | None,
    values: Mapping[str, Any],
    *,
    version: int | None,
    ceiling: int,
) -> ThreatNote:
    """Add (note=None) or change an omvärldsbevakning note.

    Raises CityWideFrozen, StaleRecord, MissingAttestation, ClassificationAboveCeiling, DomainError."""
    _editable(analysis, version)
    source = (values.get("source_reference") or "").strip()
    if not source:
        raise DomainError("Ange källhänvisningen.")
    if values.get("noted_on") is None:
        raise DomainError("Ange datum för noteringen.")
    summary = clean_text(values.get("summary"))
    _check_text(summary, bool(values.get("attested")), ceiling)
    categories = _categories(values.get("categories") or [])
    if note is None:
        note = ThreatNote(id=uuid.uuid4(), analysis_id=analysis.id, created_by_id=actor.id)
        db.add(note)
        change = "added"
    else:
        _own(analysis, note)
        change = "changed"
    note.noted_on = values["noted_on"]
    note.source_reference = source
    note.categories = categories
    if note.summary != summary:
        note.summary = summary
    _touch(analysis, Event.CITYWIDE_THREAT_NOTE_CHANGED, note=str(note.id), change=change)
    return note


def remove_threat_note(
    actor: User, analysis: CityWideAnalysis, note: ThreatNote, *, version: int | None
) -> None:
    _editable(analysis, version)
    _own(analysis, note)
    analysis.threat_notes.remove(note)
    _touch(analysis, Event.CITYWIDE_THREAT_NOTE_CHANGED, note=str(note.id), change="removed")


def adopt_analysis(
    actor: User, analysis: CityWideAnalysis, settings: Settings, *, version: int | None
) -> None:
    """Compile the final figures and freeze the analysis. Raises CityWideFrozen, StaleRecord."""
    _editable(analysis, version)
    _compile(analysis, settings)
    analysis.status = CityWideStatus.ADOPTED
    analysis.adopted_by_id = actor.id
    analysis.adopted_at = utcnow()
    _touch(
        analysis,
        Event.CITYWIDE_ADOPTED,
        year=analysis.year,
        units=len(analysis.snapshot["units"]),
        measures=len(analysis.measures),
        notes=len(analysis.threat_notes),
    )


def record_read(analysis: CityWideAnalysis, *, view: str = "detail") -> None:
    """Every read of a city-wide analysis is audited: its page shows the decrypted conclusions and
    omvärldsbevakning, and the figures of every unit together (aggregation awareness)."""
    audit.record(
        Event.CITYWIDE_READ,
        target=analysis,
        detail={"operator": str(analysis.operator_id), "year": analysis.year, "view": view},
    )


def record_oversight_read(operator: Operator, rows: int, filters: Mapping[str, str]) -> None:
    """The consolidated picture is more than its parts (DOMAIN.md, aggregation awareness): who
    looked at which selection is audited like an export, without the figures."""
    audit.record(
        Event.OVERSIGHT_READ,
        target_type="operator",
        target_id=operator.id,
        detail={"operator": str(operator.id), "rows": rows, "filters": dict(filters)},
    )


def record_oversight_compiled(operator: Operator, units: int) -> None:
    """The chef asked for the picture to be compiled now (oversight/stored.py)."""
    audit.record(
        Event.OVERSIGHT_COMPILED,
        target_type="operator",
        target_id=operator.id,
        detail={"operator": str(operator.id), "units": units},
    )


def record_export(analysis: CityWideAnalysis, fmt: str, rows: int) -> None:
    audit.record(
        Event.CITYWIDE_EXPORTED,
        target=analysis,
        detail={"operator": str(analysis.operator_id), "year": analysis.year, "format": fmt, "rows": rows},
    )


def record_oversight_export(operator: Operator, fmt: str, rows: int, filters: Mapping[str, str]) -> None:
    audit.record(
        Event.OVERSIGHT_EXPORTED,
        target_type="operator",
        target_id=operator.id,
        detail={"operator": str(operator.id), "format": fmt, "rows": rows, "filters": dict(filters)},
    )


def snapshot_day(analysis: CityWideAnalysis) -> dt.date | None:
    snapshot = analysis.snapshot or {}
    return dt.date.fromisoformat(snapshot["compiled_on"]) if snapshot.get("compiled_on") else None
