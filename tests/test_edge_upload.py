"""The uploader against a strict fake ingest: contract, batching limits, 4xx isolation, corrupt items."""

from __future__ import annotations

import gzip
import json
import os
import random
from pathlib import Path

import pytest
import requests

from pvs6_edge.config import CloudConfig, StorageConfig
from pvs6_edge.spool import Spool
from pvs6_edge.upload import Uploader, sign
from tests.support.edge_servers import SECRET, FakeClock, FakeIngest

T0 = 1_757_711_475.0


def _spool(tmp_path, payloads, source="dl_cgi") -> Spool:
    spool = Spool(StorageConfig(dir=tmp_path))
    spool.ensure_dirs()
    for n, raw in enumerate(payloads):
        spool.put(raw, source, T0 + 900 * n)
    return spool


def _upload(spool, ingest, clock, **cloud):
    cfg = CloudConfig(url=ingest.url, site="home", secret=SECRET, timeout_s=2, **cloud)
    with requests.Session() as session:
        return Uploader(session, cfg, spool, clock, "9.9").upload({"spool_depth": len(spool.items())})


@pytest.fixture
def clock():
    return FakeClock(T0)


@pytest.fixture
def ingest(clock):
    with FakeIngest("home", SECRET, clock.time) as server:
        yield server


def test_signature_matches_the_contract():
    body = b"\x1f\x8b body"
    expected = "sha256=" + __import__("hmac").new(SECRET.encode(), b"1700000000." + body, "sha256").hexdigest()
    assert sign(SECRET, "1700000000", body) == expected


def test_payload_bytes_round_trip_and_sha256_is_of_raw_bytes(tmp_path, ingest, clock):
    raw = b'{"devices": [ {"SERIAL": "E1"} ],\n "result": "succeed"}'
    spool = _spool(tmp_path, [raw])
    out = _upload(spool, ingest, clock)
    assert out.error is None and out.acked == 1 and ingest.errors == []
    snap = ingest.snapshots[0]
    assert snap["sha256"] == __import__("hashlib").sha256(raw).hexdigest()
    assert snap["payload"] == json.loads(raw) and snap["captured_at"] == "2025-09-12T21:11:15Z"
    assert ingest.heartbeats == [{"spool_depth": 1}]


def test_wrong_secret_is_retry_later_and_nothing_is_deleted(tmp_path, ingest, clock):
    spool = _spool(tmp_path, [b"{}"])
    ingest.secret = "another-secret-of-enough-length"
    out = _upload(spool, ingest, clock)
    assert "401" in out.error and "cloud.secret_file" in out.error and out.quarantined == []
    assert len(spool.items()) == 1


def test_batches_respect_count_and_compressed_size(tmp_path, ingest, clock):
    rnd = random.Random(7)
    payloads = [json.dumps({"n": n, "noise": rnd.randbytes(3000).hex()}).encode() for n in range(40)]
    spool = _spool(tmp_path, payloads)
    out = _upload(spool, ingest, clock, batch_max_snapshots=7, batch_max_bytes=16384)
    assert out.error is None and out.acked == 40 and spool.items() == []
    assert [s["payload"]["n"] for s in ingest.snapshots] == list(range(40))
    assert ingest.requests >= 40 * 3000 / 16384  # size bound forced small batches
    assert ingest.errors == []


def test_a_refused_item_is_quarantined_and_the_rest_arrive(tmp_path, ingest, clock):
    payloads = [json.dumps({"n": n}).encode() for n in range(37)]
    spool = _spool(tmp_path, payloads)
    bad = __import__("hashlib").sha256(payloads[23]).hexdigest()
    ingest.reject = {bad}
    out = _upload(spool, ingest, clock)
    assert out.error is None
    assert [q["name"] for q in out.quarantined] == ["20250913T025615Z.json"]
    assert "400" in out.quarantined[0]["reason"]
    assert sorted(s["payload"]["n"] for s in ingest.snapshots) == [n for n in range(37) if n != 23]
    assert len(ingest.arrivals) == 36  # nothing sent twice
    assert spool.items() == [] and spool.quarantine_count() == 1
    assert out.requests <= 2 + 2 * 6  # bisection, not one request per item


