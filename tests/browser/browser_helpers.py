"""Helpers of the browser tests: accounts as plain values, login through the real forms, the
attacker's second origin, and the page scan (axe-core, inline code, CSP reports)."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import TYPE_CHECKING, Any

import pyotp
from factories import Person
from flask import Flask
from sqlalchemy import update

from sakskydd.accounts.models import UserSession
from sakskydd.db import utcnow
from sakskydd.extensions import get_database

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Locator, Page

HOME_HEADING = "Välkommen"
LOGIN_FAILED = "Inloggningen misslyckades"


# --- people -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    """Plain values of a factory Person: ORM objects are not touched while the server runs."""

    person: Person
    id: str
    username: str
    password: str
    secret: str | None


def end_transaction(app: Flask) -> None:
    """Leave no transaction open in the test thread: on SQLite every transaction starts with
    BEGIN IMMEDIATE, and a held write lock would stall the server's requests."""
    get_database(app).scoped.remove()


def account_of(app: Flask, person: Person) -> Account:
    result = Account(person, str(person.user.id), person.user.username, person.password, person.secret)
    end_transaction(app)
    return result


def age_login(app: Flask, account: Account, seconds: int) -> None:
    """Move the person's sessions' last password + code back, as if they logged in long ago."""
    database = get_database(app).scoped
    database.execute(
        update(UserSession)
        .where(UserSession.user_id == uuid.UUID(account.id))
        .values(authenticated_at=utcnow() - dt.timedelta(seconds=seconds))
    )
    database.commit()
    end_transaction(app)


# --- journeys ---------------------------------------------------------------------------------


def path_of(url: str) -> str:
    """The path of a link the app built from settings.base_url, to open it on the live server."""
    return re.sub(r"^https?://[^/]+", "", url.strip())


def submit_password(page: Page, base: str, username: str, password: str) -> None:
    """The login form; opened first unless the page already shows it (e.g. after a failure)."""
    if page.url != f"{base}/logga-in":
        page.goto(f"{base}/logga-in")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    submit_form(page)


def submit_form(page: Page) -> None:
    """Click the main form's button; a refused POST (e.g. by the Origin check) fails clearly."""
    with page.expect_navigation() as navigation:
        page.click("main button[type=submit]")
    response = navigation.value
    if response is not None and response.status in (400, 403):
        raise AssertionError(
            f"the form POST to {response.url} was refused with {response.status} "
            f"({page.locator('main').inner_text()[:200]!r})"
        )


def clear_of_totp_step_change(margin: float = 2.0) -> None:
    """Wait, when needed, until the current 30-second TOTP step has `margin` seconds left.

    factories.next_code may pick the previous step (the server accepts ±1), and the server stops
    accepting that step when a new one begins between picking the code and checking it: call
    this before a login or step-up whose code must not straddle a step change.
    """
    left = 30 - time.time() % 30
    if left < margin:
        time.sleep(left + 0.05)


def follow(page: Page, target: str | Locator) -> None:
    """Click a link or button (a selector or a locator) and wait for the page it leads to; a
    refused request (400/403/404/409 or a server error) fails clearly."""
    locator = page.locator(target) if isinstance(target, str) else target
    with page.expect_navigation() as navigation:
        locator.click()
    response = navigation.value
    if response is not None and (response.status in (400, 403, 404, 409) or response.status >= 500):
        raise AssertionError(
            f"{response.request.method} {response.url} answered {response.status} "
            f"({page.locator('main').inner_text()[:200]!r})"
        )


def flashes(page: Page) -> str:
    """The flash messages on the current page ('' when there are none)."""
    box = page.locator(".flashes")
    return box.inner_text() if box.count() else ""


def submit_code(page: Page, code: str) -> None:
    page.fill("input[name=code]", code)
    submit_form(page)


def enrol_totp(page: Page) -> tuple[str, list[str]]:
    """On the enrolment page: read the secret, confirm with its current code; the recovery codes."""
    secret = page.locator("#totp-secret").inner_text().strip()
    submit_code(page, pyotp.TOTP(secret).now())
    codes = [c.strip() for c in page.locator("#recovery-codes li").all_inner_texts()]
    return secret, codes


def heading(page: Page) -> str:
    return page.locator("main h1").first.inner_text()


