"""deploy.sh against a fake gcloud: the full command list, idempotent re-runs, the dry run, and no leaked secret.

The fake (tests/support/fake_gcloud) keeps what each run "created" in a temp folder, so a second run sees the
first run's resources exactly as it would in a real project.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pvs6_cloud.infra.config import NO_UPLOAD_SECRETS_ENV
from pvs6_cloud.infra.oidc import PRIVATE_ENV

# Each deploy.sh run makes ~60 fake gcloud calls (one Python start each): seconds per run.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy.sh"
FAKE = REPO / "tests" / "support" / "fake_gcloud"
PROJECT = "pvs6-test-123"
REGION = "us-east1"
OWNER = "owner@example.com"
SMTP_PASSWORD = "abcd efgh ijkl mnop"
FUNCTION_SA = f"pvs6-function@{PROJECT}.iam.gserviceaccount.com"
SCHEDULER_SA = f"pvs6-scheduler@{PROJECT}.iam.gserviceaccount.com"
BUILD_SA = f"pvs6-build@{PROJECT}.iam.gserviceaccount.com"
# The roles Google documents for a function's build account (docs/google-setup.md cites the page).
BUILD_ROLES = ["roles/logging.logWriter", "roles/artifactregistry.writer", "roles/storage.objectAdmin"]
FUNCTIONS = {"pvs6-ingest": "ingest", "pvs6-monthly-summary": "monthly_summary", "pvs6-watchdog": "watchdog",
             "pvs6-daily-rollup": "daily_rollup"}
SCHEDULED = ["pvs6-monthly-summary", "pvs6-watchdog", "pvs6-daily-rollup"]
APIS = {f"{name}.googleapis.com" for name in ("cloudfunctions", "run", "cloudbuild", "artifactregistry",
                                               "cloudscheduler", "secretmanager", "sheets", "drive",
                                               "logging", "monitoring", "iam")}
READ_ONLY = {"describe", "list", "access"}

CLOUD_TOML = """\
[sites.home]
name = "Test house"
secret_env = "PVS6_SECRET_HOME"
latitude = 41.76
longitude = -72.68
timezone = "America/New_York"
spreadsheet_id = "1SpreadsheetIdForTests"
mail_to = ["family@example.com"]

