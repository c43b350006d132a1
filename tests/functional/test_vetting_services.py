"""The vetting services against the real database: positions, a case's checklist in order, the
beslut with the two-person rule, notes, re-checks, the end of a case, the lookup by
personnummer, and that no personnummer or name leaks into history, audit trail or log."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid

import pytest
from factories import make_operator, make_unit, make_user
from flask import Flask
from sqlalchemy import select, text

from sakskydd.accounts.models import Role
from sakskydd.analyses.models import SecurityAnalysis
from sakskydd.audit.models import AuditEvent
from sakskydd.extensions import db
from sakskydd.vetting import services
from sakskydd.vetting.models import CaseStatus, StepStatus, VettingCase, VettingChange, VettingNote
from sakskydd.vetting.rules import Decision, StepKind

pytestmark = pytest.mark.db

TODAY = services.local_today()
# Synthetic, checksum-valid and clearly fake: born 1 January 1990 (not a real person's number
# as far as we know; the test only needs the checksum).
PNR = "19900101-0017"
PNR_SHORT = "900101-0017"
NAME = "Testa Testsson Provperson"


class World:
    def __init__(self, app: Flask) -> None:
        self.operator = make_operator()
        self.unit = make_unit(self.operator, "Kulturnämnden")
        self.other_unit = make_unit(self.operator, "Idrottsnämnden")
        self.samordnare = make_user(app, self.operator, roles=[(Role.SAMORDNARE, self.unit)]).user
        self.ersattare = make_user(app, self.operator, roles=[(Role.ERSATTARE, self.unit)]).user
        self.other = make_user(app, self.operator, roles=[(Role.SAMORDNARE, self.other_unit)]).user
        db.commit()


@pytest.fixture
def world(app: Flask) -> World:
    return World(app)


def _position(world: World, klass: str = "klass_2", unit=None, **values):  # type: ignore[no-untyped-def]
    data = {
        "title": "Drifttekniker",
        "security_class": klass,
        "decided_on": TODAY - dt.timedelta(days=30),
        "decided_by": "Kommunstyrelsen",
        "reference": "KS 2026/10",
        "government_reference": "Fö 2025/1" if klass == "klass_1" else None,
        "analysis_id": None,
        "ended_on": None,
    }
    data.update(values)
    return services.create_position(world.samordnare, unit or world.unit, data)


def _open(world: World, position, pnr: str = PNR, unit=None):  # type: ignore[no-untyped-def]
    return services.open_case(
        world.samordnare, unit or world.unit, position_id=position.id, person_name=NAME, personnummer=pnr
    )


def _step(case: VettingCase, kind: StepKind):  # type: ignore[no-untyped-def]
    return next(s for s in case.steps if s.kind == kind)


def _done(world: World, case: VettingCase, kind: StepKind, **extra) -> None:  # type: ignore[no-untyped-def]
    step = _step(case, kind)
    values = {"reference": "Dnr 1", "control_reason": None}
    values.update(extra)
    services.update_step(
        world.samordnare, case, step, done=True, done_on=TODAY, version=step.version, **values
    )


def _through_assessment(world: World, case: VettingCase) -> None:
    for kind in services.rules.steps_for(case.security_class):
        if kind == StepKind.TRAINING:
            continue
        extra = {"control_reason": "placering"} if kind == StepKind.REGISTER_CHECK_REQUESTED else {}
        _done(world, case, kind, **extra)


# --- positions ---------------------------------------------------------------------------------------


def test_a_placement_needs_its_decision_and_klass_1_the_governments(app: Flask, world: World) -> None:
    with pytest.raises(services.DomainError, match="regeringsbeslutets diarienummer"):
        _position(world, "klass_1", government_reference=None)
    with pytest.raises(services.DomainError, match="Bara säkerhetsklass 1"):
        _position(world, "klass_2", government_reference="Fö 2025/1")
    with pytest.raises(services.DomainError, match="framtiden"):
        _position(world, decided_on=TODAY + dt.timedelta(days=1))
    with pytest.raises(services.DomainError, match="placering bland alternativen"):
        _position(world, "klass_4")
    foreign = SecurityAnalysis(
        unit_id=world.other_unit.id, cycle_year=2026, title="Annan", created_by_id=world.other.id
    )
    db.add(foreign)
    db.flush()
    with pytest.raises(services.DomainError, match="enhetens säkerhetsskyddsanalyser"):
        _position(world, analysis_id=foreign.id)
    position = _position(world, "klass_1")
    db.commit()
    assert position.government_reference == "Fö 2025/1"
    event = db.scalars(select(AuditEvent).where(AuditEvent.event == "vetting.position_created")).one()
    assert '"security_class":"klass_1"' in event.payload
    changed = services.update_position(
        world.samordnare,
        position,
        {**_values(position), "title": "Systemförvaltare"},
        position.version,
    )
    assert changed == ["title"]


def _values(position) -> dict:  # type: ignore[no-untyped-def]
    names = ("title", "security_class", "decided_on", "decided_by", "reference", "government_reference")
    return {**{n: getattr(position, n) for n in names}, "analysis_id": None, "ended_on": None}


# --- a case ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("klass", "steps"),
    [("klass_1", 11), ("klass_2", 11), ("klass_3", 10), ("utan_placering", 7)],
)
def test_the_checklist_follows_the_placement(app: Flask, world: World, klass: str, steps: int) -> None:
    case = _open(world, _position(world, klass))
    assert len(case.steps) == steps and case.security_class.value == klass
    has_register_check = any(s.kind == StepKind.REGISTER_CHECK_REQUESTED for s in case.steps)
    assert has_register_check == (klass != "utan_placering")


def test_a_personnummer_is_validated_without_echoing_it(app: Flask, world: World) -> None:
    position = _position(world)
    for bad, message in (
        ("19900101-0018", "fel kontrollsiffra"),
        ("19901301-0013", "giltigt födelsedatum"),
        ("abc", "ska skrivas"),
    ):
        with pytest.raises(services.DomainError, match=message) as caught:
            _open(world, position, bad)
        assert bad not in str(caught.value)
    case = _open(world, position, PNR_SHORT)  # the short form is stored in the long form
    assert case.personnummer == PNR
    with pytest.raises(services.DomainError, match="redan ett pågående ärende"):
        _open(world, position, PNR)
    # A samordningsnummer (day + 60) is a valid identity too.
    assert _open(world, _position(world, title="Annan"), "19900161-0014").personnummer == "19900161-0014"


def test_steps_in_order_and_no_decision_before_the_register_check(app: Flask, world: World) -> None:
    case = _open(world, _position(world, "klass_3"))
    with pytest.raises(services.WrongStage, match="identiteten kontrollerad"):
        _done(world, case, StepKind.INTERVIEW)
    _done(world, case, StepKind.IDENTITY)
    with pytest.raises(services.WrongStage, match="samtycke till registerkontroll"):
        _done(world, case, StepKind.REGISTER_CHECK_REQUESTED, control_reason="placering")
    _done(world, case, StepKind.CONSENT)
    with pytest.raises(services.DomainError, match="kontrollorsak"):
        _done(world, case, StepKind.REGISTER_CHECK_REQUESTED)
    _done(world, case, StepKind.REGISTER_CHECK_REQUESTED, control_reason="placering")
    for kind in (StepKind.CV, StepKind.CERTIFICATES, StepKind.REFERENCES, StepKind.INTERVIEW):
        _done(world, case, kind)
    # Everything but Säpo's answer and the samlad bedömning: no beslut.
    with pytest.raises(services.WrongStage, match="svar på registerkontroll, samlad bedömning"):
        services.decide(
            world.samordnare,
            case,
            decision="godkand",
            decided_on=TODAY,
            reference="B 1",
            version=case.version,
        )
    assert case.status == CaseStatus.IN_PROGRESS and case.decision is None
    # A step others build on cannot be opened again.
    step = _step(case, StepKind.CONSENT)
    with pytest.raises(services.WrongStage, match="registerkontroll begärd bygger på det"):
        services.update_step(
            world.samordnare,
            case,
            step,
            done=False,
            done_on=None,
            reference=None,
            control_reason=None,
            version=step.version,
        )
    _done(world, case, StepKind.REGISTER_CHECK_ANSWERED)
    assert case.checked_on == TODAY
    interview = _step(case, StepKind.INTERVIEW)
    assert interview.done_by_id == world.samordnare.id and interview.reference == "Dnr 1"
    history = [c.what for c in db.scalars(select(VettingChange).where(VettingChange.case_id == case.id))]
    assert "step:registerkontroll_svar" in history and history[0] == "opened"


def test_the_beslut_is_confirmed_by_a_second_person(app: Flask, world: World) -> None:
    case = _open(world, _position(world, "klass_2"))
    _through_assessment(world, case)
    training = _step(case, StepKind.TRAINING)
    with pytest.raises(services.WrongStage, match="utbildningen registreras"):
        services.update_step(
            world.samordnare,
            case,
            training,
            done=True,
            done_on=TODAY,
            reference=None,
            control_reason=None,
            version=training.version,
        )
    services.decide(
        world.samordnare, case, decision="godkand", decided_on=TODAY, reference="B 1", version=case.version
    )
    assert case.status == CaseStatus.DECIDED
    with pytest.raises(services.DomainError, match="annan person"):
        services.confirm_decision(world.samordnare, case, confirm=True, version=case.version)
    services.confirm_decision(world.ersattare, case, confirm=True, version=case.version)
    assert (case.status, case.decision, case.confirmed_by_id) == (
        CaseStatus.APPROVED,
        Decision.APPROVED,
        world.ersattare.id,
    )
    services.update_step(
        world.samordnare,
        case,
        training,
        done=True,
        done_on=TODAY,
        reference=None,
        control_reason=None,
        version=training.version,
    )
    assert training.status == StepStatus.DONE
    # Follow-up notes: attested, encrypted.
    with pytest.raises(services.DomainError, match="Intyga"):
        services.add_note(
            world.samordnare, case, text="Uppföljningssamtal hållet.", noted_on=TODAY, attested=False
        )
    note = services.add_note(
        world.samordnare, case, text="Uppföljningssamtal hållet.", noted_on=TODAY, attested=True
    )
    db.commit()
    raw = db.scalar(select(VettingNote.text_ct).where(VettingNote.id == note.id))
    assert raw is not None and b"Uppf" not in bytes(raw)
    # The omkontroll of klass 2 counts from its date.
    services.record_recheck(world.ersattare, case, checked_on=TODAY, reference="R 1", version=case.version)
    assert case.checked_on == TODAY


def test_not_approved_closes_the_case_and_a_sent_back_beslut_reopens_it(app: Flask, world: World) -> None:
    case = _open(world, _position(world, "utan_placering"))
    _through_assessment(world, case)
    services.decide(
        world.samordnare, case, decision="ej_godkand", decided_on=TODAY, reference="B 2", version=case.version
    )
    services.confirm_decision(world.ersattare, case, confirm=False, version=case.version)
    assert case.status == CaseStatus.IN_PROGRESS and case.decision is None
    services.decide(
        world.samordnare, case, decision="ej_godkand", decided_on=TODAY, reference="B 2", version=case.version
    )
    services.confirm_decision(world.ersattare, case, confirm=True, version=case.version)
    assert case.status == CaseStatus.NOT_APPROVED and case.closed_on == TODAY
    with pytest.raises(services.CaseClosed):
        services.add_note(world.samordnare, case, text="x", noted_on=TODAY, attested=True)


def test_leaving_the_position_needs_the_avanmalan_before_the_case_closes(app: Flask, world: World) -> None:
    case = _open(world, _position(world, "klass_3"))
    _through_assessment(world, case)
    services.decide(
        world.samordnare, case, decision="godkand", decided_on=TODAY, reference="B 3", version=case.version
    )
    services.confirm_decision(world.ersattare, case, confirm=True, version=case.version)
    left = TODAY - dt.timedelta(days=2)
    closed = services.end_case(
        world.samordnare, case, left_on=left, deregistered_on=None, reference=None, version=case.version
    )
    assert not closed and case.status == CaseStatus.APPROVED and case.left_on == left
    with pytest.raises(services.DomainError, match="diarienummer"):
        services.end_case(
            world.samordnare, case, left_on=left, deregistered_on=TODAY, reference=None, version=case.version
        )
    assert services.end_case(
        world.samordnare, case, left_on=left, deregistered_on=TODAY, reference="A 1", version=case.version
    )
    assert case.status == CaseStatus.CLOSED and case.closed_on == TODAY
    # Without a registerkontroll there is nothing to avanmäla: closed at once.
    unplaced = _open(world, _position(world, "utan_placering", title="Vaktmästare"))
    assert services.end_case(
        world.samordnare,
        unplaced,
        left_on=TODAY,
        deregistered_on=None,
        reference=None,
        version=unplaced.version,
    )


def test_a_lookup_finds_only_the_units_own_cases(app: Flask, world: World) -> None:
    own = _open(world, _position(world))
    other_position = _position(world, unit=world.other_unit)
    services.open_case(
        world.other, world.other_unit, position_id=other_position.id, person_name=NAME, personnummer=PNR
    )
    db.commit()
    assert [c.id for c in services.lookup(world.samordnare, world.unit, PNR_SHORT)] == [own.id]
    assert services.lookup(world.samordnare, world.unit, "19900101-0025") == []
    # The same person in another unit has another index: the indexes do not link the units.
    indexes = set(db.scalars(select(VettingCase.pnr_index)))
    assert len(indexes) == 2
    event = db.scalars(select(AuditEvent).where(AuditEvent.event == "vetting.lookup")).first()
    assert event is not None and PNR not in event.payload and '"found":1' in event.payload


def test_no_personnummer_or_name_in_history_audit_or_log(
    app: Flask, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    case = _open(world, _position(world, "klass_2"))
    _through_assessment(world, case)
    services.decide(
        world.samordnare, case, decision="godkand", decided_on=TODAY, reference="B 4", version=case.version
    )
    services.confirm_decision(world.ersattare, case, confirm=True, version=case.version)
    services.record_read(case)
    services.lookup(world.samordnare, world.unit, PNR)
    db.commit()
    payloads = [e.payload for e in db.scalars(select(AuditEvent))]
    assert any('"vetting.read_personal"' in p or "read_personal" in p for p in payloads)
    history = json.dumps([c.changes for c in db.scalars(select(VettingChange))], ensure_ascii=False)
    for secret in (PNR, PNR_SHORT, "199001010017", NAME, "Testsson"):
        assert all(secret not in p for p in payloads), secret
        assert secret not in history, secret
        assert secret not in caplog.text, secret
    # At rest the personal fields are ciphertext.
    row = db.execute(
        text("SELECT person_name, personnummer FROM vetting_case WHERE id = :id"),
        {"id": case.id.hex if db.get_bind().dialect.name == "sqlite" else case.id},
    ).one()
    for value in row:
        assert value is not None and NAME.encode() not in bytes(value) and PNR.encode() not in bytes(value)


def test_the_chef_keeps_interview_template_versions(app: Flask, world: World) -> None:
    chef = make_user(app, world.operator, roles=[(Role.CHEF, world.operator)]).user
    row, topics = services.current_interview_template(world.operator.id)
    assert row is None and topics == list(services.DEFAULT_INTERVIEW_TOPICS)
    first = services.save_interview_template(chef, world.operator, "Bakgrund\nSårbarheter")
    assert first is not None and first.version_no == 1
    assert services.save_interview_template(chef, world.operator, "Bakgrund\nSårbarheter") is None
    with pytest.raises(services.DomainError, match="Samma punkt"):
        services.save_interview_template(chef, world.operator, "A\nA")
    second = services.save_interview_template(chef, world.operator, "Bakgrund")
    assert second is not None and second.version_no == 2
    # An interview records the version it followed.
    case = _open(world, _position(world))
    _done(world, case, StepKind.IDENTITY)
    _done(world, case, StepKind.INTERVIEW)
    assert _step(case, StepKind.INTERVIEW).template_id == second.id
    assert uuid.UUID(str(second.operator_id)) == world.operator.id


def test_no_omkontroll_after_the_person_left(app: Flask, world: World) -> None:
    case = _open(world, _position(world, "klass_2"))
    _through_assessment(world, case)
    services.decide(
        world.samordnare, case, decision="godkand", decided_on=TODAY, reference="B 4", version=case.version
    )
    services.confirm_decision(world.ersattare, case, confirm=True, version=case.version)
    services.record_recheck(world.samordnare, case, checked_on=TODAY, reference="R 1", version=case.version)
    services.end_case(
        world.samordnare, case, left_on=TODAY, deregistered_on=None, reference=None, version=case.version
    )
    with pytest.raises(services.WrongStage, match="lämnat befattningen"):
        services.record_recheck(
            world.samordnare, case, checked_on=TODAY, reference="R 2", version=case.version
        )


def test_a_beslut_waiting_for_confirmation_is_not_ended_and_a_left_person_not_decided(
    app: Flask, world: World
) -> None:
    case = _open(world, _position(world, "klass_3"))
    _through_assessment(world, case)
    services.decide(
        world.samordnare, case, decision="godkand", decided_on=TODAY, reference="B 5", version=case.version
    )
    with pytest.raises(services.WrongStage, match="väntar på bekräftelse"):
        services.end_case(
            world.samordnare, case, left_on=TODAY, deregistered_on=None, reference=None, version=case.version
        )
    services.confirm_decision(world.ersattare, case, confirm=False, version=case.version)  # sent back
    services.end_case(
        world.samordnare, case, left_on=TODAY, deregistered_on=None, reference=None, version=case.version
    )
    assert case.status == CaseStatus.IN_PROGRESS and case.left_on == TODAY  # the avanmälan is due
    with pytest.raises(services.WrongStage, match="avbrutet"):
        services.decide(
            world.samordnare,
            case,
            decision="godkand",
            decided_on=TODAY,
            reference="B 6",
            version=case.version,
        )
