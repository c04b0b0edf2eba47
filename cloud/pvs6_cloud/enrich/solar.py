"""What the sun allowed: sun position, plane-of-array irradiance, cell temperature and PVWatts-style power.

Pure computation (no network, no clock), vectorised over many instants so a backlog of hundreds of snapshots
costs one pass through pvlib, not one per snapshot. pvlib, pandas and numpy are imported inside the functions so
importing this module (and ``cloud/main.py``) stays cheap; the first call pays for them once per process.

Model chain, per instant:

1. Sun position: ``pvlib.solarposition.get_solarposition`` (NREL SPA, numpy).
2. Plane-of-array irradiance, from the best weather input present for that instant:
   Open-Meteo's global tilted irradiance for our tilt and azimuth (``"gti"``); else GHI + DNI + DHI transposed
   with the isotropic sky model (``"ghi+dni+dhi"``); else GHI split into DNI/DHI with the Erbs model, then
   transposed (``"ghi"``); else the clear sky (``"clearsky"``). Isotropic sky and albedo 0.2 match how
   Open-Meteo computes its own tilted irradiance, so the sources agree with each other.
3. Clear sky: Ineichen/Perez with the Linke turbidity climatology for the site and month (pvlib's table).
4. Cell temperature: Faiman with the air temperature (20 °C when unknown) and a light 1 m/s wind.
5. DC power: ``pvlib.pvsystem.pvwatts_dc`` per panel, then the array's ``losses_pct`` (wiring, soiling,
   mismatch, ...; PVWatts' 14 % default).
6. AC power: ``pvlib.inverter.pvwatts`` per microinverter, which clips at ``inverter_ac_w``; times ``panels``.

Angle-of-incidence losses are folded into ``losses_pct`` (PVWatts style), not modelled separately.

A roof of several planes (``[[sites.X.array.planes]]``: east and west faces, a dormer) is modelled plane by
plane, steps 2-6 with each plane's own tilt and azimuth and panel count, and the planes' power summed.
Open-Meteo's tilted irradiance is for the one tilt and azimuth it was asked for (weather.py asks once per site
and day, for the first plane), so with several planes it is not used: every plane is transposed from GHI, DNI
and DHI, which the same answer holds. That is the model Open-Meteo itself uses for its tilted value (isotropic
sky, albedo 0.2), so nothing is lost, and asking once per plane would multiply the calls for no gain.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pvs6_cloud.infra.config import ArrayConfig

__all__ = [
    "DEFAULT_AIR_TEMP_C",
    "DEFAULT_WIND_M_S",
    "DailyEnergy",
    "PowerEstimate",
    "daily_energy",
    "expected_power",
    "sun_position",
]

log = logging.getLogger(__name__)

DEFAULT_AIR_TEMP_C = 20.0  # air temperature assumed when the weather is unknown [°C]
DEFAULT_WIND_M_S = 1.0  # wind speed assumed for cell temperature (Open-Meteo is not asked for wind) [m/s]
ALBEDO = 0.2  # ground reflectance, as Open-Meteo assumes for its tilted irradiance [unitless]
INVERTER_EFFICIENCY = 0.96  # nominal microinverter efficiency, PVWatts default [unitless]
MAX_CLEAR_IRRADIANCE_W_M2 = 1500.0  # a reading above this is not weather, it is a bug [W/m^2]

SOURCE_GTI = "gti"
SOURCE_COMPONENTS = "ghi+dni+dhi"
SOURCE_GHI = "ghi"
SOURCE_CLEARSKY = "clearsky"


@dataclass(frozen=True, slots=True)
class PowerEstimate:
    """The model's answer for n instants; every array has shape (n,).

    Attributes
    ----------
    sun_elevation_deg : ndarray
        Apparent (refraction-corrected) sun elevation [°].
    sun_azimuth_deg : ndarray
        Sun azimuth, clockwise from north [°].
    poa_w_m2 : ndarray
        Plane-of-array irradiance the expectation used [W/m^2].
    expected_kw : ndarray
        Expected AC power of the array for the given weather [kW].
    clearsky_kw : ndarray
        AC power a clear sky would have allowed: the upper bound the detector uses [kW].
    source : tuple of str
        Which input drove ``expected_kw``: ``"gti"``, ``"ghi+dni+dhi"``, ``"ghi"`` or ``"clearsky"``.
    plane_clearsky_kw : tuple of ndarray
        With configured planes, what one panel of each plane could make under a clear sky [kW]; else empty.
    """

    sun_elevation_deg: Any
    sun_azimuth_deg: Any
    poa_w_m2: Any
    expected_kw: Any
    clearsky_kw: Any
    source: tuple[str, ...]
    plane_clearsky_kw: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class DailyEnergy:
    """One day's energy budget from hourly weather, for the Daily tab.

    Attributes
    ----------
    poa_insolation_kwh_m2 : float or None
        Sunlight on the panels' plane over the day [kWh/m^2]; None when no hour had weather.
    ghi_insolation_kwh_m2 : float or None
        Sunlight on a horizontal surface over the day [kWh/m^2]; None when no hour had GHI.
    expected_kwh : float
        Expected AC energy for the weather (clear sky for hours without weather) [kWh].
    clearsky_kwh : float
        AC energy a clear sky would have allowed [kWh].
    hours_with_weather : int
        Daylight hours whose expectation came from weather rather than the clear-sky fallback.
    daylight_hours : int
        Hours with the sun above the horizon at mid-hour.
    """

    poa_insolation_kwh_m2: float | None
    ghi_insolation_kwh_m2: float | None
    expected_kwh: float
    clearsky_kwh: float
    hours_with_weather: int
    daylight_hours: int

    @property
    def complete(self) -> bool:
        """True when every daylight hour had weather."""
        return self.hours_with_weather >= self.daylight_hours


def _times_index(times: Sequence[datetime] | Any) -> Any:
    import pandas as pd

    index = pd.DatetimeIndex(times)
    return index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")


def _column(values: Sequence[float | None] | None, n: int) -> Any:
    """A float array of length n with NaN for missing values (None, NaN, or no array at all)."""
    import numpy as np

    if values is None:
        return np.full(n, np.nan)
    array = np.array([np.nan if v is None else v for v in values], dtype=float)
    if array.shape != (n,):
        raise ValueError(f"expected {n} values, got {array.shape}")
    return array


@functools.lru_cache(maxsize=256)
def _monthly_linke(latitude: float, longitude: float) -> tuple[float, ...]:
    """Linke turbidity climatology for Jan..Dec at a place [unitless] (pvlib's table, read once per place)."""
    import pandas as pd
    import pvlib

    mid_months = pd.DatetimeIndex([f"2021-{m:02d}-15" for m in range(1, 13)], tz="UTC")
    values = pvlib.clearsky.lookup_linke_turbidity(mid_months, latitude, longitude, interp_turbidity=False)
    return tuple(float(v) for v in values.to_numpy())


def sun_position(
    times: Sequence[datetime] | Any, latitude: float, longitude: float, altitude_m: float = 0.0
) -> tuple[Any, Any]:
    """Apparent sun elevation and azimuth for many instants.

    Parameters
    ----------
    times : sequence of datetime
        Aware instants (naive ones are taken as UTC).
    latitude, longitude : float
        Site position [°], north and east positive.
    altitude_m : float, default 0
        Site elevation above sea level [m].

    Returns
    -------
    (ndarray, ndarray)
        Apparent elevation [°] and azimuth clockwise from north [°], one value per instant.
    """
    import pvlib

    index = _times_index(times)
    position = pvlib.solarposition.get_solarposition(index, latitude, longitude, altitude=altitude_m)
    return position["apparent_elevation"].to_numpy(), position["azimuth"].to_numpy()


def _array_ac_kw(poa_w_m2: Any, air_temp_c: Any, array: ArrayConfig, panels: int | None = None) -> Any:
    """AC power of ``panels`` (default: the whole array) on one plane, from its irradiance and the air [kW]."""
    import numpy as np
    import pvlib

    poa = np.clip(np.nan_to_num(poa_w_m2, nan=0.0), 0.0, None)
    temp_cell = pvlib.temperature.faiman(poa, air_temp_c, wind_speed=DEFAULT_WIND_M_S)
    dc_w = pvlib.pvsystem.pvwatts_dc(poa, temp_cell, array.panel_w, array.temp_coeff_pct_per_c / 100.0)
    dc_w = np.clip(np.asarray(dc_w, dtype=float), 0.0, None) * (1.0 - array.losses_pct / 100.0)
    ac_w = pvlib.inverter.pvwatts(dc_w, array.inverter_ac_w / INVERTER_EFFICIENCY, eta_inv_nom=INVERTER_EFFICIENCY)
    ac_w = np.clip(np.nan_to_num(np.asarray(ac_w, dtype=float), nan=0.0), 0.0, array.inverter_ac_w)
    return ac_w * (array.panels if panels is None else panels) / 1000.0


def expected_power(
    times: Sequence[datetime] | Any,
    latitude: float,
    longitude: float,
    array: ArrayConfig,
    *,
    altitude_m: float = 0.0,
    ghi_w_m2: Sequence[float | None] | None = None,
    dni_w_m2: Sequence[float | None] | None = None,
    dhi_w_m2: Sequence[float | None] | None = None,
    poa_w_m2: Sequence[float | None] | None = None,
    air_temp_c: Sequence[float | None] | None = None,
) -> PowerEstimate:
    """Expected and clear-sky AC power of an array at many instants, in one vectorised pass.

    Each weather argument is one value per instant (None or NaN = unknown, or omit the argument entirely); each
    instant uses the best input it has (see the module docstring), so a partial weather record still helps.

    Parameters
    ----------
    times : sequence of datetime
        Aware instants (naive ones are taken as UTC).
    latitude, longitude : float
        Site position [°].
    array : ArrayConfig
        Panel count and watts, tilt, azimuth (pvlib convention: 180 = south), losses, inverter limit; with
        ``planes``, each plane's tilt, azimuth and panel count (their powers are summed).
    altitude_m : float, default 0
        Site elevation [m].
    ghi_w_m2, dni_w_m2, dhi_w_m2 : sequence of float, optional
        Global horizontal, direct normal and diffuse horizontal irradiance [W/m^2].
    poa_w_m2 : sequence of float, optional
        Global irradiance on the array's plane (Open-Meteo ``global_tilted_irradiance``) [W/m^2]; not used when
        the array has several planes (it is for one of them).
    air_temp_c : sequence of float, optional
        Air temperature at 2 m [°C]; ``DEFAULT_AIR_TEMP_C`` where unknown.

    Returns
    -------
    PowerEstimate
        Sun position, irradiance used, expected and clear-sky power, and the source of each expectation.
    """
    import numpy as np
    import pvlib

    index = _times_index(times)
    n = len(index)
    if n == 0:
        empty = np.zeros(0)
        return PowerEstimate(empty, empty, empty, empty, empty, ())
    position = pvlib.solarposition.get_solarposition(index, latitude, longitude, altitude=altitude_m)
    zenith = position["apparent_zenith"].to_numpy()
    azimuth = position["azimuth"].to_numpy()
    dni_extra = pvlib.irradiance.get_extra_radiation(index).to_numpy()

    linke = np.array(_monthly_linke(round(latitude, 2), round(longitude, 2)))[index.month.to_numpy() - 1]
    airmass_rel = pvlib.atmosphere.get_relative_airmass(zenith)
    airmass_abs = pvlib.atmosphere.get_absolute_airmass(airmass_rel, pvlib.atmosphere.alt2pres(altitude_m))
    with np.errstate(divide="ignore", invalid="ignore"):  # night rows: the sun is below the horizon
        clear = pvlib.clearsky.ineichen(zenith, airmass_abs, linke, altitude_m, dni_extra)
    clear_ghi, clear_dni, clear_dhi = (np.nan_to_num(np.asarray(clear[k], dtype=float)) for k in ("ghi", "dni", "dhi"))

    def transpose(tilt_deg: float, azimuth_deg: float, dni: Any, ghi: Any, dhi: Any) -> Any:
        total = pvlib.irradiance.get_total_irradiance(
            tilt_deg, azimuth_deg, zenith, azimuth, dni, ghi, dhi, albedo=ALBEDO, model="isotropic"
        )
        return np.clip(np.nan_to_num(np.asarray(total["poa_global"], dtype=float)), 0.0, None)

    ghi, dni, dhi, gti = (_column(v, n) for v in (ghi_w_m2, dni_w_m2, dhi_w_m2, poa_w_m2))
    for values in (ghi, dni, dhi, gti):
        values[(values < 0) | (values > MAX_CLEAR_IRRADIANCE_W_M2)] = np.nan
    temp_air = _column(air_temp_c, n)
    temp_air = np.where(np.isfinite(temp_air), temp_air, DEFAULT_AIR_TEMP_C)

    # Several planes: Open-Meteo's tilted irradiance fits one of them only, so every plane is transposed from
    # the components instead (module docstring). One plane: the tilted value is the best input, as before.
    has_gti = np.isfinite(gti) & (len(array.planes) <= 1)  # one configured plane is the one asked for
    has_ghi = np.isfinite(ghi)
    has_all = has_ghi & np.isfinite(dni) & np.isfinite(dhi)
    erbs = pvlib.irradiance.erbs(np.nan_to_num(ghi), zenith, index.dayofyear.to_numpy())
    split_dni = np.nan_to_num(np.where(has_all, dni, np.asarray(erbs["dni"], dtype=float)))
    split_dhi = np.nan_to_num(np.where(has_all, dhi, np.asarray(erbs["dhi"], dtype=float)))
    planes = array.model_planes
    poa_sum, expected_kw, clearsky_kw = np.zeros(n), np.zeros(n), np.zeros(n)
    per_panel_clear: list[Any] = []
    for plane in planes:
        clear_poa = transpose(plane.tilt_deg, plane.azimuth_deg, clear_dni, clear_ghi, clear_dhi)
        weather_poa = transpose(plane.tilt_deg, plane.azimuth_deg, split_dni, np.nan_to_num(ghi), split_dhi)
        poa = np.where(has_gti, gti, np.where(has_ghi, weather_poa, clear_poa))
        poa_sum += poa * plane.panels
        expected_kw += _array_ac_kw(poa, temp_air, array, plane.panels)
        clear_kw = _array_ac_kw(clear_poa, temp_air, array, plane.panels)
        clearsky_kw += clear_kw
        per_panel_clear.append(clear_kw / plane.panels)
    source = np.where(
        has_gti, SOURCE_GTI, np.where(has_all, SOURCE_COMPONENTS, np.where(has_ghi, SOURCE_GHI, SOURCE_CLEARSKY))
    )
    return PowerEstimate(
        sun_elevation_deg=90.0 - zenith,
        sun_azimuth_deg=azimuth,
        poa_w_m2=poa_sum / max(1, sum(p.panels for p in planes)),  # the panels' mean: their "plane of array"
        expected_kw=expected_kw,
        clearsky_kw=clearsky_kw,
        source=tuple(str(s) for s in source),
        plane_clearsky_kw=tuple(per_panel_clear) if array.planes else (),
    )


def daily_energy(
    hour_ends: Sequence[datetime],
    latitude: float,
    longitude: float,
    array: ArrayConfig,
    *,
    altitude_m: float = 0.0,
    ghi_w_m2: Sequence[float | None] | None = None,
    dni_w_m2: Sequence[float | None] | None = None,
    dhi_w_m2: Sequence[float | None] | None = None,
    poa_w_m2: Sequence[float | None] | None = None,
    air_temp_c: Sequence[float | None] | None = None,
) -> DailyEnergy:
    """Insolation and expected energy over a day from hourly means (Open-Meteo's "preceding hour" values).

    Each hour is modelled at its middle (``hour_end - 30 min``) with that hour's mean irradiance, and counts for
    one hour of energy, so the sums are kWh/m^2 and kWh directly.

    Parameters
    ----------
    hour_ends : sequence of datetime
        End of each hourly interval (Open-Meteo's time label) [UTC]; typically the 24 hours of one local day.
    latitude, longitude : float
        Site position [°].
    array : ArrayConfig
        The array (see `expected_power`).
    altitude_m : float, default 0
        Site elevation [m].
    ghi_w_m2, dni_w_m2, dhi_w_m2, poa_w_m2, air_temp_c : sequence of float, optional
        Hourly means aligned with ``hour_ends`` [W/m^2] and air temperature [°C]; None where unknown.

    Returns
    -------
    DailyEnergy
        POA and horizontal insolation [kWh/m^2], expected and clear-sky energy [kWh], coverage counts.
    """
    import numpy as np
    import pandas as pd

    mids = _times_index(hour_ends) - pd.Timedelta(minutes=30)
    estimate = expected_power(
        mids, latitude, longitude, array, altitude_m=altitude_m, ghi_w_m2=ghi_w_m2, dni_w_m2=dni_w_m2,
        dhi_w_m2=dhi_w_m2, poa_w_m2=poa_w_m2, air_temp_c=air_temp_c,
    )
    n = len(mids)
    daylight = estimate.sun_elevation_deg > 0
    from_weather = np.array([s != SOURCE_CLEARSKY for s in estimate.source], dtype=bool) & daylight
    ghi = _column(ghi_w_m2, n)
    ghi_ok = np.isfinite(ghi)
    return DailyEnergy(
        poa_insolation_kwh_m2=float(np.sum(estimate.poa_w_m2[from_weather])) / 1000.0 if from_weather.any() else None,
        ghi_insolation_kwh_m2=float(np.sum(np.clip(ghi[ghi_ok], 0, None))) / 1000.0 if ghi_ok.any() else None,
        expected_kwh=float(np.sum(estimate.expected_kw)),
        clearsky_kwh=float(np.sum(estimate.clearsky_kw)),
        hours_with_weather=int(from_weather.sum()),
        daylight_hours=int(daylight.sum()),
    )
