"""A local Open-Meteo-compatible server for tests: real sockets on port 0, Open-Meteo's real response format.

It answers ``GET /v1/forecast`` and ``GET /v1/archive`` with ``hourly`` data for ``start_date..end_date`` in
GMT, shaped like the real service (``latitude``, ``longitude``, ``generationtime_ms``, ``utc_offset_seconds``,
``timezone``, ``timezone_abbreviation``, ``elevation``, ``hourly_units``, ``hourly`` with ``"YYYY-MM-DDTHH:MM"``
times and arrays that may hold nulls). Values are physically shaped: a clear sky (pvlib Ineichen) dimmed by the
configured cloud cover, hour means for radiation as Open-Meteo documents them ("preceding hour mean"), and the
tilted irradiance computed for the ``tilt``/``azimuth`` asked, read in Open-Meteo's convention (0 = south,
-90 = east, 90 = west). Snow is what the test configures: ``snowfall`` in cm (the preceding hour's sum, in
Open-Meteo's steps of 0.07 cm) and ``snow_depth`` in m, zero unless said. Bad behaviour is switched on per test:
HTTP 500, an HTML page, a slow answer, nulls, a variable answered as all nulls (what the real service does for a
variable the chosen model lacks), missing variables, arrays of the wrong length, Open-Meteo's own 400 error
body, an unknown variable asked for (refused with a 400, as the real service does).

Every request is recorded (path and query) so tests can count calls.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

UNITS = {
    "time": "iso8601",
    "cloud_cover": "%",
    "shortwave_radiation": "W/m²",
    "direct_normal_irradiance": "W/m²",
    "diffuse_radiation": "W/m²",
    "global_tilted_irradiance": "W/m²",
    "temperature_2m": "°C",
    "snowfall": "cm",
    "snow_depth": "m",
}


@dataclass
class Behaviour:
    """What the server does next; tests change these fields between calls.

    ``mode``: ``"ok"``, ``"http500"``, ``"html"``, ``"error400"`` (Open-Meteo's JSON error), ``"garbage_shape"``
    (valid JSON, no ``hourly``). ``cloud_cover_pct``, ``snowfall_cm`` and ``snow_depth_m`` may be a number or a
    callable of the UTC hour label.
    """

    mode: str = "ok"
    delay_s: float = 0.0
    cloud_cover_pct: Any = 0.0
    air_temp_c: float = 22.0
    snowfall_cm: Any = 0.0
    snow_depth_m: Any = 0.0
    null_hours: set[int] = field(default_factory=set)  # UTC hours whose values are all null
    null_variables: set[str] = field(default_factory=set)  # variables answered as nulls only (the model lacks them)
    missing: set[str] = field(default_factory=set)  # variables left out of the answer
    wrong_length: set[str] = field(default_factory=set)  # variables whose array is one short


@dataclass
class Request:
    """One recorded request."""

    path: str
    params: dict[str, str]


def _sky(params: dict[str, str], behaviour: Behaviour) -> dict[str, Any]:
    """Hourly values for the asked dates and place (GMT labels), Open-Meteo style."""
    import numpy as np
    import pandas as pd
    import pvlib

    lat, lon = float(params["latitude"]), float(params["longitude"])
    first, last = date.fromisoformat(params["start_date"]), date.fromisoformat(params["end_date"])
    labels = pd.date_range(datetime(first.year, first.month, first.day), periods=24 * ((last - first).days + 1),
                           freq="h", tz="UTC")
    mids = labels - pd.Timedelta(minutes=30)
    location = pvlib.location.Location(lat, lon, tz="UTC", altitude=0)
    position = location.get_solarposition(mids)
    clear = location.get_clearsky(mids, solar_position=position, linke_turbidity=3.0)
    if callable(behaviour.cloud_cover_pct):
        cover = np.array([float(behaviour.cloud_cover_pct(t.to_pydatetime())) for t in labels])
    else:
        cover = np.full(len(labels), float(behaviour.cloud_cover_pct))
    # Kasten & Czeplak: how much of the clear-sky GHI gets through a given cloud cover.
    factor = 1.0 - 0.75 * (cover / 100.0) ** 3.4
    ghi = clear["ghi"].to_numpy() * factor
    dni = clear["dni"].to_numpy() * factor**2
    dhi = np.clip(ghi - dni * np.cos(np.radians(position["apparent_zenith"].to_numpy())), 0, None)
    tilt = float(params.get("tilt", 0))
    surface_azimuth = float(params.get("azimuth", 0)) + 180.0  # Open-Meteo 0 = south -> compass 180
    gti = pvlib.irradiance.get_total_irradiance(
        tilt, surface_azimuth, position["apparent_zenith"], position["azimuth"], dni, ghi, dhi, albedo=0.2,
        model="isotropic",
    )["poa_global"].to_numpy()
    hours = labels.hour.to_numpy()
    temp = behaviour.air_temp_c + 5.0 * np.sin((hours - 9) / 24 * 2 * np.pi)
    snowfall = np.array([_per_label(behaviour.snowfall_cm, t.to_pydatetime()) for t in labels])
    depth = np.array([_per_label(behaviour.snow_depth_m, t.to_pydatetime()) for t in labels])
    columns = {
        "cloud_cover": np.round(cover),
        "shortwave_radiation": np.round(ghi, 1),
        "direct_normal_irradiance": np.round(dni, 1),
        "diffuse_radiation": np.round(dhi, 1),
        "global_tilted_irradiance": np.round(np.clip(np.nan_to_num(gti), 0, None), 1),
        "temperature_2m": np.round(temp, 1),
        "snowfall": np.round(np.round(snowfall / 0.07) * 0.07, 2),  # 0.1 mm of water is 0.07 cm of snow
        "snow_depth": np.round(depth, 2),
    }
    asked = [v for v in params.get("hourly", "").split(",") if v]
    unknown = [v for v in asked if v not in columns]
    if unknown:
        raise ValueError(f"invalid String value {unknown[0]}")  # the real service refuses it too
    hourly: dict[str, Any] = {"time": [t.strftime("%Y-%m-%dT%H:%M") for t in labels]}
    for name in asked:
        if name in behaviour.missing:
            continue
        values: list[float | None] = [float(v) for v in columns[name]]
        for i, hour in enumerate(hours):
            if int(hour) in behaviour.null_hours or name in behaviour.null_variables:
                values[i] = None
        if name in behaviour.wrong_length:
            values = values[:-1]
        hourly[name] = values
    return {
        "latitude": round(lat * 4) / 4 + 0.0625,
        "longitude": round(lon * 4) / 4 - 0.0625,
        "generationtime_ms": 0.1234,
        "utc_offset_seconds": 0,
        "timezone": "GMT",
        "timezone_abbreviation": "GMT",
        "elevation": 38.0,
        "hourly_units": {k: UNITS[k] for k in hourly},
        "hourly": hourly,
    }


def _per_label(value: Any, label: datetime) -> float:
    """A behaviour value that is a number, or a callable of the UTC hour label."""
    return float(value(label) if callable(value) else value)


class OpenMeteoServer:
    """The server; use `serve_openmeteo` to run one."""

    def __init__(self) -> None:
        self.behaviour = Behaviour()
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self.base_url = ""

    @property
    def forecast_url(self) -> str:
        """The forecast endpoint."""
        return f"{self.base_url}/v1/forecast"

    @property
    def archive_url(self) -> str:
        """The historical (archive) endpoint."""
        return f"{self.base_url}/v1/archive"

    def count(self, path: str | None = None) -> int:
        """Requests received so far (to ``path`` only, when given)."""
        with self._lock:
            return sum(1 for r in self.requests if path is None or r.path == path)

    def record(self, request: Request) -> None:
        """Remember a request (thread-safe)."""
        with self._lock:
            self.requests.append(request)


def _handler(server: OpenMeteoServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            return

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                return

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            server.record(Request(parts.path, params))
            b = server.behaviour
            if b.delay_s:
                time.sleep(b.delay_s)
            if parts.path not in ("/v1/forecast", "/v1/archive"):
                self._send(404, b'{"error":true,"reason":"Not Found"}', "application/json")
            elif b.mode == "http500":
                self._send(500, b"Internal Server Error", "text/plain")
            elif b.mode == "html":
                self._send(200, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")
            elif b.mode == "error400":
                body = {"error": True, "reason": "Parameter 'start_date' is out of allowed range"}
                self._send(400, json.dumps(body).encode(), "application/json")
            elif b.mode == "garbage_shape":
                self._send(200, b'{"latitude": 41.75, "hourly": [1, 2, 3]}', "application/json")
            else:
                try:
                    body = _sky(params, b)
                except (KeyError, ValueError) as err:
                    answer = {"error": True, "reason": f"Cannot initialize request: {err}"}
                    self._send(400, json.dumps(answer).encode(), "application/json")
                    return
                self._send(200, json.dumps(body).encode(), "application/json; charset=utf-8")

    return Handler


@contextmanager
def serve_openmeteo() -> Iterator[OpenMeteoServer]:
    """Run an `OpenMeteoServer` on 127.0.0.1, a free port, for the duration of the ``with`` block."""
    import pvlib  # noqa: F401  (loaded up front so the first answer is not slowed by the import)

    state = OpenMeteoServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def hours_between(start: datetime, end: datetime, step_min: int = 15) -> list[datetime]:
    """Instants from ``start`` (inclusive) to ``end`` (exclusive) every ``step_min`` minutes."""
    out, t = [], start
    while t < end:
        out.append(t)
        t += timedelta(minutes=step_min)
    return out
