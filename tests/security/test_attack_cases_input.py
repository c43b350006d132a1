"""Attack cases of SECURITY.md for input, authorization, logic, headers, audit and configuration.

SQL injection in search, sort and paging; mass assignment on every edit form; workflow skipping;
CRLF in e-mail headers and redirect targets; template injection and stored XSS in the
administration; clickjacking headers on error pages and static files; an audit insert that fails
inside a web request; weak configuration. The authentication and session cases are in
test_attack_cases.py.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from factories import (
    Person,
    csrf_token,
    login,
    make_operator,
    make_unit,
    make_user,
    next_code,
    session_cookie,
)
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from sakskydd.accounts.models import Role, User
from sakskydd.analyses.models import AnalysisOutcome, AnalysisStatus, AnalysisTransition, SecurityAnalysis
from sakskydd.assets.models import AssetStatus, AssetType, ProtectedAsset
from sakskydd.audit.models import AuditEvent, AuditHead
from sakskydd.classification import DamageLevel
from sakskydd.config import ConfigError, Settings
from sakskydd.extensions import db
from sakskydd.organisations.models import ApplicabilityAssessment, Operator, OrgUnit
from sakskydd.procurements.models import Procurement, ProcurementKind

pytestmark = pytest.mark.db

SQL_PROBES = (
    "' OR '1'='1",
    "' OR 1=1 --",
    "x'; DROP TABLE user_account; --",
    '" OR ""="',
    "') UNION SELECT username, password_hash FROM user_account --",
    "\\",
)
SORT_PROBES = (
    "namn; DROP TABLE user_account",
    "display_name DESC",
    "(SELECT password_hash FROM user_account)",
    "1",
    "namn,username",
    "CASE WHEN 1=1 THEN name END",
)
PAGE_PROBES = ("-1", "0", "abc", "1e9", "99999999999999999999")


@pytest.fixture(autouse=True)
def _requests_start_detached(request: pytest.FixtureRequest) -> None:
    """Each request starts with the test's objects detached, their loaded values kept: a request
    in the test's thread shares the scoped session, and its rollback would expire them."""
    if "app" not in request.fixturenames:
        return
    app: Flask = request.getfixturevalue("app")
    inner = app.wsgi_app

    def wsgi(environ, start_response):  # type: ignore[no-untyped-def]
        db.close()
        return inner(environ, start_response)

    app.wsgi_app = wsgi  # type: ignore[method-assign]


# --- helpers ----------------------------------------------------------------------------------


def _client(app: Flask, person: Person, *, fresh: bool = True) -> FlaskClient:
    client = app.test_client()
    session_cookie(client, app, person, fresh=fresh)
    return client


def _post(client: FlaskClient, path: str, data: dict[str, Any], form_path: str | None = None):  # type: ignore[no-untyped-def]
    token = csrf_token(client, form_path or path)
    return client.post(path, data={"csrf_token": token, **data})


def _get(model: type[Any], ident: Any) -> Any:
    """The stored row as it is now, detached (later requests cannot expire it)."""
    db.close()
    row = db.get(model, ident)
    assert row is not None
    db.close()
    return row


def _rows(query: Any) -> list[Any]:
    db.close()
    rows = list(db.scalars(query))
    db.close()
    return rows


def _count(model: type[Any]) -> int:
    db.close()
    value = db.scalar(select(func.count()).select_from(model))
    db.close()
    return int(value or 0)


def _events(name: str, **where: object) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.event == name)
    for column, value in where.items():
        query = query.where(getattr(AuditEvent, column) == value)
    return _rows(query.order_by(AuditEvent.seq))


def _admin_world(app: Flask) -> tuple[Operator, Person, FlaskClient]:
    operator = make_operator("Egen kommun")
    admin = make_user(app, operator, roles=[(Role.ADMIN, operator)])
    return operator, admin, _client(app, admin)


def _user_rows(html: str) -> list[str]:
    return re.findall(r'<td><a href="/admin/anvandare/[0-9a-f-]{36}">([^<]*)</a></td>', html)


def _outbox(app: Flask) -> list[Path]:
    folder = Path(app.config["SAKSKYDD_SETTINGS"].instance_path) / "outbox"
    return sorted(folder.glob("*.eml")) if folder.exists() else []


# --- SQL injection in search, sort and paging ---------------------------------------------------


