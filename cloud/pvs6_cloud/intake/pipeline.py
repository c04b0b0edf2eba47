"""Ingest one verified upload: dedupe -> parse -> enrich -> rows -> alerts -> one atomic commit -> mail.

This is the only place that knows the order of the stages; each stage is a pure function or a small adapter.
The commit is the point of no return: only after it succeeds are snapshots acknowledged to the edge, and only
after it succeeds is mail handed to the transport (mail waits in the state until it is sent, so an SMTP outage
delays an alert but never loses or repeats it).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pvs6_cloud.alerting import flow as alerting
from pvs6_cloud.alerting.circuits import circuit_labels
from pvs6_cloud.enrich import conditions as enrich
from pvs6_cloud.infra.config import CloudConfig, SiteConfig
from pvs6_cloud.infra.errors import BadRequest, SinkUnavailable
from pvs6_cloud.intake.contract import UploadBatch
from pvs6_cloud.store import SheetWrite, Sink, rows
from pvs6_cloud.store import state as state_module
from pvs6_cloud.store.health import sink_health
from pvs6_parse.models import Snapshot

__all__ = ["IngestResult", "Services", "ingest_batch"]

log = logging.getLogger(__name__)

# Readings keep the first 16 hex digits of a snapshot's sha256 as its id.
_ID_CHARS = 16


@dataclass
class Services:
    """The side effects the pipeline needs, injected so tests and the CLI can swap them.

    ``sink_for`` opens a site's sink; ``weather_http`` is the HTTP session the weather client uses (None: the
    client makes its own); ``mailer`` returns the mail transport, built only when there is mail to send (None:
    mail stays queued); ``clock`` tells the time.
    """

    sink_for: Callable[[SiteConfig], Sink]
    clock: Callable[[], datetime]
    weather_http: Any = None
    mailer: Callable[[], Any] | None = None


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What the function answers: ids now safely stored, and ids it already had."""

    accepted: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    alerts_opened: int = 0
    mail_sent: int = 0

    def to_json(self) -> dict[str, Any]:
        """The 200 response body of the upload contract."""
        return {"accepted": self.accepted, "duplicates": self.duplicates}


def _parse_items(batch: UploadBatch, fresh: list[Any]) -> list[Snapshot]:
    from pvs6_parse import ParseError, parse_payload

    snapshots = []
    for item in fresh:
        try:
            snapshots.append(
                parse_payload(item.payload, source=item.source, site=batch.site,
                              captured_at=item.captured_at, sha256=item.sha256)
            )
        except ParseError as err:
            raise BadRequest(f"snapshot {item.sha256[:12]} ({item.captured_at:%Y-%m-%d %H:%M}Z): {err}") from err
    return snapshots


def _stored_beyond_window(batch: UploadBatch, state: Any, sink: Sink, site: SiteConfig, now: datetime,
                          services: Services) -> set[str]:
    """Ids the sink holds for snapshots too old for the state's recent-id window to vouch for.

    The window keeps the newest ids only; a snapshot at or before its oldest one (a replayed year of archive, a
    spool restored from a backup) may have been stored long ago, so the sink's Readings ids are asked instead.
    """
    if len(state.recent_ids) < state_module.RECENT_IDS_KEPT:
        return set()  # nothing was ever forgotten
    horizon = min(state.recent_ids.values())
    old = [i.captured_at for i in batch.items if not state.seen(i.sha256) and i.captured_at.isoformat() <= horizon]
    if not old:
        return set()
    try:
        return sink.stored_ids(state, min(old), max(old))
    except SinkUnavailable as err:
        sink_health().failed(site, err, now, services.mailer)
        raise


_site_locks: dict[str, threading.Lock] = {}
_site_locks_guard = threading.Lock()


def _site_lock(site_id: str) -> threading.Lock:
    with _site_locks_guard:
        return _site_locks.setdefault(site_id, threading.Lock())


def _log_parse_warnings(site_id: str, snapshots: list[Snapshot]) -> None:
    """One INFO line per batch, never one per reading: a 500-reading backlog whose PVS6 reports the same odd
    field in each would otherwise write 500 lines to Cloud Logging (docs/cost.md). Each note stays at DEBUG."""
    noted = [(s.sha256, w) for s in snapshots for w in s.warnings]
    if not noted:
        return
    for sha256, warning in noted:
        log.debug("site %s snapshot %s: %s", site_id, sha256[:12], warning)
    readings = len({sha256 for sha256, _ in noted})
    log.info("site %s: %d parse note(s) in %d reading(s), e.g. snapshot %s: %s", site_id, len(noted), readings,
             noted[0][0][:12], noted[0][1])


