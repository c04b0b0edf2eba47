"""Alerts name the cause: a dead panel back to life is not a stuck counter, and panels that stop in the same
reading while the others produce are one alert (a circuit), even without a circuit map."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from test_detect_inverters import SERIALS, T0, every, healthy, keys, run, snapshot, sun
from test_detect_inverters import SITE as MAPPED

from pvs6_cloud.config import ArrayConfig
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
