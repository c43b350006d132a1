"""The samordnare's year in a real browser (issue 3): applicability, appointments, the analysis
from last year's through return and approval with step-up, an asset change that reaches two
holders with acknowledgement and reminder; and an axe scan of every casework page in its main
states (no inline script or style, no CSP report)."""

from __future__ import annotations

import datetime as dt
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
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
    error_summary,
    flashes,
    follow,
    heading,
    main_text,
    row_text,
    section_text,
    submit_form,
    todo_text,
)
from factories import make_operator, make_unit, make_user
from flask import Flask
from sqlalchemy import select, update
from test_accessibility import Audit

from sakskydd.accounts.models import Role
from sakskydd.analyses.models import (
    AnalysisAsset,
    AnalysisOutcome,
    AnalysisStatus,
    AnalysisTransition,
    Measure,
    MeasureArea,
    MeasureStatus,
    SecurityAnalysis,
)
from sakskydd.assets.models import AssetHolder, AssetStatus, AssetType, HolderNotice, ProtectedAsset
from sakskydd.classification import DamageLevel
from sakskydd.db import utcnow
from sakskydd.deadlines import local_today
from sakskydd.extensions import get_database
from sakskydd.notifications.reminders import MAIL_SUBJECT
from sakskydd.organisations.models import (
    Applicability,
    ApplicabilityAssessment,
    Appointment,
    AppointmentRole,
    RevisionTrigger,
    RevisionTriggerKind,
)

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

    NewContext = Callable[[], tuple[BrowserContext, Watched]]
    LogIn = Callable[[Page, str, Account], None]

UNIT = "Kulturnämnden"
HOLDER_UNIT = "Stadsarkivet"
OLD_ASSET = "Ärendesystemet"
NEW_ASSET = "Serverhallen Norr"
OLD_MEASURE = "Tillträdesbegränsning till arkivet"
NOTICE_SUBJECT = "Ändring av ett skyddsvärt objekt som du är innehavare av"


# --- the world ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    """Plain values only: the server's threads own the ORM objects while the test runs."""

    operator: str
    operator_name: str
    unit: str
    holder_unit: str
    samordnare: Account
    ersattare: Account
    chef: Account
    holder: Account  # a person who holds the information
    holder_samordnare: Account  # samordnare of the holder unit
    last_year: str  # last year's fastställd analysis of UNIT
    old_asset: str  # in last year's analysis
    new_asset: str  # registered, in no analysis yet


