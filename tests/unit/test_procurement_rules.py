"""The rules of a säkerhetsskyddad upphandling (sakskydd.procurements.rules), checked against
tables written out by hand from DOMAIN.md §3.

The tables are the oracle: they are not computed from the rules they check. Read them as a
lawyer would: each row is one set of answers (or one outcome) and what the law asks for.

  J = ja, N = nej
  LEV  = tillgången sker hos leverantören eller genom fjärråtkomst
  EGNA = tillgången sker endast i våra egna lokaler och system
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sakskydd.procurements.rules import (
    DEFAULT_FOLLOW_UP_MONTHS,
    DUTY_ORDER,
    DUTY_RULES,
    DutyDates,
    DutyKind,
    Outcome,
    TriageAnswers,
    Where,
    derive,
    due_on,
    duties_for,
    follow_up_months,
    missing_prerequisites,
)

J, N = True, False
LEV, EGNA = Where.SUPPLIER, Where.OURS
SUA_1, SUA_2, SUA_3 = Outcome.SUA_1, Outcome.SUA_2, Outcome.SUA_3
OVERENSKOMMELSE, INGEN = Outcome.AGREEMENT, Outcome.NONE

# --- 1. Triage: every combination of the six answers -------------------------------------------
#
# DOMAIN.md §3: KONFIDENTIELL or higher, or säkerhetskänslig verksamhet with harm at least "inte
# obetydlig" → säkerhetsskyddsavtal, nivå 1 at the supplier's or by remote access, nivå 2 only in
# our own premises, and samråd with the tillsynsmyndighet. Otherwise staff to be vetted → nivå 3.
# Otherwise BEGRÄNSAT HEMLIG at most → säkerhetsskyddsöverenskommelse. Otherwise nothing.
# Where the access happens matters only for nivå 1/2; sub-suppliers never change the outcome.

# fmt: off
TRIAGE_TABLE: list[tuple[bool, bool, Where, bool, bool, bool, Outcome, bool]] = [
    # K = KONFIDENTIELL eller högre, V = säkerhetskänslig verksamhet (minst inte obetydlig skada),
    # var = var tillgången sker, P = personal i säkerhetsklass, B = BEGRÄNSAT HEMLIG,
    # U = underleverantörer; utfall och samråd är det förslag som ska ges.
    #K  V  var   P  B  U  utfall           samråd
    # --- Säkerhetsskyddsavtal nivå 1: KONFIDENTIELL+ eller säkerhetskänslig verksamhet, hos leverantören
    (J, J, LEV,  J, J, J, SUA_1,           J),
    (J, J, LEV,  J, J, N, SUA_1,           J),
    (J, J, LEV,  J, N, J, SUA_1,           J),
    (J, J, LEV,  J, N, N, SUA_1,           J),
    (J, J, LEV,  N, J, J, SUA_1,           J),
    (J, J, LEV,  N, J, N, SUA_1,           J),
    (J, J, LEV,  N, N, J, SUA_1,           J),
    (J, J, LEV,  N, N, N, SUA_1,           J),
    (J, N, LEV,  J, J, J, SUA_1,           J),
    (J, N, LEV,  J, J, N, SUA_1,           J),
    (J, N, LEV,  J, N, J, SUA_1,           J),
    (J, N, LEV,  J, N, N, SUA_1,           J),
    (J, N, LEV,  N, J, J, SUA_1,           J),
    (J, N, LEV,  N, J, N, SUA_1,           J),
    (J, N, LEV,  N, N, J, SUA_1,           J),
    (J, N, LEV,  N, N, N, SUA_1,           J),
    (N, J, LEV,  J, J, J, SUA_1,           J),
    (N, J, LEV,  J, J, N, SUA_1,           J),
    (N, J, LEV,  J, N, J, SUA_1,           J),
    (N, J, LEV,  J, N, N, SUA_1,           J),
    (N, J, LEV,  N, J, J, SUA_1,           J),
    (N, J, LEV,  N, J, N, SUA_1,           J),
    (N, J, LEV,  N, N, J, SUA_1,           J),
    (N, J, LEV,  N, N, N, SUA_1,           J),
    # --- Säkerhetsskyddsavtal nivå 2: KONFIDENTIELL+ eller säkerhetskänslig verksamhet, bara hos oss
    (J, J, EGNA, J, J, J, SUA_2,           J),
    (J, J, EGNA, J, J, N, SUA_2,           J),
    (J, J, EGNA, J, N, J, SUA_2,           J),
    (J, J, EGNA, J, N, N, SUA_2,           J),
    (J, J, EGNA, N, J, J, SUA_2,           J),
    (J, J, EGNA, N, J, N, SUA_2,           J),
    (J, J, EGNA, N, N, J, SUA_2,           J),
    (J, J, EGNA, N, N, N, SUA_2,           J),
    (J, N, EGNA, J, J, J, SUA_2,           J),
    (J, N, EGNA, J, J, N, SUA_2,           J),
    (J, N, EGNA, J, N, J, SUA_2,           J),
    (J, N, EGNA, J, N, N, SUA_2,           J),
    (J, N, EGNA, N, J, J, SUA_2,           J),
    (J, N, EGNA, N, J, N, SUA_2,           J),
    (J, N, EGNA, N, N, J, SUA_2,           J),
    (J, N, EGNA, N, N, N, SUA_2,           J),
    (N, J, EGNA, J, J, J, SUA_2,           J),
    (N, J, EGNA, J, J, N, SUA_2,           J),
    (N, J, EGNA, J, N, J, SUA_2,           J),
    (N, J, EGNA, J, N, N, SUA_2,           J),
    (N, J, EGNA, N, J, J, SUA_2,           J),
    (N, J, EGNA, N, J, N, SUA_2,           J),
    (N, J, EGNA, N, N, J, SUA_2,           J),
    (N, J, EGNA, N, N, N, SUA_2,           J),
    # --- Säkerhetsskyddsavtal nivå 3: inga klassificerade uppgifter, men personal i säkerhetsklass
    (N, N, LEV,  J, J, J, SUA_3,           N),
    (N, N, LEV,  J, J, N, SUA_3,           N),
    (N, N, LEV,  J, N, J, SUA_3,           N),
    (N, N, LEV,  J, N, N, SUA_3,           N),
    (N, N, EGNA, J, J, J, SUA_3,           N),
    (N, N, EGNA, J, J, N, SUA_3,           N),
    (N, N, EGNA, J, N, J, SUA_3,           N),
    (N, N, EGNA, J, N, N, SUA_3,           N),
    # --- Säkerhetsskyddsöverenskommelse: högst BEGRÄNSAT HEMLIG, ingen säkerhetsklass
    (N, N, LEV,  N, J, J, OVERENSKOMMELSE, N),
    (N, N, LEV,  N, J, N, OVERENSKOMMELSE, N),
    (N, N, EGNA, N, J, J, OVERENSKOMMELSE, N),
    (N, N, EGNA, N, J, N, OVERENSKOMMELSE, N),
    # --- Inget säkerhetsskyddsavtal
    (N, N, LEV,  N, N, J, INGEN,           N),
    (N, N, LEV,  N, N, N, INGEN,           N),
    (N, N, EGNA, N, N, J, INGEN,           N),
    (N, N, EGNA, N, N, N, INGEN,           N),
]
# fmt: on


def _answers(row: tuple[bool, bool, Where, bool, bool, bool, Outcome, bool]) -> TriageAnswers:
    k, verks, where, pers, bh, ulev, _, _ = row
    return TriageAnswers(
        classified_access=k,
        sensitive_activity=verks,
        where=where,
        staff_vetting=pers,
        restricted_access=bh,
        sub_suppliers=ulev,
    )


def test_triage_table_covers_every_combination_exactly_once() -> None:
    inputs = [row[:6] for row in TRIAGE_TABLE]
    everything = set(itertools.product([J, N], [J, N], list(Where), [J, N], [J, N], [J, N]))
    assert len(everything) == 64
    assert len(inputs) == 64
    assert len(set(inputs)) == 64, "a combination appears twice"
    assert set(inputs) == everything


@pytest.mark.parametrize(
    "row",
    TRIAGE_TABLE,
    ids=lambda row: "".join("J" if x is True else "N" if x is False else str(x)[:3] for x in row[:6]),
)
def test_derive_matches_the_table(row: tuple[bool, bool, Where, bool, bool, bool, Outcome, bool]) -> None:
    expected_outcome, expected_consultation = row[6], row[7]
    derivation = derive(_answers(row))
    assert derivation.outcome == expected_outcome
    assert derivation.consultation is expected_consultation


# What the reasons must say for each outcome (DOMAIN.md §3 names).
REASON_MENTIONS = {
    SUA_1: "nivå 1",
    SUA_2: "nivå 2",
    SUA_3: "nivå 3",
    OVERENSKOMMELSE: "överenskommelse",
    INGEN: "inget säkerhetsskyddsavtal",
}


@pytest.mark.parametrize("row", TRIAGE_TABLE)
def test_reasons_are_swedish_sentences_that_name_the_outcome(
    row: tuple[bool, bool, Where, bool, bool, bool, Outcome, bool],
) -> None:
    answers = _answers(row)
    reasons = derive(answers).reasons
    assert reasons, "a proposal always says why"
    for reason in reasons:
        assert reason.strip() == reason and len(reason) > 15
        assert reason[0].isupper(), reason
        assert reason.endswith("."), reason
        assert not reason.endswith(".."), reason
        assert any(ch in reason.lower() for ch in "åäö"), f"not Swedish: {reason}"
        padded = f" {reason.lower()} "
        assert not any(f" {word} " in padded for word in ("the", "and", "is", "of", "supplier")), reason
    text = " ".join(reasons)
    assert REASON_MENTIONS[row[6]] in text.lower()
    # The other outcomes' words do not appear (no "nivå 1" in a nivå 2 proposal).
    for outcome, words in REASON_MENTIONS.items():
        if outcome != row[6] and words.startswith("nivå"):
            assert words not in text, text
    # The reasons name what triggered an avtal at nivå 1/2.
    if answers.classified_access:
        assert "KONFIDENTIELL" in text
    if answers.sensitive_activity:
        assert "säkerhetskänslig verksamhet" in text
    if row[7]:
        assert "Samråd" in text


# --- 2. Duties of a confirmed outcome ----------------------------------------------------------
#
# One column per outcome × samråd (J/N) × underleverantörer (J/N); x = the duty applies. The rows
# are in the order duties are listed (DUTY_ORDER); the row name is the stored DutyKind value.
# DOMAIN.md §3: before the procedure the särskild säkerhetsskyddsbedömning and the
# lämplighetsprövning (and samråd where it applies); anmälan of intent, signing and end for a
# säkerhetsskyddsavtal; the avtal (or överenskommelse) signed before access; both assessments
# updated; sub-suppliers' agreements; at nivå 1 förstagångsbesök and säkerhetsskyddsinstruktion;
# vetting of supplier staff in säkerhetsklass (every nivå: nivå 3 exists because of it, nivå 1/2
# give access to KONFIDENTIELL+ which needs placement); at the end avanmälan, registerkontroll
# deregistration, information returned and a final note. No agreement: no duties.

# fmt: off
DUTY_MATRIX = """
                                  SUA_1  SUA_2  SUA_3  ÖVERENSK  INGEN
