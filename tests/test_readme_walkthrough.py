"""The setup documents' command blocks, run in order as a homeowner would, as far as a machine without a Pi can.

Every ``sh``/``bash`` block of README.md, docs/google-setup.md and docs/pi-only.md is in ``PLAN``: walked here,
or skipped with the reason (it needs a Pi, a USB stick, a browser or Google itself, or another test runs it). A new
block, a moved one or one that names another place fails ``test_every_command_block_is_walked_or_skipped``.

The walks run each block's own text, where it says it runs:

- **In Cloud Shell**: ``./deploy.sh`` against the recording gcloud stand-in (tests/support/fake_gcloud), then the
  one line it prints to fetch the Pi's secret, and at the Check its self-test, installed into ``~/pvs6-venv``;
- **On the Pi**: ``sudo bash edge/install.sh`` from a copy of the project folder, the pasted secret line, the
  ``[cloud]`` table replaced, then the README's Check and its copies of the history, with the installed program,
  outside the source tree, against the PVS6 simulator; for docs/pi-only.md also its cloud part, installed from a
  wheel into its own environment and run as its service, its self-test, two of its cron lines and a replay.

What is substituted, each because no test machine has it: ``sudo`` is dropped and the Pi's folders (``/etc``,
``/opt``, ``/var/lib``, the home folder) lie in a temporary root; packages come from wheels built here, their
dependencies from this environment (no network); the function's address (the stand-in's ``run.app`` address
becomes the function served on loopback with the secret deploy.sh made); the PVS6's address (the simulator);
Gmail (a loopback SMTP server); the weather service (off); systemd (the unit's ExecStart is run directly).
"""

from __future__ import annotations

import csv
import getpass
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from pvs6_cloud.infra.config import CloudConfig
from pvs6_cloud.runtime import Runtime
from pvs6_sim.config import SimConfig
from pvs6_sim.server import run_simulator
from tests.support.cloud import local_config
from tests.support.deployer import SELFTEST_TOML, Deployer, deployed_like, set_state
from tests.support.edge_wheel import build_edge_wheel, build_project_wheel
from tests.support.loopback import serve_function
from tests.support.openmeteo_server import serve_openmeteo
from tests.support.ports import free_port
from tests.support.sheets_fake import SheetsFake
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
GOOGLE_SETUP = REPO / "docs" / "google-setup.md"
PI_ONLY = REPO / "docs" / "pi-only.md"
PLACES = ("On the Pi", "In Cloud Shell", "On your computer")
PI_CONFIG = "/etc/pvs6-sentinel/edge.toml"
PI_SECRET = "/etc/pvs6-sentinel/secret"
PI_PROGRAM = "/opt/pvs6-sentinel/venv/bin/pvs6-edge"
WALKED = "walked"

