"""deploy.sh run against the recording gcloud stand-in (tests/support/fake_gcloud), for the deploy tests
(tests/test_deploy*.py), the README walk-through and bench/setup_times.py.

``Deployer`` runs deploy.sh with the stand-in first on PATH and a state folder that survives between runs, so a
second run sees the first run's resources exactly as it would in a real project; ``Call`` is one recorded gcloud
call. Also here, because more than one test file needs them: the project every test deploys (``CLOUD_TOML``), what
a fresh deploy runs (``FRESH_KEYS``), the commands a dry run prints, and a project "as deploy.sh left it" for the
self-test. The fixtures built on these (``deployer``, ``fresh``, ``deployed``...) are in tests/conftest.py.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy.sh"
FAKE = REPO / "tests" / "support" / "fake_gcloud"
PROJECT = "pvs6-test-123"
REGION = "us-east1"
OWNER = "owner@example.com"
SMTP_PASSWORD = "abcd efgh ijkl mnop"
FUNCTION_SA = f"pvs6-function@{PROJECT}.iam.gserviceaccount.com"
SCHEDULER_SA = f"pvs6-scheduler@{PROJECT}.iam.gserviceaccount.com"
BUILD_SA = f"pvs6-build@{PROJECT}.iam.gserviceaccount.com"
FUNCTIONS = {"pvs6-ingest": "ingest", "pvs6-monthly-summary": "monthly_summary", "pvs6-watchdog": "watchdog",
             "pvs6-daily-rollup": "daily_rollup"}
SCHEDULED = ["pvs6-monthly-summary", "pvs6-watchdog", "pvs6-daily-rollup"]
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


# What a fresh project's deploy changes, in order (Call.key of each mutating gcloud call).
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


def printed_commands(output: str) -> list[list[str]]:
    """The gcloud commands a dry run printed ("would run: ..."), split as the shell would, without the secret
    each one reads on stdin."""
    commands = []
    for line in output.splitlines():
        line = line.strip()
        if line.startswith("would run:"):
            text = line.removeprefix("would run:").split(" < <secret", 1)[0]
            commands.append(shlex.split(text))
    return commands


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
    """Changes the stand-in's project behind deploy.sh's back (a job deleted, a secret rotated), as a person could."""
    state = deployer.state()
    change(state)
    (deployer.state_dir / "state.json").write_text(json.dumps(state))
