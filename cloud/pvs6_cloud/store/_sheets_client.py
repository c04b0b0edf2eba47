"""Building the Sheets (and Drive) API clients and calling them with retries: the only module that touches
googleapiclient.

Calls are retried with exponential backoff and jitter on 429 and 5xx (honouring ``Retry-After``) and on transport
errors, then turned into `SinkUnavailable` so the ingest function answers 5xx and the edge retries later. A 403 or
404 says what the owner must do (share the sheet with the service account). A write whose reply was lost may have
been applied: before re-sending it the caller's ``landed`` check is asked, so a retry never writes twice.

Drive v3 is used for one thing only: sharing an archive spreadsheet the function had to create with the site's
owners (``permissions.create``), so their history never vanishes into the service account's own Drive.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pvs6_cloud.infra.errors import ConfigError, SinkUnavailable

__all__ = ["SheetsApi", "build_drive_service", "build_service"]

log = logging.getLogger(__name__)

# drive.file: only files this app created or was given, which is all the sharing of a created archive needs.
SCOPES = ("https://www.googleapis.com/auth/spreadsheets", "https://www.googleapis.com/auth/drive.file")
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_BACKOFF_BASE_S = 1.0
_BACKOFF_CAP_S = 32.0
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _credentials(credentials_file: str, api_endpoint: str) -> Any:
    """Service-account key file, else the runtime's own identity; a loopback test endpoint needs none."""
    host = urlsplit(api_endpoint).hostname if api_endpoint else None
    if not credentials_file and host in _LOOPBACK:
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()
    from google.auth.exceptions import GoogleAuthError

    try:
        if credentials_file:
            from google.oauth2 import service_account

            return service_account.Credentials.from_service_account_file(credentials_file, scopes=SCOPES)
        import google.auth

        credentials, _project = google.auth.default(scopes=SCOPES)
        return credentials
    except (OSError, ValueError) as err:
        raise ConfigError(f"sheets.credentials_file {credentials_file!r} is not a usable service account key: "
                          f"{type(err).__name__}") from err
    except GoogleAuthError as err:
        raise ConfigError("no usable Google credentials: set sheets.credentials_file or run as a service "
                          f"account (Cloud Functions does): {type(err).__name__}") from err


_per_thread = threading.local()


def build_service(api_endpoint: str = "", credentials_file: str = "", timeout_s: float = 60.0) -> tuple[Any, str]:
    """A Sheets v4 service object from the bundled discovery document, and the account's email (or "").

    One per thread and setting, shared by every site's sink: building the API's methods costs CPU at cold start,
    and an httplib2 connection must never be used by two threads at once.

    Parameters
    ----------
    api_endpoint : str
        Base URL of a Sheets-compatible server (tests); empty for Google.
    credentials_file : str
        Service-account JSON key; empty for the runtime's default credentials.
    timeout_s : float
        Socket timeout of every call [s].

    Notes
    -----
    The HTTP object is built with ``proxy_info=None``: httplib2 otherwise takes proxies from the environment
    and refuses even a loopback address behind them.
    """
    return _cached("sheets", api_endpoint, credentials_file, timeout_s)


def build_drive_service(api_endpoint: str = "", credentials_file: str = "",
                        timeout_s: float = 60.0) -> tuple[Any, str]:
    """A Drive v3 service object (bundled discovery document), and the account's email (or "").

    Built only when an archive spreadsheet has to be shared, so a site that never needs one never pays for it.

    Parameters
    ----------
    api_endpoint : str
        Base URL of the same test server as `build_service` (Drive's ``drive/v3/`` path is added); empty for
        Google.
    credentials_file : str
        Service-account JSON key; empty for the runtime's default credentials.
    timeout_s : float
        Socket timeout of every call [s].
    """
    return _cached("drive", api_endpoint, credentials_file, timeout_s)


def _cached(api: str, api_endpoint: str, credentials_file: str, timeout_s: float) -> tuple[Any, str]:
    cache: dict[tuple[str, str, str, float], tuple[Any, str]] = _per_thread.__dict__.setdefault("services", {})
    key = (api, api_endpoint, credentials_file, timeout_s)
    if key not in cache:
        cache[key] = _build(api_endpoint, credentials_file, timeout_s, api=api)
    return cache[key]


_APIS = {"sheets": ("sheets", "v4", ""), "drive": ("drive", "v3", "drive/v3/")}


def _build(api_endpoint: str, credentials_file: str, timeout_s: float, api: str = "sheets") -> tuple[Any, str]:
    import google_auth_httplib2
    import httplib2
    from googleapiclient.discovery import build

    name, version, service_path = _APIS[api]
    credentials = _credentials(credentials_file, api_endpoint)
    http = google_auth_httplib2.AuthorizedHttp(credentials, http=httplib2.Http(timeout=timeout_s, proxy_info=None))
    # An endpoint override replaces rootUrl *and* servicePath, so Drive's path must be put back by hand.
    options = {"api_endpoint": api_endpoint.rstrip("/") + "/" + service_path} if api_endpoint else None
    service = build(name, version, http=http, static_discovery=True, cache_discovery=False,
                    client_options=options)
    return service, str(getattr(credentials, "service_account_email", "") or "")


