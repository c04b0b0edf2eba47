"""A roof of several planes: the expected output is the sum of each plane's own model, and each plane peaks at its
own time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from pvs6_cloud.enrich.solar import SOURCE_COMPONENTS, SOURCE_GTI, daily_energy, expected_power
from pvs6_cloud.infra.config import ArrayConfig, PlaneConfig

LAT, LON = 41.76, -72.68
DAY_START = datetime(2025, 6, 21, 4, tzinfo=UTC)  # local midnight (EDT)
TIMES = [DAY_START + timedelta(minutes=m) for m in range(0, 24 * 60, 10)]
EAST_WEST = ArrayConfig(panels=16, planes=(PlaneConfig(25.0, 90.0, 10), PlaneConfig(25.0, 270.0, 6)))


def _single(tilt: float, azimuth: float, panels: int) -> ArrayConfig:
    return ArrayConfig(panels=panels, tilt_deg=tilt, azimuth_deg=azimuth)


def _weather(n: int) -> dict[str, list[float]]:
    """A hazy day: some direct light, much diffuse (made up, but physical: GHI = DHI + DNI cos(zenith) roughly)."""
    shape = np.clip(np.sin(np.linspace(-np.pi / 2, 3 * np.pi / 2, n)), 0, None)
    return {"ghi_w_m2": list(700 * shape), "dni_w_m2": list(500 * shape), "dhi_w_m2": list(250 * shape),
            "air_temp_c": [24.0] * n}


def test_two_planes_are_the_sum_of_their_own_models_under_clear_sky_and_weather():
    for weather in ({}, _weather(len(TIMES))):
        both = expected_power(TIMES, LAT, LON, EAST_WEST, **weather)
        east = expected_power(TIMES, LAT, LON, _single(25.0, 90.0, 10), **weather)
        west = expected_power(TIMES, LAT, LON, _single(25.0, 270.0, 6), **weather)
        np.testing.assert_allclose(both.expected_kw, east.expected_kw + west.expected_kw, atol=1e-9)
        np.testing.assert_allclose(both.clearsky_kw, east.clearsky_kw + west.clearsky_kw, atol=1e-9)
        np.testing.assert_allclose(both.poa_w_m2, (10 * east.poa_w_m2 + 6 * west.poa_w_m2) / 16, atol=1e-9)
        np.testing.assert_allclose(both.plane_clearsky_kw[0], east.clearsky_kw / 10, atol=1e-9)
        np.testing.assert_allclose(both.plane_clearsky_kw[1], west.clearsky_kw / 6, atol=1e-9)


def test_each_plane_peaks_at_its_own_time():
    both = expected_power(TIMES, LAT, LON, EAST_WEST)
    east_peak = TIMES[int(np.argmax(both.plane_clearsky_kw[0]))]
    west_peak = TIMES[int(np.argmax(both.plane_clearsky_kw[1]))]
    noon = TIMES[int(np.argmax(both.sun_elevation_deg))]
    assert east_peak < noon - timedelta(hours=1)
    assert west_peak > noon + timedelta(hours=1)
    # The roof's sum is broad: at 9:00 local the east face makes far more than the west one, at 17:00 the reverse.
    nine, five = TIMES.index(DAY_START + timedelta(hours=9)), TIMES.index(DAY_START + timedelta(hours=17))
    assert both.plane_clearsky_kw[0][nine] > 2 * both.plane_clearsky_kw[1][nine]
    assert both.plane_clearsky_kw[1][five] > 2 * both.plane_clearsky_kw[0][five]


def test_tilted_irradiance_is_used_for_one_plane_and_not_for_several():
    n = len(TIMES)
    weather = {**_weather(n), "poa_w_m2": [900.0] * n}  # a tilted value for one plane only
    one = expected_power(TIMES, LAT, LON, _single(25.0, 90.0, 16), **weather)
    two = expected_power(TIMES, LAT, LON, EAST_WEST, **weather)
    day = one.sun_elevation_deg > 10
    assert set(np.array(one.source)[day]) == {SOURCE_GTI}
    assert set(np.array(two.source)[day]) == {SOURCE_COMPONENTS}
    lone = ArrayConfig(panels=16, tilt_deg=25.0, azimuth_deg=90.0, planes=(PlaneConfig(25.0, 90.0, 16),))
    assert set(np.array(expected_power(TIMES, LAT, LON, lone, **weather).source)[day]) == {SOURCE_GTI}
    without = expected_power(TIMES, LAT, LON, EAST_WEST, **_weather(n))
    np.testing.assert_allclose(two.expected_kw, without.expected_kw)


def test_daily_energy_of_two_planes_adds_up():
    hour_ends = [DAY_START + timedelta(hours=h + 1) for h in range(24)]
    both = daily_energy(hour_ends, LAT, LON, EAST_WEST)
    east = daily_energy(hour_ends, LAT, LON, _single(25.0, 90.0, 10))
    west = daily_energy(hour_ends, LAT, LON, _single(25.0, 270.0, 6))
    assert both.clearsky_kwh == pytest.approx(east.clearsky_kwh + west.clearsky_kwh)
