"""`sakskydd reminders run` against a real local SMTP server (aiosmtpd): who gets what, once."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller
from factories import make_operator, make_unit, make_user
from flask import url_for
from sqlalchemy import func, select

from sakskydd.accounts.models import AssignmentStatus, Role, RoleAssignment
from sakskydd.analyses.models import AnalysisStatus, Measure, MeasureArea, MeasureStatus, SecurityAnalysis
from sakskydd.assets.models import AssetHolder, AssetRevision, AssetType, HolderNotice, ProtectedAsset
from sakskydd.audit.models import AuditEvent
from sakskydd.classification import DamageLevel
from sakskydd.deadlines import add_months, local_today
from sakskydd.extensions import db
from sakskydd.notifications.models import SentReminder
from sakskydd.organisations.models import Applicability, ApplicabilityAssessment, Appointment, AppointmentRole

pytestmark = pytest.mark.db

TODAY = local_today()
BASE = "https://localhost"
FOLLOWUP = "Den årliga uppföljningen för en enhet ska vara inskickad senast"


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    """The year's follow-up falls due on the day the reminders run (TODAY unless a test says
    otherwise): a lead reminder to each covered unit's samordnare and ersättare, none to the chef
    (who is reminded only when it is overdue), whatever day the suite runs."""
    settings.followup_due = (TODAY.month, TODAY.day)
    return settings


@dataclass
class Collector:
    """An aiosmtpd handler that keeps every message it receives."""

    messages: list[email.message.EmailMessage] = field(default_factory=list)
    envelopes: list[list[str]] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
        self.envelopes.append(list(envelope.rcpt_tos))
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp(app) -> Iterator[Collector]:  # type: ignore[no-untyped-def]
    handler = Collector()
    port = _free_port()
    assert port != 587  # 587 would make sakskydd ask for STARTTLS
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    app.config["SAKSKYDD_SETTINGS"].smtp_url = f"smtp://127.0.0.1:{port}"
    try:
        yield handler
    finally:
        controller.stop()


def run(app, *args: str):  # type: ignore[no-untyped-def]
    return app.test_cli_runner().invoke(args=["reminders", "run", *args])


def person(app, operator, name: str, roles=None):  # type: ignore[no-untyped-def]
    made = make_user(app, operator, username=name, roles=roles or [])
    made.user.email = f"{name}@example.se"
    made.user.display_name = f"Person {name}"
    db.commit()
    return made


def grant(who, role, unit, status=AssignmentStatus.ACTIVE):  # type: ignore[no-untyped-def]
    db.add(RoleAssignment(user_id=who.id, role=role, unit_id=unit.id, status=status))


def covered(unit, recorder, *roles_appointed):  # type: ignore[no-untyped-def]
    db.add(
        ApplicabilityAssessment(
            unit_id=unit.id,
            outcome=Applicability.YES,
            decided_on=TODAY - dt.timedelta(days=500),
            decided_by="Nämnden",
            attested=True,
            recorded_by_id=recorder.id,
        )
    )
    for appointee, role in roles_appointed:
        db.add(
            Appointment(
                unit_id=unit.id,
                user_id=appointee.id,
                role=role,
                starts_on=TODAY - dt.timedelta(days=400),
                recorded_by_id=recorder.id,
            )
        )


def noon(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, 10, tzinfo=dt.UTC)  # 11 or 12 in Stockholm


def approved(unit, author, decided_on: dt.date, cycle_year: int) -> SecurityAnalysis:  # type: ignore[no-untyped-def]
    row = SecurityAnalysis(
        unit_id=unit.id,
        cycle_year=cycle_year,
        title="Årets analys med hemligt namn",
        status=AnalysisStatus.APPROVED,
        decided_at=noon(decided_on),
        created_by_id=author.id,
    )
    db.add(row)
    db.flush()
    return row


@dataclass
class World:
    samordnare: object
    ersattare: object
    revoked: object
    samordnare_b: object
    chef: object
    holder: object
    unit_a: object
    unit_b: object
    analysis_a: SecurityAnalysis
    submitted_b: SecurityAnalysis
    measure: Measure
    notice: HolderNotice


@pytest.fixture
def world(app) -> World:  # type: ignore[no-untyped-def]
    """Unit A: both coordinators, its analysis due in 10 days and an overdue measure.
    Unit B: covered, samordnare but no ersättare, an analysis submitted to the chef.
    A holder with a status-change notice unacknowledged for 8 days."""
    operator = make_operator()
    chef = person(app, operator, "chefen", roles=[(Role.CHEF, operator)])
    samordnare = person(app, operator, "samordnare_a")
    ersattare = person(app, operator, "ersattare_a")
    revoked = person(app, operator, "tidigare_a")
    samordnare_b = person(app, operator, "samordnare_b")
    holder = person(app, operator, "innehavaren")
    unit_a = make_unit(operator, "Kulturnämnden")
    unit_b = make_unit(operator, "Miljönämnden")
    grant(samordnare, Role.SAMORDNARE, unit_a)
    grant(ersattare, Role.ERSATTARE, unit_a)
    grant(revoked, Role.ERSATTARE, unit_a, AssignmentStatus.REVOKED)
    grant(samordnare_b, Role.SAMORDNARE, unit_b)
    covered(
        unit_a, samordnare, (samordnare, AppointmentRole.SAMORDNARE), (ersattare, AppointmentRole.ERSATTARE)
    )
    covered(unit_b, samordnare_b, (samordnare_b, AppointmentRole.SAMORDNARE))

    analysis_a = approved(unit_a, samordnare, add_months(TODAY + dt.timedelta(days=10), -12), TODAY.year - 1)
    measure = Measure(
        analysis_id=analysis_a.id,
        unit_id=unit_a.id,
        area=MeasureArea.INFORMATION,
        title="Hemlig åtgärdstitel",
        responsible_function="IT-chef",
        due_on=TODAY - dt.timedelta(days=2),
        status=MeasureStatus.IN_PROGRESS,
        attested=True,
    )
    db.add(measure)
    approved(unit_b, samordnare_b, TODAY - dt.timedelta(days=30), TODAY.year - 1)
    submitted_b = SecurityAnalysis(
        unit_id=unit_b.id,
        cycle_year=TODAY.year,
        title="Inskickad analys med namn",
        status=AnalysisStatus.SUBMITTED,
        submitted_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
        created_by_id=samordnare_b.id,
    )
    db.add(submitted_b)

    asset = ProtectedAsset(
        unit_id=unit_a.id,
        type=AssetType.SYSTEM,
        name="Ledningssystemet Örnen",
        damage_level=DamageLevel.NOT_INSIGNIFICANT,
        owner="Förvaltningschef",
        created_by_id=samordnare.id,
    )
    db.add(asset)
    db.flush()
    db.add(AssetHolder(asset_id=asset.id, user_id=holder.id))
    revision = AssetRevision(asset_id=asset.id, unit_id=unit_a.id, actor_id=samordnare.id, changes={})
    db.add(revision)
    db.flush()
    notice = HolderNotice(
        asset_id=asset.id,
        unit_id=unit_a.id,
        revision_id=revision.id,
        user_id=holder.id,
        created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=8),
    )
    db.add(notice)
    db.commit()
    return World(
        samordnare,
        ersattare,
        revoked,
        samordnare_b,
        chef,
        holder,
        unit_a,
        unit_b,
        analysis_a,
        submitted_b,
        measure,
        notice,
    )


FREE_TEXT = (
    "Kulturnämnden",
    "Miljönämnden",
    "Hemlig åtgärdstitel",
    "Årets analys med hemligt namn",
    "Inskickad analys med namn",
    "Ledningssystemet Örnen",
    "IT-chef",
    "Förvaltningschef",
)


def expected_link(app, endpoint: str, **values: str) -> str:  # type: ignore[no-untyped-def]
    """The item's page while it exists, else the home page (the link helper's fallback)."""
    with app.test_request_context(base_url=BASE):
        if endpoint in app.view_functions:
            return url_for(endpoint, _external=True, **values)
        return url_for("main.home", _external=True)


def body(message: email.message.EmailMessage) -> str:
    return message.get_content()


def test_reminders_reach_the_right_people_once(app, smtp, world):
    # Plain ids: expected_link's request context ends the test's database session.
    ids = {
        name: str(getattr(world, name).id)
        for name in ("unit_a", "unit_b", "analysis_a", "submitted_b", "notice")
    }
    users = {name: getattr(world, name).id for name in ("samordnare", "ersattare", "chef", "holder")}
    result = run(app)
    assert result.exit_code == 0, result.output
    # Five items and the year's follow-up for each of the three coordinators.
    assert "Skickade 11 påminnelser i 5 e-postmeddelanden." in result.output

    assert sorted(r for rcpts in smtp.envelopes for r in rcpts) == sorted(
        f"{name}@example.se"
        for name in ("samordnare_a", "ersattare_a", "samordnare_b", "chefen", "innehavaren")
    )
    for message in smtp.messages:
        assert message["Subject"] == "Påminnelse från sakskydd"
        assert message["From"] == app.config["SAKSKYDD_SETTINGS"].mail_from
        text = body(message)
        for secret in FREE_TEXT:
            assert secret not in text, (message["To"], secret)
        assert f"{BASE}/" in text

    unit_a_link = expected_link(app, "units.detail", unit_id=ids["unit_a"])
    analysis_a_link = expected_link(app, "analyses.detail", analysis_id=ids["analysis_a"])
    for name in ("samordnare_a", "ersattare_a"):
        (message,) = smtp.to(f"{name}@example.se")
        text = body(message)
        assert f"Hej Person {name}" in text
        assert "FÖRSENAD: En åtgärd i säkerhetsskyddsplanen ska vara genomförd senast" in text
        assert "Säkerhetsskyddsanalysen för en enhet ska ses över och fastställas senast" in text
        assert unit_a_link in text and analysis_a_link in text
        assert f"{FOLLOWUP} {TODAY}." in text
        assert expected_link(app, "followup.unit_list", unit_id=ids["unit_a"]) in text

    (message,) = smtp.to("samordnare_b@example.se")
    assert "saknar förordnad ersättare" in body(message)
    assert expected_link(app, "units.detail", unit_id=ids["unit_b"]) in body(message)
    assert f"{FOLLOWUP} {TODAY}." in body(message)

    (message,) = smtp.to("chefen@example.se")
    text = body(message)
    assert "saknar förordnad ersättare" in text
    assert "En inskickad säkerhetsskyddsanalys väntar på ditt beslut" in text
    assert expected_link(app, "analyses.detail", analysis_id=ids["submitted_b"]) in text
    assert "En åtgärd i säkerhetsskyddsplanen" not in text  # the plan is the unit's business
    assert FOLLOWUP not in text  # not overdue yet

    (message,) = smtp.to("innehavaren@example.se")
    text = body(message)
    assert "väntar på din kvittens" in text
    assert expected_link(app, "assets.notice", notice_id=ids["notice"]) in text

    assert not smtp.to("tidigare_a@example.se")

    db.expire_all()
    stages = {(row.user_id, row.kind, row.stage.split(":")[0]) for row in db.scalars(select(SentReminder))}
    assert (users["samordnare"], "measure_due", "overdue") in stages
    assert (users["ersattare"], "analysis_due", "lead") in stages
    assert (users["chef"], "coordinator_missing", "due") in stages
    assert (users["chef"], "analysis_review", "lead") in stages
    assert (users["holder"], "notice_unacknowledged", "ack") in stages
    assert (users["samordnare"], "followup_due", "lead") in stages
    assert not any(user == users["chef"] and kind == "followup_due" for user, kind, _ in stages)
    notice = db.get(HolderNotice, uuid.UUID(ids["notice"]))
    assert notice.reminder_count == 1 and notice.last_reminded_at is not None
    assert notice.version == 1  # the holder's acknowledgement form stays valid

    # Running again sends nothing new.
    again = run(app)
    assert again.exit_code == 0, again.output
    assert "Skickade 0 påminnelser" in again.output
    assert len(smtp.messages) == 5
    events = list(
        db.scalars(select(AuditEvent).where(AuditEvent.event == "reminders.sent").order_by(AuditEvent.seq))
    )
    assert [json.loads(e.payload)["detail"] for e in events] == [{"count": 11}, {"count": 0}]
    assert all(json.loads(e.payload)["source"] == {"system": "cli"} for e in events)


def test_an_overdue_follow_up_reaches_the_chef_and_a_submitted_one_waits_for_review(app, smtp, world):
    """After the follow-up date: the coordinators of unit A (not opened) and the chef are reminded
    that it is overdue; unit B's, submitted, is the chef's to review and no longer its samordnare's."""
    from sakskydd.deadlines import Rules
    from sakskydd.followup import services as followups
    from sakskydd.followup.models import Answer

    settings = app.config["SAKSKYDD_SETTINGS"]
    settings.followup_due = (1, 1)
    run_on = TODAY if (TODAY.month, TODAY.day) != (1, 1) else TODAY + dt.timedelta(days=1)
    opened = followups.open_followup(
        world.samordnare_b.user, world.unit_b, today=run_on, rules=Rules.from_settings(settings)
    )
    answers = {item.position: followups.AnswerInput(Answer.YES, None) for item in opened.answers}
    followups.save_answers(
        world.samordnare_b.user, opened, answers, attested=True, ceiling=0, version=opened.version
    )
    followups.submit_followup(world.samordnare_b.user, opened, version=opened.version)
    db.commit()
    users = {name: getattr(world, name).id for name in ("samordnare", "ersattare", "samordnare_b", "chef")}

    from sakskydd.notifications.reminders import send_reminders

    assert send_reminders(run_on).failed == 0
    overdue = f"FÖRSENAD: {FOLLOWUP} {dt.date(run_on.year, 1, 1)}."
    for name in ("samordnare_a", "ersattare_a", "chefen"):
        (message,) = smtp.to(f"{name}@example.se")
        assert overdue in body(message), name
    (message,) = smtp.to("chefen@example.se")
    assert "En inskickad årlig uppföljning väntar på din granskning" in body(message)
    (message,) = smtp.to("samordnare_b@example.se")
    assert FOLLOWUP not in body(message)

    db.expire_all()
    sent = {
        (row.user_id, row.kind, row.stage.split(":")[0])
        for row in db.scalars(select(SentReminder))
        if row.kind.startswith("followup")
    }
    assert sent == {
        (users["samordnare"], "followup_due", "overdue"),
        (users["ersattare"], "followup_due", "overdue"),
        (users["chef"], "followup_due", "overdue"),
        (users["chef"], "followup_review", "lead"),
    }


