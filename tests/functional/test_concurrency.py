"""Races on one object (SECURITY.md "Logic and races", ASVS 15.4.2 and 15.4.3, issue 7).

Many requests on the same record are released together by a barrier, each from its own test
client (its own session cookie, request context and database connection), for several rounds:
exactly one wins (303, the state change and exactly one audit event of it), every other one gets
a clear conflict (409 with the "someone else has changed it" message, or the Swedish message that
the step is already taken), nothing of a loser is stored, and the audit chain still verifies with
a gapless seq. The same on SQLite and on PostgreSQL.

Covered: fastställa/återremittera an analysis, the second person's confirmation of a vetting
beslut, a holder's acknowledgement, a procurement's triage confirmation, the chef's review of a
yearly follow-up, editors saving one asset at the same version, audit appends from many threads,
double submits of creations (analysis, holder, vetting case, follow-up, role grant), the second
administrator's decision on a role and its revocation, and one activation link used at once.
The double submits and the activation race failed on PostgreSQL (duplicates, 500) until the
services serialised them (records.serialise_on; accounts.services.activate_account).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from factories import Person, csrf_token, make_operator, make_unit, make_user, session_cookie
from flask import Flask, current_app
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from sakskydd.accounts.models import AssignmentStatus, Role, RoleAssignment, User
from sakskydd.analyses import services as analyses
from sakskydd.analyses.models import AnalysisOutcome, AnalysisStatus, AnalysisTransition, SecurityAnalysis
from sakskydd.assets import services as assets
from sakskydd.assets.models import AssetHolder, AssetRevision, HolderNotice, ProtectedAsset
from sakskydd.audit import Event
from sakskydd.audit.models import AuditEvent, AuditHead
from sakskydd.deadlines import Rules, local_today
from sakskydd.extensions import db
from sakskydd.followup import services as followups
from sakskydd.followup.models import AnnualFollowUp, Answer, FollowUpStatus
from sakskydd.organisations.models import Appointment, OrgUnit
from sakskydd.procurements import services as procurements
from sakskydd.procurements.models import Procurement, ProcurementChange, ProcurementDuty, ProcurementStatus
from sakskydd.procurements.rules import Outcome, TriageAnswers, Where
from sakskydd.vetting import services as vetting
from sakskydd.vetting.models import CaseStatus, VettingCase, VettingChange
from sakskydd.vetting.rules import Decision, StepKind

pytestmark = pytest.mark.db

# SAKSKYDD_SOAK=1 (`make soak`): more contenders and many more rounds.
SOAK = os.environ.get("SAKSKYDD_SOAK", "") == "1"
CONTENDERS = 12 if SOAK else 6  # parallel requests per round
ROUNDS = 20 if SOAK else 3
SHORT_ROUNDS = 10 if SOAK else 2  # for the double submits and the account flows
TODAY = local_today()
STALE = "Någon annan har ändrat uppgifterna under tiden"
PNR = "19900101-0017"  # synthetic, checksum-valid


# --- the race ------------------------------------------------------------------------------------


def race(calls: Sequence[Callable[[], Any]]) -> list[Any]:
    """Run every call in its own thread, released together; return the results in order.

    A thread still running after the join timeout is a deadlock (or a lock never released) and
    fails the test instead of hanging it; an exception in any thread fails it too.
    """
    db.close()  # the test's own session must not hold a connection (SQLite: the write lock)
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=60)
            results[index] = calls[index]()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a racing request never finished (deadlock?)"
    assert not errors, errors
    return results


class Clients:
    """One signed-in test client per person and seat, each with its CSRF token (reused by rounds)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._seats: dict[tuple[uuid.UUID, int], tuple[FlaskClient, str]] = {}

    def get(self, person: Person, seat: int = 0) -> tuple[FlaskClient, str]:
        key = (person.id, seat)
        if key not in self._seats:
            client = self.app.test_client()
            session_cookie(client, self.app, person, fresh=True)
            self._seats[key] = (client, csrf_token(client, "/"))
            db.close()
        return self._seats[key]

    def post(
        self, person: Person, path: str, data: dict[str, Any], seat: int = 0
    ) -> Callable[[], TestResponse]:
        client, token = self.get(person, seat)
        return lambda: client.post(path, data={"csrf_token": token, **data})


def page(response: TestResponse) -> str:
    return html.unescape(response.get_data(as_text=True))


def the_winner(responses: Sequence[TestResponse], won: Callable[[TestResponse], bool] | None = None) -> int:
    """The index of the one response that carried out the change (a 303 unless `won` says)."""
    won = won or (lambda r: r.status_code == 303)
    winners = [i for i, response in enumerate(responses) if won(response)]
    assert len(winners) == 1, [(r.status_code, r.headers.get("Location")) for r in responses]
    return winners[0]


def assert_conflict(response: TestResponse, *already: str) -> None:
    """A loser: 409 with the stale-version message, or the form again with `already` (the step is
    taken). Never a 500, never a silent success."""
    text = page(response)
    if response.status_code == 409:
        assert STALE in text
    else:
        assert response.status_code == 200, (response.status_code, text[:500])
        assert any(message in text for message in already), text[:3000]


def race_one_winner(calls: Sequence[Callable[[], TestResponse]], *already: str) -> int:
    """Race the calls: exactly one carries out the change (a 303), every other is a conflict
    (assert_conflict with `already`). Returns the winner's index."""
    responses = race(calls)
    winner = the_winner(responses)
    for i, response in enumerate(responses):
        if i != winner:
            assert_conflict(response, *already)
    return winner


def events_of(tag: Event, target_id: uuid.UUID) -> list[dict[str, Any]]:
    db.close()
    payloads = db.scalars(
        select(AuditEvent.payload)
        .where(AuditEvent.event == tag.value, AuditEvent.target_id == str(target_id))
        .order_by(AuditEvent.seq)
    ).all()
    db.close()
    return [json.loads(p) for p in payloads]


