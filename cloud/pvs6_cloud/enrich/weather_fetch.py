"""Asking Open-Meteo for one site-local day: which endpoint, which parameters, one bounded HTTP GET.

Open-Meteo is free and needs no key. Recent days come from the forecast endpoint (``start_date``/``end_date``
within the last few days), older replayed or backfilled days from the historical (archive) endpoint. We ask
with ``timezone=GMT`` so every time label is UTC, and for a whole site-local day at once (the UTC dates that
cover it, trimmed to the local day), because the Daily tab and the refill work per local day. Part of the
weather client; import it from `pvs6_cloud.enrich.weather`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from pvs6_cloud.enrich.weather_day import (
    VARIABLE_MAP,
    WeatherDay,
    WeatherFormatError,
    WeatherUnavailable,
    local_day_bounds,
    read_openmeteo_hourly,
)
from pvs6_cloud.infra.config import SiteConfig, WeatherConfig

__all__ = [
    "ARCHIVE_AFTER_DAYS",
    "SOURCE_ARCHIVE",
    "SOURCE_FORECAST",
    "cache_key",
    "endpoint_for",
    "fetch_weather_day",
    "openmeteo_azimuth",
]

SOURCE_FORECAST = "forecast"
SOURCE_ARCHIVE = "archive"
ARCHIVE_AFTER_DAYS = 5  # the archive (reanalysis) lags real time by about five days [d]

_HOUR = timedelta(hours=1)


def openmeteo_azimuth(azimuth_deg: float) -> float:
    """Convert an array azimuth from the pvlib/compass convention to Open-Meteo's.

    Parameters
    ----------
    azimuth_deg : float
        Clockwise from north, as in our config and pvlib: 90 = east, 180 = south, 270 = west [°].

    Returns
    -------
    float
        Open-Meteo's convention: 0 = south, -90 = east, 90 = west, -180 = north, in [-180, 180) [°].
    """
    return (azimuth_deg % 360.0) - 180.0


def endpoint_for(day: date, today: date, config: WeatherConfig) -> tuple[str, str]:
    """``(source, url)``: the forecast endpoint for recent days, the archive for days it already holds."""
    if (today - day).days > ARCHIVE_AFTER_DAYS:
        return SOURCE_ARCHIVE, config.archive_url
    return SOURCE_FORECAST, config.forecast_url


def cache_key(site: SiteConfig) -> str:
    """Where and for which array plane a day was asked: a cached day is only good for the same question."""
    a = site.array
    return f"{site.latitude:.4f},{site.longitude:.4f},{a.tilt_deg:g},{a.azimuth_deg:g},{site.timezone}"


_session_lock = threading.Lock()
_session: Any = None


def _default_session() -> Any:
    """One `requests.Session` per process, made on first use (F5), so sockets are reused across invocations."""
    global _session
    with _session_lock:
        if _session is None:
            import requests

            _session = requests.Session()
            _session.headers["User-Agent"] = "pvs6-sentinel (+https://github.com/) weather enrichment"
        return _session


def fetch_weather_day(
    site: SiteConfig,
    day: date,
    config: WeatherConfig,
    *,
    today: date,
    fetched_at: datetime,
    http: Any = None,
) -> WeatherDay:
    """Ask Open-Meteo for one site-local day of hourly weather (one HTTP GET, ``config.timeout_s`` bounded).

    Parameters
    ----------
    site : SiteConfig
        Coordinates, time zone and the array's tilt and azimuth (pvlib convention, converted here); on a roof of
        several planes, the first plane's (`pvs6_cloud.enrich.solar` transposes the others from GHI/DNI/DHI).
    day : date
        Site-local day.
    config : WeatherConfig
        Endpoints and timeout [s].
    today : date
        The site's current local date; decides forecast vs archive endpoint.
    fetched_at : datetime
        Recorded as the fetch time [UTC].
    http : requests.Session-like, optional
        Anything with ``get(url, params=..., timeout=...)``; a shared session when omitted.

    Raises
    ------
    WeatherUnavailable
        Connection error, timeout or an HTTP error status.
    WeatherFormatError
        The answer is not Open-Meteo's hourly JSON for that day.
    """
    import requests

    source, url = endpoint_for(day, today, config)
    start, end = local_day_bounds(day, site.timezone)
    params = {
        "latitude": f"{site.latitude:.4f}",
        "longitude": f"{site.longitude:.4f}",
        "hourly": ",".join(VARIABLE_MAP),
        "timezone": "GMT",
        "start_date": start.date().isoformat(),
        "end_date": (end + _HOUR).date().isoformat(),
        "tilt": f"{site.array.tilt_deg:g}",
        "azimuth": f"{openmeteo_azimuth(site.array.azimuth_deg):g}",
    }
    session = http if http is not None else _default_session()
    try:
        response = session.get(url, params=params, timeout=config.timeout_s)
    except requests.RequestException as err:
        raise WeatherUnavailable(f"{type(err).__name__}: {err}") from err
    if response.status_code != 200:
        reason = response.text[:200].strip()
        try:
            body = response.json()
            if isinstance(body, Mapping) and body.get("reason"):
                reason = str(body["reason"])
        except ValueError:
            pass
        raise WeatherUnavailable(f"HTTP {response.status_code} from {url}: {reason}")
    try:
        payload = response.json()
    except ValueError as err:
        snippet = response.text[:60].strip()
        raise WeatherFormatError(f"answer from {url} is not JSON (starts {snippet!r})") from err
    return read_openmeteo_hourly(
        payload, day=day, timezone=site.timezone, source=source, fetched_at=fetched_at, key=cache_key(site)
    )
