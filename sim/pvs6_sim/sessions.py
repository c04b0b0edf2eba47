"""varserver login sessions: Basic-auth login hands out a token that expires after a number of REAL seconds."""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
from collections.abc import Callable

USERS = ("ssm_owner", "spwr_owner")  # LocalAPI.md and pypvs: ssm_owner; the first LocalAPI.md said spwr_owner


class SessionStore:
    """Issue and check session tokens.

    Parameters
    ----------
    password : str
        The last 5 characters of the PVS serial.
    ttl_s : float
        Session lifetime [real s].
    monotonic : callable, optional
        Source of real seconds (inject a fake one in tests to expire sessions without sleeping).
    """

    def __init__(self, password: str, ttl_s: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._password = password
        self._ttl_s = ttl_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}

    def check_basic(self, header: str | None) -> bool:
        """Whether an `Authorization: basic <b64 user:password>` header carries valid credentials."""
        if not header:
            return False
        scheme, _, encoded = header.strip().partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user in USERS and secrets.compare_digest(password, self._password)

    def login(self) -> str:
        """Open a session and return its token."""
        token = secrets.token_urlsafe(48)
        with self._lock:
            now = self._monotonic()
            # Expired tokens are kept an hour, so a client still holding one is told "expired" (HTTP 500).
            self._expiry = {t: e for t, e in self._expiry.items() if e > now - 3600.0}
            self._expiry[token] = now + self._ttl_s
        return token

    def logout(self, token: str | None) -> None:
        """Close a session (unknown tokens are ignored)."""
        with self._lock:
            self._expiry.pop(token or "", None)

    def valid(self, token: str | None) -> bool:
        """Whether `token` names an open, unexpired session."""
        if not token:
            return False
        with self._lock:
            expiry = self._expiry.get(token)
            return expiry is not None and self._monotonic() < expiry

    def expired(self, token: str | None) -> bool:
        """Whether ``token`` named a session that has since expired (not one that never existed)."""
        with self._lock:
            expiry = self._expiry.get(token or "")
            return expiry is not None and self._monotonic() >= expiry


__all__ = ["USERS", "SessionStore"]
