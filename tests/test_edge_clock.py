"""A wrong wall clock on the Pi must never delete data by age: the cloud's Date header is the judge.

The edge and the fake ingest get separate injectable clocks (the Pi's and the cloud's), so a test can jump the
Pi's clock 400 days ahead while the cloud keeps the true time, over real loopback HTTP.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from pathlib import Path

import pytest

from pvs6_edge.archive import Archive
from pvs6_edge.clock import CLOCK_VOUCH_S, judge_clock, offset_from_date, stamp_utc
from pvs6_edge.config import StorageConfig, load_config
from pvs6_edge.runner import EdgeRunner
from pvs6_edge.spool import Spool
from pvs6_edge.status import format_status
from tests.support.edge_servers import SECRET, FakeClock, FakeIngest, FakePvs, device_list, write_config

T0 = 1_757_711_475.0  # 2025-09-12T21:11:15Z
DAY = 86400.0
LIMITS = {"storage.spool_max_age_days": "30", "storage.archive_retention_days": "60"}


@pytest.fixture
def world():
    """The Pi's clock, the cloud's clock, a PVS6 and an ingest that judges timestamps by the cloud's clock."""
    pi, cloud = FakeClock(T0), FakeClock(T0)
    with FakePvs() as pvs, FakeIngest("home", SECRET, cloud.time) as ingest:
        yield pi, cloud, pvs, ingest


def _runner(tmp_path: Path, pvs: FakePvs, ingest: FakeIngest, pi: FakeClock) -> EdgeRunner:
    cfg = load_config(write_config(tmp_path, pvs.url, ingest.url, **LIMITS), {})
    return EdgeRunner(cfg, clock=pi, rng=lambda: 0.5)


def _fill(runner: EdgeRunner, spool_days: list[float], archive_days: list[float]) -> list[str]:
    """Readings taken ``days`` before T0: in the spool (and archive) or in the archive only; returns spool sha256s."""
    runner.spool.ensure_dirs()
    shas = []
    for n, days in enumerate(spool_days):
        raw = device_list(seq=1000 + n)
        runner.spool.put(raw, "dl_cgi", T0 - days * DAY)
        runner.archive.put(raw, T0 - days * DAY)
        shas.append(hashlib.sha256(raw).hexdigest())
    for n, days in enumerate(archive_days):
        runner.archive.put(device_list(seq=2000 + n), T0 - days * DAY)
    return shas


def _archived(runner: EdgeRunner) -> list[str]:
    return sorted(p.name for p in runner.archive.dir.rglob("*.json.gz"))


def _name(days_before_t0: float) -> str:
    return f"{stamp_utc(T0 - days_before_t0 * DAY)}.json.gz"


