"""A few simulated days through the real pipeline (the small brother of bench/detection.py)."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
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


def _october_snow(stuck_until_h: float) -> tuple[list[dict], list[tuple], list[str]]:
    """Snow all of 20 October (the weather says so), sliding off the 12 panels one by one the next morning.

    Panel 6 keeps its snow until ``stuck_until_h`` local on the 21st. Played through the real pipeline with the
    loopback Open-Meteo answering the snow; returns the Alerts rows, the mails and the serials.
    """
    from bench.detection_roofs import SnowWeather, _play_roof, _snow_shed
    from bench.detection_site import TZ, _poll_times
    from pvs6_sim.config import PvsConfig, SimConfig
    from pvs6_sim.faults import Fault
    from pvs6_sim.model import Simulator

    start = date(2025, 10, 20)
    midnight = datetime(2025, 10, 20, tzinfo=TZ).astimezone(UTC)
    sim = Simulator(SimConfig(start=midnight - timedelta(hours=1), default_weather="clear", weather={start: "snow"},
                              seed=21, pvs=PvsConfig(nightly_reboot_hour_utc=7)))
    for panel, a, b in _snow_shed(1, 9.5, 2.0, (6, stuck_until_h), panels=12):
        sim.inject(Fault("covered", target=panel, start=midnight + timedelta(hours=a),
                         end=midnight + timedelta(hours=b)))
    snow = SnowWeather(sim, midnight, 2)
    assert snow.snowfall_cm(datetime(2025, 10, 20, 15, tzinfo=UTC)) > 0  # the weather says snow, in October
    rows, mails = _play_roof(sim, midnight, _poll_times(start, 2), snow=snow)
    return [r for r in rows if r["kind"] != "_learned_bytes"], mails, sim.identity.inverter_serials


def test_an_october_snow_the_weather_reports_slides_off_panel_by_panel_without_an_alert_or_a_mail() -> None:
    rows, mails, _ = _october_snow(stuck_until_h=12.5)
    assert rows == []
    assert mails == []


def test_a_panel_still_covered_after_an_october_snow_is_alerted_and_the_mail_says_snow_came_first() -> None:
    rows, mails, serials = _october_snow(stuck_until_h=30.0)  # covered past the end of the run
    assert [(r["kind"], r["device"]) for r in rows] == [("inverter_down", serials[6])]
    assert len(mails) == 1
    assert "Snow covered the panels on 2025-10-20" in mails[0][1]
