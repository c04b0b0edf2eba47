"""When the sheet refuses writes for hours: one ERROR line and one email at the start, one of each at recovery,
and every reading lands exactly once after (the Pi resends what was refused)."""

from __future__ import annotations

import email
import logging
from datetime import timedelta

import pytest

from pvs6_cloud.infra.errors import TransientError
from pvs6_cloud.store.health import sink_health
from tests.support.sheets_fake import FakeClock, SheetsFake
from tests.test_sheets_pipeline import T0, batch, ingest, make_runtime, reading_ids


@pytest.fixture
def fake():
    with SheetsFake() as server:
        yield server


@pytest.mark.parametrize("status", [403, 429])
def test_sheet_outage_is_reported_once_and_nothing_is_lost(fake, tmp_path, seed_payload, caplog, status):
    clock = FakeClock()
    sid = fake.add_spreadsheet("Home")
    runtime = make_runtime(fake, clock, tmp_path, {"home": sid})
    now = [T0 + timedelta(hours=1)]
    runtime.services.clock = lambda: now[0]
    sink_health()._outages.clear()
    caplog.set_level(logging.INFO)

    ingest(runtime, batch(seed_payload, range(0, 1)))
    fake.fail(status, times=None, methods=("batchUpdate",))
    for hour in range(1, 6):  # five hours of refused uploads, each retried by the Pi
        now[0] += timedelta(hours=1)
        with pytest.raises(TransientError):
            ingest(runtime, batch(seed_payload, range(0, hour + 1)))
    fake.clear_failures()
    now[0] += timedelta(hours=1)
    result = ingest(runtime, batch(seed_payload, range(0, 7)))

    assert len(result.accepted) == 6 and len(result.duplicates) == 1
    ids = reading_ids(fake, sid)
    assert len(ids) == len(set(ids)) == 7
    health = [r for r in caplog.records if r.name == "pvs6_cloud.store.health"]
    assert [r.levelname for r in health if r.levelno >= logging.ERROR] == ["ERROR"]
    assert sum(1 for r in health if r.levelno == logging.INFO and "recovered after 5" in r.getMessage()) == 1
    mails = sorted((tmp_path / "outbox").glob("*.eml"))
    subjects = [email.message_from_bytes(m.read_bytes())["Subject"] for m in mails]
    assert sum("cannot write to your spreadsheet" in s for s in subjects) == 1
    assert sum("works again" in s for s in subjects) == 1
    state = runtime.sink_for(runtime.config.site("home")).load_state()
    assert state.section("health")["months"][now[0].strftime("%Y-%m")]["write_failures"] == 5


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_mail_outage_across_uploads_is_reported_once_and_the_mail_goes_once(tmp_path, caplog):
    from pvs6_cloud.alerting.notify.queue import queue_mail
    from pvs6_cloud.alerting.notify.transport import OutgoingMail
    from pvs6_cloud.intake.contract import UploadBatch
    from pvs6_cloud.intake.pipeline import ingest_batch
    from pvs6_cloud.runtime import Runtime
    from tests.support.cloud import local_config
    from tests.support.smtp import SmtpServer

    port = _free_port()
    config = local_config(tmp_path, extra={"mail": {"smtp_host": "127.0.0.1", "smtp_port": port,
                                                    "starttls": False, "timeout_s": 5.0}})
    now = [T0]
    runtime = Runtime(config, clock=lambda: now[0])
    site = config.site("home")
    sink = runtime.sink_for(site)
    state = sink.load_state()
    queue_mail(state, OutgoingMail(to=site.mail_to, subject="Panel 3 stopped producing", text="t", id="alert-1"))
    from pvs6_cloud.store import SheetWrite

    sink.commit(SheetWrite(state=state))
    caplog.set_level(logging.INFO)
    heartbeat = UploadBatch("home", "test", {"spool_depth": 0}, ())
    for _ in range(3):  # three uploads while the mail server is down: the alert waits
        now[0] += timedelta(minutes=15)
        ingest_batch(heartbeat, config, runtime.services)
    with SmtpServer(port=port) as server:
        for _ in range(2):
            now[0] += timedelta(minutes=15)
            ingest_batch(heartbeat, config, runtime.services)
        received = [m["Subject"] for m in server.messages]
    assert received == ["Panel 3 stopped producing"]
    queue_logs = [r for r in caplog.records if r.name == "pvs6_cloud.alerting.notify.queue"]
    assert [r.levelname for r in queue_logs if r.levelno >= logging.ERROR] == ["ERROR"]
    assert sum(1 for r in queue_logs if "recovered" in r.getMessage()) == 1
    months = sink.load_state().section("health")["months"]
    assert months[T0.strftime("%Y-%m")]["mail_failures"] == 3
