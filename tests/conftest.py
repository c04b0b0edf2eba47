"""Shared fixtures: where the public fixtures live, the seed payload, a ready local cloud config, and the
deploy tests' projects (deployed once per session against the gcloud stand-in, copied by a test that runs again)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.support.deployer import Deployer

ROOT = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures" / "pvs6"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """The public PVS6 payloads beside the checkout; tests that need them skip on a user's own clone."""
    if not SHARED_FIXTURES.is_dir():
        pytest.skip("../shared/fixtures/pvs6 is not beside this checkout (only the project's CI has it)")
    return SHARED_FIXTURES


@pytest.fixture(scope="session")
def seed_payload() -> dict:
    """The user's own PVS6 DeviceList sample (from the seed document)."""
    return json.loads((DATA / "seed_devicelist.json").read_text())


@pytest.fixture
def ram_tmp_path(tmp_path: Path):
    """A temporary folder in RAM (``/dev/shm``) when the machine has one, else ``tmp_path``.

    The edge fsyncs every file it keeps (as it must on a Pi's SD card); a test that runs it hundreds of times
    otherwise spends most of its minutes waiting on the disk rather than testing anything.
    """
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(prefix="pvs6-test-", dir=shm) as folder:
        yield Path(folder)


@pytest.fixture(scope="session")
def pi_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``PYTHON`` for edge/install.sh that makes its venv by copying one prepared venv (see tests/support)."""
    from tests.support.pi_python import make_pi_python

    return make_pi_python(tmp_path_factory.mktemp("pi-python"))


@pytest.fixture(scope="session")
def first_deploy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Deployer, subprocess.CompletedProcess[str]]:
    """deploy.sh run once on a fresh project against the gcloud stand-in, shared by the deploy tests and the
    README walk-through: (tests.support.deployer.Deployer, its finished process). Copy it before running again."""
    deployer = Deployer(tmp_path_factory.mktemp("first-deploy"))
    proc = deployer.run(FAKE_GCLOUD_NO_BETA="1")  # by default deploy.sh needs no beta commands
    deployer.first_run_calls = len(deployer.calls())  # what the README quotes, whatever later tests add
    return deployer, proc


# The deploy tests' projects (tests/test_deploy*.py), each file taking the ones its theme needs.


@pytest.fixture
def deployer(tmp_path: Path) -> Deployer:
    """A project nothing was deployed to yet."""
    return Deployer(tmp_path)


@pytest.fixture
def fresh(first_deploy: tuple[Deployer, subprocess.CompletedProcess[str]]
          ) -> tuple[Deployer, subprocess.CompletedProcess[str]]:
    """One deploy to a fresh project (the session's, see first_deploy), shared by the tests that only read what it
    did. Its gcloud lacks the beta commands: by default deploy.sh needs none (only the alert emails' channel does).
    """
    return first_deploy


@pytest.fixture(scope="session")
def fresh_with_alerts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Deployer, subprocess.CompletedProcess[str]]:
    """One deploy to a fresh project with Google's alert emails asked for (they may be billed: docs/cost.md),
    shared by the alert tests and the second runs (as ``deployed_with_alerts``); copy it before running again."""
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
