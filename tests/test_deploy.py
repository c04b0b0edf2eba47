"""deploy.sh on a fresh project against a fake gcloud: the full command list in order, the functions, the
scheduler jobs, the build account, the image cleanup, what it prints for the Pi, and shellcheck.

The other deploy tests: test_deploy_rerun.py (second runs, new secret versions, dry runs, no leaked secret),
test_deploy_alerts.py (Google's alert emails), test_deploy_inputs.py (what deploy.sh reads and refuses) and
test_deploy_selftest.py (--selftest). The harness is tests/support/deployer.py, the shared projects are
fixtures in tests/conftest.py; the stand-in keeps what each run "created" in a temp folder, so a second run sees
the first run's resources exactly as it would in a real project.
"""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from typing import Any

import pytest

from pvs6_cloud.infra.config import NO_UPLOAD_SECRETS_ENV
from pvs6_cloud.infra.oidc import PRIVATE_ENV
from tests.support.deployer import (
    BUILD_SA,
    DEPLOY,
    FRESH_KEYS,
    FUNCTION_SA,
    FUNCTIONS,
    PROJECT,
    REGION,
    REPO,
    SCHEDULED,
    SCHEDULER_SA,
    Deployer,
)

# Each deploy.sh run makes ~60 fake gcloud calls (one Python start each): seconds per run.
pytestmark = pytest.mark.slow

# The roles Google documents for a function's build account (docs/google-setup.md cites the page).
BUILD_ROLES = ["roles/logging.logWriter", "roles/artifactregistry.writer", "roles/storage.objectAdmin"]
APIS = {f"{name}.googleapis.com" for name in ("cloudfunctions", "run", "cloudbuild", "artifactregistry",
                                               "cloudscheduler", "secretmanager", "sheets", "drive",
                                               "logging", "monitoring", "iam")}


def test_fresh_project_runs_the_whole_command_list_in_order(fresh: tuple[Deployer, Any]) -> None:
    deployer, proc = fresh
    calls = deployer.mutating()
    assert [c.key for c in calls] == FRESH_KEYS
    # by default nothing Google may bill for alerting is made, and gcloud's beta commands are never called
    state = deployer.state()
    assert state["channels"] == [] and state["policies"] == []
    assert not [c for c in deployer.calls() if c.words[:1] == ["beta"]]
    assert "--with-monitoring-alerts" in proc.stdout and "earlier deploy" not in proc.stderr
    assert "beta" not in proc.stderr, "a gcloud without its beta commands is fine when no alert is asked for"

    assert set(calls[0].words[2:]) == APIS
    for call in calls:
        if call.words[:2] == ["secrets", "add-iam-policy-binding"]:
            assert call.flags == {"member": f"serviceAccount:{FUNCTION_SA}",
                                  "role": "roles/secretmanager.secretAccessor"}
        if call.words[:3] == ["secrets", "versions", "add"]:
            assert call.flags["data-file"] == "-"  # the value came on stdin, never on the command line


