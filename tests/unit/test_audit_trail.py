"""The audit trail on a real database: appends, guards, triggers, rollback, checkpoints, export."""

from __future__ import annotations

import _thread
import hashlib
import hmac
import json
import os
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from multiprocessing.pool import Pool
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from sakskydd import audit
from sakskydd.audit import Event, SensitiveDetail
from sakskydd.audit import export as export_module
from sakskydd.audit import verify as verify_module
from sakskydd.audit.chain import GENESIS_HASH, NotCanonical, entry_hash, leaf_hash
from sakskydd.audit.checkpoints import (
    SigningKeyError,
    generate_signing_key,
    load_signing_key,
    make_checkpoint,
    public_key_pem,
    read_checkpoint_file,
)
from sakskydd.audit.ddl import drop_statements, trigger_statements
from sakskydd.audit.export import ExportFormatError, verify_export, write_export
from sakskydd.audit.models import AuditCheckpoint, AuditEvent, AuditHead
from sakskydd.audit.verify import verification_pool, verify_database
from sakskydd.crypto.keyring import KeyRing
from sakskydd.extensions import Database
from sakskydd.organisations.models import Operator, OperatorKind

pytestmark = pytest.mark.db


def record_some(session: Session, keyring: KeyRing, count: int) -> None:
    for index in range(count):
        audit.record(
            Event.ACCOUNT_UPDATED,
            target_type="user_account",
            target_id=str(index),
            session=session,
            keyring=keyring,
            changed=["email"],
            detail={"index": index},
        )
    session.commit()


def verify(session: Session, keyring: KeyRing, **kwargs):
    kwargs.setdefault("public_key", None)
    result = verify_database(session, mac_key=keyring.audit_mac_key, **kwargs)
    session.rollback()
    return result


def tamper(database: Database, *statements: tuple[str, dict]) -> None:
    """Run SQL as an attacker who owns the database: with the triggers dropped."""
    dialect = database.engine.dialect.name
    with database.engine.begin() as connection:
        for statement in drop_statements(dialect):
            connection.exec_driver_sql(statement)
        for sql, params in statements:
            connection.execute(text(sql), params)
        for statement in trigger_statements(dialect):
            connection.exec_driver_sql(statement)


def head(session: Session) -> tuple[int, bytes]:
    row = session.execute(select(AuditHead.seq, AuditHead.entry_hash)).one()
    session.rollback()
    return row[0], bytes(row[1])


def test_record_appends_a_gapless_chain_with_macs(unit_session: Session, unit_keyring: KeyRing):
    start, _ = head(unit_session)
    record_some(unit_session, unit_keyring, 5)
    rows = unit_session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
    assert [r.seq for r in rows] == list(range(1, start + 6))
    prev = GENESIS_HASH
    for row in rows:
        prev = entry_hash(prev, leaf_hash(row.payload))
        assert row.entry_hash == prev
        assert row.mac == hmac.digest(unit_keyring.audit_mac_key, prev, hashlib.sha256)
        assert json.loads(row.payload)["seq"] == row.seq
    assert head(unit_session) == (start + 5, prev)
    assert verify(unit_session, unit_keyring).ok


