"""Setup times (prints figures; not a test): the parts of the README's setup a machine without a Pi can time.

1. ``sudo bash edge/install.sh --dry-run``, then ``sudo bash edge/install.sh`` into a temporary root: a real
   ``python3 -m venv`` (with ensurepip, as on the Pi) and the edge installed from a wheel built here. A Pi also
   downloads ``requests`` (about 0.5 MB) and is slower than this machine: that part is not in the figure.
2. ``./deploy.sh --dry-run`` and ``./deploy.sh`` on a fresh project, against the recording gcloud stand-in
   (tests/support/fake_gcloud): deploy.sh's own work and one ``gcloud`` start per call. Google's side (turning on
   services, building four functions) is not in the figure: it takes minutes, and only a real project shows it.

Run: ``.venv/bin/python bench/setup_times.py [--repeat N]`` (best of N, default 1). The README's table of setup
times quotes these figures, with what only a Pi or Google shows marked as estimates.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.deployer import Deployer  # noqa: E402
from tests.support.edge_wheel import build_edge_wheel  # noqa: E402


def timed(part: Callable[[Path], None]) -> float:
    """Wall time of one run of ``part`` in a fresh temporary folder (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="setup-times-") as tmp:
        started = time.perf_counter()
        part(Path(tmp))
        return time.perf_counter() - started


def install(tmp: Path, *args: str) -> None:
    """edge/install.sh into ``tmp`` as the root (no systemctl), the edge from a wheel, nothing downloaded."""
    env = {**os.environ, "PREFIX": str(tmp / "opt"), "CONFIG_DIR": str(tmp / "etc"),
           "SYSTEMD_DIR": str(tmp / "systemd"), "STATE_DIR": str(tmp / "state"), "PYTHON": sys.executable,
           "SOURCE": str(build_edge_wheel(tmp / "wheel")), "PIP_ARGS": "--no-index --no-deps"}
    subprocess.run(["bash", str(ROOT / "edge" / "install.sh"), "--no-systemctl", *args], env=env, check=True,
                   capture_output=True, timeout=600)


CALLS: dict[str, int] = {}


def deploy(tmp: Path, *args: str) -> None:
    """deploy.sh against the gcloud stand-in, on a project it has not seen; counts its gcloud calls."""
    tmp.mkdir()
    deployer = Deployer(tmp)
    deployer.run(*args, FAKE_GCLOUD_NO_BETA="1")
    CALLS[" ".join(args) or "deploy"] = len(deployer.calls())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each part; the best is shown")
    args = parser.parse_args()
    parts: dict[str, Callable[[Path], None]] = {
        "edge/install.sh --dry-run": lambda tmp: install(tmp, "--dry-run"),
        "edge/install.sh (venv + the edge)": install,
        "deploy.sh --dry-run (gcloud stand-in)": lambda tmp: deploy(tmp / "p", "--dry-run"),
        "deploy.sh, fresh project (gcloud stand-in)": lambda tmp: deploy(tmp / "p"),
    }
    print(f"{'part':<44} {'seconds':>8}")
    for name, part in parts.items():
        best = min(timed(part) for _ in range(args.repeat))
        print(f"{name:<44} {best:>8.1f}", flush=True)
    print("gcloud calls: " + ", ".join(f"{run}: {count}" for run, count in CALLS.items())
          + " (each starts gcloud once; Google's own gcloud takes longer to start than the stand-in)")


if __name__ == "__main__":
    main()
