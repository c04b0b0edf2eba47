"""The deployed function installs cloud/requirements.txt, developers install pyproject's extras: keep them equal."""

from __future__ import annotations

import re
import subprocess
import sys
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


def test_the_shared_parser_loads_nothing_but_the_standard_library():
    """The Pi imports pvs6_parse too: a third-party import slipping into it would break the edge's install."""
    probe = (
        "import sys; before = set(sys.modules); import pvs6_parse, pvs6_parse.models; "
        "print('\\n'.join(sorted(set(sys.modules) - before)))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    outside = {name.split(".")[0] for name in loaded} - set(sys.stdlib_module_names) - {"pvs6_parse"}
    assert "pvs6_parse" in {name.split(".")[0] for name in loaded}
    assert outside == set(), f"pvs6_parse pulled in {sorted(outside)}"