def test_payload_carries_context_target_and_changed_field_names(
    unit_session: Session, unit_keyring: KeyRing, audit_context
):
    user_id, unit_id = uuid.uuid4(), uuid.uuid4()
    audit_context.append(
        {
            "actor": {
                "user": str(user_id),
                "roles": ["admin"],
                "units": [str(unit_id)],
                "clearance": 1,
                "session": "ab12",
                "mfa_age": 30,
            },
            "source": {"ip": "10.0.0.7", "request_id": "req-1"},
        }
    )
    row = audit.record(
        Event.ROLE_GRANTED,
        target_type="role_assignment",
        target_id=uuid.uuid4(),
        unit_id=unit_id,
        changed=["status", "role", "status"],
        decision={"action": "role.grant", "policy_ids": ["p1"]},
        reason="Behövs för upphandling",
        detail={"role": "upphandlare"},
        session=unit_session,
        keyring=unit_keyring,
    )
    payload = json.loads(row.payload)
    assert payload["actor"]["roles"] == ["admin"] and payload["actor"]["mfa_age"] == 30
    assert payload["source"] == {"ip": "10.0.0.7", "request_id": "req-1"}
    assert payload["target"]["type"] == "role_assignment" and payload["target"]["unit"] == str(unit_id)
    assert payload["changed"] == ["role", "status"]
    assert payload["reason"] == "Behövs för upphandling"
    assert payload["time"].endswith("Z") and len(payload["time"]) == 27
    assert (row.actor_id, row.unit_id, row.outcome) == (user_id, unit_id, "success")
    assert row.payload == json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_flat_context_keys_are_sorted_into_actor_and_source(
    unit_session: Session, unit_keyring: KeyRing, audit_context
):
    user_id = uuid.uuid4()
    audit_context.append(
        {
            "source": {"ip": "10.1.1.1"},
            "actor_id": user_id,
            "session": "s1",
            "mfa_age_seconds": 12,
            "via": "web",
        }
    )
    row = audit.record(Event.ACCOUNT_UPDATED, session=unit_session, keyring=unit_keyring)
    payload = json.loads(row.payload)
    assert payload["actor"] == {"user": str(user_id), "session": "s1", "mfa_age": 12}
    assert payload["source"] == {"ip": "10.1.1.1", "via": "web"}
    assert row.actor_id == user_id
    other = uuid.uuid4()
    row = audit.record(Event.AUTH_LOGIN_SUCCESS, actor=other, session=unit_session, keyring=unit_keyring)
    assert json.loads(row.payload)["actor"] == {"user": str(other)} and row.actor_id == other


def test_cli_source_and_actor_override(unit_session: Session, unit_keyring: KeyRing, audit_context):
    someone = uuid.uuid4()
    row = audit.record(Event.AUTH_LOGIN_SUCCESS, actor=someone, session=unit_session, keyring=unit_keyring)
    assert json.loads(row.payload)["source"] == {"system": "cli"}
    assert json.loads(row.payload)["actor"] == {"user": str(someone)}
    assert row.actor_id == someone


def test_target_object_gives_type_id_and_unit(unit_session: Session, unit_keyring: KeyRing):
    operator = Operator(name="Stockholms stad", kind=OperatorKind.KOMMUN)
    unit_session.add(operator)
    unit_session.flush()
    row = audit.record(Event.OPERATOR_CREATED, target=operator, session=unit_session, keyring=unit_keyring)
    assert (row.target_type, row.target_id) == ("operator", str(operator.id))


@pytest.mark.parametrize(
    "detail",
    [
        {"password": "x"},
        {"new_password": "x"},
        {"totp_code": "123456"},
        {"recoveryCodes": ["a"]},
        {"personnummer": "19121212-1212"},
        {"api_token": "t"},
        {"client_secret": "s"},
        {"nested": {"otp": "1"}},
        {"list": [{"pin": "0000"}]},
        {"decrypted_notes": "x"},
    ],
)
def test_sensitive_detail_keys_are_refused(unit_session: Session, unit_keyring: KeyRing, detail):
    with pytest.raises(SensitiveDetail):
        audit.record(Event.ACCOUNT_UPDATED, detail=detail, session=unit_session, keyring=unit_keyring)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"event": "made.up"}, ValueError),
        ({"outcome": "maybe"}, ValueError),
        ({"detail": {"ratio": 0.5}}, NotCanonical),
        ({"detail": {"blob": b"x"}}, TypeError),
        ({"target_id": "x" * 65}, ValueError),
    ],
)
def test_malformed_events_are_refused(unit_session: Session, unit_keyring: KeyRing, kwargs, error):
    kwargs = {"event": Event.ACCOUNT_UPDATED, **kwargs}
    with pytest.raises(error):
        audit.record(session=unit_session, keyring=unit_keyring, **kwargs)


