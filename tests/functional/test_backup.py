"""`sakskydd backup` and `sakskydd restore` (sakskydd/backup.py): a consistent copy taken under
write load, restored into a fresh database with identical data and a verified audit chain; a
wrong key, a changed or cut file, a broken chain and a database in use are refused and change
nothing. The last test runs the real commands in fresh processes, as operations would."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from sakskydd.assets import counts
from sakskydd.assets.models import ProtectedAsset
from sakskydd.audit.checkpoints import load_public_key
from sakskydd.backup import FORMAT, BackupError, read_header, restore_backup, write_backup
from sakskydd.crypto.providers import FileKEKProvider, generate_kek_file
from sakskydd.db import Base
from sakskydd.extensions import db, get_database, make_engine

pytestmark = pytest.mark.db

BACKEND = os.environ.get("SAKSKYDD_TEST_DB", "sqlite")
PG_URL = os.environ.get("SAKSKYDD_TEST_POSTGRES_URL", "")


@pytest.fixture
def fresh_url(template: dict[str, object], tmp_path: Path) -> Iterator[str]:
    """A second database as `sakskydd init` leaves it (migrated, first keys, no organisation)."""
    if BACKEND == "postgresql":
        name = f"r_{uuid.uuid4().hex[:12]}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template["name"]}"'))
        yield f"{PG_URL.rpartition('/')[0]}/{name}"
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        target = tmp_path / "restored.db"
        shutil.copyfile(str(template["url"]).removeprefix("sqlite:///"), target)
        yield f"sqlite:///{target}"


def _settings(app: Flask) -> Any:
    return app.config["SAKSKYDD_SETTINGS"]


def _provider(app: Flask) -> FileKEKProvider:
    return FileKEKProvider(_settings(app).kek_file)


def _public_key(app: Flask) -> Any:
    return load_public_key(Path(_settings(app).audit_public_key_file).read_bytes())


def _url(app: Flask) -> str:
    return get_database(app).engine.url.render_as_string(hide_password=False)


def _contents(engine: Engine, *, upto_seq: int | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the sessions, as the model types read them, by primary key
    (sorted in Python: PostgreSQL's collation and SQLite's byte order sort text keys apart)."""
    contents = {}
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            if table.name == "user_session":
                continue
            query = select(table)
            if upto_seq is not None and table.name == "audit_event":
                query = query.where(table.c.seq <= upto_seq)
            key = [list(table.columns).index(c) for c in table.primary_key.columns]
            rows = [tuple(row) for row in connection.execute(query)]
            contents[table.name] = sorted(rows, key=lambda row: tuple(row[i] for i in key))
    return contents


def _restore(app: Flask, path: Path, url: str) -> Any:
    return restore_backup(path, url, _provider(app), trusted_key=_public_key(app), engine_factory=make_engine)


def _demo(app: Flask) -> None:
    from sakskydd.demo import load_demo

    load_demo()
    db.close()


def test_a_backup_restores_into_a_fresh_database_identically(
    app: Flask, tmp_path: Path, fresh_url: str
) -> None:
    _demo(app)
    path = tmp_path / "copy.backup"
    result = write_backup(_url(app), path, _provider(app), public_key=_public_key(app))
    assert result.rows > 300 and oct(path.stat().st_mode & 0o777) == "0o600"

    header = read_header(path)
    assert header.format == FORMAT and header.kek_id == _provider(app).kek_id
    assert header.tables["vetting_case"] == 5 and "user_session" not in header.tables
    # Nothing readable: no unit or person's name, no free text, no key (the body is sealed and
    # the header holds counts only).
    body = path.read_bytes()
    for secret in (
        b"Demo ",
        b"Kulturn",
        "Kulturnämnden".encode(),
        b"Cecilia Chef",
        Path(_settings(app).kek_file).read_bytes(),
    ):
        assert secret not in body, secret

    restored = _restore(app, path, fresh_url)
    assert (restored.rows, restored.audit_seq) == (result.rows, result.audit_seq)
    source, target = make_engine(_url(app)), make_engine(fresh_url)
    try:
        assert _contents(target) == _contents(source)
        # The kept asset counts came with the rows, and their triggers are back: archiving an
        # asset in the restored copy moves them.
        assert header.tables["asset_count"] > 0
        with Session(target) as session:
            assert counts.mismatches(session) == {} and counts.kept(session)
            before = sum(counts.kept(session).values())
            session.execute(
                update(ProtectedAsset)
                .where(ProtectedAsset.id == session.scalars(select(ProtectedAsset.id).limit(1)).one())
                .values(is_archived=True)
            )
            session.commit()
            assert sum(counts.kept(session).values()) == before - 1 and counts.mismatches(session) == {}
    finally:
        source.dispose()
        target.dispose()


