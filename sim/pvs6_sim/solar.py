"""Physics of the simulated site: sun, irradiance, cell temperature, per-panel AC power, house load.

All functions are vectorised over a pandas `DatetimeIndex` so that months of simulated time integrate in
a fraction of a second. Randomness (cloud variability, load noise, meter noise) comes from a counter-based
hash of (seed, time bucket), never from a stateful generator, so a value depends only on the config and
the instant asked for, not on how often or in which order the simulator was queried.

Model chain: pvlib "ephemeris" solar position -> Ineichen clear sky (fixed Linke turbidity, no lookup
table) -> isotropic plane-of-array transposition -> weather factor of the day -> Faiman cell
temperature -> PVWatts DC (per roof face, per-panel spread and shade, system losses) -> PVWatts inverter
clipped at the microinverter AC limit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pvlib

from .config import SimConfig

LINKE_TURBIDITY = 3.0  # a typical clear, moderately hazy sky [unitless]
GAMMA_PDC_PER_C = -0.0029  # SunPower Maxeon temperature coefficient [1/°C]
INVERTER_EFFICIENCY = 0.96  # nominal microinverter efficiency [unitless]
SYSTEM_LOSSES = 0.10  # soiling, wiring, mismatch and ageing of a real roof [unitless]
WAKE_ELEVATION_DEG = 1.0  # below this sun elevation every microinverter sleeps [°]
WAKE_DC_W = 3.0  # below this DC power a microinverter does not produce [W]
SNOW_FACTOR = 0.004  # fraction of irradiance reaching snow-covered cells [unitless]
NOISE_BUCKET_S = 300  # randomness changes every 5 minutes of simulated time [s]


@dataclass(frozen=True, slots=True)
class PowerSample:
    """Physical state at n instants for p panels.

    elevation_deg (n,) [°], temp_air_c (n,) [°C], temp_cell_c (n,) [°C] and poa_w_m2 (n,) [W/m²] (means over
    the panels),
    dc_w (n, p) [W], ac_w (n, p) [W], awake (n, p) bool (the microinverter is producing and reporting).
    """

    elevation_deg: np.ndarray
    temp_air_c: np.ndarray
    temp_cell_c: np.ndarray
    poa_w_m2: np.ndarray
    dc_w: np.ndarray
    ac_w: np.ndarray
    awake: np.ndarray


def hash_uniform(seed: int, stream: int, keys: np.ndarray) -> np.ndarray:
    """Map integer keys to uniform floats in [0, 1), deterministically (splitmix64 finaliser).

    Parameters
    ----------
    seed : int
        The config seed.
    stream : int
        Separates independent noise sources (clouds, load, meters...).
    keys : ndarray of int
        Usually a time bucket number.

    Returns
    -------
    ndarray of float
        Same shape as `keys`, values in [0, 1).
    """
    with np.errstate(over="ignore"):
        x = keys.astype(np.uint64) ^ np.uint64((seed * 0x9E3779B1 + stream * 0x85EBCA77) & (2**64 - 1))
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(2**53)


def panel_factors(config: SimConfig) -> np.ndarray:
    """Per-panel deterministic production spread around 1.0 [unitless], shape (panels,)."""
    spread = config.array.panel_spread_pct / 100.0
    u = hash_uniform(config.seed, 7, np.arange(config.array.panels))
    return 1.0 + spread * (2.0 * u - 1.0)


def _epoch_s(times: pd.DatetimeIndex) -> np.ndarray:
    return times.asi8 // 10**9 if times.unit == "ns" else times.as_unit("ns").asi8 // 10**9


def weather_factor(times: pd.DatetimeIndex, config: SimConfig) -> np.ndarray:
    """Fraction of clear-sky plane-of-array irradiance that reaches the panels [unitless], shape (n,).

    Clear days are 1.0 with a tiny shimmer; cloudy days wander between about 0.1 and 0.9 with a day
    level and 5-minute variability; snow days are near zero for every panel.
    """
    epoch = _epoch_s(times)
    days = epoch // 86400
    out = np.empty(len(times))
    bucket = epoch // NOISE_BUCKET_S
    for day in np.unique(days):
        mask = days == day
        kind = config.weather_on(pd.Timestamp(int(day) * 86400, unit="s", tz="UTC").date())
        if kind == "clear":
            out[mask] = 0.99 + 0.01 * hash_uniform(config.seed, 11, bucket[mask])
        elif kind == "snow":
            out[mask] = SNOW_FACTOR
        else:
            level = 0.2 + 0.35 * hash_uniform(config.seed, 12, np.array([day]))[0]
            slow = hash_uniform(config.seed, 13, bucket[mask] // 6)
            fast = hash_uniform(config.seed, 14, bucket[mask])
            out[mask] = np.clip(level + 0.45 * (slow - 0.5) + 0.3 * (fast - 0.5), 0.05, 0.95)
    return out


def air_temperature_c(times: pd.DatetimeIndex, config: SimConfig) -> np.ndarray:
    """A seasonal and diurnal air temperature for a northeast-US-like climate [°C], shape (n,)."""
    doy = times.day_of_year.to_numpy()
    solar_hour = (times.hour.to_numpy() + times.minute.to_numpy() / 60.0 + config.site.longitude / 15.0) % 24
    seasonal = 10.0 - 13.0 * np.cos(2.0 * np.pi * (doy - 20) / 365.25)
    diurnal = 5.0 * np.cos(2.0 * np.pi * (solar_hour - 15.0) / 24.0)
    return seasonal + diurnal


def array_power(times: pd.DatetimeIndex, config: SimConfig, factors: np.ndarray | None = None) -> PowerSample:
    """Compute per-panel DC and AC power at each instant (no faults applied).

    Parameters
    ----------
    times : pandas.DatetimeIndex
        Instants [tz-aware UTC].
    config : SimConfig
        Site, array and weather.
    factors : ndarray, optional
        Per-panel multipliers [unitless]; defaults to `panel_factors(config)`.

    Returns
    -------
    PowerSample
        Arrays over (instant, panel).
    """
    site, array = config.site, config.array
    if factors is None:
        factors = panel_factors(config)
    sun = pvlib.solarposition.ephemeris(times, site.latitude, site.longitude)
    zenith = sun["apparent_zenith"].to_numpy()
    elevation = sun["apparent_elevation"].to_numpy()
    airmass = pvlib.atmosphere.get_relative_airmass(zenith)
    pressure = pvlib.atmosphere.alt2pres(site.altitude_m)
    airmass_abs = pvlib.atmosphere.get_absolute_airmass(airmass, pressure)
    dni_extra = pvlib.irradiance.get_extra_radiation(times).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        clear = pvlib.clearsky.ineichen(zenith, airmass_abs, LINKE_TURBIDITY, site.altitude_m, dni_extra)
    ghi, dni, dhi = (np.nan_to_num(np.asarray(clear[k], dtype=float)) for k in ("ghi", "dni", "dhi"))
    sun_azimuth = sun["azimuth"].to_numpy()
    faces = [(array.tilt_deg, array.azimuth_deg, tuple(range(array.panels)))]
    faces += [(p.tilt_deg, p.azimuth_deg, p.panels) for p in array.planes]
    poa_panels = np.empty((len(times), array.panels))
    for tilt, azimuth, panels in faces:  # later faces override the default face for their panels
        face = pvlib.irradiance.get_total_irradiance(tilt, azimuth, zenith, sun_azimuth, dni, ghi, dhi,
                                                     model="isotropic")["poa_global"]
        cols = [i for i in panels if 0 <= i < array.panels]
        poa_panels[:, cols] = np.nan_to_num(np.asarray(face, dtype=float))[:, None]
    poa_panels *= weather_factor(times, config)[:, None]
    poa_panels = np.where(elevation[:, None] > 0.0, poa_panels, 0.0)
    for shade in array.shade:
        shaded = ((sun_azimuth >= shade.min_azimuth_deg) & (sun_azimuth < shade.max_azimuth_deg)
                  & (elevation < shade.max_elevation_deg))
        cols = [i for i in shade.panels if 0 <= i < array.panels]
        poa_panels[np.ix_(shaded, cols)] *= shade.transmission
    poa = poa_panels.mean(axis=1)
    temp_air = air_temperature_c(times, config)
    temp_cell = np.asarray(pvlib.temperature.faiman(poa_panels, temp_air[:, None], wind_speed=1.5), dtype=float)
    dc_one = np.asarray(pvlib.pvsystem.pvwatts_dc(poa_panels, temp_cell, array.panel_w, GAMMA_PDC_PER_C),
                        dtype=float)
    dc = np.clip(dc_one, 0.0, None) * factors[None, :] * (1.0 - SYSTEM_LOSSES)
    temp_cell = temp_cell.mean(axis=1)
    ac_limit_w = array.inverter_ac_limit_kw * 1000.0
    ac = np.asarray(pvlib.inverter.pvwatts(dc, ac_limit_w / INVERTER_EFFICIENCY, INVERTER_EFFICIENCY))
    awake = (elevation[:, None] > WAKE_ELEVATION_DEG) & (dc > WAKE_DC_W)
    ac = np.where(awake, np.clip(ac, 0.0, ac_limit_w), 0.0)
    return PowerSample(elevation, temp_air, temp_cell, poa, dc, ac, awake)


def house_load_kw(times: pd.DatetimeIndex, config: SimConfig) -> np.ndarray:
    """House consumption [kW], shape (n,): base load plus morning and evening bumps in local time."""
    profile = config.consumption
    local = times.tz_convert(config.site.timezone)
    hour = local.hour.to_numpy() + local.minute.to_numpy() / 60.0 + local.second.to_numpy() / 3600.0
    bumps = (profile.morning_kw * np.exp(-0.5 * ((hour - profile.morning_hour) / 1.0) ** 2)
             + profile.evening_kw * np.exp(-0.5 * ((hour - profile.evening_hour) / 1.5) ** 2))
    noise = hash_uniform(config.seed, 21, _epoch_s(times) // NOISE_BUCKET_S)
    return (profile.base_kw + bumps) * (1.0 + profile.noise_pct / 100.0 * (2.0 * noise - 1.0))


def small_noise(config: SimConfig, stream: int, epoch_s: int, scale: float) -> float:
    """A deterministic value in [-scale, +scale] for one instant (meter jitter, voltages)."""
    return float(scale * (2.0 * hash_uniform(config.seed, stream, np.array([epoch_s]))[0] - 1.0))


__all__ = [
    "PowerSample",
    "air_temperature_c",
    "array_power",
    "hash_uniform",
    "house_load_kw",
    "panel_factors",
    "small_noise",
    "weather_factor",
]
