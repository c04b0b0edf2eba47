"""Alert lifecycle: a finding opens an alert once, reminds at most once a day, and resolves when it clears.

Detection (and the watchdog) produce `Finding` objects (`pvs6_cloud.alerting.findings`): "this is wrong right now". This
module turns the stream of findings into the events a person should hear about, keeps the ``Alerts`` tab, and
queues ONE email per call for everything that opened, reminded or resolved together, so a tripped breaker (six
panels down at once) is one mail.

Every time in the tab is a *data* time, so a backlog (a Pi back from an outage, a replayed archive) tells the
same story as live uploads: ``started`` (the problem began: the rule's evidence), ``opened`` (the reading that
raised the alert), ``resolved`` (the reading that cleared it); only ``emailed`` is wall time (when the mail
server took the mail). A batch is judged reading by reading (`advance`) and told in one email (`conclude`).

Memory lives in ``state.section("alerts")``::

    {"open": {<key>: {"id", "kind", "device", "started", "opened", "notified", "summary", "details", "advice"}},
     "rows": [{"started", "opened", "resolved", "emailed", "kind", "device", "message", "alert_id", "mail"}, ...]}
    # times ISO UTC; rows kept before started/emailed existed lack them
    # a production alert's open record also has "loss": {"kwh", "normal_kwh", "rough", "panels", "value"}, its row
    # "lost_kwh" (see `add_loss`; the arithmetic is `pvs6_cloud.alerting.loss`)

An open alert resolves only when its kind was evaluated on that reading and it was not found: a rule that could
not judge (per-inverter rules at night, the watchdog's rules during ingest) never clears anything. Hysteresis (how
long a condition must be gone before its finding stops) belongs to the rules, which know their signals.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from pvs6_cloud.alerting.evidence import evidence_for
from pvs6_cloud.alerting.findings import KIND_TITLES, Finding, ResolvedAlert
from pvs6_cloud.alerting.loss import Loss, add_reading, estimate
from pvs6_cloud.alerting.notify.compose import compose_alert_mail
from pvs6_cloud.alerting.notify.queue import queue_mail
from pvs6_cloud.infra.config import SiteConfig
from pvs6_cloud.store.state import SiteState

__all__ = ["SECTION", "Finding", "LifecycleChange", "ResolvedAlert", "Round", "add_loss", "advance", "alerts_rows",
           "apply_findings", "conclude", "open_alerts", "stamp_emailed"]

log = logging.getLogger(__name__)

SECTION = "alerts"
ROWS_KEPT = 5000  # about a lifetime of alerts for one home; the oldest resolved ones go first
MESSAGE_CHARS = 400


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


def _when(text: Any) -> datetime | None:
    """An aware time from stored ISO text, or None (empty, unparsable, or naive)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    return at if at.tzinfo else None


def _started(finding: Finding, at: datetime) -> datetime:
    """When the problem began: the rule's ``evidence["since"]`` when it has one, else the reading that raised it."""
    since = _when(finding.evidence.get("since")) if finding.evidence else None
    return since if since is not None and since <= at else at


@dataclass(slots=True)
class Round:
    """What one call changed over all the readings it judged, told in one email at the end (`conclude`)."""

    opened: list[Finding] = field(default_factory=list)  # as opened: ``at`` and ``started_at`` set
    resolved: list[ResolvedAlert] = field(default_factory=list)
    quiet: list[str] = field(default_factory=list)


