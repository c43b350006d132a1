"""The auditors' workspace in a real browser: the revisor finds a person's actions, pages back
through the trail and opens one event; verifies the chain (progress, then "Hel"), exports the
person's actions after a step-up and verifies the file standalone; then the database is
tampered with and the verification names the first bad seq. Every page is scanned with axe (no
inline script or style, no CSP report)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from browser_helpers import (
    Account,
    Watched,
    account_of,
    age_login,
    clear_of_totp_step_change,
    end_transaction,
    follow,
    heading,
    main_text,
)
from factories import make_operator, make_unit, make_user
from flask import Flask
from sqlalchemy import select, text
from test_accessibility import Audit

from sakskydd import audit
from sakskydd.accounts.models import Role
from sakskydd.audit.ddl import drop_statements, trigger_statements
from sakskydd.audit.models import AuditEvent
from sakskydd.audit.range_export import verify_range_export
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


def _verify_in_browser(page: Page) -> str:
    """Start a verification and wait (the page reloads itself) until it has a result."""
    follow(page, page.get_by_role("button", name="Verifiera nu"))
    for _ in range(600):
        if "Pågår" not in page.locator("main dl").first.inner_text():
            break
        time.sleep(0.1)
        page.wait_for_load_state()
    else:
        raise AssertionError("the verification did not finish")
    return main_text(page)


@pytest.mark.browser
def test_the_auditor_verifies_and_exports_and_finds_tampering(
    app: Flask,
    live_server: str,
    new_context: NewContext,
    sign_in: LogIn,
    axe: str,
    totp_code: Callable[[Account], str],
) -> None:
    database = get_database(app).scoped
    operator = make_operator(f"Testkommun {secrets.token_hex(2)}")
    unit = make_unit(operator, "Kulturnämnden")
    samordnare = make_user(app, operator, roles=[(Role.SAMORDNARE, unit)])
    samordnare.user.display_name = "Sara Samordnare"
    revisor = make_user(app, operator, roles=[(Role.REVISOR, operator)])
    database.commit()
    for number in range(20):
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
    check = Audit(axe)
    context, watched = new_context()
    page = context.new_page()
    sign_in(page, live_server, auditor)
    page.goto(f"{live_server}/granskning")
    follow(page, page.get_by_role("link", name="Verifiering av loggen och kontrollpunkter"))
    assert heading(page) == "Verifiering av granskningsloggen"
    assert "fingeravtryck (SHA-256)" in main_text(page)
    check.check(page, "verification (none yet)")
    assert "Hel" in _verify_in_browser(page)
    check.check(page, "verification (intact)")

    # The person's actions, exported after a step-up, verify on their own.
    page.goto(f"{live_server}/granskning?person=Sara")
    age_login(app, auditor, 600)
    follow(page, page.get_by_role("link", name="Exportera urvalet (JSON Lines)"))
    assert heading(page) == "Bekräfta din identitet"
    page.fill("#password", auditor.password)
    clear_of_totp_step_change()
    page.fill("#code", totp_code(auditor))
    with page.expect_download() as download:
        page.click("main button[type=submit]")
    exported = Path(download.value.path())
    assert download.value.suggested_filename.endswith(".jsonl")
    outcome = verify_range_export(exported)
    assert outcome.result.ok and outcome.full == 20

    # An attacker who owns the database edits one event: the verification names it.
    end_transaction(app)
    engine = get_database(app).engine
    victim = database.scalar(
        select(AuditEvent.seq).where(AuditEvent.target_id == "objekt-7", AuditEvent.event == "asset.read")
    )
    end_transaction(app)
    with engine.begin() as connection:
        for statement in drop_statements(engine.dialect.name):
            connection.exec_driver_sql(statement)
        connection.execute(
            text("UPDATE audit_event SET payload = replace(payload, 'objekt-7', 'objekt-X') WHERE seq = :s"),
            {"s": victim},
        )
        for statement in trigger_statements(engine.dialect.name):
            connection.exec_driver_sql(statement)
    page.goto(f"{live_server}/granskning/verifiering")
    result = _verify_in_browser(page)
    assert "Bruten" in result
    assert page.locator("#forsta-fel").inner_text() == str(victim)
    check.check(page, "verification (broken)")
    check.assert_clean(watched)
