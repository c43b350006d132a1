"""`sakskydd retention run [--dry-run]`: the gallring of closed vetting cases against the real
database. Which cases are due (the due day itself and the day before), what the dry run shows
and leaves alone, what the run destroys (ciphertexts, blind index, notes) and what it keeps
(rows, counts by class and status, other cases' personal data), one audit event per case
without personal data, no personnummer or name in the log, a second run that does nothing, a
case changed since planning left alone, and the audit chain still whole. On SQLite also the
database file itself: the destroyed ciphertext is no longer anywhere in it."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select, text, update
from test_vetting_services import TODAY, World, _position, _through_assessment

from sakskydd.audit.models import AuditEvent
from sakskydd.extensions import db
from sakskydd.vetting import retention, services
from sakskydd.vetting.models import CaseStatus, VettingCase, VettingNote, VettingStep

pytestmark = pytest.mark.db

CLOSED_DAYS = 100  # retention_vetting_closed_days in these tests
NOT_APPROVED_DAYS = 10  # retention_vetting_not_approved_days


@dataclass(frozen=True)
class Person:
    """A synthetic person: a checksum-valid personnummer of 1 January 1990 and a made-up name."""

    name: str
    pnr: str  # ÅÅÅÅMMDD-NNNN

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every form in which the person could leak: the personnummer with and without the
        century and the hyphen, the full name and the surname alone."""
        long, short = self.pnr, self.pnr[2:]
        return (
            long,
            long.replace("-", ""),
            short,
            short.replace("-", ""),
            self.name,
            self.name.split()[1],
        )


ALMA = Person("Alma Gallringsdotter Testperson", "19900101-0017")  # approved, left: closed
BRUNO = Person("Bruno Avslagsson Testperson", "19900101-0025")  # not approved
CELIA = Person("Celia Senaresson Testperson", "19900101-0033")  # closed one day after Alma
DAVID = Person("David Pagaendesson Testperson", "19900101-0041")  # still in progress
EBBA = Person("Ebba Kvarsdotter Testperson", "19900101-0058")  # approved, holds the position
FRANS = Person("Frans Avanmalsson Testperson", "19900101-0066")  # left; avanmälan not yet made
PEOPLE = (ALMA, BRUNO, CELIA, DAVID, EBBA, FRANS)

ALMA_CLOSED = TODAY - dt.timedelta(days=1)
ALMA_DUE = ALMA_CLOSED + dt.timedelta(days=CLOSED_DAYS)  # the run day of these tests
BRUNO_DUE = TODAY + dt.timedelta(days=NOT_APPROVED_DAYS)
CELIA_DUE = TODAY + dt.timedelta(days=CLOSED_DAYS)  # the day after ALMA_DUE


@dataclass
class Cases:
    world: World
    by_person: dict[Person, VettingCase]

    def __getitem__(self, person: Person) -> VettingCase:
        return self.by_person[person]


def _open(world: World, person: Person, klass: str) -> VettingCase:
    position = _position(world, klass, title=f"Befattning {person.pnr[-4:]}")
    return services.open_case(
        world.samordnare,
        world.unit,
        position_id=position.id,
        person_name=person.name,
        personnummer=person.pnr,
    )


def _decided(world: World, person: Person, klass: str, decision: str) -> VettingCase:
    case = _open(world, person, klass)
    _through_assessment(world, case)
    services.decide(
        world.samordnare, case, decision=decision, decided_on=TODAY, reference="B 1", version=case.version
    )
    services.confirm_decision(world.ersattare, case, confirm=True, version=case.version)
    return case


def _note(world: World, case: VettingCase, body: str) -> None:
    services.add_note(world.samordnare, case, text=body, noted_on=TODAY, attested=True)


