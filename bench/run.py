# ruff: noqa: S603, S607 - the bench runs its own fixed commands (wrk, sakskydd, pg_ctl)
"""`make bench` / `make bench-quick`: generate (or reuse) the data, load the pages, take the micro
figures, write bench/RESULTS.md and print the summary.

    python -m bench.run [--quick] [--no-national] [--results PATH]
    python -m bench.run --national-only | --backup-only [--quick]   (one figure, added to the last run)

Environment: BENCH_WORKDIR (default bench/.work), BENCH_FACTOR, BENCH_SECONDS, BENCH_WORKERS,
BENCH_CONNECTIONS, BENCH_NATIONAL_FACTOR, BENCH_NATIONAL=0 to leave the PostgreSQL figure out.
Nothing here asserts a time: figures are measured and compared with DESIGN.md's budget in the report.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    BENCH,
    REPO,
    VENV_BIN,
    WORKDIR,
    Browser,
    Server,
    WrkResult,
    copy_dataset,
    free_port,
    instance_env,
    log,
    log_in,
    read_manifest,
    run_wrk,
    servers,
    settings_from,
    start_app_server,
    start_baseline_server,
)
from bench.scenarios import BASELINE, Scenario, count_statements, scenarios

# DESIGN.md, "Performance budget".
BUDGET = {
    "p95_ratio": 2.0,
    "statements": 10,
    "chef_picture_s": 1.0,
    "audit_append_ms": 1.0,
    "verify_eps": 400_000,
    "encrypt_us": 10.0,
    "reencrypt_1m_s": 120.0,
}


@dataclass
class Mode:
    name: str
    factor: float
    encrypted_fields: int
    warmup: float
    seconds: float
    connections: int
    workers: int
    append_count: int
    crypto_count: int
    national: bool
    national_factor: float
    picture_repeats: int = 5
    results: dict[str, Any] = field(default_factory=dict)


def mode_from(quick: bool, national: bool) -> Mode:
    env = os.environ
    if quick:
        mode = Mode("quick", 0.02, 15_000, 1, 3, 1, 1, 500, 50_000, False, 0.0, 3)
    else:
        mode = Mode("full", 1.0, 1_000_000, 3, 15, 1, 1, 5_000, 200_000, national, 1.0)
    mode.factor = float(env.get("BENCH_FACTOR", mode.factor))
    mode.seconds = float(env.get("BENCH_SECONDS", mode.seconds))
    mode.workers = int(env.get("BENCH_WORKERS", mode.workers))
    mode.connections = int(env.get("BENCH_CONNECTIONS", mode.connections))
    mode.national_factor = float(env.get("BENCH_NATIONAL_FACTOR", mode.national_factor))
    if env.get("BENCH_NATIONAL", "") in ("0", "no", "false"):
        mode.national = False
    if env.get("BENCH_ENCRYPTED_FIELDS"):
        mode.encrypted_fields = int(env["BENCH_ENCRYPTED_FIELDS"])
    return mode


# --- data sets ----------------------------------------------------------------------------------


def fingerprint(*parts: object) -> str:
    """Changes with generate.DATA_VERSION and the sizes (then the data is made again). Not with
    the migrations: a reused data set is migrated to the current schema, as an upgrade would
    (ensure_dataset); making it again takes minutes at city scale and hours at national."""
    from bench.generate import DATA_VERSION

    digest = hashlib.sha256()
    digest.update(f"data-version {DATA_VERSION}".encode())
    digest.update(json.dumps(parts, default=str).encode())
    return digest.hexdigest()[:12]


def ensure_dataset(folder: Path, args: list[str], database_url: str | None = None) -> dict[str, Any]:
    """Generate into `folder` unless a complete data set is there already."""
    if (folder / "manifest.json").exists():
        manifest = read_manifest(folder)
        log(f"reusing the data in {folder} (made in {manifest['seconds']} s), migrated to the schema")
        seconds, done = cli(instance_env(folder, database_url), "migrate")
        if done.returncode != 0:
            raise SystemExit(f"migrating {folder} failed: {done.stderr.strip()[-500:]}")
        return manifest
    if folder.exists():
        shutil.rmtree(folder)
    kind = folder.name.rpartition("-")[0]
    for stale in folder.parent.glob(kind + "-*"):
        if stale != folder and stale.name.rpartition("-")[0] == kind:
            shutil.rmtree(stale, ignore_errors=True)  # an older data set of the same kind and size
    log(f"generating {' '.join(args)} into {folder}")
    command = [sys.executable, "-m", "bench.generate", "--out", str(folder), *args]
    if database_url:
        command += ["--database-url", database_url]
    done = subprocess.run(command, cwd=str(REPO), env=dict(os.environ, PYTHONPATH=str(REPO)), check=False)
    if done.returncode != 0 or not (folder / "manifest.json").exists():
        shutil.rmtree(folder, ignore_errors=True)
        raise SystemExit(f"generation failed ({done.returncode})")
    return read_manifest(folder)


# --- load --------------------------------------------------------------------------------------


def sign_in(port: int, manifest: dict[str, Any]) -> dict[str, Browser]:
    return {
        key: log_in(port, login["username"], login["password"], login["totp_secret"])
        for key, login in manifest["logins"].items()
    }


def check_pages(
    app: Server, baseline: Server, pages: list[Scenario], people: dict[str, Browser]
) -> dict[str, int]:
    """Every page answers 200 with its session before it is loaded (a redirect would be cheap)."""
    sizes = {}
    for scenario in pages:
        response = people[scenario.login].get(scenario.path)
        if response.status != 200:
            raise SystemExit(f"{scenario.key}: {scenario.path} answered {response.status}, not 200")
        sizes[scenario.key] = len(response.body.encode())
    reference = Browser(baseline.port)
    reference.cookie = people[BASELINE.login].cookie
    response = reference.get("/")
    if response.status != 200:
        raise SystemExit(f"the baseline page answered {response.status}")
    sizes["baseline"] = len(response.body.encode())
    return sizes


def load(server: Server, scenario: Scenario, cookie: str | None, mode: Mode) -> WrkResult:
    target = [(scenario.path, cookie)]
    if mode.warmup:
        run_wrk(server.base, target, seconds=mode.warmup, connections=mode.connections, scriptdir=WORKDIR)
    return run_wrk(server.base, target, seconds=mode.seconds, connections=mode.connections, scriptdir=WORKDIR)


def statements_per_page(
    env: dict[str, str], pages: list[Scenario], people: dict[str, Browser]
) -> dict[str, Any]:
    from sakskydd import create_app

    app = create_app(settings_from(env))
    counts = {}
    for scenario in pages:
        counts[scenario.key] = count_statements(app, scenario.path, people[scenario.login].cookie or "")
    app.extensions["sakskydd.db"].dispose()
    # The reference page, counted the same way in its own bare app.
    saved = {k: os.environ.get(k) for k in env if k.startswith("SAKSKYDD_")}
    os.environ.update({k: v for k, v in env.items() if k.startswith("SAKSKYDD_")})
    try:
        from bench.baseline.app import create_baseline

        reference = create_baseline()
        counts["baseline"] = count_statements(reference, "/", people[BASELINE.login].cookie or "")
        reference.extensions["sakskydd.db"].dispose()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return counts


def cli(
    env: dict[str, str], *args: str, timeout: float = 3600
) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run(
        [str(VENV_BIN / "sakskydd"), *args],
        env=env,
        cwd=str(REPO),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return time.perf_counter() - started, done


def micro(figure: str, folder: Path, database_url: str | None = None, count: int = 0) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.micro", figure, "--folder", str(folder)]
    if database_url:
        command += ["--database-url", database_url]
    if count:
        command += ["--count", str(count)]
    done = subprocess.run(
        command,
        cwd=str(REPO),
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        check=False,
    )
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("MICROJSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"micro {figure} failed: {done.stdout[-2000:]} {done.stderr[-3000:]}")
    result = json.loads(line.removeprefix("MICROJSON "))
    result["command"] = "python -m bench.micro " + " ".join(command[3:]).replace(str(REPO) + "/", "")
    return result


def concurrency_probe(
    env: dict[str, str],
    app: Server,
    pages: list[Scenario],
    people: dict[str, Browser],
    mode: Mode,
    logdir: Path,
) -> list[dict[str, Any]]:
    """The asset register with 1, 2 and 4 concurrent connections, on `sakskydd serve --workers N`
    (1 by default, serve's own default on SQLite) and on the other of one and two workers: on
    SQLite every request holds the database's write lock (BEGIN IMMEDIATE) from
    its first statement to the session save, so concurrent requests wait in SQLite's busy handler."""
    scenario = next(s for s in pages if s.key == "assets")
    cookie = people[scenario.login].cookie
    rows: list[dict[str, Any]] = []
    seconds = max(2.0, mode.seconds / 3)

    def measure(server: Server, workers: int, connections: int) -> None:
        target = [(scenario.path, cookie)]
        run_wrk(server.base, target, seconds=1, connections=connections, scriptdir=WORKDIR)
        result = run_wrk(server.base, target, seconds=seconds, connections=connections, scriptdir=WORKDIR)
        rows.append({"workers": workers, "connections": connections, **result.as_dict()})

    for connections in (1, 2, 4):
        measure(app, mode.workers, connections)
    other = 2 if mode.workers == 1 else 1
    second = start_app_server(env, free_port(), other, logdir, name=f"app-{other}-workers")
    with servers(second):
        for connections in (1, 2, 4):
            measure(second, other, connections)
    return rows


def _values_under(env: dict[str, str], key_id: str) -> tuple[int, int]:
    """From `sakskydd keys status`: (values sealed under `key_id`, values under any data key)."""
    _, status = cli(env, "keys", "status")
    under = total = 0
    for line in status.stdout.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 4 and parts[1] == "data" and parts[3].isdigit():
            total += int(parts[3])
            if parts[0] == key_id:
                under = int(parts[3])
    return under, total


def _mixed_load(
    app: Server, targets: list[tuple[str, str | None]], connections: int
) -> subprocess.Popen[str]:
    """wrk over every page in turn, until stopped with SIGINT (then it reports)."""
    from bench.common import wrk_script

    args: list[str] = []
    for path, cookie in targets:
        args += [path, cookie or "-"]
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        "-d3600s",
        "--timeout",
        "60s",
        "-s",
        str(wrk_script(WORKDIR)),
    ]
    return subprocess.Popen(
        [*command, app.base + targets[0][0], "--", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _stop_load(wrk: subprocess.Popen[str]) -> dict[str, Any]:
    wrk.send_signal(signal.SIGINT)
    output, _ = wrk.communicate(timeout=120)
    line = next((ln for ln in output.splitlines() if ln.startswith("BENCHJSON ")), None)
    if line is None:
        return {}
    data = json.loads(line.removeprefix("BENCHJSON "))
    run_s = data["duration_us"] / 1e6
    return {
        "requests": data["requests"],
        "seconds": round(run_s, 1),
        "rps": round(data["requests"] / run_s, 1) if run_s else 0,
        "p50_ms": data["p50_us"] / 1000,
        "p95_ms": data["p95_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "max_ms": data["max_us"] / 1000,
        "errors": sum(int(data[k]) for k in ("connect", "read", "write", "status", "timeout")),
    }


def online_reencryption(
    env: dict[str, str],
    holder: dict[str, Server],
    pages: list[Scenario],
    people: dict[str, Browser],
    mode: Mode,
    logdir: Path,
) -> dict[str, Any]:
    """Rotate the data key as docs/key-management.md says, and re-encrypt while the pages are loaded.

    keys add → restart → keys promote → restart → (mixed load of every page) keys reencrypt. The
    online part is time-boxed (BENCH_REENCRYPT_LIMIT, default 1.5× the budget's two minutes):
    if the command has not finished by then it is interrupted (it commits per batch and resumes),
    the rate so far gives the projection, and the rest is re-encrypted without load (measured too).
    `holder["app"]` is the running server (restarted here), for the caller to stop.
    """
    result: dict[str, Any] = {}
    _, added = cli(env, "keys", "add")
    match = re.search(r"datanyckel (\d+)", added.stdout)
    if added.returncode != 0 or match is None:
        raise RuntimeError(f"keys add failed: {added.stdout} {added.stderr}")
    key_id = match.group(1)
    port = holder["app"].port
    holder["app"].stop()
    holder["app"] = start_app_server(env, port, mode.workers, logdir)
    _, promoted = cli(env, "keys", "promote", key_id)
    if promoted.returncode != 0:
        raise RuntimeError(f"keys promote failed: {promoted.stdout} {promoted.stderr}")
    holder["app"].stop()
    holder["app"] = start_app_server(env, port, mode.workers, logdir)
    app = holder["app"]
    _, total = _values_under(env, key_id)
    targets = [(s.path, people[s.login].cookie) for s in pages]
    before = run_wrk(app.base, targets, seconds=mode.seconds, connections=mode.connections, scriptdir=WORKDIR)
    result["load_before"] = before.as_dict()
    batch = os.environ.get("BENCH_REENCRYPT_BATCH", "500")  # the command's default
    limit = float(os.environ.get("BENCH_REENCRYPT_LIMIT", 180 if mode.name == "full" else 60))
    wrk = _mixed_load(app, targets, mode.connections)
    time.sleep(1)
    started = time.perf_counter()
    command = [str(VENV_BIN / "sakskydd"), "keys", "reencrypt", "--batch-size", batch]
    process = subprocess.Popen(
        command, env=env, cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        process.wait(timeout=limit)
        finished = True
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)  # the batch in flight rolls back; the committed ones stay
        process.wait(timeout=120)
        finished = False
    online_s = time.perf_counter() - started
    result["load_during"] = _stop_load(wrk)
    online, _ = _values_under(env, key_id)
    result.update(
        key_id=key_id,
        total=total,
        batch=batch,
        limit_s=limit,
        finished_online=finished,
        online_fields=online,
        online_seconds=online_s,
        online_rate=online / online_s if online_s else 0.0,
        command=f"`sakskydd keys reencrypt --batch-size {batch}` while `wrk -t1 -c{mode.connections} "
        "-s report.lua` loads every page in turn",
    )
    if not finished:
        seconds, done = cli(env, "keys", "reencrypt", "--batch-size", batch)
        if done.returncode != 0:
            raise RuntimeError(f"keys reencrypt failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")
        match = re.search(r"(\d+) värden omkrypterade", done.stdout)
        rows = int(match.group(1)) if match else 0
        result.update(
            offline_fields=rows, offline_seconds=seconds, offline_rate=rows / seconds if seconds else 0
        )
    rate = result["online_rate"]
    result["projected_1m_s"] = 1_000_000 / rate if rate else None
    _, status = cli(env, "keys", "status")
    result["status_after"] = status.stdout
    for scenario in pages:  # still readable by the server after the rotation
        response = people[scenario.login].get(scenario.path)
        if response.status != 200:
            raise RuntimeError(f"after re-encryption {scenario.path} answered {response.status}")
    return result


def backup_under_load(
    env: dict[str, str],
    app: Server,
    pages: list[Scenario],
    people: dict[str, Browser],
    mode: Mode,
    folder: Path,
) -> dict[str, Any]:
    """`sakskydd backup` of the running instance while wrk loads every page in turn, then
    `sakskydd restore` into a fresh instance, `sakskydd audit verify` there, and the data compared:
    per table, the row count and a digest of the rows as the model types read them, between the
    source at the backup's audit head and the restored copy (bench/backup_load.py). `folder`
    holds the backup file and the restored instance; it is emptied first and removed after."""
    from bench.backup_load import compare, fresh_instance, head_at, table_digests
    from sakskydd.backup import read_header

    source_url = env["SAKSKYDD_DATABASE_URL"]
    source_instance = Path(env["SAKSKYDD_INSTANCE_PATH"])
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    try:
        path = folder / "sakskydd.backup"
        targets = [(s.path, people[s.login].cookie) for s in pages]
        before = run_wrk(
            app.base, targets, seconds=mode.seconds, connections=mode.connections, scriptdir=WORKDIR
        )
        result: dict[str, Any] = {"load_before": before.as_dict()}
        log("backup: the source read table by table, then the backup while the pages are loaded")
        source_before = table_digests(source_url, None)
        wrk = _mixed_load(app, targets, mode.connections)
        time.sleep(1)
        seconds, done = cli(env, "backup", "-o", str(path))
        result["load_during"] = _stop_load(wrk)
        if done.returncode != 0:
            raise RuntimeError(f"sakskydd backup failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")
        header = read_header(path)
        rows = sum(header.tables.values())
        result.update(
            backup_seconds=seconds,
            bytes=path.stat().st_size,
            rows=rows,
            tables=len(header.tables),
            rows_per_second=rows / seconds if seconds else 0.0,
            audit_seq=header.audit_head["seq"],
            backup_output=done.stdout.strip()[:400],
            command=f"`sakskydd backup -o FILE` while `wrk -t1 -c{mode.connections} -s report.lua` loads "
            "every page in turn; then `sakskydd restore FILE --public-key KEY` into a fresh instance and "
            "`sakskydd audit verify` there",
        )
        # "Another machine": a new instance folder with the key file and the signing key only.
        restored = folder / "restored"
        fresh_instance(source_instance, restored)
        restored_env = instance_env(restored)
        public_key = source_instance / "audit-signing.key.pub"
        seconds, done = cli(restored_env, "restore", str(path), "--public-key", str(public_key))
        if done.returncode != 0:
            raise RuntimeError(f"sakskydd restore failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")
        result["restore"] = {"seconds": seconds, "output": done.stdout.strip()[:400]}
        seconds, done = cli(restored_env, "audit", "verify")
        verified = {"seconds": seconds, "ok": done.returncode == 0, "output": done.stdout.strip()[:300]}
        result["verify"] = verified
        log("backup: the source at the backup's head and the restored copy compared table by table")
        seq = header.audit_head["seq"]
        source = table_digests(source_url, seq)
        copy = table_digests(restored_env["SAKSKYDD_DATABASE_URL"], seq)
        result["compare"] = compare(header.tables, source_before, source, copy)
        result["compare"]["head_matches"] = head_at(source_url, seq) == header.audit_head["hash"]
        result["compare"]["digest_seconds"] = [source_before["seconds"], source["seconds"], copy["seconds"]]
        result["compare"]["identical"] = result["compare"]["identical"] and result["compare"]["head_matches"]
        result["restored_bytes"] = (
            Path(restored_env["SAKSKYDD_DATABASE_URL"].removeprefix("sqlite:///")).stat().st_size
        )
        result["source_bytes"] = Path(source_url.removeprefix("sqlite:///")).stat().st_size
        for scenario in pages:  # the source still serves its pages after the backup
            response = people[scenario.login].get(scenario.path)
            if response.status != 200:
                raise RuntimeError(f"after the backup {scenario.path} answered {response.status}")
        return result
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # the file and the restored copy: as big as the data


# --- PostgreSQL at national scale ---------------------------------------------------------------


class Cluster:
    """A PostgreSQL cluster of the bench's own, kept in WORKDIR/pg between runs (its data set is
    expensive to make); started for the national figure and stopped after it."""

    def __init__(self, folder: Path) -> None:
        sys.path.insert(0, str(REPO / "tests"))
        from pgcluster import find_bindir

        self.bindir = find_bindir()
        self.folder = folder
        self.data = folder / "data"
        self.port = 0
        self.prefix: list[str] = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def available(self) -> bool:
        return self.bindir is not None

    def version(self) -> str:
        assert self.bindir is not None
        return subprocess.run(
            [str(self.bindir / "postgres"), "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()

    def settings(self) -> str:
        return (
            "shared_buffers=2GB effective_cache_size=8GB work_mem=64MB maintenance_work_mem=1GB "
            "max_wal_size=8GB max_connections=100 (fsync and synchronous_commit on: production-like)"
        )

    def start(self) -> str:
        assert self.bindir is not None
        if not (self.data / "PG_VERSION").exists():
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder.mkdir(parents=True)
            if self.prefix:
                shutil.chown(self.folder, "postgres", "postgres")
            subprocess.run(
                [
                    *self.prefix,
                    str(self.bindir / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        if (self.data / "postmaster.pid").exists():
            self.stop()  # left running by an interrupted run
        (self.folder / "sockets").mkdir(exist_ok=True)
        if self.prefix:
            shutil.chown(self.folder / "sockets", "postgres", "postgres")
        self.port = free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder / 'sockets'} "
            "-c shared_buffers=2GB -c effective_cache_size=8GB -c work_mem=64MB "
            "-c maintenance_work_mem=1GB -c max_wal_size=8GB -c max_connections=100"
        )
        subprocess.run(
            [
                *self.prefix,
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.data),
                "-o",
                options,
                "-l",
                str(self.folder / "log"),
                "-w",
                "start",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"

    def stop(self) -> None:
        assert self.bindir is not None
        subprocess.run(
            [*self.prefix, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop"],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def has_database(self, base: str, name: str) -> bool:
        from sqlalchemy import create_engine, text

        engine = create_engine(f"{base}/postgres")
        with engine.connect() as connection:
            found = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).first()
        engine.dispose()
        return found is not None

    def drop_other_data_sets(self, base: str, keep: str) -> None:
        """Older national data sets (another DATA_VERSION or size) take disk space: drop them."""
        from sqlalchemy import create_engine, text

        engine = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            names = connection.execute(
                text("SELECT datname FROM pg_database WHERE datname LIKE 'national_%'")
            )
            for (name,) in list(names):
                if name != keep:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()

    def create_database(self, base: str, name: str) -> None:
        from sqlalchemy import create_engine, text

        engine = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()


def register_size(url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM protected_asset")).scalar_one())
    finally:
        engine.dispose()


def pad_assets(url: str, target: int) -> dict[str, Any]:
    """Copies of the generated assets (new ids, no note) until the register holds `target`, in
    batches; the triggers keep asset_count through the copies, checked against the register at
    the end. For the picture's figure at the full national register when the generator made a
    fraction of it (BENCH_NATIONAL_PAD_ASSETS): the copies have no history or audit events."""
    from sqlalchemy import create_engine, func, select, text
    from sqlalchemy.orm import Session

    import sakskydd.models  # noqa: F401 - every model, so that the mappers configure
    from sakskydd.assets.counts import mismatches
    from sakskydd.assets.models import ProtectedAsset

    table = ProtectedAsset.__table__
    replaced = {"id": "gen_random_uuid()", "note": "NULL", "attested": "false", "version": "1"}
    columns = [c.name for c in table.columns]
    chosen = ", ".join(replaced.get(name, name) for name in columns)
    copy = f"INSERT INTO protected_asset ({', '.join(columns)}) SELECT {chosen} FROM protected_asset LIMIT "  # noqa: S608
    engine = create_engine(url)
    started = time.perf_counter()
    try:
        with Session(engine) as session:
            before = now = session.scalar(select(func.count()).select_from(table)) or 0
            while now < target:
                batch = min(now, target - now, 500_000)
                session.execute(text(copy + str(batch)))
                session.commit()
                now += batch
            drift = mismatches(session)
    finally:
        engine.dispose()
    if drift:
        raise RuntimeError(f"asset_count differs from the padded register: {list(drift.items())[:5]}")
    return {"assets_before": before, "assets_after": now, "seconds": round(time.perf_counter() - started)}


def national(mode: Mode, logdir: Path) -> dict[str, Any]:
    cluster = Cluster(WORKDIR / "pg")
    if not cluster.available:
        return {"skipped": "no PostgreSQL binaries (apt-get install postgresql)"}
    result: dict[str, Any] = {"postgresql": cluster.version(), "settings": cluster.settings()}
    base = cluster.start()
    try:
        tag = fingerprint("national", mode.national_factor, mode.encrypted_fields)
        name = f"national_{tag}"
        folder = WORKDIR / "data" / f"national-f{mode.national_factor:g}-{tag}"
        url = f"{base}/{name}"
        cluster.drop_other_data_sets(base, name)
        if not ((folder / "manifest.json").exists() and cluster.has_database(base, name)):
            shutil.rmtree(folder, ignore_errors=True)
            cluster.create_database(base, name)
        manifest = ensure_dataset(
            folder,
            [
                "--scale",
                "national",
                "--factor",
                str(mode.national_factor),
                # As many values as the city's, for the re-encryption figure on PostgreSQL.
                "--encrypted-fields",
                str(mode.encrypted_fields),
            ],
            url,
        )
        result["data"] = {k: manifest[k] for k in ("counts", "seconds", "generated_at")}
        # What the register holds now (an earlier run may have padded it, see pad_assets).
        result["assets_now"] = register_size(url)
        log("national: the chef's picture in process")
        result["picture"] = micro("chef-picture", folder, url, mode.picture_repeats)
        pad_to = int(os.environ.get("BENCH_NATIONAL_PAD_ASSETS", "0"))
        if pad_to > result["assets_now"]:
            log(f"national: the register padded to {pad_to:,} assets, then the picture again")
            result["padded"] = pad_assets(url, pad_to)
            result["picture_padded"] = micro("chef-picture", folder, url, mode.picture_repeats)
        env = instance_env(folder, url)
        port = free_port()
        app = start_app_server(env, port, mode.workers, logdir, name="app-national")
        holder = {"app": app}
        try:
            chef = manifest["logins"]["chef"]
            browser = log_in(port, chef["username"], chef["password"], chef["totp_secret"])
            path = f"/oversikt/{manifest['operator_id']}"
            first = time.perf_counter()
            response = browser.get(path)
            result["page_first_s"] = time.perf_counter() - first
            if response.status != 200:
                raise RuntimeError(f"national picture answered {response.status}")
            run_wrk(app.base, [(path, browser.cookie)], seconds=mode.warmup, connections=1, scriptdir=WORKDIR)
            page = run_wrk(
                app.base,
                [(path, browser.cookie)],
                seconds=max(mode.seconds, 20),
                connections=1,
                scriptdir=WORKDIR,
            )
            result["page"] = page.as_dict()
            if os.environ.get("BENCH_NATIONAL_REENCRYPT", "1") not in ("0", "no", "false"):
                log("national: online key re-encryption on PostgreSQL while the picture is loaded")
                picture = Scenario("national_picture", "Sammanställningen, nationell", "chef", path)
                result["reencrypt"] = online_reencryption(
                    env, holder, [picture], {"chef": browser}, mode, logdir
                )
        finally:
            holder["app"].stop()
        log("national: audit verify")
        seconds, done = cli(env, "audit", "verify")
        result["verify_cli"] = {
            "seconds": seconds,
            "ok": done.returncode == 0,
            "output": done.stdout.strip()[:300],
            "command": "sakskydd audit verify (PostgreSQL, national data)",
        }
        result["verify"] = micro("audit-verify", folder, url)
    finally:
        cluster.stop()
    return result


# --- the report ---------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = next(
        (
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(mem / 1024 / 1024, 1),
        "kernel": platform.release(),
        "load_at_start": os.getloadavg(),
    }


def versions() -> dict[str, str]:
    from importlib import metadata

    result = {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version}
    for name in (
        "flask",
        "werkzeug",
        "jinja2",
        "sqlalchemy",
        "gunicorn",
        "cryptography",
        "cedarpy",
        "psycopg",
        "flask-login",
        "flask-wtf",
    ):
        try:
            result[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            result[name] = "-"
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    result["wrk"] = (wrk.stdout or wrk.stderr).split("[")[0].strip()
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
    )
    result["commit"] = head.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")
    return result


def _ms(seconds: float | None) -> str:
    return "–" if seconds is None else f"{fmt(seconds * 1000, 0)} ms"


def verdict(ok: bool | None) -> str:
    if ok is None:
        return "–"
    return "ok" if ok else "**MISS**"


def fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}".replace(",", " ")


def _separately(nat: dict[str, Any]) -> str:
    """Where the national figure was measured in a run of its own (`--national-only`), say so."""
    measured = nat.get("measured")
    if not measured:
        return ""
    load = measured["load_at_start"][0]
    return (
        f"; measured on {measured['date']} by `{measured['command']}` "
        f"({measured['seconds']} s, load average {load:.2f} at its start)"
    )


def _reencryption_row(re_: dict[str, Any], label: str) -> tuple[str, str]:
    """The results table's row and the summary's line for one online re-encryption."""
    projected = re_["projected_1m_s"]
    ok = projected is not None and projected < BUDGET["reencrypt_1m_s"]
    during, before = re_.get("load_during", {}), re_.get("load_before", {})
    what = (
        f"online: {fmt(re_['online_fields'], 0)} of {fmt(re_['total'], 0)} values in "
        f"{fmt(re_['online_seconds'], 1)} s = {fmt(re_['online_rate'], 0)}/s"
        + ("" if re_["finished_online"] else f" (stopped at the {re_['limit_s']:.0f} s limit)")
        + f"; 1 million at that rate: {fmt(projected, 0)} s"
    )
    if re_.get("offline_fields"):
        what += (
            f"; the remaining {fmt(re_['offline_fields'], 0)} without load: "
            f"{fmt(re_['offline_seconds'], 1)} s"
            f" = {fmt(re_['offline_rate'], 0)}/s"
        )
    what += (
        f". Page load before: {fmt(before.get('rps'))} req/s, p95 "
        f"{fmt(before.get('p95_ms'), 1)} ms; "
        f"during: {fmt(during.get('rps'))} req/s, p95 {fmt(during.get('p95_ms'), 1)} ms, "
        f"max {fmt(during.get('max_ms'), 0)} ms, errors {during.get('errors', '–')}"
    )
    row = f"| {label} | {what} | 1 million < 2 min | {verdict(ok)} | {re_['command']} |"
    line = f"{label:<45} {re_['online_rate']:,.0f} values/s → 1 M in {projected or 0:,.0f} s  {verdict(ok)}"
    return row, line


def _backup_row(bk: dict[str, Any], label: str) -> tuple[str, str]:
    """The results table's row and the summary's line for the backup under load."""
    during, before, same = bk.get("load_during", {}), bk.get("load_before", {}), bk["compare"]
    ok = bk["verify"]["ok"] and same["identical"]
    mib = 1024 * 1024
    what = (
        f"`sakskydd backup`: {fmt(bk['rows'], 0)} rows in {bk['tables']} tables (audit head seq "
        f"{fmt(bk['audit_seq'], 0)}) in {fmt(bk['backup_seconds'], 1)} s = "
        f"{fmt(bk['rows_per_second'], 0)} rows/s; file {fmt(bk['bytes'] / mib, 0)} MiB (database "
        f"{fmt(bk['source_bytes'] / mib, 0)} MiB). Page load before: {fmt(before.get('rps'))} req/s, p95 "
        f"{fmt(before.get('p95_ms'), 1)} ms; during: {fmt(during.get('rps'))} req/s, p95 "
        f"{fmt(during.get('p95_ms'), 1)} ms, max {fmt(during.get('max_ms'), 0)} ms, errors "
        f"{during.get('errors', '–')}. `sakskydd restore` into a fresh instance: "
        f"{fmt(bk['restore']['seconds'], 1)} s; `audit verify` there: "
        f"{'hel' if bk['verify']['ok'] else '**failed**'} ({fmt(bk['verify']['seconds'], 1)} s); data: "
        + (
            f"identical: {same['tables']} tables, {fmt(same['rows'], 0)} rows, each table's row count "
            "and SHA-256 of its rows (as the model types read them) the source's at the backup's audit "
            "head and its count the header's; the head the header's"
            if same["identical"]
            else f"**differs**: {', '.join(same['differ'] + same['header_differ']) or 'the head'}"
        )
        + (
            f" ({', '.join(same['moving'])} changed in the source by the page load meanwhile: not compared)"
            if same.get("moving")
            else ""
        )
    )
    row = (
        f"| {label} | {what} | restored, verified and identical (no time in the budget) | {verdict(ok)} | "
        f"{bk['command']}{_separately(bk)} |"
    )
    line = (
        f"{label:<45} backup {bk['backup_seconds']:,.0f} s, restore {bk['restore']['seconds']:,.0f} s, "
        f"during p95 {during.get('p95_ms') or 0:,.0f} ms  {verdict(ok)}"
    )
    return row, line


def report(data: dict[str, Any]) -> tuple[str, list[str]]:
    mode = data["mode"]
    lines: list[str] = []
    summary: list[str] = []
    add = lines.append
    m, v = data["machine"], data["versions"]
    add("# Benchmark results")
    add("")
    add(
        f"Made by `{data['command']}` on {data['date']} ({mode['name']} mode, "
        f"{data['seconds']:.0f} s in all). "
        "Regenerate with `make bench` (full) or `make bench-quick`; bench/README.md explains the method."
    )
    add("")
    if mode["name"] == "quick":
        add(
            "> **Quick mode**: a small fraction of city scale and short loads, for everyday comparisons. "
            "Its figures are not the budget's (which is for city scale); take those from `make bench`."
        )
        add("")
    load = m["load_at_start"]
    add(
        f"> Load average when the run started: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} on "
        f"{m['cores']} cores. "
        "Figures taken while other work runs on the machine are pessimistic and noisy: take final "
        "figures on an "
        "idle machine."
    )
    add("")
    add("## Machine and versions")
    add("")
    add(f"- CPU: {m['cpu']}, {m['cores']} cores; RAM {m['ram_gib']} GiB; Linux {m['kernel']}")
    add("- " + ", ".join(f"{k} {val}" for k, val in v.items() if k not in ("commit",)))
    add(f"- Code: commit {v['commit']}")
    if data.get("national", {}).get("postgresql"):
        add(f"- PostgreSQL: {data['national']['postgresql']}; {data['national']['settings']}")
    add(
        f"- Server: `sakskydd serve --workers {mode['workers']}` (gunicorn, sync workers) and the "
        "baseline app the "
        f"same way; SQLite in WAL mode (the app's own settings); load from wrk on the same machine, "
        f"{mode['connections']} connection(s), {mode['seconds']:.0f} s per page after {mode['warmup']:.0f} s "
        "warm-up."
    )
    add("")
    city = data["city"]
    counts = city["manifest"]["counts"]
    add("## Data")
    add("")
    add(
        f"City data set (`python -m bench.generate --scale city --factor {mode['factor']} "
        f"--encrypted-fields {mode['encrypted_fields']}`), generated in {city['manifest']['seconds']:.0f} s "
        f"on {city['manifest']['generated_at']}:"
    )
    add("")
    add(
        "| operators | units | users | analyses | measures | assets | holders | notices | "
        "procurements | duties "
        "| vetting cases | encrypted values | audit events |"
    )
    add("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    add(
        "| "
        + " | ".join(
            fmt(counts[k], 0)
            for k in (
                "operators",
                "units",
                "users",
                "analyses",
                "measures",
                "assets",
                "holders",
                "notices",
                "procurements",
                "duties",
                "vetting_cases",
                "encrypted_fields",
                "audit_events",
            )
        )
        + " |"
    )
    add("")
    # --- pages
    add("## Pages under load")
    add("")
    base = city["baseline_p95_ms"]
    shown = " / ".join(fmt(run["p95_ms"], 2) for run in city["baseline_runs"])
    add(
        f"Baseline (bar Flask page, 100 rows, same session and templates): p95 {shown} ms before, between "
        f"and after the pages; the ratio uses their median, {fmt(base, 2)} ms. Budget: p95 within "
        f"{BUDGET['p95_ratio']:.0f}× the baseline, at most {BUDGET['statements']} SQL statements of the "
        "page's own per page, beyond each request's fixed overhead (session, user, the user's policy "
        "entity, the audit append of a sensitive read: sakskydd/web/budget.py, docs/benchmarks.md)."
    )
    add("")
    add(
        "| page | path | req/s | p50 ms | p95 ms | p99 ms | p95 ÷ baseline | "
        "statements: own / all (+BEGIN) | writes | verdict |"
    )
    add("|---|---|---|---|---|---|---|---|---|---|")
    for row in city["pages"].values():
        r = row["load"]
        stm = row["statements"]
        ratio = r["p95_ms"] / base if base else None
        ok_ratio = ratio is not None and ratio <= BUDGET["p95_ratio"]
        own = stm.get("own", stm["statements"])
        ok_stm = own <= BUDGET["statements"]
        misses = [] if ok_ratio else ["p95"]
        misses += [] if ok_stm else ["statements"]
        add(
            f"| {row['title']} | `{row['path_shown']}` | {fmt(r['rps'])} | {fmt(r['p50_ms'], 2)} | "
            f"{fmt(r['p95_ms'], 2)} "
            f"| {fmt(r['p99_ms'], 2)} | {fmt(ratio, 2)} {'' if ok_ratio else '**MISS**'} | "
            f"{own} / {stm['statements']} "
            f"(+{stm['begins']}) {'' if ok_stm else '**MISS**'} | {stm['writes']} | "
            f"{'ok' if not misses else '**MISS** (' + ', '.join(misses) + ')'} |"
        )
        summary.append(
            f"{row['title']:<45} p95 {r['p95_ms']:8.2f} ms  ×{ratio or 0:5.2f}  {r['rps']:7.1f} req/s  "
            f"{own:3d}/{stm['statements']:3d} stmts  {'ok' if not misses else 'MISS ' + ','.join(misses)}"
        )
    b = city["baseline_statements"]
    ref = city["baseline_runs"][city.get("baseline_index", 0)]
    add(
        f"| {BASELINE.title} | `/` (baseline app) | {fmt(ref['rps'])} | {fmt(ref['p50_ms'], 2)} | "
        f"{fmt(ref['p95_ms'], 2)} | {fmt(ref['p99_ms'], 2)} | 1.00 | {b['statements']} (+{b['begins']}) | "
        f"{b['writes']} | – |"
    )
    add("")
    add(
        "Command per page: `"
        + city["pages"][next(iter(city["pages"]))]["load"]["command"].split(" -- ")[0]
        + " …` with the page's session cookie, after a warm-up run; statements: one request through the app "
        "in "
        "process after two warm-up requests, counted with a `before_cursor_execute` listener "
        "(bench/scenarios.py, as "
        "tests/factories.py `count_statements`); BEGIN IMMEDIATE is shown apart, as the tests leave it out; "
        "writes are the INSERT/UPDATE/DELETE among them (the session's last-seen update, audit "
        "events of reads)."
    )
    add("")
    add("<details><summary>The statements of each page</summary>")
    add("")
    for key, row in list(city["pages"].items()) + [("baseline", {"statements": city["baseline_statements"]})]:
        add(f"**{key}**")
        add("")
        for sql in row["statements"]["sql"]:
            add(f"    {sql}")
        add("")
    add("</details>")
    add("")
    conc = city.get("concurrency") or []
    if conc:
        add("### Concurrency on SQLite")
        add("")
        add(
            f"The asset register again, {conc[0]['seconds']:.0f} s per row, with more connections than one "
            "(`wrk -c N`), on the same server and on a server with the other of one and two workers:"
        )
        add("")
        add("| gunicorn workers | connections | req/s | p50 ms | p90 ms | p95 ms | p99 ms | max ms |")
        add("|---|---|---|---|---|---|---|---|")
        for row in conc:
            add(
                f"| {row['workers']} | {row['connections']} | {fmt(row['rps'])} | {fmt(row['p50_ms'], 1)} | "
                f"{fmt(row['p90_ms'], 1)} | {fmt(row['p95_ms'], 1)} | {fmt(row['p99_ms'], 1)} | "
                f"{fmt(row['max_ms'], 0)} |"
            )
        add("")
        add(
            "Every request on SQLite holds the database's write lock from its first statement (`BEGIN "
            "IMMEDIATE`) to its commit, so requests run one at a time whatever the number of workers; a "
            "waiting worker polls in SQLite's busy handler with growing sleeps and can be passed over again "
            "and again, which is where long tails with two workers come from. One worker queues the "
            "requests in its socket instead, which is why `sakskydd serve` starts one worker on SQLite "
            "(docs/benchmarks.md)."
        )
        add("")
    # --- micro
    add("## Micro figures")
    add("")
    add("| figure | measured | budget | verdict | command |")
    add("|---|---|---|---|---|")
    ap = data["micro"]["append"]
    ok = ap["record_ms"]["median"] < BUDGET["audit_append_ms"]
    add(
        "| audit append: `audit.record` per event, own transaction | median "
        f"{fmt(ap['record_ms']['median'], 3)} ms, "
        f"p95 {fmt(ap['record_ms']['p95'], 3)} ms; with the commit: median "
        f"{fmt(ap['record_and_commit_ms']['median'], 3)} ms, "
        f"p95 {fmt(ap['record_and_commit_ms']['p95'], 3)} ms; 100 per transaction: "
        f"{fmt(ap['in_batches_of_100_ms'], 3)} ms "
        f"| < 1 ms | {verdict(ok)} | `{ap['command']}` |"
    )
    summary.append(
        f"{'audit append (median record / +commit)':<45} {ap['record_ms']['median']:.3f} / "
        f"{ap['record_and_commit_ms']['median']:.3f} ms  {verdict(ok)}"
    )
    vf = data["micro"]["verify"]
    ok = vf["events_per_second"] >= BUDGET["verify_eps"]
    cli_v = data["micro"]["verify_cli"]
    cli_eps = vf["events"] / cli_v["seconds"] if cli_v["seconds"] else 0
    add(
        f"| `audit verify`: events per second ({fmt(vf['events'], 0)} events, {vf['jobs']} processes) | "
        f"{fmt(vf['events_per_second'], 0)}/s in `verify_database` ({fmt(vf['seconds'], 2)} s); "
        "the whole command "
        f"{fmt(cli_v['seconds'], 2)} s with start-up = {fmt(cli_eps, 0)}/s | ≥ 400 000/s | {verdict(ok)} | "
        f"`{vf['command']}`; `sakskydd audit verify` |"
    )
    summary.append(
        f"{'audit verify':<45} {vf['events_per_second']:,.0f} events/s ({vf['events']:,} events)  "
        f"{verdict(ok)}"
    )
    fc = data["micro"]["crypto"]
    ok = fc["seal_us"] < BUDGET["encrypt_us"]
    add(
        f"| field encryption / decryption per field ({fc['plaintext_bytes']} bytes) | seal "
        f"{fmt(fc['seal_us'], 2)} µs, "
        f"open {fmt(fc['open_us'], 2)} µs; through a model attribute: set "
        f"{fmt(fc['descriptor_set_us'], 2)} µs, "
        f"get {fmt(fc['descriptor_get_us'], 2)} µs | < 10 µs | {verdict(ok)} | `{fc['command']}` |"
    )
    summary.append(
        f"{'field encryption (seal / open)':<45} {fc['seal_us']:.2f} / {fc['open_us']:.2f} µs  {verdict(ok)}"
    )
    for re_, label in (
        (data["reencrypt"], "key re-encryption, online, SQLite (city)"),
        (data.get("national", {}).get("reencrypt") or {}, "key re-encryption, online, PostgreSQL (national)"),
    ):
        if re_.get("total"):
            row, line = _reencryption_row(re_, label)
            add(row)
            summary.append(line)
    if (data.get("backup") or {}).get("rows"):
        row, line = _backup_row(data["backup"], "backup under load and restore, SQLite (city)")
        add(row)
        summary.append(line)
    nat = data.get("national", {})
    if nat.get("picture"):
        pic, page = nat["picture"], nat["page"]
        ok = page["p95_ms"] / 1000 < BUDGET["chef_picture_s"]
        counts_n = nat["data"]["counts"]
        add(
            f"| chef's picture at national scale, PostgreSQL ({fmt(counts_n['units'], 0)} units, "
            f"{fmt(nat.get('assets_now', counts_n['assets']), 0)} assets, "
            f"{fmt(counts_n['audit_events'], 0)} audit "
            "events) | page p50 "
            f"{fmt(page['p50_ms'], 0)} ms, p95 {fmt(page['p95_ms'], 0)} ms ({page['requests']} requests; "
            "the stored picture, oversight/stored.py); in process: the stored picture read, median "
            f"{_ms((pic.get('stored_read_seconds') or {}).get('median'))}; compiled and stored (the first "
            "view after a change, or `sakskydd oversight refresh`), median "
            f"{_ms((pic.get('compile_and_store_seconds') or {}).get('median'))}, of which "
            "`operator_figures` + `yearly_series` median "
            f"{fmt(pic['seconds']['median'], 3)} s | < 1 s | "
            f"{verdict(ok)} | `{page['command'].split(' -- ')[0]}`; `{pic['command']}`{_separately(nat)} |"
        )
        summary.append(
            f"{'chef picture, national, PostgreSQL (p95 page)':<45} {page['p95_ms']:.0f} ms  {verdict(ok)}"
        )
        if nat.get("picture_padded"):
            padded, pad = nat["picture_padded"], nat["padded"]
            ok = padded["seconds"]["p95"] < BUDGET["chef_picture_s"]
            add(
                f"| chef's picture, the register padded from {fmt(pad['assets_before'], 0)} to "
                f"{fmt(pad['assets_after'], 0)} assets (copies without notes or history, "
                f"{pad['seconds']} s) | `operator_figures` + `yearly_series` in process: median "
                f"{fmt(padded['seconds']['median'], 3)} s, "
                f"p95 {fmt(padded['seconds']['p95'], 3)} s | < 1 s | "
                f"{verdict(ok)} | `BENCH_NATIONAL_PAD_ASSETS={pad['assets_after']}`; `{padded['command']}` |"
            )
            summary.append(
                f"{'chef picture, national, padded register':<45} "
                f"{padded['seconds']['median'] * 1000:.0f} ms  {verdict(ok)}"
            )
        if nat.get("verify"):
            nv = nat["verify"]
            ok = nv["events_per_second"] >= BUDGET["verify_eps"]
            add(
                f"| `audit verify` at national scale, PostgreSQL | {fmt(nv['events_per_second'], 0)}/s "
                f"({fmt(nv['events'], 0)} events in {fmt(nv['seconds'], 1)} s) | ≥ 400 000/s | "
                f"{verdict(ok)} | "
                f"`{nv['command']}` |"
            )
    else:
        why = nat.get("skipped") or "left out of this run (`--no-national` or BENCH_NATIONAL=0)"
        add(
            f"| chef's picture at national scale, PostgreSQL | not measured: {why}; see docs/benchmarks.md, "
            "section 4, for a measurement | < 1 s | – | – |"
        )
    add("")
    for key, title in (
        ("picture", f"the register as it was, {fmt(nat.get('assets_now'), 0)} assets"),
        (
            "picture_padded",
            f"the register padded to {fmt((nat.get('padded') or {}).get('assets_after'), 0)} assets",
        ),
    ):
        figure = nat.get(key) or {}
        if figure.get("statements_ms"):
            add(
                f"The national picture's statements ({title}; the last of "
                f"{figure['repeats']} runs; `yearly_series` in all: median "
                f"{fmt(figure['yearly_series_seconds']['median'] * 1000, 0)} ms):"
            )
            add("")
            for statement, ms in figure["statements_ms"]:
                add(f"    {ms:8.1f} ms  {statement}")
            add("")
    if re_.get("status_after"):
        add("Key status after the online re-encryption (`sakskydd keys status`):")
        add("")
        for line in re_["status_after"].strip().splitlines():
            add(f"    {line}")
        add("")
    add("## Notes")
    add("")
    for note in data.get("notes", []):
        add(f"- {note}")
    add("")
    return "\n".join(lines), summary


# --- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a small fraction of city scale, short loads")
    parser.add_argument("--no-national", action="store_true", help="leave the PostgreSQL national figure out")
    parser.add_argument(
        "--results", type=Path, default=None, help="default: bench/RESULTS.md (quick: bench/RESULTS-quick.md)"
    )
    parser.add_argument(
        "--national-only",
        action="store_true",
        help="only the PostgreSQL national figure, added to the last full run's RESULTS.md",
    )
    parser.add_argument(
        "--backup-only",
        action="store_true",
        help="only the backup figure, on the existing city data set, added to the last run's RESULTS.md",
    )
    args = parser.parse_args(argv)
    # A SIGTERM ends the run through its finally blocks: the servers and the cluster are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk (`make bench` installs it when run as root)")
    mode = mode_from(args.quick, not args.no_national)
    if args.national_only:
        return national_only(args, mode)
    if args.backup_only:
        return backup_only(args, mode)
    started = time.monotonic()
    data: dict[str, Any] = {
        "command": "make bench-quick" if args.quick else "make bench",
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "versions": versions(),
        "mode": {k: v for k, v in mode.__dict__.items() if k != "results"},
        "notes": [],
    }
    WORKDIR.mkdir(parents=True, exist_ok=True)
    logdir = WORKDIR / "logs"
    # 1. The city data set (reused while the generator, schema and sizes are unchanged).
    tag = fingerprint("city", mode.factor, mode.encrypted_fields)
    source = WORKDIR / "data" / f"city-f{mode.factor:g}-{tag}"
    manifest = ensure_dataset(
        source,
        ["--scale", "city", "--factor", str(mode.factor), "--encrypted-fields", str(mode.encrypted_fields)],
    )
    run_dir = WORKDIR / "run" / "city"
    log(f"copying the data set to {run_dir}")
    copy_dataset(source, run_dir)
    env = instance_env(run_dir)
    pages = scenarios(manifest, env["SAKSKYDD_DATABASE_URL"])
    city: dict[str, Any] = {"manifest": {k: manifest[k] for k in ("counts", "seconds", "generated_at")}}
    holder = {"app": start_app_server(env, free_port(), mode.workers, logdir)}
    app = holder["app"]
    baseline = start_baseline_server(env, free_port(), mode.workers, logdir)
    try:
        log("signing in through the login forms (password + TOTP)")
        people = sign_in(app.port, manifest)
        check_pages(app, baseline, pages, people)
        log("counting SQL statements per page")
        statements = statements_per_page(env, pages, people)
        city["baseline_statements"] = statements.pop("baseline")
        log("baseline under load")
        reference = Scenario("baseline", BASELINE.title, BASELINE.login, "/")
        runs = [load(baseline, reference, people[BASELINE.login].cookie, mode)]
        city["pages"] = {}
        for index, scenario in enumerate(pages):
            if index == len(pages) // 2:
                log("baseline under load (middle)")
                runs.append(load(baseline, reference, people[BASELINE.login].cookie, mode))
            log(f"{scenario.key} under load")
            result = load(app, scenario, people[scenario.login].cookie, mode)
            if result.errors:
                data["notes"].append(f"{scenario.key}: wrk counted {result.errors} errors")
            shown = scenario.path
            for name in ("bench_unit_id", "operator_id"):
                shown = shown.replace(
                    manifest[name], "<" + name.removesuffix("_id").replace("bench_", "") + ">"
                )
            shown = re.sub(r"/analyser/[0-9a-f-]{36}", "/analyser/<analysis>", shown)
            city["pages"][scenario.key] = {
                "title": scenario.title,
                "path_shown": shown,
                "load": result.as_dict(),
                "statements": statements[scenario.key],
            }
        log("baseline under load (after)")
        runs.append(load(baseline, reference, people[BASELINE.login].cookie, mode))
        city["baseline_runs"] = [run.as_dict() for run in runs]
        # The median of the three runs: one disturbed run (a checkpoint, another process) cannot set it.
        city["baseline_p95_ms"] = sorted(run.p95_ms for run in runs)[1]
        city["baseline_index"] = [run.p95_ms for run in runs].index(city["baseline_p95_ms"])
        baseline.stop()
        log("concurrency: one page with 1, 2 and 4 connections, on one worker and on two")
        city["concurrency"] = concurrency_probe(env, app, pages, people, mode, logdir)
        log("online key re-encryption under load")
        data["reencrypt"] = online_reencryption(env, holder, pages, people, mode, logdir)
        log("backup under load, then restore into a fresh instance")
        data["backup"] = backup_under_load(
            env, holder["app"], pages, people, mode, WORKDIR / "run" / "backup"
        )
    finally:
        holder["app"].stop()
        baseline.stop()
    data["city"] = city
    log("micro figures")
    data["micro"] = {
        "append": micro("audit-append", run_dir, count=mode.append_count),
        "crypto": micro("field-crypto", run_dir, count=mode.crypto_count),
    }
    seconds, done = cli(env, "audit", "verify")
    data["micro"]["verify_cli"] = {
        "seconds": seconds,
        "ok": done.returncode == 0,
        "output": done.stdout.strip(),
    }
    if done.returncode != 0:
        data["notes"].append(f"`sakskydd audit verify` failed after the run: {done.stdout} {done.stderr}")
    data["micro"]["verify"] = micro("audit-verify", run_dir)
    if mode.national:
        log("national scale on PostgreSQL (the first run generates its data: one to two hours)")
        data["national"] = national(mode, logdir)
    data["machine"]["load_at_end"] = os.getloadavg()
    data["seconds"] = time.monotonic() - started
    if max(data["machine"]["load_at_start"][0], data["machine"]["load_at_end"][0]) > 0.5:
        data["notes"].append(
            "The machine was not idle (load average above 0.5 at the start or end): other "
            "processes competed for "
            "the two cores, so latencies and rates here are pessimistic. Take final figures on an "
            "idle machine."
        )
    data["notes"].append(
        "wrk runs on the same machine as the servers and takes CPU from them; the latencies include that "
        "competition (for the pages and the baseline alike)."
    )
    data["notes"].append(
        "The causes of the misses, with the changes that would fix them and their effect, are in "
        "docs/benchmarks.md."
    )
    return write_results(data, args, mode)


def write_results(data: dict[str, Any], args: argparse.Namespace, mode: Mode) -> int:
    text, summary = report(data)
    results = args.results or (BENCH / ("RESULTS-quick.md" if args.quick else "RESULTS.md"))
    results.write_text(text, encoding="utf-8")
    (WORKDIR / f"results-{mode.name}.json").write_text(
        json.dumps(data, indent=2, default=str), encoding="utf-8"
    )
    print()
    shown = results.relative_to(REPO) if results.is_relative_to(REPO) else results
    print(f"== sakskydd benchmark ({mode.name}), {data['seconds']:.0f} s; report: {shown}")
    for line in summary:
        print("  " + line)
    return 0


def national_only(args: argparse.Namespace, mode: Mode) -> int:
    """The national figure alone, added to the last full run's results: its data set takes hours
    to make the first time, so it is measured in a run of its own (on an otherwise idle machine)."""
    previous = WORKDIR / "results-full.json"
    if not previous.exists():
        raise SystemExit("no full run to add the national figure to: run `make bench` first")
    data = json.loads(previous.read_text(encoding="utf-8"))
    started = time.monotonic()
    load_at_start = os.getloadavg()
    log(f"national scale on PostgreSQL, factor {mode.national_factor:g}")
    data["national"] = national(mode, WORKDIR / "logs")
    data["national"]["measured"] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": f"BENCH_NATIONAL_FACTOR={mode.national_factor:g} python -m bench.run --national-only",
        "load_at_start": load_at_start,
        "load_at_end": os.getloadavg(),
        "seconds": round(time.monotonic() - started),
    }
    return write_results(data, args, mode)


def backup_only(args: argparse.Namespace, mode: Mode) -> int:
    """The backup figure alone, on a copy of the last run's city data set (never made here),
    added to the last run of the same mode's results."""
    previous = WORKDIR / f"results-{mode.name}.json"
    if not previous.exists():
        raise SystemExit(f"no {mode.name} run to add the backup figure to: run the bench first")
    data = json.loads(previous.read_text(encoding="utf-8"))
    started = time.monotonic()
    load_at_start = os.getloadavg()
    # The data set of the last run, even when a migration has been added since (its copy is then
    # migrated, as an upgrade would): making it again takes minutes to hours.
    exact = (
        WORKDIR / "data" / f"city-f{mode.factor:g}-{fingerprint('city', mode.factor, mode.encrypted_fields)}"
    )
    found = sorted(
        (p.parent for p in (WORKDIR / "data").glob(f"city-f{mode.factor:g}-*/manifest.json")),
        key=lambda folder: (folder == exact, (folder / "manifest.json").stat().st_mtime),
    )
    if not found:
        raise SystemExit(f"no city data set at factor {mode.factor:g}: run the bench first")
    source = found[-1]
    manifest = read_manifest(source)
    run_dir = WORKDIR / "run" / "backup-source"
    log(f"copying the data set {source.name} to {run_dir}")
    copy_dataset(source, run_dir)
    env = instance_env(run_dir)
    _, migrated = cli(env, "migrate")
    if migrated.returncode != 0:
        raise RuntimeError(f"sakskydd migrate failed: {migrated.stdout[-2000:]} {migrated.stderr[-2000:]}")
    pages = scenarios(manifest, env["SAKSKYDD_DATABASE_URL"])
    app = start_app_server(env, free_port(), mode.workers, WORKDIR / "logs", name="app-backup")
    try:
        people = sign_in(app.port, manifest)
        for scenario in pages:
            response = people[scenario.login].get(scenario.path)
            if response.status != 200:
                raise SystemExit(f"{scenario.key}: {scenario.path} answered {response.status}, not 200")
        log("backup under load, then restore into a fresh instance")
        data["backup"] = backup_under_load(env, app, pages, people, mode, WORKDIR / "run" / "backup")
    finally:
        app.stop()
        shutil.rmtree(run_dir, ignore_errors=True)  # as big as the data set
    data["backup"]["measured"] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m bench.run --backup-only" + (" --quick" if args.quick else ""),
        "data_set": source.name,
        "load_at_start": load_at_start,
        "load_at_end": os.getloadavg(),
        "seconds": round(time.monotonic() - started),
    }
    return write_results(data, args, mode)


if __name__ == "__main__":
    sys.exit(main())