def assert_chain_verifies(app: Flask) -> None:
    """A gapless seq up to the head, and `sakskydd audit verify` over the whole chain."""
    db.close()
    seqs = list(db.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
    head = db.scalar(select(AuditHead.seq))
    db.close()
    assert seqs == list(range(1, len(seqs) + 1)) and head == len(seqs)
    verified = app.test_cli_runner().invoke(args=["audit", "verify", "--jobs", "1"])
    assert verified.exit_code == 0, verified.output
    assert f"Granskningsloggen är hel: {len(seqs)} händelser" in verified.output


def people(app: Flask, operator: Any, count: int, roles: list[tuple[Role, Any]]) -> list[Person]:
    return [make_user(app, operator, roles=roles) for _ in range(count)]


def ceiling() -> int:
    return int(current_app.config["SAKSKYDD_SETTINGS"].max_classification)


# --- 1. a säkerhetsskyddsanalys fastställd by many chefs at once ---------------------------------------


def _submitted_analysis(author: Person, unit: OrgUnit) -> SecurityAnalysis:
    analysis = analyses.start_analysis(author.user, unit, cycle_year=TODAY.year, title="Analys", due_on=None)
    analyses.update_analysis(
        author.user,
        analysis,
        {"title": "Analys", "outcome": AnalysisOutcome.NOT_SENSITIVE},
        version=analysis.version,
        ceiling=ceiling(),
    )
    analyses.submit_analysis(author.user, analysis, version=analysis.version)
    db.commit()
    return analysis


def test_many_chefs_deciding_one_analysis_at_once_exactly_one_wins(app: Flask) -> None:
    operator = make_operator()
    units = [make_unit(operator) for _ in range(ROUNDS)]
    author = make_user(app, operator, roles=[(Role.SAMORDNARE, unit) for unit in units])
    chefs = people(app, operator, CONTENDERS, [(Role.CHEF, operator)])
    clients = Clients(app)
    for round_no, unit in enumerate(units):
        analysis = _submitted_analysis(author, unit)
        version, analysis_id = analysis.version, analysis.id
        # Round 0: everyone approves. Later rounds: half of them return it instead.
        returns = [round_no > 0 and i % 2 == 1 for i in range(CONTENDERS)]
        calls = [
            clients.post(
                chef,
                f"/analyser/{analysis_id}/{'aterremittera' if back else 'faststall'}",
                {"version": version, "comment": f"Kommentar {i}" if back else "", "attested": "y"},
            )
            for i, (chef, back) in enumerate(zip(chefs, returns, strict=True))
        ]
        winner = race_one_winner(calls, "någon kan redan ha beslutat om den")
        db.close()
        stored = db.get(SecurityAnalysis, analysis_id)
        assert stored is not None
        steps = db.scalars(
            select(AnalysisTransition).where(
                AnalysisTransition.analysis_id == analysis_id,
                AnalysisTransition.from_status == AnalysisStatus.SUBMITTED,
            )
        ).all()
        expected = AnalysisStatus.RETURNED if returns[winner] else AnalysisStatus.APPROVED
        assert stored.status == expected and stored.version == version + 1
        assert [(s.to_status, s.actor_id) for s in steps] == [(expected, chefs[winner].id)]
        if expected == AnalysisStatus.APPROVED:
            assert stored.decided_by_id == chefs[winner].id
        else:
            assert stored.decided_by_id is None and steps[0].comment == f"Kommentar {winner}"
        decided = [
            e for e in events_of(Event.ANALYSIS_TRANSITION, analysis_id) if e["detail"]["from"] == "inskickad"
        ]
        assert [e["detail"]["to"] for e in decided] == [expected.value]
        assert decided[0]["actor"]["user"] == str(chefs[winner].id)
    assert_chain_verifies(app)


# --- 2. the second person's confirmation of a vetting beslut (the two-person rule) -------------------


def _decided_case(decider: Person, unit: OrgUnit, title: str) -> VettingCase:
    position = vetting.create_position(
        decider.user,
        unit,
        {
            "title": title,
            "security_class": "klass_3",
            "decided_on": TODAY - dt.timedelta(days=30),
            "decided_by": "Kommunstyrelsen",
            "reference": "KS 2026/10",
            "government_reference": None,
            "analysis_id": None,
            "ended_on": None,
        },
    )
    case = vetting.open_case(
        decider.user, unit, position_id=position.id, person_name="Provperson Testsson", personnummer=PNR
    )
    for kind in vetting.rules.steps_for(case.security_class):
        if kind == StepKind.TRAINING:
            continue
        step = next(s for s in case.steps if s.kind == kind)
        vetting.update_step(
            decider.user,
            case,
            step,
            done=True,
            done_on=TODAY,
            reference="Dnr 1",
            control_reason="placering" if kind == StepKind.REGISTER_CHECK_REQUESTED else None,
            version=step.version,
        )
    vetting.decide(
        decider.user,
        case,
        decision=Decision.APPROVED.value,
        decided_on=TODAY,
        reference="Beslut 1",
        version=case.version,
    )
    db.commit()
    return case


def test_many_confirmations_of_one_vetting_decision_at_once_exactly_one_wins(app: Flask) -> None:
    operator = make_operator()
    unit = make_unit(operator)
    decider = make_user(app, operator, roles=[(Role.SAMORDNARE, unit)])
    confirmers = people(app, operator, CONTENDERS, [(Role.ERSATTARE, unit)])
    clients = Clients(app)
    for round_no in range(ROUNDS):
        case = _decided_case(decider, unit, f"Befattning {round_no}")
        case_id, version = case.id, case.version
        # Half confirm the beslut, half send it back: whoever is first decides, the rest are stale.
        # The one who took the beslut races too, and never confirms it (the two-person rule):
        # refused by the policy, or stale once someone sent it back.
        confirms = [i % 2 == 0 for i in range(CONTENDERS)]
        calls = [
            clients.post(
                person,
                f"/provningar/{case_id}/bekrafta",
                {"choice": "bekrafta" if yes else "aterforvisa", "version": version},
            )
            for person, yes in zip(confirmers, confirms, strict=True)
        ]
        calls.append(
            clients.post(
                decider, f"/provningar/{case_id}/bekrafta", {"choice": "bekrafta", "version": version}
            )
        )
        *responses, own = race(calls)
        assert own.status_code in (403, 409), own.status_code
        winner = the_winner(responses)
        for i, response in enumerate(responses):
            if i != winner:
                assert response.status_code == 409 and STALE in page(response)
        db.close()
        stored = db.get(VettingCase, case_id)
        assert stored is not None and stored.version == version + 1
        if confirms[winner]:
            assert stored.status == CaseStatus.APPROVED
            assert (stored.confirmed_by_id, stored.decided_by_id) == (confirmers[winner].id, decider.id)
        else:
            assert stored.status == CaseStatus.IN_PROGRESS
            assert stored.decision is None and stored.confirmed_by_id is None
        history = db.scalars(
            select(VettingChange.what).where(
                VettingChange.case_id == case_id, VettingChange.what.in_(["confirmed", "sent_back"])
            )
        ).all()
        assert history == ["confirmed" if confirms[winner] else "sent_back"]
        confirmed = events_of(Event.VETTING_DECISION_CONFIRMED, case_id)
        assert [(e["detail"]["confirmed"], e["actor"]["user"]) for e in confirmed] == [
            (confirms[winner], str(confirmers[winner].id))
        ]
    assert_chain_verifies(app)


# --- 3. a holder acknowledging a notice from several tabs at once ------------------------------------


ASSET_FORM = {
    "type": "information",
    "name": "Objekt Kastanj",
    "damage_level": "ringa",
    "status": "normal",
    "owner": "Kulturdirektören",
    "reference": "KU 2026/0042",
    "location": "Registraturen",
    "risk_assessed_on": "",
    "note": "",
    "marking": "0",
}


def _asset_values(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {k: v for k, v in ASSET_FORM.items() if k != "marking"}
    values.update(classification=0, risk_assessed_on=None, note=None)
    values.update(overrides)
    return values


def _asset_with_holder(author: Person, unit: OrgUnit, holder: Person, name: str) -> ProtectedAsset:
    asset = assets.create_asset(author.user, unit, _asset_values(name=name), attested=False)
    assets.add_holder(author.user, asset, user=holder.user)
    db.commit()
    return asset


def test_one_notice_acknowledged_from_many_tabs_at_once_counts_once(app: Flask) -> None:
    operator = make_operator()
    unit = make_unit(operator)
    author = make_user(app, operator, roles=[(Role.SAMORDNARE, unit)])
    holder = make_user(app, operator)
    clients = Clients(app)
    asset = _asset_with_holder(author, unit, holder, "Objekt Lönn")
    for round_no in range(ROUNDS):
        status = "skyddsobjekt" if round_no % 2 == 0 else "normal"
        db.close()
        asset = db.get(ProtectedAsset, asset.id)
        assert asset is not None
        assets.update_asset(
            author.user, asset, _asset_values(name="Objekt Lönn", status=status), asset.version
        )
        db.commit()
        notice = db.scalars(
            select(HolderNotice).where(
                HolderNotice.user_id == holder.id, HolderNotice.acknowledged_at.is_(None)
            )
        ).one()
        notice_id = notice.id
        calls = [
            clients.post(holder, f"/notiser/{notice_id}/kvittera", {}, seat=seat)
            for seat in range(CONTENDERS)
        ]
        responses = race(calls)
        assert all(
            r.status_code == 303 and r.headers["Location"] == f"/notiser/{notice_id}" for r in responses
        )
        # Each tab is told what happened to its own click: one thanks, the rest "already done".
        flashes = [
            page(clients.get(holder, seat)[0].get(f"/notiser/{notice_id}")) for seat in range(CONTENDERS)
        ]
        thanked = [i for i, text in enumerate(flashes) if "Tack! Din kvittens är registrerad." in text]
        assert len(thanked) == 1
        assert all(
            "Du har redan kvitterat den här ändringen." in t
            for i, t in enumerate(flashes)
            if i not in thanked
        )
        db.close()
        stored = db.get(HolderNotice, notice_id)
        assert stored is not None and stored.acknowledged_at is not None and stored.version == 2
        acknowledged = [
            e
            for e in events_of(Event.ASSET_NOTICE_ACKNOWLEDGED, asset.id)
            if e["detail"]["notice_id"] == str(notice_id)
        ]
        assert len(acknowledged) == 1 and acknowledged[0]["actor"]["user"] == str(holder.id)
    assert_chain_verifies(app)


# --- 4. a procurement's triage confirmed by several coordinators at once --------------------------


def _triaged(buyer: Person, unit: OrgUnit, title: str) -> Procurement:
    procurement = procurements.create_procurement(
        buyer.user,
        unit,
        {
            "kind": "upphandling",
            "title": title,
            "registry_number": "KN 2026/7",
            "responsible_id": buyer.id,
            "procedure_starts_on": TODAY + dt.timedelta(days=30),
            "contract_starts_on": None,
            "contract_ends_on": None,
            "supplier_name": "Leverantören AB",
            "supplier_org_number": "556036-0793",
            "supplier_contact": None,
            "classification": 0,
        },
        attested=False,
    )
    answers = TriageAnswers(
        where=Where.SUPPLIER,
        classified_access=True,
        sensitive_activity=False,
        staff_vetting=True,
        restricted_access=False,
        sub_suppliers=False,
    )
    procurements.triage(buyer.user, procurement, answers, procurement.version)
    db.commit()
    return procurement


def test_many_confirmations_of_one_triage_at_once_exactly_one_wins(app: Flask) -> None:
    operator = make_operator()
    unit = make_unit(operator)
    buyer = make_user(app, operator, roles=[(Role.UPPHANDLARE, unit)])
    coordinators = people(app, operator, CONTENDERS, [(Role.SAMORDNARE, unit)])
    clients = Clients(app)
    for round_no in range(ROUNDS):
        procurement = _triaged(buyer, unit, f"Förfarande {round_no}")
        procurement_id, version = procurement.id, procurement.version
        assert procurement.proposed_outcome == Outcome.SUA_1
        # Half confirm the proposed nivå 1; half override it to nivå 2 with a reason.
        overrides = [i % 2 == 1 for i in range(CONTENDERS)]
        calls = [
            clients.post(
                person,
                f"/upphandlingar/{procurement_id}/bekrafta",
                {
                    "outcome": "sua_2",
                    "consultation": "y",
                    "reason": f"Skäl {i}",
                    "attested": "y",
                    "version": version,
                }
                if override
                else {"outcome": "sua_1", "consultation": "y", "version": version},
            )
            for i, (person, override) in enumerate(zip(coordinators, overrides, strict=True))
        ]
        responses = race(calls)
        winner = the_winner(
            responses, lambda r: r.status_code == 303 and r.headers["Location"].endswith("#skyldigheter")
        )
        for i, response in enumerate(responses):
            if i == winner:
                continue
            if response.status_code == 303:
                # It arrived after the confirmation: the page says someone else confirmed it.
                assert response.headers["Location"] == f"/upphandlingar/{procurement_id}"
                client = clients.get(coordinators[i])[0]
                assert "Någon annan har redan bekräftat triagen." in page(
                    client.get(response.headers["Location"])
                )
            else:
                assert_conflict(response)
        db.close()
        stored = db.get(Procurement, procurement_id)
        assert stored is not None and stored.status == ProcurementStatus.CONFIRMED
        assert stored.confirmed_by_id == coordinators[winner].id and stored.version == version + 1
        assert stored.outcome == (Outcome.SUA_2 if overrides[winner] else Outcome.SUA_1)
        assert stored.overridden is overrides[winner]
        assert stored.override_reason == (f"Skäl {winner}" if overrides[winner] else None)
        history = db.scalars(
            select(ProcurementChange.what).where(
                ProcurementChange.procurement_id == procurement_id,
                ProcurementChange.what.in_(["confirmed", "overridden"]),
            )
        ).all()
        assert history == ["overridden" if overrides[winner] else "confirmed"]
        duties = db.scalars(
            select(ProcurementDuty.kind).where(ProcurementDuty.procurement_id == procurement_id)
        ).all()
        assert sorted(duties) == sorted(procurements.required_duties(stored))
        confirmed = events_of(Event.PROCUREMENT_CONFIRMED, procurement_id)
        assert [(e["detail"]["overridden"], e["actor"]["user"]) for e in confirmed] == [
            (overrides[winner], str(coordinators[winner].id))
        ]
    assert_chain_verifies(app)


# --- 5. the chef's review of a yearly follow-up by several chefs at once -----------------------------


def _submitted_followup(author: Person, unit: OrgUnit) -> AnnualFollowUp:
    followup = followups.open_followup(author.user, unit, today=TODAY, rules=Rules())
    db.flush()
    inputs = {a.position: followups.AnswerInput(Answer.YES, None) for a in followup.answers}
    followups.save_answers(
        author.user, followup, inputs, attested=False, ceiling=ceiling(), version=followup.version
    )
    followups.submit_followup(author.user, followup, version=followup.version)
    db.commit()
    return followup


def test_many_chefs_reviewing_one_followup_at_once_exactly_one_wins(app: Flask) -> None:
    operator = make_operator()
    units = [make_unit(operator) for _ in range(ROUNDS)]
    author = make_user(app, operator, roles=[(Role.SAMORDNARE, unit) for unit in units])
    chefs = people(app, operator, CONTENDERS, [(Role.CHEF, operator)])
    clients = Clients(app)
    for unit in units:
        followup = _submitted_followup(author, unit)
        followup_id, version = followup.id, followup.version
        # Half mark it reviewed, half return it with a comment on the whole and on question 2.
        returns = [i % 2 == 1 for i in range(CONTENDERS)]
        calls = [
            clients.post(
                chef,
                f"/uppfoljning/{followup_id}/granska",
                {
                    "version": version,
                    "decision": "aterremittera",
                    "comment": f"Komplettera {i}",
                    "chef_comment_2": f"Fråga 2 från {i}",
                    "attested": "y",
                }
                if back
                else {"version": version, "decision": "granskad"},
            )
            for i, (chef, back) in enumerate(zip(chefs, returns, strict=True))
        ]
        winner = race_one_winner(calls, "någon kan redan ha granskat den")
        db.close()
        stored = db.get(AnnualFollowUp, followup_id)
        assert stored is not None and stored.version == version + 1
        assert stored.reviewed_by_id == chefs[winner].id
        if returns[winner]:
            assert stored.status == FollowUpStatus.RETURNED
            assert stored.review_comment == f"Komplettera {winner}"
            assert stored.answers[1].chef_comment == f"Fråga 2 från {winner}"
        else:
            assert stored.status == FollowUpStatus.REVIEWED and stored.review_comment is None
            assert all(a.chef_comment is None for a in stored.answers)
        decided = events_of(Event.FOLLOWUP_RETURNED, followup_id) + events_of(
            Event.FOLLOWUP_REVIEWED, followup_id
        )
        assert [(e["event"], e["actor"]["user"]) for e in decided] == [
            (
                (Event.FOLLOWUP_RETURNED if returns[winner] else Event.FOLLOWUP_REVIEWED).value,
                str(chefs[winner].id),
            )
        ]
    assert_chain_verifies(app)


# --- 6. editors saving one record with the same version: no lost update --------------------------


def test_editors_saving_one_asset_at_once_lose_nothing_silently(app: Flask) -> None:
    operator = make_operator()
    unit = make_unit(operator)
    editors = people(app, operator, CONTENDERS, [(Role.SAMORDNARE, unit)])
    holder = make_user(app, operator)
    clients = Clients(app)
    outbox = app.config["SAKSKYDD_SETTINGS"].instance_path / "outbox"
    for round_no in range(ROUNDS):
        asset = _asset_with_holder(editors[0], unit, holder, f"Objekt {round_no}")
        asset_id, version = asset.id, asset.version
        mails_before = len(list(outbox.glob("*.eml"))) if outbox.exists() else 0
        # Everyone opened the form at the same version; each changes the owner, the location and
        # the status (which notifies the holder).
        calls = [
            clients.post(
                editor,
                f"/objekt/{asset_id}/andra",
                {
                    **ASSET_FORM,
                    "name": f"Objekt {round_no}",
                    "owner": f"Ägare {i}",
                    "location": f"Plats {i}",
                    "status": "skyddsobjekt",
                    "version": version,
                },
            )
            for i, editor in enumerate(editors)
        ]
        responses = race(calls)
        winner = the_winner(responses)
        for i, response in enumerate(responses):
            if i == winner:
                continue
            assert response.status_code == 409
            text = page(response)
            # The loser keeps their own input in the form, with the stored values to compare.
            assert STALE in text and f'value="Ägare {i}"' in text and f"Ägare {winner}" in text
        db.close()
        stored = db.get(ProtectedAsset, asset_id)
        assert stored is not None and stored.version == version + 1
        assert (stored.owner, stored.location) == (f"Ägare {winner}", f"Plats {winner}")
        revisions = db.scalars(select(AssetRevision).where(AssetRevision.asset_id == asset_id)).all()
        changed = [r for r in revisions if "holders" not in r.changes]
        assert len(changed) == 1 and changed[0].actor_id == editors[winner].id
        assert changed[0].changes["owner"] == ["Kulturdirektören", f"Ägare {winner}"]
        notices = db.scalars(select(HolderNotice).where(HolderNotice.asset_id == asset_id)).all()
        assert [(n.user_id, n.revision_id) for n in notices] == [(holder.id, changed[0].id)]
        assert len(list(outbox.glob("*.eml"))) == mails_before + 1  # no mail for a lost save
        updated = [e for e in events_of(Event.ASSET_UPDATED, asset_id) if e["changed"] != ["holders"]]
        assert [e["actor"]["user"] for e in updated] == [str(editors[winner].id)]
    assert_chain_verifies(app)


def test_assets_moved_between_levels_in_opposite_directions_at_once_keep_exact_counts(app: Flask) -> None:
    """The kept asset counts (assets/counts.py): edits of different assets at once, half moving
    from ringa to allvarlig and half back, all succeed; none deadlocks on the count rows (the
    PostgreSQL trigger locks them in key order) and the counts stay exact."""
    from sakskydd.assets import counts

    operator = make_operator()
    unit = make_unit(operator)
    editors = people(app, operator, CONTENDERS, [(Role.SAMORDNARE, unit)])
    clients = Clients(app)
    levels = ("ringa", "allvarlig")
    made = [
        assets.create_asset(
            editors[0].user,
            unit,
            _asset_values(name=f"Objekt {i}", damage_level=levels[i % 2]),
            attested=False,
        )
        for i in range(CONTENDERS)
    ]
    db.commit()
    state = {asset.id: (asset.version, i % 2) for i, asset in enumerate(made)}
    for _ in range(ROUNDS):
        calls = [
            clients.post(
                editor,
                f"/objekt/{asset_id}/andra",
                {**ASSET_FORM, "name": f"Objekt {i}", "damage_level": levels[1 - level], "version": version},
            )
            for i, (editor, (asset_id, (version, level))) in enumerate(
                zip(editors, state.items(), strict=True)
            )
        ]
        responses = race(calls)
        assert [r.status_code for r in responses] == [303] * CONTENDERS, [page(r)[:300] for r in responses]
        db.close()
        state = {
            asset_id: (db.get(ProtectedAsset, asset_id).version, 1 - level)  # type: ignore[union-attr]
            for asset_id, (_, level) in state.items()
        }
        kept = {key[1]: n for key, n in counts.kept(db).items() if key[0] == str(unit.id)}
        assert kept == {"ringa": CONTENDERS // 2, "allvarlig": CONTENDERS // 2}
        assert counts.mismatches(db) == {}
    assert_chain_verifies(app)


# --- 7. audit appends from many threads at once -------------------------------------------------------


def test_concurrent_audit_appends_leave_a_gapless_verifiable_chain(app: Flask) -> None:
    operator = make_operator()
    unit = make_unit(operator)
    author = make_user(app, operator, roles=[(Role.SAMORDNARE, unit)])
    asset = assets.create_asset(author.user, unit, _asset_values(), attested=False)
    db.commit()
    asset_id = asset.id
    threads, per_thread = 8, 12
    start = db.scalar(select(AuditHead.seq))
    db.close()
    barrier = threading.Barrier(threads)

    def appender(thread_no: int) -> Callable[[], list[str]]:
        def work() -> list[str]:
            kept = []
            with app.app_context():
                row = db.get(ProtectedAsset, asset_id)
                db.commit()
                for i in range(per_thread):
                    barrier.wait(timeout=60)  # every round of appends starts together
                    label = f"t{thread_no}-{i}"
                    assets.record_asset_read(row, view=label)
                    if (thread_no + i) % 4 == 0:
                        db.rollback()  # an aborted transaction must not leave a gap
                    else:
                        db.commit()
                        kept.append(label)
                db.close()
            return kept

        return work

    # race() releases the threads together too; each thread then waits at the barrier per append.
    kept_by_thread = race([appender(t) for t in range(threads)])
    kept = {label for labels in kept_by_thread for label in labels}
    rows = db.execute(
        select(AuditEvent.seq, AuditEvent.payload).where(AuditEvent.seq > start).order_by(AuditEvent.seq)
    ).all()
    db.close()
    assert [seq for seq, _ in rows] == list(range(start + 1, start + len(kept) + 1))
    recorded = [json.loads(payload)["detail"]["view"] for _, payload in rows]
    assert sorted(recorded) == sorted(kept)  # each committed append once, no aborted one
    assert_chain_verifies(app)


# --- 8. double submits of a creation: one record, not two -----------------------------------------------


def _flash_after(clients: Clients, person: Person, seat: int, response: TestResponse) -> str:
    assert response.status_code == 303, (response.status_code, page(response)[:500])
    return page(clients.get(person, seat)[0].get(response.headers["Location"]))


def test_a_double_submitted_start_of_an_analysis_creates_one_draft(app: Flask) -> None:
    operator = make_operator()
    units = [make_unit(operator) for _ in range(SHORT_ROUNDS)]
    author = make_user(app, operator, roles=[(Role.SAMORDNARE, unit) for unit in units])
    clients = Clients(app)
    for unit in units:
        # The same person in several tabs; some of them chose next year's cycle.
        calls = [
            clients.post(
                author,
                f"/enheter/{unit.id}/analyser/ny",
                {"title": f"Analys {seat}", "cycle_year": TODAY.year + seat % 2, "based_on": ""},
                seat=seat,
            )
            for seat in range(CONTENDERS)
        ]
        winner = race_one_winner(calls, "Enheten har redan en analys som inte är fastställd.")
        db.close()
        drafts = db.scalars(select(SecurityAnalysis).where(SecurityAnalysis.unit_id == unit.id)).all()
        assert [(a.title, a.status) for a in drafts] == [(f"Analys {winner}", AnalysisStatus.DRAFT)]
        created = db.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.event == Event.ANALYSIS_CREATED.value, AuditEvent.unit_id == unit.id)
        )
        assert created == 1
    assert_chain_verifies(app)


def test_a_double_submitted_holder_is_added_once(app: Flask) -> None:
    operator = make_operator()
    unit = make_unit(operator)
    author = make_user(app, operator, roles=[(Role.SAMORDNARE, unit)])
    clients = Clients(app)
    for round_no in range(SHORT_ROUNDS):
        asset = assets.create_asset(
            author.user, unit, _asset_values(name=f"Objekt {round_no}"), attested=False
        )
        holder = make_user(app, operator)
        asset_id = asset.id
        calls = [
            clients.post(author, f"/objekt/{asset_id}/innehavare", {"holder": f"user:{holder.id}"}, seat=seat)
            for seat in range(CONTENDERS)
        ]
        responses = race(calls)
        flashes = [_flash_after(clients, author, seat, r) for seat, r in enumerate(responses)]
        added = [i for i, text in enumerate(flashes) if "Innehavaren är tillagd." in text]
        assert len(added) == 1
        # A later click is told the holder exists (the service), or, when its page was built after
        # the first one committed, that the person is no longer among the choices (the form).
        late = ("Innehavaren finns redan för objektet.", "Välj en enhet eller en person i listan.")
        assert all(any(m in t for m in late) for i, t in enumerate(flashes) if i not in added)
        db.close()
        holders = db.scalars(select(AssetHolder.user_id).where(AssetHolder.asset_id == asset_id)).all()
        assert holders == [holder.id]
        revisions = db.scalars(select(AssetRevision).where(AssetRevision.asset_id == asset_id)).all()
        assert [r.changes for r in revisions] == [{"holders": [None, f"user:{holder.id}"]}]
        assert [e["changed"] for e in events_of(Event.ASSET_UPDATED, asset_id)] == [["holders"]]
    assert_chain_verifies(app)


def test_a_double_submitted_vetting_case_is_opened_once(app: Flask) -> None:
    operator = make_operator()
    unit = make_unit(operator)
    author = make_user(app, operator, roles=[(Role.SAMORDNARE, unit)])
    clients = Clients(app)
    for round_no in range(SHORT_ROUNDS):
        position = _decided_case(author, unit, f"Befattning {round_no}").position
        db.close()
        calls = [
            clients.post(
                author,
                f"/enheter/{unit.id}/provningar/ny",
                {"position": position.id, "person_name": "Annan Provperson", "personnummer": "19800101-0019"},
                seat=seat,
            )
            for seat in range(CONTENDERS)
        ]
        race_one_winner(calls, "Personen har redan ett pågående ärende för den här befattningen.")
        db.close()
        opened = db.scalars(
            select(VettingCase.id).where(
                VettingCase.position_id == position.id, VettingCase.status == CaseStatus.IN_PROGRESS
            )
        ).all()
        assert len(opened) == 1
        assert len(events_of(Event.VETTING_CASE_OPENED, opened[0])) == 1
    assert_chain_verifies(app)


def test_a_double_submitted_followup_is_opened_once(app: Flask) -> None:
    operator = make_operator()
    units = [make_unit(operator) for _ in range(SHORT_ROUNDS)]
    author = make_user(app, operator, roles=[(Role.SAMORDNARE, unit) for unit in units])
    clients = Clients(app)
    for unit in units:
        calls = [
            clients.post(author, f"/enheter/{unit.id}/uppfoljning/oppna", {}, seat=seat)
            for seat in range(CONTENDERS)
        ]
        responses = race(calls)
        flashes = [_flash_after(clients, author, seat, r) for seat, r in enumerate(responses)]
        opened = [i for i, text in enumerate(flashes) if "Årets uppföljning är öppnad." in text]
        assert len(opened) == 1
        assert all(
            f"Uppföljningen för {TODAY.year} är redan öppnad." in t
            for i, t in enumerate(flashes)
            if i not in opened
        )
        db.close()
        rows = db.scalars(select(AnnualFollowUp.id).where(AnnualFollowUp.unit_id == unit.id)).all()
        assert len(rows) == 1 and len(events_of(Event.FOLLOWUP_OPENED, rows[0])) == 1
    assert_chain_verifies(app)


def test_a_double_submitted_city_wide_analysis_and_unit_are_created_once(app: Flask) -> None:
    """Two more check-then-insert paths: the year's city-wide analysis (unique per operator and
    year) and an administrator's new unit (unique name per operator): one row, no 500."""
    from sakskydd.oversight.models import CityWideAnalysis

    operator = make_operator()
    chef = make_user(app, operator, roles=[(Role.CHEF, operator)])
    admin = make_user(app, operator, roles=[(Role.ADMIN, operator)])
    clients = Clients(app)
    for offset in range(SHORT_ROUNDS):
        year = TODAY.year - offset
        calls = [
            clients.post(chef, f"/oversikt/{operator.id}/stadsanalyser", {"year": year}, seat=seat)
            for seat in range(CONTENDERS)
        ]
        assert {r.status_code for r in race(calls)} <= {200, 303, 409}
        name = f"Racenämnden {offset}"
        calls = [
            clients.post(
                admin,
                f"/admin/verksamhetsutovare/{operator.id}/enheter/ny",
                {"name": name, "kind": "facknamnd"},
                seat=seat,
            )
            for seat in range(CONTENDERS)
        ]
        responses = race(calls)
        the_winner(responses)
        assert all(
            "Det finns redan en enhet med det namnet" in page(r) for r in responses if r.status_code != 303
        )
        db.close()
        analyses_of_year = db.scalars(
            select(CityWideAnalysis.id).where(
                CityWideAnalysis.operator_id == operator.id, CityWideAnalysis.year == year
            )
        ).all()
        assert len(analyses_of_year) == 1 and len(events_of(Event.CITYWIDE_CREATED, analyses_of_year[0])) == 1
        units = db.scalars(
            select(OrgUnit.id).where(OrgUnit.operator_id == operator.id, OrgUnit.name == name)
        ).all()
        assert len(units) == 1
    assert_chain_verifies(app)


def test_overlapping_appointments_recorded_at_once_are_recorded_once(app: Flask) -> None:
    """The overlap check and the insert run one at a time per unit (records.serialise_on): of
    several overlapping appointments of one person to one role, sent at once, one is recorded."""
    operator = make_operator()
    unit = make_unit(operator)
    coordinators = people(app, operator, 2, [(Role.SAMORDNARE, unit)])
    overlap = "Personen har redan ett förordnande med samma roll för enheten under den perioden."
    clients = Clients(app)
    for round_no in range(SHORT_ROUNDS):
        appointee = make_user(app, operator)
        calls = [
            clients.post(
                coordinators[seat % 2],
                f"/enheter/{unit.id}/forordnanden/ny",
                {
                    "user": str(appointee.id),
                    "role": "ersattare" if round_no % 2 else "samordnare",
                    # Every period overlaps every other: open-ended, from a day in the coming week.
                    "starts_on": (TODAY + dt.timedelta(days=seat % 7)).isoformat(),
                    "reference": f"KS {round_no}/{seat}",
                },
                seat=seat,
            )
            for seat in range(CONTENDERS)
        ]
        winner = race_one_winner(calls, overlap)
        db.close()
        recorded = db.scalars(select(Appointment).where(Appointment.user_id == appointee.id)).all()
        assert [a.reference for a in recorded] == [f"KS {round_no}/{winner}"]
        assert len(events_of(Event.UNIT_APPOINTMENT_RECORDED, recorded[0].id)) == 1
    assert_chain_verifies(app)


def test_operators_created_or_renamed_to_one_name_at_once_are_refused_cleanly(app: Flask) -> None:
    """An operator's name is unique and has no parent row to serialise on: administrators creating
    the same bolag at once, or renaming two bolag to the same name at once, meet at the unique
    index. One wins; the others get the form's message, not a 500 (PostgreSQL)."""
    from sakskydd.organisations.models import Operator, OperatorKind

    kommun = make_operator()
    admins = people(app, kommun, CONTENDERS, [(Role.ADMIN, kommun)])
    clients = Clients(app)
    taken = "Det finns redan en verksamhetsutövare med det namnet"
    for round_no in range(SHORT_ROUNDS):
        name = f"Racebolaget {uuid.uuid4().hex[:6]} {round_no}"
        data = {"name": name, "kind": "bolag", "org_number": "", "parent": str(kommun.id)}
        responses = race([clients.post(admin, "/admin/verksamhetsutovare/ny", data) for admin in admins])
        the_winner(responses)
        assert all(taken in page(r) for r in responses if r.status_code != 303)
        db.close()
        assert db.scalar(select(func.count()).select_from(Operator).where(Operator.name == name)) == 1
        # Two (and more) bolag renamed to one new name at once.
        bolag = [make_operator(kind=OperatorKind.BOLAG, parent=kommun) for _ in range(CONTENDERS)]
        db.commit()
        new_name = f"{name} nytt"
        calls = [
            clients.post(
                admin,
                f"/admin/verksamhetsutovare/{row.id}/redigera",
                {"name": new_name, "org_number": "", "is_active": "y", "version": row.version},
            )
            for admin, row in zip(admins, bolag, strict=True)
        ]
        db.close()
        responses = race(calls)
        the_winner(responses)
        assert all(taken in page(r) for r in responses if r.status_code != 303)
        db.close()
        assert db.scalar(select(func.count()).select_from(Operator).where(Operator.name == new_name)) == 1
    assert_chain_verifies(app)


def test_an_operators_list_saved_from_many_tabs_at_once_gets_one_version_each(app: Flask) -> None:
    """The interview template (sakskydd/versioned_lists.py, shared with the supplier follow-up
    checklist): each save reads the last version number and adds one, so two saves at once took
    the same number and one failed with a 500 on PostgreSQL until the save serialised on the
    operator. Now every different text is its own version; the same text again changes nothing."""
    from sakskydd.vetting.models import InterviewTemplate

    operator = make_operator()
    chef = make_user(app, operator, roles=[(Role.CHEF, operator)])
    clients = Clients(app)
    path = f"/verksamhetsutovare/{operator.id}/intervjumall"
    saved: list[str] = []
    for round_no in range(SHORT_ROUNDS):
        texts = [f"Ämne {round_no}-{seat}\nGemensamt ämne" for seat in range(CONTENDERS)]
        responses = race(
            [clients.post(chef, path, {"topics": text}, seat=seat) for seat, text in enumerate(texts)]
        )
        assert [r.status_code for r in responses] == [303] * CONTENDERS
        saved += texts
        db.close()
        versions = (
            db.execute(
                select(InterviewTemplate.version_no).where(InterviewTemplate.operator_id == operator.id)
            )
            .scalars()
            .all()
        )
        assert sorted(versions) == list(range(1, len(saved) + 1))
    # The same text as the version in force, from every tab: nothing new.
    last = db.scalars(
        select(InterviewTemplate)
        .where(InterviewTemplate.operator_id == operator.id)
        .order_by(InterviewTemplate.version_no.desc())
    ).first()
    same = "\n".join(last.topics)
    db.close()
    responses = race([clients.post(chef, path, {"topics": same}, seat=seat) for seat in range(CONTENDERS)])
    assert [r.status_code for r in responses] == [303] * CONTENDERS
    db.close()
    count = db.scalar(
        select(func.count())
        .select_from(InterviewTemplate)
        .where(InterviewTemplate.operator_id == operator.id)
    )
    assert count == len(saved)
    assert_chain_verifies(app)


# --- 9. the second administrator's approval of a role, its revocation, a double-submitted grant -------


def _flashes(
    clients: Clients, contenders: Sequence[tuple[Person, int]], responses: Sequence[TestResponse]
) -> list[str]:
    return [
        _flash_after(clients, person, seat, r)
        for (person, seat), r in zip(contenders, responses, strict=True)
    ]


def test_role_requests_decided_and_revoked_by_many_admins_at_once_count_once(app: Flask) -> None:
    operator = make_operator()
    requester = make_user(app, operator, roles=[(Role.ADMIN, operator)])
    admins = people(app, operator, CONTENDERS, [(Role.ADMIN, operator)])
    clients = Clients(app)
    for round_no in range(SHORT_ROUNDS):
        person = make_user(app, operator)
        # A double-submitted grant of chef (which waits for a second administrator): one request.
        grants = [(requester, seat) for seat in range(CONTENDERS)]
        responses = race(
            [
                clients.post(
                    who,
                    f"/admin/anvandare/{person.id}/roller",
                    {"role": "chef", "scope": f"operator:{operator.id}"},
                    seat=seat,
                )
                for who, seat in grants
            ]
        )
        flashes = _flashes(clients, grants, responses)
        registered = [i for i, t in enumerate(flashes) if "En annan administratör måste godkänna den." in t]
        assert len(registered) == 1
        assert all(
            "Personen har redan den rollen (eller en begäran om den väntar på godkännande)." in t
            for i, t in enumerate(flashes)
            if i not in registered
        )
        db.close()
        requests = db.scalars(
            select(RoleAssignment).where(
                RoleAssignment.user_id == person.id, RoleAssignment.role == Role.CHEF
            )
        ).all()
        assert [r.status for r in requests] == [AssignmentStatus.PENDING]
        assignment_id = requests[0].id
        # The other administrators decide at once: half approve, half reject.
        approves = [round_no == 0 or i % 2 == 0 for i in range(CONTENDERS)]
        deciders = [(admin, 0) for admin in admins]
        responses = race(
            [
                clients.post(admin, f"/admin/roller/{assignment_id}/{'godkann' if yes else 'avsla'}", {})
                for admin, yes in zip(admins, approves, strict=True)
            ]
        )
        flashes = _flashes(clients, deciders, responses)
        decided = [
            i for i, t in enumerate(flashes) if "Rollen är godkänd." in t or "Begäran är avslagen." in t
        ]
        assert len(decided) == 1
        winner = decided[0]
        assert all("Begäran är redan avgjord." in t for i, t in enumerate(flashes) if i != winner)
        db.close()
        stored = db.get(RoleAssignment, assignment_id)
        assert stored is not None and stored.decided_by_id == admins[winner].id
        assert stored.status == (AssignmentStatus.ACTIVE if approves[winner] else AssignmentStatus.REJECTED)
        outcomes = events_of(Event.ROLE_APPROVED, assignment_id) + events_of(
            Event.ROLE_REJECTED, assignment_id
        )
        assert [(e["event"], e["actor"]["user"]) for e in outcomes] == [
            ((Event.ROLE_APPROVED if approves[winner] else Event.ROLE_REJECTED).value, str(admins[winner].id))
        ]
        if stored.status != AssignmentStatus.ACTIVE:
            continue
        # And everyone revokes it at once.
        responses = race(
            [clients.post(admin, f"/admin/roller/{assignment_id}/aterkalla", {}) for admin in admins]
        )
        flashes = _flashes(clients, deciders, responses)
        revoked = [i for i, t in enumerate(flashes) if "Rollen är återkallad." in t]
        assert len(revoked) == 1
        assert all("Rollen är inte aktiv." in t for i, t in enumerate(flashes) if i not in revoked)
        db.close()
        stored = db.get(RoleAssignment, assignment_id)
        assert stored is not None and stored.status == AssignmentStatus.REVOKED
        assert stored.revoked_by_id == admins[revoked[0]].id
        assert [e["actor"]["user"] for e in events_of(Event.ROLE_REVOKED, assignment_id)] == [
            str(admins[revoked[0]].id)
        ]
    assert_chain_verifies(app)


# --- 10. one activation link used from several browsers at once ---------------------------------------


def test_one_activation_link_used_at_once_sets_one_password(app: Flask) -> None:
    from sakskydd.admin.services import create_user

    operator = make_operator()
    passwords = app.extensions["sakskydd.passwords"]
    for round_no in range(SHORT_ROUNDS):
        user, token = create_user(
            None,
            username=f"nyanstalld{round_no}",
            display_name="Ny Anställd",
            email="ny@example.se",
            operator=operator,
            activation_hours=24,
        )
        db.commit()
        user_id, path = user.id, f"/aktivera/{token}"
        chosen = [f"en egen lång lösenordsfras nummer {round_no}{i} x" for i in range(CONTENDERS)]
        calls = []
        for i, password in enumerate(chosen):
            client = app.test_client()
            # Each browser from its own address (the activation endpoint is rate-limited per IP).
            client.environ_base["REMOTE_ADDR"] = f"192.0.2.{round_no * CONTENDERS + i + 1}"
            form_token = csrf_token(client, path)
            calls.append(
                lambda c=client, u=path, t=form_token, p=password: c.post(
                    u, data={"csrf_token": t, "password": p, "confirm": p}
                )
            )
        db.close()
        responses = race(calls)
        winner = the_winner(responses)
        for i, response in enumerate(responses):
            if i != winner:
                assert response.status_code == 404 and "ogiltig" in page(response), page(response)[:500]
        db.close()
        stored = db.get(User, user_id)
        assert stored is not None and stored.password_hash is not None
        assert [passwords.verify(stored.password_hash, p) for p in chosen] == [
            i == winner for i in range(CONTENDERS)
        ]
        used = db.scalars(select(AuditEvent.event).where(AuditEvent.target_id == str(user_id))).all()
        assert used.count(Event.AUTH_ACTIVATION_USED.value) == 1
    assert_chain_verifies(app)
