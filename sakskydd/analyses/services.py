"""Säkerhetsskyddsanalyser: drafts, their content and plan, the workflow and new versions.

Workflow (DOMAIN.md §1): utkast → inskickad → återremitterad (with the chef's comment) or
fastställd. Only utkast and återremitterad are editable; a fastställd analysis is frozen and a
change starts a new version. Every function records its audit event and flushes; the view
commits once. Concurrent saves are caught by the version column (StaleRecord).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select, update

from sakskydd import audit
from sakskydd.accounts.models import AssignmentStatus, Role, RoleAssignment, User
from sakskydd.analyses.models import (
    CATEGORY_FIELDS,
    AnalysisAsset,
    AnalysisOutcome,
    AnalysisReference,
    AnalysisStatus,
    AnalysisTransition,
    Measure,
    MeasureArea,
    MeasureStatus,
    ReferenceKind,
    SecurityAnalysis,
)
from sakskydd.assets.models import ProtectedAsset
from sakskydd.audit.tags import Event
from sakskydd.classification import CLASSIFICATION_LABELS, DamageLevel
from sakskydd.db import utcnow
from sakskydd.extensions import db
from sakskydd.notifications.models import NoticeKind
from sakskydd.notifications.services import notify_user
from sakskydd.organisations.models import OrgUnit, RevisionTrigger
from sakskydd.records import (
    DomainError,
    DowngradeNeedsTwoPersons,
    apply_changes,
    check_free_text,
    check_version,
    flush_versioned,
    serialise_on,
)

TEXT_FIELDS = ("scope_note", "threat_summary", "vulnerability_summary", "conclusion")
OPEN_STATUSES = (AnalysisStatus.DRAFT, AnalysisStatus.SUBMITTED, AnalysisStatus.RETURNED)
OPEN_MEASURE_STATUSES = (MeasureStatus.PLANNED, MeasureStatus.IN_PROGRESS)


class AnalysisFrozen(DomainError):
    def __init__(self) -> None:
        super().__init__(
            "Analysen är fastställd eller inskickad och kan inte ändras. Skapa en ny version för att "
            "göra ändringar."
        )


class WrongState(DomainError):
    """The workflow step is not possible from the analysis' current status."""


class AnalysisAlreadyOpen(DomainError):
    def __init__(self) -> None:
        super().__init__(
            "Enheten har redan en analys som inte är fastställd. Arbeta vidare i den i stället för att "
            "starta en ny."
        )


class NotReadyToSubmit(DomainError):
    """The analysis lacks what the chef needs to review it; the message lists what."""


class OwnAnalysis(DomainError):
    def __init__(self) -> None:
        super().__init__("Du kan inte granska en analys som du själv har skrivit eller skickat in.")


class ReferenceAboveCeiling(DomainError):
    def __init__(self, marking: int) -> None:
        super().__init__(
            f"Handlingen är märkt {CLASSIFICATION_LABELS[marking]}. Sammanfattningen får inte sparas i "
            "sakskydd – lämna fältet tomt så sparas bara referensen (diarienummer och var handlingen "
            "förvaras)."
        )


# --- reading --------------------------------------------------------------------------------


def latest_approved(unit_id: uuid.UUID) -> SecurityAnalysis | None:
    return db.scalar(
        select(SecurityAnalysis)
        .where(SecurityAnalysis.unit_id == unit_id, SecurityAnalysis.status == AnalysisStatus.APPROVED)
        .order_by(SecurityAnalysis.decided_at.desc())
        .limit(1)
    )


def open_analysis(unit_id: uuid.UUID) -> SecurityAnalysis | None:
    return db.scalar(
        select(SecurityAnalysis).where(
            SecurityAnalysis.unit_id == unit_id, SecurityAnalysis.status.in_(OPEN_STATUSES)
        )
    )


def unit_analyses(unit_id: uuid.UUID, max_classification: int) -> list[SecurityAnalysis]:
    """Every version of the unit's analyses the reader's clearance allows, newest cycle first."""
    return list(
        db.scalars(
            select(SecurityAnalysis)
            .where(SecurityAnalysis.unit_id == unit_id, SecurityAnalysis.classification <= max_classification)
            .order_by(SecurityAnalysis.cycle_year.desc(), SecurityAnalysis.version_no.desc())
        )
    )


