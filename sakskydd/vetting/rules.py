"""Säkerhetsprövning (personnel vetting): the checklist of a case, its order, the decision, the
re-check and retention dates.

Pure rules over plain values, no database and no Flask (DOMAIN.md §4). Written to be read by
someone who knows säkerhetsskyddslagen (2018:585) 3 kap. and säkerhetsskyddsförordningen
(2021:955) 3 kap.; tests/unit/test_vetting_rules.py checks them against tables written out by hand.

A case is one person for one position of the unit's befattningsförteckning. The position's
placement decides the checklist:

- every case: grundutredning (identity checked, CV, grades and certificates, references), the
  säkerhetsprövningsintervju (the system records that it happened, by whom and a reference,
  never the answers), samlad bedömning, beslut, säkerhetsskyddsutbildning;
- placed in säkerhetsklass 1, 2 or 3: also the person's consent to registerkontroll, the
  registerkontroll requested with its kontrollorsak, and Säpo's answer;
- klass 1 and 2: also the särskild personutredning;
- vetting without placement: no registerkontroll at all (nor consent, nor personutredning).

Steps are taken in order: a step may be marked done only when the steps it builds on are done
(PREREQUISITES). The beslut needs the samlad bedömning (so, transitively, everything before it);
the utbildning follows an approval. A beslut is taken by one authorised person and confirmed by a
second one: neither may be the other.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from typing import Final


class SecurityClass(enum.StrEnum):
    """The position's placement (säkerhetsklass), or vetting without placement."""

    CLASS_1 = "klass_1"  # decided by the government
    CLASS_2 = "klass_2"  # decided by the kommun (also for its bolag)
    CLASS_3 = "klass_3"  # decided by the kommun (also for its bolag)
    UNPLACED = "utan_placering"  # vetting without placement: access where harm would be minor

    @property
    def has_register_check(self) -> bool:
        return self != SecurityClass.UNPLACED

    @property
    def has_special_investigation(self) -> bool:
        return self in (SecurityClass.CLASS_1, SecurityClass.CLASS_2)

    @property
    def decided_by_government(self) -> bool:
        return self == SecurityClass.CLASS_1


CLASS_LABELS: Final[Mapping[str, str]] = {
    SecurityClass.CLASS_1: "Säkerhetsklass 1",
    SecurityClass.CLASS_2: "Säkerhetsklass 2",
    SecurityClass.CLASS_3: "Säkerhetsklass 3",
    SecurityClass.UNPLACED: "Säkerhetsprövning utan placering",
}


class StepKind(enum.StrEnum):
    """The checklist of a vetting case, in the order it is followed; the value is stored."""

    IDENTITY = "identitet"
    CV = "cv"
    CERTIFICATES = "betyg_intyg"
    REFERENCES = "referenser"
    INTERVIEW = "intervju"
    CONSENT = "samtycke"
    REGISTER_CHECK_REQUESTED = "registerkontroll_begard"
    REGISTER_CHECK_ANSWERED = "registerkontroll_svar"
    SPECIAL_INVESTIGATION = "sarskild_personutredning"
    OVERALL_ASSESSMENT = "samlad_bedomning"
    TRAINING = "utbildning"


STEP_ORDER: Final[tuple[StepKind, ...]] = tuple(StepKind)

STEP_LABELS: Final[Mapping[str, str]] = {
    StepKind.IDENTITY: "Identiteten kontrollerad",
    StepKind.CV: "CV granskat",
    StepKind.CERTIFICATES: "Betyg och intyg kontrollerade",
    StepKind.REFERENCES: "Referenser tagna",
    StepKind.INTERVIEW: "Säkerhetsprövningsintervju",
    StepKind.CONSENT: "Samtycke till registerkontroll",
    StepKind.REGISTER_CHECK_REQUESTED: "Registerkontroll begärd",
    StepKind.REGISTER_CHECK_ANSWERED: "Svar på registerkontroll",
    StepKind.SPECIAL_INVESTIGATION: "Särskild personutredning",
    StepKind.OVERALL_ASSESSMENT: "Samlad bedömning",
    StepKind.TRAINING: "Säkerhetsskyddsutbildning",
}

GROUNDWORK: Final[frozenset[StepKind]] = frozenset(
    {StepKind.IDENTITY, StepKind.CV, StepKind.CERTIFICATES, StepKind.REFERENCES}
)