def test_failing_audit_insert_rolls_back_the_change(unit_session: Session, unit_keyring: KeyRing):
    seq, _ = head(unit_session)
    # Someone wrote event seq+1 behind the head's back: our insert will collide.
    with unit_session.get_bind().begin() as connection:
        connection.execute(
            AuditEvent.__table__.insert().values(
                seq=seq + 1,
                occurred_at=__import__("datetime").datetime.now(__import__("datetime").UTC),
                event="account.created",
                outcome="success",
                payload="{}",
                entry_hash=bytes(32),
                mac=bytes(32),
            )
        )
    unit_session.add(Operator(name="Ska inte finnas", kind=OperatorKind.KOMMUN))
    with pytest.raises(IntegrityError):
        audit.record(Event.OPERATOR_CREATED, session=unit_session, keyring=unit_keyring)
    unit_session.rollback()
    assert unit_session.scalar(select(func.count()).select_from(Operator)) == 0
    assert head(unit_session)[0] == seq


def test_refused_audit_event_rolls_back_the_change(unit_session: Session, unit_keyring: KeyRing):
    seq, _ = head(unit_session)
    unit_session.add(Operator(name="Inte heller", kind=OperatorKind.KOMMUN))
    with pytest.raises(SensitiveDetail):
        audit.record(
            Event.OPERATOR_CREATED, detail={"password": "x"}, session=unit_session, keyring=unit_keyring
        )
    unit_session.rollback()
    assert unit_session.scalar(select(func.count()).select_from(Operator)) == 0
    assert head(unit_session)[0] == seq


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_event SET outcome = 'failure' WHERE seq = 1",
        "DELETE FROM audit_event WHERE seq = 1",
        "DELETE FROM audit_event",
        "UPDATE audit_checkpoint SET key_fingerprint = 'x'",
        "DELETE FROM audit_checkpoint",
        "UPDATE audit_head SET seq = seq - 1",
        "UPDATE audit_head SET seq = seq + 2",
        "DELETE FROM audit_head",
    ],
)
def test_database_rejects_changes_to_the_trail(unit_app: Flask, unit_database: Database, sql: str):
    session = unit_database.scoped()
    signing_key = generate_signing_key(unit_app.config["SAKSKYDD_SETTINGS"].signing_key_file)
    make_checkpoint(session, signing_key)
    session.commit()
    with pytest.raises(DBAPIError) as error, unit_database.engine.begin() as connection:
        connection.exec_driver_sql(sql)
    assert "append-only" in str(error.value) or "audit_head" in str(error.value)


@pytest.mark.backend("postgresql")
@pytest.mark.parametrize("table", ["audit_event", "audit_checkpoint", "audit_head"])
def test_postgresql_rejects_truncate(unit_database: Database, unit_app: Flask, table: str):
    with pytest.raises(DBAPIError, match="append-only"), unit_database.engine.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {table}")


def test_concurrent_appends_stay_gapless(unit_database: Database, unit_keyring: KeyRing):
    start = head(unit_database.scoped())[0]
    errors: list[BaseException] = []

    def work() -> None:
        session = unit_database.session_factory()
        try:
            for _ in range(15):
                audit.record(Event.SESSION_ENDED, session=session, keyring=unit_keyring)
                session.commit()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            session.close()

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    session = unit_database.scoped()
    assert head(session)[0] == start + 45
    assert verify(session, unit_keyring).ok


@pytest.mark.parametrize(
    ("attack", "first_bad"),
    [
        ("UPDATE audit_event SET payload = replace(payload, 'email', 'phone') WHERE seq = :s", 0),
        ("UPDATE audit_event SET entry_hash = :zeros WHERE seq = :s", 0),
        ("UPDATE audit_event SET mac = :zeros WHERE seq = :s", 0),
        ("DELETE FROM audit_event WHERE seq = :s", 0),
    ],
    ids=["payload", "hash", "mac", "delete"],
)
def test_tampering_in_the_database_is_found_at_its_seq(
    unit_session: Session, unit_database: Database, unit_keyring: KeyRing, attack: str, first_bad: int
):
    record_some(unit_session, unit_keyring, 6)
    target = head(unit_session)[0] - 3
    tamper(unit_database, (attack, {"s": target, "zeros": bytes(32)}))
    result = verify(unit_session, unit_keyring)
    assert not result.ok
    assert result.first_bad_seq == target + first_bad


