"""axe-core (WCAG 2.x A/AA and best practice) on every main page, in the states a person meets
them; on each page also: no inline script, event-handler or style attributes, and no CSP report."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import pyotp
import pytest
from browser_helpers import (
    LOGIN_FAILED,
    Account,
    Watched,
    end_transaction,
    enrol_totp,
    heading,
    path_of,
    scan,
    submit_form,
    submit_password,
)
from flask import Flask

from sakskydd.accounts.models import AssignmentStatus, Role, RoleAssignment
from sakskydd.extensions import get_database

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

    NewContext = Callable[[], tuple[BrowserContext, Watched]]
    LogIn = Callable[[Page, str, Account], None]


class Audit:
    """Collects the problems of every page visited, to report them all at once."""

    def __init__(self, axe: str) -> None:
        self.axe = axe
        self.problems: list[str] = []
        self.pages: list[str] = []

    def check(self, page: Page, label: str) -> None:
        self.pages.append(label)
        self.problems.extend(scan(page, self.axe, label))

    def visit(self, page: Page, url: str, label: str, status: int = 200) -> None:
        response = page.goto(url)
        assert response is not None
        assert response.status == status, f"{label}: {url} answered {response.status}, expected {status}"
        self.check(page, label)

    def assert_clean(self, *watched: Watched) -> None:
        csp = [report for w in watched for report in w.csp_reports()]
        errors = [error for w in watched for error in w.errors]
        report = self.problems + [f"CSP report: {c}" for c in csp] + [f"page error: {e}" for e in errors]
        assert not report, f"{len(self.pages)} pages scanned; problems:\n" + "\n".join(report)


@pytest.mark.browser
def test_pages_before_login(
    live_server: str,
    new_context: NewContext,
    make_account: Callable[..., Account],
    axe: str,
) -> None:
    base = live_server
    account = make_account(admin=False)
    context, watched = new_context()
    page = context.new_page()
    audit = Audit(axe)

    audit.visit(page, f"{base}/logga-in", "login")
    submit_password(page, base, account.username, "fel lösenord för att visa felet")
    assert LOGIN_FAILED in page.locator(".error-summary").inner_text()
    audit.check(page, "login with error")
    audit.visit(page, f"{base}/finns-inte", "404 page", status=404)
    audit.visit(page, f"{base}/aktivera/{secrets.token_urlsafe(32)}", "invalid activation link", status=404)

    submit_password(page, base, account.username, account.password)
    assert page.url == f"{base}/logga-in/kod", page.url
    audit.check(page, "TOTP page")
    page.fill("input[name=code]", _wrong_code(account))
    submit_form(page)
    audit.check(page, "TOTP page with error")
    with page.expect_navigation():
        page.click("main a[href$='/logga-in/aterstallningskod']")
    audit.check(page, "recovery-code login page")

    audit.assert_clean(watched)

    # The CSP check is not vacuous: an inline script added to an app page is reported.
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = '1'; document.body.append(s); }"
    )
    page.wait_for_timeout(200)
    assert watched.csp_reports(), "an inline script was not reported as a CSP violation"


def _wrong_code(account: Account) -> str:
    assert account.secret
    totp = pyotp.TOTP(account.secret)
    valid = {totp.at(time.time() + offset) for offset in (-60, -30, 0, 30, 60)}
    return next(code for code in ("000000", "111111", "222222", "333333", "444444") if code not in valid)


def _pending_role(app: Flask, account: Account, unit_id: str, granted_by: Account) -> None:
    """A role waiting for approval, so the approvals page has a row to show."""
    database = get_database(app).scoped
    database.add(
        RoleAssignment(
            user_id=uuid.UUID(account.id),
            role=Role.SAMORDNARE,
            unit_id=uuid.UUID(unit_id),
            status=AssignmentStatus.PENDING,
            granted_by_id=uuid.UUID(granted_by.id),
        )
    )
    database.commit()
    end_transaction(app)


@pytest.mark.browser
def test_pages_after_login_and_first_login(
    app: Flask,
    live_server: str,
    new_context: NewContext,
    make_account: Callable[..., Account],
    log_in: LogIn,
    org: dict[str, str],
    axe: str,
) -> None:
    base = live_server
    admin = make_account()
    colleague = make_account()
    _pending_role(app, colleague, org["unit_id"], granted_by=colleague)
    context, watched = new_context()
    page = context.new_page()
    audit = Audit(axe)

    log_in(page, base, admin)
    audit.check(page, "home")
    for path, label in [
        ("/konto", "account overview"),
        ("/konto/historik", "account history"),
        ("/konto/losenord", "change password"),
        ("/konto/tvastegsverifiering", "change two-step verification"),
        ("/konto/aterstallningskoder", "recovery codes (account)"),
        ("/konto/bekrafta", "step-up"),
        ("/admin/anvandare", "admin: users"),
        (f"/admin/anvandare/{colleague.id}", "admin: user detail"),
        ("/admin/godkannanden", "admin: approvals"),
        ("/admin/verksamhetsutovare", "admin: operators"),
        (f"/admin/verksamhetsutovare/{org['operator_id']}/enheter", "admin: units"),
    ]:
        audit.visit(page, base + path, label)
    assert page.locator("main table tbody tr").count() >= 1  # the units page lists the unit
    audit.visit(page, f"{base}/finns-inte", "404 page (signed in)", status=404)

    audit.visit(page, f"{base}/admin/anvandare/ny", "admin: new user")
    page.fill("input[name=username]", f"tillganglig{secrets.token_hex(2)}")
    page.fill("input[name=display_name]", "Tillgänglig Testperson")
    page.fill("input[name=email]", "tillganglig@example.se")
    page.select_option("select[name=operator]", org["operator_id"])
    submit_form(page)
    audit.check(page, "admin: activation link")
    link = page.locator("#activation-link").inner_text()

    newcomer, newcomer_watched = new_context()
    first = newcomer.new_page()
    audit.visit(first, base + path_of(link), "activation")
    password = "blå cyklar rullar över bron " + secrets.token_hex(2)
    first.fill("input[name=password]", "för kort")
    first.fill("input[name=confirm]", "för kort")
    submit_form(first)
    audit.check(first, "activation with error")
    first.fill("input[name=password]", password)
    first.fill("input[name=confirm]", password)
    submit_form(first)
    assert first.url == f"{base}/logga-in/registrera", first.url
    audit.check(first, "TOTP enrolment")
    enrol_totp(first)
    audit.check(first, "recovery codes (first login)")
    with first.expect_navigation():
        first.click("main a.button")
    assert heading(first).startswith("Välkommen")
    audit.check(first, "home (no roles)")

    audit.assert_clean(watched, newcomer_watched)