def record_read(analysis: SecurityAnalysis, *, view: str = "detail") -> None:
    """Every read of an analysis is audited (DOMAIN.md: the content may be sensitive)."""
    audit.record(Event.ANALYSIS_READ, target=analysis, detail={"view": view})


# --- creating -------------------------------------------------------------------------------


def start_analysis(
    actor: User,
    unit: OrgUnit,
    *,
    cycle_year: int,
    title: str,
    due_on: dt.date | None,
    based_on: SecurityAnalysis | None = None,
) -> SecurityAnalysis:
    """A new draft for the unit, optionally a copy of an earlier analysis ("utgå från förra årets").

    Raises AnalysisAlreadyOpen when the unit has an analysis that is not fastställd.
    """
    serialise_on(OrgUnit, unit.id)  # a double submit opens one draft, not two (or a 500)
    if open_analysis(unit.id) is not None:
        raise AnalysisAlreadyOpen()
    if based_on is not None and based_on.unit_id != unit.id:
        raise DomainError("Analysen att utgå från tillhör en annan enhet.")
    if not title.strip():
        raise DomainError("Ange en rubrik för analysen.")
    version_no = (
        db.scalar(
            select(func.max(SecurityAnalysis.version_no)).where(
                SecurityAnalysis.unit_id == unit.id, SecurityAnalysis.cycle_year == cycle_year
            )
        )
        or 0
    ) + 1
    analysis = _copy(based_on, actor, unit_id=unit.id, cycle_year=cycle_year, version_no=version_no)
    analysis.title = title.strip()
    analysis.due_on = due_on
    db.flush()
    _transition(analysis, None, AnalysisStatus.DRAFT, actor)
    audit.record(
        Event.ANALYSIS_CREATED,
        target=analysis,
        detail={"cycle_year": cycle_year, "version_no": version_no, "based_on": _id(based_on)},
    )
    return analysis


def new_version(actor: User, analysis: SecurityAnalysis) -> SecurityAnalysis:
    """A fastställd analysis is frozen: a change starts a new draft version of the same cycle."""
    if analysis.status != AnalysisStatus.APPROVED:
        raise WrongState("Bara en fastställd analys får en ny version; ändra den här direkt.")
    unit = db.get(OrgUnit, analysis.unit_id)
    assert unit is not None
    return start_analysis(
        actor,
        unit,
        cycle_year=analysis.cycle_year,
        title=analysis.title,
        due_on=analysis.due_on,
        based_on=analysis,
    )


def _copy(
    source: SecurityAnalysis | None, actor: User, *, unit_id: uuid.UUID, cycle_year: int, version_no: int
) -> SecurityAnalysis:
    analysis = SecurityAnalysis(
        unit_id=unit_id,
        cycle_year=cycle_year,
        version_no=version_no,
        based_on_id=source.id if source else None,
        title=source.title if source else "",
        created_by_id=actor.id,
        status=AnalysisStatus.DRAFT,
    )
    db.add(analysis)
    if source is None:
        return analysis
    for name in (*CATEGORY_FIELDS, "international_commitments", "outcome", "classification", "attested"):
        setattr(analysis, name, getattr(source, name))
    for name in TEXT_FIELDS:
        setattr(analysis, name, getattr(source, name))
    for ref in source.references:
        analysis.references.append(
            AnalysisReference(
                unit_id=unit_id,
                kind=ref.kind,
                reference=ref.reference,
                location=ref.location,
                document_classification=ref.document_classification,
                attested=ref.attested,
                summary=ref.summary,
            )
        )
    for link in source.assets:
        asset = db.get(ProtectedAsset, link.asset_id)
        if asset is not None and not asset.is_archived:
            # The register is the truth: a copied link takes the asset's current damage level.
            analysis.assets.append(AnalysisAsset(asset_id=link.asset_id, damage_level=asset.damage_level))
    for measure in source.measures:
        if measure.status in OPEN_MEASURE_STATUSES:
            analysis.measures.append(
                Measure(
                    unit_id=unit_id,
                    area=measure.area,
                    title=measure.title,
                    responsible_function=measure.responsible_function,
                    due_on=measure.due_on,
                    status=measure.status,
                    attested=measure.attested,
                    description=measure.description,
                )
            )
    return analysis


