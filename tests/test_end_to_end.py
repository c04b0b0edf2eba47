"""The whole chain over real loopback HTTP: PVS6 simulator -> edge on the "Pi" -> ingest function -> sheet CSVs.

Time is simulated: one clock drives the simulator, the edge and the function, so a day passes in seconds.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pvs6_cloud.runtime import Runtime
from pvs6_edge.config import load_config as load_edge_config
from pvs6_edge.runner import EdgeRunner
from pvs6_sim.config import SimConfig
from pvs6_sim.server import run_simulator
from tests.support.cloud import SECRET, local_config
from tests.support.loopback import SimulatedClock, serve_function

DAY_START = datetime(2025, 6, 2, 10, 0, tzinfo=UTC)  # 06:00 in Connecticut (EDT)
DAY_END = datetime(2025, 6, 3, 1, 0, tzinfo=UTC)  # 21:00 local


def _edge_config(tmp: Path, pvs_url: str, cloud_url: str, api: str, serial_last5: str = "") -> Path:
    path = tmp / "edge.toml"
    pvs = f'url = "{pvs_url}"\napi = "{api}"\ntimeout_s = 5\nmin_interval_s = 60\n'
    if serial_last5:
        pvs += f'serial_last5 = "{serial_last5}"\n'
    path.write_text(f'[pvs]\n{pvs}[cloud]\nurl = "{cloud_url}"\nsite = "home"\nsecret = "{SECRET}"\n'
                    f'[storage]\ndir = "{tmp / "edge"}"\n')
    return path


def _run_day(tmp: Path, sim_config: SimConfig, api: str, *, tls: bool = False, step_min: int = 15) -> Path:
    clock = SimulatedClock(DAY_START)
    cloud = local_config(tmp)
    with run_simulator(sim_config, tls=tls) as pvs, serve_function(Runtime(cloud, clock=clock.now)) as url:
        serial_last5 = pvs.sim.identity.pvs_serial[-5:] if api != "dl_cgi" else ""
        edge = EdgeRunner(load_edge_config(_edge_config(tmp, pvs.url, url, api, serial_last5), {}), clock=clock)
        while clock.at <= DAY_END:
            pvs.sim.clock.set(clock.at)
            result = edge.execute(collect=True, upload=True)
            assert result.collect == "ok", result
            assert result.upload == "ok", result
            clock.at += timedelta(minutes=step_min)
    return tmp / "sheet"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_simulated_day_lands_in_the_sheet(tmp_path):
    sheet = _run_day(tmp_path, SimConfig(start=DAY_START, api="dl_cgi"), "dl_cgi")
    readings = _rows(sheet / "Readings.csv")
    assert len(readings) == 61  # 06:00 to 21:00 every 15 minutes
    production = [float(r["Solar production (kW)"]) for r in readings]
    peak = production.index(max(production))
    assert 16 < peak < 44  # around solar noon (13:00 EDT), not at the ends of the day
    assert max(production) > 2.5  # a clear June day on 4.32 kW
    assert production[0] < 0.6 * max(production) and production[-1] < 0.1
    panel_columns = [c for c in readings[0] if c.endswith(" kW") and c.startswith("E")]
    assert len(panel_columns) == 12
    noon = readings[peak]
    assert sum(float(noon[c]) for c in panel_columns) == pytest.approx(production[peak], rel=0.05)
    assert readings[0]["Time (local)"] == "2025-06-02 06:00:00" and readings[0]["Time zone"] == "UTC-4"
    devices = _rows(sheet / "Devices.csv")
    assert sum(1 for d in devices if d["Type"] == "Inverter") == 12
    # The last reading (21:00) is after dusk, when every microinverter reads "error": asleep, not broken.
    states = {d["Last state"] for d in devices if d["Type"] == "Inverter"}
    assert states == {"asleep (night); in daylight: working"}
    assert not list((tmp_path / "edge" / "spool").glob("*.json*")), "everything acknowledged leaves the spool"
    archived = list((tmp_path / "edge" / "archive").rglob("*.json.gz"))
    assert len(archived) == 61, "the Pi keeps its own raw archive"


def test_varserver_firmware_over_https_lands_too(tmp_path):
    sheet = _run_day(tmp_path, SimConfig(start=DAY_START, api="varserver"), "auto", tls=True, step_min=60)
    readings = _rows(sheet / "Readings.csv")
    assert len(readings) == 16
    production = [float(r["Solar production (kW)"]) for r in readings]
    assert max(production) > 2.5
    working = [int(r["Panels working"]) for r in readings]
    assert max(working) == 12
