"""Attack cases of SECURITY.md for authentication and sessions that no other test covers.

Per-IP rate limits, recovery-code races and regeneration, the TOTP window over HTTP, TOTP brute
force, an administrator's MFA reset, enrolment hijack, over-long and Unicode passwords, lookalike
usernames, session fixation, cookie replay, stale privileges and the session cookie's flags.
Input, mass assignment, workflow and header cases are in test_attack_cases_input.py.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
import unicodedata
import uuid

import pyotp
import pytest
from factories import (
    PASSWORD,
    Person,
    csrf_token,
    login,
    make_operator,
    make_unit,
    make_user,
    next_code,
    session_cookie,
)
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from sakskydd.accounts import services
from sakskydd.accounts.models import (
    AssignmentStatus,
    RecoveryCode,
    Role,
    RoleAssignment,
    User,
    UserSession,
)
from sakskydd.accounts.sessions import COOKIE_NAME
from sakskydd.assets.models import AssetType, ProtectedAsset
from sakskydd.audit.models import AuditEvent
from sakskydd.classification import DamageLevel
from sakskydd.config import Settings
from sakskydd.extensions import db
from sakskydd.notifications.models import Notice, NoticeKind

pytestmark = pytest.mark.db

LIMIT = "3 per minute"
CODE_PATTERN = re.compile(r"\b[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}\b")


@pytest.fixture
def rate_limit() -> str | None:
    """No change by default; a test parametrizes it to get a low per-IP limit."""
    return None


@pytest.fixture
def settings(settings: Settings, rate_limit: str | None) -> Settings:
    if rate_limit is not None:
        settings.ratelimit_login = rate_limit
        settings.ratelimit_enabled = True
    return settings


@pytest.fixture(autouse=True)
def _requests_start_detached(app: Flask) -> None:
    """Each request starts with the test's objects detached, their loaded values kept: a request
    in the test's thread shares the scoped session, and its rollback would expire them."""
    inner = app.wsgi_app

    def wsgi(environ, start_response):  # type: ignore[no-untyped-def]
        db.close()
        return inner(environ, start_response)

    app.wsgi_app = wsgi  # type: ignore[method-assign]


# --- helpers ----------------------------------------------------------------------------------


def _post_password(client: FlaskClient, username: str, password: str, ip: str = "127.0.0.1", **kw):  # type: ignore[no-untyped-def]
    token = csrf_token(client, "/logga-in")
    return client.post(
        "/logga-in",
        data={"csrf_token": token, "username": username, "password": password},
        environ_base={"REMOTE_ADDR": ip},
        **kw,
    )


def _post_code(client: FlaskClient, path: str, code: str, ip: str = "127.0.0.1"):  # type: ignore[no-untyped-def]
    token = csrf_token(client, "/logga-in")  # the session's token; the code page may redirect
    return client.post(path, data={"csrf_token": token, "code": code}, environ_base={"REMOTE_ADDR": ip})


def _fresh_user(person: Person) -> User:
    """The stored row as it is now (detached, so later requests cannot expire it)."""
    db.close()
    user = db.get(User, person.id)
    assert user is not None
    db.close()
    return user


def _count(query) -> int:  # type: ignore[no-untyped-def]
    db.close()
    value = db.scalar(select(func.count()).select_from(query.subquery()))
    db.close()
    return int(value or 0)


def _events(name: str, **where: object) -> list[AuditEvent]:
    db.close()
    query = select(AuditEvent).where(AuditEvent.event == name)
    for column, value in where.items():
        query = query.where(getattr(AuditEvent, column) == value)
    rows = list(db.scalars(query.order_by(AuditEvent.seq)))
    db.close()
    return rows


def _wrong_code(secret: str) -> str:
    """A six-digit code that matches no step of the ±1 window (now and a little later)."""
    totp = pyotp.TOTP(secret)
    now = int(time.time())
    taken = {totp.at(now + offset) for offset in range(-60, 121, 30)}
    return next(c for c in (f"{n:06d}" for n in range(0, 1_000_000, 7919)) if c not in taken)


