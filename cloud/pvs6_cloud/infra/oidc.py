"""Who may call the scheduled endpoints: Cloud Scheduler, proven by a Google-signed OIDC ID token.

Cloud Scheduler sends ``Authorization: Bearer <ID token>`` minted for the job's service account with the
configured audience. Checking the signature and audience is not enough: anyone with a Google account can mint
an ID token for any audience, so the ``email`` claim must also be the configured service account, and verified.
Google's signing certificates are fetched from ``certs_url`` (tests serve their own) over one reused session.

The scheduled functions are deployed private (``--no-allow-unauthenticated``), so Cloud Run itself checks the
caller's token and invoker role first, then hands the request on with the token's signature replaced by
``SIGNATURE_REMOVED_BY_GOOGLE`` (in ``X-Serverless-Authorization`` when the caller used it, else in
``Authorization``): https://cloud.google.com/run/docs/authenticating/service-to-service ("Cloud Run ... removes
the signature"). Such a token can no longer be verified, so there only the claims are checked. An unsigned token
is believed only where the platform provably checked it: the deployment says it is private
(`PRIVATE_ENV` = ``1``, set by deploy.sh on the private functions only) and runs on Cloud Run (``K_SERVICE``).
Everywhere else (local serve, a public deployment) a stripped token is refused: anyone can forge one.

The audience: deploy.sh lets each Scheduler job use its function's own URL (what Cloud Run accepts without any
change to the service), and writes only ``service_account`` into ``[scheduler]``. With no ``audience``
configured, a token Cloud Run checked needs no audience check of ours (Cloud Run accepts only its own URLs
and custom audiences: https://cloud.google.com/run/docs/authenticating/service-to-service), and a signed token
must be for the URL it was sent to (``own_url``). A configured ``audience`` is always required as it is.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from pvs6_cloud.infra.config import SchedulerConfig
from pvs6_cloud.infra.errors import ConfigError, TransientError, Unauthorized

__all__ = ["GOOGLE_CERTS_URL", "PRIVATE_ENV", "STRIPPED_SIGNATURE", "Forbidden", "platform_checks_callers",
           "verify_scheduler_request", "verify_scheduler_token"]

log = logging.getLogger(__name__)

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
_CLOCK_SKEW_S = 10
STRIPPED_SIGNATURE = "SIGNATURE_REMOVED_BY_GOOGLE"
PRIVATE_ENV = "PVS6_CALLERS_CHECKED_BY_CLOUD_RUN"

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


def platform_checks_callers(env: Mapping[str, str]) -> bool:
    """True on a Cloud Run service deployed private, whose platform has checked every caller's ID token."""
    return bool(env.get("K_SERVICE")) and env.get(PRIVATE_ENV) == "1"


def _check_claims(claims: Mapping[str, Any], scheduler: SchedulerConfig) -> Mapping[str, Any]:
    """What Google's signature cannot tell: the issuer, and that the caller is the scheduler's own account."""
    if claims.get("iss") not in _ISSUERS:
        raise Unauthorized("ID token not issued by Google")
    if claims.get("email") != scheduler.service_account or claims.get("email_verified") is not True:
        raise Forbidden("ID token is not from the configured scheduler service account")
    return claims


def _platform_checked_claims(token: str, scheduler: SchedulerConfig) -> Mapping[str, Any]:
    """Claims of a token Cloud Run verified, then stripped of its signature: audience (when one is configured;
    else Cloud Run checked it), expiry, `_check_claims`."""
    import google.auth.exceptions
    from google.auth import jwt

    try:
        claims = jwt.decode(token, verify=False)
    except (ValueError, TypeError, google.auth.exceptions.GoogleAuthError) as err:
        raise Unauthorized(f"invalid ID token: {err}") from err
    audience = claims.get("aud")
    if scheduler.audience and audience != scheduler.audience and not (
            isinstance(audience, list) and scheduler.audience in audience):
        raise Unauthorized(f"ID token is for audience {audience!r}, not {scheduler.audience!r}")
    expiry = claims.get("exp")
    if not isinstance(expiry, int | float) or expiry + _CLOCK_SKEW_S < time.time():
        raise Unauthorized("ID token expired")
    return _check_claims(claims, scheduler)


def _own_audiences(own_url: str) -> list[str]:
    """The forms Cloud Scheduler may give the URL a request was sent to: bare, with ``/``, with its path."""
    base = own_url.rstrip("/")
    return [base, base + "/"] if base else []


def verify_scheduler_token(token: str, scheduler: SchedulerConfig, *, session: Any = None,
                           platform_checked: bool = False, own_url: str = "") -> Mapping[str, Any]:
    """Check an ID token's signature, expiry, issuer, audience and service account.

    Parameters
    ----------
    token : str
        The raw JWT.
    scheduler : SchedulerConfig
        ``audience``, ``service_account`` and optionally ``certs_url``.
    session : requests.Session, optional
        HTTP session for fetching the certificates (tests); a shared one otherwise.
    platform_checked : bool
        Cloud Run already verified the signature (`platform_checks_callers`): a token whose signature is
        ``SIGNATURE_REMOVED_BY_GOOGLE`` is then judged by its claims alone. Refused otherwise.
    own_url : str
        ``https://<host>`` the request was sent to: the audience a signed token must have when none is
        configured.

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
    audiences = [scheduler.audience] if scheduler.audience else _own_audiences(own_url)
    if token.rpartition(".")[2] == STRIPPED_SIGNATURE:
        if not platform_checked:
            raise Unauthorized("ID token has no signature (SIGNATURE_REMOVED_BY_GOOGLE) but this deployment is "
                               f"not marked private ({PRIVATE_ENV}=1 on Cloud Run); refusing it")
        return _platform_checked_claims(token, scheduler)
    if not audiences:
        raise Unauthorized("no audience to check the ID token against (set scheduler.audience)")
    try:
        claims = id_token.verify_token(token, _request(session), audience=audiences,
                                       certs_url=scheduler.certs_url or GOOGLE_CERTS_URL,
                                       clock_skew_in_seconds=_CLOCK_SKEW_S)
    except google.auth.exceptions.TransportError as err:
        raise TransientError(f"cannot fetch Google's signing certificates: {err}") from err
    except (ValueError, google.auth.exceptions.GoogleAuthError) as err:
        raise Unauthorized(f"invalid ID token: {err}") from err
    return _check_claims(claims, scheduler)


def verify_scheduler_request(headers: Mapping[str, str], scheduler: SchedulerConfig, *, session: Any = None,
                             platform_checked: bool = False, own_url: str = "") -> Mapping[str, Any] | None:
    """Verify the caller's Bearer token when an audience or service account is configured; None when checks
    are off (local use).

    The token is read from ``X-Serverless-Authorization`` when present (Cloud Run checks that one in
    preference to, and then passes on, ``Authorization``), else from ``Authorization``.

    Raises
    ------
    Unauthorized, Forbidden, TransientError, ConfigError
        As `verify_scheduler_token`; a missing or non-Bearer header is `Unauthorized`.
    """
    if not (scheduler.audience or scheduler.service_account):
        return None
    header = headers.get("X-Serverless-Authorization") or headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing Authorization: Bearer <ID token>")
    return verify_scheduler_token(token.strip(), scheduler, session=session, platform_checked=platform_checked,
                                  own_url=own_url)
