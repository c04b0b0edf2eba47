"""What a person reads in the tabs: percent numbers under "(%)" headers, rounded numbers, local times a
spreadsheet parses as dates with the UTC offset beside them, the same in the CSV folder and the Google Sheet,
and files of the older form still read (then rewritten once in the current form)."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pvs6_cloud.store import SheetWrite
from pvs6_cloud.store._sheets_client import build_service
from pvs6_cloud.store.csv_sink import CsvSink
from pvs6_cloud.store.layout import load_layout, panel_key
from pvs6_cloud.store.sheets import SheetsSink
from pvs6_cloud.store.state import SiteState
from pvs6_parse.localtime import local_time_text, parse_local_time, parse_utc_offset, utc_offset_label
from tests.support.sheets_fake import FakeClock, SheetsFake

NY = ZoneInfo("America/New_York")
PANELS = [("E001", "E001")]
# 01:30 local happens twice on 2025-11-02 in New York: first in EDT (05:30 UTC), then in EST (06:30 UTC).
FIRST_0130 = datetime(2025, 11, 2, 5, 30, tzinfo=UTC)
SECOND_0130 = datetime(2025, 11, 2, 6, 30, tzinfo=UTC)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _reading(at: datetime, sid: str) -> dict:
    return {"time": at, "production_kw": 2.2994, "lifetime_production_kwh": 15.6045, "cloud_cover_pct": 80.0,
            "air_temp_c": 21.349, "performance_ratio": 0.959126, "snapshot_id": sid, panel_key("E001"): 2.316663}


def _day() -> dict:
    return {"date": date(2025, 6, 1), "production_kwh": 26.299, "completeness_pct": 0.733333,
            "performance_ratio": 1.0342, "peak_kw": 3.914087}


def _write(sink) -> None:
    readings = [_reading(FIRST_0130, "a"), _reading(SECOND_0130, "b")]
    device = {"serial": "E001", "first_seen": FIRST_0130, "last_seen": SECOND_0130, "lifetime_kwh": 2696.2471}
    alert = {"opened": SECOND_0130, "kind": "inverter_down", "message": "m", "alert_id": "x"}
    sink.commit(SheetWrite(state=SiteState(), panels=PANELS, append={"Readings": readings},
                           replace={"Devices": [device], "Alerts": [alert]},
                           upsert={"Daily": ("date", [_day()]),
                                   "Monthly": ("month", [{"month": "2025-06", "self_consumption_pct": 0.3253,
                                                          "vs_last_month_pct": -0.0512}])}))


def test_local_time_text_and_offset_round_trip_through_the_repeated_hour() -> None:
    assert local_time_text(FIRST_0130, NY) == local_time_text(SECOND_0130, NY) == "2025-11-02 01:30:00"
    assert (utc_offset_label(FIRST_0130, NY), utc_offset_label(SECOND_0130, NY)) == ("UTC-4", "UTC-5")
    assert parse_local_time("2025-11-02 01:30:00", NY, "UTC-5") == SECOND_0130
    assert parse_local_time("2025-11-02 01:30:00", NY, "UTC-4") == FIRST_0130
    assert parse_local_time("2025-11-02 01:30:00", NY) == FIRST_0130  # no offset: the first occurrence
    assert parse_local_time("2025-06-01T06:00:00-04:00", NY) == datetime(2025, 6, 1, 10, 0, tzinfo=UTC)  # old form
    assert utc_offset_label(datetime(2025, 1, 1, tzinfo=UTC), ZoneInfo("Asia/Kolkata")) == "UTC+5:30"
    assert parse_utc_offset("UTC+5:30") == timedelta(hours=5, minutes=30)
    assert parse_utc_offset("UTC+0") == timedelta(0) and parse_utc_offset("EDT") is None
    with pytest.raises(ValueError, match="yesterday"):
        parse_local_time("yesterday", NY)


def test_the_csv_holds_dates_percent_numbers_and_rounded_numbers(tmp_path: Path) -> None:
    sink = CsvSink(tmp_path, NY)
    _write(sink)
    first, second = _rows(tmp_path / "Readings.csv")
    assert (first["Time (local)"], first["Time zone"]) == ("2025-11-02 01:30:00", "UTC-4")
    assert (second["Time (local)"], second["Time zone"]) == ("2025-11-02 01:30:00", "UTC-5")
    assert first["Solar production (kW)"] == "2.299" and first["Lifetime production (kWh)"] == "15.6"
    assert first["Cloud cover (%)"] == "80" and first["Air temperature (°C)"] == "21.3"
    assert first["Actual / expected (%)"] == "95.9" and first["E001 kW"] == "2.317"
    [day] = _rows(tmp_path / "Daily.csv")
    assert day["Readings received (% of expected)"] == "73.3" and day["Actual / expected (%)"] == "103.4"
    assert day["Solar production (kWh)"] == "26.3" and day["Peak (kW)"] == "3.914"
    [month] = _rows(tmp_path / "Monthly.csv")
    assert month["Solar used at home (% of production)"] == "32.5" and month["Change vs last month (%)"] == "-5.1"
    [device] = _rows(tmp_path / "Devices.csv")
    assert (device["First seen"], device["Last seen"]) == ("2025-11-02 01:30:00", "2025-11-02 01:30:00")
    [alert] = _rows(tmp_path / "Alerts.csv")
    assert alert["Opened"] == "2025-11-02 01:30:00"
    for tab in load_layout().tabs:  # every percent column says its unit
        assert all(c.title.endswith("%)") or "(% " in c.title for c in tab.columns if c.type == "percent")

    readings = sink.read_records("Readings", PANELS)
    assert [r["time"] for r in readings] == [FIRST_0130, SECOND_0130]
    assert readings[0]["performance_ratio"] == pytest.approx(0.959)
    [daily] = sink.read_records("Daily", PANELS)
    assert daily["completeness_pct"] == pytest.approx(0.733) and daily["production_kwh"] == 26.3


def test_the_sheet_holds_the_same_numbers_and_tells_the_repeated_hour_apart() -> None:
    clock = FakeClock()
    with SheetsFake() as fake:
        fake.reset(clock=clock)
        sid = fake.add_spreadsheet("Home")
        service, _ = build_service(fake.endpoint)
        sink = SheetsSink(service, sid, NY, sleep=clock.sleep)
        sink.bootstrap(PANELS)
        _write(sink)
        header, first, second = fake.values(sid, "Readings")[:3]
        row = dict(zip(header, first, strict=False))
        assert row["Time zone"] == "UTC-4" and dict(zip(header, second, strict=False))["Time zone"] == "UTC-5"
        assert row["Actual / expected (%)"] == 95.9 and row["Cloud cover (%)"] == 80
        assert row["Solar production (kW)"] == 2.299
        daily = dict(zip(*fake.values(sid, "Daily")[:2], strict=False))
        assert daily["Readings received (% of expected)"] == 73.3
        percent = next(c for c in load_layout().tab("Daily").columns if c.key == "completeness_pct")
        assert percent.format == "0.0"  # shown as the number it is, not multiplied by 100 again
        readings = SheetsSink(service, sid, NY, sleep=clock.sleep).read_records("Readings", PANELS)
        assert [r["time"] for r in readings] == [FIRST_0130, SECOND_0130]
        assert readings[1]["performance_ratio"] == pytest.approx(0.959)


OLD_READINGS = (
    "Time (local),Solar production (kW),Home use (kW),\"From grid (kW, negative = to grid)\","
    "Lifetime production (kWh),Lifetime from grid (kWh),Lifetime to grid (kWh),Panels working,Panels total,"
    "Cloud cover (%),Sunlight (W/m²),Air temperature (°C),Expected for the weather (kW),Actual / expected,"
    "Reading id,E001 kW\n"
    "2025-11-02T01:30:00-04:00,1.5,,,100.123456,,,1,1,80.0,,,,0.959126,a,0.316663\n"
    "2025-11-02T01:30:00-05:00,1.25,,,100.5,,,1,1,,,,,,b,0.25\n"
)
OLD_DAILY = (
    "Date,Solar production (kWh),Home use (kWh),From grid (kWh),To grid (kWh),Peak (kW),Peak time,"
    "Daytime cloud cover (%),Sunlight (kWh/m²),Expected for the weather (kWh),Actual / expected,"
    "Readings received (%),E001 kWh\n"
    "2025-06-01,26.299,,,,,,,,,0.959126,0.733333,2.316663\n"
)


def test_files_of_the_older_form_are_read_and_brought_to_the_current_form(tmp_path: Path) -> None:
    (tmp_path / "Readings.csv").write_text(OLD_READINGS, encoding="utf-8")
    (tmp_path / "Daily.csv").write_text(OLD_DAILY, encoding="utf-8")
    sink = CsvSink(tmp_path, NY)
    old = sink.read_records("Readings", PANELS)
    assert [r["time"] for r in old] == [FIRST_0130, SECOND_0130]
    assert old[0]["performance_ratio"] == pytest.approx(0.959126)  # a fraction under the old title
    [day] = sink.read_records("Daily", PANELS)
    assert day["completeness_pct"] == pytest.approx(0.733333) and day["performance_ratio"] == pytest.approx(0.959126)

    later = datetime(2025, 11, 2, 15, 0, tzinfo=UTC)
    sink.commit(SheetWrite(state=SiteState(), panels=PANELS, append={"Readings": [_reading(later, "c")]},
                           upsert={"Daily": ("date", [{"date": date(2025, 6, 2), "production_kwh": 20.0}])}))
    rows = _rows(tmp_path / "Readings.csv")
    assert [r["Reading id"] for r in rows] == ["a", "b", "c"]
    assert [(r["Time (local)"], r["Time zone"]) for r in rows[:2]] == [("2025-11-02 01:30:00", "UTC-4"),
                                                                       ("2025-11-02 01:30:00", "UTC-5")]
    assert rows[0]["Actual / expected (%)"] == "95.9" and rows[0]["Lifetime production (kWh)"] == "100.12"
    assert rows[0]["E001 kW"] == "0.317" and rows[1]["Solar production (kW)"] == "1.25"
    assert [r["time"] for r in sink.read_records("Readings", PANELS)][:2] == [FIRST_0130, SECOND_0130]
    days = _rows(tmp_path / "Daily.csv")
    assert days[0]["Readings received (% of expected)"] == "73.3" and days[0]["E001 kWh"] == "2.32"
    assert [d["Date"] for d in days] == ["2025-06-01", "2025-06-02"]
