"""The expected-output model behaves physically: dark at night, peaks at solar noon, clips, clouds cost power."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from pvs6_cloud.enrich.solar import daily_energy, expected_power, sun_position
from pvs6_cloud.enrich.weather import local_day_bounds
from pvs6_cloud.infra.config import ArrayConfig

LAT, LON = 41.76, -72.68  # Hartford, CT: the seed's "northeast USA"
ARRAY = ArrayConfig()  # the seed's 12 x 360 W, 30° tilt, due south
DAY_START = datetime(2025, 6, 21, 4, tzinfo=UTC)  # local midnight (EDT)


def day_times(step_min: int = 5) -> list[datetime]:
    return [DAY_START + timedelta(minutes=m) for m in range(0, 24 * 60, step_min)]


def test_zero_at_night_positive_by_day() -> None:
    times = day_times(30)
    est = expected_power(times, LAT, LON, ARRAY)
    night = est.sun_elevation_deg < -1
    day = est.sun_elevation_deg > 20
    assert night.any() and day.any()
    assert np.all(est.expected_kw[night] == 0) and np.all(est.clearsky_kw[night] == 0)
    assert np.all(est.clearsky_kw[day] > 0.5)


def test_south_facing_array_peaks_near_solar_noon() -> None:
    times = day_times(5)
    est = expected_power(times, LAT, LON, ARRAY)
    power_peak = times[int(np.argmax(est.clearsky_kw))]
    sun_peak = times[int(np.argmax(est.sun_elevation_deg))]
    assert abs((power_peak - sun_peak).total_seconds()) <= 20 * 60
    assert 16 <= sun_peak.hour <= 17  # solar noon at -72.7° is about 16:50 UTC in June


@pytest.mark.parametrize(("azimuth", "before_noon"), [(90.0, True), (270.0, False)])
def test_east_array_peaks_in_the_morning_west_in_the_afternoon(azimuth: float, before_noon: bool) -> None:
    times = day_times(5)
    array = ArrayConfig(tilt_deg=35, azimuth_deg=azimuth)
    est = expected_power(times, LAT, LON, array)
    power_peak = times[int(np.argmax(est.clearsky_kw))]
    sun_peak = times[int(np.argmax(est.sun_elevation_deg))]
    assert (power_peak < sun_peak - timedelta(hours=1)) is before_noon
    assert (power_peak > sun_peak + timedelta(hours=1)) is not before_noon


def test_output_never_exceeds_the_microinverters_and_clips_at_them() -> None:
    array = ArrayConfig(panels=12, panel_w=450, inverter_ac_w=300)
    times = [datetime(2025, 6, 21, 16, 50, tzinfo=UTC)] * 3
    est = expected_power(times, LAT, LON, array, poa_w_m2=[1400.0, 600.0, 200.0], air_temp_c=[-20.0, 25.0, 25.0])
    limit_kw = array.panels * array.inverter_ac_w / 1000
    assert est.expected_kw[0] == pytest.approx(limit_kw)  # 450 W panels on 300 W micros in cold sunshine clip
    assert np.all(est.expected_kw <= limit_kw + 1e-9)
    assert est.expected_kw[2] < est.expected_kw[1] < est.expected_kw[0]
    assert np.all(est.clearsky_kw <= limit_kw + 1e-9)


def test_cloudy_weather_expects_less_than_the_clear_sky() -> None:
    noon = datetime(2025, 6, 21, 16, 50, tzinfo=UTC)
    clear = expected_power([noon], LAT, LON, ARRAY)
    cloudy = expected_power([noon], LAT, LON, ARRAY, ghi_w_m2=[250.0], air_temp_c=[22.0])
    assert cloudy.source == ("ghi",)
    assert cloudy.expected_kw[0] < 0.5 * cloudy.clearsky_kw[0]
    assert cloudy.clearsky_kw[0] == pytest.approx(clear.clearsky_kw[0], rel=0.05)


def test_hotter_air_expects_less() -> None:
    noon = [datetime(2025, 6, 21, 16, 50, tzinfo=UTC)] * 2
    est = expected_power(noon, LAT, LON, ARRAY, poa_w_m2=[900.0, 900.0], air_temp_c=[5.0, 35.0])
    assert est.expected_kw[1] < est.expected_kw[0] * 0.95


def test_each_instant_uses_its_best_weather_input() -> None:
    noon = datetime(2025, 6, 21, 16, 50, tzinfo=UTC)
    est = expected_power(
        [noon] * 4, LAT, LON, ARRAY,
        poa_w_m2=[800.0, None, None, None],
        ghi_w_m2=[None, 700.0, 700.0, None],
        dni_w_m2=[None, 600.0, None, None],
        dhi_w_m2=[None, 150.0, None, None],
    )
    assert est.source == ("gti", "ghi+dni+dhi", "ghi", "clearsky")
    assert est.poa_w_m2[0] == pytest.approx(800.0)
    assert est.expected_kw[3] == pytest.approx(est.clearsky_kw[3])


def test_components_equal_to_the_clear_sky_reproduce_the_clear_sky_expectation() -> None:
    import pandas as pd
    import pvlib

    noon = datetime(2025, 6, 21, 16, 50, tzinfo=UTC)
    clear = pvlib.location.Location(LAT, LON).get_clearsky(pd.DatetimeIndex([noon]), linke_turbidity=3.0)
    est = expected_power([noon], LAT, LON, ARRAY, ghi_w_m2=list(clear["ghi"]), dni_w_m2=list(clear["dni"]),
                         dhi_w_m2=list(clear["dhi"]))
    assert est.expected_kw[0] == pytest.approx(est.clearsky_kw[0], rel=0.08)


def test_absurd_irradiance_is_ignored() -> None:
    noon = datetime(2025, 6, 21, 16, 50, tzinfo=UTC)
    est = expected_power([noon, noon], LAT, LON, ARRAY, ghi_w_m2=[-5.0, 99999.0])
    assert est.source == ("clearsky", "clearsky")


def test_wrong_length_weather_is_refused() -> None:
    with pytest.raises(ValueError, match="expected 2 values"):
        expected_power([DAY_START, DAY_START], LAT, LON, ARRAY, ghi_w_m2=[1.0])


def test_sun_position_matches_a_known_noon() -> None:
    elevation, azimuth = sun_position([datetime(2025, 6, 21, 16, 52, tzinfo=UTC)], LAT, LON)
    assert elevation[0] == pytest.approx(90 - LAT + 23.44, abs=0.5)  # solstice noon: 90 - lat + declination
    assert azimuth[0] == pytest.approx(180, abs=3)


def test_a_backlog_is_computed_in_one_vectorised_pass() -> None:
    times = [datetime(2025, 6, 14, tzinfo=UTC) + timedelta(minutes=15 * i) for i in range(672)]
    expected_power(times[:2], LAT, LON, ARRAY)  # warm the imports
    started = time.perf_counter()
    est = expected_power(times, LAT, LON, ARRAY, ghi_w_m2=[300.0] * 672)
    elapsed = time.perf_counter() - started
    assert len(est.expected_kw) == 672
    assert elapsed < 0.5


def test_daily_energy_clear_day_and_half_cloudy_day() -> None:
    start, _ = local_day_bounds(date(2025, 6, 21), "America/New_York")
    hour_ends = [start + timedelta(hours=h + 1) for h in range(24)]
    clear = daily_energy(hour_ends, LAT, LON, ARRAY)
    assert clear.expected_kwh == pytest.approx(clear.clearsky_kwh)
    assert 0.8 * 4.32 * 4 < clear.clearsky_kwh < 4.32 * 8  # 4.32 kWp: between 3.2 and 8 kWh per kWp on June 21
    assert clear.poa_insolation_kwh_m2 is None and clear.hours_with_weather == 0
    assert not clear.complete and clear.daylight_hours >= 14

    gti = [400.0 if 10 <= (t - timedelta(hours=4)).hour <= 16 else 0.0 for t in hour_ends]
    cloudy = daily_energy(hour_ends, LAT, LON, ARRAY, poa_w_m2=gti, ghi_w_m2=gti, air_temp_c=[20.0] * 24)
    assert cloudy.poa_insolation_kwh_m2 == pytest.approx(sum(gti) / 1000)
    assert cloudy.ghi_insolation_kwh_m2 == pytest.approx(sum(gti) / 1000)
    assert cloudy.expected_kwh < 0.6 * cloudy.clearsky_kwh
    assert cloudy.complete
