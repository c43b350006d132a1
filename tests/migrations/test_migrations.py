"""The migrations are the schema: an empty database reaches head, agrees with the models, and
every revision's downgrade and upgrade round-trip (SQLite here, PostgreSQL in the db run)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine

import sakskydd.models  # noqa: F401 - every model on the metadata
from sakskydd.cli import alembic_config
from sakskydd.db import Base

pytestmark = pytest.mark.db

# Read like tests/conftest.py does (importing `conftest` would find another folder's conftest).
BACKEND = os.environ.get("SAKSKYDD_TEST_DB", "sqlite")
PG_URL = os.environ.get("SAKSKYDD_TEST_POSTGRES_URL", "")


def _pg_url(database: str) -> str:
    base, _, _ = PG_URL.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture
def empty_engine(tmp_path: Path) -> Iterator[Engine]:
    """An empty database of the run's backend."""
    if BACKEND == "postgresql":
        name = f"mig_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        engine = create_engine(_pg_url(name))
        yield engine
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()


def _run(engine: Engine, fn: object, revision: str) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        fn(config, revision)  # type: ignore[operator]


def _differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def test_an_empty_database_reaches_head_and_matches_the_models(empty_engine: Engine) -> None:
    _run(empty_engine, command.upgrade, "head")
    tables = set(inspect(empty_engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert _differences(empty_engine) == []


def test_every_revision_downgrades_and_upgrades_again(empty_engine: Engine) -> None:
    script = ScriptDirectory.from_config(alembic_config(str(empty_engine.url)))
    revisions = [r.revision for r in script.walk_revisions("base", "head")]
    assert len(revisions) >= 2
    _run(empty_engine, command.upgrade, "head")
    for _ in revisions:
        _run(empty_engine, command.downgrade, "-1")
    assert set(inspect(empty_engine).get_table_names()) <= {"alembic_version"}
    _run(empty_engine, command.upgrade, "head")
    assert _differences(empty_engine) == []
    with empty_engine.connect() as connection:
        authorities = connection.execute(text("SELECT count(*) FROM supervisory_authority")).scalar()
    assert authorities and authorities > 0  # the seeded reference data comes back too
