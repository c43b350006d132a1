"""Säkerhetsskyddsanalyser through the test client: drafting, storage guard, workflow, versions."""

from __future__ import annotations

import datetime as dt
import re
import threading

import pytest
from factories import Person, csrf_token, make_operator, make_unit, make_user, session_cookie
from flask import Flask
from sqlalchemy import select, text

from sakskydd.accounts.models import Role, User
from sakskydd.analyses.models import (
    AnalysisOutcome,
    AnalysisStatus,
    AnalysisTransition,
    Measure,
    MeasureStatus,
    SecurityAnalysis,
)
from sakskydd.assets.models import AssetType, ProtectedAsset
from sakskydd.audit.models import AuditEvent
from sakskydd.classification import DamageLevel
from sakskydd.extensions import db
from sakskydd.notifications.models import Notice, NoticeKind
from sakskydd.organisations.models import RevisionTrigger, RevisionTriggerKind

pytestmark = pytest.mark.db

SECRET_TEXT = "Neutral beskrivning 7f3a9c"


class World:
    def __init__(self, app: Flask) -> None:
        self.operator = make_operator()
        self.unit = make_unit(self.operator, "Kulturnämnden")
        self.other_unit = make_unit(self.operator, "Idrottsnämnden")
        self.samordnare = make_user(app, self.operator, roles=[(Role.SAMORDNARE, self.unit)])
        self.ersattare = make_user(app, self.operator, roles=[(Role.ERSATTARE, self.unit)])
        self.chef = make_user(app, self.operator, roles=[(Role.CHEF, self.operator)])
        self.stranger = make_user(app, self.operator, roles=[(Role.SAMORDNARE, self.other_unit)])
        self.asset = ProtectedAsset(
            unit_id=self.unit.id,
            type=AssetType.SYSTEM,
            name="Ärendesystem",
            damage_level=DamageLevel.MINOR,
            owner="Förvaltningschef",
            created_by_id=self.samordnare.id,
        )
        db.add(self.asset)
        db.commit()


def _client(app: Flask, person: Person):  # type: ignore[no-untyped-def]
    client = app.test_client()
    session_cookie(client, app, person)
    return client


def _post(client, path: str, data: dict[str, object], form_path: str | None = None):  # type: ignore[no-untyped-def]
    token = csrf_token(client, form_path or path)
    return client.post(path, data={"csrf_token": token, **data})


