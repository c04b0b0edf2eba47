"""A PVS6 on loopback for the edge's fault tests: DeviceList, supervisor/info and the varserver, misbehaving on cue.

It answers what the edge asks a real PVS6 (see ``pvs6_edge.pvs`` and docs/firmware.md): the legacy
``/cgi-bin/dl_cgi?Command=DeviceList`` in the seed's shape, ``/cgi-bin/dl_cgi/supervisor/info`` with the firmware
BUILD, and the varserver of the 2025 firmware (``/auth?login`` with HTTP Basic ``ssm_owner`` and the serial's last
five characters, a session cookie, ``/vars?match=`` or ``?name=`` read raw as fcgi_vars reads them, 400 when nothing
matches, ``/auth?logout``). Sessions expire on cue, answering 401, 500 or an empty 200 (``expired_status``), as
field PVS6s do. It serves plain HTTP and HTTPS with a self-signed certificate on one port, so the edge's switch to
``https://`` for the varserver lands on it too (``schemes`` records which each request used). ``mode`` makes it
hang, answer 500/503, cut the body short, send garbage or a JSON array, or trickle it slowly, so the edge's
timeouts, truncated reads and refusals are met over real sockets.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from pvs6_sim.httpd import PlainOrTlsServer
from pvs6_sim.tls import self_signed_context
from tests.support.edge_servers.reply import send

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
    """One self-signed certificate for every FakePvs of a test run: generating a key each time would be slow."""
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
            return send(h, int(self.mode), b"busy")
        if url.path == "/cgi-bin/dl_cgi/supervisor/info":
            if self.build is None:
                return send(h, 404, b"not found")
            info = {"supervisor": {"SERIAL": "ZT01234567800A1234", "BUILD": self.build, "MODEL": "PVS6"}}
            return send(h, 200, json.dumps(info).encode())
        if url.path == "/cgi-bin/dl_cgi":
            if self.dl_cgi_needs_auth:
                return send(h, 401, b"login required")
            if self.dl_cgi_login_page:
                return send(h, 200, _LOGIN_PAGE, {"Content-Type": "text/html"})
            with self._lock:
                self._seq += 1
                body = device_list(seq=self._seq)
            return self._body(h, body)
        if url.path == "/auth" and "logout" in url.query:
            with self._lock:
                self.logouts += 1
            return send(h, 200, b'{"result":"logged out"}')
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
                    return send(h, 200, b"")
                return send(h, self.expired_status, b'{"error":"unauthorized"}')
            query = dict(part.partition("=")[::2] for part in url.query.split("&"))  # undecoded, like fcgi_vars
            if "name" in query:
                names = query["name"].split(",")
                data = {k: _VARS[k] for k in names} if all(k in _VARS for k in names) else {}
            else:
                data = {k: v for k, v in _VARS.items() if query.get("match", "\0") in k}
            if not data:
                return send(h, 400, b'{"error":"no variables match"}')
            return self._body(h, json.dumps(data).encode())
        return send(h, 404, b"not found")

    def _body(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        if self.mode == "garbage":
            return send(h, 200, b"<html>Server busy \x00\xff</html>")
        if self.mode == "array":
            return send(h, 200, b"[1, 2, 3]")
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
        return send(h, 200, body)

    def _login(self, h: BaseHTTPRequestHandler) -> None:
        expected = base64.b64encode(f"ssm_owner:{self.password}".encode()).decode()
        given = h.headers.get("Authorization", "")
        if given.lower() != f"basic {expected}".lower() or given.split(" ", 1)[-1] != expected:
            return send(h, 401, b'{"error":"bad credentials"}')
        token = hashlib.sha256(f"{time.time()}{self.logins}".encode()).hexdigest()
        with self._lock:
            self.logins += 1
            self._sessions.add(token)
        return send(h, 200, json.dumps({"session": token}).encode(), {"Set-Cookie": f"session={token}; Path=/"})

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
