"""Units and coordinators through the test client: applicability, appointments, triggers, supervisors."""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from factories import Person, csrf_token, make_operator, make_unit, make_user, session_cookie
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select, text, update

from sakskydd.accounts.models import Role, User
from sakskydd.audit.models import AuditEvent
from sakskydd.classification import ceiling_message
from sakskydd.deadlines import ItemKind, due_items_for_user
from sakskydd.extensions import db, get_database
from sakskydd.organisations import services
from sakskydd.organisations.models import (
    Applicability,
    ApplicabilityAssessment,
    Appointment,
    AppointmentRole,
    Operator,
    OperatorKind,
    OrgUnit,
    RevisionTrigger,
    SupervisoryAuthority,
)
from sakskydd.records import MissingAttestation

pytestmark = pytest.mark.db

REASONING = "Nämnden hanterar ingen säkerhetskänslig verksamhet enligt utredning 9b41e"
NOTE = "Omorganisation av förvaltningen, se protokoll 5c7d2 <script>alert(1)</script>"
TODAY = services.local_today()


class World:
    """One kommun with two units, a foreign kommun; coordinators, a chef and an upphandlare."""

    def __init__(self, app: Flask) -> None:
        self.operator = make_operator()
        self.unit = make_unit(self.operator, "Kulturnämnden")
        self.other_unit = make_unit(self.operator, "Idrottsnämnden")
        self.foreign_operator = make_operator()
        self.foreign_unit = make_unit(self.foreign_operator, "Annan nämnd")
        self.samordnare = make_user(app, self.operator, roles=[(Role.SAMORDNARE, self.unit)])
        self.ersattare = make_user(app, self.operator, roles=[(Role.ERSATTARE, self.unit)])
        self.chef = make_user(app, self.operator, roles=[(Role.CHEF, self.operator)])
        self.stranger = make_user(app, self.operator, roles=[(Role.SAMORDNARE, self.other_unit)])
        self.foreign_chef = make_user(app, self.foreign_operator, roles=[(Role.CHEF, self.foreign_operator)])
        self.upphandlare = make_user(app, self.operator, roles=[(Role.UPPHANDLARE, self.unit)])
        _settle()


@pytest.fixture
def world(app: Flask) -> World:
    return World(app)


def _settle() -> None:
    """Detach the test's objects with their loaded values: a request in this thread shares the
    scoped session, and its rollback (e.g. after a denial) would otherwise expire them."""
    db.close()


def _client(app: Flask, person: Person) -> FlaskClient:
    _settle()
    client = app.test_client()
    session_cookie(client, app, person)
    return client


def _post(client: FlaskClient, path: str, data: dict[str, object], form_path: str | None = None):  # type: ignore[no-untyped-def]
    token = csrf_token(client, form_path or path)
    return client.post(path, data={"csrf_token": token, **data})