@pytest.fixture
def cases(app: Flask) -> Cases:
    """Six cases of one unit, closed (or not) through the services."""
    settings = app.config["SAKSKYDD_SETTINGS"]
    settings.retention_vetting_closed_days = CLOSED_DAYS
    settings.retention_vetting_not_approved_days = NOT_APPROVED_DAYS
    world = World(app)
    alma = _decided(world, ALMA, "klass_3", "godkand")
    _note(world, alma, "Uppföljningssamtal hållet.")
    _note(world, alma, "Ny uppföljning, inget att anmärka.")
    assert services.end_case(
        world.samordnare,
        alma,
        left_on=ALMA_CLOSED,
        deregistered_on=ALMA_CLOSED,
        reference="A 1",
        version=alma.version,
    )
    bruno = _decided(world, BRUNO, "utan_placering", "ej_godkand")
    celia = _open(world, CELIA, "utan_placering")
    assert services.end_case(
        world.samordnare, celia, left_on=TODAY, deregistered_on=None, reference=None, version=celia.version
    )
    david = _open(world, DAVID, "klass_2")
    ebba = _decided(world, EBBA, "klass_2", "godkand")
    _note(world, ebba, "Uppföljning av en person som är kvar.")
    frans = _decided(world, FRANS, "klass_3", "godkand")
    assert not services.end_case(
        world.samordnare, frans, left_on=TODAY, deregistered_on=None, reference=None, version=frans.version
    )
    db.commit()
    made = Cases(world, {ALMA: alma, BRUNO: bruno, CELIA: celia, DAVID: david, EBBA: ebba, FRANS: frans})
    # The fixture's own control: the statuses and closing dates the tests rely on.
    assert [(made[p].status, made[p].closed_on) for p in PEOPLE] == [
        (CaseStatus.CLOSED, ALMA_CLOSED),
        (CaseStatus.NOT_APPROVED, TODAY),
        (CaseStatus.CLOSED, TODAY),
        (CaseStatus.IN_PROGRESS, None),
        (CaseStatus.APPROVED, None),
        (CaseStatus.APPROVED, None),
    ]
    return made


def run(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["retention", "run", *args])


def _raw_cases() -> dict[uuid.UUID, dict[str, Any]]:
    """Every vetting_case row as stored, read with plain SQL (not through the model)."""
    rows = db.execute(text("SELECT * FROM vetting_case")).mappings().all()
    return {uuid.UUID(str(row["id"])): dict(row) for row in rows}


def _snapshot() -> tuple[Any, ...]:
    notes = db.execute(text("SELECT * FROM vetting_note ORDER BY id")).all()
    events = db.scalar(select(func.count()).select_from(AuditEvent))
    return _raw_cases(), [tuple(n) for n in notes], events


def _counts() -> list[tuple[Any, ...]]:
    rows = db.execute(
        select(VettingCase.unit_id, VettingCase.security_class, VettingCase.status, func.count())
        .group_by(VettingCase.unit_id, VettingCase.security_class, VettingCase.status)
        .order_by(VettingCase.unit_id, VettingCase.security_class, VettingCase.status)
    )
    return [tuple(row) for row in rows]


def _notes_of(case: VettingCase) -> int:
    return int(db.scalar(select(func.count()).select_from(VettingNote).where(VettingNote.case_id == case.id)))


def _disposed_events() -> list[AuditEvent]:
    return list(db.scalars(select(AuditEvent).where(AuditEvent.event == "vetting.disposed")))


def _line(case: VettingCase, rule: str, closed: dt.date, due: dt.date) -> str:
    return f"{case.id}: {rule}, avslutat {closed.isoformat()}, gallras från {due.isoformat()}"


def test_the_dry_run_lists_exactly_the_expired_cases_and_changes_nothing(app: Flask, cases: Cases) -> None:
    before = _snapshot()
    day_before = run(app, "--dry-run", "--today", (ALMA_DUE - dt.timedelta(days=1)).isoformat())
    assert day_before.exit_code == 0, day_before.output
    assert day_before.output.splitlines() == [
        _line(cases[BRUNO], "vetting_not_approved", TODAY, BRUNO_DUE),
        "Torrkörning: 1 ärende skulle gallras. Inget har ändrats.",
    ]
    on_the_day = run(app, "--dry-run", "--today", ALMA_DUE.isoformat())
    assert on_the_day.exit_code == 0, on_the_day.output
    assert on_the_day.output.splitlines() == [
        _line(cases[ALMA], "vetting_closed", ALMA_CLOSED, ALMA_DUE),
        _line(cases[BRUNO], "vetting_not_approved", TODAY, BRUNO_DUE),
        "Torrkörning: 2 ärenden skulle gallras. Inget har ändrats.",
    ]
    for person in PEOPLE:
        assert all(secret not in on_the_day.output for secret in person.secrets)
    db.rollback()
    assert _snapshot() == before  # no row, note or audit event changed or added
    assert _disposed_events() == []


def test_the_plan_follows_each_record_types_period(app: Flask, cases: Cases) -> None:
    settings = app.config["SAKSKYDD_SETTINGS"]

    def planned(day: dt.date) -> list[tuple[uuid.UUID, str, dt.date]]:
        return [(d.case_id, d.rule, d.due_on) for d in retention.plan_disposals(day, settings)]

    assert planned(TODAY) == []
    assert planned(BRUNO_DUE - dt.timedelta(days=1)) == []
    assert planned(BRUNO_DUE) == [(cases[BRUNO].id, "vetting_not_approved", BRUNO_DUE)]
    everything = planned(CELIA_DUE)
    assert sorted(everything) == sorted(
        [
            (cases[ALMA].id, "vetting_closed", ALMA_DUE),
            (cases[BRUNO].id, "vetting_not_approved", BRUNO_DUE),
            (cases[CELIA].id, "vetting_closed", CELIA_DUE),
        ]
    )
    assert everything[0][0] == cases[ALMA].id  # oldest closing date first
    # Years later, open and approved cases are still never planned.
    far = {d[0] for d in planned(TODAY + dt.timedelta(days=36500))}
    assert far == {cases[ALMA].id, cases[BRUNO].id, cases[CELIA].id}
    # The period is the setting's: a longer one moves the due date.
    settings.retention_vetting_not_approved_days = NOT_APPROVED_DAYS + 5
    assert planned(BRUNO_DUE) == []


