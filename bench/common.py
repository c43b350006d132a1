# ruff: noqa: S603, S607 - the bench runs its own fixed commands (wrk, sakskydd, pg_ctl)
"""What the benchmark's parts share: folders, the instance's environment, servers, HTTP, wrk.

Nothing here is imported by the application; the bench only uses the application's public
pieces (create_app, the CLI, the services and crypto/audit code).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
VENV_BIN = Path(sys.executable).parent
WORKDIR = Path(os.environ.get("BENCH_WORKDIR", BENCH / ".work")).resolve()
COOKIE_NAME = "__Host-sakskydd"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the instance ---------------------------------------------------------------------------------


def instance_env(folder: Path, database_url: str | None = None, port: int = 8000) -> dict[str, str]:
    """The environment of a production-configured instance in `folder` (instance/ + sakskydd.db).

    The secret key is kept in instance/bench-secret-key (mode 0600), made once per data set.
    """
    instance = folder / "instance"
    secret_file = instance / "bench-secret-key"
    if not secret_file.exists():
        instance.mkdir(parents=True, exist_ok=True)
        os.chmod(instance, 0o700)
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAKSKYDD_")}
    env.update(
        SAKSKYDD_ENV="production",
        SAKSKYDD_INSTANCE_PATH=str(instance),
        SAKSKYDD_DATABASE_URL=database_url or f"sqlite:///{folder / 'sakskydd.db'}",
        SAKSKYDD_SECRET_KEY=secret_file.read_text().strip(),
        SAKSKYDD_BASE_URL=f"http://127.0.0.1:{port}",
        PYTHONPATH=str(REPO),
    )
    return env


def settings_from(env: Mapping[str, str]) -> Any:
    from sakskydd.config import Settings

    return Settings.from_env(env)


def copy_dataset(source: Path, target: Path) -> None:
    """A fresh working copy of a generated data set (the runs change it: sessions, audit, keys)."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copytree(source / "instance", target / "instance")
    for name in ("sakskydd.db", "manifest.json"):
        if (source / name).exists():
            shutil.copy2(source / name, target / name)
    # The copy's pages go to disk now, not while the first pages are loaded (an fsync of a WAL
    # checkpoint would wait for gigabytes of writeback and show up as a tail of the first run).
    os.sync()


def read_manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "manifest.json").read_text("utf-8"))


# --- processes ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[Any], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before listening on {port}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[Any]
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            # gunicorn's arbiter: SIGTERM is a graceful stop of its workers.
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(name: str, command: list[str], env: Mapping[str, str], port: int, logdir: Path) -> Server:
    logdir.mkdir(parents=True, exist_ok=True)
    log_path = logdir / f"{name}.log"
    handle = open(log_path, "ab")  # noqa: SIM115 - the child keeps it
    process = subprocess.Popen(
        command, env=dict(env), stdout=handle, stderr=subprocess.STDOUT, cwd=str(REPO), start_new_session=True
    )
    handle.close()
    try:
        wait_for_port(port, process)
    except RuntimeError:
        process.kill()
        raise RuntimeError(f"{name} did not start; see {log_path}:\n{log_path.read_text()[-3000:]}") from None
    return Server(name, port, process, log_path)


def start_app_server(
    env: Mapping[str, str], port: int, workers: int, logdir: Path, name: str = "app"
) -> Server:
    """The application as production serves it: `sakskydd serve` (gunicorn)."""
    env = dict(env, SAKSKYDD_BASE_URL=f"http://127.0.0.1:{port}")
    command = [str(VENV_BIN / "sakskydd"), "serve", "--port", str(port), "--workers", str(workers)]
    return start_server(name, command, env, port, logdir)


def start_baseline_server(env: Mapping[str, str], port: int, workers: int, logdir: Path) -> Server:
    command = [sys.executable, "-m", "bench.baseline.app", "--port", str(port), "--workers", str(workers)]
    return start_server("baseline", command, env, port, logdir)


@contextlib.contextmanager
def servers(*started: Server) -> Iterator[None]:
    try:
        yield
    finally:
        for server in started:
            server.stop()


# --- HTTP (a tiny client: the session cookie is __Host- and Secure, which cookie jars keep off http) ---


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: str