def _refused_bodies(ingest: FakeIngest, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Decode every request body the fake receives, refused ones too (a refused heartbeat still says things)."""
    seen: list[dict] = []
    original = ingest._handle

    def spy(path, headers, body):
        seen.append(json.loads(gzip.decompress(body)))
        return original(path, headers, body)

    monkeypatch.setattr(ingest, "_handle", spy)
    return seen


def test_clock_jumping_400_days_ahead_deletes_nothing_and_recovers_when_fixed(tmp_path, world, caplog,
                                                                               monkeypatch):
    pi, cloud, pvs, ingest = world
    runner = _runner(tmp_path, pvs, ingest, pi)
    shas = _fill(runner, spool_days=[20, 15, 10, 5, 1], archive_days=[50, 40])
    ingest.mode = "503"  # the cloud is having a bad day: the spool keeps everything, the Date still comes
    assert runner.execute(collect=True, upload=True).upload == "failed"
    assert runner.status()["clock_offset_s"] == 0 and runner.status()["warnings"] == []
    spool_before, archive_before = len(runner.spool.items()), _archived(runner)
    assert spool_before == 6 and len(archive_before) == 8
    ingest.mode = "ok"
    bodies = _refused_bodies(ingest, monkeypatch)
    caplog.set_level(logging.INFO, logger="pvs6_edge")

    pi.advance(400 * DAY)  # a bad NTP source: every file now looks more than a year old
    for _attempt in range(3):  # refused for skew, retried after the backoff; never deletes by age
        pi.advance(3600)
        cloud.advance(3600)
        assert runner.execute(collect=True, upload=True).upload == "failed"
    assert ingest.errors == ["401 stale timestamp"] * 3 and ingest.snapshots == []
    assert len(runner.spool.items()) == spool_before + 3  # readings taken meanwhile are kept too
    assert set(archive_before) <= set(_archived(runner))
    status = runner.status()
    assert status["dropped_total"] == 0
    warning = status["warnings"][0]
    assert "off by about 9600 hours (400 days)" in warning and "timedatectl" in warning
    assert "runs ahead" in warning
    assert "off by about 9600 hours" in status["last_upload_error"] and "-3456" in status["last_upload_error"]
    assert "WARNING:            the Pi's clock is off" in format_status(status, "edge.toml")
    assert bodies and all(b["edge"]["status"]["warnings"][:1] == [warning] for b in bodies[1:])
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and "off by about" in r.getMessage()]
    assert len(errors) == 1  # once when it starts, not every run

    pi.now = cloud.now  # time sync fixed: the clock steps back 400 days
    caplog.clear()
    result = runner.execute(collect=False, upload=True)
    assert result.upload == "ok" and runner.spool.items() == []
    assert sorted(s["sha256"] for s in ingest.snapshots if s["sha256"] in shas) == sorted(shas)
    assert len(ingest.snapshots) == spool_before + 3 == len(ingest.arrivals)  # every reading exactly once
    status = runner.status()
    assert status["warnings"] == [] and abs(status["clock_offset_s"]) < 2
    assert [r.levelname for r in caplog.records if "agrees with the cloud again" in r.getMessage()] == ["INFO"]
    assert set(archive_before) <= set(_archived(runner))

    pi.advance(15 * DAY)  # two weeks on, with a clock the cloud agrees with: genuinely old files go as usual
    cloud.advance(15 * DAY)
    assert runner.execute(collect=True, upload=True).upload == "ok"
    left = _archived(runner)
    assert _name(50) not in left  # 50 days before T0: now 65 days old, past 60
    assert _name(40) in left  # 40 days before T0: 55 days old, kept
    assert len(ingest.arrivals) == len(ingest.snapshots)


def test_genuine_long_power_off_still_prunes_by_age_before_uploading(tmp_path, world):
    pi, cloud, pvs, ingest = world
    runner = _runner(tmp_path, pvs, ingest, pi)
    _fill(runner, spool_days=[5, 3, 1], archive_days=[30])
    ingest.mode = "503"  # the cloud was away before the power cut: three readings wait
    runner.execute(collect=False, upload=True)
    assert len(runner.spool.items()) == 3 and runner.status()["clock_offset_s"] == 0

    pi.advance(40 * DAY)  # off for 40 days; the clock and the cloud agree when it comes back
    cloud.advance(40 * DAY)
    ingest.mode = "ok"
    before = ingest.requests
    result = runner.execute(collect=True, upload=True)
    assert (result.collect, result.upload) == ("ok", "ok")
    status = runner.status()
    assert status["dropped_total"] == 3 and status["warnings"][0].startswith("DATA DROPPED")
    assert [s["captured_at"] for s in ingest.snapshots] == ["2025-10-22T21:11:15Z"]  # only the new reading
    left = _archived(runner)
    assert _name(30) not in left  # 30 days before T0: 70 days old, past 60
    assert _name(5) in left  # 5 days before T0: 45 days old, kept
    assert ingest.errors == [] and ingest.requests - before == 2  # a heartbeat checked the time, then the upload


def test_clock_behind_the_newest_reading_is_flagged_before_any_measurement(tmp_path, world):
    pi, _cloud, pvs, ingest = world
    runner = _runner(tmp_path, pvs, ingest, pi)
    _fill(runner, spool_days=[0], archive_days=[])
    pi.advance(-3 * DAY)  # a Pi without a real-time clock booted with a stale time, the cloud never reached
    runner.execute(collect=False, upload=False)
    warning = runner.status()["warnings"][0]
    assert "before the newest stored reading" in warning and "timedatectl" in warning
    pi.advance(3 * DAY)
    runner.execute(collect=False, upload=False)
    assert runner.status()["warnings"] == []


def test_missing_date_header_leaves_the_clock_unmeasured(tmp_path, world):
    pi, _cloud, pvs, ingest = world
    runner = _runner(tmp_path, pvs, ingest, pi)
    ingest.send_date = False
    assert runner.execute(collect=True, upload=True).upload == "ok"
    assert runner.status()["clock_offset_s"] is None


def test_size_caps_still_apply_while_the_clock_is_off(tmp_path):
    spool = Spool(StorageConfig(dir=tmp_path, spool_max_bytes=1024 * 1024, spool_max_age_days=1))
    spool.ensure_dirs()
    blob = json.dumps({"x": "y" * 300_000}).encode()
    for n in range(5):
        spool.put(blob, "dl_cgi", T0 - 30 * DAY + n)
    warnings, dropped = spool.enforce_limits(None)
    assert dropped == 2 and len(spool.items()) == 3  # over 1 MiB: the oldest go; not all five by age
    assert not any("days old" in w for w in warnings)  # ages by a clock that is off mean nothing
    archive = Archive(StorageConfig(dir=tmp_path, archive_retention_days=1, archive_max_bytes=0))
    archive.put(b"{}", T0 - 30 * DAY)
    assert archive.newest_ts() == T0 - 30 * DAY
    assert archive.prune(None) == 1  # the size cap (0 bytes) still removes


def test_judge_clock_rules():
    def never() -> None:
        return None

    assert judge_clock(T0, None, None, never).age_now == T0  # never measured: believed, as before
    off = judge_clock(T0, -400 * DAY, T0, never)
    assert off.age_now is None and off.confirmed and "runs ahead" in (off.problem or "")
    assert judge_clock(T0, 599.0, T0 - 3600, never).age_now == T0  # small offset, recent: trusted
    stale = judge_clock(T0 + 400 * DAY, 0.0, T0, never)
    assert stale.age_now == T0 + CLOCK_VOUCH_S and not stale.confirmed and stale.problem is None


def test_offset_from_date_header():
    assert offset_from_date("Fri, 12 Sep 2025 21:11:15 GMT", T0 + 10) == pytest.approx(-10)
    assert offset_from_date("not a date", T0) is None and offset_from_date(None, T0) is None
