"""Backfill from an archive folder: time order, both naming habits, idempotent, bad files reported."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import pytest

from pvs6_cloud.cli import main
from pvs6_cloud.infra.config import load_config
from pvs6_cloud.infra.errors import ConfigError
from pvs6_cloud.intake.replay import find_archive_files, replay_folder
from pvs6_cloud.runtime import Runtime
from tests.support.cloud import local_config


def _write_archive(folder, seed_payload, count=30):
    folder.mkdir(parents=True)
    for i in range(count):
        payload = json.loads(json.dumps(seed_payload))
        payload["devices"][1]["p_3phsum_kw"] = f"{0.1 * i:.4f}"
        name = f"2025091{i // 10}T1{i % 10}0000Z.json"
        if i % 2:
            (folder / (name + ".gz")).write_bytes(gzip.compress(json.dumps(payload).encode()))
        else:
            (folder / name).write_text(json.dumps(payload))


def _cli_config(tmp_path, secret_line: str):
    """A one-site cloud.toml writing CSV files under tmp_path/sheet, without weather."""
    config_file = tmp_path / "cloud.toml"
    config_file.write_text(f'''[sites.home]
{secret_line}
latitude = 41.76
longitude = -72.68
timezone = "America/New_York"
local_dir = "{tmp_path / 'sheet'}"
[weather]
enabled = false
''')
    return config_file


def test_replay_is_ordered_and_idempotent(tmp_path, seed_payload):
    archive = tmp_path / "archive"
    _write_archive(archive, seed_payload)
    (archive / "20250919T120000Z.json").write_text("{torn")
    config = local_config(tmp_path)
    runtime = Runtime(config)
    first = replay_folder(archive, "home", config, runtime.services, batch_size=7)
    assert (first.files, first.accepted, first.duplicates) == (31, 30, 0)
    assert [name for name, _ in first.skipped] == ["20250919T120000Z.json"]
    again = replay_folder(archive, "home", config, runtime.services)
    assert (again.accepted, again.duplicates) == (0, 30)
    records = runtime.sink_for(config.site("home")).read_records("Readings")
    times = [r["time"] for r in records]
    assert times == sorted(times)
    assert len(records) == 30
    assert records[-1]["production_kw"] == 2.9


def test_replay_past_the_recent_id_window_still_adds_no_duplicates(tmp_path, seed_payload, monkeypatch):
    # A year of archive replayed over what the Pi uploaded: the state remembers only the newest ids (3000 in
    # production; 5 here so the test stays fast), yet every older reading must still be recognised.
    monkeypatch.setattr("pvs6_cloud.store.state.RECENT_IDS_KEPT", 5)
    archive = tmp_path / "archive"
    _write_archive(archive, seed_payload)
    config = local_config(tmp_path)
    runtime = Runtime(config)
    first = replay_folder(archive, "home", config, runtime.services, batch_size=7)
    assert (first.accepted, first.duplicates) == (30, 0)
    again = replay_folder(archive, "home", config, runtime.services, batch_size=7)
    assert (again.accepted, again.duplicates) == (0, 30)
    assert len(runtime.sink_for(config.site("home")).read_records("Readings")) == 30


def test_seed_style_names_are_site_local(tmp_path):
    (tmp_path / "a").mkdir()
    path = tmp_path / "a" / "20250912_171115.json"
    path.write_text("{}")
    config = local_config(tmp_path)
    [(stamp, found)] = find_archive_files(tmp_path / "a", config.site("home").tz)
    assert found == path
    assert stamp == datetime(2025, 9, 12, 21, 11, 15, tzinfo=UTC)  # 17:11 EDT


def test_cli_replay_reports(tmp_path, seed_payload, capsys):
    archive = tmp_path / "archive"
    _write_archive(archive, seed_payload, count=3)
    config_file = _cli_config(tmp_path, 'secret = "x"')
    assert main(["replay", str(archive), "--config", str(config_file), "--site", "home"]) == 0
    assert "3 new reading(s)" in capsys.readouterr().out
    assert len((tmp_path / "sheet" / "Readings.csv").read_text().splitlines()) == 4


def test_replay_skips_every_unreadable_file_says_why_and_goes_on(tmp_path, seed_payload, caplog):
    """One bad file among many must cost only itself: the rest of the folder goes in, the summary counts it."""
    archive = tmp_path / "archive"
    _write_archive(archive, seed_payload, count=4)
    huge = json.dumps(seed_payload).replace('"0.2948"', "1" + "0" * 400)  # a bare integer no float holds
    assert "0" * 400 in huge
    bad = {
        "20250920T100000Z.json": huge.encode(),  # parsed, with a warning: not skipped
        "20250920T110000Z.json": b"[" * 100_000,  # nested too deep
        "20250920T120000Z.json.gz": b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage",  # corrupt deflate
        "20250920T130000Z.json.gz": gzip.compress(b" " * (17 << 20), compresslevel=9),  # inflates past 16 MiB
        "20251399T130000Z.json": json.dumps(seed_payload).encode(),  # month 13
        "00010101T000000Z.json": json.dumps(seed_payload).encode(),  # year 1: before any PVS6
        "20250920T140000Z.json": b"\xff\xfe not utf-8",
    }
    for name, data in bad.items():
        (archive / name).write_bytes(data)
    config = local_config(tmp_path)
    runtime = Runtime(config)
    report = replay_folder(archive, "home", config, runtime.services)
    skipped = dict(report.skipped)
    assert sorted(skipped) == sorted(set(bad) - {"20250920T100000Z.json"})
    assert "nested too deep" in skipped["20250920T110000Z.json"]
    assert "gzip" in skipped["20250920T120000Z.json.gz"]
    assert "16 MiB" in skipped["20250920T130000Z.json.gz"]
    assert "not a date" in skipped["20251399T130000Z.json"]
    assert "before 2010" in skipped["00010101T000000Z.json"]
    assert (report.files, report.accepted) == (4 + len(bad), 5)
    for name in skipped:
        assert name in caplog.text
    records = runtime.sink_for(config.site("home")).read_records("Readings")
    assert len(records) == 5


def test_cli_replay_needs_no_upload_secret_it_never_checks(tmp_path, seed_payload, capsys, monkeypatch):
    """The deployed cloud.toml names the Pi's secret by variable; a replay by hand checks no signature."""
    monkeypatch.delenv("PVS6_SECRET_HOME", raising=False)
    archive = tmp_path / "archive"
    _write_archive(archive, seed_payload, count=2)
    config_file = _cli_config(tmp_path, 'secret_env = "PVS6_SECRET_HOME"')
    assert main(["replay", str(archive), "--config", str(config_file), "--site", "home"]) == 0
    assert "2 new reading(s)" in capsys.readouterr().out
    # the door, which checks uploads, still refuses to start without it
    with pytest.raises(ConfigError, match="PVS6_SECRET_HOME"):
        load_config(config_file)
