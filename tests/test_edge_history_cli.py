"""``pvs6-edge export`` and the history block of ``pvs6-edge status``, through the real command line."""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from pvs6_edge.cli import main
from pvs6_edge.history import FIXED_COLUMNS, History
from tests.support.edge_servers import device_list, write_config

NY = ZoneInfo("America/New_York")
N_FIXED = len(FIXED_COLUMNS)


@pytest.fixture
def site(tmp_path):
    """A Pi with September (12 panels) and October (a 13th panel from the 2nd) in its history."""
    config = write_config(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9",
                          **{"history.timezone": '"America/New_York"'})
    history = History(tmp_path / "data", "home", NY)
    for n, (day, panels) in enumerate([((9, 29), 12), ((9, 30), 12), ((10, 1), 12), ((10, 2), 13), ((10, 3), 13)]):
        when = datetime(2025, *day, 12, 0, tzinfo=NY).timestamp()
        assert history.record_raw(device_list(panels, seq=n), "dl_cgi", when) == "written"
    return config


def test_export_writes_one_csv_for_the_range_with_the_union_of_panel_columns(site, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    out = tmp_path / "range.csv"
    code = main(["export", "--config", str(site), "--from", "2025-09-30", "--to", "2025-10-02", "--out", str(out)])
    assert code == 0
    with out.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:N_FIXED] == [title for _key, title in FIXED_COLUMNS]
    assert rows[0][N_FIXED:] == [f"E00{123456789 + i} kW" for i in range(13)]
    assert [r[0] for r in rows[1:]] == ["2025-09-30 12:00:00", "2025-10-01 12:00:00", "2025-10-02 12:00:00"]
    assert [r[-1] for r in rows[1:]] == ["", "", "0.21"]
    assert all(len(r) == len(rows[0]) for r in rows)
    assert "exported 3 reading(s)" in caplog.text


def test_export_to_standard_output_and_an_empty_range(site, capsys, caplog):
    assert main(["export", "--config", str(site), "--from", "2025-10-03", "--to", "2025-10-03"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert [r[0] for r in rows[1:]] == ["2025-10-03 12:00:00"]
    assert main(["export", "--config", str(site), "--from", "2024-01-01", "--to", "2024-12-31"]) == 0
    captured = capsys.readouterr()
    assert len(list(csv.reader(io.StringIO(captured.out)))) == 1 and "no readings" in caplog.text


def test_export_refuses_a_backwards_range_or_a_bad_date(site, capsys):
    assert main(["export", "--config", str(site), "--from", "2025-10-03", "--to", "2025-10-01"]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["export", "--config", str(site), "--from", "03/10/2025", "--to", "2025-10-01"])
    assert exc.value.code == 2
    assert "is not a date like" in capsys.readouterr().err


def test_export_into_a_missing_folder_fails_cleanly(site, tmp_path):
    out = tmp_path / "no" / "such" / "folder.csv"
    assert main(["export", "--config", str(site), "--from", "2025-09-01", "--to", "2025-10-31",
                 "--out", str(out)]) == 1
    assert not out.parent.exists()


def test_status_says_where_the_history_is_and_how_much_it_holds(site, tmp_path, capsys):
    assert main(["status", "--config", str(site)]) == 0
    text = capsys.readouterr().out
    assert f"history (CSV):      {tmp_path / 'data' / 'history'}" in text
    assert "2 month file(s), 2025-09 to 2025-10" in text
    assert "3 reading(s), 13 panel column(s), last 2025-10-03 12:00:00 (UTC-04:00)" in text
    assert main(["status", "--config", str(site), "--json"]) == 0
    history = json.loads(capsys.readouterr().out)["history"]
    assert (history["months"], history["newest_month_rows"], history["first_month"]) == (2, 3, "2025-09")


def test_status_of_a_new_pi_has_no_history_yet(tmp_path, capsys):
    config = write_config(tmp_path, "http://127.0.0.1:9", "http://127.0.0.1:9")
    assert main(["status", "--config", str(config)]) == 0
    assert "no readings yet" in capsys.readouterr().out