def _world(app: Flask) -> World:
    """A kommun with UNIT (samordnare, a future ersättare) and HOLDER_UNIT (its own samordnare), a
    chef, a holder; last year's fastställd analysis of UNIT with an asset and an overdue measure."""
    database = get_database(app).scoped
    today = local_today()
    operator = make_operator(f"Testkommun {secrets.token_hex(2)}")
    unit = make_unit(operator, UNIT)
    holder_unit = make_unit(operator, HOLDER_UNIT)

    def person(name: str, email: str, roles: list) -> Account:  # type: ignore[type-arg]
        made = make_user(app, operator, roles=roles)
        made.user.display_name = name
        made.user.email = f"{email}@example.se"
        database.commit()
        return account_of(app, made)

    samordnare = person("Sara Samordnare", "samordnare", [(Role.SAMORDNARE, unit)])
    ersattare = person("Erik Ersättare", "ersattare", [(Role.ERSATTARE, unit)])
    chef = person("Cecilia Chef", "chef", [(Role.CHEF, operator)])
    holder = person("Hanna Innehavare", "innehavare", [])
    holder_samordnare = person("Arvid Arkivsamordnare", "arkivsamordnare", [(Role.SAMORDNARE, holder_unit)])

    decided = utcnow() - dt.timedelta(days=330)
    old_asset = ProtectedAsset(
        unit_id=unit.id,
        type=AssetType.SYSTEM,
        name=OLD_ASSET,
        damage_level=DamageLevel.NOT_INSIGNIFICANT,
        status=AssetStatus.PROTECTED,
        owner="Förvaltningschefen",
        reference="KN 2025/0017",
        risk_assessed_on=today - dt.timedelta(days=400),
        created_by_id=uuid.UUID(samordnare.id),
    )
    new_asset = ProtectedAsset(
        unit_id=unit.id,
        type=AssetType.PREMISES,
        name=NEW_ASSET,
        damage_level=DamageLevel.SERIOUS,
        status=AssetStatus.NORMAL,
        owner="Lokalchefen",
        reference="KN 2026/0042",
        created_by_id=uuid.UUID(samordnare.id),
    )
    last_year = SecurityAnalysis(
        unit_id=unit.id,
        cycle_year=today.year - 1,
        title=f"Säkerhetsskyddsanalys {today.year - 1} – {UNIT}",
        status=AnalysisStatus.APPROVED,
        outcome=AnalysisOutcome.SENSITIVE,
        cat_essential_services=True,
        attested=True,
        created_by_id=uuid.UUID(samordnare.id),
        submitted_by_id=uuid.UUID(samordnare.id),
        submitted_at=decided - dt.timedelta(days=3),
        decided_by_id=uuid.UUID(chef.id),
        decided_at=decided,
    )
    database.add_all([old_asset, new_asset, last_year])
    database.flush()
    last_year.scope_note = "Nämnden ansvarar för stadens arkiv; se KN 2025/0017."
    for before, after, actor, at in (
        (None, AnalysisStatus.DRAFT, samordnare, decided - dt.timedelta(days=20)),
        (AnalysisStatus.DRAFT, AnalysisStatus.SUBMITTED, samordnare, decided - dt.timedelta(days=3)),
        (AnalysisStatus.SUBMITTED, AnalysisStatus.APPROVED, chef, decided),
    ):
        database.add(
            AnalysisTransition(
                analysis_id=last_year.id,
                unit_id=unit.id,
                from_status=before,
                to_status=after,
                actor_id=uuid.UUID(actor.id),
                created_at=at,
            )
        )
    database.add(
        AnalysisAsset(analysis_id=last_year.id, asset_id=old_asset.id, damage_level=old_asset.damage_level)
    )
    database.add(
        Measure(
            analysis_id=last_year.id,
            unit_id=unit.id,
            area=MeasureArea.PHYSICAL,
            title=OLD_MEASURE,
            responsible_function="Lokalansvarig",
            due_on=today - dt.timedelta(days=10),  # overdue: an "Att göra" item marked Försenad
            status=MeasureStatus.IN_PROGRESS,
            attested=True,
        )
    )
    database.commit()
    world = World(
        operator=str(operator.id),
        operator_name=operator.name,
        unit=str(unit.id),
        holder_unit=str(holder_unit.id),
        samordnare=samordnare,
        ersattare=ersattare,
        chef=chef,
        holder=holder,
        holder_samordnare=holder_samordnare,
        last_year=str(last_year.id),
        old_asset=str(old_asset.id),
        new_asset=str(new_asset.id),
    )
    end_transaction(app)
    return world


# --- small helpers ------------------------------------------------------------------------------


def _analysis_id(page: Page, base: str) -> str:
    match = re.fullmatch(re.escape(base) + r"/analyser/([0-9a-f-]{36})", page.url)
    assert match, page.url
    return match.group(1)


def _outbox(app: Flask) -> list[EmailMessage]:
    folder = Path(app.config["SAKSKYDD_SETTINGS"].instance_path) / "outbox"
    parser = BytesParser(policy=policy.default)
    return [parser.parsebytes(path.read_bytes()) for path in sorted(folder.glob("*.eml"))]  # type: ignore[misc]  # policy.default: EmailMessage


def _mails(app: Flask, to: str, subject: str) -> list[str]:
    return [m.get_content() for m in _outbox(app) if m["To"] == to and m["Subject"] == subject]


# --- the journey: applicability, appointments, the analysis ------------------------------------


