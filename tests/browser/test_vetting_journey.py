"""Personnel vetting in a real browser (issue 5): the samordnare places two positions, opens a
case, completes the checklist in order, is refused a beslut before the registerkontroll, decides
after a step-up; the ersättare confirms; the chef sees the count but cannot open the case; a
samordnare of another unit searching the personnummer finds nothing; a closed case past its
retention period is disposed of by `sakskydd retention run`. Every page on the way is scanned
with axe (no inline script or style, no CSP report), and the personnummer is in no URL."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from browser_helpers import (
    Account,
    Watched,
    account_of,
    age_login,
    clear_of_totp_step_change,
    end_transaction,
    error_summary,
    flashes,
    follow,
    heading,
    main_text,
    row_text,
    section_text,
    submit_form,
)
from factories import make_operator, make_unit, make_user
from flask import Flask
from sqlalchemy import update
from test_accessibility import Audit

from sakskydd.accounts.models import Role
from sakskydd.deadlines import local_today
from sakskydd.extensions import get_database
from sakskydd.vetting.models import VettingCase

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

    NewContext = Callable[[], tuple[BrowserContext, Watched]]
    LogIn = Callable[[Page, str, Account], None]

UNIT = "Kulturnämnden"
OTHER_UNIT = "Idrottsnämnden"
TECHNICIAN = "Drifttekniker"
ASSISTANT = "Arkivassistent"
PNR = "19900101-0017"  # synthetic, checksum-valid
NAME = "Provperson Testsson"
SECOND_PNR = "19851231-0007"
SECOND_NAME = "Exempel Gallringsdotter"


@dataclass(frozen=True)
class World:
    unit: str
    samordnare: Account
    ersattare: Account
    chef: Account
    stranger: Account


def _world(app: Flask) -> World:
    database = get_database(app).scoped
    operator = make_operator(f"Testkommun {secrets.token_hex(2)}")
    unit = make_unit(operator, UNIT)
    other = make_unit(operator, OTHER_UNIT)

    def person(name: str, roles: list) -> Account:  # type: ignore[type-arg]
        made = make_user(app, operator, roles=roles)
        made.user.display_name = name
        database.commit()
        return account_of(app, made)

    world = World(
        unit=str(unit.id),
        samordnare=person("Sara Samordnare", [(Role.SAMORDNARE, unit)]),
        ersattare=person("Erik Ersättare", [(Role.ERSATTARE, unit)]),
        chef=person("Cecilia Chef", [(Role.CHEF, operator)]),
        stranger=person("Olle Annan", [(Role.SAMORDNARE, other)]),
    )
    end_transaction(app)
    return world


def _place(page: Page, title: str, klass: str, decided_on: dt.date) -> None:
    follow(page, page.get_by_role("link", name="Ny befattning"))
    page.fill("#title", title)
    page.select_option("#security_class", klass)
    page.fill("#decided_on", decided_on.isoformat())
    page.fill("#decided_by", "Kulturnämnden")
    page.fill("#reference", f"KN {decided_on.year}/{len(title)}")
    submit_form(page)
    assert "Befattningen är införd i befattningsförteckningen." in flashes(page)


def _open_case(page: Page, base: str, unit: str, title: str, name: str, pnr: str) -> None:
    page.goto(f"{base}/enheter/{unit}/provningar")
    follow(page, page.get_by_role("link", name="Ny säkerhetsprövning"))
    page.select_option(
        "#position",
        label=f"{title} – "
        + ("Säkerhetsklass 2" if title == TECHNICIAN else "Säkerhetsprövning utan placering"),
    )
    page.fill("#person_name", name)
    page.fill("#personnummer", pnr)
    submit_form(page)
    assert "Ärendet är öppnat. Följ checklistan i ordning." in flashes(page)


def _mark_done(page: Page, step: str, *, reference: str | None = None, reason: str | None = None) -> None:
    """From the case page: mark `step` done today, back on the case page."""
    follow(
        page,
        page.locator("section[aria-labelledby=checklista]").get_by_role(
            "link", name=f"Markera klart – {step.lower()}"
        ),
    )
    assert heading(page) == step
    if reason:
        page.select_option("#control_reason", reason)
    if reference:
        page.fill("#reference", reference)
    submit_form(page)
    assert "Steget är markerat som klart." in flashes(page), main_text(page)[:300]


@pytest.mark.browser
def test_vetting_from_positions_to_retention(
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
    today = local_today()
    visited: list[str] = []

    # --- the samordnare places two positions
    context, watched = new_context()
    page = context.new_page()
    page.on("request", lambda request: visited.append(request.url))
    sign_in(page, base, world.samordnare)
    follow(
        page, page.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Säkerhetsprövning")
    )
    assert heading(page) == "Säkerhetsprövning – översikt"
    audit.check(page, "vetting overview (samordnare, empty)")
    follow(page, page.locator("main table").get_by_role("link", name=UNIT, exact=True))
    assert heading(page) == "Säkerhetsprövningar"
    assert "Enheten har inga aktiva säkerhetsprövningar." in main_text(page)
    audit.check(page, "case list (empty)")
    follow(page, page.get_by_role("link", name="Befattningsförteckning"))
    assert "Befattningsförteckningen är tom." in main_text(page)
    audit.check(page, "befattningsförteckning (empty)")
    follow(page, page.get_by_role("link", name="Ny befattning"))
    page.fill("#title", TECHNICIAN)
    page.select_option("#security_class", "klass_1")
    page.fill("#decided_on", (today - dt.timedelta(days=20)).isoformat())
    page.fill("#decided_by", "Kulturnämnden")
    page.fill("#reference", "KN 2026/50")
    submit_form(page)
    assert "regeringsbeslutets diarienummer" in error_summary(page)
    assert page.input_value("#title") == TECHNICIAN  # nothing typed is lost
    audit.check(page, "position form with an error")
    page.select_option("#security_class", "klass_2")
    submit_form(page)
    assert "Befattningen är införd i befattningsförteckningen." in flashes(page)
    _place(page, ASSISTANT, "utan_placering", today - dt.timedelta(days=20))
    assert "Säkerhetsklass 2" in row_text(page, TECHNICIAN)
    assert "Säkerhetsprövning utan placering" in row_text(page, ASSISTANT)
    audit.check(page, "befattningsförteckning (two positions)")

    # --- a case: a wrong check digit first, then the checklist in order
    follow(page, page.get_by_role("link", name="Säkerhetsprövningar"))
    follow(page, page.get_by_role("link", name="Ny säkerhetsprövning"))
    audit.check(page, "open case form")
    page.select_option("#position", label=f"{TECHNICIAN} – Säkerhetsklass 2")
    page.fill("#person_name", NAME)
    page.fill("#personnummer", "19900101-0018")
    submit_form(page)
    assert "kontrollsiffra" in error_summary(page)
    assert page.input_value("#person_name") == NAME and page.input_value("#personnummer") == ""
    audit.check(page, "open case form with an error")
    page.fill("#personnummer", PNR)
    submit_form(page)
    assert "Ärendet är öppnat. Följ checklistan i ordning." in flashes(page)
    assert heading(page) == f"Säkerhetsprövning: {TECHNICIAN}"
    assert NAME in section_text(page, "person-rubrik") and PNR in section_text(page, "person-rubrik")
    case_url = page.url
    audit.check(page, "case page (new)")
    for step in (
        "Identiteten kontrollerad",
        "CV granskat",
        "Betyg och intyg kontrollerade",
        "Referenser tagna",
    ):
        _mark_done(page, step)
    # The interview step shows the template's topics; a reference is required.
    follow(page, page.get_by_role("link", name="Markera klart – säkerhetsprövningsintervju"))
    assert "Intervjumall (stadens grundmall)" in main_text(page)
    audit.check(page, "interview step")
    submit_form(page)
    assert "Ange en referens" in error_summary(page)
    page.fill("#reference", "KN P 2026/3")
    submit_form(page)
    _mark_done(page, "Samtycke till registerkontroll")
    # Before the registerkontroll: no beslut.
    age_login(app, world.samordnare, 60)
    follow(page, page.get_by_role("link", name="Fatta beslut"))
    assert "Kvar innan beslut kan fattas: registerkontroll begärd" in main_text(page)
    page.select_option("#decision", "godkand")
    page.fill("#reference", "KN B 2026/9")
    submit_form(page)
    assert "Beslut kan fattas först när alla steg före beslutet är klara." in error_summary(page)
    audit.check(page, "beslut refused before the registerkontroll")
    page.goto(case_url)
    _mark_done(page, "Registerkontroll begärd", reference="Säpo 2026-118", reason="placering")
    assert "Anställning eller placering i säkerhetsklass" in section_text(page, "checklista")
    for step in ("Svar på registerkontroll", "Särskild personutredning", "Samlad bedömning"):
        _mark_done(page, step)
    audit.check(page, "case page (ready for beslut)")
    # The beslut needs a recent sign-in: her login is older than 300 s.
    age_login(app, world.samordnare, 600)
    follow(page, page.get_by_role("link", name="Fatta beslut"))
    assert heading(page) == "Bekräfta din identitet"
    page.fill("#password", world.samordnare.password)
    clear_of_totp_step_change()
    page.fill("#code", totp_code(world.samordnare))
    submit_form(page)
    assert heading(page) == "Beslut i säkerhetsprövningen"
    audit.check(page, "beslut form")
    page.select_option("#decision", "godkand")
    page.fill("#reference", "KN B 2026/9")
    submit_form(page)
    assert "En annan behörig person ska nu bekräfta det." in flashes(page)
    beslut = section_text(page, "beslut")
    assert "Väntar på bekräftelse av en annan behörig person" in beslut and "Du fattade beslutet" in beslut
    assert page.get_by_role("link", name="Bekräfta eller återförvisa beslutet").count() == 0

    # --- the ersättare confirms
    second_context, second_watched = new_context()
    second = second_context.new_page()
    second.on("request", lambda request: visited.append(request.url))
    sign_in(second, base, world.ersattare)
    second.goto(case_url)
    follow(second, second.get_by_role("link", name="Bekräfta eller återförvisa beslutet"))
    assert heading(second) == "Bekräfta beslutet"
    audit.check(second, "confirm form")
    second.select_option("#choice", "bekrafta")
    submit_form(second)
    assert "Beslutet är bekräftat." in flashes(second)
    assert "Status: Godkänd" in main_text(second)
    assert "Erik Ersättare" in section_text(second, "beslut")
    audit.check(second, "case page (approved)")

    # --- the chef: the count, not the person; the case is out of reach
    chef_context, chef_watched = new_context()
    chef = chef_context.new_page()
    chef.on("request", lambda request: visited.append(request.url))
    sign_in(chef, base, world.chef)
    follow(
        chef, chef.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Säkerhetsprövning")
    )
    matrix = row_text(chef, "Säkerhetsklass 2", "section[aria-labelledby=matris-rubrik]")
    assert matrix.split()[-1] == "1"  # one case in klass 2 in all
    unit_row = row_text(chef, UNIT, "section[aria-labelledby=enheter-rubrik]")
    assert NAME not in main_text(chef) and PNR not in main_text(chef)
    assert unit_row.split("\t")[1].startswith("2")  # two positions
    audit.check(chef, "vetting overview (chef)")
    audit.visit(chef, case_url, "case page refused to the chef", status=404)
    assert NAME not in main_text(chef)

    # --- a samordnare of another unit searches the personnummer: nothing
    stranger_context, stranger_watched = new_context()
    stranger = stranger_context.new_page()
    stranger.on("request", lambda request: visited.append(request.url))
    sign_in(stranger, base, world.stranger)
    follow(
        stranger,
        stranger.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Säkerhetsprövning"),
    )
    follow(stranger, stranger.locator("main table").get_by_role("link", name=OTHER_UNIT, exact=True))
    stranger.fill("#personnummer", PNR)
    follow(stranger, stranger.get_by_role("button", name="Sök"))
    assert f"Inga ärenden vid {OTHER_UNIT} för personnumret." in main_text(stranger)
    assert stranger.input_value("#personnummer") == ""
    audit.check(stranger, "lookup (nothing found)")
    # The samordnare's own search finds the case.
    page.goto(f"{base}/enheter/{world.unit}/provningar")
    page.fill("#personnummer", PNR)
    follow(page, page.get_by_role("button", name="Sök"))
    assert NAME in row_text(page, NAME)
    audit.check(page, "lookup (found)")

    # --- a second case, discontinued; past its retention period it is disposed of
    _open_case(page, base, world.unit, ASSISTANT, SECOND_NAME, SECOND_PNR)
    second_case = page.url
    follow(page, page.get_by_role("link", name="Avbryt ärendet (personen tillträder inte befattningen)"))
    audit.check(page, "end form")
    submit_form(page)
    assert "Ärendet är avslutat." in flashes(page)
    case_id = uuid.UUID(second_case.rsplit("/", 1)[1])
    database = get_database(app).scoped
    database.execute(
        update(VettingCase)
        .where(VettingCase.id == case_id)
        .values(closed_on=today - dt.timedelta(days=6 * 365))
    )
    database.commit()
    end_transaction(app)
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["retention", "run", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert str(case_id) in dry.output and SECOND_NAME not in dry.output and SECOND_PNR not in dry.output
    done = runner.invoke(args=["retention", "run"])
    assert done.exit_code == 0, done.output
    end_transaction(app)
    page.goto(second_case)
    assert "Gallrade" in section_text(page, "person-rubrik")
    assert SECOND_NAME not in main_text(page) and SECOND_PNR not in main_text(page)
    audit.check(page, "case page (disposed)")
    page.goto(case_url)
    assert NAME in main_text(page)  # the approved case is untouched

    for url in visited:
        for form in (PNR, PNR.replace("-", ""), SECOND_PNR, SECOND_PNR.replace("-", "")):
            assert form not in url, url
    audit.assert_clean(watched, second_watched, chef_watched, stranger_watched)
