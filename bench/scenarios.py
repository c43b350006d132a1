"""The pages under load: each role's main pages, and how many SQL statements each request runs."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import create_engine, text


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str  # what the results table calls it
    login: str  # which bench login (manifest["logins"]) requests it
    path: str


def scenarios(manifest: Mapping[str, Any], database_url: str) -> list[Scenario]:
    """The main pages of each role, on the data set's own ids (the bench unit is its largest)."""
    unit = manifest["bench_unit_id"]
    operator = manifest["operator_id"]
    engine = create_engine(database_url)
    with engine.connect() as connection:
        # The unit's latest analysis (the one a samordnare opens from the unit page).
        unit_key = uuid.UUID(unit).hex if database_url.startswith("sqlite") else unit
        analysis = connection.execute(
            text(
                "SELECT id FROM security_analysis WHERE unit_id = :unit "
                "ORDER BY cycle_year DESC, version_no DESC LIMIT 1"
            ),
            {"unit": unit_key},
        ).scalar_one()
    engine.dispose()
    analysis_id = str(uuid.UUID(str(analysis)))
    return [
        Scenario("home_samordnare", "Att göra (samordnare)", "samordnare", "/"),
        Scenario("home_chef", "Att göra (säkerhetsskyddschef)", "chef", "/"),
        Scenario("analysis", "Säkerhetsskyddsanalys (samordnare)", "samordnare", f"/analyser/{analysis_id}"),
        Scenario("assets", "Objektregistret, en enhet (samordnare)", "samordnare", f"/enheter/{unit}/objekt"),
        Scenario("procurements", "Upphandlingsregistret (upphandlare)", "upphandlare", "/upphandlingar"),
        Scenario(
            "vetting",
            "Säkerhetsprövningar, en enhet (samordnare)",
            "samordnare",
            f"/enheter/{unit}/provningar",
        ),
        Scenario("oversight", "Sammanställningen (säkerhetsskyddschef)", "chef", f"/oversikt/{operator}"),
        Scenario("audit_search", "Granskning, sökning (revisor)", "revisor", "/granskning"),
    ]


BASELINE = Scenario("baseline", "Referenssida (bar Flask, 100 rader)", "samordnare", "/")


def count_statements(app: Any, path: str, cookie: str) -> dict[str, Any]:
    """One request through the app in this process, after warm-up ones: its SQL statements.

    Counted with a `before_cursor_execute` listener on the app's engine, as tests/factories.py
    count_statements does; BEGIN (IMMEDIATE) is reported apart, as the tests leave it out.
    """
    from sqlalchemy import event

    from sakskydd.accounts.sessions import COOKIE_NAME

    client = app.test_client()
    client.set_cookie(COOKIE_NAME, cookie, domain="localhost")
    # Two warm-up requests: caches fill, and a session's first requests store what it keeps
    # (the CSRF token, Flask-Login's flag); the counted one is a signed-in user's steady state.
    client.get(path)
    warm = client.get(path)
    engine = app.extensions["sakskydd.db"].engine
    statements: list[str] = []

    def _count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", _count)
    try:
        response = client.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", _count)
    from sakskydd.web.budget import page_statements

    begins = [s for s in statements if s.lstrip().upper().startswith("BEGIN")]
    others = [s for s in statements if not s.lstrip().upper().startswith("BEGIN")]
    return {
        "status": response.status_code,
        "warm_status": warm.status_code,
        "statements": len(others),
        # The page's own, beyond the request's fixed overhead (sakskydd/web/budget.py).
        "own": len(page_statements(statements)),
        "begins": len(begins),
        "writes": sum(1 for s in others if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))),
        "sql": [" ".join(s.split())[:160] for s in others],
        "bytes": len(response.get_data()),
    }
