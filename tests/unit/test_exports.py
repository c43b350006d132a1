"""The tabular exports read back as a spreadsheet would: XLSX through zipfile + ElementTree, CSV
through the csv module. No office suite is started; the structure checks stand in for one.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from xml.etree import ElementTree

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st

from sakskydd.exports import (
    CSV_MIMETYPE,
    XLSX_MIMETYPE,
    Table,
    download_name,
    neutralise,
    send_table,
    sheet_name,
    to_csv,
    to_xlsx,
)
from sakskydd.organisations.rules import LOCAL_TIMEZONE

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
CONTENT_TYPES = "{http://schemas.openxmlformats.org/package/2006/content-types}"
MARKING = "Hanteras enligt stadens rutin – sammanställning, ej för spridning"
EXPECTED_PARTS = [
    "[Content_Types].xml",
    "_rels/.rels",
    "xl/workbook.xml",
    "xl/_rels/workbook.xml.rels",
    "xl/styles.xml",
    "xl/worksheets/sheet1.xml",
]
# Written independently of the module: what a spreadsheet may start a formula with.
DANGEROUS = set("=+-@\t\r＝＋－＠")
XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
INJECTIONS = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\t=x", "\r=x", "＝1+1", "＋1", "－1", "＠cmd"]


def make_table(
    rows: list[list[object]], columns: list[str] | None = None, title: str = "Upphandlingar"
) -> Table:
    columns = columns or [f"Kolumn {index}" for index in range(len(rows[0]) if rows else 1)]
    return Table(title=title, columns=columns, rows=rows, marking=MARKING)


def decode_xstring(text: str) -> str:
    """What Excel shows for an ST_Xstring: `_xHHHH_` is the character U+HHHH."""
    return re.sub("_x([0-9A-Fa-f]{4})_", lambda match: chr(int(match.group(1), 16)), text)


def read_part(data: bytes, name: str) -> ElementTree.Element:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        # The XML is the module's own output, built in this test; no untrusted input is parsed.
        return ElementTree.fromstring(archive.read(name))  # noqa: S314


def sheet_xml(data: bytes) -> ElementTree.Element:
    return read_part(data, "xl/worksheets/sheet1.xml")


def xlsx_cells(data: bytes) -> list[list[tuple[str, str | None, str | None]]]:
    """Rows of (type, style, value) per cell, with inline strings decoded as Excel shows them."""
    rows = []
    for row in sheet_xml(data).iter(f"{MAIN}row"):
        cells = []
        for cell in row.iter(f"{MAIN}c"):
            kind = cell.get("t", "n")
            if kind == "inlineStr":
                text = cell.find(f"{MAIN}is/{MAIN}t")
                assert text is not None
                value = decode_xstring(text.text or "")
            else:
                number = cell.find(f"{MAIN}v")
                value = None if number is None else number.text
            cells.append((kind, cell.get("s"), value))
        rows.append(cells)
    return rows


def xlsx_values(data: bytes) -> list[list[str | None]]:
    return [[value for _, _, value in row] for row in xlsx_cells(data)]


def csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data[3:].decode("utf-8"), newline=""), delimiter=";"))


def single_text_cell_roundtrip(text: str) -> tuple[str, str]:
    table = make_table([[text]])
    xlsx_row = xlsx_cells(to_xlsx(table))[2]
    assert xlsx_row[0][0] == "inlineStr"
    return csv_rows(to_csv(table))[2][0], xlsx_row[0][2] or ""


# --- neutralise ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", INJECTIONS)
def test_formula_prefixes_get_a_single_quote(text: str) -> None:
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize("text", ["  =1+1", " @cmd", "\n=x", "\u00a0+1", "\u3000＝1"])
def test_formula_prefix_after_leading_whitespace_is_neutralised_too(text: str) -> None:
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize("text", ["", "Vård och omsorg", "1+1", "a=b", "'=1", " text", "100", "e-post"])
def test_harmless_text_is_unchanged(text: str) -> None:
    assert neutralise(text) == text


# --- XLSX ---------------------------------------------------------------------------------------


def test_xlsx_has_exactly_the_fixed_parts_all_well_formed() -> None:
    data = to_xlsx(make_table([["a", 1]]))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == EXPECTED_PARTS
    parsed = {name: read_part(data, name) for name in EXPECTED_PARTS}
    overrides = {
        override.get("PartName"): override.get("ContentType")
        for override in parsed["[Content_Types].xml"].iter(f"{CONTENT_TYPES}Override")
    }
    assert overrides["/xl/workbook.xml"].endswith("sheet.main+xml")
    assert overrides["/xl/worksheets/sheet1.xml"].endswith("worksheet+xml")
    assert overrides["/xl/styles.xml"].endswith("styles+xml")
    root_targets = [rel.get("Target") for rel in parsed["_rels/.rels"].iter(f"{RELS}Relationship")]
    assert root_targets == ["xl/workbook.xml"]
    book_targets = {
        rel.get("Target") for rel in parsed["xl/_rels/workbook.xml.rels"].iter(f"{RELS}Relationship")
    }
    assert book_targets == {"worksheets/sheet1.xml", "styles.xml"}


def test_xlsx_marking_row_first_bold_header_second_then_rows() -> None:
    table = make_table([["Avtal 1", 3], ["Avtal 2", 4]], columns=["Namn", "Antal"])
    cells = xlsx_cells(to_xlsx(table))
    assert cells[0] == [("inlineStr", None, MARKING)]
    assert cells[1] == [("inlineStr", "1", "Namn"), ("inlineStr", "1", "Antal")]
    assert cells[2] == [("inlineStr", None, "Avtal 1"), ("n", None, "3")]
    assert cells[3] == [("inlineStr", None, "Avtal 2"), ("n", None, "4")]
    styles = read_part(to_xlsx(table), "xl/styles.xml")
    fonts = styles.findall(f"{MAIN}fonts/{MAIN}font")
    header_format = styles.findall(f"{MAIN}cellXfs/{MAIN}xf")[1]
    assert fonts[int(header_format.get("fontId", "0"))].find(f"{MAIN}b") is not None


def test_xlsx_cell_references_follow_rows_and_columns() -> None:
    data = to_xlsx(make_table([list(range(28))]))
    refs = [cell.get("r") for cell in sheet_xml(data).iter(f"{MAIN}c")]
    assert refs[:2] == ["A1", "A2"]
    assert refs[-3:] == ["Z3", "AA3", "AB3"]


def test_xlsx_never_contains_a_formula_even_for_injection_text() -> None:
    data = to_xlsx(make_table([[text] for text in INJECTIONS], columns=['=HYPERLINK("x")']))
    root = sheet_xml(data)
    assert root.find(f".//{MAIN}f") is None
    assert b"<f>" not in data
    values = xlsx_values(data)
    assert values[1] == ['\'=HYPERLINK("x")']
    assert [row[0] for row in values[2:]] == ["'" + text for text in INJECTIONS]
    assert all(cell.get("t") == "inlineStr" for cell in root.iter(f"{MAIN}c"))


def test_xlsx_writes_plain_values_with_their_types() -> None:
    row: list[object] = [
        -2,
        0,
        True,
        False,
        dt.date(2024, 3, 1),
        dt.datetime(2024, 3, 1, 14, 5, 9, 123456),
        dt.datetime(2024, 3, 1, 14, 5, 9, tzinfo=LOCAL_TIMEZONE),
        None,
        "text",
    ]
    cells = xlsx_cells(to_xlsx(make_table([row])))[2]
    assert cells == [
        ("n", None, "-2"),
        ("n", None, "0"),
        ("inlineStr", None, "Ja"),
        ("inlineStr", None, "Nej"),
        ("n", "2", "45352"),  # Excel's serial for 2024-03-01, shown through the yyyy-mm-dd style
        ("inlineStr", None, "2024-03-01T14:05:09"),
        ("inlineStr", None, "2024-03-01T14:05:09+01:00"),
        ("inlineStr", None, "text"),  # None is no cell at all
    ]


def test_xlsx_date_style_is_iso_and_serials_match_excel() -> None:
    data = to_xlsx(make_table([[dt.date(1900, 3, 1)], [dt.date(2000, 1, 1)], [dt.date(1899, 1, 1)]]))
    styles = read_part(data, "xl/styles.xml")
    date_format = styles.findall(f"{MAIN}cellXfs/{MAIN}xf")[2]
    formats = {fmt.get("numFmtId"): fmt.get("formatCode") for fmt in styles.iter(f"{MAIN}numFmt")}
    assert formats[date_format.get("numFmtId")] == "yyyy\\-mm\\-dd"
    # 1900-03-01 is 61 and 2000-01-01 is 36526 in Excel; before March 1900 Excel's calendar is wrong.
    assert [row[0] for row in xlsx_cells(data)[2:]] == [
        ("n", "2", "61"),
        ("n", "2", "36526"),
        ("inlineStr", None, "1899-01-01"),
    ]


def test_xlsx_integers_beyond_excel_precision_are_text() -> None:
    cells = xlsx_cells(to_xlsx(make_table([[10**15 - 1, 10**15, -(10**16)]])))[2]
    assert cells == [
        ("n", None, "999999999999999"),
        ("inlineStr", None, "1000000000000000"),
        ("inlineStr", None, "-10000000000000000"),
    ]


def test_xlsx_escapes_markup_and_keeps_swedish_letters() -> None:
    text = '<script>alert("x")</script> & Åsa Öberg äger ]]> &amp;'
    data = to_xlsx(make_table([[text]], columns=["Å<b>"]))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        raw = archive.read("xl/worksheets/sheet1.xml").decode("utf-8")
    assert "<script>" not in raw
    assert "&lt;script&gt;" in raw
    assert "&amp;amp;" in raw
    assert xlsx_values(data)[1:] == [["Å<b>"], [text]]


def test_xlsx_replaces_xml_invalid_characters() -> None:
    text = "a\x00b\x01\x08\x0b\x0c\x1f\ufffe\uffff\ud800c\td\ne"
    data = to_xlsx(make_table([[text]]))
    assert xlsx_values(data)[2] == ["a\ufffdb" + "\ufffd" * 8 + "c\td\ne"]


def test_xlsx_keeps_carriage_returns_and_literal_escape_sequences() -> None:
    for text in ["a\r\nb", "_x0041_", "_x005F_", "_x0041_x0042_", "_\r", "\rx0041_"]:
        assert single_text_cell_roundtrip(text)[1] == neutralise(text)


def test_xlsx_output_is_deterministic() -> None:
    table = make_table([["a", 1, dt.date(2024, 1, 2)]])
    assert to_xlsx(table) == to_xlsx(table)
    with zipfile.ZipFile(io.BytesIO(to_xlsx(table))) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Upphandlingsregister", "Upphandlingsregister"),
        ("Avtal [2024]: a/b\\c*?", "Avtal 2024 a b c"),
        ("x" * 40, "x" * 31),
        ("'citat'", "citat"),
        ("", "Blad1"),
        ("[]:*?/\\", "Blad1"),
        ("History", "Blad1"),
        ("rad\r\nbrytning\x00", "rad brytning"),
        ("Säkerhetsskyddade upphandlingar 2024–2025", "Säkerhetsskyddade upphandlingar"),
        ("😀" * 20, "😀" * 15),  # Excel counts UTF-16 code units
    ],
)
def test_sheet_title_is_sanitised(title: str, expected: str) -> None:
    assert sheet_name(title) == expected
    data = to_xlsx(make_table([["a"]], title=title))
    workbook = read_part(data, "xl/workbook.xml")
    sheet = workbook.find(f"{MAIN}sheets/{MAIN}sheet")
    assert sheet is not None
    assert sheet.get("name") == expected


# --- CSV ----------------------------------------------------------------------------------------


def test_csv_is_utf8_with_bom_semicolons_and_crlf() -> None:
    table = make_table([['Åsa; "Öberg"', 5], ["rad\nbrytning", None]], columns=["Namn", "Antal"])
    data = to_csv(table)
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.endswith(b"\r\n")
    assert data.count(b"\r\n") == 4  # four records; the LF inside a quoted field stays LF
    assert csv_rows(data) == [[MARKING], ["Namn", "Antal"], ['Åsa; "Öberg"', "5"], ["rad\nbrytning", ""]]
    assert b'"\xc3\x85sa; ""\xc3\x96berg"""' in data  # RFC 4180 quoting