def _clear_of_step_boundary(margin: float = 3.0) -> None:
    """Wait for the next TOTP step when the current one is about to end (no flaky window edges)."""
    remainder = time.time() % 30
    if remainder > 30 - margin:
        time.sleep(30 - remainder + 0.2)


def _recovery_codes(app: Flask, person: Person) -> list[str]:
    codes = services.generate_recovery_codes(db.get(User, person.id), app.extensions["sakskydd.passwords"])
    db.commit()
    return codes


def _signed_in(client: FlaskClient) -> bool:
    response = client.get("/")
    return response.status_code == 200


def _cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie(COOKIE_NAME)
    assert cookie is not None
    return cookie.value


def _with_cookie(app: Flask, value: str) -> FlaskClient:
    replay = app.test_client()
    replay.set_cookie(COOKIE_NAME, value, domain="localhost")
    return replay


def _admin_client(app: Flask, operator, *, fresh: bool = True) -> tuple[Person, FlaskClient]:  # type: ignore[no-untyped-def]
    admin = make_user(app, operator, roles=[(Role.ADMIN, operator)])
    client = app.test_client()
    session_cookie(client, app, admin, fresh=fresh)
    return admin, client


def _admin_post(client: FlaskClient, path: str, data: dict[str, str] | None = None, form_path: str = "/"):  # type: ignore[no-untyped-def]
    token = csrf_token(client, form_path)
    return client.post(path, data={"csrf_token": token, **(data or {})})


# --- per-IP rate limits -----------------------------------------------------------------------


@pytest.mark.parametrize("rate_limit", [LIMIT])
def test_password_step_answers_429_after_the_limit_and_a_forged_forwarded_for_does_not_help(
    app: Flask, client: FlaskClient, rate_limit: str
) -> None:
    person = make_user(app, make_operator())
    for _ in range(3):
        response = _post_password(client, person.user.username, "fel lösenord helt och hållet")
        assert response.status_code == 200
    response = _post_password(client, person.user.username, person.password)
    assert response.status_code == 429
    body = response.get_data(as_text=True)
    assert "För många försök" in body and "Traceback" not in body
    assert response.headers["X-Frame-Options"] == "DENY"
    # X-Forwarded-For is honoured only behind configured proxies (none here).
    spoofed = _post_password(
        client, person.user.username, person.password, headers={"X-Forwarded-For": "203.0.113.9"}
    )
    assert spoofed.status_code == 429
    # The refused attempts never reached the account: no pending login, not counted, not audited.
    assert client.get("/logga-in/kod").headers["Location"].startswith("/logga-in")
    assert _fresh_user(person).failed_logins == 3
    assert len(_events("auth.login.failure")) == 3
    # The limit is per address: another client address is still served.
    other = app.test_client()
    assert _post_password(other, person.user.username, person.password, ip="198.51.100.7").status_code == 303


@pytest.mark.parametrize("rate_limit", [LIMIT])
@pytest.mark.parametrize("path", ["/logga-in/kod", "/logga-in/aterstallningskod"])
def test_second_factor_answers_429_after_the_limit(
    app: Flask, client: FlaskClient, rate_limit: str, path: str
) -> None:
    person = make_user(app, make_operator())
    codes = _recovery_codes(app, person)
    assert _post_password(client, person.user.username, person.password).status_code == 303
    wrong = _wrong_code(person.secret or "") if path.endswith("kod") else "0000-0000-0000-0000"
    for _ in range(3):
        assert _post_code(client, path, wrong).status_code == 200
    right = next_code(person) if path.endswith("kod") else codes[0]
    response = _post_code(client, path, right)
    assert response.status_code == 429
    assert not _signed_in(client)
    user = _fresh_user(person)
    assert user.totp_last_step is None
    assert _count(select(RecoveryCode).where(RecoveryCode.used_at.is_not(None))) == 0
    assert _events("auth.login.success") == []
    assert len(_events("auth.mfa.failure")) == 3


