"""Micro figures: audit append, audit verify, field encryption, the chef's picture in process.

Each function takes a folder with a generated data set (instance/ + database) and returns a dict
of figures; `python -m bench.micro <figure> --folder DIR` runs one in its own process and prints
the dict as JSON (run.py does so, so that forking verifiers and app state stay apart).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event

from bench.common import instance_env, settings_from


def _quantiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "median": statistics.median(ordered),
        "p95": at(0.95),
        "p99": at(0.99),
        "mean": statistics.fmean(ordered),
    }


def _app(folder: Path, database_url: str | None) -> Any:
    from sakskydd import create_app

    return create_app(settings_from(instance_env(folder, database_url)))


def audit_append(folder: Path, database_url: str | None, count: int) -> dict[str, Any]:
    """`audit.record` as a request calls it: one event, then the request's commit.

    Measured: record() alone (head lock, payload, hashes, MAC, insert, flush) and record() plus
    the commit, per event in its own transaction; and per event when 100 go in one transaction.
    """
    from sakskydd import audit
    from sakskydd.audit.tags import Event
    from sakskydd.extensions import db

    app = _app(folder, database_url)
    record_times: list[float] = []
    total_times: list[float] = []
    unit = uuid.uuid4()
    with app.app_context():
        for index in range(count):
            started = time.perf_counter()
            audit.record(
                Event.ASSET_READ,
                target_type="protected_asset",
                target_id=str(uuid.uuid4()),
                unit_id=unit,
                detail={"view": "bench", "n": index},
            )
            recorded = time.perf_counter()
            db.commit()
            done = time.perf_counter()
            record_times.append((recorded - started) * 1000)
            total_times.append((done - started) * 1000)
        batches = max(1, count // 100)
        started = time.perf_counter()
        for batch in range(batches):
            for index in range(100):
                audit.record(
                    Event.ASSET_READ,
                    target_type="protected_asset",
                    target_id=str(uuid.uuid4()),
                    unit_id=unit,
                    detail={"view": "bench", "n": batch * 100 + index},
                )
            db.commit()
        batched_ms = (time.perf_counter() - started) * 1000 / (batches * 100)
    app.extensions["sakskydd.db"].dispose()
    return {
        "events": count,
        "record_ms": _quantiles(record_times),
        "record_and_commit_ms": _quantiles(total_times),
        "in_batches_of_100_ms": batched_ms,
    }


def audit_verify(folder: Path, database_url: str | None, jobs: int | None) -> dict[str, Any]:
    """verify_database over the whole chain, with the verification pool `audit verify` uses."""
    from sakskydd.audit.checkpoints import load_signing_key
    from sakskydd.audit.verify import verification_pool, verify_database
    from sakskydd.crypto.keyring import KeyRing
    from sakskydd.crypto.providers import provider_from_settings
    from sakskydd.extensions import db, get_database

    app = _app(folder, database_url)
    settings = app.config["SAKSKYDD_SETTINGS"]
    with app.app_context():
        keyring = KeyRing.load(db, provider_from_settings(settings))
        public_key = load_signing_key(settings.signing_key_file).public_key()
        db.rollback()
        get_database().dispose()
        with verification_pool(jobs) as pool:
            started = time.perf_counter()
            result = verify_database(db, mac_key=keyring.audit_mac_key, public_key=public_key, pool=pool)
            seconds = time.perf_counter() - started
        db.rollback()
    app.extensions["sakskydd.db"].dispose()
    return {
        "ok": result.ok,
        "events": result.count,
        "checkpoints": result.checkpoints,
        "seconds": seconds,
        "events_per_second": result.count / seconds if seconds else 0.0,
        "jobs": jobs or os.cpu_count(),
    }


def field_crypto(folder: Path, database_url: str | None, count: int) -> dict[str, Any]:
    """seal/open_sealed of a typical field (a 60-character note) with the real key ring; and the
    same through a model's encrypted attribute (descriptor, key-ring lookup included)."""
    from sakskydd.assets.models import ProtectedAsset
    from sakskydd.crypto.fields import current_keyring, open_sealed, seal

    app = _app(folder, database_url)
    text = "Beskrivning finns i förvaltningens registratur; se referensen."
    data = text.encode("utf-8")
    with app.app_context():
        keyring = current_keyring()
        rows = [(uuid.uuid4(), uuid.uuid4()) for _ in range(count)]
        context = {"table": "protected_asset", "column": "note", "keyring": keyring}

        def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
            started = time.perf_counter()
            value = fn()
            return (time.perf_counter() - started) * 1e6 / count, value

        seal_us, sealed = timed(lambda: [seal(data, row_id=r, unit_id=u, **context) for r, u in rows])
        open_us, opened = timed(
            lambda: [
                open_sealed(s, row_id=r, unit_id=u, **context) for s, (r, u) in zip(sealed, rows, strict=True)
            ]
        )
        assert opened[0] == data
        assets = [ProtectedAsset(id=r, unit_id=u) for r, u in rows]

        def assign() -> None:
            for asset in assets:
                asset.note = text

        set_us, _ = timed(assign)
        get_us, values = timed(lambda: [asset.note for asset in assets])
        assert values[-1] == text
    app.extensions["sakskydd.db"].dispose()
    return {
        "fields": count,
        "plaintext_bytes": len(data),
        "seal_us": seal_us,
        "open_us": open_us,
        "descriptor_set_us": set_us,
        "descriptor_get_us": get_us,
    }


