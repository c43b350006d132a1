"""The units' findings as pure rules: one source for the unit pages, the deadline engine and the
chef's picture (no database, no Flask).

A unit has a finding when its applicability has never been assessed, or when it is assessed as
covered ("ja") and lacks a current samordnare or ersättare (DOMAIN.md §2). The SQL twin that
filters lists by the same rule is `services.has_findings_clause`; tests/functional/test_units.py
checks that the two agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final
from zoneinfo import ZoneInfo

from sakskydd.organisations.models import Applicability, AppointmentRole

# The city's calendar: dates of decisions, appointments and deadlines are Swedish dates.
LOCAL_TIMEZONE: Final = ZoneInfo("Europe/Stockholm")

# Finding codes (stable: the deadline engine and the chef's picture use them) and their labels.
APPLICABILITY_MISSING: Final = "applicability_missing"
SAMORDNARE_MISSING: Final = "samordnare_missing"
ERSATTARE_MISSING: Final = "ersattare_missing"
FINDING_LABELS: Final[Mapping[str, str]] = {
    APPLICABILITY_MISSING: "Tillämpligheten av säkerhetsskyddslagstiftningen är inte bedömd",
    SAMORDNARE_MISSING: "Enheten omfattas men saknar förordnad säkerhetsskyddssamordnare",
    ERSATTARE_MISSING: "Enheten omfattas men saknar förordnad ersättare",
}
# The role whose absence each coordinator finding reports.
MISSING_ROLE: Final[Mapping[str, AppointmentRole]] = {
    SAMORDNARE_MISSING: AppointmentRole.SAMORDNARE,
    ERSATTARE_MISSING: AppointmentRole.ERSATTARE,
}


def findings_for(outcome: Applicability | None, *, has_samordnare: bool, has_ersattare: bool) -> list[str]:
    """The finding codes of one unit from its facts, in a stable order."""
    if outcome is None:
        return [APPLICABILITY_MISSING]
    if outcome != Applicability.YES:
        return []
    codes = []
    if not has_samordnare:
        codes.append(SAMORDNARE_MISSING)
    if not has_ersattare:
        codes.append(ERSATTARE_MISSING)
    return codes


def missing_roles(
    outcome: Applicability | None, current_roles: set[AppointmentRole]
) -> list[AppointmentRole]:
    """The coordinator roles a unit lacks by the findings rule (samordnare before ersättare)."""
    codes = findings_for(
        outcome,
        has_samordnare=AppointmentRole.SAMORDNARE in current_roles,
        has_ersattare=AppointmentRole.ERSATTARE in current_roles,
    )
    return [MISSING_ROLE[code] for code in codes if code in MISSING_ROLE]
