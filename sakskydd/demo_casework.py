"""Demo casework: applicability, coordinators, analyses with plans, assets with holders.

Called by demo.load_demo after the organisation and accounts exist. Everything is fictional
and neutral; references are invented diarienummer. The demo lets the samordnare's whole year be
tried: last year's analysis is fastställd, this year's is still to be started from it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import current_app
from sqlalchemy import select

from sakskydd.accounts.models import User
from sakskydd.analyses.models import (
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
from sakskydd.assets.models import AssetHolder, AssetStatus, AssetType, ProtectedAsset
from sakskydd.classification import DamageLevel
from sakskydd.demo_oversight import load_oversight
from sakskydd.demo_procurements import load_procurements
from sakskydd.demo_vetting import load_vetting
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
from sakskydd.procurements.services import local_today

# Units whose assessment is "nej" or "under utredning" in the demo; the rest of the city is "ja",
# except NOT_ASSESSED, which shows the finding "not assessed".
NOT_COVERED = {"Överförmyndarnämnden": "Nämnden bedriver ingen säkerhetskänslig verksamhet."}
INVESTIGATING = {"Spånga-Tensta stadsdelsnämnd", "Hägersten-Älvsjö stadsdelsnämnd"}
NOT_ASSESSED = {"Farsta stadsdelsnämnd"}

SUPERVISORS = {
    "Stockholms stad": ["Länsstyrelsen i Stockholms län"],
    "Stokab AB": ["Post- och telestyrelsen"],
    "Stockholm Vatten och Avfall AB": ["Länsstyrelsen i Stockholms län"],
    "Stockholms Hamn AB": ["Transportstyrelsen"],
    "AB Svenska Bostäder": ["Länsstyrelsen i Stockholms län"],
    "SISAB – Skolfastigheter i Stockholm AB": ["Länsstyrelsen i Stockholms län"],
}

CULTURE_ASSETS = [
    # (type, neutral name, damage level, status, owner, risk assessed)
    (
        AssetType.SYSTEM,
        "Ärendehanteringssystem",
        DamageLevel.MINOR,
        AssetStatus.PROTECTED,
        "Förvaltningschef",
        True,
    ),
    (AssetType.SYSTEM, "Bokningssystem för lokaler", DamageLevel.NONE, AssetStatus.NORMAL, "IT-chef", False),
    (
        AssetType.PREMISES,
        "Magasin för samlingar",
        DamageLevel.MINOR,
        AssetStatus.PROTECTED,
        "Chef för samlingar",
        False,
    ),
    (
        AssetType.ROUTINE,
        "Rutin för nyckelhantering",
        DamageLevel.NONE,
        AssetStatus.NORMAL,
        "Lokalansvarig",
        False,
    ),
    (
        AssetType.INFORMATION,
        "Underlag om evenemangssäkerhet",
        DamageLevel.MINOR,
        AssetStatus.PROTECTED,
        "Evenemangschef",
        False,
    ),
    (
        AssetType.PERSONNEL,
        "Befattning med tillgång till tekniska system",
        DamageLevel.NONE,
        AssetStatus.NORMAL,
        "HR-chef",
        False,
    ),
]


def load_casework(
    operators: dict[str, Operator], units: dict[str, OrgUnit], users: dict[str, User]
) -> dict[str, int]:
    """Create the demo casework; returns counts for the demo's audit event."""
    _supervisors(operators)
    samordnare, ersattare, chef = users["samordnare"], users["ersattare"], users["chef"]
    assessments = _applicability(units, samordnare)
    culture = units["Kulturnämnden"]
    for user, role in ((samordnare, AppointmentRole.SAMORDNARE), (ersattare, AppointmentRole.ERSATTARE)):
        db.add(
            Appointment(
                unit_id=culture.id,
                user_id=user.id,
                role=role,
                starts_on=dt.date(2023, 1, 1),
                reference="KN 2022/1187",
                recorded_by_id=samordnare.id,
            )
        )
    assets = _assets(culture, samordnare, units["Idrottsnämnden"], ersattare)
    today = dt.date.today()
    analyses = 0
    for year in (today.year - 2, today.year - 1):
        _approved_analysis(culture, year, assets, samordnare, chef)
        analyses += 1
    db.add(
        RevisionTrigger(
            unit_id=culture.id,
            kind=RevisionTriggerKind.NEW_SYSTEM,
            occurred_on=today - dt.timedelta(days=40),
            recorded_by_id=samordnare.id,
            attested=True,
            note="Nytt bokningssystem upphandlas; se upphandlingsärendet.",
        )
    )
    db.flush()
    procurements = load_procurements(culture, users["upphandlare"], samordnare, local_today())
    vetting = load_vetting(culture, samordnare, ersattare, local_today())
    db.flush()
    oversight = load_oversight(
        operators["Stockholms stad"],
        culture,
        samordnare,
        chef,
        local_today(),
        current_app.config["SAKSKYDD_SETTINGS"],
    )
    return {
        **oversight,
        "assessments": assessments,
        "assets": len(assets),
        "analyses": analyses,
        "procurements": procurements,
        "vetting_cases": vetting,
    }


def _supervisors(operators: dict[str, Operator]) -> None:
    authorities = {a.name: a for a in db.scalars(select(SupervisoryAuthority))}
    for name, wanted in SUPERVISORS.items():
        operator = operators.get(name)
        if operator is not None:
            operator.supervisors = [authorities[w] for w in wanted if w in authorities]


