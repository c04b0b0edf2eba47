"""Alert lifecycle: a finding opens an alert once, reminds at most once a day, and resolves when it clears.

Detection (and the watchdog) produce `Finding` objects: "this is wrong right now". This module turns the stream of
findings into the events a person should hear about, keeps the ``Alerts`` tab, and queues ONE email per call for
everything that opened, reminded or resolved together, so a tripped breaker (six panels down at once) is one mail.

Memory lives in ``state.section("alerts")``::

    {"open": {<key>: {"id", "kind", "device", "opened", "notified", "summary", "details", "advice"}},
     "rows": [{"opened", "resolved", "kind", "device", "message", "alert_id"}, ...]}   # times ISO UTC

An open alert resolves only when its kind was evaluated this time and it was not found: a rule that could not
judge (per-inverter rules at night, the watchdog's rules during ingest) never clears anything. Hysteresis (how
long a condition must be gone before its finding stops) belongs to the rules, which know their signals.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .config import SiteConfig
from .state import SiteState

__all__ = ["SECTION", "Finding", "LifecycleChange", "ResolvedAlert", "alerts_rows", "apply_findings",
           "open_alerts"]

log = logging.getLogger(__name__)

SECTION = "alerts"
ROWS_KEPT = 5000  # about a lifetime of alerts for one home; the oldest resolved ones go first
MESSAGE_CHARS = 400


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem a rule sees now.

    Attributes
    ----------
    kind : str
        Stable id of the rule, e.g. ``"inverter_down"``, ``"edge_silent"``, ``"pvs_unreachable"``.
    device : str
        Serial, or ``""`` for site-wide.
    summary : str
        One line in plain words ("Panel E00123456789 (circuit 1, panel 3) stopped producing").
    details : str
        The evidence: numbers and local times.
    advice : str
        What to do ("call your installer; microinverters are under warranty").
    evidence : mapping
        Machine-readable evidence (JSON-ready); ``evidence["chart"]`` holds the day's per-panel series for the
        email's chart when the rule has it; ``evidence["quiet_resolve"]`` = True: its resolution is recorded in
        the tab but mailed to nobody, and it never reminds (informative events such as a new device).
    """

    kind: str
    device: str
    summary: str
    details: str
    advice: str
    evidence: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Identity of the alert this finding belongs to."""
        return f"{self.kind}:{self.device}"


@dataclass(frozen=True, slots=True)
class ResolvedAlert:
    """An alert that cleared: what it was and when it opened."""

    key: str
    kind: str
    device: str
    summary: str
    opened_at: datetime
    alert_id: str
    resolved_at: datetime | None = None  # None: now


@dataclass(frozen=True, slots=True)
class LifecycleChange:
    """What one call changed.

    ``alerts_rows`` is the whole Alerts tab as records (times aware, in the site's zone), or None when
    nothing changed. ``mail_id`` is the id of the one mail queued, or "" when none was.
    """

    opened: tuple[Finding, ...] = ()
    reminded: tuple[Finding, ...] = ()
    resolved: tuple[str, ...] = ()
    alerts_rows: list[dict[str, Any]] | None = None
    mail_id: str = ""

    @property
    def changed(self) -> bool:
        """True when anything opened, reminded or resolved."""
        return bool(self.opened or self.reminded or self.resolved)


def _memory(state: SiteState) -> dict[str, Any]:
    mem = state.section(SECTION)
    mem.setdefault("open", {})
    mem.setdefault("rows", [])
    return mem


def _alert_id(key: str, opened: datetime) -> str:
    return hashlib.sha256(f"{key}|{opened.isoformat()}".encode()).hexdigest()[:10]


def _message(finding: Finding) -> str:
    text = f"{finding.summary}. {finding.details}".strip()
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


def apply_findings(
    state: SiteState,
    findings: Sequence[Finding],
    *,
    evaluated_kinds: Collection[str],
    site: SiteConfig,
    now: datetime,
    reminder_hours: float,
    passed: Sequence[tuple[Finding, datetime]] = (),
) -> LifecycleChange:
    """Open, remind and resolve alerts from this round's findings; queue one email for all of it.

    Parameters
    ----------
    state : SiteState
        The site's memory (sections ``"alerts"`` and ``"mail"`` are updated).
    findings : sequence of Finding
        Everything the rules see wrong now. Duplicate keys: the first wins.
    evaluated_kinds : collection of str
        Kinds the caller actually judged this time; only those may resolve, and only those remind (so a
        reminder never goes out at night for a rule that sleeps at night).
    site : SiteConfig
        Recipients, name, time zone, sheet link for the email.
    now : datetime
        Current time [aware UTC].
    reminder_hours : float
        Minimum time between two mails about the same open alert [h].
    passed : sequence of (Finding, datetime)
        Findings that appeared and cleared again within the readings judged this time (a backlog after an
        outage), with when they cleared [aware]: each not open now is recorded as opened and resolved, and told
        in the same email.

    Returns
    -------
    LifecycleChange
        Opened and reminded findings, resolved keys, and the new Alerts tab (None if unchanged).
    """
    from .notify.compose import compose_alert_mail
    from .notify.queue import queue_mail

    mem = _memory(state)
    open_alerts: dict[str, dict[str, Any]] = mem["open"]
    current: dict[str, Finding] = {}
    for finding in findings:
        current.setdefault(finding.key, finding)

    opened: list[Finding] = []
    reminded: list[Finding] = []
    for key, finding in current.items():
        record = open_alerts.get(key)
        if record is None:
            alert_id = _alert_id(key, now)
            open_alerts[key] = {
                "id": alert_id, "kind": finding.kind, "device": finding.device, "opened": now.isoformat(),
                "notified": now.isoformat(), "summary": finding.summary, "details": finding.details,
                "advice": finding.advice, "quiet": bool(finding.evidence.get("quiet_resolve")),
            }
            mem["rows"].append({"opened": now.isoformat(), "resolved": "", "kind": finding.kind,
                                "device": finding.device, "message": _message(finding), "alert_id": alert_id})
            opened.append(finding)
            log.info("alert opened: %s (%s)", key, finding.summary)
            continue
        record["summary"], record["details"] = finding.summary, finding.details
        notified = datetime.fromisoformat(record["notified"])
        due = now - notified >= timedelta(hours=reminder_hours)
        if due and finding.kind in evaluated_kinds and not record.get("quiet"):
            record["notified"] = now.isoformat()
            reminded.append(finding)

    resolved: list[ResolvedAlert] = []
    quiet: list[str] = []
    for finding, cleared_at in passed:
        key = finding.key
        if key in open_alerts or key in current or finding.evidence.get("quiet_resolve"):
            continue
        try:
            since = datetime.fromisoformat(str(finding.evidence.get("since")))
        except ValueError:
            since = cleared_at
        since = since if since.tzinfo else cleared_at
        alert_id = _alert_id(key, since)
        mem["rows"].append({"opened": since.isoformat(), "resolved": cleared_at.isoformat(), "kind": finding.kind,
                            "device": finding.device, "message": _message(finding), "alert_id": alert_id})
        opened.append(finding)
        resolved.append(ResolvedAlert(key, finding.kind, finding.device, finding.summary, since, alert_id,
                                      cleared_at))
        log.info("alert opened and cleared within one batch: %s (%s)", key, finding.summary)
    for key in sorted(open_alerts):
        record = open_alerts[key]
        if key in current or record["kind"] not in evaluated_kinds:
            continue
        del open_alerts[key]
        for row in reversed(mem["rows"]):
            if row["alert_id"] == record["id"]:
                row["resolved"] = now.isoformat()
                break
        log.info("alert resolved: %s", key)
        if record.get("quiet"):
            quiet.append(key)
            continue
        resolved.append(ResolvedAlert(key, record["kind"], record["device"], record["summary"],
                                      datetime.fromisoformat(record["opened"]), record["id"]))

    if not (opened or reminded or resolved or quiet):
        return LifecycleChange()
    if len(mem["rows"]) > ROWS_KEPT:
        mem["rows"] = mem["rows"][-ROWS_KEPT:]
    mail_id = ""
    if opened or reminded or resolved:
        mail = compose_alert_mail(site, opened, reminded, resolved, now)
        queue_mail(state, mail)
        mail_id = mail.id
    return LifecycleChange(tuple(opened), tuple(reminded), (*(r.key for r in resolved), *quiet),
                           alerts_rows(state, site), mail_id)


def alerts_rows(state: SiteState, site: SiteConfig) -> list[dict[str, Any]]:
    """The whole Alerts tab as records, oldest first, times aware in the site's zone (resolved None if open).

    The Kind column is the alert's title in words ("Panel stopped producing"), as the email heads it.
    """
    from .notify.compose import KIND_TITLES

    tz = site.tz
    out = []
    for row in _memory(state)["rows"]:
        out.append({
            "opened": datetime.fromisoformat(row["opened"]).astimezone(tz),
            "resolved": datetime.fromisoformat(row["resolved"]).astimezone(tz) if row["resolved"] else None,
            "kind": KIND_TITLES.get(row["kind"], row["kind"]),
            "device": row["device"],
            "message": row["message"],
            "alert_id": row["alert_id"],
        })
    return out


def open_alerts(state: SiteState) -> dict[str, dict[str, Any]]:
    """The open alerts by key (a copy): for summaries and health pages."""
    return {k: dict(v) for k, v in _memory(state)["open"].items()}
