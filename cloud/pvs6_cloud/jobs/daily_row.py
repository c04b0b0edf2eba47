"""One local day's ``Daily`` row from that day's readings: the pure arithmetic of the daily rollup.

Energies come from the meters' lifetime counters, never from summed samples, so a gap in readings loses no
energy: a day's production is the production counter at its last reading minus the counter at the last reading
before the day (the previous evening's, so the night's grid import is counted too), or, when the previous day
has no reading at all, minus the counter at the day's first reading.

Per-panel energy is the trapezoid integral of each panel's kW samples over the day. Readings carry only per-panel
power, not each inverter's lifetime counter, so this is the one number a long gap can shave; it is still the
right measure for what it is used for (comparing panels with each other), because every panel is integrated over
the same samples, so a gap shaves all of them alike. If Readings ever stores per-inverter lifetimes, switch
`panel_energy_kwh` to counter differences like the meters.

Kept apart from `pvs6_cloud.jobs.daily` (which reads the sheet, asks the weather service and writes the rows) so
this part stays plain functions of records, which a test (or a replay) can call without a sheet.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise

from pvs6_cloud.infra.config import SiteConfig
from pvs6_cloud.jobs.window import CADENCE_MIN, active_minutes, day_bounds
from pvs6_cloud.store import Panels
from pvs6_cloud.store.layout import Cell, panel_key

__all__ = [
    "COUNTERS",
    "DayWeather",
    "WeatherFill",
    "counter_baseline",
    "has_reading_gap",
    "panel_energy_kwh",
    "rollup_day",
    "rollup_days",
]

log = logging.getLogger(__name__)

COUNTERS = {
    "production": "lifetime_production_kwh",
    "import": "lifetime_import_kwh",
    "export": "lifetime_export_kwh",
}
_MIN_EXPECTED_KWH = 0.1


@dataclass(frozen=True, slots=True)
class DayWeather:
    """A day's weather from the weather service, used where the readings' own weather cells are missing.

    Attributes
    ----------
    cloud_cover_pct : float or None
        Mean daytime cloud cover [%].
    insolation_kwh_m2 : float or None
        Sunlight on the panels over the day [kWh/m²].
    expected_kwh : float or None
        What the array should have produced in that weather [kWh].
    """

    cloud_cover_pct: float | None = None
    insolation_kwh_m2: float | None = None
    expected_kwh: float | None = None


# What the weather service says of a day, asked for only when the readings lack it (see `rollup_days`).
WeatherFill = Callable[[date], DayWeather | None]


def _num(value: Cell) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def _integrate(points: Iterable[tuple[datetime, float]]) -> float:
    """Trapezoid integral of (time, value) points over hours [value·h]; needs two points to be non-zero."""
    total = 0.0
    prev: tuple[datetime, float] | None = None
    for at, value in points:
        if prev is not None:
            hours = (at - prev[0]).total_seconds() / 3600.0
            if hours > 0:
                total += hours * (prev[1] + value) / 2.0
        prev = (at, value)
    return total


def _series(readings: Sequence[Mapping[str, Cell]], key: str) -> list[tuple[datetime, float]]:
    out = []
    for r in readings:
        at, value = r.get("time"), _num(r.get(key))
        if isinstance(at, datetime) and value is not None:
            out.append((at, value))
    return out


def panel_energy_kwh(readings: Sequence[Mapping[str, Cell]], panels: Panels) -> dict[str, float | None]:
    """Each panel's energy over the readings: trapezoid integral of its kW samples [kWh].

    Parameters
    ----------
    readings : sequence of records
        One local day's Readings rows, sorted by time.
    panels : sequence of (serial, label)
        Panel columns.

    Returns
    -------
    dict
        ``panel:<serial>`` -> kWh, or None for a panel with no sample that day.
    """
    out: dict[str, float | None] = {}
    for serial, _label in panels:
        key = panel_key(serial)
        points = _series(readings, key)
        out[key] = max(0.0, _integrate(points)) if points else None
    return out


def counter_baseline(before: Sequence[Mapping[str, Cell]], day_start: datetime) -> dict[str, float]:
    """The latest value of each lifetime counter in readings from the previous local day.

    Parameters
    ----------
    before : sequence of records
        Readings earlier than the day, sorted by time (older ones are ignored).
    day_start : datetime
        Local midnight starting the day [aware].

    Returns
    -------
    dict
        Counter key -> kWh, only for counters the previous day reported.
    """
    earliest = day_start - timedelta(days=1)
    base: dict[str, float] = {}
    for r in before:
        at = r.get("time")
        if not isinstance(at, datetime) or not earliest <= at < day_start:
            continue
        for key in COUNTERS.values():
            value = _num(r.get(key))
            if value is not None:
                base[key] = value
    return base


def _counter_delta(readings: Sequence[Mapping[str, Cell]], key: str, baseline: Mapping[str, float]) -> float | None:
    values = [v for _, v in _series(readings, key)]
    if not values:
        return None
    start = baseline.get(key, values[0])
    delta = values[-1] - start
    if delta < 0:
        log.warning("counter %s went backwards (%.3f -> %.3f kWh): meter reset or replaced; no energy for the day",
                    key, start, values[-1])
        return None
    return delta


def _is_daylight(r: Mapping[str, Cell]) -> bool:
    for key in ("irradiance_w_m2", "expected_kw", "production_kw"):
        value = _num(r.get(key))
        if value is not None and value > 0.001:
            return True
    return False


def _completeness(readings: Sequence[Mapping[str, Cell]], day: date, site: SiteConfig) -> float:
    """Share of the active hours' 15-minute slots that hold at least one reading [fraction 0..1].

    Slots are counted in real minutes from the day's first active hour, so a DST day whose active hours hold 23
    or 25 hours has that many hours of slots.
    """
    start_h, end_h = site.active_hours
    day_start, day_end = day_bounds(day, site.tz)
    opens = datetime.combine(day, time(start_h), tzinfo=site.tz).astimezone(UTC)
    active = active_minutes(day_start, day_end, site.tz, site.active_hours)
    slots: set[int] = set()
    for r in readings:
        at = r.get("time")
        if not isinstance(at, datetime):
            continue
        local = at.astimezone(site.tz)
        if local.date() != day or not start_h <= local.hour < end_h:
            continue
        slots.add(int((at - opens).total_seconds() / 60.0 // CADENCE_MIN))
    return min(1.0, len(slots) / max(1, round(active / CADENCE_MIN)))


def has_reading_gap(readings: Sequence[Mapping[str, Cell]]) -> bool:
    """True when the day's expectation series misses readings (two in a row more than two cadences apart).

    Integrating what the weather allowed across such a gap draws a straight line under the midday hump, so the
    day's expectation would be too low (and its ratio above 100 %).
    """
    times = [at for at, _value in _series(readings, "expected_kw")]
    return any((b - a).total_seconds() > 2 * CADENCE_MIN * 60 for a, b in pairwise(times))


def _weather(readings: Sequence[Mapping[str, Cell]], fill: DayWeather | None) -> tuple[float | None, ...]:
    """(cloud cover %, insolation kWh/m², expected kWh) from the readings, gaps filled from ``fill``.

    When readings are missing inside the day, the weather service's whole-day sunlight and expectation replace
    the integrals over the readings received: the expectation covers the whole day.
    """
    daylight = [r for r in readings if _is_daylight(r)]
    clouds = [v for r in daylight if (v := _num(r.get("cloud_cover_pct"))) is not None]
    sun = _series(readings, "irradiance_w_m2")
    expected = _series(readings, "expected_kw")
    enough = max(2, len(daylight) // 2)
    cloud = sum(clouds) / len(clouds) if len(clouds) >= enough else None
    insolation = _integrate(sun) / 1000.0 if len(sun) >= enough else None
    expected_kwh = _integrate(expected) if len(expected) >= enough else None
    if fill is not None and has_reading_gap(readings):
        insolation = fill.insolation_kwh_m2 if fill.insolation_kwh_m2 is not None else insolation
        expected_kwh = fill.expected_kwh if fill.expected_kwh is not None else expected_kwh
    if fill is not None:
        cloud = cloud if cloud is not None else fill.cloud_cover_pct
        insolation = insolation if insolation is not None else fill.insolation_kwh_m2
        expected_kwh = expected_kwh if expected_kwh is not None else fill.expected_kwh
    return cloud, insolation, expected_kwh


def rollup_day(
    readings: Sequence[Mapping[str, Cell]],
    day: date,
    site: SiteConfig,
    panels: Panels,
    *,
    baseline: Mapping[str, float] | None = None,
    weather: DayWeather | None = None,
) -> dict[str, Cell]:
    """The ``Daily`` row of one local day.

    Parameters
    ----------
    readings : sequence of records
        The day's Readings rows (typed, any order).
    day : date
        The local calendar day.
    site : SiteConfig
        Zone and active hours.
    panels : sequence of (serial, label)
        Panel columns of the Daily tab.
    baseline : mapping, optional
        Counter key -> the last value before the day (`counter_baseline`); without it a day starts at its first
        reading.
    weather : DayWeather, optional
        The weather service's view of the day, for cells the readings lack.

    Returns
    -------
    dict
        Keyed record: energies [kWh], peak [kW] and its local time ("HH:MM"), weather summary, ``performance_ratio``
        and ``completeness_pct`` as fractions (the sheet shows them as %), one kWh per panel.
    """
    ordered = sorted((r for r in readings if isinstance(r.get("time"), datetime)), key=lambda r: r["time"])
    base = dict(baseline or {})
    production = _counter_delta(ordered, COUNTERS["production"], base)
    imported = _counter_delta(ordered, COUNTERS["import"], base)
    exported = _counter_delta(ordered, COUNTERS["export"], base)
    consumption = None
    if production is not None and imported is not None and exported is not None:
        consumption = max(0.0, production + imported - exported)
    peak = max(_series(ordered, "production_kw"), key=lambda p: p[1], default=None)
    cloud, insolation, expected_kwh = _weather(ordered, weather)
    ratio = None
    if production is not None and expected_kwh is not None and expected_kwh >= _MIN_EXPECTED_KWH:
        ratio = production / expected_kwh
    row: dict[str, Cell] = {
        "date": day,
        "production_kwh": production,
        "consumption_kwh": consumption,
        "import_kwh": imported,
        "export_kwh": exported,
        "peak_kw": peak[1] if peak else None,
        "peak_time": f"{peak[0].astimezone(site.tz):%H:%M}" if peak else None,
        "cloud_cover_pct": cloud,
        "insolation_kwh_m2": insolation,
        "expected_kwh": expected_kwh,
        "performance_ratio": ratio,
        "completeness_pct": _completeness(ordered, day, site),
    }
    row.update(panel_energy_kwh(ordered, panels))
    return row


def _by_day(readings: Sequence[Mapping[str, Cell]], site: SiteConfig) -> dict[date, list[Mapping[str, Cell]]]:
    grouped: dict[date, list[Mapping[str, Cell]]] = defaultdict(list)
    for r in readings:
        at = r.get("time")
        if isinstance(at, datetime):
            grouped[at.astimezone(site.tz).date()].append(r)
    for rows in grouped.values():
        rows.sort(key=lambda r: r["time"])
    return grouped


def rollup_days(
    readings: Sequence[Mapping[str, Cell]],
    days: Sequence[date],
    site: SiteConfig,
    panels: Panels,
    weather_fill: WeatherFill | None = None,
) -> list[dict[str, Cell]]:
    """`rollup_day` for each of ``days`` over one list of readings (each day's baseline from the day before)."""
    grouped = _by_day(readings, site)
    out = []
    for day in days:
        start, _end = day_bounds(day, site.tz)
        records = grouped.get(day, [])
        baseline = counter_baseline(grouped.get(day - timedelta(days=1), []), start)
        row = rollup_day(records, day, site, panels, baseline=baseline)
        lacking = any(row[k] is None for k in ("cloud_cover_pct", "insolation_kwh_m2", "expected_kwh")) \
            or has_reading_gap(records)
        if weather_fill is not None and records and lacking:
            row = rollup_day(records, day, site, panels, baseline=baseline, weather=weather_fill(day))
        out.append(row)
    return out
