"""Two-stage login, TOTP replay protection, recovery codes, lockout, sessions."""

from __future__ import annotations

import datetime as dt
import re
import threading

import pyotp
import pytest
from factories import csrf_token, login, make_operator, make_user, next_code
from sqlalchemy import func, select, update

from sakskydd.accounts.models import User, UserSession
from sakskydd.audit.models import AuditEvent
from sakskydd.extensions import db

pytestmark = pytest.mark.db


def _post_password(client, username, password, ip="127.0.0.1"):  # type: ignore[no-untyped-def]
    token = csrf_token(client, "/logga-in")
    return client.post(
        "/logga-in",
        data={"csrf_token": token, "username": username, "password": password},
        environ_base={"REMOTE_ADDR": ip},
    )


def _strip(html: str) -> str:
    return re.sub(r'value="[^"]*"', 'value=""', html)


def test_login_with_password_and_totp_reaches_home(app, client):
    person = make_user(app, make_operator())
    login(client, person)
    response = client.get("/")
    assert response.status_code == 200
    assert "Välkommen" in response.get_data(as_text=True)
    events = list(db.scalars(select(AuditEvent.event).where(AuditEvent.actor_id == person.id)))
    assert "auth.login.success" in events


def test_every_login_failure_gives_the_same_answer_and_one_hash(app, client):
    operator = make_operator()
    person = make_user(app, operator)
    inactive = make_user(app, operator, active=False)
    passwords = app.extensions["sakskydd.passwords"]
    bodies = []
    for username, password in [
        ("nobody-here", "whatever password 123"),
        (person.user.username, "wrong password entirely"),
        (inactive.user.username, inactive.password),
    ]:
        before = passwords.verifications
        response = _post_password(client, username, password)
        assert response.status_code == 200
        assert passwords.verifications - before == 1
        bodies.append(_strip(response.get_data(as_text=True)))
    assert bodies[0] == bodies[1] == bodies[2]
    assert "Inloggningen misslyckades" in bodies[0]


def test_mfa_step_cannot_be_skipped(app, client):
    person = make_user(app, make_operator())
    response = _post_password(client, person.user.username, person.password)
    assert response.headers["Location"].endswith("/logga-in/kod")
    assert client.get("/").status_code == 303
    assert client.get("/konto").headers["Location"].startswith("/logga-in")


def test_totp_code_cannot_be_replayed(app, client):
    person = make_user(app, make_operator())
    code = next_code(person)
    _post_password(client, person.user.username, person.password)
    token = csrf_token(client, "/logga-in/kod")
    assert client.post("/logga-in/kod", data={"csrf_token": token, "code": code}).status_code == 303
    other = app.test_client()
    _post_password(other, person.user.username, person.password)
    token = csrf_token(other, "/logga-in/kod")
    response = other.post("/logga-in/kod", data={"csrf_token": token, "code": code})
    assert response.status_code == 200
    assert "Koden godtogs inte" in response.get_data(as_text=True)


