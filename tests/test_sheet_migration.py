"""A spreadsheet (or CSV folder) made before Readings had its "Time zone" column and before percent columns held
0-100 under "(%)" titles is brought to the current form on its first write: no row lost, shifted or reordered,
old fractions become percents, and a later write does not convert them again."""

from __future__ import annotations

import csv
import tomllib
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pvs6_cloud.store import SheetWrite
from pvs6_cloud.store._sheets_client import build_service
from pvs6_cloud.store.csv_sink import CsvSink
from pvs6_cloud.store.layout import Layout, panel_key, parse_layout
from pvs6_cloud.store.sheets import SheetsSink
from pvs6_cloud.store.state import SiteState
from tests.support.sheets_fake import FakeClock, SheetsFake

NY = ZoneInfo("America/New_York")
PANELS = [("E001", "E001"), ("E002", "E002")]
T0 = datetime(2025, 6, 1, 14, 0, tzinfo=UTC)  # 10:00 in New York (UTC-4)


def _old_layout() -> Layout:
    """The layout before the change: no Time zone column; percent columns under their older titles, holding
    the fractions the code keeps (an old sink wrote them as they were)."""
    data = tomllib.loads(resources.files("sheets_template").joinpath("layout.toml").read_text(encoding="utf-8"))
    for tab in data["tabs"]:
        tab["columns"] = [c for c in tab["columns"] if c["type"] != "offset"]
        for column in tab["columns"]:
            if column["type"] == "percent" and column.get("was"):
                column.update(title=column["was"][0], type="number", format="")
    layout = parse_layout(data)
    assert "Time zone" not in layout.tab("Readings").header()
    return layout


def _reading(at: datetime, rid: str, kw: float, ratio: float) -> dict[str, Any]:
    return {"time": at, "production_kw": kw, "inverters_working": 2, "inverters_total": 2, "cloud_cover_pct": 40.0,
            "performance_ratio": ratio, "snapshot_id": rid, panel_key("E001"): kw / 2, panel_key("E002"): kw / 2}


def _old_write() -> SheetWrite:
    readings = [_reading(T0, "a", 2.5, 0.959126), _reading(T0 + timedelta(minutes=15), "b", 2.75, 0.912)]
    days = [{"date": date(2025, 5, 31), "production_kwh": 20.5, "performance_ratio": 1.0342,
             "completeness_pct": 0.733333, panel_key("E001"): 10.25},
            {"date": date(2025, 6, 1), "production_kwh": 22.0, "performance_ratio": 0.95, "completeness_pct": 1.0}]
    months = [{"month": "2025-05", "production_kwh": 610.0, "self_consumption_pct": 0.3253,
               "vs_last_month_pct": -0.0512, "monitor_uptime_pct": 0.99}]
    return SheetWrite(state=SiteState(), panels=PANELS, append={"Readings": readings},
                      upsert={"Daily": ("date", days), "Monthly": ("month", months)})


def _new_write(state: SiteState) -> SheetWrite:
    return SheetWrite(state=state, panels=PANELS,
                      append={"Readings": [_reading(T0 + timedelta(minutes=30), "c", 3.0, 0.8)]},
                      upsert={"Daily": ("date", [{"date": date(2025, 6, 2), "production_kwh": 25.0,
                                                  "performance_ratio": 0.9, "completeness_pct": 0.5}]),
                              "Monthly": ("month", [{"month": "2025-06", "production_kwh": 650.0,
                                                     "self_consumption_pct": 0.4}])})


