"""The real ingest pipeline writing to Google Sheets (the fake, through the real client): exactly once, per site."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from pvs6_cloud.infra.config import parse_config
from pvs6_cloud.infra.errors import TransientError
from pvs6_cloud.intake.contract import UploadBatch, UploadItem
from pvs6_cloud.intake.pipeline import ingest_batch
from pvs6_cloud.runtime import Runtime
from pvs6_cloud.store.sheets import SheetsSink
from tests.support.sheets_fake import FakeClock, SheetsFake

T0 = datetime(2025, 9, 12, 17, 0, tzinfo=UTC)
ID_COL = 15


@pytest.fixture(scope="module")
def server():
    with SheetsFake() as fake:
        yield fake


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def fake(server, clock):
    server.reset(clock=clock)
    return server


def make_runtime(fake: SheetsFake, clock: FakeClock, tmp_path, sites: dict[str, str]) -> Runtime:
    config = parse_config({
        "sites": {site: {"secret": f"secret-{site}", "latitude": 41.76, "longitude": -72.68,
                         "timezone": "America/New_York", "spreadsheet_id": sid, "mail_to": ["owner@example.com"]}
                  for site, sid in sites.items()},
        "mail": {"outbox_dir": str(tmp_path / "outbox")},
        "weather": {"enabled": False},
        "sheets": {"api_endpoint": fake.endpoint, "max_retries": 3},
    }, env={}, base_dir=tmp_path)

    def sink_for(site):
        sink = SheetsSink.from_config(site, config.sheets)
        sink.api.sleep = clock.sleep
        return sink

    return Runtime(config, clock=lambda: T0 + timedelta(hours=1), sink_for=sink_for)


def batch(payload: dict, indexes: range, site: str = "home") -> UploadBatch:
    items = tuple(UploadItem(T0 + timedelta(minutes=15 * i), "dl_cgi",
                             hashlib.sha256(f"{site}-{i}".encode()).hexdigest(), payload) for i in indexes)
    return UploadBatch(site, "test", {"spool_depth": len(items)}, items)


def reading_ids(fake: SheetsFake, sid: str) -> list[str]:
    return [row[ID_COL] for row in fake.values(sid, "Readings")[1:]]


def ingest(runtime: Runtime, upload: UploadBatch):
    return ingest_batch(upload, runtime.config, runtime.services)


def test_live_batch_lands_once_in_few_calls(fake, clock, tmp_path, seed_payload):
    sid = fake.add_spreadsheet("Home")
    runtime = make_runtime(fake, clock, tmp_path, {"home": sid})
    first = ingest(runtime, batch(seed_payload, range(0, 1)))
    assert len(first.accepted) == 1
    devices = fake.values(sid, "Devices")
    assert len(devices) > 1 and devices[1][0]  # the inverters, by serial
    header = fake.values(sid, "Readings")[0]
    assert len(header) == 16 + sum(1 for row in devices[1:] if row[1] == "Inverter")

    fake.calls.clear()
    second = ingest(runtime, batch(seed_payload, range(1, 2)))  # a warm instance's live batch
    assert len(second.accepted) == 1
    assert len(fake.calls) <= 3 and fake.count("batchUpdate") == 1
    assert len(reading_ids(fake, sid)) == 2


def test_duplicate_upload_makes_no_new_row(fake, clock, tmp_path, seed_payload):
    sid = fake.add_spreadsheet()
    runtime = make_runtime(fake, clock, tmp_path, {"home": sid})
    upload = batch(seed_payload, range(0, 4))
    assert len(ingest(runtime, upload).accepted) == 4
    again = ingest(runtime, upload)
    assert again.accepted == [] and len(again.duplicates) == 4
    overlap = ingest(runtime, batch(seed_payload, range(2, 6)))
    assert len(overlap.accepted) == 2 and len(overlap.duplicates) == 2
    ids = reading_ids(fake, sid)
    assert len(ids) == len(set(ids)) == 6


def test_retried_commit_never_doubles_rows(fake, clock, tmp_path, seed_payload):
    sid = fake.add_spreadsheet()
    runtime = make_runtime(fake, clock, tmp_path, {"home": sid})
    ingest(runtime, batch(seed_payload, range(0, 1)))
    # The write lands but its reply is lost: the sink sees its commit token and does not send it again.
    fake.fail(500, times=1, methods=("batchUpdate",), after_apply=True)
    assert len(ingest(runtime, batch(seed_payload, range(1, 3))).accepted) == 2
    # Sheets down for longer than the retries: the function answers 5xx, the edge sends the batch again later.
    fake.fail(503, times=None, methods=("batchUpdate",))
    with pytest.raises(TransientError):
        ingest(runtime, batch(seed_payload, range(3, 5)))
    fake.clear_failures()
    assert len(ingest(runtime, batch(seed_payload, range(3, 5))).accepted) == 2
    again = ingest(runtime, batch(seed_payload, range(0, 5)))
    assert again.accepted == [] and len(again.duplicates) == 5
    ids = reading_ids(fake, sid)
    assert len(ids) == len(set(ids)) == 5


def test_each_site_writes_its_own_spreadsheet(fake, clock, tmp_path, seed_payload):
    sheets = {site: fake.add_spreadsheet(site.title()) for site in ("home", "cabin", "mum")}
    runtime = make_runtime(fake, clock, tmp_path, sheets)
    for n, site in enumerate(sheets, start=1):
        ingest(runtime, batch(seed_payload, range(0, n), site=site))
    for n, (site, sid) in enumerate(sheets.items(), start=1):
        expected = [hashlib.sha256(f"{site}-{i}".encode()).hexdigest()[:16] for i in range(n)]
        assert reading_ids(fake, sid) == expected
