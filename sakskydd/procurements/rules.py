"""Triage of a procurement: the säkerhetsskyddsavtal it needs, the duties and their deadlines.

Pure rules over plain values, no database and no Flask (DOMAIN.md §3). They are written to be
read by someone who knows säkerhetsskyddslagen (2018:585) and säkerhetsskyddsförordningen
(2021:955); tests/unit/test_procurement_rules.py checks every combination of answers against a
table written out by hand.

The upphandlare answers six unclassified questions (TriageAnswers). From them:

1. Access to uppgifter classified KONFIDENTIELL or higher, or to systems or premises of
   säkerhetskänslig verksamhet where harm would be at least "inte obetydlig": a
   säkerhetsskyddsavtal is required, and samråd with the supervisory authority is likely
   required. Nivå 1 when the access happens at the supplier's premises or by remote access,
   nivå 2 when only in our own premises and systems.
2. Otherwise, when the supplier's staff must be placed in säkerhetsklass (vetted) although they
   get no classified uppgifter: säkerhetsskyddsavtal nivå 3.
3. Otherwise, when the supplier may get uppgifter classified BEGRÄNSAT HEMLIG at most: a
   lighter säkerhetsskyddsöverenskommelse.
4. Otherwise: no säkerhetsskydd agreement; the procurement is not säkerhetsskyddad.

The samordnare confirms the proposed outcome or overrides it with a reason; the duties then
follow the confirmed outcome (`duties_for`), so an override changes them too.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final


class Where(enum.StrEnum):
    """Where the supplier's access happens."""

    SUPPLIER = "leverantor"  # at the supplier's premises, or by remote access
    OURS = "egna"  # only in our own premises and systems


class Outcome(enum.StrEnum):
    """What the procurement needs."""

    SUA_1 = "sua_1"
    SUA_2 = "sua_2"
    SUA_3 = "sua_3"
    AGREEMENT = "overenskommelse"
    NONE = "ingen"

    @property
    def is_sua(self) -> bool:
        return self in (Outcome.SUA_1, Outcome.SUA_2, Outcome.SUA_3)

    @property
    def is_protected(self) -> bool:
        """A säkerhetsskyddad procurement: any agreement at all."""
        return self != Outcome.NONE


OUTCOME_LABELS: Final[Mapping[str, str]] = {
    Outcome.SUA_1: "Säkerhetsskyddsavtal nivå 1",
    Outcome.SUA_2: "Säkerhetsskyddsavtal nivå 2",
    Outcome.SUA_3: "Säkerhetsskyddsavtal nivå 3",
    Outcome.AGREEMENT: "Säkerhetsskyddsöverenskommelse",
    Outcome.NONE: "Inget säkerhetsskyddsavtal",
}
OUTCOME_SHORT: Final[Mapping[str, str]] = {
    Outcome.SUA_1: "SUA 1",
    Outcome.SUA_2: "SUA 2",
    Outcome.SUA_3: "SUA 3",
    Outcome.AGREEMENT: "Överenskommelse",
    Outcome.NONE: "Ingen",
}
WHERE_LABELS: Final[Mapping[str, str]] = {
    Where.SUPPLIER: "Hos leverantören eller genom fjärråtkomst",
    Where.OURS: "Endast i våra egna lokaler och system",
}


@dataclass(frozen=True)
class TriageAnswers:
    """The upphandlare's answers; none of them is classified."""

    classified_access: bool  # uppgifter classified KONFIDENTIELL or higher
    sensitive_activity: bool  # systems/premises of säkerhetskänslig verksamhet, harm ≥ inte obetydlig
    where: Where  # where the access happens
    staff_vetting: bool  # staff need säkerhetsklass placement without access to classified uppgifter
    restricted_access: bool  # uppgifter classified BEGRÄNSAT HEMLIG at most
    sub_suppliers: bool  # sub-suppliers take part


