"""Vetting pages through the test client: the befattningsförteckning, a case's checklist in order,
the beslut with step-up and the two-person rule, the chef's counts without people, the lookup
that never crosses units, and no personnummer or name in URLs, audit events, the audit export
or the log."""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
import re
import uuid
from pathlib import Path

import pytest
from factories import (
    Person,
    count_statements,
    csrf_token,
    make_operator,
    make_unit,
    make_user,
    session_cookie,
)
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from sakskydd.accounts.models import Role
from sakskydd.audit.models import AuditEvent
from sakskydd.extensions import db
from sakskydd.vetting import services
from sakskydd.vetting.models import CaseStatus, Position, StepStatus, VettingCase
from sakskydd.vetting.rules import StepKind

pytestmark = pytest.mark.db

TODAY = services.local_today()
# Synthetic and checksum-valid; the forms every test looks for.
PNR = "19900101-0017"
PNR_FORMS = ("19900101-0017", "199001010017", "900101-0017", "9001010017")
NAME = "Provperson Testsson"


class World:
    def __init__(self, app: Flask) -> None:
        self.operator = make_operator()
        self.unit = make_unit(self.operator, "Kulturnämnden")
        self.other_unit = make_unit(self.operator, "Idrottsnämnden")
        self.samordnare = make_user(app, self.operator, roles=[(Role.SAMORDNARE, self.unit)])
        self.ersattare = make_user(app, self.operator, roles=[(Role.ERSATTARE, self.unit)])
        self.chef = make_user(app, self.operator, roles=[(Role.CHEF, self.operator)])
        self.upphandlare = make_user(app, self.operator, roles=[(Role.UPPHANDLARE, self.unit)])
        self.stranger = make_user(app, self.operator, roles=[(Role.SAMORDNARE, self.other_unit)])
        db.close()


@pytest.fixture
def world(app: Flask) -> World:
    return World(app)


def _client(app: Flask, person: Person, *, fresh: bool = True) -> FlaskClient:
    db.close()
    client = app.test_client()
    session_cookie(client, app, person, fresh=fresh)
    return client


def _post(client: FlaskClient, path: str, data: dict[str, object]):  # type: ignore[no-untyped-def]
    return client.post(path, data={"csrf_token": csrf_token(client, "/"), **data})