def _page(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


def _assess(client: FlaskClient, unit: OrgUnit, **values: object):  # type: ignore[no-untyped-def]
    data: dict[str, object] = {
        "outcome": "ja",
        "decided_on": TODAY.isoformat(),
        "decided_by": "Nämnden",
        "reference": "KN 2026/17",
        "reasoning": "",
        "marking": "0",
    }
    data.update(values)
    return _post(client, f"/enheter/{unit.id}/tillamplighet", data)


def _assessments(unit: OrgUnit) -> list[ApplicabilityAssessment]:
    db.close()
    rows = list(db.scalars(select(ApplicabilityAssessment).where(ApplicabilityAssessment.unit_id == unit.id)))
    db.rollback()
    return rows


def _events(name: str) -> list[AuditEvent]:
    db.close()
    rows = list(db.scalars(select(AuditEvent).where(AuditEvent.event == name).order_by(AuditEvent.seq)))
    db.rollback()
    return rows


def _appoint(
    unit: OrgUnit, user: Person, role: AppointmentRole, starts_on: dt.date, ends_on: dt.date | None = None
) -> Appointment:
    appointment = Appointment(
        unit_id=unit.id,
        user_id=user.id,
        role=role,
        starts_on=starts_on,
        ends_on=ends_on,
        recorded_by_id=user.id,
    )
    db.add(appointment)
    db.commit()
    _settle()
    return appointment


def _decide(unit: OrgUnit, outcome: Applicability, recorder: Person, on: dt.date = TODAY) -> None:
    db.add(
        ApplicabilityAssessment(
            unit_id=unit.id, outcome=outcome, decided_on=on, decided_by="Nämnden", recorded_by_id=recorder.id
        )
    )
    db.commit()


# --- applicability ---------------------------------------------------------------------------------


def test_samordnare_records_applicability_and_keeps_history(app: Flask, world: World) -> None:
    client = _client(app, world.samordnare)
    earlier = TODAY - dt.timedelta(days=400)
    response = _assess(
        client,
        world.unit,
        outcome="utredning",
        decided_on=earlier.isoformat(),
        reasoning=REASONING,
        attested="y",
    )
    assert response.status_code == 303, _page(response)[:3000]
    assert response.headers["Location"].endswith(f"/enheter/{world.unit.id}")
    response = _assess(client, world.unit, outcome="ja", reference="")
    assert response.status_code == 303, _page(response)[:3000]

    rows = sorted(_assessments(world.unit), key=lambda a: a.decided_on)
    assert [(a.outcome, a.decided_on) for a in rows] == [
        (Applicability.INVESTIGATING, earlier),
        (Applicability.YES, TODAY),
    ]
    assert rows[0].reasoning == REASONING and rows[0].attested
    assert rows[1].reference is None and rows[1].recorded_by_id == world.samordnare.id
    assert services.current_applicability([world.unit.id])[world.unit.id].id == rows[1].id

    page = _page(client.get(f"/enheter/{world.unit.id}"))
    assert REASONING in page  # the unit's own record, shown decrypted
    assert page.index(TODAY.isoformat()) < page.index(earlier.isoformat())  # newest first
    assert "(gällande)" in page and "Under utredning" in page

    events = [e for e in _events("unit.applicability_assessed") if e.target_id == str(world.unit.id)]
    assert len(events) == 2
    payload = json.loads(events[0].payload)
    assert payload["detail"]["outcome"] == "utredning"
    assert payload["target"]["unit"] == str(world.unit.id)
    assert "reasoning" in payload["changed"]
    assert all(REASONING not in e.payload and "Nämnden" not in e.payload for e in events)


def test_a_nej_needs_its_reasoning(app: Flask, world: World) -> None:
    client = _client(app, world.samordnare)
    response = _assess(client, world.unit, outcome="nej", reasoning="  ")
    assert response.status_code == 200
    assert "även en bedömning att verksamheten inte omfattas ska dokumenteras" in _page(response)
    assert _assessments(world.unit) == []
    # The service refuses too, whoever calls it.
    with pytest.raises(services.ReasoningRequired):
        services.assess_applicability(
            world.samordnare.user,
            db.get(OrgUnit, world.unit.id),
            outcome="nej",
            decided_on=TODAY,
            decided_by="Nämnden",
            reference=None,
            reasoning=None,
            attested=True,
            marking=0,
            ceiling=0,
        )
    db.rollback()
    response = _assess(client, world.unit, outcome="nej", reasoning=REASONING, attested="y")
    assert response.status_code == 303
    assert [a.outcome for a in _assessments(world.unit)] == [Applicability.NO]


def test_free_text_without_attestation_is_refused_and_nothing_saved(app: Flask, world: World) -> None:
    client = _client(app, world.samordnare)
    response = _assess(client, world.unit, reasoning=REASONING)
    page = _page(response)
    assert response.status_code == 200
    assert "Du måste intyga att fritexten inte innehåller säkerhetsskyddsklassificerade uppgifter" in page
    assert REASONING in page  # what the user typed is kept
    response = _post(
        client,
        f"/enheter/{world.unit.id}/oversyn/ny",
        {"kind": "omorganisation", "occurred_on": TODAY.isoformat(), "note": NOTE, "marking": "0"},
    )
    assert response.status_code == 200
    assert NOTE in _page(response)
    assert _assessments(world.unit) == []
    assert db.scalar(select(RevisionTrigger.id).where(RevisionTrigger.unit_id == world.unit.id)) is None
    assert _events("unit.applicability_assessed") == [] and _events("unit.trigger_recorded") == []
    with pytest.raises(MissingAttestation):
        services.record_revision_trigger(
            world.samordnare.user,
            db.get(OrgUnit, world.unit.id),
            kind="omorganisation",
            occurred_on=TODAY,
            note=NOTE,
            attested=False,
            marking=0,
            ceiling=0,
        )
    db.rollback()


def test_text_marked_above_the_ceiling_is_refused(app: Flask, world: World) -> None:
    client = _client(app, world.samordnare)
    response = _assess(client, world.unit, reasoning=REASONING, attested="y", marking="1")
    assert response.status_code == 200
    assert ceiling_message(1, 0) in _page(response)
    assert _assessments(world.unit) == []


def test_a_decision_cannot_be_dated_in_the_future(app: Flask, world: World) -> None:
    client = _client(app, world.samordnare)
    future = TODAY + dt.timedelta(days=3)
    response = _assess(client, world.unit, decided_on=future.isoformat())
    assert response.status_code == 200
    page = _page(response)
    assert "Beslutsdatum kan inte ligga i framtiden." in page
    assert f'value="{future.isoformat()}"' in page
    response = _assess(client, world.unit, decided_on="21/11/2026")
    assert response.status_code == 200
    assert "Ange ett datum som ÅÅÅÅ-MM-DD." in _page(response)
    assert _assessments(world.unit) == []


def test_reasoning_and_note_are_stored_encrypted(app: Flask, world: World) -> None:
    client = _client(app, world.samordnare)
    assert _assess(client, world.unit, reasoning=REASONING, attested="y").status_code == 303
    response = _post(
        client,
        f"/enheter/{world.unit.id}/oversyn/ny",
        {
            "kind": "omorganisation",
            "occurred_on": TODAY.isoformat(),
            "note": NOTE,
            "attested": "y",
            "marking": "0",
        },
    )
    assert response.status_code == 303, _page(response)[:3000]
    raw_reasoning = db.execute(text("SELECT reasoning FROM applicability_assessment")).scalar_one()
    raw_note = db.execute(text("SELECT note FROM revision_trigger")).scalar_one()
    db.rollback()
    for raw, plain in ((raw_reasoning, REASONING), (raw_note, NOTE)):
        stored = bytes(raw)
        assert plain.encode() not in stored
        assert b"9b41e" not in stored and b"5c7d2" not in stored
    trigger_events = _events("unit.trigger_recorded")
    assert len(trigger_events) == 1
    assert NOTE not in trigger_events[0].payload
    assert json.loads(trigger_events[0].payload)["detail"] == {"kind": "omorganisation"}
    detail = client.get(f"/enheter/{world.unit.id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in detail and "&lt;script&gt;alert(1)&lt;/script&gt;" in detail


# --- appointments and findings ----------------------------------------------------------------------


def test_appointments_and_findings(app: Flask, world: World) -> None:
    client = _client(app, world.samordnare)
    assert services.coordinator_findings([world.unit.id], TODAY)[world.unit.id] == ["applicability_missing"]
    week_ago = TODAY - dt.timedelta(days=7)
    assert _assess(client, world.unit, decided_on=week_ago.isoformat()).status_code == 303
    assert services.coordinator_findings([world.unit.id], TODAY)[world.unit.id] == [
        "samordnare_missing",
        "ersattare_missing",
    ]
    path = f"/enheter/{world.unit.id}/forordnanden/ny"
    page = _page(client.get(path))
    assert "ger inte personen någon behörighet i sakskydd" in page
    assert world.samordnare.user.username in page
    assert world.foreign_chef.user.username not in page  # another operator's staff are not offered
    response = _post(
        client,
        path,
        {
            "user": str(world.samordnare.id),
            "role": "samordnare",
            "starts_on": TODAY.isoformat(),
            "reference": "KN 2026/3",
        },
    )
    assert response.status_code == 303, _page(response)[:3000]
    assert services.coordinator_findings([world.unit.id], TODAY)[world.unit.id] == ["ersattare_missing"]
    detail = _page(client.get(f"/enheter/{world.unit.id}"))
    assert "Enheten omfattas men saknar förordnad ersättare" in detail

    yesterday = TODAY - dt.timedelta(days=1)
    response = _post(
        client,
        path,
        {
            "user": str(world.ersattare.id),
            "role": "ersattare",
            "starts_on": (TODAY - dt.timedelta(days=30)).isoformat(),
            "ends_on": yesterday.isoformat(),
        },
    )
    assert response.status_code == 303, _page(response)[:3000]
    # An appointment that ended yesterday is not current.
    assert services.coordinator_findings([world.unit.id], TODAY)[world.unit.id] == ["ersattare_missing"]
    # Yesterday the ersättare was appointed and the samordnare (from today) not yet.
    assert services.coordinator_findings([world.unit.id], yesterday)[world.unit.id] == ["samordnare_missing"]
    response = _post(
        client, path, {"user": str(world.ersattare.id), "role": "ersattare", "starts_on": TODAY.isoformat()}
    )
    assert response.status_code == 303
    assert services.coordinator_findings([world.unit.id], TODAY)[world.unit.id] == []
    listing = _page(client.get("/enheter"))
    assert "Kulturnämnden" in listing and "Brist:" not in listing

    events = _events("unit.appointment_recorded")
    assert len(events) == 3
    assert json.loads(events[0].payload)["detail"] == {"role": "samordnare"}
    assert all(
        "Test Person" not in e.payload and world.samordnare.user.username not in e.payload for e in events
    )


def test_appointment_rules(app: Flask, world: World) -> None:
    client = _client(app, world.samordnare)
    path = f"/enheter/{world.unit.id}/forordnanden/ny"
    response = _post(
        client,
        path,
        {
            "user": str(world.samordnare.id),
            "role": "samordnare",
            "starts_on": TODAY.isoformat(),
            "ends_on": (TODAY - dt.timedelta(days=1)).isoformat(),
        },
    )
    assert response.status_code == 200
    assert "Slutdatum kan inte ligga före startdatum." in _page(response)
    # A person of another operator is not a choice, even in a hand-made request.
    response = _post(
        client,
        path,
        {"user": str(world.foreign_chef.id), "role": "samordnare", "starts_on": TODAY.isoformat()},
    )
    assert response.status_code == 200
    with pytest.raises(services.AppointeeNotEligible):
        services.record_appointment(
            world.samordnare.user,
            db.get(OrgUnit, world.unit.id),
            user=world.foreign_chef.user,
            role="samordnare",
            starts_on=TODAY,
            ends_on=None,
            reference=None,
        )
    db.rollback()
    data = {"user": str(world.samordnare.id), "role": "samordnare", "starts_on": TODAY.isoformat()}
    assert _post(client, path, data).status_code == 303
    response = _post(client, path, data)
    assert response.status_code == 200
    assert "har redan ett förordnande med samma roll" in _page(response)
    db.close()
    assert db.scalar(select(Appointment.id).where(Appointment.user_id == world.foreign_chef.id)) is None
    assert len(list(db.scalars(select(Appointment.id).where(Appointment.unit_id == world.unit.id)))) == 1
    db.rollback()


def test_ending_an_appointment(app: Flask, world: World) -> None:
    appointment = _appoint(
        world.unit, world.ersattare, AppointmentRole.ERSATTARE, TODAY - dt.timedelta(days=60)
    )
    client = _client(app, world.ersattare)
    path = f"/enheter/{world.unit.id}/forordnanden/{appointment.id}/avsluta"
    page = _page(client.get(path))
    assert "Avsluta förordnandet?" in page and 'name="version"' in page
    response = _post(client, path, {"ends_on": TODAY.isoformat(), "version": "1"})
    assert response.status_code == 303, _page(response)[:3000]
    db.close()
    stored = db.get(Appointment, appointment.id)
    assert stored is not None and stored.ends_on == TODAY and stored.version == 2
    db.rollback()
    (ended,) = _events("unit.appointment_ended")
    assert ended.target_id == str(appointment.id) and ended.unit_id == world.unit.id
    assert json.loads(ended.payload)["changed"] == ["ends_on"]


def test_a_stale_end_of_appointment_is_a_conflict_that_keeps_the_input(app: Flask, world: World) -> None:
    appointment = _appoint(
        world.unit, world.ersattare, AppointmentRole.ERSATTARE, TODAY - dt.timedelta(days=60)
    )
    client = _client(app, world.samordnare)
    path = f"/enheter/{world.unit.id}/forordnanden/{appointment.id}/avsluta"
    token = csrf_token(client, path)
    # Someone else changes the appointment after the form was opened.
    db.execute(update(Appointment).where(Appointment.id == appointment.id).values(reference="X 1", version=2))
    db.commit()
    typed = (TODAY + dt.timedelta(days=10)).isoformat()
    response = client.post(path, data={"csrf_token": token, "ends_on": typed, "version": "1"})
    assert response.status_code == 409
    page = _page(response)
    assert "Någon annan har ändrat uppgifterna under tiden" in page
    assert f'value="{typed}"' in page
    assert 'name="version" type="hidden" value="2"' in page
    db.close()
    assert db.get(Appointment, appointment.id).ends_on is None  # type: ignore[union-attr]
    db.rollback()
    assert _events("unit.appointment_ended") == []
    # Saving again after seeing the new state works.
    response = client.post(path, data={"csrf_token": token, "ends_on": typed, "version": "2"})
    assert response.status_code == 303


def test_an_appointment_is_reached_only_through_its_own_unit(app: Flask, world: World) -> None:
    both = make_user(
        app, world.operator, roles=[(Role.SAMORDNARE, world.unit), (Role.SAMORDNARE, world.other_unit)]
    )
    appointment = _appoint(world.other_unit, world.stranger, AppointmentRole.SAMORDNARE, TODAY)
    client = _client(app, both)
    wrong = f"/enheter/{world.unit.id}/forordnanden/{appointment.id}/avsluta"
    assert client.get(wrong).status_code == 404
    assert client.get(f"/enheter/{world.unit.id}/forordnanden/inte-ett-id/avsluta").status_code == 404
    right = f"/enheter/{world.other_unit.id}/forordnanden/{appointment.id}/avsluta"
    assert client.get(right).status_code == 200


# --- access ---------------------------------------------------------------------------------------------


def _unit_routes(unit: OrgUnit, appointment: Appointment) -> list[tuple[str, str]]:
    base = f"/enheter/{unit.id}"
    return [
        ("GET", base),
        ("GET", f"{base}/tillamplighet"),
        ("POST", f"{base}/tillamplighet"),
        ("GET", f"{base}/forordnanden/ny"),
        ("POST", f"{base}/forordnanden/ny"),
        ("GET", f"{base}/forordnanden/{appointment.id}/avsluta"),
        ("POST", f"{base}/forordnanden/{appointment.id}/avsluta"),
        ("GET", f"{base}/oversyn/ny"),
        ("POST", f"{base}/oversyn/ny"),
    ]


def _statuses(app: Flask, person: Person, routes: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    client = _client(app, person)
    token = csrf_token(client, "/konto")
    data = {
        "csrf_token": token,
        "outcome": "ja",
        "decided_on": TODAY.isoformat(),
        "decided_by": "Nämnden",
        "user": str(person.id),
        "role": "samordnare",
        "starts_on": TODAY.isoformat(),
        "ends_on": TODAY.isoformat(),
        "kind": "incident",
        "occurred_on": TODAY.isoformat(),
        "version": "1",
        "marking": "0",
    }
    return {
        (method, path): (client.get(path) if method == "GET" else client.post(path, data=data)).status_code
        for method, path in routes
    }


@pytest.mark.parametrize("who", ["stranger", "foreign_chef", "upphandlare"])
def test_a_foreign_unit_looks_like_a_missing_one(app: Flask, world: World, who: str) -> None:
    appointment = _appoint(world.unit, world.samordnare, AppointmentRole.SAMORDNARE, TODAY)
    routes = _unit_routes(world.unit, appointment)
    statuses = _statuses(app, getattr(world, who), routes)
    assert set(statuses.values()) == {404}, statuses
    db.close()
    assert _assessments(world.unit) == []
    assert db.get(Appointment, appointment.id).ends_on is None  # type: ignore[union-attr]
    db.rollback()


def test_the_foreign_chef_and_the_upphandlare_see_no_supervisors_page_and_no_unit_list(
    app: Flask, world: World
) -> None:
    path = f"/verksamhetsutovare/{world.operator.id}/tillsynsmyndigheter"
    for person in (world.foreign_chef, world.upphandlare, world.samordnare):
        client = _client(app, person)
        assert client.get(path).status_code == 404
    assert _client(app, world.upphandlare).get("/enheter").status_code == 403
    foreign_list = _page(_client(app, world.foreign_chef).get("/enheter"))
    assert "Kulturnämnden" not in foreign_list and "Annan nämnd" in foreign_list


def test_the_chef_reads_the_unit_but_does_not_change_it(app: Flask, world: World) -> None:
    appointment = _appoint(world.unit, world.samordnare, AppointmentRole.SAMORDNARE, TODAY)
    routes = _unit_routes(world.unit, appointment)
    statuses = _statuses(app, world.chef, routes)
    assert statuses.pop(("GET", f"/enheter/{world.unit.id}")) == 200
    assert set(statuses.values()) == {403}, statuses
    page = _page(_client(app, world.chef).get(f"/enheter/{world.unit.id}"))
    assert "Registrera ny bedömning" not in page and "Registrera förordnande" not in page
    assert "Avsluta" not in page
    denials = _events("authz.deny")
    assert {json.loads(e.payload)["decision"]["action"] for e in denials} >= {
        "unit.assess",
        "unit.appoint",
        "unit.record_trigger",
    }


def test_the_samordnare_sees_the_buttons_of_their_unit(app: Flask, world: World) -> None:
    page = _page(_client(app, world.samordnare).get(f"/enheter/{world.unit.id}"))
    for label in ("Registrera ny bedömning", "Registrera förordnande", "Registrera händelse"):
        assert label in page
    assert "Tillsynsmyndigheter för" not in page and "(ändra)" not in page


def test_the_chef_sets_the_supervisory_authorities(app: Flask, world: World) -> None:
    client = _client(app, world.chef)
    path = f"/verksamhetsutovare/{world.operator.id}/tillsynsmyndigheter"
    assert "Tillsynsmyndigheter för" in _page(client.get("/enheter"))
    page = _page(client.get(path))
    assert "Länsstyrelsen i Stockholms län" in page and "Svenska kraftnät" in page
    response = _post(client, path, {"version": "1"})
    assert response.status_code == 200
    assert "Välj minst en tillsynsmyndighet." in _page(response)
    chosen = list(
        db.scalars(
            select(SupervisoryAuthority.id).where(
                SupervisoryAuthority.name.in_(["Svenska kraftnät", "Energimyndigheten"])
            )
        )
    )
    db.rollback()
    response = client.post(
        path,
        data={
            "csrf_token": csrf_token(client, path),
            "version": "1",
            "authorities": [str(i) for i in chosen],
        },
    )
    assert response.status_code == 303, _page(response)[:3000]
    db.close()
    operator = db.get(Operator, world.operator.id)
    assert operator is not None
    assert {a.name for a in operator.supervisors} == {"Svenska kraftnät", "Energimyndigheten"}
    assert operator.version == 2
    db.rollback()
    (event_row,) = _events("operator.supervisors_set")
    assert json.loads(event_row.payload)["detail"] == {"count": 2}
    assert event_row.target_id == str(world.operator.id)
    # A second chef's form from before the change is stale.
    response = client.post(
        path, data={"csrf_token": csrf_token(client, path), "version": "1", "authorities": [str(chosen[0])]}
    )
    assert response.status_code == 409
    assert "Energimyndigheten" in _page(_client(app, world.samordnare).get(f"/enheter/{world.unit.id}"))


# --- the list ------------------------------------------------------------------------------------------


def test_the_list_searches_filters_sorts_and_pages(app: Flask, world: World) -> None:
    _decide(world.unit, Applicability.YES, world.samordnare)
    _decide(world.other_unit, Applicability.NO, world.samordnare)
    client = _client(app, world.chef)
    page = _page(client.get("/enheter"))
    assert "Kulturnämnden" in page and "Idrottsnämnden" in page and "Annan nämnd" not in page
    assert "Brist:" in page
    assert "saknar förordnad säkerhetsskyddssamordnare" in page

    page = _page(client.get("/enheter?q=kultur"))
    assert "Kulturnämnden" in page and "Idrottsnämnden" not in page
    page = _page(client.get("/enheter?tillamplighet=nej"))
    assert "Idrottsnämnden" in page and "Kulturnämnden" not in page
    page = _page(client.get("/enheter?brister=1"))
    assert "Kulturnämnden" in page and "Idrottsnämnden" not in page
    page = _page(client.get("/enheter?q=finns-inte"))
    assert "Inga enheter matchar sökningen." in page
    for hostile in ("namn;DROP TABLE org_unit", "%27", "operator.name"):
        assert client.get("/enheter", query_string={"sortera": hostile, "q": "'%_\\"}).status_code == 200
    page = _page(client.get("/enheter?sortera=tillamplighet"))
    assert page.index("Kulturnämnden") < page.index("Idrottsnämnden")  # ja before nej

    for number in range(30):
        make_unit(world.operator, f"Enhet {number:02d}")
    db.commit()
    first = _page(client.get("/enheter"))
    assert "Sida 1 av 2" in first
    second = _page(client.get("/enheter?sida=2"))
    assert "Sida 2 av 2" in second
    names = [f"Enhet {n:02d}" for n in range(30)] + ["Idrottsnämnden", "Kulturnämnden"]
    assert all((name in first) != (name in second) for name in names)


def test_the_list_says_when_there_is_nothing(app: Flask) -> None:
    operator = make_operator()
    chef = make_user(app, operator, roles=[(Role.CHEF, operator)])
    assert "Du har inga enheter att visa." in _page(_client(app, chef).get("/enheter"))
    # A samordnare whose only unit has been deactivated coordinates nothing any more.
    unit = make_unit(operator)
    samordnare = make_user(app, operator, roles=[(Role.SAMORDNARE, unit)])
    db.execute(update(OrgUnit).where(OrgUnit.id == unit.id).values(is_active=False))
    db.commit()
    assert _client(app, samordnare).get("/enheter").status_code == 403
    assert _client(app, samordnare).get(f"/enheter/{unit.id}").status_code == 404


# --- cost ---------------------------------------------------------------------------------------------


@contextmanager
def _counted(app: Flask) -> Iterator[list[str]]:
    statements: list[str] = []
    engine = get_database(app).engine

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _operator_with_units(app: Flask, count: int) -> tuple[Operator, Person]:
    operator = make_operator(kind=OperatorKind.BOLAG)
    recorder = make_user(app, operator, roles=[(Role.CHEF, operator)])
    for number in range(count):
        unit = make_unit(operator, f"Enhet {number}")
        _decide(unit, [Applicability.YES, Applicability.NO][number % 2], recorder)
        if number % 3:
            _appoint(unit, recorder, AppointmentRole.SAMORDNARE, TODAY - dt.timedelta(days=number))
        if number % 4 == 1:
            _appoint(unit, recorder, AppointmentRole.ERSATTARE, TODAY, TODAY + dt.timedelta(days=5))
    return operator, recorder


def test_findings_and_applicability_cost_the_same_for_3_and_30_units(app: Flask) -> None:
    counts = []
    for size in (3, 30):
        operator, chef = _operator_with_units(app, size)
        ids = list(db.scalars(select(OrgUnit.id).where(OrgUnit.operator_id == operator.id)))
        db.rollback()
        with _counted(app) as statements:
            by_list = services.coordinator_findings(ids, TODAY)
            by_select = services.coordinator_findings(
                select(OrgUnit.id).where(OrgUnit.operator_id == operator.id), TODAY
            )
            current = services.current_applicability(ids)
            db.rollback()
        assert len(by_list) == size and by_list == by_select
        assert len(current) == size
        counts.append(len([s for s in statements if s.lstrip().upper().startswith("SELECT")]))
        # The rule itself: covered units (even numbers) miss whoever is not appointed today.
        names = {
            row.id: row.name
            for row in db.execute(select(OrgUnit.id, OrgUnit.name).where(OrgUnit.id.in_(ids)))
        }
        for unit_id, name in names.items():
            number = int(name.split()[-1])
            expected = []
            if number % 2 == 0:
                if number % 3 == 0:
                    expected.append("samordnare_missing")
                if number % 4 != 1:
                    expected.append("ersattare_missing")
            assert by_list[unit_id] == expected, name
        db.rollback()
        client = _client(app, chef)
        client.get("/enheter")
        with _counted(app) as statements:
            assert client.get("/enheter").status_code == 200
        counts.append(len(statements))
    assert counts[0] == 3  # two findings queries and one applicability query
    assert counts[0] == counts[2], counts
    assert counts[1] == counts[3], counts


def test_the_findings_rule_agrees_in_sql_in_python_and_in_the_deadline_engine(app: Flask) -> None:
    """Every combination of applicability and coordinator situations: the per-unit findings, the
    list filter (has_findings_clause) and the chef's to-do items say the same thing."""
    operator = make_operator()
    chef = make_user(app, operator, roles=[(Role.CHEF, operator)])
    situations = {
        "none": [],
        "current": [(TODAY - dt.timedelta(days=30), None)],
        "ended": [(TODAY - dt.timedelta(days=60), TODAY - dt.timedelta(days=1))],
        "future": [(TODAY + dt.timedelta(days=3), None)],
    }
    expected: dict[object, list[str]] = {}
    outcomes = [None, Applicability.YES, Applicability.NO, Applicability.INVESTIGATING]
    for number, (outcome, samordnare, ersattare) in enumerate(
        (o, s, e) for o in outcomes for s in situations for e in situations
    ):
        unit = make_unit(operator, f"Enhet {number}")
        if outcome is not None:
            _decide(unit, outcome, chef, TODAY - dt.timedelta(days=90))
        roles = ((AppointmentRole.SAMORDNARE, samordnare), (AppointmentRole.ERSATTARE, ersattare))
        for role, situation in roles:
            for starts_on, ends_on in situations[situation]:
                _appoint(unit, chef, role, starts_on, ends_on)
        codes = []
        if outcome is None:
            codes.append("applicability_missing")
        elif outcome == Applicability.YES:
            codes += ["samordnare_missing"] if samordnare != "current" else []
            codes += ["ersattare_missing"] if ersattare != "current" else []
        expected[unit.id] = codes
    db.rollback()
    ids = list(expected)
    assert services.coordinator_findings(ids, TODAY) == expected
    flagged = set(
        db.scalars(select(OrgUnit.id).where(OrgUnit.id.in_(ids), services.has_findings_clause(TODAY)))
    )
    assert flagged == {unit_id for unit_id, codes in expected.items() if codes}
    db.rollback()
    items = due_items_for_user(db.get(User, chef.id), TODAY)
    by_unit: dict[object, list[str]] = {unit_id: [] for unit_id in ids}
    for item in items:
        if item.kind == ItemKind.APPLICABILITY_MISSING:
            by_unit[item.unit_id].append("applicability_missing")
        elif item.kind == ItemKind.COORDINATOR_MISSING:
            by_unit[item.unit_id] += [f"{role}_missing" for role in item.params["missing"]]
    db.rollback()
    assert by_unit == expected


def test_every_view_of_the_unit_page_is_audited(app: Flask) -> None:
    operator = make_operator()
    unit = make_unit(operator)
    chef = make_user(app, operator, roles=[(Role.CHEF, operator)])
    client = app.test_client()
    session_cookie(client, app, chef)
    assert client.get(f"/enheter/{unit.id}").status_code == 200
    reads = db.scalars(
        select(AuditEvent).where(AuditEvent.event == "unit.read", AuditEvent.target_id == str(unit.id))
    ).all()
    assert [r.actor_id for r in reads] == [chef.id]
