"""The local CSV sink: typed round trips, inert formulas, growing panel columns, and crash-safe commits."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from pvs6_cloud.infra.errors import SinkUnavailable
from pvs6_cloud.store import SheetWrite
from pvs6_cloud.store.csv_sink import CsvSink
from pvs6_cloud.store.layout import load_layout, panel_key
from pvs6_cloud.store.state import SiteState

NY = ZoneInfo("America/New_York")
T0 = datetime(2025, 6, 1, 16, 0, tzinfo=UTC)


def _reading(i: int, serials=("A1",)) -> dict:
    row = {"time": T0.replace(minute=i % 60), "production_kw": 1.5 + i, "inverters_working": 12,
           "snapshot_id": f"id{i}"}
    row.update({panel_key(s): 0.1 * (i + 1) for s in serials})
    return row


def test_every_tab_has_its_layout_header(tmp_path):
    sink = CsvSink(tmp_path, NY)
    sink.ensure_layout()
    for tab in load_layout().tabs:
        with (tmp_path / f"{tab.name}.csv").open() as fh:
            assert next(csv.reader(fh)) == tab.header()


def test_round_trip_is_typed_and_local(tmp_path):
    sink = CsvSink(tmp_path, NY)
    state = SiteState()
    sink.commit(SheetWrite(state=state, panels=[("A1", "A1")], append={"Readings": [_reading(0)]}))
    text = (tmp_path / "Readings.csv").read_text()
    assert "\n2025-06-01 12:00:00,UTC-4," in text  # site-local wall time a spreadsheet reads as a date, its offset
    [record] = sink.read_records("Readings", [("A1", "A1")])
    assert record["time"] == T0
    assert record["production_kw"] == 1.5
    assert record["inverters_working"] == 12
    assert record[panel_key("A1")] == pytest.approx(0.1)
    assert record["cloud_cover_pct"] is None


def test_formula_text_is_neutralised_and_restored(tmp_path):
    sink = CsvSink(tmp_path, NY)
    evil = '=HYPERLINK("http://x","click")'
    sink.commit(SheetWrite(state=SiteState(), replace={"Devices": [{"serial": evil, "lifetime_kwh": -3.5}]}))
    line = (tmp_path / "Devices.csv").read_text().splitlines()[1]
    assert line.startswith("\"'=HYPERLINK") or line.startswith("'=HYPERLINK")
    assert ",-3.5" in line  # numbers are not text: a negative number stays a number
    [record] = sink.read_records("Devices")
    assert record["serial"] == evil


def test_panel_columns_grow_without_moving_old_cells(tmp_path):
    sink = CsvSink(tmp_path, NY)
    state = SiteState()
    sink.commit(SheetWrite(state=state, panels=[("A1", "A1")], append={"Readings": [_reading(0)]}))
    two = [("A1", "A1"), ("B2", "roof left")]
    sink.commit(SheetWrite(state=state, panels=two, append={"Readings": [_reading(1, ("A1", "B2"))]}))
    header = (tmp_path / "Readings.csv").read_text().splitlines()[0]
    assert header.endswith("A1 kW,roof left kW")
    first, second = sink.read_records("Readings", two)
    assert first[panel_key("B2")] is None and first[panel_key("A1")] == pytest.approx(0.1)
    assert second[panel_key("B2")] == pytest.approx(0.2)


def test_a_formula_like_inverter_serial_stays_text_in_the_panel_header(tmp_path):
    # The panel column's title comes from the device's serial when no place is configured.
    sink = CsvSink(tmp_path, NY)
    evil = '=HYPERLINK("http://x","click")'
    panels = [("A1", "A1"), (evil, evil)]
    sink.commit(SheetWrite(state=SiteState(), panels=panels, append={"Readings": [_reading(0, ("A1", evil))]}))
    with (tmp_path / "Readings.csv").open(newline="") as fh:
        header = next(csv.reader(fh))
    assert header[-1] == "'" + evil + " kW"
    sink.commit(SheetWrite(state=SiteState(), panels=panels, append={"Readings": [_reading(1, ("A1", evil))]}))
    assert len((tmp_path / "Readings.csv").read_text().splitlines()) == 3  # the header was not rewritten
    assert [r[panel_key(evil)] for r in sink.read_records("Readings", panels)] == pytest.approx([0.1, 0.2])


def test_upsert_replaces_by_key(tmp_path):
    sink = CsvSink(tmp_path, NY)
    day = date(2025, 6, 1)
    sink.commit(SheetWrite(state=SiteState(), upsert={"Daily": ("date", [{"date": day, "production_kwh": 1.0}])}))
    sink.commit(SheetWrite(state=SiteState(), upsert={"Daily": ("date", [
        {"date": day, "production_kwh": 2.0}, {"date": date(2025, 6, 2), "production_kwh": 3.0}])}))
    records = sink.read_records("Daily")
    assert [(r["date"], r["production_kwh"]) for r in records] == [(day, 2.0), (date(2025, 6, 2), 3.0)]


def test_commit_cut_off_before_the_state_is_undone(tmp_path, monkeypatch):
    sink = CsvSink(tmp_path, NY)
    state = SiteState()
    sink.commit(SheetWrite(state=state, panels=[("A1", "A1")], append={"Readings": [_reading(0)]}))
    state = sink.load_state()
    assert state.row_counts["Readings"] == 1

    real = sink._write_atomic

    def power_cut(path, text):
        if path.name == "_state.csv":
            raise OSError(5, "Input/output error")
        real(path, text)

    monkeypatch.setattr(sink, "_write_atomic", power_cut)
    with pytest.raises(SinkUnavailable):
        sink.commit(SheetWrite(state=state, panels=[("A1", "A1")], append={"Readings": [_reading(1), _reading(2)]}))
    monkeypatch.setattr(sink, "_write_atomic", real)
    assert len((tmp_path / "Readings.csv").read_text().splitlines()) == 4  # torn: rows without their state

    reloaded = CsvSink(tmp_path, NY).load_state()
    assert reloaded.row_counts["Readings"] == 1
    assert [r["snapshot_id"] for r in sink.read_records("Readings", [("A1", "A1")])] == ["id0"]


def test_commit_cut_off_after_the_panel_columns_grew_is_undone_row_by_row(tmp_path, monkeypatch):
    # A new inverter rewrites the Readings header (every old row gets a new empty cell) in the same commit
    # whose state write is cut off: the byte size the state remembers no longer lines up with the old rows.
    sink = CsvSink(tmp_path, NY)
    state = SiteState()
    one = [("A1", "A1")]
    sink.commit(SheetWrite(state=state, panels=one, append={"Readings": [_reading(i) for i in range(5)]}))
    before = (tmp_path / "Readings.csv").read_text()
    state = sink.load_state()

    real = sink._write_atomic

    def power_cut(path, text):
        if path.name == "_state.csv":
            raise OSError(5, "Input/output error")
        real(path, text)

    monkeypatch.setattr(sink, "_write_atomic", power_cut)
    two = [("A1", "A1"), ("B2", "B2")]
    with pytest.raises(SinkUnavailable):
        sink.commit(SheetWrite(state=state, panels=two, append={"Readings": [_reading(5, ("A1", "B2"))]}))
    monkeypatch.setattr(sink, "_write_atomic", real)

    CsvSink(tmp_path, NY).load_state()
    assert (tmp_path / "Readings.csv").read_text() == before  # every committed row whole, nothing else
    assert [r["snapshot_id"] for r in sink.read_records("Readings", one)] == [f"id{i}" for i in range(5)]


def test_unwritable_folder_is_sink_unavailable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    sink = CsvSink(blocker / "sheet", NY)
    with pytest.raises(SinkUnavailable, match="cannot"):
        sink.commit(SheetWrite(state=SiteState(), append={"Readings": [_reading(0)]}))


def test_state_chunks_never_look_like_formulas(tmp_path):
    from pvs6_cloud.store import state as state_module

    sink = CsvSink(tmp_path, NY)
    state = SiteState()
    state.section("detect")["notes"] = ["-=+@'" * 3000, "x" * 5000, "=SUM(A1)" * 2000, "'quoted", "'=x"]
    chunk = state_module._CHUNK_CHARS
    try:
        state_module._CHUNK_CHARS = 7  # many boundaries, many of them on risky characters
        sink.commit(SheetWrite(state=state))
        assert sink.load_state().section("detect") == state.section("detect")
    finally:
        state_module._CHUNK_CHARS = chunk
