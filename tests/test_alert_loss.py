"""What a fault costs: a dead panel's lost energy against its peers, in the mails and the Alerts tab's Lost column."""

from __future__ import annotations

import csv
import io
import math
import tomllib
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest

from pvs6_cloud.alerting.evidence import HEADER
from pvs6_cloud.alerting.flow import evaluate_batch
from pvs6_cloud.alerting.loss import Loss, covered_serials, estimate, lost_now, note_day
from pvs6_cloud.alerting.notify.costs import cost_words, resolved_cost_words
from pvs6_cloud.alerting.notify.queue import deliver_pending
from pvs6_cloud.alerting.notify.transport import SmtpTransport
from pvs6_cloud.enrich.conditions import Enrichment
from pvs6_cloud.infra.config import CloudConfig, MailConfig, SiteConfig
from pvs6_cloud.store._sheets_client import build_service
from pvs6_cloud.store.base import SheetWrite
from pvs6_cloud.store.csv_sink import CsvSink
from pvs6_cloud.store.layout import Layout, parse_layout
from pvs6_cloud.store.sheets import SheetsSink
from pvs6_cloud.store.state import SiteState
from pvs6_parse.models import DeviceState, Inverter, Snapshot
from tests.support.sheets_fake import FakeClock, SheetsFake
from tests.support.smtp import SmtpServer

SERIALS = tuple(f"E00{i:02d}" for i in range(1, 13))
SITE = SiteConfig("home", "secret", 41.76, -72.68, "America/New_York", name="Maple St", mail_to=("o@example.com",),
                  price_per_kwh=0.25)
CONFIG = CloudConfig(sites={"home": SITE})
PEAK_KW = 0.3
STEP = timedelta(minutes=15)


def _sun(at: datetime) -> float:
    """0..1 over a synthetic day: sunrise 10:00 UTC (06:00 EDT), sunset 23:00 UTC."""
    hours = at.hour + at.minute / 60 - 10
    return math.sin(math.pi * hours / 13) if 0 < hours < 13 else 0.0


def _reading(at: datetime, dead: frozenset[str]) -> tuple[Snapshot, Enrichment]:
    sun = _sun(at)
    invs = tuple(Inverter(s, "AC_Module_Type_E", DeviceState.ERROR if s in dead or not sun else DeviceState.WORKING,
                          0.0 if s in dead else PEAK_KW * sun, 1000.0, measured_at=at) for s in SERIALS)
    enrichment = Enrichment(sun_elevation_deg=70 * sun - 5, expected_kw=12 * PEAK_KW * sun,
                            clearsky_kw=12 * PEAK_KW * sun * 1.1, expected_source="gti")
    return Snapshot("home", at, "dl_cgi", inverters=invs), enrichment


def _day(state: SiteState, day: date, dead: frozenset[str] = frozenset(), hours: int = 15):
    """Feed a day's 15-minute readings from 05:00 local, one batch an hour; the outcomes."""
    start = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
    outcomes = []
    for hour in range(hours):
        batch = [_reading(start + timedelta(hours=hour) + STEP * i, dead) for i in range(4)]
        now = batch[-1][0].captured_at + timedelta(minutes=1)
        outcomes.append(evaluate_batch(batch, {}, state, SITE, CONFIG, now))
    return outcomes


def _true_panel_day_kwh() -> float:
    start = datetime(2025, 6, 2, 4, tzinfo=UTC)
    return sum(PEAK_KW * _sun(start + STEP * i) * 0.25 for i in range(96))


