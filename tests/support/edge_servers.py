"""Loopback servers for the edge's fault tests: a misbehaving PVS6 and a fake ingest that checks the contract.

Both bind 127.0.0.1 port 0 in a thread and are context managers; behaviour is switched by plain attributes
while they run (``pvs.mode = "hang"``, ``ingest.mode = "503"``). They speak real HTTP over real sockets, so the
edge's timeouts, truncated reads and connection errors are exercised for real.
"""

from __future__ import annotations

import base64
import email.utils
import functools
import gzip
import hashlib
import hmac
import json
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from pvs6_sim.httpd import PlainOrTlsServer
from pvs6_sim.tls import self_signed_context

PVS_MODES = ("ok", "hang", "500", "503", "truncated", "garbage", "slow", "array")


def device_list(n_inverters: int = 12, seq: int = 0) -> bytes:
    """A DeviceList in the seed's shape (PVS, two meters, inverters); ``seq`` makes each answer unique."""
    devices: list[dict[str, Any]] = [{
        "DETAIL": "detail", "STATE": "working", "SERIAL": "ZT1PVS6M12345678", "MODEL": "PV Supervisor PVS6",
        "SWVER": "2025.06, Build 61839", "DEVICE_TYPE": "PVS", "dl_uptime": str(37 + seq),
        "CURTIME": "2025,09,12,21,21,15",
    }]
    for kind in ("p", "c"):
        devices.append({"SERIAL": f"PVS6M12345678{kind}", "TYPE": f"PVS5-METER-{kind.upper()}",
                        "DEVICE_TYPE": "Power Meter", "STATE": "working",
                        "net_ltea_3phsum_kwh": f"{27692.41 + seq * 0.01:.2f}", "p_3phsum_kw": "0.2948"})
    for i in range(n_inverters):
        devices.append({"SERIAL": f"E00{123456789 + i}", "TYPE": "SOLARBRIDGE", "DEVICE_TYPE": "Inverter",
                        "STATE": "working", "MODEL": "AC_Module_Type_E",
                        "ltea_3phsum_kwh": f"{2696.2471 + seq * 0.001 + i:.4f}", "p_3phsum_kw": "0.21",
                        "DATATIME": "2025,09,12,21,12,42"})
    return json.dumps({"devices": devices, "result": "succeed", "seq": seq}, indent=1).encode()


@functools.cache
def _pvs_tls_context() -> ssl.SSLContext:
    return self_signed_context()


