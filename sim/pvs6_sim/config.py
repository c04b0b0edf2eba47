"""Configuration of a simulated PVS6 site: the array, the place, the weather and the house.

Everything the simulator produces is a deterministic function of a `SimConfig` and the simulated times
asked for, so two simulators built from equal configs answer byte-for-byte the same. Serial numbers are
derived from `SimConfig.seed` so they are stable across runs but differ between seeds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Literal

WeatherKind = Literal["clear", "cloudy", "snow"]
DEFAULT_WEATHER_KINDS: tuple[str, ...] = ("clear", "cloudy", "snow", "mixed")
VARSERVER_MIN_BUILD = 61840  # first PVS6 build with the /auth + /vars LocalAPI


@dataclass(frozen=True, slots=True)
class Plane:
    """A roof face some panels sit on: tilt_deg [°], azimuth_deg [° from north, 180 = south], panels (0-based)."""

    tilt_deg: float
    azimuth_deg: float
    panels: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Shade:
    """Something that shades some panels whenever the sun stands in a patch of sky (a tree, a chimney).

    Because it is geometry, it recurs every day the sun passes that patch. panels (0-based), azimuth window
    [min_azimuth_deg, max_azimuth_deg) [° from north], below max_elevation_deg [°]; transmission [unitless] is
    the share of the light that still reaches the cells (a dense tree lets through a few percent).
    """

    panels: tuple[int, ...]
    min_azimuth_deg: float = 0.0
    max_azimuth_deg: float = 360.0
    max_elevation_deg: float = 90.0
    transmission: float = 0.03


@dataclass(frozen=True, slots=True)
class ArrayConfig:
    """The PV array: microinverter count, circuits and panel geometry.

    Attributes: panels (count), circuits (count; panels are split evenly, in order), panel_w [W DC],
    tilt_deg [°], azimuth_deg [° from north, 180 = south], inverter_ac_limit_kw [kW] (AC clipping of one
    microinverter), panel_spread_pct [%] (deterministic per-panel spread, +/-). planes: roof faces that
    override tilt and azimuth for the panels they list (others keep tilt_deg/azimuth_deg); shade: recurring
    shadows (`Shade`).
    """

    panels: int = 12
    circuits: int = 2
    panel_w: float = 360.0
    tilt_deg: float = 30.0
    azimuth_deg: float = 180.0
    inverter_ac_limit_kw: float = 0.32
    panel_spread_pct: float = 3.0
    inverter_model: str = "AC_Module_Type_E"
    inverter_type: str = "SOLARBRIDGE"
    inverter_swver: str = "4.40.1"
    planes: tuple[Plane, ...] = ()
    shade: tuple[Shade, ...] = ()

    def circuit_of(self, index: int) -> int:
        """Return the 1-based circuit number that inverter `index` (0-based) hangs on."""
        per_circuit = max(1, -(-self.panels // max(1, self.circuits)))
        return index // per_circuit + 1


@dataclass(frozen=True, slots=True)
class SiteConfig:
    """Where the array is. latitude/longitude [°], altitude_m [m], timezone (IANA) for the house's habits."""

    latitude: float = 41.76
    longitude: float = -72.68
    altitude_m: float = 50.0
    timezone: str = "America/New_York"


@dataclass(frozen=True, slots=True)
class PvsConfig:
    """The supervisor itself: identity, firmware and baseline health counters."""

    serial: str = ""  # empty: derived from the seed
    hwver: str = "6.02"
    build: int = 61839
    swver_date: str = "2025.06"
    uptime_at_start_s: float = 3 * 86400.0
    nightly_reboot_hour_utc: int | None = None  # the real PVS6 reboots nightly; None = never
    reboot_down_s: float = 540.0  # how long a reboot keeps the PVS silent [s]
    flash_avail_kb: int = 59039
    comm_err_base: int = 0
    # /sys/pvs/flashwear_type_b: the eMMC life-time code, 0x01 (up to 10 % used) to 0x0B (rated life exceeded);
    # 0 = this firmware has no such variable (a name list holding it then answers 400).
    flash_wear_code: int = 2
    # How the varserver lists devices: "current" (/sys/devices/inverter/<i>/<field>, build 61845) or "early"
    # (one JSON object per device, /sys/devices/<n>/inverter/data, as LocalAPI.md shows for build 61840).
    device_layout: str = "current"

    def __post_init__(self) -> None:
        if self.device_layout not in ("current", "early"):
            raise ValueError("pvs.device_layout must be current or early")
        if not 0 <= self.flash_wear_code <= 0x0B:
            raise ValueError("pvs.flash_wear_code must be 0 (absent) or 1 to 11")

    @property
    def swver(self) -> str:
        """The DeviceList SWVER string, e.g. "2025.06, Build 61839"."""
        return f"{self.swver_date}, Build {self.build}"