# Each document's command blocks in order: (place, how the block's first command begins, WALKED or why not).
PLAN: dict[Path, list[tuple[str, str, str]]] = {
    README: [
        ("On your computer", "make demo", "the demo is played by tests/test_demo_outbox.py; make test is the suite"),
        ("On your computer", "ssh yourname@", "needs a Pi on the network"),
        ("On the Pi", "sudo nmcli connection add", "needs the Pi's NetworkManager; install.sh's own check of the "
                                                   "route is tested in tests/test_edge_install.py"),
        ("On your computer", "scp -r pvs6-sentinel", "needs a Pi to copy to (the walk copies the folder itself)"),
        ("On the Pi", "lsblk", "needs a USB stick"),
        ("On the Pi", "cd ~/pvs6-sentinel", WALKED),
        ("On the Pi", f"sudo nano {PI_CONFIG}", WALKED),
        ("On the Pi", f"sudo {PI_PROGRAM} run --now", WALKED),
        ("On the Pi", "sudo cp -r /var/lib/pvs6-sentinel/history ~/pvs6-history", WALKED),
        ("On your computer", "scp -r yourname@", "needs a Pi to copy from"),
        ("On the Pi", "lsblk", "needs a USB stick"),
        ("On the Pi", f"sudo {PI_PROGRAM} export", WALKED),
        ("On the Pi", f"sudo {PI_PROGRAM} status", WALKED),
        ("In Cloud Shell", "read -rsp", "writes a Google Sheet as the owner's own login; pvs6-cloud replay is "
                                        "walked in docs/pi-only.md and tested in tests/test_replay.py"),
    ],
    GOOGLE_SETUP: [
        ("In Cloud Shell", "unzip -q pvs6-sentinel.zip", "the zip comes through the browser's Upload menu"),
        ("In Cloud Shell", "cp deploy/cloud.example.toml", "the deploy tests' own cloud.toml is deployed instead; "
                                                           "tests/test_documented_configs.py loads the example"),
        ("In Cloud Shell", "./deploy.sh --dry-run", "about 2 minutes; tests/test_deploy_rerun.py runs the dry run"),
        ("In Cloud Shell", "./deploy.sh", WALKED),
        ("In Cloud Shell", "python3 -m venv ~/pvs6-venv", WALKED),
        ("In Cloud Shell", "gcloud auth application-default login", "needs a Google login"),
    ],
    PI_ONLY: [
        ("On the Pi", "sudo python3 -m venv /opt/pvs6-cloud", WALKED),
        ("On the Pi", "sudo sh -c 'umask 077;", WALKED),
        ("On the Pi", "sudo systemctl daemon-reload", WALKED),
        ("On the Pi", "sudo systemctl start pvs6-edge.timer", "no systemd here: the walk runs the edge by hand, and "
                                                              "tests/test_edge_install.py checks the timer unit"),
        ("On the Pi", "sudo sh -c 'set -a; . /etc/pvs6-sentinel/cloud.env; /opt/pvs6-cloud/bin/pvs6-cloud selftest",
         WALKED),
        ("On the Pi", f"sudo {PI_PROGRAM} run --now", WALKED),
        ("On the Pi", "sudo sh -c 'set -a; . /etc/pvs6-sentinel/cloud.env; /opt/pvs6-cloud/bin/pvs6-cloud replay",
         WALKED),
    ],
}


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


def _fenced(path: Path, kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.parametrize("doc", list(PLAN), ids=lambda p: p.name)
def test_every_command_block_is_walked_or_skipped_for_a_reason(doc: Path) -> None:
    found = [(b.place, b.commands[0]) for b in command_blocks(doc)]
    planned = [(place, start) for place, start, _ in PLAN[doc]]
    unclassified = [f"{place}: {first}" for (place, first), plan in zip(found, planned + [("", "")] * len(found),
                                                                        strict=False)
                    if place != plan[0] or not first.startswith(plan[1])]
    assert not unclassified and len(found) == len(planned), (
        f"{doc.name}: blocks not in this test's PLAN as they are (place, first command): {unclassified or found}")
    assert all(how == WALKED or len(how) > 10 for *_, how in PLAN[doc]), "every skipped block says why"


class DocWalk:
    """A document's walked blocks, handed out in document order; the walk must take every one of them."""

    def __init__(self, doc: Path) -> None:
        self.doc = doc
        self.blocks = [b for b, (*_, how) in zip(command_blocks(doc), PLAN[doc], strict=True) if how == WALKED]
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
        _dependencies_from_this_environment(self.path("/opt/pvs6-sentinel/venv"), "pvs6_edge")
        return installed

    def csv_rows(self, pi_path: str) -> list[dict[str, str]]:
        with self.path(pi_path).open(newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))


def _dependencies_from_this_environment(venv: Path, package: str) -> None:
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


def _point_at_the_simulator(config: Path, pvs_url: str) -> None:
    """The [pvs] table names the PVS6's technician port; here the simulator takes its place."""
    text, count = re.subn(r'^url = "http://172\.27\.153\.1[^"]*"', f'url = "{pvs_url}"', config.read_text(),
                          count=1, flags=re.M)
    assert count == 1, "the [pvs] table names the PVS6's address for the simulator to take"
    config.write_text(text)


