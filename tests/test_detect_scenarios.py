"""A few simulated days through the real pipeline (the small brother of bench/detection.py)."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.detection import Scenario, run_scenario

pytestmark = pytest.mark.slow


def test_dead_inverter_is_found_within_a_daylight_hour_without_false_alerts() -> None:
    result = run_scenario(Scenario("dead", date(2025, 6, 2), 2, {"kind": "dead", "target": 4, "start": 24 + 15.1},
                                   ("inverter_down", "{serial:4}"), weather={0: "clear", 1: "cloudy"}))
    assert result["detected"], result
    hours = float(result["delay"].split()[0])
    assert 0 < hours <= 1.0
    assert result["false"] == []
    assert result["mails"] >= 1


def test_snow_and_cloud_days_raise_nothing() -> None:
    result = run_scenario(Scenario("clean", date(2025, 1, 14), 3, None, None,
                                   weather={0: "snow", 1: "cloudy", 2: "clear"}))
    assert result["false"] == []
    assert result["mails"] == 0
