"""The asset register: register, list, edit, holders, notices to holders and acknowledgements."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from factories import Person, csrf_token, make_operator, make_unit, make_user, session_cookie
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select, text, update

from sakskydd.accounts.models import AssignmentStatus, Role, RoleAssignment, User
from sakskydd.assets import counts, services
from sakskydd.assets.models import (
    AssetCount,
    AssetHolder,
    AssetRevision,
    AssetStatus,
    AssetType,
    HolderNotice,
    ProtectedAsset,
)
from sakskydd.audit.models import AuditEvent
from sakskydd.classification import DamageLevel, ceiling_message
from sakskydd.db import utcnow
from sakskydd.extensions import db
from sakskydd.organisations.models import OrgUnit
from sakskydd.oversight.figures import operator_figures

pytestmark = pytest.mark.db

NOTE = "Nyckeln till arkivskåp 3 hämtas hos vaktmästeriet"


class World:
    """A kommun with the asset's unit (A), a holder unit (B) and a foreign unit (C)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.city = make_operator()
        self.unit = make_unit(self.city, "Kulturnämnden")
        self.holder_unit = make_unit(self.city, "Stadsarkivet")
        self.foreign_unit = make_unit(self.city, "Idrottsnämnden")
        self.samordnare = self.person("samordnare", [(Role.SAMORDNARE, self.unit)])
        self.holder_samordnare = self.person("arkivsamordnare", [(Role.SAMORDNARE, self.holder_unit)])
        self.foreign_samordnare = self.person("idrottsamordnare", [(Role.SAMORDNARE, self.foreign_unit)])
        self.holder_user = self.person("innehavare", [])
        self.chef = self.person("chef", [(Role.CHEF, self.city)])

    def person(self, name: str, roles: list, clearance: int = 0) -> Person:  # type: ignore[type-arg]
        person = make_user(self.app, self.city, roles=roles, clearance=clearance)
        person.user.display_name = name.capitalize()
        person.user.email = f"{name}@example.se"
        db.commit()
        return person

    def client(self, person: Person) -> FlaskClient:
        client = self.app.test_client()
        session_cookie(client, self.app, person)
        return client


@pytest.fixture
def world(app: Flask) -> World:
    return World(app)


def _form(**overrides: str) -> dict[str, str]:
    data = {
        "type": "information",
        "name": "Objekt Kastanj",
        "damage_level": "ringa",
        "status": "normal",
        "owner": "Kulturdirektören",
        "reference": "KU 2026/0042",
        "location": "Registraturen",
        "risk_assessed_on": "",
        "note": "",
        "marking": "0",
    }
    data.update(overrides)
    return data


def _create(client: FlaskClient, unit: OrgUnit, **overrides: str) -> uuid.UUID:
    path = f"/enheter/{unit.id}/objekt/nytt"
    data = _form(**overrides) | {"csrf_token": csrf_token(client, path)}
    response = client.post(path, data=data)
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    match = re.fullmatch(r"/objekt/([0-9a-f-]{36})", response.headers["Location"])
    assert match
    return uuid.UUID(match.group(1))


def _current_version(asset_id: uuid.UUID) -> int:
    db.rollback()
    return int(db.scalar(select(ProtectedAsset.version).where(ProtectedAsset.id == asset_id)))  # type: ignore[arg-type]


def _edit(client: FlaskClient, asset_id: uuid.UUID, version: int | None = None, **overrides: str):  # type: ignore[no-untyped-def]
    path = f"/objekt/{asset_id}/andra"
    token = csrf_token(client, path)
    data = _form(**overrides) | {
        "csrf_token": token,
        "version": str(version if version is not None else _current_version(asset_id)),
    }
    return client.post(path, data=data)


def _add_holder(client: FlaskClient, asset_id: uuid.UUID, key: str) -> None:
    token = csrf_token(client, f"/objekt/{asset_id}")
    response = client.post(f"/objekt/{asset_id}/innehavare", data={"csrf_token": token, "holder": key})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/objekt/{asset_id}"


def _outbox(app: Flask) -> list:  # type: ignore[type-arg]
    folder = Path(app.config["SAKSKYDD_SETTINGS"].instance_path) / "outbox"
    parser = BytesParser(policy=policy.default)
    return [parser.parsebytes(path.read_bytes()) for path in sorted(folder.glob("*.eml"))]


def _events(name: str) -> list[AuditEvent]:
    db.rollback()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.event == name).order_by(AuditEvent.seq)))


def _row_count(html: str) -> int:
    return len(re.findall(r'<td><a href="/objekt/', html))


