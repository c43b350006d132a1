"""The home page's "Att göra" list: what a samordnare and a chef see, overdue marking, query count."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import pytest
from factories import count_statements, make_operator, make_unit, make_user, session_cookie
from flask import url_for
from sqlalchemy import select

from sakskydd.accounts.models import AssignmentStatus, Role, RoleAssignment
from sakskydd.analyses.models import AnalysisStatus, Measure, MeasureArea, MeasureStatus, SecurityAnalysis
from sakskydd.assets.models import AssetHolder, AssetRevision, AssetType, HolderNotice, ProtectedAsset
from sakskydd.classification import DamageLevel
from sakskydd.deadlines import ItemKind, Rules, due_items_for_user, local_today
from sakskydd.extensions import db
from sakskydd.notifications.models import SentReminder
from sakskydd.organisations.models import (
    Applicability,
    ApplicabilityAssessment,
    Appointment,
    AppointmentRole,
    RevisionTrigger,
    RevisionTriggerKind,
)
from sakskydd.procurements.models import Procurement, ProcurementDuty, ProcurementKind, ProcurementStatus
from sakskydd.procurements.rules import DutyKind, Outcome

pytestmark = pytest.mark.db

TODAY = local_today()


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    """The year's follow-up falls due today: its row is "I tid" for the samordnare and not the
    chef's (who sees it only when overdue) whatever day the suite runs."""
    settings.followup_due = (TODAY.month, TODAY.day)
    return settings