def advance(state: SiteState, findings: Sequence[Finding], *, evaluated_kinds: Collection[str], at: datetime,
            events: Round) -> dict[str, Finding]:
    """Open and resolve alerts as of one reading, dated by that reading (its data time, not the clock).

    A backlog calls this once per reading, so it opens, clears and reopens exactly as the same readings arriving
    one by one would have, with the same times; nothing is mailed here (see `conclude`).

    Parameters
    ----------
    state : SiteState
        Section ``"alerts"`` is updated.
    findings : sequence of Finding
        What the rules see wrong after this reading. Duplicate keys: the first wins.
    evaluated_kinds : collection of str
        Kinds judged on this reading; only those may resolve.
    at : datetime
        The reading's capture time [aware] (the watchdog passes the current time: it judges "now").
    events : Round
        Collects what opened and resolved.

    Returns
    -------
    dict
        The findings by key (the current ones after this reading).
    """
    mem = _memory(state)
    open_alerts: dict[str, dict[str, Any]] = mem["open"]
    current: dict[str, Finding] = {}
    for finding in findings:
        current.setdefault(finding.key, finding)
    for key, finding in current.items():
        record = open_alerts.get(key)
        if record is not None:
            record["summary"], record["details"] = finding.summary, finding.details
            continue
        started = _started(finding, at)
        alert_id = _alert_id(key, at)
        open_alerts[key] = {
            "id": alert_id, "kind": finding.kind, "device": finding.device, "started": started.isoformat(),
            "opened": at.isoformat(), "notified": "", "summary": finding.summary, "details": finding.details,
            "advice": finding.advice, "quiet": bool(finding.evidence.get("quiet_resolve")),
        }
        mem["rows"].append({"started": started.isoformat(), "opened": at.isoformat(), "resolved": "",
                            "emailed": "", "kind": finding.kind, "device": finding.device,
                            "message": _message(finding), "alert_id": alert_id})
        events.opened.append(replace(finding, at=at, started_at=started))
        log.info("alert opened: %s at %s (%s)", key, at.isoformat(), finding.summary)
    for key in sorted(open_alerts):
        record = open_alerts[key]
        if key in current or record["kind"] not in evaluated_kinds:
            continue
        del open_alerts[key]
        for row in reversed(mem["rows"]):
            if row["alert_id"] == record["id"]:
                row["resolved"] = at.isoformat()
                break
        log.info("alert resolved: %s at %s", key, at.isoformat())
        if record.get("quiet"):
            events.quiet.append(key)
            continue
        events.resolved.append(ResolvedAlert(key, record["kind"], record["device"], record["summary"],
                                             datetime.fromisoformat(record["opened"]), record["id"], at,
                                             _when(record.get("started")), _loss(state, record)))
    return current


def conclude(state: SiteState, events: Round, current: Mapping[str, Finding], *, evaluated_kinds: Collection[str],
             site: SiteConfig, now: datetime, reminder_hours: float) -> LifecycleChange:
    """Add the daily reminders (by the clock) and queue one email for everything in ``events``.

    Parameters
    ----------
    state : SiteState
        Sections ``"alerts"`` and ``"mail"`` are updated.
    events : Round
        What `advance` collected.
    current : mapping of str to Finding
        The findings after the last reading (candidates for a reminder).
    evaluated_kinds : collection of str
        Kinds judged during the call; only those remind (no reminder at night for a rule that sleeps at night).
    site : SiteConfig
        Recipients, name, time zone, sheet link.
    now : datetime
        Current wall time [aware UTC]: reminders are a matter of the clock, and the mail is dated by it.
    reminder_hours : float
        Minimum time between two mails about the same open alert [h].
    """
    mem = _memory(state)
    open_alerts: dict[str, dict[str, Any]] = mem["open"]
    fresh = {f.key for f in events.opened}
    reminded: list[Finding] = []
    for key, finding in current.items():
        record = open_alerts.get(key)
        if record is None or key in fresh:
            continue
        notified = _when(record.get("notified"))
        due = notified is None or now - notified >= timedelta(hours=reminder_hours)
        if due and finding.kind in evaluated_kinds and not record.get("quiet"):
            record["notified"] = now.isoformat()
            reminded.append(replace(finding, loss=_loss(state, record)))
    for key in fresh & set(open_alerts):
        open_alerts[key]["notified"] = now.isoformat()

    if not (events.opened or reminded or events.resolved or events.quiet):
        return LifecycleChange()
    if len(mem["rows"]) > ROWS_KEPT:
        mem["rows"] = mem["rows"][-ROWS_KEPT:]
    mail_id = ""
    if events.opened or reminded or events.resolved:
        opened = [_with_loss(state, f) for f in events.opened]
        files, claims = evidence_for(state.section("evidence"), opened, site, now)
        mail = compose_alert_mail(site, opened, reminded, events.resolved, now, attachments=files, claims=claims)
        queue_mail(state, mail)
        mail_id = mail.id
        announced = {_alert_id(f.key, f.at) for f in events.opened if f.at is not None}
        for row in mem["rows"]:
            if row["alert_id"] in announced and not row.get("mail"):
                row["mail"] = mail_id
    return LifecycleChange(tuple(events.opened), tuple(reminded), (*(r.key for r in events.resolved),
                                                                    *events.quiet),
                           alerts_rows(state, site), mail_id)


