"""The auditors' workspace through the test client: who reaches which events, the filters, keyset
pagination across pages, one event's page, and that every search is itself audited without the
typed text."""

from __future__ import annotations

import html
import re

import pytest
from factories import Person, make_operator, make_unit, make_user, session_cookie
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from sakskydd import audit
from sakskydd.accounts.models import Role
from sakskydd.audit.models import AuditEvent
from sakskydd.audit.tags import Event, Outcome
from sakskydd.extensions import db

pytestmark = pytest.mark.db


class World:
    def __init__(self, app: Flask) -> None:
        self.operator = make_operator()
        self.bolag = make_operator(parent=self.operator)
        self.foreign = make_operator()
        self.unit = make_unit(self.operator, "Kulturnämnden")
        self.bolag_unit = make_unit(self.bolag, "Stadens Bolag AB")
        self.foreign_unit = make_unit(self.foreign, "Annan nämnd")
        self.revisor = make_user(app, self.operator, roles=[(Role.REVISOR, self.operator)])
        self.samordnare = make_user(
            app, self.operator, username="sara.samordnare", roles=[(Role.SAMORDNARE, self.unit)]
        )
        self.foreign_person = make_user(app, self.foreign, roles=[(Role.SAMORDNARE, self.foreign_unit)])
        db.commit()
        db.close()


@pytest.fixture
def world(app: Flask) -> World:
    return World(app)


def _client(app: Flask, person: Person) -> FlaskClient:
    db.close()
    client = app.test_client()
    session_cookie(client, app, person)
    return client


def _page(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


def _seqs(body: str) -> list[int]:
    return [int(s) for s in re.findall(r'href="/granskning/handelser/(\d+)"', body)]


def _record(event: Event, **values: object) -> int:
    row = audit.record(event, **values)  # type: ignore[arg-type]
    db.commit()
    return row.seq


def test_an_auditor_reaches_their_operators_events_and_the_systems_only(app: Flask, world: World) -> None:
    own = _record(
        Event.ASSET_READ,
        actor=world.samordnare.id,
        target_type="asset",
        target_id="a-1",
        unit_id=world.unit.id,
    )
    bolag = _record(
        Event.ASSET_READ,
        actor=world.samordnare.id,
        target_type="asset",
        target_id="a-2",
        unit_id=world.bolag_unit.id,
    )
    person = _record(Event.AUTH_LOGOUT, actor=world.samordnare.id)
    system = _record(Event.REMINDERS_SENT, detail={"count": 0})
    foreign_unit = _record(
        Event.ASSET_READ,
        actor=world.foreign_person.id,
        target_type="asset",
        target_id="a-3",
        unit_id=world.foreign_unit.id,
    )
    foreign_person = _record(Event.AUTH_LOGOUT, actor=world.foreign_person.id)
    # A failed login has no actor and no unit: it is about an account, seen by its auditors only.
    own_failure = _record(
        Event.AUTH_LOGIN_FAILURE,
        outcome=Outcome.FAILURE,
        target_type="user_account",
        target_id=str(world.samordnare.id),
    )
    foreign_failure = _record(
        Event.AUTH_LOGIN_FAILURE,
        outcome=Outcome.FAILURE,
        target_type="user_account",
        target_id=str(world.foreign_person.id),
    )
    unknown_failure = _record(Event.AUTH_LOGIN_FAILURE, outcome=Outcome.FAILURE, detail={"reason": "unknown"})
    client = _client(app, world.revisor)
    seqs = set(_seqs(_page(client.get("/granskning"))))
    assert {own, bolag, person, system, own_failure} <= seqs
    assert not {foreign_unit, foreign_person, foreign_failure, unknown_failure} & seqs
    assert client.get(f"/granskning/handelser/{own}").status_code == 200
    assert client.get(f"/granskning/handelser/{foreign_unit}").status_code == 404
    assert client.get(f"/granskning/handelser/{foreign_person}").status_code == 404
    assert client.get("/granskning/handelser/inte-ett-tal").status_code == 404
    assert client.get("/granskning/handelser/²").status_code == 404  # a digit, but not ASCII
    assert client.get("/granskning?fore=²").status_code == 200
    # Nobody else searches the trail.
    other = _client(app, world.samordnare)
    assert other.get("/granskning").status_code == 403
    assert other.get(f"/granskning/handelser/{own}").status_code == 404


def test_filters_by_person_unit_object_type_outcome_and_date(app: Flask, world: World) -> None:
    mine = _record(
        Event.ASSET_READ,
        actor=world.samordnare.id,
        target_type="asset",
        target_id="obj-7",
        unit_id=world.unit.id,
    )
    denied = _record(
        Event.AUTHZ_DENY, outcome=Outcome.DENIED, actor=world.samordnare.id, unit_id=world.bolag_unit.id
    )
    system = _record(Event.REMINDERS_SENT, detail={"count": 0})
    client = _client(app, world.revisor)
    by_person = _seqs(_page(client.get("/granskning?person=sara.samordnare")))
    assert mine in by_person and denied in by_person and system not in by_person
    assert all(db.get(AuditEvent, seq).actor_id == world.samordnare.id for seq in by_person)
    assert _seqs(_page(client.get("/granskning?objekt=obj-7"))) == [mine]
    assert _seqs(_page(client.get(f"/granskning?enhet={world.bolag_unit.id}"))) == [denied]
    assert _seqs(_page(client.get("/granskning?utfall=denied&person=sara"))) == [denied]
    assert mine in _seqs(_page(client.get("/granskning?typ=asset.read")))
    assert "Inga händelser matchar" in _page(client.get("/granskning?person=finns-inte"))
    assert "Inga händelser matchar" in _page(client.get("/granskning?fran=2001-01-01&till=2001-01-31"))
    bad = _page(client.get("/granskning?fran=31/12/2025"))
    assert "Ange datum som ÅÅÅÅ-MM-DD." in bad
    # The searches are in the trail: the person as an id, never the typed text.
    db.close()
    searches = [e.payload for e in db.scalars(select(AuditEvent).where(AuditEvent.event == "audit.searched"))]
    assert any(str(world.samordnare.id) in p for p in searches)
    assert not any("sara.samordnare" in p or "obj-7" in p or "finns-inte" in p for p in searches)


def test_keyset_pages_walk_the_trail_both_ways(app: Flask, world: World) -> None:
    made = [
        _record(
            Event.ASSET_READ,
            actor=world.samordnare.id,
            target_type="asset",
            target_id=f"p-{i}",
            unit_id=world.unit.id,
        )
        for i in range(120)
    ]
    client = _client(app, world.revisor)
    query = f"enhet={world.unit.id}"
    first = _page(client.get(f"/granskning?{query}"))
    assert _seqs(first) == sorted(made, reverse=True)[:50]
    older = re.search(r'href="(/granskning\?[^"]*fore=\d+[^"]*)"', first).group(1).replace("&amp;", "&")
    second = _page(client.get(older))
    assert _seqs(second) == sorted(made, reverse=True)[50:100]
    third = _page(client.get(re.search(r'href="(/granskning\?[^"]*fore=\d+[^"]*)"', second).group(1)))
    assert _seqs(third) == sorted(made, reverse=True)[100:]
    assert "Äldre händelser" not in third
    newer = re.search(r'href="(/granskning\?[^"]*efter=\d+[^"]*)"', third).group(1)
    assert _seqs(_page(client.get(newer))) == sorted(made, reverse=True)[50:100]
    db.close()
    assert (
        db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.event == "audit.searched"))
        == 4
    )