def _insert_assets(world: World, count: int, **fields: object) -> list[ProtectedAsset]:
    rows = []
    for i in range(count):
        values = {
            "type": AssetType.INFORMATION,
            "name": f"Objekt {i:02d}",
            "damage_level": DamageLevel.MINOR,
            "status": AssetStatus.NORMAL,
            "owner": "Förvaltningschefen",
        } | fields
        row = ProtectedAsset(unit_id=world.unit.id, created_by_id=world.samordnare.id, **values)
        db.add(row)
        rows.append(row)
    db.commit()
    return rows


# --- register, list, search ---------------------------------------------------------------------


def test_samordnare_registers_an_asset_and_reads_it(world: World) -> None:
    client = world.client(world.samordnare)
    new_page = client.get(f"/enheter/{world.unit.id}/objekt/nytt").get_data(as_text=True)
    for label in ("Informationssystem/it-tjänst", "Personal/befattning", "Objekt/egendom", "Skyddsobjekt"):
        assert label in new_page
    assert "Ange ett neutralt namn som inte avslöjar vad som skyddas" in new_page

    asset_id = _create(client, world.unit, note=NOTE, attested="y")
    asset = db.get(ProtectedAsset, asset_id)
    assert asset is not None
    assert (asset.name, asset.owner, asset.unit_id, asset.created_by_id) == (
        "Objekt Kastanj",
        "Kulturdirektören",
        world.unit.id,
        world.samordnare.id,
    )
    assert asset.note == NOTE and asset.attested is True
    db.rollback()

    page = client.get(f"/objekt/{asset_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Objekt Kastanj" in html and "KU 2026/0042" in html and NOTE in html
    created = _events("asset.created")
    assert len(created) == 1
    assert "note" in json.loads(created[0].payload)["changed"]
    reads = _events("asset.read")
    assert (
        len(reads) == 1 and reads[0].target_id == str(asset_id) and reads[0].actor_id == world.samordnare.id
    )

    listing = client.get(f"/enheter/{world.unit.id}/objekt").get_data(as_text=True)
    assert "Objekt Kastanj" in listing and "Nytt objekt" in listing


def test_empty_register_says_so(world: World) -> None:
    html = world.client(world.samordnare).get(f"/enheter/{world.unit.id}/objekt").get_data(as_text=True)
    assert "har inga registrerade skyddsvärda objekt ännu" in html


def test_list_searches_filters_sorts_and_pages(world: World) -> None:
    _insert_assets(world, 28)
    _insert_assets(world, 1, name="Serverhall Norr", owner="IT-chefen", type=AssetType.PREMISES)
    _insert_assets(world, 1, name="Lönesystemet", reference="DNR-77", type=AssetType.SYSTEM)
    _insert_assets(
        world, 1, name="Ärende Ek", damage_level=DamageLevel.SERIOUS, status=AssetStatus.PROTECTED_OBJECT
    )
    _insert_assets(world, 1, name="Gammalt objekt", is_archived=True)
    client = world.client(world.samordnare)
    base = f"/enheter/{world.unit.id}/objekt"

    first = client.get(base).get_data(as_text=True)
    assert _row_count(first) == 25
    assert "31 objekt" in first and "Sida 1 av 2" in first
    second = client.get(base + "?sida=2").get_data(as_text=True)
    assert _row_count(second) == 6
    assert "Gammalt objekt" not in first + second

    assert _row_count(client.get(base + "?q=it-chefen").get_data(as_text=True)) == 1
    assert "Lönesystemet" in client.get(base + "?q=dnr-77").get_data(as_text=True)
    assert _row_count(client.get(base + "?q=50%25").get_data(as_text=True)) == 0
    filtered = client.get(base + "?typ=lokal").get_data(as_text=True)
    assert _row_count(filtered) == 1 and "Serverhall Norr" in filtered
    assert _row_count(client.get(base + "?status=skyddsobjekt").get_data(as_text=True)) == 1
    assert _row_count(client.get(base + "?skadeniva=allvarlig").get_data(as_text=True)) == 1
    by_level = client.get(base + "?sortera=skadeniva").get_data(as_text=True)
    assert by_level.index("Ärende Ek") < by_level.index("Objekt 00")
    system_row = client.get(base + "?typ=informationssystem").get_data(as_text=True)
    assert "Saknas" in system_row

    archived = client.get(base + "?visa=arkiverade").get_data(as_text=True)
    assert _row_count(archived) == 1 and "Gammalt objekt" in archived
    assert "Inga objekt matchar" in client.get(base + "?q=finns-inte").get_data(as_text=True)
    # Unknown sort keys and filters fall back to the defaults instead of reaching SQL.
    hostile = client.get(base + "?sortera=name;DROP TABLE protected_asset&typ=x'&sida=-4")
    assert hostile.status_code == 200 and _row_count(hostile.get_data(as_text=True)) == 25


def test_names_are_escaped(world: World) -> None:
    client = world.client(world.samordnare)
    asset_id = _create(client, world.unit, name="<script>alert(1)</script>")
    html = client.get(f"/objekt/{asset_id}").get_data(as_text=True)
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html


# --- the storage guard and encryption -----------------------------------------------------------


def test_note_without_attestation_is_refused_and_nothing_saved(world: World) -> None:
    client = world.client(world.samordnare)
    path = f"/enheter/{world.unit.id}/objekt/nytt"
    response = client.post(path, data=_form(note=NOTE) | {"csrf_token": csrf_token(client, path)})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Du måste intyga att fritexten inte innehåller" in html
    assert NOTE in html and "Objekt Kastanj" in html  # nothing the user typed is lost
    assert db.scalar(select(func.count()).select_from(ProtectedAsset)) == 0
    assert _events("asset.created") == []


def test_marking_above_the_ceiling_is_refused_with_the_ceiling_message(world: World) -> None:
    client = world.client(world.samordnare)
    path = f"/enheter/{world.unit.id}/objekt/nytt"
    data = _form(note="Text", attested="y", marking="1") | {"csrf_token": csrf_token(client, path)}
    response = client.post(path, data=data)
    assert response.status_code == 200
    assert ceiling_message(1, 0) in response.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(ProtectedAsset)) == 0