# The questions as the form asks them, by field name of TriageAnswers.
QUESTIONS: Final[Mapping[str, str]] = {
    "classified_access": (
        "Kan leverantören få tillgång till uppgifter som är säkerhetsskyddsklassificerade "
        "KONFIDENTIELL eller högre?"
    ),
    "sensitive_activity": (
        "Kan leverantören få tillgång till system eller lokaler i säkerhetskänslig verksamhet där "
        "skadan vid ett angrepp skulle bli minst inte obetydlig?"
    ),
    "where": "Var sker leverantörens tillgång?",
    "staff_vetting": (
        "Behöver leverantörens personal placeras i säkerhetsklass (säkerhetsprövas) trots att de "
        "inte får tillgång till säkerhetsskyddsklassificerade uppgifter?"
    ),
    "restricted_access": (
        "Kan leverantören få tillgång till uppgifter som är säkerhetsskyddsklassificerade "
        "BEGRÄNSAT HEMLIG (men inte högre)?"
    ),
    "sub_suppliers": "Kommer underleverantörer att delta?",
}


class DutyKind(enum.StrEnum):
    """Every duty a säkerhetsskyddad procurement can carry; the value is stored."""

    ASSESSMENT = "sarskild_bedomning"
    SUITABILITY = "lamplighetsprovning"
    CONSULTATION = "samrad"
    NOTIFY_INTENT = "anmalan_avsikt"
    SUA_SIGNED = "sua_undertecknat"
    AGREEMENT_SIGNED = "overenskommelse_undertecknad"
    SUBCONTRACTOR_AGREEMENT = "underleverantor_avtal"
    NOTIFY_SIGNED = "anmalan_tecknat"
    ASSESSMENT_UPDATED = "bedomning_uppdaterad"
    ACCESS_GRANTED = "tillgang_given"
    FIRST_VISIT = "forstagangsbesok"
    SECURITY_INSTRUCTION = "sakerhetsskyddsinstruktion"
    STAFF_VETTING = "personal_sakerhetsprovad"
    NOTIFY_ENDED = "anmalan_upphort"
    REGISTER_DEREGISTRATION = "avregistrering_registerkontroll"
    INFORMATION_RETURNED = "information_aterlamnad"
    FINAL_NOTE = "slutanteckning"


class Phase(enum.StrEnum):
    BEFORE = "fore"  # before the procedure
    SIGNING = "avtal"  # up to signing and access
    CONTRACT = "under"  # while the contract runs
    END = "slut"  # when the contract ends


PHASE_LABELS: Final[Mapping[str, str]] = {
    Phase.BEFORE: "Före förfarandet",
    Phase.SIGNING: "Avtal och tillgång",
    Phase.CONTRACT: "Under avtalstiden",
    Phase.END: "Vid avtalets slut",
}


@dataclass(frozen=True)
class DutyRule:
    phase: Phase
    label: str
    explanation: str
    prompt: bool = False  # "utan dröjsmål": due a short configurable time after what triggers it


