"""The stored picture (sakskydd/oversight/stored.py): a view reads the stored picture while
nothing has changed since it was compiled, and compiles it again after a change (any audit event
that is not a read or the like), on a new day or with other settings; within the maximum age a
changed picture is shown marked, with a button to compile it now; `sakskydd oversight refresh`
compiles the stale ones."""

from __future__ import annotations

import datetime as dt
import html
import threading

import pytest
from factories import count_statements, csrf_token, session_cookie
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, select, update
from test_oversight_figures import World

from sakskydd import audit
from sakskydd.admin.services import create_unit
from sakskydd.audit.models import AuditEvent
from sakskydd.audit.tags import Event
from sakskydd.config import ConfigError, Settings
from sakskydd.deadlines import local_today
from sakskydd.extensions import db
from sakskydd.organisations.models import Operator, UnitKind
from sakskydd.oversight import stored
from sakskydd.oversight.figures import operator_figures, yearly_series
from sakskydd.oversight.models import StoredPicture

pytestmark = pytest.mark.db


@pytest.fixture
def world(app: Flask) -> World:
    return World(app)


def _client(app: Flask, world: World) -> FlaskClient:
    db.close()
    client = app.test_client()
    session_cookie(client, app, world.chef)
    return client


def _view(client: FlaskClient, world: World) -> str:
    response = client.get(f"/oversikt/{world.city.id}")
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def _stored(world: World) -> StoredPicture:
    db.close()
    picture = db.get(StoredPicture, world.city.id)
    assert picture is not None
    return picture


def _new_unit(world: World, name: str) -> None:
    """A change made as the application makes it: through the service, audited."""
    create_unit(None, db.get(Operator, world.city.id), name=name, kind=UnitKind.FACKNAMND)  # type: ignore[arg-type]
    db.commit()


def test_the_stored_picture_is_the_compiled_picture(app: Flask, world: World) -> None:
    settings = app.config["SAKSKYDD_SETTINGS"]
    figures = operator_figures(db, [world.city.id], local_today(), settings)
    years = yearly_series(db, figures, settings)
    assert figures.units and years  # something to compare
    assert stored.decode(stored.encode(figures, years)) == (figures, years)


def test_a_view_stores_the_picture_and_the_next_view_reads_it(app: Flask, world: World) -> None:
    client = _client(app, world)
    with count_statements(app) as statements:
        _view(client, world)
    assert any("FROM org_unit" in s for s in statements)  # compiled
    first = _stored(world)
    compiled_at, payload = first.compiled_at, first.payload
    assert first.compiled_on == local_today()
    with count_statements(app) as statements:
        page = _view(client, world)
    assert _stored(world).compiled_at == compiled_at and _stored(world).payload == payload
    assert not any("FROM org_unit" in s for s in statements)  # not compiled
    assert "Norrmalms stadsdelsnämnd" in page and "sammanställd kl." in page
    assert "Ändringar har registrerats" not in page


def test_a_change_compiles_it_again_and_reads_do_not(app: Flask, world: World) -> None:
    client = _client(app, world)
    _view(client, world)
    compiled_at = _stored(world).compiled_at
    # Reads, sign-ins and exports change no figure.
    for event in (Event.ASSET_READ, Event.AUTH_LOGIN_SUCCESS, Event.OVERSIGHT_EXPORTED):
        audit.record(event, actor=world.chef.id, target_type="operator", target_id=str(world.city.id))
    db.commit()
    _view(client, world)
    assert _stored(world).compiled_at == compiled_at
    _new_unit(world, "Miljönämnden")
    page = _view(client, world)
    assert "Miljönämnden" in page
    assert _stored(world).compiled_at > compiled_at


def test_an_event_not_known_to_change_nothing_counts_as_a_change(app: Flask, world: World) -> None:
    """The list is of events that change nothing; any other, e.g. a note added to a vetting case
    (which changes no count) or a kind added later, compiles the picture again."""
    assert Event.VETTING_NOTE_ADDED not in stored.UNCHANGING_EVENTS
    client = _client(app, world)
    _view(client, world)
    compiled_at = _stored(world).compiled_at
    audit.record(Event.VETTING_NOTE_ADDED, actor=world.chef.id, target_type="vetting_case", target_id="x")
    db.commit()
    _view(client, world)
    assert _stored(world).compiled_at > compiled_at


def test_yesterdays_picture_or_one_under_other_settings_is_compiled_again(app: Flask, world: World) -> None:
    client = _client(app, world)
    _view(client, world)
    yesterday = local_today() - dt.timedelta(days=1)
    db.execute(update(StoredPicture).values(compiled_on=yesterday))
    db.commit()
    _view(client, world)
    assert _stored(world).compiled_on == local_today()
    compiled_at = _stored(world).compiled_at
    app.config["SAKSKYDD_SETTINGS"].analysis_interval_months = 6
    page = _view(client, world)
    assert _stored(world).compiled_at > compiled_at
    assert _stored(world).rules_key == stored.rules_key(app.config["SAKSKYDD_SETTINGS"])
    assert "Norrmalms stadsdelsnämnd" in page