def test_service_applies_the_storage_guard_without_the_form(world: World) -> None:
    from sakskydd.classification import ClassificationAboveCeiling
    from sakskydd.records import MissingAttestation

    values = {
        "type": "information",
        "name": "Direkt",
        "damage_level": "ringa",
        "status": "normal",
        "owner": "Ägare",
        "reference": None,
        "location": None,
        "risk_assessed_on": None,
        "note": NOTE,
        "classification": 0,
    }
    user = db.get(User, world.samordnare.id)
    with pytest.raises(MissingAttestation):
        services.create_asset(user, world.unit, values, attested=False)
    with pytest.raises(ClassificationAboveCeiling):
        services.create_asset(user, world.unit, values | {"classification": 1}, attested=True)
    with pytest.raises(ValueError, match="not assignable"):
        services.create_asset(user, world.unit, values | {"unit_id": world.foreign_unit.id}, attested=True)
    db.rollback()


def test_note_is_encrypted_at_rest(world: World) -> None:
    client = world.client(world.samordnare)
    asset_id = _create(client, world.unit, note=NOTE, attested="y")
    db.rollback()
    raw = db.execute(
        text("SELECT note FROM protected_asset WHERE name = :name"), {"name": "Objekt Kastanj"}
    ).scalar_one()
    assert raw
    raw_bytes = bytes(raw) if not isinstance(raw, str) else raw.encode()
    assert NOTE.encode() not in raw_bytes and b"arkivsk" not in raw_bytes
    db.rollback()
    assert db.get(ProtectedAsset, asset_id).note == NOTE  # type: ignore[union-attr]
    db.rollback()


def test_risk_assessment_date_only_for_systems(world: World) -> None:
    client = world.client(world.samordnare)
    path = f"/enheter/{world.unit.id}/objekt/nytt"
    data = _form(risk_assessed_on="2026-01-15") | {"csrf_token": csrf_token(client, path)}
    response = client.post(path, data=data)
    assert response.status_code == 200
    assert "bara för informationssystem och it-tjänster" in response.get_data(as_text=True)
    response = client.post(path, data=data | {"risk_assessed_on": "15/1"})
    assert "Ange ett datum som ÅÅÅÅ-MM-DD." in response.get_data(as_text=True)
    asset_id = _create(client, world.unit, type="informationssystem", risk_assessed_on="2026-01-15")
    assert "2026-01-15" in client.get(f"/objekt/{asset_id}").get_data(as_text=True)
    assert "2026-01-15" in client.get(f"/enheter/{world.unit.id}/objekt").get_data(as_text=True)


# --- edit, history, conflicts -------------------------------------------------------------------