def test_admin_user_list_search_sort_and_paging_resist_injection(app: Flask) -> None:
    operator, admin, client = _admin_world(app)
    names = {"Procent 100% Nöjd": "procent", "Under_Streck": "understreck", "Vanlig Person": "vanlig"}
    for display, username in names.items():
        person = make_user(app, operator, username=username)
        person.user.display_name = display
    foreign = make_user(app, make_operator("Annan kommun"), username="framling")
    foreign.user.display_name = "Främling Utanför"
    db.commit()
    admin_name = admin.user.display_name
    users_before = _count(User)
    everyone = sorted([*names, admin_name])

    def listed(**params: str) -> list[str]:
        response = client.get("/admin/anvandare", query_string=params)
        assert response.status_code == 200, params
        return _user_rows(response.get_data(as_text=True))

    assert sorted(listed()) == everyone
    # LIKE wildcards are literal, the organisation filter holds.
    assert listed(q="%") == ["Procent 100% Nöjd"]
    assert listed(q="_") == ["Under_Streck"]
    assert listed(q="främling") == []
    for probe in SQL_PROBES:
        assert listed(q=probe) == [], probe
    for probe in SORT_PROBES:
        assert listed(sortera=probe) == listed(), probe  # unknown keys sort by name
    for probe in PAGE_PROBES:
        assert sorted(listed(sida=probe)) == everyone, probe
    assert _count(User) == users_before
    db.close()
    assert db.execute(text("SELECT count(*) FROM user_account")).scalar() == users_before
    db.close()


def test_unit_list_search_and_sort_resist_injection(app: Flask) -> None:
    operator = make_operator("Egen kommun")
    percent = make_unit(operator, "Nämnd 50% ansvar")
    plain = make_unit(operator, "Kulturnämnden")
    foreign = make_unit(make_operator("Annan kommun"), "Främmande nämnd")
    chef = make_user(app, operator, roles=[(Role.CHEF, operator)])
    client = _client(app, chef)
    units_before = _count(OrgUnit)

    def listed(**params: str) -> list[str]:
        response = client.get("/enheter", query_string=params)
        assert response.status_code == 200, params
        body = response.get_data(as_text=True)
        return [name for name in (percent.name, plain.name, foreign.name) if name in body]

    assert listed() == [percent.name, plain.name]
    assert listed(q="%") == [percent.name]
    for probe in SQL_PROBES:
        assert listed(q=probe) == [], probe
    for probe in SORT_PROBES:
        assert listed(sortera=probe) == [percent.name, plain.name], probe
    for probe in PAGE_PROBES:
        assert listed(sida=probe) == [percent.name, plain.name], probe
    assert _count(OrgUnit) == units_before


def test_asset_list_search_sort_and_paging_resist_injection(app: Flask) -> None:
    operator = make_operator()
    unit = make_unit(operator)
    samordnare = make_user(app, operator, roles=[(Role.SAMORDNARE, unit)])
    for name, owner in (("Arkiv 100% digitalt", "Ägare A"), ("Serverhall", "Ägare_B")):
        db.add(
            ProtectedAsset(
                unit_id=unit.id,
                type=AssetType.INFORMATION,
                name=name,
                damage_level=DamageLevel.MINOR,
                status=AssetStatus.NORMAL,
                owner=owner,
                created_by_id=samordnare.id,
            )
        )
    db.commit()
    client = _client(app, samordnare)
    assets_before = _count(ProtectedAsset)
    base = f"/enheter/{unit.id}/objekt"

    def listed(**params: str) -> list[str]:
        response = client.get(base, query_string=params)
        assert response.status_code == 200, params
        body = response.get_data(as_text=True)
        return [name for name in ("Arkiv 100% digitalt", "Serverhall") if name in body]

    assert listed() == ["Arkiv 100% digitalt", "Serverhall"]
    assert listed(q="%") == ["Arkiv 100% digitalt"]
    assert listed(q="_") == ["Serverhall"]  # the owner "Ägare_B"
    for probe in SQL_PROBES:
        assert listed(q=probe) == [], probe
    for probe in (*SORT_PROBES, "name;DROP TABLE protected_asset"):
        assert listed(sortera=probe) == ["Arkiv 100% digitalt", "Serverhall"], probe
    for probe in PAGE_PROBES:
        assert listed(sida=probe) == ["Arkiv 100% digitalt", "Serverhall"], probe
    assert _count(ProtectedAsset) == assets_before


