"""The chef's consolidated picture and the city-wide analysis in a real browser (issue 6): the
chef opens the picture, filters to what is overdue, drills down to a unit and returns its
submitted analysis, then creates, compiles and adopts (with step-up) the year's city-wide
analysis, exports it to XLSX and opens the print page. Every page is scanned with axe (no inline
script or style, no CSP report)."""

from __future__ import annotations

import datetime as dt
import io
import secrets
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
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
    flashes,
    follow,
    heading,
    main_text,
    submit_form,
)
from factories import make_operator, make_unit, make_user
from flask import Flask
from test_accessibility import Audit

from sakskydd.accounts.models import Role
from sakskydd.analyses.models import AnalysisStatus, SecurityAnalysis
from sakskydd.deadlines import local_today
from sakskydd.extensions import get_database
from sakskydd.organisations.models import Applicability, ApplicabilityAssessment
from sakskydd.oversight.views import HANDLING_MARKING

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

    NewContext = Callable[[], tuple[BrowserContext, Watched]]
    LogIn = Callable[[Page, str, Account], None]

LATE = "Norrmalms stadsdelsnämnd"
CALM = "Kulturnämnden"
ANALYSIS = "Säkerhetsskyddsanalys Norrmalm"


@dataclass(frozen=True)
class World:
    operator: str
    chef: Account


def _world(app: Flask) -> World:
    database = get_database(app).scoped
    operator = make_operator(f"Stad {secrets.token_hex(2)}")
    late, calm = make_unit(operator, LATE), make_unit(operator, CALM)
    samordnare = make_user(app, operator, roles=[(Role.SAMORDNARE, late)])
    chef = make_user(app, operator, roles=[(Role.CHEF, operator)])
    chef.user.display_name = "Cecilia Chef"
    today = local_today()
    for unit, outcome, ago in ((late, Applicability.YES, 200), (calm, Applicability.NO, 100)):
        database.add(
            ApplicabilityAssessment(
                unit_id=unit.id,
                outcome=outcome,
                decided_on=today - dt.timedelta(days=ago),
                decided_by="Nämnden",
                attested=True,
                recorded_by_id=samordnare.id,
            )
        )
    database.add(
        SecurityAnalysis(
            id=uuid.uuid4(),
            unit_id=late.id,
            cycle_year=today.year,
            title=ANALYSIS,
            status=AnalysisStatus.SUBMITTED,
            created_by_id=samordnare.id,
            submitted_by_id=samordnare.id,
            submitted_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=3),
        )
    )
    database.commit()
    world = World(operator=str(operator.id), chef=account_of(app, chef))
    end_transaction(app)
    return world


@pytest.mark.browser
def test_chef_from_picture_to_adopted_city_wide_analysis(
    app: Flask,
    live_server: str,
    new_context: NewContext,
    sign_in: LogIn,
    totp_code: Callable[[Account], str],
    axe: str,
) -> None:
    base = live_server
    world = _world(app)
    audit = Audit(axe)
    year = local_today().year
    context, watched = new_context()
    page = context.new_page()
    sign_in(page, base, world.chef)

    # --- the picture, filtered to what is overdue
    audit.visit(page, f"{base}/oversikt/{world.operator}", "oversight picture")
    assert heading(page).startswith("Sammanställning för Stad")
    assert LATE in main_text(page) and CALM in main_text(page)
    page.check("#forsenade")
    follow(page, page.get_by_role("button", name="Visa"))
    units = page.locator("table.oversight-units").inner_text()
    assert LATE in units and CALM not in units
    audit.check(page, "oversight picture (overdue only)")

    # --- drill down to the unit and return its submitted analysis
    follow(page, page.locator("table.oversight-units").get_by_role("link", name=LATE))
    assert heading(page) == LATE
    follow(page, page.get_by_role("link", name="Säkerhetsskyddsanalyser"))
    follow(page, page.locator("main").get_by_role("link", name=ANALYSIS).first)
    follow(page, page.get_by_role("link", name="Återremittera"))
    audit.check(page, "return analysis")
    page.fill("#comment", "Komplettera planen med ansvariga funktioner.")
    if page.locator("#attested").count():
        page.check("#attested")
    submit_form(page)
    assert "Analysen är återremitterad till enheten." in flashes(page)

    # --- the city-wide analysis: create, compile, adopt with step-up
    page.goto(f"{base}/oversikt/{world.operator}")
    follow(page, page.get_by_role("link", name="Stadsövergripande säkerhetsanalys"))
    assert "Det finns ingen stadsövergripande analys ännu." in main_text(page)
    audit.check(page, "city-wide analyses (empty)")
    page.fill("#year", str(year))
    follow(page, page.get_by_role("button", name="Skapa utkast"))
    assert "Utkastet till stadsövergripande analys är skapat." in flashes(page)
    assert heading(page) == f"Stadsövergripande säkerhetsanalys {year}"
    follow(page, page.get_by_role("button", name="Sammanställ siffrorna"))
    assert "Siffrorna är sammanställda." in flashes(page)
    assert "Med aktuell fastställd analys" in main_text(page)
    audit.check(page, "city-wide analysis (draft, compiled)")

    age_login(app, world.chef, 600)
    follow(page, page.get_by_role("link", name="Anta analysen"))
    assert heading(page) == "Bekräfta din identitet"
    page.fill("#password", world.chef.password)
    clear_of_totp_step_change()
    page.fill("#code", totp_code(world.chef))
    submit_form(page)
    assert heading(page) == f"Anta den stadsövergripande analysen för {year}"
    audit.check(page, "adopt confirmation")
    follow(page, page.locator("main").get_by_role("button", name="Anta analysen"))
    assert f"Den stadsövergripande analysen för {year} är antagen och låst." in flashes(page)
    assert "Analysen är antagen och låst." in main_text(page)
    assert page.get_by_role("button", name="Uppdatera siffrorna").count() == 0
    audit.check(page, "city-wide analysis (adopted)")

    # --- export (the step-up is still fresh) and the print page
    with page.expect_download() as download:
        page.get_by_role("link", name="Exportera till Excel (XLSX)").click()
    assert download.value.suggested_filename.endswith(".xlsx")
    with zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes())) as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
    assert "aggregerade uppgifter" in sheet and LATE in sheet
    follow(page, page.get_by_role("link", name="Utskriftsversion"))
    assert main_text(page).count(HANDLING_MARKING) >= 2
    audit.check(page, "print page")
    audit.assert_clean(watched)
