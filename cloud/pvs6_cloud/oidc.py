"""Who may call the scheduled endpoints: Cloud Scheduler, proven by a Google-signed OIDC ID token.

Cloud Scheduler sends ``Authorization: Bearer <ID token>`` minted for the job's service account with the
configured audience. Checking the signature and audience is not enough: anyone with a Google account can mint
an ID token for any audience, so the ``email`` claim must also be the configured service account, and verified.
Google's signing certificates are fetched from ``certs_url`` (tests serve their own) over one reused session.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from .config import SchedulerConfig
from .errors import ConfigError, TransientError, Unauthorized

__all__ = ["GOOGLE_CERTS_URL", "Forbidden", "verify_scheduler_request", "verify_scheduler_token"]

log = logging.getLogger(__name__)

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
_CLOCK_SKEW_S = 10

_lock = threading.Lock()
_session: Any = None


class Forbidden(Unauthorized):
    """A valid Google token, but not from the configured service account: 403."""


def _request(session: Any = None) -> Any:
    """A google-auth transport over a reused ``requests`` session (built on first use)."""
    global _session
    import google.auth.transport.requests
    import requests

    if session is None:
        with _lock:
            if _session is None:
                _session = requests.Session()
            session = _session
    return google.auth.transport.requests.Request(session=session)


def verify_scheduler_token(token: str, scheduler: SchedulerConfig, *, session: Any = None) -> Mapping[str, Any]:
    """Check an ID token's signature, expiry, issuer, audience and service account.

    Parameters
    ----------
    token : str
        The raw JWT.
    scheduler : SchedulerConfig
        ``audience``, ``service_account`` and optionally ``certs_url``.
    session : requests.Session, optional
        HTTP session for fetching the certificates (tests); a shared one otherwise.

    Returns
    -------
    mapping
        The token's verified claims.

    Raises
    ------
    Unauthorized
        Bad, expired, unsigned or wrongly addressed token (401).
    Forbidden
        A valid token from another account (403).
    TransientError
        The certificates could not be fetched (503: Scheduler retries).
    ConfigError
        An audience is configured without the service account to expect.
    """
    import google.auth.exceptions
    from google.oauth2 import id_token

    if not scheduler.service_account:
        raise ConfigError("scheduler.audience is set but scheduler.service_account is empty: any Google account "
                          "could call the jobs; name Cloud Scheduler's service account")
    try:
        claims = id_token.verify_token(token, _request(session), audience=scheduler.audience,
                                       certs_url=scheduler.certs_url or GOOGLE_CERTS_URL,
                                       clock_skew_in_seconds=_CLOCK_SKEW_S)
    except google.auth.exceptions.TransportError as err:
        raise TransientError(f"cannot fetch Google's signing certificates: {err}") from err
    except (ValueError, google.auth.exceptions.GoogleAuthError) as err:
        raise Unauthorized(f"invalid ID token: {err}") from err
    if claims.get("iss") not in _ISSUERS:
        raise Unauthorized("ID token not issued by Google")
    if claims.get("email") != scheduler.service_account or claims.get("email_verified") is not True:
        raise Forbidden("ID token is not from the configured scheduler service account")
    return claims


def verify_scheduler_request(headers: Mapping[str, str], scheduler: SchedulerConfig, *,
                             session: Any = None) -> Mapping[str, Any] | None:
    """Verify the ``Authorization: Bearer`` header when an audience is configured; None when checks are off.

    Raises
    ------
    Unauthorized, Forbidden, TransientError, ConfigError
        As `verify_scheduler_token`; a missing or non-Bearer header is `Unauthorized`.
    """
    if not scheduler.audience:
        return None
    header = headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing Authorization: Bearer <ID token>")
    return verify_scheduler_token(token.strip(), scheduler, session=session)
