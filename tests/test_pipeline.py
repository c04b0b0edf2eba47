"""The pipeline's ordering promises: acknowledged means stored, and a failure after storing loses nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from pvs6_cloud.alerting.notify.queue import pending_count, queue_mail
from pvs6_cloud.alerting.notify.transport import OutgoingMail
from pvs6_cloud.infra.errors import SinkUnavailable
from pvs6_cloud.intake.contract import UploadBatch, UploadItem
from pvs6_cloud.intake.pipeline import ingest_batch
from pvs6_cloud.runtime import Runtime
from pvs6_cloud.store import SheetWrite
from pvs6_cloud.store.csv_sink import CsvSink
from tests.support.cloud import local_config

T0 = datetime(2025, 9, 12, 17, 0, tzinfo=UTC)


class FlakySink(CsvSink):
    """Refuses the commits whose number is in ``fail_on`` (1-based)."""

    def __init__(self, *args, fail_on=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fail_on = set(fail_on)
        self.commits = 0

    def commit(self, write: SheetWrite) -> None:
        self.commits += 1
        if self.commits in self.fail_on:
            raise SinkUnavailable("injected: the sheet went away")
        super().commit(write)


def test_failure_after_the_readings_are_stored_still_acknowledges_them(tmp_path, seed_payload):
    config = local_config(tmp_path)
    site = config.site("home")
    sink = FlakySink(site.local_dir, site.tz, fail_on={3})  # 1: queue the mail, 2: readings, 3: the queue after
    state = sink.load_state()
    queue_mail(state, OutgoingMail(to=site.mail_to, subject="waiting", text="t", id="m-1"))
    sink.commit(SheetWrite(state=state))
    runtime = Runtime(config, clock=lambda: T0, sink_for=lambda _: sink)
    item = UploadItem(T0, "dl_cgi", "a" * 64, seed_payload)

    result = ingest_batch(UploadBatch("home", "test", {}, (item,)), config, runtime.services)

    assert result.accepted == ["a" * 64]
    assert result.mail_sent == 1
    assert len(list((tmp_path / "outbox").glob("alert-*.eml"))) == 1
    assert len(list((tmp_path / "outbox").glob("health-*.eml"))) == 1  # "cannot write to your spreadsheet"
    stored = sink.load_state()
    assert stored.seen("a" * 64)
    assert pending_count(stored) == 1  # the note that it went out was lost, as the log line warns
    again = ingest_batch(UploadBatch("home", "test", {}, (item,)), config, runtime.services)
    assert again.duplicates == ["a" * 64]
    assert len(list((tmp_path / "outbox").glob("alert-*.eml"))) == 1  # the outbox never writes an id twice


def test_concurrent_batches_for_one_site_keep_each_others_memory(tmp_path, seed_payload):
    import threading

    config = local_config(tmp_path)
    runtime = Runtime(config, clock=lambda: T0)
    items = [UploadItem(T0, "dl_cgi", f"{i:064x}", seed_payload) for i in range(16)]
    barrier = threading.Barrier(8)

    def upload(i: int) -> None:
        barrier.wait()
        ingest_batch(UploadBatch("home", "test", {}, tuple(items[2 * i : 2 * i + 2])), config, runtime.services)

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    state = runtime.sink_for(config.site("home")).load_state()
    assert all(state.seen(item.sha256) for item in items)
    again = ingest_batch(UploadBatch("home", "test", {}, tuple(items)), config, runtime.services)
    assert len(again.duplicates) == 16
    assert len((tmp_path / "sheet" / "Readings.csv").read_text().splitlines()) == 17


def test_a_backlog_of_odd_readings_logs_one_info_line_not_one_per_reading(tmp_path, seed_payload, caplog):
    """Cloud Logging bills by volume (docs/cost.md): parse notes are summed up per batch at INFO."""
    import copy
    import logging
    from datetime import timedelta

    config = local_config(tmp_path)
    runtime = Runtime(config, clock=lambda: T0)
    items = []
    for i in range(20):
        payload = copy.deepcopy(seed_payload)
        inverter = next(d for d in payload["devices"] if d.get("DEVICE_TYPE") == "Inverter")
        inverter["p_3phsum_kw"] = "junk"
        payload["devices"][0]["dl_uptime"] = str(i)
        items.append(UploadItem(T0 - timedelta(minutes=15 * i), "dl_cgi", f"{i:02d}" * 32, payload))

    with caplog.at_level(logging.INFO, logger="pvs6_cloud.intake.pipeline"):
        result = ingest_batch(UploadBatch("home", "test", {}, tuple(items)), config, runtime.services)

    assert len(result.accepted) == 20
    info = [r.getMessage() for r in caplog.records
            if r.name == "pvs6_cloud.intake.pipeline" and r.levelno == logging.INFO]
    notes = [m for m in info if "parse note" in m]
    assert notes == [notes[0]] and "20 parse note(s) in 20 reading(s)" in notes[0] and "p_3phsum_kw" in notes[0]
    assert len(info) <= 2, info  # the parse notes and "stored 20 reading(s)"
