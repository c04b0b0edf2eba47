"""A real SMTP server on a loopback port for mail tests (aiosmtpd in a thread), optionally demanding a login.

``SmtpServer`` is a context manager yielding itself: ``.port`` is the bound port, ``.messages`` the parsed
``email.message.EmailMessage`` objects received, in order. Port 0 asks the OS for a free port; pass an explicit
port to bring a server back up where a stopped one was ("SMTP down, then up again").
"""

from __future__ import annotations

import email
import email.policy
import threading
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


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
    """

    def __init__(self, port: int = 0, login: tuple[str, str] | None = None) -> None:
        self._collector = _Collector()
        self._login = login
        kwargs: dict[str, Any] = {}
        if login is not None:
            # Loopback only: AUTH without TLS is fine here (aiosmtpd warns; tests filter that warning).
            kwargs = {"authenticator": self._authenticate, "auth_required": True, "auth_require_tls": False}
        self._controller = _PortZeroController(self._collector, hostname="127.0.0.1", port=port, **kwargs)
        self.port = port

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and self._login is not None and (
            data.login.decode(), data.password.decode()) == self._login
        return AuthResult(success=ok, handled=False)

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


__all__ = ["SmtpServer"]