def test_edit_writes_history_and_an_audit_event_without_the_note(world: World) -> None:
    client = world.client(world.samordnare)
    asset_id = _create(client, world.unit)
    response = _edit(client, asset_id, owner="Stadsarkivarien", note=NOTE, attested="y", status="skyddsvart")
    assert response.status_code == 303
    db.rollback()
    revisions = list(db.scalars(select(AssetRevision).where(AssetRevision.asset_id == asset_id)))
    assert len(revisions) == 1
    assert revisions[0].changes == {
        "owner": ["Kulturdirektören", "Stadsarkivarien"],
        "status": ["normal", "skyddsvart"],
        "note": None,
    }
    assert revisions[0].actor_id == world.samordnare.id
    updated = _events("asset.updated")
    assert json.loads(updated[-1].payload)["changed"] == ["note", "owner", "status"]

    form_page = client.get(f"/objekt/{asset_id}/andra").get_data(as_text=True)
    assert NOTE in form_page and "Skyddsvärt</option>" in form_page
    assert re.search(r'<input id="attested" name="attested" type="checkbox" value="y">', form_page)
    html = client.get(f"/objekt/{asset_id}").get_data(as_text=True)
    assert "Anteckning ändrad" in html
    assert "Informationsägare: Kulturdirektören → Stadsarkivarien" in html
    assert "Status: Normal → Skyddsvärt" in html

    # Saving the same values again changes nothing and writes nothing.
    assert (
        _edit(
            client, asset_id, owner="Stadsarkivarien", note=NOTE, attested="y", status="skyddsvart"
        ).status_code
        == 303
    )
    db.rollback()
    assert db.scalar(select(func.count()).where(AssetRevision.asset_id == asset_id)) == 1

    db.rollback()
    for event in db.scalars(select(AuditEvent)):
        assert NOTE not in event.payload and "arkivskåp" not in event.payload
    db.rollback()


def test_stale_edit_is_a_conflict_that_keeps_the_input(world: World) -> None:
    first = world.client(world.samordnare)
    second = world.client(world.person("ersattare", [(Role.ERSATTARE, world.unit)]))
    asset_id = _create(first, world.unit)
    old_version = _current_version(asset_id)
    assert _edit(second, asset_id, owner="Ny ägare från kollegan").status_code == 303

    response = _edit(first, asset_id, version=old_version, name="Mitt nya namn", owner="Min ägare")
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "Någon annan har ändrat uppgifterna under tiden" in html
    assert 'value="Mitt nya namn"' in html and 'value="Min ägare"' in html
    assert "Ny ägare från kollegan" in html  # the current values are shown
    db.rollback()
    assert db.get(ProtectedAsset, asset_id).owner == "Ny ägare från kollegan"  # type: ignore[union-attr]
    db.rollback()

    new_version = re.search(r'name="version" type="hidden" value="(\d+)"', html) or re.search(
        r'id="version" name="version" type="hidden" value="(\d+)"', html
    )
    assert new_version and int(new_version.group(1)) == _current_version(asset_id)
    resubmit = _edit(
        first, asset_id, version=int(new_version.group(1)), name="Mitt nya namn", owner="Min ägare"
    )
    assert resubmit.status_code == 303


# --- holders and notices ------------------------------------------------------------------------


