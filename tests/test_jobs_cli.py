"""``pvs6-cloud summary / rollup / watchdog`` run the same jobs locally: CSV folder in, .eml outbox out."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from test_jobs_daily import TZ, SyntheticSite, store

from pvs6_cloud.cli import main
from pvs6_cloud.store.csv_sink import CsvSink


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "cloud.toml"
    path.write_text(
        '[sites.home]\nsecret = "s3cret"\nlatitude = 41.76\nlongitude = -72.68\ntimezone = "America/New_York"\n'
        'local_dir = "sheet"\nmail_to = ["owner@example.com"]\n[mail]\noutbox_dir = "outbox"\n'
        "[weather]\nenabled = false\n",
        encoding="utf-8",
    )
    return path


def test_rollup_summary_and_watchdog_commands(tmp_path: Path, capsys) -> None:
    config = write_config(tmp_path)
    sink = CsvSink(tmp_path / "sheet", TZ)
    store(sink, SyntheticSite({}, date(2025, 6, 1)).generate(2))

    assert main(["rollup", "--config", str(config), "--date", "2025-06-02"]) == 0
    assert "1 day(s) rolled up (2025-06-02 .. 2025-06-02)" in capsys.readouterr().out
    assert [r["date"] for r in sink.read_records("Daily")] == [date(2025, 6, 2)]

    assert main(["summary", "--config", str(config), "--month", "2025-06", "--site", "home"]) == 0
    assert "home 2025-06:" in capsys.readouterr().out
    assert len(list((tmp_path / "outbox").glob("summary-*.eml"))) == 1
    assert main(["summary", "--config", str(config), "--month", "2025-06"]) == 0
    assert "already sent" in capsys.readouterr().out

    assert main(["watchdog", "--config", str(config)]) == 0
    assert "never heard" in capsys.readouterr().out

    assert main(["summary", "--config", str(config), "--month", "June"]) == 1
    assert main(["rollup", "--config", str(config), "--site", "cabin"]) == 2
