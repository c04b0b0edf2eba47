"""Open-Meteo's hourly answer and what we keep of it: the variables, their units and time semantics, `WeatherDay`.

Time semantics (Open-Meteo's): radiation variables are the mean over the hour *before* the label
(``shortwave_radiation`` at 14:00 is the 13:00-14:00 mean); ``snowfall`` is the sum over that hour;
``cloud_cover``, ``temperature_2m`` and ``snow_depth`` are instantaneous at the label. `WeatherDay.sample`
interpolates each kind accordingly (a sum is not interpolated: an instant gets the hour it falls in).
`read_openmeteo_hourly` turns an answer into a `WeatherDay`, tolerant of holes and strict about shapes.
Part of the weather client; import it from `pvs6_cloud.enrich.weather`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pvs6_cloud.infra.errors import TransientError

__all__ = [
    "FIELDS",
    "HOUR_MEAN_FIELDS",
    "HOUR_SUM_FIELDS",
    "OPTIONAL_FIELDS",
    "VARIABLE_MAP",
    "WeatherDay",
    "WeatherError",
    "WeatherFormatError",
    "WeatherUnavailable",
    "local_day_bounds",
    "read_openmeteo_hourly",
]

log = logging.getLogger(f"{__package__}.weather")  # one logger name for the whole weather client

# Open-Meteo hourly variable -> our field name (the `Conditions` field it fills). One place for the wire names.
VARIABLE_MAP: Mapping[str, str] = {
    "cloud_cover": "cloud_cover_pct",
    "shortwave_radiation": "ghi_w_m2",
    "direct_normal_irradiance": "dni_w_m2",
    "diffuse_radiation": "dhi_w_m2",
    "global_tilted_irradiance": "poa_w_m2",
    "temperature_2m": "air_temp_c",
    # Snow, for the snow hold (`detect.snow`). Open-Meteo's "Hourly Parameter Definition" (forecast API,
    # https://open-meteo.com/en/docs; the historical API at /en/docs/historical-weather-api has the same two):
    # ``snowfall`` is "Preceding hour sum", cm, "Snowfall amount of the preceding hour in centimeters";
    # ``snow_depth`` is "Instant", meters, "Snow depth on the ground". A model without a variable answers it as
    # nulls; those stay unknown, and the detector then goes by the readings alone.
    "snowfall": "snowfall_cm",
    "snow_depth": "snow_depth_m",
}
# Units Open-Meteo uses for them by default; anything else is refused per variable (never silently mis-scaled).
_UNITS: Mapping[str, tuple[str, ...]] = {
    "cloud_cover": ("%",),
    "shortwave_radiation": ("W/m²", "W/m2", "W/m^2"),
    "direct_normal_irradiance": ("W/m²", "W/m2", "W/m^2"),
    "diffuse_radiation": ("W/m²", "W/m2", "W/m^2"),
    "global_tilted_irradiance": ("W/m²", "W/m2", "W/m^2"),
    "temperature_2m": ("°C", "C", "degC"),
    "snowfall": ("cm",),
    "snow_depth": ("m",),
}
HOUR_MEAN_FIELDS = frozenset({"ghi_w_m2", "dni_w_m2", "dhi_w_m2", "poa_w_m2"})
HOUR_SUM_FIELDS = frozenset({"snowfall_cm"})
# Variables some models or answers lack without anything being wrong: their absence is not worth a warning.
OPTIONAL_FIELDS = frozenset({"snowfall_cm", "snow_depth_m"})
# Decimals kept in the persisted memory (0.1 unless said): snow depth is in metres, a centimetre must survive.
_MEMORY_DIGITS: Mapping[str, int] = {"snowfall_cm": 2, "snow_depth_m": 3}
FIELDS = tuple(VARIABLE_MAP.values())

_HOUR = timedelta(hours=1)


class WeatherError(TransientError):
    """The weather service failed for now; ingest goes on without weather and the day is refilled later."""


class WeatherUnavailable(WeatherError):
    """No answer: connection refused, timeout, or an HTTP error status (the server's reason is in the message)."""


class WeatherFormatError(WeatherError):
    """An answer that is not Open-Meteo's hourly JSON (an HTML error page, wrong shapes, no usable variable)."""


def local_day_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    """The UTC instants where a site-local calendar day starts and ends (23 or 25 hours on DST days)."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


@dataclass(frozen=True, slots=True)
class WeatherDay:
    """Hourly weather covering one site-local day.

    ``values[field][i]`` belongs to the label ``start + i hours`` [UTC]; labels run from the local midnight that
    starts the day to one hour past the one that ends it, so every instant of the day has hour means around it.
    Values are in Open-Meteo's units: % for cloud cover, W/m^2 for irradiance, °C for air temperature, cm for
    snowfall (the hour's sum), m for snow depth.
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
        an hour); None when neither is there or the instant is outside the day. An hour's sum (snowfall) is not
        spread: the instant gets the sum of the hour it falls in (the label at or after it).
        """
        out: dict[str, list[float | None]] = {}
        for name in FIELDS:
            series = self.values.get(name, ())
            if name in HOUR_SUM_FIELDS:
                out[name] = [_hour_of(series, (t - self.start).total_seconds() / 3600.0) for t in times]
                continue
            shift = 0.5 if name in HOUR_MEAN_FIELDS else 0.0
            out[name] = [_interpolate(series, (t - self.start).total_seconds() / 3600.0 + shift) for t in times]
        return out

    def to_memory(self) -> dict[str, Any]:
        """Plain JSON for the persisted memory (values rounded to 0.1, snow to what it needs)."""
        return {
            "day": self.day.isoformat(),
            "start": self.start.isoformat(),
            "source": self.source,
            "fetched_at": self.fetched_at.isoformat(),
            "key": self.key,
            "values": {k: [None if v is None else round(v, _MEMORY_DIGITS.get(k, 1)) for v in vs]
                       for k, vs in self.values.items()},
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


def _hour_of(series: Sequence[float | None], position: float) -> float | None:
    """The value of the label that ends the hour ``position`` (hours after the first label) falls in."""
    index = math.ceil(position)
    return series[index] if 0 <= index < len(series) else None


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
            level = logging.DEBUG if raw is None and name in OPTIONAL_FIELDS else logging.WARNING
            log.log(level, "weather %s: %s missing or of the wrong length; left empty", day, wire)
            continue
        if unit is not None and unit not in _UNITS[wire]:
            log.warning("weather %s: %s in unexpected units %r; left empty", day, wire, unit)
            continue
        values[name] = tuple(_number(raw[index[t]]) if t in index else None for t in labels)
    if not any(v is not None for vs in values.values() for v in vs):
        raise WeatherFormatError(f"no usable hourly values for {day} (variables: {sorted(hourly)})")
    return WeatherDay(day=day, start=start, values=values, source=source, fetched_at=fetched_at, key=key)
