"""The README's setup, walked in order as a homeowner would, as far as a machine without a Pi or Google can.

Each step runs the command the documents give, where they say it runs:

- **In Cloud Shell**: ``./deploy.sh`` against the recording gcloud stand-in (tests/support/fake_gcloud), then the
  one line it prints to fetch the Pi's secret;
- **On the Pi**: ``sudo bash edge/install.sh`` into a temporary root, the pasted secret line, the ``[cloud]``
  table replaced by the lines deploy.sh printed, then ``pvs6-edge run`` and ``pvs6-edge status`` from the
  installed program, outside the source tree, against the PVS6 simulator.

Only three things are substituted, each because no test machine has it: the paths under ``/etc`` and ``/opt``
(a temporary root), the function's address (the stand-in's ``run.app`` address becomes the same function served
on loopback with the secret deploy.sh made), and the PVS6's address (the simulator). The function writes local
sheet files instead of a Google Sheet. Everything else is the documents' own text: if a step is renamed,
reordered or dropped there, this test says which.
"""

from __future__ import annotations

import csv
import re
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import requests

from pvs6_cloud.config import CloudConfig
from pvs6_cloud.runtime import Runtime
from pvs6_sim.config import SimConfig
from pvs6_sim.server import run_simulator
from tests.support.cloud import local_config
from tests.support.edge_wheel import build_edge_wheel
from tests.support.loopback import serve_function
from tests.test_deploy import Deployer

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
GOOGLE_SETUP = REPO / "docs" / "google-setup.md"
PLACES = ("On the Pi", "In Cloud Shell", "On your computer")
PI_CONFIG = "/etc/pvs6-sentinel/edge.toml"
PI_SECRET = "/etc/pvs6-sentinel/secret"
PI_PROGRAM = "/opt/pvs6-sentinel/venv/bin/pvs6-edge"


@dataclass(frozen=True)
class Block:
    """One command block of a document and the place the text before it says it runs."""

    place: str
    commands: tuple[str, ...]


def command_blocks(path: Path) -> list[Block]:
    """The ``sh``/``bash`` blocks in document order, each with the last place named before it."""
    text = path.read_text(encoding="utf-8")
    blocks: list[Block] = []
    for match in re.finditer(r"```(?:sh|bash)\n(.*?)```", text, flags=re.S):
        before = text[: match.start()]
        place = max(PLACES, key=lambda p: before.lower().rfind(p.lower()))
        lines = [line.split("  #")[0].strip() for line in match.group(1).replace("\\\n", " ").splitlines()]
        blocks.append(Block(place, tuple(line for line in lines if line and not line.startswith("#"))))
    return blocks


def _find(blocks: list[Block], command: str, start: int = 0) -> int:
    """Index of the first block from ``start`` holding a command that begins with ``command``."""
    for index in range(start, len(blocks)):
        if any(line.startswith(command) for line in blocks[index].commands):
            return index
    raise AssertionError(f"no command block from step {start} on starts with {command!r}")


def test_the_documents_give_the_commands_in_the_order_and_places_the_walk_follows() -> None:
    google = command_blocks(GOOGLE_SETUP)
    dry, deploy = _find(google, "./deploy.sh --dry-run"), _find(google, "./deploy.sh")
    assert dry < _find(google, "./deploy.sh", dry + 1), "the dry run comes before the real run"
    assert google[deploy].place == "In Cloud Shell"

    readme = command_blocks(README)
    install = _find(readme, "sudo bash edge/install.sh")
    edit = _find(readme, f"sudo nano {PI_CONFIG}", install)
    check = _find(readme, f"sudo {PI_PROGRAM} run --now", edit)
    assert f"sudo {PI_PROGRAM} status" in readme[check].commands
    assert [readme[i].place for i in (install, edit, check)] == ["On the Pi"] * 3
    readme_text = README.read_text(encoding="utf-8")
    assert "the `echo \" echo '$(gcloud secrets versions access" in readme_text, "step 3 runs deploy.sh's line"


def _cloud_table(deploy_output: str) -> str:
    """The ``[cloud]`` lines deploy.sh printed for the Pi, unindented, as the owner pastes them."""
    lines = deploy_output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "[cloud]")
    table = []
    for line in lines[start:]:
        if not line.strip():
            break
        table.append(line.strip())
    return "\n".join(table) + "\n"


def _replace_cloud_table(config: str, table: str) -> str:
    """What the owner does in nano: the installed ``[cloud]`` table out, the printed one in."""
    pattern = re.compile(r"^\[cloud\]\n(?:(?!\[).*\n)*", flags=re.M)
    assert pattern.search(config), "install.sh wrote a [cloud] table to replace"
    return pattern.sub(lambda _: table + "\n", config, count=1)


def _on_the_pi(root: Path, path: str) -> Path:
    """A Pi path inside the temporary root install.sh was given."""
    return root / path.lstrip("/")


