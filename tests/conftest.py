"""Shared fixtures: where the public fixtures live, the seed payload, and a ready local cloud config."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

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
def first_deploy(tmp_path_factory: pytest.TempPathFactory):
    """deploy.sh run once on a fresh project against the gcloud stand-in, shared by the deploy tests and the
    README walk-through: (tests.test_deploy.Deployer, its finished process). Copy it before running again."""
    from tests.test_deploy import Deployer

    deployer = Deployer(tmp_path_factory.mktemp("first-deploy"))
    proc = deployer.run(FAKE_GCLOUD_NO_BETA="1")  # by default deploy.sh needs no beta commands
    deployer.first_run_calls = len(deployer.calls())  # what the README quotes, whatever later tests add
    return deployer, proc