def test_status_change_reaches_user_and_unit_holders_who_acknowledge(world: World, app: Flask) -> None:
    client = world.client(world.samordnare)
    asset_id = _create(client, world.unit, note=NOTE, attested="y")
    # A former samordnare of the holder unit is not reached.
    former = world.person("tidigare", [])
    db.add(
        RoleAssignment(
            user_id=former.id,
            role=Role.SAMORDNARE,
            unit_id=world.holder_unit.id,
            status=AssignmentStatus.REVOKED,
        )
    )
    db.commit()
    _add_holder(client, asset_id, f"user:{world.holder_user.id}")
    _add_holder(client, asset_id, f"unit:{world.holder_unit.id}")
    assert _outbox(app) == []

    response = _edit(client, asset_id, status="skyddsobjekt", note=NOTE, attested="y")
    assert response.status_code == 303
    db.rollback()
    notices = list(db.scalars(select(HolderNotice).where(HolderNotice.asset_id == asset_id)))
    assert {n.user_id for n in notices} == {world.holder_user.id, world.holder_samordnare.id}
    sent = _events("asset.notice_sent")
    assert len(sent) == 1 and json.loads(sent[0].payload)["detail"] == {"recipients": 2}

    mails = {m["To"]: m for m in _outbox(app)}
    assert set(mails) == {"innehavare@example.se", "arkivsamordnare@example.se"}
    by_user = {n.user_id: n for n in notices}
    body = mails["innehavare@example.se"].get_content()
    assert "Objekt Kastanj" in body and "Kulturnämnden" in body
    assert "Normal → Skyddsobjekt" in body
    assert f"https://localhost/notiser/{by_user[world.holder_user.id].id}" in body
    assert NOTE not in body and "KU 2026/0042" not in body and "Kulturdirektören" not in body

    # The holder opens the notice and acknowledges it; a second submit changes nothing.
    holder = world.client(world.holder_user)
    notice_path = f"/notiser/{by_user[world.holder_user.id].id}"
    page = holder.get(notice_path).get_data(as_text=True)
    assert "Jag har tagit del av ändringen" in page and "Normal → Skyddsobjekt" in page
    token = csrf_token(holder, notice_path)
    assert holder.post(notice_path + "/kvittera", data={"csrf_token": token}).status_code == 303
    db.rollback()
    acknowledged_at = db.scalar(
        select(HolderNotice.acknowledged_at).where(HolderNotice.id == by_user[world.holder_user.id].id)
    )
    assert acknowledged_at is not None
    assert "Du kvitterade ändringen" in holder.get(notice_path).get_data(as_text=True)
    again = holder.post(notice_path + "/kvittera", data={"csrf_token": token})
    assert again.status_code == 303
    assert "redan kvitterat" in holder.get(notice_path).get_data(as_text=True)
    db.rollback()
    assert (
        db.scalar(
            select(HolderNotice.acknowledged_at).where(HolderNotice.id == by_user[world.holder_user.id].id)
        )
        == acknowledged_at
    )
    assert len(_events("asset.notice_acknowledged")) == 1

    # The samordnare sees who has and who has not acknowledged.
    detail = client.get(f"/objekt/{asset_id}").get_data(as_text=True)
    rows = re.findall(r"<tr>\s*<td>(\w+)</td>\s*<td>Status: Normal → Skyddsobjekt</td>.*?</tr>", detail, re.S)
    assert sorted(rows) == ["Arkivsamordnare", "Innehavare"]
    section = detail[detail.index("Meddelanden och kvittenser") :]
    holder_row = re.search(r"<td>Innehavare</td>.*?</tr>", section, re.S).group(0)  # type: ignore[union-attr]
    waiting_row = re.search(r"<td>Arkivsamordnare</td>.*?</tr>", section, re.S).group(0)  # type: ignore[union-attr]
    assert "Inte ännu" not in holder_row and "UTC" in holder_row
    assert "Inte ännu" in waiting_row
    assert "1 av 2 meddelanden är inte kvitterade" in detail

    open_for_samordnare = services.open_notices_for(world.holder_samordnare.id, 10)
    assert [n.asset.name for n in open_for_samordnare] == ["Objekt Kastanj"]
    assert services.open_notices_for(world.holder_user.id, 10) == []
    assert [n.user_id for n in services.unacknowledged_notices(asset_id)] == [world.holder_samordnare.id]  # type: ignore[arg-type]
    db.rollback()


def test_a_person_reached_twice_gets_one_notice(world: World, app: Flask) -> None:
    client = world.client(world.samordnare)
    asset_id = _create(client, world.unit)
    ersattare = world.person("arkiversattare", [(Role.ERSATTARE, world.holder_unit)])
    _add_holder(client, asset_id, f"unit:{world.holder_unit.id}")
    _add_holder(client, asset_id, f"user:{world.holder_samordnare.id}")
    assert _edit(client, asset_id, damage_level="allvarlig").status_code == 303
    db.rollback()
    recipients = sorted(
        db.scalars(select(HolderNotice.user_id).where(HolderNotice.asset_id == asset_id)), key=str
    )
    assert recipients == sorted([world.holder_samordnare.id, ersattare.id], key=str)
    assert len(_outbox(app)) == 2
    assert "Ringa skada → Allvarlig skada" in _outbox(app)[0].get_content()


def test_a_change_of_owner_only_notifies_nobody(world: World, app: Flask) -> None:
    client = world.client(world.samordnare)
    asset_id = _create(client, world.unit)
    _add_holder(client, asset_id, f"user:{world.holder_user.id}")
    assert _edit(client, asset_id, owner="Någon annan", name="Nytt neutralt namn").status_code == 303
    db.rollback()
    assert db.scalar(select(func.count()).select_from(HolderNotice)) == 0
    assert _outbox(app) == []
    assert _events("asset.notice_sent") == []


