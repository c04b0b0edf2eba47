"""The simulator's HTTP face: legacy dl_cgi, varserver (/auth, /vars), supervisor info, and /_sim control.

A `ThreadingHTTPServer` on a background thread, bound to 127.0.0.1 (port 0 = pick a free one). Transport
faults are applied here, once per request: hang (accept, never answer, until the server stops), HTTP 500,
HTTP 503 busy, non-JSON garbage, truncated JSON (valid HTTP, Content-Length of the cut body), slow answer.
While the simulated PVS6 is rebooting, connections are closed without an answer.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import control, render
from .clock import SimClock
from .config import SimConfig
from .faults import Fault
from .httpd import PlainOrTlsServer
from .model import Simulator
from .sessions import SessionStore
from .tls import self_signed_context

LOGGER = logging.getLogger(__name__)
UNAUTHORIZED = b'{"status":403,"error":"Unauthorized","path":""}'  # as owners quote it (ha-esunpower#27)
GARBAGE = b"<html><body>\x00\x7f\xfe PVS6 lighttpd: <b>internal</b> \xff\xfe</body></html>\n"


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    server_version = "lighttpd/1.4.53"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        LOGGER.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # ------------------------------------------------------------------ plumbing
    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj).encode())

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            LOGGER.debug("connection already gone")

    def _session_token(self) -> str | None:
        try:
            cookie = SimpleCookie(self.headers.get("Cookie") or "")
        except CookieError:
            return None
        morsel = cookie.get("session")
        return morsel.value if morsel else None

    # ------------------------------------------------------------------ routing
    def _dispatch(self, method: str) -> None:
        owner = self.server.owner
        url = urlsplit(self.path)
        if url.path.startswith("/_sim/"):
            self._control(method, url.path)
            return
        owner.count_request()
        sim = owner.sim
        if not sim.answering(sim.now()):
            self._drop()
            return
        fault = sim.faults.take_transport()
        if fault is not None and self._transport_fault(fault):
            return
        status, body, headers = self._route(method, url.path, url.query)
        if fault is not None and fault.kind == "truncated" and status == 200:
            body = body[: max(1, len(body) // 2)]
        self._send(status, body, headers=headers)

    def _transport_fault(self, fault: Fault) -> bool:
        """Apply a transport fault; True when the request has been fully handled."""
        stop = self.server.owner.stopping
        if fault.kind == "hang":
            stop.wait()
            self._drop()
            return True
        if fault.kind == "slow":
            stop.wait(fault.amount)
            return stop.is_set()
        if fault.kind == "http500":
            self._send(500, b"<html><body><h1>500 Internal Server Error</h1></body></html>", "text/html")
            return True
        if fault.kind == "http503":
            self._send(503, b"<html><body><h1>503 Service Unavailable</h1></body></html>", "text/html",
                       {"Retry-After": "60"})
            return True
        if fault.kind == "garbage":
            self._send(200, GARBAGE, "application/json")
            return True
        return False  # truncated: handled after routing

    def _route(self, method: str, path: str, query: str) -> tuple[int, bytes, dict[str, str]]:
        owner, sim = self.server.owner, self.server.owner.sim
        config = sim.config_at(sim.now())
        api = config.api
        params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        if path.startswith("/cgi-bin/dl_cgi") and sim.refusing_dl_cgi(sim.now(), path):
            return 403, UNAUTHORIZED, {}
        if path == "/cgi-bin/dl_cgi/supervisor/info":
            return 200, render.dumps_dl_cgi(sim.supervisor_info(sim.now())), {}
        if (path == "/cgi-bin/dl_cgi" and params.get("Command") == "DeviceList") or \
                path == "/cgi-bin/dl_cgi/devices/list":
            if api == "varserver" and not owner.sessions.valid(self._session_token()):
                return 403, b'{"result": "forbidden"}', {}
            return 200, render.dumps_dl_cgi(sim.device_list(sim.now())), {}
        if path in ("/auth", "/vars") and api != "dl_cgi" and not owner.plain_varserver and \
                not isinstance(self.connection, ssl.SSLSocket):
            # Like 2025 firmware: the varserver is HTTPS only (pypvs and LocalAPI.md use https://).
            return 403, b'{"error": "the varserver answers over https only"}', {}
        if path == "/auth" and api != "dl_cgi":
            return self._auth(params)
        if path == "/vars" and api != "dl_cgi":
            # fcgi_vars reads the query as it arrives, never percent-decoded: "match=%2Fsys%2F" matches nothing.
            raw = raw_query(query)
            if method == "POST":
                raw.update(raw_query(self._body().decode("utf-8", "replace")))
            return self._vars(raw)
        return 404, b"<html><body><h1>404 Not Found</h1></body></html>", {}

    def _auth(self, params: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        sessions = self.server.owner.sessions
        if "logout" in params:
            sessions.logout(self._session_token())
            return 200, b'{"result": "logged out"}', {"Set-Cookie": "session=; Path=/; Max-Age=0"}
        if "login" not in params:
            return 400, b'{"error": "expected login or logout"}', {}
        if not sessions.check_basic(self.headers.get("Authorization")):
            return 401, b'{"error": "authentication failed"}', {"WWW-Authenticate": 'Basic realm="pvs"'}
        token = sessions.login()
        cookie = f"session={token}; Path=/; HttpOnly" + ("" if self.server.owner.plain_varserver else "; Secure")
        return 200, render.dumps_varserver({"session": token}), {"Set-Cookie": cookie}

    def _vars(self, params: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        owner = self.server.owner
        token = self._session_token()
        if not owner.sessions.valid(token):
            if owner.sessions.expired(token):
                # Field habit: an expired session answers 500, not 401 (pypvs re-logs in on both).
                return 500, b'{"error": "internal error"}', {}
            return 401, b'{"error": "unauthorized"}', {}
        sim = owner.sim
        owner.note_vars_query(params)
        query = owner.cached_query(params.get("cache"), params.get("match"), params.get("name"))
        if query is None:
            return 400, b'{"error": "expected match=, name= or a known cache="}', {}
        kind, value = query
        reading = sim.reading(sim.now())
        if kind == "match":
            values = render.varserver_vars(reading, sim.config_at(reading.at), value)
            if not values:
                # A match that finds nothing (no CT meter, no battery, no inverters after the reboot) is a 400.
                return 400, b'{"error": "no variables match"}', {}
        else:
            named = render.varserver_names(reading, sim.config_at(reading.at), [n for n in value.split(",") if n])
            if named is None:
                # fcgi_vars fails the whole name list when one name is unknown to this firmware.
                return 400, b'{"error": "Bad request"}', {}
            values = named
        obj = values if params.get("fmt") == "obj" else render.as_array(values)
        return 200, render.dumps_varserver(obj), {}

    def _control(self, method: str, path: str) -> None:
        owner = self.server.owner
        try:
            body = json.loads(self._body() or b"{}") if method == "POST" else None
        except json.JSONDecodeError as err:
            self._json(400, {"error": f"bad JSON: {err}"})
            return
        if method == "GET" and path == "/_sim/state":
            self._json(200, control.state(owner.sim, owner.requests_served))
        elif method == "POST" and path == "/_sim/faults":
            self._json(*control.faults(owner.sim, body))
        elif method == "DELETE" and path == "/_sim/faults":
            self._json(200, {"removed": owner.sim.clear_faults()})
        elif method == "POST" and path == "/_sim/clock":
            self._json(*control.clock(owner.sim, body))
        else:
            self._json(404, {"error": "unknown control endpoint"})


def raw_query(query: str) -> dict[str, str]:
    """``a=1&b=x,y`` -> {"a": "1", "b": "x,y"}, split like fcgi_vars does (on ``&`` and the first ``=``), undecoded."""
    out: dict[str, str] = {}
    for part in query.split("&"):
        key, sep, value = part.partition("=")
        if key:
            out[key] = value if sep else ""
    return out


class _HttpServer(PlainOrTlsServer):
    owner: SimServer


class SimServer:
    """A running simulator: `url`, `sim` (the model), `requests_served`; stop with `close()` or `with`.

    Parameters
    ----------
    sim : Simulator
        The model to serve.
    host : str, default "127.0.0.1"
    port : int, default 0
        0 picks a free port.
    tls : bool or None, default None
        Serve HTTPS with an ephemeral self-signed certificate beside plain HTTP on the same port (then ``url`` is
        the ``https://`` address). None = as the firmware does: HTTPS whenever it has a varserver (``api`` is
        ``varserver`` or ``both``), none for old ``dl_cgi``-only firmware.
    plain_varserver : bool, default False
        Let the varserver (/auth, /vars) answer over plain HTTP too, with a cookie not marked ``Secure``. Real
        2025 firmware does not (it answers HTTPS only, and its cookie is ``Secure``): only for tests that need
        a plain-HTTP varserver.
    monotonic : callable, optional
        Real-seconds source for session expiry (inject a fake in tests).
    """

    def __init__(self, sim: Simulator, host: str = "127.0.0.1", port: int = 0, tls: bool | None = None,
                 plain_varserver: bool = False, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.sim = sim
        self.tls = sim.config.api != "dl_cgi" if tls is None else tls
        self.plain_varserver = plain_varserver
        if sim.config.api != "dl_cgi" and not self.tls and not plain_varserver:
            raise ValueError("a varserver without HTTPS answers nothing: pass tls=None/True, or plain_varserver=True")
        self.stopping = threading.Event()
        self.sessions = SessionStore(sim.identity.password, sim.config.session_ttl_s, monotonic)
        self._lock = threading.Lock()
        self._served = 0
        self._caches: dict[str, tuple[str, str]] = {}
        self._vars_queries: list[dict[str, str]] = []
        self._httpd = _HttpServer((host, port), _Handler)
        self._httpd.owner = self
        if self.tls:
            self._httpd.tls_context = self_signed_context()
        bound_host, bound_port = self._httpd.server_address[:2]
        self.url = f"{'https' if self.tls else 'http'}://{bound_host}:{bound_port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="pvs6-sim", daemon=True)
        self._thread.start()
        LOGGER.info("PVS6 simulator listening on %s (api=%s)", self.url, sim.config.api)

    @property
    def vars_queries(self) -> list[dict[str, str]]:
        """The parameters of every authorised ``/vars`` request so far, in order (what a client asked)."""
        with self._lock:
            return list(self._vars_queries)

    def note_vars_query(self, params: dict[str, str]) -> None:
        """Remember one ``/vars`` request's parameters (called by the handler)."""
        with self._lock:
            self._vars_queries.append(dict(params))
            del self._vars_queries[:-1000]

    @property
    def requests_served(self) -> int:
        """Requests to the PVS endpoints so far (control endpoints excluded)."""
        with self._lock:
            return self._served

    def count_request(self) -> None:
        """Count one PVS request (called by the handler)."""
        with self._lock:
            self._served += 1

    def cached_query(self, cache: str | None, match: str | None, name: str | None) -> tuple[str, str] | None:
        """Resolve a varserver query, remembering it under `cache` like the real `cache=` parameter."""
        query = ("match", match) if match is not None else ("name", name) if name is not None else None
        with self._lock:
            if query is not None and cache:
                self._caches[cache] = query
            return query if query is not None else self._caches.get(cache or "")

    def close(self) -> None:
        """Stop serving; hung and slow requests are released, so this returns promptly."""
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5.0)
        LOGGER.info("PVS6 simulator on %s stopped", self.url)

    def __enter__(self) -> SimServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def run_simulator(config: SimConfig | None = None, *, host: str = "127.0.0.1", port: int = 0,
                  tls: bool | None = None, plain_varserver: bool = False, speed: float = 0.0,
                  monotonic: Callable[[], float] = time.monotonic) -> Iterator[SimServer]:
    """Serve a simulator for the duration of a `with` block.

    Parameters
    ----------
    config : SimConfig, optional
        The site (default: the seed's system).
    host, port : where to listen (port 0 = any free port).
    tls : bool or None
        HTTPS with a self-signed certificate; None = whenever the firmware has a varserver (see `SimServer`).
    plain_varserver : bool
        The varserver answers over plain HTTP too (not like the field; see `SimServer`).
    speed : float
        Simulated seconds per real second; 0 (default) = manual clock driven by `server.sim.clock`.
    monotonic : callable
        Real-seconds source for session expiry.

    Yields
    ------
    SimServer
        With `.url` (no trailing slash) and `.sim` (the `Simulator`).
    """
    config = config or SimConfig()
    sim = Simulator(config, SimClock(config.start, speed=speed))
    server = SimServer(sim, host=host, port=port, tls=tls, plain_varserver=plain_varserver, monotonic=monotonic)
    try:
        yield server
    finally:
        server.close()


__all__ = ["SimServer", "run_simulator"]