[mail]
smtp_host = "smtp.gmail.com"
smtp_port = 587
username = "family@example.com"
from = "family@example.com"
password_env = "PVS6_SMTP_PASSWORD"
"""


@dataclass
class Call:
    """One recorded gcloud call: argv without the global flags, split into positionals and flags."""

    argv: list[str]
    record: dict[str, Any]

    @property
    def words(self) -> list[str]:
        return [a for a in self.argv if not a.startswith("--")]

    @property
    def flags(self) -> dict[str, str]:
        return dict(a[2:].partition("=")[::2] for a in self.argv if a.startswith("--"))

    @property
    def mutating(self) -> bool:
        return not (READ_ONLY & set(self.words[:4]) or self.words[:2] == ["auth", "list"]
                    or self.words[:1] == ["info"])

    @property
    def key(self) -> str:
        """The command and its resource name, e.g. ``scheduler jobs create http pvs6-watchdog``."""
        words = self.words
        for prefix, depth in _KEY_DEPTH.items():
            if " ".join(words).startswith(prefix):
                return " ".join(words[:depth])
        return " ".join(words)


# How many words name a command plus its resource (policy and channel ids are the fake's, so left out).
_KEY_DEPTH = {"services enable": 2, "iam service-accounts create": 4, "projects add-iam-policy-binding": 2,
              "secrets versions add": 4, "secrets": 3, "functions": 3, "scheduler jobs": 5,
              "beta monitoring channels create": 4, "monitoring policies": 3}


class Deployer:
    """Runs deploy.sh with the fake gcloud first on PATH and a state folder that survives between runs."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.bin = tmp / "bin"
        self.state_dir = tmp / "gcloud-state"
        self.bin.mkdir()
        self.state_dir.mkdir()
        (self.bin / "gcloud").symlink_to(FAKE)
        self.config = tmp / "cloud.toml"
        self.config.write_text(CLOUD_TOML)
        self.outputs: list[str] = []
        self.first_run_calls = 0  # gcloud calls of the first run, kept by the session's first_deploy (conftest)

    @classmethod
    def copy_of(cls, other: Deployer, tmp: Path) -> Deployer:
        """A project exactly as ``other`` left it (its folder, the fake's state and the outputs so far), in
        ``tmp``: a test about a second run starts from the shared first deploy instead of making its own."""
        shutil.copytree(other.tmp, tmp, symlinks=True, dirs_exist_ok=True)
        twin = cls.__new__(cls)
        twin.tmp, twin.bin, twin.state_dir, twin.config = tmp, tmp / "bin", tmp / "gcloud-state", tmp / "cloud.toml"
        twin.outputs = list(other.outputs)
        twin.first_run_calls = other.first_run_calls
        return twin

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PVS6_", "CLOUDSDK_"))}
        env.update(PATH=f"{self.bin}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
                   FAKE_GCLOUD_STATE=str(self.state_dir), TMPDIR=str(self.tmp), PVS6_RETRY_SLEEP_S="0")
        env.update(extra)
        return env

    def run(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
        """One deploy.sh run; returns the process and remembers its output for the leak checks."""
        env.setdefault("PVS6_SMTP_PASSWORD", SMTP_PASSWORD)
        before = len(self.calls())
        proc = subprocess.run(
            ["bash", str(DEPLOY), "--project", PROJECT, "--region", REGION, "--config", str(self.config),
             "--owner-email", OWNER, *args],
            env=self.env(**env), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
            cwd=self.tmp,
        )
        self.outputs += [proc.stdout, proc.stderr]
        self.last_calls = self.calls()[before:]
        if check:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def calls(self) -> list[Call]:
        path = self.state_dir / "calls.jsonl"
        if not path.exists():
            return []
        records = [json.loads(line) for line in path.read_text().splitlines()]
        return [Call([a for a in r["argv"] if not a.startswith(("--project=", "--quiet"))], r) for r in records]

    def mutating(self) -> list[Call]:
        return [c for c in self.last_calls if c.mutating]

    def state(self) -> dict[str, Any]:
        return json.loads((self.state_dir / "state.json").read_text())

    def secret(self, name: str) -> bytes:
        return base64.b64decode(self.state()["secrets"][name]["versions"][-1])


@pytest.fixture
def deployer(tmp_path: Path) -> Deployer:
    return Deployer(tmp_path)


@pytest.fixture
def fresh(first_deploy: tuple[Deployer, subprocess.CompletedProcess[str]]
          ) -> tuple[Deployer, subprocess.CompletedProcess[str]]:
    """One deploy to a fresh project (the session's, see conftest), shared by the tests that only read what it
    did. Its gcloud lacks the beta commands: by default deploy.sh needs none (only the alert emails' channel does).
    """
    return first_deploy


@pytest.fixture(scope="module")
def fresh_with_alerts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Deployer, subprocess.CompletedProcess[str]]:
    """One deploy to a fresh project with Google's alert emails asked for (they may be billed: docs/cost.md)."""
    deployer = Deployer(tmp_path_factory.mktemp("fresh-alerts"))
    return deployer, deployer.run("--with-monitoring-alerts")


@pytest.fixture
def deployed(fresh: tuple[Deployer, Any], tmp_path: Path) -> Deployer:
    """A project deployed once (a copy of ``fresh``), for a test to run deploy.sh on again."""
    return Deployer.copy_of(fresh[0], tmp_path)


