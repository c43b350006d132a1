"""A temporary PostgreSQL cluster from Debian's binaries, for the test run (never a shared server).

PostgreSQL refuses to run as root, so as root the cluster runs as Debian's `postgres` user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def find_bindir() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "pg_ctl").exists():
            return Path(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """A cluster in a temporary folder: start, kill -9 (as a crash test does) and start again."""

    def __init__(self, *, durable: bool = False) -> None:
        bindir = find_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL binaries not found (apt-get install postgresql)")
        self.bindir = bindir
        self.base = Path(tempfile.mkdtemp(prefix="sakskydd-pg-"))
        self.data, self.sockets = self.base / "data", self.base / "sockets"
        self.sockets.mkdir()
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
            shutil.chown(self.sockets, "postgres", "postgres")
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self.port = _free_port()
        # The suite's cluster trades durability for speed; a crash test's must acknowledge a
        # commit only once its WAL is written (a killed process loses nothing the OS has).
        relaxed = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
        self.options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sockets} "
            f"{'' if durable else relaxed}-c max_connections=200"
        )
        subprocess.run(
            [
                *self.prefix,
                str(bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        command = [*self.prefix, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", self.options]
        command += ["-l", str(self.base / "log"), "-w", "start"]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise RuntimeError("PostgreSQL did not start")

    def kill(self) -> None:
        """kill -9 the postmaster and every backend, as a power cut of the database would."""
        import signal

        pid = int((self.data / "postmaster.pid").read_text().split()[0])
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        for victim in (pid, *map(int, children)):  # all at once: orphans would keep the old memory
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in (pid, *children)):
            time.sleep(0.05)

    def remove(self) -> None:
        subprocess.run(
            [*self.prefix, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(self.base, ignore_errors=True)


@contextlib.contextmanager
def temporary_cluster(*, durable: bool = False) -> Iterator[str]:
    """Start a cluster listening on 127.0.0.1 only; yield a superuser URL; remove it afterwards."""
    with cluster(durable=durable) as running:
        yield running.url


@contextlib.contextmanager
def cluster(*, durable: bool = False) -> Iterator[Cluster]:
    running = Cluster(durable=durable)
    try:
        running.start()
        yield running
    finally:
        running.remove()
