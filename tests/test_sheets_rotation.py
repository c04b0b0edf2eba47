"""Readings rotate into yearly archive spreadsheets: nothing lost, nothing doubled, even when a step fails."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pvs6_cloud.errors import SinkUnavailable
from pvs6_cloud.sink import SheetWrite
from pvs6_cloud.sink._sheets_client import build_service
from pvs6_cloud.sink.sheets import SheetsSink
from tests.support.sheets_fake import FakeClock, SheetsFake

TZ = ZoneInfo("America/New_York")
PANELS = [("E001", "E001"), ("E002", "E002")]
ID_COL = 14
# 2024-12-31 20:00 local, then every 2 hours: 2 readings in 2024 (local), the rest in 2025
START = datetime(2025, 1, 1, 1, 0, tzinfo=UTC)
NEW_YEAR = datetime(2025, 1, 1, tzinfo=TZ)


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


def make_sink(fake, clock, sid=None, **kw) -> SheetsSink:
    service, _ = build_service(fake.endpoint)
    return SheetsSink(service, sid or fake.add_spreadsheet("Home"), TZ, sleep=clock.sleep, **kw)


def readings(first: int, count: int) -> list[dict]:
    return [{"time": START + timedelta(hours=2 * i), "production_kw": float(i), "snapshot_id": f"r{i:05d}",
             "panel:E001": 0.1, "panel:E002": 0.2} for i in range(first, first + count)]


def ingest(sink: SheetsSink, rows: list[dict]) -> None:
    state = sink.load_state()
    for row in rows:
        state.remember(row["snapshot_id"], row["time"])
    sink.commit(SheetWrite(state=state, panels=PANELS, append={"Readings": rows}))


def ids_in(fake: SheetsFake, sid: str) -> list[str]:
    return [row[ID_COL] for row in fake.values(sid, "Readings")[1:]]


def everywhere(fake: SheetsFake, sink: SheetsSink) -> Counter:
    """Every reading id in the main sheet and all archives, with how often it appears."""
    found = Counter(ids_in(fake, sink.spreadsheet_id))
    for entry in sink.load_state().section("sheets").get("archives", {}).values():
        found.update(ids_in(fake, entry["id"]))
    return found


def test_year_boundary_moves_last_year_to_its_archive(fake, clock):
    sink = make_sink(fake, clock)
    ingest(sink, readings(0, 6))
    assert sink.rotate_readings(NEW_YEAR) == 2
    archives = sink.load_state().section("sheets")["archives"]
    assert list(archives) == ["2024"]
    archive = archives["2024"]["id"]
    assert fake.spreadsheets[archive].title == "Home — Readings 2024"
    assert ids_in(fake, archive) == ["r00000", "r00001"]
    assert ids_in(fake, sink.spreadsheet_id) == ["r00002", "r00003", "r00004", "r00005"]
    assert fake.values(archive, "Readings")[0] == fake.values(sink.spreadsheet_id, "Readings")[0]
    assert fake.sheet(archive, "Readings").formats[0]["numberFormat"]["type"] == "DATE_TIME"
    moved = make_sink(fake, clock, archive).read_records("Readings", PANELS)
    assert moved[0]["time"] == START and moved[0]["panel:E002"] == 0.2  # values and types survive the move
    assert sink.load_state().row_counts["Readings"] == 4

    fake.calls.clear()
    assert sink.rotate_readings(NEW_YEAR) == 0  # the daily job's call on any other day: one read, no write
    assert fake.count("batchUpdate") == 0 and len(fake.calls) == 1
    assert everywhere(fake, sink) == Counter(f"r{i:05d}" for i in range(6))


def test_failure_after_copying_never_duplicates_or_loses(fake, clock):
    sink = make_sink(fake, clock, max_retries=1)
    ingest(sink, readings(0, 6))
    main = sink.spreadsheet_id
    real_handle = fake.handle
    seen = {"archive_writes": 0}

    def flaky(verb, path, body):
        if path.split("?")[0].endswith(":batchUpdate") and f"/{main}:" not in path:
            seen["archive_writes"] += 1
            if seen["archive_writes"] == 1:  # after rows reach the archive, the main sheet becomes unreachable
                fake.fail(503, times=None, methods=("batchUpdate",), spreadsheet_id=main)
        return real_handle(verb, path, body)

    fake.handle = flaky
    try:
        with pytest.raises(SinkUnavailable):
            sink.rotate_readings(NEW_YEAR)
    finally:
        fake.handle = real_handle
    fake.clear_failures()
    archive = sink.load_state().section("sheets")["archives"]["2024"]["id"]
    assert ids_in(fake, archive) == ["r00000", "r00001"]  # copied ...
    assert len(ids_in(fake, main)) == 6  # ... and still in Readings: in both places, for now

    assert sink.rotate_readings(NEW_YEAR) == 2  # the retry only deletes
    assert ids_in(fake, archive) == ["r00000", "r00001"]
    assert everywhere(fake, sink) == Counter(f"r{i:05d}" for i in range(6))


def test_size_limit_rotates_during_ingest_and_nothing_is_lost(fake, clock):
    columns = 15 + len(PANELS)
    sink = make_sink(fake, clock, archive_after_cells=columns * 25)  # rotate past 24 rows
    sink.bootstrap(PANELS)
    # The spreadsheet itself could not hold the readings without rotation.
    fake.max_cells = fake.spreadsheets[sink.spreadsheet_id].cells() + columns * 40
    total = 0
    for _ in range(20):
        ingest(sink, readings(total, 7))
        total += 7
        sink = make_sink(fake, clock, sink.spreadsheet_id, archive_after_cells=columns * 25)  # a new instance
    found = everywhere(fake, sink)
    assert found == Counter(f"r{i:05d}" for i in range(total))  # every reading exactly once
    archives = sink.load_state().section("sheets")["archives"]
    assert set(archives) == {"2024", "2025"}
    assert len(ids_in(fake, sink.spreadsheet_id)) <= 24
    assert sum(e["rows"] for e in archives.values()) + len(ids_in(fake, sink.spreadsheet_id)) == total
