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
            sizes[day] = {name: len(json.dumps(part)) for name, part in memory.items()}
    assert sizes[199] == sizes[79], "a serial gone for a month must not stay in any rule's memory"
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