def days(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


def moment(n_days: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(days=n_days)


def grant(person, role, unit):  # type: ignore[no-untyped-def]
    db.add(RoleAssignment(user_id=person.id, role=role, unit_id=unit.id, status=AssignmentStatus.ACTIVE))


def assess(unit, recorder, outcome=Applicability.YES, on=None):  # type: ignore[no-untyped-def]
    db.add(
        ApplicabilityAssessment(
            unit_id=unit.id,
            outcome=outcome,
            decided_on=on or days(-400),
            decided_by="Nämnden",
            attested=True,
            recorded_by_id=recorder.id,
        )
    )


def appoint(unit, person, role, starts_on=None, ends_on=None):  # type: ignore[no-untyped-def]
    db.add(
        Appointment(
            unit_id=unit.id,
            user_id=person.id,
            role=role,
            starts_on=starts_on or days(-300),
            ends_on=ends_on,
            recorded_by_id=person.id,
        )
    )


def analysis(unit, author, status, *, decided_days_ago=None, submitted_days_ago=None, classification=0):  # type: ignore[no-untyped-def]
    row = SecurityAnalysis(
        unit_id=unit.id,
        cycle_year=TODAY.year - (1 if status == AnalysisStatus.APPROVED else 0),
        title=f"Analys {unit.name}",
        status=status,
        created_by_id=author.id,
        classification=classification,
        decided_at=moment(-decided_days_ago) if decided_days_ago is not None else None,
        submitted_at=moment(-submitted_days_ago) if submitted_days_ago is not None else None,
    )
    db.add(row)
    db.flush()
    return row


def measure(row, due_on, title="Byt lås till serverrummet", status=MeasureStatus.PLANNED):  # type: ignore[no-untyped-def]
    db.add(
        Measure(
            analysis_id=row.id,
            unit_id=row.unit_id,
            area=MeasureArea.PHYSICAL,
            title=title,
            responsible_function="Fastighetschef",
            due_on=due_on,
            status=status,
            attested=True,
        )
    )


def holder_notice(unit, author, holder, created):  # type: ignore[no-untyped-def]
    asset = ProtectedAsset(
        unit_id=unit.id,
        type=AssetType.PREMISES,
        name="Serverhallen",
        damage_level=DamageLevel.MINOR,
        owner="IT-chef",
        created_by_id=author.id,
    )
    db.add(asset)
    db.flush()
    db.add(AssetHolder(asset_id=asset.id, user_id=holder.id))
    revision = AssetRevision(asset_id=asset.id, unit_id=unit.id, actor_id=author.id, changes={})
    db.add(revision)
    db.flush()
    notice = HolderNotice(
        asset_id=asset.id, unit_id=unit.id, revision_id=revision.id, user_id=holder.id, created_at=created
    )
    db.add(notice)
    db.flush()
    return notice


def covered_unit(operator, samordnare, name=None, *, with_ersattare=True):  # type: ignore[no-untyped-def]
    """A covered unit with a samordnare (and ersättare), last year's approved analysis with one
    overdue and one coming measure, and an open revision trigger."""
    unit = make_unit(operator, name)
    assess(unit, samordnare)
    appoint(unit, samordnare, AppointmentRole.SAMORDNARE)
    if with_ersattare:
        appoint(unit, samordnare, AppointmentRole.ERSATTARE)
    approved = analysis(unit, samordnare, AnalysisStatus.APPROVED, decided_days_ago=200)
    measure(approved, days(-3), title="Sen åtgärd")
    measure(approved, days(40), title="Kommande åtgärd")
    measure(approved, days(-30), title="Klar åtgärd", status=MeasureStatus.DONE)
    db.add(
        RevisionTrigger(
            unit_id=unit.id,
            kind=RevisionTriggerKind.NEW_SYSTEM,
            occurred_on=days(-10),
            recorded_by_id=samordnare.id,
            attested=True,
        )
    )
    db.flush()
    return unit


def section(html: str) -> str:
    """The "Att göra" section of the home page."""
    return html.split('id="att-gora-rubrik"', 1)[1].split("</section>", 1)[0]


def text(html: str) -> str:
    """The text of the "Att göra" section, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", section(html))).strip()


def table(html: str) -> str:
    """The "Att göra" table ("" when there is none)."""
    return section(html).partition("<table")[2].split("</table>", 1)[0]


def rows(html: str) -> list[str]:
    """The text of each row of the "Att göra" table, whitespace collapsed."""
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in table(html).split("<tr")[2:]]


def test_samordnare_sees_the_units_items_sorted_with_overdue_marked(app, client):
    operator = make_operator()
    person = make_user(app, operator)
    unit = covered_unit(operator, person.user, "Kulturnämnden", with_ersattare=False)
    other = make_unit(operator, "Idrottsnämnden")  # not assessed, not the user's unit
    assess(other, person.user, Applicability.NO)
    grant(person, Role.SAMORDNARE, unit)
    holder_notice(unit, person.user, person.user, moment(-12))
    db.commit()
    session_cookie(client, app, person)

    # By default: what is overdue or due within the reminder lead time (30 days); the measure
    # due in 40 days is counted below the list, with a link to the whole list.
    response = client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    default = rows(html)
    assert len(default) == 5, default
    assert "5 uppgifter, varav 3 försenade." in html
    horizon = days(30).isoformat()
    assert f"Här visas det som är försenat eller ska vara klart senast {horizon} (30 dagar framåt)." in text(
        html
    )
    assert "Ytterligare 1 åtagande med senare förfallodag. Visa alla åtaganden" in text(html)
    assert '<a href="/?visa=alla">Visa alla åtaganden</a>' in html
    assert "Kommande åtgärd" not in html

    response = client.get("/?visa=alla")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    table = rows(html)
    assert len(table) == 6, table
    assert table[:5] == default  # the same order, the later item last
    # Sorted by due date: the missing ersättare (since 400 days), the notice (due 5 days ago), the
    # overdue measure (3 days ago), the year's follow-up (today), the analysis (trigger 10 days ago
    # + 1 month), the coming measure.
    assert (
        "Kulturnämnden omfattas av säkerhetsskyddslagstiftningen men saknar förordnad ersättare" in table[0]
    )
    assert "Försenad" in table[0]
    assert "Kvittera meddelandet" in table[1] and "”Serverhallen”" in table[1] and "Försenad" in table[1]
    assert "”Sen åtgärd” (fysisk säkerhet)" in table[2] and "Försenad" in table[2]
    assert f"Besvara och skicka in den årliga uppföljningen {TODAY.year} för Kulturnämnden" in table[3]
    assert "I tid" in table[3]
    assert "Se över säkerhetsskyddsanalysen för Kulturnämnden" in table[4]
    assert "nytt IT-system eller ny upphandling" in table[4] and "I tid" in table[4]
    assert "Kommande åtgärd" in table[5] and "Försenad" not in table[5]
    assert "Klar åtgärd" not in html and "Idrottsnämnden" not in html
    assert "6 uppgifter, varav 3 försenade." in html
    assert html.count('class="overdue"') == 3
    assert "Ytterligare" not in html and "Sida " not in html  # one page
    assert '<a href="/">Visa bara det som är försenat eller ska vara klart inom 30 dagar</a>' in html
    # The existing sections stay.
    assert "Säkerhetsnotiser" in html and "Dina roller" in html


def test_chef_sees_reviews_and_findings_but_not_the_units_plan(app, client):
    operator = make_operator()
    samordnare = make_user(app, operator)
    chef = make_user(app, operator, roles=[(Role.CHEF, operator)])
    complete = covered_unit(operator, samordnare.user, "Kulturnämnden")
    missing = covered_unit(operator, samordnare.user, "Miljönämnden", with_ersattare=False)
    make_unit(operator, "Stadsbyggnadsnämnden").created_at = moment(-30)  # never assessed
    late = make_unit(operator, "Trafiknämnden")
    assess(late, samordnare.user)
    appoint(late, samordnare.user, AppointmentRole.SAMORDNARE)
    appoint(late, samordnare.user, AppointmentRole.ERSATTARE)
    analysis(late, samordnare.user, AnalysisStatus.APPROVED, decided_days_ago=800)
    analysis(complete, samordnare.user, AnalysisStatus.SUBMITTED, submitted_days_ago=40)
    analysis(missing, samordnare.user, AnalysisStatus.SUBMITTED, submitted_days_ago=2, classification=1)
    db.commit()
    session_cookie(client, app, chef)

    html = client.get("/").get_data(as_text=True)
    table = rows(html)
    texts = " | ".join(table)
    assert len(table) == 4, table
    assert any("Bedöm om Stadsbyggnadsnämnden omfattas" in row and "Försenad" in row for row in table)
    assert any("Miljönämnden" in row and "saknar förordnad ersättare" in row for row in table)
    assert any("Trafiknämnden" in row and "Försenad" in row for row in table)
    review = next(row for row in table if "Granska" in row)
    assert "Kulturnämnden" in review and "Försenad" in review  # 40 days > the review period
    # The plan is the unit's business; an analysis marked above the chef's clearance is left out;
    # a follow-up in time is the samordnare's.
    assert "åtgärd" not in texts.lower()
    assert "Granska den inskickade säkerhetsskyddsanalysen för Miljönämnden" not in texts
    assert "uppföljning" not in texts

    # Once the follow-up date has passed, the chef sees every covered unit's follow-up not sent in.
    overdue_on = dt.date(TODAY.year, 12, 31)
    rules = Rules.from_settings(app.config["SAKSKYDD_SETTINGS"])
    items = due_items_for_user(chef.user, overdue_on, rules=dataclasses.replace(rules, followup_due=(1, 1)))
    followups = [item for item in items if item.kind == ItemKind.FOLLOWUP_DUE]
    assert sorted(item.params["unit"] for item in followups) == [
        "Kulturnämnden",
        "Miljönämnden",
        "Trafiknämnden",
    ]
    assert all(item.overdue and item.due_on == dt.date(TODAY.year, 1, 1) for item in followups)


def test_empty_list_and_a_reminded_item(app, client):
    person = make_user(app, make_operator())
    session_cookie(client, app, person)
    assert "Du har inget att göra just nu." in client.get("/").get_data(as_text=True)

    unit = make_unit(person.user.operator)
    notice = holder_notice(unit, person.user, person.user, moment(-8))
    db.add(
        SentReminder(
            kind="notice_unacknowledged",
            subject_id=str(notice.id),
            user_id=person.id,
            stage="ack:1",
            due_on=days(-1),
        )
    )
    db.commit()
    html = client.get("/").get_data(as_text=True)
    assert "Du har inget att göra just nu." not in html
    assert "Påminnelse skickad" in html


def test_each_item_links_to_its_page_when_that_page_exists(app, client):
    operator = make_operator()
    person = make_user(app, operator)
    unit = covered_unit(operator, person.user, "Kulturnämnden", with_ersattare=False)
    grant(person, Role.SAMORDNARE, unit)
    notice = holder_notice(unit, person.user, person.user, moment(-1))
    approved = db.scalar(select(SecurityAnalysis.id).where(SecurityAnalysis.unit_id == unit.id))
    db.commit()
    session_cookie(client, app, person)
    html = client.get("/?visa=alla").get_data(as_text=True)  # every item, each with its link
    links = set(re.findall(r'href="([^"]+)"', table(html)))
    expected = set()
    with app.test_request_context():
        for endpoint, values in (
            ("units.detail", {"unit_id": str(unit.id)}),
            ("analyses.detail", {"analysis_id": str(approved)}),
            ("assets.notice", {"notice_id": str(notice.id)}),
            ("followup.unit_list", {"unit_id": str(unit.id)}),  # not opened yet
        ):
            if endpoint in app.view_functions:
                expected.add(url_for(endpoint, **values))
    assert links == expected


def _home_statements(app, client, person) -> list[str]:  # type: ignore[no-untyped-def]
    session_cookie(client, app, person)
    assert client.get("/").status_code == 200  # warm up: first-request work is not counted
    with count_statements(app) as statements:
        response = client.get("/")
    assert response.status_code == 200
    return statements


@pytest.mark.parametrize("role", [Role.SAMORDNARE, Role.CHEF])
def test_home_page_statements_do_not_grow_with_the_number_of_units(app, role):
    counts = []
    for size in (3, 30):
        operator = make_operator()
        author = make_user(app, operator)
        units = [covered_unit(operator, author.user, with_ersattare=size % 2 == 0) for _ in range(size)]
        for unit in units:
            analysis(unit, author.user, AnalysisStatus.SUBMITTED, submitted_days_ago=5)
        db.commit()
        if role == Role.CHEF:
            person = make_user(app, operator, roles=[(Role.CHEF, operator)])
        else:
            person = make_user(app, operator, roles=[(Role.SAMORDNARE, unit) for unit in units])
        for unit in units[:2]:
            holder_notice(unit, author.user, person.user, moment(-9))
        db.commit()
        counts.append(len(_home_statements(app, app.test_client(), person)))
    assert counts[0] == counts[1], counts


def test_due_items_take_the_same_statements_for_3_and_30_units(app):
    counts = []
    for size in (3, 30):
        operator = make_operator()
        author = make_user(app, operator)
        units = [covered_unit(operator, author.user, with_ersattare=False) for _ in range(size)]
        for unit in units:
            analysis(unit, author.user, AnalysisStatus.SUBMITTED, submitted_days_ago=5)
            holder_notice(unit, author.user, author.user, moment(-9))
            procurement_with_duty(unit, author.user)
        for unit in units:
            grant(author, Role.SAMORDNARE, unit)
        db.add(
            RoleAssignment(
                user_id=author.id, role=Role.CHEF, operator_id=operator.id, status=AssignmentStatus.ACTIVE
            )
        )
        db.commit()
        with count_statements(app) as statements:
            items = due_items_for_user(author.user, TODAY)
        db.rollback()
        # Per unit: missing ersättare, the trigger-driven analysis, two open measures, the
        # submitted analysis to review, the notice, a procurement duty, the year's follow-up.
        assert len(items) == 8 * size
        counts.append(len([s for s in statements if not s.startswith("BEGIN")]))
    assert counts[0] == counts[1] <= 6, counts


def procurement_with_duty(unit, author, due_in=10):  # type: ignore[no-untyped-def]
    """A confirmed procurement of the unit with one open duty due in `due_in` days."""
    procurement = Procurement(
        unit_id=unit.id,
        kind=ProcurementKind.PROCUREMENT,
        title="Upphandling",
        registry_number="Dnr 1",
        responsible_id=author.id,
        procedure_starts_on=TODAY,
        status=ProcurementStatus.CONFIRMED,
        outcome=Outcome.SUA_2,
        created_by_id=author.id,
    )
    db.add(procurement)
    db.flush()
    db.add(
        ProcurementDuty(
            procurement_id=procurement.id,
            unit_id=unit.id,
            kind=DutyKind.ASSESSMENT,
            position=0,
            owner_id=author.id,
            due_on=TODAY + dt.timedelta(days=due_in),
        )
    )
    db.flush()


def test_a_timestamp_shown_as_a_date_is_the_citys_calendar_date(app) -> None:  # type: ignore[no-untyped-def]
    """The `day` filter the pages use for "inskickad", "fastställd", "öppnat": Stockholm's date,
    as Att göra counts it, not UTC's (22:30 UTC on 30 June is 1 July in the city)."""
    render = app.jinja_env.from_string("{{ t|day }}").render
    assert render(t=dt.datetime(2026, 6, 30, 22, 30, tzinfo=dt.UTC)) == "2026-07-01"
    assert render(t=dt.datetime(2026, 12, 31, 22, 59)) == "2026-12-31"  # naive is UTC; CET is +1
    assert render(t=dt.datetime(2026, 12, 31, 23, 0, tzinfo=dt.UTC)) == "2027-01-01"


def plan_with_measures(operator, author, offsets):  # type: ignore[no-untyped-def]
    """A covered unit (samordnare and ersättare appointed) whose plan in force has an open
    measure due on each of `offsets` (days from today)."""
    unit = make_unit(operator, "Kulturnämnden")
    assess(unit, author)
    appoint(unit, author, AppointmentRole.SAMORDNARE)
    appoint(unit, author, AppointmentRole.ERSATTARE)
    approved = analysis(unit, author, AnalysisStatus.APPROVED, decided_days_ago=100)
    for offset in offsets:
        measure(approved, days(offset), title=f"Åtgärd {offset:+05d}")
    db.flush()
    return unit


LATER = [31 + 9 * n for n in range(70)]  # due from 31 days to about 1.8 years ahead
SOON = [-20, -2, 0, 12, 30]  # overdue, due today and within the lead time (30 days)


def _signed_in_with_a_long_plan(app, client) -> None:
    """A samordnare, signed in, whose unit's plan has the SOON and the LATER measures."""
    operator = make_operator()
    person = make_user(app, operator)
    unit = plan_with_measures(operator, person.user, SOON + LATER)
    grant(person, Role.SAMORDNARE, unit)
    db.commit()
    session_cookie(client, app, person)


def test_the_default_view_counts_the_later_items_and_the_whole_list_is_paged(app, client):
    _signed_in_with_a_long_plan(app, client)

    html = client.get("/").get_data(as_text=True)
    default = rows(html)
    # The three overdue or due measures up to today and the two within the lead time, and the
    # year's follow-up (due today); later: the 70 measures and the analysis (due in 265 days).
    assert len(default) == 6, default
    assert sum("Åtgärd" in row for row in default) == len(SOON)
    assert not any(f"Åtgärd {offset:+05d}" in html for offset in LATER)
    assert "6 uppgifter, varav 2 försenade." in text(html)
    assert "Ytterligare 71 åtaganden med senare förfallodag. Visa alla åtaganden" in text(html)
    assert 'class="pager"' not in html

    # The whole list: 77 items, 50 a page, in the same order (the default view's items first).
    first = client.get("/?visa=alla").get_data(as_text=True)
    assert len(rows(first)) == 50
    assert rows(first)[:6] == default
    assert "77 uppgifter, varav 2 försenade." in text(first)
    assert "Sida 1 av 2" in first and 'href="/?sida=2&amp;visa=alla" rel="next"' in first
    assert "Ytterligare" not in first
    second = client.get("/?visa=alla&sida=2").get_data(as_text=True)
    assert len(rows(second)) == 27
    assert "Sida 2 av 2" in second and 'href="/?sida=1&amp;visa=alla" rel="prev"' in second
    listed = [re.search(r"Åtgärd ([+-]\d{4})", row) for row in rows(first)[6:] + rows(second)]
    assert [int(m.group(1)) for m in listed if m] == LATER  # every later item, in date order
    assert "(sida 2 av 2)" in second  # the table's caption says which page


@pytest.mark.parametrize(
    ("query", "page"),
    [
        ("visa=alla&sida=abc", 1),
        ("visa=alla&sida=", 1),
        ("visa=alla&sida=0", 1),
        ("visa=alla&sida=-3", 1),
        ("visa=alla&sida=1.5", 1),
        ("visa=alla&sida=%EF%BC%92", 2),  # a full-width 2 is still a 2
        ("visa=alla&sida=99", 2),  # past the end: the last page
        ("visa=alla&sida=" + "9" * 5000, 1),  # too long to be a number
        ("visa=alla&sida=2&sida=1", 2),  # the first value counts
    ],
)
def test_a_bad_page_number_is_the_first_or_last_page(app, client, query, page):
    _signed_in_with_a_long_plan(app, client)
    response = client.get(f"/?{query}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f"Sida {page} av 2" in html
    assert len(rows(html)) == (50 if page == 1 else 27)


@pytest.mark.parametrize("query", ["visa=ALLA", "visa=", "visa=%3Cscript%3E", "visa=allt&sida=2", "sida=2"])
def test_an_unknown_view_is_the_default_view(app, client, query):
    _signed_in_with_a_long_plan(app, client)
    response = client.get(f"/?{query}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert len(rows(html)) == 6 and "Ytterligare 71 åtaganden" in text(html)
    assert "<script>" not in html.split('id="att-gora-rubrik"', 1)[1]


def test_nothing_due_now_but_later_and_nothing_at_all(app, client):
    operator = make_operator()
    buyer = make_user(app, operator)
    unit = make_unit(operator)
    grant(buyer, Role.UPPHANDLARE, unit)
    procurement_with_duty(unit, buyer.user, due_in=100)
    db.commit()
    session_cookie(client, app, buyer)

    html = client.get("/").get_data(as_text=True)
    assert rows(html) == [] and "<table" not in section(html)
    assert "Du har inget som är försenat eller ska vara klart de närmaste 30 dagarna." in text(html)
    assert "Ytterligare 1 åtagande med senare förfallodag. Visa alla åtaganden" in text(html)
    assert "Du har inget att göra just nu." not in html
    html = client.get("/?visa=alla").get_data(as_text=True)
    (row,) = rows(html)
    assert "”Upphandling”" in row and days(100).isoformat() in row and "I tid" in row
    assert "1 uppgift." in text(html)

    # Nothing at all, in either view.
    nobody = make_user(app, operator)
    other = app.test_client()
    session_cookie(other, app, nobody)
    for path in ("/", "/?visa=alla", "/?visa=alla&sida=3"):
        html = other.get(path).get_data(as_text=True)
        assert "Du har inget att göra just nu." in text(html), path
        assert "Ytterligare" not in html and 'class="pager"' not in html and "<table" not in section(html)


def test_the_home_page_statements_are_the_same_for_a_few_items_or_many_and_in_either_view(app):
    """Neither the later count nor the whole list adds a statement, and neither grows with the
    number of items (only the page of items shown is looked up for reminders)."""
    counts = {}
    for size, offsets in (("few", SOON), ("many", SOON + LATER * 3)):
        operator = make_operator()
        person = make_user(app, operator)
        unit = plan_with_measures(operator, person.user, offsets)
        grant(person, Role.SAMORDNARE, unit)
        db.commit()
        for view in ("/", "/?visa=alla", "/?visa=alla&sida=3"):
            client = app.test_client()
            session_cookie(client, app, person)
            assert client.get(view).status_code == 200  # warm up
            with count_statements(app) as statements:
                assert client.get(view).status_code == 200
            counts[size, view] = len(statements)
    assert len(set(counts.values())) == 1, counts
