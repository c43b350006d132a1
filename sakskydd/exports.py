"""Tabular exports (XLSX and CSV downloads) for the registers, without a third-party writer.

A `Table` is a title, a handling marking, column names and rows of plain values (str, int, bool,
date, datetime, None). `to_csv` and `to_xlsx` turn it into bytes and `send_table` into a download.
The marking is always the first row and the header the second, so a copy that leaves the system
still says how it must be handled.

Protections (SECURITY.md, "Web hardening"):

- Formula injection (OWASP "CSV Injection"): a text cell whose first character is `=`, `+`, `-`,
  `@`, TAB or CR, or one of their full-width forms (＝ ＋ － ＠), is prefixed with a single quote
  so a spreadsheet shows it as text and never evaluates it. The check also looks past leading
  whitespace: " =1+1" is prefixed too, because some importers trim cells before deciding what
  they are. Only text is neutralised; an `int` such as -2 stays a number.
- Characters that XML 1.0 cannot carry (C0 controls other than TAB, LF and CR; lone surrogates;
  U+FFFE and U+FFFF) are replaced by U+FFFD in both formats, before the formula check. Replacing
  rather than dropping keeps the damage visible and cannot join the neighbours into a new value.
- XLSX text is always an inline string (`t="inlineStr"`): the writer has no way to produce a
  formula (`<f>`), and the neutralising above is defence in depth for when the sheet is copied
  into another format. Text is XML-escaped; a literal `_xHHHH_` is escaped as Excel expects, so
  the cell shows what was written, and CR is written as `_x000D_` so it survives XML parsing.
- Download names are ASCII only (å ä ö transliterated, anything else outside `[A-Za-z0-9_-]`
  becomes `-`), so CR/LF, quotes, slashes and `..` never reach `Content-Disposition`.
- The response is `Cache-Control: no-store` and `X-Content-Type-Options: nosniff`.

Representation choices: bool is "Ja"/"Nej"; date is yyyy-mm-dd (in XLSX a real date: a serial
number with a yyyy-mm-dd format, or ISO text before 1900-03-01 where Excel's calendar is wrong);
datetime is ISO 8601 text to the second, with its offset when it has one (a serial number would
lose the time zone); None is an empty cell. In XLSX an int of 15 digits or more is written as
text because Excel keeps only 15 significant digits. Floats and other types are refused
(TypeError): "1.5" in a CSV opened by Swedish Excel becomes a date.

The CSV is UTF-8 with a BOM (Excel detects the encoding from it), `;`-separated (Swedish Excel's
list separator), CRLF line ends and RFC 4180 quoting. The XLSX is deterministic: fixed part order
and zip timestamps, so equal tables give equal bytes.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final
from xml.sax.saxutils import escape, quoteattr

from flask import Response

from sakskydd.organisations.rules import LOCAL_TIMEZONE

CSV_MIMETYPE: Final = "text/csv; charset=utf-8"
XLSX_MIMETYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_MIMETYPES: Final = {"csv": CSV_MIMETYPE, "xlsx": XLSX_MIMETYPE}

# First characters a spreadsheet may treat as the start of a formula (OWASP), with the
# full-width forms that some importers fold to ASCII.
DANGEROUS_PREFIXES: Final = frozenset("=+-@\t\r＝＋－＠")

# Everything XML 1.0 does not allow (https://www.w3.org/TR/xml/#charsets).
_XML_INVALID: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# A literal that Excel would otherwise decode as an escaped character (ECMA-376 ST_Xstring).
_XSTRING_ESCAPE: Final = re.compile("_(?=x[0-9A-Fa-f]{4}_)")

SHEET_NAME_MAX: Final = 31
_SHEET_NAME_FORBIDDEN: Final = re.compile(r"[\[\]:*?/\\]")
DEFAULT_SHEET_NAME: Final = "Blad1"

DOWNLOAD_STEM_MAX: Final = 80
_SWEDISH_LETTERS: Final = str.maketrans("åäöÅÄÖ", "aaoAAO")
_NOT_FILENAME_SAFE: Final = re.compile(r"[^A-Za-z0-9_]+")

# Excel's day 0; serials are only right from 1900-03-01 (Excel believes 1900 was a leap year).
_EXCEL_EPOCH: Final = dt.date(1899, 12, 30)
_EXCEL_FIRST_EXACT_DATE: Final = dt.date(1900, 3, 1)
# Excel keeps 15 significant digits; longer integers would be silently changed.
_EXCEL_MAX_EXACT_INT: Final = 10**15

# Fixed zip timestamp so the archive bytes depend on the table only.
_ZIP_TIMESTAMP: Final = (1980, 1, 1, 0, 0, 0)
_STYLE_PLAIN: Final = 0
_STYLE_BOLD: Final = 1
_STYLE_DATE: Final = 2


@dataclass(frozen=True)
class Table:
    """A titled, marked table of plain values ready for export."""

    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence[object]]
    marking: str

    def __post_init__(self) -> None:
        if not self.marking.strip():
            raise ValueError("an export needs a handling marking")
        width = len(self.columns)
        for number, row in enumerate(self.rows, start=1):
            if len(row) != width:
                raise ValueError(f"row {number} has {len(row)} values, expected {width}")


def clean_text(value: str) -> str:
    """Replace every character XML 1.0 cannot carry with U+FFFD."""
    return _XML_INVALID.sub("\ufffd", value)


def is_dangerous(value: str) -> bool:
    """Whether a spreadsheet could read the text as a formula (first or first non-space character)."""
    if not value:
        return False
    if value[0] in DANGEROUS_PREFIXES:
        return True
    stripped = value.lstrip()
    return bool(stripped) and stripped[0] in DANGEROUS_PREFIXES


def neutralise(value: str) -> str:
    """Prefix a single quote to text a spreadsheet could evaluate as a formula."""
    return "'" + value if is_dangerous(value) else value


def _safe_text(value: str) -> str:
    return neutralise(clean_text(value))


def _text_of(value: object) -> str:
    """The export text of any supported value (the CSV cell, and XLSX text cells)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Ja" if value else "Nej"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return _safe_text(value)
    raise TypeError(f"cannot export a value of type {type(value).__name__}")