def test_csv_neutralises_every_text_cell_but_keeps_numbers() -> None:
    table = make_table([[text, -2] for text in INJECTIONS], columns=["=Namn", "-Antal"])
    rows = csv_rows(to_csv(table))
    assert rows[1] == ["'=Namn", "'-Antal"]
    assert rows[2:] == [["'" + text, "-2"] for text in INJECTIONS]


def test_csv_writes_plain_values_as_text() -> None:
    row: list[object] = [True, False, dt.date(2024, 3, 1), dt.datetime(2024, 3, 1, 14, 5, 9, 999), None, 0]
    assert csv_rows(to_csv(make_table([row])))[2] == [
        "Ja",
        "Nej",
        "2024-03-01",
        "2024-03-01T14:05:09",
        "",
        "0",
    ]


def test_csv_replaces_xml_invalid_characters_too() -> None:
    rows = csv_rows(to_csv(make_table([["a\x00b\x1bc\ud800"]])))
    assert rows[2] == ["a\ufffdb\ufffdc\ufffd"]


def test_control_character_before_a_formula_is_replaced_not_dropped() -> None:
    # Dropping would leave "=1+1"; the replacement character keeps the cell from starting a formula.
    for text in ["\x00=1+1", " \x0b=1+1", "\x1c+1"]:
        csv_text, xlsx_text = single_text_cell_roundtrip(text)
        assert csv_text == xlsx_text == text.replace(text.strip(" ")[0], "\ufffd")
        assert not starts_dangerously(csv_text)