def _applicability(units: dict[str, OrgUnit], recorder: User) -> int:
    count = 0
    for name, unit in units.items():
        if name in NOT_ASSESSED:
            continue
        if name in NOT_COVERED:
            outcome, reasoning = Applicability.NO, NOT_COVERED[name]
        elif name in INVESTIGATING:
            outcome, reasoning = (
                Applicability.INVESTIGATING,
                "Bedömning pågår tillsammans med stadens säkerhetsavdelning.",
            )
        else:
            outcome, reasoning = Applicability.YES, "Verksamheten omfattas enligt nämndens bedömning."
        db.add(
            ApplicabilityAssessment(
                unit_id=unit.id,
                outcome=outcome,
                decided_on=dt.date(2024, 3, 12),
                decided_by="Nämnden",
                reference=f"Dnr {2024}/{100 + count}",
                recorded_by_id=recorder.id,
                attested=True,
                reasoning=reasoning,
            )
        )
        count += 1
    return count


def _assets(unit: OrgUnit, creator: User, holder_unit: OrgUnit, holder_user: User) -> list[ProtectedAsset]:
    assets = []
    for index, (kind, name, level, status, owner, assessed) in enumerate(CULTURE_ASSETS):
        asset = ProtectedAsset(
            unit_id=unit.id,
            type=kind,
            name=name,
            damage_level=level,
            status=status,
            owner=owner,
            reference=f"KN 2025/{300 + index}",
            location="Kulturförvaltningens registratur",
            risk_assessed_on=dt.date(2025, 10, 1) if assessed else None,
            created_by_id=creator.id,
        )
        db.add(asset)
        assets.append(asset)
    db.flush()
    assets[0].holders.append(AssetHolder(holder_unit_id=holder_unit.id))
    assets[0].holders.append(AssetHolder(user_id=holder_user.id))
    return assets


def _approved_analysis(
    unit: OrgUnit, year: int, assets: list[ProtectedAsset], author: User, chef: User
) -> SecurityAnalysis:
    submitted = dt.datetime(year, 10, 15, 9, 0, tzinfo=dt.UTC)
    decided = dt.datetime(year, 11, 20, 14, 0, tzinfo=dt.UTC)
    analysis = SecurityAnalysis(
        unit_id=unit.id,
        cycle_year=year,
        version_no=1,
        status=AnalysisStatus.APPROVED,
        title=f"Säkerhetsskyddsanalys {year} – {unit.name}",
        cat_essential_services=True,
        cat_dependencies=True,
        outcome=AnalysisOutcome.SENSITIVE,
        attested=True,
        due_on=dt.date(year, 10, 31),
        created_by_id=author.id,
        submitted_by_id=author.id,
        submitted_at=submitted,
        decided_by_id=chef.id,
        decided_at=decided,
        scope_note="Förvaltningen driver kulturverksamhet med beroenden till stadens IT-drift och evenemang.",
        threat_summary="Se Säkerhetspolisens lägesbild och stadens hotbildsunderlag (hänvisningar nedan).",
        conclusion="Delar av verksamheten är säkerhetskänslig genom beroenden; åtgärder enligt planen.",
    )
    db.add(analysis)
    db.flush()
    analysis.references.append(
        AnalysisReference(
            unit_id=unit.id,
            kind=ReferenceKind.THREAT,
            reference=f"SÄK {year}/12",
            location="Stadens säkerhetsavdelning",
            document_classification=3,
        )
    )
    analysis.references.append(
        AnalysisReference(
            unit_id=unit.id,
            kind=ReferenceKind.SOURCE,
            reference=f"KN {year}/45",
            location="Kulturförvaltningens registratur",
            document_classification=0,
            attested=True,
            summary="Verksamhetsplan för året.",
        )
    )
    for asset in assets[:3]:
        analysis.assets.append(AnalysisAsset(asset_id=asset.id, damage_level=asset.damage_level))
    plan: list[tuple[MeasureArea, str, str, dt.date, MeasureStatus, dt.date | None]] = [
        (
            MeasureArea.PHYSICAL,
            "Tillträdesbegränsning till magasinet",
            "Lokalansvarig",
            dt.date(year + 1, 3, 31),
            MeasureStatus.DONE,
            dt.date(year + 1, 3, 1),
        ),
        (
            MeasureArea.INFORMATION,
            "Behörighetsöversyn i ärendehanteringssystemet",
            "IT-chef",
            dt.date(year + 1, 6, 30),
            MeasureStatus.IN_PROGRESS,
            None,
        ),
        (
            MeasureArea.PERSONNEL,
            "Säkerhetsskyddsutbildning för chefer",
            "HR-chef",
            dt.date(year + 1, 9, 30),
            MeasureStatus.PLANNED,
            None,
        ),
    ]
    for area, title, responsible, due, status, done in plan:
        analysis.measures.append(
            Measure(
                unit_id=unit.id,
                area=area,
                title=title,
                responsible_function=responsible,
                due_on=due,
                status=status,
                done_on=done if done and done <= dt.date.today() else None,
            )
        )
        if status == MeasureStatus.DONE and (done is None or done > dt.date.today()):
            analysis.measures[-1].status = MeasureStatus.IN_PROGRESS
    steps: list[tuple[Any, Any, User, dt.datetime, str | None]] = [
        (None, AnalysisStatus.DRAFT, author, submitted - dt.timedelta(days=30), None),
        (AnalysisStatus.DRAFT, AnalysisStatus.SUBMITTED, author, submitted, None),
        (AnalysisStatus.SUBMITTED, AnalysisStatus.APPROVED, chef, decided, "Fastställd utan ändringar."),
    ]
    for before, after, actor, at, comment in steps:
        db.add(
            AnalysisTransition(
                analysis_id=analysis.id,
                unit_id=unit.id,
                from_status=before,
                to_status=after,
                actor_id=actor.id,
                created_at=at,
                comment=comment,
            )
        )
    return analysis
