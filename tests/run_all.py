"""`make test`: the whole suite on SQLite (with the browser tests), then the database tests on a
real PostgreSQL cluster started here. Under CI=true a missing component fails the run.

`make soak` (`--soak`): only the reliability tests — crash, concurrency, fuzz — in their full form
(SAKSKYDD_SOAK=1: many rounds, freshly random fuzzing), on both databases; PostgreSQL is required."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pgcluster import find_bindir, temporary_cluster  # noqa: E402

PYTEST = [
    sys.executable,
    "-m",
    "pytest",
    "-p",
    "no:cacheprovider",
    "-n",
    os.environ.get("SAKSKYDD_TEST_WORKERS", "2"),
]


def run(label: str, args: list[str], env: dict[str, str]) -> int:
    started = time.monotonic()
    print(f"== {label}", flush=True)
    code = subprocess.call([*PYTEST, *args], env=env)
    print(f"== {label}: exit {code} in {time.monotonic() - started:.0f} s", flush=True)
    return code


SOAK_TESTS = [
    "tests/functional/test_crash.py",
    "tests/functional/test_concurrency.py",
    "tests/security/test_fuzz_forms.py",
]


def main() -> int:
    soak = "--soak" in sys.argv[1:]
    ci = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
    env = dict(os.environ, SAKSKYDD_TEST_DB="sqlite")
    if ci or soak:
        env["SAKSKYDD_REQUIRE_ALL"] = "1"
    selection = SOAK_TESTS if soak else []
    if soak:
        env["SAKSKYDD_SOAK"] = "1"
    code = run("SQLite (soak)" if soak else "SQLite (all tests)", selection, env)
    if code != 0:
        return code
    if find_bindir() is None:
        print("PostgreSQL binaries are missing", file=sys.stderr)
        return 1 if ci or soak else 0
    with temporary_cluster() as url:
        env = dict(env, SAKSKYDD_TEST_DB="postgresql", SAKSKYDD_TEST_POSTGRES_URL=url)
        label = "PostgreSQL (soak)" if soak else "PostgreSQL (database tests)"
        code = run(label, ["-m", "db", *selection], env)
    return code


if __name__ == "__main__":
    sys.exit(main())