@pytest.fixture
def deployed_with_alerts(fresh_with_alerts: tuple[Deployer, Any], tmp_path: Path) -> Deployer:
    """A project deployed once with the alert emails (a copy of ``fresh_with_alerts``), to run deploy.sh on again."""
    return Deployer.copy_of(fresh_with_alerts[0], tmp_path)


FRESH_KEYS = [
    "services enable",
    "iam service-accounts create pvs6-function",
    "iam service-accounts create pvs6-scheduler",
    "iam service-accounts create pvs6-build",
    "projects add-iam-policy-binding",
    "projects add-iam-policy-binding",
    "projects add-iam-policy-binding",
    "secrets create pvs6-config",
    "secrets versions add pvs6-config",
    "secrets add-iam-policy-binding pvs6-config",
    "secrets create pvs6-secret-home",
    "secrets versions add pvs6-secret-home",
    "secrets add-iam-policy-binding pvs6-secret-home",
    "secrets create pvs6-smtp-password",
    "secrets versions add pvs6-smtp-password",
    "secrets add-iam-policy-binding pvs6-smtp-password",
    "functions deploy pvs6-ingest",
    "functions deploy pvs6-monthly-summary",
    "functions deploy pvs6-watchdog",
    "functions deploy pvs6-daily-rollup",
    "functions add-invoker-policy-binding pvs6-monthly-summary",
    "functions add-invoker-policy-binding pvs6-watchdog",
    "functions add-invoker-policy-binding pvs6-daily-rollup",
    "artifacts repositories set-cleanup-policies gcf-artifacts",
    "scheduler jobs create http pvs6-monthly-summary",
    "scheduler jobs create http pvs6-watchdog",
    "scheduler jobs create http pvs6-daily-rollup",
]
# Only with --with-monitoring-alerts: Google may bill each alert condition $1.50 a month (docs/cost.md).
ALERT_KEYS = [
    "beta monitoring channels create",
    "monitoring policies create",
    "monitoring policies create",
]


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


def test_asked_for_alerts_the_channel_and_log_based_policies_reach_the_owner(
        fresh_with_alerts: tuple[Deployer, Any]) -> None:
    deployer, proc = fresh_with_alerts
    assert [c.key for c in deployer.mutating()] == FRESH_KEYS + ALERT_KEYS
    assert "$1.50 a month" in proc.stdout
    state = deployer.state()
    assert [(c["email"], c["type"]) for c in state["channels"]] == [(OWNER, "email")]
    channel = state["channels"][0]["name"]
    policies = {p["displayName"]: p["policy"] for p in state["policies"]}
    assert len(policies) == 2
    errors = policies["PVS6 Sentinel: the cloud functions logged an error"]
    scheduler = policies["PVS6 Sentinel: a scheduled job failed"]
    for policy in (errors, scheduler):
        assert policy["notificationChannels"] == [channel]
        assert policy["alertStrategy"]["notificationRateLimit"]["period"]
    errors_filter = errors["conditions"][0]["conditionMatchedLog"]["filter"]
    assert "severity>=ERROR" in errors_filter
    assert 'resource.type="cloud_run_revision"' in errors_filter
    for name in FUNCTIONS:
        assert f'"{name}"' in errors_filter
    scheduler_filter = scheduler["conditions"][0]["conditionMatchedLog"]["filter"]
    assert 'resource.type="cloud_scheduler_job"' in scheduler_filter
    assert all(f'"{job}"' in scheduler_filter for job in SCHEDULED)


def test_the_build_account_gets_exactly_the_documented_build_roles(fresh: tuple[Deployer, Any]) -> None:
    deployer = fresh[0]
    grants = [c for c in deployer.mutating() if c.words[:2] == ["projects", "add-iam-policy-binding"]]
    assert [c.words[2] for c in grants] == [PROJECT] * 3
    assert [c.flags["role"] for c in grants] == BUILD_ROLES
    assert {c.flags["member"] for c in grants} == {f"serviceAccount:{BUILD_SA}"}
    assert BUILD_SA in deployer.state()["service_accounts"]