def test_fresh_pi_to_the_first_reading_in_the_sheet(tmp_path: Path, pi_python: Path,
        first_deploy: tuple[Deployer, subprocess.CompletedProcess[str]]) -> None:
    # In Cloud Shell: deploy.sh, then the line it printed for the Pi's secret.
    # (deploy.sh's run on a fresh project is the session's first_deploy, copied: the deploy tests check that run)
    cloud_shell = Deployer.copy_of(first_deploy[0], tmp_path / "cloud-shell")
    deployed = first_deploy[1]
    fetch_line = next(line.strip() for line in deployed.stdout.splitlines() if f"sudo tee {PI_SECRET}" in line)
    pasted = subprocess.run(["bash", "-c", fetch_line], env=cloud_shell.env(), capture_output=True, text=True,
                            timeout=60, check=True).stdout.strip("\n")
    cloud_secret = cloud_shell.secret("pvs6-secret-home").decode()

    # On the Pi: sudo bash edge/install.sh (into a temporary root; no systemctl on a test machine).
    root = tmp_path / "pi"
    etc, opt = _on_the_pi(root, "/etc/pvs6-sentinel"), _on_the_pi(root, "/opt/pvs6-sentinel")
    wheel = build_edge_wheel(tmp_path / "wheel")
    env = {"CONFIG_DIR": str(etc), "SYSTEMD_DIR": str(root / "etc/systemd/system"),
           "STATE_DIR": str(_on_the_pi(root, "/var/lib/pvs6-sentinel")), "PYTHON": str(pi_python),
           "SOURCE": str(wheel), "PIP_ARGS": "--no-index --no-deps", "PATH": "/usr/bin:/bin"}
    installed = subprocess.run(["bash", str(REPO / "edge" / "install.sh"), "--prefix", str(opt), "--no-systemctl"],
                               env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    _give_the_pi_venv_requests(opt / "venv")

    # On the Pi: paste the line from Cloud Shell (sudo tee into the Pi's secret file).
    secret_file = etc / "secret"
    subprocess.run(["bash", "-c", pasted.replace(f"sudo tee {PI_SECRET}", f"tee {secret_file}")], check=True,
                   timeout=30)
    assert secret_file.read_text().strip() == cloud_secret

    # On the Pi: sudo nano edge.toml, the [cloud] table replaced by the lines deploy.sh printed.
    config = etc / "edge.toml"
    table = _cloud_table(deployed.stdout).replace(PI_SECRET, str(secret_file))
    printed_url = re.search(r'url = "([^"]+)"', table)
    assert printed_url and printed_url.group(1).startswith("https://"), table
    runtime = Runtime(_with_secret(local_config(tmp_path / "function"), cloud_secret))

    with run_simulator(SimConfig(api="dl_cgi")) as pvs, serve_function(runtime) as function_url:
        edited = _replace_cloud_table(config.read_text(), table.replace(printed_url.group(1), function_url))
        config.write_text(re.sub(r'^url = "http://172\.27\.153\.1[^"]*"', f'url = "{pvs.url}"', edited, count=1,
                                 flags=re.M))
        assert pvs.url in config.read_text(), "the [pvs] table names the PVS6's address for the simulator to take"

        # On the Pi: step 5, Check.
        program = str(opt / "venv" / "bin" / "pvs6-edge")
        run = subprocess.run([program, "run", "--now", "--config", str(config)], capture_output=True, text=True,
                             timeout=120, cwd=tmp_path)
        assert run.returncode == 0, run.stdout + run.stderr
        status = subprocess.run([program, "status", "--config", str(config)], capture_output=True, text=True,
                                timeout=60, cwd=tmp_path)
        assert status.returncode == 0, status.stdout + status.stderr
        assert "spool:              0 item(s)" in status.stdout, status.stdout
        assert "HTTP 401" not in run.stdout + run.stderr + status.stdout

    readings = (tmp_path / "function" / "sheet" / "Readings.csv")
    with readings.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1, "the Pi's first reading is in the sheet"


def _with_secret(config: CloudConfig, secret: str) -> CloudConfig:
    """The local function config, holding the secret deploy.sh made (as Secret Manager would hand it over)."""
    return replace(config, sites={name: replace(site, secret=secret) for name, site in config.sites.items()})


def _give_the_pi_venv_requests(venv: Path) -> None:
    """The Pi's pip would download ``requests``; with no network, the venv sees the test's own copy.

    Only the directory holding ``requests`` and its dependencies is added (a ``.pth`` line, no site processing),
    so the program the Pi runs is still the installed wheel, not this source tree.
    """
    site_packages = next(venv.glob("lib/python*/site-packages"))
    (site_packages / "zz-test-network-stand-in.pth").write_text(str(Path(requests.__file__).parents[1]) + "\n")
    probe = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import pvs6_edge, requests; print(pvs6_edge.__file__)"],
                           capture_output=True, text=True, timeout=60, check=True)
    assert str(venv) in probe.stdout, f"the Pi runs its installed program, not the source tree: {probe.stdout}"
