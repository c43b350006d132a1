"""The yearly follow-up (årlig uppföljning) in a real browser: the samordnare finds it in "Att
göra", opens it with what the registers already say, is stopped from sending it in while questions
are unanswered, answers and sends it in; the chef returns it with a comment on a question, the
samordnare completes and resends it, the chef marks it granskad, sees it in the overview of the
year and saves a new version of the questionnaire, which the reviewed follow-up does not take.
A person who is both samordnare and chef cannot review a follow-up they sent in. Every page on
the way is scanned with axe (no inline script or style, no CSP report).

The follow-up falls due today (settings.followup_due) whatever day the test runs: the
samordnare's row is "I tid" and the chef sees it only once it is sent in."""

from __future__ import annotations

import datetime as dt
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from browser_helpers import (
    HOME_HEADING,
    Account,
    Watched,
    account_of,
    end_transaction,
    error_summary,
    flashes,
    follow,
    heading,
    main_text,
    row_text,
    section_text,
    todo_text,
)
from factories import make_operator, make_unit, make_user
from flask import Flask
from test_accessibility import Audit

from sakskydd.accounts.models import Role
from sakskydd.config import Settings
from sakskydd.deadlines import local_today
from sakskydd.extensions import get_database
from sakskydd.followup.questions import BUILTIN_QUESTIONS
from sakskydd.organisations.models import (
    Applicability,
    ApplicabilityAssessment,
    Appointment,
    AppointmentRole,
    OrgUnit,
)

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

    NewContext = Callable[[], tuple[BrowserContext, Watched]]
    LogIn = Callable[[Page, str, Account], None]

UNIT = "Kulturnämnden"
WAITING_UNIT = "Idrottsnämnden"  # covered too, its follow-up never opened
ASSESSED_DAYS_AGO = 200
QUESTIONS = len(BUILTIN_QUESTIONS)
COMMENT = "Bedömningen gjordes av nämnden och diariefördes."
OVERALL_RETURN = "Komplettera svaret om säkerhetsskyddsplanen."
PLAN_REMARK = "Ange vilka åtgärder i planen som är försenade."
PLAN_ANSWER = "Två åtgärder är försenade och flyttade till hösten."
NEW_QUESTION = "Har nämnden övat på säkerhetsskyddet under året?"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The year's follow-up falls due today, so nothing in the journey is overdue."""
    today = local_today()
    settings.followup_due = (today.month, today.day)
    return settings


@dataclass(frozen=True)
class World:
    operator: str
    unit: str
    samordnare: Account
    chef: Account
    assessed_on: dt.date


def _assess(app: Flask, unit: OrgUnit, recorder_id: uuid.UUID, today: dt.date) -> None:
    get_database(app).scoped.add(
        ApplicabilityAssessment(
            unit_id=unit.id,
            outcome=Applicability.YES,
            decided_on=today - dt.timedelta(days=ASSESSED_DAYS_AGO),
            decided_by="Nämnden",
            attested=True,
            recorded_by_id=recorder_id,
        )
    )


def _appoint(app: Flask, unit: OrgUnit, user_id: uuid.UUID, role: AppointmentRole, today: dt.date) -> None:
    get_database(app).scoped.add(
        Appointment(
            unit_id=unit.id,
            user_id=user_id,
            role=role,
            starts_on=today - dt.timedelta(days=ASSESSED_DAYS_AGO),
            reference="KN 2020/1",
            recorded_by_id=user_id,
        )
    )


def _world(app: Flask) -> World:
    """An operator with two covered units; the first has its samordnare and ersättare appointed."""
    database = get_database(app).scoped
    today = local_today()
    operator = make_operator(f"Stad {secrets.token_hex(2)}")
    unit, waiting = make_unit(operator, UNIT), make_unit(operator, WAITING_UNIT)
    samordnare = make_user(app, operator, roles=[(Role.SAMORDNARE, unit)])
    samordnare.user.display_name = "Sara Samordnare"
    ersattare = make_user(app, operator, roles=[(Role.ERSATTARE, unit)])
    chef = make_user(app, operator, roles=[(Role.CHEF, operator)])
    chef.user.display_name = "Cecilia Chef"
    for covered in (unit, waiting):
        _assess(app, covered, samordnare.id, today)
    _appoint(app, unit, samordnare.id, AppointmentRole.SAMORDNARE, today)
    _appoint(app, unit, ersattare.id, AppointmentRole.ERSATTARE, today)
    database.commit()
    world = World(
        operator=str(operator.id),
        unit=str(unit.id),
        samordnare=account_of(app, samordnare),
        chef=account_of(app, chef),
        assessed_on=today - dt.timedelta(days=ASSESSED_DAYS_AGO),
    )
    end_transaction(app)
    return world