def test_parallel_requests_with_one_code_exactly_one_succeeds(app):
    person = make_user(app, make_operator())
    clients, tokens = [], []
    for _ in range(2):
        c = app.test_client()
        _post_password(c, person.user.username, person.password)
        tokens.append(csrf_token(c, "/logga-in/kod"))
        clients.append(c)
    code = next_code(person)
    barrier = threading.Barrier(2)
    results: list[int] = []

    def attempt(c, token):  # type: ignore[no-untyped-def]
        barrier.wait()
        with app.app_context():
            results.append(c.post("/logga-in/kod", data={"csrf_token": token, "code": code}).status_code)

    threads = [threading.Thread(target=attempt, args=pair) for pair in zip(clients, tokens, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 303]


@pytest.mark.parametrize(("offset", "accepted"), [(-30, True), (30, True), (-90, False), (90, False)])
def test_totp_clock_skew(app, offset, accepted):
    from sakskydd.accounts import services

    person = make_user(app, make_operator())
    now = dt.datetime.now(dt.UTC)
    code = pyotp.TOTP(person.secret).at(now + dt.timedelta(seconds=offset))
    user = db.get(User, person.id)
    assert services.verify_totp(user, code, now=now) is accepted


def test_recovery_code_works_once(app, client):
    from sakskydd.accounts import services

    person = make_user(app, make_operator())
    codes = services.generate_recovery_codes(db.get(User, person.id), app.extensions["sakskydd.passwords"])
    db.commit()
    _post_password(client, person.user.username, person.password)
    token = csrf_token(client, "/logga-in/aterstallningskod")
    response = client.post("/logga-in/aterstallningskod", data={"csrf_token": token, "code": codes[0]})
    assert response.status_code == 303
    other = app.test_client()
    _post_password(other, person.user.username, person.password)
    token = csrf_token(other, "/logga-in/aterstallningskod")
    response = other.post("/logga-in/aterstallningskod", data={"csrf_token": token, "code": codes[0]})
    assert response.status_code == 200


def test_twenty_failures_lock_the_account(app, client):
    person = make_user(app, make_operator())
    for attempt in range(20):  # from many addresses: the lock is per account, not per IP
        _post_password(client, person.user.username, "not the right one at all", ip=f"10.0.0.{attempt}")
    response = _post_password(client, person.user.username, person.password)
    assert response.status_code == 200
    assert "Inloggningen misslyckades" in response.get_data(as_text=True)
    user = db.scalar(select(User).where(User.id == person.id))
    assert user.locked_until is not None
    assert "auth.login.locked" in set(db.scalars(select(AuditEvent.event)))


def test_session_id_changes_at_login_and_old_cookie_is_dead_after_logout(app, client):
    person = make_user(app, make_operator())
    csrf_token(client, "/logga-in")
    before = client.get_cookie("__Host-sakskydd").value
    login(client, person)
    after = client.get_cookie("__Host-sakskydd").value
    assert before != after
    token = csrf_token(client, "/")
    assert client.post("/logga-ut", data={"csrf_token": token}).status_code == 303
    replay = app.test_client()
    replay.set_cookie("__Host-sakskydd", after, domain="localhost")
    assert replay.get("/").status_code == 303


def test_idle_session_times_out(app, client):
    person = make_user(app, make_operator())
    login(client, person)
    db.execute(update(UserSession).values(last_seen_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16)))
    db.commit()
    assert client.get("/").status_code == 303
    assert "session.expired" in set(db.scalars(select(AuditEvent.event)))


def test_a_page_that_changes_nothing_writes_no_session_row_within_a_minute(app, client):
    # docs/benchmarks.md section 2: last_seen_at is written at most once a minute when nothing
    # else in the session changes; the idle timeout then counts from up to a minute earlier.
    from factories import count_statements

    person = make_user(app, make_operator())
    login(client, person)
    for _ in range(2):
        client.get("/")  # the CSRF secret and Flask-Login's marks are settled now

    def session_writes() -> list[str]:
        with count_statements(app) as statements:
            assert client.get("/").status_code == 200
        return [s for s in statements if s.lstrip().upper().startswith("UPDATE USER_SESSION")]

    def last_seen() -> dt.datetime:
        db.rollback()
        return db.scalar(select(UserSession.last_seen_at).where(UserSession.user_id == person.id))

    assert session_writes() == []
    # Seen more than a minute ago: this request writes it.
    stale = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=90)
    db.execute(update(UserSession).where(UserSession.user_id == person.id).values(last_seen_at=stale))
    db.commit()
    assert len(session_writes()) == 1
    assert last_seen() > stale + dt.timedelta(seconds=60)
    assert session_writes() == []
    # A change in the session (a message for the next page) is written at once.
    response = client.post(
        "/konto/sessioner/avsluta-andra", data={"csrf_token": csrf_token(client, "/konto")}
    )
    assert response.status_code == 303
    db.rollback()
    data = db.scalar(select(UserSession.data).where(UserSession.user_id == person.id))
    assert [flash[1] for flash in data["_flashes"]] == ["0 andra sessioner avslutades."]
    assert "0 andra sessioner avslutades." in client.get("/konto").get_data(as_text=True)


