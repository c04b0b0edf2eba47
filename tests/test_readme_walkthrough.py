"""The setup documents' command blocks, run in order as a homeowner would, as far as a machine without a Pi can.

Every ``sh``/``bash`` block of README.md, docs/google-setup.md and docs/pi-only.md is in ``PLAN``: walked here,
or skipped with the reason (it needs a Pi, a USB stick, a browser or Google itself, or another test runs it). A new
block, a moved one or one that names another place fails ``test_every_command_block_is_walked_or_skipped``. The
machinery (the blocks, their walk in order, the Pi as a temporary root) is tests/support/docwalk.py.

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
import re
import subprocess
import tomllib
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pvs6_cloud.infra.config import CloudConfig
from pvs6_cloud.runtime import Runtime
from pvs6_sim.config import SimConfig
from pvs6_sim.server import run_simulator
from tests.support.cloud import local_config
from tests.support.deployer import SELFTEST_TOML, Deployer, deployed_like, set_state
from tests.support.docwalk import (
    GOOGLE_SETUP,
    PI_CONFIG,
    PI_ONLY,
    PI_PROGRAM,
    PI_SECRET,
    README,
    WALKED,
    Block,
    DocWalk,
    Pi,
    Plan,
    alike,
    as_in_the_guide,
    cloud_table,
    command_blocks,
    dependencies_from_this_environment,
    fenced,
    point_at_the_simulator,
    replace_cloud_table,
    service,
    troubleshooting_command,
)
from tests.support.edge_wheel import build_project_wheel
from tests.support.loopback import serve_function
from tests.support.openmeteo_server import serve_openmeteo
from tests.support.ports import free_port
from tests.support.sheets_fake import SheetsFake
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.slow

# Each document's command blocks in order: (place, how the block's first command begins, WALKED or why not).
PLAN: dict[Path, Plan] = {
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


def test_fresh_pi_to_the_first_reading_in_the_sheet(tmp_path: Path, pi_python: Path,
        first_deploy: tuple[Deployer, subprocess.CompletedProcess[str]]) -> None:
    readme, google = DocWalk(README, PLAN[README]), DocWalk(GOOGLE_SETUP, PLAN[GOOGLE_SETUP])
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
    table = cloud_table(deployed.stdout).replace(PI_SECRET, str(pi.path(PI_SECRET)))
    printed_url = re.search(r'url = "([^"]+)"', table)
    assert printed_url and printed_url.group(1).startswith("https://"), table
    runtime = Runtime(_with_secret(local_config(tmp_path / "function"), cloud_secret))
    down = f"http://127.0.0.1:{free_port()}/"  # the function does not answer yet (Google still building, say)
    config.write_text(replace_cloud_table(config.read_text(), table.replace(printed_url.group(1), down)))

    with run_simulator(SimConfig(api="dl_cgi")) as pvs:
        point_at_the_simulator(config, pvs.url)
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
            upload_now = troubleshooting_command("next upload try:")
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
    dependencies_from_this_environment(home / "pvs6-venv", "pvs6_cloud")
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
    sample = next(b for b in fenced(GOOGLE_SETUP, "text") if b.startswith("== Self-test of what is deployed"))
    assert alike(proc.stdout) == alike(sample), "google-setup.md step 7 shows what deploy.sh --selftest prints"


def _troubleshooting_status(readme: DocWalk) -> Block:
    block = readme.blocks[-1]
    assert block.commands == (f"sudo {PI_PROGRAM} status",), "Troubleshooting starts with the Pi's status"
    return block


def _with_secret(config: CloudConfig, secret: str) -> CloudConfig:
    """The local function config, holding the secret deploy.sh made (as Secret Manager would hand it over)."""
    return replace(config, sites={name: replace(site, secret=secret) for name, site in config.sites.items()})


def _selftest_sample() -> str:
    return next(b for b in fenced(PI_ONLY, "text") if b.startswith("PVS6 Sentinel self-test"))


def test_everything_on_the_pi_from_the_install_to_the_first_reading(tmp_path: Path, pi_python: Path) -> None:
    with ExitStack() as stack:
        _walk_everything_on_the_pi(tmp_path, pi_python, stack)


def _walk_everything_on_the_pi(tmp_path: Path, pi_python: Path, stack: ExitStack) -> None:
    readme, guide = DocWalk(README, PLAN[README]), DocWalk(PI_ONLY, PLAN[PI_ONLY])
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
    dependencies_from_this_environment(pi.path("/opt/pvs6-cloud"), "pvs6_cloud")

    # 2. Configure it: cloud.toml as shown (Gmail becomes a loopback SMTP server, the weather is off), the one
    #    command that makes the secret for both files, and the quoted app password line.
    cloud_toml = next(b for b in fenced(PI_ONLY, "toml") if "[sites.home]" in b)
    weather = stack.enter_context(serve_openmeteo())
    smtp_port = free_port()
    local = (pi.command(cloud_toml).replace('smtp_host = "smtp.gmail.com"', 'smtp_host = "127.0.0.1"')
             .replace("smtp_port = 587", f"smtp_port = {smtp_port}\nstarttls = false")
             + f'\n[weather]\nforecast_url = "{weather.forecast_url}"\narchive_url = "{weather.archive_url}"\n')
    assert "127.0.0.1" in local and str(pi.path("/var/lib/pvs6-sentinel/sheet")) in local, local
    pi.path("/etc/pvs6-sentinel/cloud.toml").write_text(local)
    pi.run(guide.next("sudo sh -c 'umask 077;"))
    password_line = next(b for b in fenced(PI_ONLY, "text") if b.startswith("PVS6_SMTP_PASSWORD="))
    with pi.path("/etc/pvs6-sentinel/cloud.env").open("a") as env_file:
        env_file.write(password_line)
    secret = pi.path(PI_SECRET).read_text().strip()
    assert len(secret) == 64

    # 3. The service (its unit run by hand), and the edge's [cloud] table pointed at it.
    unit = next(b for b in fenced(PI_ONLY, "ini") if "ExecStart=" in b)
    assert guide.next("sudo systemctl daemon-reload").commands[0].endswith("enable --now pvs6-cloud")
    port = free_port()
    edge_cloud = next(b for b in fenced(PI_ONLY, "toml") if b.startswith("[cloud]"))
    assert 'url = "http://127.0.0.1:8080/"' in edge_cloud
    config = pi.path(PI_CONFIG)
    config.write_text(replace_cloud_table(config.read_text(), pi.command(edge_cloud).replace(":8080/", f":{port}/")))

    # Only a Gmail host has the spaces taken out of the app password (tests/test_documented_configs.py checks
    # that for this guide's lines); the loopback server standing in for Gmail gets it as typed.
    with (SmtpServer(port=smtp_port, login=("you@gmail.com", "abcd efgh ijkl mnop")) as smtp,
          run_simulator(SimConfig(api="dl_cgi")) as pvs, service(pi, unit, port)):
        point_at_the_simulator(config, pvs.url)
        # 5. Check: the self-test as written (it mails "PVS6 Sentinel is connected"), then the first reading.
        selftest = pi.run(guide.next("sudo sh -c 'set -a; . /etc/pvs6-sentinel/cloud.env; "
                                     "/opt/pvs6-cloud/bin/pvs6-cloud selftest"))
        assert [m["Subject"] for m in smtp.messages] == ["PVS6 Sentinel is connected: Our house"], selftest.stdout
        assert as_in_the_guide(selftest.stdout, pi) == as_in_the_guide(_selftest_sample(), pi), selftest.stdout
        first = pi.run(guide.next(f"sudo {PI_PROGRAM} run --now"))
        assert "HTTP 401" not in first.stdout + first.stderr
        status = pi.run(_troubleshooting_status(readme))
        assert "spool:              0 item(s)" in status.stdout, status.stdout
        readings = pi.csv_rows("/var/lib/pvs6-sentinel/sheet/Readings.csv")
        assert len(readings) == 1, "the Pi's first reading is in its CSV sheet, with its panel columns"

        # 4. The cron lines, as cron runs them (/bin/sh, its bare PATH): the watchdog sees a Pi that just called
        #    in and mails nothing; the nightly rollup runs (it totals the days before today's).
        cron = {line.split()[-3]: line.split(maxsplit=5)[5] for line in fenced(PI_ONLY, "cron")[0].splitlines()}
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