def test_a_dead_panel_states_what_it_loses_and_the_tab_keeps_the_total(tmp_path: Path) -> None:
    state = SiteState()
    _day(state, date(2025, 6, 2))  # a normal day teaches what a panel makes
    outcomes = _day(state, date(2025, 6, 3), frozenset({"E0004"}))
    mails = state.section("mail")["pending"]
    opening = next(m for m in mails if m["kind"] == "alert")
    assert "Panel E0004" in opening["subject"]
    truth = _true_panel_day_kwh()
    # "What it costs: about 1.9 kWh a day, worth about $0.47 a day at $0.25 per kWh (a rough figure for now)."
    line = next(x for x in opening["text"].splitlines() if x.startswith("What it costs: about"))
    per_day = float(line.split("about ")[1].split(" kWh")[0])
    assert abs(per_day - truth) / truth < 0.15, (line, truth)
    assert f"${per_day * 0.25:.2f} a day at $0.25 per kWh" in line and "rough" in line  # one day learned only
    assert "What it costs" in opening["html"]

    _the_mail_carries_the_evidence(state, opening["id"])

    rows = [o.alerts_rows for o in outcomes if o.alerts_rows is not None][-1]
    row = next(r for r in rows if r["device"] == "E0004")
    lost_today = sum(PEAK_KW * _sun(datetime(2025, 6, 3, 4, tzinfo=UTC) + STEP * i) * 0.25 for i in range(96)
                     if datetime(2025, 6, 3, 4, tzinfo=UTC) + STEP * i > datetime.fromisoformat(
                         state.section("alerts")["open"]["inverter_down:E0004"]["started"]))
    # Counted from when it died (the 50 minutes before the alert opened too); the tab moves in 0.5 kWh steps.
    assert row["lost_kwh"] is not None and abs(row["lost_kwh"] - lost_today) <= 0.5
    charged = state.section("alerts")["rows"][-1]["lost_kwh"]
    assert abs(charged - lost_today) / lost_today < 0.05, (charged, lost_today)

    sink = CsvSink(tmp_path, SITE.tz)
    sink.ensure_layout()
    sink.commit(SheetWrite(state=state, replace={"Alerts": rows}))
    text = (tmp_path / "Alerts.csv").read_text()
    assert "Lost (kWh)" in text.splitlines()[0]
    assert sink.read_records("Alerts")[-1]["lost_kwh"] == row["lost_kwh"]

    state.section("mail")["pending"].clear()
    _day(state, date(2025, 6, 4), frozenset({"E0004"}), hours=4)  # the next day's reminder
    reminder = next(m for m in state.section("mail")["pending"] if m["kind"] == "reminder")
    assert "Lost so far: about" in reminder["text"]

    state.section("mail")["pending"].clear()
    _day(state, date(2025, 6, 5))  # fixed: the resolved note gives the total
    resolved = next(m for m in state.section("mail")["pending"] if m["kind"] == "resolved")
    total = state.section("alerts")["rows"][-1]["lost_kwh"]
    assert total > truth  # more than a whole day
    assert f"While it was open it cost about {total:.1f} kWh (${total * 0.25:.2f})" in resolved["text"]


def _the_mail_carries_the_evidence(state: SiteState, mail_id: str) -> None:
    """Through a real SMTP server: the alert has a CSV of the panel and its peers and a warranty paragraph."""
    with SmtpServer() as server:
        config = MailConfig(smtp_host="127.0.0.1", smtp_port=server.port, starttls=False, timeout_s=5.0)
        deliver_pending(state, SmtpTransport(config), datetime(2025, 6, 4, tzinfo=UTC))
        [msg] = [m for m in server.messages if m["Message-ID"] == f"<{mail_id}@pvs6-sentinel>"]
    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert ("For a warranty claim: serial E0004, model AC_Module_Type_E; faulty since Tuesday 3 June 2025; "
            "energy lost: about 2.") in text
    assert 'the PVS6 reported its state as "error", "working"' in text  # working the day before, then error
    [part] = [p for p in msg.iter_attachments() if p.get_content_type() == "text/csv"]
    assert part.get_filename() == "evidence-E0004-2025-06-03.csv"
    rows = list(csv.reader(io.StringIO(part.get_content())))
    assert tuple(rows[0]) == HEADER
    mine = [r for r in rows[1:] if r[1] == "E0004"]
    assert {r[3] for r in mine} == {"this panel"} and len({r[1] for r in rows[1:]}) == 12  # it and 11 peers
    assert datetime.strptime(mine[0][0], "%Y-%m-%d %H:%M:%S").date() == date(2025, 6, 2)  # the day before
    assert mine[-1][4:7] == ["0.0000", "error", "1000.00"] and float(mine[0][4]) > 0
    assert (mine[-1][0] < "2025-06-03 08:00:00") and mine[-1][0].startswith("2025-06-03")  # up to the opening


