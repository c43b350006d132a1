"""Demo procurements for Kulturnämnden, made through the services (real triage, duties, audit):
a nivå 1 agreement with samråd well under way and a follow-up with an action, a nivå 3 triage
waiting for the samordnare, and a procurement that needs no SUA."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sakskydd.accounts.models import User
from sakskydd.organisations.models import OrgUnit
from sakskydd.procurements import services
from sakskydd.procurements.models import Procurement
from sakskydd.procurements.rules import DutyKind, Outcome, TriageAnswers, Where

NO = {
    "classified_access": False,
    "sensitive_activity": False,
    "staff_vetting": False,
    "restricted_access": False,
}


def _create(unit: OrgUnit, buyer: User, title: str, number: str, start: dt.date, **extra: Any) -> Procurement:
    values: dict[str, Any] = {
        "kind": "upphandling",
        "title": title,
        "registry_number": number,
        "responsible_id": buyer.id,
        "procedure_starts_on": start,
        "contract_starts_on": None,
        "contract_ends_on": None,
        "supplier_name": None,
        "supplier_org_number": None,
        "supplier_contact": None,
        "classification": 0,
    }
    values.update(extra)
    return services.create_procurement(buyer, unit, values, attested=True)


def _done(actor: User, p: Procurement, kind: DutyKind, on: dt.date, **values: Any) -> None:
    duty = next(d for d in p.duties if d.kind == kind)
    data = {
        "status": "klar",
        "done_on": on,
        "reference": values.pop("reference", "KN 2026/412"),
        "note": None,
    }
    data.update(values)
    services.update_duty(actor, p, duty, data, attested=True, version=duty.version, today=on)


def load_procurements(unit: OrgUnit, buyer: User, samordnare: User, today: dt.date) -> int:
    # Nivå 1 with samråd: assessments, samråd and signing done; access granted; one follow-up.
    p = _create(
        unit,
        buyer,
        "Drift av bokningssystem för kulturhusen",
        "KN 2026/412",
        today - dt.timedelta(days=240),
        contract_starts_on=today - dt.timedelta(days=150),
        contract_ends_on=today + dt.timedelta(days=900),
        supplier_name="Demoleverantören AB",
        supplier_org_number="556036-0793",
        supplier_contact="Växel 08-000 00 00 (demo)",
    )
    answers = TriageAnswers(where=Where.SUPPLIER, sub_suppliers=True, **{**NO, "classified_access": True})
    services.triage(buyer, p, answers, p.version)
    services.confirm(
        samordnare,
        p,
        outcome=Outcome.SUA_1,
        consultation=True,
        reason=None,
        attested=False,
        version=p.version,
        today=today - dt.timedelta(days=235),
    )
    start = today - dt.timedelta(days=230)
    _done(buyer, p, DutyKind.ASSESSMENT, start)
    _done(buyer, p, DutyKind.SUITABILITY, start)
    _done(
        samordnare, p, DutyKind.CONSULTATION, start + dt.timedelta(days=20), consultation_outcome="fortsatta"
    )
    _done(buyer, p, DutyKind.NOTIFY_INTENT, start + dt.timedelta(days=3))
    _done(buyer, p, DutyKind.SUA_SIGNED, today - dt.timedelta(days=160))
    _done(buyer, p, DutyKind.NOTIFY_SIGNED, today - dt.timedelta(days=158))
    _done(buyer, p, DutyKind.ACCESS_GRANTED, today - dt.timedelta(days=150))
    services.add_sub_supplier(buyer, p, "Demohosting AB", None)
    services.record_follow_up(
        samordnare,
        p,
        performed_on=today - dt.timedelta(days=20),
        results=["brist" if i == 3 else "uppfyllt" for i in range(len(services.DEFAULT_FOLLOW_UP_ITEMS))],
        findings="Två nyanställda har inte gått säkerhetsskyddsutbildningen.",
        actions=[
            {
                "description": "Genomföra säkerhetsskyddsutbildning",
                "responsible": "Leverantörens kontaktperson",
                "due_on": today + dt.timedelta(days=25),
            }
        ],
        attested=True,
        template=None,
        items=list(services.DEFAULT_FOLLOW_UP_ITEMS),
        today=today,
    )
    # Nivå 3, waiting for the samordnare's confirmation.
    p = _create(unit, buyer, "Bevakningstjänster för magasinet", "KN 2026/530", today + dt.timedelta(days=45))
    services.triage(
        buyer,
        p,
        TriageAnswers(where=Where.OURS, sub_suppliers=False, **{**NO, "staff_vetting": True}),
        p.version,
    )
    # No SUA needed, confirmed.
    p = _create(unit, buyer, "Tryckeritjänster för programblad", "KN 2026/561", today + dt.timedelta(days=20))
    services.triage(buyer, p, TriageAnswers(where=Where.OURS, sub_suppliers=False, **NO), p.version)
    services.confirm(
        samordnare,
        p,
        outcome=Outcome.NONE,
        consultation=False,
        reason=None,
        attested=False,
        version=p.version,
    )
    return 3