def test_within_the_maximum_age_a_changed_picture_is_marked_and_compiled_on_request(
    app: Flask, world: World
) -> None:
    app.config["SAKSKYDD_SETTINGS"].picture_max_age_seconds = 600
    client = _client(app, world)
    _view(client, world)
    _new_unit(world, "Miljönämnden")
    page = _view(client, world)
    assert "Miljönämnden" not in page  # as it was
    assert "Ändringar har registrerats sedan kl." in page and "Sammanställ nu" in page
    token = csrf_token(client, f"/oversikt/{world.city.id}")
    response = client.post(f"/oversikt/{world.city.id}/sammanstall", data={"csrf_token": token})
    assert response.status_code == 303
    db.close()
    compiled = db.scalars(select(AuditEvent).where(AuditEvent.event == "oversight.compiled")).one()
    assert compiled.actor_id == world.chef.id and compiled.target_id == str(world.city.id)
    page = _view(client, world)
    assert "Miljönämnden" in page and "Sammanställningen är uppdaterad." in page
    assert "Ändringar har registrerats" not in page
    # Without its token the button does nothing.
    _new_unit(world, "Idrottsnämnden")
    compiled_at = _stored(world).compiled_at
    assert client.post(f"/oversikt/{world.city.id}/sammanstall", data={}).status_code == 400
    assert _stored(world).compiled_at == compiled_at
    # Past the maximum age the view compiles it itself.
    db.execute(update(StoredPicture).values(compiled_at=compiled_at - dt.timedelta(seconds=601)))
    db.commit()
    assert "Idrottsnämnden" in _view(client, world)


def test_a_current_pictures_head_moves_forward_so_the_check_stays_short(
    app: Flask, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stored, "ADVANCE_AFTER", 3)
    client = _client(app, world)
    _view(client, world)
    first = _stored(world)
    seq, compiled_at = first.audit_seq, first.compiled_at
    for _ in range(5):  # each view is itself audited (oversight.read)
        _view(client, world)
    moved = _stored(world)
    assert moved.audit_seq > seq and moved.compiled_at == compiled_at
    # A change before the new head would have been found: the head only moves over unchanging events.
    _new_unit(world, "Miljönämnden")
    assert "Miljönämnden" in _view(client, world)


def test_the_refresh_command_compiles_the_stale_pictures(app: Flask, world: World) -> None:
    client = _client(app, world)
    _view(client, world)
    bolag_client = app.test_client()
    session_cookie(bolag_client, app, world.bolag_chef)
    assert bolag_client.get(f"/oversikt/{world.bolag.id}").status_code == 200
    db.close()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["oversight", "refresh"])
    assert result.exit_code == 0, result.output
    assert "Uppdaterade 0 sammanställningar; 2 var redan aktuella." in result.output
    _new_unit(world, "Miljönämnden")
    result = runner.invoke(args=["oversight", "refresh"])
    assert "Uppdaterade 2 sammanställningar; 0 var redan aktuella." in result.output  # one event, both
    db.close()
    names = [u.name for u in stored.decode(db.get(StoredPicture, world.city.id).payload)[0].units]
    assert "Miljönämnden" in names


def test_views_compiling_at_once_all_succeed(app: Flask, world: World) -> None:
    """No stored picture and several views at once: each compiles and stores (the last wins);
    none fails on the other's row."""
    clients = [_client(app, world) for _ in range(4)]
    db.execute(delete(StoredPicture))
    db.commit()
    db.close()
    results: list[int] = []
    start = threading.Barrier(len(clients))

    def view(client: FlaskClient) -> None:
        start.wait()
        results.append(client.get(f"/oversikt/{world.city.id}").status_code)

    threads = [threading.Thread(target=view, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * len(clients)
    assert db.scalar(select(StoredPicture.operator_id)) == world.city.id


@pytest.mark.parametrize(
    ("value", "accepted"), [("0", 0), ("300", 300), ("86400", 86400), ("86401", None), ("-1", None)]
)
def test_the_maximum_age_is_zero_to_a_day(value: str, accepted: int | None) -> None:
    env = {"SAKSKYDD_ENV": "test", "SAKSKYDD_PICTURE_MAX_AGE_SECONDS": value, "SAKSKYDD_SECRET_KEY": "x" * 40}
    if accepted is None:
        with pytest.raises(ConfigError, match="PICTURE_MAX_AGE"):
            Settings.from_env(env)
    else:
        assert Settings.from_env(env).picture_max_age_seconds == accepted
