"""Install Debian's chromium and postgresql (and wrk for the bench) when missing, as root; fail under CI
when impossible."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGES = {"chromium": Path("/usr/bin/chromium"), "postgresql": Path("/usr/lib/postgresql")}
# `make bench` (tests/system_deps.py --bench): the load generator too, so `make test` never needs it.
BENCH_PACKAGES = {"wrk": Path("/usr/bin/wrk")}


def main(argv: list[str] | None = None) -> int:
    wanted = dict(PACKAGES)
    if "--bench" in (sys.argv[1:] if argv is None else argv):
        wanted.update(BENCH_PACKAGES)
    missing = [name for name, path in wanted.items() if not path.exists()]
    if not missing:
        return 0
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        print(
            f"missing system packages: {', '.join(missing)} (install them with apt-get as root)",
            file=sys.stderr,
        )
        return 1 if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no") else 0
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing, "fonts-dejavu-core"], check=True, env=env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
