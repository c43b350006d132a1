"""DESIGN.md's statement budget for the main pages (the pages `make bench` loads), checked on the
real app: the number of SQL statements a page runs does not grow with the rows it shows, and what
the page itself runs stays within ten (sakskydd/web/budget.py: the request's fixed overhead —
session, user, the user's policy entity, the audit append of a sensitive read — is counted apart,
identified by its SQL, so a query a page adds is counted whatever it reads).

Timing is never asserted here: `make bench` measures it against the baseline page.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from factories import Person, count_statements, session_cookie
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, select, text
from test_oversight_figures import (
    World,
    analysis,
    asset,
    days,
    duty,
    measure,
    notice,
    procurement,
    vetting_case,
)

from sakskydd import audit
from sakskydd.analyses.models import AnalysisAsset, AnalysisStatus, MeasureStatus, SecurityAnalysis
from sakskydd.assets.models import AssetType
from sakskydd.audit import Event
from sakskydd.classification import DamageLevel
from sakskydd.extensions import db
from sakskydd.oversight.models import StoredPicture
from sakskydd.procurements.models import ProcurementStatus
from sakskydd.procurements.rules import DutyKind, Outcome
from sakskydd.vetting.models import CaseStatus
from sakskydd.vetting.rules import SecurityClass
from sakskydd.web.budget import PAGE_STATEMENTS, page_statements, request_overhead

pytestmark = pytest.mark.db

YEARS = itertools.count(1800)  # a new cycle year for every older analysis


@dataclass
class Page:
    name: str
    who: str
    path: Callable[[World], str]


PAGES = [
    Page("Att göra, samordnare", "samordnare", lambda w: "/"),
    Page("Att göra, säkerhetsskyddschef", "chef", lambda w: "/"),
    Page("Säkerhetsskyddsanalys", "samordnare", lambda w: f"/analyser/{w.analysis_id}"),
    Page("Objektregistret", "samordnare", lambda w: f"/enheter/{w.full.id}/objekt"),
    Page("Upphandlingsregistret", "upphandlare", lambda w: "/upphandlingar"),
    Page("Säkerhetsprövningar", "samordnare", lambda w: f"/enheter/{w.full.id}/provningar"),
    Page("Sammanställningen", "chef", lambda w: f"/oversikt/{w.city.id}"),
    Page("Granskning", "revisor", lambda w: "/granskning"),
]


def _grow(world: World, rounds: int) -> None:
    """More of every kind of row the pages show, in the samordnare's own unit."""
    unit, author = world.full, world.helper
    main = db.get(SecurityAnalysis, world.analysis_id)
    for round_no in range(rounds):
        for level, kind in ((DamageLevel.SERIOUS, AssetType.SYSTEM), (DamageLevel.MINOR, AssetType.PREMISES)):
            row = asset(unit, author, level, kind)
            db.add(AnalysisAsset(analysis_id=main.id, asset_id=row.id, damage_level=level))
            notice(row, world.samordnare, 3 + round_no)
        measure(main, days(10 + round_no))
        measure(main, days(-5 - round_no), MeasureStatus.IN_PROGRESS)
        bought = procurement(unit, world.upphandlare, Outcome.SUA_2, ProcurementStatus.CONFIRMED)
        duty(bought, world.upphandlare, days(-1 - round_no))
        duty(bought, world.upphandlare, days(20 + round_no), DutyKind.SUITABILITY)
        procurement(unit, world.upphandlare, None, ProcurementStatus.NEW)
        vetting_case(
            unit,
            author,
            SecurityClass.CLASS_2,
            CaseStatus.APPROVED,
            checked_on=days(-6 * 366 - round_no),
            decided_on=days(-6 * 366 - round_no),
        )
        vetting_case(unit, author, SecurityClass.CLASS_3, CaseStatus.IN_PROGRESS)
        older = analysis(
            unit, author, AnalysisStatus.APPROVED, decided_days_ago=400 + round_no, year=next(YEARS)
        )
        measure(older, days(-400))
        audit.record(
            Event.ASSET_READ, actor=world.samordnare.id, target_type="asset", target_id="x", unit_id=unit.id
        )
    db.commit()