def test_the_alert_setup_uses_ga_commands_but_for_the_notification_channel(
        fresh_with_alerts: tuple[Deployer, Any]) -> None:
    deployer = fresh_with_alerts[0]
    tracks = {c.words[0] for c in deployer.mutating() if "monitoring" in c.words[:2]}
    assert tracks == {"monitoring", "beta"}
    assert not [c for c in deployer.calls() if c.words[:1] == ["alpha"]]


def test_a_gcloud_without_beta_commands_stops_an_alert_setup_before_any_change_and_says_how_to_add_them(
        deployer: Deployer) -> None:
    proc = deployer.run("--with-monitoring-alerts", check=False, FAKE_GCLOUD_NO_BETA="1")
    assert proc.returncode == 1
    assert "gcloud components install beta" in proc.stderr and "apt-get" in proc.stderr
    assert "nothing was changed" in proc.stderr
    assert deployer.mutating() == []
    # a dry run still shows the whole plan, with the same advice as a warning
    proc = deployer.run("--dry-run", "--with-monitoring-alerts", FAKE_GCLOUD_NO_BETA="1")
    assert "gcloud components install beta" in proc.stderr
    assert "Dry run: nothing was changed." in proc.stdout


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


def test_dry_run_shows_the_cleanup_policy_and_what_it_costs(deployer: Deployer) -> None:
    proc = deployer.run("--dry-run")
    printed = [c for c in _printed_commands(proc.stdout) if "set-cleanup-policies" in c]
    assert len(printed) == 1 and "gcf-artifacts" in printed[0] and "--no-dry-run" in printed[0]
    assert "What it costs" in proc.stdout and "for 1 site(s)" in proc.stdout
    for service in ("Cloud Run functions: requests", "Artifact Registry storage", "Cloud Scheduler",
                    "Secret Manager: accesses", "Cloud Logging"):
        assert service in proc.stdout
    (alerting,) = [line for line in proc.stdout.splitlines() if line.startswith("Cloud Monitoring alerting")]
    assert alerting.split()[-2:] == ["0", "0.0%"], "by default no alert policy, nothing billed"
    assert "cost summary could not be computed" not in proc.stderr


def test_second_run_updates_and_never_creates_twice(deployed_with_alerts: Deployer) -> None:
    deployer = deployed_with_alerts
    first_state = deployer.state()
    deployer.run("--with-monitoring-alerts")
    keys = [c.key for c in deployer.mutating()]
    assert not [k for k in keys if " create" in k], keys
    assert not [k for k in keys if k.startswith("secrets versions add")], "unchanged values add no version"
    assert keys.count("functions deploy pvs6-ingest") == 1
    assert [k for k in keys if k.startswith("scheduler")] == [
        f"scheduler jobs update http {job}" for job in SCHEDULED]
    assert [k for k in keys if "monitoring policies" in k] == ["monitoring policies update"] * 2
    state = deployer.state()
    assert len(state["channels"]) == 1
    assert len(state["policies"]) == 2
    assert set(state["jobs"]) == set(SCHEDULED)
    assert {name: len(s["versions"]) for name, s in state["secrets"].items()} == {
        "pvs6-config": 1, "pvs6-secret-home": 1, "pvs6-smtp-password": 1}
    assert state["secrets"] == first_state["secrets"]  # the Pi's secret was not rotated

    # Run again without asking for the alerts: the policies the earlier runs made are kept, named with their cost
    # and the command that removes them (deleting them is the owner's choice).
    policies = [p["name"] for p in state["policies"]]
    proc = deployer.run()
    assert not [c for c in deployer.mutating() if "monitoring" in c.words[:2]], "nothing is changed or deleted"
    assert [p["name"] for p in deployer.state()["policies"]] == policies
    assert "2 Google alert policies" in proc.stderr and "$1.50 a month for each" in proc.stderr
    removals = [line.strip() for line in proc.stderr.splitlines() if "policies delete" in line]
    assert removals == [f"gcloud monitoring policies delete {name} --project={PROJECT}" for name in policies]