def test_dry_run_lists_and_changes_nothing(app, smtp, world):
    result = run(app, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "samordnare_a" in result.output and "measure_due overdue:" in result.output
    assert "innehavaren" in result.output and "notice_unacknowledged ack:1" in result.output
    assert "followup_due lead:" in result.output
    assert "Torrkörning: 11 påminnelser till 5 användare skulle skickas." in result.output
    for secret in FREE_TEXT:
        assert secret not in result.output
    assert smtp.messages == []
    assert db.scalar(select(func.count()).select_from(SentReminder)) == 0
    assert db.scalar(select(func.count()).where(AuditEvent.event == "reminders.sent")) == 0
    assert db.get(HolderNotice, world.notice.id).reminder_count == 0


def test_a_failed_send_is_tried_again_at_the_next_run(app, smtp, world):
    settings = app.config["SAKSKYDD_SETTINGS"]
    working = settings.smtp_url
    settings.smtp_url = f"smtp://127.0.0.1:{_free_port()}"  # nobody listens there
    failed = run(app)
    assert failed.exit_code != 0
    assert "11 påminnelser kunde inte skickas" in failed.output
    assert db.scalar(select(func.count()).select_from(SentReminder)) == 0
    assert db.get(HolderNotice, world.notice.id).reminder_count == 0

    settings.smtp_url = working
    retried = run(app)
    assert retried.exit_code == 0, retried.output
    assert len(smtp.messages) == 5
    assert db.scalar(select(func.count()).select_from(SentReminder)) == 11


def test_without_smtp_the_reminders_go_to_the_outbox(app, world):
    from sakskydd.notifications.mail import outbox_path

    app.config["SAKSKYDD_SETTINGS"].smtp_url = None
    result = run(app)
    assert result.exit_code == 0, result.output
    files = sorted(outbox_path().glob("*.eml"))
    assert len(files) == 5
    assert all(f.stat().st_mode & 0o077 == 0 for f in files)


# --- procurements ---------------------------------------------------------------------------------

SECRET_TITLES = ("Förfarande Väntar", "Förfarande Pågår", "Leverantören Hemlig AB", "Åtgärd med namn")


def _procurement(unit, buyer, title: str, starts: dt.date):  # type: ignore[no-untyped-def]
    from sakskydd.procurements import services

    values = {
        "kind": "upphandling",
        "title": title,
        "registry_number": "KN 2026/1",
        "responsible_id": buyer.id,
        "procedure_starts_on": starts,
        "contract_starts_on": None,
        "contract_ends_on": None,
        "supplier_name": "Leverantören Hemlig AB",
        "supplier_org_number": None,
        "supplier_contact": None,
        "classification": 0,
    }
    return services.create_procurement(buyer, unit, values, attested=True)


def test_procurement_reminders_go_to_the_right_people_without_names(app, smtp):  # type: ignore[no-untyped-def]
    """A triage waiting for the samordnare (due in 14 days), a nivå 1 agreement with its
    before-the-procedure duties overdue, the notification of intent due in 7 days, the supplier
    follow-up due in 10 days and an agreed action due in 20: the samordnare/ersättare get
    everything, the responsible upphandlare everything but the confirmation, the chef only the
    overdue duties; no title, supplier or action text in any e-mail."""
    from sakskydd.procurements import services
    from sakskydd.procurements.rules import Outcome, TriageAnswers, Where

    operator = make_operator()
    chef = person(app, operator, "chef_p", roles=[(Role.CHEF, operator)])
    samordnare = person(app, operator, "samordnare_p")
    ersattare = person(app, operator, "ersattare_p")
    buyer = person(app, operator, "upphandlare_p")
    unit = make_unit(operator, "Kulturnämnden")
    grant(samordnare, Role.SAMORDNARE, unit)
    grant(ersattare, Role.ERSATTARE, unit)
    grant(buyer, Role.UPPHANDLARE, unit)
    covered(
        unit, samordnare, (samordnare, AppointmentRole.SAMORDNARE), (ersattare, AppointmentRole.ERSATTARE)
    )
    approved(unit, samordnare, TODAY - dt.timedelta(days=30), TODAY.year - 1)  # no analysis item
    db.commit()
    no = {"sensitive_activity": False, "restricted_access": False, "sub_suppliers": False}

    waiting = _procurement(unit, buyer.user, "Förfarande Väntar", TODAY + dt.timedelta(days=90))
    services.triage(
        buyer.user,
        waiting,
        TriageAnswers(where=Where.OURS, classified_access=False, staff_vetting=True, **no),
        waiting.version,
    )
    running = _procurement(unit, buyer.user, "Förfarande Pågår", TODAY - dt.timedelta(days=3))
    services.triage(
        buyer.user,
        running,
        TriageAnswers(where=Where.SUPPLIER, classified_access=True, staff_vetting=False, **no),
        running.version,
    )
    services.confirm(
        samordnare.user,
        running,
        outcome=Outcome.SUA_1,
        consultation=True,
        reason=None,
        attested=False,
        version=running.version,
    )
    # The last follow-up was 6 months minus 10 days ago (nivå 1: every 6 months).
    performed = add_months(TODAY + dt.timedelta(days=10), -6)
    action_due = TODAY + dt.timedelta(days=20)
    services.record_follow_up(
        samordnare.user,
        running,
        performed_on=performed,
        results=["brist"] + ["uppfyllt"] * (len(services.DEFAULT_FOLLOW_UP_ITEMS) - 1),
        findings=None,
        actions=[
            {"description": "Åtgärd med namn", "responsible": "Leverantören Hemlig AB", "due_on": action_due}
        ],
        attested=True,
        template=None,
        items=list(services.DEFAULT_FOLLOW_UP_ITEMS),
    )
    db.commit()
    ids = {"waiting": str(waiting.id), "running": str(running.id)}
    users = {"samordnare": samordnare.id, "ersattare": ersattare.id, "buyer": buyer.id, "chef": chef.id}

    result = run(app)
    assert result.exit_code == 0, result.output
    for message in smtp.messages:
        for secret in SECRET_TITLES:
            assert secret not in body(message), (message["To"], secret)

    waiting_link = expected_link(app, "procurements.detail", procurement_id=ids["waiting"])
    running_link = expected_link(app, "procurements.detail", procurement_id=ids["running"])
    confirm = (
        "En besvarad triage för ett förfarande väntar på din bekräftelse, senast "
        f"{TODAY + dt.timedelta(days=14)}."
    )
    overdue = [
        f"FÖRSENAD: En skyldighet i ett säkerhetsskyddat förfarande ({label}) ska vara fullgjord senast "
        f"{TODAY - dt.timedelta(days=3)}."
        for label in (
            "särskild säkerhetsskyddsbedömning",
            "lämplighetsprövning",
            "samråd med tillsynsmyndigheten",
        )
    ]
    intent = (
        "En skyldighet i ett säkerhetsskyddat förfarande (anmälan om avsikt att ingå säkerhetsskyddsavtal) "
        f"ska vara fullgjord senast {TODAY + dt.timedelta(days=7)}."
    )
    follow_up = f"En leverantör med säkerhetsskyddsavtal ska följas upp senast {add_months(performed, 6)}."
    action = f"En åtgärd som överenskommits med en leverantör ska vara klar senast {action_due}."

    for name in ("samordnare_p", "ersattare_p"):
        (message,) = smtp.to(f"{name}@example.se")
        text = body(message)
        assert "om 8 uppgifter som väntar på dig" in text  # and the year's follow-up
        for line in (confirm, *overdue, intent, follow_up, action, f"{FOLLOWUP} {TODAY}."):
            assert line in text, (name, line)
        assert waiting_link in text and running_link in text

    (message,) = smtp.to("upphandlare_p@example.se")
    text = body(message)
    assert "om 6 uppgifter som väntar på dig" in text
    for line in (*overdue, intent, follow_up, action):
        assert line in text, line
    assert "En besvarad triage" not in text and waiting_link not in text  # she answered it herself

    (message,) = smtp.to("chef_p@example.se")
    text = body(message)
    assert "om 3 uppgifter som väntar på dig" in text
    for line in overdue:
        assert line in text, line
    for line in (confirm, intent, follow_up, action):
        assert line not in text, line

    db.expire_all()
    sent = {(row.user_id, row.kind, row.stage.split(":")[0]) for row in db.scalars(select(SentReminder))}
    assert (users["chef"], "procurement_duty", "overdue") in sent
    assert (users["samordnare"], "procurement_confirm", "lead") in sent
    assert (users["buyer"], "supplier_follow_up", "lead") in sent
    assert (users["ersattare"], "follow_up_action", "lead") in sent
    assert not any(user == users["chef"] and kind != "procurement_duty" for user, kind, _ in sent)
    assert not any(user == users["buyer"] and kind == "followup_due" for user, kind, _ in sent)
    assert "Skickade 0 påminnelser" in run(app).output  # once


# --- säkerhetsprövning ----------------------------------------------------------------------------

# Synthetic, checksum-valid personnummer (as in test_vetting_services.py); each case names a
# position in the same unit, so one number serves them all.
PNR = "19900101-0017"
VETTING_SECRETS = (
    PNR,
    "900101-0017",
    "199001010017",
    "Testa Omkontrollsson",
    "Testa Avanmälsson",
    "Testa Väntesson",
    "Testa Beslutsdotter",
    "Testa Anonymsson",
    "Testa Slutsson",
    "Testa Grannsson",
    "Hemlig befattning",
    "Socialnämnden Hemlig",
    "Grannämnden Hemlig",
)
VETTING_KINDS = ("vetting_recheck", "vetting_deregistration", "vetting_confirm")
# The day the reminders run: after every date the services record (none may be in the future).
RUN = TODAY + dt.timedelta(days=10)


def _vetting_position(actor, unit, klass: str, title: str):  # type: ignore[no-untyped-def]
    from sakskydd.vetting import services

    return services.create_position(
        actor,
        unit,
        {
            "title": title,
            "security_class": klass,
            "decided_on": TODAY - dt.timedelta(days=3000),
            "decided_by": "Kommunstyrelsen",
            "reference": "KS 2019/10",
            "government_reference": "Fö 2019/1" if klass == "klass_1" else None,
            "analysis_id": None,
            "ended_on": None,
        },
    )


def _vetting_case(actor, unit, klass: str, title: str, name: str, *, checked_on: dt.date):  # type: ignore[no-untyped-def]
    """A case with every step before the beslut done on `checked_on` (Säpo's answer included)."""
    from sakskydd.vetting import services
    from sakskydd.vetting.rules import StepKind

    position = _vetting_position(actor, unit, klass, title)
    case = services.open_case(actor, unit, position_id=position.id, person_name=name, personnummer=PNR)
    for step in list(case.steps):
        if step.kind == StepKind.TRAINING:
            continue
        services.update_step(
            actor,
            case,
            step,
            done=True,
            done_on=checked_on,
            reference="Dnr 1",
            control_reason="placering" if step.kind == StepKind.REGISTER_CHECK_REQUESTED else None,
            version=step.version,
        )
    return case


def _decide(decider, case, on: dt.date) -> None:  # type: ignore[no-untyped-def]
    from sakskydd.vetting import services

    services.decide(decider, case, decision="godkand", decided_on=on, reference="B 1", version=case.version)


def _confirm(confirmer, case) -> None:  # type: ignore[no-untyped-def]
    from sakskydd.vetting import services

    services.confirm_decision(confirmer, case, confirm=True, version=case.version)


@dataclass
class VettingWorld:
    samordnare: object
    ersattare: object
    chef: object
    upphandlare: object
    neighbour: object  # samordnare of another operator's unit
    recheck: uuid.UUID  # approved klass 2, omkontroll due RUN + 20 days
    checked_on: dt.date
    recheck_due: dt.date
    deregistration: uuid.UUID  # approved klass 3, the person left TODAY - 3 days
    left_on: dt.date
    decided_by_a: uuid.UUID  # beslut by the samordnare on TODAY - 2 days: the ersättare confirms
    decided_by_b: uuid.UUID  # beslut by the ersättare today: the samordnare confirms
    anonymised: uuid.UUID  # approved klass 1, omkontroll overdue, but anonymised
    neighbours: uuid.UUID  # in progress in the other unit, the person left TODAY - 1 day


@pytest.fixture
def vetting_world(app) -> VettingWorld:  # type: ignore[no-untyped-def]
    from sakskydd.vetting import services
    from sakskydd.vetting.models import VettingCase
    from sakskydd.vetting.rules import add_years

    operator = make_operator()
    chef = person(app, operator, "chef_v", roles=[(Role.CHEF, operator)])
    samordnare = person(app, operator, "samordnare_v")
    ersattare = person(app, operator, "ersattare_v")
    upphandlare = person(app, operator, "upphandlare_v")
    unit = make_unit(operator, "Socialnämnden Hemlig")
    grant(samordnare, Role.SAMORDNARE, unit)
    grant(ersattare, Role.ERSATTARE, unit)
    grant(upphandlare, Role.UPPHANDLARE, unit)
    covered(
        unit, samordnare, (samordnare, AppointmentRole.SAMORDNARE), (ersattare, AppointmentRole.ERSATTARE)
    )
    approved(unit, samordnare, TODAY - dt.timedelta(days=30), TODAY.year - 1)  # no analysis reminder
    other_operator = make_operator()
    neighbour = person(app, other_operator, "samordnare_x")
    neighbour_ersattare = person(app, other_operator, "ersattare_x")
    other_unit = make_unit(other_operator, "Grannämnden Hemlig")
    grant(neighbour, Role.SAMORDNARE, other_unit)
    grant(neighbour_ersattare, Role.ERSATTARE, other_unit, AssignmentStatus.REVOKED)
    covered(
        other_unit,
        neighbour,
        (neighbour, AppointmentRole.SAMORDNARE),
        (neighbour_ersattare, AppointmentRole.ERSATTARE),
    )
    approved(other_unit, neighbour, TODAY - dt.timedelta(days=30), TODAY.year - 1)
    db.commit()
    a, b = samordnare.user, ersattare.user

    # Omkontroll: checked five years before RUN + 20 days (klass 2: every fifth year).
    checked_on = add_years(RUN + dt.timedelta(days=20), -5)
    recheck = _vetting_case(
        a, unit, "klass_2", "Hemlig befattning Omkontroll", "Testa Omkontrollsson", checked_on=checked_on
    )
    _decide(a, recheck, checked_on)
    _confirm(b, recheck)

    # Avanmälan: approved, the person left; the case stays open until the avanmälan.
    deregistration = _vetting_case(
        a, unit, "klass_3", "Hemlig befattning Avanmälan", "Testa Avanmälsson", checked_on=TODAY
    )
    _decide(b, deregistration, TODAY)
    _confirm(a, deregistration)
    left_on = TODAY - dt.timedelta(days=3)
    assert not services.end_case(
        a,
        deregistration,
        left_on=left_on,
        deregistered_on=None,
        reference=None,
        version=deregistration.version,
    )

    # Two beslut waiting for the second person.
    by_a = _vetting_case(
        a, unit, "klass_3", "Hemlig befattning Väntar A", "Testa Väntesson", checked_on=TODAY
    )
    _decide(a, by_a, TODAY - dt.timedelta(days=2))
    by_b = _vetting_case(
        b, unit, "utan_placering", "Hemlig befattning Väntar B", "Testa Beslutsdotter", checked_on=TODAY
    )
    _decide(b, by_b, TODAY)

    # Anonymised: would be an overdue omkontroll otherwise.
    anonymised = _vetting_case(
        a,
        unit,
        "klass_1",
        "Hemlig befattning Anonym",
        "Testa Anonymsson",
        checked_on=TODAY - dt.timedelta(days=3000),
    )
    _decide(a, anonymised, TODAY - dt.timedelta(days=3000))
    _confirm(b, anonymised)

    # Closed at once when the person left (no registerkontroll to avanmäla): nothing due.
    closed = _vetting_case(
        a, unit, "utan_placering", "Hemlig befattning Slut", "Testa Slutsson", checked_on=TODAY
    )
    assert services.end_case(
        a, closed, left_on=TODAY, deregistered_on=None, reference=None, version=closed.version
    )

    # The other unit: in progress with the registerkontroll requested, the person left.
    neighbours = services.open_case(
        neighbour.user,
        other_unit,
        position_id=_vetting_position(neighbour.user, other_unit, "klass_2", "Hemlig befattning Grannen").id,
        person_name="Testa Grannsson",
        personnummer=PNR,
    )
    for step in neighbours.steps[:7]:  # identity … registerkontroll requested (klass 2 order)
        services.update_step(
            neighbour.user,
            neighbours,
            step,
            done=True,
            done_on=TODAY - dt.timedelta(days=20),
            reference="Dnr 2",
            control_reason="placering" if step.kind.value == "registerkontroll_begard" else None,
            version=step.version,
        )
    assert services.needs_deregistration(neighbours)
    assert not services.end_case(
        neighbour.user,
        neighbours,
        left_on=TODAY - dt.timedelta(days=1),
        deregistered_on=None,
        reference=None,
        version=neighbours.version,
    )
    db.commit()
    # The retention run destroys the personal data of closed cases; this one is marked
    # anonymised while still approved, to show the mark alone keeps it off every list.
    row = db.get(VettingCase, anonymised.id)
    row.person_name_ct = row.personnummer_ct = row.pnr_index = None
    row.anonymised_on = TODAY
    db.commit()
    return VettingWorld(
        samordnare=samordnare,
        ersattare=ersattare,
        chef=chef,
        upphandlare=upphandlare,
        neighbour=neighbour,
        recheck=recheck.id,
        checked_on=checked_on,
        recheck_due=add_years(checked_on, 5),  # RUN + 20 days (19 when that is a 29 February)
        deregistration=deregistration.id,
        left_on=left_on,
        decided_by_a=by_a.id,
        decided_by_b=by_b.id,
        anonymised=anonymised.id,
        neighbours=neighbours.id,
    )


def test_vetting_reminders_go_to_the_units_coordinators_without_names(app, smtp, vetting_world):  # type: ignore[no-untyped-def]
    """The samordnare and ersättare get the omkontroll and the overdue avanmälan, each the
    beslut the other took to confirm; the chef and the upphandlare nothing (the chef sees
    counts elsewhere, never people); the other unit's samordnare only its own avanmälan; no
    name, personnummer, position title or unit name in any e-mail; a second run sends nothing."""
    from sakskydd.notifications.reminders import send_reminders

    w = vetting_world
    users = {
        name: getattr(w, name).id for name in ("samordnare", "ersattare", "chef", "upphandlare", "neighbour")
    }
    cases = {
        name: str(getattr(w, name))
        for name in ("recheck", "deregistration", "decided_by_a", "decided_by_b", "anonymised", "neighbours")
    }
    app.config["SAKSKYDD_SETTINGS"].followup_due = (RUN.month, RUN.day)  # a lead reminder on RUN
    result = send_reminders(RUN)
    # Seven vetting items and the year's follow-up for each of the three coordinators.
    assert (result.sent, result.mails, result.failed) == (10, 3, 0)
    assert sorted(r for rcpts in smtp.envelopes for r in rcpts) == [
        "ersattare_v@example.se",
        "samordnare_v@example.se",
        "samordnare_x@example.se",
    ]
    for message in smtp.messages:
        text = body(message)
        for secret in VETTING_SECRETS:
            assert secret not in text, (message["To"], secret)

    recheck = (
        f"En person i säkerhetsklass 2 ska omkontrolleras (förnyad registerkontroll) senast {w.recheck_due}."
    )
    deregistration = (
        f"FÖRSENAD: Registerkontrollen för en person som lämnat sin befattning ({w.left_on}) ska avanmälas "
        f"senast {w.left_on + dt.timedelta(days=7)}."
    )
    confirm_a = (
        f"Ett beslut i en säkerhetsprövning (fattat {TODAY - dt.timedelta(days=2)}) väntar på din "
        f"bekräftelse, senast {TODAY + dt.timedelta(days=12)}."
    )
    confirm_b = (
        f"Ett beslut i en säkerhetsprövning (fattat {TODAY}) väntar på din bekräftelse, senast "
        f"{TODAY + dt.timedelta(days=14)}."
    )
    links = {name: expected_link(app, "vetting.case", case_id=case_id) for name, case_id in cases.items()}

    (message,) = smtp.to("samordnare_v@example.se")
    text = body(message)
    assert "om 4 uppgifter som väntar på dig" in text
    for line in (recheck, deregistration, confirm_b, f"{FOLLOWUP} {RUN}."):
        assert line in text, line
    assert confirm_a not in text  # her own beslut
    assert links["recheck"] in text and links["deregistration"] in text

    (message,) = smtp.to("ersattare_v@example.se")
    text = body(message)
    assert "om 4 uppgifter som väntar på dig" in text
    for line in (recheck, deregistration, confirm_a, f"{FOLLOWUP} {RUN}."):
        assert line in text, line
    assert confirm_b not in text  # his own beslut

    (message,) = smtp.to("samordnare_x@example.se")
    text = body(message)
    neighbour_left = TODAY - dt.timedelta(days=1)
    assert (
        f"FÖRSENAD: Registerkontrollen för en person som lämnat sin befattning ({neighbour_left}) ska "
        f"avanmälas senast {neighbour_left + dt.timedelta(days=7)}."
    ) in text
    for line in (recheck, deregistration, confirm_a, confirm_b):
        assert line not in text, line
    assert links["neighbours"] in text

    assert not smtp.to("chef_v@example.se") and not smtp.to("upphandlare_v@example.se")

    db.expire_all()
    sent = {
        (row.user_id, row.kind, row.subject_id, row.stage.split(":")[0])
        for row in db.scalars(select(SentReminder))
        if row.kind in VETTING_KINDS
    }
    a, b = users["samordnare"], users["ersattare"]
    assert sent == {
        (a, "vetting_recheck", cases["recheck"], "lead"),
        (b, "vetting_recheck", cases["recheck"], "lead"),
        (a, "vetting_deregistration", cases["deregistration"], "overdue"),
        (b, "vetting_deregistration", cases["deregistration"], "overdue"),
        (a, "vetting_confirm", cases["decided_by_b"], "lead"),
        (b, "vetting_confirm", cases["decided_by_a"], "lead"),
        (users["neighbour"], "vetting_deregistration", cases["neighbours"], "overdue"),
    }

    again = send_reminders(RUN)
    assert (again.sent, again.mails) == (0, 0)
    assert len(smtp.messages) == 3


def test_the_samordnare_lists_the_three_vetting_kinds_and_nothing_of_an_anonymised_case(app, vetting_world):  # type: ignore[no-untyped-def]
    from sakskydd.deadlines import ItemKind, due_items_for_user
    from sakskydd.vetting.models import VettingCase

    w = vetting_world
    vetting = {ItemKind.VETTING_RECHECK, ItemKind.VETTING_DEREGISTRATION, ItemKind.VETTING_CONFIRM}

    def listed(who) -> dict[tuple[ItemKind, uuid.UUID], tuple[dt.date, bool]]:  # type: ignore[no-untyped-def]
        return {
            (item.kind, item.subject_id): (item.due_on, item.overdue)
            for item in due_items_for_user(who.user, RUN)
            if item.kind in vetting
        }

    assert listed(w.samordnare) == {
        (ItemKind.VETTING_RECHECK, w.recheck): (w.recheck_due, False),
        (ItemKind.VETTING_DEREGISTRATION, w.deregistration): (TODAY + dt.timedelta(days=4), True),
        (ItemKind.VETTING_CONFIRM, w.decided_by_b): (TODAY + dt.timedelta(days=14), False),
    }
    items = [i for i in due_items_for_user(w.samordnare.user, RUN) if i.kind in vetting]
    recheck = next(i for i in items if i.kind == ItemKind.VETTING_RECHECK)
    assert recheck.params == {
        "position": "Hemlig befattning Omkontroll",
        "klass": "klass_2",
        "unit": "Socialnämnden Hemlig",
        "checked_on": w.checked_on.isoformat(),
    }
    assert recheck.vetting_case_id == w.recheck
    assert listed(w.ersattare) == {
        (ItemKind.VETTING_RECHECK, w.recheck): (w.recheck_due, False),
        (ItemKind.VETTING_DEREGISTRATION, w.deregistration): (TODAY + dt.timedelta(days=4), True),
        (ItemKind.VETTING_CONFIRM, w.decided_by_a): (TODAY + dt.timedelta(days=12), False),
    }
    assert listed(w.chef) == {} and listed(w.upphandlare) == {}
    assert listed(w.neighbour) == {
        (ItemKind.VETTING_DEREGISTRATION, w.neighbours): (TODAY + dt.timedelta(days=6), True)
    }

    # The anonymised case is left out for its mark alone: without it, it is an overdue omkontroll.
    row = db.get(VettingCase, w.anonymised)
    row.anonymised_on = None
    db.commit()
    assert listed(w.samordnare)[(ItemKind.VETTING_RECHECK, w.anonymised)][1] is True


def test_the_to_do_list_spells_the_vetting_texts_and_class_labels(app):  # type: ignore[no-untyped-def]
    """_todo.html spells the class labels inline: they must be sakskydd.vetting.rules.CLASS_LABELS."""
    from sakskydd.deadlines import Rules as DeadlineRules
    from sakskydd.deadlines import VettingCaseFacts, vetting_case_items
    from sakskydd.vetting.models import CaseStatus
    from sakskydd.vetting.rules import CLASS_LABELS, SecurityClass
    from sakskydd.web.views import TodoRow

    day = dt.date(2027, 6, 15)
    rows = []
    for klass in SecurityClass:
        facts = VettingCaseFacts(
            case_id=uuid.uuid4(),
            unit_id=uuid.uuid4(),
            status=CaseStatus.APPROVED,
            security_class=klass,
            checked_on=dt.date(2022, 6, 1),
            position_title="Drifttekniker",
            unit_name="Kulturnämnden",
        )
        rows += [TodoRow(item, None, None) for item in vetting_case_items(facts, day, DeadlineRules())]
    gone = VettingCaseFacts(
        case_id=uuid.uuid4(),
        unit_id=uuid.uuid4(),
        status=CaseStatus.DECIDED,
        security_class=SecurityClass.CLASS_3,
        left_on=dt.date(2027, 6, 10),
        decided_on=dt.date(2027, 6, 1),
        register_check_requested=True,
        position_title="Vaktmästare",
        unit_name="Kulturnämnden",
    )
    rows += [TodoRow(item, None, None) for item in vetting_case_items(gone, day, DeadlineRules())]
    with app.test_request_context():
        html = app.jinja_env.get_template("main/_todo.html").render(todo=rows)
    text = " ".join(html.split())
    for klass in (SecurityClass.CLASS_1, SecurityClass.CLASS_2):
        assert (
            "Gör omkontroll (förnyad registerkontroll) för en person i befattningen ”Drifttekniker” "
            f"({CLASS_LABELS[klass]}) vid Kulturnämnden"
        ) in text
    assert text.count("Gör omkontroll") == 2  # klass 3 and without placement have none
    assert (
        "Avanmäl registerkontrollen för en person som lämnat befattningen ”Vaktmästare” vid "
        "Kulturnämnden, lämnade 2027-06-10"
    ) in text
    assert (
        "Bekräfta eller återförvisa beslutet i en säkerhetsprövning för befattningen ”Vaktmästare” vid "
        "Kulturnämnden, fattat 2027-06-01"
    ) in text
    # Every class label of the rules is spelled in the template, word for word.
    source = app.jinja_env.loader.get_source(app.jinja_env, "main/_todo.html")[0]
    for value, label in CLASS_LABELS.items():
        assert f"'{value}': '{label}'" in source


def test_vetting_items_take_one_statement_whatever_the_number_of_units(app):  # type: ignore[no-untyped-def]
    """due_items_for_user stays within seven statements with vetting cases in 2 or 6 units (six
    without any), also up to a horizon and with the later items counted, and vetting_items is
    one statement for any scope."""
    from factories import count_statements

    from sakskydd.deadlines import ItemKind, Rules, due_items_for_user, due_list_for_user, vetting_items
    from sakskydd.organisations.scope import coordinated_unit_ids
    from sakskydd.vetting.models import CaseStatus, Position, VettingCase
    from sakskydd.vetting.rules import SecurityClass

    counts = []
    for size in (2, 6):
        operator = make_operator()
        decider = person(app, operator, f"beslutare_{size}")
        coordinator = person(app, operator, f"samordnare_{size}")
        units = [make_unit(operator) for _ in range(size)]
        for unit in units:
            grant(coordinator, Role.SAMORDNARE, unit)
            grant(decider, Role.SAMORDNARE, unit)
            covered(
                unit,
                coordinator,
                (coordinator, AppointmentRole.SAMORDNARE),
                (decider, AppointmentRole.ERSATTARE),
            )
        db.commit()
        assert coordinator.user.username  # loaded: only due_items_for_user's statements count
        with count_statements(app) as statements:
            without = due_items_for_user(coordinator.user, TODAY)
        db.rollback()
        baseline = len([s for s in statements if not s.startswith("BEGIN")])
        assert not any(i.kind.value in VETTING_KINDS for i in without)
        for unit in units:
            position = Position(
                unit_id=unit.id,
                title="Befattning",
                security_class=SecurityClass.CLASS_2,
                decided_on=TODAY - dt.timedelta(days=100),
                decided_by="Kommunstyrelsen",
                reference="KS 1",
                created_by_id=decider.id,
            )
            db.add(position)
            db.flush()
            db.add(
                VettingCase(
                    id=uuid.uuid4(),
                    unit_id=unit.id,
                    position_id=position.id,
                    security_class=SecurityClass.CLASS_2,
                    status=CaseStatus.DECIDED,
                    decided_on=TODAY,
                    decided_by_id=decider.id,
                    created_by_id=decider.id,
                )
            )
        db.commit()
        assert coordinator.user.username
        with count_statements(app) as statements:
            items = due_items_for_user(coordinator.user, TODAY)
        db.rollback()
        assert [i.kind for i in items].count(ItemKind.VETTING_CONFIRM) == size
        counts.append(len([s for s in statements if not s.startswith("BEGIN")]))
        assert counts[-1] == baseline + 1 <= 7, (baseline, counts)
        # Up to a horizon (as the reminders run and the home page ask), with the later items
        # counted or not: the same statements, the same items due by then.
        for horizon in (TODAY - dt.timedelta(days=1), TODAY + dt.timedelta(days=30)):
            assert coordinator.user.username
            with count_statements(app) as statements:
                upto = due_items_for_user(coordinator.user, TODAY, horizon=horizon)
            db.rollback()
            assert upto == [i for i in items if i.due_on <= horizon]
            assert len([s for s in statements if not s.startswith("BEGIN")]) == counts[-1]
            assert coordinator.user.username
            with count_statements(app) as statements:
                listed = due_list_for_user(coordinator.user, TODAY, horizon)
            db.rollback()
            assert (listed.items, listed.later) == (upto, len(items) - len(upto))
            assert len([s for s in statements if not s.startswith("BEGIN")]) == counts[-1]
        decider_id = decider.user.id
        with count_statements(app) as statements:
            direct = vetting_items(coordinated_unit_ids(decider_id), TODAY, Rules(), user_id=decider_id)
        db.rollback()
        assert direct == [] and len([s for s in statements if not s.startswith("BEGIN")]) == 1
        everyone = vetting_items(coordinated_unit_ids(decider_id), TODAY, Rules())  # e.g. for counts
        assert sorted(i.unit_id for i in everyone) == sorted(u.id for u in units)
    assert counts[0] == counts[1], counts
