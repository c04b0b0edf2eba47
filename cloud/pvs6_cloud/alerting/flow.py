"""Alerting entry points used by the pipeline: evaluate a batch before the commit, deliver mail after it.

`evaluate_batch` runs the pure detector (`detect`) and the lifecycle (`lifecycle.apply_findings`), which queues
at most one email in the state; the pipeline commits that state with the rows, then calls `deliver_pending`,
so a mail is handed to SMTP only once the alert it announces is safely stored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pvs6_cloud.enrich.conditions import Enrichment
from pvs6_cloud.infra.config import CloudConfig, SiteConfig
from pvs6_cloud.store.state import SiteState
from pvs6_parse.models import Snapshot

__all__ = ["AlertOutcome", "deliver_pending", "emailed_rows", "evaluate_batch"]


@dataclass(frozen=True, slots=True)
class AlertOutcome:
    """What a batch changed: the new Alerts tab (None = unchanged). Mail to send is queued inside the state."""

    alerts_rows: Sequence[Mapping[str, Any]] | None = None
    opened: int = 0
    resolved: int = 0
    queued_mail: int = 0
    notes: tuple[str, ...] = field(default=())


def evaluate_batch(
    pairs: Sequence[tuple[Snapshot, Enrichment]],
    edge_status: Mapping[str, Any],
    state: SiteState,
    site: SiteConfig,
    config: CloudConfig,
    now: datetime,
) -> AlertOutcome:
    """Run every rule over the batch, update alert lifecycles in ``state`` and queue mail there.

    Parameters
    ----------
    pairs : sequence of (Snapshot, Enrichment)
        The batch's fresh readings with what the sun and weather allowed.
    edge_status : mapping
        The edge's heartbeat (stored in the state by the pipeline; the watchdog judges reachability from it).
    state : SiteState
        Memory: sections ``"detect"`` (rules), ``"alerts"`` (lifecycle), ``"mail"`` (queue), ``"circuits"``
        (the circuits learned from panels that went down together, for the Devices tab).
    site, config : the site and the whole cloud config (``config.detection`` holds the thresholds).
    now : datetime
        Current time [aware UTC].
    """
    from pvs6_cloud.alerting.circuits import learn
    from pvs6_cloud.alerting.costs import charge_reading
    from pvs6_cloud.alerting.detect import detect
    from pvs6_cloud.alerting.evidence import remember
    from pvs6_cloud.alerting.lifecycle import Round, advance, alerts_rows, conclude

    memory = state.section("detect")
    # One reading at a time, rules and lifecycle both, dated by each reading: a backlog (a Pi back from an outage
    # sends days at once) then gives the same Alerts rows, with the same times, as the readings arriving one by
    # one, including alerts that opened and cleared (even several times) inside it; all goes out in one email.
    events = Round()
    judged: set[str] = set()
    detection = None
    current: dict[str, Any] = {}
    costs_moved = False
    for pair in sorted(pairs, key=lambda p: p[0].captured_at):
        detection = detect([pair], edge_status, memory, site, config.detection, now)
        judged |= detection.evaluated_kinds
        learn(state, detection.findings, pair[0].captured_at)  # panels that went down together: a circuit
        current = advance(state, detection.findings, evaluated_kinds=detection.evaluated_kinds,
                          at=pair[0].captured_at, events=events)
        if detection.reading is not None:  # always, for one reading: its frame and normals, as the rules left them
            costs_moved |= charge_reading(state, detection.reading, site)
        remember(state.section("evidence"), pair[0], pair[1].sun_elevation_deg)
    if detection is None:  # a heartbeat without readings judges nothing
        detection = detect([], edge_status, memory, site, config.detection, now)
        current = {f.key: f for f in detection.findings}
    change = conclude(state, events, current, evaluated_kinds=judged, site=site, now=now,
                      reminder_hours=config.detection.reminder_hours)
    rows = change.alerts_rows
    if rows is None and costs_moved:  # only a Lost (kWh) figure moved: the tab shows it
        rows = alerts_rows(state, site)
    return AlertOutcome(alerts_rows=rows, opened=len(change.opened), resolved=len(change.resolved),
                        queued_mail=1 if change.mail_id else 0,
                        notes=tuple(f.key for f in detection.findings))


def deliver_pending(
    state: SiteState, site: SiteConfig, config: CloudConfig, mailer: Callable[[], Any] | None, now: datetime
) -> int:
    """Hand queued mail to the transport (``mailer()`` builds it only when needed); return how many were sent.

    The caller saves the state afterwards so sent mail leaves the queue.
    """
    from pvs6_cloud.alerting.notify.queue import deliver_pending as _deliver
    from pvs6_cloud.alerting.notify.queue import pending_count

    if mailer is None or not pending_count(state):
        return 0
    return _deliver(state, mailer(), now)


def emailed_rows(state: SiteState, site: SiteConfig) -> list[dict[str, Any]] | None:
    """The Alerts tab again when delivery just filled some ``Emailed`` times, else None (nothing to rewrite)."""
    from pvs6_cloud.alerting.lifecycle import alerts_rows, stamp_emailed

    return alerts_rows(state, site) if stamp_emailed(state) else None