def test_loss_words_in_every_case() -> None:
    assert cost_words(None, SITE, reminder=False) == ""
    assert "not measurable yet" in cost_words(Loss(0.2, None), SITE, reminder=False)
    assert cost_words(Loss(0.0, 1.5), SITE, reminder=True) == (
        "What it costs: about 1.5 kWh a day, worth about $0.38 a day at $0.25 per kWh.")
    assert resolved_cost_words(Loss(0.01, 1.5), SITE) == ""
    assert resolved_cost_words(Loss(86.2, 1.5), SITE) == "While it was open it cost about 86 kWh ($21.55). "


def test_array_losses_use_the_weather_and_say_when_only_clear_sky_was_known() -> None:
    snap, enrichment = _reading(datetime(2025, 6, 3, 16, tzinfo=UTC), frozenset(SERIALS))
    from pvs6_cloud.alerting.detect.common import Context, build_frame

    frame = build_frame(snap, enrichment, frozenset(SERIALS), Context(SITE, CONFIG.detection))
    lost, normal, rough = lost_now("array_down", (), frame)  # type: ignore[misc]
    assert lost == normal == enrichment.expected_kw and not rough
    assert lost_now("counter_stuck", ("E0001",), frame) is None
    assert covered_serials("circuit_down", "2", {"2": ["E0007", "E0008"]}) == ["E0007", "E0008"]
    assert covered_serials("circuit_down", "E0003,E0004", {}) == ["E0003", "E0004"]  # a learned group
    snap, enrichment = _reading(datetime(2025, 6, 3, 16, tzinfo=UTC), frozenset({"E0003", "E0004"}))
    frame = build_frame(snap, enrichment, frozenset(SERIALS), Context(SITE, CONFIG.detection))
    lost, normal, _ = lost_now("circuit_down", ["E0003", "E0004"], frame)  # type: ignore[misc]
    assert lost == normal == pytest.approx(2 * frame.reference_kw)
    memory: dict = {}
    for offset in range(4):
        note_day(memory, date(2025, 6, 1) + timedelta(days=offset), 0.2, 2.4, 5.0)
    assert estimate({"kwh": 6.0, "normal_kwh": 12.0}, memory, "array_down", 0) == Loss(6.0, 6.0, False)
    assert estimate({"kwh": 6.0, "normal_kwh": 12.0, "rough": True}, memory, "array_down", 0).rough


def _layout_before_lost() -> Layout:
    data = tomllib.loads(resources.files("sheets_template").joinpath("layout.toml").read_text(encoding="utf-8"))
    for tab in data["tabs"]:
        if tab["name"] == "Alerts":
            tab["columns"] = [c for c in tab["columns"] if c["key"] != "lost_kwh"]
    return parse_layout(data)


OLD_ALERT = {"started": None, "opened": datetime(2025, 5, 1, 10, tzinfo=SITE.tz), "resolved": None,
             "emailed": None, "kind": "Panel stopped producing", "device": "E0001", "message": "m", "alert_id": "a1"}


