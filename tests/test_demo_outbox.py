"""The outbox dates each message by its clock, so the demo's mail reads as sent on the simulated day it tells of
(the real time would date a June alert in whatever month the demo runs)."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.utils import parsedate_to_datetime
from pathlib import Path

from pvs6_cloud.alerting.notify.transport import OutboxTransport, OutgoingMail


def test_the_outbox_dates_mail_by_its_clock(tmp_path: Path) -> None:
    sent_at = datetime(2025, 6, 30, 15, 30, tzinfo=UTC)
    outbox = OutboxTransport(tmp_path, "PVS6 Sentinel <p@example.com>", clock=lambda: sent_at)
    mail = OutgoingMail(to=("o@example.com",), subject="s", text="t", kind="alert", id="a1",
                        timezone="America/New_York")
    outbox.send(mail)
    msg = message_from_bytes(outbox.path_for(mail).read_bytes(), policy=policy.default)
    assert parsedate_to_datetime(msg["Date"]) == sent_at
    assert msg["Date"].endswith("-0400")  # the site's own offset on that day
