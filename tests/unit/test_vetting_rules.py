"""The rules of a säkerhetsprövning (sakskydd.vetting.rules), checked against tables written out
by hand from DOMAIN.md §4 (säkerhetsskyddslagen 3 kap., säkerhetsskyddsförordningen 3 kap.).

The tables are the oracle: they are not computed from the rules they check. Read them as a
lawyer would: each row is one case (or one date) and what the law asks for.

  J = ja, N = nej
  K1, K2, K3 = placering i säkerhetsklass 1, 2, 3;  UP = säkerhetsprövning utan placering

The steps of the checklist, in the order they are followed (the stored value in brackets):

  ID  = identiteten kontrollerad (identitet)         SAM = samtycke till registerkontroll (samtycke)
  CV  = CV granskat (cv)                             RKB = registerkontroll begärd (registerkontroll_begard)
  BI  = betyg och intyg kontrollerade (betyg_intyg)  RKS = svar på registerkontroll (registerkontroll_svar)
  REF = referenser tagna (referenser)                SPU = särskild personutredning (sarskild_personutredning)
  INT = säkerhetsprövningsintervju (intervju)        SB  = samlad bedömning (samlad_bedomning)
  UTB = säkerhetsskyddsutbildning (utbildning)
"""

from __future__ import annotations

import calendar
import datetime as dt
import itertools
import uuid
from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sakskydd.vetting.rules import (
    CLASS_LABELS,
    CONTROL_REASON_LABELS,
    DECISION_LABELS,
    DEFAULT_RECHECK_YEARS,
    GROUNDWORK,
    PREREQUISITES,
    STEP_LABELS,
    STEP_ORDER,
    ControlReason,
    Decision,
    SecurityClass,
    StepKind,
    add_years,
    deregistration_due,
    disposal_due,
    may_confirm,
    missing_for_decision,
    missing_for_step,
    recheck_due,
    steps_for,
    training_allowed,
)

J, N = True, False
K1, K2, K3, UP = SecurityClass.CLASS_1, SecurityClass.CLASS_2, SecurityClass.CLASS_3, SecurityClass.UNPLACED
ID, CV, BI, REF = StepKind.IDENTITY, StepKind.CV, StepKind.CERTIFICATES, StepKind.REFERENCES
INT, SAM = StepKind.INTERVIEW, StepKind.CONSENT
RKB, RKS = StepKind.REGISTER_CHECK_REQUESTED, StepKind.REGISTER_CHECK_ANSWERED
SPU, SB, UTB = StepKind.SPECIAL_INVESTIGATION, StepKind.OVERALL_ASSESSMENT, StepKind.TRAINING

# The checklist in the order DOMAIN.md §4 lists it.
CHECKLIST = [ID, CV, BI, REF, INT, SAM, RKB, RKS, SPU, SB, UTB]
CLASSES = [K1, K2, K3, UP]


def _ids(value: object) -> str:
    if isinstance(value, (set, frozenset, list, tuple)):
        return "+".join(str(v) for v in sorted(value, key=CHECKLIST.index)) or "inget"
    return str(value)


# --- 1. The checklist of each placement --------------------------------------------------------
#
# Every case: grundutredning (ID, CV, BI, REF), intervju, samlad bedömning, utbildning. Placed in
# säkerhetsklass: samtycke, registerkontroll begärd and svar. Klass 1–2: särskild personutredning.
# Utan placering: no registerkontroll at all.

# fmt: off
STEP_TABLE: list[tuple[SecurityClass, bool, bool, bool, bool, bool, bool, bool, bool, bool, bool, bool]] = [
    #klass ID CV BI REF INT SAM RKB RKS SPU SB UTB
    (K1,   J, J, J, J,  J,  J,  J,  J,  J,  J, J),
    (K2,   J, J, J, J,  J,  J,  J,  J,  J,  J, J),
    (K3,   J, J, J, J,  J,  J,  J,  J,  N,  J, J),
    (UP,   J, J, J, J,  J,  N,  N,  N,  N,  J, J),
]
# fmt: on

EXPECTED_STEPS: dict[SecurityClass, tuple[StepKind, ...]] = {
    row[0]: tuple(step for step, mark in zip(CHECKLIST, row[1:], strict=True) if mark) for row in STEP_TABLE
}


def test_checklist_is_in_the_order_of_the_law() -> None:
    assert tuple(CHECKLIST) == STEP_ORDER
    assert list(StepKind) == CHECKLIST