def test_fresh_pi_to_the_first_reading_in_the_sheet(tmp_path: Path, pi_python: Path,
        first_deploy: tuple[Deployer, subprocess.CompletedProcess[str]]) -> None:
    readme, google = DocWalk(README), DocWalk(GOOGLE_SETUP)
    # In Cloud Shell: deploy.sh, then the line it printed for the Pi's secret.
    # (deploy.sh's run on a fresh project is the session's first_deploy, copied: the deploy tests check that run)
    assert google.next("./deploy.sh").commands == ("./deploy.sh",)
    cloud_shell = Deployer.copy_of(first_deploy[0], tmp_path / "cloud-shell")
    deployed = first_deploy[1]
    calls = first_deploy[0].first_run_calls
    assert f"with {calls} `gcloud` calls" in README.read_text(), f"README's setup times: deploy.sh made {calls} calls"
    fetch_line = next(line.strip() for line in deployed.stdout.splitlines() if f"sudo tee {PI_SECRET}" in line)
    assert "the `echo \" echo '$(gcloud secrets versions access" in README.read_text(), "step 3 runs this line"
    pasted = subprocess.run(["bash", "-c", fetch_line], env=cloud_shell.env(), capture_output=True, text=True,
                            timeout=60, check=True).stdout.strip("\n")
    cloud_secret = cloud_shell.secret("pvs6-secret-home").decode()

    # On the Pi: cd ~/pvs6-sentinel; sudo bash edge/install.sh (no systemctl on a test machine).
    pi = Pi(tmp_path / "pi", pi_python)
    installed = pi.install_edge(tmp_path, readme.next("cd ~/pvs6-sentinel"))
    assert "timer" in installed.stdout and "Installed." in installed.stdout

    # On the Pi: paste the line from Cloud Shell. It begins with a space (kept out of the shell's history).
    assert pasted.startswith(" echo '") and pasted.count("\n") == 0, pasted
    pi.run(pasted.strip())
    assert pi.path(PI_SECRET).read_text() == cloud_secret + "\n"

    # On the Pi: sudo nano edge.toml, the [cloud] table replaced by the lines deploy.sh printed.
    assert readme.next("sudo nano").commands == (f"sudo nano {PI_CONFIG}",)
    config = pi.path(PI_CONFIG)
    table = _cloud_table(deployed.stdout).replace(PI_SECRET, str(pi.path(PI_SECRET)))
    printed_url = re.search(r'url = "([^"]+)"', table)
    assert printed_url and printed_url.group(1).startswith("https://"), table
    runtime = Runtime(_with_secret(local_config(tmp_path / "function"), cloud_secret))
    down = f"http://127.0.0.1:{free_port()}/"  # the function does not answer yet (Google still building, say)
    config.write_text(_replace_cloud_table(config.read_text(), table.replace(printed_url.group(1), down)))

    with run_simulator(SimConfig(api="dl_cgi")) as pvs:
        _point_at_the_simulator(config, pvs.url)
        # On the Pi: step 5, Check, while the cloud does not answer: the reading waits in the spool.
        check = readme.next(f"sudo {PI_PROGRAM} run --now")
        assert check.commands == (f"sudo {PI_PROGRAM} run --now", f"sudo {PI_PROGRAM} status")
        pi.run(check.commands[0], check=False)
        waiting = pi.run(check.commands[1])
        assert "spool:              1 item(s)" in waiting.stdout, waiting.stdout + waiting.stderr
        assert re.search(r"next upload try: .* \(after 1 failure\(s\)\)", waiting.stdout), waiting.stdout

        # Troubleshooting's "next upload try": the cause fixed, `pvs6-edge upload --now` sends it at once.
        with serve_function(runtime) as function_url:
            config.write_text(config.read_text().replace(down, function_url))
            upload_now = _troubleshooting_command("next upload try:")
            assert upload_now == f"sudo {PI_PROGRAM} upload --now", upload_now
            sent = pi.run(upload_now)
            assert "HTTP 401" not in sent.stdout + sent.stderr

            # In Cloud Shell: step 5's ./deploy.sh --selftest, installed once as google-setup.md step 7 says.
            _cloud_shell_selftest(tmp_path, pi_python, first_deploy, google.next("python3 -m venv ~/pvs6-venv"),
                                  function_url)
            google.done()

    readings = list(csv.DictReader((tmp_path / "function" / "sheet" / "Readings.csv").open(encoding="utf-8")))
    assert len(readings) == 1, "the Pi's first reading is in the sheet"

    # On the Pi: your own copy of the readings, copied off and exported for a stretch of dates.
    pi.run(readme.next("sudo cp -r /var/lib/pvs6-sentinel/history"))
    copied = [p.name for p in (pi.home / "pvs6-history").iterdir()]
    assert f"{datetime.now(UTC):%Y-%m}.csv" in copied, copied
    export = readme.next(f"sudo {PI_PROGRAM} export")
    year = str(datetime.now(UTC).year)
    pi.run(replace(export, commands=tuple(c.replace("2026", year) for c in export.commands)))
    exported = list(csv.reader((pi.home / f"readings-{year}.csv").open(encoding="utf-8")))
    assert len(exported) == 2, f"the export holds its header and the one reading: {exported}"

    # Troubleshooting starts with the status: a healthy Pi, nothing waiting.
    status = pi.run(readme.next(f"sudo {PI_PROGRAM} status"))
    assert "spool:              0 item(s)" in status.stdout, status.stdout
    assert "last upload OK:" in status.stdout, status.stdout
    assert re.search(r"(?m)^last upload error:  \S+ \(over: an upload worked since\)  cannot reach the cloud",
                     status.stdout), "the error before the fix is shown as over"
    readme.done()