# --- the table itself ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", [1.5, b"bytes", object(), ["lista"]])
def test_unsupported_values_are_refused(value: object) -> None:
    table = make_table([[value]])
    with pytest.raises(TypeError):
        to_csv(table)
    with pytest.raises(TypeError):
        to_xlsx(table)


def test_rows_must_match_the_columns() -> None:
    with pytest.raises(ValueError, match="row 2"):
        Table(title="t", columns=["a", "b"], rows=[[1, 2], [1]], marking=MARKING)


def test_a_marking_is_required() -> None:
    with pytest.raises(ValueError, match="marking"):
        Table(title="t", columns=["a"], rows=[], marking="  ")


def test_empty_table_has_marking_and_header_only() -> None:
    table = Table(title="t", columns=["a", "b"], rows=[], marking=MARKING)
    assert csv_rows(to_csv(table)) == [[MARKING], ["a", "b"]]
    assert xlsx_values(to_xlsx(table)) == [[MARKING], ["a", "b"]]


# --- download names and the response ------------------------------------------------------------

DAY = dt.date(2024, 5, 17)


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        ("upphandlingsregister", "upphandlingsregister-2024-05-17.csv"),
        ("Säkerhetsskydd ÅÄÖ åäö", "Sakerhetsskydd-AAO-aao-2024-05-17.csv"),
        ("evil\r\nSet-Cookie: x=1", "evil-Set-Cookie-x-1-2024-05-17.csv"),
        ("a\"b'c", "a-b-c-2024-05-17.csv"),
        ("../../etc/passwd", "etc-passwd-2024-05-17.csv"),
        ("..", "export-2024-05-17.csv"),
        ("a\\b/c", "a-b-c-2024-05-17.csv"),
        ("", "export-2024-05-17.csv"),
        ("Café über_alles", "Cafe-uber_alles-2024-05-17.csv"),
        ("日本語", "export-2024-05-17.csv"),
    ],
)
def test_download_name_is_safe_ascii(stem: str, expected: str) -> None:
    assert download_name(stem, DAY, "csv") == expected