def main_text(page: Page) -> str:
    return page.locator("main").inner_text()


def section_text(page: Page, heading_id: str) -> str:
    """The text of the section labelled by the heading with id `heading_id`."""
    return page.locator(f"section[aria-labelledby={heading_id}]").inner_text()


def todo_text(page: Page) -> str:
    """The home page's "Att göra" list."""
    return section_text(page, "att-gora-rubrik")


def error_summary(page: Page) -> str:
    """The error summary at the top of a form (the first, when a page has two)."""
    return page.locator(".error-summary").first.inner_text()


def row_text(page: Page, text: str, within: str = "main") -> str:
    """The text of the one table row (in `within`, by default the main content) with `text`."""
    rows = page.locator(f"{within} tr", has_text=text)
    assert rows.count() == 1, f"{rows.count()} rows with {text!r} on {page.url}"
    return rows.first.inner_text()


def csrf_token_on(page: Page) -> str:
    value = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert value, f"no CSRF token on {page.url}"
    return value


# --- a second origin --------------------------------------------------------------------------


class StaticSite:
    """Pages the test writes, served from another port (another origin), e.g. an attacker's page."""

    def __init__(self) -> None:
        self.pages: dict[str, bytes] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                body = site.pages.get(self.path.split("?", 1)[0])
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body if body is not None else b"not found")

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="static-site", daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


# --- watching pages ---------------------------------------------------------------------------


@dataclass
class Watched:
    """Console messages and uncaught errors of every page of one context."""

    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        self.console.append(f"{message.type}: {message.text} ({message.page.url if message.page else '?'})")

    def on_error(self, error: Any) -> None:
        self.errors.append(str(error))

    def csp_reports(self) -> list[str]:
        return [m for m in self.console + self.errors if "Content Security Policy" in m]


# --- the page scan ----------------------------------------------------------------------------


def axe_source() -> str:
    """axe-core as shipped in the axe_playwright_python package."""
    return resources.files("axe_playwright_python").joinpath("axe.min.js").read_text(encoding="utf-8")


INLINE_CODE_JS = r"""() => {
  const found = [];
  for (const s of document.querySelectorAll('script')) {
    if (!s.src) found.push('inline <script>: ' + s.textContent.trim().slice(0, 80));
  }
  for (const el of document.querySelectorAll('*')) {
    for (const a of el.attributes) {
      if (/^on/i.test(a.name)) found.push('event handler attribute ' + a.name + ' on <' + el.localName + '>');
      if (a.name === 'style') found.push('style attribute on <' + el.localName + '>');
      if (/^\s*javascript:/i.test(a.value)) found.push('javascript: URL in ' + a.name);
    }
  }
  return found;
}"""

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]

AXE_RUN_JS = """async (tags) => {
  const result = await axe.run(document, {
    runOnly: {type: 'tag', values: tags},
    resultTypes: ['violations'],
  });
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map(n => ({target: n.target.join(' '), html: n.html, summary: n.failureSummary})),
  }));
}"""


def format_violations(label: str, violations: list[dict[str, Any]]) -> str:
    lines = [f"{label}: {len(violations)} axe violation(s)"]
    for v in violations:
        lines.append(f"  [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:5]:
            summary = " ".join((node["summary"] or "").split())
            lines.append(f"      at {node['target']}: {node['html'][:120]}")
            lines.append(f"         {summary}")
        if len(v["nodes"]) > 5:
            lines.append(f"      … and {len(v['nodes']) - 5} more")
    return "\n".join(lines)


def scan(page: Page, axe: str, label: str) -> list[str]:
    """Problems on the current page: inline script/handlers/styles (none allowed) and axe violations.

    page.evaluate runs over the DevTools protocol and adds no <script> element, so axe is
    injected without loosening or tripping the app's CSP (add_script_tag would be blocked).
    """
    problems = [f"{label}: {p}" for p in page.evaluate(INLINE_CODE_JS)]
    raw = page.content()
    if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", raw, re.IGNORECASE):
        problems.append(f"{label}: the page source has an inline <script>")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(axe)
    violations = page.evaluate(AXE_RUN_JS, AXE_TAGS)
    if violations:
        problems.append(format_violations(label, violations))
    return problems