def _cloud_shell_selftest(tmp_path: Path, pi_python: Path, first_deploy: tuple[Deployer, object], block: Block,
                          ingest_url: str) -> None:
    """google-setup.md step 7's block in a Cloud Shell home: the project installed into ``~/pvs6-venv`` (from the
    project's wheel, its dependencies from this environment), then ``./deploy.sh --selftest``, which must find
    and run that installed ``pvs6-cloud``: no other is on PATH. The deployed settings name a loopback Sheets
    stand-in and SMTP server; pvs6-ingest is the function the Pi just uploaded to."""
    pip_line = "~/pvs6-venv/bin/pip install -q '.[cloud]'"
    assert block.commands == ("python3 -m venv ~/pvs6-venv", pip_line, "./deploy.sh --selftest"), block
    home = tmp_path / "cloud-shell-home"
    home.mkdir()
    wheel = build_project_wheel(tmp_path / "project-wheel")
    path = f"{pi_python.parent}:/usr/bin:/bin"
    for line in (block.commands[0], pip_line.replace("bin/pip install -q '.[cloud]'",
                                                     f"bin/python -m pip install -q --no-index --no-deps {wheel}")):
        subprocess.run(["bash", "-c", line], env={"HOME": str(home), "PATH": path}, check=True, timeout=300,
                       capture_output=True)
    _dependencies_from_this_environment(home / "pvs6-venv", "pvs6_cloud")
    with (SheetsFake() as sheets, SmtpServer(login=("family@example.com", "abcdefghijklmnop")) as smtp,
          serve_openmeteo() as weather):
        sid = sheets.add_spreadsheet("Home")
        (tmp_path / "cloud-shell-selftest").mkdir()
        settings = SELFTEST_TOML.format(sid=sid, smtp_port=smtp.port, sheets=sheets.endpoint)
        assert "[weather]\nenabled = false\n" in settings
        settings = settings.replace("[weather]\nenabled = false\n", f'[weather]\nforecast_url = '
                                    f'"{weather.forecast_url}"\narchive_url = "{weather.archive_url}"\n')
        cloud_shell = deployed_like(first_deploy, tmp_path / "cloud-shell-selftest", settings)
        set_state(cloud_shell, lambda s: s["functions"]["pvs6-ingest"].update(uri=ingest_url))
        proc = cloud_shell.run("--selftest", PATH=f"{cloud_shell.bin}:{path}", HOME=str(home))
    assert f"{home}/pvs6-venv/bin/pvs6-cloud selftest" in proc.stdout, proc.stdout
    assert "accepts site home's upload secret" in proc.stdout and "Verdict: everything works." in proc.stdout
    assert cloud_shell.mutating() == [], "the self-test deploys and changes nothing"
    assert [m["Subject"] for m in smtp.messages] == ["PVS6 Sentinel is connected: Test house"]
    sample = next(b for b in _fenced(GOOGLE_SETUP, "text") if b.startswith("== Self-test of what is deployed"))
    assert _alike(proc.stdout) == _alike(sample), "google-setup.md step 7 shows what deploy.sh --selftest prints"


def _alike(output: str) -> list[str]:
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


