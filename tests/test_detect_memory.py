"""The site's memory stays bounded over years of replaced inverters, without losing an alert that is still open."""

from __future__ import annotations

import json
from datetime import timedelta

from test_detect_inverters import SERIALS, T0, every, healthy, keys, run, snapshot, sun


def _day(day: int, serials: list[str]) -> list:
    start = T0 + timedelta(days=day)
    return [(snapshot(t, dict.fromkeys(serials, 0.25)), sun()) for t in every(30, 8, start)]


def _generation(n: int) -> list[str]:
    return [f"X{n:04d}{i:08d}" for i in range(12)]


def test_replaced_inverters_leave_the_memory_after_a_month() -> None:
    memory: dict = {}
    sizes = {}
    for day in range(200):  # all twelve inverters replaced every ten days: 240 serials in 200 days
        run(_day(day, _generation(day // 10)), memory)
        if day in (79, 199):
            sizes[day] = len(json.dumps(memory))
    assert sizes[199] < 1.05 * sizes[79], "a serial gone for a month must not stay in any rule's memory"
    remembered = set(memory["inverters"]["last_prod"]) | set(memory["inverters"]["inv"])
    recent = {s for n in range(16, 20) for s in _generation(n)}
    assert remembered - set(SERIALS) <= recent, "only the past month's serials (and the configured ones) are kept"


def test_a_panel_whose_alert_is_open_is_not_forgotten_when_it_stops_reporting() -> None:
    memory: dict = {}
    dead = SERIALS[3]
    result, _ = run([(snapshot(t, healthy()), sun()) for t in every(15, 4)], memory)
    without = {s: (None if s == dead else 0.25) for s in SERIALS}
    for day in range(40):  # the panel vanishes from the PVS6's list for 40 days
        start = T0 + timedelta(days=day, hours=1)
        result, _ = run([(snapshot(t, without), sun()) for t in every(30, 8, start)], memory)
    assert f"inverter_down:{dead}" in keys(result)
    assert dead in memory["inverters"]["inv"]


def test_a_replaced_inverter_resolves_the_dead_ones_alert() -> None:
    """The installer swaps the dead microinverter: the new serial takes its place, the old alert resolves."""
    memory: dict = {}
    old, new = "E00000000000777", "E00000000000999"
    panels = [*SERIALS, old]
    run([(snapshot(t, dict.fromkeys(panels, 0.25)), sun()) for t in every(15, 4)], memory)
    before = {s: (None if s == old else 0.25) for s in panels}
    for day in range(3):  # dead and gone from the PVS6's list for three days
        result, _ = run([(snapshot(t, before), sun()) for t in every(30, 8, T0 + timedelta(days=day, hours=1))],
                        memory)
    assert f"inverter_down:{old}" in keys(result)
    after = {**dict.fromkeys(SERIALS, 0.25), new: 0.25}
    result, _ = run([(snapshot(t, after), sun()) for t in every(30, 8, T0 + timedelta(days=4))], memory)
    assert f"inverter_down:{old}" not in keys(result), "the replacement is not a dead panel any more"
    assert f"device_new:{new}" in keys(result)
    replaced = next(f for f in result.findings if f.key == f"device_new:{new}")
    assert old in replaced.details, "the owner is told which inverter the new one replaced"