# --- editing --------------------------------------------------------------------------------


def _editable(analysis: SecurityAnalysis) -> None:
    if not analysis.is_editable:
        raise AnalysisFrozen()


def update_analysis(
    actor: User, analysis: SecurityAnalysis, values: Mapping[str, Any], *, version: int | None, ceiling: int
) -> list[str]:
    """Save the analysis' own fields (verksamhetsbeskrivning, summaries, slutsats, due date).

    Raises AnalysisFrozen, StaleRecord, MissingAttestation, ClassificationAboveCeiling.
    """
    _editable(analysis)
    check_version(analysis, version)
    check_free_text(
        [values.get(name) for name in TEXT_FIELDS],
        attested=bool(values.get("attested")),
        marking=int(values.get("classification", 0)),
        ceiling=ceiling,
    )
    if not str(values.get("title") or "").strip():
        raise DomainError("Ange en rubrik för analysen.")
    if int(values.get("classification", analysis.classification)) < analysis.classification:
        raise DowngradeNeedsTwoPersons()
    plain = {k: v for k, v in values.items() if k not in TEXT_FIELDS}
    changed = apply_changes(analysis, plain)
    for name in TEXT_FIELDS:
        if getattr(analysis, name) != values.get(name):
            setattr(analysis, name, values.get(name))
            changed.append(name)
    if changed:
        analysis.updated_at = utcnow()
        flush_versioned()
        audit.record(Event.ANALYSIS_UPDATED, target=analysis, changed=sorted(changed))
    return sorted(changed)


def add_reference(
    actor: User,
    analysis: SecurityAnalysis,
    *,
    kind: ReferenceKind,
    reference: str,
    location: str | None,
    document_classification: int,
    summary: str | None,
    attested: bool,
    ceiling: int,
) -> AnalysisReference:
    """A threat, vulnerability or source as a reference; the substance stays in the document.

    A document marked above the ceiling keeps only its reference (ReferenceAboveCeiling when a
    summary is given for it).
    """
    _editable(analysis)
    if not reference.strip():
        raise DomainError("Ange diarienummer eller dokument-id för handlingen.")
    if document_classification > ceiling and summary:
        raise ReferenceAboveCeiling(document_classification)
    check_free_text([summary], attested=attested, ceiling=ceiling)
    ref = AnalysisReference(
        analysis_id=analysis.id,
        unit_id=analysis.unit_id,
        kind=kind,
        reference=reference.strip(),
        location=location,
        document_classification=document_classification,
        attested=attested,
        summary=summary,
    )
    db.add(ref)
    _touch(analysis, ["references"])
    return ref


def remove_reference(actor: User, analysis: SecurityAnalysis, ref: AnalysisReference) -> None:
    _editable(analysis)
    if ref.analysis_id != analysis.id:
        raise DomainError("Hänvisningen hör inte till den här analysen.")
    db.delete(ref)
    _touch(analysis, ["references"])


def link_asset(
    actor: User, analysis: SecurityAnalysis, asset: ProtectedAsset, damage_level: DamageLevel
) -> AnalysisAsset:
    """Take an asset of the unit's register into the analysis with its assessed damage level."""
    _editable(analysis)
    if asset.unit_id != analysis.unit_id or asset.is_archived:
        raise DomainError("Objektet finns inte i enhetens register.")
    existing = db.scalar(
        select(AnalysisAsset).where(
            AnalysisAsset.analysis_id == analysis.id, AnalysisAsset.asset_id == asset.id
        )
    )
    if existing is not None:
        existing.damage_level = damage_level
        link = existing
    else:
        link = AnalysisAsset(analysis_id=analysis.id, asset_id=asset.id, damage_level=damage_level)
        db.add(link)
    _touch(analysis, ["assets"])
    return link