def test_swapped_rows_are_found(unit_session: Session, unit_database: Database, unit_keyring: KeyRing):
    record_some(unit_session, unit_keyring, 6)
    a = head(unit_session)[0] - 3
    swap = "UPDATE audit_event SET seq = :to WHERE seq = :from"
    tamper(
        unit_database,
        (swap, {"from": a, "to": 10**9}),
        (swap, {"from": a + 1, "to": a}),
        (swap, {"from": 10**9, "to": a + 1}),
    )
    result = verify(unit_session, unit_keyring)
    assert (result.ok, result.first_bad_seq) == (False, a)


def test_truncation_and_old_backup_are_found(
    unit_app: Flask, unit_session: Session, unit_database: Database, unit_keyring: KeyRing
):
    signing_key = generate_signing_key(unit_app.config["SAKSKYDD_SETTINGS"].signing_key_file)
    record_some(unit_session, unit_keyring, 6)
    checkpoint = make_checkpoint(unit_session, signing_key, keyring=unit_keyring)
    unit_session.commit()
    size = checkpoint.size
    # Truncate the last events and pull the head back: the stored checkpoint catches it.
    cut = size - 2
    old_hash = unit_session.execute(select(AuditEvent.entry_hash).where(AuditEvent.seq == cut)).scalar_one()
    unit_session.rollback()
    tamper(
        unit_database,
        ("DELETE FROM audit_event WHERE seq > :cut", {"cut": cut}),
        ("DELETE FROM audit_checkpoint", {}),
        ("UPDATE audit_head SET seq = :cut, entry_hash = :h", {"cut": cut, "h": old_hash}),
    )
    public_key = signing_key.public_key()
    assert verify(unit_session, unit_keyring, public_key=public_key).ok  # consistent… on its own
    result = verify(unit_session, unit_keyring, public_key=public_key, extra_checkpoints=[checkpoint])
    assert (result.ok, result.first_bad_seq, result.code) == (False, cut + 1, "truncated")


def test_checkpoint_covers_the_events_before_its_own_event(unit_app: Flask, unit_session: Session):
    settings = unit_app.config["SAKSKYDD_SETTINGS"]
    signing_key = generate_signing_key(settings.signing_key_file)
    assert stat.S_IMODE(Path(settings.signing_key_file).stat().st_mode) == 0o600
    size, head_hash = head(unit_session)
    checkpoint = make_checkpoint(unit_session, signing_key)
    unit_session.commit()
    assert (checkpoint.size, checkpoint.head_hash) == (size, head_hash)
    last = unit_session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert (last.seq, last.event) == (size + 1, "audit.checkpoint")
    result = verify_database(unit_session, mac_key=None, public_key=signing_key.public_key())
    assert result.ok and result.checkpoints == 1


def test_forged_checkpoint_in_the_database_is_rejected(
    unit_app: Flask, unit_session: Session, unit_keyring: KeyRing
):
    signing_key = generate_signing_key(unit_app.config["SAKSKYDD_SETTINGS"].signing_key_file)
    checkpoint = make_checkpoint(unit_session, signing_key)
    unit_session.add(
        AuditCheckpoint(
            seq=checkpoint.size + 1,
            merkle_root=bytes(32),
            head_hash=bytes(32),
            signature=bytes(64),
            signed_at=__import__("datetime").datetime.now(__import__("datetime").UTC),
            key_fingerprint=checkpoint.key_fingerprint,
        )
    )
    unit_session.commit()
    result = verify(unit_session, unit_keyring, public_key=signing_key.public_key())
    assert (result.ok, result.code, result.first_bad_seq) == (
        False,
        "checkpoint_signature",
        checkpoint.size + 1,
    )


