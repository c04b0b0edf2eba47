"""Readings rotate into yearly tabs, then archive spreadsheets: nothing lost, nothing doubled, even when a step fails.

Everything runs through the real googleapiclient (Sheets v4 and Drive v3) against the loopback fake, with cell
budgets of a few hundred cells so "many years" take milliseconds.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pvs6_cloud.infra.errors import SinkUnavailable
from pvs6_cloud.store import SheetWrite
from pvs6_cloud.store._sheets_client import build_drive_service, build_service
from pvs6_cloud.store.sheets import SheetsSink
from tests.support.sheets_fake import QUOTA_MESSAGE, FakeClock, SheetsFake

TZ = ZoneInfo("America/New_York")
PANELS = [("E001", "E001"), ("E002", "E002")]
COLUMNS = 16 + len(PANELS)
ID_COL = 15
OWNERS = ("owner@example.com", "partner@example.com")
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
    drive, _ = build_drive_service(fake.endpoint)
    return SheetsSink(service, sid or fake.add_spreadsheet("Home"), TZ, sleep=clock.sleep, drive=drive,
                      share_with=OWNERS, site_id="home", **kw)


def readings(first: int, count: int, start: datetime = START) -> list[dict]:
    return [{"time": start + timedelta(hours=2 * (i - first)), "production_kw": float(i), "snapshot_id": f"r{i:05d}",
             "panel:E001": 0.1, "panel:E002": 0.2} for i in range(first, first + count)]


def ingest(sink: SheetsSink, rows: list[dict]) -> None:
    state = sink.load_state()
    for row in rows:
        state.remember(row["snapshot_id"], row["time"])
    sink.commit(SheetWrite(state=state, panels=PANELS, append={"Readings": rows}))


def ids_in(fake: SheetsFake, sid: str, tab: str = "Readings") -> list[str]:
    return [row[ID_COL] for row in fake.values(sid, tab)[1:]]


def archives_of(sink: SheetsSink) -> dict:
    return sink.load_state().section("sheets").get("archives", {})


def everywhere(fake: SheetsFake, sink: SheetsSink) -> Counter:
    """Every reading id in Readings and in every recorded archive tab, with how often it appears."""
    found = Counter(ids_in(fake, sink.spreadsheet_id))
    for entry in archives_of(sink).values():
        found.update(ids_in(fake, entry.get("id") or sink.spreadsheet_id, entry["tab"]))
    return found


def every(count: int, first: int = 0) -> Counter:
    return Counter(f"r{i:05d}" for i in range(first, first + count))


def test_year_boundary_moves_last_year_to_a_tab_of_the_same_spreadsheet(fake, clock):
    sink = make_sink(fake, clock)
    ingest(sink, readings(0, 6))
    main = sink.spreadsheet_id
    typed = fake.sheet(main, "Readings").rows[1:3]
    fake.calls.clear()
    assert sink.rotate_readings(NEW_YEAR) == 2
    assert fake.count("batchUpdate") == 1  # add the tab, copy, delete and store the state: one atomic request
    assert fake.count("create") == 0 and not fake.permissions and list(fake.spreadsheets) == [main]
    assert archives_of(sink) == {"2024": {"tab": "Readings 2024", "rows": 2}}
    assert ids_in(fake, main, "Readings 2024") == ["r00000", "r00001"]
    assert ids_in(fake, main) == ["r00002", "r00003", "r00004", "r00005"]
    tab, readings_tab = fake.sheet(main, "Readings 2024"), fake.sheet(main, "Readings")
    assert tab.rows[1:3] == typed  # numbers stay numbers, text stays text
    assert fake.values(main, "Readings 2024")[0] == fake.values(main, "Readings")[0]
    assert tab.properties["hidden"] is False and tab.grid["frozenRowCount"] == 1
    assert tab.formats == readings_tab.formats and tab.widths == readings_tab.widths
    assert sink.load_state().row_counts["Readings"] == 4

    fake.calls.clear()
    assert sink.rotate_readings(NEW_YEAR) == 0  # the daily job's call on any other day: one read, no write
    assert fake.count("batchUpdate") == 0 and len(fake.calls) == 1
    assert everywhere(fake, sink) == every(6)


def test_the_tab_move_is_atomic_and_a_lost_reply_is_not_a_second_move(fake, clock):
    sink = make_sink(fake, clock, max_retries=1)
    ingest(sink, readings(0, 6))
    main = sink.spreadsheet_id
    fake.fail(503, times=None, methods=("batchUpdate",))
    with pytest.raises(SinkUnavailable):
        sink.rotate_readings(NEW_YEAR)
    fake.clear_failures()
    assert len(ids_in(fake, main)) == 6 and "Readings 2024" not in [s.title for s in fake.spreadsheets[main].sheets]

    fake.fail(500, methods=("batchUpdate",), after_apply=True)  # applied, then the reply is lost
    assert sink.rotate_readings(NEW_YEAR) == 2
    assert ids_in(fake, main, "Readings 2024") == ["r00000", "r00001"]
    assert everywhere(fake, sink) == every(6)


def three_year_sink(fake, clock) -> tuple[SheetsSink, str, int]:
    """A bootstrapped sink whose cell budget holds exactly three 3-reading years as tabs.

    Each 3-reading year adds a 4-row tab and leaves Readings 3 rows shorter: +17 cells; 51 stay reserved for next
    year's Readings. So three years fit, the fourth does not. Returns (sink, main spreadsheet id, budget).
    """
    sink = make_sink(fake, clock)
    sink.bootstrap(PANELS)
    main = sink.spreadsheet_id
    budget = fake.spreadsheets[main].cells() + 3 * COLUMNS + 3 * COLUMNS
    return make_sink(fake, clock, main, archive_after_cells=budget), main, budget


def year_of_readings(year: int, first: int, count: int = 3) -> list[dict]:
    return readings(first, count, datetime(year, 6, 1, 16, 0, tzinfo=UTC))


def test_years_fill_the_main_spreadsheet_to_its_budget_then_go_to_one_shared_archive(fake, clock):
    sink, main, budget = three_year_sink(fake, clock)
    total = 0
    for year in range(2020, 2026):
        ingest(sink, year_of_readings(year, total))
        total += 3
        assert sink.rotate_readings(datetime(year + 1, 1, 1, tzinfo=TZ)) == 3
        assert fake.spreadsheets[main].cells() <= budget
    archives = archives_of(sink)
    assert [y for y, e in archives.items() if "id" not in e] == ["2020", "2021", "2022"]
    assert {e["tab"] for e in archives.values()} == {f"Readings {y}" for y in range(2020, 2026)}
    outside = {e["id"] for e in archives.values() if "id" in e}
    assert len(outside) == 1 and fake.count("create") == 1  # 2023-2025 share one new archive spreadsheet
    archive = outside.pop()
    assert fake.spreadsheets[archive].title == "Home — Readings archive from 2023"
    assert [s.title for s in fake.spreadsheets[archive].sheets] == ["Readings 2023", "Readings 2024", "Readings 2025"]
    assert ids_in(fake, archive, "Readings 2025") == ["r00015", "r00016", "r00017"]
    # Shared once with each owner, as writer, without a notification mail, before any row went into it.
    assert fake.permissions == [{"file_id": archive, "type": "user", "role": "writer", "email": email,
                                 "notify": False} for email in OWNERS]
    book = sink.load_state().section("sheets")["archive_books"][archive]
    assert book["shared_with"] == list(OWNERS) and book["created"] is True
    assert everywhere(fake, sink) == every(total)


def test_create_refused_for_lack_of_drive_storage_tells_the_owner_what_to_do_and_loses_nothing(fake, clock):
    sink = make_sink(fake, clock, archive_after_cells=1)  # the main spreadsheet never has room
    ingest(sink, readings(0, 6))
    main = sink.spreadsheet_id
    fake.refuse_create()
    with pytest.raises(SinkUnavailable) as caught:
        sink.rotate_readings(NEW_YEAR)
    message = str(caught.value)
    assert QUOTA_MESSAGE in message and "[sites.home] archive_spreadsheet_ids" in message
    assert "create an empty Google spreadsheet yourself" in message and "Nothing is lost" in message
    assert isinstance(caught.value.__cause__, Exception)
    assert ids_in(fake, main) == [f"r{i:05d}" for i in range(6)]  # Readings as it was
    assert archives_of(sink) == {} and not fake.permissions and list(fake.spreadsheets) == [main]

    own = fake.add_spreadsheet("Home archive")  # the owner follows the advice
    sink = make_sink(fake, clock, main, archive_after_cells=1, archive_spreadsheet_ids=[own])
    assert sink.rotate_readings(NEW_YEAR) == 2
    assert archives_of(sink)["2024"] == {"id": own, "tab": "Readings 2024", "rows": 2}
    assert ids_in(fake, own, "Readings 2024") == ["r00000", "r00001"]
    assert not fake.permissions  # the owner's own file needs no sharing
    assert everywhere(fake, sink) == every(6)


def test_failure_between_copy_and_delete_never_duplicates_or_loses(fake, clock):
    sink = make_sink(fake, clock, max_retries=1, archive_after_cells=1)
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
    archive = archives_of(sink)["2024"]["id"]
    assert ids_in(fake, archive, "Readings 2024") == ["r00000", "r00001"]  # copied ...
    assert len(ids_in(fake, main)) == 6  # ... and still in Readings: in both places, for now

    assert sink.rotate_readings(NEW_YEAR) == 2  # the retry only deletes
    assert ids_in(fake, archive, "Readings 2024") == ["r00000", "r00001"]
    assert fake.count("create") == 1 and len(fake.permissions) == len(OWNERS)  # made and shared once
    assert everywhere(fake, sink) == every(6)


def test_budget_valve_moves_readings_out_during_ingest_and_nothing_is_lost(fake, clock):
    sink = make_sink(fake, clock)
    sink.bootstrap(PANELS)
    main = sink.spreadsheet_id
    readings_grid = fake.sheet(main, "Readings").row_count * COLUMNS
    others = fake.spreadsheets[main].cells() - readings_grid
    valve = others + 25 * COLUMNS  # rotate past 24 rows
    # Google's limit for the fake: 280 rows could not fit in the spreadsheet without the valve.
    fake.max_cells = fake.spreadsheets[main].cells() + 40 * COLUMNS
    total = 0
    for _ in range(40):
        ingest(sink, readings(total, 7))
        total += 7
        sink = make_sink(fake, clock, main, valve_after_cells=valve)  # a new function instance
    assert everywhere(fake, sink) == every(total)  # every reading exactly once
    archives = archives_of(sink)
    assert set(archives) == {"2024", "2025"} and len({e["id"] for e in archives.values()}) == 1
    assert len(ids_in(fake, main)) <= 24
    assert sum(e["rows"] for e in archives.values()) + len(ids_in(fake, main)) == total
    assert fake.count("create") == 1 and len(fake.permissions) == len(OWNERS)


def test_valve_without_an_archive_writes_on_and_rests(fake, clock, caplog):
    sink = make_sink(fake, clock)
    sink.bootstrap(PANELS)
    main = sink.spreadsheet_id
    others = fake.spreadsheets[main].cells() - fake.sheet(main, "Readings").row_count * COLUMNS
    sink = make_sink(fake, clock, main, valve_after_cells=others + 10 * COLUMNS)
    fake.refuse_create()
    ingest(sink, readings(0, 7))
    ingest(sink, readings(7, 7))  # the valve fires, cannot create an archive, and the commit goes through
    assert "could not be archived" in caplog.text
    assert fake.count("create") == 1
    ingest(sink, readings(14, 7))  # resting: no second attempt on the next upload
    assert fake.count("create") == 1
    assert ids_in(fake, main) == [f"r{i:05d}" for i in range(21)]


def test_a_state_loaded_before_the_rotation_does_not_erase_where_years_went(fake, clock):
    sink = make_sink(fake, clock)
    ingest(sink, readings(0, 6))
    state = sink.load_state()  # the daily job: load, roll up, rotate, then store its own state
    sink.commit(SheetWrite(state=state, panels=PANELS))
    assert sink.rotate_readings(NEW_YEAR) == 2
    sink.commit(SheetWrite(state=state, panels=PANELS))
    stored = sink.load_state()
    assert stored.section("sheets")["archives"] == {"2024": {"tab": "Readings 2024", "rows": 2}}
    assert stored.row_counts["Readings"] == 4
    assert everywhere(fake, sink) == every(6)


def test_reading_ids_are_found_wherever_their_year_went(fake, clock):
    # A replay older than the state's recent-id window asks the sink: ids rotated into yearly tabs of the main
    # spreadsheet and into an archive spreadsheet must be found as well as those still in Readings.
    sink, _main, _budget = three_year_sink(fake, clock)
    total = 0
    for year in range(2020, 2025):
        ingest(sink, year_of_readings(year, total))
        total += 3
        assert sink.rotate_readings(datetime(year + 1, 1, 1, tzinfo=TZ)) == 3
    ingest(sink, year_of_readings(2025, total))
    total += 3
    state = sink.load_state()
    assert any("id" in e for e in state.section("sheets")["archives"].values())  # one year went elsewhere
    found = sink.stored_ids(state, datetime(2020, 3, 1, tzinfo=UTC), datetime(2025, 12, 1, tzinfo=UTC))
    assert found == set(every(total))
    assert sink.stored_ids(state, datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC)) >= {
        "r00015", "r00016", "r00017"}
