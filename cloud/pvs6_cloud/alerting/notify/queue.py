"""The mail queue: mail waits in the site state until a transport takes it, so it is never lost nor sent twice.

Memory lives in ``state.section("mail")``::

    {"pending": [<OutgoingMail JSON>, ...],   # oldest first
     "sent": {<id>: <ISO UTC sent at>, ...},  # recent ids, so a re-queued mail is recognised
     "failing_since": "<ISO UTC>" | "",       # the mail path is down since then
     "last_error": "...",
     "cause": "" | "network" | "login_refused",  # why: a login refusal never heals by itself
     "reported_at": "<ISO UTC>" | ""}          # when the failure was last logged at ERROR

The pipeline queues mail before its atomic commit and delivers after it, then commits again. A mail therefore
leaves the queue only after a transport accepted it, and an id already sent is refused by `queue_mail`.
Failures of the mail path are logged once at ERROR when they start and once at INFO when mail flows again, so
the "watch the watcher" checks (and a person reading logs) see the outage without a flood. A refused password
(`MailLoginRefused`) is no outage that passes: it is logged at ERROR with its owner-facing message when it
starts, when it replaces another cause, and again once a day while it lasts (Cloud Monitoring's error policy
emails the owner from Google, the one path left when our own mail cannot leave); the mail stays queued.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pvs6_cloud.alerting.notify.transport import MailLoginRefused, MailTransport, OutgoingMail
from pvs6_cloud.infra.errors import TransientError
from pvs6_cloud.store.state import SiteState

__all__ = ["LOGIN_REFUSED", "SECTION", "deliver_pending", "mail_problem", "mail_status", "pending_count",
           "queue_mail"]

log = logging.getLogger(__name__)

SECTION = "mail"
SENT_IDS_KEPT = 500
PENDING_KEPT = 200  # beyond this the oldest *reminders* are dropped first; alerts and summaries stay
LOGIN_REFUSED = "login_refused"
NETWORK = "network"
REMIND_EVERY = timedelta(days=1)  # a refused password is logged at ERROR again this often while it lasts


def _memory(state: SiteState) -> dict[str, Any]:
    mem = state.section(SECTION)
    mem.setdefault("pending", [])
    mem.setdefault("sent", {})
    mem.setdefault("failing_since", "")
    mem.setdefault("last_error", "")
    mem.setdefault("cause", "")
    mem.setdefault("reported_at", "")
    return mem


def queue_mail(state: SiteState, message: OutgoingMail) -> None:
    """Put a mail in the queue, unless a mail with the same id is already queued or was already sent.

    Parameters
    ----------
    state : SiteState
        The site's memory; the queue lives in its ``"mail"`` section.
    message : OutgoingMail
        The mail; its ``id`` must be stable for the event it announces.
    """
    mem = _memory(state)
    if not message.to:
        log.warning("%s mail %r has no recipients (set mail_to for the site); not queued", message.kind,
                    message.subject)
        return
    if message.id and (message.id in mem["sent"] or any(p.get("id") == message.id for p in mem["pending"])):
        log.info("%s mail %s already queued or sent; not queued again", message.kind, message.id)
        return
    mem["pending"].append(message.to_json())
    if len(mem["pending"]) > PENDING_KEPT:
        _trim(mem["pending"])


def _trim(pending: list[dict[str, Any]]) -> None:
    """Keep the queue bounded during a very long outage: drop the oldest reminders first."""
    while len(pending) > PENDING_KEPT:
        victim = next((i for i, p in enumerate(pending) if p.get("kind") == "reminder"), 0)
        dropped = pending.pop(victim)
        log.warning("mail queue full: dropped %s mail %s (%s)", dropped.get("kind"), dropped.get("id"),
                    dropped.get("subject"))


def pending_count(state: SiteState) -> int:
    """How many mails wait to be sent."""
    return len(state.section(SECTION).get("pending", []))


def mail_status(state: SiteState) -> Mapping[str, Any]:
    """What the health checks want: pending count, failing since (ISO UTC or ""), last error."""
    mem = state.section(SECTION)
    return {
        "pending": len(mem.get("pending", [])),
        "failing_since": mem.get("failing_since", ""),
        "last_error": mem.get("last_error", ""),
        "cause": mem.get("cause", ""),
    }


def mail_problem(state: SiteState) -> str:
    """The owner-facing sentence when mail cannot leave because the password was refused; "" otherwise."""
    mem = state.section(SECTION)
    return str(mem.get("last_error", "")) if mem.get("cause") == LOGIN_REFUSED else ""


def deliver_pending(state: SiteState, mailer: MailTransport, now: datetime) -> int:
    """Hand queued mail to ``mailer``, oldest first, and stop at the first failure.

    Parameters
    ----------
    state : SiteState
        The site's memory (the caller saves it afterwards, so sent mail leaves the queue for good).
    mailer : MailTransport
        SMTP or outbox.
    now : datetime
        Current time [aware UTC], recorded as the sent time and the start of an outage.

    Returns
    -------
    int
        How many mails were delivered.
    """
    mem = _memory(state)
    sent = 0
    while mem["pending"]:
        data = mem["pending"][0]
        mail = OutgoingMail.from_json(data)
        try:
            mailer.send(mail)
        except TransientError as err:
            month = state.section("health").setdefault("months", {}).setdefault(now.strftime("%Y-%m"), {})
            month["mail_failures"] = month.get("mail_failures", 0) + 1
            _record_failure(mem, err, now)
            break
        mem["pending"].pop(0)
        if mail.id:
            mem["sent"][mail.id] = now.isoformat()
        sent += 1
        if mem["failing_since"]:
            log.info("mail delivery recovered (failing since %s); sending what waited", mem["failing_since"])
            mem["failing_since"] = ""
            mem["last_error"] = ""
            mem["cause"] = ""
            mem["reported_at"] = ""
    if len(mem["sent"]) > SENT_IDS_KEPT:
        for old in sorted(mem["sent"], key=mem["sent"].__getitem__)[: len(mem["sent"]) - SENT_IDS_KEPT]:
            del mem["sent"][old]
    return sent


def _record_failure(mem: dict[str, Any], err: TransientError, now: datetime) -> None:
    """Remember why mail failed; log at ERROR when it starts, when its cause changes, daily for a refused login."""
    cause = LOGIN_REFUSED if isinstance(err, MailLoginRefused) else NETWORK
    pending = len(mem["pending"])
    started = not mem["failing_since"]
    if started:
        mem["failing_since"] = now.isoformat()
    changed = cause != mem.get("cause")
    reported = _when(mem.get("reported_at", ""))
    remind = cause == LOGIN_REFUSED and (reported is None or now - reported >= REMIND_EVERY)
    mem["cause"] = cause
    mem["last_error"] = str(err)
    if cause == LOGIN_REFUSED and (started or changed or remind):
        log.error("mail cannot go out: %s (%d mail(s) waiting)", err, pending)
        mem["reported_at"] = now.isoformat()
    elif started or changed:
        log.error("mail delivery failing: %s (%d mail(s) pending; they stay queued)", err, pending)
        mem["reported_at"] = now.isoformat()
    else:
        log.debug("mail delivery still failing: %s", err)


def _when(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