def unlink_asset(actor: User, analysis: SecurityAnalysis, link: AnalysisAsset) -> None:
    _editable(analysis)
    if link.analysis_id != analysis.id:
        raise DomainError("Objektet hör inte till den här analysen.")
    db.delete(link)
    _touch(analysis, ["assets"])


def save_measure(
    actor: User,
    analysis: SecurityAnalysis,
    measure: Measure | None,
    values: Mapping[str, Any],
    *,
    version: int | None,
    ceiling: int,
) -> Measure:
    """Add (measure=None) or change a measure of the plan while the analysis is editable."""
    _editable(analysis)
    check_free_text([values.get("description")], attested=bool(values.get("attested")), ceiling=ceiling)
    if not str(values.get("title") or "").strip():
        raise DomainError("Ange vad åtgärden går ut på (en neutral rubrik).")
    if not str(values.get("responsible_function") or "").strip():
        raise DomainError("Ange vilken funktion som ansvarar för åtgärden.")
    status = MeasureStatus(values.get("status") or MeasureStatus.PLANNED)
    done_on = values.get("done_on")
    _check_done(status, done_on)
    if measure is None:
        measure = Measure(
            analysis_id=analysis.id,
            unit_id=analysis.unit_id,
            area=MeasureArea(values["area"]),
            title=values["title"].strip(),
            responsible_function=values["responsible_function"].strip(),
            due_on=values["due_on"],
            status=status,
            done_on=done_on,
            attested=bool(values.get("attested")),
            description=values.get("description"),
        )
        db.add(measure)
    else:
        if measure.analysis_id != analysis.id:
            raise DomainError("Åtgärden hör inte till den här analysen.")
        check_version(measure, version)
        apply_changes(
            measure,
            {
                "area": MeasureArea(values["area"]),
                "title": values["title"].strip(),
                "responsible_function": values["responsible_function"].strip(),
                "due_on": values["due_on"],
                "status": status,
                "done_on": done_on,
                "attested": bool(values.get("attested")),
            },
        )
        if measure.description != values.get("description"):
            measure.description = values.get("description")
    _touch(analysis, ["measures"])
    return measure


def remove_measure(actor: User, analysis: SecurityAnalysis, measure: Measure) -> None:
    _editable(analysis)
    if measure.analysis_id != analysis.id:
        raise DomainError("Åtgärden hör inte till den här analysen.")
    db.delete(measure)
    _touch(analysis, ["measures"])


def update_measure_status(
    actor: User,
    analysis: SecurityAnalysis,
    measure: Measure,
    *,
    status: MeasureStatus,
    done_on: dt.date | None,
    version: int | None,
) -> None:
    """Follow up the plan: the status of a measure changes also after the analysis is fastställd."""
    if measure.analysis_id != analysis.id:
        raise DomainError("Åtgärden hör inte till den här analysen.")
    if analysis.status == AnalysisStatus.SUBMITTED:
        raise WrongState(
            "Analysen granskas just nu; vänta tills chefen har återremitterat eller fastställt den."
        )
    check_version(measure, version)
    _check_done(status, done_on)
    changed = apply_changes(
        measure, {"status": status, "done_on": done_on if status == MeasureStatus.DONE else None}
    )
    if changed:
        flush_versioned()
        audit.record(
            Event.ANALYSIS_MEASURE_UPDATED,
            target=analysis,
            changed=changed,
            detail={"measure": str(measure.id), "status": status.value},
        )


def _check_done(status: MeasureStatus, done_on: dt.date | None) -> None:
    if status == MeasureStatus.DONE and done_on is None:
        raise DomainError("Ange när åtgärden blev klar.")
    if done_on is not None and done_on > dt.date.today():
        raise DomainError("Datumet då åtgärden blev klar kan inte ligga i framtiden.")


def _touch(analysis: SecurityAnalysis, changed: list[str]) -> None:
    analysis.updated_at = utcnow()  # also bumps the version: a concurrent editor sees a conflict
    flush_versioned()
    audit.record(Event.ANALYSIS_UPDATED, target=analysis, changed=changed)


# --- workflow ---------------------------------------------------------------------------------


