"""The machinery of the README walk-through (tests/test_readme_walkthrough.py): a document's command blocks, handed
out in order, and the Pi they run on.

``command_blocks`` reads a document's ``sh``/``bash`` blocks, each with the place (``PLACES``) the text before it
names; ``DocWalk`` hands out the ones a plan marks ``WALKED`` in document order and checks the walk took them all;
``Pi`` is the Pi as a temporary root, running a block's own text with ``sudo`` dropped and its folders moved there.
The rest reads what the documents and deploy.sh print (fenced samples, the ``[cloud]`` table, Troubleshooting's
commands) and makes two outputs comparable.
"""

from __future__ import annotations

import csv
import getpass
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import requests

from tests.support.edge_wheel import build_edge_wheel

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
GOOGLE_SETUP = REPO / "docs" / "google-setup.md"
PI_ONLY = REPO / "docs" / "pi-only.md"
PLACES = ("On the Pi", "In Cloud Shell", "On your computer")
PI_CONFIG = "/etc/pvs6-sentinel/edge.toml"
PI_SECRET = "/etc/pvs6-sentinel/secret"
PI_PROGRAM = "/opt/pvs6-sentinel/venv/bin/pvs6-edge"
WALKED = "walked"

# A document's command blocks in order: (place, how the block's first command begins, WALKED or why not).
Plan = list[tuple[str, str, str]]


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


def fenced(path: Path, kind: str) -> list[str]:
    """The document's fenced blocks of one kind (``text``, ``toml``, ``ini``, ``cron``): the samples it shows."""
    return re.findall(rf"```{kind}\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


class DocWalk:
    """A document's walked blocks, handed out in document order; the walk must take every one of them."""

    def __init__(self, doc: Path, plan: Plan) -> None:
        self.doc = doc
        self.blocks = [b for b, (*_, how) in zip(command_blocks(doc), plan, strict=True) if how == WALKED]
        self.taken = 0

    def next(self, start: str) -> Block:
        assert self.taken < len(self.blocks), f"{self.doc.name} has no walked block left for {start!r}"
        block = self.blocks[self.taken]
        assert block.commands[0].startswith(start), f"{self.doc.name}: next block is {block.commands[0]!r}"
        self.taken += 1
        return block

    def done(self) -> None:
        assert self.taken == len(self.blocks), f"{self.doc.name}: blocks the walk never ran: {self.blocks[self.taken:]}"


@dataclass
class Pi:
    """The Pi as a temporary root: a document's Pi command, with ``sudo`` dropped and its folders moved here."""

    root: Path
    python: Path  # the Pi's python3 (tests/support/pi_python: its venvs are copies of one prepared venv)

    FOLDERS = ("/etc/pvs6-sentinel", "/etc/systemd/system", "/opt/pvs6-sentinel", "/opt/pvs6-cloud",
               "/var/lib/pvs6-sentinel")

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)

    def path(self, pi_path: str) -> Path:
        return self.root / pi_path.lstrip("/")

    @property
    def home(self) -> Path:
        return self.root / "home" / "yourname"

    def command(self, line: str) -> str:
        line = re.sub(r"(^|&& |; |\| )sudo ", r"\1", line)
        for folder in (*self.FOLDERS, "/home/yourname"):
            line = line.replace(folder, str(self.path(folder)))
        return line

    def env(self) -> dict[str, str]:
        return {"HOME": str(self.home), "USER": getpass.getuser(), "PATH": f"{self.python.parent}:/usr/bin:/bin",
                "PVS6_EDGE_CONFIG": str(self.path(PI_CONFIG)), "LC_ALL": "C.UTF-8"}

    def run(self, block: Block | str, *, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
        """The block's commands in one shell (a ``cd`` holds for the lines after it), in the Pi's home."""
        commands = (block,) if isinstance(block, str) else block.commands
        script = "set -e\n" + "\n".join(map(self.command, commands))
        proc = subprocess.run(["bash", "-c", script], env={**self.env(), **env}, cwd=self.home, capture_output=True,
                              text=True, timeout=300)
        if check:
            assert proc.returncode == 0, f"{script}\n{proc.stdout}\n{proc.stderr}"
        return proc

    def install_edge(self, tmp: Path, block: Block) -> subprocess.CompletedProcess[str]:
        """README step 3: the project folder copied to the Pi's home, then its install block as written."""
        shutil.copytree(REPO / "edge", self.home / "pvs6-sentinel" / "edge",
                        ignore=shutil.ignore_patterns("__pycache__"))
        assert block.commands == ("cd ~/pvs6-sentinel", "sudo bash edge/install.sh"), block
        env = {"PREFIX": str(self.path("/opt/pvs6-sentinel")), "CONFIG_DIR": str(self.path("/etc/pvs6-sentinel")),
               "SYSTEMD_DIR": str(self.path("/etc/systemd/system")),
               "STATE_DIR": str(self.path("/var/lib/pvs6-sentinel")), "PYTHON": str(self.python),
               "SOURCE": str(build_edge_wheel(tmp / "edge-wheel")), "PIP_ARGS": "--no-index --no-deps"}
        installed = self.run(replace(block, commands=(*block.commands[:-1], block.commands[-1] + " --no-systemctl")),
                             **env)
        dependencies_from_this_environment(self.path("/opt/pvs6-sentinel/venv"), "pvs6_edge")
        return installed

    def csv_rows(self, pi_path: str) -> list[dict[str, str]]:
        with self.path(pi_path).open(newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))


