"""The auditors' workspace: verification on demand (a background run with progress and the
first bad seq), the trusted public key, and the export of a selection as a range that verifies
standalone, also from the command line."""

from __future__ import annotations

import html
import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from factories import Person, make_operator, make_unit, make_user, session_cookie
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from sakskydd import audit
from sakskydd.accounts.models import Role
from sakskydd.audit.checkpoints import (
    SigningKeyError,
    generate_signing_key,
    load_signing_key,
    make_checkpoint,
    public_key_pem,
    write_public_key,
)
from sakskydd.audit.cli import verify_export_command
from sakskydd.audit.ddl import drop_statements, trigger_statements
from sakskydd.audit.models import AuditEvent, AuditHead
from sakskydd.audit.range_export import verify_range_export
from sakskydd.audit.tags import Event, Outcome
from sakskydd.auditing import verification
from sakskydd.auditing.models import RunStatus, VerificationRun
from sakskydd.crypto.fields import current_keyring
from sakskydd.db import utcnow
from sakskydd.extensions import db, get_database

pytestmark = pytest.mark.db


class World:
    def __init__(self, app: Flask) -> None:
        self.operator = make_operator()
        self.foreign = make_operator()
        self.unit = make_unit(self.operator, "Kulturnämnden")
        self.foreign_unit = make_unit(self.foreign, "Annan nämnd")
        self.revisor = make_user(app, self.operator, roles=[(Role.REVISOR, self.operator)])
        self.samordnare = make_user(
            app, self.operator, username="sara.samordnare", roles=[(Role.SAMORDNARE, self.unit)]
        )
        self.foreign_person = make_user(app, self.foreign, roles=[(Role.SAMORDNARE, self.foreign_unit)])
        # Events of both operators, interleaved, so that a selection's range holds foreign ones.
        for number in range(6):
            for person, unit in ((self.samordnare, self.unit), (self.foreign_person, self.foreign_unit)):
                audit.record(
                    Event.UNIT_READ,
                    actor=person.id,
                    target_type="org_unit",
                    target_id=unit.id,
                    unit_id=unit.id,
                    detail={"n": number, "marker": f"hemlig-markor-{person.user.username}"},
                )
        db.commit()
        db.close()


@pytest.fixture
def world(app: Flask) -> World:
    return World(app)


def _client(app: Flask, person: Person, *, fresh: bool = True) -> FlaskClient:
    db.close()
    client = app.test_client()
    session_cookie(client, app, person, fresh=fresh)
    return client


def _csrf(client: FlaskClient) -> str:
    import re

    body = client.get("/").get_data(as_text=True)
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', body).group(1)


def _wait_for_run(app: Flask) -> VerificationRun:
    """The latest run once it has finished (the thread ends within seconds on a small log)."""
    for _ in range(600):
        run = db.scalar(select(VerificationRun).order_by(VerificationRun.started_at.desc()).limit(1))
        db.close()  # not asleep in a transaction: on SQLite it holds the write lock the run needs
        if run is not None and run.status != RunStatus.RUNNING:
            return run
        time.sleep(0.05)
    raise AssertionError("the verification did not finish")


def _tamper(app: Flask, sql: str, params: dict[str, Any]) -> None:
    """Change the trail as an attacker who owns the database (triggers dropped and restored)."""
    db.close()
    engine = get_database(app).engine
    dialect = engine.dialect.name
    with engine.begin() as connection:
        for statement in drop_statements(dialect):
            connection.exec_driver_sql(statement)
        connection.execute(text(sql), params)
        for statement in trigger_statements(dialect):
            connection.exec_driver_sql(statement)


def _start(app: Flask, client: FlaskClient) -> VerificationRun:
    response = client.post("/granskning/verifiering", data={"csrf_token": _csrf(client)})
    assert response.status_code == 303
    return _wait_for_run(app)


def _events(event: Event) -> list[AuditEvent]:
    db.close()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.event == event.value)))


def test_a_verification_runs_in_the_background_and_is_audited(app: Flask, world: World) -> None:
    client = _client(app, world.revisor)
    run = _start(app, client)
    head = db.scalar(select(AuditHead.seq))
    assert run.status == RunStatus.INTACT
    assert run.started_by_id == world.revisor.id
    assert 0 < run.checked <= head and run.first_bad_seq is None
    body = html.unescape(client.get("/granskning/verifiering").get_data(as_text=True))
    assert "Hel" in body and f"{run.checked}" in body
    assert 'http-equiv="refresh"' not in body  # only while a run is going
    started, verified = _events(Event.AUDIT_VERIFICATION_STARTED), _events(Event.AUDIT_VERIFIED)
    assert [e.actor_id for e in started] == [world.revisor.id]
    assert [(e.actor_id, e.outcome) for e in verified] == [(world.revisor.id, Outcome.SUCCESS.value)]
    payload = json.loads(verified[0].payload)
    assert payload["detail"]["ok"] is True and payload["source"]["system"] == "background"