def test_absolute_timeout(app, client):
    person = make_user(app, make_operator())
    login(client, person)
    db.execute(update(UserSession).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    db.commit()
    assert client.get("/").status_code == 303


def test_disabling_a_user_ends_access_on_next_request(app, client):
    person = make_user(app, make_operator())
    login(client, person)
    assert client.get("/").status_code == 200
    db.execute(update(User).where(User.id == person.id).values(is_active=False))
    db.commit()
    assert client.get("/").status_code == 303


def test_password_change_ends_other_sessions(app, client):
    person = make_user(app, make_operator())
    login(client, person)
    other = app.test_client()
    login(other, person)
    token = csrf_token(client, "/konto/losenord")
    new = "ett helt nytt långt lösenord 77"
    response = client.post(
        "/konto/losenord",
        data={"csrf_token": token, "current": person.password, "password": new, "confirm": new},
    )
    assert response.status_code == 303
    assert client.get("/").status_code == 200
    assert other.get("/").status_code == 303


def test_common_and_short_passwords_are_refused(app, client):
    person = make_user(app, make_operator())
    login(client, person)
    for bad in ["kort", "qwertyuiopasdfgh", "a" * 20, "testperson" + "1234567"]:
        token = csrf_token(client, "/konto/losenord")
        response = client.post(
            "/konto/losenord",
            data={"csrf_token": token, "current": person.password, "password": bad, "confirm": bad},
        )
        assert response.status_code == 200, bad
        assert "Det gick inte att spara" in response.get_data(as_text=True)


def test_a_one_megabyte_password_is_refused_quickly(app, client):
    token = csrf_token(client, "/logga-in")
    response = client.post(
        "/logga-in", data={"csrf_token": token, "username": "x", "password": "a" * (1024 * 1024)}
    )
    assert response.status_code == 413


def test_a_sealed_value_from_another_row_gives_a_generic_page_and_an_audit_event(app, client):
    """A TOTP secret copied into another account (swap attack) does not open: 500 page, audited."""
    operator = make_operator()
    victim = make_user(app, operator)
    attacker = make_user(app, operator)
    sealed = db.scalar(select(User.totp_secret_ct).where(User.id == attacker.id))
    db.execute(update(User).where(User.id == victim.id).values(totp_secret_ct=sealed))
    db.commit()
    response = _post_password(client, victim.user.username, victim.password)
    assert response.status_code == 303
    token = csrf_token(client, "/logga-in/kod")
    response = client.post("/logga-in/kod", data={"csrf_token": token, "code": "123456"})
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Tekniskt fel" in body
    assert attacker.secret not in body
    db.expire_all()
    failed = db.scalars(
        select(AuditEvent).where(
            AuditEvent.event == "crypto.decrypt_failed", AuditEvent.target_id == str(victim.id)
        )
    ).all()
    assert len(failed) == 1
    assert '"column":"totp_secret"' in failed[0].payload
    assert db.scalar(select(User.totp_last_step).where(User.id == victim.id)) is None


def test_stale_anonymous_session_rows_are_purged_by_new_visits(app, client):
    import hashlib

    old = UserSession(
        token_hash=hashlib.sha256(b"gammal").digest(),
        created_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        expires_at=dt.datetime(2020, 1, 1, 10, tzinfo=dt.UTC),
        last_seen_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        data={},
    )
    db.add(old)
    db.commit()
    old_id = old.id
    app.session_interface._last_purge = None
    assert client.get("/logga-in").status_code == 200
    db.expire_all()
    assert db.get(UserSession, old_id) is None
    assert db.scalar(select(func.count()).select_from(UserSession)) == 1


def test_a_reissued_activation_link_for_an_active_account_is_told_to_its_owner(app):
    from sakskydd.admin.services import resend_activation
    from sakskydd.notifications.models import Notice, NoticeKind

    operator = make_operator()
    person = make_user(app, operator)
    admin = make_user(app, operator)
    resend_activation(admin.user, person.user, activation_hours=24)
    db.commit()
    kinds = db.scalars(select(Notice.kind).where(Notice.user_id == person.id)).all()
    assert NoticeKind.ACTIVATION_REISSUED in kinds
