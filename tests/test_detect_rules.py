"""Array, weak-panel, counter, meter and PVS6-health rules on hand-built snapshots."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from test_detect_inverters import SERIALS, every, healthy, keys, run, snapshot, sun

from pvs6_cloud.enrich.conditions import Enrichment
from pvs6_parse.models import PvsHealth, Snapshot

T0 = datetime(2025, 6, 3, 14, 0, tzinfo=UTC)  # 10:00 EDT


def with_pvs(snap: Snapshot, **health: float) -> Snapshot:
    return replace(snap, pvs=PvsHealth("ZT01", **health))  # type: ignore[arg-type]


def with_lifetimes(snap: Snapshot, lifetimes: dict[str, float]) -> Snapshot:
    return replace(snap, inverters=tuple(replace(i, lifetime_kwh=lifetimes[i.serial]) for i in snap.inverters))


# ------------------------------------------------------------------ whole array
def test_array_going_dark_after_a_bright_morning_alerts() -> None:
    dark = dict.fromkeys(SERIALS, 0.0)
    readings = [(snapshot(t, healthy()), sun()) for t in every(15, 4)]
    readings += [(snapshot(t, dark, stale=SERIALS, meter_kw=0.0), sun()) for t in every(15, 4, T0 + timedelta(hours=1))]
    result, _ = run(readings)
    assert keys(result) == {"array_down:"}
    assert "breaker" in result.findings[0].advice


def test_array_dark_all_day_without_weather_is_snow_not_an_alert() -> None:
    dark = dict.fromkeys(SERIALS, 0.0)
    result, _ = run([(snapshot(t, dark, stale=SERIALS, meter_kw=0.0), sun()) for t in every(15, 30)])
    assert result.findings == ()


def test_array_dark_in_sunny_weather_alerts_even_without_a_bright_morning() -> None:
    dark = dict.fromkeys(SERIALS, 0.0)
    weather = Enrichment(sun_elevation_deg=50.0, clearsky_kw=3.4, expected_kw=3.0, expected_source="gti")
    result, _ = run([(snapshot(t, dark, stale=SERIALS, meter_kw=0.0), weather) for t in every(15, 5)])
    assert keys(result) == {"array_down:"}


def test_below_expected_needs_weather_and_two_days() -> None:
    low = healthy(0.05)
    bad_weather_model = Enrichment(sun_elevation_deg=50.0, clearsky_kw=3.4, expected_kw=3.0, expected_source="gti")
    readings = [(snapshot(t, low), bad_weather_model) for t in every(15, 24)]
    result, memory = run(readings)
    assert "below_expected:" not in keys(result), "one day is not enough"
    result, _ = run([(snapshot(t, low), bad_weather_model) for t in every(15, 24, T0 + timedelta(days=1))], memory)
    assert "below_expected:" in keys(result)
    finding = next(f for f in result.findings if f.kind == "below_expected")
    assert "kWh" in finding.details
    clearsky_only = Enrichment(sun_elevation_deg=50.0, clearsky_kw=3.4, expected_kw=3.4, expected_source="clearsky")
    result, _ = run([(snapshot(t, low), clearsky_only) for t in every(15, 24 * 3)])
    assert "below_expected:" not in keys(result), "a clear-sky fallback is not the weather"


# ------------------------------------------------------------------ weak panel
def _day(day: int, weak_kw: float, clouds: float = 1.0) -> list:
    readings = []
    for t in every(15, 28, T0 - timedelta(hours=1) + timedelta(days=day)):
        powers = {s: 0.26 * clouds for s in SERIALS}
        powers[SERIALS[9]] = weak_kw * clouds
        readings.append((snapshot(t, powers), sun(45.0, 3.6)))
    return readings


def test_weak_panel_found_on_the_third_sunny_day_and_not_on_cloudy_ones() -> None:
    result, memory = run(_day(0, 0.19) + _day(1, 0.19, clouds=0.3) + _day(2, 0.19))
    assert "inverter_weak:" + SERIALS[9] not in keys(result), "the cloudy day does not count"
    result, _ = run(_day(3, 0.19), memory)
    [finding] = [f for f in result.findings if f.kind == "inverter_weak"]
    assert finding.device == SERIALS[9]
    assert "73%" in finding.summary
    assert finding.evidence["ratios"] == [0.731, 0.731, 0.731]
    # The mail's words: days as the rest of the email writes them, one way of writing percentages.
    from datetime import date
    days = [date.fromisoformat(d) for d in finding.evidence["days"]]
    assert f"per day: {', '.join(f'{d:%a} {d.day} {d:%b}: 73%' for d in days)}; the other panels = 100%)" \
        in finding.details
    assert "below are your evidence" not in finding.advice


def test_slightly_lower_panel_is_not_weak() -> None:
    result, _ = run(_day(0, 0.23) + _day(1, 0.23) + _day(2, 0.23) + _day(3, 0.23))
    assert result.findings == ()


# ------------------------------------------------------------------ counters
def test_stuck_lifetime_counter_while_peers_grow() -> None:
    readings = []
    for i, t in enumerate(every(30, 12)):
        lifetimes = {s: 2000.0 + 0.13 * i for s in SERIALS}
        lifetimes[SERIALS[1]] = 1900.0
        readings.append((with_lifetimes(snapshot(t, healthy()), lifetimes), sun()))
    result, memory = run(readings)
    assert keys(result) == {"counter_stuck:" + SERIALS[1]}
    [stuck] = result.findings
    assert "running total of energy made has stayed at 1900.00 kWh" in stuck.details
    assert "lifetime counter" not in stuck.details
    moving = {s: 2010.0 for s in SERIALS}
    result, _ = run([(with_lifetimes(snapshot(T0 + timedelta(hours=7), healthy()), moving), sun())], memory)
    assert "counter_stuck:" + SERIALS[1] not in keys(result)


# ------------------------------------------------------------------ meters
def test_reversed_production_ct_in_full_sun() -> None:
    readings = [(snapshot(t, healthy(), meter_kw=-2.9), sun()) for t in every(15, 4)]
    result, _ = run(readings)
    assert keys(result) == {"meter_reversed:PVS6M1p"}
    assert "-2.90 kW" in result.findings[0].details


def test_small_negative_meter_at_dusk_is_normal() -> None:
    readings = [(snapshot(t, dict.fromkeys(SERIALS, 0.0), meter_kw=-0.01), sun(-3.0, 0.0)) for t in every(15, 8)]
    result, _ = run(readings)
    assert result.findings == ()


def test_production_at_night_is_impossible() -> None:
    readings = [(snapshot(t, dict.fromkeys(SERIALS, 0.0), meter_kw=1.5), sun(-30.0, 0.0)) for t in every(15, 4)]
    result, _ = run(readings)
    assert keys(result) == {"meter_impossible:PVS6M1p"}


# ------------------------------------------------------------------ PVS6 health
def _pvs_day(reboots_at: list[int], elevation: float) -> list:
    """Hourly readings; at the listed hours the uptime restarts from 5 minutes."""
    readings, boot = [], T0 - timedelta(days=3)
    for h, t in enumerate(every(60, 10)):
        if h in reboots_at:
            boot = t - timedelta(minutes=5)
        powers = healthy() if elevation > 0 else dict.fromkeys(SERIALS, 0.0)
        snap = with_pvs(snapshot(t, powers), uptime_s=(t - boot).total_seconds())
        readings.append((snap, sun(elevation)))
    return readings


def test_one_nightly_reboot_is_normal() -> None:
    result, _ = run(_pvs_day([3], elevation=-20.0))
    assert result.findings == ()


def test_repeated_daytime_reboots_alert() -> None:
    result, _ = run(_pvs_day([1], elevation=50.0))
    assert result.findings == (), "a single daytime reboot is not yet an alert"
    result, _ = run(_pvs_day([2, 5], elevation=50.0))
    assert keys(result) == {"pvs_reboots:"}
    assert "2 times" in result.findings[0].details


@pytest.mark.parametrize("absurd", [1e300, 1e15, -5.0], ids=["overflows-timedelta", "past-a-century", "negative"])
def test_an_uptime_no_pvs6_can_have_is_no_reboot_and_no_crash(absurd: float) -> None:
    """A corrupted or hostile uptime once overflowed the boot-time arithmetic: a 500 that stalled the Pi."""
    readings = [(with_pvs(snapshot(t, healthy()), uptime_s=absurd / (i + 1)), sun())  # falling: looks like a reboot
                for i, t in enumerate(every(15, 6))]
    result, _ = run(readings)
    assert "pvs_reboots:" not in keys(result)


def test_comm_errors_rising_fast_and_calming_down() -> None:
    readings = [(with_pvs(snapshot(t, healthy()), uptime_s=1e5 + 900 * i, comm_error_count=10 + 40 * i), sun())
                for i, t in enumerate(every(15, 6))]
    result, memory = run(readings)
    assert keys(result) == {"pvs_comm_errors:comm_error_count"}
    calm = [(with_pvs(snapshot(t, healthy()), uptime_s=2e5 + 900 * i, comm_error_count=300), sun())
            for i, t in enumerate(every(15, 6, T0 + timedelta(hours=2)))]
    result, _ = run(calm, memory)
    assert result.findings == ()


def test_slow_natural_comm_errors_are_normal() -> None:
    readings = [(with_pvs(snapshot(t, healthy()), uptime_s=1e5 + 3600 * i, comm_error_count=i // 4), sun())
                for i, t in enumerate(every(60, 10))]
    result, _ = run(readings)
    assert result.findings == ()


def test_flash_nearly_full() -> None:
    result, memory = run([(with_pvs(snapshot(T0, healthy()), flash_avail_kb=1200), sun())])
    assert keys(result) == {"pvs_flash_low:"}
    result, _ = run([(with_pvs(snapshot(T0 + timedelta(hours=1), healthy()), flash_avail_kb=59039), sun())], memory)
    assert result.findings == ()



def test_nightly_reboots_far_north_in_summer_are_normal() -> None:
    """Juneau in June: the sun is still up at the 21:00 reading and again at 06:00, but the 02:00 reboot is at night.

    One real daytime restart (a power blip at noon) next to the nightly routine is not "keeps restarting".
    """
    from pvs6_cloud.infra.config import SiteConfig

    site = SiteConfig("north", "s", 58.30, -134.42, "America/Juneau")
    start = datetime(2025, 6, 20, 14, 0, tzinfo=UTC)  # 06:00 AKDT
    boots = [start - timedelta(hours=4), start + timedelta(hours=20) - timedelta(minutes=3),
             start + timedelta(hours=30), start + timedelta(hours=44) - timedelta(minutes=6)]  # nightly + noon
    readings = []
    for day in range(3):
        for t in every(15, 61, start + timedelta(days=day)):  # 06:00-21:00 local, as the edge polls
            boot = max(b for b in boots if b < t)
            hour = (t - start - timedelta(days=day)).total_seconds() / 3600.0
            elevation = 5.0 + 40.0 * (1.0 - abs(hour - 7.5) / 7.5)  # >= 5 degrees from 06:00 to 21:00
            snap = with_pvs(snapshot(t, healthy()), uptime_s=(t - boot).total_seconds())
            readings.append((snap, sun(elevation)))
    result, _ = run(readings, site=site)
    assert "pvs_reboots:" not in keys(result)