def test_signing_key_readable_by_others_is_refused(tmp_path: Path):
    path = tmp_path / "signing.key"
    generate_signing_key(path)
    assert load_signing_key(path)
    path.chmod(0o644)
    with pytest.raises(SigningKeyError):
        load_signing_key(path)
    with pytest.raises(FileExistsError):
        generate_signing_key(path)


def test_export_verifies_standalone_and_tampering_is_found(
    unit_app: Flask, unit_session: Session, unit_keyring: KeyRing, tmp_path: Path
):
    signing_key = generate_signing_key(unit_app.config["SAKSKYDD_SETTINGS"].signing_key_file)
    record_some(unit_session, unit_keyring, 4)
    make_checkpoint(unit_session, signing_key)
    unit_session.commit()
    record_some(unit_session, unit_keyring, 2)
    export = tmp_path / "export.jsonl"
    with export.open("w", encoding="utf-8") as handle:
        header = write_export(unit_session, handle, signing_key.public_key())
    unit_session.rollback()

    result, read_header, _ = verify_export(export, public_key=signing_key.public_key())
    assert result.ok and result.count == header.size == read_header.size and result.checkpoints == 1
    assert verify_export(export, mac_key=unit_keyring.audit_mac_key)[0].ok

    lines = export.read_text(encoding="utf-8").splitlines()
    event_lines = [i for i, line in enumerate(lines) if json.loads(line)["type"] == "event"]
    index = next(i for i in event_lines if "email" in json.loads(lines[i])["payload"])
    victim = json.loads(lines[index])
    victim["payload"] = victim["payload"].replace("email", "phone")
    lines[index] = json.dumps(victim)
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result, _, _ = verify_export(tampered, public_key=signing_key.public_key())
    assert (result.ok, result.first_bad_seq) == (False, victim["seq"])

    shortened = tmp_path / "short.jsonl"
    original = export.read_text(encoding="utf-8").splitlines()
    shortened.write_text("\n".join(original[: event_lines[-1]]) + "\n", encoding="utf-8")
    result, _, _ = verify_export(shortened, public_key=signing_key.public_key())
    assert (result.ok, result.code) == (False, "truncated")