@pytest.mark.backend("postgresql")  # needs both systems: runs in the PostgreSQL run, makes its own SQLite
@pytest.mark.parametrize("direction", ["postgresql-to-sqlite", "sqlite-to-postgresql"])
def test_a_backup_restores_into_the_other_database_system(
    app: Flask, tmp_path: Path, fresh_url: str, direction: str
) -> None:
    """A copy taken on PostgreSQL restores into SQLite, and one taken on SQLite into PostgreSQL:
    every row reads back the same through the model types, the audit chain verifies, and the
    restored instance works on its own (a service's insert and an audit event extend the chain)."""
    from sakskydd import audit, create_app
    from sakskydd.admin.services import create_unit
    from sakskydd.audit import Event
    from sakskydd.audit.checkpoints import load_signing_key, make_checkpoint
    from sakskydd.audit.verify import verify_database
    from sakskydd.cli import prepare_instance
    from sakskydd.crypto.keyring import KeyRing
    from sakskydd.organisations.models import Operator, UnitKind

    def demo_with_checkpoint(application: Flask) -> None:
        """The demo, and a signed checkpoint of its chain (verified again after the restore)."""
        _demo(application)
        signing_key = load_signing_key(_settings(application).signing_key_file)
        make_checkpoint(db, signing_key, keyring=KeyRing.load(db, _provider(application)))
        db.commit()
        db.close()

    # `sakskydd init` of an instance on SQLite with the same key file and signing key.
    on_sqlite = dataclasses.replace(_settings(app), database_url=f"sqlite:///{tmp_path / 'other.db'}")
    prepare_instance(on_sqlite)
    if direction == "postgresql-to-sqlite":
        demo_with_checkpoint(app)
        source_url, target = _url(app), on_sqlite
    else:
        other = create_app(on_sqlite)
        with other.app_context():
            demo_with_checkpoint(other)
        other.extensions["sakskydd.db"].dispose()
        source_url = on_sqlite.database_url
        target = dataclasses.replace(_settings(app), database_url=fresh_url)
    path = tmp_path / "copy.backup"
    result = write_backup(source_url, path, _provider(app), public_key=_public_key(app))
    assert read_header(path).dialect == direction.split("-")[0]

    restored = _restore(app, path, target.database_url)
    assert (restored.rows, restored.audit_seq) == (result.rows, result.audit_seq) and result.audit_seq > 20
    assert restored.checkpoints == 1  # its signature checked in the other system
    source, copy = make_engine(source_url), make_engine(target.database_url)
    try:
        assert copy.dialect.name != source.dialect.name
        assert _contents(copy) == _contents(source)
    finally:
        source.dispose()
        copy.dispose()

    restored_app = create_app(target)
    with restored_app.app_context():
        operator = db.scalar(select(Operator).where(Operator.name == "Stockholms stad"))
        create_unit(None, operator, name="Nämnd efter återställningen", kind=UnitKind.FACKNAMND)
        audit.record(Event.BACKUP_RESTORED, detail={"file": path.name, "audit_seq": restored.audit_seq})
        db.commit()
        keyring = KeyRing.load(db, _provider(app))
        verified = verify_database(db, mac_key=keyring.audit_mac_key, public_key=_public_key(app))
        added = db.scalars(
            text("SELECT event FROM audit_event WHERE seq > :seq ORDER BY seq"), {"seq": restored.audit_seq}
        ).all()
        assert "unit.created" in added and added[-1] == "backup.restored"
        assert verified.ok and verified.count == restored.audit_seq + len(added), verified.reason
        assert verified.checkpoints == 1
        assert counts.mismatches(db) == {}
        db.close()
    restored_app.extensions["sakskydd.db"].dispose()


def test_a_backup_under_write_load_is_one_consistent_moment(
    app: Flask, tmp_path: Path, fresh_url: str
) -> None:
    """A writer creates units (each with its audit event) while the backup runs: the copy holds
    exactly the source as it was at one moment: the audit chain's prefix up to the copy's head,
    and a unit for every unit.created event in it."""
    from sakskydd.admin.services import create_unit
    from sakskydd.organisations.models import Operator, OrgUnit, UnitKind

    _demo(app)
    operator_id = db.scalar(select(Operator.id).where(Operator.name == "Stockholms stad"))
    db.close()
    stop = threading.Event()
    written: list[int] = []

    def writer() -> None:
        with app.app_context():
            while not stop.is_set():
                create_unit(
                    None, db.get(Operator, operator_id), name=f"Nämnd {len(written)}", kind=UnitKind.FACKNAMND
                )
                db.commit()
                written.append(1)
            db.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 5:  # the load is under way before the copy starts
            threading.Event().wait(0.01)
        path = tmp_path / "load.backup"
        result = write_backup(_url(app), path, _provider(app), public_key=_public_key(app))
        while len(written) < result.audit_seq // 50 + 10:  # and goes on after it
            threading.Event().wait(0.01)
    finally:
        stop.set()
        thread.join()

    restored = _restore(app, path, fresh_url)
    source, target = make_engine(_url(app)), make_engine(fresh_url)
    try:
        copied = _contents(target)
        at_moment = _contents(source, upto_seq=restored.audit_seq)
        assert copied["audit_event"] == at_moment["audit_event"]
        with source.connect() as connection:
            assert (
                connection.execute(text("SELECT max(seq) FROM audit_event")).scalar_one() > restored.audit_seq
            )
        with target.connect() as connection:
            units = connection.execute(select(OrgUnit.__table__.c.name)).scalars().all()
            created = connection.execute(
                text("SELECT count(*) FROM audit_event WHERE event = 'unit.created'")
            ).scalar_one()
        assert len([u for u in units if u.startswith("Nämnd ")]) == created
    finally:
        source.dispose()
        target.dispose()


