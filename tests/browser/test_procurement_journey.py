"""Security-protected procurements in a real browser (issue 4): the upphandlare triages three
procurements (nivå 1 with samråd, nivå 3, no agreement); the samordnare confirms one and
overrides another with a reason; the duties appear with their deadlines; access before a signed
säkerhetsskyddsavtal is refused; a supplier follow-up with a finding creates an action; contract
end closes the case. Every page on the way is scanned with axe (no inline script or style, no
CSP report)."""

from __future__ import annotations

import datetime as dt
import secrets
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
from sqlalchemy import update
from test_accessibility import Audit

from sakskydd.accounts.models import Role
from sakskydd.deadlines import local_today
from sakskydd.extensions import get_database
from sakskydd.procurements.models import DutyStatus, ProcurementDuty
from sakskydd.procurements.rules import DutyKind
from sakskydd.procurements.views import HANDLING_MARKING

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

    NewContext = Callable[[], tuple[BrowserContext, Watched]]
    LogIn = Callable[[Page, str, Account], None]

UNIT = "Kulturnämnden"
LEVEL_1 = "Drift av passersystem"
LEVEL_3 = "Bevakningstjänster vid arkivet"
NO_SUA = "Städning av kontorslokaler"
CHECKLIST = (
    "Säkerhetsskyddsavtalet är känt hos leverantören.",
    "Leverantören har en kontaktperson för säkerhetsskydd.",
    "Besöksloggen förs enligt avtalet.",
)
SUPPLIER_ORG = "556036-0793"  # checksum-valid
WRONG_ORG = "556036-0794"  # one digit off: fails the Luhn check
# Access before the signature: the duty that may only be recorded once the SUA is signed.
ACCESS_REFUSED = "Leverantören kan inte få tillgång innan säkerhetsskyddsavtalet är undertecknat."
END_DUTIES = ("Avanmälan till tillsynsmyndigheten", "Avregistrering av registerkontroll")


@dataclass(frozen=True)
class World:
    operator: str
    unit: str
    upphandlare: Account
    samordnare: Account
    chef: Account


def _world(app: Flask) -> World:
    database = get_database(app).scoped
    operator = make_operator(f"Testkommun {secrets.token_hex(2)}")
    unit = make_unit(operator, UNIT)

    def person(name: str, roles: list) -> Account:  # type: ignore[type-arg]
        made = make_user(app, operator, roles=roles)
        made.user.display_name = name
        database.commit()
        return account_of(app, made)

    world = World(
        operator=str(operator.id),
        unit=str(unit.id),
        upphandlare=person("Ulla Upphandlare", [(Role.UPPHANDLARE, unit)]),
        samordnare=person("Sara Samordnare", [(Role.SAMORDNARE, unit)]),
        chef=person("Cecilia Chef", [(Role.CHEF, operator)]),
    )
    end_transaction(app)
    return world


def _duty_row(page: Page, label: str) -> str:
    return row_text(page, label, "section[aria-labelledby=skyldigheter]")


def _open_duty(page: Page, label: str) -> None:
    follow(
        page,
        page.locator("section[aria-labelledby=skyldigheter]").get_by_role("link", name=label, exact=True),
    )
    assert heading(page) == label


def _register(page: Page, base: str, title: str, registry_number: str, procedure_starts_on: dt.date) -> None:
    """From the register: a new procurement for UNIT (supplier known), ending on its triage page."""
    page.goto(f"{base}/upphandlingar")
    follow(page, page.locator("main").get_by_role("link", name=UNIT, exact=True))
    page.select_option("#kind", "upphandling")
    page.fill("#title", title)
    page.fill("#registry_number", registry_number)
    page.fill("#procedure_starts_on", procedure_starts_on.isoformat())
    page.fill("#supplier_name", f"Leverantör {registry_number} AB")
    page.fill("#supplier_org_number", SUPPLIER_ORG)
    submit_form(page)
    assert "Förfarandet är registrerat. Besvara triagefrågorna." in flashes(page)
    assert heading(page) == f"Triage: {title}"