def test_an_alerts_tab_from_before_the_lost_column_keeps_its_rows(tmp_path: Path) -> None:
    old = CsvSink(tmp_path, SITE.tz, layout=_layout_before_lost())
    old.ensure_layout()
    old.commit(SheetWrite(state=SiteState(), replace={"Alerts": [OLD_ALERT]}))
    sink = CsvSink(tmp_path, SITE.tz)
    sink.ensure_layout()
    assert (tmp_path / "Alerts.csv").read_text().splitlines()[0].endswith("Message,Lost (kWh),Alert id")
    moved = sink.read_records("Alerts")
    assert [(r["alert_id"], r["device"], r["lost_kwh"]) for r in moved] == [("a1", "E0001", None)]

    with SheetsFake() as sheets:
        sid = sheets.add_spreadsheet("Home")
        clock = FakeClock()
        service = build_service(sheets.endpoint)[0]
        SheetsSink(service, sid, SITE.tz, layout=_layout_before_lost(), sleep=clock.sleep).bootstrap()
        SheetsSink(service, sid, SITE.tz, layout=_layout_before_lost(), sleep=clock.sleep).commit(
            SheetWrite(state=SiteState(), replace={"Alerts": [OLD_ALERT]}))
        new = SheetsSink(service, sid, SITE.tz, sleep=clock.sleep)
        state = new.load_state()
        new.commit(SheetWrite(state=state, replace={"Alerts": [OLD_ALERT, {**OLD_ALERT, "alert_id": "a2",
                                                                           "lost_kwh": 4.2}]}))
        assert "Lost (kWh)" in sheets.values(sid, "Alerts")[0]
        assert [(r["alert_id"], r["lost_kwh"]) for r in new.read_records("Alerts")] == [("a1", None), ("a2", 4.2)]


def test_the_months_fault_cost_in_every_case() -> None:
    from pvs6_cloud.alerting.costs import FaultCost, fault_cost
    from pvs6_cloud.alerting.notify.costs import month_cost_sentences

    def words(cost: FaultCost) -> list[str]:
        return month_cost_sentences(cost, "June", SITE)

    assert words(FaultCost(0.0, None, 0, False, False)) == ["No fault cost you any solar energy in June."]
    assert words(FaultCost(0.2, None, 0, False, False)) == [
        "Faults cost you next to nothing in June (under 1 kWh); everything is producing again."]
    assert "not measurable yet" in words(FaultCost(0.0, None, 1, False, True))[0]
    assert words(FaultCost(12.0, 311.6, 2, False, False)) == [
        "Faults cost you about 12 kWh ($3.00) in June; 2 panels are still down.",
        "Over the last 12 months faults cost you about 312 kWh ($77.90)."]
    assert words(FaultCost(40.0, 0.0, 0, True, False))[0].endswith("; your panels are still down.")

    state = SiteState()
    state.section("loss")["months"] = {"2024-06": 50.0, "2024-07": 10.0, "2025-05": 5.0, "2025-06": 1.0}
    assert fault_cost(state, SITE, "2025-06", date(2024, 7, 1)).year_kwh == 16.0  # Jul 2024 .. Jun 2025
    assert fault_cost(state, SITE, "2025-06", date(2024, 7, 2)).year_kwh is None  # not a whole year yet
    assert fault_cost(state, SITE, "2025-06", None).month_kwh == 1.0


def test_a_panel_with_a_learned_normal_is_charged_against_it_not_its_peers() -> None:
    from pvs6_cloud.alerting.detect.common import Context, build_frame

    snap, enrichment = _reading(datetime(2025, 6, 3, 16, tzinfo=UTC), frozenset({"E0004"}))
    frame = build_frame(snap, enrichment, frozenset(SERIALS), Context(SITE, CONFIG.detection))
    shaded = 0.2 * frame.reference_kw  # this panel is in a tree's shadow at this hour, every day
    lost, normal, _ = lost_now("inverter_down", ["E0004"], frame, {"E0004": shaded})  # type: ignore[misc]
    assert lost == normal == pytest.approx(shaded)
    lost, _, _ = lost_now("circuit_down", ["E0004", "E0005"], frame, {"E0004": shaded})  # type: ignore[misc]
    assert lost == pytest.approx(shaded + frame.reference_kw - frame.power_kw["E0005"])
