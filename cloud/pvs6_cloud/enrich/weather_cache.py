"""Caching and outage bookkeeping for the weather client, so ingest rarely waits for Open-Meteo.

A fetched day lives in a per-process cache and, for today and yesterday only (to keep the sheet's ``_state``
small), in the ``memory`` dict the pipeline persists, so a cold function start does not refetch. Today's data
is refreshed at most once an hour and only when a reading is newer than the last fetch. A failure is logged
once at ERROR when the outage starts and once at INFO when it ends, and calls pause for ``RETRY_AFTER_S`` in
between, so an outage neither floods the log nor slows every ingest by a timeout. Part of the weather client;
import it from `pvs6_cloud.enrich.weather`.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pvs6_cloud.enrich.weather_day import WeatherDay, WeatherError, local_day_bounds
from pvs6_cloud.enrich.weather_fetch import SOURCE_ARCHIVE, cache_key, fetch_weather_day
from pvs6_cloud.infra.config import SiteConfig, WeatherConfig

__all__ = [
    "MEMORY_SECTION_DAYS",
    "PROCESS_CACHE_DAYS",
    "REFRESH_AFTER_S",
    "RETRY_AFTER_S",
    "clear_cache",
    "weather_for_day",
]

log = logging.getLogger(f"{__package__}.weather")  # one logger name for the whole weather client

REFRESH_AFTER_S = 3600.0  # today's data is refetched at most once an hour [s]
RETRY_AFTER_S = 600.0  # after a failure, wait this long before asking again [s]
PROCESS_CACHE_DAYS = 64  # fetched days kept per process (a two-week backfill of a few sites fits) [-]
MEMORY_SECTION_DAYS = 2  # today and yesterday are kept in the persisted memory [-]

_HOUR = timedelta(hours=1)


_cache_lock = threading.Lock()
_cache: OrderedDict[tuple[str, str, str], WeatherDay] = OrderedDict()


def clear_cache() -> None:
    """Forget every day cached in this process (tests; a simulated cold start)."""
    with _cache_lock:
        _cache.clear()


def _cached(urls: str, site: SiteConfig, day: date, memory: Mapping[str, Any]) -> WeatherDay | None:
    key = cache_key(site)
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
