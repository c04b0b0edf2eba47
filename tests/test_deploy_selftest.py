"""deploy.sh --selftest: it checks what is deployed (settings, secrets, jobs, the real ingest door and the real
pvs6-cloud selftest) and deploys nothing; without pvs6-cloud installed it says how to install it; its dry run
sends nothing.

The harness is tests/support/deployer.py, the shared projects are fixtures in tests/conftest.py; the stand-in
keeps what each run "created" in a temp folder, so a second run sees the first run's resources exactly as
it would in a real project.
"""

from __future__ import annotations

import base64
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.deployer import CLOUD_TOML, SELFTEST_TOML, Deployer, deployed_like, printed_commands, set_state

# Each deploy.sh run makes ~60 fake gcloud calls (one Python start each): seconds per run.
pytestmark = pytest.mark.slow


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_selftest_checks_what_is_deployed_without_deploying_and_gives_a_verdict(
        fresh: tuple[Deployer, Any], tmp_path: Path) -> None:
    """The deployed settings and secrets, the real ingest door, the real pvs6-cloud selftest: nothing deployed."""
    from pvs6_cloud.infra.config import parse_config
    from pvs6_cloud.runtime import Runtime
    from tests.support.loopback import serve_function
    from tests.support.sheets_fake import SheetsFake
    from tests.support.smtp import SmtpServer

    with SheetsFake() as sheets, SmtpServer(login=("family@example.com", "abcdefghijklmnop")) as smtp:
        sid = sheets.add_spreadsheet("Home")
        toml = SELFTEST_TOML.format(sid=sid, smtp_port=smtp.port, sheets=sheets.endpoint)
        deployer = deployed_like(fresh, tmp_path, toml)
        secret = deployer.secret("pvs6-secret-home").decode()
        deployed = deployer.secret("pvs6-config").decode()
        import tomllib

        config = parse_config(tomllib.loads(deployed), env={"PVS6_SECRET_HOME": secret,
                                                            "PVS6_SMTP_PASSWORD": "abcdefghijklmnop"},
                              base_dir=tmp_path)
        with serve_function(Runtime(config)) as url:
            set_state(deployer, lambda s: s["functions"]["pvs6-ingest"].update(uri=url))
            proc = deployer.run("--selftest")
            assert deployer.mutating() == [], "the self-test deploys and changes nothing"
            assert "accepts site home's upload secret" in proc.stdout
            assert "Verdict: everything works." in proc.stdout
            assert [m["Subject"] for m in smtp.messages] == ["PVS6 Sentinel is connected: Test house"]
            assert sheets.values(sid, "_selftest")[1:] == []

            # Broken: the function holds another secret than Secret Manager, a job was deleted, and the local
            # settings changed since the deploy. All three are named, and still nothing is deployed.
            set_state(deployer, lambda s: s["secrets"]["pvs6-secret-home"]["versions"].append(
                base64.b64encode(b"a-newer-secret-the-function-does-not-have").decode()))
            set_state(deployer, lambda s: s["jobs"].pop("pvs6-watchdog"))
            deployer.config.write_text(toml.replace("Test house", "Our house"))
            proc = deployer.run("--selftest", check=False)
    assert proc.returncode == 1
    assert deployer.mutating() == []
    verdict = proc.stdout[proc.stdout.index("Verdict:"):]
    assert verdict.startswith("Verdict: 3 problem(s) found")
    assert "cloud.toml has changes that are not deployed yet: run ./deploy.sh" in verdict
    assert "the scheduled job pvs6-watchdog is missing: run ./deploy.sh" in verdict
    assert "refused site home's upload secret from Secret Manager (HTTP 401: bad signature)" in verdict
    assert "a-newer-secret" not in proc.stdout + proc.stderr


def test_selftest_without_pvs6_cloud_says_how_to_install_it_before_any_gcloud_call(
        fresh: tuple[Deployer, Any], tmp_path: Path) -> None:
    deployer = deployed_like(fresh, tmp_path, CLOUD_TOML)
    (deployer.bin / "python3").symlink_to("/usr/bin/python3" if Path("/usr/bin/python3").exists()
                                          else shutil.which("python3") or sys.executable)
    home = tmp_path / "home"
    home.mkdir()
    proc = deployer.run("--selftest", check=False, PATH=f"{deployer.bin}{os.pathsep}/usr/bin{os.pathsep}/bin",
                        HOME=str(home))
    assert proc.returncode == 1
    assert "python3 -m venv ~/pvs6-venv" in proc.stderr
    assert "~/pvs6-venv/bin/pip install -q '.[cloud]'" in proc.stderr
    assert deployer.last_calls == []


def test_dry_run_selftest_looks_but_sends_nothing(fresh: tuple[Deployer, Any], tmp_path: Path) -> None:
    deployer = deployed_like(fresh, tmp_path, CLOUD_TOML)
    proc = deployer.run("--dry-run", "--selftest")
    assert deployer.mutating() == []
    assert "function pvs6-ingest is deployed" in proc.stdout
    assert "scheduled job pvs6-watchdog exists" in proc.stdout
    assert [p for p in printed_commands(proc.stdout) if p[0].endswith("pvs6-cloud") and p[1] == "selftest"]
    assert not [c for c in deployer.last_calls if c.words[:3] == ["secrets", "versions", "access"]
                and c.flags.get("secret") != "pvs6-config"], "no secret value is read in a dry run"