samråd                            JJNN   JJNN   JJNN   JJNN      JJNN
underleverantörer                 JNJN   JNJN   JNJN   JNJN      JNJN
sarskild_bedomning                xxxx   xxxx   xxxx   xxxx      ....
lamplighetsprovning               xxxx   xxxx   xxxx   xxxx      ....
samrad                            xx..   xx..   xx..   xx..      ....
anmalan_avsikt                    xxxx   xxxx   xxxx   ....      ....
sua_undertecknat                  xxxx   xxxx   xxxx   ....      ....
overenskommelse_undertecknad      ....   ....   ....   xxxx      ....
underleverantor_avtal             x.x.   x.x.   x.x.   x.x.      ....
anmalan_tecknat                   xxxx   xxxx   xxxx   ....      ....
bedomning_uppdaterad              xxxx   xxxx   xxxx   xxxx      ....
tillgang_given                    xxxx   xxxx   xxxx   xxxx      ....
forstagangsbesok                  xxxx   ....   ....   ....      ....
sakerhetsskyddsinstruktion        xxxx   ....   ....   ....      ....
personal_sakerhetsprovad          xxxx   xxxx   xxxx   ....      ....
anmalan_upphort                   xxxx   xxxx   xxxx   ....      ....
avregistrering_registerkontroll   xxxx   xxxx   xxxx   ....      ....
information_aterlamnad            xxxx   xxxx   xxxx   xxxx      ....
slutanteckning                    xxxx   xxxx   xxxx   xxxx      ....
"""
# fmt: on

MATRIX_OUTCOMES = (SUA_1, SUA_2, SUA_3, OVERENSKOMMELSE, INGEN)


def _parse_duty_matrix() -> dict[tuple[Outcome, bool, bool], tuple[DutyKind, ...]]:
    lines = [line.split() for line in DUTY_MATRIX.strip().splitlines()]
    header, consult_row, sub_row, *duty_rows = lines
    assert header == ["SUA_1", "SUA_2", "SUA_3", "ÖVERENSK", "INGEN"]
    assert consult_row[0] == "samråd" and sub_row[0] == "underleverantörer"
    columns: list[tuple[Outcome, bool, bool]] = []
    for outcome, consult_group, sub_group in zip(MATRIX_OUTCOMES, consult_row[1:], sub_row[1:], strict=True):
        for consult, sub in zip(consult_group, sub_group, strict=True):
            columns.append((outcome, consult == "J", sub == "J"))
    kinds = [DutyKind(row[0]) for row in duty_rows]
    assert kinds == list(DutyKind), "the matrix lists every duty once, in the order they are followed"
    table: dict[tuple[Outcome, bool, bool], list[DutyKind]] = {column: [] for column in columns}
    for kind, row in zip(kinds, duty_rows, strict=True):
        marks = "".join(row[1:])
        assert len(marks) == len(columns) and set(marks) <= {"x", "."}
        for column, mark in zip(columns, marks, strict=True):
            if mark == "x":
                table[column].append(kind)
    return {column: tuple(duties) for column, duties in table.items()}


EXPECTED_DUTIES = _parse_duty_matrix()


def test_duty_matrix_covers_every_outcome_consultation_and_sub_supplier_combination() -> None:
    assert len(EXPECTED_DUTIES) == 20
    assert set(EXPECTED_DUTIES) == set(itertools.product(list(Outcome), [J, N], [J, N]))


@pytest.mark.parametrize("column", sorted(EXPECTED_DUTIES, key=str), ids=str)
def test_duties_for_matches_the_matrix(column: tuple[Outcome, bool, bool]) -> None:
    outcome, consultation, sub_suppliers = column
    assert (
        duties_for(outcome, consultation=consultation, sub_suppliers=sub_suppliers) == EXPECTED_DUTIES[column]
    )


@pytest.mark.parametrize("column", sorted(EXPECTED_DUTIES, key=str), ids=str)
def test_duties_invariants(column: tuple[Outcome, bool, bool]) -> None:
    outcome, consultation, sub_suppliers = column
    duties = duties_for(outcome, consultation=consultation, sub_suppliers=sub_suppliers)
    assert isinstance(duties, tuple)
    assert len(set(duties)) == len(duties), "no duty twice"
    assert list(duties) == sorted(duties, key=DUTY_ORDER.index), "in DUTY_ORDER"
    if outcome == INGEN:
        assert duties == ()
    if DutyKind.ACCESS_GRANTED in duties:
        # DOMAIN.md §3: signed before the supplier gets access.
        assert DutyKind.SUA_SIGNED in duties or DutyKind.AGREEMENT_SIGNED in duties
    assert (DutyKind.SUA_SIGNED in duties) == outcome.is_sua
    assert (DutyKind.AGREEMENT_SIGNED in duties) == (outcome == OVERENSKOMMELSE)
    for level_1_only in (DutyKind.FIRST_VISIT, DutyKind.SECURITY_INSTRUCTION):
        assert (level_1_only in duties) == (outcome == SUA_1)
    assert (DutyKind.CONSULTATION in duties) == (consultation and outcome != INGEN)
    assert (DutyKind.SUBCONTRACTOR_AGREEMENT in duties) == (sub_suppliers and outcome != INGEN)


def test_every_duty_has_a_rule_with_a_swedish_label() -> None:
    assert set(DUTY_RULES) == set(DutyKind)
    assert set(DUTY_ORDER) == set(DutyKind) and len(DUTY_ORDER) == len(DutyKind)
    labels = [rule.label for rule in DUTY_RULES.values()]
    assert len(set(labels)) == len(labels), "two duties share a label"
    for kind, rule in DUTY_RULES.items():
        assert rule.label and rule.label[0].isupper() and rule.label.strip() == rule.label, kind
        assert rule.label != kind.value
        assert rule.explanation.endswith("."), kind
        text = f" {rule.label} {rule.explanation} ".lower()
        assert any(ch in text for ch in "åäö"), f"not Swedish: {rule.label}"
        assert not any(f" {word} " in text for word in ("the", "and", "is", "of")), kind


# --- 3. Deadlines ------------------------------------------------------------------------------

DATES = DutyDates(
    procedure_starts_on=dt.date(2025, 3, 3),
    contract_starts_on=dt.date(2025, 6, 2),
    contract_ends_on=dt.date(2027, 5, 31),
    confirmed_on=dt.date(2025, 1, 15),
    signed_on=dt.date(2025, 5, 20),
)
PROMPT_DAYS = 5

# With DATES and PROMPT_DAYS ("utan dröjsmål" = 5 days): what is due when.
EXPECTED_DUE: dict[DutyKind, dt.date | None] = {
    # before the procedure starts
    DutyKind.ASSESSMENT: dt.date(2025, 3, 3),
    DutyKind.SUITABILITY: dt.date(2025, 3, 3),
    DutyKind.CONSULTATION: dt.date(2025, 3, 3),
    # utan dröjsmål after the samordnare confirmed the triage: 15 jan + 5
    DutyKind.NOTIFY_INTENT: dt.date(2025, 1, 20),
    # by the start of the contract
    DutyKind.SUA_SIGNED: dt.date(2025, 6, 2),
    DutyKind.AGREEMENT_SIGNED: dt.date(2025, 6, 2),
    DutyKind.SUBCONTRACTOR_AGREEMENT: dt.date(2025, 6, 2),
    # utan dröjsmål after signing: 20 maj + 5
    DutyKind.NOTIFY_SIGNED: dt.date(2025, 5, 25),
    DutyKind.ASSESSMENT_UPDATED: dt.date(2025, 6, 2),
    # registered when it happens; no deadline of its own
    DutyKind.ACCESS_GRANTED: None,
    DutyKind.FIRST_VISIT: dt.date(2025, 6, 2),
    DutyKind.SECURITY_INSTRUCTION: dt.date(2025, 6, 2),
    DutyKind.STAFF_VETTING: dt.date(2025, 6, 2),
    # utan dröjsmål after the end: 31 maj 2027 + 5
    DutyKind.NOTIFY_ENDED: dt.date(2027, 6, 5),
    DutyKind.REGISTER_DEREGISTRATION: dt.date(2027, 6, 5),
    # 30 and 60 days after the end
    DutyKind.INFORMATION_RETURNED: dt.date(2027, 6, 30),
    DutyKind.FINAL_NOTE: dt.date(2027, 7, 30),
}

# The duties the law says are done "utan dröjsmål".
PROMPT_KINDS = {
    DutyKind.NOTIFY_INTENT,
    DutyKind.NOTIFY_SIGNED,
    DutyKind.NOTIFY_ENDED,
    DutyKind.REGISTER_DEREGISTRATION,
}


def test_due_table_covers_every_duty() -> None:
    assert set(EXPECTED_DUE) == set(DutyKind)


@pytest.mark.parametrize("kind", list(DutyKind))
def test_due_on_matches_the_table(kind: DutyKind) -> None:
    assert due_on(kind, DATES, PROMPT_DAYS) == EXPECTED_DUE[kind]


def test_prompt_duties_are_the_utan_drojsmal_ones() -> None:
    assert {kind for kind, rule in DUTY_RULES.items() if rule.prompt} == PROMPT_KINDS


@pytest.mark.parametrize("kind", list(DutyKind))
@pytest.mark.parametrize("prompt_days", [0, 1, 14, 30])
def test_prompt_duties_move_with_prompt_days(kind: DutyKind, prompt_days: int) -> None:
    due = due_on(kind, DATES, prompt_days)
    if kind in PROMPT_KINDS:
        expected = EXPECTED_DUE[kind]
        assert expected is not None
        assert due == expected + dt.timedelta(days=prompt_days - PROMPT_DAYS)
    else:
        assert due == EXPECTED_DUE[kind]


UNKNOWN = DutyDates(
    procedure_starts_on=dt.date(2025, 3, 3),
    contract_starts_on=None,
    contract_ends_on=None,
    confirmed_on=None,
    signed_on=None,
)

# While nothing but the procedure's start is known, only the before-duties have a deadline.
EXPECTED_DUE_UNKNOWN: dict[DutyKind, dt.date | None] = {kind: None for kind in DutyKind} | {
    DutyKind.ASSESSMENT: dt.date(2025, 3, 3),
    DutyKind.SUITABILITY: dt.date(2025, 3, 3),
    DutyKind.CONSULTATION: dt.date(2025, 3, 3),
}


@pytest.mark.parametrize("kind", list(DutyKind))
def test_due_on_is_none_until_its_date_is_known(kind: DutyKind) -> None:
    assert due_on(kind, UNKNOWN, PROMPT_DAYS) == EXPECTED_DUE_UNKNOWN[kind]


@pytest.mark.parametrize(
    ("kind", "missing", "expected"),
    [
        (DutyKind.NOTIFY_INTENT, "confirmed_on", None),
        (DutyKind.NOTIFY_SIGNED, "signed_on", None),
        (DutyKind.NOTIFY_ENDED, "contract_ends_on", None),
        (DutyKind.REGISTER_DEREGISTRATION, "contract_ends_on", None),
        (DutyKind.INFORMATION_RETURNED, "contract_ends_on", None),
        (DutyKind.FINAL_NOTE, "contract_ends_on", None),
        (DutyKind.SUA_SIGNED, "contract_starts_on", None),
        (DutyKind.STAFF_VETTING, "contract_starts_on", None),
        # A missing date that a duty does not count from changes nothing.
        (DutyKind.NOTIFY_INTENT, "signed_on", dt.date(2025, 1, 20)),
        (DutyKind.NOTIFY_SIGNED, "confirmed_on", dt.date(2025, 5, 25)),
        (DutyKind.FINAL_NOTE, "contract_starts_on", dt.date(2027, 7, 30)),
        (DutyKind.SUA_SIGNED, "contract_ends_on", dt.date(2025, 6, 2)),
    ],
)
def test_due_on_with_one_date_unknown(kind: DutyKind, missing: str, expected: dt.date | None) -> None:
    dates = DutyDates(**{**DATES.__dict__, missing: None})
    assert due_on(kind, dates, PROMPT_DAYS) == expected


@pytest.mark.parametrize("dates", [DATES, UNKNOWN])
@pytest.mark.parametrize("prompt_days", [0, 5, 365])
def test_access_granted_never_has_a_deadline(dates: DutyDates, prompt_days: int) -> None:
    assert due_on(DutyKind.ACCESS_GRANTED, dates, prompt_days) is None


# --- 4. What must be done first ----------------------------------------------------------------

# The duties a procurement carries, written out (nivå 1 with sub-suppliers; an överenskommelse).
SUA_PRESENT = (
    DutyKind.ASSESSMENT,
    DutyKind.SUITABILITY,
    DutyKind.CONSULTATION,
    DutyKind.NOTIFY_INTENT,
    DutyKind.SUA_SIGNED,
    DutyKind.SUBCONTRACTOR_AGREEMENT,
    DutyKind.NOTIFY_SIGNED,
    DutyKind.ASSESSMENT_UPDATED,
    DutyKind.ACCESS_GRANTED,
    DutyKind.FIRST_VISIT,
    DutyKind.SECURITY_INSTRUCTION,
    DutyKind.STAFF_VETTING,
    DutyKind.NOTIFY_ENDED,
    DutyKind.REGISTER_DEREGISTRATION,
    DutyKind.INFORMATION_RETURNED,
    DutyKind.FINAL_NOTE,
)
AGREEMENT_PRESENT = (
    DutyKind.ASSESSMENT,
    DutyKind.SUITABILITY,
    DutyKind.AGREEMENT_SIGNED,
    DutyKind.ASSESSMENT_UPDATED,
    DutyKind.ACCESS_GRANTED,
    DutyKind.INFORMATION_RETURNED,
    DutyKind.FINAL_NOTE,
)
# Everything but the signing itself: none of it lets the supplier in.
NOT_SIGNING = tuple(k for k in SUA_PRESENT if k not in (DutyKind.SUA_SIGNED, DutyKind.ACCESS_GRANTED))


@pytest.mark.parametrize(
    ("present", "done", "expected"),
    [
        # Refused before any signing duty is done …
        (SUA_PRESENT, (), [DutyKind.SUA_SIGNED]),
        (SUA_PRESENT, NOT_SIGNING, [DutyKind.SUA_SIGNED]),
        (AGREEMENT_PRESENT, (), [DutyKind.AGREEMENT_SIGNED]),
        (AGREEMENT_PRESENT, (DutyKind.ASSESSMENT, DutyKind.SUITABILITY), [DutyKind.AGREEMENT_SIGNED]),
        # … allowed once the procurement's own signing duty is done.
        (SUA_PRESENT, (DutyKind.SUA_SIGNED,), []),
        (AGREEMENT_PRESENT, (DutyKind.AGREEMENT_SIGNED,), []),
        # A signing duty the procurement does not carry does not count.
        (SUA_PRESENT, (DutyKind.AGREEMENT_SIGNED,), [DutyKind.SUA_SIGNED]),
        (AGREEMENT_PRESENT, (DutyKind.SUA_SIGNED,), [DutyKind.AGREEMENT_SIGNED]),
        # Both kinds present (an override): either one is enough, both are listed while neither is.
        (SUA_PRESENT + (DutyKind.AGREEMENT_SIGNED,), (), [DutyKind.SUA_SIGNED, DutyKind.AGREEMENT_SIGNED]),
        (SUA_PRESENT + (DutyKind.AGREEMENT_SIGNED,), (DutyKind.AGREEMENT_SIGNED,), []),
        (SUA_PRESENT + (DutyKind.AGREEMENT_SIGNED,), (DutyKind.SUA_SIGNED,), []),
        # No signing duty on the procurement at all: nothing to wait for.
        ((DutyKind.ACCESS_GRANTED,), (), []),
    ],
)
def test_access_needs_a_signed_agreement(
    present: tuple[DutyKind, ...], done: tuple[DutyKind, ...], expected: list[DutyKind]
) -> None:
    assert missing_prerequisites(DutyKind.ACCESS_GRANTED, list(done), list(present)) == expected


@pytest.mark.parametrize(
    ("present", "done", "expected"),
    [
        (SUA_PRESENT, (), [DutyKind.SUA_SIGNED]),
        (SUA_PRESENT, NOT_SIGNING, [DutyKind.SUA_SIGNED]),
        (SUA_PRESENT, (DutyKind.SUA_SIGNED,), []),
        # Not carried: not required.
        ((DutyKind.NOTIFY_SIGNED,), (), []),
    ],
)
def test_notify_signed_needs_the_sua_signed(
    present: tuple[DutyKind, ...], done: tuple[DutyKind, ...], expected: list[DutyKind]
) -> None:
    assert missing_prerequisites(DutyKind.NOTIFY_SIGNED, list(done), list(present)) == expected


END_DUTIES = [DutyKind.NOTIFY_ENDED, DutyKind.REGISTER_DEREGISTRATION, DutyKind.INFORMATION_RETURNED]
BEFORE_END = SUA_PRESENT[: SUA_PRESENT.index(DutyKind.NOTIFY_ENDED)]


@pytest.mark.parametrize(
    ("present", "done", "expected"),
    [
        (SUA_PRESENT, (), END_DUTIES),
        (SUA_PRESENT, BEFORE_END, END_DUTIES),  # everything before the end: still waiting
        (
            SUA_PRESENT,
            (DutyKind.NOTIFY_ENDED,),
            [DutyKind.REGISTER_DEREGISTRATION, DutyKind.INFORMATION_RETURNED],
        ),
        (
            SUA_PRESENT,
            (DutyKind.REGISTER_DEREGISTRATION,),
            [DutyKind.NOTIFY_ENDED, DutyKind.INFORMATION_RETURNED],
        ),
        (
            SUA_PRESENT,
            (DutyKind.NOTIFY_ENDED, DutyKind.REGISTER_DEREGISTRATION),
            [DutyKind.INFORMATION_RETURNED],
        ),
        (SUA_PRESENT, tuple(END_DUTIES), []),
        # An överenskommelse has no anmälan or registerkontroll: only the returned information.
        (AGREEMENT_PRESENT, (), [DutyKind.INFORMATION_RETURNED]),
        (AGREEMENT_PRESENT, (DutyKind.INFORMATION_RETURNED,), []),
        ((DutyKind.FINAL_NOTE,), (), []),
    ],
)
def test_final_note_needs_the_other_end_duties_present(
    present: tuple[DutyKind, ...], done: tuple[DutyKind, ...], expected: list[DutyKind]
) -> None:
    assert missing_prerequisites(DutyKind.FINAL_NOTE, list(done), list(present)) == expected


# Only these three duties wait for others (DOMAIN.md §3); every other can be marked done any time.
WITH_PREREQUISITES = {DutyKind.ACCESS_GRANTED, DutyKind.NOTIFY_SIGNED, DutyKind.FINAL_NOTE}


@pytest.mark.parametrize("kind", [k for k in DutyKind if k not in WITH_PREREQUISITES])
def test_other_duties_have_no_prerequisites(kind: DutyKind) -> None:
    assert missing_prerequisites(kind, [], list(DutyKind)) == []


# --- 5. Supplier follow-up ---------------------------------------------------------------------

EXPECTED_DEFAULT_MONTHS = {SUA_1: 6, SUA_2: 12, SUA_3: 12, OVERENSKOMMELSE: 24, INGEN: None}
CUSTOM_CADENCE = {"sua_1": 3, "sua_2": 4, "sua_3": 9, "overenskommelse": 18}
EXPECTED_CUSTOM_MONTHS = {SUA_1: 3, SUA_2: 4, SUA_3: 9, OVERENSKOMMELSE: 18, INGEN: None}


@pytest.mark.parametrize("outcome", list(Outcome))
def test_follow_up_months(outcome: Outcome) -> None:
    assert follow_up_months(outcome, DEFAULT_FOLLOW_UP_MONTHS) == EXPECTED_DEFAULT_MONTHS[outcome]
    assert follow_up_months(outcome, CUSTOM_CADENCE) == EXPECTED_CUSTOM_MONTHS[outcome]
    # No agreement, nothing to follow up, whatever the cadence says.
    assert follow_up_months(INGEN, {**CUSTOM_CADENCE, "ingen": 1}) is None


# --- 6. Properties over any answers ------------------------------------------------------------

ANSWERS = st.builds(
    TriageAnswers,
    classified_access=st.booleans(),
    sensitive_activity=st.booleans(),
    where=st.sampled_from(list(Where)),
    staff_vetting=st.booleans(),
    restricted_access=st.booleans(),
    sub_suppliers=st.booleans(),
)


@given(ANSWERS)
def test_derivation_duties_are_those_of_its_outcome(answers: TriageAnswers) -> None:
    derivation = derive(answers)
    assert derivation.duties(sub_suppliers=answers.sub_suppliers) == duties_for(
        derivation.outcome, consultation=derivation.consultation, sub_suppliers=answers.sub_suppliers
    )
    assert derivation.consultation is (derivation.outcome in (SUA_1, SUA_2))
    assert derivation.outcome.is_protected is (derivation.outcome != INGEN)