DUTY_RULES: Final[Mapping[DutyKind, DutyRule]] = {
    DutyKind.ASSESSMENT: DutyRule(
        Phase.BEFORE,
        "Särskild säkerhetsskyddsbedömning",
        "Dokumenteras före förfarandet: vilka säkerhetskänsliga uppgifter och vilken verksamhet "
        "förfarandet rör och hur de skyddas.",
    ),
    DutyKind.SUITABILITY: DutyRule(
        Phase.BEFORE,
        "Lämplighetsprövning",
        "Dokumenteras före förfarandet: om förfarandet är lämpligt från säkerhetsskyddssynpunkt.",
    ),
    DutyKind.CONSULTATION: DutyRule(
        Phase.BEFORE,
        "Samråd med tillsynsmyndigheten",
        "Före förfarandet. Tillsynsmyndigheten kan låta förfarandet fortsätta, förelägga om "
        "åtgärder eller stoppa det.",
    ),
    DutyKind.NOTIFY_INTENT: DutyRule(
        Phase.BEFORE,
        "Anmälan om avsikt att ingå säkerhetsskyddsavtal",
        "Till tillsynsmyndigheten och den som beslutar om säkerhetsklassplacering, utan dröjsmål.",
        prompt=True,
    ),
    DutyKind.SUA_SIGNED: DutyRule(
        Phase.SIGNING,
        "Säkerhetsskyddsavtal undertecknat",
        "Avtalet ska vara undertecknat innan leverantören får tillgång.",
    ),
    DutyKind.AGREEMENT_SIGNED: DutyRule(
        Phase.SIGNING,
        "Säkerhetsskyddsöverenskommelse undertecknad",
        "Överenskommelsen ska vara undertecknad innan leverantören får tillgång.",
    ),
    DutyKind.SUBCONTRACTOR_AGREEMENT: DutyRule(
        Phase.SIGNING,
        "Avtal med underleverantörer",
        "Leverantören ska ha motsvarande avtal med de underleverantörer som får tillgång.",
    ),
    DutyKind.NOTIFY_SIGNED: DutyRule(
        Phase.SIGNING,
        "Anmälan om tecknat säkerhetsskyddsavtal",
        "Till tillsynsmyndigheten, utan dröjsmål efter undertecknandet.",
        prompt=True,
    ),
    DutyKind.ASSESSMENT_UPDATED: DutyRule(
        Phase.SIGNING,
        "Bedömningarna uppdaterade",
        "Säkerhetsskyddsbedömningen och lämplighetsprövningen uppdateras när leverantören och "
        "underleverantörerna är kända.",
    ),
    DutyKind.ACCESS_GRANTED: DutyRule(
        Phase.SIGNING,
        "Leverantören har fått tillgång",
        "Registreras när leverantören får tillgång. Kräver ett undertecknat avtal.",
    ),
    DutyKind.FIRST_VISIT: DutyRule(
        Phase.CONTRACT,
        "Förstagångsbesök hos leverantören",
        "Vid nivå 1, innan leverantören hanterar uppgifterna i sina lokaler.",
    ),
    DutyKind.SECURITY_INSTRUCTION: DutyRule(
        Phase.CONTRACT,
        "Leverantörens säkerhetsskyddsinstruktion",
        "Vid nivå 1: leverantörens instruktion finns och har granskats.",
    ),
    DutyKind.STAFF_VETTING: DutyRule(
        Phase.CONTRACT,
        "Säkerhetsprövning av leverantörens personal",
        "Personal i säkerhetsklassade befattningar ska vara säkerhetsprövad innan de får tillgång.",
    ),
    DutyKind.NOTIFY_ENDED: DutyRule(
        Phase.END,
        "Avanmälan till tillsynsmyndigheten",
        "Anmälan om att säkerhetsskyddsavtalet har upphört, utan dröjsmål.",
        prompt=True,
    ),
    DutyKind.REGISTER_DEREGISTRATION: DutyRule(
        Phase.END,
        "Avregistrering av registerkontroll",
        "Leverantörspersonalens registerkontroller avanmäls utan dröjsmål.",
        prompt=True,
    ),
    DutyKind.INFORMATION_RETURNED: DutyRule(
        Phase.END,
        "Information återlämnad eller förstörd",
        "Med leverantörens bekräftelse.",
    ),
    DutyKind.FINAL_NOTE: DutyRule(
        Phase.END,
        "Slutanteckning",
        "Avslutar ärendet när övriga punkter vid avtalets slut är klara.",
    ),
}

# The order duties are listed and followed in.
DUTY_ORDER: Final[tuple[DutyKind, ...]] = tuple(DutyKind)

# A duty may not be marked done before these are done (the system refuses).
PREREQUISITES: Final[Mapping[DutyKind, tuple[DutyKind, ...]]] = {
    DutyKind.ACCESS_GRANTED: (DutyKind.SUA_SIGNED, DutyKind.AGREEMENT_SIGNED),
    DutyKind.NOTIFY_SIGNED: (DutyKind.SUA_SIGNED,),
    DutyKind.FINAL_NOTE: (
        DutyKind.NOTIFY_ENDED,
        DutyKind.REGISTER_DEREGISTRATION,
        DutyKind.INFORMATION_RETURNED,
    ),
}

