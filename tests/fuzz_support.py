"""Shared pieces for fuzzing the web forms: a fingerprint of the database, the POST forms a page
offers, and Hypothesis strategies for hostile form values.

The fingerprint is a plain read of every table through its own connection (never the request's
session), so it sees exactly what was committed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote_plus, urlsplit

from hypothesis import strategies as st
from sqlalchemy.engine import Engine

import sakskydd.models  # noqa: F401 - every table in Base.metadata
from sakskydd.db import Base

# --- the database fingerprint -----------------------------------------------------------------


def fingerprint(
    engine: Engine, *, skip_tables: frozenset[str], skip_columns: frozenset[str]
) -> dict[str, Any]:
    """Per table: the row count and a hash of every row's content (ordered by primary key).

    `skip_columns` holds "table.column" names left out of the hash (the row still counts). The
    rows are read raw (no type conversion), so the same stored values always hash the same; on
    PostgreSQL the database hashes them, in one statement for all tables.
    """
    statements = _fingerprint_statements(engine, skip_tables, skip_columns)
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            union = " UNION ALL ".join(statement for _, statement in statements)
            result = {row[0]: (row[1], row[2]) for row in connection.exec_driver_sql(union).fetchall()}
        else:
            result = {}
            cursor = connection.connection.cursor()  # the driver's own: rows are plain tuples
            for name, statement in statements:
                cursor.execute(statement)
                rows = cursor.fetchall()
                result[name] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
            cursor.close()
        connection.rollback()
    return result


_STATEMENTS: dict[tuple[str, frozenset[str], frozenset[str]], list[tuple[str, str]]] = {}


def _fingerprint_statements(
    engine: Engine, skip_tables: frozenset[str], skip_columns: frozenset[str]
) -> list[tuple[str, str]]:
    key = (engine.dialect.name, skip_tables, skip_columns)
    if key not in _STATEMENTS:
        quote = engine.dialect.identifier_preparer.quote
        statements = []
        for table in Base.metadata.sorted_tables:
            if table.name in skip_tables:
                continue
            columns = ", ".join(
                quote(c.name) for c in table.columns if f"{table.name}.{c.name}" not in skip_columns
            )
            order = ", ".join(quote(c.name) for c in table.primary_key.columns)
            if engine.dialect.name == "postgresql":
                digest = f"md5(coalesce(string_agg(ROW({columns})::text, '|' ORDER BY {order}), ''))"
                # Names from our own metadata, quoted: no input reaches these statements.
                statement = f"(SELECT '{table.name}', count(*), {digest} FROM {quote(table.name)})"  # noqa: S608
            else:
                statement = f"SELECT {columns} FROM {quote(table.name)} ORDER BY {order}"  # noqa: S608
            statements.append((table.name, statement))
        _STATEMENTS[key] = statements
    return _STATEMENTS[key]


def changed_tables(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))


# --- the POST forms on a page ---------------------------------------------------------------------


@dataclass
class FieldSpec:
    """One named control of a form: its kind, the values it offers (options, its own value) and
    what the page would send unchanged (`sent`: a checked box's value, the selected option)."""

    name: str
    kind: str
    values: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)


@dataclass
class FormSpec:
    action: str  # the path the form posts to (no query string)
    fields: dict[str, FieldSpec] = field(default_factory=dict)

    def merge(self, other: FormSpec) -> None:
        for name, spec in other.fields.items():
            mine = self.fields.setdefault(name, FieldSpec(name, spec.kind))
            mine.values.extend(v for v in spec.values if v not in mine.values)
            mine.sent.extend(v for v in spec.sent if v not in mine.sent)