def _go_home(page: Page, base: str) -> None:
    page.goto(f"{base}/")
    assert HOME_HEADING in heading(page)


def _todo_text_of(page: Page, base: str) -> str:
    """The "Att göra" list of the signed-in person (opens the home page)."""
    _go_home(page, base)
    return todo_text(page)


def _question(page: Page, position: int) -> str:
    """The text of question `position`'s section on the answer or review page."""
    return section_text(page, f"fraga-{position}")


def _answer(page: Page, position: int, value: str) -> None:
    page.check(f"#answer_{position}-{value}")


def _send_in(page: Page, audit: Audit, label: str) -> None:
    """From the follow-up page: send it in, confirming (a first try without the tick is refused)."""
    follow(page, page.get_by_role("link", name="Skicka in till säkerhetsskyddschefen"))
    assert heading(page).startswith("Skicka in uppföljningen")
    audit.check(page, label)
    follow(page, page.get_by_role("button", name="Skicka in"))
    assert "Bekräfta att du vill skicka in uppföljningen." in error_summary(page)
    page.check("#confirmed")
    follow(page, page.get_by_role("button", name="Skicka in"))
    assert "Uppföljningen är inskickad till säkerhetsskyddschefen." in flashes(page)
    assert "Inskickad" in _facts(page)
    assert page.get_by_role("link", name="Besvara frågorna").count() == 0


def _facts(page: Page) -> str:
    return page.locator("main dl.facts").inner_text()


def _review(page: Page, audit: Audit, year: int, label: str) -> None:
    """From the chef's home page: the review item of "Att göra" leads to the review form."""
    item = f"Granska den årliga uppföljningen {year} för {UNIT}, inskickad"
    assert item in todo_text(page)
    follow(page, page.locator("table.todo a", has_text=item))
    assert heading(page) == f"Årlig uppföljning {year}"
    follow(page, page.locator("main").get_by_role("link", name="Granska", exact=True))
    assert heading(page) == f"Granska uppföljningen {year}"
    audit.check(page, label)