def test_functions_are_gen2_with_the_right_limits_secrets_and_source(fresh: tuple[Deployer, Any]) -> None:
    deployer = fresh[0]
    deploys = {c.words[2]: c for c in deployer.mutating() if c.words[:2] == ["functions", "deploy"]}
    assert set(deploys) == set(FUNCTIONS)
    for name, call in deploys.items():
        flags = call.flags
        assert flags["entry-point"] == FUNCTIONS[name]
        assert {"gen2", "trigger-http"} <= set(flags)
        assert flags["runtime"] == "python312"
        assert flags["region"] == REGION
        assert flags["service-account"] == FUNCTION_SA
        # Built as our own account with the build roles: new projects give the default one none (google-setup.md)
        assert flags["build-service-account"] == f"projects/{PROJECT}/serviceAccounts/{BUILD_SA}"
        private = "no-allow-unauthenticated" in flags
        assert private == (name != "pvs6-ingest")
        # Only a private function trusts the claims of the token Cloud Run checked (pvs6_cloud/infra/oidc.py).
        # The scheduled jobs check no upload, so they start without the Pi's upload secret (docs/cost.md). The
        # ingest function mounts it as a file (re-read from its latest version, so rotating it needs no
        # redeploy), named to the code by <secret_env>_FILE (pvs6_cloud/infra/config.py).
        assert flags["set-env-vars"].split(",") == ["PVS6_CLOUD_CONFIG=/etc/pvs6-sentinel/config.toml"] + (
            [f"{PRIVATE_ENV}=1", f"{NO_UPLOAD_SECRETS_ENV}=1"] if private
            else ["PVS6_SECRET_HOME_FILE=/etc/pvs6-secret-home/secret"])
        assert flags["set-secrets"].split(",") == [
            "/etc/pvs6-sentinel/config.toml=pvs6-config:latest",
            *([] if private else ["/etc/pvs6-secret-home/secret=pvs6-secret-home:latest"]),
            "PVS6_SMTP_PASSWORD=pvs6-smtp-password:latest",
        ]
        mounts = [m.partition("=")[0] for m in flags["set-secrets"].split(",") if m.startswith("/")]
        folders = [m.rsplit("/", 1)[0] for m in mounts]
        assert len(set(folders)) == len(folders), "a secret mount hides its whole folder: one folder each"
        files = call.record["source_files"]
        assert {"main.py", "requirements.txt", "pvs6_cloud/__init__.py", "pvs6_cloud/infra/config.py",
                "pvs6_parse/__init__.py", "pvs6_parse/models.py",
                "sheets_template/__init__.py", "sheets_template/layout.toml", ".gcloudignore"} <= set(files)
        assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc") or f.startswith("tests/")]
    ingest = deploys["pvs6-ingest"].flags
    assert ingest["max-instances"] == "1"
    assert ingest["concurrency"] == "1"
    assert ingest["memory"] == "512Mi"
    assert "allow-unauthenticated" in ingest and "no-allow-unauthenticated" not in ingest
    assert deploys["pvs6-monthly-summary"].flags["memory"] == "1Gi"
    for name in SCHEDULED:
        assert "no-allow-unauthenticated" in deploys[name].flags
        assert "allow-unauthenticated" not in deploys[name].flags
    invokers = [c for c in deployer.mutating() if c.words[:2] == ["functions", "add-invoker-policy-binding"]]
    assert sorted(c.words[2] for c in invokers) == sorted(SCHEDULED)
    assert {c.flags["member"] for c in invokers} == {f"serviceAccount:{SCHEDULER_SA}"}


def test_scheduler_jobs_call_their_function_with_an_oidc_token_in_local_time(fresh: tuple[Deployer, Any]) -> None:
    deployer = fresh[0]
    state = deployer.state()
    expected = {"pvs6-monthly-summary": "0 8 1 * *", "pvs6-watchdog": "*/30 * * * *",
                "pvs6-daily-rollup": "30 23 * * *"}
    assert set(state["jobs"]) == set(expected)
    for job, flags in state["jobs"].items():
        assert flags["schedule"] == expected[job]
        assert flags["time-zone"] == "America/New_York"
        assert flags["uri"] == state["functions"][job]["uri"]
        assert flags["oidc-service-account-email"] == SCHEDULER_SA
        # The token is for the function's own URL, which Cloud Run accepts as it is: no custom audience is added
        # to the function's Cloud Run service (the fake knows no `run services` command at all).
        assert flags["oidc-token-audience"] == state["functions"][job]["uri"]
        assert flags["location"] == REGION
    assert not [c for c in deployer.calls() if c.words[:1] == ["run"]]
    # the deployed config tells the function whom to trust: only the account (pvs6_cloud/infra/oidc.py then accepts a
    # token for the function's own URL)
    config = tomllib.loads(deployer.secret("pvs6-config").decode())
    assert config["scheduler"] == {"service_account": SCHEDULER_SA}


def test_the_build_account_gets_exactly_the_documented_build_roles(fresh: tuple[Deployer, Any]) -> None:
    deployer = fresh[0]
    grants = [c for c in deployer.mutating() if c.words[:2] == ["projects", "add-iam-policy-binding"]]
    assert [c.words[2] for c in grants] == [PROJECT] * 3
    assert [c.flags["role"] for c in grants] == BUILD_ROLES
    assert {c.flags["member"] for c in grants} == {f"serviceAccount:{BUILD_SA}"}
    assert BUILD_SA in deployer.state()["service_accounts"]