# Days after the contract end for returning information and for the final note.
INFORMATION_RETURN_DAYS: Final = 30
FINAL_NOTE_DAYS: Final = 60


@dataclass(frozen=True)
class Derivation:
    """The proposed outcome with its reasons (Swedish sentences, in order)."""

    outcome: Outcome
    consultation: bool
    reasons: tuple[str, ...]

    def duties(self, *, sub_suppliers: bool) -> tuple[DutyKind, ...]:
        return duties_for(self.outcome, consultation=self.consultation, sub_suppliers=sub_suppliers)


def derive(answers: TriageAnswers) -> Derivation:
    """The proposed agreement, whether samråd is likely required, and why."""
    reasons: list[str] = []
    if answers.classified_access or answers.sensitive_activity:
        if answers.classified_access:
            reasons.append(
                "Leverantören kan få tillgång till uppgifter i säkerhetsskyddsklass KONFIDENTIELL "
                "eller högre."
            )
        if answers.sensitive_activity:
            reasons.append(
                "Leverantören kan få tillgång till säkerhetskänslig verksamhet där skadan skulle bli "
                "minst inte obetydlig."
            )
        reasons.append("Därför krävs ett säkerhetsskyddsavtal.")
        if answers.where == Where.SUPPLIER:
            outcome = Outcome.SUA_1
            reasons.append("Tillgången sker hos leverantören eller genom fjärråtkomst: nivå 1.")
        else:
            outcome = Outcome.SUA_2
            reasons.append("Tillgången sker endast i våra egna lokaler och system: nivå 2.")
        reasons.append(
            "Samråd med tillsynsmyndigheten krävs sannolikt före förfarandet, eftersom tillgången "
            "motsvarar KONFIDENTIELL eller högre."
        )
        return Derivation(outcome, True, tuple(reasons))
    if answers.staff_vetting:
        reasons.append(
            "Leverantören får inga säkerhetsskyddsklassificerade uppgifter, men personalen ska "
            "placeras i säkerhetsklass: säkerhetsskyddsavtal nivå 3."
        )
        if answers.restricted_access:
            reasons.append("Avtalet omfattar också de uppgifter i BEGRÄNSAT HEMLIG som leverantören kan få.")
        reasons.append(
            "Samråd krävs normalt inte när leverantören inte får uppgifter i KONFIDENTIELL eller högre."
        )
        return Derivation(Outcome.SUA_3, False, tuple(reasons))
    if answers.restricted_access:
        reasons.append(
            "Leverantören kan få uppgifter i BEGRÄNSAT HEMLIG men inte högre, och ingen personal "
            "behöver placeras i säkerhetsklass: en säkerhetsskyddsöverenskommelse räcker."
        )
        return Derivation(Outcome.AGREEMENT, False, tuple(reasons))
    reasons.append(
        "Leverantören får varken säkerhetsskyddsklassificerade uppgifter eller tillgång till "
        "säkerhetskänslig verksamhet, och ingen personal ska placeras i säkerhetsklass: inget "
        "säkerhetsskyddsavtal behövs."
    )
    return Derivation(Outcome.NONE, False, tuple(reasons))


def duties_for(outcome: Outcome, *, consultation: bool, sub_suppliers: bool) -> tuple[DutyKind, ...]:
    """The duties of a confirmed outcome, in DUTY_ORDER."""
    if outcome == Outcome.NONE:
        return ()
    kinds = {DutyKind.ASSESSMENT, DutyKind.SUITABILITY, DutyKind.ASSESSMENT_UPDATED, DutyKind.ACCESS_GRANTED}
    kinds |= {DutyKind.INFORMATION_RETURNED, DutyKind.FINAL_NOTE}
    if consultation:
        kinds.add(DutyKind.CONSULTATION)
    if sub_suppliers:
        kinds.add(DutyKind.SUBCONTRACTOR_AGREEMENT)
    if outcome == Outcome.AGREEMENT:
        kinds.add(DutyKind.AGREEMENT_SIGNED)
    else:
        kinds |= {
            DutyKind.NOTIFY_INTENT,
            DutyKind.SUA_SIGNED,
            DutyKind.NOTIFY_SIGNED,
            DutyKind.STAFF_VETTING,
            DutyKind.NOTIFY_ENDED,
            DutyKind.REGISTER_DEREGISTRATION,
        }
    if outcome == Outcome.SUA_1:
        kinds |= {DutyKind.FIRST_VISIT, DutyKind.SECURITY_INSTRUCTION}
    return tuple(kind for kind in DUTY_ORDER if kind in kinds)


