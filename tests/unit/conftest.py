"""Fixtures for the crypto and audit unit tests: a real database, keys and a minimal Flask app.

Every database fixture runs on a temporary SQLite file and, when SAKSKYDD_TEST_POSTGRES_URL
is set, also on PostgreSQL (in a schema of its own that is dropped afterwards).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbutil import create_schema  # tests/ is on pythonpath (pyproject.toml)
from flask import Flask
from sqlalchemy import MetaData, Uuid, create_engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from sakskydd import audit
from sakskydd.audit.cli import audit as audit_cli
from sakskydd.config import Settings
from sakskydd.crypto import init_app as init_crypto
from sakskydd.crypto.cli import keys as keys_cli
from sakskydd.crypto.fields import EncryptedBytes, encrypted_field
from sakskydd.crypto.keyring import KeyRing, ensure_initial_keys
from sakskydd.crypto.providers import FileKEKProvider, generate_kek_file
from sakskydd.db import Base, UTCDateTime
from sakskydd.extensions import Database

POSTGRES_URL = os.environ.get("SAKSKYDD_TEST_POSTGRES_URL")
# SAKSKYDD_TEST_DB (set by the suite's runner) picks one backend; unset, both run when a URL is given.
_CHOSEN = os.environ.get("SAKSKYDD_TEST_DB")
BACKENDS = [_CHOSEN] if _CHOSEN else ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


class UnitTestBase(DeclarativeBase):
    """A metadata of its own, so the test table never reaches the application's schema."""

    metadata = MetaData()
    type_annotation_map = {dt.datetime: UTCDateTime, uuid.UUID: Uuid}
    __init__ = Base.__init__  # the same order: id first, encrypted attributes last


class SealedNote(UnitTestBase):
    """A row with a unit and two encrypted attributes (text and bytes)."""

    __tablename__ = "unit_test_sealed_note"
    __encrypted__ = ("body", "attachment")

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    unit_id: Mapped[uuid.UUID | None]
    title: Mapped[str | None]
    body_ct: Mapped[bytes | None] = mapped_column("body", EncryptedBytes)
    attachment_ct: Mapped[bytes | None] = mapped_column("attachment", EncryptedBytes)

    body = encrypted_field("body_ct", table="unit_test_sealed_note", column="body")
    attachment = encrypted_field(
        "attachment_ct", table="unit_test_sealed_note", column="attachment", text=False
    )


@pytest.fixture(params=BACKENDS)
def unit_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/unit.db"
        return
    assert POSTGRES_URL is not None
    schema = f"unit_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture
def unit_database(unit_db_url: str) -> Iterator[Database]:
    database = Database(unit_db_url)
    create_schema(database.engine)
    UnitTestBase.metadata.create_all(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def unit_settings(tmp_path: Path, unit_db_url: str) -> Settings:
    instance = tmp_path
    settings = Settings(
        environment="test",
        instance_path=Path(instance),
        database_url=unit_db_url,
        secret_key=secrets.token_urlsafe(48),
        kek_file=Path(instance) / "kek",
        signing_key_file=Path(instance) / "audit-signing.key",
        audit_checkpoint_every=5,
    )
    generate_kek_file(settings.kek_file)  # type: ignore[arg-type]
    return settings


@pytest.fixture
def unit_provider(unit_settings: Settings) -> FileKEKProvider:
    return FileKEKProvider(unit_settings.kek_file)  # type: ignore[arg-type]


@pytest.fixture
def unit_app(
    unit_database: Database, unit_settings: Settings, unit_provider: FileKEKProvider
) -> Iterator[Flask]:
    """A minimal Flask app with the database, initial keys and a loaded key ring, in an app context."""
    session = unit_database.session_factory()
    ensure_initial_keys(session, unit_provider)
    session.commit()
    session.close()
    app = Flask("sakskydd_unit_tests")
    app.config["SAKSKYDD_SETTINGS"] = unit_settings
    app.extensions["sakskydd.db"] = unit_database
    init_crypto(app)
    audit.init_app(app)
    app.cli.add_command(keys_cli)
    app.cli.add_command(audit_cli)
    with app.app_context():
        yield app
        unit_database.remove()


@pytest.fixture
def unit_keyring(unit_app: Flask) -> KeyRing:
    return unit_app.extensions["sakskydd.keyring"]


@pytest.fixture
def unit_session(unit_app: Flask, unit_database: Database) -> Session:
    """The app's scoped session (what `sakskydd.extensions.db` is in this app context)."""
    return unit_database.scoped()


@pytest.fixture
def audit_context() -> Iterator[list[dict[str, object] | None]]:
    """Registers a context provider returning the last item of the yielded list; unregisters after."""
    contexts: list[dict[str, object] | None] = [None]
    audit.set_context_provider(lambda: contexts[-1])
    yield contexts
    audit.set_context_provider(None)
