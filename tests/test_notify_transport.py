"""Mail transports against a real loopback SMTP server and a real folder."""

from __future__ import annotations

import email
import email.policy
import socket
from pathlib import Path

import pytest

from pvs6_cloud.alerting.notify.transport import (
    OutboxTransport,
    OutgoingMail,
    SmtpTransport,
    transport_from_config,
)
from pvs6_cloud.infra.config import MailConfig
from pvs6_cloud.infra.errors import TransientError
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _mail(mail_id: str = "abc123") -> OutgoingMail:
    return OutgoingMail(
        to=("owner@example.com",),
        subject="[home] Panel E001 stopped producing",
        text="Panel E001 stopped producing at 10:45.\n",
        html='<p>Panel E001 stopped producing.</p><img src="cid:chart-1">',
        images={"chart-1": PNG},
        id=mail_id,
    )


def _smtp_config(port: int, **extra: object) -> MailConfig:
    return MailConfig(smtp_host="127.0.0.1", smtp_port=port, starttls=False, sender="sentinel@example.com",
                      timeout_s=5.0, **extra)  # type: ignore[arg-type]


def test_smtp_delivers_text_html_and_inline_image() -> None:
    with SmtpServer() as server:
        SmtpTransport(_smtp_config(server.port)).send(_mail())
        [msg] = server.messages
    assert msg["Subject"] == "[home] Panel E001 stopped producing"
    assert msg["To"] == "owner@example.com"
    assert msg["Message-ID"] == "<abc123@pvs6-sentinel>"
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert "stopped producing at 10:45" in text.get_content()
    assert 'src="cid:chart-1"' in html.get_content()
    images = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 1
    assert images[0]["Content-ID"] == "<chart-1>"
    assert images[0].get_content() == PNG


def test_smtp_login_accepted_and_refused() -> None:
    with SmtpServer(login=("me@example.com", "app-password")) as server:
        SmtpTransport(_smtp_config(server.port, username="me@example.com", password="app-password")).send(_mail())
        assert len(server.messages) == 1
        wrong = SmtpTransport(_smtp_config(server.port, username="me@example.com", password="wrong"))
        with pytest.raises(TransientError, match="refused the login"):
            wrong.send(_mail("other"))
        assert len(server.messages) == 1


def test_smtp_down_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransientError):
        SmtpTransport(_smtp_config(port)).send(_mail())


def test_outbox_writes_parseable_eml_once(tmp_path: Path) -> None:
    transport = transport_from_config(MailConfig(outbox_dir=tmp_path / "outbox"))
    assert isinstance(transport, OutboxTransport)
    transport.send(_mail())
    transport.send(_mail())  # the same id again: still one file
    [path] = list((tmp_path / "outbox").glob("*.eml"))
    assert path.name == "alert-abc123.eml"
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert msg["Subject"] == "[home] Panel E001 stopped producing"
    assert msg.get_body(preferencelist=("plain",)) is not None
    assert msg.get_body(preferencelist=("html",)) is not None
    assert [p.get_content_type() for p in msg.walk()].count("image/png") == 1


def test_headers_say_who_sends_and_when_in_the_sites_time(tmp_path: Path) -> None:
    """From carries a name a person recognises; Date is local time with its real offset, never -0000."""
    from dataclasses import replace
    from datetime import datetime, timedelta
    from email.utils import parsedate_to_datetime
    from zoneinfo import ZoneInfo

    mail = replace(_mail("tz"), timezone="America/New_York")
    OutboxTransport(tmp_path / "outbox").send(mail)
    with SmtpServer() as server:
        SmtpTransport(_smtp_config(server.port)).send(mail)
        named = MailConfig(smtp_host="127.0.0.1", smtp_port=server.port, starttls=False, timeout_s=5.0,
                           sender="Our roof <roof@example.com>")
        SmtpTransport(named).send(_mail("named"))
        smtp_first, smtp_named = server.messages
    [path] = list((tmp_path / "outbox").glob("*.eml"))
    outbox = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert outbox["From"] == "PVS6 Sentinel <pvs6-sentinel@localhost>"
    assert smtp_first["From"] == "PVS6 Sentinel <sentinel@example.com>"
    assert smtp_named["From"] == "Our roof <roof@example.com>"
    for msg in (outbox, smtp_first):
        assert not str(msg["Date"]).endswith("-0000")
        sent = parsedate_to_datetime(str(msg["Date"]))
        assert sent.utcoffset() == sent.astimezone(ZoneInfo("America/New_York")).utcoffset()
        assert sent.utcoffset() in (timedelta(hours=-4), timedelta(hours=-5))
        assert abs(sent - datetime.now(sent.tzinfo)) < timedelta(hours=1)
    assert OutgoingMail.from_json(mail.to_json()).timezone == "America/New_York"


def test_outbox_unwritable_is_transient(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(TransientError):
        OutboxTransport(blocker / "outbox").send(_mail())


def test_mail_survives_json_round_trip() -> None:
    mail = _mail()
    assert OutgoingMail.from_json(mail.to_json()) == mail


def test_transport_from_config_prefers_smtp() -> None:
    assert isinstance(transport_from_config(_smtp_config(587)), SmtpTransport)


def test_starttls_and_login_like_gmail() -> None:
    mail = OutgoingMail(to=("owner@example.com",), subject="over TLS", text="t", id="tls-1")
    with SmtpServer(login=("me@example.com", "app-password"), starttls=True) as server:
        base = {"smtp_host": "127.0.0.1", "smtp_port": server.port, "username": "me@example.com",
                "password": "app-password", "timeout_s": 5.0}
        SmtpTransport(MailConfig(**base, starttls=True, ca_file=server.ca_file)).send(mail)
        assert [m["Subject"] for m in server.messages] == ["over TLS"]
        with pytest.raises(TransientError):  # the server demands STARTTLS first
            SmtpTransport(MailConfig(**base, starttls=False)).send(mail)
        with pytest.raises(TransientError, match="certificate"):  # an untrusted certificate is refused
            SmtpTransport(MailConfig(**base, starttls=True)).send(mail)
        assert len(server.messages) == 1