def test_step_table_covers_every_class_once() -> None:
    assert [row[0] for row in STEP_TABLE] == list(SecurityClass)
    assert len(EXPECTED_STEPS[K1]) == 11
    assert len(EXPECTED_STEPS[K3]) == 10
    assert len(EXPECTED_STEPS[UP]) == 7


@pytest.mark.parametrize("klass", CLASSES, ids=str)
def test_steps_for_matches_the_table(klass: SecurityClass) -> None:
    assert steps_for(klass) == EXPECTED_STEPS[klass]


# klass → har registerkontroll (RK), särskild personutredning (SPU), beslutas av regeringen (REG)
# fmt: off
CLASS_PROPERTIES = [
    #klass RK SPU REG
    (K1,   J, J,  J),
    (K2,   J, J,  N),
    (K3,   J, N,  N),
    (UP,   N, N,  N),
]
# fmt: on


@pytest.mark.parametrize("row", CLASS_PROPERTIES, ids=lambda row: str(row[0]))
def test_security_class_properties(row: tuple[SecurityClass, bool, bool, bool]) -> None:
    klass, register_check, special_investigation, government = row
    assert klass.has_register_check is register_check
    assert klass.has_special_investigation is special_investigation
    assert klass.decided_by_government is government


# --- 2. What must be done before a step may be marked done -------------------------------------
#
# Grundutredning: nothing first. Intervju and samtycke: identiteten. No registerkontroll without
# samtycke, no svar without a begäran, the särskild personutredning follows the svar. The samlad
# bedömning weighs everything gathered (those steps the case has). Utbildning after it.
# Each row: klass, steg, and what is missing when nothing at all is done (in checklist order).

# fmt: off
MISSING_FROM_NOTHING: list[tuple[SecurityClass, StepKind, list[StepKind]]] = [
    #klass steg saknas
    (K1,   ID,  []),
    (K1,   CV,  []),
    (K1,   BI,  []),
    (K1,   REF, []),
    (K1,   INT, [ID]),
    (K1,   SAM, [ID]),
    (K1,   RKB, [SAM]),
    (K1,   RKS, [RKB]),
    (K1,   SPU, [RKS]),
    (K1,   SB,  [ID, CV, BI, REF, INT, SAM, RKB, RKS, SPU]),
    (K1,   UTB, [SB]),
    (K2,   ID,  []),
    (K2,   CV,  []),
    (K2,   BI,  []),
    (K2,   REF, []),
    (K2,   INT, [ID]),
    (K2,   SAM, [ID]),
    (K2,   RKB, [SAM]),
    (K2,   RKS, [RKB]),
    (K2,   SPU, [RKS]),
    (K2,   SB,  [ID, CV, BI, REF, INT, SAM, RKB, RKS, SPU]),
    (K2,   UTB, [SB]),
    (K3,   ID,  []),
    (K3,   CV,  []),
    (K3,   BI,  []),
    (K3,   REF, []),
    (K3,   INT, [ID]),
    (K3,   SAM, [ID]),
    (K3,   RKB, [SAM]),
    (K3,   RKS, [RKB]),
    (K3,   SB,  [ID, CV, BI, REF, INT, SAM, RKB, RKS]),
    (K3,   UTB, [SB]),
    (UP,   ID,  []),
    (UP,   CV,  []),
    (UP,   BI,  []),
    (UP,   REF, []),
    (UP,   INT, [ID]),
    (UP,   SB,  [ID, CV, BI, REF, INT]),
    (UP,   UTB, [SB]),
]

# The steps a case does not have: marking them is an error.
NOT_A_STEP: list[tuple[SecurityClass, StepKind]] = [
    (K3, SPU),
    (UP, SAM), (UP, RKB), (UP, RKS), (UP, SPU),
]
# fmt: on

MISSING = {(klass, kind): missing for klass, kind, missing in MISSING_FROM_NOTHING}


def test_missing_table_covers_every_step_of_every_class_once() -> None:
    pairs = [(klass, kind) for klass, kind, _ in MISSING_FROM_NOTHING]
    assert len(set(pairs)) == len(pairs), "a row appears twice"
    assert set(pairs) == {(klass, kind) for klass in CLASSES for kind in EXPECTED_STEPS[klass]}
    assert set(NOT_A_STEP) == set(itertools.product(CLASSES, CHECKLIST)) - set(pairs)


def test_prerequisites_and_groundwork_constants() -> None:
    assert set(GROUNDWORK) == {ID, CV, BI, REF}
    # Klass 1 has every step, so its rows are the direct prerequisites themselves.
    assert set(PREREQUISITES) == set(StepKind)
    for kind in CHECKLIST:
        assert PREREQUISITES[kind] == set(MISSING[K1, kind]), kind