@pytest.fixture
def budget_world(app: Flask) -> World:
    world = World(app)
    main = db.scalar(
        select(SecurityAnalysis.id).where(
            SecurityAnalysis.unit_id == world.full.id, SecurityAnalysis.status == AnalysisStatus.APPROVED
        )
    )
    world.analysis_id = main  # type: ignore[attr-defined]
    return world


def _client(app: Flask, person: Person) -> FlaskClient:
    client = app.test_client()
    session_cookie(client, app, person)
    db.close()
    return client


def _count(app: Flask, client: FlaskClient, path: str) -> tuple[int, list[str]]:
    for _ in range(2):
        client.get(path)  # warm: the session's CSRF secret and Flask-Login's marks, caches
    with count_statements(app) as statements:
        response = client.get(path)
    assert response.status_code == 200, path
    counted = [s for s in statements if not s.lstrip().upper().startswith("BEGIN")]
    return len(counted), page_statements(statements)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_a_main_page_runs_the_same_statements_however_many_rows_it_shows(
    app: Flask, budget_world: World, page: Page
) -> None:
    world = budget_world
    client = _client(app, getattr(world, page.who))
    path = page.path(world)
    _grow(world, 1)
    small, small_own = _count(app, client, path)
    _grow(world, 6)
    large, large_own = _count(app, client, path)
    assert small == large, (page.name, small, large, large_own)
    assert len(large_own) <= PAGE_STATEMENTS, (page.name, len(large_own), [s[:120] for s in large_own])


def test_the_overhead_is_recognised_by_its_sql(app: Flask, budget_world: World) -> None:
    # The classifier must find the request's fixed statements, or the budget would count nothing
    # out (or everything): on an audited read, four per request plus three for the audit append.
    client = _client(app, budget_world.samordnare)
    path = f"/analyser/{budget_world.analysis_id}"
    for _ in range(2):
        client.get(path)
    with count_statements(app) as statements:
        assert client.get(path).status_code == 200
    counted = [s for s in statements if not s.lstrip().upper().startswith("BEGIN")]
    fixed = request_overhead(counted)
    assert len(fixed) == 7, "\n".join(s[:150] for s in fixed)
    assert sum("audit" in s for s in fixed) == 3


def test_each_database_connection_has_the_applications_settings(app: Flask) -> None:
    engine = app.extensions["sakskydd.db"].engine
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            # No JIT compilation of the picture's aggregates (docs/benchmarks.md section 4).
            assert connection.execute(text("SHOW jit")).scalar() == "off"
        else:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        connection.rollback()


def test_jit_is_turned_off_on_top_of_the_urls_own_options() -> None:
    # The URL's options (a search_path: the unit tests' schemas, a deployment's) are kept; setting
    # connect_args instead replaced them, and the PostgreSQL unit tests then shared one schema.
    from sakskydd.extensions import make_engine

    engine = make_engine("postgresql+psycopg://sakskydd@db.example/sakskydd?options=-csearch_path%3Dunit_x")
    assert engine.url.query["options"] == "-csearch_path=unit_x -c jit=off"
    engine = make_engine("postgresql+psycopg://sakskydd@db.example/sakskydd")
    assert engine.url.query["options"] == "-c jit=off"


def test_the_chefs_picture_compiled_is_within_the_budget_too(app: Flask, budget_world: World) -> None:
    """The page above reads the stored picture (oversight/stored.py); compiled, after a change,
    it runs the same number of statements at any size, within the budget."""
    world = budget_world
    client = _client(app, world.chef)
    path = f"/oversikt/{world.city.id}"
    sizes = []
    for rounds in (1, 6):
        _grow(world, rounds)
        db.execute(delete(StoredPicture))  # the factories' rows are not audited: compile
        db.commit()
        db.close()
        with count_statements(app) as statements:
            assert client.get(path).status_code == 200
        own = page_statements(statements)
        assert any("FROM org_unit" in s for s in own)  # compiled
        sizes.append((len([s for s in statements if not s.lstrip().upper().startswith("BEGIN")]), own))
    (small, _), (large, large_own) = sizes
    assert small == large, (small, large)
    assert len(large_own) <= PAGE_STATEMENTS, [s[:120] for s in large_own]