@dataclass(frozen=True, slots=True)
class ConsumptionProfile:
    """A simple daily house load: base plus a morning and an evening bump [kW], in site local time."""

    base_kw: float = 0.45
    morning_kw: float = 1.2
    morning_hour: float = 7.5
    evening_kw: float = 1.8
    evening_hour: float = 19.0
    noise_pct: float = 15.0


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Everything that defines a simulated site.

    `weather` maps a UTC calendar date to "clear", "cloudy" or "snow"; other days use `default_weather`
    ("mixed" picks a kind per day from the seed). `api` is "dl_cgi" (old firmware: no varserver),
    "varserver" (new firmware; a build below 61840 is raised to 61845 "2025.09.04") or "both".
    `session_ttl_s` is how long a varserver session lasts in REAL seconds. `step_s` is the integration
    step of the lifetime counters [s].
    """

    array: ArrayConfig = field(default_factory=ArrayConfig)
    site: SiteConfig = field(default_factory=SiteConfig)
    pvs: PvsConfig = field(default_factory=PvsConfig)
    consumption: ConsumptionProfile = field(default_factory=ConsumptionProfile)
    weather: dict[date, str] = field(default_factory=dict)
    default_weather: str = "clear"
    start: datetime = datetime(2025, 6, 1, 4, 0, tzinfo=UTC)
    seed: int = 1
    step_s: float = 300.0
    api: str = "both"
    session_ttl_s: float = 360.0

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("SimConfig.start must be timezone-aware (UTC)")
        if self.default_weather not in DEFAULT_WEATHER_KINDS:
            raise ValueError(f"default_weather must be one of {DEFAULT_WEATHER_KINDS}")
        for day, kind in self.weather.items():
            if kind not in ("clear", "cloudy", "snow"):
                raise ValueError(f"weather[{day}] = {kind!r}: use clear, cloudy or snow")
        if self.api not in ("dl_cgi", "varserver", "both"):
            raise ValueError("api must be dl_cgi, varserver or both")
        if self.api == "varserver" and self.pvs.build < VARSERVER_MIN_BUILD:
            # The LocalAPI exists from build 61840 on: a varserver-only PVS runs newer firmware.
            object.__setattr__(self, "pvs", replace(self.pvs, build=61845, swver_date="2025.09.04"))
        if self.step_s <= 0 or self.step_s > 900:
            raise ValueError("step_s must be in (0, 900] seconds")

    def weather_on(self, day: date) -> str:
        """Return the weather kind of one UTC day: explicit, else the default (resolving "mixed")."""
        if day in self.weather:
            return self.weather[day]
        if self.default_weather != "mixed":
            return self.default_weather
        rng = random.Random(f"{self.seed}:weather:{day.isoformat()}")
        roll = rng.random()
        winter = day.month in (12, 1, 2)
        if winter and roll < 0.08:
            return "snow"
        return "clear" if roll < 0.6 else "cloudy"


@dataclass(frozen=True, slots=True)
class Identity:
    """Stable identifiers derived from the seed: PVS serial, meter serials, inverter serials."""

    pvs_serial: str
    meter_base: str
    inverter_serials: tuple[str, ...]
    panid: int

    @property
    def production_meter_serial(self) -> str:
        """Serial of the production meter (suffix "p")."""
        return f"{self.meter_base}p"

    @property
    def consumption_meter_serial(self) -> str:
        """Serial of the consumption meter (suffix "c")."""
        return f"{self.meter_base}c"

    @property
    def password(self) -> str:
        """The varserver password: the last 5 characters of the PVS serial."""
        return self.pvs_serial[-5:]


def make_identity(config: SimConfig) -> Identity:
    """Derive the stable serial numbers of a config.

    Parameters
    ----------
    config : SimConfig
        The site; only `seed`, `array.panels` and `pvs.serial` matter.

    Returns
    -------
    Identity
        Serials shaped like the real ones: ZT + 12 digits + A + 4 digits, PVS6M + 8 digits, E00 + 12 digits.
    """
    rng = random.Random(f"{config.seed}:identity")
    pvs_serial = config.pvs.serial or f"ZT{rng.randrange(10**12):012d}A{rng.randrange(10**4):04d}"
    meter_base = f"PVS6M{rng.randrange(10**8):08d}"
    first = rng.randrange(10**11, 9 * 10**11)
    serials = tuple(f"E00{first + 7 * i + rng.randrange(5):012d}" for i in range(config.array.panels))
    return Identity(pvs_serial, meter_base, serials, rng.randrange(10**8, 4 * 10**9))


def floor_time(at: datetime, step_s: float) -> datetime:
    """Round an aware datetime down to a multiple of `step_s` seconds since the Unix epoch."""
    ts = at.timestamp()
    return datetime.fromtimestamp(ts - ts % step_s, tz=UTC)


def as_utc(at: datetime) -> datetime:
    """Return `at` in UTC; naive datetimes are refused because they hide bugs."""
    if at.tzinfo is None:
        raise ValueError("naive datetime: pass an aware UTC datetime")
    return at.astimezone(UTC)


__all__ = [
    "ArrayConfig",
    "ConsumptionProfile",
    "Identity",
    "Plane",
    "PvsConfig",
    "Shade",
    "SimConfig",
    "SiteConfig",
    "as_utc",
    "floor_time",
    "make_identity",
]
