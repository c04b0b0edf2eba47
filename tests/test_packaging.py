"""The deployed function installs cloud/requirements.txt, developers install pyproject's extras: keep them equal."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI_ONLY = {"rich"}  # progress bars of `pvs6-cloud replay`; the function never imports it


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", line.strip(), maxsplit=1)[0].lower() for line in requirements if line.strip()}


def test_function_requirements_match_the_cloud_extra():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _names(project["dependencies"]) | _names(project["optional-dependencies"]["cloud"])
    lines = [line for line in (ROOT / "cloud" / "requirements.txt").read_text().splitlines()
             if not line.startswith("#")]
    assert _names(lines) == wanted - CLI_ONLY


def test_the_pi_installs_requests_only():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert _names(project["dependencies"]) == {"requests"}