@pytest.mark.parametrize("rate_limit", [LIMIT])
def test_enrolment_answers_429_after_the_limit(app: Flask, client: FlaskClient, rate_limit: str) -> None:
    person = make_user(app, make_operator(), mfa=False)
    response = _post_password(client, person.user.username, person.password)
    assert response.headers["Location"].endswith("/logga-in/registrera")
    page = client.get("/logga-in/registrera").get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    for _ in range(3):
        assert _post_code(client, "/logga-in/registrera", _wrong_code(secret)).status_code == 200
    response = _post_code(client, "/logga-in/registrera", pyotp.TOTP(secret).now())
    assert response.status_code == 429
    assert not _signed_in(client)
    assert _fresh_user(person).totp_enrolled_at is None
    assert _events("auth.mfa.enrolled") == []


@pytest.mark.parametrize("rate_limit", [LIMIT])
def test_step_up_answers_429_after_the_limit(app: Flask, rate_limit: str) -> None:
    person = make_user(app, make_operator())
    client = app.test_client()
    session_cookie(client, app, person, fresh=False)
    for _ in range(3):
        token = csrf_token(client, "/konto/bekrafta")
        response = client.post(
            "/konto/bekrafta", data={"csrf_token": token, "password": "fel lösenord", "code": "123456"}
        )
        assert response.status_code == 200
    token = csrf_token(client, "/konto/bekrafta")
    response = client.post(
        "/konto/bekrafta", data={"csrf_token": token, "password": person.password, "code": next_code(person)}
    )
    assert response.status_code == 429
    # Not stepped up: a step-up action still asks for the confirmation.
    response = client.get("/konto/aterstallningskoder")
    assert response.status_code == 303 and "/konto/bekrafta" in response.headers["Location"]
    assert _events("auth.stepup.success") == []


@pytest.mark.parametrize("rate_limit", [LIMIT])
def test_activation_answers_429_after_the_limit(app: Flask, client: FlaskClient, rate_limit: str) -> None:
    from sakskydd.admin.services import create_user

    operator = make_operator()
    user, token = create_user(
        None,
        username="nyanstalld",
        display_name="Ny Anställd",
        email="ny@example.se",
        operator=operator,
        activation_hours=24,
    )
    db.commit()
    path = f"/aktivera/{token}"
    for _ in range(3):
        form_token = csrf_token(client, path)
        response = client.post(path, data={"csrf_token": form_token, "password": "kort", "confirm": "kort"})
        assert response.status_code == 200
    good = "en mening som är lång nog och ovanlig 81"
    form_token = csrf_token(client, path)
    response = client.post(path, data={"csrf_token": form_token, "password": good, "confirm": good})
    assert response.status_code == 429
    assert db.get(User, user.id).password_hash is None
    assert services.find_activation(token) is not None  # still unused
    assert _events("auth.activation.used") == []


# --- recovery codes ---------------------------------------------------------------------------


