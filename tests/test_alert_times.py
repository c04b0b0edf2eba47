"""Alerts are dated by the readings (Started, Opened, Resolved) and by the mail (Emailed), also in a backlog, and
an Alerts tab of the old layout (no Started/Emailed) keeps every row when the new layout arrives."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from test_detect_inverters import SERIALS, every, healthy, snapshot, sun
from test_detect_inverters import SITE as DETECT_SITE

from pvs6_cloud.alerting.flow import deliver_pending, emailed_rows, evaluate_batch
from pvs6_cloud.alerting.lifecycle import Finding, alerts_rows, apply_findings
from pvs6_cloud.alerting.notify.compose import KIND_TITLES, chart_title
from pvs6_cloud.alerting.notify.transport import OutboxTransport
from pvs6_cloud.infra.config import CloudConfig
from pvs6_cloud.store import SheetWrite
from pvs6_cloud.store._sheets_client import build_service
from pvs6_cloud.store.csv_sink import CsvSink
from pvs6_cloud.store.layout import Layout, parse_layout
from pvs6_cloud.store.sheets import SheetsSink
from pvs6_cloud.store.state import SiteState
from tests.support.sheets_fake import FakeClock, SheetsFake

SITE = replace(DETECT_SITE, mail_to=("o@example.com",))
CONFIG = CloudConfig(sites={"home": SITE})
START = datetime(2025, 6, 3, 13, 0, tzinfo=UTC)  # Tue 3 Jun, 09:00 EDT
DEAD, FLAKY = SERIALS[0], SERIALS[1]
T0 = datetime(2025, 6, 3, 15, 0, tzinfo=UTC)


def _backlog() -> list[tuple[Any, Any]]:
    """Two days of readings: DEAD dead throughout; FLAKY dead 09:00-13:00 on both days, after waking at 08:00."""
    pairs = []
    for day in range(2):
        dawn = START + timedelta(days=day, hours=-1)  # 08:00: every panel but DEAD produces (FLAKY's fault is a fault)
        pairs.append((snapshot(dawn, {**healthy(), DEAD: 0.0}, stale=[DEAD]), sun(20.0)))
        for t in every(15, 40, START + timedelta(days=day)):  # 09:00-19:00 local
            powers = {**healthy(), DEAD: 0.0}
            if t.hour < 17:
                powers[FLAKY] = 0.0
            pairs.append((snapshot(t, powers, stale=[s for s, kw in powers.items() if kw == 0.0]), sun()))
    return pairs


def _rows(state: SiteState) -> list[dict[str, Any]]:
    """The Alerts tab without the wall-time column (Emailed differs by nature between live and backlog)."""
    return [{k: v for k, v in r.items() if k != "emailed"} for r in alerts_rows(state, SITE)]


def test_a_backlog_gives_the_rows_live_uploads_give_with_data_times() -> None:
    pairs = _backlog()
    live = SiteState()
    for snap, enr in pairs:
        evaluate_batch([(snap, enr)], {}, live, SITE, CONFIG, snap.captured_at + timedelta(seconds=20))
    late = SiteState()
    evaluate_batch(pairs, {}, late, SITE, CONFIG, START + timedelta(days=170))  # replayed in November
    assert _rows(late) == _rows(live)
    rows = _rows(late)
    flaky = [r for r in rows if r["device"] == FLAKY]
    assert len(flaky) == 2, "it opened and cleared on each day: two rows, as live"
    times = {s.captured_at for s, _ in pairs}
    for row in rows:
        assert row["opened"] in times and row["opened"].month == 6
        assert row["started"] <= row["opened"]
        assert row["opened"].utcoffset() == timedelta(hours=-4)  # site-local (EDT)
    for row in flaky:
        assert row["resolved"] in times and row["opened"] < row["resolved"] < row["opened"] + timedelta(hours=6)
        assert row["started"].date() == row["opened"].date()


def test_a_backlog_email_says_it_reports_the_past() -> None:
    state = SiteState()
    evaluate_batch(_backlog(), {}, state, SITE, CONFIG, START + timedelta(days=170))
    [mail] = state.section("mail")["pending"]
    assert "reports the past" in mail["text"]
    assert "While your Pi was offline, on Tue 3 Jun at 09:" in mail["text"]
    assert "While your Pi was offline, on Wed 4 Jun at" in mail["text"]  # the second day's clearing
    assert "While your Pi was offline" in mail["html"]

    live = SiteState()
    pairs = _backlog()[:12]
    for snap, enr in pairs:
        evaluate_batch([(snap, enr)], {}, live, SITE, CONFIG, snap.captured_at + timedelta(seconds=20))
    [opened] = live.section("mail")["pending"]
    assert "offline" not in opened["text"] and "past" not in opened["text"]


def test_a_chart_of_a_past_day_is_never_titled_today() -> None:
    chart = {"times": [(START + timedelta(minutes=15 * i)).isoformat() for i in range(8)]}
    assert chart_title(chart, SITE, START + timedelta(hours=3)).startswith("Today:")
    past = chart_title(chart, SITE, START + timedelta(days=3))
    assert past.startswith("Tue 3 Jun:") and "Today" not in past


def _down(serial: str) -> Finding:
    return Finding("inverter_down", serial, f"Panel {serial} stopped producing", "0 W", "call your installer",
                   {"since": (T0 - timedelta(minutes=45)).isoformat()})


def test_emailed_is_when_the_mail_server_took_it(tmp_path: Path) -> None:
    state = SiteState()
    apply_findings(state, [_down("E1")], evaluated_kinds={"inverter_down"}, site=SITE, now=T0, reminder_hours=24)
    [row] = alerts_rows(state, SITE)
    assert row["started"] == T0 - timedelta(minutes=45) and row["opened"] == T0 and row["emailed"] is None
    assert emailed_rows(state, SITE) is None  # not sent yet: nothing to rewrite
    sent_at = T0 + timedelta(minutes=7)
    assert deliver_pending(state, SITE, CONFIG, lambda: OutboxTransport(tmp_path), sent_at) == 1
    [row] = emailed_rows(state, SITE)
    assert row["emailed"] == sent_at and row["emailed"].utcoffset() == timedelta(hours=-4)
    assert emailed_rows(state, SITE) is None  # stamped once


# -- an Alerts tab of the old layout -------------------------------------------------------------------------------

OLD_ROWS = [
    {"opened": "2025-05-01T14:00:00+00:00", "resolved": "2025-05-01T18:00:00+00:00", "kind": "inverter_down",
     "device": "E1", "message": "Panel E1 stopped producing. 0 W", "alert_id": "a1"},
    {"opened": "2025-05-20T15:30:00+00:00", "resolved": "", "kind": "counter_stuck", "device": "E2",
     "message": "Panel E2: energy counter stopped counting", "alert_id": "a2"},
]


def _old_layout() -> Layout:
    """The layout as it was before Started and Emailed: Opened, Resolved, Kind, Device, Message, Alert id."""
    data = tomllib.loads(resources.files("sheets_template").joinpath("layout.toml").read_text(encoding="utf-8"))
    for tab in data["tabs"]:
        if tab["name"] == "Alerts":
            tab["columns"] = [c for c in tab["columns"] if c["key"] not in ("started", "emailed")]
    layout = parse_layout(data)
    assert layout.tab("Alerts").header()[:2] == ["Opened", "Resolved"]
    return layout


def _old_state() -> SiteState:
    state = SiteState()
    alerts = state.section("alerts")
    alerts["rows"] = [dict(r) for r in OLD_ROWS]
    alerts["open"] = {"counter_stuck:E2": {"id": "a2", "kind": "counter_stuck", "device": "E2",
                                           "opened": OLD_ROWS[1]["opened"], "notified": OLD_ROWS[1]["opened"],
                                           "summary": "s", "details": "d", "advice": "a", "quiet": False}}
    return state


def _old_records() -> list[dict[str, Any]]:
    return [{**r, "opened": datetime.fromisoformat(r["opened"]),
             "resolved": datetime.fromisoformat(r["resolved"]) if r["resolved"] else None} for r in OLD_ROWS]


def _new_alert(state: SiteState) -> list[dict[str, Any]]:
    change = apply_findings(state, [_down("E3")], evaluated_kinds={"inverter_down"}, site=SITE, now=T0,
                            reminder_hours=24)
    assert change.alerts_rows is not None
    return change.alerts_rows


def _check(records: list[dict[str, Any]]) -> None:
    assert [r["alert_id"] for r in records] == ["a1", "a2", records[2]["alert_id"]]
    assert [r["device"] for r in records] == ["E1", "E2", "E3"]
    assert records[0]["opened"] == datetime.fromisoformat(OLD_ROWS[0]["opened"])
    assert records[0]["resolved"] == datetime.fromisoformat(OLD_ROWS[0]["resolved"])
    assert records[1]["kind"] == KIND_TITLES["counter_stuck"] and records[1]["resolved"] is None  # Kind in words
    assert records[0]["started"] is None and records[0]["emailed"] is None  # not known for old rows
    assert records[2]["started"] == T0 - timedelta(minutes=45) and records[2]["opened"] == T0


def test_an_old_csv_alerts_tab_keeps_every_row(tmp_path: Path) -> None:
    old = CsvSink(tmp_path, SITE.tz, layout=_old_layout())
    old.ensure_layout()
    state = _old_state()
    old.commit(SheetWrite(state=state, replace={"Alerts": _old_records()}))
    assert (tmp_path / "Alerts.csv").read_text().startswith("Opened,Resolved,Kind")

    sink = CsvSink(tmp_path, SITE.tz)
    sink.ensure_layout()  # the header moves, and each cell with its column
    assert (tmp_path / "Alerts.csv").read_text().startswith("Started,Opened,Resolved,Emailed,Kind")
    moved = sink.read_records("Alerts")
    assert [r["alert_id"] for r in moved] == ["a1", "a2"]
    assert moved[0]["opened"] == datetime.fromisoformat(OLD_ROWS[0]["opened"]) and moved[0]["kind"] == "inverter_down"

    state = sink.load_state()
    sink.commit(SheetWrite(state=state, replace={"Alerts": _new_alert(state)}))
    _check(sink.read_records("Alerts"))


@pytest.fixture(scope="module")
def sheets():
    with SheetsFake() as fake:
        yield fake


@pytest.mark.parametrize("bootstrap", [True, False], ids=["bootstrap-sheet", "next-commit"])
def test_an_old_sheet_alerts_tab_keeps_every_row(sheets: SheetsFake, bootstrap: bool) -> None:
    clock = FakeClock()
    sheets.reset(clock=clock)
    sid = sheets.add_spreadsheet("Home")

    def sink(layout: Layout | None = None) -> SheetsSink:
        return SheetsSink(build_service(sheets.endpoint)[0], sid, SITE.tz, layout=layout, sleep=clock.sleep)

    old = sink(_old_layout())
    old.bootstrap()
    old.commit(SheetWrite(state=_old_state(), replace={"Alerts": _old_records()}))
    assert sheets.values(sid, "Alerts")[0][:3] == ["Opened", "Resolved", "Kind"]

    new = sink()
    if bootstrap:
        report = new.bootstrap()
        assert "Alerts" in report.headers_fixed
        assert sheets.values(sid, "Alerts")[0][:5] == ["Started", "Opened", "Resolved", "Emailed", "Kind"]
        moved = new.read_records("Alerts")
        assert [r["alert_id"] for r in moved] == ["a1", "a2"]
        assert moved[1]["opened"] == datetime.fromisoformat(OLD_ROWS[1]["opened"])
        assert moved[1]["kind"] == "counter_stuck"
        assert sheets.sheet(sid, "Alerts").formats[3]["numberFormat"]["type"] == "DATE_TIME"
    state = new.load_state()
    new.commit(SheetWrite(state=state, replace={"Alerts": _new_alert(state)}))
    assert sheets.values(sid, "Alerts")[0][:5] == ["Started", "Opened", "Resolved", "Emailed", "Kind"]
    _check(new.read_records("Alerts"))
