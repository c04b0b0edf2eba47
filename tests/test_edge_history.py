"""The owner's CSV history on the Pi: rows, panel columns, torn tails, duplicates, DST, unreadable readings."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pvs6_edge.config import load_config
from pvs6_edge.errors import ConfigError
from pvs6_edge.history import FIXED_COLUMNS, History, read_month
from pvs6_edge.runner import EdgeRunner
from pvs6_parse import parse_payload
from tests.support.edge_servers import SECRET, FakeClock, FakeIngest, FakePvs, device_list, write_config

NY = ZoneInfo("America/New_York")
N_FIXED = len(FIXED_COLUMNS)
TS = 1_757_711_475.0  # 2025-09-12T21:11:15Z = 17:11:15 in New York (EDT)


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def _record(history: History, n_inverters: int, ts: float, seq: int = 0) -> str:
    return history.record_raw(device_list(n_inverters, seq=seq), "dl_cgi", ts)


def test_a_collect_writes_one_row_with_local_time_and_the_parsers_values(tmp_path):
    clock = FakeClock(TS)
    with FakePvs() as pvs, FakeIngest("home", SECRET, clock.time) as ingest:
        cfg = load_config(write_config(tmp_path, pvs.url, ingest.url, **{"history.timezone": '"America/New_York"'}),
                          {})
        result = EdgeRunner(cfg, clock=clock, rng=lambda: 0.5).execute(collect=True, upload=False)
    assert result.collect == "ok"
    rows = _rows(tmp_path / "data" / "history" / "2025-09.csv")
    assert rows[0][:N_FIXED] == [title for _key, title in FIXED_COLUMNS]
    assert rows[0][N_FIXED:] == [f"E00{123456789 + i} kW" for i in range(12)]
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["Time (local)"] == "2025-09-12 17:11:15" and row["UTC offset"] == "UTC-04:00"
    raw = next(iter(ingest.snapshots), None)  # nothing uploaded: upload=False
    assert raw is None
    spooled = sorted((tmp_path / "data" / "spool").iterdir())
    body = json.loads(spooled[0].read_bytes())
    snap = parse_payload(body["payload"], source="dl_cgi", site="home", captured_at=datetime.fromtimestamp(TS, UTC),
                         sha256=body["sha256"])
    assert float(row["Solar production (kW)"]) == pytest.approx(snap.production_kw, abs=1e-4)
    assert float(row["Lifetime production (kWh)"]) == pytest.approx(snap.production_meter.lifetime_net_kwh)
    assert row["Panels working"] == "12" and row["Panels total"] == "12"
    assert row["Reading id"] == body["sha256"][:16]
    assert all(row[f"E00{123456789 + i} kW"] == "0.21" for i in range(12))


def test_the_same_reading_twice_is_one_row_and_a_new_one_is_appended(tmp_path):
    history = History(tmp_path, "home", NY)
    assert _record(history, 12, TS) == "written"
    assert _record(History(tmp_path, "home", NY), 12, TS) == "duplicate"  # a fresh process reads the tail
    assert _record(history, 12, TS + 900, seq=1) == "written"
    rows = _rows(tmp_path / "history" / "2025-09.csv")
    assert [r[0] for r in rows[1:]] == ["2025-09-12 17:11:15", "2025-09-12 17:26:15"]


def test_a_panel_that_appears_later_gets_its_column_and_old_rows_stay_valid(tmp_path):
    history = History(tmp_path, "home", NY)
    _record(history, 12, TS)
    _record(History(tmp_path, "home", NY), 13, TS + 900, seq=1)
    rows = _rows(tmp_path / "history" / "2025-09.csv")
    assert rows[0][-1] == "E00123456801 kW" and len(rows[0]) == N_FIXED + 13
    assert all(len(r) == len(rows[0]) for r in rows)
    assert rows[1][-1] == "" and rows[2][-1] == "0.21"
    assert not [p for p in (tmp_path / "history").iterdir() if p.name.startswith(".tmp-")]


def test_a_new_month_starts_with_the_panels_of_the_month_before(tmp_path):
    history = History(tmp_path, "home", NY)
    _record(history, 13, datetime(2025, 9, 30, 20, tzinfo=NY).timestamp())
    _record(history, 12, datetime(2025, 10, 1, 8, tzinfo=NY).timestamp(), seq=1)
    sept, octo = (_rows(tmp_path / "history" / name) for name in ("2025-09.csv", "2025-10.csv"))
    assert octo[0] == sept[0]
    assert octo[1][-1] == ""  # the 13th panel did not report in October's first reading


def test_the_repeated_dst_hour_is_told_apart_by_the_offset_column(tmp_path):
    history = History(tmp_path, "home", NY)
    first = datetime(2025, 11, 2, 5, 30, tzinfo=UTC).timestamp()  # 01:30 EDT
    _record(history, 12, first)
    _record(history, 12, first + 3600, seq=1)  # 01:30 EST, an hour later
    rows = _rows(tmp_path / "history" / "2025-11.csv")
    assert [(r[0], r[1]) for r in rows[1:]] == [("2025-11-02 01:30:00", "UTC-04:00"),
                                                 ("2025-11-02 01:30:00", "UTC-05:00")]
    assert history.newest_ts() == first + 3600


@pytest.mark.parametrize("torn", [b"2025-09-12 17:26:15,UTC-04:00,0.2", b"\x00" * 300 + b"\n",
                                  b"2025-09-12 17:26:15,UTC-04:00,0.29\n"])
def test_a_torn_last_row_is_cut_before_the_next_one_is_written(tmp_path, torn):
    history = History(tmp_path, "home", NY)
    _record(history, 12, TS)
    path = tmp_path / "history" / "2025-09.csv"
    good = path.read_bytes()
    with path.open("ab") as fh:
        fh.write(torn)
    assert _record(History(tmp_path, "home", NY), 12, TS + 1800, seq=2) == "written"
    data = path.read_bytes()
    assert data.startswith(good) and b"\x00" not in data and data.endswith(b"\n")
    rows = _rows(path)
    assert [r[0] for r in rows[1:]] == ["2025-09-12 17:11:15", "2025-09-12 17:41:15"]
    assert all(len(r) == len(rows[0]) for r in rows)


def test_an_unreadable_reading_is_kept_raw_and_never_stops_the_collect(tmp_path, caplog):
    history = History(tmp_path, "home", NY)
    assert history.record_raw(b'{"devices": "not a list", "result": "succeed"}', "dl_cgi", TS) == "unreadable"
    assert history.record_raw(b"not json at all", "dl_cgi", TS + 60) == "unreadable"
    kept = sorted((tmp_path / "history" / "unreadable").iterdir())
    assert [gzip.decompress(p.read_bytes()) for p in kept][1] == b"not json at all"
    assert "could not be read" in caplog.text and "not JSON" in caplog.text
    assert history.month_files() == []


def test_a_run_with_an_unreadable_answer_still_spools_it(tmp_path, monkeypatch):
    clock = FakeClock(TS)
    monkeypatch.setattr("pvs6_parse.parse_device_list", _explode)  # a parser bug on a new answer
    with FakePvs() as pvs, FakeIngest("home", SECRET, clock.time) as ingest:
        cfg = load_config(write_config(tmp_path, pvs.url, ingest.url), {})
        result = EdgeRunner(cfg, clock=clock, rng=lambda: 0.5).execute(collect=True, upload=True)
    assert (result.collect, result.upload, len(ingest.snapshots)) == ("ok", "ok", 1)
    assert len(list((tmp_path / "data" / "history" / "unreadable").iterdir())) == 1


def _explode(*args, **kwargs):
    raise RuntimeError("a parser bug")


def test_history_survives_the_raw_archive_limits_and_catches_up_a_killed_runs_reading(tmp_path):
    clock = FakeClock(TS)
    extra = {"storage.archive_retention_days": "0", "storage.archive_max_bytes": "0",
             "history.timezone": '"America/New_York"'}
    with FakePvs() as pvs, FakeIngest("home", SECRET, clock.time) as ingest:
        cfg = load_config(write_config(tmp_path, pvs.url, ingest.url, **extra), {})
        runner = EdgeRunner(cfg, clock=clock, rng=lambda: 0.5)
        runner.execute(collect=True, upload=True)
        # A run killed between spooling and the history row: the next collect writes the missing row first.
        runner.spool.put(device_list(12, seq=7), "dl_cgi", TS + 400)
        clock.advance(900)
        runner.execute(collect=True, upload=True)
        clock.advance(86400 * 2)
        runner.execute(collect=True, upload=True)
    assert not list((tmp_path / "data" / "archive").rglob("*.json.gz"))  # the archive was pruned to nothing
    _header, rows = read_month(tmp_path / "data" / "history" / "2025-09.csv")
    assert [r[0] for r in rows] == ["2025-09-12 17:11:15", "2025-09-12 17:17:55", "2025-09-12 17:26:15",
                                    "2025-09-14 17:26:15"]
    assert len(ingest.snapshots) == 4


def test_history_timezone_is_checked_when_the_config_loads(tmp_path):
    with pytest.raises(ConfigError, match=r"history\.timezone"):
        load_config(write_config(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9",
                                 **{"history.timezone": '"Mars/Olympus"'}), {})
    with pytest.raises(ConfigError, match=r"history\.zone"):
        load_config(write_config(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9",
                                 **{"history.zone": '"UTC"'}), {})
    cfg = load_config(write_config(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9"), {})
    assert cfg.history.timezone == ""  # the Pi's own zone


def test_a_killed_runs_reading_in_the_same_second_as_the_last_row_is_caught_up_once(tmp_path):
    clock = FakeClock(TS)
    with FakePvs() as pvs, FakeIngest("home", SECRET, clock.time) as ingest:
        cfg = load_config(write_config(tmp_path, pvs.url, ingest.url, **{"pvs.min_interval_s": "0"}), {})
        runner = EdgeRunner(cfg, clock=clock, rng=lambda: 0.5)
        runner.execute(collect=True, upload=False)
        runner.spool.put(device_list(12, seq=7), "dl_cgi", TS + 0.5)  # spooled, then killed before its row
        clock.advance(900)
        runner.execute(collect=True, upload=False)
        clock.advance(900)
        runner.execute(collect=True, upload=False)
    _header, rows = read_month(tmp_path / "data" / "history" / "2025-09.csv")
    ids = [r[N_FIXED - 1] for r in rows]
    assert len(rows) == 4 and len(set(ids)) == 4
    assert [r[0][11:] for r in rows].count(rows[0][0][11:]) == 2  # both readings of that second