@pytest.mark.browser
def test_samordnare_year_from_applicability_to_an_approved_analysis(
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
    context, watched = new_context()
    page = context.new_page()
    today = local_today()

    # The samordnare signs in (password + TOTP): the overdue measure of last year's plan and
    # the missing applicability assessment are on the home page.
    sign_in(page, base, world.samordnare)
    todo = todo_text(page)
    assert f"Bedöm om {UNIT} omfattas av säkerhetsskyddslagstiftningen" in todo
    assert OLD_MEASURE in row_text(page, OLD_MEASURE) and "Försenad" in row_text(page, OLD_MEASURE)
    assert "varav 1 försenad" in todo
    audit.check(page, "home: Att göra with an overdue item")

    # --- applicability: a form error first, then "ja"
    follow(page, page.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Enheter"))
    assert heading(page) == "Enheter"
    assert "Ej bedömd" in row_text(page, UNIT)
    audit.check(page, "units list")
    follow(page, page.locator("main").get_by_role("link", name=UNIT, exact=True))
    assert heading(page) == UNIT
    assert "Tillämpligheten av säkerhetsskyddslagstiftningen är inte bedömd" in main_text(page)
    audit.check(page, "unit page (not assessed)")
    follow(page, page.get_by_role("link", name="Registrera ny bedömning"))
    audit.check(page, "assess form")
    page.fill("#decided_by", "Kulturnämnden")
    submit_form(page)  # no outcome chosen
    assert "Omfattas verksamheten av säkerhetsskyddslagstiftningen?" in error_summary(page)
    assert page.locator("#outcome").get_attribute("aria-invalid") == "true"
    assert page.input_value("#decided_by") == "Kulturnämnden"  # nothing typed is lost
    audit.check(page, "assess form with a validation error")
    page.select_option("#outcome", "ja")
    page.fill("#reference", "KN 2026/17")
    submit_form(page)
    assert page.url == f"{base}/enheter/{world.unit}"
    assert "Bedömningen är registrerad." in flashes(page)
    facts = page.locator("dl.facts").inner_text()
    assert f"Ja (beslutat {today.isoformat()} av Kulturnämnden)" in facts
    findings = section_text(page, "brister-rubrik")
    assert "saknar förordnad säkerhetsskyddssamordnare" in findings
    assert "saknar förordnad ersättare" in findings

    # --- appointments: the samordnare herself, then the ersättare
    for account, role in ((world.samordnare, "samordnare"), (world.ersattare, "ersattare")):
        follow(page, page.get_by_role("link", name="Registrera förordnande"))
        if role == "samordnare":
            audit.check(page, "appointment form")
        page.select_option("#user", account.id)
        page.select_option("#role", role)
        page.fill("#reference", f"KN 2026/{20 + len(role)}")
        submit_form(page)
        assert "Förordnandet är registrerat." in flashes(page)
    appointments = "section[aria-labelledby=forordnanden-rubrik]"
    for name, label in (("Sara Samordnare", "Säkerhetsskyddssamordnare"), ("Erik Ersättare", "Ersättare")):
        row = row_text(page, name, appointments)
        assert "Gällande" in row and label in row
    assert "Inga brister i bedömning eller förordnanden." in main_text(page)
    audit.check(page, "unit page (assessed, appointments)")

    # --- the analysis, started from last year's
    follow(page, page.get_by_role("link", name="Säkerhetsskyddsanalyser"))
    assert "Fastställd" in row_text(page, str(today.year - 1))
    audit.check(page, "analyses list")
    follow(page, page.get_by_role("link", name="Ny analys"))
    audit.check(page, "create form")
    assert page.input_value("#based_on") == world.last_year  # last year's is proposed
    page.fill("#title", f"Säkerhetsskyddsanalys {today.year} – {UNIT}")
    page.select_option("#based_on", world.last_year)
    page.fill("#due_on", (today + dt.timedelta(days=60)).isoformat())
    submit_form(page)
    assert "Ett utkast har skapats utifrån den tidigare analysen." in flashes(page)
    analysis = _analysis_id(page, base)
    facts = page.locator("dl.facts").inner_text()
    assert f"{today.year}, version 1" in facts and "Utkast" in facts
    assert OLD_ASSET in main_text(page) and OLD_MEASURE in main_text(page)  # copied from last year
    assert "Nämnden ansvarar för stadens arkiv" in main_text(page)
    audit.check(page, "analysis detail (draft)")

    # Links an asset from the register with a damage level.
    follow(page, page.get_by_role("link", name="Koppla ett skyddsvärde från registret"))
    audit.check(page, "asset link form")
    page.select_option("#asset", world.new_asset)
    page.select_option("#damage_level", "allvarlig")
    submit_form(page)
    assert "Skyddsvärdet är kopplat till analysen." in flashes(page)
    row = row_text(page, NEW_ASSET)
    assert "Allvarlig skada" in row and "Lokal" in row

    # Adds a measure (its description is free text: attested).
    follow(page, page.get_by_role("link", name="Lägg till åtgärd"))
    audit.check(page, "measure form")
    page.select_option("#area", "informationssakerhet")
    page.fill("#title", "Behörighetsgenomgång i ärendesystemet")
    page.fill("#description", "Se rutin KN 2026/0050.")
    page.fill("#responsible_function", "IT-chef")
    page.fill("#due_on", (today + dt.timedelta(days=120)).isoformat())
    page.check("#attested")
    submit_form(page)
    assert "Åtgärden är sparad." in flashes(page)
    assert "IT-chef" in row_text(page, "Behörighetsgenomgång i ärendesystemet")

    # Gives last year's overdue measure, copied into the draft, a new date.
    follow(page, page.locator("main table").get_by_role("link", name=OLD_MEASURE))
    assert heading(page) == "Ändra åtgärd"
    assert not page.is_checked("#attested"), "the attestation must be given anew, not pre-ticked"
    audit.check(page, "measure form (existing measure)")
    page.fill("#due_on", (today + dt.timedelta(days=30)).isoformat())
    submit_form(page)
    assert "Åtgärden är sparad." in flashes(page)
    assert (today + dt.timedelta(days=30)).isoformat() in row_text(page, OLD_MEASURE)

    # Fills the outcome: the free text needs the attestation, given anew on each save.
    follow(page, page.get_by_role("link", name="Ändra", exact=True))
    assert not page.is_checked("#attested"), "the attestation must be given anew, not pre-ticked"
    audit.check(page, "edit form")
    page.select_option("#outcome", "sakerhetskanslig")
    conclusion = "Verksamheten är säkerhetskänslig; se beslut KN 2026/60."
    page.fill("#conclusion", conclusion)
    submit_form(page)
    assert "Du måste intyga" in error_summary(page)
    assert page.input_value("#conclusion") == conclusion
    audit.check(page, "edit form with an error")
    page.check("#attested")
    submit_form(page)
    assert "Analysen är sparad." in flashes(page)
    assert conclusion in section_text(page, "slutsats-rubrik")

    # Submits.
    follow(page, page.get_by_role("link", name="Skicka in till säkerhetsskyddschefen"))
    assert heading(page) == "Skicka in analysen"
    assert page.locator(".error-summary").count() == 0  # nothing is missing
    audit.check(page, "submit page")
    submit_form(page)
    assert "Analysen är inskickad till säkerhetsskyddschefen." in flashes(page)
    assert "Inskickad för granskning" in page.locator("dl.facts").inner_text()
    assert page.get_by_role("link", name="Ändra", exact=True).count() == 0
    audit.check(page, "analysis detail (submitted, samordnare)")

    # --- the chef, in a browser of her own: "Att göra" leads to the analysis; she returns it
    chef_context, chef_watched = new_context()
    chef = chef_context.new_page()
    sign_in(chef, base, world.chef)
    review = f"Granska den inskickade säkerhetsskyddsanalysen för {UNIT}"
    assert review in todo_text(chef)
    assert "Säkerhetsskyddsanalysen för" in section_text(chef, "notiser-rubrik")
    audit.check(chef, "home: Att göra of the chef")
    follow(chef, chef.locator("table.todo a", has_text=review))
    assert _analysis_id(chef, base) == analysis
    assert chef.get_by_role("link", name="Ändra", exact=True).count() == 0
    audit.check(chef, "analysis detail (submitted, chef)")
    follow(chef, chef.get_by_role("link", name="Återremittera"))
    assert heading(chef) == "Återremittera analysen"
    audit.check(chef, "return page")
    submit_form(chef)  # without a comment
    assert "Skriv en kommentar" in error_summary(chef)
    audit.check(chef, "return page with an error")
    comment = "Komplettera planen med en åtgärd för personalsäkerhet."
    chef.fill("#comment", comment)
    chef.check("#attested")
    submit_form(chef)
    assert "Analysen är återremitterad till enheten." in flashes(chef)
    assert "Återremitterad" in chef.locator("dl.facts").inner_text()

    # --- the samordnare sees the comment, fixes and resubmits
    page.goto(f"{base}/")
    assert "har återremitterats med en kommentar" in section_text(page, "notiser-rubrik")
    page.goto(f"{base}/analyser/{analysis}")
    assert "Återremitterad" in page.locator("dl.facts").inner_text()
    assert comment in row_text(page, comment)
    audit.check(page, "analysis detail (returned)")
    follow(page, page.get_by_role("link", name="Lägg till åtgärd"))
    page.select_option("#area", "personalsakerhet")
    page.fill("#title", "Säkerhetsprövning av nya befattningar")
    page.fill("#responsible_function", "HR-chef")
    page.fill("#due_on", (today + dt.timedelta(days=90)).isoformat())
    submit_form(page)
    assert "Personalsäkerhet" in row_text(page, "Säkerhetsprövning av nya befattningar")
    follow(page, page.get_by_role("link", name="Skicka in till säkerhetsskyddschefen"))
    submit_form(page)
    assert "Inskickad för granskning" in page.locator("dl.facts").inner_text()

    # --- the chef approves: her login is older than 300 s, so the approval asks for step-up
    age_login(app, world.chef, 600)
    chef.goto(f"{base}/analyser/{analysis}")
    follow(chef, chef.get_by_role("link", name="Fastställ", exact=True))
    assert chef.url.startswith(f"{base}/konto/bekrafta"), chef.url
    assert heading(chef) == "Bekräfta din identitet"
    assert "Bekräfta din identitet för att fortsätta." in flashes(chef)
    chef.fill("#password", world.chef.password)
    clear_of_totp_step_change()
    chef.fill("#code", totp_code(world.chef))
    submit_form(chef)
    assert chef.url == f"{base}/analyser/{analysis}/faststall", chef.url
    assert heading(chef) == "Fastställ analysen"
    audit.check(chef, "approve page")
    chef.fill("#comment", "Fastställd utan ytterligare synpunkter.")
    chef.check("#attested")
    submit_form(chef)
    assert "Analysen är fastställd och låst för ändringar." in flashes(chef)
    facts = chef.locator("dl.facts").inner_text()
    assert "Fastställd (låst)" in facts and f"{today.isoformat()} av Cecilia Chef" in facts
    audit.check(chef, "analysis detail (approved, chef)")

    # --- frozen: the samordnare sees "Fastställd" and no "Ändra"
    page.goto(f"{base}/analyser/{analysis}")
    assert "Fastställd (låst)" in page.locator("dl.facts").inner_text()
    assert page.get_by_role("link", name="Ändra", exact=True).count() == 0
    assert page.get_by_role("link", name="Lägg till åtgärd").count() == 0
    assert page.get_by_role("link", name="Koppla ett skyddsvärde från registret").count() == 0
    assert page.get_by_role("button", name="Ändra i en ny version").count() == 1
    history = section_text(page, "historik-rubrik")
    assert history.count("Inskickad för granskning → Återremitterad") == 1
    assert "Inskickad för granskning → Fastställd" in history
    audit.check(page, "analysis detail (approved, samordnare)")
    page.goto(f"{base}/analyser/{analysis}/andra")  # the edit page turns the samordnare away
    assert page.url == f"{base}/analyser/{analysis}"
    assert "Analysen kan inte ändras i sin nuvarande status." in flashes(page)

    database = get_database(app).scoped
    stored = database.get(SecurityAnalysis, uuid.UUID(analysis))
    assert stored is not None
    assert stored.status == AnalysisStatus.APPROVED and str(stored.decided_by_id) == world.chef.id
    assert str(stored.based_on_id) == world.last_year
    assert stored.conclusion == conclusion
    end_transaction(app)

    audit.assert_clean(watched, chef_watched)


# --- the journey: an asset change reaches two holders ------------------------------------------


@pytest.mark.browser
def test_asset_change_reaches_two_holders_one_acknowledges_the_other_is_reminded(
    app: Flask,
    live_server: str,
    new_context: NewContext,
    sign_in: LogIn,
    axe: str,
) -> None:
    base = live_server
    world = _world(app)
    audit = Audit(axe)
    context, watched = new_context()
    page = context.new_page()

    sign_in(page, base, world.samordnare)
    page.goto(f"{base}/enheter/{world.unit}")
    follow(page, page.get_by_role("link", name="Skyddsvärda objekt"))
    assert "2 objekt." in main_text(page)
    audit.check(page, "asset list (filled)")
    follow(page, page.locator("main table").get_by_role("link", name=NEW_ASSET))
    assert heading(page) == NEW_ASSET
    assert "Objektet har inga innehavare ännu." in main_text(page)

    # Two holders: the holder unit (its samordnare is told) and a person.
    for key in (f"unit:{world.holder_unit}", f"user:{world.holder.id}"):
        page.select_option("#holder", key)
        follow(page, page.get_by_role("button", name="Lägg till innehavare"))
        assert "Innehavaren är tillagd." in flashes(page)
    holders = page.locator("section[aria-labelledby=innehavare-rubrik]")
    assert "Enhet (samordnare och ersättare)" in holders.locator("tr", has_text=HOLDER_UNIT).inner_text()
    assert "Person" in holders.locator("tr", has_text="Hanna Innehavare").inner_text()
    audit.check(page, "asset detail with holders")

    # The status change.
    follow(page, page.get_by_role("link", name="Ändra objektet"))
    audit.check(page, "asset form (edit)")
    page.select_option("#status", "skyddsvart")
    submit_form(page)
    assert page.url == f"{base}/objekt/{world.new_asset}"
    assert "2 innehavare har fått ett meddelande om ändringen" in flashes(page)
    assert "2 av 2 meddelanden är inte kvitterade." in main_text(page)

    database = get_database(app).scoped
    notices = {
        str(n.user_id): str(n.id)
        for n in database.scalars(
            select(HolderNotice).where(HolderNotice.asset_id == uuid.UUID(world.new_asset))
        )
    }
    end_transaction(app)
    assert set(notices) == {world.holder.id, world.holder_samordnare.id}
    for account in (world.holder, world.holder_samordnare):
        (mail,) = _mails(app, account.person.user.email, NOTICE_SUBJECT)
        assert "Status: Normal → Skyddsvärt" in mail and f"/notiser/{notices[account.id]}" in mail

    # Both holders see the notice on their home page; the person acknowledges it.
    item = f"Kvittera meddelandet om ändrad status eller skadenivå för ”{NEW_ASSET}”"
    holder_context, holder_watched = new_context()
    holder = holder_context.new_page()
    sign_in(holder, base, world.holder)
    assert item in todo_text(holder)
    audit.check(holder, "home: a notice to acknowledge")
    follow(holder, holder.locator("table.todo a", has_text=item))
    assert holder.url == f"{base}/notiser/{notices[world.holder.id]}"
    assert "Normal → Skyddsvärt" in main_text(holder)
    audit.check(holder, "notice page")
    follow(holder, holder.get_by_role("button", name="Jag har tagit del av ändringen"))
    assert "Tack! Din kvittens är registrerad." in flashes(holder)
    assert "Du kvitterade ändringen" in main_text(holder)
    audit.check(holder, "notice page (acknowledged)")
    holder.goto(f"{base}/")
    assert "Du har inget att göra just nu." in todo_text(holder)

    other_context, other_watched = new_context()
    other = other_context.new_page()
    sign_in(other, base, world.holder_samordnare)
    assert item in todo_text(other)

    # The samordnare sees who has acknowledged and who has not.
    page.reload()
    assert "1 av 2 meddelanden är inte kvitterade." in main_text(page)
    notices_table = page.locator("section[aria-labelledby=kvittenser-rubrik]")
    assert "Inte ännu" in notices_table.locator("tr", has_text="Arvid Arkivsamordnare").inner_text()
    acknowledged = notices_table.locator("tr", has_text="Hanna Innehavare").inner_text()
    assert "Inte ännu" not in acknowledged and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", acknowledged)
    audit.check(page, "asset detail with holders and notices")

    # Eight days later nobody has acknowledged it at the holder unit: `reminders run`.
    database.execute(
        update(HolderNotice)
        .where(HolderNotice.asset_id == uuid.UUID(world.new_asset))
        .values(created_at=utcnow() - dt.timedelta(days=8))
    )
    database.commit()
    end_transaction(app)
    result = app.test_cli_runner().invoke(args=["reminders", "run"])
    end_transaction(app)
    assert result.exit_code == 0, result.output
    (reminder,) = _mails(app, world.holder_samordnare.person.user.email, MAIL_SUBJECT)
    assert "väntar på din kvittens" in reminder
    assert f"https://localhost/notiser/{notices[world.holder_samordnare.id]}" in reminder
    assert NEW_ASSET not in reminder  # no names in e-mail
    assert _mails(app, world.holder.person.user.email, MAIL_SUBJECT) == []
    reminders = [m.get_content() for m in _outbox(app) if m["Subject"] == MAIL_SUBJECT]
    assert reminders and all(notices[world.holder.id] not in text for text in reminders)

    page.reload()
    assert "1 (senast" in notices_table.locator("tr", has_text="Arvid Arkivsamordnare").inner_text()
    other.reload()
    row = other.locator("table.todo tr", has_text=item).inner_text()
    assert "Försenad" in row and "Påminnelse skickad" in row
    audit.check(other, "home: an overdue notice, reminded")

    audit.assert_clean(watched, holder_watched, other_watched)


# --- the other pages and states ----------------------------------------------------------------


def _more_casework(app: Flask, world: World) -> tuple[str, str]:
    """An appointment to end, a revision trigger and a holder to remove; the holder's id and
    the appointment's id."""
    database = get_database(app).scoped
    unit, samordnare = uuid.UUID(world.unit), uuid.UUID(world.samordnare.id)
    today = local_today()
    database.add(
        ApplicabilityAssessment(
            unit_id=unit,
            outcome=Applicability.YES,
            decided_on=today - dt.timedelta(days=400),
            decided_by="Nämnden",
            recorded_by_id=samordnare,
        )
    )
    appointment = Appointment(
        unit_id=unit,
        user_id=samordnare,
        role=AppointmentRole.SAMORDNARE,
        starts_on=today - dt.timedelta(days=390),
        recorded_by_id=samordnare,
    )
    database.add(appointment)
    database.add(
        RevisionTrigger(
            unit_id=unit,
            kind=RevisionTriggerKind.NEW_SYSTEM,
            occurred_on=today - dt.timedelta(days=5),
            note="Nytt e-arkiv upphandlat, se KN 2026/0031.",
            attested=True,
            recorded_by_id=samordnare,
        )
    )
    holder = AssetHolder(asset_id=uuid.UUID(world.old_asset), holder_unit_id=uuid.UUID(world.holder_unit))
    database.add(holder)
    database.commit()
    ids = str(holder.id), str(appointment.id)
    end_transaction(app)
    return ids


@pytest.mark.browser
def test_casework_pages_in_their_other_states(
    app: Flask,
    live_server: str,
    new_context: NewContext,
    sign_in: LogIn,
    axe: str,
) -> None:
    base = live_server
    world = _world(app)
    holder_id, appointment_id = _more_casework(app, world)
    audit = Audit(axe)
    today = local_today()

    # --- the chef: the units of her operator, the supervisors page, an empty register
    chef_context, chef_watched = new_context()
    chef = chef_context.new_page()
    sign_in(chef, base, world.chef)
    audit.visit(chef, f"{base}/enheter", "units list (chef)")
    assert "saknar förordnad ersättare" in row_text(chef, UNIT)
    assert "Ej bedömd" in row_text(chef, HOLDER_UNIT)
    follow(chef, chef.get_by_role("link", name=f"Tillsynsmyndigheter för {world.operator_name}"))
    audit.check(chef, "supervisors page")
    submit_form(chef)  # nothing chosen
    assert "Välj minst en tillsynsmyndighet." in error_summary(chef)
    audit.check(chef, "supervisors page with an error")
    chef.get_by_label("Länsstyrelsen i Stockholms län").check()
    submit_form(chef)
    assert "Tillsynsmyndigheterna är sparade." in flashes(chef)
    audit.visit(chef, f"{base}/enheter/{world.holder_unit}/objekt", "asset list (empty)")
    assert f"{HOLDER_UNIT} har inga registrerade skyddsvärda objekt ännu." in main_text(chef)

    # --- the samordnare
    context, watched = new_context()
    page = context.new_page()
    sign_in(page, base, world.samordnare)
    audit.visit(page, f"{base}/enheter/{world.unit}", "unit page (appointment, trigger, supervisor)")
    assert "Länsstyrelsen i Stockholms län" in page.locator("dl.facts").inner_text()
    assert "Nytt IT-system eller ny upphandling" in row_text(page, "Nytt e-arkiv upphandlat")

    follow(page, page.get_by_role("link", name="Avsluta förordnandet för Sara Samordnare"))
    assert page.url == f"{base}/enheter/{world.unit}/forordnanden/{appointment_id}/avsluta"
    audit.check(page, "end-appointment confirmation")
    page.fill("#ends_on", "")
    submit_form(page)
    assert "Sista dag för förordnandet: Fältet måste fyllas i." in error_summary(page)
    audit.check(page, "end-appointment confirmation with an error")

    page.goto(f"{base}/enheter/{world.unit}")
    follow(page, page.get_by_role("link", name="Registrera händelse"))
    audit.check(page, "revision trigger form")
    page.select_option("#kind", "omorganisation")
    page.fill("#note", "Förvaltningen slås ihop med fritidsförvaltningen.")
    page.select_option("#marking", "2")
    submit_form(page)
    summary = error_summary(page)
    assert "Du måste intyga" in summary and "KONFIDENTIELL" in summary
    audit.check(page, "revision trigger form with errors")

    page.goto(f"{base}/enheter/{world.unit}/tillamplighet")
    page.select_option("#outcome", "nej")
    page.fill("#decided_by", "Nämnden")
    submit_form(page)
    assert "Skriv en motivering" in error_summary(page)
    audit.check(page, "assess form: 'nej' without reasoning")

    # A blank draft: submit lists what is missing; edit and reference forms with errors.
    page.goto(f"{base}/enheter/{world.unit}/analyser/ny")
    page.select_option("#based_on", "")
    submit_form(page)
    assert "Ett utkast till analys har skapats." in flashes(page)
    draft = _analysis_id(page, base)
    assert page.locator(".notices").count() == 1  # what is missing before it can be submitted
    audit.visit(page, f"{base}/enheter/{world.unit}/analyser", "analyses list (draft and approved)")
    assert "Pågående analys" in main_text(page)
    page.goto(f"{base}/analyser/{draft}")
    follow(page, page.get_by_role("link", name="Skicka in till säkerhetsskyddschefen"))
    problems = error_summary(page)
    assert "Analysen kan inte skickas in ännu" in problems and "Ange analysens slutsats" in problems
    audit.check(page, "submit page with problems listed")
    submit_form(page)  # refused: still the submit page, the problems listed once
    assert page.url == f"{base}/analyser/{draft}/skicka-in"
    assert page.locator(".error-summary").count() == 1
    assert main_text(page).count("Ange analysens slutsats") == 1
    audit.check(page, "submit page after a refused submit")

    page.goto(f"{base}/analyser/{draft}/andra")
    page.fill("#title", "")
    page.fill("#threat_summary", "Se Säpos lägesbild, KN 2026/0077.")
    page.select_option("#marking", "2")
    submit_form(page)
    summary = error_summary(page)
    assert "Rubrik" in summary and "KONFIDENTIELL" in summary and "Du måste intyga" in summary
    assert page.input_value("#threat_summary") == "Se Säpos lägesbild, KN 2026/0077."
    audit.check(page, "edit form with errors")

    page.goto(f"{base}/analyser/{draft}")
    follow(page, page.get_by_role("link", name="Lägg till hänvisning"))
    audit.check(page, "reference form")
    page.select_option("#kind", "hot")
    page.fill("#reference", "SÄPO 2026-123")
    page.select_option("#document_classification", "3")
    page.fill("#summary", "Hotbild mot arkiv")
    page.check("#attested")
    submit_form(page)
    assert "Handlingen är märkt HEMLIG" in error_summary(page)
    audit.check(page, "reference form with an error")
    page.fill("#summary", "")
    page.uncheck("#attested")
    page.fill("#location", "Registraturen")
    submit_form(page)
    assert "Hänvisningen är sparad." in flashes(page)
    assert "SÄPO 2026-123" in row_text(page, "SÄPO 2026-123")
    audit.check(page, "analysis detail (blank draft with a reference)")

    page.select_option("#med", world.last_year)
    follow(page, page.get_by_role("button", name="Jämför"))
    assert heading(page) == f"Jämför säkerhetsskyddsanalyser för {UNIT}"
    assert f"{today.year - 1} version 1" in main_text(page) and "Ändrad" in main_text(page)
    audit.check(page, "compare page")

    # The register: a form with errors, the remove-holder and archive confirmations.
    audit.visit(page, f"{base}/enheter/{world.unit}/objekt/nytt", "asset form")
    page.select_option("#type", "lokal")
    page.fill("#risk_assessed_on", today.isoformat())
    page.fill("#note", "Nyckel hos vaktmästeriet.")
    submit_form(page)
    summary = error_summary(page)
    assert "Namn" in summary and "Informationsägare" in summary and "Du måste intyga" in summary
    assert "bara för informationssystem" in summary
    assert page.input_value("#note") == "Nyckel hos vaktmästeriet."
    audit.check(page, "asset form with errors")

    page.goto(f"{base}/objekt/{world.old_asset}")
    follow(page, page.get_by_role("link", name=f"Ta bort {HOLDER_UNIT}"))
    assert page.url == f"{base}/objekt/{world.old_asset}/innehavare/{holder_id}/ta-bort"
    assert heading(page) == f"Ta bort {HOLDER_UNIT} som innehavare av {OLD_ASSET}?"
    audit.check(page, "remove-holder confirmation")
    submit_form(page)
    assert "Innehavaren är borttagen." in flashes(page)
    follow(page, page.get_by_role("link", name="Arkivera objektet"))
    assert heading(page) == f"Arkivera {OLD_ASSET}?"
    audit.check(page, "archive confirmation")
    submit_form(page)
    assert "Objektet är arkiverat." in flashes(page)
    assert page.url == f"{base}/enheter/{world.unit}/objekt"
    audit.check(page, "asset list after archiving")

    audit.assert_clean(watched, chef_watched)