def _check(table: Callable[[str], list[dict[str, Any]]]) -> None:
    readings = table("Readings")
    assert [r["Reading id"] for r in readings] == ["a", "b", "c"]
    assert [float(r["Actual / expected (%)"]) for r in readings] == [95.9, 91.2, 80.0]
    assert [float(r["Solar production (kW)"]) for r in readings] == [2.5, 2.75, 3.0]  # not shifted a column
    assert [float(r["E002 kW"]) for r in readings] == [1.25, 1.375, 1.5]
    assert [r["Time zone"] for r in readings] == ["UTC-4"] * 3
    assert [float(r["Cloud cover (%)"]) for r in readings] == [40.0] * 3  # already a percent: left as it was
    days = table("Daily")
    assert [float(d["Solar production (kWh)"]) for d in days] == [20.5, 22.0, 25.0]  # in date order
    assert [float(d["Actual / expected (%)"]) for d in days] == [103.4, 95.0, 90.0]
    assert [float(d["Readings received (% of expected)"]) for d in days] == [73.3, 100.0, 50.0]
    assert float(days[0]["E001 kWh"]) == 10.25
    months = table("Monthly")
    assert [m["Month"] for m in months] == ["2025-05", "2025-06"]
    assert [float(m["Solar used at home (% of production)"]) for m in months] == [32.5, 40.0]
    assert float(months[0]["Change vs last month (%)"]) == -5.1
    assert float(months[0]["Monitor uptime (% of daytime)"]) == 99.0


@pytest.fixture(scope="module")
def fake():
    with SheetsFake() as server:
        yield server


@pytest.mark.parametrize("bootstrap", [False, True], ids=["first-commit", "bootstrap-sheet"])
def test_an_old_google_sheet_is_brought_to_the_current_form(fake: SheetsFake, bootstrap: bool) -> None:
    clock = FakeClock()
    fake.reset(clock=clock)
    sid = fake.add_spreadsheet("Home")

    def sink(layout: Layout | None = None) -> SheetsSink:
        return SheetsSink(build_service(fake.endpoint)[0], sid, NY, layout=layout, sleep=clock.sleep)

    def table(name: str) -> list[dict[str, Any]]:
        header, *rows = fake.values(sid, name)
        return [dict(zip(header, row, strict=False)) for row in rows]

    old = sink(_old_layout())
    old.bootstrap(PANELS)
    old.commit(_old_write())
    assert fake.values(sid, "Readings")[0][:2] == ["Time (local)", "Solar production (kW)"]
    assert table("Daily")[0]["Readings received (%)"] == 0.733333  # a fraction, as older versions wrote it

    new = sink()  # a new version's first process
    if bootstrap:
        assert {"Readings", "Daily", "Monthly"} <= set(new.bootstrap(PANELS).headers_fixed)
    state = new.load_state()
    new.commit(_new_write(state))
    _check(table)
    assert new.read_records("Readings", PANELS)[0]["performance_ratio"] == pytest.approx(0.959)

    again = sink()  # the next process finds the current form and converts nothing a second time
    batches = fake.count("batchUpdate")
    again.commit(SheetWrite(state=again.load_state(), panels=PANELS,
                            append={"Readings": [_reading(T0 + timedelta(minutes=45), "d", 3.25, 0.7)]}))
    assert fake.count("batchUpdate") == batches + 1  # the commit alone
    assert [r["Actual / expected (%)"] for r in table("Readings")] == [95.9, 91.2, 80.0, 70.0]


def test_an_old_csv_folder_is_brought_to_the_current_form(tmp_path: Path) -> None:
    def table(name: str) -> list[dict[str, Any]]:
        with (tmp_path / f"{name}.csv").open(encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))

    CsvSink(tmp_path, NY, layout=_old_layout()).commit(_old_write())
    assert table("Daily")[0]["Readings received (%)"] == "0.733333"

    new = CsvSink(tmp_path, NY)
    new.commit(_new_write(new.load_state()))  # no bootstrap first: the write itself brings the files up
    _check(table)
    CsvSink(tmp_path, NY).commit(SheetWrite(state=new.load_state(), panels=PANELS, append={"Readings": []}))
    assert [r["Actual / expected (%)"] for r in table("Readings")] == ["95.9", "91.2", "80.0"]