class FakePvs:
    """A PVS6 on loopback: dl_cgi DeviceList, supervisor/info, and varserver auth + vars.

    Attributes to steer it: ``mode`` (one of PVS_MODES), ``build`` (firmware BUILD reported by supervisor/info,
    None for 404), ``password``, ``delay_s`` (for ``slow``), ``dl_cgi_needs_auth`` (401),
    ``dl_cgi_login_page`` (200 with an HTML login page), ``expire_after_vars`` (the
    session expires once after that many ``/vars`` requests, answering ``expired_status`` [HTTP, 401 by default;
    200 means an empty 200] on that request). A match that finds nothing answers 400, like the field.
    Counters: ``requests`` (list of paths), ``schemes``, ``max_concurrent``, ``logins``, ``logouts``.
    ``on_request`` (a callable taking
    the path) runs before each answer: a test changes the Pi's disk while the edge is in the middle of a run.
    """

    def __init__(self, build: int | None = 61839, password: str = "A1234") -> None:
        self.mode = "ok"
        self.build = build
        self.password = password
        self.delay_s = 0.0
        self.dl_cgi_needs_auth = False
        self.dl_cgi_login_page = False
        self.expire_after_vars: int | None = None
        self.expired_status = 401
        self.on_request: Any = None
        self.requests: list[str] = []
        self.schemes: dict[str, list[str]] = {}  # path -> "http" | "https" per request
        self.logins = 0
        self.logouts = 0
        self.max_concurrent = 0
        self._active = 0
        self._seq = 0
        self._sessions: set[str] = set()
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server = PlainOrTlsServer(("127.0.0.1", 0), self._handler())
        self._server.tls_context = _pvs_tls_context()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakePvs:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def expire_sessions(self) -> None:
        """Forget every varserver session, as the PVS6 does after 5 to 8 minutes."""
        with self._lock:
            self._sessions.clear()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        pvs = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                with pvs._lock:
                    pvs._active += 1
                    pvs.max_concurrent = max(pvs.max_concurrent, pvs._active)
                    pvs.requests.append(self.path)
                    scheme = "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
                    pvs.schemes.setdefault(urlsplit(self.path).path, []).append(scheme)
                if pvs.on_request is not None:
                    pvs.on_request(self.path)
                try:
                    pvs._serve(self)
                finally:
                    with pvs._lock:
                        pvs._active -= 1

        return Handler

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        if self.mode == "hang":
            self._release.wait(30)
            h.close_connection = True
            return
        if self.mode in ("500", "503"):
            return _send(h, int(self.mode), b"busy")
        if url.path == "/cgi-bin/dl_cgi/supervisor/info":
            if self.build is None:
                return _send(h, 404, b"not found")
            info = {"supervisor": {"SERIAL": "ZT01234567800A1234", "BUILD": self.build, "MODEL": "PVS6"}}
            return _send(h, 200, json.dumps(info).encode())
        if url.path == "/cgi-bin/dl_cgi":
            if self.dl_cgi_needs_auth:
                return _send(h, 401, b"login required")
            if self.dl_cgi_login_page:
                return _send(h, 200, _LOGIN_PAGE, {"Content-Type": "text/html"})
            with self._lock:
                self._seq += 1
                body = device_list(seq=self._seq)
            return self._body(h, body)
        if url.path == "/auth" and "logout" in url.query:
            with self._lock:
                self.logouts += 1
            return _send(h, 200, b'{"result":"logged out"}')
        if url.path == "/auth":
            return self._login(h)
        if url.path == "/vars":
            with self._lock:
                if self.expire_after_vars is not None:
                    self.expire_after_vars -= 1
                    if self.expire_after_vars < 0:
                        self.expire_after_vars = None
                        self._sessions.clear()
            if not self._session_ok(h):
                if self.expired_status == 200:
                    return _send(h, 200, b"")
                return _send(h, self.expired_status, b'{"error":"unauthorized"}')
            query = dict(part.partition("=")[::2] for part in url.query.split("&"))  # undecoded, like fcgi_vars
            if "name" in query:
                names = query["name"].split(",")
                data = {k: _VARS[k] for k in names} if all(k in _VARS for k in names) else {}
            else:
                data = {k: v for k, v in _VARS.items() if query.get("match", "\0") in k}
            if not data:
                return _send(h, 400, b'{"error":"no variables match"}')
            return self._body(h, json.dumps(data).encode())
        return _send(h, 404, b"not found")

    def _body(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        if self.mode == "garbage":
            return _send(h, 200, b"<html>Server busy \x00\xff</html>")
        if self.mode == "array":
            return _send(h, 200, b"[1, 2, 3]")
        if self.mode == "truncated":
            h.send_response(200)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body[: len(body) // 2])
            h.wfile.flush()
            h.close_connection = True
            return None
        if self.mode == "slow":
            h.send_response(200)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            step = max(1, len(body) // 10)
            for i in range(0, len(body), step):
                if self._release.wait(self.delay_s / 10):
                    return None
                try:
                    h.wfile.write(body[i:i + step])
                    h.wfile.flush()
                except OSError:
                    return None
            return None
        return _send(h, 200, body)

    def _login(self, h: BaseHTTPRequestHandler) -> None:
        expected = base64.b64encode(f"ssm_owner:{self.password}".encode()).decode()
        given = h.headers.get("Authorization", "")
        if given.lower() != f"basic {expected}".lower() or given.split(" ", 1)[-1] != expected:
            return _send(h, 401, b'{"error":"bad credentials"}')
        token = hashlib.sha256(f"{time.time()}{self.logins}".encode()).hexdigest()
        with self._lock:
            self.logins += 1
            self._sessions.add(token)
        return _send(h, 200, json.dumps({"session": token}).encode(), {"Set-Cookie": f"session={token}; Path=/"})

    def _session_ok(self, h: BaseHTTPRequestHandler) -> bool:
        cookie = h.headers.get("Cookie", "")
        tokens = {part.split("=", 1)[1] for part in cookie.split("; ") if part.startswith("session=")}
        with self._lock:
            return bool(tokens & self._sessions)


_LOGIN_PAGE = b"<!DOCTYPE html><html><head><title>Login</title></head><body><form>...</form></body></html>"

_VARS: dict[str, str] = {
    "/sys/info/serialnum": "ZT01234567800A1234", "/sys/info/sw_rev": "2025.09.04.61845",
    "/sys/info/wpa_key": "SECRETKEY", "/sys/info/uptime": "31371.70", "/sys/info/ssid": "SunPower12345",
    "/sys/info/model": "PVS6", "/sys/info/hwrev": "6.02", "/sys/info/flash_usage": "12",
    "/sys/pvs/flashwear_type_b": "0x02",
    "/sys/devices/inverter/0/sn": "E00123456789", "/sys/devices/inverter/0/p3phsumKw": "0.21",
    "/sys/devices/inverter/1/sn": "E00123456790", "/sys/devices/inverter/1/p3phsumKw": "0.20",
    "/sys/devices/meter/0/sn": "PVS6M12345678p", "/sys/devices/meter/0/p3phsumKw": "0.41",
    "/sys/livedata/pv_p": "0.41", "/sys/livedata/time": "1757711475",
    **{f"/sys/livedata/{name}": "0.0" for name in ("pv_en", "net_p", "net_en", "site_load_p", "site_load_en")},
    **{f"/sys/livedata/{name}": "nan" for name in ("ess_p", "ess_en", "soc")},
    "/sys/pvs/usb_erase_count": "3",
}


def _send(h: BaseHTTPRequestHandler, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
    h.send_response(code)
    h.send_header("Content-Length", str(len(body)))
    for key, value in (headers or {}).items():
        h.send_header(key, value)
    h.end_headers()
    try:
        h.wfile.write(body)
    except OSError:
        return


class FakeIngest:
    """The cloud's ingest on loopback, checking the upload contract strictly (HMAC, gzip, limits, schema).

    Steer with ``mode`` ("ok", "503", "429", or any other status code, answered to every request) and
    ``retry_after`` (header value for 429/503), ``reject`` (a set of sha256: a batch holding one gets a 400),
    ``fail`` (a set of sha256: a batch holding one gets a 500, as a reading that trips a bug in the cloud would;
    ``fail_snapshots`` True: every batch holding any snapshot does, while heartbeats alone go through),
    ``unacknowledged`` (a set of sha256 answered 200 but left out of the acknowledgement), ``clock`` (callable
    giving unix seconds for the skew check and the ``Date`` header of every answer, as the real cloud's own
    clock), ``send_date`` (False: answers carry no ``Date``, as behind an odd proxy).
    Records ``snapshots`` (in arrival order, first arrival only), ``arrivals`` (every sha256 received),
    ``heartbeats`` (status of every accepted request), ``requests`` and ``bytes``.
    """

    def __init__(self, site: str, secret: str, clock: Any = time.time) -> None:
        self.site = site
        self.secret = secret
        self.clock = clock
        self.send_date = True
        self.mode = "ok"
        self.retry_after: str | None = None
        self.reject: set[str] = set()
        self.fail: set[str] = set()
        self.fail_snapshots = False
        self.unacknowledged: set[str] = set()
        self.snapshots: list[dict[str, Any]] = []
        self.arrivals: list[str] = []
        self.heartbeats: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.requests = 0
        self.bytes = 0
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._server: PlainOrTlsServer | None = None
        self._port = 0
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/ingest"

    def start(self) -> None:
        """(Re)start listening on the same port."""
        self._server = PlainOrTlsServer(("127.0.0.1", self._port), self._handler())
        self._port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        """Stop listening: the edge then meets 'connection refused'."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeIngest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        ingest = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def date_time_string(self, timestamp: float | None = None) -> str:
                return email.utils.formatdate(ingest.clock() if timestamp is None else timestamp, usegmt=True)

            def send_header(self, keyword: str, value: str) -> None:
                if keyword.lower() != "date" or ingest.send_date:
                    super().send_header(keyword, value)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                code, reply, headers = ingest._handle(self.path, dict(self.headers.items()), body)
                _send(self, code, json.dumps(reply).encode(), headers)

        return Handler

    def _handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            self.requests += 1
            self.bytes += len(body)
            extra = {"Retry-After": self.retry_after} if self.retry_after else {}
            if self.mode == "503":
                return 503, {"error": "down"}, extra
            if self.mode == "429":
                return 429, {"error": "slow down"}, extra
            if self.mode.isdigit():  # e.g. "403": the function's IAM refuses every request, "404": wrong URL
                return int(self.mode), {"error": f"HTTP {self.mode}"}, {}
            problem = self._check(path, headers, body)
            if problem:
                self.errors.append(problem)
                return problem_code(problem), {"error": problem}, {}
            doc = json.loads(gzip.decompress(body))
            shas = [s["sha256"] for s in doc["snapshots"]]
            if self.reject & set(shas):
                return 400, {"error": "snapshot refused"}, {}
            if self.fail & set(shas) or (self.fail_snapshots and shas):
                return 500, {"error": "internal error"}, {}
            accepted, duplicates = [], []
            for snap in doc["snapshots"]:
                if snap["sha256"] in self.unacknowledged:
                    continue
                self.arrivals.append(snap["sha256"])
                if snap["sha256"] in self._seen:
                    duplicates.append(snap["sha256"])
                    continue
                self._seen.add(snap["sha256"])
                self.snapshots.append(snap)
                accepted.append(snap["sha256"])
            self.heartbeats.append(doc["edge"]["status"])
            return 200, {"accepted": accepted, "duplicates": duplicates}, {}

    def _check(self, path: str, headers: dict[str, str], body: bytes) -> str | None:
        if path != "/ingest":
            return "404 wrong path"
        if headers.get("Content-Encoding") != "gzip":
            return "400 not gzip"
        if len(body) > 1024 * 1024:
            return "413 body over 1 MiB"
        ts = headers.get("X-Sentinel-Timestamp", "")
        sig = headers.get("X-Sentinel-Signature", "")
        if not ts.isdigit() or abs(int(ts) - self.clock()) > 300:
            return "401 stale timestamp"
        good = "sha256=" + hmac.new(self.secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(good, sig):
            return "401 bad signature"
        try:
            plain = gzip.decompress(body)
            doc = json.loads(plain)
        except (OSError, ValueError):
            return "400 body is not gzip JSON"
        if len(plain) > 16 * 1024 * 1024:
            return "413 decompressed over 16 MiB"
        if doc.get("schema") != 1 or doc.get("site") != self.site or headers.get("X-Sentinel-Site") != self.site:
            return "400 schema or site wrong"
        snaps = doc.get("snapshots")
        if not isinstance(snaps, list) or len(snaps) > 500 or "status" not in doc.get("edge", {}):
            return "400 snapshots or edge status missing"
        for snap in snaps:
            if set(snap) != {"captured_at", "source", "sha256", "payload"} or snap["source"] not in (
                    "dl_cgi", "varserver"):
                return "400 snapshot fields wrong"
        return None


def problem_code(problem: str) -> int:
    """The HTTP status at the start of a problem text ("401 bad signature" -> 401)."""
    return int(problem.split(" ", 1)[0])


@contextmanager
def pvs_and_ingest(site: str, secret: str, clock: Any = time.time) -> Iterator[tuple[FakePvs, FakeIngest]]:
    """Both servers at once."""
    with FakePvs() as pvs, FakeIngest(site, secret, clock) as ingest:
        yield pvs, ingest


class FakeClock:
    """An injectable clock: ``time()`` is settable wall time, ``monotonic()`` follows real time (for deadlines)."""

    def __init__(self, start: float = 1_757_711_475.0) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return time.monotonic()

    def advance(self, seconds: float) -> None:
        self.now += seconds


SECRET = "0123456789abcdef-test-secret"


def write_config(folder: Any, pvs_url: str, cloud_url: str, **extra: Any) -> Any:
    """Write an edge TOML into ``folder`` (a pathlib.Path); ``extra`` maps "section.key" to a TOML literal."""
    sections: dict[str, dict[str, str]] = {
        "pvs": {"url": json.dumps(pvs_url), "timeout_s": "2", "min_interval_s": "60"},
        "cloud": {"url": json.dumps(cloud_url), "site": '"home"', "secret": json.dumps(SECRET),
                  "timeout_s": "2", "backoff_base_s": "300"},
        "storage": {"dir": '"data"'},
    }
    for dotted, literal in extra.items():
        section, key = dotted.split(".", 1)
        if literal is None:
            sections[section].pop(key, None)
        else:
            sections.setdefault(section, {})[key] = literal
    text = "\n".join(f"[{name}]\n" + "\n".join(f"{k} = {v}" for k, v in keys.items()) + "\n"
                     for name, keys in sections.items())
    path = folder / "edge.toml"
    path.write_text(text)
    return path
