"""Crash tests (issue 7): under write load, kill -9 the server (gunicorn, as `sakskydd serve` runs
it) and, on PostgreSQL, the database itself, at a random moment; after a restart every change
the client saw acknowledged is there, nothing half-written is visible (each unit with exactly
its one `unit.created` event, no event without its unit), and `sakskydd audit verify` passes.

The short form (`make test`) crashes once per kind; SAKSKYDD_SOAK=1 (`make soak`) crashes many
times. On PostgreSQL the test runs its own cluster with durable commits, so that killing it
never touches the suite's shared one (which trades durability for speed)."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from factories import make_operator, make_user
from flask import Flask
from sqlalchemy import create_engine, text

from sakskydd import create_app
from sakskydd.accounts.models import Role, UserSession
from sakskydd.config import Settings
from sakskydd.db import utcnow
from sakskydd.extensions import db

pytestmark = pytest.mark.db

BACKEND = os.environ.get("SAKSKYDD_TEST_DB", "sqlite")
SOAK = os.environ.get("SAKSKYDD_SOAK", "") == "1"
ROUNDS = 8 if SOAK else 1
WRITERS = 3
PREFIX = "Krasch "


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Instance:
    settings: Settings
    app: Flask
    operator_id: uuid.UUID
    cookie: str
    port: int = field(default_factory=_free_port)
    server: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        s = self.settings
        values = {
            "SAKSKYDD_ENV": "test",
            "SAKSKYDD_INSTANCE_PATH": str(s.instance_path),
            "SAKSKYDD_DATABASE_URL": s.database_url,
            "SAKSKYDD_SECRET_KEY": s.secret_key,
            "SAKSKYDD_KEK_FILE": str(s.kek_file),
            "SAKSKYDD_SIGNING_KEY_FILE": str(s.signing_key_file),
            "SAKSKYDD_ARGON2_PROFILE": "test",
            "SAKSKYDD_BASE_URL": f"http://localhost:{self.port}",
            "SAKSKYDD_HSTS": "0",
        }
        return {**{k: v for k, v in os.environ.items() if not k.startswith("SAKSKYDD_")}, **values}

    def start(self) -> None:
        command = [str(Path(sys.executable).with_name("sakskydd")), "serve", "--port", str(self.port)]
        log = Path(self.settings.instance_path) / "server.log"
        with log.open("ab") as sink:  # a file, not a pipe: a full pipe would stall the workers
            self.server = subprocess.Popen(
                command, env=self.env(), start_new_session=True, stdout=sink, stderr=sink
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if self.request("GET", "/")[0] == 200:  # signed in: the home page
                    return
            if self.server.poll() is not None:
                raise AssertionError(log.read_text("utf-8", "replace")[-3000:])
            time.sleep(0.1)
        raise AssertionError("the server did not start")

    def kill(self) -> None:
        """kill -9 gunicorn's master and workers (its own process group)."""
        assert self.server is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.server.pid, signal.SIGKILL)
        self.server.wait(timeout=30)
        self.server = None

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            headers = {"Cookie": self.cookie, "Host": f"localhost:{self.port}"}
            if body is not None:
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        finally:
            connection.close()


def _signed_cookie(app: Flask, user_id: uuid.UUID) -> str:
    import datetime as dt

    from itsdangerous import Signer

    from sakskydd.accounts.sessions import COOKIE_NAME, token_hash

    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.add(
        UserSession(
            token_hash=token_hash(token),
            user_id=user_id,
            data={},
            last_seen_at=now,
            expires_at=now + dt.timedelta(hours=10),
            mfa_at=now,
            authenticated_at=now,
        )
    )
    db.commit()
    signed = Signer(app.secret_key, salt="sakskydd-session", digest_method=hashlib.sha256).sign(token)
    return f"{COOKIE_NAME}={signed.decode('ascii')}"


@contextlib.contextmanager
def _instance(tmp_path: Path, database_url: str) -> Iterator[Instance]:
    from sakskydd.cli import prepare_instance

    folder = tmp_path / "instance"
    settings = Settings(
        environment="test",
        instance_path=folder,
        database_url=database_url,
        secret_key="test-" + secrets.token_urlsafe(32),
        kek_file=folder / "kek",
        signing_key_file=folder / "audit-signing.key",
        argon2_profile="test",
        login_backoff_seconds=0,
        base_url="http://localhost",
        hsts=False,
    )
    prepare_instance(settings)
    app = create_app(settings)
    with app.app_context():
        operator = make_operator("Krashstaden")
        admin = make_user(app, operator, roles=[(Role.ADMIN, operator)])
        instance = Instance(settings, app, operator.id, _signed_cookie(app, admin.id))
        db.close()
    try:
        yield instance
    finally:
        if instance.server is not None:
            instance.kill()
        app.extensions["sakskydd.db"].dispose()