def test_a_tampered_event_is_found_with_its_seq(app: Flask, world: World) -> None:
    victim = db.scalar(select(AuditEvent.seq).where(AuditEvent.event == Event.UNIT_READ.value).limit(1))
    _tamper(
        app,
        "UPDATE audit_event SET payload = replace(payload, 'hemlig', 'ändrad') WHERE seq = :s",
        {"s": victim},
    )
    client = _client(app, world.revisor)
    run = _start(app, client)
    assert run.status == RunStatus.BROKEN
    assert run.first_bad_seq == victim and run.code == "hash_mismatch"
    body = html.unescape(client.get("/granskning/verifiering").get_data(as_text=True))
    assert "Bruten" in body and f'id="forsta-fel">{victim}<' in body
    (verified,) = _events(Event.AUDIT_VERIFIED)
    assert verified.outcome == Outcome.FAILURE.value
    assert json.loads(verified.payload)["detail"]["first_bad_seq"] == victim


def test_checkpoints_are_checked_with_the_trusted_public_key_only(
    app: Flask, world: World, tmp_path: Path
) -> None:
    settings = app.config["SAKSKYDD_SETTINGS"]
    signing_key = load_signing_key(settings.signing_key_file)
    make_checkpoint(db, signing_key, keyring=current_keyring())
    db.commit()
    client = _client(app, world.revisor)
    run = _start(app, client)
    assert (run.status, run.checkpoints) == (RunStatus.INTACT, 1)
    assert run.key_fingerprint == verification.trusted_key().fingerprint
    # An attacker's key in place of the trusted one: the checkpoint no longer verifies.
    settings.audit_public_key_file.unlink()
    other = generate_signing_key(tmp_path / "other.key")
    write_public_key(settings.audit_public_key_file, other)
    db.close()
    run = _start(app, client)
    assert run.status == RunStatus.BROKEN and run.code == "checkpoint_key"
    body = html.unescape(client.get("/granskning/verifiering").get_data(as_text=True))
    assert "signerad med en annan nyckel" in body


def test_the_public_key_file_is_never_replaced_silently(app: Flask, tmp_path: Path) -> None:
    settings = app.config["SAKSKYDD_SETTINGS"]
    key = load_signing_key(settings.signing_key_file)
    assert write_public_key(settings.audit_public_key_file, key) is False  # the same key: unchanged
    assert settings.audit_public_key_file.read_text() == public_key_pem(key)
    with pytest.raises(SigningKeyError):
        write_public_key(settings.audit_public_key_file, generate_signing_key(tmp_path / "x.key"))
    result = app.test_cli_runner().invoke(args=["audit", "public-key"])
    assert result.exit_code == 0 and "Oförändrad" in result.output


def test_a_missing_public_key_is_said_plainly(app: Flask, world: World) -> None:
    app.config["SAKSKYDD_SETTINGS"].audit_public_key_file.unlink()
    body = html.unescape(_client(app, world.revisor).get("/granskning/verifiering").get_data(as_text=True))
    assert "Den publika nyckeln saknas" in body


def test_one_run_at_a_time_and_a_dead_run_is_replaced(app: Flask, world: World) -> None:
    first, started = verification.start(world.revisor.id)
    db.commit()
    assert started
    again, started_again = verification.start(world.revisor.id)
    assert (again.id, started_again) == (first.id, False)
    body = html.unescape(_client(app, world.revisor).get("/granskning/verifiering").get_data(as_text=True))
    assert 'http-equiv="refresh"' in body and "<progress" in body
    # Its process died: no heartbeat for longer than STALE_AFTER.
    first = db.get(VerificationRun, first.id)
    first.heartbeat_at = utcnow() - verification.STALE_AFTER * 2
    db.commit()
    assert verification.effective_status(first) == RunStatus.FAILED
    replacement, started = verification.start(world.revisor.id)
    db.commit()
    assert started and replacement.id != first.id
    assert db.get(VerificationRun, first.id).status == RunStatus.FAILED


def test_only_auditors_verify(app: Flask, world: World) -> None:
    client = _client(app, world.samordnare)
    assert client.get("/granskning/verifiering").status_code == 403
    assert client.post("/granskning/verifiering", data={"csrf_token": _csrf(client)}).status_code == 403
    assert db.scalar(select(VerificationRun.id)) is None


# --- export of a selection -------------------------------------------------------------------


def _export(app: Flask, client: FlaskClient, tmp_path: Path, **query: str) -> Path:
    response = client.get("/granskning/export", query_string=query)
    assert response.status_code == 200, response.headers.get("Location")
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["Cache-Control"] == "no-store"
    path = tmp_path / "export.jsonl"
    path.write_bytes(response.get_data())
    return path


