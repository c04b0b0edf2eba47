"""PVS6 client: fetch one raw answer, gently, in either API style.

- ``dl_cgi``: the legacy ``GET /cgi-bin/dl_cgi?Command=DeviceList`` (seconds per answer on a busy PVS6).
- ``varserver``: firmware build 61840 and later. ``GET /auth?login`` with Basic ``ssm_owner:<serial_last5>`` sets a
  session cookie; then ``GET /vars?name=<the PVS6 and livedata variables the parser reads>&fmt=obj`` and one
  ``GET /vars?match=/sys/devices/&fmt=obj`` (every inverter, meter, battery and transfer switch, in the current
  ``/sys/devices/inverter/<i>/<field>`` layout or the early ``/sys/devices/<n>/inverter/data`` one), one at a
  time, and ``GET /auth?logout`` at the end. The answers are merged into one JSON object: packaging, not
  parsing. Wi-Fi details (SSID, key, MAC addresses) are dropped on the way, whoever asked for them.

Field habits (pypvs, its doc/LocalAPI.md, and fcgi_vars, the varserver's open-source FastCGI front; see
docs/firmware.md): the varserver speaks HTTPS only and marks its cookie ``Secure``, so the varserver style always
uses ``https://`` on the configured host; the query is sent as written (``/`` and ``,`` unescaped, as pypvs and
LocalAPI.md's curl examples do: fcgi_vars reads it raw, and ``%2F`` would match nothing); a match that finds
nothing, or a name list holding a name this firmware lacks, answers HTTP 400, which means "nothing there", not a
failed reading; an expired session may answer 401, 500 or an empty 200, and each renews the session once per
run, never in a loop. No ``cache=``: a cached match keeps the variables found when it was made (fcgi_vars caches
handles), so panels that reappear after the nightly restart would stay missing.

Every request has a hard deadline of ``pvs.timeout_s`` for the whole body and a size cap (`pvs6_edge.pvs_http`).
The edge only checks that the body is a JSON object; the cloud parses.
HTTPS on the PVS6 uses a self-signed certificate: verification is off for the PVS6's requests only (this client
talks to nothing else), and only that host's ``InsecureRequestWarning`` is silenced.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import warnings
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import InsecureRequestWarning

from pvs6_edge.clock import Clock
from pvs6_edge.config import PvsConfig
from pvs6_edge.errors import (
    PvsAuthError,
    PvsBadResponse,
    PvsError,
    PvsLoginDemanded,
    PvsRefusing,
    PvsUnavailable,
    PvsWrongApi,
)
from pvs6_edge.pvs_http import check_answer, get_answer, https
from pvs6_edge.tls import mount_unverified

__all__ = ["VARSERVER_MIN_BUILD", "Fetched", "PvsClient"]

log = logging.getLogger(__name__)

VARSERVER_MIN_BUILD = 61840
_USER = "ssm_owner"
# Wi-Fi and network identity the PVS6 serves (/sys/info/ (ssid, wpa_key, lmac, active_interface_mac):
# never wanted, and dropped by the last path segment, so any future "*_mac" or "*ssid*" goes too.
_PRIVATE_LEAF = re.compile(r"ssid|wpa|psk|passw|mac$", re.IGNORECASE)


class Fetched(NamedTuple):
    """One raw PVS6 answer and the API style (``dl_cgi`` | ``varserver``) it came from."""

    source: str
    raw: bytes


class PvsClient:
    """Talks to one PVS6 over one ``requests.Session`` (the caller owns and closes the session).

    Parameters
    ----------
    session : requests.Session
        Used for every request, one at a time; holds the varserver cookie.
    cfg : PvsConfig
        Base URL, timeout [s], password, match prefixes, body cap [bytes].
    clock : Clock
        Monotonic clock for deadlines.
    """

    def __init__(self, session: requests.Session, cfg: PvsConfig, clock: Clock) -> None:
        self._session = session
        self._cfg = cfg
        self._clock = clock
        self._base = cfg.url.rstrip("/")
        self._varserver_base = https(self._base)
        self._renewed = False
        self._logged_in = False
        self._info: dict[str, Any] | None = None
        self._has_varserver: bool | None = None
        self.requests_made = 0
        # The PVS6's certificate is self-signed: no verification, and silence the warning for this host only.
        host = urlsplit(self._base).hostname or ""
        warnings.filterwarnings("ignore", category=InsecureRequestWarning, message=rf".*'{re.escape(host)}'")
        mount_unverified(session, self._varserver_base)

    def fetch(self, api: str, remembered: str | None = None) -> Fetched:
        """Fetch one answer with ``api`` (``auto`` uses ``remembered``, else detects, else tries both).

        Parameters
        ----------
        api : str
            ``auto``, ``dl_cgi`` or ``varserver``.
        remembered : str or None
            The style that worked last time (auto only).

        Returns
        -------
        Fetched
            The raw answer and its source.

        Raises
        ------
        PvsError
            Any failure; ``PvsUnavailable`` when the PVS6 is down or busy (``PvsRefusing`` when old firmware
            refuses dl_cgi in a fit), ``PvsAuthError`` for a bad password.
        """
        if api != "auto":
            return self._dl_cgi(switch=False) if api == "dl_cgi" else self._fetch_style(api)
        style: str | None = None
        if remembered in ("dl_cgi", "varserver"):
            try:
                return self._dl_cgi() if remembered == "dl_cgi" else self._fetch_style(remembered)
            except (PvsWrongApi, PvsBadResponse) as err:
                # A firmware update may turn dl_cgi into a 404, a 401 or a 200 HTML login page: ask the
                # (cheap) firmware build; a garbled answer from a busy PVS6 costs no second full request.
                style = self.detect_api()
                if style == remembered or (style is None and isinstance(err, PvsBadResponse)):
                    raise
                log.warning("PVS6 no longer serves %s (%s); detecting the API again", remembered, err)
        else:
            style = self.detect_api()
        if style is not None:
            return self._dl_cgi() if style == "dl_cgi" else self._fetch_style(style)
        try:
            return self._dl_cgi()
        except PvsWrongApi as err:
            log.info("dl_cgi refused (%s); trying varserver", err)
            return self._fetch_style("varserver")

    def _dl_cgi(self, switch: bool = True) -> Fetched:
        """The DeviceList; a 401/403 is judged by whether this PVS6 has a varserver at all.

        New firmware refuses dl_cgi because it wants the varserver login (then ``switch`` moves to it). Old
        firmware (no varserver) also answers ``{"status":403,"error":"Unauthorized"}`` now and then until it
        is power-cycled (ha-esunpower#27, #35; hass-sunpower#110): that is a fit, never a firmware change.
        """
        try:
            return self._fetch_style("dl_cgi")
        except PvsLoginDemanded as err:
            if not self.has_varserver():
                build = (self.supervisor_info() or {}).get("BUILD")
                firmware = f"firmware build {build}" if build is not None else "its firmware"
                raise PvsRefusing(f"dl_cgi refused the Pi ({err}) although {firmware} has no varserver to log in "
                                  "to: old PVS6 firmware does this now and then until it is restarted; the Pi "
                                  "keeps asking dl_cgi") from err
            if not switch:
                raise PvsWrongApi(f"{err}, and this PVS6 has the varserver: set pvs.api = \"auto\"") from err
            log.warning("dl_cgi demands a login (%s) and the PVS6 has the varserver: its firmware was updated; "
                        "using varserver", err)
            return self._fetch_style("varserver")

    def has_varserver(self) -> bool:
        """Whether the PVS6 serves the varserver, asked of the PVS6 itself rather than guessed from its build.

        An unauthenticated ``/auth?login`` answers 401 (or 400) where the varserver exists, and 404 or nothing
        at all (old firmware does not listen on HTTPS) where it does not. Build 61840 is where LocalAPI.md
        says it starts, but owners' PVS6s at 61839 and 61840 disagree; the answer settles it.
        """
        if self._has_varserver is None:
            try:
                status, _ = self._get("/auth?login", None, None, "varserver")
            except PvsUnavailable as err:
                log.info("no varserver answers on this PVS6 (%s)", err)
                status = 404
            self._has_varserver = status != 404
        return self._has_varserver

    def detect_api(self) -> str | None:
        """Ask the unauthenticated supervisor/info for the firmware BUILD; None when it does not say."""
        info = self.supervisor_info()
        build = info.get("BUILD") if info else None
        try:
            number = int(build) if build is not None else None
        except (TypeError, ValueError):
            number = None
        if number is None:
            return None
        style = "varserver" if number >= VARSERVER_MIN_BUILD else "dl_cgi"
        log.info("PVS6 firmware build %d: using %s", number, style)
        return style

    def supervisor_info(self) -> dict[str, Any] | None:
        """The ``supervisor`` object of ``/cgi-bin/dl_cgi/supervisor/info``, or None if unavailable."""
        if self._info is None:
            try:
                doc = self._get_json("/cgi-bin/dl_cgi/supervisor/info", None, None)
            except (PvsWrongApi, PvsBadResponse) as err:
                log.info("supervisor/info does not tell the firmware build (%s)", err)
                doc = {}
            sup = doc.get("supervisor")
            self._info = sup if isinstance(sup, dict) else {}
        return self._info or None

    def _fetch_style(self, style: str) -> Fetched:
        if style == "dl_cgi":
            doc_raw = self._get_raw("/cgi-bin/dl_cgi", {"Command": "DeviceList"}, None, style)
            return Fetched("dl_cgi", doc_raw)
        return Fetched("varserver", self._fetch_varserver())

    def _fetch_varserver(self) -> bytes:
        from pvs6_parse.varserver import QUERY_NAMES  # only a varserver run pays for the import

        self._login()
        merged: dict[str, Any] = {}
        try:
            merged.update(self._named(QUERY_NAMES))
            for prefix in self._cfg.varserver_matches:
                merged.update(self._vars(f"match={prefix}") or {})
        finally:
            self._logout()
        merged = {name: value for name, value in merged.items() if not _private(name)}
        if not merged:
            raise PvsBadResponse("varserver: every question answered empty (HTTP 400); nothing to keep")
        return json.dumps(merged, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def _named(self, groups: Mapping[str, tuple[str, ...]]) -> dict[str, Any]:
        """The named variables in one request; group by group, then name by name, when the PVS6 lacks one.

        fcgi_vars answers 400 to the whole name list when any one name is unknown to this firmware (an older
        build without ``/sys/pvs/flashwear_type_b``, say), so one missing name must not cost the others.
        """
        everything = [name for names in groups.values() for name in names]
        found = self._vars("name=" + ",".join(everything))
        if found is not None:
            return found
        log.info("varserver lacks some of the %d named variables (HTTP 400); asking group by group", len(everything))
        merged: dict[str, Any] = {}
        for group, names in groups.items():
            found = self._vars("name=" + ",".join(names))
            if found is None and len(names) > 1:
                found = {}
                for name in names:
                    found.update(self._vars("name=" + name) or {})
                missing = [name for name in names if name not in found]
                log.info("varserver has no %s variable(s) %s", group, ", ".join(missing))
            merged.update(found or {})
        return merged

    def _vars(self, query: str) -> dict[str, Any] | None:
        """One ``/vars`` question; None when the PVS6 says there is nothing there (HTTP 400)."""
        path = f"/vars?{query}&fmt=obj"
        status, body = self._get(path, None, None, "varserver")
        if _dead_session(status, body) and not self._renewed:
            # pypvs logs in again on 401 and 500; owners also see an empty 200 from a dead session.
            self._renewed = True
            log.info("varserver session looks expired (HTTP %d%s); logging in again (once)", status,
                     ", empty body" if status == 200 else "")
            self._login()
            status, body = self._get(path, None, None, "varserver")
        if status == 400:
            log.info("varserver has nothing for %s (HTTP 400): that class is empty now", _shorten(query))
            return None
        if status == 200 and _empty(body):
            raise PvsUnavailable(f"PVS6 busy: empty answer to /vars?{_shorten(query)} even after a fresh login")
        doc: dict[str, Any] = json.loads(check_answer("/vars", status, body, "varserver"))
        return doc

    def _logout(self) -> None:
        """End the session (LocalAPI.md ``/auth?logout``); a failure here never costs the reading."""
        if not self._logged_in:
            return
        self._logged_in = False
        try:
            status, _ = self._get("/auth?logout", None, None, "varserver")
        except PvsError as err:
            log.info("varserver logout failed (%s); the session will expire by itself", err)
            return
        if status != 200:
            log.info("varserver logout answered HTTP %d; the session will expire by itself", status)

    def _login(self) -> None:
        password = self._cfg.serial_last5
        if password is None:
            serial = (self.supervisor_info() or {}).get("SERIAL")
            if not isinstance(serial, str) or len(serial) < 5:
                raise PvsAuthError("pvs.serial_last5 is not set and the PVS6 did not report its serial")
            password = serial[-5:]
        token = base64.b64encode(f"{_USER}:{password}".encode()).decode("ascii")
        try:
            doc = self._get_json("/auth?login", None, {"Authorization": f"basic {token}"}, style="varserver")
        except PvsAuthError as err:
            raise PvsAuthError(f"varserver login refused ({err}): check pvs.serial_last5") from err
        self._logged_in = True
        if "session" not in self._session.cookies and isinstance(doc.get("session"), str):
            self._session.cookies.set("session", doc["session"])

    def _get_json(self, path: str, params: dict[str, str] | None, headers: dict[str, str] | None,
                  style: str = "dl_cgi") -> dict[str, Any]:
        body = self._get_raw(path, params, headers, style)
        return json.loads(body)

    def _get_raw(self, path: str, params: dict[str, str] | None, headers: dict[str, str] | None,
                 style: str) -> bytes:
        """GET and return the body once it is known to be a JSON object."""
        status, body = self._get(path, params, headers, style)
        return check_answer(path, status, body, style)

    def _get(self, path: str, params: dict[str, str] | None, headers: dict[str, str] | None,
             style: str) -> tuple[int, bytes]:
        url = (self._varserver_base if style == "varserver" else self._base) + path
        self.requests_made += 1
        return get_answer(self._session, url, path, params, headers, timeout_s=self._cfg.timeout_s,
                          max_body_bytes=self._cfg.max_body_bytes, base=self._base)


def _private(name: str) -> bool:
    """Whether a varserver variable names Wi-Fi or network identity (``/sys/info/ssid``, ``.../lmac``, ...)."""
    return bool(_PRIVATE_LEAF.search(name.rsplit("/", 1)[-1]))


def _shorten(query: str) -> str:
    return query if len(query) <= 80 else query[:77] + "..."


def _empty(body: bytes) -> bool:
    return body.strip() in (b"", b"{}", b"[]")


def _dead_session(status: int, body: bytes) -> bool:
    """Whether a /vars answer is how a dead session looks in the field: 401/403, 500-class, or an empty 200."""
    return status in (401, 403) or status >= 500 or (status == 200 and _empty(body))