def ingest_batch(batch: UploadBatch, config: CloudConfig, services: Services) -> IngestResult:
    """Store a batch exactly once and raise whatever alerts it shows.

    One batch per site at a time: each reads the site's state and writes it back whole, so two at once (a
    threaded local server, a replay beside uploads) would overwrite each other's memory. In Google Cloud the
    ingest function runs as a single instance handling one request at a time; this lock covers one process.

    Raises
    ------
    BadRequest
        A snapshot is not a PVS6 response (the edge quarantines it; nothing was written).
    TransientError
        The sink could not be written (the edge retries; nothing was acknowledged).
    """
    with _site_lock(batch.site):
        return _ingest_locked(batch, config, services)


def _ingest_locked(batch: UploadBatch, config: CloudConfig, services: Services) -> IngestResult:
    site: SiteConfig = config.site(batch.site)
    now = services.clock()
    sink = services.sink_for(site)
    health = sink_health()
    try:
        state = sink.load_state()
    except SinkUnavailable as err:
        health.failed(site, err, now, services.mailer)
        raise

    fresh, duplicates, batch_ids = [], [], set()
    stored = _stored_beyond_window(batch, state, sink, site, now, services)
    for item in sorted(batch.items, key=lambda i: i.captured_at):
        if state.seen(item.sha256) or item.sha256[:_ID_CHARS] in stored or item.sha256 in batch_ids:
            duplicates.append(item.sha256)
        else:
            batch_ids.add(item.sha256)
            fresh.append(item)
    snapshots = _parse_items(batch, fresh)
    _log_parse_warnings(site.site_id, snapshots)

    enrichments = enrich.enrich_batch(
        snapshots, site, config.weather, state.section("weather"), http=services.weather_http, now=now
    )
    grew = False
    min_elevation = config.detection.min_sun_elevation_deg
    for snapshot, enrichment in zip(snapshots, enrichments, strict=True):
        elevation = enrichment.sun_elevation_deg
        daylight = elevation is None or elevation >= min_elevation
        grew = rows.remember_devices(state, snapshot, daylight=daylight) or grew
        state.remember(snapshot.sha256, snapshot.captured_at)
    panels = rows.panels(state, site.array.places)
    readings = [rows.readings_record(s, e) for s, e in zip(snapshots, enrichments, strict=True)]

    state.last_heartbeat_at = now.isoformat()
    state.last_edge_status = dict(batch.edge_status)
    outcome = alerting.evaluate_batch(
        list(zip(snapshots, enrichments, strict=True)), batch.edge_status, state, site, config, now
    )
    replace: dict[str, Any] = {}
    if snapshots or grew:
        replace["Devices"] = rows.device_records(state, site.array.places, circuit_labels(state, site.array))
    if outcome.alerts_rows is not None:
        replace["Alerts"] = outcome.alerts_rows
    write = SheetWrite(state=state, panels=panels, append={"Readings": readings} if readings else {},
                       replace=replace)
    failures = health.pending_failures(site)
    if failures:
        month = state.section("health").setdefault("months", {}).setdefault(now.strftime("%Y-%m"), {})
        month["write_failures"] = month.get("write_failures", 0) + failures
    try:
        if grew:
            sink.ensure_layout(panels)
        sink.commit(write)
    except SinkUnavailable as err:
        health.failed(site, err, now, services.mailer)
        raise
    health.recovered(site, now, services.mailer)
    log.info("site %s: stored %d reading(s), %d duplicate(s), %d alert(s) opened",
             site.site_id, len(snapshots), len(duplicates), outcome.opened)

    def mail_memory() -> str:
        return json.dumps([state.sections.get("mail"), state.sections.get("health")], sort_keys=True)

    mail_before = mail_memory()
    sent = alerting.deliver_pending(state, site, config, services.mailer, now)
    if mail_memory() != mail_before:
        # Sent mail leaves the queue, and a mail outage's start, end and failed attempts are remembered: save it
        # now, or the next upload would send the same mail again or report the same outage twice.
        emailed = alerting.emailed_rows(state, site)
        try:
            sink.commit(SheetWrite(state=state, panels=panels,
                                   replace={"Alerts": emailed} if emailed is not None else {}))
        except SinkUnavailable as err:
            # The readings are stored, so they are still acknowledged: failing the request would only make the
            # Pi resend what we have. What is lost is the note that the mail went out.
            log.warning("site %s: mail sent, but the queue could not be saved (%s); it may be sent again",
                        site.site_id, err)
            health.failed(site, err, now, services.mailer)
    return IngestResult([s.sha256 for s in snapshots], duplicates, outcome.opened, sent)
