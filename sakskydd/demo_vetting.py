"""Demo personnel vetting for Kulturnämnden, made through the services (real checklist order,
two-person rule, encryption and audit): a befattningsförteckning and five cases in different
stages — one approved and soon due for omkontroll, one in progress, one beslut waiting for the
ersättare's confirmation, one person who has left with the avanmälan overdue, and one closed
long ago that the retention run disposes of.

The people are invented and their personnummer synthetic: checksum-valid numbers built here
from a birth date and a serial, with names that say "Demo". Never real data in a demo.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sakskydd.accounts.models import User
from sakskydd.identifiers import luhn_ok
from sakskydd.organisations.models import OrgUnit
from sakskydd.vetting import rules, services
from sakskydd.vetting.models import Position, VettingCase
from sakskydd.vetting.rules import StepKind


def synthetic_personnummer(birth: dt.date, serial: int) -> str:
    """A checksum-valid ÅÅÅÅMMDD-NNNN for `birth` with the three-digit `serial`."""
    head = f"{birth:%y%m%d}{serial:03d}"
    digit = next(d for d in range(10) if luhn_ok(f"{head}{d}"))
    return f"{birth:%Y%m%d}-{serial:03d}{digit}"


def _position(actor: User, unit: OrgUnit, title: str, klass: str, decided_on: dt.date) -> Position:
    return services.create_position(
        actor,
        unit,
        {
            "title": title,
            "security_class": klass,
            "decided_on": decided_on,
            "decided_by": "Kulturnämnden",
            "reference": f"KN {decided_on.year}/{100 + len(title)}",
        },
    )


def _steps(actor: User, case: VettingCase, until: StepKind | None, on: dt.date) -> None:
    """Mark the case's steps done in order, up to and including `until` (None: all before the beslut)."""
    for kind in rules.steps_for(case.security_class):
        if kind == StepKind.TRAINING:
            break
        step = next(s for s in case.steps if s.kind == kind)
        extra: dict[str, Any] = {"control_reason": None}
        if kind == StepKind.REGISTER_CHECK_REQUESTED:
            extra["control_reason"] = rules.ControlReason.PLACEMENT.value
        services.update_step(
            actor,
            case,
            step,
            done=True,
            done_on=on,
            reference=f"KN P {on.year}/{step.position + 1}",
            version=step.version,
            today=on,
            **extra,
        )
        if kind == until:
            break


def _approved(actor: User, second: User, case: VettingCase, on: dt.date) -> None:
    _steps(actor, case, None, on)
    services.decide(
        actor,
        case,
        decision="godkand",
        decided_on=on,
        reference=f"KN B {on.year}/7",
        version=case.version,
        today=on,
    )
    services.confirm_decision(second, case, confirm=True, version=case.version, today=on)


def load_vetting(unit: OrgUnit, samordnare: User, ersattare: User, today: dt.date) -> int:
    """The befattningsförteckning and five cases; returns the number of cases."""
    years_ago = rules.add_years(today, -5)
    operations = _position(samordnare, unit, "Drifttekniker bokningssystem", "klass_2", years_ago)
    archive = _position(samordnare, unit, "Vaktmästare arkivmagasin", "klass_3", years_ago)
    _position(samordnare, unit, "Säkerhetsskyddssamordnare", "klass_2", years_ago)
    systems = _position(samordnare, unit, "Systemförvaltare", "utan_placering", years_ago)

    def open_case(position: Position, name: str, birth: dt.date, serial: int, on: dt.date) -> VettingCase:
        return services.open_case(
            samordnare,
            unit,
            position_id=position.id,
            person_name=name,
            personnummer=synthetic_personnummer(birth, serial),
            today=on,
        )

    # Approved almost five years ago: the omkontroll is due within the reminder lead time.
    checked = years_ago + dt.timedelta(days=20)
    first = open_case(operations, "Demo Alva Exempeldotter", dt.date(1985, 3, 14), 321, checked)
    _approved(samordnare, ersattare, first, checked)
    training = next(s for s in first.steps if s.kind == StepKind.TRAINING)
    services.update_step(
        samordnare,
        first,
        training,
        done=True,
        done_on=checked,
        reference="Utbildning 2021",
        control_reason=None,
        version=training.version,
        today=checked,
    )
    # In progress: the groundwork done, the interview next.
    second = open_case(archive, "Demo Bo Provsson", dt.date(1979, 11, 2), 457, today - dt.timedelta(days=9))
    _steps(samordnare, second, StepKind.REFERENCES, today - dt.timedelta(days=5))
    # A beslut taken by the samordnare, waiting for the ersättare's confirmation.
    third = open_case(
        systems, "Demo Cecilia Testberg", dt.date(1992, 6, 30), 184, today - dt.timedelta(days=30)
    )
    _steps(samordnare, third, None, today - dt.timedelta(days=20))
    services.decide(
        samordnare,
        third,
        decision="godkand",
        decided_on=today - dt.timedelta(days=3),
        reference="KN B 2026/31",
        version=third.version,
    )
    # Left the position two weeks ago; the avanmälan of the registerkontroll is overdue.
    fourth = open_case(
        operations, "Demo David Fiktivsson", dt.date(1968, 1, 21), 642, today - dt.timedelta(days=400)
    )
    _approved(samordnare, ersattare, fourth, today - dt.timedelta(days=380))
    services.end_case(
        samordnare,
        fourth,
        left_on=today - dt.timedelta(days=14),
        deregistered_on=None,
        reference=None,
        version=fourth.version,
    )
    # Closed six years ago: past the retention period, for `sakskydd retention run`.
    long_ago = rules.add_years(today, -8)
    fifth = open_case(archive, "Demo Eva Arkivsson", dt.date(1958, 9, 9), 273, long_ago)
    _approved(samordnare, ersattare, fifth, long_ago + dt.timedelta(days=30))
    left = rules.add_years(today, -6)
    services.end_case(
        samordnare,
        fifth,
        left_on=left,
        deregistered_on=left + dt.timedelta(days=2),
        reference="KN A 2020/3",
        version=fifth.version,
        today=left + dt.timedelta(days=2),
    )
    return 5
