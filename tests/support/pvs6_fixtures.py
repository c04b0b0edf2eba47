"""The public PVS6 payloads in ../shared/fixtures/pvs6, for tests that read them.

They sit beside the checkout only where the project's CI puts them; on a user's own clone these tests skip and
say why, instead of failing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "pvs6"
NO_FIXTURES = "shared/fixtures/pvs6 is not beside this checkout (as on a user's own clone)"

requires_shared = pytest.mark.skipif(not FIXTURES.is_dir(), reason=NO_FIXTURES)


def fixture_params(pattern: str) -> list[Any]:
    """One pytest param per fixture file matching ``pattern``, or one skipped param naming why there are none."""
    files = sorted(FIXTURES.glob(pattern)) if FIXTURES.is_dir() else []
    if not files:
        return [pytest.param(None, marks=pytest.mark.skip(reason=NO_FIXTURES))]
    return [pytest.param(path, id=path.name) for path in files]


def load_fixture(name: str) -> dict[str, Any]:
    """One fixture file's JSON."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))
