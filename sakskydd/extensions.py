"""Database session, login manager, CSRF and limiter; bound to one app in create_app."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_wtf import CSRFProtect
from sqlalchemy import create_engine, event, make_url
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, scoped_session, sessionmaker
from werkzeug.local import LocalProxy


class Database:
    """One engine and a request-scoped session per application."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.session_factory = sessionmaker(bind=self.engine, expire_on_commit=False)
        self.scoped = scoped_session(self.session_factory)

    def remove(self, exc: BaseException | None = None) -> None:
        self.scoped.remove()

    def dispose(self) -> None:
        self.scoped.remove()
        self.engine.dispose()


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
        _configure_sqlite(engine)
        return engine
    # PostgreSQL's JIT compiles a plan whose cost estimate is high, which the chef's picture's
    # aggregates reach at scale: hundreds of milliseconds of compiling for a query that runs in
    # less (docs/benchmarks.md section 4). The application's queries are short; no JIT.
    # Added to the URL's own `options` (a search_path, say), which connect_args would replace.
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        options = " ".join(part for part in (parsed.query.get("options"), "-c jit=off") if part)
        parsed = parsed.update_query_dict({"options": options})
    return create_engine(parsed, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling is turned off so that every transaction starts
    # with BEGIN IMMEDIATE: writers are serialised up front instead of failing with
    # SQLITE_BUSY_SNAPSHOT when a read snapshot is upgraded (audit appends, CAS updates).
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Deleted and overwritten content (old ciphertexts, disposed personal data) is zeroed in
        # the file, whatever the SQLite build's default.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def get_database(app: Flask | None = None) -> Database:
    return (app or current_app).extensions["sakskydd.db"]


db: Session = LocalProxy(lambda: get_database().scoped())  # type: ignore[assignment]

login_manager = LoginManager()
csrf = CSRFProtect()


def client_ip() -> str:
    """The client address; X-Forwarded-For is honoured only behind configured proxies (ProxyFix)."""
    return request.remote_addr or "0.0.0.0"  # noqa: S104 - a key for rate limiting, not a bind address


limiter = Limiter(key_func=client_ip, default_limits=[], headers_enabled=False)
