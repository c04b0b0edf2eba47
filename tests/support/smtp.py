"""A real SMTP server on a loopback port for mail tests (aiosmtpd in a thread), optionally demanding a login.

``SmtpServer`` is a context manager yielding itself: ``.port`` is the bound port, ``.messages`` the parsed
``email.message.EmailMessage`` objects received, in order. Port 0 asks the OS for a free port; pass an explicit
port to bring a server back up where a stopped one was ("SMTP down, then up again"). ``starttls=True`` makes it
behave like Gmail's submission port: STARTTLS required, with a certificate for 127.0.0.1 that a client trusts
through ``.ca_file``.

Clients reach it through :func:`loopback_mail_config` (a ``MailConfig`` for code under test) or
:func:`loopback_mail_toml` (the ``[mail]`` lines of a cloud.toml, for the CLI in a subprocess): plain SMTP on
127.0.0.1 with a 5 s timeout, so a test that goes wrong fails in seconds, not after the 30 s default.
"""

from __future__ import annotations

import email
import email.policy
import ipaddress
import json
import ssl
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pvs6_cloud.infra.config import MailConfig

LOOPBACK = "127.0.0.1"
TIMEOUT_S = 5.0


class _Collector:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


def _loopback_tls() -> tuple[ssl.SSLContext, str]:
    """A server context for 127.0.0.1 and the PEM file a client can trust it with."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = Path(tempfile.mkdtemp(prefix="smtp-tls-"))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context, str(cert_file)


class _PortZeroController(Controller):
    """aiosmtpd's Controller, but able to bind port 0 (it learns the real port before its self-test)."""

    def _trigger_server(self) -> None:
        if self.port == 0 and self.server is not None:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpServer:
    """A loopback SMTP server that records what it receives.

    Parameters
    ----------
    port : int
        0 for any free port.
    login : (user, password) or None
        When set, the server requires AUTH (PLAIN/LOGIN, allowed without TLS on loopback) and refuses others.
    refusal : str or None
        The reply to a wrong login; None is aiosmtpd's ``535 5.7.8 Authentication credentials invalid``. Gmail
        answers ``535 5.7.8 Username and Password not accepted...`` to a wrong or revoked app password, and
        ``454 4.7.0 Too many login attempts, please try again later`` when throttling.
    """

    def __init__(self, port: int = 0, login: tuple[str, str] | None = None, *, starttls: bool = False,
                 refusal: str | None = None) -> None:
        self._collector = _Collector()
        self._login = login
        self._refusal = refusal
        self.ca_file = ""
        kwargs: dict[str, Any] = {}
        if login is not None:
            # Loopback only: AUTH without TLS is fine here (aiosmtpd warns; tests filter that warning).
            kwargs = {"authenticator": self._authenticate, "auth_required": True, "auth_require_tls": starttls}
        if starttls:
            # Like Gmail on port 587: STARTTLS before anything else, with a certificate the client must verify.
            context, self.ca_file = _loopback_tls()
            kwargs.update(tls_context=context, require_starttls=True)
        self._controller = _PortZeroController(self._collector, hostname="127.0.0.1", port=port, **kwargs)
        self.port = port

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and self._login is not None and (
            data.login.decode(), data.password.decode()) == self._login
        return AuthResult(success=ok, handled=False, message=None if ok else self._refusal)

    @property
    def messages(self) -> list[EmailMessage]:
        """Messages received so far (a copy)."""
        with self._collector.lock:
            return list(self._collector.messages)

    def start(self) -> SmtpServer:
        """Start listening; ``port`` is then the real port."""
        self._controller.start()
        self.port = self._controller.port
        return self

    def stop(self) -> None:
        """Stop listening (the port is free again)."""
        self._controller.stop()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def loopback_mail_config(port: int, **settings: Any) -> MailConfig:
    """How the code under test sends to a :class:`SmtpServer` (or a closed port) on loopback; ``settings`` add
    or override ``MailConfig`` fields (``username``, ``password``, ``sender``, ``starttls``...)."""
    return MailConfig(**{"smtp_host": LOOPBACK, "smtp_port": port, "starttls": False, "timeout_s": TIMEOUT_S,
                         **settings})


def loopback_mail_toml(port: int, **settings: str | int | bool) -> str:
    """The same as :func:`loopback_mail_config`, as the lines under a cloud.toml's ``[mail]``."""
    values: dict[str, str | int | float | bool] = {"smtp_host": LOOPBACK, "smtp_port": port, "starttls": False,
                                                   "timeout_s": int(TIMEOUT_S), **settings}
    return "\n".join(f"{key} = {_toml(value)}" for key, value in values.items())


def _toml(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)  # a JSON string or number is a valid TOML one


__all__ = ["LOOPBACK", "SmtpServer", "loopback_mail_config", "loopback_mail_toml"]
