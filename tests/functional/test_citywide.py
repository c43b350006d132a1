"""The stadsövergripande säkerhetsanalys: draft, figures, conclusions, measures, notes, adoption
with step-up and freezing, exports; who may do what; audit events without the texts."""

from __future__ import annotations

import html
import io
import json
import zipfile

import pytest
from factories import Person, csrf_token, session_cookie
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from test_oversight_figures import TODAY, World

from sakskydd.audit.models import AuditEvent
from sakskydd.extensions import db
from sakskydd.oversight.models import CityWideAnalysis, CityWideStatus, ThreatNote

pytestmark = pytest.mark.db

SECRET_WORDS = "Slutsatstext som aldrig ska loggas"


@pytest.fixture
def world(app: Flask) -> World:
    return World(app)


def _client(app: Flask, person: Person, *, fresh: bool = True) -> FlaskClient:
    db.close()
    client = app.test_client()
    session_cookie(client, app, person, fresh=fresh)
    return client


def _post(client: FlaskClient, path: str, data: dict[str, object] | None = None):  # type: ignore[no-untyped-def]
    return client.post(path, data={"csrf_token": csrf_token(client, "/"), **(data or {})})


def _page(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


def _create(client: FlaskClient, world: World, year: int = TODAY.year) -> CityWideAnalysis:
    response = _post(client, f"/oversikt/{world.city.id}/stadsanalyser", {"year": year})
    assert response.status_code == 303, _page(response)[:2000]
    db.close()
    return db.scalars(
        select(CityWideAnalysis).where(
            CityWideAnalysis.year == year, CityWideAnalysis.operator_id == world.city.id
        )
    ).one()


def _version(analysis_id: object) -> int:
    db.close()
    return db.get(CityWideAnalysis, analysis_id).version  # type: ignore[union-attr]


def _events(name: str) -> list[dict[str, object]]:
    db.close()
    return [json.loads(e.payload) for e in db.scalars(select(AuditEvent).where(AuditEvent.event == name))]


def test_the_chefs_yearly_work_from_draft_to_adoption(app: Flask, world: World) -> None:
    client = _client(app, world.chef)
    analysis = _create(client, world)
    base = f"/stadsanalyser/{analysis.id}"
    assert "Siffrorna är inte sammanställda ännu." in _page(client.get(base))

    assert _post(client, f"{base}/sammanstall", {"version": _version(analysis.id)}).status_code == 303
    page = _page(client.get(base))
    assert "Sammanställda den" in page and "Norrmalms stadsdelsnämnd" in page
    assert "Bostadsbolaget" in page  # the city-wide analysis covers the bolag too

    refused = _post(
        client, f"{base}/slutsatser", {"conclusions": SECRET_WORDS, "version": _version(analysis.id)}
    )
    assert refused.status_code == 200 and "Intyga att fritexten" in _page(refused)
    saved = _post(
        client,
        f"{base}/slutsatser",
        {"conclusions": SECRET_WORDS, "attested": "y", "version": _version(analysis.id)},
    )
    assert saved.status_code == 303

    added = _post(
        client,
        f"{base}/atgarder/ny",
        {"title": "Gemensam utbildning", "reference": "KS 2025/1", "version": _version(analysis.id)},
    )
    assert added.status_code == 303
    note = _post(
        client,
        f"{base}/omvarldsbevakning/ny",
        {
            "noted_on": TODAY.isoformat(),
            "source_reference": "Säpos lägesbild",
            "categories": ["spioneri", "it_angrepp"],
            "summary": "Neutral sammanfattning",
            "attested": "y",
            "version": _version(analysis.id),
        },
    )
    assert note.status_code == 303
    page = _page(client.get(base))
    assert SECRET_WORDS in page and "Gemensam utbildning" in page and "It-angrepp, Spioneri" in page

    # Adoption needs a confirmation page, then freezes everything.
    assert "Vill du anta analysen?" in _page(client.get(f"{base}/anta"))
    assert _post(client, f"{base}/anta", {"version": _version(analysis.id)}).status_code == 303
    db.close()
    adopted = db.get(CityWideAnalysis, analysis.id)
    assert adopted is not None and adopted.status == CityWideStatus.ADOPTED and adopted.snapshot
    frozen = _post(client, f"{base}/sammanstall", {"version": adopted.version})
    assert frozen.status_code == 303
    assert "är antagen och kan inte ändras" in _page(client.get(base))
    again = _post(client, f"{base}/atgarder/ny", {"title": "Sent tillägg", "version": adopted.version})
    assert "är antagen och kan inte ändras" in _page(again)
    assert "Sent tillägg" not in _page(client.get(base))

    # The audit trail has ids, counts and field names; never the texts.
    for name in (
        "citywide.created",
        "citywide.compiled",
        "citywide.updated",
        "citywide.measure_changed",
        "citywide.threat_note_changed",
        "citywide.adopted",
    ):
        assert _events(name), name
    trail = json.dumps([_events(n) for n in ("citywide.updated", "citywide.threat_note_changed")])
    assert SECRET_WORDS not in trail and "Neutral sammanfattning" not in trail


def test_reads_of_the_decrypted_texts_are_audited(app: Flask, world: World) -> None:
    """The analysis page and the forms that show the conclusions or a note's summary are each a
    read event with the year and the view; a new note's empty form is not."""
    client = _client(app, world.chef)
    analysis = _create(client, world)
    base = f"/stadsanalyser/{analysis.id}"
    _post(
        client,
        f"{base}/omvarldsbevakning/ny",
        {
            "noted_on": TODAY.isoformat(),
            "source_reference": "Säpos lägesbild",
            "categories": ["spioneri"],
            "summary": "Neutral sammanfattning",
            "attested": "y",
            "version": _version(analysis.id),
        },
    )
    db.close()
    (note,) = db.scalars(select(ThreatNote).where(ThreatNote.analysis_id == analysis.id))
    note_id = note.id
    assert _events("citywide.read") == []
    for path in (
        base,
        f"{base}/slutsatser",
        f"{base}/omvarldsbevakning/{note_id}",
        f"{base}/omvarldsbevakning/ny",
    ):
        assert client.get(path).status_code == 200, path
    reads = _events("citywide.read")
    assert [e["detail"] for e in reads] == [
        {"operator": str(world.city.id), "year": TODAY.year, "view": view}
        for view in ("detail", "conclusions", "note")
    ]
    assert all(e["target"]["id"] == str(analysis.id) for e in reads)  # type: ignore[index]


def test_one_draft_per_year(app: Flask, world: World) -> None:
    client = _client(app, world.chef)
    _create(client, world)
    again = _post(client, f"/oversikt/{world.city.id}/stadsanalyser", {"year": TODAY.year})
    assert again.status_code == 200 and f"redan en stadsövergripande analys för {TODAY.year}" in _page(again)


def test_stale_version_is_a_conflict(app: Flask, world: World) -> None:
    client = _client(app, world.chef)
    analysis = _create(client, world)
    stale = _version(analysis.id)
    _post(client, f"/stadsanalyser/{analysis.id}/sammanstall", {"version": stale})
    response = _post(
        client,
        f"/stadsanalyser/{analysis.id}/slutsatser",
        {"conclusions": "Ny", "attested": "y", "version": stale},
    )
    assert response.status_code == 409


def test_removal_asks_first(app: Flask, world: World) -> None:
    client = _client(app, world.chef)
    analysis = _create(client, world)
    _post(
        client,
        f"/stadsanalyser/{analysis.id}/atgarder/ny",
        {"title": "Ta bort mig", "version": _version(analysis.id)},
    )
    db.close()
    measure = db.get(CityWideAnalysis, analysis.id).measures[0]  # type: ignore[union-attr]
    path = f"/stadsanalyser/{analysis.id}/atgarder/{measure.id}/ta-bort"
    assert "Vill du ta bort åtgärden ”Ta bort mig”?" in _page(client.get(path))
    assert _post(client, path, {"version": _version(analysis.id)}).status_code == 303
    db.close()
    assert db.get(CityWideAnalysis, analysis.id).measures == []  # type: ignore[union-attr]
    assert client.get(path).status_code == 404


def test_adoption_and_exports_need_step_up(app: Flask, world: World) -> None:
    analysis = _create(_client(app, world.chef), world)
    stale = _client(app, world.chef, fresh=False)
    for path in ("anta", "export", "utskrift"):
        response = stale.get(f"/stadsanalyser/{analysis.id}/{path}")
        assert response.status_code == 303 and "/konto/bekrafta" in response.headers["Location"], path
    assert _events("citywide.exported") == []


def test_exports_are_marked_and_audited(app: Flask, world: World) -> None:
    client = _client(app, world.chef)
    analysis = _create(client, world)
    _post(client, f"/stadsanalyser/{analysis.id}/sammanstall", {"version": _version(analysis.id)})
    response = client.get(f"/stadsanalyser/{analysis.id}/export")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.data)) as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
    assert "aggregerade uppgifter" in sheet and "Norrmalms stadsdelsnämnd" in sheet
    printed = _page(client.get(f"/stadsanalyser/{analysis.id}/utskrift"))
    assert (
        printed.count("aggregerade uppgifter om säkerhetsskydd") >= 2 and 'class="print-document"' in printed
    )
    formats = sorted(e["detail"]["format"] for e in _events("citywide.exported"))  # type: ignore[index]
    assert formats == ["print", "xlsx"]