def test_holders_are_added_and_removed_with_confirmation(world: World) -> None:
    client = world.client(world.samordnare)
    asset_id = _create(client, world.unit)
    detail = client.get(f"/objekt/{asset_id}").get_data(as_text=True)
    assert "Stadsarkivet" in detail and "Innehavare (innehavare" not in detail
    assert f'value="user:{world.holder_user.id}"' in detail
    _add_holder(client, asset_id, f"unit:{world.holder_unit.id}")
    db.rollback()
    holder = db.scalar(select(AssetHolder).where(AssetHolder.asset_id == asset_id))
    assert holder is not None and holder.holder_unit_id == world.holder_unit.id
    holder_id = holder.id
    db.rollback()

    # A unit of another operator is not offered and cannot be posted.
    other_city = make_operator()
    outsider = make_unit(other_city, "Annan kommuns nämnd")
    db.commit()
    token = csrf_token(client, f"/objekt/{asset_id}")
    response = client.post(
        f"/objekt/{asset_id}/innehavare", data={"csrf_token": token, "holder": f"unit:{outsider.id}"}
    )
    assert response.status_code == 303
    db.rollback()
    assert db.scalar(select(func.count()).where(AssetHolder.asset_id == asset_id)) == 1

    confirm = client.get(f"/objekt/{asset_id}/innehavare/{holder_id}/ta-bort")
    assert confirm.status_code == 200 and "Ja, ta bort innehavaren" in confirm.get_data(as_text=True)
    db.rollback()
    assert db.scalar(select(func.count()).where(AssetHolder.asset_id == asset_id)) == 1
    token = csrf_token(client, f"/objekt/{asset_id}/innehavare/{holder_id}/ta-bort")
    response = client.post(f"/objekt/{asset_id}/innehavare/{holder_id}/ta-bort", data={"csrf_token": token})
    assert response.status_code == 303
    db.rollback()
    assert db.scalar(select(func.count()).where(AssetHolder.asset_id == asset_id)) == 0
    html = client.get(f"/objekt/{asset_id}").get_data(as_text=True)
    assert "Innehavare tillagd: Stadsarkivet" in html and "Innehavare borttagen: Stadsarkivet" in html
    changed = [json.loads(e.payload)["changed"] for e in _events("asset.updated")]
    assert changed == [["holders"], ["holders"]]