@pytest.mark.parametrize("row", MISSING_FROM_NOTHING, ids=lambda row: f"{row[0]}-{row[1]}")
def test_missing_for_step_when_nothing_is_done(row: tuple[SecurityClass, StepKind, list[StepKind]]) -> None:
    klass, kind, expected = row
    assert missing_for_step(kind, klass, []) == expected
    assert missing_for_step(kind, klass, set()) == expected
    assert missing_for_step(kind, klass, iter(())) == expected


@pytest.mark.parametrize("row", MISSING_FROM_NOTHING, ids=lambda row: f"{row[0]}-{row[1]}")
def test_missing_for_step_when_everything_else_is_done(
    row: tuple[SecurityClass, StepKind, list[StepKind]],
) -> None:
    klass, kind, _ = row
    assert missing_for_step(kind, klass, [s for s in EXPECTED_STEPS[klass] if s != kind]) == []
    # Steps the case does not have (say, from an earlier placement) change nothing.
    assert missing_for_step(kind, klass, [s for s in CHECKLIST if s != kind]) == []


@pytest.mark.parametrize("pair", NOT_A_STEP, ids=lambda pair: f"{pair[0]}-{pair[1]}")
def test_missing_for_step_refuses_a_step_the_case_does_not_have(pair: tuple[SecurityClass, StepKind]) -> None:
    klass, kind = pair
    with pytest.raises(ValueError):
        missing_for_step(kind, klass, [])
    with pytest.raises(ValueError):
        missing_for_step(kind, klass, CHECKLIST)


# fmt: off
PARTIAL: list[tuple[SecurityClass, StepKind, set[StepKind], list[StepKind]]] = [
    #klass steg gjort                                 saknas
    (K3,   SB,  {ID, CV, BI, REF},                    [INT, SAM, RKB, RKS]),
    (K1,   SB,  {ID, CV, BI, REF, INT, SAM, RKB, RKS}, [SPU]),
    (K2,   SB,  {CV, INT, RKS},                       [ID, BI, REF, SAM, RKB, SPU]),
    (K3,   SB,  {SPU},                                [ID, CV, BI, REF, INT, SAM, RKB, RKS]),
    (UP,   SB,  {ID, CV, BI, REF},                    [INT]),
    (UP,   SB,  {ID, INT},                            [CV, BI, REF]),
    (UP,   SB,  {ID, CV, BI, REF, INT, SAM, RKB, RKS, SPU}, []),
    (K1,   RKB, {ID, CV},                             [SAM]),
    (K1,   RKB, {SAM},                                []),
    (K2,   SPU, {ID, SAM, RKB},                       [RKS]),
    (K1,   UTB, {ID, CV, BI, REF, INT, SAM, RKB, RKS, SPU}, [SB]),
    (K3,   UTB, {SB},                                 []),
    (UP,   INT, {CV},                                 [ID]),
    (UP,   INT, {ID},                                 []),
    (K1,   INT, {INT},                                [ID]),  # already marked: still not in order
]
# fmt: on


@pytest.mark.parametrize("row", PARTIAL, ids=lambda row: f"{row[0]}-{row[1]}-{_ids(row[2])}")
def test_missing_for_step_partial(row: tuple[SecurityClass, StepKind, set[StepKind], list[StepKind]]) -> None:
    klass, kind, done, expected = row
    assert missing_for_step(kind, klass, done) == expected
    assert missing_for_step(kind, klass, sorted(done, reverse=True)) == expected


@pytest.mark.parametrize("klass", CLASSES, ids=str)
def test_missing_for_step_over_every_subset_of_done(klass: SecurityClass) -> None:
    steps = EXPECTED_STEPS[klass]
    for size in range(len(steps) + 1):
        for done in itertools.combinations(steps, size):
            for kind in steps:
                result = missing_for_step(kind, klass, done)
                assert not set(result) & set(done), (kind, done)
                assert kind not in result
                assert result == sorted(result, key=CHECKLIST.index)
                assert set(result) <= set(steps)
                # What is missing is the hand-written list less what is done.
                assert result == [s for s in MISSING[klass, kind] if s not in done], (kind, done)


def test_training_allowed_only_after_approval() -> None:
    assert training_allowed(Decision.APPROVED) is True
    assert training_allowed(Decision.NOT_APPROVED) is False
    assert training_allowed(None) is False


