"""How an email leaves: an SMTP server (Gmail with an app password in production) or ``.eml`` files in a folder.

Both transports take one `OutgoingMail` and either deliver it or raise `TransientError`, which the mail queue
reads as "keep it and try again later". One refusal will not heal by waiting: a 5xx answer to the login (Gmail's
``535 5.7.8 Username and Password not accepted``: the app password is wrong or was revoked) raises
`MailLoginRefused`, whose message tells the owner what to do. The mail stays queued all the same, and goes out
once a working password is stored. A 4xx answer to the login (``454`` "try again later") stays transient.
A mail's ``id`` is stable: it becomes the ``Message-ID`` header and the outbox file name, so a retry after a
half-finished delivery is recognisable (and is a no-op in the outbox).
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pvs6_cloud.infra.config import MailConfig
from pvs6_cloud.infra.errors import ConfigError, TransientError
from pvs6_cloud.infra.mail import OutgoingMail

__all__ = [
    "MailLoginRefused",
    "MailTransport",
    "OutboxTransport",
    "OutgoingMail",
    "SmtpTransport",
    "build_message",
    "transport_from_config",
]

log = logging.getLogger(__name__)

DEFAULT_SENDER = "pvs6-sentinel@localhost"
SENDER_NAME = "PVS6 Sentinel"


class MailLoginRefused(TransientError):
    """The mail server refused the password for good (SMTP 5xx to AUTH): waiting will not help, a person must.

    Still a `TransientError`, so the mail stays queued; the message is the owner-facing sentence every path
    (the log line Cloud Monitoring alerts on, the self-test, the ``pvs6-cloud`` output) shows.
    """


def login_refused_message(config: MailConfig, code: int, reply: str) -> str:
    """What the owner reads when the server refused the password: what it means and how to fix it."""
    # Gmail by its name, or by its reply (which links to support.google.com), whatever address reached it.
    if config.smtp_host.lower().endswith(("gmail.com", "googlemail.com")) or "google.com" in reply:
        server, what = "Gmail", "app password"
        fix = ("Make a new one at https://myaccount.google.com/apppasswords and store it (docs/google-setup.md, "
               '"New Gmail app password"; on a Pi-only setup, in cloud.env).')
    else:
        server, what = f"The mail server {config.smtp_host}", "password"
        fix = "Check [mail] username and store the right password."
    return (f"{server} refused the login of {config.username!r} ({code} {' '.join(reply.split())}): the {what} "
            f"is wrong or was revoked, so no email can go out until it is replaced. {fix} Waiting mail stays "
            "queued and goes out once the new password works.")


class MailTransport(Protocol):
    """Something that delivers mail."""

    def send(self, mail: OutgoingMail) -> None:
        """Deliver ``mail`` or raise `TransientError` (server down, login refused): the caller keeps it."""


def sender_with_name(sender: str) -> str:
    """The From header: the configured address, named "PVS6 Sentinel" unless it already carries a name."""
    name, address = parseaddr(sender)
    return sender if name or not address else formataddr((SENDER_NAME, address))


def _date_header(mail: OutgoingMail, now: datetime | None) -> str:
    """The sending time in the site's zone with its real offset (``-0400``), never the anonymous ``-0000``."""
    when = now or datetime.now(UTC)
    try:
        local = when.astimezone(ZoneInfo(mail.timezone)) if mail.timezone else when.astimezone()
    except (ZoneInfoNotFoundError, ValueError):
        local = when.astimezone()
    return format_datetime(local)


def build_message(mail: OutgoingMail, sender: str, now: datetime | None = None) -> EmailMessage:
    """The MIME message: plain text, and when there is HTML, an HTML alternative with its images inline.

    Parameters
    ----------
    mail : OutgoingMail
        What to send.
    sender : str
        The From address; a bare address gets the display name "PVS6 Sentinel".
    now : datetime, optional
        The sending time [aware]; default the clock.

    Returns
    -------
    EmailMessage
        ``multipart/alternative`` (text, then ``multipart/related`` HTML + PNGs) or a single text part.
    """
    msg = EmailMessage()
    msg["From"] = sender_with_name(sender)
    msg["To"] = ", ".join(mail.to)
    msg["Subject"] = mail.subject
    msg["Date"] = _date_header(mail, now)
    if mail.id:
        msg["Message-ID"] = f"<{mail.id}@pvs6-sentinel>"
    msg["X-PVS6-Sentinel-Kind"] = mail.kind
    msg.set_content(mail.text)
    if mail.html:
        msg.add_alternative(mail.html, subtype="html")
        html_part = msg.get_payload()[-1]
        for cid, png in mail.images.items():
            html_part.add_related(png, maintype="image", subtype="png", cid=f"<{cid}>", filename=f"{cid}.png")
    for name, data in mail.attachments.items():
        msg.add_attachment(data, maintype="text", subtype="csv", filename=name)
    return msg