def test_the_deploy_config_switch_for_alerts_takes_only_yes_or_no(deployer: Deployer) -> None:
    proc = deployer.run(check=False, PVS6_MONITORING_ALERTS="maybe")
    assert proc.returncode == 1 and "write yes" in proc.stderr
    assert deployer.mutating() == []


def test_a_changed_value_adds_exactly_one_new_version(deployed: Deployer) -> None:
    deployer = deployed
    deployer.config.write_text(CLOUD_TOML.replace("Test house", "Our house"))
    deployer.run(PVS6_SMTP_PASSWORD="wxyz wxyz wxyz wxyz")
    added = [c.words[3] for c in deployer.mutating() if c.words[:3] == ["secrets", "versions", "add"]]
    assert added == ["pvs6-config", "pvs6-smtp-password"]
    assert deployer.secret("pvs6-smtp-password") == b"wxyzwxyzwxyzwxyz"  # Gmail shows it with spaces
    assert b"Our house" in deployer.secret("pvs6-config")


def test_an_exported_site_secret_is_kept_for_the_pi_that_already_has_it(deployer: Deployer) -> None:
    deployer.run(PVS6_SECRET_HOME="the-secret-the-pi-already-uses")
    assert deployer.secret("pvs6-secret-home") == b"the-secret-the-pi-already-uses"
    deployer.run()
    assert len(deployer.state()["secrets"]["pvs6-secret-home"]["versions"]) == 1


def _printed_commands(output: str) -> list[list[str]]:
    commands = []
    for line in output.splitlines():
        line = line.strip()
        if line.startswith("would run:"):
            text = line.removeprefix("would run:").split(" < <secret", 1)[0]
            commands.append(shlex.split(text))
    return commands


