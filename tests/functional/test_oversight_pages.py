"""The chef's picture through the test client: content, filters and sorting, drill-down links, the
statement count at two data sizes, roles and foreign ids, and the marked, audited XLSX export
behind step-up."""

from __future__ import annotations

import html
import io
import json
import zipfile

import pytest
from factories import Person, count_statements, session_cookie
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, select
from test_oversight_figures import World, full_unit

from sakskydd.audit.models import AuditEvent
from sakskydd.extensions import db
from sakskydd.oversight.models import StoredPicture

pytestmark = pytest.mark.db


@pytest.fixture
def world(app: Flask) -> World:
    return World(app)


def _client(app: Flask, person: Person, *, fresh: bool = True) -> FlaskClient:
    db.close()
    client = app.test_client()
    session_cookie(client, app, person, fresh=fresh)
    return client


def _page(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


def test_chef_sees_the_picture_of_the_city(app: Flask, world: World) -> None:
    response = _client(app, world.chef).get(f"/oversikt/{world.city.id}")
    assert response.status_code == 200
    page = _page(response)
    assert "Sammanställning för Staden" in page
    assert "Norrmalms stadsdelsnämnd" in page and "Kulturnämnden" in page
    assert "Bostadsbolaget" not in page and "Grannens nämnd" not in page
    assert f"/enheter/{world.full.id}" in page  # drill-down to the unit page
    assert "Inskickad för granskning" in page  # the latest analysis' status, linked
    assert "<svg" in page and "Täckning per år" in page and "<caption>Täckning per år</caption>" in page
    assert "style=" not in page
    # The bolag is one click away for the city's chef.
    assert f"/oversikt/{world.bolag.id}" in page


def test_filters_and_sorting(app: Flask, world: World) -> None:
    client = _client(app, world.chef)
    overdue = _page(client.get(f"/oversikt/{world.city.id}?forsenade=ja"))
    assert "Norrmalms stadsdelsnämnd" in overdue and "Kulturnämnden" not in overdue
    kind = _page(client.get(f"/oversikt/{world.city.id}?enhetstyp=facknamnd"))
    assert "Kulturnämnden" in kind and "Norrmalms stadsdelsnämnd" not in kind
    not_covered = _page(client.get(f"/oversikt/{world.city.id}?tillamplighet=nej&analys=ingen"))
    assert "Kulturnämnden" in not_covered and "Norrmalms stadsdelsnämnd" not in not_covered
    none = _page(client.get(f"/oversikt/{world.city.id}?enhetstyp=bolag"))
    assert "Inga enheter matchar filtret." in none
    by_overdue = _page(client.get(f"/oversikt/{world.city.id}?sortera=forsenat"))
    assert by_overdue.index("Norrmalms stadsdelsnämnd") < by_overdue.index(">Kulturnämnden<")
    by_name = _page(client.get(f"/oversikt/{world.city.id}?sortera=namn"))
    assert by_name.index(">Kulturnämnden<") < by_name.index("Norrmalms stadsdelsnämnd")
    # Unknown values are ignored, not errors.
    assert client.get(f"/oversikt/{world.city.id}?sortera=x&enhetstyp=y&sida=99").status_code == 200


def test_page_statement_count_does_not_grow(app: Flask, world: World) -> None:
    """Compiled (no stored picture) and read from the stored picture, at two sizes."""
    client = _client(app, world.chef)
    for _ in range(2):  # warm: the session's CSRF secret and Flask-Login's marks
        assert client.get(f"/oversikt/{world.city.id}").status_code == 200
    compiled, read = [], []
    for size in (1, 8):
        for _ in range(size):
            full_unit(world.city, world.helper)
        db.execute(delete(StoredPicture))
        db.commit()
        db.close()
        for counts in (compiled, read):
            with count_statements(app) as statements:
                assert client.get(f"/oversikt/{world.city.id}").status_code == 200
            counts.append(len([s for s in statements if not s.startswith("BEGIN")]))
    assert compiled[0] == compiled[1] and read[0] == read[1], (compiled, read)
    assert read[0] < compiled[0]


@pytest.mark.parametrize(
    ("who", "operator", "status"),
    [
        ("chef", "city", 200),
        ("chef", "bolag", 200),
        ("chef", "foreign", 404),
        ("bolag_chef", "bolag", 200),
        ("bolag_chef", "city", 404),
        ("foreign_chef", "city", 404),
        ("samordnare", "city", 404),
        ("upphandlare", "city", 404),
        ("revisor", "city", 404),
        ("admin", "city", 404),
    ],
)
def test_who_sees_which_picture(app: Flask, world: World, who: str, operator: str, status: int) -> None:
    client = _client(app, getattr(world, who))
    assert client.get(f"/oversikt/{getattr(world, operator).id}").status_code == status
    assert client.get(f"/oversikt/{getattr(world, operator).id}/export").status_code in (
        (200,) if status == 200 else (404,)
    )


def test_bad_and_missing_ids_are_404(app: Flask, world: World) -> None:
    client = _client(app, world.chef)
    assert client.get("/oversikt/inte-ett-id").status_code == 404
    assert client.get("/oversikt/00000000-0000-0000-0000-000000000000").status_code == 404


def test_anonymous_is_sent_to_login(client: FlaskClient, world: World) -> None:
    response = client.get(f"/oversikt/{world.city.id}")
    assert response.status_code == 303 and "/logga-in" in response.headers["Location"]


def test_export_needs_step_up(app: Flask, world: World) -> None:
    client = _client(app, world.chef, fresh=False)
    response = client.get(f"/oversikt/{world.city.id}/export?forsenade=ja")
    assert response.status_code == 303
    assert "/konto/bekrafta" in response.headers["Location"]
    assert db.scalars(select(AuditEvent).where(AuditEvent.event == "oversight.exported")).all() == []


def test_export_is_marked_filtered_and_audited(app: Flask, world: World) -> None:
    client = _client(app, world.chef)
    response = client.get(f"/oversikt/{world.city.id}/export?forsenade=ja")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith('attachment; filename="sammanstallning-Staden-')
    with zipfile.ZipFile(io.BytesIO(response.data)) as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
    assert "aggregerade uppgifter" in sheet
    assert "Norrmalms stadsdelsnämnd" in sheet and "Kulturnämnden" not in sheet
    db.close()
    event = db.scalars(select(AuditEvent).where(AuditEvent.event == "oversight.exported")).one()
    detail = json.loads(event.payload)["detail"]
    assert detail["rows"] == 1 and detail["filters"] == {"forsenade": "ja"} and detail["format"] == "xlsx"


def test_looking_at_the_picture_is_audited_with_the_selection(app: Flask, world: World) -> None:
    """Aggregation awareness: who looked at which selection of the picture, with the row count and
    the filters; never the figures."""
    client = _client(app, world.chef)
    assert client.get(f"/oversikt/{world.city.id}").status_code == 200
    assert client.get(f"/oversikt/{world.city.id}?forsenade=ja&sortera=namn").status_code == 200
    db.close()
    events = list(
        db.scalars(select(AuditEvent).where(AuditEvent.event == "oversight.read").order_by(AuditEvent.seq))
    )
    payloads = [json.loads(e.payload) for e in events]
    assert [p["detail"] for p in payloads] == [
        {"operator": str(world.city.id), "rows": 2, "filters": {}},
        {"operator": str(world.city.id), "rows": 1, "filters": {"forsenade": "ja"}},
    ]
    assert all(e.actor_id == world.chef.id and e.target_id == str(world.city.id) for e in events)