# --- 3. What must be done before the beslut ----------------------------------------------------
#
# Every step of the case but the utbildning (which follows the beslut), in checklist order.

# fmt: off
DECISION_FROM_NOTHING: list[tuple[SecurityClass, list[StepKind]]] = [
    #klass saknas
    (K1,   [ID, CV, BI, REF, INT, SAM, RKB, RKS, SPU, SB]),
    (K2,   [ID, CV, BI, REF, INT, SAM, RKB, RKS, SPU, SB]),
    (K3,   [ID, CV, BI, REF, INT, SAM, RKB, RKS, SB]),
    (UP,   [ID, CV, BI, REF, INT, SB]),
]

DECISION_PARTIAL: list[tuple[SecurityClass, set[StepKind], list[StepKind]]] = [
    #klass gjort                                         saknas
    (K1,   {ID, CV, BI, REF, INT, SAM, RKB, RKS},         [SPU, SB]),
    (K3,   {ID, CV, BI, REF, INT, SAM, RKB, RKS},         [SB]),
    (K3,   {SPU, SB},                                    [ID, CV, BI, REF, INT, SAM, RKB, RKS]),
    (K2,   {UTB},                                        [ID, CV, BI, REF, INT, SAM, RKB, RKS, SPU, SB]),
    (UP,   {SAM, RKB, RKS},                              [ID, CV, BI, REF, INT, SB]),
    (UP,   {ID, CV, BI, REF, INT, SB},                   []),
    (UP,   {ID, CV, BI, REF, INT, SB, UTB},              []),
    (K2,   {ID, CV, BI, REF, INT, SAM, RKB, RKS, SPU, SB}, []),
]
# fmt: on


@pytest.mark.parametrize("row", DECISION_FROM_NOTHING, ids=lambda row: str(row[0]))
def test_missing_for_decision_when_nothing_is_done(row: tuple[SecurityClass, list[StepKind]]) -> None:
    klass, expected = row
    assert missing_for_decision(klass, []) == expected
    assert missing_for_decision(klass, iter(())) == expected


@pytest.mark.parametrize("klass", CLASSES, ids=str)
def test_missing_for_decision_when_all_but_training_is_done(klass: SecurityClass) -> None:
    assert missing_for_decision(klass, [s for s in EXPECTED_STEPS[klass] if s != UTB]) == []
    assert missing_for_decision(klass, CHECKLIST) == []


@pytest.mark.parametrize("row", DECISION_PARTIAL, ids=lambda row: f"{row[0]}-{_ids(row[1])}")
def test_missing_for_decision_partial(row: tuple[SecurityClass, set[StepKind], list[StepKind]]) -> None:
    klass, done, expected = row
    assert missing_for_decision(klass, done) == expected


@pytest.mark.parametrize("row", DECISION_FROM_NOTHING, ids=lambda row: str(row[0]))
def test_missing_for_decision_over_every_subset_of_done(row: tuple[SecurityClass, list[StepKind]]) -> None:
    klass, everything = row
    steps = EXPECTED_STEPS[klass]
    for size in range(len(steps) + 1):
        for done in itertools.combinations(steps, size):
            result = missing_for_decision(klass, done)
            assert UTB not in result
            assert result == [s for s in everything if s not in done], done


# --- 4. Two persons: the beslut is confirmed by someone other than who took it ------------------

ANNA, BERTIL = uuid.uuid4(), uuid.uuid4()

# fmt: off
CONFIRM_TABLE: list[tuple[object, object, bool]] = [
    #beslutat av             bekräftat av  får bekräfta
    (ANNA,                   BERTIL,       J),
    (BERTIL,                 ANNA,         J),
    (ANNA,                   ANNA,         N),
    (ANNA,                   uuid.UUID(str(ANNA)), N),  # same person, another object
    (None,                   ANNA,         N),
    (ANNA,                   None,         N),
    (None,                   None,         N),
    ("anna",                 "bertil",     J),
    ("anna",                 "anna",       N),
]
# fmt: on


@pytest.mark.parametrize("row", CONFIRM_TABLE)
def test_may_confirm(row: tuple[object, object, bool]) -> None:
    decided_by, confirmer, expected = row
    assert may_confirm(decided_by, confirmer) is expected


# --- 5. Omkontroll ------------------------------------------------------------------------------
#
# Klass 1 and 2: the registerkontroll is renewed `years` (by default 5) after the last check, on
# the same day; 29 February becomes 28 February in a common year. Klass 3 and utan placering: none.

