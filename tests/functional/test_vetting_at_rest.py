"""The embedded SQLite database file itself (not marked `db`: it runs on SQLite, where the
database is one file to read). On PostgreSQL test_vetting_services.py checks the stored columns."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from test_vetting_services import NAME, PNR, World, _open, _position

from sakskydd.extensions import db


@pytest.fixture
def world(app: Flask) -> World:
    return World(app)


def test_the_raw_sqlite_file_holds_no_personnummer_or_name(app: Flask, world: World) -> None:
    url = app.config["SAKSKYDD_SETTINGS"].database_url
    assert url.startswith("sqlite:///"), "this file runs on the embedded SQLite database only"
    _open(world, _position(world))
    db.commit()
    db.close()
    raw = Path(url.removeprefix("sqlite:///")).read_bytes()
    wal = Path(url.removeprefix("sqlite:///") + "-wal")
    if wal.exists():
        raw += wal.read_bytes()
    assert b"Drifttekniker" in raw  # the control: this is the file the app wrote (titles are plain)
    for secret in (PNR, "199001010017", NAME, "Testsson"):
        assert secret.encode() not in raw and secret.encode("utf-16-le") not in raw, secret