def dependencies_from_this_environment(venv: Path, package: str) -> None:
    """The Pi's pip would download ``requests`` (and the cloud part's pandas, pvlib, ...); with no network, the
    venv sees this environment's copies.

    Only the folder holding them is added (a ``.pth`` line: the ``.pth`` files in it are not run, so this
    environment's editable install of the project is not), and the venv's own site-packages come first: the
    program the Pi runs is the installed wheel, not this source tree.
    """
    site_packages = next(venv.glob("lib/python*/site-packages"))
    (site_packages / "zz-test-network-stand-in.pth").write_text(str(Path(requests.__file__).parents[1]) + "\n")
    probe = subprocess.run([str(venv / "bin" / "python"), "-c", f"import {package}, requests; "
                            f"print({package}.__file__)"], capture_output=True, text=True, timeout=60, check=True)
    assert str(venv) in probe.stdout, f"the Pi runs its installed program, not the source tree: {probe.stdout}"


def cloud_table(deploy_output: str) -> str:
    """The ``[cloud]`` lines deploy.sh printed for the Pi, unindented, as the owner pastes them."""
    lines = deploy_output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "[cloud]")
    table = []
    for line in lines[start:]:
        if not line.strip():
            break
        table.append(line.strip())
    return "\n".join(table) + "\n"


def replace_cloud_table(config: str, table: str) -> str:
    """What the owner does in nano: the installed ``[cloud]`` table out, the printed one in."""
    pattern = re.compile(r"^\[cloud\]\n(?:(?!\[).*\n)*", flags=re.M)
    assert pattern.search(config), "install.sh wrote a [cloud] table to replace"
    return pattern.sub(lambda _: table + "\n", config, count=1)


def point_at_the_simulator(config: Path, pvs_url: str) -> None:
    """The [pvs] table names the PVS6's technician port; here the simulator takes its place."""
    text, count = re.subn(r'^url = "http://172\.27\.153\.1[^"]*"', f'url = "{pvs_url}"', config.read_text(),
                          count=1, flags=re.M)
    assert count == 1, "the [pvs] table names the PVS6's address for the simulator to take"
    config.write_text(text)


def troubleshooting_command(label: str) -> str:
    """The command Troubleshooting's entry for a status line gives (in backticks, after "Once you fixed")."""
    text = README.read_text(encoding="utf-8")
    entry = text[text.index(f"**`{label}"):]
    entry = entry[: entry.index("\n- **")]
    return re.sub(r"\s+", " ", re.findall(r"`(sudo [^`]+)`", entry)[-1])


def alike(output: str) -> list[str]:
    """deploy.sh --selftest's lines from its self-test heading on, with what differs between projects and runs
    (project, addresses, paths, date) made alike."""
    output = output[output.index("== Self-test"):]
    for pattern, same in ((r"deployed in \S+", "deployed in PROJECT"), (r"https?://[^\s)]+", "URL"),
                          (r"[\w.+-]+@[\w.-]+\.\w+", "EMAIL"), (r"via SMTP \S+", "via SMTP HOST"),
                          (r"running: +\S+/pvs6-venv/bin/pvs6-cloud selftest --config \S+/deployed-config\.toml",
                           "running: ~/pvs6-venv/bin/pvs6-cloud selftest --config DEPLOYED"),
                          (r"\d+ hours of weather for \d{4}-\d{2}-\d{2}", "HOURS of weather for DATE")):
        output = re.sub(pattern, same, output)
    return [line.rstrip() for line in output.strip().splitlines()]


def as_in_the_guide(output: str, pi: Pi) -> list[str]:
    """The self-test's lines with what differs from one run to the next (where, when, which port) made alike."""
    output = output.replace(str(pi.root), "")
    output = re.sub(r"SMTP 127\.0\.0\.1:\d+", "SMTP smtp.gmail.com:587", output)
    output = re.sub(r"\d+ hours of weather for \d{4}-\d{2}-\d{2}", "HOURS of weather for DATE", output)
    return [line.rstrip() for line in output.strip().splitlines()]


@contextmanager
def service(pi: Pi, unit: str, port: int) -> Iterator[str]:
    """A systemd unit of the guide run by hand: its EnvironmentFile read as systemd does, then its ExecStart."""
    fields = dict(re.findall(r"(?m)^(EnvironmentFile|ExecStart)=(.*)$", unit))
    start = pi.command(fields["ExecStart"]).replace("--port 8080", f"--port {port}")
    script = f"set -a; . {pi.command(fields['EnvironmentFile'])}; set +a; exec {start}"
    server = subprocess.Popen(["bash", "-c", script], env=pi.env(), cwd=pi.home, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = datetime.now(UTC).timestamp() + 90
        while True:
            try:
                requests.get(url, timeout=2)
                break
            except requests.ConnectionError:
                assert server.poll() is None, server.communicate()[0]
                assert datetime.now(UTC).timestamp() < deadline, "pvs6-cloud serve did not start within 90 s"
                subprocess.run(["sleep", "0.2"], check=True)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
