"""Edge runs end to end over loopback: collect -> spool -> upload, backoff, clock jumps, the run lock."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import pytest

from pvs6_edge.config import load_config
from pvs6_edge.lock import run_lock
from pvs6_edge.runner import EdgeRunner
from tests.support.edge_servers import SECRET, FakeClock, FakeIngest, FakePvs, write_config


def _runner(tmp_path: Path, pvs: FakePvs, ingest: FakeIngest, clock: FakeClock, **extra: str) -> EdgeRunner:
    cfg = load_config(write_config(tmp_path, pvs.url, ingest.url, **extra), {})
    return EdgeRunner(cfg, clock=clock, rng=lambda: 0.5)


@pytest.fixture
def servers():
    clock = FakeClock()
    with FakePvs() as pvs, FakeIngest("home", SECRET, clock.time) as ingest:
        yield pvs, ingest, clock


def test_run_collects_archives_and_uploads_one_snapshot(tmp_path, servers):
    pvs, ingest, clock = servers
    runner = _runner(tmp_path, pvs, ingest, clock)
    result = runner.execute(collect=True, upload=True)
    assert (result.collect, result.upload, result.snapshots_acked) == ("ok", "ok", 1)
    assert len(ingest.snapshots) == 1
    snap = ingest.snapshots[0]
    assert snap["source"] == "dl_cgi" and snap["captured_at"] == "2025-09-12T21:11:15Z"
    assert snap["payload"]["result"] == "succeed"
    assert runner.spool.items() == []
    archived = list((tmp_path / "data" / "archive" / "2025" / "09").iterdir())
    assert [p.name for p in archived] == ["20250912T211115Z.json.gz"]
    assert json.loads(gzip.decompress(archived[0].read_bytes()))["seq"] == snap["payload"]["seq"]
    assert ingest.heartbeats[0]["spool_depth"] == 1 and ingest.heartbeats[0]["pvs_ok"] is True


def test_min_interval_skips_a_second_poll_and_a_clock_jump_back_does_not_block(tmp_path, servers):
    pvs, ingest, clock = servers
    runner = _runner(tmp_path, pvs, ingest, clock)
    assert runner.execute(collect=True, upload=False).collect == "ok"
    clock.advance(30)
    assert runner.execute(collect=True, upload=False).collect == "skipped"
    clock.advance(-3600)  # NTP steps the clock back an hour
    assert runner.execute(collect=True, upload=False).collect == "ok"
    clock.advance(10)
    assert runner.execute(collect=True, upload=False).collect == "skipped"
    clock.advance(7 * 86400)  # and far forward
    assert runner.execute(collect=True, upload=False).collect == "ok"
    assert sum(1 for p in pvs.requests if "DeviceList" in p) == 3
    assert len(runner.spool.items()) == 3


def test_clock_jump_back_never_overwrites_a_spooled_item(tmp_path, servers):
    pvs, ingest, clock = servers
    runner = _runner(tmp_path, pvs, ingest, clock, **{"pvs.min_interval_s": "0"})
    runner.execute(collect=True, upload=False)
    runner.execute(collect=True, upload=False)  # same second: same stamp
    names = [os.path.basename(i.path) for i in runner.spool.items()]
    assert len(names) == 2 and names[1].startswith("20250912T211115Z-1")
    runner.execute(collect=False, upload=True)
    assert [s["payload"]["seq"] for s in ingest.snapshots] == [1, 2]


def test_pvs_down_still_sends_a_heartbeat_with_the_error(tmp_path, servers):
    pvs, ingest, clock = servers
    pvs.mode = "503"
    runner = _runner(tmp_path, pvs, ingest, clock)
    result = runner.execute(collect=True, upload=True)
    assert (result.collect, result.upload) == ("failed", "ok")
    beat = ingest.heartbeats[-1]
    assert beat["pvs_ok"] is False and "503" in beat["last_pvs_error"] and beat["spool_depth"] == 0
    assert ingest.requests == 1 and ingest.snapshots == []


def test_overlapping_run_exits_quietly(tmp_path, servers, caplog):
    pvs, ingest, clock = servers
    runner = _runner(tmp_path, pvs, ingest, clock)
    (tmp_path / "data").mkdir()
    with run_lock(runner.lock_path) as held:
        assert held
        caplog.set_level("INFO")
        result = runner.execute(collect=True, upload=True)
    assert result.busy and pvs.requests == [] and ingest.requests == 0
    assert "holds" in caplog.text
    assert runner.execute(collect=True, upload=True).collect == "ok"


@pytest.mark.slow
def test_cloud_down_for_a_week_then_every_snapshot_arrives_once_in_order(ram_tmp_path, servers):
    """A week of hourly runs (the Pi's 15 min changes nothing here but the count) against a cloud refusing
    connections, then up but failing; once it is back, one run sends the whole week in order, each reading
    once, in full batches: batches of 50 so that a week's 168 readings take several, as 672 take two of 500."""
    tmp_path = ram_tmp_path
    pvs, ingest, clock = servers
    runner = _runner(tmp_path, pvs, ingest, clock, **{"cloud.batch_max_snapshots": "50"})
    runs = 7 * 24
    ingest.stop()  # connection refused for days ...
    for i in range(runs):
        if i == 50:
            ingest.start()
            ingest.mode = "503"  # ... then up but failing
        runner.execute(collect=True, upload=True)
        clock.advance(3600)
    assert len(runner.spool.items()) == runs
    state = json.loads((tmp_path / "data" / "state.json").read_text())
    assert state["upload_failures"] > 5 and state["next_upload_at"] > clock.now - 3600
    ingest.mode = "ok"
    clock.advance(runner.cfg.cloud.backoff_max_s)
    requests_before = ingest.requests
    result = runner.execute(collect=False, upload=True)
    assert result.upload == "ok" and runner.spool.items() == []
    seqs = [s["payload"]["seq"] for s in ingest.snapshots]
    assert seqs == list(range(1, runs + 1))
    assert len(ingest.arrivals) == runs  # exactly once
    # a heartbeat to learn the cloud's time (the last clock check is hours old), then full batches, nothing twice
    assert ingest.requests - requests_before == 1 + -(-runs // 50)
    assert ingest.errors == []


def test_backoff_grows_with_jitter_and_honours_retry_after(tmp_path, servers):
    pvs, ingest, clock = servers
    runner = _runner(tmp_path, pvs, ingest, clock)
    ingest.mode = "503"
    runner.execute(collect=True, upload=True)
    first = runner.status()
    assert first["upload_failures"] == 1
    state_file = tmp_path / "data" / "state.json"
    wait1 = json.loads(state_file.read_text())["next_upload_at"] - clock.now
    assert 150 <= wait1 <= 300  # base 300 s, equal jitter
    clock.advance(wait1 + 1)
    runner.execute(collect=False, upload=True)
    wait2 = json.loads(state_file.read_text())["next_upload_at"] - clock.now
    assert 300 <= wait2 <= 600
    before = ingest.requests
    clock.advance(wait2 - 5)
    assert runner.execute(collect=False, upload=True).upload == "backoff"
    assert ingest.requests == before
    clock.advance(10)
    ingest.mode, ingest.retry_after = "429", "1234"
    runner.execute(collect=False, upload=True)
    assert json.loads(state_file.read_text())["next_upload_at"] - clock.now == pytest.approx(1234)
    clock.advance(1200)
    assert runner.execute(collect=False, upload=True).upload == "backoff"
    ingest.mode, ingest.retry_after = "ok", None
    clock.advance(40)
    assert runner.execute(collect=False, upload=True).upload == "ok"
    assert runner.status()["upload_failures"] == 0 and len(ingest.snapshots) == 1


def test_now_uploads_at_once_during_a_backoff_and_ends_it(tmp_path, servers):
    """``pvs6-edge run --now``: the owner fixed the config and wants the first row now, not in hours."""
    pvs, ingest, clock = servers
    runner = _runner(tmp_path, pvs, ingest, clock)
    ingest.mode = "503"
    for _ in range(4):  # four failures in a row: the next attempt is up to 40 minutes away
        runner.execute(collect=True, upload=True, skip_backoff=True)
        clock.advance(60)
    ingest.mode = "ok"
    assert runner.execute(collect=False, upload=True).upload == "backoff"
    result = runner.execute(collect=False, upload=True, skip_backoff=True)
    assert (result.upload, result.snapshots_acked) == ("ok", 4)
    assert runner.status()["upload_failures"] == 0
    assert json.loads((tmp_path / "data" / "state.json").read_text())["next_upload_at"] is None


def test_retry_after_http_date_is_honoured(tmp_path, servers):
    pvs, ingest, clock = servers
    runner = _runner(tmp_path, pvs, ingest, clock)
    ingest.mode = "503"
    ingest.retry_after = "Fri, 12 Sep 2025 21:41:15 GMT"  # 30 minutes after the fake clock's start
    runner.execute(collect=True, upload=True)
    state = json.loads((tmp_path / "data" / "state.json").read_text())
    assert state["next_upload_at"] - clock.now == pytest.approx(1800)


def test_backoff_set_before_a_clock_jump_back_does_not_block_uploads(tmp_path, servers):
    pvs, ingest, clock = servers
    runner = _runner(tmp_path, pvs, ingest, clock)
    ingest.mode = "503"
    runner.execute(collect=True, upload=True)
    clock.advance(-30 * 86400)  # clock steps back a month: the stored next attempt is absurdly far ahead
    ingest.mode = "ok"
    assert runner.execute(collect=False, upload=True).upload == "ok"
    assert len(ingest.snapshots) == 1


def test_state_file_damage_is_not_fatal(tmp_path, servers):
    pvs, ingest, clock = servers
    runner = _runner(tmp_path, pvs, ingest, clock)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "state.json").write_bytes(b'{"last_poll_at": 17')
    assert runner.execute(collect=True, upload=True).upload == "ok"
    assert os.path.exists(tmp_path / "data" / "state.json")


def _fill_disk_for(path: Path) -> Path:
    """Make the next atomic write of ``path`` hit a real ENOSPC: its temp name points at /dev/full."""
    tmp = path.with_name(f".tmp-{path.name}.{os.getpid()}")
    tmp.symlink_to("/dev/full")
    return tmp


def test_disk_full_still_uploads_the_spool_and_reports_it(tmp_path, servers):
    pvs, ingest, clock = servers
    runner = _runner(tmp_path, pvs, ingest, clock)
    ingest.stop()
    runner.execute(collect=True, upload=True)  # one item waits in the spool
    ingest.start()
    clock.advance(900)
    shutil.rmtree(tmp_path / "data" / "archive")  # no archive left to give way to the new reading
    _fill_disk_for(tmp_path / "data" / "state.json")  # the state save before the poll meets ENOSPC
    result = runner.execute(collect=True, upload=True)
    assert result.collect == "failed" and result.upload == "ok"
    assert len(ingest.snapshots) == 1 and runner.spool.items() == []  # uploading frees the SD card
    beat = ingest.heartbeats[-1]
    assert "No space left" in beat["storage_error"]
    assert "No space left" in runner.status()["storage_error"]
    clock.advance(900)
    runner.execute(collect=True, upload=True)  # space is back: the error clears
    assert ingest.heartbeats[-1]["storage_error"] is None and len(ingest.snapshots) == 2


def test_disk_full_while_compressing_does_not_stop_the_upload(tmp_path, servers):
    pvs, ingest, clock = servers
    runner = _runner(tmp_path, pvs, ingest, clock)
    ingest.stop()
    runner.execute(collect=True, upload=True)  # one plain item waits
    ingest.start()
    clock.advance(900)
    first = Path(runner.spool.items()[0].path)
    pvs.on_request = lambda path: _fill_disk_for(first.with_name(first.name + ".gz"))  # after the temp sweep
    result = runner.execute(collect=True, upload=True)
    assert (result.collect, result.upload) == ("ok", "ok") and len(ingest.snapshots) == 2
    assert "No space left" in ingest.heartbeats[-1]["storage_error"]
    assert runner.spool.items() == []


def test_pi_booting_with_a_1970_clock_does_not_spool_misdated_readings(tmp_path, servers):
    pvs, ingest, clock = servers
    runner = _runner(tmp_path, pvs, ingest, clock)
    real_now = clock.now
    clock.now = 42.0  # no RTC, no network time yet: the Pi thinks it is 1970
    result = runner.execute(collect=True, upload=False)
    assert result.collect == "skipped" and runner.spool.items() == [] and pvs.requests == []
    status = runner.status()
    assert any("clock" in w for w in status["warnings"])
    clock.now = real_now  # NTP steps the clock
    result = runner.execute(collect=True, upload=True)
    assert (result.collect, result.upload) == ("ok", "ok")
    assert [s["captured_at"] for s in ingest.snapshots] == ["2025-09-12T21:11:15Z"]
    status = runner.status()
    assert status["dropped_total"] == 0 and status["warnings"] == []
