"""The wheel is a complete installation: templates, static files, policies and migrations inside."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RESOURCES = ("templates", "static", "policies", "migrations")
PIP = [sys.executable, "-m", "pip"]
SHIPPED = ("pyproject.toml", "setup.py", "README.md", "sakskydd", *RESOURCES)

PROBE = """
import os, sys
from pathlib import Path
import sakskydd
from sakskydd import create_app
from sakskydd.config import Settings
from sakskydd.resources import resource_dir

assert Path(sakskydd.__file__).is_relative_to(Path(sys.argv[1])), sakskydd.__file__
for name in ("templates", "static", "policies", "migrations"):
    assert resource_dir(name).is_relative_to(Path(sys.argv[1])), resource_dir(name)
app = create_app(Settings.from_env(), load_keys=False)
client = app.test_client()
page = client.get("/logga-in")
assert page.status_code == 200 and "Logga in" in page.get_data(as_text=True), page.status_code
assert client.get("/static/css/app.css").status_code == 200
print("ok")
"""


def test_the_wheel_carries_everything_an_installation_needs(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in SHIPPED:
        origin = REPO / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(origin, source / name)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [*PIP, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), "."],
        cwd=source,
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("sakskydd-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in RESOURCES:
        expected = {
            f"sakskydd/{folder}/{path.relative_to(REPO / folder).as_posix()}"
            for path in (REPO / folder).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        }
        assert expected and expected <= names, sorted(expected - names)
    assert not [name for name in names if "__pycache__" in name]

    site = tmp_path / "site"
    subprocess.run(
        [*PIP, "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    instance = tmp_path / "instance"
    env = {
        **os.environ,
        "PYTHONPATH": str(site),
        "SAKSKYDD_ENV": "test",
        "SAKSKYDD_INSTANCE_PATH": str(instance),
        "SAKSKYDD_DATABASE_URL": f"sqlite:///{instance}/probe.db",
    }
    env.pop("SAKSKYDD_POLICIES_DIR", None)
    migrate = subprocess.run(
        [sys.executable, "-c", "from sakskydd.cli import main; main()", "migrate"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(site)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert probe.stdout.strip() == "ok"