def test_archive_hides_the_asset_and_freezes_it(world: World) -> None:
    client = world.client(world.samordnare)
    asset_id = _create(client, world.unit)
    confirm = client.get(f"/objekt/{asset_id}/arkivera")
    assert confirm.status_code == 200 and "Ja, arkivera objektet" in confirm.get_data(as_text=True)
    token = csrf_token(client, f"/objekt/{asset_id}/arkivera")
    response = client.post(
        f"/objekt/{asset_id}/arkivera", data={"csrf_token": token, "version": str(_current_version(asset_id))}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/enheter/{world.unit.id}/objekt"
    db.rollback()
    assert db.get(ProtectedAsset, asset_id).is_archived is True  # type: ignore[union-attr]
    db.rollback()
    base = f"/enheter/{world.unit.id}/objekt"
    assert "Objekt Kastanj" not in client.get(base).get_data(as_text=True)
    assert "Objekt Kastanj" in client.get(base + "?visa=arkiverade").get_data(as_text=True)
    assert client.get(f"/objekt/{asset_id}/andra").status_code == 303
    assert "Ändra objektet" not in client.get(f"/objekt/{asset_id}").get_data(as_text=True)


# --- the kept counts (assets/counts.py) ----------------------------------------------------------


def _kept(world: World) -> dict[tuple[str, str], int]:
    db.rollback()
    return {
        (level, kind): n for (unit, level, kind), n in counts.kept(db).items() if unit == str(world.unit.id)
    }


def test_the_kept_counts_follow_every_change_of_the_register(world: World) -> None:
    """Registering, a level or type change, archiving, a bulk insert and a delete all move the
    counts in their own transaction; the chef's picture reads them."""
    client = world.client(world.samordnare)
    first = _create(client, world.unit)
    second = _create(client, world.unit, name="Objekt Ek", damage_level="allvarlig")
    assert _kept(world) == {("ringa", "information"): 1, ("allvarlig", "information"): 1}

    assert _edit(client, first, damage_level="allvarlig").status_code == 303
    assert _kept(world) == {("allvarlig", "information"): 2}
    assert _edit(client, second, damage_level="allvarlig", type="rutin", name="Objekt Ek").status_code == 303
    assert _kept(world) == {("allvarlig", "information"): 1, ("allvarlig", "rutin"): 1}
    # A change of another field leaves them as they were.
    assert _edit(client, first, damage_level="allvarlig", owner="Någon annan").status_code == 303
    assert _kept(world) == {("allvarlig", "information"): 1, ("allvarlig", "rutin"): 1}

    token = csrf_token(client, f"/objekt/{first}/arkivera")
    archived = client.post(
        f"/objekt/{first}/arkivera", data={"csrf_token": token, "version": str(_current_version(first))}
    )
    assert archived.status_code == 303
    assert _kept(world) == {("allvarlig", "rutin"): 1}

    bulk = _insert_assets(world, 3, type=AssetType.SYSTEM)
    _insert_assets(world, 2, is_archived=True)  # archived from the start: not counted
    assert _kept(world) == {("allvarlig", "rutin"): 1, ("ringa", "informationssystem"): 3}
    db.execute(delete(ProtectedAsset).where(ProtectedAsset.id == bulk[0].id))
    db.commit()
    assert _kept(world) == {("allvarlig", "rutin"): 1, ("ringa", "informationssystem"): 2}
    assert counts.mismatches(db) == {}

    figures = operator_figures(db, [world.city.id], dt.date.today(), world.app.config["SAKSKYDD_SETTINGS"])
    unit = next(u for u in figures.units if u.unit_id == world.unit.id)
    assert unit.assets_by_level == {"allvarlig": 1, "ringa": 2}
    assert unit.assets_by_type == {"rutin": 1, "informationssystem": 2}
    assert unit.assets_total == 3


def test_a_change_that_is_rolled_back_leaves_the_counts_as_they_were(world: World) -> None:
    client = world.client(world.samordnare)
    asset_id = _create(client, world.unit)
    version = _current_version(asset_id)
    assert _edit(client, asset_id, version=version, damage_level="allvarlig").status_code == 303
    # The same old version again: a conflict, nothing saved, the counts untouched.
    stale = _edit(client, asset_id, version=version, damage_level="inte_obetydlig")
    assert stale.status_code == 409
    assert _kept(world) == {("allvarlig", "information"): 1}
    db.execute(
        update(ProtectedAsset).where(ProtectedAsset.id == asset_id).values(damage_level=DamageLevel.NONE)
    )
    db.rollback()
    assert _kept(world) == {("allvarlig", "information"): 1}
    assert counts.mismatches(db) == {}


def test_a_kept_count_that_drifted_is_found(world: World) -> None:
    """The check the test suite runs after every test (conftest) can fail."""
    _insert_assets(world, 2)
    db.execute(update(AssetCount).values(total=AssetCount.total + 1))
    db.commit()
    assert counts.mismatches(db) == {(str(world.unit.id), "ringa", "information"): (3, 2)}
    db.execute(update(AssetCount).values(total=AssetCount.total - 1))
    db.commit()
    assert counts.mismatches(db) == {}


# --- access -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/objekt/{asset}"),
        ("GET", "/objekt/{asset}/andra"),
        ("POST", "/objekt/{asset}/andra"),
        ("POST", "/objekt/{asset}/innehavare"),
        ("GET", "/objekt/{asset}/innehavare/{holder}/ta-bort"),
        ("POST", "/objekt/{asset}/innehavare/{holder}/ta-bort"),
        ("GET", "/objekt/{asset}/arkivera"),
        ("POST", "/objekt/{asset}/arkivera"),
        ("GET", "/enheter/{unit}/objekt"),
        ("GET", "/enheter/{unit}/objekt/nytt"),
    ],
)
def test_another_units_samordnare_gets_404(world: World, method: str, path: str) -> None:
    owner = world.client(world.samordnare)
    asset_id = _create(owner, world.unit)
    _add_holder(owner, asset_id, f"unit:{world.foreign_unit.id}")
    db.rollback()
    holder_id = db.scalar(select(AssetHolder.id).where(AssetHolder.asset_id == asset_id))
    db.rollback()
    url = path.format(asset=asset_id, holder=holder_id, unit=world.unit.id)
    # The foreign samordnare is even a holder (through their unit): holding is not reading.
    foreign = world.client(world.foreign_samordnare)
    token = csrf_token(foreign, "/")
    response = foreign.get(url) if method == "GET" else foreign.post(url, data={"csrf_token": token})
    assert response.status_code == 404
    db.rollback()
    assert db.get(ProtectedAsset, asset_id).is_archived is False  # type: ignore[union-attr]
    assert db.scalar(select(func.count()).where(AssetHolder.asset_id == asset_id)) == 1
    db.rollback()


def test_notice_of_someone_else_is_404(world: World) -> None:
    client = world.client(world.samordnare)
    asset_id = _create(client, world.unit)
    _add_holder(client, asset_id, f"user:{world.holder_user.id}")
    assert _edit(client, asset_id, status="skyddsvart").status_code == 303
    db.rollback()
    notice_id = db.scalar(select(HolderNotice.id).where(HolderNotice.asset_id == asset_id))
    db.rollback()
    for person in (world.holder_samordnare, world.samordnare, world.chef):
        other = world.client(person)
        token = csrf_token(other, "/")
        assert other.get(f"/notiser/{notice_id}").status_code == 404
        assert other.post(f"/notiser/{notice_id}/kvittera", data={"csrf_token": token}).status_code == 404
    assert world.client(world.samordnare).get("/notiser/inte-ett-id").status_code == 404
    db.rollback()
    assert db.scalar(select(HolderNotice.acknowledged_at).where(HolderNotice.id == notice_id)) is None
    db.rollback()


