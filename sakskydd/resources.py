"""Where the non-Python parts live: templates, static files, policies and migrations.

In a checkout they are top-level folders of the repository; in an installed wheel they are
shipped inside the package (setup.py maps them to sakskydd/<name>/), so an installation
needs no source tree.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
NAMES = ("templates", "static", "policies", "migrations")


def resource_dir(name: str) -> Path:
    if name not in NAMES:
        raise ValueError(f"unknown resource folder {name!r}")
    packaged = PACKAGE / name
    return packaged if packaged.is_dir() else PACKAGE.parent / name