def _answer(page: Page, **answers: str) -> None:
    """The six triage questions: every answer 'nej' / 'egna' unless given."""
    given = {
        "classified_access": "nej",
        "sensitive_activity": "nej",
        "where": "egna",
        "staff_vetting": "nej",
        "restricted_access": "nej",
        "sub_suppliers": "nej",
    }
    given.update(answers)
    for name, value in given.items():
        page.check(f"#{name}-{value}")
    submit_form(page)
    assert "Triagen är sparad. Samordnaren bekräftar eller ändrar utfallet." in flashes(page)


def _fact(page: Page, label: str) -> str:
    """The value after `label` in the page's facts list."""
    term = page.locator("dl.facts dt", has_text=label).first
    return term.locator("xpath=following-sibling::dd[1]").inner_text()


def _complete_duty(page: Page, *, reference: str, outcome: str | None = None) -> None:
    """On an open duty's form: done today (the form's default date) with a reference and, for
    samråd, its outcome; back on the procurement page."""
    page.select_option("#status", "klar")
    page.fill("#reference", reference)
    if outcome:
        page.select_option("#consultation_outcome", outcome)
    submit_form(page)
    assert "Skyldigheten är uppdaterad." in flashes(page), main_text(page)[:400]


@pytest.mark.browser
def test_procurements_from_triage_to_contract_end(
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
    starts = today + dt.timedelta(days=30)

    # --- the chef keeps the operator's follow-up checklist
    chef_context, chef_watched = new_context()
    chef = chef_context.new_page()
    sign_in(chef, base, world.chef)
    follow(chef, chef.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Enheter"))
    follow(chef, chef.get_by_role("link", name="Checklista för leverantörsuppföljning för"))
    assert heading(chef) == "Checklista för leverantörsuppföljning"
    assert "stadens grundmall används" in main_text(chef)
    audit.check(chef, "follow-up checklist (city default)")
    chef.fill("#items", "\n".join(CHECKLIST))
    submit_form(chef)
    assert "Checklistan är sparad som version 1." in flashes(chef)
    assert "Cecilia Chef" in row_text(chef, "Cecilia Chef")
    audit.check(chef, "follow-up checklist (version 1)")

    # --- the upphandlare: an empty register, a form with errors, then three procurements
    context, watched = new_context()
    page = context.new_page()
    sign_in(page, base, world.upphandlare)
    follow(page, page.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Upphandlingar"))
    assert heading(page) == "Säkerhetsskyddade förfaranden"
    assert "Det finns inga registrerade förfaranden som du har behörighet till ännu." in main_text(page)
    audit.check(page, "procurement register (empty)")

    follow(page, page.locator("main").get_by_role("link", name=UNIT, exact=True))
    assert heading(page) == "Nytt förfarande"
    audit.check(page, "procurement form")
    contact = "Lars Larsson, 08-555 123 45"
    page.select_option("#kind", "upphandling")
    page.fill("#title", LEVEL_1)
    page.fill("#registry_number", "KN 2026/101")
    page.fill("#procedure_starts_on", starts.isoformat())
    page.fill("#supplier_name", "Lås och Larm AB")
    page.fill("#supplier_org_number", WRONG_ORG)
    page.fill("#supplier_contact", contact)
    submit_form(page)  # contact details without the attestation
    assert "Du måste intyga" in error_summary(page)
    assert page.input_value("#supplier_contact") == contact  # nothing typed is lost
    audit.check(page, "procurement form with an error")
    page.check("#attested")
    submit_form(page)  # the organisation number's check digit is wrong
    assert "Leverantörens organisationsnummer: Organisationsnumret har fel kontrollsiffra." in error_summary(
        page
    )
    assert page.input_value("#title") == LEVEL_1
    page.fill("#supplier_org_number", SUPPLIER_ORG)
    page.check("#attested")
    submit_form(page)
    assert "Förfarandet är registrerat. Besvara triagefrågorna." in flashes(page)
    assert heading(page) == f"Triage: {LEVEL_1}"
    audit.check(page, "triage form")
    submit_form(page)  # nothing answered
    assert "Fältet måste fyllas i" in error_summary(page)
    audit.check(page, "triage form with errors")
    # Classified information at the supplier's premises: nivå 1, samråd likely.
    _answer(page, classified_access="ja", where="leverantor")
    assert heading(page) == LEVEL_1
    triage = section_text(page, "triage")
    assert "Förslag: Säkerhetsskyddsavtal nivå 1, samråd krävs sannolikt" in triage
    assert "Tillgången sker hos leverantören eller genom fjärråtkomst: nivå 1." in triage
    assert "Väntar på samordnarens bekräftelse" in main_text(page)
    assert _fact(page, "Leverantörens kontaktuppgifter") == contact
    assert "Skyldigheterna visas när samordnaren har bekräftat triagen." in main_text(page)
    audit.check(page, "procurement page (triaged)")

    # Staff to be placed in säkerhetsklass, no classified information: nivå 3.
    _register(page, base, LEVEL_3, "KN 2026/102", starts)
    _answer(page, staff_vetting="ja")
    assert "Förslag: Säkerhetsskyddsavtal nivå 3" in section_text(page, "triage")
    assert "samråd krävs sannolikt" not in section_text(page, "triage")
    # Nothing protected: no agreement at all.
    _register(page, base, NO_SUA, "KN 2026/103", starts)
    _answer(page)
    assert "Förslag: Inget säkerhetsskyddsavtal" in section_text(page, "triage")

    page.goto(f"{base}/upphandlingar")
    assert "3 förfaranden." in main_text(page)
    for title, proposal in (
        (LEVEL_1, "Förslag: SUA 1"),
        (LEVEL_3, "Förslag: SUA 3"),
        (NO_SUA, "Förslag: Ingen"),
    ):
        row = row_text(page, title)
        assert proposal in row and "Väntar på samordnarens bekräftelse" in row and "Ulla Upphandlare" in row
    audit.check(page, "procurement register (three triaged)")

    # --- the samordnare: three confirmations to do
    coordinator_context, coordinator_watched = new_context()
    coordinator = coordinator_context.new_page()
    sign_in(coordinator, base, world.samordnare)
    todo = todo_text(coordinator)
    for title in (LEVEL_1, LEVEL_3, NO_SUA):
        assert f"Bekräfta eller ändra triagens utfall för ”{title}”" in todo
    audit.check(coordinator, "home: procurements to confirm")

    # Confirms nivå 1 as proposed.
    follow(coordinator, coordinator.locator("table.todo a", has_text=LEVEL_1))
    assert heading(coordinator) == LEVEL_1
    follow(coordinator, coordinator.get_by_role("link", name="Bekräfta eller ändra utfallet"))
    assert heading(coordinator) == f"Bekräfta utfallet: {LEVEL_1}"
    assert coordinator.input_value("#outcome") == "sua_1" and coordinator.is_checked("#consultation")
    audit.check(coordinator, "confirm form")
    submit_form(coordinator)
    assert "Utfallet är bekräftat. Skyldigheterna och deras frister visas nedan." in flashes(coordinator)
    assert "Säkerhetsskyddsavtal nivå 1" in main_text(coordinator) and "samråd krävs" in main_text(
        coordinator
    )
    assert "Utfallet bekräftades" in section_text(coordinator, "triage")
    # The duties with their deadlines: before the procedure, and "utan dröjsmål" (7 days).
    # Samråd is the samordnare's (who confirmed it), the rest the responsible upphandlare's.
    for label, owner in (
        ("Särskild säkerhetsskyddsbedömning", "Ulla Upphandlare"),
        ("Lämplighetsprövning", "Ulla Upphandlare"),
        ("Samråd med tillsynsmyndigheten", "Sara Samordnare"),
    ):
        row = _duty_row(coordinator, label)
        assert starts.isoformat() in row and "Öppen" in row and owner in row
    assert (today + dt.timedelta(days=7)).isoformat() in _duty_row(
        coordinator, "Anmälan om avsikt att ingå säkerhetsskyddsavtal"
    )
    for label in ("Förstagångsbesök hos leverantören", "Leverantörens säkerhetsskyddsinstruktion"):
        _duty_row(coordinator, label)  # nivå 1 only
    audit.check(coordinator, "procurement page (confirmed, duties)")

    # Overrides nivå 3 with a reason: first without one.
    coordinator.goto(f"{base}/upphandlingar")
    follow(coordinator, coordinator.locator("main table").get_by_role("link", name=LEVEL_3))
    follow(coordinator, coordinator.get_by_role("link", name="Bekräfta eller ändra utfallet"))
    coordinator.select_option("#outcome", "sua_2")
    submit_form(coordinator)
    assert "Ange skälet till att du ändrar det föreslagna utfallet." in error_summary(coordinator)
    audit.check(coordinator, "confirm form with an error")
    reason = "Bevakningen ger tillträde till arkivets magasin, se KN 2026/102-3."
    coordinator.fill("#reason", reason)
    coordinator.check("#attested")
    submit_form(coordinator)
    assert "Utfallet är ändrat och skälet sparat." in flashes(coordinator)
    triage = section_text(coordinator, "triage")
    assert "Samordnaren ändrade utfallet till Säkerhetsskyddsavtal nivå 2" in triage and reason in triage
    assert "Förslag: Säkerhetsskyddsavtal nivå 3" in triage  # the proposal stays visible

    # The register: filter on nivå 1; the third still waits.
    coordinator.goto(f"{base}/upphandlingar")
    assert "Väntar på samordnarens bekräftelse" in row_text(coordinator, NO_SUA)
    assert "SUA 2" in row_text(coordinator, LEVEL_3)
    coordinator.select_option("#utfall", "sua_1")
    follow(coordinator, coordinator.get_by_role("button", name="Sök"))
    assert "1 förfaranden." in main_text(coordinator)
    row = row_text(coordinator, LEVEL_1)
    assert "SUA 1" in row and "Bekräftad" in row and "Särskild säkerhetsskyddsbedömning" in row
    audit.check(coordinator, "procurement register (filtered)")
    # Exports the filtered register: her login is older than 300 s, so she confirms it first,
    # and the step-up returns to the export with its filters.
    age_login(app, world.samordnare, 600)
    coordinator.select_option("#format", "csv")
    follow(coordinator, coordinator.get_by_role("button", name="Exportera"))
    assert heading(coordinator) == "Bekräfta din identitet"
    coordinator.fill("#password", world.samordnare.password)
    clear_of_totp_step_change()
    coordinator.fill("#code", totp_code(world.samordnare))
    with coordinator.expect_download() as download:
        coordinator.click("main button[type=submit]")
    exported = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert download.value.suggested_filename.endswith(".csv")
    assert exported.startswith(HANDLING_MARKING) and "Säkerhetsskyddsavtal nivå 1" in exported
    assert LEVEL_1 in exported and LEVEL_3 not in exported and NO_SUA not in exported
    assert "Lars Larsson" not in exported  # no contact details in the register
    coordinator.goto(f"{base}/")
    todo = todo_text(coordinator)
    assert f"Bekräfta eller ändra triagens utfall för ”{NO_SUA}”" in todo
    assert f"utfall för ”{LEVEL_1}”" not in todo and f"utfall för ”{LEVEL_3}”" not in todo
    assert f"Samråd med tillsynsmyndigheten: ”{LEVEL_1}”" in todo  # now the unit's duties

    # --- the upphandlare follows the duties of nivå 1
    page.goto(f"{base}/")
    assert f"Anmälan om avsikt att ingå säkerhetsskyddsavtal: ”{LEVEL_1}”" in todo_text(page)
    page.goto(f"{base}/upphandlingar")
    follow(page, page.locator("main table").get_by_role("link", name=LEVEL_1))
    # Access before a signed säkerhetsskyddsavtal is refused.
    _open_duty(page, "Leverantören har fått tillgång")
    audit.check(page, "duty form")
    page.select_option("#status", "klar")
    submit_form(page)
    assert ACCESS_REFUSED in error_summary(page)
    audit.check(page, "duty form: access refused")
    follow(page, page.get_by_role("link", name=f"← {LEVEL_1}"))
    assert "Öppen" in _duty_row(page, "Leverantören har fått tillgång")

    _open_duty(page, "Samråd med tillsynsmyndigheten")
    audit.check(page, "duty form (samråd)")
    _complete_duty(page, reference="Säpo 2026-4411", outcome="fortsatta")
    row = _duty_row(page, "Samråd med tillsynsmyndigheten")
    assert (
        "Klar" in row
        and "Förfarandet får fortsätta" in row
        and f"{today.isoformat()} av Ulla Upphandlare" in row
    )
    _open_duty(page, "Säkerhetsskyddsavtal undertecknat")
    _complete_duty(page, reference="KN 2026/101-5")
    assert _fact(page, "Säkerhetsskyddsavtal undertecknat") == today.isoformat()
    # Signed: the notification of the signed agreement now has its deadline, and access is allowed.
    assert (today + dt.timedelta(days=7)).isoformat() in _duty_row(
        page, "Anmälan om tecknat säkerhetsskyddsavtal"
    )
    _open_duty(page, "Leverantören har fått tillgång")
    _complete_duty(page, reference="KN 2026/101-6")
    assert "Klar" in _duty_row(page, "Leverantören har fått tillgång")

    # A sub-supplier becomes known: its duty appears; removed again (after a confirmation), it goes.
    page.fill("#name", "Molntjänster AB")
    page.fill("#org_number", WRONG_ORG)
    follow(page, page.get_by_role("button", name="Lägg till underleverantör"))
    assert "Organisationsnumret har fel kontrollsiffra." in flashes(page)
    page.fill("#name", "Molntjänster AB")
    page.fill("#org_number", SUPPLIER_ORG)
    follow(page, page.get_by_role("button", name="Lägg till underleverantör"))
    assert "Underleverantören är tillagd." in flashes(page)
    assert f"Molntjänster AB ({SUPPLIER_ORG})" in section_text(page, "underleverantorer")
    assert "Öppen" in _duty_row(page, "Avtal med underleverantörer")
    audit.check(page, "procurement page with a sub-supplier")
    follow(page, page.get_by_role("link", name="Ta bort Molntjänster AB"))
    assert heading(page) == "Ta bort Molntjänster AB?"
    assert "Det är den sista underleverantören." in main_text(page)
    audit.check(page, "remove sub-supplier confirmation")
    submit_form(page)
    assert "Underleverantören är borttagen." in flashes(page)
    assert "Inga underleverantörer registrerade." in section_text(page, "underleverantorer")
    assert "Bortfallen" in _duty_row(page, "Avtal med underleverantörer")

    # --- supplier follow-up with the chef's checklist: a finding needs an action
    follow(page, page.get_by_role("link", name="Registrera en uppföljning"))
    assert heading(page) == "Uppföljning av leverantören"
    assert "Checklista version 1" in main_text(page)
    audit.check(page, "follow-up form")
    for index, result in enumerate(("uppfyllt", "brist", "ej_aktuellt")):
        page.select_option(f"#result-{index}", result)
    findings = "Besöksloggen saknade två besök i september."
    page.fill("#findings", findings)
    page.check("#attested")
    submit_form(page)
    assert "En brist kräver minst en överenskommen åtgärd med datum." in error_summary(page)
    assert page.input_value("#findings") == findings and page.input_value("#result-1") == "brist"
    audit.check(page, "follow-up form with an error")
    action = "Leverantören kompletterar besöksloggen"
    action_due = today + dt.timedelta(days=21)
    page.fill("#actions-0-description", action)
    page.fill("#actions-0-responsible", "Leverantörens säkerhetschef")
    page.fill("#actions-0-due_on", action_due.isoformat())
    page.check("#attested")
    submit_form(page)
    assert "Uppföljningen är registrerad." in flashes(page)
    follow_up = section_text(page, "uppfoljning")
    assert f"{CHECKLIST[1]} – Brist" in follow_up and findings in follow_up
    row = row_text(page, action)
    assert action_due.isoformat() in row and "Öppen" in row
    audit.check(page, "procurement page with a follow-up and an action")
    here = page.url
    page.goto(f"{base}/")
    assert f"Följ upp en överenskommen åtgärd hos leverantören i ”{LEVEL_1}”" in todo_text(page)
    page.goto(here)
    follow(page, page.get_by_role("button", name=f"Markera klar – {action}"))
    assert "Åtgärden är markerad som klar." in flashes(page)
    assert f"Klar {today.isoformat()}" in row_text(page, action)

    # --- contract end: the contract has run its course; only the end duties are left
    database = get_database(app).scoped
    database.execute(
        update(ProcurementDuty)
        .where(
            ProcurementDuty.status == DutyStatus.OPEN,
            ProcurementDuty.kind.not_in(
                [
                    DutyKind.NOTIFY_ENDED,
                    DutyKind.REGISTER_DEREGISTRATION,
                    DutyKind.INFORMATION_RETURNED,
                    DutyKind.FINAL_NOTE,
                ]
            ),
        )
        .values(
            status=DutyStatus.DONE, done_on=today, reference="Genomförd", version=ProcurementDuty.version + 1
        )
    )
    database.commit()
    end_transaction(app)
    page.reload()
    follow(page, page.get_by_role("link", name="Avsluta ärendet"))
    assert heading(page) == f"Avsluta ärendet: {LEVEL_1}"
    remaining = page.locator("main ul").last.inner_text()
    for label in (*END_DUTIES, "Information återlämnad eller förstörd"):
        assert label in remaining
    audit.check(page, "close page with open duties")
    final_note = "Informationen är återlämnad, bekräftelse KN 2026/101-19."
    page.fill("#final_note", final_note)
    page.check("#attested")
    submit_form(page)
    assert "Ärendet kan inte avslutas: öppna skyldigheter återstår" in error_summary(page)
    for label in END_DUTIES:
        follow(page, page.locator("main ul").last.get_by_role("link", name=label))
        assert heading(page) == label
        _complete_duty(page, reference=f"KN 2026/101-{len(label)}")
        follow(page, page.get_by_role("link", name="Avsluta ärendet"))
    remaining = page.locator("main ul").last.inner_text()
    assert "Information återlämnad eller förstörd" in remaining and END_DUTIES[0] not in remaining
    follow(
        page, page.locator("main ul").last.get_by_role("link", name="Information återlämnad eller förstörd")
    )
    _complete_duty(page, reference="KN 2026/101-18")
    follow(page, page.get_by_role("link", name="Avsluta ärendet"))
    assert "Alla skyldigheter är klara." in main_text(page)
    audit.check(page, "close page (ready)")
    page.fill("#final_note", final_note)
    page.check("#attested")
    submit_form(page)
    assert "Ärendet är avslutat." in flashes(page)
    assert "Status: Avslutad" in main_text(page)
    assert _fact(page, "Slutanteckning") == final_note
    assert "Klar" in _duty_row(page, "Slutanteckning")
    for link in ("Ändra uppgifterna", "Avsluta ärendet", "Registrera en uppföljning", "Ändra triagen"):
        assert page.get_by_role("link", name=link).count() == 0, link
    assert page.locator("section[aria-labelledby=skyldigheter] a").count() == 0  # frozen
    audit.check(page, "procurement page (closed)")

    # The chef reads the closed case and the register of the operator.
    chef.goto(f"{base}/upphandlingar")
    assert "3 förfaranden." in main_text(chef) and "Avslutad" in row_text(chef, LEVEL_1)
    audit.check(chef, "procurement register (chef)")
    follow(chef, chef.locator("main table").get_by_role("link", name=LEVEL_1))
    assert chef.get_by_role("link", name="Ändra uppgifterna").count() == 0
    assert _fact(chef, "Slutanteckning") == final_note

    audit.assert_clean(watched, chef_watched, coordinator_watched)
