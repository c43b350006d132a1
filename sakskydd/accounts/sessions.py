"""Server-side sessions: the cookie carries a signed random token, the row holds the state.

The row is looked up by the SHA-256 of the token, so a database reader cannot reuse a
session. Idle (15 min) and absolute (10 h) timeouts, revocation (the row is deleted) and
rotation (a new token at login, after MFA, after step-up and on privilege change) live here.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import secrets
import uuid
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from itsdangerous import BadSignature, Signer
from sqlalchemy import delete, select
from werkzeug.datastructures import CallbackDict

from sakskydd.accounts.models import UserSession
from sakskydd.db import utcnow
from sakskydd.extensions import db

COOKIE_NAME = "__Host-sakskydd"
USER_AGENT_MAX = 200
# A request that changes nothing in its session writes last_seen_at only when the stored value is
# older than this: the idle timeout then counts from up to a minute earlier (never later), and a
# page costs no write (docs/benchmarks.md section 2).
LAST_SEEN_GRANULARITY = dt.timedelta(seconds=60)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii")).digest()


class ServerSession(CallbackDict[str, Any], SessionMixin):
    """Flask session backed by a `user_session` row."""

    def __init__(self, initial: dict[str, Any] | None = None, row: UserSession | None = None) -> None:
        def on_update(_self: Any) -> None:
            self.modified = True

        super().__init__(initial or {}, on_update)
        self.row = row
        self.modified = False
        self.rotate_requested = False
        self.destroy_requested = False
        self.user_id: uuid.UUID | None = row.user_id if row else None
        self.mfa_at: dt.datetime | None = row.mfa_at if row else None
        self.authenticated_at: dt.datetime | None = row.authenticated_at if row else None
        self.created_at: dt.datetime | None = row.created_at if row else None

    @property
    def new(self) -> bool:  # type: ignore[override]
        return self.row is None

    @property
    def session_id(self) -> uuid.UUID | None:
        return self.row.id if self.row else None

    def rotate(self) -> None:
        """Issue a new token (and row id) at the end of this request; the old one stops working."""
        self.rotate_requested = True
        self.modified = True

    def destroy(self) -> None:
        self.destroy_requested = True
        self.modified = True

    def log_in(self, user_id: uuid.UUID, now: dt.datetime) -> None:
        """The second factor succeeded: a fresh session for this user."""
        self.clear()
        self.user_id = user_id
        self.mfa_at = now
        self.authenticated_at = now
        self.created_at = now
        self.rotate()

    def stepped_up(self, now: dt.datetime) -> None:
        self.authenticated_at = now
        self.rotate()


class ServerSessionInterface(SessionInterface):
    def __init__(self, idle_seconds: int, absolute_seconds: int, pending_seconds: int) -> None:
        self.idle = dt.timedelta(seconds=idle_seconds)
        self.absolute = dt.timedelta(seconds=absolute_seconds)
        self.pending = dt.timedelta(seconds=pending_seconds)

    def _signer(self, app: Flask) -> Signer:
        return Signer(app.secret_key, salt="sakskydd-session", digest_method=hashlib.sha256)  # type: ignore[arg-type]

    def _purge_now_and_then(self, now: dt.datetime) -> None:
        # Every anonymous visit to the login page holds a CSRF token in a row; old rows are
        # removed at most once a minute per process, so the table cannot grow without bound.
        last = getattr(self, "_last_purge", None)
        if last is None or now - last > dt.timedelta(minutes=1):
            self._last_purge = now
            purge_expired_sessions(int(self.idle.total_seconds()), now)

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        raw = request.cookies.get(COOKIE_NAME)
        if not raw or len(raw) > 200:
            return ServerSession()
        try:
            token = self._signer(app).unsign(raw).decode("ascii")
        except (BadSignature, UnicodeDecodeError):
            return ServerSession()
        row = db.scalar(select(UserSession).where(UserSession.token_hash == token_hash(token)))
        if row is None:
            return ServerSession()
        now = utcnow()
        if now - row.last_seen_at > self.idle or now >= row.expires_at:
            expire_session(row)
            db.commit()
            return ServerSession()
        # A deep copy: flash() appends to a list inside the data, which a shallow copy would
        # share with the row, so the change would go unnoticed and a second message be lost.
        session = ServerSession(copy.deepcopy(dict(row.data or {})), row)
        return session

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, ServerSession)
        cookie_kwargs: dict[str, Any] = {
            "httponly": True,
            "secure": True,
            "samesite": "Strict",
            "path": "/",
        }
        if session.destroy_requested:
            if session.row is not None:
                db.execute(delete(UserSession).where(UserSession.id == session.row.id))
                db.commit()
            response.delete_cookie(COOKIE_NAME, **cookie_kwargs)
            return
        if session.row is None and not session.modified and not session.user_id:
            return
        if session.row is None and not dict(session) and not session.user_id:
            return
        now = utcnow()
        token: str | None = None
        row = session.row
        if row is not None and self._unchanged(session, row, now):
            db.commit()  # whatever the request itself left to commit, as below
            response.vary.add("Cookie")
            return
        if row is not None and session.rotate_requested:
            db.execute(delete(UserSession).where(UserSession.id == row.id))
            row = None
        if row is None:
            self._purge_now_and_then(now)
            token = secrets.token_urlsafe(32)
            created = session.created_at or now
            row = UserSession(
                token_hash=token_hash(token),
                created_at=created,
                expires_at=created + self.absolute,
            )
            from flask import request

            row.ip = (request.remote_addr or "")[:45]
            row.user_agent = (request.user_agent.string or "")[:USER_AGENT_MAX]
            db.add(row)
        row.user_id = session.user_id
        row.mfa_at = session.mfa_at
        row.authenticated_at = session.authenticated_at
        row.data = dict(session)
        row.last_seen_at = now
        db.commit()
        session.row = row
        if token is not None:
            response.set_cookie(COOKIE_NAME, self._signer(app).sign(token).decode("ascii"), **cookie_kwargs)
        response.vary.add("Cookie")

    @staticmethod
    def _unchanged(session: ServerSession, row: UserSession, now: dt.datetime) -> bool:
        """Nothing to write: the same state as the row, which was seen less than a minute ago."""
        return (
            not session.rotate_requested
            and row.user_id == session.user_id
            and row.mfa_at == session.mfa_at
            and row.authenticated_at == session.authenticated_at
            and row.data == dict(session)
            and row.last_seen_at is not None
            and now - row.last_seen_at < LAST_SEEN_GRANULARITY
        )


def expire_session(row: UserSession) -> None:
    """Timed-out session: the row goes, and the end is audited for signed-in users."""
    from sakskydd import audit
    from sakskydd.audit.tags import Event

    if row.user_id is not None:
        audit.record(
            Event.SESSION_EXPIRED, actor=row.user_id, target_type="user_session", target_id=str(row.id)
        )
    db.execute(delete(UserSession).where(UserSession.id == row.id))


def end_user_sessions(user_id: uuid.UUID, *, keep: uuid.UUID | None = None) -> int:
    """Delete every session of a user (except `keep`); takes effect on their next request."""
    statement = delete(UserSession).where(UserSession.user_id == user_id)
    if keep is not None:
        statement = statement.where(UserSession.id != keep)
    result = db.execute(statement)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def purge_expired_sessions(idle_seconds: int, now: dt.datetime | None = None) -> int:
    """Remove rows past their idle or absolute timeout (housekeeping; no user is affected)."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=idle_seconds)
    result = db.execute(
        delete(UserSession).where((UserSession.last_seen_at < cutoff) | (UserSession.expires_at <= now))
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
