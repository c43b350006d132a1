"""Swedish identifiers (sakskydd.identifiers): organisationsnummer and personnummer.

Every number here is synthetic: 19121212-1212 is the classic fictitious personnummer, the rest
have check digits computed by hand (Luhn, weights 2, 1, 2, 1 … over the ten-digit form).
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sakskydd.identifiers import (
    IdentifierError,
    is_samordningsnummer,
    luhn_ok,
    normalise_org_number,
    normalise_personnummer,
)

TODAY = dt.date(2025, 6, 15)


def check_digit(nine: str) -> str:
    """The Luhn check digit of nine digits, written independently of the module under test."""
    total = 0
    for index, char in enumerate(nine):
        product = int(char) * (2 if index % 2 == 0 else 1)
        total += sum(int(d) for d in str(product))
    return str((10 - total % 10) % 10)


# --- luhn_ok -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "digits",
    ["1212121212", "5560125790", "2120000142", "2021006297", "0002291235", "1212721219", "0000000000"],
)
def test_luhn_accepts_valid_numbers(digits: str) -> None:
    assert luhn_ok(digits)


@pytest.mark.parametrize(
    "digits",
    [
        "1212121213",  # wrong check digit
        "5560125791",
        "2120000141",
        "121212121",  # nine digits
        "12121212120",  # eleven digits
        "121212-1212",  # separator
        "",
        "12121212１２",  # full-width digits are not ASCII digits
        "١٢١٢١٢١٢١٢",  # Arabic-Indic digits
        " 1212121212",
    ],
)
def test_luhn_refuses(digits: str) -> None:
    assert not luhn_ok(digits)


def test_check_digit_helper_agrees_with_known_numbers() -> None:
    assert check_digit("121212121") == "2"
    assert check_digit("556012579") == "0"


# --- organisationsnummer ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("556012-5790", "556012-5790"),  # aktiebolag
        ("5560125790", "556012-5790"),
        ("  556012-5790 ", "556012-5790"),
        ("\t5560125790\n", "556012-5790"),
        ("16556012-5790", "556012-5790"),  # the 12-digit form
        ("165560125790", "556012-5790"),
        (" 16556012-5790 ", "556012-5790"),
        ("212000-0142", "212000-0142"),  # a kommun
        ("202100-6297", "202100-6297"),  # a statlig myndighet
        # An enskild näringsidkare uses the owner's personnummer (third digit 0 or 1).
        ("121212-1212", "121212-1212"),
        ("1212121212", "121212-1212"),
    ],
)
def test_org_number_is_normalised(value: str, expected: str) -> None:
    assert normalise_org_number(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "556012579",  # nine digits
        "55601257900",  # eleven digits
        "55601-25790",
        "556012 5790",
        "556012--5790",
        "556012+5790",
        "19556012-5790",  # 12 digits, but not the 16 prefix
        "1655601-25790",
        "16-556012-5790",
        "556012-579O",  # letter O
        "５５６０１２-５７９０",  # full-width digits
        "556012-5790\n556012-5790",
    ],
)
def test_org_number_format_errors(value: str) -> None:
    with pytest.raises(IdentifierError) as excinfo:
        normalise_org_number(value)
    assert str(excinfo.value) == "Organisationsnumret ska skrivas NNNNNN-NNNN."


@pytest.mark.parametrize(
    "value", ["556012-5791", "5560125799", "16556012-5791", "212000-0143", "121212-1213"]
)
def test_org_number_check_digit_errors(value: str) -> None:
    with pytest.raises(IdentifierError) as excinfo:
        normalise_org_number(value)
    assert str(excinfo.value) == "Organisationsnumret har fel kontrollsiffra."
    assert value.strip() not in str(excinfo.value)


def test_identifier_error_is_a_value_error() -> None:
    assert issubclass(IdentifierError, ValueError)


# --- personnummer ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("19121212-1212", "19121212-1212"),
        ("191212121212", "19121212-1212"),
        (" 19121212-1212\t", "19121212-1212"),
        # Short form, "-": turns at most 99 this year, so 2012 …
        ("121212-1212", "20121212-1212"),
        ("1212121212", "20121212-1212"),
        # … and "+": 100 or older, so 1912. The check digit does not see the century.
        ("121212+1212", "19121212-1212"),
        # Short form: born 1986 is < 100 years old in 2025.
        ("860611-9876", "19860611-9876"),
        ("860611+9876", "18860611-9876"),
        # Turns 99 in 2025 (born 1926): still "-" …
        ("260101-111" + check_digit("260101111"), "19260101-111" + check_digit("260101111")),
        # … 100 in 2025: "+", even before the birthday.
        ("251231+" + "111" + check_digit("251231111"), "19251231-111" + check_digit("251231111")),
        # Leap days.
        ("20000229-1235", "20000229-1235"),
        ("000229-1235", "20000229-1235"),
        ("20240229-1237", "20240229-1237"),
        ("19960229-" + "123" + check_digit("960229123"), "19960229-123" + check_digit("960229123")),
        # Born today is not in the future.
        ("250615-" + "123" + check_digit("250615123"), "20250615-123" + check_digit("250615123")),
    ],
)
def test_personnummer_is_normalised(value: str, expected: str) -> None:
    assert normalise_personnummer(value, today=TODAY) == expected
    assert not is_samordningsnummer(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # Born 12 December 1912 → day 12 + 60 = 72.
        ("19121272-1219", "19121272-1219"),
        ("121272+1219", "19121272-1219"),
        ("121272-1219", "20121272-1219"),
        ("191212721219", "19121272-1219"),
        # Day 61 (the 1st) and day 91 (the 31st).
        ("19900161-" + "123" + check_digit("900161123"), "19900161-123" + check_digit("900161123")),
        ("19900191-" + "123" + check_digit("900191123"), "19900191-123" + check_digit("900191123")),
        # Leap day + 60.
        ("20000289-" + "123" + check_digit("000289123"), "20000289-123" + check_digit("000289123")),
    ],
)
def test_samordningsnummer(value: str, expected: str) -> None:
    canonical = normalise_personnummer(value, today=TODAY)
    assert canonical == expected
    assert is_samordningsnummer(canonical)


def _with_check(ten_without_check: str, century: str = "19") -> str:
    """ÅÅMMDDNNN → ÅÅÅÅMMDD-NNNC with a correct check digit."""
    nine = ten_without_check
    return f"{century}{nine[:6]}-{nine[6:]}{check_digit(nine)}"


@pytest.mark.parametrize(
    "value",
    [
        _with_check("230229123", "20"),  # 2023 is no leap year
        _with_check("000229123", "19"),  # 1900 was no leap year (divisible by 100, not by 400)
        _with_check("900230123"),  # 30 February
        _with_check("900431123"),  # 31 April
        _with_check("901301123"),  # month 13
        _with_check("900001123"),  # month 0
        _with_check("900100123"),  # day 0
        _with_check("900132123"),  # 32 January
        _with_check("900160123"),  # samordningsnummer day 0
        _with_check("900192123"),  # samordningsnummer day 32
        _with_check("900289123"),  # 1990 + 60: 29 February in no leap year
        _with_check("000229123", "17"),  # no personnummer for someone born 1700
        "230229-" + "123" + check_digit("230229123"),  # short form: 2023, no leap year
    ],
)
def test_personnummer_invalid_date(value: str) -> None:
    with pytest.raises(IdentifierError) as excinfo:
        normalise_personnummer(value, today=TODAY)
    assert str(excinfo.value) == "Personnumret innehåller inget giltigt födelsedatum."


@pytest.mark.parametrize(
    "value",
    [
        "20250616-" + "123" + check_digit("250616123"),  # tomorrow
        "20300101-" + "123" + check_digit("300101123"),
        # Short form with "-": the person would turn 0 this year, born later than today …
        "251231-" + "123" + check_digit("251231123"),
        # … samordningsnummer too.
        "20250676-" + "123" + check_digit("250616123".replace("0616", "0676")),
    ],
)
def test_personnummer_future_birth_date(value: str) -> None:
    with pytest.raises(IdentifierError) as excinfo:
        normalise_personnummer(value, today=TODAY)
    assert str(excinfo.value) == "Personnumret har ett födelsedatum i framtiden."


@pytest.mark.parametrize(
    "value",
    ["19121212-1213", "121212-1211", "121212+1210", "191212121219", "19121272-1212", "20000229-1234"],
)
def test_personnummer_check_digit_errors(value: str) -> None:
    with pytest.raises(IdentifierError) as excinfo:
        normalise_personnummer(value, today=TODAY)
    assert str(excinfo.value) == "Personnumret har fel kontrollsiffra."


@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        "19121212+1212",  # "+" only in the short form
        "1912121-21212",
        "19121212--1212",
        "19121212 1212",
        "121212 1212",
        "12121212",
        "1912121212121",
        "19121212-121",
        "19121212-12121",
        "ÅÅÅÅMMDD-NNNN",
        "１９１２１２１２-１２１２",  # full-width digits
        "19121212-1212\n19121212-1212",
    ],
)
def test_personnummer_format_errors(value: str) -> None:
    with pytest.raises(IdentifierError) as excinfo:
        normalise_personnummer(value, today=TODAY)
    assert str(excinfo.value) == "Personnumret ska skrivas ÅÅÅÅMMDD-NNNN eller ÅÅMMDD-NNNN."


def test_today_decides_the_century_of_the_short_form() -> None:
    # The same short number, read in two different years.
    assert normalise_personnummer("121212-1212", today=dt.date(2025, 1, 1)) == "20121212-1212"
    assert normalise_personnummer("121212-1212", today=dt.date(2011, 1, 1)) == "19121212-1212"
    assert normalise_personnummer("860611+9876", today=dt.date(2011, 1, 1)) == "18860611-9876"
    # 1812: nobody alive has a personnummer from before 1850.
    with pytest.raises(IdentifierError, match="giltigt födelsedatum"):
        normalise_personnummer("121212+1212", today=dt.date(2011, 1, 1))


@pytest.mark.parametrize(
    "canonical", ["191212121212", "121272-1219", "19121272+1219", "", "19121272-1219 ", "x"]
)
def test_is_samordningsnummer_wants_the_canonical_form(canonical: str) -> None:
    with pytest.raises(IdentifierError):
        is_samordningsnummer(canonical)


# --- the entered value never reaches an error message ------------------------------------------

SECRET_INPUTS = [
    "19121212-1213",
    "19230229-1238",
    "20300101-1235",
    "121212 1212",
    "19121272-1212",
    "121212+12121",
]


@pytest.mark.parametrize("value", SECRET_INPUTS)
def test_errors_never_contain_the_value(value: str) -> None:
    with pytest.raises(IdentifierError) as excinfo:
        normalise_personnummer(value, today=TODAY)
    error = excinfo.value
    rendered = f"{error} {error!r} {error.args}"
    digits = "".join(ch for ch in value if ch.isdigit())
    for fragment in (value, value.strip(), digits, digits[-4:], digits[2:8]):
        assert fragment not in rendered
    assert error.__cause__ is None
    assert not any(ch.isdigit() for ch in str(error)), "no digits at all in the message"


# --- properties --------------------------------------------------------------------------------


@st.composite
def valid_personnummer(draw: st.DrawFn) -> tuple[dt.date, str, bool]:
    """A birth date not after TODAY, a birth number and whether it is a samordningsnummer; the
    canonical ÅÅÅÅMMDD-NNNN with a hand-computed check digit."""
    born = draw(st.dates(min_value=dt.date(1900, 1, 1), max_value=TODAY))
    birth_number = draw(st.integers(min_value=0, max_value=999))
    samordning = draw(st.booleans())
    day = born.day + (60 if samordning else 0)
    nine = f"{born.year % 100:02d}{born.month:02d}{day:02d}{birth_number:03d}"
    canonical = f"{born.year:04d}{born.month:02d}{day:02d}-{birth_number:03d}{check_digit(nine)}"
    return born, canonical, samordning


def _short_form(canonical: str, born: dt.date) -> str:
    """How Skatteverket writes it today: "+" from the year the person turns 100."""
    separator = "+" if TODAY.year - born.year >= 100 else "-"
    return canonical[2:8] + separator + canonical[9:]


@given(valid_personnummer())
def test_valid_numbers_round_trip(case: tuple[dt.date, str, bool]) -> None:
    born, canonical, samordning = case
    assert normalise_personnummer(canonical, today=TODAY) == canonical
    assert normalise_personnummer(canonical.replace("-", ""), today=TODAY) == canonical
    assert normalise_personnummer(f"  {canonical} ", today=TODAY) == canonical
    assert normalise_personnummer(_short_form(canonical, born), today=TODAY) == canonical
    assert is_samordningsnummer(canonical) is samordning
    assert luhn_ok(canonical[2:8] + canonical[9:])


@given(valid_personnummer(), st.integers(min_value=0, max_value=9), st.integers(min_value=1, max_value=9))
def test_any_single_digit_change_fails_the_check(
    case: tuple[dt.date, str, bool], position: int, delta: int
) -> None:
    _, canonical, _ = case
    ten = canonical[2:8] + canonical[9:]
    changed = ten[:position] + str((int(ten[position]) + delta) % 10) + ten[position + 1 :]
    assert changed != ten
    assert not luhn_ok(changed)
    altered = canonical[:2] + changed[:6] + "-" + changed[6:]
    with pytest.raises(IdentifierError) as excinfo:
        normalise_personnummer(altered, today=TODAY)
    assert str(excinfo.value) == "Personnumret har fel kontrollsiffra."


@given(st.integers(min_value=0, max_value=999_999_999))
def test_org_numbers_round_trip(number: int) -> None:
    nine = f"{number:09d}"
    ten = nine + check_digit(nine)
    canonical = f"{ten[:6]}-{ten[6:]}"
    for form in (canonical, ten, f"16{canonical}", f"16{ten}", f" {canonical} "):
        assert normalise_org_number(form) == canonical
    wrong = ten[:9] + str((int(ten[9]) + 1) % 10)
    with pytest.raises(IdentifierError):
        normalise_org_number(wrong)