def test_an_export_of_a_persons_events_verifies_standalone_and_seals_the_rest(
    app: Flask, world: World, tmp_path: Path
) -> None:
    client = _client(app, world.revisor)
    path = _export(app, client, tmp_path, person="sara.samordnare")
    outcome = verify_range_export(path, mac_key=current_keyring().audit_mac_key)
    assert outcome.result.ok, outcome.result.reason
    mine = db.scalars(select(AuditEvent.seq).where(AuditEvent.actor_id == world.samordnare.id)).all()
    assert outcome.full == len(mine) == 6
    assert outcome.header.first_seq == min(mine) and outcome.header.last_seq == max(mine)
    assert outcome.sealed == max(mine) - min(mine) + 1 - len(mine) > 0
    content = path.read_text()
    assert "hemlig-markor-sara.samordnare" in content
    assert f"hemlig-markor-{world.foreign_person.user.username}" not in content  # another operator's
    lines = [json.loads(line) for line in content.splitlines()]
    assert lines[0]["marking"].startswith("Granskningslogg") and lines[0]["public_key"].startswith(
        "-----BEGIN"
    )
    (exported,) = _events(Event.AUDIT_EXPORTED)
    detail = json.loads(exported.payload)["detail"]
    assert exported.actor_id == world.revisor.id
    assert (detail["full"], detail["sealed"]) == (outcome.full, outcome.sealed)
    assert "sara" not in exported.payload  # the typed search text never reaches the trail


def test_a_changed_export_fails_at_the_changed_event(app: Flask, world: World, tmp_path: Path) -> None:
    path = _export(app, _client(app, world.revisor), tmp_path, enhet=str(world.unit.id))
    lines = path.read_text().splitlines()
    index, line = next((i, json.loads(x)) for i, x in enumerate(lines) if json.loads(x)["type"] == "event")
    line["payload"] = line["payload"].replace("hemlig", "ändrad")
    lines[index] = json.dumps(line)
    path.write_text("\n".join(lines) + "\n")
    result = verify_range_export(path).result
    assert not result.ok and result.first_bad_seq == line["seq"] and result.code == "hash_mismatch"


def test_a_range_is_anchored_to_a_signed_checkpoint_inside_it(
    app: Flask, world: World, tmp_path: Path
) -> None:
    signing_key = load_signing_key(app.config["SAKSKYDD_SETTINGS"].signing_key_file)
    checkpoint = make_checkpoint(db, signing_key, keyring=current_keyring())
    db.commit()
    audit.record(Event.UNIT_READ, actor=world.samordnare.id, unit_id=world.unit.id, detail={"n": 99})
    db.commit()
    path = _export(app, _client(app, world.revisor), tmp_path, person="sara.samordnare")
    outcome = verify_range_export(path)
    assert outcome.result.ok and outcome.anchor == checkpoint.size
    # The server's word for the hash before the range is checked by the checkpoint: a forged one fails.
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    header["prev_hash"] = "00" * 32
    path.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    forged = verify_range_export(path).result
    assert not forged.ok


def test_the_command_line_verifies_a_range_export_without_a_server(
    app: Flask, world: World, tmp_path: Path
) -> None:
    path = _export(app, _client(app, world.revisor), tmp_path, person="sara.samordnare")
    key = str(app.config["SAKSKYDD_SETTINGS"].audit_public_key_file)
    on_server = app.test_cli_runner().invoke(
        args=["audit", "verify", "--export", str(path), "--public-key", key]
    )
    assert on_server.exit_code == 0, on_server.output
    assert "Granskningsloggen är hel" in on_server.output and "förseglade" in on_server.output
    # The auditor's machine: the top-level command, with no application behind it.
    standalone = CliRunner().invoke(verify_export_command, [str(path), "--public-key", key, "--jobs", "1"])
    assert standalone.exit_code == 0, standalone.output
    assert "Granskningsloggen är hel" in standalone.output
    lines = path.read_text().splitlines()
    sealed = next(i for i, line in enumerate(lines) if json.loads(line)["type"] == "sealed")
    changed = json.loads(lines[sealed])
    changed["leaf"] = "ab" * 32
    lines[sealed] = json.dumps(changed)
    path.write_text("\n".join(lines) + "\n")
    broken = CliRunner().invoke(verify_export_command, [str(path), "--public-key", key, "--jobs", "1"])
    assert broken.exit_code == 1
    assert f"bruten vid seq {changed['seq']}" in broken.output


def test_an_export_needs_a_fresh_step_up_and_a_selection(app: Flask, world: World) -> None:
    stale = _client(app, world.revisor, fresh=False)
    response = stale.get("/granskning/export", query_string={"person": "sara.samordnare"})
    assert response.status_code == 303 and response.headers["Location"].startswith("/konto/bekrafta?next=")
    fresh = _client(app, world.revisor)
    nothing = fresh.get("/granskning/export", query_string={"person": "finns.inte"})
    assert nothing.status_code == 303 and "/granskning" in nothing.headers["Location"]
    assert _events(Event.AUDIT_EXPORTED) == []
    assert _client(app, world.samordnare).get("/granskning/export").status_code == 403