def test_download_name_caps_a_long_stem() -> None:
    name = download_name("å" * 500, DAY, "xlsx")
    assert name == "a" * 80 + "-2024-05-17.xlsx"
    name = download_name("ab-" * 100, DAY, "xlsx")
    assert len(name) <= 80 + len("-2024-05-17.xlsx")
    assert "--" not in name


@pytest.mark.parametrize("ext", ["pdf", "CSV", "csv\r\n", "../csv", "", "xlsm"])
def test_download_name_refuses_other_extensions(ext: str) -> None:
    with pytest.raises(ValueError):
        download_name("register", DAY, ext)


@given(st.text())
def test_download_name_is_always_header_safe(stem: str) -> None:
    name = download_name(stem, DAY, "xlsx")
    assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,79}-2024-05-17\.xlsx", name)


@pytest.mark.parametrize(("fmt", "mimetype"), [("csv", CSV_MIMETYPE), ("xlsx", XLSX_MIMETYPE)])
def test_send_table_is_a_no_store_attachment(fmt: str, mimetype: str) -> None:
    app = Flask(__name__)
    table = make_table([["=1+1", 2]])

    @app.get("/export")
    def export():  # type: ignore[no-untyped-def]
        return send_table(table, fmt, "Upphandlingar\r\nX: y")

    response = app.test_client().get("/export")
    today = dt.datetime.now(LOCAL_TIMEZONE).date().isoformat()
    assert response.status_code == 200
    assert response.headers["Content-Type"] == mimetype
    assert (
        response.headers["Content-Disposition"] == f'attachment; filename="Upphandlingar-X-y-{today}.{fmt}"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "X" not in response.headers
    assert response.data == (to_csv(table) if fmt == "csv" else to_xlsx(table))


def test_send_table_refuses_other_formats() -> None:
    with Flask(__name__).test_request_context(), pytest.raises(ValueError):
        send_table(make_table([["a"]]), "html", "register")


# --- properties ---------------------------------------------------------------------------------


def starts_dangerously(text: str) -> bool:
    return bool(text) and (text[0] in DANGEROUS or text.lstrip()[:1] in DANGEROUS)


# Text XML can carry, with the dangerous characters and whitespace made likely.
valid_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(sorted(DANGEROUS) + [" ", "\n", "\u00a0", "\u3000", "'", "_", "x", "0", "&", "<"]),
        st.characters(exclude_categories=["Cs"]).filter(lambda char: not XML_INVALID.match(char)),
    )
)
any_text = st.text(
    alphabet=st.one_of(st.characters(), st.sampled_from(["\x00", "\x1b", "\ufffe", "\ud800", "=", " "]))
)


@given(valid_text)
def test_text_round_trips_as_itself_or_quoted_exactly_when_dangerous(text: str) -> None:
    expected = "'" + text if starts_dangerously(text) else text
    assert neutralise(text) == expected
    assert single_text_cell_roundtrip(text) == (expected, expected)


@given(any_text)
def test_any_text_comes_out_xml_valid_and_never_formula_like(text: str) -> None:
    csv_text, xlsx_text = single_text_cell_roundtrip(text)
    assert csv_text == xlsx_text
    assert not XML_INVALID.search(csv_text)
    assert not starts_dangerously(csv_text)
    assert len(csv_text) in (len(text), len(text) + 1)