def to_csv(table: Table) -> bytes:
    """The table as Excel-friendly CSV: UTF-8 with BOM, `;`, CRLF; raises TypeError on unsupported values."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([_safe_text(table.marking)])
    writer.writerow([_safe_text(name) for name in table.columns])
    for row in table.rows:
        writer.writerow([_text_of(value) for value in row])
    return buffer.getvalue().encode("utf-8-sig")


def sheet_name(title: str) -> str:
    """A worksheet name Excel accepts: no `[]:*?/\\`, no edge apostrophes, at most 31 characters."""
    name = _SHEET_NAME_FORBIDDEN.sub(" ", clean_text(title).replace("\ufffd", " "))
    name = " ".join(name.split()).strip("'").strip()
    # Excel counts UTF-16 code units.
    while len(name.encode("utf-16-le")) // 2 > SHEET_NAME_MAX:
        name = name[:-1]
    name = name.strip().strip("'").strip()
    if not name or name.casefold() == "history":  # "History" is reserved by Excel
        return DEFAULT_SHEET_NAME
    return name


def _column_letters(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def _xml_text(value: str) -> str:
    """Cell text for an inline string: escaped for ST_Xstring, then for XML."""
    value = _XSTRING_ESCAPE.sub("_x005F_", value).replace("\r", "_x000D_")
    return escape(value)


def _inline_string(ref: str, text: str, style: int) -> str:
    style_attr = f' s="{style}"' if style else ""
    return (
        f'<c r="{ref}"{style_attr} t="inlineStr"><is><t xml:space="preserve">{_xml_text(text)}</t></is></c>'
    )


def _xlsx_cell(ref: str, value: object, style: int) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return _inline_string(ref, "Ja" if value else "Nej", style)
    if isinstance(value, int) and abs(value) < _EXCEL_MAX_EXACT_INT:
        return f'<c r="{ref}"><v>{value}</v></c>'
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime) and value >= _EXCEL_FIRST_EXACT_DATE:
        return f'<c r="{ref}" s="{_STYLE_DATE}"><v>{(value - _EXCEL_EPOCH).days}</v></c>'
    return _inline_string(ref, _text_of(value), style)


def _xlsx_row(number: int, values: Sequence[object], style: int) -> str:
    cells = "".join(
        _xlsx_cell(f"{_column_letters(index)}{number}", value, style) for index, value in enumerate(values)
    )
    return f'<row r="{number}">{cells}</row>'


_XML_DECLARATION: Final = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_CONTENT_TYPES: Final = (
    _XML_DECLARATION + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    "</Types>"
)
_ROOT_RELS: Final = (
    _XML_DECLARATION + '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK_RELS: Final = (
    _XML_DECLARATION + '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" '
    'Target="styles.xml"/>'
    "</Relationships>"
)
# Cell formats by index: 0 plain, 1 bold (the header), 2 date as yyyy-mm-dd.
_STYLES: Final = (
    _XML_DECLARATION + '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="3">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


def _workbook(name: str) -> str:
    return (
        _XML_DECLARATION + '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        f'<sheets><sheet name={quoteattr(name)} sheetId="1" r:id="rId1"/></sheets>'
        "</workbook>"
    )


def _worksheet(table: Table) -> str:
    rows = [
        _xlsx_row(1, [_safe_text(table.marking)], _STYLE_PLAIN),
        _xlsx_row(2, [_safe_text(name) for name in table.columns], _STYLE_BOLD),
    ]
    rows.extend(_xlsx_row(number, row, _STYLE_PLAIN) for number, row in enumerate(table.rows, start=3))
    return (
        _XML_DECLARATION + '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"<sheetData>{''.join(rows)}</sheetData>"
        "</worksheet>"
    )


def to_xlsx(table: Table) -> bytes:
    """The table as a one-sheet XLSX workbook of values only; raises TypeError on unsupported values."""
    parts = (
        ("[Content_Types].xml", _CONTENT_TYPES),
        ("_rels/.rels", _ROOT_RELS),
        ("xl/workbook.xml", _workbook(sheet_name(table.title))),
        ("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS),
        ("xl/styles.xml", _STYLES),
        ("xl/worksheets/sheet1.xml", _worksheet(table)),
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, content in parts:
            info = zipfile.ZipInfo(path, date_time=_ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, content.encode("utf-8"))
    return buffer.getvalue()


def download_name(stem: str, day: dt.date, ext: str) -> str:
    """An ASCII `<stem>-<yyyy-mm-dd>.<ext>` safe in Content-Disposition; raises ValueError on another ext."""
    if ext not in _MIMETYPES:
        raise ValueError(f"unsupported export format: {ext!r}")
    if isinstance(day, dt.datetime):
        raise TypeError("download_name takes a date, not a datetime")
    ascii_stem = "".join(
        char
        for char in unicodedata.normalize("NFKD", stem.translate(_SWEDISH_LETTERS))
        if not unicodedata.combining(char)
    )
    safe = _NOT_FILENAME_SAFE.sub("-", ascii_stem).strip("-")
    safe = safe[:DOWNLOAD_STEM_MAX].rstrip("-") or "export"
    return f"{safe}-{day.isoformat()}.{ext}"


def send_table(table: Table, fmt: str, stem: str) -> Response:
    """The table as an attachment download in `fmt` ("csv" or "xlsx"); raises ValueError on another format."""
    if fmt == "csv":
        body = to_csv(table)
    elif fmt == "xlsx":
        body = to_xlsx(table)
    else:
        raise ValueError(f"unsupported export format: {fmt!r}")
    filename = download_name(stem, dt.datetime.now(LOCAL_TIMEZONE).date(), fmt)
    response = Response(body, content_type=_MIMETYPES[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
