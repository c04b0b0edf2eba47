"""A reading the cloud keeps failing on (5xx) never stalls the spool; a real outage still waits and loses nothing.

Runs go through the real runner and uploader against the loopback ingest (``FakeIngest``), which answers 500
for a batch holding one given reading, for every batch with readings, or for every request; the clock advances
15 minutes a run, as the systemd timer does.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest
import requests

from pvs6_edge.cli import main
from pvs6_edge.config import CloudConfig, StorageConfig, load_config
from pvs6_edge.envelope import decode_item
from pvs6_edge.failing import MAX_ATTEMPTS, MIN_SPAN_S
from pvs6_edge.runner import EdgeRunner
from pvs6_edge.spool import Spool
from pvs6_edge.upload import Uploader
from tests.support.edge_servers import SECRET, FakeClock, FakeIngest, FakePvs, write_config

RUN_EVERY_S = 900.0


@pytest.fixture
def servers():
    clock = FakeClock()
    with FakePvs() as pvs, FakeIngest("home", SECRET, clock.time) as ingest:
        yield pvs, ingest, clock


def _runner(tmp_path: Path, pvs: FakePvs, ingest: FakeIngest, clock: FakeClock) -> tuple[EdgeRunner, Path]:
    config = write_config(tmp_path, pvs.url, ingest.url)
    return EdgeRunner(load_config(config, {}), clock=clock, rng=lambda: 0.5), config


def _sha(runner: EdgeRunner, path: str) -> str:
    for item in runner.spool.items():
        if item.path == path:
            return runner.spool.read(item)[0]["sha256"]
    raise AssertionError(f"{path} is not in the spool")


def _status_text(config: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["status", "--config", str(config)], environ={}) == 0
    return capsys.readouterr().out


def test_a_reading_the_cloud_keeps_failing_on_is_held_back_then_set_aside_with_its_bytes(
        tmp_path, servers, capsys):
    pvs, ingest, clock = servers
    runner, config = _runner(tmp_path, pvs, ingest, clock)
    runner.execute(collect=True, upload=False)
    (poison_item,) = runner.spool.items()
    poison = _sha(runner, poison_item.path)
    ingest.fail = {poison}
    quarantine_dir = tmp_path / "data" / "quarantine"

    runs = 0
    while not any(quarantine_dir.glob("2*")):
        runs += 1
        assert runs <= MAX_ATTEMPTS + 3, "the failing reading was never set aside"
        clock.advance(RUN_EVERY_S)
        runner.execute(collect=True, upload=True)
        delivered = {s["sha256"] for s in ingest.snapshots}
        assert poison not in delivered
        # Every reading collected after the failing one has reached the cloud: nothing waits behind it.
        assert [i.path for i in runner.spool.items()] in ([], [poison_item.path + ".gz"], [poison_item.path])
        if runner.spool.items():
            status = runner.status()
            assert [r["name"] for r in status["held_back"]] == [poison_item.path.rsplit("/", 1)[1]]
            assert "held back:" in _status_text(config, capsys)
    # Not at the first hiccup: only after MAX_ATTEMPTS failing runs over MIN_SPAN_S, with others getting through.
    assert runs * RUN_EVERY_S >= MIN_SPAN_S and runs >= MAX_ATTEMPTS
    assert len(ingest.snapshots) == runs  # each run's own reading, once
    (kept,) = [p for p in quarantine_dir.iterdir() if not p.name.endswith(".reason")]
    data = gzip.decompress(kept.read_bytes()) if kept.name.endswith(".gz") else kept.read_bytes()
    assert decode_item(data)[0]["sha256"] == poison  # decode_item re-hashes the payload: its raw bytes are whole
    assert "failed on this reading alone" in kept.with_name(kept.name + ".reason").read_text()
    assert runner.status()["held_back"] == []

    clock.advance(RUN_EVERY_S)
    runner.execute(collect=True, upload=True)
    beat = ingest.heartbeats[-1]
    assert [r["name"] for r in beat["newly_quarantined"]] == [kept.name]
    assert "failed on this reading alone" in beat["newly_quarantined"][0]["reason"]
    assert "quarantined:        1 file(s)" in _status_text(config, capsys)


def test_a_cloud_answering_500_to_everything_waits_and_loses_nothing(tmp_path, servers):
    pvs, ingest, clock = servers
    runner, _config = _runner(tmp_path, pvs, ingest, clock)
    ingest.mode = "500"
    for _run in range(10):  # two and a half hours of outage
        clock.advance(RUN_EVERY_S)
        runner.execute(collect=True, upload=True)
    assert len(runner.spool.items()) == 10
    assert not any((tmp_path / "data" / "quarantine").iterdir())
    assert runner.status()["held_back"] == [] and runner.status()["upload_failures"] > 0
    ingest.mode = "ok"
    clock.advance(7 * 3600)  # past the longest backoff
    runner.execute(collect=True, upload=True)
    assert len(ingest.snapshots) == 11 and runner.spool.items() == []


def test_a_cloud_failing_on_every_reading_while_it_takes_heartbeats_sets_nothing_aside(tmp_path, servers):
    pvs, ingest, clock = servers
    runner, _config = _runner(tmp_path, pvs, ingest, clock)
    ingest.fail_snapshots = True  # e.g. a parser bug hitting every reading: an outage of the reading path
    for _run in range(10):
        clock.advance(RUN_EVERY_S)
        runner.execute(collect=True, upload=True)
    assert len(runner.spool.items()) == 10 and ingest.snapshots == []
    assert not any((tmp_path / "data" / "quarantine").iterdir())
    status = runner.status()
    assert status["held_back"] == [] and "failed on each" in status["last_upload_error"]
    ingest.fail_snapshots = False
    clock.advance(7 * 3600)
    runner.execute(collect=True, upload=True)
    assert len(ingest.snapshots) == 11 and runner.spool.items() == []


def test_the_failing_reading_is_found_by_halving_and_the_rest_of_a_big_batch_goes(tmp_path, servers):
    _pvs, ingest, clock = servers
    spool = Spool(StorageConfig(dir=tmp_path))
    spool.ensure_dirs()
    payloads = [json.dumps({"n": n}).encode() for n in range(200)]
    for n, raw in enumerate(payloads):
        spool.put(raw, "dl_cgi", clock.time() - 60 * (200 - n))
    ingest.fail = {hashlib.sha256(payloads[137]).hexdigest()}
    cfg = CloudConfig(url=ingest.url, site="home", secret=SECRET, timeout_s=2)
    with requests.Session() as session:
        out = Uploader(session, cfg, spool, clock, "9.9").upload({})
    assert out.error is None and out.acked == 199
    assert [item.path for item, _err in out.failed_alone] == [spool.items()[0].path]
    assert out.requests <= 2 + 2 * 8  # batch, heartbeat, then two per halving: not one request per reading


def test_a_batch_with_a_refused_and_a_failing_reading_sets_each_aside_its_own_way(tmp_path, servers):
    """One halving search serves 4xx and 5xx: the refused reading is quarantined at once; a 5xx met while looking
    for it ends the round with all else kept; the next round finds the failing reading and holds it back alone."""
    _pvs, ingest, clock = servers
    spool = Spool(StorageConfig(dir=tmp_path))
    spool.ensure_dirs()
    payloads = [json.dumps({"n": n}).encode() for n in range(20)]
    for n, raw in enumerate(payloads):
        spool.put(raw, "dl_cgi", clock.time() - 60 * (20 - n))
    ingest.reject = {hashlib.sha256(payloads[3]).hexdigest()}  # the fake answers 400 before 500
    ingest.fail = {hashlib.sha256(payloads[14]).hexdigest()}
    cfg = CloudConfig(url=ingest.url, site="home", secret=SECRET, timeout_s=2)
    with requests.Session() as session:
        first = Uploader(session, cfg, spool, clock, "9.9").upload({})
        assert len(first.quarantined) == 1 and "cloud refused it" in first.quarantined[0]["reason"]
        assert first.acked == 9 and "HTTP 500" in (first.error or "") and not first.failed_alone
        second = Uploader(session, cfg, spool, clock, "9.9").upload({})
    assert second.error is None and second.acked == 9 and not second.quarantined
    assert sorted(s["payload"]["n"] for s in ingest.snapshots) == [n for n in range(20) if n not in (3, 14)]
    (held,) = [item for item, _err in second.failed_alone]
    assert spool.items() == [held]
    assert json.loads(spool.read(held)[1])["payload"] == {"n": 14}
