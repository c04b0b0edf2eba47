"""The watchdog: notice when the Pi goes silent, or stays alive while the PVS6 stops answering it.

Ingest runs only when the Pi calls, so it can never notice the Pi's silence; Cloud Scheduler calls this job
instead. Silence is measured in *active* minutes (inside the site's ``active_hours``, local time): the edge
sleeps at night, so a Pi that stopped at 20:55 is not flagged overnight, but is at 06:00 plus the threshold.

Three findings, one lifecycle (`pvs6_cloud.alerting.lifecycle`):

- ``edge_silent``: no heartbeat for ``watchdog_silent_min`` active minutes.
- ``pvs_unreachable``: heartbeats arrive but the PVS6 has not answered the Pi (edge status, or no new reading)
  for ``pvs_unreachable_min`` active minutes. While the Pi is silent this cannot be judged, so it is neither
  raised nor resolved then.
- ``edge_storage``: the Pi's heartbeat says it cannot write its memory card (full or failing), so new readings
  are at risk although the Pi still calls in.

The watchdog also keeps the monitor's uptime per month (``state.section("watchdog")["months"]``) for the monthly
summary, and flushes queued mail: while the Pi is silent, nothing else would.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pvs6_cloud.alerting.findings import Finding
from pvs6_cloud.alerting.lifecycle import alerts_rows, apply_findings, stamp_emailed
from pvs6_cloud.infra.config import DetectionConfig, SiteConfig
from pvs6_cloud.jobs.window import CADENCE_MIN, active_minutes, month_of
from pvs6_cloud.store import SheetWrite, Sink
from pvs6_cloud.store.rows import panels as panel_columns
from pvs6_cloud.store.state import SiteState

__all__ = ["EVALUATED", "SECTION", "WatchdogResult", "WatchdogVerdict", "evaluate_watchdog", "run_watchdog",
           "uptime_minutes"]

log = logging.getLogger(__name__)

SECTION = "watchdog"
EVALUATED = frozenset({"edge_silent", "pvs_unreachable", "edge_storage"})
# Beyond this after the last heartbeat (two missed readings) the monitor counts as down for the uptime figure.
_GRACE = timedelta(minutes=2 * CADENCE_MIN)


@dataclass(frozen=True, slots=True)
class WatchdogVerdict:
    """What the watchdog sees now.

    Attributes
    ----------
    findings : tuple of Finding
        ``edge_silent``, or ``pvs_unreachable`` and/or ``edge_storage`` (the Pi's SD card failing).
    evaluated_kinds : frozenset of str
        Kinds judged this time (only these may resolve).
    silent_min : float or None
        Active minutes since the last heartbeat [min]; None when the Pi never called.
    pvs_quiet_min : float or None
        Active minutes since the PVS6 last answered the Pi [min]; None when unknown.
    """

    findings: tuple[Finding, ...]
    evaluated_kinds: frozenset[str]
    silent_min: float | None = None
    pvs_quiet_min: float | None = None


@dataclass(slots=True)
class WatchdogResult:
    """One site's watchdog run."""

    site: str
    verdict: WatchdogVerdict
    opened: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    mail_sent: int = 0

    def to_json(self) -> dict[str, Any]:
        """The JSON an entry point returns."""
        v = self.verdict
        return {
            "site": self.site,
            "findings": [f.key for f in v.findings],
            "silent_min": None if v.silent_min is None else round(v.silent_min, 1),
            "pvs_quiet_min": None if v.pvs_quiet_min is None else round(v.pvs_quiet_min, 1),
            "opened": self.opened,
            "resolved": self.resolved,
            "mail_sent": self.mail_sent,
        }


def _when(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo else None


def _local(at: datetime, site: SiteConfig) -> str:
    local = at.astimezone(site.tz)
    return f"{local:%a} {local.day} {local:%b %H:%M}"


def _hours(minutes: float) -> str:
    return f"{minutes:.0f} minutes" if minutes < 90 else f"{minutes / 60.0:.1f} hours"


def _pvs_serial(state: SiteState) -> str:
    for serial, record in state.devices.items():
        if record.device_type == "PVS":
            return serial
    return ""


def _pvs_last_answer(state: SiteState) -> datetime | None:
    """When the PVS6 last answered: the newest stored reading or the edge's own record of contact."""
    times = [t for t in (_when(state.high_water_at), _when(state.last_edge_status.get("last_pvs_contact")))
             if t is not None]
    return max(times) if times else None


def _silent_finding(site: SiteConfig, heartbeat: datetime, silent_min: float, status: Mapping[str, Any]) -> Finding:
    depth = status.get("spool_depth")
    details = (f"No message from the Raspberry Pi since {_local(heartbeat, site)} "
               f"({_hours(silent_min)} of daytime without a word).")
    if isinstance(depth, int) and depth:
        details += f" At that time it held {depth} reading(s) not yet sent."
    return Finding(
        kind="edge_silent",
        device="",
        summary=f"The Raspberry Pi watching {site.display_name} has gone silent",
        details=details,
        advice=("Check that the Pi has power and that your internet works; unplugging it for ten seconds and "
                "plugging it back in fixes most hangs. Your panels keep producing meanwhile: only the monitoring "
                "stopped. If just the internet dropped, the Pi keeps its readings and sends them when it is back."),
        evidence={"last_heartbeat": heartbeat.isoformat(), "silent_active_min": round(silent_min, 1)},
    )


def _pvs_finding(state: SiteState, site: SiteConfig, last: datetime | None, quiet_min: float) -> Finding:
    error = state.last_edge_status.get("last_pvs_error")
    since = f"since {_local(last, site)}" if last else "since the Pi started"
    details = f"The Pi is running and calling in, but the PVS6 has not answered it {since} ({_hours(quiet_min)})."
    if isinstance(error, str) and error:
        details += f" The Pi's last error: {error}."
    advice = ("Check the network cable between the Pi and the PVS6 (its LAN port) and that the PVS6's lights are "
              "on. A hung PVS6 usually recovers when its breaker is switched off for a minute and back on. The "
              "panels keep producing meanwhile: only the monitoring stopped.")
    if isinstance(error, str) and error.startswith("PvsRefusing"):
        # Old firmware's 403 fit (the edge's PvsRefusing): the cable is fine, only a restart ends it.
        advice = ("The PVS6 answers the Pi but refuses it ('Unauthorized'), a habit of older PVS6 firmware that "
                  "lasts until it is restarted: switch the PVS6's breaker off for a minute and on again (it takes "
                  "about 10 minutes to come back). The panels keep producing meanwhile: only the monitoring "
                  "stopped.")
    return Finding(
        kind="pvs_unreachable",
        device=_pvs_serial(state),
        summary="The Raspberry Pi cannot reach the PVS6 monitor",
        details=details,
        advice=advice,
        evidence={"last_answer": last.isoformat() if last else None, "quiet_active_min": round(quiet_min, 1)},
    )


def _storage_finding(status: Mapping[str, Any], site: SiteConfig) -> Finding | None:
    """The Pi says its SD card cannot be written (full, failing): readings are at risk before anything else is."""
    error = status.get("storage_error")
    warnings = [w for w in status.get("warnings") or () if isinstance(w, str)]
    if not (isinstance(error, str) and error):
        return None
    since = _when(status.get("storage_error_at"))
    details = f"The Raspberry Pi cannot write to its memory card{f' since {_local(since, site)}' if since else ''}: "
    details += f"{error}."
    if warnings:
        details += " It also says: " + "; ".join(warnings[:3]) + "."
    return Finding(
        kind="edge_storage",
        device="",
        summary=f"The Raspberry Pi watching {site.display_name} cannot save readings",
        details=details,
        advice=("The Pi still sends what it has, but new readings may be lost. A full or worn-out memory card is the "
                "usual cause: ask whoever set up the Pi to free space or replace the card (a new card and "
                "edge/install.sh restore it; your history is safe in the spreadsheet)."),
        evidence={"storage_error": error, "storage_error_at": status.get("storage_error_at")},
    )


def evaluate_watchdog(state: SiteState, site: SiteConfig, detection: DetectionConfig, now: datetime) -> WatchdogVerdict:
    """Judge the edge and the PVS6 from what the last heartbeat left in the state.

    Parameters
    ----------
    state : SiteState
        ``last_heartbeat_at``, ``last_edge_status`` and ``high_water_at`` are read.
    site : SiteConfig
        Zone and active hours.
    detection : DetectionConfig
        ``watchdog_silent_min`` and ``pvs_unreachable_min`` [active min].
    now : datetime
        Current time [aware].

    Returns
    -------
    WatchdogVerdict
        Findings and the kinds judged. A site whose Pi never called is not judged at all (nothing to miss yet).
    """
    heartbeat = _when(state.last_heartbeat_at)
    if heartbeat is None:
        return WatchdogVerdict((), frozenset())
    silent = active_minutes(heartbeat, now, site.tz, site.active_hours)
    if silent >= detection.watchdog_silent_min:
        return WatchdogVerdict((_silent_finding(site, heartbeat, silent, state.last_edge_status),),
                               frozenset({"edge_silent"}), silent, None)
    status = state.last_edge_status
    last = _pvs_last_answer(state)
    if status.get("pvs_ok") is True:
        quiet = 0.0
    elif last is not None:
        quiet = active_minutes(last, now, site.tz, site.active_hours)
    else:
        failing = _when(status.get("pvs_failing_since"))
        quiet = active_minutes(failing, now, site.tz, site.active_hours) if failing else 0.0
    findings: tuple[Finding, ...] = ()
    if quiet >= detection.pvs_unreachable_min:
        findings = (_pvs_finding(state, site, last, quiet),)
    storage = _storage_finding(status, site)
    if storage is not None:
        findings += (storage,)
    return WatchdogVerdict(findings, EVALUATED, silent, quiet)


def uptime_minutes(memory: dict[str, Any], state: SiteState, site: SiteConfig, now: datetime) -> None:
    """Add the active minutes since the previous run, and those the monitor was down, to this month's tally.

    The monitor counts as down from two missed readings after the later of its last heartbeat and the PVS6's
    last answer. Tallies live in ``memory["months"][YYYY-MM] = {"active_min", "down_min"}``.
    """
    previous = _when(memory.get("last_run"))
    memory["last_run"] = now.isoformat()
    if previous is None or now <= previous:
        return
    heartbeat = _when(state.last_heartbeat_at)
    answer = _pvs_last_answer(state)
    useful = min(t for t in (heartbeat, answer) if t is not None) if (heartbeat or answer) else None
    active = active_minutes(previous, now, site.tz, site.active_hours)
    down_from = previous if useful is None else max(previous, useful + _GRACE)
    down = active_minutes(down_from, now, site.tz, site.active_hours)
    tally = memory.setdefault("months", {}).setdefault(month_of(now.astimezone(site.tz).date()),
                                                       {"active_min": 0.0, "down_min": 0.0})
    tally["active_min"] = round(tally["active_min"] + active, 2)
    tally["down_min"] = round(tally["down_min"] + min(down, active), 2)
    months = memory["months"]
    for old in sorted(months)[:-36]:
        del months[old]


def run_watchdog(
    sink: Sink,
    site: SiteConfig,
    detection: DetectionConfig,
    now: datetime,
    mailer: Callable[[], Any] | None = None,
) -> WatchdogResult:
    """Judge one site, update its alerts, save, then deliver any queued mail.

    Parameters
    ----------
    sink : Sink
        The site's spreadsheet (state and Alerts tab).
    site : SiteConfig
        The site.
    detection : DetectionConfig
        Thresholds and ``reminder_hours``.
    now : datetime
        Current time [aware].
    mailer : callable, optional
        Returns the mail transport; built only when mail waits. None leaves mail queued.

    Raises
    ------
    SinkUnavailable
        The sheet could not be read or written (the next run retries; nothing was sent).
    """
    from pvs6_cloud.alerting.notify.queue import deliver_pending, pending_count

    state = sink.load_state()
    verdict = evaluate_watchdog(state, site, detection, now)
    uptime_minutes(state.section(SECTION), state, site, now)
    change = apply_findings(state, list(verdict.findings), evaluated_kinds=verdict.evaluated_kinds, site=site,
                            now=now, reminder_hours=detection.reminder_hours)
    panels = panel_columns(state, site.array.places)
    replace = {"Alerts": change.alerts_rows} if change.alerts_rows is not None else {}
    sink.commit(SheetWrite(state=state, panels=panels, replace=replace))
    result = WatchdogResult(site.site_id, verdict, [f.key for f in change.opened], list(change.resolved))
    if mailer is not None and pending_count(state):
        result.mail_sent = deliver_pending(state, mailer(), now)
        if result.mail_sent:
            emailed = alerts_rows(state, site) if stamp_emailed(state) else None
            sink.commit(SheetWrite(state=state, panels=panels,
                                   replace={"Alerts": emailed} if emailed is not None else {}))
    return result
