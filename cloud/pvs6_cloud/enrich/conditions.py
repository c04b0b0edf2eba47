"""Enrichment: what the sun and the weather allowed at the moment of each reading, and over each day.

The pipeline calls `enrich_batch` once per upload; the daily rollup calls `daily_expectation` (and
`refill_weather` for days whose readings were stored while the weather service was down). The dataclasses here
are the contract the pipeline, the row builders and the detector rely on.

Weather never blocks ingest: sun position and the clear-sky expectation are pure computation and are always
filled; when Open-Meteo cannot be reached the readings get ``conditions=None`` and ``expected_source="clearsky"``,
and the day is queued in the ``weather`` memory for a refill. pvlib/pandas are imported by `solar` on first use,
not when this module is imported, so the function's cold import stays light.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pvs6_cloud.infra.config import SiteConfig, WeatherConfig
from pvs6_parse.models import Snapshot

__all__ = [
    "Conditions",
    "DailyExpectation",
    "Enrichment",
    "daily_expectation",
    "enrich_batch",
    "pending_refills",
    "refill_weather",
]

log = logging.getLogger(__name__)

REFILL_KEEP_DAYS = 62  # days older than this are dropped from the refill queue (the archive keeps them anyway) [d]
_MIN_EXPECTED_KW = 0.05  # below this the ratio of actual to expected is noise (dawn, dusk, night) [kW]


@dataclass(frozen=True, slots=True)
class Conditions:
    """Weather at the site for the hour of a reading (None = the service did not say).

    ``snowfall_cm`` is the snow that fell in the hour of the reading [cm] and ``snow_depth_m`` the snow lying on
    the ground [m]: what lets the detector hold panel alerts after snow (`detect.snow`); many weather models give
    no snow depth. ``source`` is the Open-Meteo endpoint it came from: ``"forecast"`` or ``"archive"``.
    """

    cloud_cover_pct: float | None = None
    ghi_w_m2: float | None = None
    dni_w_m2: float | None = None
    dhi_w_m2: float | None = None
    poa_w_m2: float | None = None
    air_temp_c: float | None = None
    snowfall_cm: float | None = None
    snow_depth_m: float | None = None
    source: str = ""

    @property
    def has_irradiance(self) -> bool:
        """True when the service gave any irradiance (what the expectation needs)."""
        return self.poa_w_m2 is not None or self.ghi_w_m2 is not None


@dataclass(frozen=True, slots=True)
class Enrichment:
    """The sun, the weather and the model's expectation for one snapshot.

    ``expected_kw`` is for the weather of that hour, ``clearsky_kw`` what a clear sky would have allowed (an upper
    bound, bar cloud-edge enhancement). ``expected_source`` says what drove ``expected_kw``: ``"gti"`` (Open-Meteo's
    tilted irradiance), ``"ghi+dni+dhi"``, ``"ghi"`` (Erbs split) or ``"clearsky"`` (no weather: the fallback).
    ``plane_clearsky_kw``, for an array with configured planes, is what one panel of each plane could make under a
    clear sky [kW], in the config's plane order (the detector's yardstick for a plane none of whose panels produce).
    """

    sun_elevation_deg: float | None = None
    sun_azimuth_deg: float | None = None
    conditions: Conditions | None = None
    expected_kw: float | None = None
    clearsky_kw: float | None = None
    expected_source: str = ""
    plane_clearsky_kw: tuple[float, ...] = ()

    def performance_ratio(self, production_kw: float | None) -> float | None:
        """Actual over expected, when both are meaningful (not at night)."""
        if production_kw is None or not self.expected_kw or self.expected_kw < _MIN_EXPECTED_KW:
            return None
        return production_kw / self.expected_kw


@dataclass(frozen=True, slots=True)
class DailyExpectation:
    """What one site-local day allowed, for the Daily tab (and to refill Readings' weather cells).

    Attributes
    ----------
    day : date
        Site-local day.
    expected_kwh : float
        Expected AC energy for the day's weather, clear sky for hours without weather [kWh].
    clearsky_kwh : float
        AC energy a clear sky would have allowed [kWh].
    poa_insolation_kwh_m2, ghi_insolation_kwh_m2 : float or None
        Sunlight on the panels' plane and on a horizontal surface [kWh/m^2]; None without weather.
    cloud_cover_mean_pct : float or None
        Mean cloud cover over the daylight hours [%].
    air_temp_max_c : float or None
        Warmest hour [°C].
    source : str
        ``"forecast"``, ``"archive"`` or ``"clearsky"`` (no weather at all).
    complete : bool
        Every daylight hour had weather; if False the day stays queued for `refill_weather`.
    hourly : tuple of (datetime, Conditions)
        Each hour's end [UTC] and its weather (hour means for irradiance, the label's value for the rest).
    """

    day: date
    expected_kwh: float
    clearsky_kwh: float
    poa_insolation_kwh_m2: float | None = None
    ghi_insolation_kwh_m2: float | None = None
    cloud_cover_mean_pct: float | None = None
    air_temp_max_c: float | None = None
    source: str = "clearsky"
    complete: bool = False
    hourly: tuple[tuple[datetime, Conditions], ...] = ()

    def performance_ratio(self, actual_kwh: float | None) -> float | None:
        """Actual over expected energy (None when either is missing or the day allowed almost nothing)."""
        if actual_kwh is None or self.expected_kwh < _MIN_EXPECTED_KW:
            return None
        return actual_kwh / self.expected_kwh


def _round(value: float, digits: int) -> float:
    return round(float(value), digits)


def _local_day(moment: datetime, zone: ZoneInfo) -> date:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(zone).date()


def _queue_refill(memory: dict[str, Any], days: Iterable[date], today: date) -> None:
    queue = memory.get("refill") if isinstance(memory.get("refill"), list) else []
    oldest = (today - timedelta(days=REFILL_KEEP_DAYS)).isoformat()
    merged = {d for d in queue if isinstance(d, str) and d >= oldest} | {d.isoformat() for d in days}
    if merged or "refill" in memory:
        memory["refill"] = sorted(merged)


def enrich_batch(
    snapshots: Sequence[Snapshot],
    site: SiteConfig,
    weather: WeatherConfig,
    memory: dict[str, Any],
    *,
    http: Any = None,
    now: datetime | None = None,
) -> list[Enrichment]:
    """One `Enrichment` per snapshot, in order. Never raises for a weather outage.

    The weather is fetched (or taken from cache) once per site-local day present in the batch, and the model
    runs once over the whole batch.

    Parameters
    ----------
    snapshots : sequence of Snapshot
        The readings, any order, any days.
    site : SiteConfig
        Place, time zone and array.
    weather : WeatherConfig
        Open-Meteo settings; ``enabled = false`` gives clear-sky expectations and no network.
    memory : dict
        The site's persisted ``weather`` state section (cache of today/yesterday, outage record, refill queue).
    http : requests.Session-like, optional
        HTTP session for Open-Meteo.
    now : datetime, optional
        Current time [UTC] (the pipeline's clock); the wall clock when omitted.
    """
    from pvs6_cloud.enrich import solar
    from pvs6_cloud.enrich.weather import weather_for_day

    if not snapshots:
        return []
    now = now or datetime.now(UTC)
    zone = ZoneInfo(site.timezone)
    times = [s.captured_at if s.captured_at.tzinfo else s.captured_at.replace(tzinfo=UTC) for s in snapshots]
    by_day: dict[date, list[int]] = {}
    for i, moment in enumerate(times):
        by_day.setdefault(_local_day(moment, zone), []).append(i)

    conditions: list[Conditions | None] = [None] * len(snapshots)
    for day, indexes in sorted(by_day.items()):
        wanted = [times[i] for i in indexes]
        day_weather = weather_for_day(site, weather, memory, day, now=now, needed_until=max(wanted), http=http)
        if day_weather is None:
            continue
        sampled = day_weather.sample(wanted)
        for j, i in enumerate(indexes):
            values = {name: column[j] for name, column in sampled.items()}
            if any(v is not None for v in values.values()):
                conditions[i] = Conditions(**values, source=day_weather.source)

    def column(name: str) -> list[float | None]:
        return [getattr(c, name) if c is not None else None for c in conditions]

    try:
        estimate = solar.expected_power(
            times, site.latitude, site.longitude, site.array, altitude_m=site.elevation_m,
            ghi_w_m2=column("ghi_w_m2"), dni_w_m2=column("dni_w_m2"), dhi_w_m2=column("dhi_w_m2"),
            poa_w_m2=column("poa_w_m2"), air_temp_c=column("air_temp_c"),
        )
    except Exception:  # the model must never cost a reading: store it with the weather alone
        log.exception("site %s: expected-output model failed for %d snapshot(s)", site.site_id, len(snapshots))
        return [Enrichment(conditions=c) for c in conditions]

    if weather.enabled:
        missing = {
            _local_day(times[i], zone)
            for i, c in enumerate(conditions)
            if estimate.sun_elevation_deg[i] > 0 and (c is None or not c.has_irradiance)
        }
        _queue_refill(memory, missing, now.astimezone(zone).date())
    return [
        Enrichment(
            sun_elevation_deg=_round(estimate.sun_elevation_deg[i], 2),
            sun_azimuth_deg=_round(estimate.sun_azimuth_deg[i], 2),
            conditions=conditions[i],
            expected_kw=_round(estimate.expected_kw[i], 3),
            clearsky_kw=_round(estimate.clearsky_kw[i], 3),
            expected_source=estimate.source[i],
            plane_clearsky_kw=tuple(_round(plane[i], 4) for plane in estimate.plane_clearsky_kw),
        )
        for i in range(len(snapshots))
    ]


def daily_expectation(
    site: SiteConfig,
    weather: WeatherConfig,
    memory: dict[str, Any],
    day: date,
    *,
    http: Any = None,
    now: datetime | None = None,
) -> DailyExpectation:
    """Insolation, expected and clear-sky energy for one site-local day, from its hourly weather.

    Uses the cached day when it is final, else fetches it (one call); without weather the energies are the
    clear-sky ones, ``source="clearsky"``, ``complete=False``, and the day is queued for a refill. Never raises
    for a weather outage.

    Parameters
    ----------
    site : SiteConfig
        Place, time zone and array.
    weather : WeatherConfig
        Open-Meteo settings.
    memory : dict
        The site's persisted ``weather`` state section.
    day : date
        Site-local day (normally yesterday, when the daily rollup runs after midnight).
    http : requests.Session-like, optional
        HTTP session for Open-Meteo.
    now : datetime, optional
        Current time [UTC]; the wall clock when omitted.
    """
    from pvs6_cloud.enrich import solar
    from pvs6_cloud.enrich.weather import FIELDS, local_day_bounds, weather_for_day

    now = now or datetime.now(UTC)
    start, end = local_day_bounds(day, site.timezone)
    hour_ends = [start + timedelta(hours=h + 1) for h in range(round((end - start) / timedelta(hours=1)))]
    day_weather = weather_for_day(site, weather, memory, day, now=now, needed_until=end, http=http)
    hourly: list[tuple[datetime, Conditions]] = []
    columns: dict[str, list[float | None]] = {name: [None] * len(hour_ends) for name in FIELDS}
    if day_weather is not None:
        labels = {t: i for i, t in enumerate(day_weather.hour_ends())}
        for h, t in enumerate(hour_ends):
            k = labels.get(t)
            for name in FIELDS:
                series = day_weather.values.get(name, ())
                columns[name][h] = series[k] if k is not None and k < len(series) else None
            hourly.append((t, Conditions(**{n: columns[n][h] for n in FIELDS}, source=day_weather.source)))
    energy = solar.daily_energy(
        hour_ends, site.latitude, site.longitude, site.array, altitude_m=site.elevation_m,
        ghi_w_m2=columns["ghi_w_m2"], dni_w_m2=columns["dni_w_m2"], dhi_w_m2=columns["dhi_w_m2"],
        poa_w_m2=columns["poa_w_m2"], air_temp_c=columns["air_temp_c"],
    )
    sun_up = [h for h in range(len(hourly)) if columns["ghi_w_m2"][h] or columns["poa_w_m2"][h]]
    clouds = [columns["cloud_cover_pct"][h] for h in sun_up if columns["cloud_cover_pct"][h] is not None]
    temps = [v for v in columns["air_temp_c"] if v is not None]
    complete = day_weather is not None and energy.complete
    if weather.enabled and not complete:
        _queue_refill(memory, [day], now.astimezone(ZoneInfo(site.timezone)).date())
    return DailyExpectation(
        day=day,
        expected_kwh=_round(energy.expected_kwh, 3),
        clearsky_kwh=_round(energy.clearsky_kwh, 3),
        poa_insolation_kwh_m2=None if energy.poa_insolation_kwh_m2 is None else _round(energy.poa_insolation_kwh_m2, 3),
        ghi_insolation_kwh_m2=None if energy.ghi_insolation_kwh_m2 is None else _round(energy.ghi_insolation_kwh_m2, 3),
        cloud_cover_mean_pct=_round(sum(clouds) / len(clouds), 1) if clouds else None,
        air_temp_max_c=max(temps) if temps else None,
        source=day_weather.source if day_weather is not None else "clearsky",
        complete=complete,
        hourly=tuple(hourly),
    )


def pending_refills(memory: dict[str, Any]) -> list[date]:
    """Site-local days whose readings were stored without (complete) weather, oldest first."""
    queue = memory.get("refill") if isinstance(memory.get("refill"), list) else []
    days = []
    for item in queue:
        try:
            days.append(date.fromisoformat(item))
        except (TypeError, ValueError):
            continue
    return sorted(days)


def refill_weather(
    site: SiteConfig,
    weather: WeatherConfig,
    memory: dict[str, Any],
    *,
    http: Any = None,
    now: datetime | None = None,
    days: Iterable[date] | None = None,
) -> dict[date, DailyExpectation]:
    """Fetch the weather for days stored without it; return each day's `DailyExpectation`.

    For the daily rollup: it writes the returned values into the Daily row and the Readings weather cells
    (``hourly``), then saves ``memory``. A day leaves the queue once its weather is complete; today is skipped (not
    over yet). Days older than ``ARCHIVE_AFTER_DAYS`` come from the archive endpoint, recent ones from the forecast
    endpoint's past hours. Stops at the first day that still fails (the service is down: no point hammering it).

    Parameters
    ----------
    site, weather, memory, http, now
        As for `daily_expectation`.
    days : iterable of date, optional
        Days to refill; default: `pending_refills` ``(memory)``.
    """
    now = now or datetime.now(UTC)
    today = now.astimezone(ZoneInfo(site.timezone)).date()
    wanted = sorted(set(days)) if days is not None else pending_refills(memory)
    results: dict[date, DailyExpectation] = {}
    for day in wanted:
        if day >= today:
            continue
        result = daily_expectation(site, weather, memory, day, http=http, now=now)
        results[day] = result
        if result.complete:
            queue = memory.get("refill")
            if isinstance(queue, list) and day.isoformat() in queue:
                queue.remove(day.isoformat())
            log.info("site %s: weather refilled for %s (%s)", site.site_id, day, result.source)
        elif result.source == "clearsky":
            break
    return results