def _tamper(path: Path, offset_from_end: int) -> None:
    data = bytearray(path.read_bytes())
    data[-offset_from_end] ^= 0x01
    path.write_bytes(bytes(data))


def _unchanged(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = make_engine(url)
    try:
        return _contents(engine)
    finally:
        engine.dispose()


def test_a_wrong_key_a_changed_or_cut_file_and_a_used_database_are_refused(
    app: Flask, tmp_path: Path, fresh_url: str
) -> None:
    _demo(app)
    path = tmp_path / "copy.backup"
    write_backup(_url(app), path, _provider(app), public_key=_public_key(app))
    before = _unchanged(fresh_url)

    other_kek = generate_kek_file(tmp_path / "other-kek")
    with pytest.raises(BackupError, match="kräver nyckelkrypteringsnyckeln"):
        restore_backup(path, fresh_url, FileKEKProvider(other_kek), engine_factory=make_engine)

    changed = tmp_path / "changed.backup"
    shutil.copyfile(path, changed)
    _tamper(changed, 40)
    with pytest.raises(BackupError, match="ändrad eller skadad"):
        _restore(app, changed, fresh_url)

    cut = tmp_path / "cut.backup"
    cut.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(BackupError, match="avkortad"):
        _restore(app, cut, fresh_url)

    header_changed = tmp_path / "header.backup"
    header_changed.write_bytes(path.read_bytes().replace(b'+00:00"', b'+00:01"', 1))  # same length
    with pytest.raises(BackupError, match="ändrad eller skadad"):
        _restore(app, header_changed, fresh_url)  # the header is bound into every chunk

    assert _unchanged(fresh_url) == before
    with pytest.raises(BackupError, match="innehåller redan"):
        _restore(app, path, _url(app))  # the live database


def test_a_broken_audit_chain_is_not_restored(app: Flask, tmp_path: Path, fresh_url: str) -> None:
    from sakskydd.audit.ddl import drop_statements, trigger_statements

    _demo(app)
    engine = get_database(app).engine
    with engine.begin() as connection:  # an attacker with the database: edit an event in place
        for statement in drop_statements(connection.dialect.name):
            if "FUNCTION" not in statement:
                connection.exec_driver_sql(statement)
        connection.execute(text("UPDATE audit_event SET payload = :p WHERE seq = 3"), {"p": json.dumps({})})
        for statement in trigger_statements(connection.dialect.name):
            connection.exec_driver_sql(statement)
    path = tmp_path / "broken.backup"
    write_backup(_url(app), path, _provider(app), public_key=_public_key(app))
    before = _unchanged(fresh_url)
    with pytest.raises(BackupError, match="bruten vid seq 3"):
        _restore(app, path, fresh_url)
    assert _unchanged(fresh_url) == before


@pytest.mark.backend("sqlite")
def test_the_commands_back_up_and_restore_a_demo_instance(tmp_path: Path) -> None:
    """`sakskydd init`, `demo`, `backup`; on "another machine" with the same key file and signing
    key: `restore`, then `audit verify`; each in a fresh process, as operations run them."""

    def run(instance: Path, *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SAKSKYDD_")},
            "SAKSKYDD_ENV": "demo",
            "SAKSKYDD_INSTANCE_PATH": str(instance),
        }
        command = [str(Path(sys.executable).with_name("sakskydd")), *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)

    first, second = tmp_path / "first", tmp_path / "second"
    for args in (("init",), ("demo",), ("demo",)):  # twice: the second run only prints the sheet
        done = run(first, *args)
        assert done.returncode == 0, done.stderr
    path = tmp_path / "demo.backup"
    done = run(first, "backup", "-o", str(path))
    assert done.returncode == 0, done.stderr
    assert "Säkerhetskopian är skriven" in done.stdout

    second.mkdir(mode=0o700)
    for name in ("kek", "audit-signing.key"):
        shutil.copy2(first / name, second / name)
    done = run(second, "restore", str(path))
    assert done.returncode == 0, done.stderr
    assert "Granskningsloggen är hel" in done.stdout and "Alla är utloggade" in done.stdout
    verified = run(second, "audit", "verify", "--jobs", "1")
    assert verified.returncode == 0 and "hel" in verified.stdout, verified.stderr
    again = run(second, "restore", str(path))
    assert again.returncode != 0 and "innehåller redan" in again.stderr
    assert "Kulturnämnden" not in done.stdout + done.stderr  # names never reach the output
