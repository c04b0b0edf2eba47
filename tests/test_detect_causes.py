"""Alerts name the cause: a dead panel back to life is not a stuck counter, and panels that stop in the same
reading while the others produce are one alert (a circuit), even without a circuit map."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from test_detect_inverters import SERIALS, T0, every, healthy, keys, run, snapshot, sun
from test_detect_inverters import SITE as MAPPED

from pvs6_cloud.infra.config import ArrayConfig
from pvs6_parse.models import Snapshot

UNMAPPED = replace(MAPPED, array=ArrayConfig())


def _counting(snap: Snapshot, lifetimes: dict[str, float]) -> Snapshot:
    return replace(snap, inverters=tuple(replace(i, lifetime_kwh=lifetimes[i.serial]) for i in snap.inverters))


def test_a_dead_panel_back_to_life_is_not_a_stuck_counter() -> None:
    """Dead 10:00-15:00 (its counter frozen with it), then producing again: its counter has not moved yet on the
    first reading back, but it was not producing over the window, so that says nothing about the counter."""
    dead = SERIALS[4]
    lifetimes = dict.fromkeys(SERIALS, 2000.0)
    readings = []
    for t in every(15, 24):  # 10:00-15:45 local
        back = t >= T0 + timedelta(hours=5)
        powers = {**healthy(), dead: 0.25 if back else 0.0}
        readings.append((_counting(snapshot(t, powers, stale=[] if back else [dead]), dict(lifetimes)), sun()))
        for serial in SERIALS:
            if serial != dead or t > T0 + timedelta(hours=5):
                lifetimes[serial] += 0.0625
    memory: dict = {}
    seen: set[str] = set()
    for reading in readings:
        result, memory = run([reading], memory)
        seen |= keys(result)
    assert "inverter_down:" + dead in seen
    assert "counter_stuck:" + dead not in seen


def test_a_producing_panel_whose_counter_stops_is_still_found() -> None:
    stuck = SERIALS[4]
    lifetimes = dict.fromkeys(SERIALS, 2000.0)
    readings = []
    for t in every(15, 24):
        readings.append((_counting(snapshot(t, healthy()), dict(lifetimes)), sun()))
        for serial in SERIALS:
            lifetimes[serial] += 0.0 if serial == stuck else 0.0625
    result, _ = run(readings)
    assert "counter_stuck:" + stuck in keys(result)


def _trip(site, hours_down: float = 2.0) -> list:
    """Healthy 10:00-11:15 local; panels 7-12 at 0 W from 11:30 for ``hours_down``; then all healthy again."""
    tripped = {**healthy(), **dict.fromkeys(SERIALS[6:], 0.0)}
    out = [(snapshot(t, healthy()), sun()) for t in every(15, 6)]
    down = int(hours_down * 4)
    out += [(snapshot(t, tripped, stale=SERIALS[6:]), sun()) for t in every(15, down, T0 + timedelta(hours=1.5))]
    out += [(snapshot(t, healthy()), sun()) for t in every(15, 6, T0 + timedelta(hours=1.5 + hours_down))]
    return out


def test_panels_that_stop_together_are_one_circuit_alert_without_a_map() -> None:
    memory: dict = {}
    seen: list[set[str]] = []
    finding = None
    for reading in _trip(UNMAPPED):
        result, memory = run([reading], memory, site=UNMAPPED)
        seen.append(keys(result))
        finding = next(iter(result.findings), finding)
    group = "circuit_down:" + ",".join(SERIALS[6:])
    assert {k for ks in seen for k in ks} == {group}, "one alert, never six panel alerts"
    first = next(i for i, ks in enumerate(seen) if ks)
    assert first - 6 <= 4, "opened within an hour of the trip (four 15-minute readings)"
    assert not seen[-1], "resolved as a group once the panels are back"
    assert finding is not None
    assert finding.summary == "6 of your 12 panels stopped together at 11:30"
    assert "tripped breaker or a circuit fault, not 6 broken microinverters" in finding.details
    assert "snow" not in finding.details  # they were producing before: not snow at first light


def test_one_alert_row_for_a_trip_without_a_map_opened_and_resolved_once() -> None:
    from pvs6_cloud.alerting.flow import evaluate_batch
    from pvs6_cloud.infra.config import CloudConfig
    from pvs6_cloud.store.state import SiteState

    state = SiteState()
    site = replace(UNMAPPED, mail_to=("o@example.com",))
    evaluate_batch(_trip(site), {}, state, site, CloudConfig(sites={"home": site}), T0 + timedelta(days=1))
    [row] = state.section("alerts")["rows"]
    assert row["kind"] == "circuit_down" and row["resolved"]
    assert "6 of your 12 panels stopped together" in row["message"]


def test_a_configured_map_still_names_the_circuit() -> None:
    result, _ = run(_trip(MAPPED, hours_down=1.5)[:13])
    assert keys(result) == {"circuit_down:2"}


def test_a_single_dead_panel_is_still_its_own_alert_without_a_map() -> None:
    dead = {**healthy(), SERIALS[3]: 0.0}
    readings = [(snapshot(t, healthy()), sun()) for t in every(15, 4)]
    readings += [(snapshot(t, dead, stale=[SERIALS[3]]), sun()) for t in every(15, 6, T0 + timedelta(hours=1))]
    result, _ = run(readings, site=UNMAPPED)
    assert keys(result) == {"inverter_down:" + SERIALS[3]}


def test_a_dead_panel_on_a_dull_winter_day_is_judged_against_peers_making_a_few_watts() -> None:
    """December overcast: every panel makes 7-9 W, under the 30 W floor; they agree, so a dead one is plain."""
    winter = {s: 0.007 + 0.001 * (i % 3) for i, s in enumerate(SERIALS)}
    dead = {**winter, SERIALS[7]: 0.0}
    readings = [(snapshot(t, winter), sun(20.0, 1.5)) for t in every(15, 4)]
    readings += [(snapshot(t, dead, stale=[SERIALS[7]]), sun(20.0, 1.5)) for t in every(15, 4, T0 + timedelta(hours=1))]
    result, _ = run(readings, site=UNMAPPED)
    assert keys(result) == {"inverter_down:" + SERIALS[7]}


def test_panels_waking_unevenly_at_a_few_watts_are_no_baseline() -> None:
    scattered = {s: 0.003 + 0.004 * (i % 4) for i, s in enumerate(SERIALS)}  # 3-15 W, no agreement
    dead = {**scattered, SERIALS[7]: 0.0}
    readings = [(snapshot(t, dead, stale=[SERIALS[7]]), sun(20.0, 1.5)) for t in every(15, 8)]
    result, _ = run(readings, site=UNMAPPED)
    assert result.findings == ()
    assert "inverter_down" not in result.evaluated_kinds


def _flaky_days(drop_days: set[int], days: int, drop_min: int = 45) -> list:
    """10:00-18:00 local each day; panel 10 at 0 W from 14:00 for ``drop_min`` on the listed days."""
    out = []
    for day in range(days):
        for t in every(15, 33, T0 + timedelta(days=day)):
            start = T0 + timedelta(days=day, hours=4)
            down = day in drop_days and start <= t < start + timedelta(minutes=drop_min)
            powers = {**healthy(), SERIALS[9]: 0.0} if down else healthy()
            out.append((snapshot(t, powers, stale=[SERIALS[9]] if down else []), sun()))
    return out


def test_a_panel_dropping_out_most_afternoons_is_one_alert_kept_open() -> None:
    from pvs6_cloud.alerting.flow import evaluate_batch
    from pvs6_cloud.infra.config import CloudConfig
    from pvs6_cloud.store.state import SiteState

    site = replace(UNMAPPED, mail_to=("o@example.com",))
    state = SiteState()
    for snap, enr in _flaky_days({0, 1, 3, 4, 5}, 7):
        evaluate_batch([(snap, enr)], {}, state, site, CloudConfig(sites={"home": site}),
                       snap.captured_at + timedelta(seconds=20))
    rows = state.section("alerts")["rows"]
    flaky = [r for r in rows if r["kind"] == "inverter_intermittent"]
    assert len(flaky) == 1 and not flaky[0]["resolved"], "one alert, open while the pattern lasts"
    assert flaky[0]["opened"] < (T0 + timedelta(days=4)).isoformat(), "named within four days"
    assert "drops out most afternoons" in flaky[0]["message"]
    downs = [r for r in rows if r["kind"] == "inverter_down"]
    assert all(r["opened"] < flaky[0]["opened"] for r in downs), "no more panel-down flaps once it is named"


def test_a_single_drop_is_no_pattern() -> None:
    result, _ = run(_flaky_days({1}, 3, drop_min=30), site=UNMAPPED)
    assert result.findings == ()