def chef_picture(folder: Path, database_url: str | None, repeats: int) -> dict[str, Any]:
    """operator_figures (the five statements of the picture) and yearly_series, in process; then
    as a view does it: compiled and stored, and read from the store (oversight/stored.py)."""
    from bench.common import read_manifest
    from sakskydd.deadlines import local_today
    from sakskydd.extensions import db
    from sakskydd.oversight import stored
    from sakskydd.oversight.figures import operator_figures, yearly_series

    manifest = read_manifest(folder)
    operator = uuid.UUID(manifest["operator_id"])
    app = _app(folder, database_url)
    settings = app.config["SAKSKYDD_SETTINGS"]
    samples: list[float] = []
    series: list[float] = []
    units = 0
    # Where the time goes, from the last repeat: each statement's time, and the yearly series'.
    statements: list[tuple[str, float]] = []
    engine = app.extensions["sakskydd.db"].engine

    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        took = time.perf_counter() - conn.info.pop("bench_started", time.perf_counter())
        statements.append((" ".join(statement.split())[:90], round(took * 1000, 1)))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    with app.app_context():
        for _ in range(repeats):
            statements.clear()
            started = time.perf_counter()
            figures = operator_figures(db, [operator], local_today(), settings)
            middle = time.perf_counter()
            yearly_series(db, figures, settings)
            samples.append(time.perf_counter() - started)
            series.append(time.perf_counter() - middle)
            units = len(figures.units)
            db.rollback()
        # What a view does (oversight/stored.py): compile and store, then read the stored picture
        # while nothing has changed.
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
        compiled: list[float] = []
        read: list[float] = []
        for _ in range(repeats):
            started = time.perf_counter()
            stored.picture_of(db, operator, settings, recompile=True)
            db.commit()
            compiled.append(time.perf_counter() - started)
            started = time.perf_counter()
            picture = stored.picture_of(db, operator, settings)
            db.commit()
            read.append(time.perf_counter() - started)
            assert not picture.changed_since and len(picture.figures.units) == units
    app.extensions["sakskydd.db"].dispose()
    return {
        "units": units,
        "repeats": repeats,
        "seconds": _quantiles(samples),
        "yearly_series_seconds": _quantiles(series),
        "statements_ms": statements,
        "compile_and_store_seconds": _quantiles(compiled),
        "stored_read_seconds": _quantiles(read),
    }


FIGURES = {
    "audit-append": lambda a: audit_append(a.folder, a.database_url, a.count or 2000),
    "audit-verify": lambda a: audit_verify(a.folder, a.database_url, a.jobs),
    "field-crypto": lambda a: field_crypto(a.folder, a.database_url, a.count or 100_000),
    "chef-picture": lambda a: chef_picture(a.folder, a.database_url, a.count or 5),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("figure", choices=sorted(FIGURES))
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args(argv)
    result = FIGURES[args.figure](args)
    print("MICROJSON " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