def test_chef_reads_but_does_not_edit(world: World) -> None:
    asset_id = _create(world.client(world.samordnare), world.unit)
    chef = world.client(world.chef)
    assert chef.get(f"/enheter/{world.unit.id}/objekt").status_code == 200
    listing = chef.get(f"/enheter/{world.unit.id}/objekt").get_data(as_text=True)
    assert "Objekt Kastanj" in listing and "Nytt objekt" not in listing
    detail = chef.get(f"/objekt/{asset_id}")
    assert detail.status_code == 200 and "Ändra objektet" not in detail.get_data(as_text=True)
    token = csrf_token(chef, "/")
    assert chef.get(f"/objekt/{asset_id}/andra").status_code == 403
    assert (
        chef.post(f"/objekt/{asset_id}/andra", data=_form(owner="Chefen") | {"csrf_token": token}).status_code
        == 403
    )
    assert chef.get(f"/objekt/{asset_id}/arkivera").status_code == 403
    assert chef.get(f"/enheter/{world.unit.id}/objekt/nytt").status_code == 403
    assert (
        chef.post(
            f"/objekt/{asset_id}/innehavare",
            data={"csrf_token": token, "holder": f"unit:{world.holder_unit.id}"},
        ).status_code
        == 403
    )
    denials = _events("authz.deny")
    assert len(denials) >= 4


def test_assets_above_clearance_are_not_listed_or_shown(world: World, app: Flask) -> None:
    app.config["SAKSKYDD_SETTINGS"].max_classification = 1
    cleared = world.person("behorig", [(Role.SAMORDNARE, world.unit)], clearance=1)
    uncleared = world.samordnare  # clearance 0
    cleared_client = world.client(cleared)
    secret_id = _create(
        cleared_client, world.unit, name="Märkt objekt", note="Kort text", attested="y", marking="1"
    )
    _create(cleared_client, world.unit, name="Omärkt objekt")
    db.rollback()
    assert db.get(ProtectedAsset, secret_id).classification == 1  # type: ignore[union-attr]
    db.rollback()

    client = world.client(uncleared)
    listing = client.get(f"/enheter/{world.unit.id}/objekt").get_data(as_text=True)
    assert "Omärkt objekt" in listing and "Märkt objekt" not in listing
    assert "1 objekt" in listing
    assert "Märkt objekt" not in client.get(f"/enheter/{world.unit.id}/objekt?q=M%C3%A4rkt").get_data(
        as_text=True
    )
    assert client.get(f"/objekt/{secret_id}").status_code in (403, 404)
    assert client.get(f"/objekt/{secret_id}/andra").status_code in (403, 404)
    assert "Märkt objekt" in cleared_client.get(f"/enheter/{world.unit.id}/objekt").get_data(as_text=True)

    # A downgrade follows the two-person rule, so one person cannot do it in the form.
    response = _edit(
        cleared_client, secret_id, name="Märkt objekt", note="Kort text", attested="y", marking="0"
    )
    assert response.status_code == 200
    assert "ska göras av två personer" in response.get_data(as_text=True)
    db.rollback()
    assert db.get(ProtectedAsset, secret_id).classification == 1  # type: ignore[union-attr]
    db.rollback()

    # Nobody marks a record above their own clearance (they would lock themselves out).
    path = f"/enheter/{world.unit.id}/objekt/nytt"
    data = _form(marking="1") | {"csrf_token": csrf_token(client, path)}
    response = client.post(path, data=data)
    assert response.status_code == 200
    assert "högre säkerhetsskyddsklass än din egen behörighetsnivå" in response.get_data(as_text=True)


def test_the_reminder_run_reaches_the_holder_and_shows_on_the_acknowledgement_list(
    world: World, app: Flask
) -> None:
    client = world.client(world.samordnare)
    asset_id = _create(client, world.unit)
    _add_holder(client, asset_id, f"user:{world.holder_user.id}")
    assert _edit(client, asset_id, status="skyddsvart").status_code == 303
    db.rollback()
    notice = db.scalar(select(HolderNotice).where(HolderNotice.user_id == world.holder_user.id))
    db.execute(
        update(HolderNotice)
        .where(HolderNotice.id == notice.id)
        .values(created_at=utcnow() - dt.timedelta(days=8))
    )
    db.commit()
    result = app.test_cli_runner().invoke(args=["reminders", "run"])
    assert result.exit_code == 0, result.output
    db.expire_all()
    stored = db.get(HolderNotice, notice.id)
    assert stored.reminder_count == 1 and stored.last_reminded_at is not None
    reminders = [m for m in _outbox(app) if m["Subject"].startswith("Påminnelse")]
    assert sum(f"/notiser/{notice.id}" in m.get_content() for m in reminders) == 1
    assert "1 (senast" in client.get(f"/objekt/{asset_id}").get_data(as_text=True)