def submission_problems(analysis: SecurityAnalysis) -> list[str]:
    """What must be in place before the chef can review the analysis (Swedish, one per line)."""
    problems = []
    if analysis.outcome == AnalysisOutcome.UNDECIDED:
        problems.append("Ange analysens slutsats (säkerhetskänslig eller inte).")
    if analysis.outcome == AnalysisOutcome.SENSITIVE:
        if not analysis.assets:
            problems.append("En säkerhetskänslig verksamhet behöver minst ett skyddsvärde från registret.")
        if not analysis.measures:
            problems.append(
                "En säkerhetskänslig verksamhet behöver en säkerhetsskyddsplan med minst en åtgärd."
            )
        if not any(getattr(analysis, name) for name in CATEGORY_FIELDS):
            problems.append("Ange vilken eller vilka kategorier av säkerhetskänslig verksamhet som berörs.")
    return problems


def submit_analysis(actor: User, analysis: SecurityAnalysis, *, version: int | None) -> None:
    """utkast/återremitterad → inskickad; the chefs of the unit's operator are notified."""
    if not analysis.is_editable:
        raise WrongState("Analysen är redan inskickad eller fastställd.")
    check_version(analysis, version)
    problems = submission_problems(analysis)
    if problems:
        raise NotReadyToSubmit(" ".join(problems))
    before = analysis.status
    analysis.status = AnalysisStatus.SUBMITTED
    analysis.submitted_by_id = actor.id
    analysis.submitted_at = utcnow()
    flush_versioned()
    _transition(analysis, before, AnalysisStatus.SUBMITTED, actor)
    unit = db.get(OrgUnit, analysis.unit_id)
    assert unit is not None
    for chef in _chefs_of(unit.operator_id):
        notify_user(chef, NoticeKind.ANALYSIS_SUBMITTED, _notice_params(analysis, unit))


def return_analysis(actor: User, analysis: SecurityAnalysis, *, comment: str, version: int | None) -> None:
    """inskickad → återremitterad with the chef's comment (required)."""
    _review(actor, analysis, version)
    if not comment.strip():
        raise DomainError("Skriv en kommentar som förklarar vad som behöver kompletteras.")
    analysis.status = AnalysisStatus.RETURNED
    flush_versioned()
    _transition(analysis, AnalysisStatus.SUBMITTED, AnalysisStatus.RETURNED, actor, comment=comment.strip())
    _notify_authors(analysis, NoticeKind.ANALYSIS_RETURNED)


def approve_analysis(
    actor: User, analysis: SecurityAnalysis, *, comment: str | None, version: int | None
) -> None:
    """inskickad → fastställd. Freezes the analysis and closes the revision triggers it answers."""
    _review(actor, analysis, version)
    now = utcnow()
    analysis.status = AnalysisStatus.APPROVED
    analysis.decided_by_id = actor.id
    analysis.decided_at = now
    flush_versioned()
    _transition(
        analysis,
        AnalysisStatus.SUBMITTED,
        AnalysisStatus.APPROVED,
        actor,
        comment=(comment or "").strip() or None,
    )
    submitted_on = (analysis.submitted_at or now).date()
    db.execute(
        update(RevisionTrigger)
        .where(
            RevisionTrigger.unit_id == analysis.unit_id,
            RevisionTrigger.handled_by_analysis_id.is_(None),
            RevisionTrigger.occurred_on <= submitted_on,
        )
        .values(handled_by_analysis_id=analysis.id)
    )
    _notify_authors(analysis, NoticeKind.ANALYSIS_APPROVED)


def _review(actor: User, analysis: SecurityAnalysis, version: int | None) -> None:
    # The policy already forbids this (sod.review_own_analysis); the service holds the same rule.
    if actor.id in {analysis.created_by_id, analysis.submitted_by_id}:
        raise OwnAnalysis()
    if analysis.status != AnalysisStatus.SUBMITTED:
        raise WrongState("Analysen är inte inskickad för granskning (någon kan redan ha beslutat om den).")
    check_version(analysis, version)


