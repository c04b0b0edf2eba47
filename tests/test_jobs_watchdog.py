"""Watchdog: a silent Pi, a PVS6 that stops answering, the night window, recovery, and the uptime tally.

Heartbeats go through the real ingest pipeline (zero-snapshot batches, as the edge sends when the PVS6 is quiet)
into a CSV sink; mail goes to a real outbox folder.
"""

from __future__ import annotations

from datetime import datetime
from email import message_from_bytes
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pvs6_cloud.alerting.notify.transport import OutboxTransport
from pvs6_cloud.infra.config import CloudConfig, DetectionConfig, SiteConfig
from pvs6_cloud.intake.contract import UploadBatch
from pvs6_cloud.intake.pipeline import Services, ingest_batch
from pvs6_cloud.jobs.watchdog import SECTION, evaluate_watchdog, run_watchdog
from pvs6_cloud.store.csv_sink import CsvSink

TZ = ZoneInfo("America/New_York")
DETECTION = DetectionConfig(watchdog_silent_min=90.0, pvs_unreachable_min=60.0)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 6, day, hour, minute, tzinfo=TZ)


@pytest.fixture
def site(tmp_path: Path) -> SiteConfig:
    return SiteConfig(site_id="home", secret="s3cret", latitude=41.76, longitude=-72.68,
                      timezone="America/New_York", local_dir=tmp_path / "sheet", mail_to=("owner@example.com",),
                      active_hours=(6, 21))


@pytest.fixture
def sink(site: SiteConfig) -> CsvSink:
    return CsvSink(site.local_dir, TZ)


@pytest.fixture
def outbox(tmp_path: Path) -> OutboxTransport:
    return OutboxTransport(tmp_path / "outbox")


def heartbeat(sink: CsvSink, site: SiteConfig, at: datetime, **status: object) -> None:
    """What the edge does every 15 minutes: a batch, here with no snapshot, carrying its status."""
    config = CloudConfig(sites={site.site_id: site}, detection=DETECTION)
    services = Services(sink_for=lambda _s: sink, clock=lambda: at)
    full = {"pvs_ok": True, "last_pvs_contact": at.isoformat(), "spool_depth": 0, **status}
    ingest_batch(UploadBatch(site.site_id, "1.0", full, ()), config, services)


def watch(sink: CsvSink, site: SiteConfig, at: datetime, outbox: OutboxTransport):
    return run_watchdog(sink, site, DETECTION, at, lambda: outbox)


def mails(outbox: OutboxTransport) -> list:
    return [message_from_bytes(p.read_bytes()) for p in sorted(outbox.folder.glob("*.eml"))]


def test_silent_pi_opens_once_after_threshold_and_resolves_when_it_returns(sink, site, outbox) -> None:
    heartbeat(sink, site, local(3, 10, 0))
    assert watch(sink, site, local(3, 11, 29), outbox).opened == []
    result = watch(sink, site, local(3, 11, 31), outbox)
    assert result.opened == ["edge_silent:"]
    assert result.mail_sent == 1
    assert watch(sink, site, local(3, 11, 46), outbox).opened == []  # opens once, no second mail
    sent = mails(outbox)
    assert len(sent) == 1
    assert "silent" in sent[0]["Subject"].lower()

    alerts = sink.read_records("Alerts")
    assert [(a["kind"], a["resolved"]) for a in alerts] == [("Raspberry Pi has gone silent", None)]  # in words

    heartbeat(sink, site, local(3, 13, 0))
    back = watch(sink, site, local(3, 13, 5), outbox)
    assert back.resolved == ["edge_silent:"]
    alerts = sink.read_records("Alerts")
    assert alerts[0]["resolved"] == local(3, 13, 5)
    assert len(mails(outbox)) == 2  # the resolved note


