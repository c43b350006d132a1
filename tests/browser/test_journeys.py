"""Main journeys in a real browser: activation and first login, login/logout, lockout,
cross-origin form posts, and the session cookie's flags."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from browser_helpers import (
    HOME_HEADING,
    LOGIN_FAILED,
    Account,
    StaticSite,
    Watched,
    csrf_token_on,
    end_transaction,
    enrol_totp,
    heading,
    path_of,
    submit_form,
    submit_password,
)
from flask import Flask
from sqlalchemy import select

from sakskydd.accounts.models import User
from sakskydd.db import utcnow
from sakskydd.extensions import get_database

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

    NewContext = Callable[[], tuple[BrowserContext, Watched]]
    LogIn = Callable[[Page, str, Account], None]

COOKIE = "__Host-sakskydd"


def _logged_in(page: Page, base: str) -> bool:
    page.goto(f"{base}/")
    return page.url == f"{base}/" and HOME_HEADING in heading(page)


@pytest.mark.browser
def test_first_login_through_activation_link(
    live_server: str,
    new_context: NewContext,
    make_account: Callable[..., Account],
    log_in: LogIn,
    org: dict[str, str],
) -> None:
    base = live_server
    admin = make_account()
    admin_context, _ = new_context()
    admin_page = admin_context.new_page()
    log_in(admin_page, base, admin)

    username = f"ny.person{secrets.token_hex(2)}"
    admin_page.goto(f"{base}/admin/anvandare/ny")
    admin_page.fill("input[name=username]", username)
    admin_page.fill("input[name=display_name]", "Nya Personen")
    admin_page.fill("input[name=email]", "ny.person@example.se")
    admin_page.select_option("select[name=operator]", org["operator_id"])
    submit_form(admin_page)
    link = admin_page.locator("#activation-link").inner_text().strip()
    assert link.startswith("https://localhost/aktivera/"), link

    # The new person, in a browser of their own, opens the link on the live server.
    context, _ = new_context()
    page = context.new_page()
    page.goto(base + path_of(link))
    assert "Aktivera ditt konto" in heading(page)
    assert username in page.locator("main").inner_text()
    password = "vår katt dricker kaffe på tisdagar " + secrets.token_hex(2)
    page.fill("input[name=password]", password)
    page.fill("input[name=confirm]", password)
    submit_form(page)
    assert page.url == f"{base}/logga-in/registrera", page.url
    assert page.locator("svg.qr").count() == 1

    secret, codes = enrol_totp(page)
    assert len(secret) >= 32
    assert len(codes) == 10 and len(set(codes)) == 10 and all(codes), codes
    assert "Välkommen" not in page.content()  # still the recovery-code page
    with page.expect_navigation():
        page.click("main a.button")
    assert page.url == f"{base}/", page.url
    assert heading(page) == "Välkommen, Nya Personen"

    # The link worked once only.
    other, _ = new_context()
    reuse = other.new_page()
    response = reuse.goto(base + path_of(link))
    assert response is not None and response.status == 404
    assert "Länken fungerar inte" in heading(reuse)


@pytest.mark.browser
def test_login_with_totp_and_logout(
    live_server: str,
    context: BrowserContext,
    page: Page,
    new_context: NewContext,
    make_account: Callable[..., Account],
    log_in: LogIn,
) -> None:
    base = live_server
    account = make_account(admin=False)
    log_in(page, base, account)
    stolen = next(c for c in context.cookies() if c["name"] == COOKIE)

    with page.expect_navigation():
        page.click("header form.logout button")
    assert page.url == f"{base}/logga-in?utloggad=1", page.url
    assert "Du är utloggad." in page.inner_text("main")
    assert page.locator("header form.logout").count() == 0

    response = page.goto(f"{base}/")
    assert response is not None and response.status == 200
    assert page.url.startswith(f"{base}/logga-in"), page.url
    assert heading(page) == "Logga in"

    # The old cookie was revoked on the server: replaying it in a fresh browser gets nowhere.
    replay, _ = new_context()
    replay.add_cookies([stolen])
    replay_page = replay.new_page()
    replay_page.goto(f"{base}/")
    assert replay_page.url.startswith(f"{base}/logga-in"), replay_page.url


def _failure_text(page: Page) -> str:
    summary = page.locator(".error-summary").inner_text().strip()
    assert summary.startswith(LOGIN_FAILED), summary
    return page.locator("main").inner_text()


@pytest.mark.browser
def test_lockout_after_twenty_wrong_passwords_with_one_generic_message(
    app: Flask,
    live_server: str,
    page: Page,
    make_account: Callable[..., Account],
) -> None:
    base = live_server
    account = make_account(admin=False)

    submit_password(page, base, f"finns-inte-{secrets.token_hex(3)}", "ett helt annat lösenord 123")
    unknown = _failure_text(page)

    for attempt in range(20):
        submit_password(page, base, account.username, f"fel lösenord nummer {attempt} ...")
        assert page.url == f"{base}/logga-in", page.url
        assert _failure_text(page) == unknown, f"attempt {attempt + 1} answered differently"

    locked_until = get_database(app).scoped.scalar(
        select(User.locked_until).where(User.id == uuid.UUID(account.id))
    )
    end_transaction(app)
    assert locked_until is not None and locked_until > utcnow() + dt.timedelta(minutes=14)

    submit_password(page, base, account.username, account.password)
    assert page.url == f"{base}/logga-in", page.url  # never to the TOTP step
    assert _failure_text(page) == unknown


def _evil_form(action: str, token: str) -> bytes:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Win a prize</title></head>
<body>
<form id="f" method="post" action="{action}">
  <input type="hidden" name="csrf_token" value="{token}">
  <input type="hidden" name="next" value="/">
</form>
<script>document.getElementById('f').submit();</script>
</body></html>""".encode()