class SmtpTransport:
    """SMTP submission: STARTTLS (port 587) and login, as Gmail wants with an app password.

    A connection is opened per delivery round and closed at once: alerts are rare, and a Cloud Function may be
    frozen between calls, which would leave a kept-open connection dead.
    """

    def __init__(self, config: MailConfig) -> None:
        if not config.smtp_host:
            raise ConfigError("mail.smtp_host is empty: SMTP transport needs a server")
        self.config = config
        self.sender = config.sender or config.username or DEFAULT_SENDER

    def send(self, mail: OutgoingMail) -> None:
        """Deliver one mail.

        Raises
        ------
        MailLoginRefused
            The server refused the password (5xx): a person must store a new one; the mail stays queued.
        TransientError
            The server is unreachable, busy, or refused the message; the mail must stay queued.
        """
        cfg = self.config
        msg = build_message(mail, self.sender)
        try:
            with smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout_s) as smtp:
                if cfg.starttls:
                    smtp.starttls(context=ssl.create_default_context(cafile=cfg.ca_file or None))
                if cfg.username:
                    smtp.login(cfg.username, cfg.password)
                smtp.send_message(msg, from_addr=self.sender, to_addrs=list(mail.to))
        except smtplib.SMTPAuthenticationError as err:
            if 500 <= err.smtp_code < 600:
                raise MailLoginRefused(login_refused_message(cfg, err.smtp_code, _text(err.smtp_error))) from err
            raise TransientError(
                f"SMTP {cfg.smtp_host}:{cfg.smtp_port} refused the login of {cfg.username!r}: "
                f"{err.smtp_code} {_text(err.smtp_error)}"
            ) from err
        except (smtplib.SMTPException, OSError) as err:
            raise TransientError(f"SMTP {cfg.smtp_host}:{cfg.smtp_port}: {err}") from err
        log.info("sent %s mail %s to %d recipient(s) via %s", mail.kind, mail.id, len(mail.to), cfg.smtp_host)


class OutboxTransport:
    """Writes each mail as ``<kind>-<id>.eml`` in a folder (the local default; any mail program opens them).

    ``clock`` dates the messages (default: the real time); the demo's simulated day passes its own.
    """

    def __init__(self, folder: Path, sender: str = DEFAULT_SENDER,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.folder = Path(folder)
        self.sender = sender
        self.clock = clock

    def path_for(self, mail: OutgoingMail) -> Path:
        """Where ``mail`` is (or will be) written."""
        safe_id = "".join(c for c in mail.id if c.isalnum() or c in "-_") or "mail"
        return self.folder / f"{mail.kind}-{safe_id}.eml"

    def send(self, mail: OutgoingMail) -> None:
        """Write the mail atomically; a mail already in the folder is not written again.

        Raises
        ------
        TransientError
            The folder cannot be written (disk full, permissions).
        """
        target = self.path_for(mail)
        if target.exists():
            log.info("outbox already holds %s; not writing it twice", target.name)
            return
        data = bytes(build_message(mail, self.sender, self.clock() if self.clock else None))
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".eml")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as err:
            raise TransientError(f"cannot write {target}: {err}") from err
        log.info("wrote %s mail to %s", mail.kind, target)


def transport_from_config(config: MailConfig) -> MailTransport:
    """The transport the config asks for: SMTP when ``smtp_host`` is set, else the outbox folder.

    Raises
    ------
    ConfigError
        Neither an SMTP server nor an outbox folder is configured.
    """
    if config.uses_smtp:
        return SmtpTransport(config)
    if config.outbox_dir is None:
        raise ConfigError("[mail] needs smtp_host or outbox_dir")
    return OutboxTransport(config.outbox_dir, config.sender or DEFAULT_SENDER)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