def test_night_is_not_silence(sink, site, outbox) -> None:
    heartbeat(sink, site, local(3, 20, 55))  # the last reading of the evening
    for at in (local(3, 23, 59), local(4, 3, 0), local(4, 6, 0), local(4, 7, 24)):
        assert watch(sink, site, at, outbox).opened == [], at
    verdict = evaluate_watchdog(sink.load_state(), site, DETECTION, local(4, 7, 24))
    assert verdict.silent_min == pytest.approx(5 + 84)
    assert watch(sink, site, local(4, 7, 26), outbox).opened == ["edge_silent:"]


def test_pvs6_unreachable_opens_and_silence_does_not_resolve_it(sink, site, outbox) -> None:
    last_contact = local(3, 9, 0).isoformat()
    heartbeat(sink, site, local(3, 9, 50), pvs_ok=False, last_pvs_contact=last_contact,
              last_pvs_error="timed out after 60 s")
    assert watch(sink, site, local(3, 9, 55), outbox).opened == []  # 55 min < 60
    result = watch(sink, site, local(3, 10, 5), outbox)
    assert [k.split(":")[0] for k in result.opened] == ["pvs_unreachable"]
    assert "timed out" in result.verdict.findings[0].details
    assert "silent" not in mails(outbox)[0]["Subject"].lower()

    # The Pi itself then goes silent: the PVS6 question cannot be judged, so it stays open.
    result = watch(sink, site, local(3, 11, 30), outbox)
    assert result.opened == ["edge_silent:"]
    assert result.resolved == []
    kinds = {a["kind"] for a in sink.read_records("Alerts") if a["resolved"] is None}
    assert kinds == {"Monitor not answering the Raspberry Pi", "Raspberry Pi has gone silent"}

    # Both come back: both resolve.
    heartbeat(sink, site, local(3, 12, 0))
    result = watch(sink, site, local(3, 12, 1), outbox)
    assert sorted(k.split(":")[0] for k in result.resolved) == ["edge_silent", "pvs_unreachable"]


def test_never_heard_site_is_not_judged(sink, site, outbox) -> None:
    result = watch(sink, site, local(3, 12), outbox)
    assert result.verdict.findings == ()
    assert result.verdict.evaluated_kinds == frozenset()


def test_uptime_tally_counts_active_down_minutes(sink, site, outbox) -> None:
    heartbeat(sink, site, local(3, 10, 0))
    watch(sink, site, local(3, 10, 0), outbox)
    watch(sink, site, local(3, 12, 0), outbox)  # down from 10:30 (two missed readings) to 12:00
    heartbeat(sink, site, local(3, 12, 10))
    watch(sink, site, local(3, 22, 0), outbox)  # silent again from 12:40; 21:00-22:00 is night
    tally = sink.load_state().section(SECTION)["months"]["2025-06"]
    assert tally["active_min"] == pytest.approx(120 + 540)
    assert tally["down_min"] == pytest.approx(90 + 500)


def test_active_minutes_of_a_round_the_clock_dst_day_are_its_real_minutes() -> None:
    from datetime import date

    from pvs6_cloud.jobs.window import active_minutes, day_bounds

    tz = ZoneInfo("America/New_York")
    for day, hours in ((date(2025, 3, 9), 23), (date(2025, 11, 2), 25)):
        start, end = day_bounds(day, tz)
        assert active_minutes(start, end, tz, (0, 24)) == hours * 60
        assert active_minutes(start, end, tz, (6, 21)) == 15 * 60


def test_a_failing_sd_card_on_the_pi_is_reported_and_resolves(sink, site, outbox) -> None:
    error = "cannot write state.json: [Errno 28] No space left on device"
    heartbeat(sink, site, local(3, 10, 0), storage_error=error, storage_error_at="2025-06-03T13:55:00+00:00")
    result = watch(sink, site, local(3, 10, 5), outbox)
    assert result.opened == ["edge_storage:"]
    [mail] = mails(outbox)
    assert "cannot save readings" in mail["Subject"]
    plain = next(part for part in mail.walk() if part.get_content_type() == "text/plain")
    assert "No space left on device" in plain.get_payload(decode=True).decode()
    heartbeat(sink, site, local(3, 10, 15), storage_error=None)
    assert watch(sink, site, local(3, 10, 20), outbox).resolved == ["edge_storage:"]