class _FormParser(HTMLParser):
    def __init__(self, page_path: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page_path = page_path
        self.forms: list[FormSpec] = []
        self._form: FormSpec | None = None
        self._select: FieldSpec | None = None
        self._select_multiple = False
        self._textarea: FieldSpec | None = None

    def _field(self, name: str, kind: str) -> FieldSpec:
        assert self._form is not None
        return self._form.fields.setdefault(name, FieldSpec(name, kind))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            if a.get("method", "get").lower() == "post":
                self._form = FormSpec(urlsplit(a.get("action") or self.page_path).path)
            return
        if self._form is None:
            return
        if tag == "option" and self._select is not None:
            self._select.values.append(a.get("value", ""))
            if "selected" in a and (self._select_multiple or not self._select.sent):
                self._select.sent.append(a.get("value", ""))
            return
        name = a.get("name")
        if not name:
            return
        if tag == "input":
            kind = a.get("type", "text").lower()
            spec = self._field(name, kind)
            value = a.get("value", "y" if kind in ("checkbox", "radio") else "")
            spec.values.append(value)
            if kind not in ("checkbox", "radio", "submit", "button", "image", "reset") or "checked" in a:
                spec.sent.append(value)
        elif tag == "select":
            self._select = self._field(name, "select")
            self._select_multiple = "multiple" in a
        elif tag == "textarea":
            self._textarea = self._field(name, "textarea")
            self._textarea.sent.append("")
        elif tag == "button":
            self._field(name, "button").values.append(a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._form is not None:
            self.forms.append(self._form)
            self._form = None
        elif tag == "select" and self._select is not None:
            if not self._select.sent and self._select.values and not self._select_multiple:
                self._select.sent.append(self._select.values[0])  # a browser sends the first option
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea.sent[-1] += data


def post_forms(html: str, page_path: str) -> list[FormSpec]:
    """The POST forms of a page, each with its named controls and their offered values."""
    parser = _FormParser(page_path)
    parser.feed(html)
    return parser.forms


# --- hostile values ---------------------------------------------------------------------------------

NUL = "\x00"
RTL_OVERRIDE = "\u202e"
RTL_MARK = "\u200f"
SPECIALS = (
    "",
    " ",
    "\t\r\n",
    NUL,
    f"abc{NUL}def",
    RTL_OVERRIDE,
    RTL_MARK,
    f"{RTL_OVERRIDE}gpj.exe",
    f"namn{RTL_MARK}\u200b\ufeff",
    "\u2028\u2029\x85",
    "\ufffe\uffff",
    "\U0001f600" * 3,
    "Å" * 3 + "\u0301" * 20,  # combining marks
    "\x01\x02\x1b[31m\x7f",
    "<script>alert(1)</script>",
    "{{ 7*7 }}{% raw %}",
    "' OR '1'='1",
    "%00%ff%c0%af",
    "../../../etc/passwd",
    "None",
    "null",
    "true",
    "[]",
    "{}",
    "NaN",
    "Infinity",
    "-0",
    "1e309",
    "0x10",
    "١٢٣",  # Arabic-Indic digits
    "２０２６-０１-０１",  # full-width digits
)
NUMBERS = (0, -1, 1, 2**31, 2**31 - 1, -(2**31) - 1, 2**63, -(2**63) - 1, 2**64, 10**30)
BAD_DATES = (
    "2026-02-30",
    "2026-13-01",
    "0000-00-00",
    "0001-01-01",
    "9999-12-31",
    "10000-01-01",
    "-0001-01-01",
    "2026-1-1",
    "1.1.2026",
    "2026-01-01T25:61",
    "2026-01-01 00:00:00",
    "20260101",
)

# Values that never pass the app's input check (a NUL, invalid UTF-8) are drawn only in "poison"
# examples: elsewhere they would stop every submission before the form is read.
POISON = (NUL, f"abc{NUL}def", "\udcff")
CLEAN_SPECIALS = tuple(value for value in SPECIALS if NUL not in value)


def text_values(poison: bool = False) -> st.SearchStrategy[str]:
    excluded = "" if poison else NUL
    return st.text(st.characters(exclude_categories=["Cs"], exclude_characters=excluded), max_size=40)


number_values = st.one_of(
    st.sampled_from(NUMBERS), st.integers(), st.floats(allow_nan=True, allow_infinity=True)
).map(str)
date_values = st.one_of(st.dates().map(lambda d: d.isoformat()), st.sampled_from(BAD_DATES))
uuid_values = st.uuids().map(str)


def huge_values(poison: bool = False) -> st.SearchStrategy[str]:
    """100 000+ characters (some beyond the request size limit once encoded)."""
    units = ["A", "å", RTL_OVERRIDE, RTL_MARK, "\U0001f600", "a b\n"] + ([NUL] if poison else [])
    return st.builds(
        lambda unit, count, tail: unit * count + tail,
        st.sampled_from(units),
        st.integers(100_000, 160_000),
        text_values(poison),
    )


def mixed_text(poison: bool = False) -> st.SearchStrategy[str]:
    specials = SPECIALS if poison else CLEAN_SPECIALS
    return st.lists(st.one_of(text_values(poison), st.sampled_from(specials)), max_size=4).map("".join)


def fuzz_values(
    known: list[str] | tuple[str, ...] = (), poison: bool = False
) -> st.SearchStrategy[str | bytes]:
    """Any hostile value; `known` are real values (ids of existing objects, offered options)."""
    choices: list[st.SearchStrategy[Any]] = [
        st.sampled_from(SPECIALS if poison else CLEAN_SPECIALS),
        mixed_text(poison),
        number_values,
        date_values,
        uuid_values,
    ]
    if poison:
        choices.append(st.binary(max_size=12))  # mostly not UTF-8
        choices.append(st.sampled_from(POISON).map(lambda v: v.encode("utf-8", "surrogateescape")))
    if known:
        choices.append(st.sampled_from(list(known)))
    return st.one_of(*choices)


def value_for(
    spec: FieldSpec, known_ids: list[str], *, poison: bool = False
) -> st.SearchStrategy[str | bytes]:
    """A value for a real control: what the page offers, something close to it, or garbage."""
    plausible: list[st.SearchStrategy[Any]] = []
    if spec.values:
        plausible.append(st.sampled_from(spec.values))
    if spec.kind == "date":
        plausible.append(date_values)
    elif spec.kind == "number":
        plausible.append(number_values)
    elif spec.kind in ("text", "textarea", "email", "password", "search"):
        plausible.append(mixed_text(poison))
    return st.one_of(*plausible, fuzz_values(known_ids, poison))


def encode_form(pairs: list[tuple[str, str | bytes]]) -> bytes:
    """An application/x-www-form-urlencoded body, byte for byte (repeated names kept in order)."""
    return "&".join(f"{quote_plus(name)}={quote_plus(value)}" for name, value in pairs).encode("ascii")


def encode_multipart(
    pairs: list[tuple[str, str | bytes]], boundary: str, *, nameless: bool, upload: bytes
) -> bytes:
    """A multipart/form-data body written by hand: names go in raw (quotes, line breaks and all),
    a file part is added, and with `nameless` a part without a name."""

    def raw(value: str | bytes) -> bytes:
        return value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")

    parts = [
        b'Content-Disposition: form-data; name="' + raw(name) + b'"\r\n\r\n' + raw(value)
        for name, value in pairs
    ]
    parts.append(
        b'Content-Disposition: form-data; name="bilaga"; filename="\xe2\x80\xaegpj.exe"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + upload
    )
    if nameless:
        parts.append(b"Content-Disposition: form-data\r\n\r\nutan namn")
    delimiter = b"--" + boundary.encode("ascii")
    return b"".join(delimiter + b"\r\n" + part + b"\r\n" for part in parts) + delimiter + b"--\r\n"


def describe(pairs: list[tuple[str, str | bytes]], limit: int = 60) -> str:
    """A short, readable account of a submission for a failure message."""

    def short(value: str | bytes) -> str:
        text = repr(value)
        if len(text) > limit:
            return f"{text[:limit]}…(len {len(value)})"
        return text

    return json.dumps([(name[:40], short(value)) for name, value in pairs if name != "csrf_token"])