class _Resources:
    """``spreadsheets()`` and ``spreadsheets().values()`` made once per service: each call of those builds every
    method and its docstring afresh (about half a second of CPU)."""

    _made: ClassVar[weakref.WeakKeyDictionary[Any, _Resources]] = weakref.WeakKeyDictionary()

    def __init__(self, service: Any) -> None:
        self.sheets = service.spreadsheets()
        self.values = self.sheets.values()

    @classmethod
    def of(cls, service: Any) -> _Resources:
        try:
            made = cls._made.get(service)
            if made is None:
                made = cls._made[service] = cls(service)
            return made
        except TypeError:  # not weak-referenceable (a test double): build every time
            return cls(service)


class SheetsApi:
    """Executes prepared requests with retries and one error vocabulary.

    Parameters
    ----------
    service_factory : callable
        Returns the service (built on first use, so importing and constructing cost nothing).
    spreadsheet_id : str
        For messages only.
    sleep : callable
        ``sleep(seconds)``; tests inject one that advances a fake clock.
    max_retries : int
        Retries after the first attempt.
    account : str
        The service account's email, quoted when access is denied.
    resources : callable, optional
        Service -> what ``build`` receives; default the Sheets resources (`_Resources`), identity for Drive.
    """

    def __init__(self, service_factory: Callable[[], Any], *, sleep: Callable[[float], None] = time.sleep,
                 max_retries: int = 5, account: str = "", rng: random.Random | None = None,
                 resources: Callable[[Any], Any] | None = None) -> None:
        self._factory = service_factory
        self._resources = resources or _Resources.of
        self._local = threading.local()
        self.sleep = sleep
        self.max_retries = max_retries
        self.account = account
        self.calls = 0
        self._rng = rng or random.Random()

    @property
    def service(self) -> Any:
        """The API's resources for this thread (httplib2 connections must not be shared between threads)."""
        resources = getattr(self._local, "resources", None)
        if resources is None:
            resources = self._local.resources = self._resources(self._factory())
        return resources

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), _BACKOFF_CAP_S * 4)
            except ValueError:
                pass
        ceiling = min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2**attempt)
        return ceiling * (0.5 + 0.5 * self._rng.random())

    def _denied(self, status: int, what: str, spreadsheet_id: str) -> SinkUnavailable:
        who = self.account or "the function's service account"
        if status == 404:
            return SinkUnavailable(f"{what}: spreadsheet {spreadsheet_id} was not found; check spreadsheet_id and "
                                   f"share the sheet (Editor) with {who}")
        return SinkUnavailable(f"{what}: access to spreadsheet {spreadsheet_id} denied; share the sheet (Editor) "
                               f"with {who}")

    def run(self, build: Callable[[Any], Any], what: str, spreadsheet_id: str, *,
            landed: Callable[[], bool] | None = None, retries: int | None = None,
            denied: Callable[[int, str], SinkUnavailable] | None = None) -> Any:
        """Execute ``build(service)`` with retries and return its JSON reply.

        Parameters
        ----------
        build : callable
            Resources (``.sheets``, ``.values``) -> an ``HttpRequest`` (rebuilt for each attempt).
        what : str
            Words for logs and errors ("commit", "load state").
        landed : callable, optional
            For writes: after a failure that may have been applied (5xx, lost connection), returns True when the
            write is already in the sheet, which then counts as success instead of being sent twice.
        retries : int, optional
            Overrides ``max_retries`` (0 for a quick check inside another call's retry loop).
        denied : callable, optional
            ``(status, Google's message) -> error`` for 401/403/404 when "share the sheet" is not the remedy
            (creating or sharing an archive).

        Raises
        ------
        SinkUnavailable
            Retries exhausted, access denied, or a request the sheet refuses (e.g. the cell limit).
        """
        from googleapiclient.errors import HttpError
        from httplib2 import HttpLib2Error

        limit = self.max_retries if retries is None else retries
        attempt = 0
        while True:
            self.calls += 1
            try:
                return build(self.service).execute(num_retries=0)
            except HttpError as err:
                status = int(err.resp.status)
                reason = _reason(err)
                if status in (401, 403, 404):
                    raise (denied(status, reason) if denied else self._denied(status, what, spreadsheet_id)) from err
                if status not in _RETRY_STATUSES:
                    raise SinkUnavailable(f"{what}: Sheets refused the request ({status}): {reason}") from err
                retry_after = err.resp.get("retry-after")
                maybe_applied = status != 429
                failure: Exception = err
                message = f"Sheets answered {status}: {reason}"
            except (HttpLib2Error, OSError) as err:  # OSError covers timeouts and refused connections
                retry_after, maybe_applied, failure = None, True, err
                message = f"connection failed: {type(err).__name__}"
            if attempt >= limit:
                raise SinkUnavailable(f"{what}: {message} (gave up after {attempt + 1} attempts)") from failure
            if maybe_applied and landed is not None and self._landed(landed):
                log.info("%s: the reply was lost but the write is in the sheet; not sending it again", what)
                return None
            delay = self._delay(attempt, retry_after)
            log.warning("%s: %s; retry %d/%d in %.1f s", what, message, attempt + 1, limit, delay)
            self.sleep(delay)
            attempt += 1

    def _landed(self, landed: Callable[[], bool]) -> bool:
        try:
            return landed()
        except SinkUnavailable as err:
            log.info("could not check whether the write landed (%s); retrying it", err)
            return False


def _reason(err: Any) -> str:
    reason = getattr(err, "reason", "") or ""
    if not reason:
        try:
            reason = err._get_reason()
        except (AttributeError, ValueError):
            reason = ""
    return str(reason)[:300]
