"""Test data through the real models and services (no mocks): operators, units, users, logins."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from sakskydd.accounts.models import AssignmentStatus, Role, RoleAssignment, User, UserSession
from sakskydd.db import utcnow
from sakskydd.extensions import db
from sakskydd.organisations.models import Operator, OperatorKind, OrgUnit, UnitKind

PASSWORD = "en lång och hemlig testfras 42"


@dataclass
class Person:
    user: User
    password: str
    secret: str | None

    @property
    def id(self):  # type: ignore[no-untyped-def]
        return self.user.id


def make_operator(
    name: str | None = None, *, kind: OperatorKind = OperatorKind.KOMMUN, parent: Operator | None = None
) -> Operator:
    operator = Operator(
        name=name or f"Kommun {secrets.token_hex(3)}", kind=kind, parent_id=parent.id if parent else None
    )
    db.add(operator)
    db.flush()
    return operator


def make_unit(operator: Operator, name: str | None = None, kind: UnitKind = UnitKind.FACKNAMND) -> OrgUnit:
    unit = OrgUnit(operator_id=operator.id, name=name or f"Nämnd {secrets.token_hex(3)}", kind=kind)
    db.add(unit)
    db.flush()
    return unit


def make_user(
    app: Flask,
    operator: Operator,
    *,
    username: str | None = None,
    roles: list[tuple[Role, Operator | OrgUnit]] | None = None,
    mfa: bool = True,
    clearance: int = 0,
    active: bool = True,
    password: str = PASSWORD,
) -> Person:
    passwords = app.extensions["sakskydd.passwords"]
    now = utcnow()
    user = User(
        username=username or f"u{secrets.token_hex(4)}",
        display_name="Test Person",
        email="test@example.se",
        operator_id=operator.id,
        password_hash=passwords.hash(password),
        password_changed_at=now,
        clearance=clearance,
        is_active=active,
    )
    db.add(user)
    db.flush()
    secret = None
    if mfa:
        secret = pyotp.random_base32(length=32)
        user.totp_secret = secret
        user.totp_enrolled_at = now
    for role, scope in roles or []:
        scope_kw = {"unit_id": scope.id} if isinstance(scope, OrgUnit) else {"operator_id": scope.id}
        db.add(RoleAssignment(user_id=user.id, role=role, status=AssignmentStatus.ACTIVE, **scope_kw))
    db.commit()
    return Person(user, password, secret)


def csrf_token(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', response.get_data(as_text=True))
    if match is None:
        match = re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True))
    assert match, f"no CSRF token on {path} ({response.status_code})"
    return match.group(1)


def next_code(person: Person) -> str:
    """A valid TOTP code for a step the server has not seen yet (±1 step tolerance)."""
    assert person.secret
    db.expire_all()
    last = db.scalar(select(User.totp_last_step).where(User.id == person.user.id))
    db.rollback()  # SQLite: do not hold the write lock while the app serves requests
    current = int(utcnow().timestamp()) // 30
    # The current step when it is unused: it stays valid if a new step starts before the server
    # checks it (±1 tolerance), whereas the previous step would then fall out of the window.
    step = current if last is None or last < current else last + 1
    assert step <= current + 1, "no unused TOTP step left in the tolerance window"
    return pyotp.TOTP(person.secret).at(step * 30)


def login(client: FlaskClient, person: Person) -> None:
    token = csrf_token(client, "/logga-in")
    response = client.post(
        "/logga-in", data={"csrf_token": token, "username": person.user.username, "password": person.password}
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    assert response.headers["Location"].endswith("/logga-in/kod")
    token = csrf_token(client, "/logga-in/kod")
    response = client.post("/logga-in/kod", data={"csrf_token": token, "code": next_code(person)})
    assert response.status_code == 303, response.get_data(as_text=True)[:500]


def step_up(client: FlaskClient, person: Person) -> None:
    token = csrf_token(client, "/konto/bekrafta")
    response = client.post(
        "/konto/bekrafta", data={"csrf_token": token, "password": person.password, "code": next_code(person)}
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:500]


def session_cookie(client: FlaskClient, app: Flask, person: Person, *, fresh: bool = True) -> UserSession:
    """Sign a person in directly (a server-side session row after MFA), for matrix-style tests."""
    import datetime as dt
    import hashlib

    from itsdangerous import Signer

    from sakskydd.accounts.sessions import COOKIE_NAME, token_hash

    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = UserSession(
        token_hash=token_hash(token),
        user_id=person.user.id,
        data={},
        last_seen_at=now,
        expires_at=now + dt.timedelta(hours=10),
        mfa_at=now,
        authenticated_at=now if fresh else now - dt.timedelta(hours=1),
    )
    db.add(row)
    db.commit()
    signed = Signer(app.secret_key, salt="sakskydd-session", digest_method=hashlib.sha256).sign(token)
    client.set_cookie(COOKIE_NAME, signed.decode("ascii"), domain="localhost")
    return row


@contextmanager
def count_statements(app: Flask) -> Iterator[list[str]]:
    """The SQL statements the app's engine runs inside the block, in order."""
    engine = app.extensions["sakskydd.db"].engine
    statements: list[str] = []

    def _count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", _count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", _count)
