"""The bootstrap commands of a new installation: the first operator and the first administrator."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select

from sakskydd.accounts.models import AssignmentStatus, Role, RoleAssignment, User
from sakskydd.audit.models import AuditEvent
from sakskydd.deadlines import local_today
from sakskydd.demo import load_demo
from sakskydd.extensions import db
from sakskydd.followup.models import AnnualFollowUp, FollowUpStatus
from sakskydd.identifiers import normalise_personnummer
from sakskydd.organisations.models import Operator, OperatorKind
from sakskydd.oversight.models import CityWideAnalysis, CityWideStatus
from sakskydd.procurements.models import Procurement, ProcurementDuty, ProcurementStatus
from sakskydd.vetting.models import VettingCase

pytestmark = pytest.mark.db


def test_first_operator_and_first_admin_from_the_command_line(app: Flask) -> None:
    runner = app.test_cli_runner()
    created = runner.invoke(args=["operators", "create", "Nykommun", "--kind", "kommun"])
    assert created.exit_code == 0, created.output
    bolag = runner.invoke(
        args=["operators", "create", "Nykommun Energi AB", "--kind", "bolag", "--parent", "Nykommun"]
    )
    assert bolag.exit_code == 0, bolag.output
    duplicate = runner.invoke(args=["operators", "create", "Nykommun", "--kind", "kommun"])
    assert duplicate.exit_code != 0 and "Det finns redan" in duplicate.output
    admin = runner.invoke(
        args=[
            "users",
            "create",
            "forsta",
            "--name",
            "Första Admin",
            "--email",
            "forsta@example.se",
            "--operator",
            "Nykommun",
            "--admin",
        ]
    )
    assert admin.exit_code == 0, admin.output
    assert "/aktivera/" in admin.output
    db.expire_all()
    kommun = db.scalar(select(Operator).where(Operator.name == "Nykommun"))
    child = db.scalar(select(Operator).where(Operator.name == "Nykommun Energi AB"))
    assert kommun.kind == OperatorKind.KOMMUN and child.parent_id == kommun.id
    user = db.scalar(select(User).where(User.username == "forsta"))
    grant = db.scalar(select(RoleAssignment).where(RoleAssignment.user_id == user.id))
    assert grant.role == Role.ADMIN and grant.status == AssignmentStatus.ACTIVE
    events = db.scalars(select(AuditEvent.event).where(AuditEvent.event == "operator.created")).all()
    assert len(events) == 2


def test_the_demo_loads_every_kind_of_casework_once_and_keeps_the_trail_whole(app: Flask) -> None:
    sheet = load_demo()  # what `sakskydd demo` runs
    assert "upphandlare" in sheet
    db.close()
    statuses = sorted(p.status.value for p in db.scalars(select(Procurement)))
    assert statuses == sorted(
        [
            ProcurementStatus.CONFIRMED.value,
            ProcurementStatus.TRIAGED.value,
            ProcurementStatus.CONFIRMED.value,
        ]
    )
    duties = db.scalars(select(ProcurementDuty)).all()
    assert any(d.status.value == "klar" for d in duties) and any(d.status.value == "oppen" for d in duties)
    # Vetting: five cases in different stages, synthetic checksum-valid personnummer, one closed
    # long enough ago for the retention run.
    cases = db.scalars(select(VettingCase)).all()
    assert sorted(c.status.value for c in cases) == sorted(
        ["godkand", "pagaende", "beslut_fattat", "godkand", "avslutad"]
    )
    today = local_today()
    assert all(normalise_personnummer(c.personnummer, today=today) == c.personnummer for c in cases)
    assert all(c.person_name.startswith("Demo ") for c in cases)
    # The chef's year: last year's follow-up reviewed after one return, this year's not opened;
    # last year's city-wide analysis adopted and this year's draft compiled.
    (followup,) = db.scalars(select(AnnualFollowUp)).all()
    assert (followup.year, followup.status) == (today.year - 1, FollowUpStatus.REVIEWED)
    assert any(a.chef_comment for a in followup.answers) and followup.review_comment
    assert {a.answer.value for a in followup.answers} == {"ja", "delvis"}
    analyses = {a.year: a for a in db.scalars(select(CityWideAnalysis))}
    assert sorted(analyses) == [today.year - 1, today.year]
    assert analyses[today.year - 1].status == CityWideStatus.ADOPTED and analyses[today.year - 1].conclusions
    assert analyses[today.year].status == CityWideStatus.DRAFT and analyses[today.year].snapshot
    assert analyses[today.year].threat_notes[0].summary
    db.close()
    load_demo()
    assert db.scalar(select(func.count()).select_from(Procurement)) == 3
    assert db.scalar(select(func.count()).select_from(VettingCase)) == 5
    db.close()
    verified = app.test_cli_runner().invoke(args=["audit", "verify", "--jobs", "1"])
    assert verified.exit_code == 0 and "hel" in verified.output


def test_serve_starts_one_worker_on_sqlite_and_two_on_postgresql() -> None:
    # On SQLite a second worker only waits for the write lock (docs/benchmarks.md section 1).
    from sakskydd.cli import default_workers

    assert default_workers("sqlite:////var/lib/sakskydd/sakskydd.db") == 1
    assert default_workers("postgresql+psycopg://sakskydd@db/sakskydd") == 2