class Browser:
    """One signed-in person against one server: the session cookie is carried by hand."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookie: str | None = None

    def request(self, method: str, path: str, form: Mapping[str, str] | None = None) -> Response:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        headers = {"User-Agent": "sakskydd-bench"}
        body = None
        if self.cookie:
            headers["Cookie"] = f"{COOKIE_NAME}={self.cookie}"
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, path, body=body, headers=headers)
        raw = connection.getresponse()
        text = raw.read().decode("utf-8", "replace")
        for name, value in raw.getheaders():
            if name.lower() == "set-cookie" and value.startswith(COOKIE_NAME + "="):
                cookie = value.split(";", 1)[0].split("=", 1)[1]
                self.cookie = cookie or None
        connection.close()
        return Response(raw.status, {k.lower(): v for k, v in raw.getheaders()}, text)

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post(self, path: str, form: Mapping[str, str]) -> Response:
        return self.request("POST", path, form)


_CSRF = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')


def csrf(page: Response) -> str:
    match = _CSRF.search(page.body)
    if match is None:
        raise RuntimeError(f"no CSRF token on the page ({page.status})")
    return match.group(1)


def log_in(port: int, username: str, password: str, totp_secret: str) -> Browser:
    """Sign in through the real forms: password, then the TOTP code (pyotp)."""
    import pyotp

    browser = Browser(port)
    page = browser.get("/logga-in")
    answer = browser.post("/logga-in", {"csrf_token": csrf(page), "username": username, "password": password})
    if answer.status != 303 or not answer.headers.get("location", "").endswith("/logga-in/kod"):
        raise RuntimeError(f"login of {username} failed at the password step ({answer.status})")
    page = browser.get("/logga-in/kod")
    answer = browser.post("/logga-in/kod", {"csrf_token": csrf(page), "code": pyotp.TOTP(totp_secret).now()})
    if answer.status != 303:
        raise RuntimeError(f"login of {username} failed at the code step ({answer.status})")
    check = browser.get("/")
    if check.status != 200:
        raise RuntimeError(f"{username} is not signed in after the login ({check.status})")
    return browser


# --- wrk ------------------------------------------------------------------------------------------

REPORT_LUA = r"""
-- Written by bench/common.py: report wrk's figures as one JSON line (wrk prints no p95 itself).
local paths, cookies, n = {}, {}, 0
init = function(args)
  for i = 1, #args, 2 do
    paths[#paths + 1] = args[i]
    cookies[#cookies + 1] = args[i + 1]
  end
end
request = function()
  if #paths == 0 then return wrk.format(nil) end
  n = n + 1
  local i = (n % #paths) + 1
  local headers = {}
  if cookies[i] ~= "-" then headers["Cookie"] = "__Host-sakskydd=" .. cookies[i] end
  return wrk.format("GET", paths[i], headers)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99),
    latency.max, latency.mean))
end
"""


@dataclass
class WrkResult:
    command: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    bytes_per_request: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def wrk_script(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "report.lua"
    path.write_text(REPORT_LUA)
    return path


def run_wrk(
    base: str,
    targets: list[tuple[str, str | None]],
    *,
    seconds: float,
    connections: int,
    threads: int = 1,
    scriptdir: Path,
) -> WrkResult:
    """Load `targets` (path, cookie) in turn with wrk; p50/p95/p99 from wrk's own histogram."""
    script = wrk_script(scriptdir)
    args: list[str] = []
    for path, cookie in targets:
        args += [path, cookie or "-"]
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "60s",
        "-s",
        str(script),
        base + targets[0][0],
        "--",
        *args,
    ]
    shown = " ".join(command[: -len(args) - 1])
    shown += " -- " + " ".join(p for p, _ in targets) + " (with each page's session cookie)"
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout[-2000:]} {done.stderr[-2000:]}")
    data = json.loads(line.removeprefix("BENCHJSON "))
    requests = max(int(data["requests"]), 1)
    seconds_run = data["duration_us"] / 1e6
    errors = sum(int(data[k]) for k in ("connect", "read", "write", "status", "timeout"))
    return WrkResult(
        command=shown,
        requests=int(data["requests"]),
        seconds=round(seconds_run, 2),
        rps=round(data["requests"] / seconds_run, 1) if seconds_run else 0.0,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p95_ms=data["p95_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        errors=errors,
        bytes_per_request=round(data["bytes"] / requests),
    )