def _shape(argv: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A command's words and flag names: what must match between the dry run and the real run."""
    argv = [a for a in argv if not a.startswith(("--project=", "--quiet"))]
    words = tuple(a for a in argv if not a.startswith("--") and a != "gcloud")
    if words[:3] == ("monitoring", "policies", "update"):
        words = words[:3]
    return words, tuple(sorted(a.partition("=")[0] for a in argv if a.startswith("--")))


def test_dry_run_changes_nothing_and_prints_what_the_real_run_does(deployer: Deployer) -> None:
    proc = deployer.run("--dry-run")
    assert deployer.mutating() == []
    assert not (deployer.state_dir / "state.json").exists() or deployer.state()["functions"] == {}
    printed = [_shape(c) for c in _printed_commands(proc.stdout)]

    deployer.run()
    executed = [_shape(c.argv) for c in deployer.mutating()]
    assert printed == executed
    assert "<secret: a new random secret>" in proc.stdout
    assert "Dry run: nothing was changed." in proc.stdout
    _assert_no_secret_leaked(deployer, deployer.secret("pvs6-secret-home").decode(), "abcdefghijklmnop",
                             SMTP_PASSWORD)


def test_dry_run_after_a_deploy_shows_the_updates(deployed_with_alerts: Deployer) -> None:
    deployer = deployed_with_alerts
    proc = deployer.run("--dry-run", "--with-monitoring-alerts")
    assert deployer.mutating() == []
    printed = [" ".join(_shape(c)[0]) for c in _printed_commands(proc.stdout)]
    assert "scheduler jobs update http pvs6-watchdog" in printed
    assert "monitoring policies update" in printed
    assert not [p for p in printed if "create" in p]


def _assert_no_secret_leaked(deployer: Deployer, *secrets: str) -> None:
    """No secret value in any gcloud command line, in any output of deploy.sh, nor in a leftover temp folder."""
    argv_text = "\n".join(json.dumps(c.argv) for c in deployer.calls())
    for secret in secrets:
        assert secret not in argv_text
        for output in deployer.outputs:
            assert secret not in output
    leftovers = [p for p in deployer.tmp.iterdir() if p.name.startswith("pvs6-deploy.")]
    assert leftovers == [], "the temp folder with secret files is removed"


def test_no_secret_value_appears_in_any_output_or_command_line(deployed: Deployer) -> None:
    """The first deploy (shared), a changed password, then a dry run; the dry run of a fresh project is checked
    by test_dry_run_changes_nothing_and_prints_what_the_real_run_does."""
    deployer = deployed
    first_secret = deployer.secret("pvs6-secret-home").decode()
    deployer.run(PVS6_SMTP_PASSWORD="wxyz wxyz wxyz wxyz")
    deployer.run("--dry-run")
    assert len(deployer.outputs) == 6  # three runs, stdout and stderr each
    assert len(first_secret) == 64 and deployer.secret("pvs6-secret-home").decode() == first_secret
    _assert_no_secret_leaked(deployer, first_secret, "abcdefghijklmnop", "wxyzwxyzwxyzwxyz", SMTP_PASSWORD,
                             "wxyz wxyz wxyz wxyz")
    assert deployer.mutating() == []


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


SELFTEST_TOML = """\
[sites.home]
name = "Test house"
secret_env = "PVS6_SECRET_HOME"
latitude = 41.76
longitude = -72.68
timezone = "America/New_York"
spreadsheet_id = "{sid}"
mail_to = ["family@example.com"]

[mail]
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
starttls = false
timeout_s = 5
username = "family@example.com"
from = "family@example.com"
password_env = "PVS6_SMTP_PASSWORD"

[sheets]
api_endpoint = "{sheets}"
max_retries = 1

[weather]
enabled = false
"""


def deployed_like(fresh: tuple[Deployer, Any], tmp: Path, cloud_toml: str) -> Deployer:
    """A project as deploy.sh left it (the fresh deploy's resources), whose deployed settings are `cloud_toml`.

    Rendering with deploy.sh's own helper is what a real deploy stores, so the local file matches the deployed one.
    """
    deployer = Deployer(tmp)
    shutil.copy(fresh[0].state_dir / "state.json", deployer.state_dir / "state.json")
    deployer.config.write_text(cloud_toml)
    rendered = tmp / "rendered.toml"
    subprocess.run([sys.executable, str(REPO / "deploy" / "deploy_config.py"), "render", str(deployer.config),
                    str(rendered), SCHEDULER_SA], check=True, timeout=60)
    state = deployer.state()
    state["secrets"]["pvs6-config"]["versions"].append(base64.b64encode(rendered.read_bytes()).decode())
    (deployer.state_dir / "state.json").write_text(json.dumps(state))
    return deployer


def set_state(deployer: Deployer, change: Any) -> None:
    state = deployer.state()
    change(state)
    (deployer.state_dir / "state.json").write_text(json.dumps(state))


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
    assert [p for p in _printed_commands(proc.stdout) if p[0].endswith("pvs6-cloud") and p[1] == "selftest"]
    assert not [c for c in deployer.last_calls if c.words[:3] == ["secrets", "versions", "access"]
                and c.flags.get("secret") != "pvs6-config"], "no secret value is read in a dry run"


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


def test_mail_to_without_brackets_still_names_the_owner(tmp_path: Path) -> None:
    config = tmp_path / "cloud.toml"
    config.write_text(CLOUD_TOML.replace('mail_to = ["family@example.com"]', 'mail_to = "family@example.com"'))
    proc = subprocess.run([sys.executable, str(REPO / "deploy" / "deploy_config.py"), "facts", str(config)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert [line for line in proc.stdout.splitlines() if line.startswith("mail_to")] == [
        "mail_to\tfamily@example.com"]


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