def _transition(
    analysis: SecurityAnalysis,
    before: AnalysisStatus | None,
    after: AnalysisStatus,
    actor: User,
    *,
    comment: str | None = None,
) -> None:
    step = AnalysisTransition(
        analysis_id=analysis.id,
        unit_id=analysis.unit_id,
        from_status=before,
        to_status=after,
        actor_id=actor.id,
        comment=comment,
    )
    db.add(step)
    db.flush()
    audit.record(
        Event.ANALYSIS_TRANSITION,
        target=analysis,
        detail={
            "from": before.value if before else None,
            "to": after.value,
            "commented": comment is not None,
        },
    )


def _chefs_of(operator_id: uuid.UUID) -> list[User]:
    return list(
        db.scalars(
            select(User)
            .join(RoleAssignment, RoleAssignment.user_id == User.id)
            .where(
                RoleAssignment.role == Role.CHEF,
                RoleAssignment.status == AssignmentStatus.ACTIVE,
                RoleAssignment.operator_id == operator_id,
                User.is_active.is_(True),
            )
            .distinct()
        )
    )


def _notify_authors(analysis: SecurityAnalysis, kind: NoticeKind) -> None:
    unit = db.get(OrgUnit, analysis.unit_id)
    assert unit is not None
    ids = {i for i in (analysis.created_by_id, analysis.submitted_by_id) if i is not None}
    for user in db.scalars(select(User).where(User.id.in_(ids), User.is_active.is_(True))):
        notify_user(user, kind, _notice_params(analysis, unit))


def _notice_params(analysis: SecurityAnalysis, unit: OrgUnit) -> dict[str, Any]:
    # Unit name and cycle only: neither the analysis' text nor its title goes into a notice.
    return {"unit": unit.name, "cycle": analysis.cycle_year, "analysis_id": str(analysis.id)}


def _id(row: Any) -> str | None:
    return str(row.id) if row is not None else None


# --- comparing ------------------------------------------------------------------------------


def compare(left: SecurityAnalysis, right: SecurityAnalysis) -> dict[str, Any]:
    """Side-by-side rows of two analyses of the same unit; `same` marks unchanged rows."""
    if left.unit_id != right.unit_id:
        raise DomainError("Bara analyser av samma enhet kan jämföras.")

    def row(label: str, a: Any, b: Any) -> dict[str, Any]:
        return {"label": label, "left": a, "right": b, "same": a == b}

    fields = [
        row("Rubrik", left.title, right.title),
        row("Status", left.status.value, right.status.value),
        *(row(name, getattr(left, name), getattr(right, name)) for name in CATEGORY_FIELDS),
        row("international_commitments", left.international_commitments, right.international_commitments),
        row("Slutsats", left.outcome.value, right.outcome.value),
        *(row(name, getattr(left, name), getattr(right, name)) for name in TEXT_FIELDS),
    ]

    def refs(a: SecurityAnalysis) -> set[tuple[str, str, int]]:
        return {(r.kind.value, r.reference, r.document_classification) for r in a.references}

    def assets(a: SecurityAnalysis) -> dict[uuid.UUID, str]:
        return {link.asset_id: link.damage_level.value for link in a.assets}

    def measures(a: SecurityAnalysis) -> set[tuple[str, str, str, str]]:
        return {(m.area.value, m.title, m.due_on.isoformat(), m.status.value) for m in a.measures}

    left_assets, right_assets = assets(left), assets(right)
    names = {
        a.id: a.name
        for a in db.scalars(
            select(ProtectedAsset).where(ProtectedAsset.id.in_(set(left_assets) | set(right_assets)))
        )
    }
    asset_rows = [
        row(names.get(asset_id, "?"), left_assets.get(asset_id), right_assets.get(asset_id))
        for asset_id in sorted(set(left_assets) | set(right_assets), key=lambda i: names.get(i, ""))
    ]
    return {
        "fields": fields,
        "assets": asset_rows,
        "references": {
            "left": sorted(refs(left)),
            "right": sorted(refs(right)),
            "same": refs(left) == refs(right),
        },
        "measures": {
            "left": sorted(measures(left)),
            "right": sorted(measures(right)),
            "same": measures(left) == measures(right),
        },
    }