def test_corrupt_items_are_quarantined_before_upload(tmp_path, ingest, clock):
    spool = _spool(tmp_path, [json.dumps({"n": n}).encode() for n in range(4)])
    spool.compress_older()
    items = spool.items()
    gz_path, plain_path = items[1].path, items[3].path
    data = bytearray(Path(gz_path).read_bytes())
    data[-6] ^= 0xFF  # gzip CRC/length trailer damaged
    Path(gz_path).write_bytes(bytes(data))
    with open(plain_path, "r+b") as fh:  # torn write: half the file
        fh.truncate(os.path.getsize(plain_path) // 2)
    out = _upload(_reopen(spool), ingest, clock)
    assert sorted(q["name"] for q in out.quarantined) == sorted([os.path.basename(gz_path),
                                                                  os.path.basename(plain_path)])
    assert [s["payload"]["n"] for s in ingest.snapshots] == [0, 2]


def test_altered_payload_is_detected_by_its_hash(tmp_path, ingest, clock):
    spool = _spool(tmp_path, [b'{"p_3phsum_kw": "0.2948"}'])
    path = spool.items()[0].path
    Path(path).write_bytes(Path(path).read_bytes().replace(b"0.2948", b"9.2948"))
    out = _upload(_reopen(spool), ingest, clock)
    assert "sha256" in out.quarantined[0]["reason"] and ingest.snapshots == []


def test_only_acknowledged_items_are_deleted(tmp_path, ingest, clock, monkeypatch):
    spool = _spool(tmp_path, [json.dumps({"n": n}).encode() for n in range(3)])
    original = ingest._handle

    def forgetful(path, headers, body):
        code, reply, extra = original(path, headers, body)
        if code == 200 and reply["accepted"]:
            reply["accepted"] = reply["accepted"][:-1]
        return code, reply, extra

    monkeypatch.setattr(ingest, "_handle", forgetful)
    out = _upload(spool, ingest, clock)
    assert out.acked == 2 and len(spool.items()) == 1


def test_heartbeat_only_when_spool_is_empty(tmp_path, ingest, clock):
    spool = _spool(tmp_path, [])
    out = _upload(spool, ingest, clock)
    assert out.heartbeat_delivered and out.requests == 1 and ingest.heartbeats == [{"spool_depth": 0}]


def test_gzip_body_is_well_formed(tmp_path, clock, monkeypatch):
    captured = {}
    with FakeIngest("home", SECRET, clock.time) as server:
        original = server._handle

        def spy(path, headers, body):
            captured["body"] = body
            return original(path, headers, body)

        monkeypatch.setattr(server, "_handle", spy)
        _upload(_spool(tmp_path, [b"[]", b"{}"]), server, clock)
    doc = json.loads(gzip.decompress(captured["body"]))
    assert doc["schema"] == 1 and doc["site"] == "home" and doc["edge"]["version"] == "9.9"
    assert [s["payload"] for s in doc["snapshots"]] == [[], {}]


def _reopen(spool: Spool) -> Spool:
    fresh = Spool(spool.limits)
    fresh.ensure_dirs()
    return fresh


@pytest.mark.parametrize("code", ["403", "404", "405"])
def test_cloud_refusing_every_request_quarantines_nothing(tmp_path, ingest, clock, code):
    # A Cloud Function without its public invoker answers 403 to everyone; a wrong cloud.url 404/405.
    # That is not the items' fault: they must all stay in the spool for when the cloud is fixed.
    spool = _spool(tmp_path, [json.dumps({"n": n}).encode() for n in range(9)])
    ingest.mode = code
    out = _upload(spool, ingest, clock)
    assert out.quarantined == [] and spool.quarantine_count() == 0
    assert len(spool.items()) == 9
    assert code in out.error and out.requests <= 2
    ingest.mode = "ok"
    out = _upload(spool, ingest, clock)
    assert out.error is None and [s["payload"]["n"] for s in ingest.snapshots] == list(range(9))


def test_an_unreadable_item_is_quarantined_and_does_not_block_the_rest(tmp_path, ingest, clock):
    # An SD card read error (EIO) on one file must not stop every upload from then on; a directory under an
    # item's name is the unreadable file a test can make for real (reading it fails with EISDIR).
    spool = _spool(tmp_path, [json.dumps({"n": n}).encode() for n in range(3)])
    middle = Path(spool.items()[1].path)
    middle.unlink()
    middle.mkdir()
    spool = Spool(StorageConfig(dir=tmp_path))
    out = _upload(spool, ingest, clock)
    assert out.error is None and [s["payload"]["n"] for s in ingest.snapshots] == [0, 2]
    assert [q["name"] for q in out.quarantined] == [middle.name] and "unreadable" in out.quarantined[0]["reason"]
    assert spool.items() == []


def test_a_batch_the_cloud_only_partly_acknowledges_is_an_error_not_ok(tmp_path, ingest, clock):
    payloads = [json.dumps({"n": n}).encode() for n in range(3)]
    spool = _spool(tmp_path, payloads)
    ingest.unacknowledged = {__import__("hashlib").sha256(payloads[1]).hexdigest()}
    out = _upload(spool, ingest, clock)
    assert out.acked == 2 and len(spool.items()) == 1  # kept for the next run ...
    assert out.error is not None and "1 of 3" in out.error  # ... and visible in the status, not "upload OK"
