"""Alerting entry point used by the pipeline (placeholder until the detection issue lands)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .config import CloudConfig, SiteConfig
from .enrich import Enrichment
from .models import Snapshot
from .state import SiteState

__all__ = ["AlertOutcome", "deliver_pending", "evaluate_batch"]


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
    """Run every rule over the batch, update alert lifecycles in ``state`` and queue mail there."""
    return AlertOutcome()


def deliver_pending(
    state: SiteState, site: SiteConfig, config: CloudConfig, mailer: Callable[[], Any] | None, now: datetime
) -> int:
    """Hand queued mail to the transport (``mailer()`` builds it only when needed); return how many were sent.

    The caller saves the state afterwards so sent mail leaves the queue.
    """
    from .notify.queue import deliver_pending as _deliver
    from .notify.queue import pending_count

    if mailer is None or not pending_count(state):
        return 0
    return _deliver(state, mailer(), now)
