"""``pvs6-cloud selftest`` on a site that already has readings: every tab, panel columns included, stays as it was.

The site is filled by the real ingest pipeline from the simulator's 12-panel PVS6 answers (so its Readings tab
has one column per panel, as a real site's has), in a Google Sheet (the Sheets-API fake through the real client) and in
a CSV folder; then the self-test runs against it the way the command does.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pvs6_cloud.commands.selftest import SELFTEST_TAB, passed, run_checks
from pvs6_cloud.infra.config import CloudConfig, parse_config
from pvs6_cloud.intake.contract import UploadBatch, UploadItem
from pvs6_cloud.intake.pipeline import ingest_batch
from pvs6_cloud.runtime import Runtime
from pvs6_cloud.store.sheets import SheetsSink
from pvs6_sim.config import SimConfig
from pvs6_sim.model import Simulator
from tests.support.sheets_fake import FakeClock, SheetsFake

T0 = datetime(2025, 9, 12, 17, 0, tzinfo=UTC)
REAL_TABS = ("Readings", "Devices", "Alerts", "_state")


@pytest.fixture(scope="module")
def sheets():
    with SheetsFake() as fake:
        yield fake


def make_config(tmp_path: Path, where: dict[str, Any], extra: dict[str, Any] | None = None) -> CloudConfig:
    return parse_config({
        "sites": {"home": {"secret": "secret-home", "latitude": 41.76, "longitude": -72.68,
                           "timezone": "America/New_York", "mail_to": ["owner@example.com"], **where}},
        "mail": {"outbox_dir": str(tmp_path / "outbox")},
        "weather": {"enabled": False},
        **(extra or {}),
    }, env={}, base_dir=tmp_path)


def fill_with_real_readings(config: CloudConfig, sink_for: Any = None) -> None:
    """Two uploads of the simulated PVS6's answer through the real pipeline: panel columns appear in Readings."""
    runtime = Runtime(config, clock=lambda: T0 + timedelta(hours=1), sink_for=sink_for)
    sim = Simulator(SimConfig(start=T0 - timedelta(hours=1)))
    for i in range(2):
        at = T0 + timedelta(minutes=15 * i)
        item = UploadItem(at, "dl_cgi", hashlib.sha256(f"home-{i}".encode()).hexdigest(), sim.device_list(at))
        result = ingest_batch(UploadBatch("home", "test", {"spool_depth": 1}, (item,)), runtime.config,
                              runtime.services)
        assert len(result.accepted) == 1


def memory(state_tab: list[list[Any]]) -> dict[str, Any]:
    """What the function remembers, without the sink's own marker of its last commit (new with every commit)."""
    state = json.loads("".join(str(row[2]) for row in state_tab[1:]))
    state["sections"]["sheets"].pop("commit")
    return state


def panel_titles(header: list[Any], devices: list[list[Any]]) -> list[str]:
    """The Readings header's panel columns: the inverters of the Devices tab, in the header's order."""
    inverters = {f"{row[0]} kW" for row in devices[1:] if row[1] == "Inverter"}
    return [str(title) for title in header if str(title) in inverters]


def test_selftest_keeps_the_panel_columns_of_a_real_google_sheet(sheets, tmp_path: Path) -> None:
    clock = FakeClock()
    sheets.reset(clock=clock)
    sid = sheets.add_spreadsheet("Home")
    config = make_config(tmp_path, {"spreadsheet_id": sid},
                         {"sheets": {"api_endpoint": sheets.endpoint, "max_retries": 2}})

    def sink_for(site):
        sink = SheetsSink.from_config(site, config.sheets)
        sink.api.sleep = clock.sleep
        return sink

    fill_with_real_readings(config, sink_for)
    before = {tab: sheets.values(sid, tab) for tab in REAL_TABS}
    panels = panel_titles(before["Readings"][0], before["Devices"])
    assert len(panels) == 12  # the simulated system's microinverters, one column each

    results = run_checks(config, sink_for=sink_for, clock=lambda: T0 + timedelta(hours=2))

    assert passed(results), results
    after = {tab: sheets.values(sid, tab) for tab in REAL_TABS}
    assert after["Readings"][0] == before["Readings"][0]  # the header, panel columns in their order
    assert after == before | {"_state": after["_state"]}  # every row of every real tab: untouched
    assert memory(after["_state"]) == memory(before["_state"])
    assert sheets.values(sid, SELFTEST_TAB)[1:] == []


def test_selftest_keeps_the_panel_columns_of_a_real_csv_folder(tmp_path: Path) -> None:
    config = make_config(tmp_path, {"local_dir": str(tmp_path / "sheet")})
    fill_with_real_readings(config)
    folder = tmp_path / "sheet"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    header = before["Readings.csv"].decode().splitlines()[0].split(",")
    devices = [line.split(",") for line in before["Devices.csv"].decode().splitlines()]
    assert len(panel_titles(header, devices)) == 12

    results = run_checks(config, clock=lambda: T0 + timedelta(hours=2))

    assert passed(results), results
    after = {p.name: p.read_bytes() for p in folder.iterdir() if p.name != f"{SELFTEST_TAB}.csv"}
    assert after == before
