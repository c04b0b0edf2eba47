"""The weak-panel rule on a roof unlike its config: sunny by the roof's own best, not only by the model."""

from __future__ import annotations

from datetime import timedelta

from test_detect_inverters import SERIALS, every, keys, run, snapshot
from test_detect_rules import T0

from pvs6_cloud.enrich.conditions import Conditions, Enrichment

# The config's clear sky allows 0.3 kW per panel; this roof (facing elsewhere) makes 0.13 kW on a clear day:
# 43 %, never "sunny" by the model's 60 %.
CLEAR_KW, ROOF_KW = 3.6, 0.13


def _day(day: int, weak: float, clouds: float = 1.0, cover: float | None = None) -> list:
    enrichment = Enrichment(sun_elevation_deg=45.0, sun_azimuth_deg=150.0, clearsky_kw=CLEAR_KW,
                            conditions=None if cover is None else Conditions(cloud_cover_pct=cover))
    readings = []
    for t in every(15, 28, T0 - timedelta(hours=1) + timedelta(days=day)):
        powers = {s: ROOF_KW * clouds for s in SERIALS}
        powers[SERIALS[9]] = weak * ROOF_KW * clouds
        readings.append((snapshot(t, powers), enrichment))
    return readings


def test_weak_panel_found_by_the_roofs_own_clear_days_and_cloudy_days_do_not_count() -> None:
    # Day 0 teaches the roof's best; day 1 is cloudy (peers at 40 % of that best); days 2-4 are clear.
    result, memory = run(_day(0, 0.75) + _day(1, 0.75, clouds=0.4) + _day(2, 0.75) + _day(3, 0.75))
    assert "inverter_weak:" + SERIALS[9] not in keys(result), "the cloudy day and the first day do not count"
    result, _ = run(_day(4, 0.75), memory)
    [finding] = [f for f in result.findings if f.kind == "inverter_weak"]
    assert finding.device == SERIALS[9]
    assert finding.evidence["ratios"] == [0.75, 0.75, 0.75]


def test_overcast_by_the_weather_never_counts_even_near_the_roofs_best() -> None:
    result, _ = run(_day(0, 0.75) + _day(1, 0.75, cover=90.0) + _day(2, 0.75, cover=90.0) + _day(3, 0.75, cover=90.0))
    assert "inverter_weak:" + SERIALS[9] not in keys(result)


def test_the_same_roof_without_a_weak_panel_raises_nothing() -> None:
    result, _ = run(_day(0, 1.0) + _day(1, 1.0, clouds=0.4) + _day(2, 1.0) + _day(3, 1.0) + _day(4, 1.0))
    assert result.findings == ()