def _page(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


def _position(client: FlaskClient, world: World, **values: object) -> str:
    data: dict[str, object] = {
        "title": "Drifttekniker",
        "security_class": "klass_2",
        "decided_on": (TODAY - dt.timedelta(days=10)).isoformat(),
        "decided_by": "Kommunstyrelsen",
        "reference": "KS 2026/10",
        "government_reference": "",
        "analysis": "",
    }
    data.update(values)
    response = _post(client, f"/enheter/{world.unit.id}/befattningar/ny", data)
    assert response.status_code == 303, _page(response)
    db.close()
    return str(db.scalar(select(Position.id).where(Position.title == data["title"])))


def _open(client: FlaskClient, world: World, position_id: str, pnr: str = PNR) -> str:
    response = _post(
        client,
        f"/enheter/{world.unit.id}/provningar/ny",
        {"position": position_id, "person_name": NAME, "personnummer": pnr},
    )
    assert response.status_code == 303, _page(response)
    match = re.search(r"/provningar/([0-9a-f-]{36})$", response.headers["Location"])
    assert match
    return match.group(1)


def _case(case_id: str) -> VettingCase:
    db.close()
    case = db.get(VettingCase, uuid.UUID(case_id))
    assert case is not None
    return case


def _mark(client: FlaskClient, case_id: str, kind: StepKind, **extra: object):  # type: ignore[no-untyped-def]
    case = _case(case_id)
    step = next(s for s in case.steps if s.kind == kind)
    data = {"status": "klar", "done_on": TODAY.isoformat(), "reference": "Dnr 7", "version": step.version}
    data.update(extra)
    return _post(client, f"/provningar/{case_id}/steg/{step.id}", data)


def _through_assessment(client: FlaskClient, case_id: str) -> None:
    case = _case(case_id)
    for kind in services.rules.steps_for(case.security_class):
        if kind == StepKind.TRAINING:
            continue
        extra = {"control_reason": "placering"} if kind == StepKind.REGISTER_CHECK_REQUESTED else {}
        response = _mark(client, case_id, kind, **extra)
        assert response.status_code == 303, _page(response)


def _audit_payloads() -> str:
    db.close()
    return "\n".join(e.payload for e in db.scalars(select(AuditEvent)))


def test_positions_are_listed_created_and_edited_with_clear_errors(app: Flask, world: World) -> None:
    client = _client(app, world.samordnare)
    assert "Befattningsförteckningen är tom" in _page(client.get(f"/enheter/{world.unit.id}/befattningar"))
    refused = _post(
        client,
        f"/enheter/{world.unit.id}/befattningar/ny",
        {
            "title": "Chef för ledningscentral",
            "security_class": "klass_1",
            "decided_on": (TODAY - dt.timedelta(days=1)).isoformat(),
            "decided_by": "Regeringen",
            "reference": "KS 1",
        },
    )
    body = _page(refused)
    assert refused.status_code == 200
    assert "regeringsbeslutets diarienummer" in body
    assert 'value="Chef för ledningscentral"' in body  # nothing typed is lost
    position_id = _position(
        client,
        world,
        title="Chef för ledningscentral",
        security_class="klass_1",
        government_reference="Fö 2025/1",
        decided_by="Regeringen",
    )
    listing = _page(client.get(f"/enheter/{world.unit.id}/befattningar"))
    assert "Chef för ledningscentral" in listing and "Säkerhetsklass 1" in listing and "Fö 2025/1" in listing
    edit = f"/befattningar/{position_id}"
    form = _page(client.get(edit))
    version = re.search(r'name="version" type="hidden" value="(\d+)"', form).group(1)
    data = {
        "title": "Chef för ledningscentralen",
        "security_class": "klass_1",
        "decided_on": (TODAY - dt.timedelta(days=1)).isoformat(),
        "decided_by": "Regeringen",
        "reference": "KS 1",
        "government_reference": "Fö 2025/1",
        "analysis": "",
        "ended_on": "",
        "version": version,
    }
    assert _post(client, edit, data).status_code == 303
    stale = _post(client, edit, {**data, "title": "Något annat"})
    assert stale.status_code == 409
    # The chef reads the förteckning (no people on it) but cannot change it.
    chef = _client(app, world.chef)
    assert "Chef för ledningscentralen" in _page(chef.get(f"/enheter/{world.unit.id}/befattningar"))
    assert chef.get(edit).status_code == 403


def test_a_case_follows_its_checklist_and_the_beslut_needs_a_second_person(app: Flask, world: World) -> None:
    client = _client(app, world.samordnare)
    position_id = _position(client, world)
    # A wrong check digit: refused in Swedish, the number is not shown again.
    wrong = _post(
        client,
        f"/enheter/{world.unit.id}/provningar/ny",
        {"position": position_id, "person_name": NAME, "personnummer": "19900101-0018"},
    )
    assert wrong.status_code == 200
    assert "kontrollsiffra" in _page(wrong).lower() or "personnummer" in _page(wrong).lower()
    assert "0018" not in _page(wrong) and NAME in _page(wrong)
    case_id = _open(client, world, position_id)
    page = _page(client.get(f"/provningar/{case_id}"))
    assert NAME in page and PNR in page
    assert "Väntar på: identiteten kontrollerad" in page
    # Out of order: the interview needs the identity first.
    early = _mark(client, case_id, StepKind.INTERVIEW)
    assert early.status_code == 200 and "Stegen följs i ordning" in _page(early)
    # Before the registerkontroll, no beslut.
    for kind in (
        StepKind.IDENTITY,
        StepKind.CV,
        StepKind.CERTIFICATES,
        StepKind.REFERENCES,
        StepKind.INTERVIEW,
    ):
        assert _mark(client, case_id, kind).status_code == 303
    decide = {"decision": "godkand", "decided_on": TODAY.isoformat(), "reference": "Beslut 1"}
    refused = _post(client, f"/provningar/{case_id}/beslut", {**decide, "version": _case(case_id).version})
    assert refused.status_code == 200
    assert "registerkontroll begärd" in _page(refused)
    assert _case(case_id).status == CaseStatus.IN_PROGRESS
    _through_assessment(client, case_id)
    # The beslut needs a recent sign-in (step-up).
    stale_client = _client(app, world.samordnare, fresh=False)
    redirected = stale_client.get(f"/provningar/{case_id}/beslut")
    assert redirected.status_code == 303 and "/konto/bekrafta" in redirected.headers["Location"]
    decided = _post(client, f"/provningar/{case_id}/beslut", {**decide, "version": _case(case_id).version})
    assert decided.status_code == 303, _page(decided)
    assert _case(case_id).status == CaseStatus.DECIDED
    # The one who decided cannot confirm (policy sod.confirm_own_vetting_decision).
    own = _post(
        client, f"/provningar/{case_id}/bekrafta", {"choice": "bekrafta", "version": _case(case_id).version}
    )
    assert own.status_code == 403
    second = _client(app, world.ersattare)
    confirmed = _post(
        second, f"/provningar/{case_id}/bekrafta", {"choice": "bekrafta", "version": _case(case_id).version}
    )
    assert confirmed.status_code == 303, _page(confirmed)
    case = _case(case_id)
    assert case.status == CaseStatus.APPROVED and case.confirmed_by_id == world.ersattare.id
    # Training after the approval; a note; an omkontroll; then the person leaves.
    assert _mark(client, case_id, StepKind.TRAINING).status_code == 303
    note = _post(
        client,
        f"/provningar/{case_id}/anteckning",
        {"noted_on": TODAY.isoformat(), "text": "Uppföljningssamtal hållet."},
    )
    assert note.status_code == 200 and "intyga" in _page(note)
    note = _post(
        client,
        f"/provningar/{case_id}/anteckning",
        {"noted_on": TODAY.isoformat(), "text": "Uppföljningssamtal hållet.", "attested": "y"},
    )
    assert note.status_code == 303
    assert "Uppföljningssamtal hållet." in _page(client.get(f"/provningar/{case_id}"))
    recheck = _post(
        client,
        f"/provningar/{case_id}/omkontroll",
        {"checked_on": TODAY.isoformat(), "reference": "Omk 1", "version": _case(case_id).version},
    )
    assert recheck.status_code == 303
    left = _post(
        client,
        f"/provningar/{case_id}/avsluta",
        {"left_on": TODAY.isoformat(), "version": _case(case_id).version},
    )
    assert left.status_code == 303
    assert _case(case_id).status == CaseStatus.APPROVED  # the avanmälan is still to be made
    assert "Registerkontrollen ska avanmälas" in _page(client.get(f"/provningar/{case_id}"))
    ended = _post(
        client,
        f"/provningar/{case_id}/avsluta",
        {
            "left_on": TODAY.isoformat(),
            "deregistered_on": TODAY.isoformat(),
            "reference": "Avanm 1",
            "version": _case(case_id).version,
        },
    )
    assert ended.status_code == 303
    assert _case(case_id).status == CaseStatus.CLOSED
    # Every open of the case page was audited as a read of personal data.
    db.close()
    reads = list(
        db.scalars(
            select(AuditEvent).where(
                AuditEvent.event == "vetting.read_personal", AuditEvent.target_id == case_id
            )
        )
    )
    assert len(reads) == 3  # the three times the test opened the case page


def test_the_chef_sees_counts_not_people_and_others_see_nothing(app: Flask, world: World) -> None:
    client = _client(app, world.samordnare)
    position_id = _position(client, world)
    case_id = _open(client, world, position_id)
    chef = _client(app, world.chef)
    overview = _page(chef.get("/sakerhetsprovning"))
    assert "Kulturnämnden" in overview and NAME not in overview
    row = re.search(r"<tr><th scope=\"row\">Säkerhetsklass 2</th>(.*?)</tr>", overview, re.S)
    assert row and re.findall(r"<td>(\d+)</td>", row.group(1))[:1] == ["1"]  # one pågående
    assert chef.get(f"/provningar/{case_id}").status_code == 404
    assert chef.get(f"/enheter/{world.unit.id}/provningar").status_code == 403
    assert NAME not in _page(chef.get(f"/enheter/{world.unit.id}/befattningar"))
    upphandlare = _client(app, world.upphandlare)
    assert upphandlare.get("/sakerhetsprovning").status_code == 403
    assert upphandlare.get(f"/provningar/{case_id}").status_code == 404
    stranger = _client(app, world.stranger)
    assert stranger.get(f"/provningar/{case_id}").status_code == 404
    assert stranger.get(f"/enheter/{world.unit.id}/provningar").status_code == 404
    # The list in the own unit shows the name, and its read is audited with the ids only.
    listing = _page(client.get(f"/enheter/{world.unit.id}/provningar"))
    assert NAME in listing
    db.close()
    event = db.scalars(
        select(AuditEvent).where(AuditEvent.event == "vetting.read_personal").order_by(AuditEvent.seq.desc())
    ).first()
    assert event is not None and case_id in event.payload and NAME not in event.payload


def test_lookup_by_personnummer_never_crosses_units(app: Flask, world: World) -> None:
    client = _client(app, world.samordnare)
    position_id = _position(client, world)
    case_id = _open(client, world, position_id)
    found = _post(client, f"/enheter/{world.unit.id}/provningar/sok", {"personnummer": "900101-0017"})
    assert found.status_code == 200
    assert case_id in _page(found) and "1 ärende" in _page(found)
    db.close()
    read = db.scalars(
        select(AuditEvent).where(AuditEvent.event == "vetting.read_personal").order_by(AuditEvent.seq.desc())
    ).first()
    assert read is not None and '"lookup"' in read.payload and case_id in read.payload
    assert read.unit_id == world.unit.id  # a unit target is its own unit
    assert all(form not in _page(found) for form in PNR_FORMS)  # the number is not echoed
    # A samordnare of another unit of the same kommun finds nothing, not even a hint.
    stranger = _client(app, world.stranger)
    nothing = _post(stranger, f"/enheter/{world.other_unit.id}/provningar/sok", {"personnummer": PNR})
    assert nothing.status_code == 200
    assert "Inga ärenden" in _page(nothing) and case_id not in _page(nothing)
    assert (
        _post(stranger, f"/enheter/{world.unit.id}/provningar/sok", {"personnummer": PNR}).status_code == 404
    )
    bad = _post(client, f"/enheter/{world.unit.id}/provningar/sok", {"personnummer": "19900101-0018"})
    assert bad.status_code == 200 and "0018" not in _page(bad)
    # GET is not a lookup: the number can never be put in a URL.
    assert client.get(f"/enheter/{world.unit.id}/provningar/sok?personnummer={PNR}").status_code == 405


def test_no_personnummer_or_name_in_urls_audit_export_or_log(
    app: Flask, world: World, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    client = _client(app, world.samordnare)
    position_id = _position(client, world)
    locations = []
    response = _post(
        client,
        f"/enheter/{world.unit.id}/provningar/ny",
        {"position": position_id, "person_name": NAME, "personnummer": PNR},
    )
    locations.append(response.headers.get("Location", ""))
    case_id = re.search(r"([0-9a-f-]{36})$", locations[0]).group(1)
    client.get(f"/provningar/{case_id}")
    client.get(f"/enheter/{world.unit.id}/provningar")
    _post(client, f"/enheter/{world.unit.id}/provningar/sok", {"personnummer": PNR})
    _through_assessment(client, case_id)
    response = _post(
        client,
        f"/provningar/{case_id}/beslut",
        {
            "decision": "godkand",
            "decided_on": TODAY.isoformat(),
            "reference": "B 1",
            "version": _case(case_id).version,
        },
    )
    locations.append(response.headers.get("Location", ""))
    payloads = _audit_payloads()
    assert "vetting.lookup" in payloads and case_id in payloads  # the control: the trail has the events
    export = tmp_path / "audit.jsonl"
    result = app.test_cli_runner().invoke(args=["audit", "export", "--output", str(export)])
    assert result.exit_code == 0, result.output
    exported = export.read_text(encoding="utf-8")
    assert case_id in exported
    for text in (payloads, exported, caplog.text, "\n".join(locations)):
        for secret in (*PNR_FORMS, NAME, "Provperson"):
            assert secret not in text
    json.loads(exported.splitlines()[0])  # a JSON Lines file, read above as plain text


def test_interview_template_is_the_chefs_and_shown_at_the_interview_step(app: Flask, world: World) -> None:
    chef = _client(app, world.chef)
    path = f"/verksamhetsutovare/{world.operator.id}/intervjumall"
    assert "stadens grundmall" in _page(chef.get(path))
    saved = _post(chef, path, {"topics": "Bakgrund och utbildning\nSårbarheter\nAnmälningsplikt"})
    assert saved.status_code == 303
    assert "version 1" in _page(chef.get(path))
    client = _client(app, world.samordnare)
    assert client.get(path).status_code == 404
    case_id = _open(client, world, _position(client, world))
    step = next(s for s in _case(case_id).steps if s.kind == StepKind.INTERVIEW)
    page = _page(client.get(f"/provningar/{case_id}/steg/{step.id}"))
    assert "Sårbarheter" in page and "version 1" in page
    assert _mark(client, case_id, StepKind.IDENTITY).status_code == 303
    assert _mark(client, case_id, StepKind.INTERVIEW).status_code == 303
    db.close()
    done = next(s for s in _case(case_id).steps if s.kind == StepKind.INTERVIEW)
    assert done.status == StepStatus.DONE and done.template_id is not None


def test_case_list_statements_do_not_grow_with_the_number_of_cases(app: Flask, world: World) -> None:
    client = _client(app, world.samordnare)
    position_id = _position(client, world)
    pnrs = ["19900101-0017", "19851231-0007", "19700615-0002", "20000229-0005", "19951010-0002"]

    def measure() -> int:
        with count_statements(app) as statements:
            assert client.get(f"/enheter/{world.unit.id}/provningar").status_code == 200
        return len(statements)

    _open(client, world, position_id, pnrs[0])
    few = measure()
    for pnr in pnrs[1:]:
        _open(client, world, position_id, pnr)
    assert measure() == few
