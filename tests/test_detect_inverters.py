"""Per-panel rules on hand-built snapshots: down, missing, circuit; and the conditions that must never alert."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pvs6_cloud.alerting.detect import detect
from pvs6_cloud.enrich.conditions import Enrichment
from pvs6_cloud.infra.config import ArrayConfig, DetectionConfig, SiteConfig
from pvs6_parse import parse_payload
from pvs6_parse.models import DeviceState, Inverter, Meter, MeterRole, Snapshot

SERIALS = [f"E00{i:012d}" for i in range(1, 13)]
CIRCUITS = {"1": tuple(SERIALS[:6]), "2": tuple(SERIALS[6:])}
SITE = SiteConfig("home", "s", 41.76, -72.68, "America/New_York",
                  array=ArrayConfig(circuits=CIRCUITS, places={SERIALS[2]: "top row, 3rd from left"}))
CFG = DetectionConfig()
T0 = datetime(2025, 6, 3, 14, 0, tzinfo=UTC)  # 10:00 EDT
DATA = Path(__file__).resolve().parent / "data"


def snapshot(at: datetime, powers: dict[str, float | None], *, stale: Iterable[str] = (),
             meter_kw: float | None = None) -> Snapshot:
    """Inverters with the given power; None = absent; stale ones carry a measurement 2 h old."""
    inverters = []
    for serial, kw in powers.items():
        if kw is None:
            continue
        old = serial in set(stale)
        inverters.append(Inverter(serial, state=DeviceState.WORKING if kw > 0 and not old else DeviceState.ERROR,
                                  power_kw=kw, lifetime_kwh=2000.0,
                                  measured_at=at - (timedelta(hours=2) if old else timedelta(seconds=20))))
    total = sum(v for v in powers.values() if v) if meter_kw is None else meter_kw
    meter = Meter("PVS6M1p", MeterRole.PRODUCTION, subtype="GROSS_PRODUCTION_SITE", power_kw=total)
    return Snapshot("home", at, "dl_cgi", production_meter=meter, inverters=tuple(inverters))


def sun(elevation: float = 50.0, clearsky_kw: float = 3.4) -> Enrichment:
    return Enrichment(sun_elevation_deg=elevation, clearsky_kw=clearsky_kw)


def run(readings: list[tuple[Snapshot, Enrichment]], memory: dict | None = None, site: SiteConfig = SITE):
    """Feed readings one by one (as the edge would, one upload per poll); return the last detection and memory."""
    memory = {} if memory is None else memory
    result = None
    for snap, enr in readings:
        result = detect([(snap, enr)], {}, memory, site, CFG, snap.captured_at)
    return result, memory


def every(minutes: int, count: int, start: datetime = T0) -> list[datetime]:
    return [start + timedelta(minutes=minutes * i) for i in range(count)]


def healthy(kw: float = 0.25) -> dict[str, float | None]:
    return dict.fromkeys(SERIALS, kw)


def keys(result) -> set[str]:
    return {f.key for f in result.findings}


def test_dead_inverter_opens_within_an_hour_and_says_where() -> None:
    readings = [(snapshot(t, healthy()), sun()) for t in every(15, 4)]
    dead = {**healthy(), SERIALS[2]: 0.0}
    readings += [(snapshot(t, dead, stale=[SERIALS[2]]), sun()) for t in every(15, 2, T0 + timedelta(hours=1))]
    result, memory = run(readings)
    assert "inverter_down:" + SERIALS[2] not in keys(result), "30 minutes is not yet persistent"
    result, memory = run([(snapshot(T0 + timedelta(minutes=90), dead, stale=[SERIALS[2]]), sun())], memory)
    [finding] = result.findings
    assert finding.key == "inverter_down:" + SERIALS[2]
    assert "circuit 1, top row, 3rd from left" in finding.summary
    assert "0 W" in finding.details and "250 W" in finding.details
    assert "minutes old" in finding.details
    assert "installer" in finding.advice
    assert finding.evidence["chart"]["focus"] == [SERIALS[2]]


def awake() -> list[tuple[Snapshot, Enrichment]]:
    """Every panel produced early this morning: a panel that stops after this is judged at once (not a shadow)."""
    return [(snapshot(T0 - timedelta(hours=2), healthy()), sun(20.0))]


def test_recovery_clears_after_good_readings() -> None:
    dead = {**healthy(), SERIALS[0]: 0.0}
    result, memory = run(awake() + [(snapshot(t, dead), sun()) for t in every(15, 5)])
    assert "inverter_down:" + SERIALS[0] in keys(result)
    result, memory = run([(snapshot(T0 + timedelta(hours=2), healthy()), sun())], memory)
    assert "inverter_down:" + SERIALS[0] in keys(result), "one good reading is not a recovery"
    result, _ = run([(snapshot(t, healthy()), sun()) for t in every(15, 2, T0 + timedelta(minutes=135))], memory)
    assert keys(result) == set()
    assert "inverter_down" in result.evaluated_kinds


def test_night_dawn_and_dusk_never_alert() -> None:
    dark = dict.fromkeys(SERIALS, 0.0)
    half = {**healthy(0.02), SERIALS[0]: 0.0}
    readings = [(snapshot(t, dark, stale=SERIALS), sun(-20.0, 0.0)) for t in every(15, 40)]
    readings += [(snapshot(t, half), sun(8.0, 0.4)) for t in every(15, 12, T0 + timedelta(hours=10))]
    result, _ = run(readings)
    assert result.findings == ()
    assert "inverter_down" not in result.evaluated_kinds


def test_overcast_and_snow_where_all_panels_are_low_never_alert() -> None:
    overcast = {s: 0.006 + 0.002 * (i % 3) for i, s in enumerate(SERIALS)}
    snow = {**dict.fromkeys(SERIALS, 0.0), SERIALS[5]: 0.04}
    readings = [(snapshot(t, overcast), sun()) for t in every(15, 16)]
    readings += [(snapshot(t, snow, stale=SERIALS[:5]), sun()) for t in every(15, 16, T0 + timedelta(hours=4))]
    result, _ = run(readings)
    assert result.findings == ()


def test_circuit_tripped_is_one_finding_not_six() -> None:
    tripped = {**healthy(), **dict.fromkeys(CIRCUITS["2"], 0.0)}
    result, _ = run(awake() + [(snapshot(t, tripped, stale=CIRCUITS["2"]), sun()) for t in every(15, 5)])
    assert keys(result) == {"circuit_down:2"}
    [finding] = result.findings
    assert "circuit 2" in finding.summary and "breaker" in finding.advice
    assert sorted(finding.evidence["serials"]) == sorted(CIRCUITS["2"])


def test_a_panel_dead_before_the_breaker_trips_stays_reported() -> None:
    one_dead = {**healthy(), SERIALS[7]: 0.0}
    result, memory = run(awake() + [(snapshot(t, one_dead), sun()) for t in every(15, 5)])
    assert keys(result) == {"inverter_down:" + SERIALS[7]}
    tripped = {**healthy(), **dict.fromkeys(CIRCUITS["2"], 0.0)}
    result, _ = run([(snapshot(t, tripped), sun()) for t in every(15, 5, T0 + timedelta(hours=2))], memory)
    assert keys(result) == {"inverter_down:" + SERIALS[7], "circuit_down:2"}


def test_varserver_absence_is_judged_only_after_an_hour_of_daylight_and_with_most_peers() -> None:
    missing = {**healthy(), SERIALS[4]: None}
    site = SiteConfig("home", "s", 41.76, -72.68, "America/New_York")  # nothing configured: learnt from data
    readings = [(snapshot(t, healthy(0.1)), sun(16.0)) for t in every(15, 1, T0 - timedelta(hours=1))]
    # Sunrise: panels report in one by one, and one of them never does.
    readings += [(snapshot(t, missing), sun(16.0)) for t in every(15, 3, T0 + timedelta(days=1))]
    result, memory = run(readings, site=site)
    assert result.findings == (), "absence in the first hour after sunrise is normal on varserver"
    result, memory = run([(snapshot(t, missing), sun(30.0)) for t in every(15, 4, T0 + timedelta(days=1, hours=1))],
                         memory, site=site)
    [finding] = result.findings
    assert finding.key == "inverter_down:" + SERIALS[4]
    assert "no longer reported" in finding.summary and "did not list it" in finding.details
    most_absent = {s: (0.25 if i < 3 else None) for i, s in enumerate(SERIALS)}
    result, _ = run([(snapshot(t, most_absent), sun(30.0)) for t in every(15, 8, T0 + timedelta(days=2, hours=2))],
                    site=site)
    assert result.findings == ()


def test_new_device_after_learning_period_is_reported_quietly() -> None:
    site = SiteConfig("home", "s", 41.76, -72.68, "America/New_York")
    readings = [(snapshot(t, healthy()), sun()) for t in every(60 * 12, 5)]
    newcomer = {**healthy(), "E00999999999999": 0.25}
    readings.append((snapshot(T0 + timedelta(days=3), newcomer), sun()))
    result, _ = run(readings, site=site)
    [finding] = result.findings
    assert finding.key == "device_new:E00999999999999"
    assert finding.evidence["quiet_resolve"] is True


def test_seed_sample_at_night_gives_no_findings() -> None:
    payload = json.loads((DATA / "seed_devicelist.json").read_text())
    at = datetime(2025, 9, 13, 1, 21, 15, tzinfo=UTC)  # 21:21 local: the seed's own capture, after dusk
    snap = parse_payload(payload, source="dl_cgi", site="home", captured_at=at)
    result, _ = run([(snap, sun(-12.0, 0.0))] * 3)
    assert result.findings == ()


def test_two_inverter_system_reports_the_dead_one() -> None:
    """With two panels, the one still producing is the only peer: a dead partner must still be reported."""
    pair = SERIALS[:2]
    site = SiteConfig("home", "s", 41.76, -72.68, "America/New_York", array=ArrayConfig(panels=2))
    readings = [(snapshot(t, dict.fromkeys(pair, 0.25)), sun(clearsky_kw=0.6)) for t in every(15, 4)]
    dead = {pair[0]: 0.25, pair[1]: 0.0}
    readings += [(snapshot(t, dead, stale=[pair[1]]), sun(clearsky_kw=0.6))
                 for t in every(15, 5, T0 + timedelta(hours=1))]
    result, _ = run(readings, site=site)
    assert keys(result) == {"inverter_down:" + pair[1]}


def test_two_inverter_system_under_clouds_stays_quiet() -> None:
    pair = SERIALS[:2]
    site = SiteConfig("home", "s", 41.76, -72.68, "America/New_York", array=ArrayConfig(panels=2))
    dim = {pair[0]: 0.02, pair[1]: 0.015}
    result, _ = run([(snapshot(t, dim), sun(clearsky_kw=0.6)) for t in every(15, 12)], site=site)
    assert result.findings == ()
