"""Open-Meteo client: one site-local day of hourly weather per call, cached so ingest rarely waits for it.

Open-Meteo is free and needs no key. Recent days come from the forecast endpoint (``start_date``/``end_date``
within the last few days), older replayed or backfilled days from the historical (archive) endpoint. We ask
with ``timezone=GMT`` so every time label is UTC, and for a whole site-local day at once (the UTC dates that
cover it, trimmed to the local day), because the Daily tab and the refill work per local day.

Time semantics (Open-Meteo's): radiation variables are the mean over the hour *before* the label
(``shortwave_radiation`` at 14:00 is the 13:00-14:00 mean); ``cloud_cover`` and ``temperature_2m`` are
instantaneous at the label. `WeatherDay.sample` interpolates each kind accordingly.

Caching: a fetched day lives in a per-process cache and, for today and yesterday only (to keep the sheet's
``_state`` small), in the ``memory`` dict the pipeline persists, so a cold function start does not refetch.
Today's data is refreshed at most once an hour and only when a reading is newer than the last fetch. A failure
is logged once at ERROR when the outage starts and once at INFO when it ends, and calls pause for
``RETRY_AFTER_S`` in between, so an outage neither floods the log nor slows every ingest by a timeout.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .config import SiteConfig, WeatherConfig
from .errors import TransientError

__all__ = [
    "VARIABLE_MAP",
    "WeatherDay",
    "WeatherError",
    "WeatherFormatError",
    "WeatherUnavailable",
    "clear_cache",
    "endpoint_for",
    "fetch_weather_day",
    "local_day_bounds",
    "openmeteo_azimuth",
    "read_openmeteo_hourly",
    "weather_for_day",
]

log = logging.getLogger(__name__)

# Open-Meteo hourly variable -> our field name (the `Conditions` field it fills). One place for the wire names.
VARIABLE_MAP: Mapping[str, str] = {
    "cloud_cover": "cloud_cover_pct",
    "shortwave_radiation": "ghi_w_m2",
    "direct_normal_irradiance": "dni_w_m2",
    "diffuse_radiation": "dhi_w_m2",
    "global_tilted_irradiance": "poa_w_m2",
    "temperature_2m": "air_temp_c",
}
# Units Open-Meteo uses for them by default; anything else is refused per variable (never silently mis-scaled).
_UNITS: Mapping[str, tuple[str, ...]] = {
    "cloud_cover": ("%",),
    "shortwave_radiation": ("W/m²", "W/m2", "W/m^2"),
    "direct_normal_irradiance": ("W/m²", "W/m2", "W/m^2"),
    "diffuse_radiation": ("W/m²", "W/m2", "W/m^2"),
    "global_tilted_irradiance": ("W/m²", "W/m2", "W/m^2"),
    "temperature_2m": ("°C", "C", "degC"),
}
HOUR_MEAN_FIELDS = frozenset({"ghi_w_m2", "dni_w_m2", "dhi_w_m2", "poa_w_m2"})
FIELDS = tuple(VARIABLE_MAP.values())

SOURCE_FORECAST = "forecast"
SOURCE_ARCHIVE = "archive"
ARCHIVE_AFTER_DAYS = 5  # the archive (reanalysis) lags real time by about five days [d]
REFRESH_AFTER_S = 3600.0  # today's data is refetched at most once an hour [s]
RETRY_AFTER_S = 600.0  # after a failure, wait this long before asking again [s]
PROCESS_CACHE_DAYS = 64  # fetched days kept per process (a two-week backfill of a few sites fits) [-]
MEMORY_SECTION_DAYS = 2  # today and yesterday are kept in the persisted memory [-]

_HOUR = timedelta(hours=1)


class WeatherError(TransientError):
    """The weather service failed for now; ingest goes on without weather and the day is refilled later."""


class WeatherUnavailable(WeatherError):
    """No answer: connection refused, timeout, or an HTTP error status (the server's reason is in the message)."""


class WeatherFormatError(WeatherError):
    """An answer that is not Open-Meteo's hourly JSON (an HTML error page, wrong shapes, no usable variable)."""


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


def local_day_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    """The UTC instants where a site-local calendar day starts and ends (23 or 25 hours on DST days)."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


def endpoint_for(day: date, today: date, config: WeatherConfig) -> tuple[str, str]:
    """``(source, url)``: the forecast endpoint for recent days, the archive for days it already holds."""
    if (today - day).days > ARCHIVE_AFTER_DAYS:
        return SOURCE_ARCHIVE, config.archive_url
    return SOURCE_FORECAST, config.forecast_url


@dataclass(frozen=True, slots=True)
class WeatherDay:
    """Hourly weather covering one site-local day.

    ``values[field][i]`` belongs to the label ``start + i hours`` [UTC]; labels run from the local midnight that
    starts the day to one hour past the one that ends it, so every instant of the day has hour means around it.
    Values are in Open-Meteo's units: % for cloud cover, W/m^2 for irradiance, °C for air temperature.
    """

    day: date
    start: datetime
    values: Mapping[str, tuple[float | None, ...]]
    source: str
    fetched_at: datetime
    key: str = ""

    @property
    def hours(self) -> int:
        """Number of hourly labels held."""
        return max((len(v) for v in self.values.values()), default=0)

    def hour_ends(self) -> list[datetime]:
        """Every label [UTC]."""
        return [self.start + i * _HOUR for i in range(self.hours)]

    def sample(self, times: Sequence[datetime]) -> dict[str, list[float | None]]:
        """Each field at each instant: hour means centred on their hour, instantaneous values on their label.

        Linear between the two neighbouring values; the nearer one alone when the other is missing (within half
        an hour); None when neither is there or the instant is outside the day.
        """
        out: dict[str, list[float | None]] = {}
        for name in FIELDS:
            series = self.values.get(name, ())
            shift = 0.5 if name in HOUR_MEAN_FIELDS else 0.0
            out[name] = [_interpolate(series, (t - self.start).total_seconds() / 3600.0 + shift) for t in times]
        return out

    def to_memory(self) -> dict[str, Any]:
        """Plain JSON for the persisted memory (values rounded to 0.1)."""
        return {
            "day": self.day.isoformat(),
            "start": self.start.isoformat(),
            "source": self.source,
            "fetched_at": self.fetched_at.isoformat(),
            "key": self.key,
            "values": {k: [None if v is None else round(v, 1) for v in vs] for k, vs in self.values.items()},
        }

    @classmethod
    def from_memory(cls, data: Mapping[str, Any]) -> WeatherDay:
        """Inverse of `to_memory`; raises ``ValueError``/``KeyError``/``TypeError`` on a damaged record."""
        values = {
            str(k): tuple(None if v is None else float(v) for v in vs)
            for k, vs in dict(data["values"]).items()
            if k in FIELDS
        }
        return cls(
            day=date.fromisoformat(data["day"]),
            start=datetime.fromisoformat(data["start"]).astimezone(UTC),
            values=values,
            source=str(data["source"]),
            fetched_at=datetime.fromisoformat(data["fetched_at"]).astimezone(UTC),
            key=str(data.get("key", "")),
        )


def _interpolate(series: Sequence[float | None], position: float) -> float | None:
    if not series or position < -0.5 or position > len(series) - 0.5:
        return None
    low = math.floor(position)
    frac = position - low
    a = series[low] if 0 <= low < len(series) else None
    b = series[low + 1] if 0 <= low + 1 < len(series) else None
    if a is not None and b is not None:
        return a + (b - a) * frac
    if a is not None and frac <= 0.5:
        return a
    if b is not None and frac >= 0.5:
        return b
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def read_openmeteo_hourly(
    payload: Any, *, day: date, timezone: str, source: str, fetched_at: datetime, key: str = ""
) -> WeatherDay:
    """Turn an Open-Meteo JSON answer into a `WeatherDay` for one site-local day.

    Tolerant where it can be: a null value, a missing variable, a variable whose array has the wrong length or
    unexpected units, or a missing hour becomes ``None`` for that value (logged). Strict where it must be: a body
    without an ``hourly.time`` list of parsable times, or with no usable variable for the day, is refused.

    Parameters
    ----------
    payload : Any
        The decoded JSON body.
    day : date
        The site-local day asked for.
    timezone : str
        The site's IANA time zone (decides where the day starts in UTC).
    source : str
        ``"forecast"`` or ``"archive"``.
    fetched_at : datetime
        When the answer arrived [UTC].
    key : str, default ""
        Cache key stored alongside (where and for which array plane it was asked).

    Raises
    ------
    WeatherFormatError
        The body is not Open-Meteo hourly data covering the day.
    """
    if not isinstance(payload, Mapping):
        raise WeatherFormatError(f"expected a JSON object, got {type(payload).__name__}")
    hourly = payload.get("hourly")
    if not isinstance(hourly, Mapping) or not isinstance(hourly.get("time"), list):
        raise WeatherFormatError("no hourly.time list in the answer")
    offset = payload.get("utc_offset_seconds", 0)
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise WeatherFormatError(f"utc_offset_seconds is not an integer: {offset!r}")
    index: dict[datetime, int] = {}
    for i, label in enumerate(hourly["time"]):
        try:
            stamp = datetime.strptime(str(label), "%Y-%m-%dT%H:%M").replace(tzinfo=UTC) - timedelta(seconds=offset)
        except ValueError as err:
            raise WeatherFormatError(f"hourly.time[{i}] is not YYYY-MM-DDTHH:MM: {label!r}") from err
        index[stamp] = i
    units = payload.get("hourly_units") if isinstance(payload.get("hourly_units"), Mapping) else {}
    start, end = local_day_bounds(day, timezone)
    labels = [start + i * _HOUR for i in range(round((end - start) / _HOUR) + 2)]
    values: dict[str, tuple[float | None, ...]] = {}
    for wire, name in VARIABLE_MAP.items():
        raw = hourly.get(wire)
        unit = units.get(wire)
        if not isinstance(raw, list) or len(raw) != len(hourly["time"]):
            log.warning("weather %s: %s missing or of the wrong length; left empty", day, wire)
            continue
        if unit is not None and unit not in _UNITS[wire]:
            log.warning("weather %s: %s in unexpected units %r; left empty", day, wire, unit)
            continue
        values[name] = tuple(_number(raw[index[t]]) if t in index else None for t in labels)
    if not any(v is not None for vs in values.values() for v in vs):
        raise WeatherFormatError(f"no usable hourly values for {day} (variables: {sorted(hourly)})")
    return WeatherDay(day=day, start=start, values=values, source=source, fetched_at=fetched_at, key=key)


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
        several planes, the first plane's (`pvs6_cloud.solar` transposes the others from GHI/DNI/DHI).
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
        payload, day=day, timezone=site.timezone, source=source, fetched_at=fetched_at, key=_cache_key(site)
    )


# ---- caching and outage bookkeeping ------------------------------------------------------------------------

_cache_lock = threading.Lock()
_cache: OrderedDict[tuple[str, str, str], WeatherDay] = OrderedDict()


def clear_cache() -> None:
    """Forget every day cached in this process (tests; a simulated cold start)."""
    with _cache_lock:
        _cache.clear()


def _cache_key(site: SiteConfig) -> str:
    a = site.array
    return f"{site.latitude:.4f},{site.longitude:.4f},{a.tilt_deg:g},{a.azimuth_deg:g},{site.timezone}"


def _cached(urls: str, site: SiteConfig, day: date, memory: Mapping[str, Any]) -> WeatherDay | None:
    key = _cache_key(site)
    with _cache_lock:
        hit = _cache.get((urls, key, day.isoformat()))
    stored = memory.get("days", {}).get(day.isoformat()) if isinstance(memory.get("days"), Mapping) else None
    if isinstance(stored, Mapping) and stored.get("key") == key:
        try:
            remembered = WeatherDay.from_memory(stored)
        except (KeyError, TypeError, ValueError) as err:
            log.warning("site %s: ignoring a damaged weather memory for %s: %s", site.site_id, day, err)
        else:
            if hit is None or remembered.fetched_at > hit.fetched_at:
                hit = remembered
    return hit


def _store(urls: str, site: SiteConfig, weather: WeatherDay, memory: dict[str, Any], today: date) -> None:
    with _cache_lock:
        _cache[(urls, weather.key, weather.day.isoformat())] = weather
        _cache.move_to_end((urls, weather.key, weather.day.isoformat()))
        while len(_cache) > PROCESS_CACHE_DAYS:
            _cache.popitem(last=False)
    days = memory.get("days")
    if not isinstance(days, dict):
        days = memory["days"] = {}
    if (today - weather.day).days < MEMORY_SECTION_DAYS and weather.day <= today:
        days[weather.day.isoformat()] = weather.to_memory()
    for stale in [d for d in days if d < (today - timedelta(days=MEMORY_SECTION_DAYS - 1)).isoformat()]:
        del days[stale]


def _is_final(weather: WeatherDay, timezone: str) -> bool:
    """True when no later fetch can improve the day (archive data, or fetched after the day was over)."""
    return weather.source == SOURCE_ARCHIVE or weather.fetched_at >= local_day_bounds(weather.day, timezone)[1] + _HOUR


def weather_for_day(
    site: SiteConfig,
    config: WeatherConfig,
    memory: dict[str, Any],
    day: date,
    *,
    now: datetime,
    needed_until: datetime | None = None,
    http: Any = None,
) -> WeatherDay | None:
    """The day's hourly weather from cache, or fetched (at most once an hour per site and day); None if unknown.

    Never raises for the service: a failure is logged (ERROR once when an outage starts, INFO once when it
    ends) and remembered in ``memory["outage"]``; calls pause ``RETRY_AFTER_S`` meanwhile. A stale cached copy
    is returned rather than nothing.

    Parameters
    ----------
    site : SiteConfig
        Where, in which time zone, and the array plane for the tilted irradiance.
    config : WeatherConfig
        ``enabled``, endpoints and timeout.
    memory : dict
        The persisted ``weather`` state section (holds today's and yesterday's days and the outage record).
    day : date
        Site-local day wanted.
    now : datetime
        The current time [UTC].
    needed_until : datetime, optional
        The latest instant the caller will sample [UTC]: today's data fetched before it is refreshed if it is
        more than ``REFRESH_AFTER_S`` old. None: any cached copy will do.
    http : requests.Session-like, optional
        HTTP session (tests, the pipeline's shared one).
    """
    if not config.enabled:
        return None
    urls = f"{config.forecast_url} {config.archive_url}"
    cached = _cached(urls, site, day, memory)
    if cached is not None and (
        _is_final(cached, site.timezone)
        or needed_until is None
        or needed_until <= cached.fetched_at
        or (now - cached.fetched_at).total_seconds() < REFRESH_AFTER_S
    ):
        return cached
    outage = memory.get("outage") if isinstance(memory.get("outage"), dict) else None
    if outage is not None:
        try:
            last_try = datetime.fromisoformat(outage["last_try"])
        except (KeyError, TypeError, ValueError):
            last_try = None
        if last_try is not None and 0 <= (now - last_try).total_seconds() < RETRY_AFTER_S:
            log.debug("site %s: weather paused after a failure; cached copy: %s", site.site_id, cached is not None)
            return cached
    today = now.astimezone(ZoneInfo(site.timezone)).date()
    try:
        weather = fetch_weather_day(site, day, config, today=today, fetched_at=now, http=http)
    except WeatherError as err:
        if outage is None:
            log.error("weather service unreachable: %s (site %s; readings are kept without weather and refilled "
                      "later)", err, site.site_id)
            memory["outage"] = {"since": now.isoformat(), "last_try": now.isoformat(), "error": str(err)[:300]}
        else:
            log.debug("site %s: weather service still unreachable: %s", site.site_id, err)
            outage["last_try"] = now.isoformat()
            outage["error"] = str(err)[:300]
        return cached
    if outage is not None:
        log.info("weather service reachable again (site %s; down since %s)", site.site_id, outage.get("since", "?"))
        memory.pop("outage", None)
    _store(urls, site, weather, memory, today)
    return weather
