"""Procurements through the test client: triage, confirmation, duties, follow-up, contract end, export."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
import zipfile

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

from sakskydd.accounts.models import Role, User
from sakskydd.audit.models import AuditEvent
from sakskydd.deadlines import ItemKind, due_items_for_user
from sakskydd.extensions import db
from sakskydd.procurements import services
from sakskydd.procurements.models import (
    DutyStatus,
    FollowUpAction,
    Procurement,
    ProcurementChange,
    ProcurementDuty,
    ProcurementStatus,
    SubSupplier,
)
from sakskydd.procurements.rules import DutyKind, Outcome, TriageAnswers, Where

pytestmark = pytest.mark.db

TODAY = services.local_today()
CONTACT = "Anna Andersson, 08-123 45 67, anna@leverantor.example <b>fet</b>"
SUPPLIER_ORG = "556036-0793"  # a checksum-valid organisation number


class World:
    """A kommun with a unit: an upphandlare, a second upphandlare, a samordnare, a chef, outsiders."""

    def __init__(self, app: Flask) -> None:
        self.operator = make_operator()
        self.unit = make_unit(self.operator, "Kulturnämnden")
        self.other_unit = make_unit(self.operator, "Idrottsnämnden")
        self.foreign_operator = make_operator()
        self.foreign_unit = make_unit(self.foreign_operator, "Annan nämnd")
        self.upphandlare = make_user(app, self.operator, roles=[(Role.UPPHANDLARE, self.unit)])
        self.colleague = make_user(app, self.operator, roles=[(Role.UPPHANDLARE, self.unit)])
        self.samordnare = make_user(app, self.operator, roles=[(Role.SAMORDNARE, self.unit)])
        self.chef = make_user(app, self.operator, roles=[(Role.CHEF, self.operator)])
        self.stranger = make_user(app, self.operator, roles=[(Role.SAMORDNARE, self.other_unit)])
        self.foreign_chef = make_user(app, self.foreign_operator, roles=[(Role.CHEF, self.foreign_operator)])
        db.close()


@pytest.fixture
def world(app: Flask) -> World:
    return World(app)


def _client(app: Flask, person: Person) -> FlaskClient:
    db.close()
    client = app.test_client()
    session_cookie(client, app, person)
    return client


def _post(client: FlaskClient, path: str, data: dict[str, object], form_path: str | None = None):  # type: ignore[no-untyped-def]
    # The token belongs to the session; the start page has it even when `path` is refused.
    token = csrf_token(client, form_path or "/")
    return client.post(path, data={"csrf_token": token, **data})


def _page(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


def _create(client: FlaskClient, world: World, **values: object) -> str:
    data: dict[str, object] = {
        "kind": "upphandling",
        "title": "Driftavtal lokalsystem",
        "registry_number": "KN 2026/88",
        "responsible": str(world.upphandlare.id),
        "procedure_starts_on": (TODAY + dt.timedelta(days=30)).isoformat(),
        "contract_starts_on": (TODAY + dt.timedelta(days=120)).isoformat(),
        "contract_ends_on": (TODAY + dt.timedelta(days=850)).isoformat(),
        "supplier_name": "Leverantören AB",
        "supplier_org_number": SUPPLIER_ORG,
        "supplier_contact": CONTACT,
        "attested": "y",
        "marking": "0",
    }
    data.update(values)
    response = _post(client, f"/enheter/{world.unit.id}/upphandlingar/ny", data)
    assert response.status_code == 303, _page(response)
    match = re.search(r"/upphandlingar/([0-9a-f-]{36})/triage", response.headers["Location"])
    assert match
    return match.group(1)


def _triage(client: FlaskClient, procurement_id: str, **answers: str):  # type: ignore[no-untyped-def]
    data = {
        "classified_access": "nej",
        "sensitive_activity": "nej",
        "where": "egna",
        "staff_vetting": "nej",
        "restricted_access": "nej",
        "sub_suppliers": "nej",
        "version": str(_load(procurement_id).version),
    }
    data.update(answers)
    return _post(client, f"/upphandlingar/{procurement_id}/triage", data)


def _confirm(client: FlaskClient, procurement_id: str, **values: str):  # type: ignore[no-untyped-def]
    p = _load(procurement_id)
    data = {
        "outcome": p.proposed_outcome.value if p.proposed_outcome else "",
        "consultation": "y" if p.proposed_consultation else "",
        "reason": "",
        "version": str(p.version),
    }
    data.update(values)
    data = {k: v for k, v in data.items() if v != ""}
    return _post(client, f"/upphandlingar/{procurement_id}/bekrafta", data)


def _load(procurement_id: str) -> Procurement:
    db.close()
    row = db.scalar(select(Procurement).where(Procurement.id == __import__("uuid").UUID(procurement_id)))
    assert row is not None
    db.expunge(row)
    return row


def _duties(procurement_id: str) -> dict[DutyKind, ProcurementDuty]:
    db.close()
    rows = db.scalars(
        select(ProcurementDuty).where(
            ProcurementDuty.procurement_id == __import__("uuid").UUID(procurement_id)
        )
    ).all()
    result = {d.kind: d for d in rows}
    db.close()
    return result


def _update_duty(client: FlaskClient, procurement_id: str, kind: DutyKind, **values: object):  # type: ignore[no-untyped-def]
    """Post the duty's form as a browser does: only the fields the duty's page shows."""
    duty = _duties(procurement_id)[kind]
    data: dict[str, object] = {
        "status": "klar",
        "done_on": TODAY.isoformat(),
        "reference": "Dnr 1",
        "owner": str(duty.owner_id),
        "note": "",
        "version": str(duty.version),
    }
    data.update(values)
    return _post(client, f"/upphandlingar/{procurement_id}/skyldigheter/{duty.id}", data)


def _events(name: str) -> list[AuditEvent]:
    db.close()
    rows = list(db.scalars(select(AuditEvent).where(AuditEvent.event == name).order_by(AuditEvent.seq)))
    db.close()
    return rows


# --- triage and confirmation ---------------------------------------------------------------------


def test_upphandlare_triages_nivå_1_and_samordnare_confirms_and_duties_appear(
    app: Flask, world: World
) -> None:
    buyer = _client(app, world.upphandlare)
    pid = _create(buyer, world)
    assert _load(pid).status == ProcurementStatus.NEW
    response = _triage(buyer, pid, classified_access="ja", where="leverantor")
    assert response.status_code == 303
    p = _load(pid)
    assert (p.status, p.proposed_outcome, p.proposed_consultation) == (
        ProcurementStatus.TRIAGED,
        Outcome.SUA_1,
        True,
    )
    page = _page(buyer.get(f"/upphandlingar/{pid}"))
    assert "Förslag: Säkerhetsskyddsavtal nivå 1" in page and "nivå 1" in page
    assert _duties(pid) == {}
    # The upphandlare cannot confirm; the samordnare can.
    assert _confirm(buyer, pid).status_code == 403
    coordinator = _client(app, world.samordnare)
    response = _confirm(coordinator, pid)
    assert response.status_code == 303, _page(response)
    p = _load(pid)
    assert (p.status, p.outcome, p.consultation, p.overridden) == (
        ProcurementStatus.CONFIRMED,
        Outcome.SUA_1,
        True,
        False,
    )
    duties = _duties(pid)
    assert DutyKind.CONSULTATION in duties and DutyKind.FIRST_VISIT in duties
    assert duties[DutyKind.ASSESSMENT].due_on == TODAY + dt.timedelta(days=30)
    assert duties[DutyKind.NOTIFY_INTENT].due_on == TODAY + dt.timedelta(days=7)
    assert duties[DutyKind.SUA_SIGNED].due_on == TODAY + dt.timedelta(days=120)
    assert duties[DutyKind.NOTIFY_SIGNED].due_on is None
    page = _page(coordinator.get(f"/upphandlingar/{pid}"))
    assert "Samråd med tillsynsmyndigheten" in page and "Förstagångsbesök" in page
    confirmed = _events("procurement.confirmed")[-1]
    assert '"overridden":false' in confirmed.payload and '"reason_given":false' in confirmed.payload


def test_an_override_needs_a_reason_and_changes_the_duties(app: Flask, world: World) -> None:
    buyer = _client(app, world.upphandlare)
    pid = _create(buyer, world)
    _triage(buyer, pid, staff_vetting="ja")
    assert _load(pid).proposed_outcome == Outcome.SUA_3
    coordinator = _client(app, world.samordnare)
    response = _confirm(coordinator, pid, outcome="sua_2")
    assert response.status_code == 200
    assert "Ange skälet" in _page(response)
    assert _load(pid).status == ProcurementStatus.TRIAGED
    reason = "Tillgång till lokalerna i Kulturhuset enligt beslut KN 2026/90"
    response = _confirm(coordinator, pid, outcome="sua_2", reason=reason)
    assert response.status_code == 200 and "intyga att fritexten" in _page(response)  # the attestation
    response = _confirm(coordinator, pid, outcome="sua_2", consultation="y", reason=reason, attested="y")
    assert response.status_code == 303
    p = _load(pid)
    assert (p.outcome, p.consultation, p.overridden) == (Outcome.SUA_2, True, True)
    assert DutyKind.CONSULTATION in _duties(pid) and DutyKind.FIRST_VISIT not in _duties(pid)
    # The reason is encrypted at rest and shown on the page; the audit event only says one was given.
    raw = db.scalar(select(Procurement.override_reason_ct).where(Procurement.id == p.id))
    db.close()
    assert raw is not None and reason.encode() not in bytes(raw)
    assert reason in _page(coordinator.get(f"/upphandlingar/{pid}"))
    event = _events("procurement.confirmed")[-1]
    assert '"overridden":true' in event.payload and '"reason_given":true' in event.payload
    assert reason not in event.payload


def test_no_sua_gives_no_duties(app: Flask, world: World) -> None:
    buyer = _client(app, world.upphandlare)
    pid = _create(buyer, world)
    _triage(buyer, pid)
    assert _load(pid).proposed_outcome == Outcome.NONE
    assert _confirm(_client(app, world.samordnare), pid).status_code == 303
    assert _duties(pid) == {}
    assert "Inget säkerhetsskyddsavtal krävs" in _page(buyer.get(f"/upphandlingar/{pid}"))


def test_a_samordnare_who_answered_the_triage_cannot_confirm_it(app: Flask, world: World) -> None:
    both = make_user(
        app, world.operator, roles=[(Role.UPPHANDLARE, world.unit), (Role.SAMORDNARE, world.unit)]
    )
    client = _client(app, both)
    pid = _create(client, world, responsible=str(both.id))
    _triage(client, pid, restricted_access="ja")
    assert _confirm(client, pid).status_code == 403
    denial = _events("authz.deny")[-1]
    assert "sod.confirm_own_triage" in denial.payload
    # The service holds the rule too, for callers that do not pass the policy (CLI, demo).
    p = db.get(Procurement, _load(pid).id)
    with pytest.raises(services.DomainError, match="själv har besvarat"):
        services.confirm(
            both.user,
            p,
            outcome=Outcome.AGREEMENT,
            consultation=False,
            reason=None,
            attested=False,
            version=p.version,
        )
    db.rollback()
    assert _load(pid).status == ProcurementStatus.TRIAGED
    assert _confirm(_client(app, world.samordnare), pid).status_code == 303


def test_confirming_twice_or_before_triage_is_refused(app: Flask, world: World) -> None:
    buyer = _client(app, world.upphandlare)
    pid = _create(buyer, world)
    coordinator = _client(app, world.samordnare)
    response = coordinator.get(f"/upphandlingar/{pid}/bekrafta")
    assert response.status_code == 303 and _load(pid).status == ProcurementStatus.NEW
    assert "Det finns ingen besvarad triage som väntar på bekräftelse." in coordinator.get(
        response.headers["Location"]
    ).get_data(as_text=True)
    _triage(buyer, pid)
    assert _confirm(coordinator, pid).status_code == 303
    version = _load(pid).version
    response = _post(
        coordinator,
        f"/upphandlingar/{pid}/bekrafta",
        {"outcome": "sua_1", "reason": "x", "attested": "y", "version": str(version)},
        form_path=f"/upphandlingar/{pid}",
    )
    assert response.status_code == 303
    assert _load(pid).outcome == Outcome.NONE
    assert "Du har redan bekräftat triagen." in coordinator.get(response.headers["Location"]).get_data(
        as_text=True
    )
    # A second samordnare whose form was still open learns that someone else confirmed it.
    ersattare = make_user(app, world.operator, roles=[(Role.SAMORDNARE, world.unit)])
    late = _client(app, ersattare)
    response = _post(
        late,
        f"/upphandlingar/{pid}/bekrafta",
        {"outcome": "sua_1", "reason": "x", "attested": "y", "version": str(version)},
        form_path=f"/upphandlingar/{pid}",
    )
    assert response.status_code == 303 and _load(pid).outcome == Outcome.NONE
    shown = late.get(response.headers["Location"]).get_data(as_text=True)
    assert "Någon annan har redan bekräftat triagen." in shown
    assert "ingen besvarad triage" not in shown


# --- duties ------------------------------------------------------------------------------------


def _confirmed_sua(app: Flask, world: World, **answers: str) -> tuple[str, FlaskClient, FlaskClient]:
    buyer = _client(app, world.upphandlare)
    pid = _create(buyer, world)
    _triage(buyer, pid, **(answers or {"classified_access": "ja", "where": "leverantor"}))
    coordinator = _client(app, world.samordnare)
    assert _confirm(coordinator, pid).status_code == 303
    return pid, buyer, coordinator


def test_a_sub_supplier_known_after_confirmation_brings_its_duty(app: Flask, world: World) -> None:
    pid, buyer, _ = _confirmed_sua(app, world)  # the triage said: no sub-suppliers
    assert DutyKind.SUBCONTRACTOR_AGREEMENT not in _duties(pid)
    response = _post(
        buyer, f"/upphandlingar/{pid}/underleverantorer", {"name": "Hosting AB", "org_number": "556036-0794"}
    )
    assert response.status_code == 303
    follow = _page(buyer.get(response.headers["Location"]))
    assert "Organisationsnumret har fel kontrollsiffra." in follow
    assert DutyKind.SUBCONTRACTOR_AGREEMENT not in _duties(pid)
    data = {"name": "Hosting AB", "org_number": SUPPLIER_ORG}
    assert _post(buyer, f"/upphandlingar/{pid}/underleverantorer", data).status_code == 303
    duty = _duties(pid)[DutyKind.SUBCONTRACTOR_AGREEMENT]
    assert duty.status == DutyStatus.OPEN and duty.owner_id == world.upphandlare.id
    assert "Avtal med underleverantörer" in _page(buyer.get(f"/upphandlingar/{pid}"))
    event = _events("procurement.updated")[-1]
    assert '"duties_added":1' in event.payload and "Hosting" not in event.payload
    # Removing the only sub-supplier withdraws the open duty again.
    sub = db.scalar(select(SubSupplier.id).where(SubSupplier.procurement_id == duty.procurement_id))
    db.close()
    assert _post(buyer, f"/upphandlingar/{pid}/underleverantorer/{sub}/ta-bort", {}).status_code == 303
    assert _duties(pid)[DutyKind.SUBCONTRACTOR_AGREEMENT].status == DutyStatus.WITHDRAWN
    # Added again and done: removing the sub-supplier then keeps the duty as done.
    assert _post(buyer, f"/upphandlingar/{pid}/underleverantorer", data).status_code == 303
    assert _duties(pid)[DutyKind.SUBCONTRACTOR_AGREEMENT].status == DutyStatus.OPEN
    assert _update_duty(buyer, pid, DutyKind.SUBCONTRACTOR_AGREEMENT).status_code == 303
    sub = db.scalar(select(SubSupplier.id).where(SubSupplier.procurement_id == duty.procurement_id))
    db.close()
    assert _post(buyer, f"/upphandlingar/{pid}/underleverantorer/{sub}/ta-bort", {}).status_code == 303
    assert _duties(pid)[DutyKind.SUBCONTRACTOR_AGREEMENT].status == DutyStatus.DONE


def test_access_before_a_signed_sua_is_refused(app: Flask, world: World) -> None:
    pid, buyer, _ = _confirmed_sua(app, world)
    response = _update_duty(buyer, pid, DutyKind.ACCESS_GRANTED)
    assert response.status_code == 200
    assert "innan säkerhetsskyddsavtalet är undertecknat" in _page(response)
    assert _duties(pid)[DutyKind.ACCESS_GRANTED].status == DutyStatus.OPEN
    assert _update_duty(buyer, pid, DutyKind.SUA_SIGNED).status_code == 303
    assert _load(pid).signed_on == TODAY
    assert _duties(pid)[DutyKind.NOTIFY_SIGNED].due_on == TODAY + dt.timedelta(days=7)
    assert _update_duty(buyer, pid, DutyKind.ACCESS_GRANTED).status_code == 303
    # The signature cannot be withdrawn while access is recorded.
    response = _update_duty(buyer, pid, DutyKind.SUA_SIGNED, status="oppen", done_on="")
    assert response.status_code == 200 and "kan inte öppnas igen" in _page(response)
    history = db.scalars(
        select(ProcurementChange.what).where(ProcurementChange.procurement_id == _load(pid).id)
    ).all()
    db.close()
    assert "duty:tillgang_given" in history


def test_samråd_stopped_stops_the_procurement(app: Flask, world: World) -> None:
    pid, buyer, coordinator = _confirmed_sua(app, world)
    response = _update_duty(coordinator, pid, DutyKind.CONSULTATION, consultation_outcome="")  # "Inte klart"
    assert response.status_code == 200 and "Ange samrådets utfall" in _page(response)
    assert (
        _update_duty(coordinator, pid, DutyKind.CONSULTATION, consultation_outcome="stoppat").status_code
        == 303
    )
    assert _load(pid).status == ProcurementStatus.STOPPED
    assert "stoppat förfarandet" in _page(buyer.get(f"/upphandlingar/{pid}"))


def test_duty_rules_dates_counts_and_not_applicable(app: Flask, world: World) -> None:
    pid, buyer, _ = _confirmed_sua(app, world)
    future = (TODAY + dt.timedelta(days=3)).isoformat()
    response = _update_duty(buyer, pid, DutyKind.ASSESSMENT, done_on=future)
    assert "framtiden" in _page(response)
    response = _update_duty(buyer, pid, DutyKind.ASSESSMENT, done_on="")
    assert "Ange datum" in _page(response)
    response = _update_duty(buyer, pid, DutyKind.ASSESSMENT, status="ej_aktuell", done_on="")
    assert "varför" in _page(response)
    response = _update_duty(buyer, pid, DutyKind.STAFF_VETTING, count_required="3", count_done="1")
    assert "2 av 3" in _page(response)
    response = _update_duty(
        buyer, pid, DutyKind.STAFF_VETTING, status="oppen", count_required="3", count_done="1"
    )
    assert response.status_code == 303
    assert (_duties(pid)[DutyKind.STAFF_VETTING].count_done, _duties(pid)[DutyKind.STAFF_VETTING].status) == (
        1,
        DutyStatus.OPEN,
    )


def test_a_stale_duty_save_is_a_conflict(app: Flask, world: World) -> None:
    pid, buyer, coordinator = _confirmed_sua(app, world)
    stale = str(_duties(pid)[DutyKind.ASSESSMENT].version)
    assert _update_duty(coordinator, pid, DutyKind.ASSESSMENT).status_code == 303
    response = _update_duty(buyer, pid, DutyKind.ASSESSMENT, reference="Dnr 2", version=stale)
    assert response.status_code == 409
    assert "Dnr 2" in _page(response)  # the input is kept
    assert _duties(pid)[DutyKind.ASSESSMENT].reference == "Dnr 1"


# --- follow-up and contract end -------------------------------------------------------------------


def test_a_follow_up_with_a_finding_creates_an_action(app: Flask, world: World) -> None:
    pid, buyer, coordinator = _confirmed_sua(app, world)
    _update_duty(buyer, pid, DutyKind.SUA_SIGNED)
    items = len(services.DEFAULT_FOLLOW_UP_ITEMS)
    results = {f"result-{i}": "uppfyllt" for i in range(items)}
    results["result-3"] = "brist"
    path = f"/upphandlingar/{pid}/uppfoljning/ny"
    response = _post(coordinator, path, {"performed_on": TODAY.isoformat(), **results})
    assert response.status_code == 200 and "minst en överenskommen åtgärd" in _page(response)
    due = (TODAY + dt.timedelta(days=60)).isoformat()
    unattested = {
        "performed_on": TODAY.isoformat(),
        **results,
        "actions-0-description": "Genomföra säkerhetsskyddsutbildning",
        "actions-0-responsible": "Leverantörens säkerhetsskyddschef",
        "actions-0-due_on": due,
    }
    response = _post(coordinator, path, unattested)
    assert response.status_code == 200 and "Intyga att fritexten" in _page(response)
    data = {
        "performed_on": TODAY.isoformat(),
        **results,
        "findings": "Utbildning saknas för två nyanställda",
        "attested": "y",
        "actions-0-description": "Genomföra säkerhetsskyddsutbildning",
        "actions-0-responsible": "Leverantörens säkerhetsskyddschef",
        "actions-0-due_on": due,
    }
    assert _post(coordinator, path, data).status_code == 303
    db.close()
    actions = db.scalars(select(FollowUpAction)).all()
    assert [(a.description, a.due_on.isoformat()) for a in actions] == [
        ("Genomföra säkerhetsskyddsutbildning", due)
    ]
    db.close()
    page = _page(buyer.get(f"/upphandlingar/{pid}"))
    assert "Genomföra säkerhetsskyddsutbildning" in page and "Brist" in page


def test_contract_end_closes_the_case_once_the_end_duties_are_done(app: Flask, world: World) -> None:
    pid, buyer, coordinator = _confirmed_sua(app, world, restricted_access="ja")
    assert _load(pid).outcome == Outcome.AGREEMENT
    response = _post(
        buyer,
        f"/upphandlingar/{pid}/avsluta",
        {"final_note": "Klart", "attested": "y", "version": str(_load(pid).version)},
    )
    assert response.status_code == 200 and "öppna skyldigheter återstår" in _page(response)
    for kind in (
        DutyKind.ASSESSMENT,
        DutyKind.SUITABILITY,
        DutyKind.AGREEMENT_SIGNED,
        DutyKind.ASSESSMENT_UPDATED,
        DutyKind.ACCESS_GRANTED,
        DutyKind.INFORMATION_RETURNED,
    ):
        assert _update_duty(buyer, pid, kind).status_code == 303, kind
    response = _post(
        buyer,
        f"/upphandlingar/{pid}/avsluta",
        {
            "final_note": "Information återlämnad, kvitto Dnr 9",
            "attested": "y",
            "version": str(_load(pid).version),
        },
    )
    assert response.status_code == 303
    p = _load(pid)
    assert p.status == ProcurementStatus.CLOSED and p.closed_on == TODAY
    assert _duties(pid)[DutyKind.FINAL_NOTE].status == DutyStatus.DONE
    # Frozen: no edits, no duties, no triage.
    assert buyer.get(f"/upphandlingar/{pid}/andra").status_code == 303
    assert _update_duty(buyer, pid, DutyKind.ASSESSMENT, reference="Ändrad").status_code == 303
    assert _duties(pid)[DutyKind.ASSESSMENT].reference == "Dnr 1"


# --- access ---------------------------------------------------------------------------------------


def test_who_sees_what(app: Flask, world: World) -> None:
    buyer = _client(app, world.upphandlare)
    pid = _create(buyer, world)
    # The colleague upphandlare, another unit's samordnare and the foreign chef: a missing page.
    for person in (world.colleague, world.stranger, world.foreign_chef):
        client = _client(app, person)
        assert client.get(f"/upphandlingar/{pid}").status_code == 404
        page = _page(client.get("/upphandlingar")) if person is not world.foreign_chef else ""
        assert "Driftavtal lokalsystem" not in page
    chef = _client(app, world.chef)
    assert chef.get(f"/upphandlingar/{pid}").status_code == 200
    assert "Driftavtal lokalsystem" in _page(chef.get("/upphandlingar"))
    assert chef.get(f"/upphandlingar/{pid}/andra").status_code == 403
    assert "Driftavtal lokalsystem" in _page(_client(app, world.samordnare).get("/upphandlingar"))
    # Each read of the page (decrypted contact details) is audited.
    assert _client(app, world.samordnare).get(f"/upphandlingar/{pid}").status_code == 200
    reads = _events("procurement.read")
    assert len(reads) == 2 and all(CONTACT not in e.payload for e in reads)


def test_create_validates_in_swedish_and_keeps_the_input(app: Flask, world: World) -> None:
    buyer = _client(app, world.upphandlare)
    path = f"/enheter/{world.unit.id}/upphandlingar/ny"
    response = _post(
        buyer,
        path,
        {
            "kind": "upphandling",
            "title": "Städtjänster",
            "registry_number": "KN 1",
            "responsible": str(world.upphandlare.id),
            "procedure_starts_on": TODAY.isoformat(),
            "supplier_name": "Städ AB",
            "supplier_org_number": "556036-0794",
            "marking": "0",
        },
    )
    page = _page(response)
    assert response.status_code == 200 and "fel kontrollsiffra" in page and "Städtjänster" in page
    response = _post(
        buyer,
        path,
        {
            "kind": "upphandling",
            "title": "X",
            "registry_number": "KN 1",
            "responsible": str(world.chef.id),
            "procedure_starts_on": TODAY.isoformat(),
            "marking": "0",
        },
    )
    assert "Välj ett av alternativen" in _page(response) or "ansvarig upphandlare" in _page(response)
    assert _client(app, world.samordnare).get(path).status_code == 403
    assert _client(app, world.foreign_chef).get(path).status_code == 404


def test_export_needs_step_up_neutralises_formulas_and_is_audited(app: Flask, world: World) -> None:
    buyer = _client(app, world.upphandlare)
    _create(buyer, world, title='=HYPERLINK("http://x")')
    stale = app.test_client()
    session_cookie(stale, app, world.upphandlare, fresh=False)
    response = stale.get("/upphandlingar/export?format=csv&q=HYPERLINK")
    assert (
        response.status_code == 303
        and "steg" in response.headers["Location"]
        or "bekrafta" in response.headers["Location"]
    )
    response = buyer.get("/upphandlingar/export?format=csv")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][0].startswith("Hanteras enligt")
    assert any(cell.startswith("'=HYPERLINK") for row in rows for cell in row)
    response = buyer.get("/upphandlingar/export?format=xlsx")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet and "'=HYPERLINK" in html.unescape(sheet)
    exported = _events("procurement.exported")
    assert [('"format":"csv"' in e.payload, '"format":"xlsx"' in e.payload) for e in exported] == [
        (True, False),
        (False, True),
    ]
    assert buyer.get("/upphandlingar/export?format=pdf").status_code == 400
    # The search text itself stays out of the audit trail; only that a search was used.
    assert buyer.get("/upphandlingar/export?format=csv&q=HYPERLINK").status_code == 200
    searched = _events("procurement.exported")[-1]
    assert '"q":true' in searched.payload and "HYPERLINK" not in searched.payload


# --- deadlines ------------------------------------------------------------------------------------


def _todo(person: Person) -> list:  # type: ignore[type-arg]
    db.close()
    items = due_items_for_user(db.get(User, person.id), TODAY)
    db.close()
    return [i for i in items if i.procurement_id is not None]


def test_triage_duties_follow_up_and_actions_feed_the_to_do_lists(app: Flask, world: World) -> None:
    buyer = _client(app, world.upphandlare)
    pid = _create(buyer, world)
    _triage(buyer, pid, classified_access="ja", where="leverantor")
    confirm = [i for i in _todo(world.samordnare) if i.kind == ItemKind.PROCUREMENT_CONFIRM]
    assert [i.due_on for i in confirm] == [TODAY + dt.timedelta(days=14)]
    assert not [i for i in _todo(world.upphandlare) if i.kind == ItemKind.PROCUREMENT_CONFIRM]
    coordinator = _client(app, world.samordnare)
    _confirm(coordinator, pid)
    duties = {i.params["duty"]: i for i in _todo(world.upphandlare) if i.kind == ItemKind.PROCUREMENT_DUTY}
    assert duties["anmalan_avsikt"].due_on == TODAY + dt.timedelta(days=7)
    assert "tillgang_given" not in duties  # access has no deadline
    assert len(duties) == len([i for i in _todo(world.samordnare) if i.kind == ItemKind.PROCUREMENT_DUTY])
    # The chef sees only overdue duties; the colleague nothing.
    assert not _todo(world.chef) and not _todo(world.colleague)
    home = _page(buyer.get("/"))
    assert "Anmälan om avsikt att ingå säkerhetsskyddsavtal: ”Driftavtal lokalsystem”" in home
    # Signing starts the follow-up cadence (nivå 1: 6 months); a follow-up action is due on its date.
    signed = TODAY - dt.timedelta(days=200)
    _update_duty(buyer, pid, DutyKind.SUA_SIGNED, done_on=signed.isoformat())
    follow = [i for i in _todo(world.upphandlare) if i.kind == ItemKind.SUPPLIER_FOLLOW_UP]
    assert len(follow) == 1 and follow[0].overdue
    items = len(services.DEFAULT_FOLLOW_UP_ITEMS)
    _post(
        coordinator,
        f"/upphandlingar/{pid}/uppfoljning/ny",
        {
            "performed_on": TODAY.isoformat(),
            **{f"result-{i}": "brist" if i == 0 else "uppfyllt" for i in range(items)},
            "actions-0-description": "Uppdatera avtalsbilagan",
            "actions-0-responsible": "Leverantören",
            "actions-0-due_on": (TODAY + dt.timedelta(days=10)).isoformat(),
            "attested": "y",
        },
    )
    kinds = {i.kind: i for i in _todo(world.upphandlare)}
    assert kinds[ItemKind.SUPPLIER_FOLLOW_UP].due_on > TODAY  # the cadence restarts from the run
    assert kinds[ItemKind.FOLLOW_UP_ACTION].due_on == TODAY + dt.timedelta(days=10)


def test_the_chef_keeps_versions_of_the_checklist_and_runs_keep_their_texts(app: Flask, world: World) -> None:
    chef = _client(app, world.chef)
    assert "Checklista för leverantörsuppföljning" in _page(chef.get("/enheter"))
    path = f"/verksamhetsutovare/{world.operator.id}/uppfoljningsmall"
    assert "stadens grundmall" in _page(chef.get(path))
    assert _post(chef, path, {"items": "Krav A\nKrav B\n\n"}).status_code == 303
    assert _post(chef, path, {"items": "Krav A\nKrav B"}).status_code == 303  # unchanged: no new version
    response = _post(chef, path, {"items": "Krav A\nKrav A"})
    assert "flera gånger" in _page(response)
    pid, _, coordinator = _confirmed_sua(app, world)
    form = _page(coordinator.get(f"/upphandlingar/{pid}/uppfoljning/ny"))
    assert "Krav A" in form and "version 1" in form
    _post(
        coordinator,
        f"/upphandlingar/{pid}/uppfoljning/ny",
        {"performed_on": TODAY.isoformat(), "result-0": "uppfyllt", "result-1": "ej_aktuellt"},
    )
    assert _post(chef, path, {"items": "Krav C"}).status_code == 303
    page = _page(chef.get(path))
    assert re.findall(r"<tr><td>(\d+)</td>", page) == ["2", "1"]  # both versions, newest first
    detail = _page(coordinator.get(f"/upphandlingar/{pid}"))
    assert "Krav A – <strong>Uppfyllt</strong>" in detail and "Krav C" not in detail
    for person in (world.samordnare, world.upphandlare):
        assert _client(app, person).get(path).status_code == 404
    assert _client(app, world.foreign_chef).get(path).status_code == 404
    saved = _events("procurement.template_saved")
    assert [('"version":1' in e.payload, '"version":2' in e.payload) for e in saved] == [
        (True, False),
        (False, True),
    ]


# --- SQL statements per page ------------------------------------------------------------------------


def _confirmed_in_services(world: World, title: str, runs: int = 0) -> Procurement:
    """A nivå 1 procurement through the services (triaged by the upphandlare, confirmed by the
    samordnare) with `runs` follow-up runs, each with a finding and an agreed action."""
    values = {
        "kind": "upphandling",
        "title": title,
        "registry_number": "KN 2026/7",
        "responsible_id": world.upphandlare.id,
        "procedure_starts_on": TODAY + dt.timedelta(days=30),
        "contract_starts_on": None,
        "contract_ends_on": None,
        "supplier_name": "Leverantören AB",
        "supplier_org_number": SUPPLIER_ORG,
        "supplier_contact": CONTACT,
        "classification": 0,
    }
    p = services.create_procurement(world.upphandlare.user, world.unit, values, attested=True)
    answers = TriageAnswers(
        where=Where.SUPPLIER,
        classified_access=True,
        sensitive_activity=False,
        staff_vetting=True,
        restricted_access=False,
        sub_suppliers=False,
    )
    services.triage(world.upphandlare.user, p, answers, p.version)
    services.confirm(
        world.samordnare.user,
        p,
        outcome=Outcome.SUA_1,
        consultation=True,
        reason=None,
        attested=False,
        version=p.version,
    )
    items = list(services.DEFAULT_FOLLOW_UP_ITEMS)
    for index in range(runs):
        services.record_follow_up(
            world.samordnare.user,
            p,
            performed_on=TODAY - dt.timedelta(days=index),
            results=["brist"] + ["uppfyllt"] * (len(items) - 1),
            findings=f"Iakttagelse {index}",
            actions=[{"description": f"Åtgärd {index}", "responsible": "Leverantören", "due_on": TODAY}],
            attested=True,
            template=None,
            items=items,
        )
    return p


def _statements(app: Flask, client: FlaskClient, path: str) -> int:
    assert client.get(path).status_code == 200  # warm up: first-request work is not counted
    with count_statements(app) as statements:
        assert client.get(path).status_code == 200
    return len([s for s in statements if not s.startswith(("BEGIN", "COMMIT", "ROLLBACK"))])


@pytest.mark.parametrize("role", ["samordnare", "chef", "upphandlare"])
def test_register_statements_do_not_grow_with_the_number_of_procurements(app: Flask, role: str) -> None:
    counts = []
    for size in (3, 30):  # 30: a full page of 25 and a second page
        world = World(app)
        for index in range(size):
            _confirmed_in_services(world, f"Förfarande {index}", runs=index % 2)
        db.commit()
        client = _client(app, getattr(world, role))
        page = _page(client.get("/upphandlingar"))
        assert f"{size} förfaranden." in page
        counts.append(_statements(app, client, "/upphandlingar"))
    assert counts[0] == counts[1] <= 10, counts  # DESIGN.md: at most 10 statements per page


def test_procurement_page_statements_do_not_grow_with_follow_ups_and_history(app: Flask) -> None:
    counts = []
    for runs in (1, 8):
        world = World(app)
        p = _confirmed_in_services(world, "Förfarande", runs=runs)
        db.commit()
        client = _client(app, world.samordnare)
        page = _page(client.get(f"/upphandlingar/{p.id}"))
        assert page.count("Iakttagelser: Iakttagelse") == runs
        counts.append(_statements(app, client, f"/upphandlingar/{p.id}"))
    assert counts[0] == counts[1], counts
