"""The auditors' workspace in a real browser: the revisor finds a person's actions, pages back
through the trail and opens one event; every page is scanned with axe (no inline script or
style, no CSP report). Verification and export from the workspace come with the rest of issue 6."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from browser_helpers import Account, Watched, account_of, end_transaction, follow, heading, main_text
from factories import make_operator, make_unit, make_user
from flask import Flask
from test_accessibility import Audit

from sakskydd import audit
from sakskydd.accounts.models import Role
from sakskydd.audit.tags import Event
from sakskydd.extensions import get_database

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

    NewContext = Callable[[], tuple[BrowserContext, Watched]]
    LogIn = Callable[[Page, str, Account], None]


@pytest.mark.browser
def test_the_auditor_finds_a_persons_actions(
    app: Flask, live_server: str, new_context: NewContext, sign_in: LogIn, axe: str
) -> None:
    database = get_database(app).scoped
    operator = make_operator(f"Testkommun {secrets.token_hex(2)}")
    unit = make_unit(operator, "Kulturnämnden")
    samordnare = make_user(app, operator, roles=[(Role.SAMORDNARE, unit)])
    samordnare.user.display_name = "Sara Samordnare"
    revisor = make_user(app, operator, roles=[(Role.REVISOR, operator)])
    revisor.user.display_name = "Rut Revisor"
    database.commit()
    for number in range(60):
        audit.record(
            Event.ASSET_READ,
            actor=samordnare.id,
            target_type="protected_asset",
            target_id=f"objekt-{number}",
            unit_id=unit.id,
            session=database,
        )
    database.commit()
    auditor = account_of(app, revisor)
    end_transaction(app)
    check = Audit(axe)
    context, watched = new_context()
    page = context.new_page()
    sign_in(page, live_server, auditor)
    follow(page, page.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Granskning"))
    assert heading(page) == "Granskningsloggen"
    check.check(page, "audit search (all)")
    page.fill("#person", "Sara")
    follow(page, page.get_by_role("button", name="Sök"))
    rows = page.locator("main table tbody tr")
    assert rows.count() == 50 and "Sara Samordnare" in rows.first.inner_text()
    assert "asset.read" in rows.first.inner_text() and "objekt-59" in rows.first.inner_text()
    check.check(page, "audit search (a person)")
    follow(page, page.get_by_role("link", name="Äldre händelser"))
    assert page.locator("main table tbody tr").count() >= 10
    assert page.input_value("#person") == "Sara"  # the filter stays with the pages
    check.check(page, "audit search (older page)")
    follow(page, page.locator("main table tbody tr").first.get_by_role("link"))
    assert heading(page).startswith("Händelse ")
    assert "asset.read" in main_text(page) and "Kulturnämnden" in main_text(page)
    check.check(page, "audit event")
    check.assert_clean(watched)