def _troubleshooting_command(label: str) -> str:
    """The command Troubleshooting's entry for a status line gives (in backticks, after "Once you fixed")."""
    text = README.read_text(encoding="utf-8")
    entry = text[text.index(f"**`{label}"):]
    entry = entry[: entry.index("\n- **")]
    return re.sub(r"\s+", " ", re.findall(r"`(sudo [^`]+)`", entry)[-1])


def _troubleshooting_status(readme: DocWalk) -> Block:
    block = readme.blocks[-1]
    assert block.commands == (f"sudo {PI_PROGRAM} status",), "Troubleshooting starts with the Pi's status"
    return block


def _with_secret(config: CloudConfig, secret: str) -> CloudConfig:
    """The local function config, holding the secret deploy.sh made (as Secret Manager would hand it over)."""
    return replace(config, sites={name: replace(site, secret=secret) for name, site in config.sites.items()})


def _selftest_sample() -> str:
    return next(b for b in _fenced(PI_ONLY, "text") if b.startswith("PVS6 Sentinel self-test"))


def _as_in_the_guide(output: str, pi: Pi) -> list[str]:
    """The self-test's lines with what differs from one run to the next (where, when, which port) made alike."""
    output = output.replace(str(pi.root), "")
    output = re.sub(r"SMTP 127\.0\.0\.1:\d+", "SMTP smtp.gmail.com:587", output)
    output = re.sub(r"\d+ hours of weather for \d{4}-\d{2}-\d{2}", "HOURS of weather for DATE", output)
    return [line.rstrip() for line in output.strip().splitlines()]


@contextmanager
def _service(pi: Pi, unit: str, port: int) -> Iterator[str]:
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


def test_everything_on_the_pi_from_the_install_to_the_first_reading(tmp_path: Path, pi_python: Path) -> None:
    with ExitStack() as stack:
        _walk_everything_on_the_pi(tmp_path, pi_python, stack)


