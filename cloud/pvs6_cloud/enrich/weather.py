"""Open-Meteo client: one site-local day of hourly weather per call, cached so ingest rarely waits for it.

Open-Meteo is free and needs no key. Recent days come from the forecast endpoint, older replayed or backfilled
days from the historical (archive) endpoint, a whole site-local day at a time, every label in UTC. The client
is three modules along its seams, and this one is how the rest of the code imports it:

- `weather_day`: what Open-Meteo answers and what we keep: the variables asked for (cloud cover, irradiance,
  air temperature, snowfall, snow depth), their units and time semantics, `WeatherDay` and its parser;
- `weather_fetch`: asking: the endpoint for a day, the request's parameters, one bounded HTTP GET;
- `weather_cache`: `weather_for_day`, the cached way in: the per-process cache, today's and yesterday's days in
  the persisted memory, at most one refetch an hour, and a quiet pause after a failure.
"""

from __future__ import annotations

from pvs6_cloud.enrich.weather_cache import (
    MEMORY_SECTION_DAYS,
    PROCESS_CACHE_DAYS,
    REFRESH_AFTER_S,
    RETRY_AFTER_S,
    clear_cache,
    weather_for_day,
)
from pvs6_cloud.enrich.weather_day import (
    FIELDS,
    HOUR_MEAN_FIELDS,
    HOUR_SUM_FIELDS,
    OPTIONAL_FIELDS,
    VARIABLE_MAP,
    WeatherDay,
    WeatherError,
    WeatherFormatError,
    WeatherUnavailable,
    local_day_bounds,
    read_openmeteo_hourly,
)
from pvs6_cloud.enrich.weather_fetch import (
    ARCHIVE_AFTER_DAYS,
    SOURCE_ARCHIVE,
    SOURCE_FORECAST,
    endpoint_for,
    fetch_weather_day,
    openmeteo_azimuth,
)

__all__ = [
    "ARCHIVE_AFTER_DAYS",
    "FIELDS",
    "HOUR_MEAN_FIELDS",
    "HOUR_SUM_FIELDS",
    "MEMORY_SECTION_DAYS",
    "OPTIONAL_FIELDS",
    "PROCESS_CACHE_DAYS",
    "REFRESH_AFTER_S",
    "RETRY_AFTER_S",
    "SOURCE_ARCHIVE",
    "SOURCE_FORECAST",
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