def test_procurement_register_search_filters_sort_and_paging_resist_injection(app: Flask) -> None:
    operator = make_operator()
    unit = make_unit(operator)
    buyer = make_user(app, operator, roles=[(Role.UPPHANDLARE, unit)])
    for title, supplier in (("Drift 100% moln", "Leverantör A"), ("Städning", "Leverantör_B")):
        db.add(
            Procurement(
                unit_id=unit.id,
                kind=ProcurementKind.PROCUREMENT,
                title=title,
                registry_number="KN 1",
                supplier_name=supplier,
                responsible_id=buyer.id,
                procedure_starts_on=dt.date(2027, 1, 1),
                created_by_id=buyer.id,
            )
        )
    db.commit()
    client = _client(app, buyer)
    before = _count(Procurement)

    def listed(**params: str) -> list[str]:
        response = client.get("/upphandlingar", query_string=params)
        assert response.status_code == 200, params
        body = response.get_data(as_text=True)
        return [title for title in ("Drift 100% moln", "Städning") if title in body]

    both = ["Drift 100% moln", "Städning"]
    assert listed() == both
    assert listed(q="%") == ["Drift 100% moln"]
    assert listed(q="_") == ["Städning"]  # the supplier "Leverantör_B"
    for probe in SQL_PROBES:
        assert listed(q=probe) == [], probe
        # A filter outside its list is ignored, not passed on.
        assert listed(utfall=probe, status=probe, enhet=probe, forsenade=probe) == both, probe
    for probe in (*SORT_PROBES, "titel;DROP TABLE procurement"):
        assert listed(sortera=probe) == both, probe
    for probe in PAGE_PROBES:
        assert listed(sida=probe) == both, probe
    assert _count(Procurement) == before


@pytest.mark.parametrize("page", PAGE_PROBES)
def test_own_history_paging_never_fails(app: Flask, page: str) -> None:
    person = make_user(app, make_operator())
    client = app.test_client()
    login(client, person)
    response = client.get("/konto/historik", query_string={"sida": page})
    assert response.status_code == 200
    assert "Inloggning" in response.get_data(as_text=True)


# --- mass assignment ----------------------------------------------------------------------------


