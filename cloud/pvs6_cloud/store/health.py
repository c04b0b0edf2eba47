"""Watching the watcher: notice when the sheet stops taking our writes, say so once, and say when it is back.

When the sheet refuses writes, its ``_state`` tab (where alerts and queued mail live) cannot be written either,
so this sits beside the normal alert lifecycle: the first failure is logged once at ERROR (Google's log-based
alert policy, created by ``deploy.sh``, turns that into an email from Google even if our own mail is broken) and
mailed straight to the owner; recovery is logged once at INFO and mailed too. Nothing is lost meanwhile: the
function answers 5xx, so the Pi keeps every reading and sends it again. The memory is the function instance's
own (``ingest`` runs as a single instance); a cold start forgets, at worst repeating one message.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pvs6_cloud.infra.config import SiteConfig
from pvs6_cloud.infra.errors import SentinelError
from pvs6_cloud.infra.mail import OutgoingMail

__all__ = ["SinkHealth", "sink_health"]

log = logging.getLogger(__name__)


@dataclass
class _Outage:
    since: datetime
    message: str
    failures: int = 1


@dataclass
class SinkHealth:
    """Per-site memory of sheet write failures, with one message at each transition."""

    _outages: dict[str, _Outage] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def failed(self, site: SiteConfig, err: Exception, now: datetime, mailer: Callable[[], Any] | None) -> None:
        """Record a failed write; on the first of a run, log ERROR and mail the owner directly."""
        with self._lock:
            outage = self._outages.get(site.site_id)
            if outage is not None:
                outage.failures += 1
                log.warning("site %s: sheet still refusing writes (%d failures since %s)", site.site_id,
                            outage.failures, outage.since.isoformat(timespec="minutes"))
                return
            self._outages[site.site_id] = _Outage(now, str(err))
        log.error("site %s: cannot write to the sheet: %s (the Pi keeps its readings and will resend)",
                  site.site_id, err)
        _mail(site, mailer, now, "cannot write to your spreadsheet",
              f"Since {now.astimezone(site.tz):%Y-%m-%d %H:%M} PVS6 Sentinel cannot write to your spreadsheet:\n"
              f"\n    {err}\n\nNothing is lost: your Pi keeps every reading and sends it again until the sheet "
              "accepts it.\nWhat to do: open the spreadsheet and check it still exists and is shared (Editor) "
              "with the monitor's service account, as in the setup guide. You will get another email when "
              "writing works again.")

    def pending_failures(self, site: SiteConfig) -> int:
        """How many failed writes the current outage has seen (0 when none)."""
        with self._lock:
            outage = self._outages.get(site.site_id)
            return outage.failures if outage else 0

    def recovered(self, site: SiteConfig, now: datetime, mailer: Callable[[], Any] | None) -> None:
        """A write succeeded: close an open outage with one INFO line and one mail."""
        with self._lock:
            outage = self._outages.pop(site.site_id, None)
        if outage is None:
            return
        log.info("site %s: sheet writes recovered after %d failure(s) since %s", site.site_id, outage.failures,
                 outage.since.isoformat(timespec="minutes"))
        _mail(site, mailer, now, "spreadsheet writing works again",
              f"PVS6 Sentinel can write to your spreadsheet again (it could not from "
              f"{outage.since.astimezone(site.tz):%Y-%m-%d %H:%M}, {outage.failures} attempt(s)). The readings "
              "your Pi kept meanwhile are being added now.")


def _mail(site: SiteConfig, mailer: Callable[[], Any] | None, now: datetime, what: str, text: str) -> None:
    if mailer is None or not site.mail_to:
        return

    mail = OutgoingMail(to=site.mail_to, subject=f"{site.display_name}: {what}", text=text, kind="health",
                        id=f"sheet-{site.site_id}-{now:%Y%m%dT%H%M%S}", timezone=site.timezone)
    try:
        mailer().send(mail)
    except (SentinelError, OSError) as err:
        log.error("site %s: could not mail the owner about the sheet either: %s", site.site_id, err)


_tracker = SinkHealth()


def sink_health() -> SinkHealth:
    """The process-wide tracker."""
    return _tracker