@pytest.mark.browser
@pytest.mark.parametrize("evil_host", ["127.0.0.1", "localhost"], ids=["cross-site", "same-site-other-port"])
@pytest.mark.parametrize("target", ["/logga-ut", "/konto/sessioner/avsluta-andra"])
def test_cross_origin_form_post_is_refused(
    live_server: str,
    new_context: NewContext,
    static_site: StaticSite,
    make_account: Callable[..., Account],
    log_in: LogIn,
    evil_host: str,
    target: str,
) -> None:
    """An auto-submitting form on another origin, even carrying the victim's valid CSRF token,
    changes nothing: 127.0.0.1 is another site (no SameSite=Strict cookie, Sec-Fetch-Site:
    cross-site), localhost:<other port> is the same site (cookie sent) but another origin."""
    base = live_server
    account = make_account(admin=False)
    context, _ = new_context()
    page = context.new_page()
    log_in(page, base, account)
    other_context, _ = new_context()
    other_page = other_context.new_page()
    log_in(other_page, base, account)  # a second session, which "avsluta-andra" would end

    page.goto(f"{base}/konto")
    static_site.pages["/evil.html"] = _evil_form(f"{base}{target}", csrf_token_on(page))
    evil_url = f"http://{evil_host}:{static_site.port}/evil.html"

    def is_attack(response: object) -> bool:
        return response.request.method == "POST" and response.url == f"{base}{target}"  # type: ignore[attr-defined]

    with page.expect_response(is_attack) as info:
        page.goto(evil_url)
    response = info.value
    assert response.status == 403, response.status
    sent = response.request.all_headers()
    assert sent.get("sec-fetch-site") == ("cross-site" if evil_host == "127.0.0.1" else "same-site")
    page.wait_for_load_state()
    assert heading(page) == "Åtkomst nekad"

    assert _logged_in(page, base), "the victim's session ended"
    assert _logged_in(other_page, base), "the victim's other session ended"

    if target == "/konto/sessioner/avsluta-andra":
        # Control: the same action from the app's own page works, so the refusal above mattered.
        page.goto(f"{base}/konto")
        with page.expect_navigation():
            page.click("form[action$='/konto/sessioner/avsluta-andra'] button")
        assert "1 andra sessioner avslutades." in page.locator(".flashes").inner_text()
        assert not _logged_in(other_page, base)
        assert _logged_in(page, base)


@pytest.mark.browser
def test_session_cookie_flags(
    live_server: str,
    context: BrowserContext,
    page: Page,
    make_account: Callable[..., Account],
    log_in: LogIn,
) -> None:
    base = live_server
    account = make_account(admin=False)
    set_cookies: list[str] = []
    page.on(
        "response",
        lambda r: set_cookies.extend(
            h["value"] for h in r.headers_array() if h["name"].lower() == "set-cookie"
        ),
    )
    log_in(page, base, account)

    cookies = [c for c in context.cookies() if c["name"] == COOKIE]
    assert len(cookies) == 1, context.cookies()
    cookie = cookies[0]
    assert cookie["secure"] is True
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/"
    assert cookie["domain"] == "localhost"  # host-only: a Domain attribute would show as ".localhost"
    assert cookie["expires"] == -1  # a browser-session cookie; the server enforces the timeouts
    assert [c["name"] for c in context.cookies()] == [COOKIE]  # nothing else is stored

    ours = [v for v in set_cookies if v.startswith(COOKIE + "=")]
    assert ours, set_cookies
    for header in ours:
        attributes = {part.strip().split("=", 1)[0].lower() for part in header.split(";")[1:]}
        assert "domain" not in attributes, header
        assert {"secure", "httponly", "path", "samesite"} <= attributes, header

    # A new token after the password step and again after the second factor (no fixation).
    assert len({v.split(";", 1)[0] for v in ours}) >= 2, ours
    assert not page.evaluate("() => document.cookie"), "the session cookie is visible to scripts"
