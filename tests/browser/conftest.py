"""Playwright in Debian's Chromium against the real app served from a background thread.

One browser per worker (session scope), a fresh context per test. The app is the `app` fixture of
tests/conftest.py (its own migrated database per test), served by werkzeug on 127.0.0.1 and
browsed as http://localhost:<port>: Chromium treats localhost as a secure context, so the
`__Host-` Secure session cookie is accepted over plain HTTP (test_session_cookie_flags checks it).

Without Chromium the tests skip locally with the reason; with SAKSKYDD_REQUIRE_ALL=1 or CI set
they fail instead.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from browser_helpers import (
    HOME_HEADING,
    Account,
    StaticSite,
    Watched,
    account_of,
    axe_source,
    clear_of_totp_step_change,
    end_transaction,
    heading,
    submit_code,
    submit_password,
)
from factories import make_operator, make_unit, make_user, next_code
from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

from sakskydd.accounts.models import Role
from sakskydd.config import Settings
from sakskydd.extensions import get_database
from sakskydd.organisations.models import Operator

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

CHROMIUM = Path(os.environ.get("SAKSKYDD_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # "localhost" is the IPv4 loopback, where the test servers listen (no ::1 attempt first).
    "--host-resolver-rules=MAP localhost 127.0.0.1",
]
TIMEOUT_MS = 15_000


def _required() -> bool:
    ci = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
    return bool(os.environ.get("SAKSKYDD_REQUIRE_ALL")) or ci


def _unavailable(reason: str) -> None:
    if _required():
        pytest.fail(f"{reason}; SAKSKYDD_REQUIRE_ALL/CI forbids skipping the browser tests", pytrace=False)
    pytest.skip(reason)


# --- browser ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One Chromium per worker; Playwright gives each launch a fresh temporary profile directory."""
    if not CHROMIUM.exists():
        _unavailable(f"Debian's Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the Python package playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[[], tuple[BrowserContext, Watched]]]:
    """Factory of fresh, isolated contexts (own cookie jar), each with its console watched."""
    contexts: list[BrowserContext] = []

    def make() -> tuple[BrowserContext, Watched]:
        context = browser.new_context(locale="sv-SE", viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        watched = Watched()
        context.on("console", watched.on_console)
        context.on("weberror", lambda web_error: watched.on_error(web_error.error))
        contexts.append(context)
        return context, watched

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def context(new_context: Callable[[], tuple[BrowserContext, Watched]]) -> BrowserContext:
    return new_context()[0]


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture(scope="session")
def axe() -> str:
    return axe_source()


# --- the app and the servers ------------------------------------------------------------------


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The lockout journey makes 20+ logins from one address within a minute (limit 20/minute)."""
    settings.ratelimit_login = "1000 per minute"
    return settings


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The test's app on a free port; its origin http://localhost:<port>."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="live-server", daemon=True
    )
    thread.start()
    yield f"http://localhost:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def static_site() -> Iterator[StaticSite]:
    site = StaticSite()
    yield site
    site.close()


# --- data -------------------------------------------------------------------------------------


@pytest.fixture
def org(app: Flask) -> dict[str, str]:
    """An operator (kommun) with one unit; ids and name as plain strings."""
    operator = make_operator()
    unit = make_unit(operator)
    get_database(app).scoped.commit()
    result = {"operator_id": str(operator.id), "operator_name": operator.name, "unit_id": str(unit.id)}
    end_transaction(app)
    return result


@pytest.fixture
def make_account(app: Flask, org: dict[str, str]) -> Callable[..., Account]:
    """An account in the org's operator; admin=True makes it administrator there."""

    def make(*, admin: bool = True, mfa: bool = True) -> Account:
        operator = get_database(app).scoped.get(Operator, uuid.UUID(org["operator_id"]))
        assert operator is not None
        person = make_user(app, operator, roles=[(Role.ADMIN, operator)] if admin else [], mfa=mfa)
        return account_of(app, person)

    return make


@pytest.fixture
def totp_code(app: Flask) -> Callable[[Account], str]:
    """A TOTP code for a step the server has not accepted yet (factories.next_code)."""

    def code(account: Account) -> str:
        try:
            return next_code(account.person)
        finally:
            end_transaction(app)

    return code


@pytest.fixture
def log_in(totp_code: Callable[[Account], str]) -> Callable[[Page, str, Account], None]:
    """Password, then TOTP, through the real forms; ends on the home page."""

    def run(page: Page, base: str, account: Account) -> None:
        submit_password(page, base, account.username, account.password)
        assert page.url == f"{base}/logga-in/kod", page.url
        submit_code(page, totp_code(account))
        assert page.url == f"{base}/", page.url
        assert HOME_HEADING in heading(page)

    return run


@pytest.fixture
def sign_in(log_in: Callable[[Page, str, Account], None]) -> Callable[[Page, str, Account], None]:
    """The log_in fixture (password + TOTP through the forms), clear of a TOTP step change."""

    def run(page: Page, base: str, account: Account) -> None:
        clear_of_totp_step_change()
        log_in(page, base, account)

    return run