def test_audit_cli_verify_checkpoint_export(
    unit_app: Flask, unit_session: Session, unit_database: Database, unit_keyring: KeyRing, tmp_path: Path
):
    settings = unit_app.config["SAKSKYDD_SETTINGS"]
    signing_key = generate_signing_key(settings.signing_key_file)
    record_some(unit_session, unit_keyring, 3)
    runner = unit_app.test_cli_runner()

    ok = runner.invoke(args=["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "hel" in ok.output

    made = runner.invoke(args=["audit", "checkpoint"])
    assert made.exit_code == 0, made.output
    assert len(read_checkpoint_file(Path(settings.instance_path) / "audit-checkpoints.jsonl")) == 1
    not_due = runner.invoke(args=["audit", "checkpoint", "--if-due"])
    assert "behövs inte" in not_due.output or "Ingen kontrollpunkt behövs" in not_due.output

    export = tmp_path / "export.jsonl"
    exported = runner.invoke(args=["audit", "export", "--output", str(export)])
    assert exported.exit_code == 0, exported.output
    public = tmp_path / "public.pem"
    public.write_text(public_key_pem(signing_key))
    standalone = runner.invoke(args=["audit", "verify", "--export", str(export), "--public-key", str(public)])
    assert standalone.exit_code == 0, standalone.output
    assert unit_session.scalar(select(func.count()).where(AuditEvent.event == "audit.exported")) == 1
    unit_session.rollback()

    tamper(
        unit_database,
        ("UPDATE audit_event SET payload = replace(payload, 'email', 'phone') WHERE seq = 5", {}),
    )
    broken = runner.invoke(args=["audit", "verify"])
    assert broken.exit_code == 1
    assert "seq 5" in broken.output
    refused = runner.invoke(args=["audit", "checkpoint"])
    assert refused.exit_code == 1 and "seq 5" in refused.output


# --- Verification in worker processes (verify.verification_pool) -----------------------------


@pytest.fixture
def worker_parts(monkeypatch: pytest.MonkeyPatch) -> list[verify_module.Part]:
    """The chunks the workers returned, in order (to check that they did the work)."""
    parts: list[verify_module.Part] = []
    link = verify_module.link_parts

    def spy(chunks, judge, again):  # type: ignore[no-untyped-def]
        chunks = list(chunks)
        parts.extend(chunks)
        return link(chunks, judge, again)

    monkeypatch.setattr(verify_module, "link_parts", spy)
    return parts


@pytest.fixture
def worker_pool(unit_database: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pool]:
    """Two forked workers verifying chunks of 16 events in batches of 5 (set before the fork)."""
    monkeypatch.setattr(verify_module, "BATCH", 5)
    unit_database.dispose()  # the workers must not inherit an open connection
    with verification_pool(2) as pool:
        assert pool is not None
        monkeypatch.setattr(verify_module, "CHUNK", 16)
        monkeypatch.setattr(verify_module, "PARALLEL_MIN", 0)
        yield pool


def chain_with_checkpoints(app: Flask, session: Session, keyring: KeyRing) -> Ed25519PrivateKey:
    """107 events with signed checkpoints of sizes 20, 40, 60, 80 and 100."""
    signing_key = generate_signing_key(app.config["SAKSKYDD_SETTINGS"].signing_key_file)
    for size in (20, 40, 60, 80, 100):
        record_some(session, keyring, size - head(session)[0])
        assert make_checkpoint(session, signing_key, keyring=keyring).size == size
        session.commit()  # with its own audit.checkpoint event
    record_some(session, keyring, 6)
    return signing_key


def rechained(session: Session, key: bytes, start: int) -> list[tuple[str, dict]]:
    """Statements that edit event `start` and recompute every later hash and MAC with `key`."""
    prev = session.scalar(select(AuditEvent.entry_hash).where(AuditEvent.seq == start - 1))
    rows = session.execute(
        select(AuditEvent.seq, AuditEvent.payload).where(AuditEvent.seq >= start).order_by(AuditEvent.seq)
    ).all()
    session.rollback()
    statements = []
    for seq, payload in rows:
        if seq == start:
            payload = payload.replace('"outcome":"success"', '"outcome":"failure"')
        prev = entry_hash(prev, leaf_hash(payload))
        statements.append(
            (
                "UPDATE audit_event SET payload = :p, entry_hash = :h, mac = :m WHERE seq = :s",
                {"p": payload, "h": prev, "m": hmac.digest(key, prev, "sha256"), "s": seq},
            )
        )
    statements.append(("UPDATE audit_head SET entry_hash = :h", {"h": prev}))
    return statements


SWAP = "UPDATE audit_event SET seq = :to WHERE seq = :from"
EDIT = "UPDATE audit_event SET payload = replace(payload, 'email', 'phone') WHERE seq = :s"
FORGE = "UPDATE audit_checkpoint SET signature = :z WHERE seq = :s"
WORKER_ATTACKS = {
    # name: (statements given the first bad seq n, the session and MAC key; n; code). Chunks: 16 events.
    "payload at a chunk's first event": (lambda n, s, k: [(EDIT, {"s": n})], 33, "hash_mismatch"),
    "payload at a chunk's last event": (lambda n, s, k: [(EDIT, {"s": n})], 48, "hash_mismatch"),
    "MAC without the key": (
        lambda n, s, k: [("UPDATE audit_event SET mac = :m WHERE seq = :s", {"m": bytes(32), "s": n})],
        70,
        "mac_mismatch",
    ),
    "a whole chunk deleted": (
        lambda n, s, k: [("DELETE FROM audit_event WHERE seq BETWEEN :a AND :b", {"a": n, "b": n + 15})],
        33,
        "gap",
    ),
    "events swapped across chunks": (
        lambda n, s, k: [
            (SWAP, {"from": n, "to": 10**9}),
            (SWAP, {"from": n + 1, "to": n}),
            (SWAP, {"from": 10**9, "to": n + 1}),
        ],
        48,
        "hash_mismatch",
    ),
    "the last events deleted": (
        lambda n, s, k: [("DELETE FROM audit_event WHERE seq >= :s", {"s": n})],
        100,
        "truncated",
    ),
    "rewritten with the MAC key": (lambda n, s, k: rechained(s, k, 30), 40, "checkpoint_mismatch"),
    "a checkpoint forged": (lambda n, s, k: [(FORGE, {"z": bytes(64), "s": n})], 60, "checkpoint_signature"),
}


@pytest.mark.parametrize("attack", list(WORKER_ATTACKS))
def test_workers_find_the_same_first_bad_seq_as_one_pass(
    unit_app: Flask,
    unit_session: Session,
    unit_database: Database,
    unit_keyring: KeyRing,
    worker_pool: Pool,
    attack: str,
):
    public_key = chain_with_checkpoints(unit_app, unit_session, unit_keyring).public_key()
    pooled = verify(unit_session, unit_keyring, public_key=public_key, pool=worker_pool, want_root=True)
    assert pooled == verify(unit_session, unit_keyring, public_key=public_key, want_root=True)
    assert pooled.ok and pooled.count == head(unit_session)[0]

    statements, first_bad, code = WORKER_ATTACKS[attack]
    tamper(unit_database, *statements(first_bad, unit_session, unit_keyring.audit_mac_key))
    single = verify(unit_session, unit_keyring, public_key=public_key)
    assert (single.ok, single.first_bad_seq, single.code) == (False, first_bad, code)
    assert verify(unit_session, unit_keyring, public_key=public_key, pool=worker_pool) == single


def test_workers_verify_up_to_a_size_with_the_merkle_root(
    unit_app: Flask,
    unit_session: Session,
    unit_keyring: KeyRing,
    worker_pool: Pool,
    worker_parts: list[verify_module.Part],
):
    signing_key = chain_with_checkpoints(unit_app, unit_session, unit_keyring)
    for upto in (0, 1, 16, 17, 63, 64, 65, 99):
        kwargs = {"public_key": signing_key.public_key(), "upto": upto, "want_root": True}
        worker_parts.clear()
        pooled = verify(unit_session, unit_keyring, pool=worker_pool, **kwargs)
        assert pooled == verify(unit_session, unit_keyring, **kwargs)
        assert pooled.ok and pooled.count == upto and pooled.merkle_root is not None
        # The workers did the work: every chunk but the first links to the one before it.
        assert len(worker_parts) == -(-upto // 16)
        assert all(part.trouble is None and part.first is not None for part in worker_parts)


def test_workers_verify_an_export_like_one_pass(
    unit_app: Flask,
    unit_session: Session,
    unit_keyring: KeyRing,
    worker_pool: Pool,
    worker_parts: list[verify_module.Part],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(export_module, "EXPORT_CHUNK", 2000)  # bytes: a few events per chunk
    public_key = chain_with_checkpoints(unit_app, unit_session, unit_keyring).public_key()
    export = tmp_path / "export.jsonl"
    with export.open("w", encoding="utf-8") as handle:
        write_export(unit_session, handle, public_key)
    unit_session.rollback()
    lines = export.read_text(encoding="utf-8").splitlines(keepends=True)
    first_event = next(i for i, line in enumerate(lines) if '"type": "event"' in line)

    def both(path: Path):
        single = verify_export(path, public_key=public_key)[0]
        assert verify_export(path, public_key=public_key, pool=worker_pool)[0] == single
        return single

    assert both(export).ok
    assert len(worker_parts) > 10 and all(part.trouble is None for part in worker_parts)
    edited = list(lines)
    edited[first_event + 49] = edited[first_event + 49].replace("email", "phone")
    deleted = lines[: first_event + 70] + lines[first_event + 71 :]
    for name, changed, first_bad, code in [
        ("edited", edited, 50, "hash_mismatch"),
        ("deleted", deleted, 71, "gap"),
    ]:
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(changed), encoding="utf-8")
        assert (both(path).first_bad_seq, both(path).code) == (first_bad, code)

    malformed = list(lines)
    malformed[first_event + 80] = malformed[first_event + 80][:40] + "\n"
    path = tmp_path / "malformed.jsonl"
    path.write_text("".join(malformed), encoding="utf-8")
    with pytest.raises(ExportFormatError):
        verify_export(path, public_key=public_key, pool=worker_pool)
    path.write_text("".join(edited[: first_event + 60] + malformed[first_event + 60 :]), encoding="utf-8")
    assert both(path).first_bad_seq == 50  # an edit before the malformed line is still named


def test_audit_cli_verify_with_workers(
    unit_app: Flask,
    unit_session: Session,
    unit_database: Database,
    unit_keyring: KeyRing,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(verify_module, "CHUNK", 8)
    monkeypatch.setattr(verify_module, "PARALLEL_MIN", 0)
    record_some(unit_session, unit_keyring, 40)
    runner = unit_app.test_cli_runner()
    ok = runner.invoke(args=["audit", "verify", "--jobs", "2"])
    assert ok.exit_code == 0, ok.output
    assert "hel" in ok.output
    # A checkpoint verified by the workers signs the same root as one pass computes.
    signing_key = generate_signing_key(unit_app.config["SAKSKYDD_SETTINGS"].signing_key_file)
    signed = runner.invoke(args=["audit", "checkpoint", "--jobs", "2"])
    assert signed.exit_code == 0, signed.output
    size = int(signed.output.split()[1])  # "Kontrollpunkt <size> signerad, …"
    assert size > 40  # the 40 events and the audit trail's own events about the verification
    one_pass = verify(
        unit_session, unit_keyring, public_key=signing_key.public_key(), upto=size, want_root=True
    )
    assert one_pass.ok and one_pass.merkle_root is not None
    assert f"Kontrollpunkt {size} signerad, Merkle-rot {one_pass.merkle_root.hex()}." in signed.output
    record_some(unit_session, unit_keyring, 5)
    tamper(unit_database, ("UPDATE audit_event SET mac = :z WHERE seq = 30", {"z": bytes(32)}))
    broken = runner.invoke(args=["audit", "verify", "--jobs", "2"])
    assert broken.exit_code == 1
    assert "seq 30" in broken.output
    refused = runner.invoke(args=["audit", "checkpoint", "--jobs", "2"])
    assert refused.exit_code == 1
    assert "bruten vid seq 30" in refused.output


def test_no_workers_when_they_would_not_help():
    with verification_pool(1) as pool:
        assert pool is None


def _settled_thread_count() -> int:
    """The process's OS thread count once it holds still: a thread of an earlier test (in the same
    pytest-xdist worker) may still be ending."""
    last = verify_module.os_thread_count()
    for _ in range(200):
        time.sleep(0.01)
        now = verify_module.os_thread_count()
        if now == last:
            return now
        last = now
    return last


def test_a_threaded_process_gets_its_workers_from_a_forkserver():
    """A fork would copy another thread's held locks into the children, still locked.

    The thread is started the way pytest-xdist's execnet starts its own, through `_thread`,
    which `threading.active_count()` does not see: that is how a forked pool once hung.
    """
    started, stop = threading.Event(), threading.Event()

    def wait() -> None:
        started.set()
        stop.wait()

    before = _settled_thread_count()
    _thread.start_new_thread(wait, ())
    started.wait()
    try:
        assert _settled_thread_count() == before + 1
        assert verify_module.worker_start_method() == "forkserver"
        with verification_pool(2) as pool:
            assert pool is not None
            worker = pool.apply(os.getpid)
        assert worker != os.getpid()  # the work ran in another process
    finally:
        stop.set()