def test_one_recovery_code_in_two_parallel_logins_works_exactly_once(app: Flask) -> None:
    person = make_user(app, make_operator())
    codes = _recovery_codes(app, person)
    path = "/logga-in/aterstallningskod"
    clients, tokens = [], []
    for _ in range(2):
        c = app.test_client()
        assert _post_password(c, person.user.username, person.password).status_code == 303
        tokens.append(csrf_token(c, path))
        clients.append(c)
    barrier = threading.Barrier(2)
    results: list[int] = []

    def attempt(c: FlaskClient, token: str) -> None:
        barrier.wait()
        with app.app_context():
            results.append(c.post(path, data={"csrf_token": token, "code": codes[0]}).status_code)

    threads = [threading.Thread(target=attempt, args=pair) for pair in zip(clients, tokens, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 303]
    assert sorted(_signed_in(c) for c in clients) == [False, True]
    used = db.scalars(select(RecoveryCode).where(RecoveryCode.used_at.is_not(None))).all()
    assert len(used) == 1
    notices = db.scalars(
        select(Notice).where(Notice.user_id == person.id, Notice.kind == NoticeKind.RECOVERY_CODE_USED)
    ).all()
    assert len(notices) == 1
    assert len(_events("auth.recovery.used", target_id=str(person.id))) == 1
    assert len(_events("auth.login.success", actor_id=person.id)) == 1
    failures = _events("auth.mfa.failure", target_id=str(person.id))
    assert len(failures) == 1 and '"method":"recovery_code"' in failures[0].payload
    # Used up: a later attempt with the same code fails too.
    third = app.test_client()
    _post_password(third, person.user.username, person.password)
    assert _post_code(third, path, codes[0]).status_code == 200
    assert not _signed_in(third)


def test_regenerating_recovery_codes_needs_step_up_and_kills_the_old_set(app: Flask) -> None:
    person = make_user(app, make_operator())
    old = _recovery_codes(app, person)
    stale = app.test_client()
    session_cookie(stale, app, person, fresh=False)
    response = stale.get("/konto/aterstallningskoder")
    assert response.status_code == 303 and "/konto/bekrafta" in response.headers["Location"]
    token = csrf_token(stale, "/")
    response = stale.post("/konto/aterstallningskoder", data={"csrf_token": token})
    assert response.status_code == 303 and "/konto/bekrafta" in response.headers["Location"]
    assert _events("auth.recovery.regenerated") == []

    client = app.test_client()
    session_cookie(client, app, person)
    token = csrf_token(client, "/konto/aterstallningskoder")
    response = client.post("/konto/aterstallningskoder", data={"csrf_token": token})
    assert response.status_code == 200
    new = CODE_PATTERN.findall(response.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    assert len(_events("auth.recovery.regenerated", target_id=str(person.id))) == 1

    attacker = app.test_client()
    _post_password(attacker, person.user.username, person.password)
    assert _post_code(attacker, "/logga-in/aterstallningskod", old[0]).status_code == 200
    assert not _signed_in(attacker)
    owner = app.test_client()
    _post_password(owner, person.user.username, person.password)
    assert _post_code(owner, "/logga-in/aterstallningskod", new[0]).status_code == 303
    assert _signed_in(owner)


# --- TOTP: window, brute force, enrolment ------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "accepted"), [(-30, True), (-31, False), (0, True), (59, True), (60, False)]
)
def test_totp_window_is_exactly_one_step_either_side(app: Flask, offset: int, accepted: bool) -> None:
    """Server time at the very start of a step: one step back and one ahead, nothing more."""
    person = make_user(app, make_operator())
    user = db.get(User, person.id)
    now = dt.datetime.fromtimestamp((int(time.time()) // 30) * 30, dt.UTC)
    while True:  # a refused step's code may by chance equal an accepted one: take another secret
        totp = pyotp.TOTP(user.totp_secret)
        code = totp.at(now + dt.timedelta(seconds=offset))
        if accepted or code not in {totp.at(now + dt.timedelta(seconds=s)) for s in (-30, 0, 30)}:
            break
        user.totp_secret = pyotp.random_base32(length=32)
    assert services.verify_totp(user, code, now=now) is accepted
    db.commit()
    assert _fresh_user(person).totp_last_step == ((int(now.timestamp()) + offset) // 30 if accepted else None)


@pytest.mark.parametrize(("offset", "accepted"), [(-30, True), (30, True), (-90, False), (90, False)])
def test_totp_clock_skew_through_the_login_page(
    app: Flask, client: FlaskClient, offset: int, accepted: bool
) -> None:
    person = make_user(app, make_operator())
    assert _post_password(client, person.user.username, person.password).status_code == 303
    _clear_of_step_boundary()
    at = int(time.time()) + offset
    code = pyotp.TOTP(person.secret).at(at)
    response = _post_code(client, "/logga-in/kod", code)
    assert response.status_code == (303 if accepted else 200)
    assert _signed_in(client) is accepted
    user = _fresh_user(person)
    if accepted:
        assert user.totp_last_step == at // 30
        assert len(_events("auth.login.success", actor_id=person.id)) == 1
    else:
        assert user.totp_last_step is None and user.failed_logins == 1
        assert len(_events("auth.mfa.failure", target_id=str(person.id))) == 1


def test_five_wrong_codes_end_the_pending_login(app: Flask, client: FlaskClient) -> None:
    person = make_user(app, make_operator())
    _post_password(client, person.user.username, person.password)
    wrong = _wrong_code(person.secret or "")
    for attempt in range(1, 6):
        response = _post_code(client, "/logga-in/kod", wrong)
        if attempt < 5:
            assert response.status_code == 200
    assert response.status_code == 303 and response.headers["Location"].endswith("/logga-in")
    # The right code no longer helps: the password step must be done again.
    response = client.post(
        "/logga-in/kod", data={"csrf_token": csrf_token(client, "/logga-in"), "code": next_code(person)}
    )
    assert response.status_code == 303 and response.headers["Location"].endswith("/logga-in")
    assert not _signed_in(client)
    assert _fresh_user(person).failed_logins == 5
    assert len(_events("auth.mfa.failure", target_id=str(person.id))) == 5


def test_enrolment_cannot_be_reached_or_hijacked(app: Flask) -> None:
    operator = make_operator()
    enrolled = make_user(app, operator)
    newcomer = make_user(app, operator, mfa=False)

    anonymous = app.test_client()
    assert anonymous.get("/logga-in/registrera").headers["Location"].endswith("/logga-in")

    # An enrolled user half-way through login gets no enrolment page (nor a new secret).
    half = app.test_client()
    _post_password(half, enrolled.user.username, enrolled.password)
    response = half.get("/logga-in/registrera")
    assert response.status_code == 303 and "totp-secret" not in response.get_data(as_text=True)
    assert _fresh_user(enrolled).totp_pending_secret is None

    # The newcomer's secret is shown to the newcomer's session only.
    owner = app.test_client()
    assert (
        _post_password(owner, newcomer.user.username, newcomer.password)
        .headers["Location"]
        .endswith("/logga-in/registrera")
    )
    page = owner.get("/logga-in/registrera").get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    attacker = app.test_client()
    token = csrf_token(attacker, "/logga-in")
    response = attacker.post(
        "/logga-in/registrera", data={"csrf_token": token, "code": pyotp.TOTP(secret).now()}
    )
    assert response.status_code == 303 and response.headers["Location"].endswith("/logga-in")
    assert not _signed_in(attacker)
    assert _fresh_user(newcomer).totp_enrolled_at is None
    assert _events("auth.mfa.enrolled") == []

    # Replacing one's own authenticator needs a fresh step-up.
    stale = app.test_client()
    session_cookie(stale, app, enrolled, fresh=False)
    response = stale.get("/konto/tvastegsverifiering")
    assert response.status_code == 303 and "/konto/bekrafta" in response.headers["Location"]
    response = stale.post("/konto/tvastegsverifiering", data={"csrf_token": csrf_token(stale, "/")})
    assert response.status_code == 303 and "/konto/bekrafta" in response.headers["Location"]
    assert _fresh_user(enrolled).totp_pending_secret is None


# --- an administrator's MFA reset ---------------------------------------------------------------


def test_mfa_reset_revokes_the_old_secret_and_codes_and_ends_sessions(app: Flask) -> None:
    operator = make_operator()
    person = make_user(app, operator)
    codes = _recovery_codes(app, person)
    victim = app.test_client()
    login(victim, person)
    assert _signed_in(victim)
    path = f"/admin/anvandare/{person.id}/aterstall-tvastegsverifiering"

    # A stale administrator session must confirm first; nothing changes before that.
    _, stale_admin = _admin_client(app, operator, fresh=False)
    response = _admin_post(stale_admin, path)
    assert response.status_code == 303 and "/konto/bekrafta" in response.headers["Location"]
    assert _fresh_user(person).totp_enrolled_at is not None

    _, admin = _admin_client(app, operator)
    response = _admin_post(admin, path, form_path=path)
    assert response.status_code == 303
    user = _fresh_user(person)
    assert user.totp_secret is None and user.totp_enrolled_at is None and user.totp_last_step is None
    assert _count(select(RecoveryCode).where(RecoveryCode.user_id == person.id)) == 0
    assert _count(select(UserSession).where(UserSession.user_id == person.id)) == 0
    assert NoticeKind.MFA_RESET in db.scalars(select(Notice.kind).where(Notice.user_id == person.id)).all()
    reset = _events("auth.mfa.reset", target_id=str(person.id))
    assert len(reset) == 1 and '"sessions_ended":1' in reset[0].payload

    # The signed-in session is over.
    assert not _signed_in(victim)

    # The password now leads to enrolment; the old code and the old recovery codes lead nowhere.
    old_code = pyotp.TOTP(person.secret).now()
    again = app.test_client()
    response = _post_password(again, person.user.username, person.password)
    assert response.headers["Location"].endswith("/logga-in/registrera")
    response = _post_code(again, "/logga-in/kod", old_code)
    assert response.status_code == 303 and response.headers["Location"].endswith("/logga-in")
    again = app.test_client()
    _post_password(again, person.user.username, person.password)
    response = _post_code(again, "/logga-in/aterstallningskod", codes[0])
    assert response.status_code == 303 and response.headers["Location"].endswith("/logga-in")
    again = app.test_client()
    _post_password(again, person.user.username, person.password)
    page = again.get("/logga-in/registrera").get_data(as_text=True)
    new_secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    assert new_secret != person.secret
    response = _post_code(again, "/logga-in/registrera", old_code)
    assert response.status_code == 200 and "Koden stämmer inte" in response.get_data(as_text=True)
    assert not _signed_in(again)
    # Enrolling the new authenticator signs in.
    response = _post_code(again, "/logga-in/registrera", pyotp.TOTP(new_secret).now())
    assert response.status_code == 200 and len(CODE_PATTERN.findall(response.get_data(as_text=True))) == 10
    assert _signed_in(again)


# --- over-long and Unicode passwords, lookalike usernames -------------------------------------


def test_over_long_passwords_are_refused_everywhere_without_change(app: Flask) -> None:
    person = make_user(app, make_operator())
    client = app.test_client()
    session_cookie(client, app, person)
    before = _fresh_user(person).password_hash
    megabyte = "å" * (1024 * 1024)  # two bytes each in UTF-8: past the body limit
    token = csrf_token(client, "/konto/losenord")
    response = client.post(
        "/konto/losenord",
        data={"csrf_token": token, "current": person.password, "password": megabyte, "confirm": megabyte},
    )
    assert response.status_code == 413
    # Just under the body limit but over 1024 characters: a form error, no hashing of it.
    long = "en lång fras " * 80
    assert len(long) > 1024
    passwords = app.extensions["sakskydd.passwords"]
    started = passwords.verifications
    token = csrf_token(client, "/konto/losenord")
    response = client.post(
        "/konto/losenord",
        data={"csrf_token": token, "current": person.password, "password": long, "confirm": long},
    )
    assert response.status_code == 200
    assert passwords.verifications == started
    assert _fresh_user(person).password_hash == before
    assert _events("auth.password.changed") == []
    # At the login page a 900 kB password is refused with the one generic message.
    anonymous = app.test_client()
    response = _post_password(anonymous, person.user.username, "x" * 900_000)
    assert response.status_code == 200
    assert "Inloggningen misslyckades" in response.get_data(as_text=True)
    assert anonymous.get("/logga-in/kod").status_code == 303


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(lambda p: unicodedata.normalize("NFC", p), id="nfc"),
        pytest.param(lambda p: unicodedata.normalize("NFD", p), id="nfd"),
        pytest.param(lambda p: p.replace("42", "４２"), id="fullwidth-digits"),
        pytest.param(lambda p: p.replace("fi", "ﬁ"), id="ligature"),
    ],
)
def test_a_password_typed_in_another_unicode_form_still_works(app: Flask, variant) -> None:  # type: ignore[no-untyped-def]
    person = make_user(app, make_operator())
    chosen = unicodedata.normalize("NFD", "Blåbärssylt på fina söndagar klockan 42")
    client = app.test_client()
    session_cookie(client, app, person)
    token = csrf_token(client, "/konto/losenord")
    response = client.post(
        "/konto/losenord",
        data={"csrf_token": token, "current": PASSWORD, "password": chosen, "confirm": chosen},
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:1000]
    typed = variant(chosen)
    fresh = app.test_client()
    response = _post_password(fresh, person.user.username, typed)
    assert response.status_code == 303 and response.headers["Location"].endswith("/logga-in/kod")
    # A genuinely different password is still wrong.
    other = app.test_client()
    response = _post_password(other, person.user.username, typed.replace("42", "43").replace("４２", "４３"))
    assert response.status_code == 200


def test_lookalike_usernames_cannot_be_created_and_fold_to_one_account(app: Flask) -> None:
    operator = make_operator()
    anna = make_user(app, operator, username="anna")
    _, admin = _admin_client(app, operator)
    before = db.scalar(select(func.count()).select_from(User))
    for lookalike in ("ＡＮＮＡ", "Anna", "\u0430nna", "anna\u200b", "an\u0307na", " anna "):
        token = csrf_token(admin, "/admin/anvandare/ny")
        response = admin.post(
            "/admin/anvandare/ny",
            data={
                "csrf_token": token,
                "username": lookalike,
                "display_name": "Falsk Anna",
                "email": "falsk@example.se",
                "operator": str(operator.id),
            },
        )
        assert response.status_code == 200, lookalike
        body = response.get_data(as_text=True)
        assert "Användarnamnet är upptaget" in body or "Användarnamnet får bara" in body, lookalike
    assert db.scalar(select(func.count()).select_from(User)) == before
    assert _events("account.created") == []
    # Width and case variants of the name reach the one account; a Cyrillic "а" reaches none.
    for typed, reaches in (("ＡＮＮＡ", True), ("ANNA", True), ("\u0430nna", False)):
        c = app.test_client()
        response = _post_password(c, typed, anna.password)
        assert (response.status_code == 303) is reaches, typed
    assert _fresh_user(anna).failed_logins == 0


# --- session fixation and replay ---------------------------------------------------------------


def test_a_planted_session_cookie_is_not_the_one_after_login(app: Flask) -> None:
    person = make_user(app, make_operator())
    attacker = app.test_client()
    attacker.get("/logga-in")
    planted = _cookie(attacker)
    victim = _with_cookie(app, planted)
    token = csrf_token(victim, "/logga-in")
    victim.post(
        "/logga-in", data={"csrf_token": token, "username": person.user.username, "password": person.password}
    )
    pending = _cookie(victim)
    assert pending != planted
    _post_code(victim, "/logga-in/kod", next_code(person))
    final = _cookie(victim)
    assert final not in (planted, pending)
    assert _signed_in(victim)
    # Neither the planted nor the pending cookie carries the login.
    for value in (planted, pending):
        replay = _with_cookie(app, value)
        assert not _signed_in(replay)
        assert replay.get("/logga-in/kod").headers["Location"].endswith("/logga-in")
    rows = db.scalars(select(UserSession).where(UserSession.user_id == person.id)).all()
    assert len(rows) == 1 and rows[0].mfa_at is not None


def test_old_cookie_is_dead_after_password_change_and_after_step_up(app: Flask) -> None:
    person = make_user(app, make_operator())
    client = app.test_client()
    login(client, person)
    before_step_up = _cookie(client)
    token = csrf_token(client, "/konto/bekrafta")
    response = client.post(
        "/konto/bekrafta", data={"csrf_token": token, "password": person.password, "code": next_code(person)}
    )
    assert response.status_code == 303
    assert _cookie(client) != before_step_up
    assert not _signed_in(_with_cookie(app, before_step_up))

    before_change = _cookie(client)
    new = "ett helt nytt långt lösenord 77"
    token = csrf_token(client, "/konto/losenord")
    response = client.post(
        "/konto/losenord",
        data={"csrf_token": token, "current": person.password, "password": new, "confirm": new},
    )
    assert response.status_code == 303
    assert _cookie(client) != before_change
    assert _signed_in(client)
    assert not _signed_in(_with_cookie(app, before_change))
    assert len(_events("auth.password.changed", target_id=str(person.id))) == 1


def test_session_cookie_flags(app: Flask, client: FlaskClient) -> None:
    response = client.get("/logga-in")
    header = next(v for v in response.headers.getlist("Set-Cookie") if v.startswith(COOKIE_NAME + "="))
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
    assert {"secure", "httponly", "path", "samesite"} <= attributes
    assert "SameSite=Strict" in header and "Path=/" in header
    assert "domain" not in attributes and "expires" not in attributes and "max-age" not in attributes
    # The cookie is a signed random token, nothing else.
    value = header.split(";")[0].split("=", 1)[1]
    assert len(value) < 120 and "{" not in value


# --- stale privileges --------------------------------------------------------------------------


def _asset(unit, author: Person, classification: int = 0) -> uuid.UUID:  # type: ignore[no-untyped-def]
    asset = ProtectedAsset(
        unit_id=unit.id,
        type=AssetType.SYSTEM,
        name="Kassaregister",
        damage_level=DamageLevel.MINOR,
        owner="Ägare",
        created_by_id=author.id,
        classification=classification,
    )
    db.add(asset)
    db.commit()
    return asset.id


def test_a_revoked_role_is_gone_on_the_very_next_request(app: Flask) -> None:
    operator = make_operator()
    unit = make_unit(operator)
    person = make_user(app, operator, roles=[(Role.SAMORDNARE, unit)])
    asset_id = _asset(unit, person)
    assignment_id = db.scalar(select(RoleAssignment.id).where(RoleAssignment.user_id == person.id))
    client = app.test_client()
    session_cookie(client, app, person)
    assert client.get(f"/enheter/{unit.id}/objekt").status_code == 200
    assert client.get(f"/objekt/{asset_id}").status_code == 200
    session_before = _cookie(client)

    _, admin = _admin_client(app, operator)
    response = _admin_post(admin, f"/admin/roller/{assignment_id}/aterkalla")
    assert response.status_code == 303
    assert db.get(RoleAssignment, assignment_id).status == AssignmentStatus.REVOKED
    assert len(_events("role.revoked", target_id=str(assignment_id))) == 1

    # Same session, no new login: the role no longer counts.
    assert client.get(f"/objekt/{asset_id}").status_code == 404
    assert client.get(f"/enheter/{unit.id}/objekt").status_code == 404
    assert client.get("/enheter").status_code == 403
    assert _cookie(client) == session_before and _signed_in(client)
    denials = _events("authz.deny", actor_id=person.id)
    assert denials and '"action":"unit.list"' in denials[-1].payload


def test_lowered_clearance_applies_on_the_very_next_request(app: Flask) -> None:
    operator = make_operator()
    unit = make_unit(operator)
    person = make_user(app, operator, roles=[(Role.SAMORDNARE, unit)], clearance=1)
    asset_id = _asset(unit, person, classification=1)
    client = app.test_client()
    session_cookie(client, app, person)
    assert client.get(f"/objekt/{asset_id}").status_code == 200
    assert "Kassaregister" in client.get(f"/enheter/{unit.id}/objekt").get_data(as_text=True)

    _, admin = _admin_client(app, operator)
    version = _fresh_user(person).version
    response = _admin_post(
        admin, f"/admin/anvandare/{person.id}/behorighetsniva", {"clearance": "0", "version": str(version)}
    )
    assert response.status_code == 303
    assert _fresh_user(person).clearance == 0
    assert len(_events("clearance.changed", target_id=str(person.id))) == 1

    assert client.get(f"/objekt/{asset_id}").status_code in (403, 404)
    assert "Kassaregister" not in client.get(f"/enheter/{unit.id}/objekt").get_data(as_text=True)


def test_a_disabled_users_session_is_refused_at_once(app: Flask) -> None:
    operator = make_operator()
    person = make_user(app, operator)
    client = app.test_client()
    login(client, person)
    cookie = _cookie(client)
    _, admin = _admin_client(app, operator)
    path = f"/admin/anvandare/{person.id}/inaktivera"
    response = _admin_post(admin, path, form_path=path)
    assert response.status_code == 303
    assert _fresh_user(person).is_active is False
    assert _count(select(UserSession).where(UserSession.user_id == person.id)) == 0
    disabled = _events("account.disabled", target_id=str(person.id))
    assert len(disabled) == 1 and '"sessions_ended":1' in disabled[0].payload
    assert not _signed_in(client)
    assert not _signed_in(_with_cookie(app, cookie))
    # Nor can the password and a fresh code start a new one.
    again = app.test_client()
    response = _post_password(again, person.user.username, person.password)
    assert response.status_code == 200 and "Inloggningen misslyckades" in response.get_data(as_text=True)