def _walk_everything_on_the_pi(tmp_path: Path, pi_python: Path, stack: ExitStack) -> None:
    readme, guide = DocWalk(README), DocWalk(PI_ONLY)
    pi = Pi(tmp_path / "pi", pi_python)
    # README steps 2 to 4, as the guide says: the edge installed, its timer not started (no config yet).
    installed = pi.install_edge(tmp_path, readme.next("cd ~/pvs6-sentinel"))
    assert "Installed." in installed.stdout

    # 1. Install the cloud part (the project's wheel stands for "$HOME/pvs6-sentinel[cloud]"; the template venv
    #    has pip as a module, so `bin/pip` is `bin/python -m pip`).
    install = guide.next("sudo python3 -m venv /opt/pvs6-cloud")
    pip_line = 'sudo /opt/pvs6-cloud/bin/pip install "$HOME/pvs6-sentinel[cloud]"'
    assert install.commands == ("sudo python3 -m venv /opt/pvs6-cloud", pip_line), install
    wheel = build_project_wheel(tmp_path / "project-wheel")
    pi.run(replace(install, commands=(install.commands[0], pip_line.replace(
        'bin/pip install "$HOME/pvs6-sentinel[cloud]"', f"bin/python -m pip install -q --no-index --no-deps {wheel}"))))
    _dependencies_from_this_environment(pi.path("/opt/pvs6-cloud"), "pvs6_cloud")

    # 2. Configure it: cloud.toml as shown (Gmail becomes a loopback SMTP server, the weather is off), the one
    #    command that makes the secret for both files, and the quoted app password line.
    cloud_toml = next(b for b in _fenced(PI_ONLY, "toml") if "[sites.home]" in b)
    weather = stack.enter_context(serve_openmeteo())
    smtp_port = free_port()
    local = (pi.command(cloud_toml).replace('smtp_host = "smtp.gmail.com"', 'smtp_host = "127.0.0.1"')
             .replace("smtp_port = 587", f"smtp_port = {smtp_port}\nstarttls = false")
             + f'\n[weather]\nforecast_url = "{weather.forecast_url}"\narchive_url = "{weather.archive_url}"\n')
    assert "127.0.0.1" in local and str(pi.path("/var/lib/pvs6-sentinel/sheet")) in local, local
    pi.path("/etc/pvs6-sentinel/cloud.toml").write_text(local)
    pi.run(guide.next("sudo sh -c 'umask 077;"))
    password_line = next(b for b in _fenced(PI_ONLY, "text") if b.startswith("PVS6_SMTP_PASSWORD="))
    with pi.path("/etc/pvs6-sentinel/cloud.env").open("a") as env_file:
        env_file.write(password_line)
    secret = pi.path(PI_SECRET).read_text().strip()
    assert len(secret) == 64

    # 3. The service (its unit run by hand), and the edge's [cloud] table pointed at it.
    unit = next(b for b in _fenced(PI_ONLY, "ini") if "ExecStart=" in b)
    assert guide.next("sudo systemctl daemon-reload").commands[0].endswith("enable --now pvs6-cloud")
    port = free_port()
    edge_cloud = next(b for b in _fenced(PI_ONLY, "toml") if b.startswith("[cloud]"))
    assert 'url = "http://127.0.0.1:8080/"' in edge_cloud
    config = pi.path(PI_CONFIG)
    config.write_text(_replace_cloud_table(config.read_text(), pi.command(edge_cloud).replace(":8080/", f":{port}/")))

    # Only a Gmail host has the spaces taken out of the app password (tests/test_documented_configs.py checks
    # that for this guide's lines); the loopback server standing in for Gmail gets it as typed.
    with (SmtpServer(port=smtp_port, login=("you@gmail.com", "abcd efgh ijkl mnop")) as smtp,
          run_simulator(SimConfig(api="dl_cgi")) as pvs, _service(pi, unit, port)):
        _point_at_the_simulator(config, pvs.url)
        # 5. Check: the self-test as written (it mails "PVS6 Sentinel is connected"), then the first reading.
        selftest = pi.run(guide.next("sudo sh -c 'set -a; . /etc/pvs6-sentinel/cloud.env; "
                                     "/opt/pvs6-cloud/bin/pvs6-cloud selftest"))
        assert [m["Subject"] for m in smtp.messages] == ["PVS6 Sentinel is connected: Our house"], selftest.stdout
        assert _as_in_the_guide(selftest.stdout, pi) == _as_in_the_guide(_selftest_sample(), pi), selftest.stdout
        first = pi.run(guide.next(f"sudo {PI_PROGRAM} run --now"))
        assert "HTTP 401" not in first.stdout + first.stderr
        status = pi.run(_troubleshooting_status(readme))
        assert "spool:              0 item(s)" in status.stdout, status.stdout
        readings = pi.csv_rows("/var/lib/pvs6-sentinel/sheet/Readings.csv")
        assert len(readings) == 1, "the Pi's first reading is in its CSV sheet, with its panel columns"

        # 4. The cron lines, as cron runs them (/bin/sh, its bare PATH): the watchdog sees a Pi that just called
        #    in and mails nothing; the nightly rollup runs (it totals the days before today's).
        cron = {line.split()[-3]: line.split(maxsplit=5)[5] for line in _fenced(PI_ONLY, "cron")[0].splitlines()}
        assert set(cron) == {"watchdog", "rollup", "summary"}, cron
        for job in ("watchdog", "rollup"):
            ran = subprocess.run(["sh", "-c", pi.command(cron[job])], capture_output=True, text=True, timeout=120,
                                 env={"HOME": str(pi.home), "PATH": "/usr/bin:/bin"})
            assert ran.returncode == 0, f"{job}: {ran.stdout}{ran.stderr}"
        assert len(smtp.messages) == 1, [m["Subject"] for m in smtp.messages]

    # Old files from before: the Pi's own raw archive stands for the folder of old JSON files; nothing is
    # counted twice, so the one reading stays one row.
    replay = guide.next("sudo sh -c 'set -a; . /etc/pvs6-sentinel/cloud.env; /opt/pvs6-cloud/bin/pvs6-cloud replay")
    archive = pi.path("/var/lib/pvs6-sentinel/archive")
    assert any(archive.rglob("*.json*")), "the edge archived the PVS6's answer"
    pi.run(replace(replay, commands=tuple(c.replace("/home/yourname/PVS6outputJSON", "/var/lib/pvs6-sentinel/archive")
                                          for c in replay.commands)))
    assert len(pi.csv_rows("/var/lib/pvs6-sentinel/sheet/Readings.csv")) == 1
    assert tomllib.loads(local)["sites"]["home"]["secret_env"] == "PVS6_SECRET_HOME"
    guide.done()
