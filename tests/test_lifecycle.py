"""Alert lifecycle: open once, remind at most daily, resolve, one email for alerts that open together."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pvs6_cloud.alerting.lifecycle import Finding, apply_findings, open_alerts
from pvs6_cloud.alerting.notify.queue import deliver_pending, pending_count
from pvs6_cloud.alerting.notify.transport import OutboxTransport
from pvs6_cloud.infra.config import SiteConfig
from pvs6_cloud.store.state import SiteState

SITE = SiteConfig("home", "secret", 41.76, -72.68, "America/New_York", name="Maple St", mail_to=("o@example.com",),
                  sheet_url="https://docs.google.com/spreadsheets/d/x")
T0 = datetime(2025, 6, 3, 15, 0, tzinfo=UTC)
KINDS = {"inverter_down", "circuit_down"}


def _down(serial: str) -> Finding:
    return Finding("inverter_down", serial, f"Panel {serial} stopped producing", "0 W at 11:00 while peers 250 W",
                   "call your installer")


def _apply(state: SiteState, findings: list[Finding], at: datetime, kinds: set[str] = KINDS):
    return apply_findings(state, findings, evaluated_kinds=kinds, site=SITE, now=at, reminder_hours=24.0)


def _pending(state: SiteState) -> list[dict]:
    return state.section("mail")["pending"]


def test_opens_once_and_several_new_alerts_share_one_email() -> None:
    state = SiteState()
    change = _apply(state, [_down("E1"), _down("E2")], T0)
    assert [f.key for f in change.opened] == ["inverter_down:E1", "inverter_down:E2"]
    assert len(_pending(state)) == 1
    mail = _pending(state)[0]
    assert "2 problems" in mail["subject"] and "Maple St" in mail["subject"]
    assert "Panel E1 stopped producing" in mail["text"] and "Panel E2 stopped producing" in mail["text"]
    assert [r["device"] for r in change.alerts_rows] == ["E1", "E2"]
    assert change.alerts_rows[0]["opened"].utcoffset() == timedelta(hours=-4)  # site-local (EDT)
    assert change.alerts_rows[0]["resolved"] is None

    again = _apply(state, [_down("E1"), _down("E2")], T0 + timedelta(minutes=15))
    assert not again.changed
    assert again.alerts_rows is None
    assert len(_pending(state)) == 1


def test_reminds_once_a_day_while_open() -> None:
    state = SiteState()
    _apply(state, [_down("E1")], T0)
    assert not _apply(state, [_down("E1")], T0 + timedelta(hours=23)).reminded
    change = _apply(state, [_down("E1")], T0 + timedelta(hours=24))
    assert [f.key for f in change.reminded] == ["inverter_down:E1"]
    assert not _apply(state, [_down("E1")], T0 + timedelta(hours=30)).reminded
    assert len(_pending(state)) == 2
    assert _pending(state)[1]["subject"].startswith("[Maple St] Still not fixed")
    assert _pending(state)[1]["kind"] == "reminder"


def test_no_reminder_when_the_kind_was_not_judged() -> None:
    state = SiteState()
    _apply(state, [_down("E1")], T0)
    night = _apply(state, [_down("E1")], T0 + timedelta(hours=25), kinds=set())
    assert not night.reminded and not night.resolved


def test_resolves_only_when_its_kind_was_evaluated() -> None:
    state = SiteState()
    _apply(state, [_down("E1")], T0)
    assert not _apply(state, [], T0 + timedelta(hours=8), kinds={"pvs_reboots"}).resolved
    change = _apply(state, [], T0 + timedelta(hours=20))
    assert change.resolved == ("inverter_down:E1",)
    assert change.alerts_rows[0]["resolved"] is not None
    assert open_alerts(state) == {}
    mail = _pending(state)[-1]
    assert mail["subject"].startswith("[Maple St] Resolved")
    assert "Cleared at Wed 4 Jun 07:00. It began on Tue 3 Jun at 11:00 and lasted 20 hours." in mail["text"]


def test_reopening_after_resolution_is_a_new_alert() -> None:
    state = SiteState()
    _apply(state, [_down("E1")], T0)
    _apply(state, [], T0 + timedelta(hours=1))
    change = _apply(state, [_down("E1")], T0 + timedelta(hours=2))
    assert change.opened
    assert len(change.alerts_rows) == 2
    assert change.alerts_rows[0]["alert_id"] != change.alerts_rows[1]["alert_id"]


def test_open_resolve_and_new_go_in_one_mail() -> None:
    state = SiteState()
    _apply(state, [_down("E1")], T0)
    change = _apply(state, [_down("E2")], T0 + timedelta(hours=1))
    assert change.opened and change.resolved
    assert len(_pending(state)) == 2
    assert "RESOLVED" in _pending(state)[1]["text"] and "NEW" in _pending(state)[1]["text"]


def test_quiet_findings_resolve_without_mail() -> None:
    state = SiteState()
    new = Finding("device_new", "E9", "A new panel inverter appeared: E9", "first seen", "nothing",
                  {"quiet_resolve": True})
    _apply(state, [new], T0, kinds={"device_new"})
    assert len(_pending(state)) == 1
    change = _apply(state, [], T0 + timedelta(days=8), kinds={"device_new"})
    assert change.resolved == ("device_new:E9",)
    assert change.alerts_rows[0]["resolved"] is not None
    assert len(_pending(state)) == 1


def test_alert_email_in_outbox_reads_well(tmp_path: Path) -> None:
    state = SiteState()
    chart = {"times": [(T0 + timedelta(minutes=15 * i)).isoformat() for i in range(8)],
             "panels": {"E1": [0.0] * 8, "E2": [0.25] * 8, "E3": [0.24] * 8}, "focus": ["E1"], "labels": {}}
    finding = Finding("inverter_down", "E1", "Panel E1 stopped producing", "0 W at 11:00 while peers 250 W",
                      "call your installer", {"chart": chart})
    _apply(state, [finding], T0)
    assert deliver_pending(state, OutboxTransport(tmp_path), T0) == 1
    assert pending_count(state) == 0
    [path] = tmp_path.glob("*.eml")
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert "What to do:" in html and "call your installer" in html
    assert "docs.google.com" in html
    pngs = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert len(pngs) == 1 and pngs[0].get_content().startswith(b"\x89PNG")
    assert int.from_bytes(pngs[0].get_content()[16:20], "big") >= 1000  # sharp on a 3x phone screen
    assert f"cid:{pngs[0]['Content-ID'].strip('<>')}" in html


def test_a_backlog_batch_reports_an_alert_that_opened_and_cleared_inside_it_in_one_email() -> None:
    """A Pi back from a two-day internet outage sends every reading at once: a panel that was dead for hours in
    between and came back must still be told (once), and a panel dead throughout opens as usual, in the same mail."""
    from dataclasses import replace

    from test_detect_inverters import SERIALS, every, healthy, snapshot, sun
    from test_detect_inverters import SITE as DETECT_SITE

    from pvs6_cloud.alerting.flow import evaluate_batch
    from pvs6_cloud.infra.config import CloudConfig

    site = replace(DETECT_SITE, mail_to=("o@example.com",))
    config = CloudConfig(sites={"home": site})
    start = datetime(2025, 6, 3, 13, 0, tzinfo=UTC)  # 09:00 EDT
    dead, flaky = SERIALS[0], SERIALS[1]
    # 08:00: every panel but the dead one is awake (flaky stops later: a fault, not a morning shadow).
    pairs = [(snapshot(start - timedelta(hours=1), {**healthy(), dead: 0.0}, stale=[dead]), sun(20.0))]
    for day in range(2):
        for t in every(15, 40, start + timedelta(days=day)):  # 09:00-19:00 local
            powers = {**healthy(), dead: 0.0}
            if day == 0 and t.hour < 17:  # flaky down from 09:00 to 13:00 local on the first day only
                powers[flaky] = 0.0
            pairs.append((snapshot(t, powers, stale=[s for s, kw in powers.items() if kw == 0.0]), sun()))
    state = SiteState()
    now = start + timedelta(days=2)
    outcome = evaluate_batch(pairs, {}, state, site, config, now)
    assert outcome.queued_mail == 1
    [mail] = _pending(state)
    assert f"Panel {dead}" in mail["text"] and f"Panel {flaky}" in mail["text"]
    assert "the monitor lists it as faulty" in mail["text"] and "status reads" not in mail["text"]
    assert "While your Pi was offline, on Tue 3 Jun at 13:15, it cleared" in mail["text"]  # a backlog tells the past
    rows = {r["device"]: r for r in outcome.alerts_rows}
    assert rows[dead]["resolved"] is None
    assert rows[flaky]["resolved"] is not None
    assert set(open_alerts(state)) == {"inverter_down:" + dead}


def test_the_resolved_mail_and_the_alerts_tab_speak_plain_words(tmp_path: Path) -> None:
    """The plain-text resolved note says when it cleared, the heading is a sentence, and the Alerts tab's Kind
    column says what the alert is in words, not a code."""
    import csv

    from pvs6_cloud.store import SheetWrite
    from pvs6_cloud.store.csv_sink import CsvSink

    state = SiteState()
    _apply(state, [_down("E1")], T0)
    change = _apply(state, [], T0 + timedelta(hours=2))
    outbox = OutboxTransport(tmp_path / "outbox")
    assert deliver_pending(state, outbox, T0 + timedelta(hours=2)) == 2
    [resolved_path] = [p for p in outbox.folder.glob("*.eml") if "Resolved" in p.read_text(errors="replace")]
    msg = email.message_from_bytes(resolved_path.read_bytes(), policy=email.policy.default)
    text = msg.get_body(preferencelist=("plain",)).get_content()
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert "Cleared at Tue 3 Jun 13:00. It began at 11:00 and lasted 2 hours." in text
    assert "All clear for Maple St" in html and "Solar: all clear:" not in html

    sink = CsvSink(tmp_path / "sheet", SITE.tz)
    sink.commit(SheetWrite(state=state, replace={"Alerts": change.alerts_rows}))
    with (tmp_path / "sheet" / "Alerts.csv").open(encoding="utf-8", newline="") as fh:
        [row] = list(csv.DictReader(fh))
    assert row["Kind"] == "Panel stopped producing"
    assert (row["Opened"], row["Resolved"]) == ("2025-06-03 11:00:00", "2025-06-03 13:00:00")