@contextlib.contextmanager
def _database(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """The database under test, and the cluster to kill (None on SQLite)."""
    if BACKEND != "postgresql":
        yield f"sqlite:///{tmp_path / 'crash.db'}", None
        return
    from pgcluster import cluster

    with cluster(durable=True) as running:
        admin = create_engine(running.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text('CREATE DATABASE "crash"'))
        admin.dispose()
        yield running.url.rpartition("/")[0] + "/crash", running


class Load:
    """Writers creating units through the web form; `acknowledged` holds the names the server
    answered with 303 (the change is committed before the redirect is sent)."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.acknowledged: set[str] = set()
        self.attempted: set[str] = set()
        self.errors: list[str] = []
        self.failures = 0
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._write) for _ in range(WRITERS)]
        self.path = f"/admin/verksamhetsutovare/{instance.operator_id}/enheter/ny"

    def _write(self) -> None:
        token = None
        while not self.stop.is_set():
            try:
                if token is None:
                    status, page = self.instance.request("GET", self.path)
                    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
                    if status != 200 or match is None:
                        raise OSError(f"form page: {status}")  # down or restarting: try again
                    token = match.group(1)
                name = f"{PREFIX}{uuid.uuid4().hex[:12]}"
                self.attempted.add(name)
                body = f"csrf_token={token}&name={name.replace(' ', '+')}&kind=facknamnd"
                status, page = self.instance.request("POST", self.path, body)
                if status == 303:
                    self.acknowledged.add(name)
                elif status != 500:  # 500: the database is down (it is being killed)
                    self.errors.append(f"{status}: {page[:300]}")
                else:
                    self.failures += 1
            except (OSError, http.client.HTTPException):
                time.sleep(0.02)  # the server is down: try again until told to stop

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 60
        while len(self.acknowledged) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.acknowledged) >= count, (self.failures, self.errors[:3])

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)
        assert not self.errors, self.errors[:3]


def _check(instance: Instance, acknowledged: set[str], attempted: set[str]) -> None:
    """Every acknowledged unit is there, each with exactly its one event; the chain verifies."""
    app = instance.app
    with app.app_context():
        db.close()
        units = dict(
            db.execute(text("SELECT name, id FROM org_unit WHERE name LIKE :p"), {"p": PREFIX + "%"}).all()
        )
        missing = acknowledged - set(units)
        assert not missing, f"{len(missing)} acknowledged units lost"
        assert set(units) <= attempted
        events = db.execute(
            text(
                "SELECT target_id, count(*) FROM audit_event WHERE event = 'unit.created' GROUP BY target_id"
            )
        ).all()
        per_unit = {str(target): n for target, n in events}
        for name, ident in units.items():
            key = str(ident) if not isinstance(ident, bytes) else ident.decode()
            key = str(uuid.UUID(key))
            assert per_unit.pop(key, 0) == 1, f"{name}: not exactly one unit.created event"
        assert not per_unit, "an event for a unit that is not there"
        db.close()
    verified = app.test_cli_runner().invoke(args=["audit", "verify", "--jobs", "1"])
    assert verified.exit_code == 0 and "hel" in verified.output, verified.output


def test_kill_9_under_write_load_loses_no_acknowledged_change(tmp_path: Path) -> None:
    chooser = random.Random(os.environ.get("SAKSKYDD_CRASH_SEED"))  # noqa: S311
    with _database(tmp_path) as (url, cluster), _instance(tmp_path, url) as instance:
        kinds = ["server"] + (["database"] if cluster is not None else [])
        acknowledged: set[str] = set()
        attempted: set[str] = set()
        for round_number in range(ROUNDS):
            for kind in kinds:
                instance.start()
                with Load(instance) as load:
                    load.wait_for(5 + round_number)
                    time.sleep(chooser.uniform(0.0, 0.5))
                    if kind == "server":
                        instance.kill()
                    else:
                        cluster.kill()
                    acked_before_restart = set(load.acknowledged)
                    if kind == "database":
                        cluster.start()
                        load.wait_for(len(acked_before_restart) + 3)  # the same server goes on
                        instance.kill()
                    else:
                        instance.start()
                        load.wait_for(len(acked_before_restart) + 3)  # a restarted server serves
                        instance.kill()
                acknowledged |= load.acknowledged
                attempted |= load.attempted
                _check(instance, acknowledged, attempted)