@dataclass(frozen=True)
class DutyDates:
    """The dates deadlines are counted from; None while not yet known."""

    procedure_starts_on: dt.date
    contract_starts_on: dt.date | None
    contract_ends_on: dt.date | None
    confirmed_on: dt.date | None  # the samordnare confirmed the triage
    signed_on: dt.date | None  # the säkerhetsskyddsavtal was signed


def due_on(kind: DutyKind, dates: DutyDates, prompt_days: int) -> dt.date | None:
    """The deadline of a duty, or None when it has none yet (or none at all: access granted)."""
    prompt = dt.timedelta(days=prompt_days)
    if kind in (DutyKind.ASSESSMENT, DutyKind.SUITABILITY, DutyKind.CONSULTATION):
        return dates.procedure_starts_on
    if kind == DutyKind.NOTIFY_INTENT:
        return dates.confirmed_on + prompt if dates.confirmed_on else None
    if kind == DutyKind.NOTIFY_SIGNED:
        return dates.signed_on + prompt if dates.signed_on else None
    if kind == DutyKind.ACCESS_GRANTED:
        return None
    if DUTY_RULES[kind].phase in (Phase.SIGNING, Phase.CONTRACT):
        return dates.contract_starts_on
    # Phase.END
    if dates.contract_ends_on is None:
        return None
    if kind == DutyKind.INFORMATION_RETURNED:
        return dates.contract_ends_on + dt.timedelta(days=INFORMATION_RETURN_DAYS)
    if kind == DutyKind.FINAL_NOTE:
        return dates.contract_ends_on + dt.timedelta(days=FINAL_NOTE_DAYS)
    return dates.contract_ends_on + prompt


def missing_prerequisites(
    kind: DutyKind, done: Sequence[DutyKind], present: Sequence[DutyKind]
) -> list[DutyKind]:
    """What must be done before `kind` can be: the prerequisites that this procurement carries
    (`present`) and that are not `done`. For access, one signed agreement of either kind is enough."""
    needed = [k for k in PREREQUISITES.get(kind, ()) if k in present]
    if kind == DutyKind.ACCESS_GRANTED:
        return [] if any(k in done for k in needed) else needed
    return [k for k in needed if k not in done]


# Samråd outcomes (the supervisory authority's answer).
class ConsultationOutcome(enum.StrEnum):
    PROCEED = "fortsatta"
    MEASURES = "atgarder"
    STOPPED = "stoppat"


CONSULTATION_OUTCOME_LABELS: Final[Mapping[str, str]] = {
    ConsultationOutcome.PROCEED: "Förfarandet får fortsätta",
    ConsultationOutcome.MEASURES: "Tillsynsmyndigheten förelägger om åtgärder",
    ConsultationOutcome.STOPPED: "Tillsynsmyndigheten har stoppat förfarandet",
}


def follow_up_months(outcome: Outcome, cadence: Mapping[str, int]) -> int | None:
    """How often the supplier is followed up; None when there is no agreement to follow."""
    if outcome == Outcome.NONE:
        return None
    return cadence[outcome]


DEFAULT_FOLLOW_UP_MONTHS: Final[Mapping[str, int]] = {
    Outcome.SUA_1: 6,
    Outcome.SUA_2: 12,
    Outcome.SUA_3: 12,
    Outcome.AGREEMENT: 24,
}
