"""The mail queue over a real SMTP server: pending while it is down, delivered exactly once when it is back."""

from __future__ import annotations

import logging
import socket
from datetime import UTC, datetime, timedelta

import pytest

from pvs6_cloud.alerting.notify.queue import deliver_pending, mail_status, pending_count, queue_mail
from pvs6_cloud.alerting.notify.transport import OutgoingMail, SmtpTransport
from pvs6_cloud.infra.config import MailConfig
from pvs6_cloud.store.state import SiteState
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

NOW = datetime(2025, 6, 3, 15, 0, tzinfo=UTC)


def _mail(mail_id: str, kind: str = "alert") -> OutgoingMail:
    return OutgoingMail(to=("owner@example.com",), subject=f"subject {mail_id}", text="text", html="<p>html</p>",
                        kind=kind, id=mail_id)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _transport(port: int, **extra: object) -> SmtpTransport:
    return SmtpTransport(MailConfig(smtp_host="127.0.0.1", smtp_port=port, starttls=False, timeout_s=5.0,
                                    **extra))  # type: ignore[arg-type]


def test_down_then_up_delivers_each_mail_exactly_once(caplog: pytest.LogCaptureFixture) -> None:
    state = SiteState()
    queue_mail(state, _mail("m1"))
    queue_mail(state, _mail("m2"))
    port = _free_port()
    transport = _transport(port)
    caplog.set_level(logging.DEBUG, logger="pvs6_cloud.alerting.notify.queue")

    assert deliver_pending(state, transport, NOW) == 0
    assert deliver_pending(state, transport, NOW + timedelta(minutes=15)) == 0
    assert pending_count(state) == 2
    assert mail_status(state)["failing_since"] == NOW.isoformat()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, "an outage is logged once at ERROR, not at every attempt"

    with SmtpServer(port=port) as server:
        assert deliver_pending(state, transport, NOW + timedelta(minutes=30)) == 2
        assert deliver_pending(state, transport, NOW + timedelta(minutes=45)) == 0
        queue_mail(state, _mail("m1"))  # an id already sent is never queued again
        assert deliver_pending(state, transport, NOW + timedelta(hours=1)) == 0
        received = [m["Subject"] for m in server.messages]
    assert received == ["subject m1", "subject m2"]
    assert pending_count(state) == 0
    assert mail_status(state)["failing_since"] == ""
    recoveries = [r for r in caplog.records if r.levelno == logging.INFO and "recovered" in r.getMessage()]
    assert len(recoveries) == 1


def test_refused_login_keeps_mail_pending() -> None:
    state = SiteState()
    queue_mail(state, _mail("m1"))
    with SmtpServer(login=("me", "right")) as server:
        assert deliver_pending(state, _transport(server.port, username="me", password="wrong"), NOW) == 0
        assert pending_count(state) == 1
        assert "refused the login" in mail_status(state)["last_error"]
        assert deliver_pending(state, _transport(server.port, username="me", password="right"), NOW) == 1
        assert len(server.messages) == 1


def test_queue_survives_state_round_trip_and_skips_duplicates() -> None:
    state = SiteState()
    queue_mail(state, _mail("m1"))
    queue_mail(state, _mail("m1"))
    restored = SiteState.from_json(state.to_json())
    assert pending_count(restored) == 1


def test_mail_without_recipients_is_not_queued() -> None:
    state = SiteState()
    queue_mail(state, OutgoingMail(to=(), subject="s", text="t", id="x"))
    assert pending_count(state) == 0


def test_full_queue_drops_reminders_before_alerts() -> None:
    state = SiteState()
    queue_mail(state, _mail("reminder-0", kind="reminder"))
    for i in range(200):
        queue_mail(state, _mail(f"alert-{i}"))
    ids = [p["id"] for p in state.section("mail")["pending"]]
    assert len(ids) == 200
    assert "reminder-0" not in ids
    assert ids[0] == "alert-0"