# fmt: off
RECHECK_TABLE: list[tuple[SecurityClass, dt.date | None, int, dt.date | None]] = [
    #klass kontrollerad           år  omkontroll
    (K1,   dt.date(2025, 3, 10),  5,  dt.date(2030, 3, 10)),
    (K2,   dt.date(2025, 3, 10),  5,  dt.date(2030, 3, 10)),
    (K3,   dt.date(2025, 3, 10),  5,  None),
    (UP,   dt.date(2025, 3, 10),  5,  None),
    (K1,   None,                  5,  None),
    (K2,   None,                  5,  None),
    (K3,   None,                  5,  None),
    (UP,   None,                  5,  None),
    (K1,   dt.date(2024, 2, 29),  5,  dt.date(2029, 2, 28)),
    (K2,   dt.date(2024, 2, 29),  5,  dt.date(2029, 2, 28)),
    (K1,   dt.date(2024, 2, 29),  4,  dt.date(2028, 2, 29)),
    (K2,   dt.date(2024, 2, 29),  4,  dt.date(2028, 2, 29)),
    (K3,   dt.date(2024, 2, 29),  5,  None),
    (K1,   dt.date(2024, 12, 31), 5,  dt.date(2029, 12, 31)),
    (K2,   dt.date(2025, 1, 1),   3,  dt.date(2028, 1, 1)),
    (K1,   dt.date(2023, 2, 28),  1,  dt.date(2024, 2, 28)),
    (K2,   dt.date(2025, 6, 15),  10, dt.date(2035, 6, 15)),
]
# fmt: on


@pytest.mark.parametrize("row", RECHECK_TABLE, ids=lambda row: f"{row[0]}-{row[1]}-{row[2]}")
def test_recheck_due(row: tuple[SecurityClass, dt.date | None, int, dt.date | None]) -> None:
    klass, checked_on, years, expected = row
    assert recheck_due(klass, checked_on, years) == expected


def test_default_recheck_is_every_fifth_year() -> None:
    assert DEFAULT_RECHECK_YEARS == 5
    assert recheck_due(K1, dt.date(2025, 3, 10), DEFAULT_RECHECK_YEARS) == dt.date(2030, 3, 10)


# --- 6. Avanmälan, gallring and adding years ---------------------------------------------------

# fmt: off
DEREGISTRATION_TABLE: list[tuple[dt.date | None, int, dt.date | None]] = [
    #lämnade befattningen    dagar  avanmälan senast
    (dt.date(2025, 5, 31),   5,     dt.date(2025, 6, 5)),
    (dt.date(2024, 12, 30),  5,     dt.date(2025, 1, 4)),
    (dt.date(2024, 2, 27),   3,     dt.date(2024, 3, 1)),   # skottår: 28, 29 feb, 1 mars
    (dt.date(2025, 2, 27),   3,     dt.date(2025, 3, 2)),
    (dt.date(2025, 3, 10),   0,     dt.date(2025, 3, 10)),
    (None,                   5,     None),
]

DISPOSAL_TABLE: list[tuple[dt.date | None, int, dt.date | None]] = [
    #ärendet avslutat        dagar  får gallras
    (dt.date(2025, 1, 15),   365,   dt.date(2026, 1, 15)),
    (dt.date(2024, 1, 15),   365,   dt.date(2025, 1, 14)),  # 2024 har 29 feb
    (dt.date(2024, 1, 15),   366,   dt.date(2025, 1, 15)),
    (dt.date(2025, 6, 30),   3650,  dt.date(2035, 6, 28)),  # två skottdagar (2028, 2032)
    (dt.date(2025, 3, 1),    0,     dt.date(2025, 3, 1)),
    (None,                   365,   None),
]

ADD_YEARS_TABLE: list[tuple[dt.date, int, dt.date]] = [
    #dag                     år   samma dag år senare
    (dt.date(2024, 2, 29),   1,   dt.date(2025, 2, 28)),
    (dt.date(2024, 2, 29),   4,   dt.date(2028, 2, 29)),
    (dt.date(2024, 2, 29),   5,   dt.date(2029, 2, 28)),
    (dt.date(2024, 2, 29),   100, dt.date(2124, 2, 29)),
    (dt.date(2000, 2, 29),   100, dt.date(2100, 2, 28)),  # 2100 är inget skottår
    (dt.date(2024, 2, 28),   1,   dt.date(2025, 2, 28)),
    (dt.date(2023, 3, 1),    1,   dt.date(2024, 3, 1)),
    (dt.date(2024, 12, 31),  1,   dt.date(2025, 12, 31)),
    (dt.date(2025, 1, 1),    5,   dt.date(2030, 1, 1)),
    (dt.date(2025, 6, 15),   0,   dt.date(2025, 6, 15)),
]
# fmt: on


