"""Swedish identifiers: organisationsnummer (suppliers, operators) and personnummer (vetting).

Pure functions, no database and no Flask. Errors are `IdentifierError` with a Swedish message
that is safe to show to the user; a message never contains the value that was entered, since a
personnummer is personal data (DOMAIN.md: never copied into logs or the audit trail).

Organisationsnummer, NNNNNN-NNNN: ten digits whose last is a Luhn check digit. For a juridisk
person the third digit is 2 or higher, so that it can never be mistaken for a date. An
enskild näringsidkare has no number of its own and uses the owner's personnummer (third digit 0
or 1, the month), so both are accepted; only the format and the check digit are validated.
The 12-digit form prefixes "16" (16NNNNNN-NNNN); it is accepted and shortened.

Personnummer, canonical form ÅÅÅÅMMDD-NNNN: birth date, a three-digit birth number and a Luhn
check digit computed over the ten-digit form ÅÅMMDDNNN. The short form ÅÅMMDD-NNNN leaves the
century out: "-" means the person turns at most 99 this year, "+" that they turn 100 or more
(Skatteverket changes the separator in the year of the 100th birthday). A samordningsnummer has
60 added to the day of birth (DD 61–91); it keeps that day in the canonical form.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final


class IdentifierError(ValueError):
    """The identifier is malformed; the message is Swedish, safe to show and holds no input."""


SAMORDNING_DAY_OFFSET: Final = 60

_ORG_RE: Final = re.compile(r"(?:16)?([0-9]{6})-?([0-9]{4})")
# Short form ÅÅMMDD[-+]NNNN (or without separator, read as "-"); long form ÅÅÅÅMMDD[-]NNNN.
_PNR_SHORT_RE: Final = re.compile(r"([0-9]{2})([0-9]{2})([0-9]{2})([-+]?)([0-9]{4})")
_PNR_LONG_RE: Final = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})-?([0-9]{4})")
_CANONICAL_RE: Final = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})-([0-9]{4})")
# Oldest birth year accepted in the 12-digit form; anything earlier is a typing error.
_EARLIEST_YEAR: Final = 1850

ORG_FORMAT_MESSAGE: Final = "Organisationsnumret ska skrivas NNNNNN-NNNN."
ORG_CHECK_MESSAGE: Final = "Organisationsnumret har fel kontrollsiffra."
PNR_FORMAT_MESSAGE: Final = "Personnumret ska skrivas ÅÅÅÅMMDD-NNNN eller ÅÅMMDD-NNNN."
PNR_CHECK_MESSAGE: Final = "Personnumret har fel kontrollsiffra."
PNR_DATE_MESSAGE: Final = "Personnumret innehåller inget giltigt födelsedatum."
PNR_FUTURE_MESSAGE: Final = "Personnumret har ett födelsedatum i framtiden."
PNR_CANONICAL_MESSAGE: Final = "Personnumret ska vara i formen ÅÅÅÅMMDD-NNNN."


def _is_ascii_digits(value: str) -> bool:
    return value.isascii() and value.isdigit()


def luhn_ok(digits: str) -> bool:
    """True when `digits` is exactly ten ASCII digits whose last is the Luhn check digit of the
    first nine (weights 2, 1, 2, 1 … from the left, the digits of each product summed)."""
    if not isinstance(digits, str) or len(digits) != 10 or not _is_ascii_digits(digits):
        return False
    total = 0
    for index, char in enumerate(digits[:9]):
        product = int(char) * (2 if index % 2 == 0 else 1)
        total += product - 9 if product > 9 else product
    return (10 - total % 10) % 10 == int(digits[9])


def normalise_org_number(value: str) -> str:
    """The organisationsnummer as NNNNNN-NNNN. Accepts NNNNNN-NNNN, NNNNNNNNNN, the 12-digit
    16NNNNNN-NNNN / 16NNNNNNNNNN and surrounding whitespace; raises IdentifierError otherwise."""
    if not isinstance(value, str):
        raise IdentifierError(ORG_FORMAT_MESSAGE)
    match = _ORG_RE.fullmatch(value.strip())
    if match is None:
        raise IdentifierError(ORG_FORMAT_MESSAGE)
    head, tail = match.groups()
    if not luhn_ok(head + tail):
        raise IdentifierError(ORG_CHECK_MESSAGE)
    return f"{head}-{tail}"


def _short_form_year(yy: int, separator: str, today: dt.date) -> int:
    """The full birth year of a short-form personnummer: with "-" the person turns 0–99 this
    year, with "+" 100–199."""
    year = today.year - (today.year - yy) % 100
    return year - 100 if separator == "+" else year


def normalise_personnummer(value: str, *, today: dt.date) -> str:
    """The personnummer (or samordningsnummer) as ÅÅÅÅMMDD-NNNN.

    Accepts ÅÅMMDD-NNNN, ÅÅMMDD+NNNN (100 years or older), ÅÅMMDDNNNN (read as "-"),
    ÅÅÅÅMMDD-NNNN and ÅÅÅÅMMDDNNNN, with surrounding whitespace. Checks, in this order, the
    format, the check digit, the birth date (a real calendar date; for a samordningsnummer after
    subtracting 60 from the day) and that the birth date is not after `today`.
    """
    if not isinstance(value, str):
        raise IdentifierError(PNR_FORMAT_MESSAGE)
    text = value.strip()
    if (short := _PNR_SHORT_RE.fullmatch(text)) is not None:
        yy, month, day, separator, tail = short.groups()
        year = _short_form_year(int(yy), separator, today)
    elif (long := _PNR_LONG_RE.fullmatch(text)) is not None:
        year_text, month, day, tail = long.groups()
        year = int(year_text)
    else:
        raise IdentifierError(PNR_FORMAT_MESSAGE)
    if not luhn_ok(f"{year % 100:02d}{month}{day}{tail}"):
        raise IdentifierError(PNR_CHECK_MESSAGE)
    birth_date = _birth_date(year, int(month), int(day))
    if birth_date > today:
        raise IdentifierError(PNR_FUTURE_MESSAGE)
    return f"{year:04d}{month}{day}-{tail}"


def _birth_date(year: int, month: int, day: int) -> dt.date:
    if day > SAMORDNING_DAY_OFFSET:
        day -= SAMORDNING_DAY_OFFSET
    if year < _EARLIEST_YEAR:
        raise IdentifierError(PNR_DATE_MESSAGE)
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise IdentifierError(PNR_DATE_MESSAGE) from None


def is_samordningsnummer(canonical: str) -> bool:
    """True when a canonical ÅÅÅÅMMDD-NNNN number is a samordningsnummer (day of birth + 60)."""
    match = _CANONICAL_RE.fullmatch(canonical) if isinstance(canonical, str) else None
    if match is None:
        raise IdentifierError(PNR_CANONICAL_MESSAGE)
    return int(match.group(3)) > SAMORDNING_DAY_OFFSET