# A step may be marked done only when these are done (those of them the case has).
PREREQUISITES: Final[Mapping[StepKind, frozenset[StepKind]]] = {
    StepKind.IDENTITY: frozenset(),
    StepKind.CV: frozenset(),
    StepKind.CERTIFICATES: frozenset(),
    StepKind.REFERENCES: frozenset(),
    # The interview is held with a person whose identity is established.
    StepKind.INTERVIEW: frozenset({StepKind.IDENTITY}),
    # No registerkontroll without the person's consent; no answer without a request; Säpo's
    # särskild personutredning follows the registerkontroll.
    StepKind.CONSENT: frozenset({StepKind.IDENTITY}),
    StepKind.REGISTER_CHECK_REQUESTED: frozenset({StepKind.CONSENT}),
    StepKind.REGISTER_CHECK_ANSWERED: frozenset({StepKind.REGISTER_CHECK_REQUESTED}),
    StepKind.SPECIAL_INVESTIGATION: frozenset({StepKind.REGISTER_CHECK_ANSWERED}),
    # The samlad bedömning weighs everything gathered.
    StepKind.OVERALL_ASSESSMENT: GROUNDWORK
    | {
        StepKind.INTERVIEW,
        StepKind.CONSENT,
        StepKind.REGISTER_CHECK_REQUESTED,
        StepKind.REGISTER_CHECK_ANSWERED,
        StepKind.SPECIAL_INVESTIGATION,
    },
    # Training is for an approved person besides: see `training_allowed`.
    StepKind.TRAINING: frozenset({StepKind.OVERALL_ASSESSMENT}),
}


class ControlReason(enum.StrEnum):
    """Kontrollorsak: why the registerkontroll is requested (stated in the request to Säpo)."""

    PLACEMENT = "placering"  # before employment or placement in säkerhetsklass
    RECHECK = "omkontroll"  # the recurring re-check of klass 1 and 2
    SUPPLIER = "leverantor"  # the supplier's staff under a säkerhetsskyddsavtal


CONTROL_REASON_LABELS: Final[Mapping[str, str]] = {
    ControlReason.PLACEMENT: "Anställning eller placering i säkerhetsklass",
    ControlReason.RECHECK: "Förnyad kontroll (omkontroll)",
    ControlReason.SUPPLIER: "Leverantörspersonal enligt säkerhetsskyddsavtal",
}


class Decision(enum.StrEnum):
    APPROVED = "godkand"
    NOT_APPROVED = "ej_godkand"


DECISION_LABELS: Final[Mapping[str, str]] = {
    Decision.APPROVED: "Godkänd",
    Decision.NOT_APPROVED: "Ej godkänd",
}

# Säkerhetsskyddsförordningen: the registerkontroll of klass 1 and 2 is renewed at least every
# fifth year (a setting, SAKSKYDD_VETTING_RECHECK_YEARS).
DEFAULT_RECHECK_YEARS: Final = 5


def steps_for(security_class: SecurityClass) -> tuple[StepKind, ...]:
    """The checklist of a case for a position with this placement, in STEP_ORDER."""
    kinds = set(GROUNDWORK) | {StepKind.INTERVIEW, StepKind.OVERALL_ASSESSMENT, StepKind.TRAINING}
    if security_class.has_register_check:
        kinds |= {StepKind.CONSENT, StepKind.REGISTER_CHECK_REQUESTED, StepKind.REGISTER_CHECK_ANSWERED}
    if security_class.has_special_investigation:
        kinds.add(StepKind.SPECIAL_INVESTIGATION)
    return tuple(kind for kind in STEP_ORDER if kind in kinds)


def missing_for_step(
    kind: StepKind, security_class: SecurityClass, done: Iterable[StepKind]
) -> list[StepKind]:
    """The steps that must be done before `kind` may be marked done, in STEP_ORDER (empty: it
    may). Raises ValueError for a step the case does not have (e.g. a registerkontroll for
    vetting without placement)."""
    present = steps_for(security_class)
    if kind not in present:
        raise ValueError(f"{kind} is not a step of a case in {security_class}")
    finished = set(done)
    needed = PREREQUISITES[kind] & set(present)
    return [step for step in present if step in needed and step not in finished]


def training_allowed(decision: Decision | None) -> bool:
    """Säkerhetsskyddsutbildning is given to a person the beslut approved."""
    return decision == Decision.APPROVED


def missing_for_decision(security_class: SecurityClass, done: Iterable[StepKind]) -> list[StepKind]:
    """What must be done before the beslut: every step but the training, in STEP_ORDER."""
    finished = set(done)
    return [s for s in steps_for(security_class) if s != StepKind.TRAINING and s not in finished]


def may_confirm(decided_by: object, confirmer: object) -> bool:
    """The two-person rule: the beslut is confirmed by someone other than who took it."""
    return decided_by is not None and confirmer is not None and decided_by != confirmer


def recheck_due(security_class: SecurityClass, checked_on: dt.date | None, years: int) -> dt.date | None:
    """When the next omkontroll is due: `years` after the last check for klass 1 and 2, none
    for klass 3 and vetting without placement (or before the first check)."""
    if checked_on is None or not security_class.has_special_investigation:
        return None
    return add_years(checked_on, years)


def deregistration_due(left_on: dt.date | None, prompt_days: int) -> dt.date | None:
    """The avanmälan of the registerkontroll when the person leaves the position: without delay
    (`prompt_days`, the setting SAKSKYDD_PROMPT_DUTY_DAYS)."""
    return left_on + dt.timedelta(days=prompt_days) if left_on is not None else None


def disposal_due(closed_on: dt.date | None, period_days: int) -> dt.date | None:
    """When a record of a closed case may be disposed of (gallras): `period_days` after the
    case closed; an open case is never due."""
    return closed_on + dt.timedelta(days=period_days) if closed_on is not None else None


def add_years(day: dt.date, years: int) -> dt.date:
    """The same day `years` later; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)
