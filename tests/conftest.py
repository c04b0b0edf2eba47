"""Shared fixtures: where the public fixtures live, the seed payload, and a ready local cloud config."""

from __future__ import annotations

import json
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
