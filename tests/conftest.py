"""Shared fixtures: a migrated database per test (SQLite file or real PostgreSQL), the app, clients.

SAKSKYDD_TEST_DB=postgresql with SAKSKYDD_TEST_POSTGRES_URL (a superuser URL to a cluster the
test run started, see tests/pgcluster.py) runs the database tests on PostgreSQL.
"""

from __future__ import annotations

import os
import secrets
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from sakskydd import create_app
from sakskydd.assets.counts import mismatches
from sakskydd.config import Settings

BACKEND = os.environ.get("SAKSKYDD_TEST_DB", "sqlite")
PG_URL = os.environ.get("SAKSKYDD_TEST_POSTGRES_URL", "")


def _item_backend(item: pytest.Item) -> str:
    """The database a collected test runs on: its unit_db_url parameter, else the run's backend."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "unit_db_url" in callspec.params:
        return str(callspec.params["unit_db_url"])
    return BACKEND


def _applies(item: pytest.Item) -> bool:
    if BACKEND == "postgresql" and not item.get_closest_marker("db"):
        # On PostgreSQL only the database-touching tests run; the rest ran on SQLite.
        return False
    marker = item.get_closest_marker("backend")
    return marker is None or _item_backend(item) in marker.args


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (never skip) what does not apply to this run, so CI reports no skips."""
    if BACKEND == "postgresql" and not PG_URL:
        raise pytest.UsageError("SAKSKYDD_TEST_DB=postgresql needs SAKSKYDD_TEST_POSTGRES_URL")
    keep = [item for item in items if _applies(item)]
    config.hook.pytest_deselected(items=[item for item in items if item not in keep])
    items[:] = keep


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _pg_url(database: str) -> str:
    base, _, _ = PG_URL.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Once per worker: a migrated database with its first keys, and the KEK that wraps them."""
    from sakskydd.cli import prepare_instance

    folder = tmp_path_factory.mktemp("template")
    instance = folder / "instance"
    if BACKEND == "postgresql":
        name = f"tmpl_{_worker()}_{secrets.token_hex(3)}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = _pg_url(name)
    else:
        name = ""
        url = f"sqlite:///{folder / 'template.db'}"
    settings = _settings(instance, url)
    prepare_instance(settings)
    return {"url": url, "name": name, "instance": instance}


def _settings(instance: Path, url: str) -> Settings:
    return Settings(
        environment="test",
        instance_path=instance,
        database_url=url,
        secret_key="test-" + secrets.token_urlsafe(32),
        kek_file=instance / "kek",
        signing_key_file=instance / "audit-signing.key",
        argon2_profile="test",
        login_backoff_seconds=0,
        base_url="https://localhost",
        hsts=True,
    )


@pytest.fixture
def database_url(template: dict[str, object], tmp_path: Path) -> Iterator[str]:
    if BACKEND == "postgresql":
        name = f"t_{_worker()}_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template["name"]}"'))
        yield _pg_url(name)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        target = tmp_path / "sakskydd.db"
        shutil.copyfile(str(template["url"]).removeprefix("sqlite:///"), target)
        yield f"sqlite:///{target}"


@pytest.fixture
def settings(template: dict[str, object], database_url: str, tmp_path: Path) -> Settings:
    instance = tmp_path / "instance"
    instance.mkdir(mode=0o700)
    for name in ("kek", "audit-signing.key"):
        shutil.copy2(Path(str(template["instance"])) / name, instance / name)
        os.chmod(instance / name, 0o600)
    # The public key `sakskydd init` wrote next to the signing key (the web process trusts it).
    shutil.copy2(
        Path(str(template["instance"])) / "audit-signing.key.pub", instance / "audit-signing.key.pub"
    )
    return _settings(instance, database_url)


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    application = create_app(settings)
    ctx = application.app_context()
    ctx.push()
    yield application
    # A verification started from the workspace runs in a thread: let it end before the database goes.
    for thread in application.extensions.get("sakskydd.audit_verification_threads", []):
        thread.join(timeout=120)
    ctx.pop()
    database = application.extensions["sakskydd.db"]
    # Whatever the test did, the asset counts the triggers keep agree with the register.
    with Session(database.engine) as session:
        drift = mismatches(session)
    database.dispose()
    assert not drift, f"asset_count differs from the register (kept, counted): {drift}"


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