def _start(app: Flask, world: World, **extra: object) -> SecurityAnalysis:
    client = _client(app, world.samordnare)
    response = _post(
        client,
        f"/enheter/{world.unit.id}/analyser/ny",
        {"title": "Analys 2026", "cycle_year": "2026", "based_on": "", **extra},
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    analysis_id = response.headers["Location"].rsplit("/", 1)[-1]
    db.expire_all()
    analysis = db.get(SecurityAnalysis, __import__("uuid").UUID(analysis_id))
    assert analysis is not None
    return analysis


def _fill(app: Flask, world: World, analysis: SecurityAnalysis) -> None:
    """Make the analysis ready to submit: outcome, category, one asset, one measure."""
    client = _client(app, world.samordnare)
    response = _post(
        client,
        f"/analyser/{analysis.id}/andra",
        {
            "title": "Analys 2026",
            "cat_essential_services": "y",
            "outcome": "sakerhetskanslig",
            "scope_note": SECRET_TEXT,
            "attested": "y",
            "marking": "0",
            "version": str(analysis.version),
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    response = _post(
        client,
        f"/analyser/{analysis.id}/skyddsvarden",
        {"asset": str(world.asset.id), "damage_level": "allvarlig"},
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    response = _post(
        client,
        f"/analyser/{analysis.id}/atgarder/ny",
        {
            "area": "fysisk_sakerhet",
            "title": "Tillträdesbegränsning",
            "responsible_function": "Lokalansvarig",
            "due_on": "2027-03-01",
            "status": "planerad",
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]


def _version(analysis_id: object) -> int:
    db.expire_all()
    row = db.get(SecurityAnalysis, analysis_id)
    assert row is not None
    return row.version


def test_samordnare_drafts_fills_and_submits_and_the_chef_is_notified(app: Flask) -> None:
    world = World(app)
    analysis = _start(app, world)
    assert analysis.status == AnalysisStatus.DRAFT
    _fill(app, world, analysis)
    client = _client(app, world.samordnare)
    response = _post(client, f"/analyser/{analysis.id}/skicka-in", {"version": _version(analysis.id)})
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    db.expire_all()
    stored = db.get(SecurityAnalysis, analysis.id)
    assert stored.status == AnalysisStatus.SUBMITTED
    assert stored.submitted_by_id == world.samordnare.id
    kinds = db.scalars(select(Notice.kind).where(Notice.user_id == world.chef.id)).all()
    assert NoticeKind.ANALYSIS_SUBMITTED in kinds
    page = client.get(f"/analyser/{analysis.id}").get_data(as_text=True)
    assert "Inskickad för granskning" in page
    assert f"/analyser/{analysis.id}/andra" not in page


def test_submitting_an_incomplete_analysis_lists_what_is_missing(app: Flask) -> None:
    world = World(app)
    analysis = _start(app, world)
    client = _client(app, world.samordnare)
    response = _post(client, f"/analyser/{analysis.id}/skicka-in", {"version": _version(analysis.id)})
    assert response.status_code == 200
    assert "Ange analysens slutsats" in response.get_data(as_text=True)
    db.expire_all()
    assert db.get(SecurityAnalysis, analysis.id).status == AnalysisStatus.DRAFT


def test_free_text_needs_the_attestation_and_nothing_is_saved_without_it(app: Flask) -> None:
    world = World(app)
    analysis = _start(app, world)
    client = _client(app, world.samordnare)
    response = _post(
        client,
        f"/analyser/{analysis.id}/andra",
        {
            "title": "Ny rubrik",
            "outcome": "ej_klar",
            "scope_note": SECRET_TEXT,
            "marking": "0",
            "version": str(analysis.version),
        },
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Du måste intyga" in body
    assert SECRET_TEXT in body  # the user's input is kept in the form
    db.expire_all()
    stored = db.get(SecurityAnalysis, analysis.id)
    assert stored.title == "Analys 2026" and stored.scope_note is None


def test_text_marked_above_the_ceiling_is_refused_with_the_reason(app: Flask) -> None:
    world = World(app)
    analysis = _start(app, world)
    client = _client(app, world.samordnare)
    response = _post(
        client,
        f"/analyser/{analysis.id}/andra",
        {
            "title": "Analys 2026",
            "outcome": "ej_klar",
            "scope_note": "x",
            "attested": "y",
            "marking": "2",
            "version": str(analysis.version),
        },
    )
    body = response.get_data(as_text=True)
    assert "Uppgifter märkta KONFIDENTIELL får inte sparas här" in body
    db.expire_all()
    assert db.get(SecurityAnalysis, analysis.id).classification == 0


def test_a_reference_to_a_document_above_the_ceiling_keeps_only_the_reference(app: Flask) -> None:
    world = World(app)
    analysis = _start(app, world)
    client = _client(app, world.samordnare)
    path = f"/analyser/{analysis.id}/hanvisningar/ny"
    refused = _post(
        client,
        path,
        {
            "kind": "hot",
            "reference": "SÄPO 2026-123",
            "document_classification": "3",
            "summary": "hotaktör X",
            "attested": "y",
        },
    )
    assert refused.status_code == 200
    assert "Handlingen är märkt HEMLIG" in refused.get_data(as_text=True)
    kept = _post(
        client,
        path,
        {
            "kind": "hot",
            "reference": "SÄPO 2026-123",
            "location": "Registraturen",
            "document_classification": "3",
        },
    )
    assert kept.status_code == 303
    db.expire_all()
    refs = db.get(SecurityAnalysis, analysis.id).references
    assert [(r.reference, r.document_classification, r.summary) for r in refs] == [("SÄPO 2026-123", 3, None)]


def test_free_text_is_encrypted_at_rest_and_absent_from_the_audit_trail(app: Flask) -> None:
    world = World(app)
    analysis = _start(app, world)
    _fill(app, world, analysis)
    raw = (
        db.execute(text("SELECT scope_note FROM security_analysis WHERE scope_note IS NOT NULL"))
        .scalars()
        .all()
    )
    assert raw and all(SECRET_TEXT.encode() not in bytes(value) for value in raw)
    payloads = db.scalars(select(AuditEvent.payload).where(AuditEvent.event.like("analysis.%"))).all()
    assert payloads and not any(SECRET_TEXT in p for p in payloads)


def _submitted(app: Flask, world: World) -> SecurityAnalysis:
    analysis = _start(app, world)
    _fill(app, world, analysis)
    response = _post(
        _client(app, world.samordnare),
        f"/analyser/{analysis.id}/skicka-in",
        {"version": _version(analysis.id)},
    )
    assert response.status_code == 303
    return analysis


def test_chef_returns_with_a_required_comment_and_the_samordnare_resubmits(app: Flask) -> None:
    world = World(app)
    analysis = _submitted(app, world)
    chef = _client(app, world.chef)
    path = f"/analyser/{analysis.id}/aterremittera"
    no_comment = _post(chef, path, {"version": _version(analysis.id)})
    assert "Skriv en kommentar" in no_comment.get_data(as_text=True)
    done = _post(
        chef, path, {"version": _version(analysis.id), "comment": "Komplettera planen.", "attested": "y"}
    )
    assert done.status_code == 303
    db.expire_all()
    assert db.get(SecurityAnalysis, analysis.id).status == AnalysisStatus.RETURNED
    assert (
        NoticeKind.ANALYSIS_RETURNED
        in db.scalars(select(Notice.kind).where(Notice.user_id == world.samordnare.id)).all()
    )
    page = _client(app, world.samordnare).get(f"/analyser/{analysis.id}").get_data(as_text=True)
    assert "Komplettera planen." in page
    again = _post(
        _client(app, world.ersattare),
        f"/analyser/{analysis.id}/skicka-in",
        {"version": _version(analysis.id)},
    )
    assert again.status_code == 303
    db.expire_all()
    assert db.get(SecurityAnalysis, analysis.id).status == AnalysisStatus.SUBMITTED


def test_approval_needs_step_up_and_freezes_the_analysis(app: Flask) -> None:
    world = World(app)
    analysis = _submitted(app, world)
    trigger = RevisionTrigger(
        unit_id=world.unit.id,
        kind=RevisionTriggerKind.INCIDENT,
        occurred_on=dt.date.today() - dt.timedelta(days=3),
        recorded_by_id=world.samordnare.id,
    )
    db.add(trigger)
    db.commit()
    stale = app.test_client()
    session_cookie(stale, app, world.chef, fresh=False)
    response = stale.get(f"/analyser/{analysis.id}/faststall")
    assert response.status_code == 303 and "/konto/bekrafta" in response.headers["Location"]
    chef = _client(app, world.chef)
    response = _post(chef, f"/analyser/{analysis.id}/faststall", {"version": _version(analysis.id)})
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    db.expire_all()
    stored = db.get(SecurityAnalysis, analysis.id)
    assert stored.status == AnalysisStatus.APPROVED and stored.decided_by_id == world.chef.id
    assert db.get(RevisionTrigger, trigger.id).handled_by_analysis_id == analysis.id
    samordnare = _client(app, world.samordnare)
    frozen = _post(
        samordnare,
        f"/analyser/{analysis.id}/andra",
        {"title": "Ändrad", "outcome": "ej_klar", "version": str(stored.version)},
        form_path=f"/analyser/{analysis.id}",
    )
    assert frozen.status_code == 303
    db.expire_all()
    assert db.get(SecurityAnalysis, analysis.id).title == "Analys 2026"
    # The plan is still followed up after approval.
    measure = db.scalars(select(Measure).where(Measure.analysis_id == analysis.id)).one()
    response = _post(
        samordnare,
        f"/analyser/{analysis.id}/atgarder/{measure.id}/status",
        {"status": "klar", "done_on": dt.date.today().isoformat(), "version": measure.version},
        form_path=f"/analyser/{analysis.id}",
    )
    assert response.status_code == 303
    db.expire_all()
    assert db.get(Measure, measure.id).status == MeasureStatus.DONE


def test_the_author_cannot_approve_their_own_analysis(app: Flask) -> None:
    world = World(app)
    both = make_user(app, world.operator, roles=[(Role.CHEF, world.operator), (Role.SAMORDNARE, world.unit)])
    client = _client(app, both)
    response = _post(client, f"/enheter/{world.unit.id}/analyser/ny", {"title": "Egen", "cycle_year": "2026"})
    analysis_id = response.headers["Location"].rsplit("/", 1)[-1]
    db.expire_all()
    row = db.scalar(select(SecurityAnalysis).where(SecurityAnalysis.title == "Egen"))
    row.outcome = AnalysisOutcome.NOT_SENSITIVE
    db.commit()
    assert (
        _post(client, f"/analyser/{analysis_id}/skicka-in", {"version": _version(row.id)}).status_code == 303
    )
    response = client.post(f"/analyser/{analysis_id}/faststall", data={"csrf_token": csrf_token(client, "/")})
    assert response.status_code == 403
    denial = db.scalars(select(AuditEvent).where(AuditEvent.event == "authz.deny")).all()[-1]
    assert "sod.review_own_analysis" in denial.payload


def test_two_chefs_approving_at_once_exactly_one_wins(app: Flask) -> None:
    world = World(app)
    second_chef = make_user(app, world.operator, roles=[(Role.CHEF, world.operator)])
    analysis = _submitted(app, world)
    version = _version(analysis.id)
    clients = [_client(app, world.chef), _client(app, second_chef)]
    tokens = [csrf_token(c, f"/analyser/{analysis.id}/faststall") for c in clients]
    results: list[int] = []
    barrier = threading.Barrier(2)

    def approve(index: int) -> None:
        barrier.wait()
        response = clients[index].post(
            f"/analyser/{analysis.id}/faststall", data={"csrf_token": tokens[index], "version": version}
        )
        results.append(response.status_code)

    threads = [threading.Thread(target=approve, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) in ([200, 303], [303, 409])
    db.expire_all()
    approvals = db.scalars(
        select(AnalysisTransition).where(
            AnalysisTransition.analysis_id == analysis.id,
            AnalysisTransition.to_status == AnalysisStatus.APPROVED,
        )
    ).all()
    assert len(approvals) == 1


def test_new_version_and_start_from_last_year_copy_the_content(app: Flask) -> None:
    world = World(app)
    analysis = _submitted(app, world)
    chef = _client(app, world.chef)
    assert (
        _post(chef, f"/analyser/{analysis.id}/faststall", {"version": _version(analysis.id)}).status_code
        == 303
    )
    samordnare = _client(app, world.samordnare)
    response = _post(
        samordnare, f"/analyser/{analysis.id}/ny-version", {}, form_path=f"/analyser/{analysis.id}"
    )
    assert response.status_code == 303
    db.expire_all()
    versions = db.scalars(
        select(SecurityAnalysis)
        .where(SecurityAnalysis.unit_id == world.unit.id)
        .order_by(SecurityAnalysis.version_no)
    ).all()
    assert [(v.cycle_year, v.version_no, v.status) for v in versions] == [
        (2026, 1, AnalysisStatus.APPROVED),
        (2026, 2, AnalysisStatus.DRAFT),
    ]
    draft = versions[1]
    assert draft.scope_note == SECRET_TEXT and draft.based_on_id == analysis.id
    assert [m.title for m in draft.measures] == ["Tillträdesbegränsning"]
    assert [link.asset_id for link in draft.assets] == [world.asset.id]
    compare = samordnare.get(f"/analyser/{draft.id}/jamfor?med={analysis.id}")
    assert compare.status_code == 200
    assert "2026 version 1" in compare.get_data(as_text=True)
    # A second open analysis for the unit is refused.
    refused = _post(samordnare, f"/enheter/{world.unit.id}/analyser/ny", {"title": "x", "cycle_year": "2027"})
    assert "redan en analys" in refused.get_data(as_text=True)


def test_stale_save_gets_a_conflict_and_keeps_the_input(app: Flask) -> None:
    world = World(app)
    analysis = _start(app, world)
    client = _client(app, world.samordnare)
    old_version = analysis.version
    first = _post(
        client,
        f"/analyser/{analysis.id}/andra",
        {"title": "Först", "outcome": "ej_klar", "version": str(old_version)},
    )
    assert first.status_code == 303
    second = _post(
        client,
        f"/analyser/{analysis.id}/andra",
        {"title": "Min ändring", "outcome": "ej_klar", "version": str(old_version)},
    )
    body = second.get_data(as_text=True)
    assert second.status_code == 409
    assert "Någon annan har ändrat" in body and 'value="Min ändring"' in body
    db.expire_all()
    assert db.get(SecurityAnalysis, analysis.id).title == "Först"


def test_reads_are_audited_and_foreign_units_see_nothing(app: Flask) -> None:
    world = World(app)
    analysis = _start(app, world)
    chef = _client(app, world.chef)
    assert chef.get(f"/analyser/{analysis.id}").status_code == 200
    reads = db.scalars(
        select(AuditEvent).where(
            AuditEvent.event == "analysis.read", AuditEvent.target_id == str(analysis.id)
        )
    ).all()
    assert any(r.actor_id == world.chef.id for r in reads)
    stranger = _client(app, world.stranger)
    for path in (
        f"/analyser/{analysis.id}",
        f"/analyser/{analysis.id}/andra",
        f"/analyser/{analysis.id}/hanvisningar/ny",
        f"/enheter/{world.unit.id}/analyser",
        f"/enheter/{world.unit.id}/analyser/ny",
    ):
        assert stranger.get(path).status_code == 404, path
    assert chef.get(f"/analyser/{analysis.id}/andra").status_code == 403
    other_operator = make_operator()
    foreign_chef = make_user(app, other_operator, roles=[(Role.CHEF, other_operator)])
    assert _client(app, foreign_chef).get(f"/analyser/{analysis.id}").status_code == 404
    assert re.search("Analys 2026", chef.get(f"/enheter/{world.unit.id}/analyser").get_data(as_text=True))


def test_audit_events_carry_the_route_decision_and_the_evaluated_actor(app: Flask) -> None:
    import json

    world = World(app)
    analysis = _start(app, world)
    _fill(app, world, analysis)
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.event == "analysis.updated").order_by(AuditEvent.seq.desc())
    ).first()
    payload = json.loads(event.payload)
    assert payload["decision"]["action"] == "analysis.edit"
    assert "samordnare.own_analysis" in payload["decision"]["policy_ids"]
    assert len(payload["decision"]["bundle_hash"]) == 64
    assert payload["actor"]["clearance"] == 0
    assert payload["actor"]["roles"] == {"samordnare_units": [str(world.unit.id)]}


def test_lowering_an_analysis_marking_is_refused_until_two_persons_can_do_it(app: Flask) -> None:
    world = World(app)
    analysis = _start(app, world)
    db.expire_all()
    db.get(SecurityAnalysis, analysis.id).classification = 1
    db.get(User, world.samordnare.id).clearance = 1
    db.commit()
    app.config["SAKSKYDD_SETTINGS"].max_classification = 1
    client = _client(app, world.samordnare)
    response = _post(
        client,
        f"/analyser/{analysis.id}/andra",
        {"title": "Analys 2026", "outcome": "ej_klar", "marking": "0", "version": str(_version(analysis.id))},
    )
    assert "ska göras av två personer" in response.get_data(as_text=True)
    db.expire_all()
    assert db.get(SecurityAnalysis, analysis.id).classification == 1