@pytest.mark.browser
def test_followup_from_att_gora_to_reviewed_and_a_new_questionnaire(
    app: Flask,
    live_server: str,
    new_context: NewContext,
    sign_in: LogIn,
    axe: str,
) -> None:
    base = live_server
    world = _world(app)
    audit = Audit(axe)
    year = local_today().year
    today = local_today().isoformat()

    # --- 1. the samordnare: "Att göra" leads to the unit's follow-ups; she opens the year's
    context, watched = new_context()
    page = context.new_page()
    sign_in(page, base, world.samordnare)
    due = f"Besvara och skicka in den årliga uppföljningen {year} för {UNIT}"
    assert due in todo_text(page)
    assert "I tid" in row_text(page, due, "table.todo")
    audit.check(page, "home: follow-up to answer")
    follow(page, page.locator("table.todo a", has_text=due))
    assert page.url == f"{base}/enheter/{world.unit}/uppfoljning"
    assert heading(page) == "Årlig uppföljning"
    assert "Ingen uppföljning är öppnad för enheten ännu." in main_text(page)
    assert f"Uppföljningen för {year} ska vara inskickad senast {today}." in main_text(page)
    audit.check(page, "unit follow-ups (not opened)")
    follow(page, page.get_by_role("button", name=f"Öppna uppföljningen för {year}"))
    assert "Årets uppföljning är öppnad." in flashes(page)
    assert heading(page) == f"Årlig uppföljning {year}"
    facts = _facts(page)
    assert "Utkast" in facts and today in facts and "Grundfrågorna" in facts
    followup_url = page.url
    questions = section_text(page, "fragor-rubrik")
    # What the registers say: the applicability assessment and both appointments.
    assert f"Systemet vet: Bedömd {world.assessed_on.isoformat()}: omfattas. Förslag: Ja." in questions
    assert "Systemet vet: Förordnad i dag: samordnare och ersättare. Förslag: Ja." in questions
    assert "Systemet vet: Registret över skyddsvärda objekt är tomt. Förslag: Nej." in questions
    assert "Systemet har inga uppgifter om detta; besvara frågan för hand." in questions
    assert questions.count("Inte besvarad") == QUESTIONS
    assert f"{QUESTIONS} frågor saknar svar." in main_text(page)
    assert page.locator("#historik-rubrik + table").inner_text().count("Öppnad") == 1
    audit.check(page, "follow-up (opened)")

    # --- 2. some answers, one with a comment; the attestation first forgotten
    follow(page, page.get_by_role("link", name="Besvara frågorna"))
    assert heading(page) == f"Besvara uppföljningen {year}"
    # The system's suggestions are preselected; questions without one are blank.
    assert page.is_checked("#answer_1-ja") and page.is_checked("#answer_2-ja")
    assert page.is_checked("#answer_3-nej")
    assert not any(page.is_checked(f"#answer_5-{v}") for v in ("ja", "delvis", "nej", "ej_tillampligt"))
    assert "Förordnad i dag: samordnare och ersättare." in _question(page, 2)
    audit.check(page, "answer form (suggestions)")
    page.fill("#comment_1", COMMENT)
    _answer(page, 3, "delvis")
    _answer(page, 5, "nej")
    follow(page, page.get_by_role("button", name="Spara svaren"))
    assert "Du måste intyga" in error_summary(page)
    # Nothing typed or chosen is lost.
    assert page.input_value("#comment_1") == COMMENT
    assert page.is_checked("#answer_3-delvis") and page.is_checked("#answer_5-nej")
    audit.check(page, "answer form with an error")
    page.check("#attested")
    follow(page, page.get_by_role("button", name="Spara svaren"))
    assert "Svaren är sparade." in flashes(page)
    assert page.url == followup_url
    unanswered = list(range(6, QUESTIONS + 1))
    assert f"{len(unanswered)} frågor saknar svar." in main_text(page)
    assert f"Kommentar: {COMMENT}" in section_text(page, "fragor-rubrik")

    # Sending in with questions unanswered: refused, with their numbers.
    follow(page, page.get_by_role("link", name="Skicka in till säkerhetsskyddschefen"))
    numbers = ", ".join(str(n) for n in unanswered)
    assert (
        "Alla frågor måste vara besvarade innan uppföljningen kan skickas in. "
        f"Obesvarade frågor: {numbers}." in main_text(page)
    )
    assert page.get_by_role("button", name="Skicka in").count() == 0
    audit.check(page, "send in refused (unanswered questions)")
    follow(page, page.locator("main").get_by_role("link", name="Besvara frågorna"))
    assert page.input_value("#comment_1") == COMMENT  # saved, not lost
    assert page.is_checked("#answer_3-delvis") and page.is_checked("#answer_5-nej")
    for position, value in zip(unanswered, ("ja", "ej_tillampligt", "ej_tillampligt", "nej"), strict=True):
        _answer(page, position, value)
    page.check("#attested")
    follow(page, page.get_by_role("button", name="Spara svaren"))
    assert "Svaren är sparade." in flashes(page)
    assert "saknar svar" not in main_text(page)
    _send_in(page, audit, "send in form")
    assert due not in _todo_text_of(page, base)
    page.goto(followup_url)
    audit.check(page, "follow-up (sent in, samordnare)")

    # --- 3. the chef returns it with a comment on the plan question
    chef_context, chef_watched = new_context()
    chef = chef_context.new_page()
    sign_in(chef, base, world.chef)
    audit.check(chef, "home: follow-up to review")
    _review(chef, audit, year, "review form")
    assert f"Samordnarens kommentar: {COMMENT}" in _question(chef, 1)
    assert "Svar: Nej" in _question(chef, 5)
    chef.check("#decision-aterremittera")
    chef.fill("#chef_comment_5", PLAN_REMARK)
    chef.fill("#comment", OVERALL_RETURN)
    chef.check("#attested")
    follow(chef, chef.get_by_role("button", name="Bekräfta beslutet"))
    assert "Uppföljningen är återremitterad till samordnaren." in flashes(chef)
    assert "Återremitterad" in _facts(chef)
    assert chef.locator("main").get_by_role("link", name="Granska", exact=True).count() == 0
    assert "Granska den årliga uppföljningen" not in _todo_text_of(chef, base)

    # --- 4. the samordnare completes the returned follow-up and sends it in again
    _go_home(page, base)
    returned = f"Komplettera den återremitterade årliga uppföljningen {year} för {UNIT}"
    assert returned in todo_text(page)
    audit.check(page, "home: returned follow-up")
    follow(page, page.locator("table.todo a", has_text=returned))
    assert page.url == followup_url
    assert "Återremitterad" in _facts(page)
    chef_says = section_text(page, "chef-rubrik")
    assert "Säkerhetsskyddschefens återremittering" in chef_says and OVERALL_RETURN in chef_says
    assert f"Säkerhetsskyddschefens kommentar: {PLAN_REMARK}" in section_text(page, "fragor-rubrik")
    audit.check(page, "follow-up (returned)")
    follow(page, page.get_by_role("link", name="Besvara frågorna"))
    assert f"Säkerhetsskyddschefens kommentar: {PLAN_REMARK}" in _question(page, 5)
    assert page.is_checked("#answer_5-nej")
    audit.check(page, "answer form (returned)")
    _answer(page, 5, "delvis")
    page.fill("#comment_5", PLAN_ANSWER)
    page.check("#attested")
    follow(page, page.get_by_role("button", name="Spara svaren"))
    assert "Svaren är sparade." in flashes(page)
    _send_in(page, audit, "send in form (again)")
    assert returned not in _todo_text_of(page, base)

    # --- 5. the chef marks it granskad
    _go_home(chef, base)
    _review(chef, audit, year, "review form (sent in again)")
    plan = _question(chef, 5)
    assert "Svar: Delvis" in plan and f"Samordnarens kommentar: {PLAN_ANSWER}" in plan
    assert chef.input_value("#chef_comment_5") == PLAN_REMARK  # her earlier comment stays
    chef.check("#decision-granskad")
    chef.check("#attested")
    follow(chef, chef.get_by_role("button", name="Bekräfta beslutet"))
    assert "Uppföljningen är granskad." in flashes(chef)
    assert "Granskad" in _facts(chef)
    history = chef.locator("#historik-rubrik + table tbody").inner_text()
    events = [line.split("\t")[0] for line in history.splitlines()]
    assert events == ["Öppnad", "Inskickad", "Återremitterad", "Inskickad", "Granskad"], events
    assert "Cecilia Chef" in history and "Sara Samordnare" in history
    audit.check(chef, "follow-up (granskad)")
    assert "årliga uppföljningen" not in _todo_text_of(chef, base)
    assert "årliga uppföljningen" not in _todo_text_of(page, base)

    # The chef's overview of the operator's units for the year.
    follow(chef, chef.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Sammanställning"))
    follow(chef, chef.locator("main").get_by_role("link", name="Årlig uppföljning"))
    assert chef.url.startswith(f"{base}/verksamhetsutovare/{world.operator}/uppfoljning")
    assert heading(chef) == f"Årlig uppföljning {year}"
    reviewed = row_text(chef, UNIT).split("\t")
    assert reviewed[1].strip() == "Granskad" and reviewed[2].strip() == today
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", cell.strip()) for cell in reviewed[3:5]), reviewed
    assert row_text(chef, WAITING_UNIT).split("\t")[1].strip() == "Inte öppnad"
    assert "2 av 2 enheter" in chef.locator("main table caption").inner_text()
    audit.check(chef, "follow-up overview")
    chef.select_option("#status", "granskad")
    follow(chef, chef.get_by_role("button", name="Visa"))
    table = chef.locator("main table").inner_text()
    assert UNIT in table and WAITING_UNIT not in table
    assert "1 av 2 enheter (granskad)" in table
    audit.check(chef, "follow-up overview (granskad only)")

    # The questionnaire: a question added is a new version; the reviewed follow-up keeps its own.
    follow(chef, chef.get_by_role("link", name="Frågeformuläret"))
    assert heading(chef) == "Frågeformulär för årlig uppföljning"
    assert "Inget eget frågeformulär är sparat; grundfrågorna används." in main_text(chef)
    assert "Inga egna versioner är sparade ännu." in main_text(chef)
    audit.check(chef, "questionnaire (built-in)")
    blank = chef.locator("main fieldset", has_text=f"Fråga {QUESTIONS + 1} (ny)")
    blank.locator("textarea").fill(NEW_QUESTION)
    assert blank.locator("input[type=checkbox]").is_checked()
    follow(chef, chef.get_by_role("button", name="Spara som ny version"))
    assert "Frågeformuläret är sparat som version 1." in flashes(chef)
    version = row_text(chef, "Cecilia Chef").split("\t")
    assert version[0].strip() == "1" and version[-1].strip() == str(QUESTIONS + 1), version
    assert "grundfrågorna används" not in main_text(chef)
    assert chef.locator("main textarea").nth(QUESTIONS).input_value() == NEW_QUESTION
    audit.check(chef, "questionnaire (version 1)")
    chef.goto(followup_url)
    assert "Grundfrågorna" in _facts(chef)
    assert chef.locator("section[aria-labelledby=fragor-rubrik] li").count() == QUESTIONS
    assert NEW_QUESTION not in main_text(chef)
    page.goto(followup_url)
    assert NEW_QUESTION not in main_text(page) and "Granskad" in _facts(page)
    audit.check(page, "follow-up (granskad, samordnare)")

    audit.assert_clean(watched, chef_watched)


@dataclass(frozen=True)
class DualWorld:
    unit: str
    dual: Account
    chef: Account


def _dual_world(app: Flask) -> DualWorld:
    """A unit whose samordnare is also the operator's chef, and a second chef."""
    database = get_database(app).scoped
    today = local_today()
    operator = make_operator(f"Stad {secrets.token_hex(2)}")
    unit = make_unit(operator, UNIT)
    dual = make_user(app, operator, roles=[(Role.SAMORDNARE, unit), (Role.CHEF, operator)])
    dual.user.display_name = "Dora Dubbelroll"
    chef = make_user(app, operator, roles=[(Role.CHEF, operator)])
    _assess(app, unit, dual.id, today)
    _appoint(app, unit, dual.id, AppointmentRole.SAMORDNARE, today)
    database.commit()
    world = DualWorld(unit=str(unit.id), dual=account_of(app, dual), chef=account_of(app, chef))
    end_transaction(app)
    return world


@pytest.mark.browser
def test_a_samordnare_who_is_also_chef_cannot_review_what_she_sent_in(
    app: Flask,
    live_server: str,
    new_context: NewContext,
    sign_in: LogIn,
    axe: str,
) -> None:
    base = live_server
    world = _dual_world(app)
    audit = Audit(axe)
    year = local_today().year

    context, watched = new_context()
    page = context.new_page()
    sign_in(page, base, world.dual)
    page.goto(f"{base}/enheter/{world.unit}/uppfoljning")
    follow(page, page.get_by_role("button", name=f"Öppna uppföljningen för {year}"))
    followup_url = page.url
    follow(page, page.get_by_role("link", name="Besvara frågorna"))
    for position in range(1, QUESTIONS + 1):
        _answer(page, position, "ja")
    follow(page, page.get_by_role("button", name="Spara svaren"))
    assert "Svaren är sparade." in flashes(page)
    _send_in(page, audit, "send in form (dual role)")

    # As chef she may review the operator's follow-ups, but not the one she sent in.
    assert page.locator("main").get_by_role("link", name="Granska", exact=True).count() == 0
    audit.check(page, "follow-up sent in by the reviewer-to-be")
    assert "Granska den årliga uppföljningen" not in _todo_text_of(page, base)
    audit.visit(page, f"{followup_url}/granska", "review refused (own follow-up)", status=403)
    assert heading(page) == "Åtkomst nekad"
    page.goto(followup_url)
    assert "Inskickad" in _facts(page)

    # Another chef of the operator reviews it.
    other_context, other_watched = new_context()
    other = other_context.new_page()
    sign_in(other, base, world.chef)
    _review(other, audit, year, "review form (other chef)")
    other.check("#decision-granskad")
    follow(other, other.get_by_role("button", name="Bekräfta beslutet"))
    assert "Uppföljningen är granskad." in flashes(other)
    assert "Granskad" in _facts(other)

    audit.assert_clean(watched, other_watched)
