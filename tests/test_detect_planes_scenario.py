"""An east/west roof with its planes configured, through the real pipeline from its first day: no false alert, and a
panel that dies at 11:06 is found (the small brother of bench/detection.py's "planes configured" roof)."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.detection_roofs import SIXTEEN, Roof, _configured_planes, _play_roof
from bench.detection_site import TZ, _poll_times
from pvs6_sim.config import Plane, PvsConfig, SimConfig
from pvs6_sim.faults import Fault
from pvs6_sim.model import Simulator

pytestmark = pytest.mark.slow


def test_first_day_of_a_configured_east_west_roof_raises_only_the_dead_panel() -> None:
    start = date(2025, 6, 2)
    array = replace(SIXTEEN, planes=(Plane(25.0, 90.0, tuple(range(8))), Plane(25.0, 270.0, tuple(range(8, 16)))))
    midnight = datetime(start.year, start.month, start.day, tzinfo=TZ).astimezone(UTC)
    sim = Simulator(SimConfig(array=array, start=midnight - timedelta(hours=1), weather={start: "clear"}, seed=13,
                              pvs=PvsConfig(nightly_reboot_hour_utc=7)))
    dead_at = datetime(2025, 6, 2, 11, 6, tzinfo=TZ).astimezone(UTC)
    sim.inject(Fault("dead", target=12, start=dead_at))
    cloud_array = _configured_planes(Roof("configured", start, array, weak=3, dead=12, planes_configured=True), sim)
    assert cloud_array is not None and [p.panels for p in cloud_array.planes] == [8, 8]
    rows, mails = _play_roof(sim, midnight, _poll_times(start, 1), cloud_array)
    alerts = [(r["kind"], r["device"], datetime.fromisoformat(r["opened"])) for r in rows
              if r["kind"] != "_learned_bytes"]
    dead = sim.identity.inverter_serials[12]
    assert [(kind, device) for kind, device, _ in alerts] == [("inverter_down", dead)]
    assert dead_at < alerts[0][2] <= dead_at + timedelta(hours=1)
    assert len(mails) == 1 and dead in mails[0][1]
