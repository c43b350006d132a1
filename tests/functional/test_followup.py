"""The yearly follow-up through the test client and the services: what the registers prefill,
the workflow (open → answer → submit → return → resubmit → review), validation, stale versions,
questionnaire versions, who reaches which page (foreign → 404, wrong role → 403), the
separation of duties, audit events without comment text, and the chef's overview's statement
count."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import uuid

import pytest
from factories import (
    Person,
    count_statements,
    csrf_token,
    make_operator,
    make_unit,
    make_user,
    session_cookie,
)
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from sakskydd.accounts.models import AssignmentStatus, Role, RoleAssignment
from sakskydd.analyses.models import AnalysisStatus, Measure, MeasureArea, MeasureStatus, SecurityAnalysis
from sakskydd.assets.models import AssetStatus, AssetType, ProtectedAsset
from sakskydd.audit.models import AuditEvent
from sakskydd.classification import DamageLevel
from sakskydd.deadlines import Rules, local_today
from sakskydd.extensions import db
from sakskydd.followup import questions, services
from sakskydd.followup.models import AnnualFollowUp, Answer, FollowUpQuestionnaire, FollowUpStatus
from sakskydd.organisations.models import (
    Applicability,
    ApplicabilityAssessment,
    Appointment,
    AppointmentRole,
    OperatorKind,
    OrgUnit,
)

pytestmark = pytest.mark.db

TODAY = local_today()
SECRET_COMMENT = "Hemlig kommentar om serverrummet 4711"


def days(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


def moment(n_days: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(days=n_days)


def assess(unit: OrgUnit, recorder: Person, outcome: Applicability = Applicability.YES) -> None:
    db.add(
        ApplicabilityAssessment(
            unit_id=unit.id,
            outcome=outcome,
            decided_on=days(-400),
            decided_by="Nämnden",
            attested=True,
            recorded_by_id=recorder.id,
        )
    )


def appoint(unit: OrgUnit, person: Person, role: AppointmentRole) -> None:
    db.add(
        Appointment(
            unit_id=unit.id, user_id=person.id, role=role, starts_on=days(-300), recorded_by_id=person.id
        )
    )


def asset(unit: OrgUnit, author: Person, kind: AssetType, *, assessed: bool = False, **extra: object) -> None:
    db.add(
        ProtectedAsset(
            unit_id=unit.id,
            type=kind,
            name=f"Objekt {uuid.uuid4().hex[:6]}",
            damage_level=DamageLevel.MINOR,
            owner="IT-chef",
            created_by_id=author.id,
            risk_assessed_on=days(-20) if assessed else None,
            **extra,
        )
    )


def approved_plan(unit: OrgUnit, author: Person) -> SecurityAnalysis:
    """Last year's approved analysis (decided 100 days ago) with one done, one overdue and one
    coming measure."""
    row = SecurityAnalysis(
        unit_id=unit.id,
        cycle_year=TODAY.year - 1,
        title="Analys",
        status=AnalysisStatus.APPROVED,
        created_by_id=author.id,
        decided_at=moment(-100),
    )
    db.add(row)
    db.flush()
    for due, status in ((days(-30), MeasureStatus.DONE), (days(-3), MeasureStatus.PLANNED), (days(40), None)):
        db.add(
            Measure(
                analysis_id=row.id,
                unit_id=unit.id,
                area=MeasureArea.PHYSICAL,
                title="Åtgärd",
                responsible_function="Fastighetschef",
                due_on=due,
                status=status or MeasureStatus.IN_PROGRESS,
                attested=True,
            )
        )
    return row


class World:
    def __init__(self, app: Flask) -> None:
        self.operator = make_operator()
        self.bolag = make_operator(
            f"Bolag {uuid.uuid4().hex[:6]}", kind=OperatorKind.BOLAG, parent=self.operator
        )
        self.foreign = make_operator()
        self.unit = make_unit(self.operator, "Kulturnämnden")
        self.other_unit = make_unit(self.operator, "Idrottsnämnden")
        self.bolag_unit = make_unit(self.bolag, "Bolagets verksamhet")
        self.foreign_unit = make_unit(self.foreign, "Främmande nämnd")
        self.samordnare = make_user(app, self.operator, roles=[(Role.SAMORDNARE, self.unit)])
        self.ersattare = make_user(app, self.operator, roles=[(Role.ERSATTARE, self.unit)])
        self.chef = make_user(app, self.operator, roles=[(Role.CHEF, self.operator)])
        self.bolag_chef = make_user(app, self.bolag, roles=[(Role.CHEF, self.bolag)])
        self.bolag_samordnare = make_user(app, self.bolag, roles=[(Role.SAMORDNARE, self.bolag_unit)])
        self.foreign_chef = make_user(app, self.foreign, roles=[(Role.CHEF, self.foreign)])
        self.upphandlare = make_user(app, self.operator, roles=[(Role.UPPHANDLARE, self.unit)])
        self.stranger = make_user(app, self.operator, roles=[(Role.SAMORDNARE, self.other_unit)])
        for unit, person in ((self.unit, self.samordnare), (self.bolag_unit, self.bolag_samordnare)):
            assess(unit, person)
            appoint(unit, person, AppointmentRole.SAMORDNARE)
        assess(self.other_unit, self.stranger, Applicability.NO)
        db.commit()
        db.close()


@pytest.fixture
def world(app: Flask) -> World:
    return World(app)


def _client(app: Flask, person: Person) -> FlaskClient:
    db.close()
    client = app.test_client()
    session_cookie(client, app, person, fresh=True)
    return client


def _post(client: FlaskClient, path: str, data: dict[str, object] | None = None):  # type: ignore[no-untyped-def]
    return client.post(path, data={"csrf_token": csrf_token(client, "/"), **(data or {})})


def _page(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


def _open(app: Flask, world: World) -> str:
    client = _client(app, world.samordnare)
    response = _post(client, f"/enheter/{world.unit.id}/uppfoljning/oppna")
    assert response.status_code == 303, _page(response)[:400]
    return response.headers["Location"].rsplit("/", 1)[-1]


def _followup(followup_id: str) -> AnnualFollowUp:
    db.expire_all()
    row = db.scalar(
        select(AnnualFollowUp)
        .where(AnnualFollowUp.id == uuid.UUID(followup_id))
        .options(selectinload(AnnualFollowUp.answers))
    )
    assert row is not None
    return row


def _answers(row: AnnualFollowUp, answer: str = "ja", **comments: str) -> dict[str, object]:
    data: dict[str, object] = {"version": row.version}
    for a in row.answers:
        data[f"answer_{a.position}"] = answer
        if f"c{a.position}" in comments:
            data[f"comment_{a.position}"] = comments[f"c{a.position}"]
    return data


# --- prefill --------------------------------------------------------------------------------


def test_prefill_states_what_the_registers_know(app: Flask, world: World) -> None:
    unit, author = world.unit, world.samordnare
    appoint(unit, world.ersattare, AppointmentRole.ERSATTARE)
    approved_plan(unit, author)
    asset(unit, author, AssetType.SYSTEM, assessed=True)
    asset(unit, author, AssetType.SYSTEM)
    asset(unit, author, AssetType.PREMISES, status=AssetStatus.PROTECTED)
    asset(unit, author, AssetType.INFORMATION, is_archived=True)
    db.commit()
    facts = questions.prefill([unit.id, world.other_unit.id], TODAY, Rules())
    mine = facts[unit.id]
    assert mine[questions.APPLICABILITY].suggested == Answer.YES
    assert days(-400).isoformat() in mine[questions.APPLICABILITY].text
    assert mine[questions.COORDINATORS].suggested == Answer.YES
    assert mine[questions.PROTECTED_PARTS].text.startswith("3 objekt")
    assert "varav 1 skyddsvärda" in mine[questions.PROTECTED_PARTS].text
    assert mine[questions.ANALYSIS].suggested == Answer.YES  # approved 100 days ago, interval 12 months
    assert "3 åtgärder: 1 klara, 2 planerade eller pågående (varav 1 försenade)" in mine[questions.PLAN].text
    assert mine[questions.PLAN].suggested == Answer.PARTLY
    assert mine[questions.SYSTEMS].text.startswith("1 av 2")
    assert mine[questions.SYSTEMS].suggested == Answer.PARTLY
    assert mine[questions.SUA_REGISTER].suggested is None
    assert questions.TRAINING not in mine  # no vetting cases: answered by hand
    for fact in mine.values():
        assert len(fact.text) <= 300
        assert "Test Person" not in fact.text
    other = facts[world.other_unit.id]
    assert "omfattas inte" in other[questions.APPLICABILITY].text
    assert other[questions.COORDINATORS].suggested == Answer.NOT_APPLICABLE


def test_prefill_of_a_unit_without_anything(app: Flask, world: World) -> None:
    unit = make_unit(world.operator, "Ny nämnd")
    db.commit()
    mine = questions.prefill([unit.id], TODAY, Rules())[unit.id]
    assert mine[questions.APPLICABILITY].suggested == Answer.NO
    assert "Ingen bedömning" in mine[questions.APPLICABILITY].text
    assert mine[questions.PROTECTED_PARTS].text == "Registret över skyddsvärda objekt är tomt."
    assert questions.SYSTEMS not in mine


def test_prefill_statements_do_not_grow_with_units(app: Flask, world: World) -> None:
    counts = []
    for size in (2, 12):
        units = [make_unit(world.operator) for _ in range(size)]
        for unit in units:
            assess(unit, world.samordnare)
            approved_plan(unit, world.samordnare)
            asset(unit, world.samordnare, AssetType.SYSTEM)
        db.commit()
        with count_statements(app) as statements:
            facts = questions.prefill([u.id for u in units], TODAY, Rules())
        assert len(facts) == size
        counts.append(len([s for s in statements if not s.startswith("BEGIN")]))
    assert counts[0] == counts[1] <= 5, counts


# --- the workflow ---------------------------------------------------------------------------


def test_open_answer_submit_return_resubmit_review(app: Flask, world: World) -> None:
    followup_id = _open(app, world)
    row = _followup(followup_id)
    assert row.status == FollowUpStatus.DRAFT
    assert row.year == TODAY.year
    assert row.due_on == dt.date(TODAY.year, 9, 15)
    assert [a.question_key for a in row.answers] == [key for key, _ in questions.BUILTIN_QUESTIONS]
    assert row.answers[0].prefill and row.answers[0].suggested == Answer.YES

    samordnare = _client(app, world.samordnare)
    page = _page(samordnare.get(f"/uppfoljning/{followup_id}"))
    assert "Systemet vet:" in page and "Utkast" in page

    # Opening twice is refused.
    response = _post(samordnare, f"/enheter/{world.unit.id}/uppfoljning/oppna")
    assert response.status_code == 303
    assert len(list(db.scalars(select(AnnualFollowUp).where(AnnualFollowUp.unit_id == world.unit.id)))) == 1

    # Submitting with unanswered questions is refused with the question numbers.
    response = _post(
        samordnare, f"/uppfoljning/{followup_id}/skicka-in", {"version": row.version, "confirmed": "y"}
    )
    assert response.status_code == 200
    assert "Obesvarade frågor" in _page(response)

    data = _answers(row, c1=SECRET_COMMENT)
    response = _post(samordnare, f"/uppfoljning/{followup_id}/svar", data)
    assert response.status_code == 200
    assert "Du måste intyga" in _page(response)
    response = _post(samordnare, f"/uppfoljning/{followup_id}/svar", {**data, "attested": "y"})
    assert response.status_code == 303
    row = _followup(followup_id)
    assert all(a.answer == Answer.YES for a in row.answers)
    assert row.answers[0].comment == SECRET_COMMENT

    # Without the confirmation nothing is submitted.
    response = _post(samordnare, f"/uppfoljning/{followup_id}/skicka-in", {"version": row.version})
    assert response.status_code == 200 and "Bekräfta att du vill skicka in" in _page(response)
    response = _post(
        samordnare, f"/uppfoljning/{followup_id}/skicka-in", {"version": row.version, "confirmed": "y"}
    )
    assert response.status_code == 303
    row = _followup(followup_id)
    assert row.status == FollowUpStatus.SUBMITTED and row.submitted_by_id == world.samordnare.id

    # No more answering once submitted.
    response = _post(
        samordnare, f"/uppfoljning/{followup_id}/svar", {**_answers(row, "nej"), "attested": "y"}
    )
    assert response.status_code == 303
    assert _followup(followup_id).answers[0].answer == Answer.YES

    chef = _client(app, world.chef)
    response = _post(
        chef, f"/uppfoljning/{followup_id}/granska", {"version": row.version, "decision": "aterremittera"}
    )
    assert response.status_code == 200 and "Skriv en kommentar" in _page(response)
    response = _post(
        chef,
        f"/uppfoljning/{followup_id}/granska",
        {
            "version": row.version,
            "decision": "aterremittera",
            "comment": SECRET_COMMENT,
            "chef_comment_2": SECRET_COMMENT,
            "attested": "y",
        },
    )
    assert response.status_code == 303
    row = _followup(followup_id)
    assert row.status == FollowUpStatus.RETURNED
    assert row.review_comment == SECRET_COMMENT and row.answers[1].chef_comment == SECRET_COMMENT

    # Editable again; resubmitted; reviewed.
    response = _post(
        samordnare, f"/uppfoljning/{followup_id}/svar", {**_answers(row, "delvis"), "attested": "y"}
    )
    assert response.status_code == 303
    row = _followup(followup_id)
    response = _post(
        samordnare, f"/uppfoljning/{followup_id}/skicka-in", {"version": row.version, "confirmed": "y"}
    )
    assert response.status_code == 303
    row = _followup(followup_id)
    response = _post(
        chef, f"/uppfoljning/{followup_id}/granska", {"version": row.version, "decision": "granskad"}
    )
    assert response.status_code == 303
    row = _followup(followup_id)
    assert row.status == FollowUpStatus.REVIEWED and row.reviewed_by_id == world.chef.id

    page = _page(chef.get(f"/uppfoljning/{followup_id}"))
    for step in ("Öppnad", "Inskickad", "Återremitterad", "Granskad"):
        assert f"<td>{step}</td>" in page

    events = list(
        db.scalars(select(AuditEvent).where(AuditEvent.target_id == followup_id).order_by(AuditEvent.seq))
    )
    tags = [e.event for e in events]
    for tag in (
        "followup.opened",
        "followup.answered",
        "followup.submitted",
        "followup.returned",
        "followup.reviewed",
    ):
        assert tag in tags
    assert tags.count("followup.submitted") == 2
    everything = " ".join(e.payload for e in db.scalars(select(AuditEvent)))
    assert SECRET_COMMENT not in everything
    assert "serverrummet" not in everything
    returned = next(json.loads(e.payload) for e in events if e.event == "followup.returned")
    assert "review_comment" in json.dumps(returned)


def test_the_pages_that_show_the_comments_are_audited_reads(app: Flask, world: World) -> None:
    """The follow-up page, the answer form and the review form show decrypted comments: each GET is
    a followup.read with the view; the submit page, which shows none, is not."""
    followup_id = _open(app, world)
    samordnare = _client(app, world.samordnare)
    for path in ("", "/svar", "/skicka-in"):
        assert samordnare.get(f"/uppfoljning/{followup_id}{path}").status_code == 200, path
    row = _followup(followup_id)
    data = {**_answers(row), "attested": "y"}
    assert _post(samordnare, f"/uppfoljning/{followup_id}/svar", data).status_code == 303
    row = _followup(followup_id)
    submitted = _post(
        samordnare, f"/uppfoljning/{followup_id}/skicka-in", {"version": row.version, "confirmed": "y"}
    )
    assert submitted.status_code == 303
    assert _client(app, world.chef).get(f"/uppfoljning/{followup_id}/granska").status_code == 200
    db.close()
    reads = list(
        db.scalars(
            select(AuditEvent)
            .where(AuditEvent.event == "followup.read", AuditEvent.target_id == followup_id)
            .order_by(AuditEvent.seq)
        )
    )
    assert [(e.actor_id, json.loads(e.payload)["detail"]["view"]) for e in reads] == [
        (world.samordnare.id, "detail"),
        (world.samordnare.id, "answer"),
        (world.chef.id, "review"),
    ]
    assert all(json.loads(e.payload)["detail"]["year"] == TODAY.year for e in reads)
    assert all(e.unit_id == world.unit.id for e in reads)


def test_a_stale_answer_form_is_a_conflict(app: Flask, world: World) -> None:
    followup_id = _open(app, world)
    row = _followup(followup_id)
    first = _client(app, world.samordnare)
    second = _client(app, world.ersattare)
    assert _post(first, f"/uppfoljning/{followup_id}/svar", _answers(row, "ja")).status_code == 303
    response = _post(second, f"/uppfoljning/{followup_id}/svar", _answers(row, "nej"))
    assert response.status_code == 409
    assert "Någon annan har ändrat" in _page(response)
    assert _followup(followup_id).answers[0].answer == Answer.YES


def test_a_chef_who_submitted_cannot_review(app: Flask, world: World) -> None:
    # The chef is also the unit's samordnare and submits; reviewing is refused.
    db.add(
        RoleAssignment(
            user_id=world.chef.id, role=Role.SAMORDNARE, unit_id=world.unit.id, status=AssignmentStatus.ACTIVE
        )
    )
    db.commit()
    followup_id = _open(app, world)
    row = _followup(followup_id)
    chef = _client(app, world.chef)
    assert _post(chef, f"/uppfoljning/{followup_id}/svar", _answers(row)).status_code == 303
    row = _followup(followup_id)
    response = _post(
        chef, f"/uppfoljning/{followup_id}/skicka-in", {"version": row.version, "confirmed": "y"}
    )
    assert response.status_code == 303
    row = _followup(followup_id)
    response = _post(
        chef, f"/uppfoljning/{followup_id}/granska", {"version": row.version, "decision": "granskad"}
    )
    assert response.status_code == 403
    assert _followup(followup_id).status == FollowUpStatus.SUBMITTED
    with app.test_request_context(), pytest.raises(services.OwnFollowUp):
        services.review_followup(
            row_user(world.chef),
            _followup(followup_id),
            comment=None,
            chef_comments={},
            attested=False,
            ceiling=0,
            version=row.version,
        )
    db.rollback()


def row_user(person: Person):  # type: ignore[no-untyped-def]
    from sakskydd.accounts.models import User

    return db.get(User, person.id)


# --- the questionnaire ----------------------------------------------------------------------


def _editor_data(rows: list[tuple[str, str, bool]]) -> dict[str, object]:
    data: dict[str, object] = {}
    for i, (key, text, include) in enumerate(rows):
        data[f"rows-{i}-key"] = key
        data[f"rows-{i}-text"] = text
        if include:
            data[f"rows-{i}-include"] = "y"
    return data


def test_questionnaire_versions_and_a_followup_keeps_its_version(app: Flask, world: World) -> None:
    followup_id = _open(app, world)
    chef = _client(app, world.chef)
    path = f"/verksamhetsutovare/{world.operator.id}/uppfoljning/fragor"
    page = _page(chef.get(path))
    assert "grundfrågorna används" in page

    response = _post(chef, path, _editor_data([("", "", True)]))
    assert response.status_code == 200 and "minst en fråga" in _page(response)
    response = _post(chef, path, _editor_data([("okand", "Fråga?", True)]))
    assert "okänd nyckel" in _page(response)
    response = _post(chef, path, _editor_data([("", "Samma?", True), ("", "Samma?", True)]))
    assert "flera gånger" in _page(response)
    response = _post(chef, path, _editor_data([("", "x" * 301, True)]))
    assert response.status_code == 200 and "Högst 300 tecken" in _page(response)

    rows = [("analys", "Är analysen klar och inskickad?", True), ("utbildning", "Utbildning?", False)]
    rows.append(("", "Har ni övat på säkerhetsskyddet i år?", True))
    assert _post(chef, path, _editor_data(rows)).status_code == 303
    assert _post(chef, path, _editor_data(rows)).status_code == 303  # unchanged: no new version
    saved = list(
        db.scalars(
            select(FollowUpQuestionnaire).where(FollowUpQuestionnaire.operator_id == world.operator.id)
        )
    )
    assert [(q.version_no, q.questions) for q in saved] == [
        (
            1,
            [
                {"key": "analys", "text": "Är analysen klar och inskickad?"},
                {"key": None, "text": "Har ni övat på säkerhetsskyddet i år?"},
            ],
        )
    ]
    # The opened follow-up keeps the built-in questions.
    assert len(_followup(followup_id).answers) == len(questions.BUILTIN_QUESTIONS)
    assert "Version" in _page(chef.get(path))

    # A bolag without its own questionnaire uses the kommun's.
    client = _client(app, world.bolag_samordnare)
    response = _post(client, f"/enheter/{world.bolag_unit.id}/uppfoljning/oppna")
    bolag_followup = _followup(response.headers["Location"].rsplit("/", 1)[-1])
    assert bolag_followup.questionnaire_version == 1
    assert [a.question_key for a in bolag_followup.answers] == ["analys", None]
    assert bolag_followup.answers[0].prefill  # a reworded built-in question keeps its prefill
    assert bolag_followup.answers[1].prefill is None

    events = [
        e for e in db.scalars(select(AuditEvent).where(AuditEvent.event == "followup.questionnaire_saved"))
    ]
    assert len(events) == 1 and "övat" not in events[0].payload


# --- who reaches what -----------------------------------------------------------------------


def test_routes_by_role_and_scope(app: Flask, world: World) -> None:
    followup_id = _open(app, world)
    unit, operator = world.unit.id, world.operator.id
    pages = {
        "list": f"/enheter/{unit}/uppfoljning",
        "detail": f"/uppfoljning/{followup_id}",
        "answer": f"/uppfoljning/{followup_id}/svar",
        "submit": f"/uppfoljning/{followup_id}/skicka-in",
        "review": f"/uppfoljning/{followup_id}/granska",
        "overview": f"/verksamhetsutovare/{operator}/uppfoljning",
        "questionnaire": f"/verksamhetsutovare/{operator}/uppfoljning/fragor",
    }
    # list, detail, answer, submit, review, overview, questionnaire
    expected = {
        "samordnare": (200, 200, 200, 200, 403, 404, 404),
        "chef": (200, 200, 403, 403, 200, 200, 200),
        "bolag_chef": (404,) * 7,
        "foreign_chef": (404,) * 7,
        "stranger": (404,) * 7,
        "upphandlare": (404,) * 7,
    }
    for who, codes in expected.items():
        client = _client(app, getattr(world, who))
        got = {name: client.get(path).status_code for name, path in pages.items()}
        assert got == dict(zip(pages, codes, strict=True)), who
    # Opening: coordinators only; a chef is refused, a stranger does not find the unit.
    assert _post(_client(app, world.chef), f"/enheter/{unit}/uppfoljning/oppna").status_code == 403
    assert _post(_client(app, world.stranger), f"/enheter/{unit}/uppfoljning/oppna").status_code == 404
    assert (
        _post(_client(app, world.samordnare), f"/enheter/{world.other_unit.id}/uppfoljning/oppna").status_code
        == 404
    )
    # Unknown and malformed ids look the same.
    client = _client(app, world.chef)
    assert client.get(f"/uppfoljning/{uuid.uuid4()}").status_code == 404
    assert client.get("/uppfoljning/inte-ett-id").status_code == 404


def test_the_kommun_chef_reads_a_bolag_followup_but_only_its_chef_reviews(app: Flask, world: World) -> None:
    client = _client(app, world.bolag_samordnare)
    response = _post(client, f"/enheter/{world.bolag_unit.id}/uppfoljning/oppna")
    followup_id = response.headers["Location"].rsplit("/", 1)[-1]
    kommun_chef = _client(app, world.chef)
    assert kommun_chef.get(f"/uppfoljning/{followup_id}").status_code == 200
    assert kommun_chef.get(f"/uppfoljning/{followup_id}/granska").status_code == 403
    assert kommun_chef.get(f"/verksamhetsutovare/{world.bolag.id}/uppfoljning").status_code == 200
    assert kommun_chef.get(f"/verksamhetsutovare/{world.bolag.id}/uppfoljning/fragor").status_code == 403
    bolag_chef = _client(app, world.bolag_chef)
    assert bolag_chef.get(f"/uppfoljning/{followup_id}/granska").status_code == 200
    assert bolag_chef.get(f"/verksamhetsutovare/{world.bolag.id}/uppfoljning/fragor").status_code == 200


# --- the chef's overview --------------------------------------------------------------------


def test_overview_lists_covered_units_with_status_and_filter(app: Flask, world: World) -> None:
    _open(app, world)
    chef = _client(app, world.chef)
    page = _page(chef.get(f"/verksamhetsutovare/{world.operator.id}/uppfoljning"))
    assert "Kulturnämnden" in page and "Idrottsnämnden" not in page  # not covered
    assert "Bolagets verksamhet" not in page  # another operator's unit
    page = _page(chef.get(f"/verksamhetsutovare/{world.operator.id}/uppfoljning?status=inskickad"))
    assert "Inga enheter har den valda statusen." in page
    page = _page(chef.get(f"/verksamhetsutovare/{world.operator.id}/uppfoljning?ar={TODAY.year - 1}"))
    assert "Kulturnämnden" in page and "Inte öppnad" in page
    if dt.date(TODAY.year - 1, 9, 15) < TODAY:
        assert "Försenad" in page
    page = _page(chef.get(f"/verksamhetsutovare/{world.operator.id}/uppfoljning?ar=abc&status=<script>"))
    assert "<script>" not in page


def test_overview_statements_do_not_grow_with_units(app: Flask, world: World) -> None:
    counts = []
    for size in (3, 20):
        operator = make_operator()
        chef = make_user(app, operator, roles=[(Role.CHEF, operator)])
        author = make_user(app, operator)
        for _ in range(size):
            unit = make_unit(operator)
            assess(unit, author)
        db.commit()
        client = _client(app, chef)
        path = f"/verksamhetsutovare/{operator.id}/uppfoljning"
        assert client.get(path).status_code == 200
        with count_statements(app) as statements:
            response = client.get(path)
        assert response.status_code == 200
        assert len(re.findall(r"<th scope=\"row\">", response.get_data(as_text=True))) == size
        counts.append(len(statements))
    assert counts[0] == counts[1], counts


def test_the_unit_page_links_to_the_followups(app: Flask, world: World) -> None:
    page = _page(_client(app, world.samordnare).get(f"/enheter/{world.unit.id}"))
    assert f"/enheter/{world.unit.id}/uppfoljning" in page


def test_att_gora_shows_the_followup_to_answer_and_to_review(app: Flask, world: World) -> None:
    followup_id = _open(app, world)
    samordnare = _client(app, world.samordnare)
    page = _page(samordnare.get("/"))
    assert f"Besvara och skicka in den årliga uppföljningen {TODAY.year} för Kulturnämnden" in page
    assert f"/uppfoljning/{followup_id}" in page
    row = _followup(followup_id)
    assert _post(samordnare, f"/uppfoljning/{followup_id}/svar", _answers(row)).status_code == 303
    row = _followup(followup_id)
    data = {"version": row.version, "confirmed": "y"}
    assert _post(samordnare, f"/uppfoljning/{followup_id}/skicka-in", data).status_code == 303
    assert "årliga uppföljningen" not in _page(_client(app, world.samordnare).get("/"))
    page = _page(_client(app, world.chef).get("/"))
    assert f"Granska den årliga uppföljningen {TODAY.year} för Kulturnämnden" in page