@pytest.mark.parametrize("row", DEREGISTRATION_TABLE, ids=str)
def test_deregistration_due(row: tuple[dt.date | None, int, dt.date | None]) -> None:
    left_on, prompt_days, expected = row
    assert deregistration_due(left_on, prompt_days) == expected


@pytest.mark.parametrize("row", DISPOSAL_TABLE, ids=str)
def test_disposal_due(row: tuple[dt.date | None, int, dt.date | None]) -> None:
    closed_on, period_days, expected = row
    assert disposal_due(closed_on, period_days) == expected


@pytest.mark.parametrize("row", ADD_YEARS_TABLE, ids=str)
def test_add_years(row: tuple[dt.date, int, dt.date]) -> None:
    day, years, expected = row
    assert add_years(day, years) == expected


@given(
    day=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2200, 12, 31)),
    years=st.integers(min_value=0, max_value=100),
)
def test_add_years_keeps_month_and_day(day: dt.date, years: int) -> None:
    result = add_years(day, years)
    assert result.year == day.year + years
    assert result.month == day.month
    if day.month == 2 and day.day == 29 and not calendar.isleap(day.year + years):
        assert result.day == 28
    else:
        assert result.day == day.day


# --- 7. Labels and stored values ---------------------------------------------------------------
#
# The enum values are stored in the database: renaming one must fail here.

# fmt: off
STORED_VALUES: list[tuple[object, str]] = [
    (K1, "klass_1"), (K2, "klass_2"), (K3, "klass_3"), (UP, "utan_placering"),
    (ID, "identitet"), (CV, "cv"), (BI, "betyg_intyg"), (REF, "referenser"), (INT, "intervju"),
    (SAM, "samtycke"), (RKB, "registerkontroll_begard"), (RKS, "registerkontroll_svar"),
    (SPU, "sarskild_personutredning"), (SB, "samlad_bedomning"), (UTB, "utbildning"),
    (ControlReason.PLACEMENT, "placering"), (ControlReason.RECHECK, "omkontroll"),
    (ControlReason.SUPPLIER, "leverantor"),
    (Decision.APPROVED, "godkand"), (Decision.NOT_APPROVED, "ej_godkand"),
]
# fmt: on


def test_stored_values_table_covers_every_member() -> None:
    members = [member for member, _ in STORED_VALUES]
    assert len(set(members)) == len(members)
    for enum_type in (SecurityClass, StepKind, ControlReason, Decision):
        assert {m for m in members if isinstance(m, enum_type)} == set(enum_type), enum_type


@pytest.mark.parametrize("row", STORED_VALUES, ids=lambda row: row[1])
def test_stored_values(row: tuple[object, str]) -> None:
    member, value = row
    assert member.value == value  # type: ignore[attr-defined]
    assert type(member)(value) is member


def test_class_labels() -> None:
    assert dict(CLASS_LABELS) == {
        K1: "Säkerhetsklass 1",
        K2: "Säkerhetsklass 2",
        K3: "Säkerhetsklass 3",
        UP: "Säkerhetsprövning utan placering",
    }


def test_decision_labels() -> None:
    assert dict(DECISION_LABELS) == {
        Decision.APPROVED: "Godkänd",
        Decision.NOT_APPROVED: "Ej godkänd",
    }


@pytest.mark.parametrize(
    ("labels", "enum_type"),
    [
        (STEP_LABELS, StepKind),
        (CLASS_LABELS, SecurityClass),
        (CONTROL_REASON_LABELS, ControlReason),
        (DECISION_LABELS, Decision),
    ],
    ids=["steg", "klass", "kontrollorsak", "beslut"],
)
def test_every_member_has_a_swedish_label(labels: Mapping[str, str], enum_type: type) -> None:
    assert set(labels) == set(enum_type)
    texts = list(labels.values())
    assert len(set(texts)) == len(texts), "two members share a label"
    for member, label in labels.items():
        assert label and label.strip() == label and label[0].isupper(), member
        assert label != str(member), "a label is not the stored value"
        padded = f" {label.lower()} "
        assert not any(f" {word} " in padded for word in ("the", "and", "is", "of", "check")), label
    assert any(ch in "".join(texts).lower() for ch in "åäö"), "not Swedish"