def apply_findings(
    state: SiteState,
    findings: Sequence[Finding],
    *,
    evaluated_kinds: Collection[str],
    site: SiteConfig,
    now: datetime,
    reminder_hours: float,
    at: datetime | None = None,
) -> LifecycleChange:
    """Open, remind and resolve alerts from one round of findings; queue one email for all of it.

    The one-reading form of `advance` + `conclude` (the watchdog, which judges the present, and tests).

    Parameters
    ----------
    state : SiteState
        The site's memory (sections ``"alerts"`` and ``"mail"`` are updated).
    findings : sequence of Finding
        Everything the rules see wrong now. Duplicate keys: the first wins.
    evaluated_kinds : collection of str
        Kinds the caller actually judged this time; only those may resolve or remind.
    site : SiteConfig
        Recipients, name, time zone, sheet link for the email.
    now : datetime
        Current time [aware UTC].
    reminder_hours : float
        Minimum time between two mails about the same open alert [h].
    at : datetime, optional
        Data time of the reading judged [aware]; default ``now``.

    Returns
    -------
    LifecycleChange
        Opened and reminded findings, resolved keys, and the new Alerts tab (None if unchanged).
    """
    events = Round()
    current = advance(state, findings, evaluated_kinds=evaluated_kinds, at=at or now, events=events)
    return conclude(state, events, current, evaluated_kinds=evaluated_kinds, site=site, now=now,
                    reminder_hours=reminder_hours)


def stamp_emailed(state: SiteState) -> bool:
    """Fill the ``Emailed`` time of alerts whose mail the transport has taken; True when any row changed.

    Called after delivery: a mail that waits (the mail server is down) leaves ``Emailed`` empty until it goes.
    """
    sent: Mapping[str, str] = state.section("mail").get("sent", {})
    changed = False
    for row in _memory(state)["rows"]:
        mail_id = row.get("mail")
        if mail_id and not row.get("emailed") and mail_id in sent:
            row["emailed"] = sent[mail_id]
            changed = True
    return changed


def alerts_rows(state: SiteState, site: SiteConfig) -> list[dict[str, Any]]:
    """The whole Alerts tab as records, oldest first, times aware in the site's zone (None when not known yet).

    Rows stored before ``started``/``emailed`` were kept have them empty: their ``opened`` is what they had.

    The Kind column is the alert's title in words ("Panel stopped producing"), as the email heads it.
    """
    tz = site.tz

    def local(text: Any) -> datetime | None:
        at = _when(text)
        return at.astimezone(tz) if at is not None else None

    out = []
    for row in _memory(state)["rows"]:
        out.append({
            "started": local(row.get("started")),
            "opened": local(row.get("opened")),
            "resolved": local(row.get("resolved")),
            "emailed": local(row.get("emailed")),
            "kind": KIND_TITLES.get(row["kind"], row["kind"]),
            "device": row["device"],
            "message": row["message"],
            "lost_kwh": round(float(row["lost_kwh"]), 1) if "lost_kwh" in row else None,
            "alert_id": row["alert_id"],
        })
    return out


def open_alerts(state: SiteState) -> dict[str, dict[str, Any]]:
    """The open alerts by key (a copy): for summaries and health pages."""
    return {k: dict(v) for k, v in _memory(state)["open"].items()}


def _loss(state: SiteState, record: Mapping[str, Any]) -> Loss | None:
    """What an alert's record says it cost (None for kinds that cost no energy)."""
    charged = record.get("loss") or {}
    return estimate(charged, state.section("loss").get("day", {}), record["kind"], int(charged.get("panels", 1)))


def _with_loss(state: SiteState, finding: Finding) -> Finding:
    """A just-opened finding with its cost so far, when that opening is still the open alert."""
    record = _memory(state)["open"].get(finding.key)
    if record is None or finding.at is None or record["id"] != _alert_id(finding.key, finding.at):
        return finding
    return replace(finding, loss=_loss(state, record))


def add_loss(state: SiteState, key: str, lost_kw: float, normal_kw: float, *, rough: bool, step_h: float,
             panels: int, price: float | None = None) -> bool:
    """Charge one reading's lost energy to an open alert and its Alerts row (its worth at ``price``, the price of
    the reading's local time: `tariff.site_price_at`).

    Returns True when the row's Lost (kWh) has moved by half a kWh, or a tenth of the total if more, since the
    tab last showed it (or first shows it), so the tab is rewritten a few times a day, not on every reading.
    """
    mem = _memory(state)
    record = mem["open"].get(key)
    if record is None:
        return False
    charged = record.setdefault("loss", {"panels": panels})
    add_reading(charged, lost_kw, normal_kw, rough, step_h, price)
    lost = max(0.0, charged["kwh"])
    for row in reversed(mem["rows"]):
        if row["alert_id"] == record["id"]:
            shown = row.get("lost_kwh")
            row["lost_kwh"] = round(lost, 3)
            last = float(row.get("lost_shown", shown or 0.0))
            if shown is None or abs(lost - last) >= max(0.5, 0.1 * last):
                row["lost_shown"] = round(lost, 3)
                return True
            return False
    return False