def test_the_run_destroys_the_expired_personal_data_and_keeps_the_rest(
    app: Flask, cases: Cases, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    alma, bruno = cases[ALMA], cases[BRUNO]
    kept = [p for p in PEOPLE if p not in (ALMA, BRUNO)]
    counts = _counts()
    steps = {p: len(cases[p].steps) for p in PEOPLE}
    raw_before = _raw_cases()
    assert _notes_of(alma) == 2 and _notes_of(cases[EBBA]) == 1
    assert [c.id for c in services.lookup(cases.world.samordnare, cases.world.unit, ALMA.pnr)] == [alma.id]
    db.commit()

    result = run(app, "--today", ALMA_DUE.isoformat())
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["2 ärenden gallrade"]
    db.close()

    raw = _raw_cases()
    for case in (alma, bruno):
        row = raw[case.id]
        assert (row["person_name"], row["personnummer"], row["pnr_index"]) == (None, None, None)
        assert row["anonymised_on"] is not None and str(row["anonymised_on"])[:10] == ALMA_DUE.isoformat()
        assert row["version"] == raw_before[case.id]["version"] + 1
        # What the statistics need stays as it was.
        for column in ("unit_id", "position_id", "security_class", "status", "decision", "closed_on"):
            assert row[column] == raw_before[case.id][column], column
    assert _notes_of(alma) == 0
    for person in kept:  # untouched, and their personal data still opens
        assert raw[cases[person].id] == raw_before[cases[person].id], person
        case = db.get(VettingCase, cases[person].id)
        assert case is not None and (case.person_name, case.personnummer) == (person.name, person.pnr)
    assert _notes_of(cases[EBBA]) == 1
    assert _counts() == counts
    for person in PEOPLE:
        assert (
            db.scalar(
                select(func.count()).select_from(VettingStep).where(VettingStep.case_id == cases[person].id)
            )
            == steps[person]
        )
    disposed = db.get(VettingCase, alma.id)
    assert disposed is not None and disposed.person_name is None and disposed.personnummer is None

    # One audit event per disposed case, naming the case and its rule and nothing personal.
    events = _disposed_events()
    assert sorted((e.target_id, e.target_type) for e in events) == sorted(
        [(str(alma.id), "vetting_case"), (str(bruno.id), "vetting_case")]
    )
    for entry in events:
        rule, closed, notes = (
            ("vetting_closed", ALMA_CLOSED, 2)
            if entry.target_id == str(alma.id)
            else ("vetting_not_approved", TODAY, 0)
        )
        assert f'"rule":"{rule}"' in entry.payload
        assert f'"closed_on":"{closed.isoformat()}"' in entry.payload
        assert f'"notes_deleted":{notes}' in entry.payload
        assert f'"id":"{entry.target_id}"' in entry.payload
    payloads = [e.payload for e in db.scalars(select(AuditEvent))]
    for person in PEOPLE:
        for secret in person.secrets:
            assert all(secret not in p for p in payloads), secret
            assert secret not in caplog.text, secret
            assert secret not in result.output, secret

    # The blind index is gone: a lookup by the personnummer no longer finds the case.
    assert services.lookup(cases.world.samordnare, cases.world.unit, ALMA.pnr) == []
    assert services.lookup(cases.world.samordnare, cases.world.unit, BRUNO.pnr[2:]) == []
    assert [c.id for c in services.lookup(cases.world.samordnare, cases.world.unit, CELIA.pnr)] == [
        cases[CELIA].id
    ]
    db.commit()

    # Run again: nothing is due twice. The next day Celia's period has run out too.
    again = run(app, "--today", ALMA_DUE.isoformat())
    assert again.exit_code == 0 and again.output.splitlines() == ["0 ärenden gallrade"]
    assert len(_disposed_events()) == 2
    later = run(app, "--today", CELIA_DUE.isoformat())
    assert later.exit_code == 0 and later.output.splitlines() == ["1 ärende gallrade"]
    assert [e.target_id for e in _disposed_events()].count(str(cases[CELIA].id)) == 1
    db.close()

    verified = app.test_cli_runner().invoke(args=["audit", "verify", "--jobs", "1"])
    assert verified.exit_code == 0 and "hel" in verified.output, verified.output


def test_a_case_changed_since_planning_is_left_alone(app: Flask, cases: Cases) -> None:
    settings = app.config["SAKSKYDD_SETTINGS"]
    alma, bruno, celia = (cases[p].id for p in (ALMA, BRUNO, CELIA))
    plan = retention.plan_disposals(CELIA_DUE, settings)
    assert {d.case_id for d in plan} == {alma, bruno, celia}
    db.rollback()
    # Meanwhile: a concurrent run disposed of Bruno's case, and Celia's closing date was
    # corrected to a later day (so it is no longer due).
    assert retention.dispose([d for d in plan if d.case_id == bruno], CELIA_DUE) == 1
    db.execute(
        update(VettingCase).where(VettingCase.id == celia).values(closed_on=TODAY + dt.timedelta(days=1))
    )
    db.commit()
    assert retention.dispose(plan, CELIA_DUE) == 1  # Alma only
    db.close()
    raw = _raw_cases()
    assert raw[celia]["personnummer"] is not None and raw[celia]["anonymised_on"] is None
    assert raw[alma]["personnummer"] is None
    assert sorted(e.target_id for e in _disposed_events()) == sorted([str(alma), str(bruno)])
    # A plan made for a later day is not carried out early: Celia's case (back to its real
    # closing date) is due on CELIA_DUE, not the day before.
    db.execute(update(VettingCase).where(VettingCase.id == celia).values(closed_on=TODAY))
    db.commit()
    assert retention.dispose(plan, CELIA_DUE - dt.timedelta(days=1)) == 0
    assert _raw_cases()[celia]["personnummer"] is not None
    # On its day it goes; after that the same plan disposes of nothing more.
    assert retention.dispose(plan, CELIA_DUE) == 1
    assert retention.dispose(plan, CELIA_DUE) == 0
    assert sorted(e.target_id for e in _disposed_events()) == sorted(map(str, (alma, bruno, celia)))


def _file_bytes(url: str) -> bytes:
    path = Path(url.removeprefix("sqlite:///"))
    wal = Path(f"{path}-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def _checkpoint() -> None:
    """Write the WAL's pages into the database file (a passive checkpoint: the WAL file keeps
    its old frames, which are searched as well)."""
    db.close()
    raw = db.get_bind().raw_connection()  # outside a transaction, as a checkpoint needs
    try:
        busy, _frames, _done = raw.driver_connection.execute("PRAGMA wal_checkpoint").fetchone()
    finally:
        raw.close()
    assert busy == 0


def _secure_delete_off(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    dbapi_connection.execute("PRAGMA secure_delete = OFF")


@pytest.mark.backend("sqlite")
@pytest.mark.parametrize("build_default", ["as built", "secure_delete off"])
def test_the_destroyed_ciphertext_is_gone_from_the_sqlite_file(
    app: Flask, cases: Cases, build_default: str, request: pytest.FixtureRequest
) -> None:
    url = app.config["SAKSKYDD_SETTINGS"].database_url
    assert url.startswith("sqlite:///"), "this test reads the embedded SQLite database file"
    engine = db.get_bind()
    if build_default == "secure_delete off":
        # An SQLite built without SQLITE_SECURE_DELETE (Debian's has it on): every connection the
        # pool hands out starts with it off, so only the run's own setting zeroes what it frees.
        db.close()
        event.listen(engine, "checkout", _secure_delete_off)
        request.addfinalizer(lambda: event.remove(engine, "checkout", _secure_delete_off))
    alma = cases[ALMA]
    row = db.execute(
        text("SELECT person_name, personnummer, pnr_index FROM vetting_case WHERE id = :id"),
        {"id": alma.id.hex},
    ).one()
    notes = db.execute(text("SELECT text FROM vetting_note WHERE case_id = :id"), {"id": alma.id.hex}).all()
    destroyed = [bytes(value) for value in row] + [bytes(note[0]) for note in notes]
    assert len(destroyed) == 5 and all(len(value) >= 16 for value in destroyed)
    kept = db.execute(
        text("SELECT personnummer FROM vetting_case WHERE id = :id"), {"id": cases[EBBA].id.hex}
    ).scalar_one()
    _checkpoint()
    before = _file_bytes(url)
    assert all(value in before for value in destroyed)  # the control: the search finds them

    result = run(app, "--today", ALMA_DUE.isoformat())
    assert result.exit_code == 0 and result.output.splitlines() == ["2 ärenden gallrade"]
    _checkpoint()
    after = _file_bytes(url)
    assert bytes(kept) in after  # the control: the file still holds the cases that were kept
    for value in destroyed:
        assert value not in after