def test_city_chef_reads_the_bolags_analysis_but_does_not_edit_it(app: Flask, world: World) -> None:
    bolag_client = _client(app, world.bolag_chef)
    response = _post(bolag_client, f"/oversikt/{world.bolag.id}/stadsanalyser", {"year": TODAY.year})
    assert response.status_code == 303
    db.close()
    analysis = db.scalars(
        select(CityWideAnalysis).where(CityWideAnalysis.operator_id == world.bolag.id)
    ).one()
    chef = _client(app, world.chef)
    assert chef.get(f"/stadsanalyser/{analysis.id}").status_code == 200
    assert _post(chef, f"/stadsanalyser/{analysis.id}/sammanstall", {"version": 1}).status_code == 403
    assert chef.get(f"/stadsanalyser/{analysis.id}/anta").status_code == 403
    assert (
        _post(chef, f"/oversikt/{world.bolag.id}/stadsanalyser", {"year": TODAY.year - 1}).status_code == 403
    )
    # The bolag's chef does not reach the city's analyses.
    city = _create(chef, world)
    assert bolag_client.get(f"/stadsanalyser/{city.id}").status_code == 404
    assert bolag_client.get(f"/oversikt/{world.city.id}/stadsanalyser").status_code == 404


ROUTES = [
    ("get", "/stadsanalyser/{id}"),
    ("post", "/stadsanalyser/{id}/sammanstall"),
    ("get", "/stadsanalyser/{id}/slutsatser"),
    ("get", "/stadsanalyser/{id}/atgarder/ny"),
    ("get", "/stadsanalyser/{id}/omvarldsbevakning/ny"),
    ("get", "/stadsanalyser/{id}/anta"),
    ("get", "/stadsanalyser/{id}/export"),
    ("get", "/stadsanalyser/{id}/utskrift"),
    ("get", "/oversikt/{operator}/stadsanalyser"),
    ("post", "/oversikt/{operator}/stadsanalyser"),
]


@pytest.mark.parametrize("who", ["foreign_chef", "samordnare", "upphandlare", "revisor", "admin"])
@pytest.mark.parametrize(("method", "route"), ROUTES)
def test_others_get_404(app: Flask, world: World, who: str, method: str, route: str) -> None:
    analysis = _create(_client(app, world.chef), world)
    client = _client(app, getattr(world, who))
    path = route.format(id=analysis.id, operator=world.city.id)
    response = client.get(path) if method == "get" else _post(client, path, {"version": 1, "year": 2020})
    assert response.status_code == 404


def test_missing_parts_are_404(app: Flask, world: World) -> None:
    client = _client(app, world.chef)
    analysis = _create(client, world)
    for path in (
        f"/stadsanalyser/{analysis.id}/atgarder/00000000-0000-0000-0000-000000000000",
        f"/stadsanalyser/{analysis.id}/omvarldsbevakning/inte-ett-id/ta-bort",
        "/stadsanalyser/inte-ett-id",
    ):
        assert client.get(path).status_code == 404, path