def test_old_function_images_are_deleted_by_a_cleanup_policy(
        fresh: tuple[Deployer, Any]) -> None:
    deployer = fresh[0]
    (call,) = [c for c in deployer.mutating() if c.words[:3] == ["artifacts", "repositories", "set-cleanup-policies"]]
    assert call.words[3] == "gcf-artifacts" and call.flags["location"] == REGION
    applied = deployer.state()["cleanup_policies"][f"{REGION}/gcf-artifacts"]
    assert applied["dry_run"] is False, "the policy deletes for real, not only reports"
    (policy,) = applied["policies"]
    # As Google's own Firebase CLI does for gcf-artifacts: every image goes a day after its build (a deployed
    # revision no longer needs it), so storage stays near zero between deploys instead of growing with each one.
    assert policy["action"] == {"type": "Delete"}
    assert policy["condition"] == {"tagState": "ANY", "olderThan": "1d"}


def test_a_missing_image_repository_is_a_warning_not_a_stop(deployer: Deployer) -> None:
    """gcf-artifacts appears with the first function; if Google has not made it, the deploy still finishes."""
    proc = deployer.run(FAKE_GCLOUD_NO_REPOSITORY="1")
    assert "gcf-artifacts was not found" in proc.stderr
    assert [c.key for c in deployer.mutating()] == [k for k in FRESH_KEYS if not k.startswith("artifacts")]


def test_prints_the_ingest_url_and_the_pi_lines_but_not_the_secret(fresh: tuple[Deployer, Any]) -> None:
    deployer, proc = fresh
    uri = deployer.state()["functions"]["pvs6-ingest"]["uri"]
    assert f'url = "{uri}"' in proc.stdout
    assert 'site = "home"' in proc.stdout
    assert 'secret_file = "/etc/pvs6-sentinel/secret"' in proc.stdout
    assert f"gcloud secrets versions access latest --secret=pvs6-secret-home --project={PROJECT}" in proc.stdout
    assert FUNCTION_SA in proc.stdout


def test_the_printed_commands_put_the_clouds_secret_on_the_pi(fresh: tuple[Deployer, Any]) -> None:
    """One secret, one direction: Cloud Shell prints the Pi's command, which writes exactly the cloud's secret."""
    deployer, proc = fresh
    cloud_shell = [line.strip() for line in proc.stdout.splitlines() if "sudo tee /etc/pvs6-sentinel/secret" in line]
    assert len(cloud_shell) == 1 and "gcloud secrets versions access" in cloud_shell[0]
    on_cloud_shell = subprocess.run(["bash", "-c", cloud_shell[0]], env=deployer.env(), capture_output=True,
                                    text=True, timeout=60, check=True)
    pi_command = on_cloud_shell.stdout.strip("\n")
    assert pi_command.startswith(" echo '"), "a leading space keeps the secret out of the Pi's shell history"
    pi_secret = deployer.tmp / "pi-secret"
    pi_secret.write_text("")
    pi_secret.chmod(0o600)  # as install.sh leaves it
    subprocess.run(["bash", "-c", pi_command.replace("sudo tee /etc/pvs6-sentinel/secret", f"tee {pi_secret}")],
                   check=True, timeout=30)
    assert pi_secret.read_text().strip().encode() == deployer.secret("pvs6-secret-home")
    assert pi_secret.read_text().count("\n") == 1 and (pi_secret.stat().st_mode & 0o777) == 0o600


def test_shellcheck_is_clean() -> None:
    """deploy.sh and every file it sources from deploy/lib/: each linted as given, deploy.sh with its sources."""
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    libs = sorted((REPO / "deploy" / "lib").glob("*.sh"))
    text = DEPLOY.read_text()
    assert libs and all(f'source "$SCRIPT_DIR/deploy/lib/{lib.name}"' in text for lib in libs)
    proc = subprocess.run([shellcheck, "--severity=style", "--external-sources", str(DEPLOY), *map(str, libs)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout
