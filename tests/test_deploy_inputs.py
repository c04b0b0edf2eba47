"""What deploy.sh reads and what it refuses before changing anything: the deploy config file, the
cloud.toml it deploys (an inline secret, a CSV folder, a custom scheduler audience, mail_to's two spellings),
the mail password and the alerts switch.

The harness is tests/support/deployer.py, the shared projects are fixtures in tests/conftest.py; the stand-in
keeps what each run "created" in a temp folder, so a second run sees the first run's resources exactly as
it would in a real project.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support.deployer import CLOUD_TOML, DEPLOY, PROJECT, REPO, SCHEDULER_SA, SMTP_PASSWORD, Deployer

# Each deploy.sh run makes ~60 fake gcloud calls (one Python start each): seconds per run.
pytestmark = pytest.mark.slow


def test_a_config_with_an_inline_secret_is_refused_before_any_change(deployer: Deployer) -> None:
    deployer.config.write_text(CLOUD_TOML.replace('secret_env = "PVS6_SECRET_HOME"', 'secret = "inline"'))
    proc = deployer.run(check=False)
    assert proc.returncode != 0
    assert "secret_env" in proc.stderr
    assert deployer.mutating() == []


def test_a_config_with_a_csv_folder_only_is_refused(deployer: Deployer) -> None:
    deployer.config.write_text(CLOUD_TOML.replace('spreadsheet_id = "1SpreadsheetIdForTests"', 'local_dir = "x"'))
    proc = deployer.run(check=False)
    assert proc.returncode != 0
    assert "spreadsheet_id" in proc.stderr
    assert deployer.mutating() == []


def test_without_a_mail_password_and_no_terminal_it_stops_before_changing_anything(deployer: Deployer) -> None:
    proc = deployer.run(check=False, PVS6_SMTP_PASSWORD="")
    assert proc.returncode == 1
    assert "PVS6_SMTP_PASSWORD" in proc.stderr
    assert deployer.mutating() == []


def test_a_scheduler_table_with_a_custom_audience_is_refused(tmp_path: Path) -> None:
    """An audience in the config would make the function refuse every job's token (they are for its URL)."""
    config = tmp_path / "cloud.toml"
    out = tmp_path / "out.toml"
    helper = [sys.executable, str(REPO / "deploy" / "deploy_config.py"), "render", str(config), str(out),
              SCHEDULER_SA]
    config.write_text(CLOUD_TOML + f'\n[scheduler]\naudience = "custom"\nservice_account = "{SCHEDULER_SA}"\n')
    proc = subprocess.run(helper, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "delete the [scheduler] table" in proc.stderr
    assert not out.exists()
    config.write_text(CLOUD_TOML + f'\n[scheduler]\nservice_account = "{SCHEDULER_SA}"\n')
    subprocess.run(helper, capture_output=True, text=True, timeout=60, check=True)
    assert tomllib.loads(out.read_text())["scheduler"] == {"service_account": SCHEDULER_SA}


def test_mail_to_without_brackets_still_names_the_owner(tmp_path: Path) -> None:
    config = tmp_path / "cloud.toml"
    config.write_text(CLOUD_TOML.replace('mail_to = ["family@example.com"]', 'mail_to = "family@example.com"'))
    proc = subprocess.run([sys.executable, str(REPO / "deploy" / "deploy_config.py"), "facts", str(config)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert [line for line in proc.stdout.splitlines() if line.startswith("mail_to")] == [
        "mail_to\tfamily@example.com"]


def test_deploy_config_file_supplies_the_inputs(deployer: Deployer) -> None:
    settings = deployer.tmp / "deploy.env"
    settings.write_text(f"# comment\nPVS6_PROJECT_ID={PROJECT}\nPVS6_REGION=europe-west1\n"
                        "PVS6_CLOUD_CONFIG=cloud.toml\nPVS6_TIME_ZONE=Europe/Paris\n"
                        "PVS6_MONITORING_ALERTS=yes\n")
    proc = subprocess.run(["bash", str(DEPLOY), "--deploy-config", str(settings)],
                          env=deployer.env(PVS6_SMTP_PASSWORD=SMTP_PASSWORD), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120, cwd=deployer.tmp)
    assert proc.returncode == 0, proc.stderr
    state = deployer.state()
    assert {flags["location"] for flags in state["jobs"].values()} == {"europe-west1"}
    assert {flags["time-zone"] for flags in state["jobs"].values()} == {"Europe/Paris"}
    # no --owner-email: Google's alerts go to the first site's mail_to
    assert [c["email"] for c in state["channels"]] == ["family@example.com"]


def test_the_deploy_config_switch_for_alerts_takes_only_yes_or_no(deployer: Deployer) -> None:
    proc = deployer.run(check=False, PVS6_MONITORING_ALERTS="maybe")
    assert proc.returncode == 1 and "write yes" in proc.stderr
    assert deployer.mutating() == []
