"""The learned normal and the snow hold, on hand-built days: recurring shade, a dead panel, snow sliding off."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from pvs6_cloud.alerting.detect import detect, normal
from pvs6_cloud.enrich.conditions import Conditions, Enrichment
from pvs6_cloud.infra.config import ArrayConfig, DetectionConfig, SiteConfig
from pvs6_parse.models import DeviceState, Inverter, Meter, MeterRole, Snapshot

SERIALS = [f"E00{i:012d}" for i in range(1, 13)]
SITE = SiteConfig("home", "s", 41.76, -72.68, "America/New_York", array=ArrayConfig())
CFG = DetectionConfig()
READINGS_PER_DAY = 33  # every 15 minutes over 8 hours
SHADED = SERIALS[:2]


def _sun(i: int) -> tuple[float, float]:
    """A made-up but smooth sun path: elevation 20-60°, azimuth 90-270° across the day [°]."""
    return 20.0 + 40.0 * math.sin(math.pi * i / (READINGS_PER_DAY - 1)), 90.0 + 180.0 * i / (READINGS_PER_DAY - 1)


def _reading(at: datetime, i: int, powers: dict[str, float]) -> tuple[Snapshot, Enrichment]:
    inverters = []
    for serial, kw in powers.items():
        asleep = kw <= 0.0  # a dark microinverter sleeps: its measurement freezes
        inverters.append(Inverter(serial, state=DeviceState.ERROR if asleep else DeviceState.WORKING, power_kw=kw,
                                  lifetime_kwh=2000.0,
                                  measured_at=at - (timedelta(hours=3) if asleep else timedelta(seconds=20))))
    meter = Meter("PVS6M1p", MeterRole.PRODUCTION, subtype="GROSS_PRODUCTION_SITE", power_kw=sum(powers.values()))
    elevation, azimuth = _sun(i)
    return (Snapshot("home", at, "dl_cgi", production_meter=meter, inverters=tuple(inverters)),
            Enrichment(sun_elevation_deg=elevation, sun_azimuth_deg=azimuth, clearsky_kw=12 * 0.3))


def _day(start: datetime, power_at, memory: dict, site: SiteConfig = SITE) -> set[str]:
    """Play one day of readings one upload at a time; every finding key seen that day."""
    seen: set[str] = set()
    for i in range(READINGS_PER_DAY):
        at = start + timedelta(minutes=15 * i)
        result = detect([_reading(at, i, power_at(i))], {}, memory, site, CFG, at)
        seen |= {f.key for f in result.findings}
    return seen


def _shaded_morning(i: int, dead: str = "", dead_from: int = 99) -> dict[str, float]:
    """A tree shades two panels for the first two hours; ``dead`` dies at reading ``dead_from``."""
    powers = {}
    for serial in SERIALS:
        kw = 0.25
        if serial in SHADED and i < 8:
            kw = 0.0
        if serial == dead and i >= dead_from:
            kw = 0.0
        powers[serial] = kw
    return powers


def _start(day: int) -> datetime:
    return datetime(2025, 6, 3, 11, 0, tzinfo=UTC) + timedelta(days=day)  # 07:00 EDT


def test_a_recurring_morning_shadow_never_alerts_not_even_on_the_first_morning() -> None:
    """Before anything is learned, a panel not yet awake is not judged while the sun climbs; then it is learned."""
    memory: dict = {}
    seen = set()
    for day in range(6):
        seen |= _day(_start(day), _shaded_morning, memory)
    assert not any(k.startswith(("inverter_down", "circuit_down")) for k in seen), seen
    learned = memory["normal"]
    assert len(json.dumps(learned)) < 64 * 1024


def test_a_shadow_seen_on_one_sunny_day_is_expected_the_next_even_where_its_edge_drifts() -> None:
    memory: dict = {}
    _day(_start(0), _shaded_morning, memory)
    victim = SERIALS[9]

    def drifted(i: int) -> dict[str, float]:  # the shadow leaves a reading later; another panel dies at noon
        powers = _shaded_morning(i, dead=victim, dead_from=12)
        return powers | ({s: 0.0 for s in SHADED} if i == 8 else {})

    seen = _day(_start(1), drifted, memory)
    assert not any(k.startswith(("inverter_down", "circuit_down")) and victim not in k for k in seen), seen
    assert f"inverter_down:{victim}" in seen, "a panel never seen dark is judged as before"


def test_a_dead_panel_is_still_found_on_a_learned_roof_even_when_it_is_one_the_tree_shades() -> None:
    memory: dict = {}
    for day in range(4):
        _day(_start(day), _shaded_morning, memory)
    seen = _day(_start(4), lambda i: _shaded_morning(i, dead=SHADED[0], dead_from=14), memory)
    assert f"inverter_down:{SHADED[0]}" in seen
    assert not any(k.startswith("inverter_down") and SHADED[0] not in k for k in seen), seen


def test_a_panel_that_dies_is_never_learned_as_normal() -> None:
    memory: dict = {}
    for day in range(4):
        _day(_start(day), _shaded_morning, memory)
    victim = SERIALS[7]
    for day in range(4, 8):  # dead from the middle of day 4 on, for days: its alert must stay open
        first = 12 if day == 4 else 0
        seen = _day(_start(day), lambda i, first=first: _shaded_morning(i, dead=victim, dead_from=first), memory)
        assert f"inverter_down:{victim}" in seen, day


def test_the_learned_table_stays_under_its_bound_for_a_big_site() -> None:
    mem: dict = {"panels": [], "bins": {}, "today": {}}
    many = [f"E{i:014d}" for i in range(60)]
    for day in range(40):
        obs = {f"{'ud'[day % 2]}{az}:{el}": {s: [30.0, 0.0, 30.0] for s in many} for az in range(24) for el in range(9)}
        normal._commit(mem, {"obs": obs, "good": dict.fromkeys(many, 600.0), "own": {}, "excl": []}, CFG.weak_ratio)
    assert len(json.dumps(mem, separators=(",", ":"))) <= normal.MAX_BYTES
    assert mem["bins"], "bins are dropped least-used first, not all"


WINTER = SiteConfig("home", "s", 41.76, -72.68, "America/New_York", array=ArrayConfig())


def _winter_start(day: int) -> datetime:
    return datetime(2025, 1, 14, 14, 0, tzinfo=UTC) + timedelta(days=day)  # 09:00 EST


def _shedding(i: int, stuck: str = "") -> dict[str, float]:
    """Snow-covered until reading 6, then one panel a reading sheds; ``stuck`` keeps its snow all day."""
    return {s: (0.25 if i >= 6 + k and s != stuck else 0.0) for k, s in enumerate(SERIALS)}


def test_snow_sliding_off_panel_by_panel_raises_nothing() -> None:
    memory: dict = {}
    seen = _day(_winter_start(0), _shedding, memory, WINTER)
    assert not any(k.startswith(("inverter_down", "counter_stuck")) for k in seen), seen


def test_a_panel_that_does_not_recover_after_the_snow_is_reported_and_the_alert_says_why() -> None:
    memory: dict = {}
    stuck = SERIALS[3]
    findings = []
    for i in range(READINGS_PER_DAY):
        at = _winter_start(0) + timedelta(minutes=15 * i)
        result = detect([_reading(at, i, _shedding(i, stuck))], {}, memory, WINTER, CFG, at)
        findings = [f for f in result.findings if f.kind == "inverter_down"]
    assert [f.device for f in findings] == [stuck]
    assert "Snow covered the panels" in findings[0].details


def _october_start(day: int) -> datetime:
    return datetime(2025, 10, 21, 13, 0, tzinfo=UTC) + timedelta(days=day)  # 09:00 EDT: not winter by the readings


def _play_with_weather(start: datetime, power_at, weather_at, memory: dict, readings: int = READINGS_PER_DAY) -> list:
    """A day's first ``readings``, one upload each, with ``weather_at(i)`` as the reading's `Conditions`.

    Every finding seen (the latest of each), so one that opened and cleared again still counts.
    """
    seen: dict = {}
    for i in range(readings):
        at = start + timedelta(minutes=15 * i)
        snap, enrichment = _reading(at, i, power_at(i))
        enrichment = Enrichment(sun_elevation_deg=enrichment.sun_elevation_deg,
                                sun_azimuth_deg=enrichment.sun_azimuth_deg, clearsky_kw=enrichment.clearsky_kw,
                                conditions=weather_at(i))
        seen |= {f.key: f for f in detect([(snap, enrichment)], {}, memory, WINTER, CFG, at).findings}
    return list(seen.values())


def _a_clear_day_before(memory: dict) -> None:
    """The monitor watched an ordinary day first, so it knows when each panel usually starts producing."""
    assert not _play_with_weather(_october_start(-1), lambda i: dict.fromkeys(SERIALS, 0.25), lambda i: None, memory)


SNOWING_AT_DAWN = {  # what Open-Meteo says in the morning: still snowing, or snow lying since the night
    "snowfall": lambda i: Conditions(snowfall_cm=0.6 if i < 3 else 0.0, snow_depth_m=None),
    "snow depth": lambda i: Conditions(snowfall_cm=0.0, snow_depth_m=0.08),
}


def test_without_weather_an_october_snow_is_not_recognised_by_the_readings_alone() -> None:
    """The contrast for the next test: the readings rule only knows winter months."""
    memory: dict = {}
    _a_clear_day_before(memory)
    findings = _play_with_weather(_october_start(0), _shedding, lambda i: None, memory)
    assert any(f.kind == "inverter_down" for f in findings)


@pytest.mark.parametrize("evidence", sorted(SNOWING_AT_DAWN))
def test_an_october_snow_the_weather_reports_holds_panel_alerts_while_panels_shed_one_by_one(evidence: str) -> None:
    memory: dict = {}
    findings = _play_with_weather(_october_start(0), _shedding, SNOWING_AT_DAWN[evidence], memory)
    assert not [f for f in findings if f.kind in ("inverter_down", "circuit_down", "counter_stuck")], findings


def test_a_panel_still_dead_after_a_weather_snow_hold_is_alerted_and_the_alert_says_snow_came_first() -> None:
    memory: dict = {}
    stuck = SERIALS[3]
    findings = _play_with_weather(_october_start(0), lambda i: _shedding(i, stuck), SNOWING_AT_DAWN["snowfall"],
                                  memory)
    down = [f for f in findings if f.kind == "inverter_down"]
    assert [f.device for f in down] == [stuck]
    assert "Snow covered the panels on 2025-10-21" in down[0].details


def test_snow_lying_on_the_ground_for_days_holds_once_not_every_morning() -> None:
    memory: dict = {}
    _a_clear_day_before(memory)
    lying = SNOWING_AT_DAWN["snow depth"]
    assert not _play_with_weather(_october_start(0), _shedding, lying, memory)
    # The next morning the roof is clear, the ground still white, and one panel is dead from the first reading:
    # judged within the hour as on any day (a new hold would wait for three sunny hours first).
    victim = SERIALS[8]
    first_hours = _play_with_weather(_october_start(1), lambda i: {s: 0.0 if s == victim else 0.25 for s in SERIALS},
                                     lambda i: Conditions(snowfall_cm=0.0, snow_depth_m=0.07), memory, readings=6)
    assert [f.device for f in first_hours if f.kind == "inverter_down"] == [victim]


def test_fresh_snow_on_snow_already_lying_starts_a_new_hold() -> None:
    memory: dict = {}
    assert not _play_with_weather(_october_start(0), _shedding, SNOWING_AT_DAWN["snow depth"], memory)
    deeper = _play_with_weather(_october_start(1), _shedding, lambda i: Conditions(snowfall_cm=0.0, snow_depth_m=0.12),
                                memory)
    assert not [f for f in deeper if f.kind == "inverter_down"], deeper


def test_a_summer_morning_with_one_dark_panel_is_judged_at_once() -> None:
    memory: dict = {}
    seen = _day(_start(0), lambda i: _shaded_morning(i, dead=SERIALS[9], dead_from=0), memory)
    assert f"inverter_down:{SERIALS[9]}" in seen


def test_a_panel_weak_from_its_first_day_is_not_learned_as_normal_and_is_reported() -> None:
    memory: dict = {}
    weak = SERIALS[5]
    seen: set[str] = set()
    for day in range(4):
        seen |= _day(_start(day), lambda i: {s: 0.25 * (0.75 if s == weak else 1.0) for s in SERIALS}, memory)
    assert f"inverter_weak:{weak}" in seen, seen


WEST = SERIALS[9:]  # a small west face: the rest of the roof faces south


def _south_and_west(i: int, weak: str = "") -> dict[str, float]:
    """A winter day on a south roof with a small west face that the config does not describe: the west panels
    make 15 % of a south panel in the morning and, as the sun comes round, rise to 70 % (their share of an
    average panel never reaches the weak bar, 80 %); ``weak`` makes 75 % of what it should."""
    powers = {}
    for serial in SERIALS:
        kw = 0.25 * (0.15 + 0.55 * i / (READINGS_PER_DAY - 1)) if serial in WEST else 0.25
        powers[serial] = kw * (0.75 if serial == weak else 1.0)
    return powers


def test_a_small_face_that_never_reaches_the_weak_bar_is_learned_and_never_turns_weak() -> None:
    """Against the whole array the west panels make about half all day: three sunny days would make them "weak".
    They see the sun alike, so their days are learned, and after that they are at their own normal."""
    memory: dict = {}
    seen: set[str] = set()
    for day in range(7):
        seen |= _day(_start(day), _south_and_west, memory)
    assert not any(k.startswith("inverter_") for k in seen), seen


def test_a_west_panel_turning_25_percent_weak_on_that_roof_is_found_within_three_sunny_days() -> None:
    memory: dict = {}
    for day in range(4):
        _day(_start(day), _south_and_west, memory)
    weak = WEST[1]
    seen: set[str] = set()
    for day in range(4, 7):
        seen |= _day(_start(day), lambda i: _south_and_west(i, weak=weak), memory)
    assert f"inverter_weak:{weak}" in seen, seen
    assert not any(k.startswith("inverter_") and weak not in k for k in seen), seen


@pytest.mark.parametrize("weak", [WEST[0], SERIALS[2]], ids=["west", "south"])
def test_a_panel_weak_from_its_first_day_on_that_roof_has_no_panel_alike_and_is_reported(weak: str) -> None:
    """Its face-mates make a third more than it does at every sun position: they do not vouch for it."""
    memory: dict = {}
    seen: set[str] = set()
    for day in range(4):
        seen |= _day(_start(day), lambda i: _south_and_west(i, weak=weak), memory)
    assert f"inverter_weak:{weak}" in seen, seen
    assert not any(k.startswith("inverter_") and weak not in k for k in seen), seen


def test_a_weak_alert_raised_before_its_face_was_learned_clears_once_the_panel_is_back_at_its_normal() -> None:
    """Below its peers for good, but a west panel's own normal says it is fine: that is enough to recover."""
    memory: dict = {}
    for day in range(4):
        _day(_start(day), _south_and_west, memory)
    days = ["2025-06-03", "2025-06-04", "2025-06-05"]  # as the first sunny days, before learning, would have had it
    memory["weak"]["active"][WEST[0]] = {"since_day": days[0], "ratios": [0.42, 0.42, 0.42], "days": days}
    _day(_start(4), _south_and_west, memory)
    at = _start(4) + timedelta(minutes=15 * READINGS_PER_DAY)
    result = detect([_reading(at, READINGS_PER_DAY - 1, _south_and_west(READINGS_PER_DAY - 1))], {}, memory, SITE,
                    CFG, at)
    assert not [f for f in result.findings if f.kind == "inverter_weak"], result.findings