def test_admin_user_edit_changes_only_name_and_email(app: Flask) -> None:
    operator, admin, client = _admin_world(app)
    other_operator = make_operator("Annan kommun")
    target = make_user(app, operator, clearance=0)
    before = _get(User, target.id)
    path = f"/admin/anvandare/{target.id}/redigera"
    response = _post(
        client,
        path,
        {
            "display_name": "Nytt Namn",
            "email": "nytt@example.se",
            "version": str(before.version),
            # Fields the form does not have:
            "username": "root",
            "is_active": "n",
            "clearance": "4",
            "operator_id": str(other_operator.id),
            "created_by_id": str(admin.id),
            "password_hash": "$argon2id$v=19$m=1024,t=1,p=1$AAAA$BBBB",
            "totp_secret": "A" * 32,
            "failed_logins": "0",
            "locked_until": "",
            "id": str(uuid.uuid4()),
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    after = _get(User, target.id)
    assert (after.display_name, after.email) == ("Nytt Namn", "nytt@example.se")
    for name in (
        "username",
        "is_active",
        "clearance",
        "operator_id",
        "created_by_id",
        "password_hash",
        "totp_secret_ct",
    ):
        assert getattr(after, name) == getattr(before, name), name
    assert after.version == before.version + 1
    updated = _events("account.updated", target_id=str(target.id))
    assert len(updated) == 1 and '"changed":["display_name","email"]' in updated[0].payload


def test_own_password_change_changes_nothing_else(app: Flask) -> None:
    operator = make_operator()
    other_operator = make_operator()
    person = make_user(app, operator, clearance=0)
    before = _get(User, person.id)
    client = _client(app, person)
    new = "ett helt nytt långt lösenord 77"
    response = _post(
        client,
        "/konto/losenord",
        {
            "current": person.password,
            "password": new,
            "confirm": new,
            "clearance": "4",
            "is_active": "y",
            "operator_id": str(other_operator.id),
            "username": "admin",
            "display_name": "Chefen",
            "version": "1",
        },
    )
    assert response.status_code == 303
    after = _get(User, person.id)
    assert after.password_hash != before.password_hash
    for name in ("clearance", "operator_id", "username", "display_name", "email", "is_active"):
        assert getattr(after, name) == getattr(before, name), name
    changed = _events("auth.password.changed", target_id=str(person.id))
    assert len(changed) == 1 and '"changed":["password_hash"]' in changed[0].payload


def test_admin_unit_edit_cannot_move_the_unit_to_another_operator(app: Flask) -> None:
    operator, _admin, client = _admin_world(app)
    foreign = make_operator("Annan kommun")
    unit = make_unit(operator, "Kulturnämnden")
    db.commit()
    path = f"/admin/enheter/{unit.id}/redigera"
    response = _post(
        client,
        path,
        {
            "name": "Kultur- och fritidsnämnden",
            "kind": "facknamnd",
            "is_active": "y",
            "version": str(unit.version),
            "operator_id": str(foreign.id),
            "id": str(uuid.uuid4()),
            "created_at": "2000-01-01T00:00:00",
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    after = _get(OrgUnit, unit.id)
    assert after.name == "Kultur- och fritidsnämnden"
    assert after.operator_id == operator.id and after.created_at == unit.created_at
    updated = _events("unit.updated", target_id=str(unit.id))
    assert len(updated) == 1 and '"changed":["name"]' in updated[0].payload


class CaseWorld:
    """A kommun with two units: the samordnare's own and another; a chef of the kommun."""

    def __init__(self, app: Flask) -> None:
        self.operator = make_operator()
        self.unit = make_unit(self.operator, "Kulturnämnden")
        self.other_unit = make_unit(self.operator, "Idrottsnämnden")
        self.samordnare = make_user(app, self.operator, roles=[(Role.SAMORDNARE, self.unit)])
        self.other = make_user(app, self.operator, roles=[(Role.SAMORDNARE, self.other_unit)])
        self.chef = make_user(app, self.operator, roles=[(Role.CHEF, self.operator)])
        self.app = app

    def client(self, person: Person, *, fresh: bool = True) -> FlaskClient:
        return _client(self.app, person, fresh=fresh)

    def analysis(self, status: AnalysisStatus = AnalysisStatus.DRAFT) -> SecurityAnalysis:
        row = SecurityAnalysis(
            unit_id=self.unit.id,
            cycle_year=2026,
            title="Analys 2026",
            status=status,
            outcome=AnalysisOutcome.NOT_SENSITIVE,
            cat_essential_services=True,
            created_by_id=self.samordnare.id,
        )
        if status != AnalysisStatus.DRAFT:
            row.submitted_by_id = self.samordnare.id
            row.submitted_at = dt.datetime.now(dt.UTC)
        if status == AnalysisStatus.APPROVED:
            row.decided_by_id = self.chef.id
            row.decided_at = dt.datetime.now(dt.UTC)
        db.add(row)
        db.commit()
        return row


FOREIGN_FIELDS = ("unit_id", "created_by_id", "submitted_by_id", "decided_by_id")


def test_asset_forms_cannot_set_unit_creator_archiving_or_classification(app: Flask) -> None:
    world = CaseWorld(app)
    client = world.client(world.samordnare)
    form = {
        "type": "information",
        "name": "Objekt Kastanj",
        "damage_level": "ringa",
        "status": "normal",
        "owner": "Kulturdirektören",
        "reference": "",
        "location": "",
        "risk_assessed_on": "",
        "note": "",
        "marking": "0",
    }
    extra = {
        "unit_id": str(world.other_unit.id),
        "created_by_id": str(world.other.id),
        "is_archived": "y",
        "classification": "1",
        "id": str(uuid.uuid4()),
    }
    path = f"/enheter/{world.unit.id}/objekt/nytt"
    response = _post(client, path, {**form, **extra, "version": "9"})
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    asset_id = uuid.UUID(response.headers["Location"].rsplit("/", 1)[-1])
    assert str(asset_id) != extra["id"]
    created = _get(ProtectedAsset, asset_id)
    assert created.unit_id == world.unit.id and created.created_by_id == world.samordnare.id
    assert not created.is_archived and created.classification == 0 and created.version == 1
    assert _rows(select(ProtectedAsset).where(ProtectedAsset.unit_id == world.other_unit.id)) == []

    path = f"/objekt/{asset_id}/andra"
    response = _post(client, path, {**form, **extra, "name": "Objekt Ek", "version": str(created.version)})
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    edited = _get(ProtectedAsset, asset_id)
    assert edited.name == "Objekt Ek"
    assert edited.unit_id == world.unit.id and edited.created_by_id == world.samordnare.id
    assert not edited.is_archived and edited.classification == 0
    updated = _events("asset.updated", target_id=str(asset_id))
    assert len(updated) == 1 and '"changed":["name"]' in updated[0].payload


def test_analysis_forms_cannot_set_status_unit_or_people(app: Flask) -> None:
    world = CaseWorld(app)
    client = world.client(world.samordnare)
    extra = {
        "status": "faststalld",
        "unit_id": str(world.other_unit.id),
        "created_by_id": str(world.other.id),
        "submitted_by_id": str(world.other.id),
        "decided_by_id": str(world.chef.id),
        "classification": "1",
        "version_no": "7",
        "id": str(uuid.uuid4()),
    }
    path = f"/enheter/{world.unit.id}/analyser/ny"
    response = _post(client, path, {"title": "Analys 2026", "cycle_year": "2026", "based_on": "", **extra})
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    analysis_id = uuid.UUID(response.headers["Location"].rsplit("/", 1)[-1])
    created = _get(SecurityAnalysis, analysis_id)
    assert created.status == AnalysisStatus.DRAFT and created.unit_id == world.unit.id
    assert created.created_by_id == world.samordnare.id
    assert created.submitted_by_id is None and created.decided_by_id is None
    assert created.classification == 0 and created.version_no == 1

    path = f"/analyser/{analysis_id}/andra"
    response = _post(
        client,
        path,
        {
            "title": "Ny rubrik",
            "outcome": "ej_klar",
            "marking": "0",
            "version": str(created.version),
            **extra,
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    edited = _get(SecurityAnalysis, analysis_id)
    assert edited.title == "Ny rubrik" and edited.status == AnalysisStatus.DRAFT
    for name in (*FOREIGN_FIELDS, "classification", "version_no", "cycle_year"):
        assert getattr(edited, name) == getattr(created, name), name
    # The one transition is the draft's creation; no field of the form moved it anywhere.
    transitions = _events("analysis.transition", target_id=str(analysis_id))
    assert len(transitions) == 1 and '"to":"utkast"' in transitions[0].payload


def test_applicability_form_cannot_record_for_another_unit_or_person(app: Flask) -> None:
    world = CaseWorld(app)
    client = world.client(world.samordnare)
    today = dt.date.today().isoformat()
    response = _post(
        client,
        f"/enheter/{world.unit.id}/tillamplighet",
        {
            "outcome": "ja",
            "decided_on": today,
            "decided_by": "Nämnden",
            "reference": "KN 2026/17",
            "reasoning": "",
            "marking": "0",
            "unit_id": str(world.other_unit.id),
            "recorded_by_id": str(world.other.id),
            "id": str(uuid.uuid4()),
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    rows = _rows(select(ApplicabilityAssessment))
    assert len(rows) == 1
    assert rows[0].unit_id == world.unit.id and rows[0].recorded_by_id == world.samordnare.id


# --- workflow skipping --------------------------------------------------------------------------


def _transitions(analysis_id: uuid.UUID) -> list[AnalysisTransition]:
    return _rows(select(AnalysisTransition).where(AnalysisTransition.analysis_id == analysis_id))


@pytest.mark.parametrize(
    ("status", "step", "who"),
    [
        (AnalysisStatus.DRAFT, "faststall", "chef"),
        (AnalysisStatus.DRAFT, "aterremittera", "chef"),
        (AnalysisStatus.RETURNED, "faststall", "chef"),
        (AnalysisStatus.SUBMITTED, "skicka-in", "samordnare"),
        (AnalysisStatus.APPROVED, "skicka-in", "samordnare"),
        (AnalysisStatus.APPROVED, "faststall", "chef"),
        (AnalysisStatus.APPROVED, "aterremittera", "chef"),
    ],
)
def test_a_workflow_step_out_of_order_is_refused_and_changes_nothing(
    app: Flask, status: AnalysisStatus, step: str, who: str
) -> None:
    world = CaseWorld(app)
    analysis = world.analysis(status)
    before = _get(SecurityAnalysis, analysis.id)
    db.close()
    last_seq = db.scalar(select(func.max(AuditEvent.seq)))
    db.close()
    client = world.client(world.chef if who == "chef" else world.samordnare)
    response = _post(
        client,
        f"/analyser/{analysis.id}/{step}",
        {"version": str(before.version), "comment": "Komplettera.", "attested": "y"},
        form_path=f"/analyser/{analysis.id}",
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200, body[:2000]
    assert re.search(r"Analysen är (inte inskickad för granskning|redan inskickad eller fastställd)", body)
    after = _get(SecurityAnalysis, analysis.id)
    assert after.status == status and after.version == before.version
    assert (after.submitted_by_id, after.decided_by_id) == (before.submitted_by_id, before.decided_by_id)
    assert _transitions(analysis.id) == []
    # Nothing but the reads of the analysis page went into the trail.
    added = _rows(select(AuditEvent.event).where(AuditEvent.seq > last_seq))
    assert set(added) <= {"analysis.read"}, added


# --- CRLF in headers and redirect targets ----------------------------------------------------


@pytest.mark.parametrize("breaker", ["\r\n", "\n", "\r"])
@pytest.mark.parametrize("where", ["to", "subject"])
def test_mail_headers_refuse_line_breaks(app: Flask, breaker: str, where: str) -> None:
    from sakskydd.notifications.mail import build_message, send_mail

    values = {"to": "anna@example.se", "subject": "Hej"}
    values[where] += f"{breaker}Bcc: spion@example.com"
    with pytest.raises(ValueError, match="line breaks"):
        build_message(values["to"], values["subject"], "Text")
    with pytest.raises(ValueError, match="line breaks"):
        send_mail(values["to"], values["subject"], "Text")
    assert _outbox(app) == []
    # The body may hold line breaks; the headers of a good message hold no injected field.
    message = build_message("anna@example.se", "Hej", f"Rad ett{breaker}Bcc: spion@example.com")
    assert message["Bcc"] is None and message["To"] == "anna@example.se"


def test_an_injected_address_never_reaches_an_account_or_the_outbox(app: Flask) -> None:
    operator, _admin, client = _admin_world(app)
    hostile = "anna@example.se\r\nBcc: spion@example.com"
    users_before = _count(User)
    response = _post(
        client,
        "/admin/anvandare/ny",
        {"username": "anna", "display_name": "Anna", "email": hostile, "operator": str(operator.id)},
    )
    assert response.status_code == 200 and "Ange en giltig e-postadress" in response.get_data(as_text=True)
    assert _count(User) == users_before and _outbox(app) == []
    assert _events("account.created") == []
    target = make_user(app, operator)
    before = _get(User, target.id)
    response = _post(
        client,
        f"/admin/anvandare/{target.id}/redigera",
        {"display_name": "Anna", "email": hostile, "version": str(before.version)},
    )
    assert response.status_code == 200
    assert _get(User, target.id).email == before.email
    assert _events("account.updated") == []


REDIRECT_PROBES = (
    "/konto\r\nSet-Cookie: evil=1",
    "/\nLocation: https://evil.example/",
    "\r\n/konto",
    "//evil.example/",
    "https://evil.example/",
    "/\\evil.example",
    "/%0d%0aSet-Cookie:%20evil=1",
)


def _assert_safe_location(response, fallback: str) -> None:  # type: ignore[no-untyped-def]
    location = response.headers["Location"]
    assert "\r" not in location and "\n" not in location
    assert "evil" not in location or location.startswith("/%0d%0a")
    assert not any("evil" in value for value in response.headers.getlist("Set-Cookie"))
    assert location == fallback or location.startswith("/%0d%0a"), location


@pytest.mark.parametrize("target", REDIRECT_PROBES)
def test_login_and_step_up_redirect_only_to_safe_local_paths(app: Flask, target: str) -> None:
    person = make_user(app, make_operator())
    client = app.test_client()
    token = csrf_token(client, "/logga-in")
    client.post(
        "/logga-in",
        data={
            "csrf_token": token,
            "username": person.user.username,
            "password": person.password,
            "next": target,
        },
    )
    token = csrf_token(client, "/logga-in/kod")
    response = client.post("/logga-in/kod", data={"csrf_token": token, "code": next_code(person)})
    assert response.status_code == 303
    _assert_safe_location(response, "/")
    # Already signed in, the login page sends the user on: also only to a local path.
    response = client.get("/logga-in", query_string={"next": target})
    assert response.status_code == 303
    _assert_safe_location(response, "/")
    token = csrf_token(client, "/konto/bekrafta")
    response = client.post(
        "/konto/bekrafta",
        data={"csrf_token": token, "password": person.password, "code": next_code(person), "next": target},
    )
    assert response.status_code == 303
    _assert_safe_location(response, "/konto")
    assert len(_events("auth.stepup.success", target_id=str(person.id))) == 1


# --- template injection and stored XSS in the administration ------------------------------------


def test_admin_names_are_neither_templates_nor_markup(app: Flask) -> None:
    operator, _admin, client = _admin_world(app)
    hostile = "{{ 7*7 }}{% raw %}<script>alert(1)</script>"
    response = _post(
        client,
        "/admin/anvandare/ny",
        {
            "username": "mallprov",
            "display_name": hostile,
            "email": "mall@example.se",
            "operator": str(operator.id),
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    user = _rows(select(User).where(User.username == "mallprov"))[0]
    assert user.display_name == hostile
    unit_path = f"/admin/verksamhetsutovare/{operator.id}/enheter/ny"
    response = _post(client, unit_path, {"name": hostile, "kind": "facknamnd"})
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    for path in (
        "/admin/anvandare",
        f"/admin/anvandare/{user.id}",
        f"/admin/verksamhetsutovare/{operator.id}/enheter",
    ):
        body = client.get(path).get_data(as_text=True)
        assert "{{ 7*7 }}" in body, path
        assert "<script>alert(1)" not in body and "&lt;script&gt;alert(1)" in body, path
    # The activation e-mail is plain text: the name is there as typed, nothing is evaluated.
    mails = _outbox(app)
    assert len(mails) == 1
    message = BytesParser(policy=policy.default).parsebytes(mails[0].read_bytes())
    assert message.get_content_type() == "text/plain"
    greeting = message.get_content().splitlines()[0]
    assert "{{ 7*7 }}" in greeting and "49" not in greeting


# --- clickjacking and CSP on error pages and static files ----------------------------------------


def _assert_frame_headers(response) -> None:  # type: ignore[no-untyped-def]
    assert response.headers["X-Frame-Options"] == "DENY"
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_clickjacking_headers_on_every_error_page_and_static_file(app: Flask) -> None:
    person = make_user(app, make_operator())
    client = _client(app, person)
    anonymous = app.test_client()
    cases = {
        400: anonymous.get("/logga-in?x=%00"),
        401: anonymous.post(
            "/konto/sessioner/avsluta-andra", data={"csrf_token": csrf_token(anonymous, "/logga-in")}
        ),
        403: client.get("/admin/anvandare"),
        404: client.get("/finns-inte"),
        405: client.get("/logga-ut"),
        413: anonymous.post("/logga-in", data={"password": "x" * (2 * 1024 * 1024)}),
        200: anonymous.get("/static/css/app.css"),
    }
    csrf_missing = client.post("/konto/sessioner/avsluta-andra", data={})
    assert csrf_missing.status_code == 400
    for code, response in {**cases, 0: csrf_missing}.items():
        if code:
            assert response.status_code == code
        _assert_frame_headers(response)
        if code != 200:
            assert "Traceback" not in response.get_data(as_text=True)


def test_clickjacking_headers_and_a_generic_page_on_a_500(settings: Settings, caplog) -> None:  # type: ignore[no-untyped-def]
    from sakskydd import create_app
    from sakskydd.authz import permissions as perm
    from sakskydd.authz.enforcement import ACTION_ATTR

    application = create_app(settings)

    detail = "secret internal detail " + uuid.uuid4().hex

    def boom() -> str:
        raise RuntimeError(detail)

    setattr(boom, ACTION_ATTR, perm.HOME_VIEW)
    application.add_url_rule("/boom", "boom", boom)
    try:
        with application.app_context():
            person = make_user(application, make_operator())
            client = application.test_client()
            session_cookie(client, application, person)
            with caplog.at_level(logging.ERROR, logger="sakskydd.errors"):
                response = client.get("/boom")
            body = response.get_data(as_text=True)
            assert response.status_code == 500
            assert "Tekniskt fel" in body and response.headers["X-Request-Id"] in body
            assert detail not in body and "Traceback" not in body
            _assert_frame_headers(response)
            assert response.headers["Cache-Control"] == "no-store"
            assert "RuntimeError" in caplog.text and detail not in caplog.text
    finally:
        application.extensions["sakskydd.db"].dispose()


# --- the audit insert fails inside a web request ------------------------------------------------


def test_a_failing_audit_insert_rolls_back_the_web_change(app: Flask, caplog) -> None:  # type: ignore[no-untyped-def]
    operator, _admin, client = _admin_world(app)
    target = make_user(app, operator)
    before = _get(User, target.id)
    path = f"/admin/anvandare/{target.id}/redigera"
    token = csrf_token(client, path)
    db.close()
    seq = db.scalar(select(AuditHead.seq))
    # Someone wrote event seq+1 behind the head's back: the next append collides.
    db.execute(
        AuditEvent.__table__.insert().values(
            seq=seq + 1,
            occurred_at=dt.datetime.now(dt.UTC),
            event="account.updated",
            outcome="success",
            payload="{}",
            entry_hash=bytes(32),
            mac=bytes(32),
        )
    )
    db.commit()
    db.close()
    with caplog.at_level(logging.ERROR, logger="sakskydd.errors"):
        response = client.post(
            path,
            data={
                "csrf_token": token,
                "display_name": "Ska inte sparas",
                "email": "inte@example.se",
                "version": str(before.version),
            },
        )
    assert response.status_code == 500
    assert "Tekniskt fel" in response.get_data(as_text=True)
    after = _get(User, target.id)
    assert (after.display_name, after.email, after.version) == (
        before.display_name,
        before.email,
        before.version,
    )
    assert _get(AuditHead, 1).seq == seq
    assert [e.payload for e in _events("account.updated")] == ["{}"]  # only the planted row
    assert "IntegrityError" in caplog.text or "AuditWriteError" in caplog.text
    # The session survived the failed request (its row is saved separately).
    assert client.get("/admin/anvandare").status_code == 200


# --- configuration ----------------------------------------------------------------------------


STRONG = "x9" * 8 + "Qk3vR7mZp2Lw8YtB5nHc1JdF6gS4aE0u"


@pytest.mark.parametrize(
    "env",
    [
        {"SAKSKYDD_SECRET_KEY": "a" * 64},  # long but without entropy
        {"SAKSKYDD_SECRET_KEY": "abababababababababababababababababababab"},
        {"SAKSKYDD_SECRET_KEY": STRONG, "SAKSKYDD_ARGON2_PROFILE": "test"},
        {"SAKSKYDD_SECRET_KEY": STRONG, "SAKSKYDD_TRUSTED_PROXIES": "all"},
        {"SAKSKYDD_SECRET_KEY": STRONG, "SAKSKYDD_ANALYSIS_INTERVAL_MONTHS": "25"},
        {"SAKSKYDD_SECRET_KEY": STRONG, "SAKSKYDD_VETTING_RECHECK_YEARS": "6"},
        {"SAKSKYDD_SECRET_KEY": STRONG, "SAKSKYDD_RETENTION_VETTING_CLOSED_DAYS": "0"},
        {"SAKSKYDD_SECRET_KEY": STRONG, "SAKSKYDD_RETENTION_VETTING_NOT_APPROVED_DAYS": "ett år"},
        {"SAKSKYDD_SECRET_KEY": STRONG, "SAKSKYDD_ENV": "staging"},
    ],
)
def test_weak_production_configuration_is_refused(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        Settings.from_env({"SAKSKYDD_ENV": "production", **env})


def test_the_running_app_has_debug_off(app: Flask, client: FlaskClient) -> None:
    assert app.debug is False and app.config["DEBUG"] is False
    assert app.config["SAKSKYDD_SETTINGS"].debug is False
    body = client.get("/finns-inte").get_data(as_text=True)
    assert "Werkzeug Debugger" not in body and "__debugger__" not in body


def test_plain_text_mail_is_not_html_escaped_but_pages_are(app) -> None:  # type: ignore[no-untyped-def]
    from types import SimpleNamespace

    from flask import render_template

    body = render_template(
        "mail/asset_notice.txt",
        user=SimpleNamespace(display_name="Åsa & Co"),
        asset_name="Kyl & frys <A>",
        unit_name="Nämnd",
        change={},
        STATUS_LABELS={},
        DAMAGE_LEVEL_LABELS={},
        link="https://localhost/notiser/1?a=1&b=2",
        sent_at=None,
    )
    assert "Kyl & frys <A>" in body and "?a=1&b=2" in body and "&amp;" not in body
    with app.test_request_context():
        page = render_template("errors/error.html", code=400, title="<b>x</b>", text="a & b", request_id="-")
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "a &amp; b" in page
