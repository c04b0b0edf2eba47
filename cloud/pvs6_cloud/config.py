"""The cloud side's configuration: one typed tree, loaded and validated in one place.

Every other module receives these frozen dataclasses; nothing else reads ``os.environ`` or a file for settings.
Secrets may be written inline (local use), or named by environment variable (``*_env``), and are resolved here
so a missing secret is a clear start-up error, not a 500 at 3 a.m. When that variable is unset but
``<NAME>_FILE`` names a file, the secret is that file's content: deploy.sh mounts each Pi's upload secret from
Secret Manager as such a file, which Cloud Run re-reads from the secret's latest version on every read, so a
rotated secret takes effect without a redeploy (`SiteConfig.secret_file`; the runtime re-reads it). Key names
are contracts (see ARCHITECTURE.md); an unknown or ill-typed key is reported with its full path.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError

__all__ = [
    "ArrayConfig",
    "CloudConfig",
    "DetectionConfig",
    "MailConfig",
    "PlaneConfig",
    "SchedulerConfig",
    "SheetsConfig",
    "SiteConfig",
    "Tariff",
    "TariffWindow",
    "WeatherConfig",
    "load_config",
    "parse_config",
    "read_secret_file",
]

CONFIG_ENV = "PVS6_CLOUD_CONFIG"
# Set to 1 by deploy.sh on the scheduled functions, which never check an upload: they start without the Pis'
# upload secrets (least privilege, and one Secret Manager read less per site at each start: docs/cost.md).
NO_UPLOAD_SECRETS_ENV = "PVS6_NO_UPLOAD_SECRETS"


@dataclass(frozen=True, slots=True)
class PlaneConfig:
    """One face of a roof: its tilt and direction, and how many panels it holds (which ones, when known).

    ``serials`` are inverter serials as the Devices tab shows them, or their last characters (at least
    `MIN_SERIAL_SUFFIX`, what a person copies off the tab); empty when only the count is known.
    """

    tilt_deg: float
    azimuth_deg: float
    panels: int
    serials: tuple[str, ...] = ()

    def holds(self, serial: str) -> bool:
        """True when this plane lists ``serial`` (whole, or by its ending)."""
        return any(serial == s or serial.endswith(s) for s in self.serials)


MIN_SERIAL_SUFFIX = 4  # a plane may name a panel by its serial's last characters, at least this many [chars]


@dataclass(frozen=True, slots=True)
class ArrayConfig:
    """The solar array, for the expected-output model. Defaults are the seed's system (12 x 360 W on micros).

    ``circuits`` maps a circuit name to the inverter serials on it, and ``places`` maps a serial to words a person
    can find on the roof ("circuit 2, top row, 3rd from left"): alerts quote them. ``planes`` describes a roof
    with several faces (east and west, a dormer); empty = one plane at ``tilt_deg``/``azimuth_deg``. With planes,
    ``tilt_deg``/``azimuth_deg`` are the first plane's (the one Open-Meteo's tilted irradiance is asked for).
    """

    panels: int = 12
    panel_w: float = 360.0
    tilt_deg: float = 30.0
    azimuth_deg: float = 180.0
    losses_pct: float = 10.0
    inverter_ac_w: float = 320.0
    temp_coeff_pct_per_c: float = -0.29
    circuits: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    places: Mapping[str, str] = field(default_factory=dict)
    planes: tuple[PlaneConfig, ...] = ()

    @property
    def dc_kw(self) -> float:
        """Nameplate DC size of the array [kW]."""
        return self.panels * self.panel_w / 1000.0

    @property
    def model_planes(self) -> tuple[PlaneConfig, ...]:
        """The planes the expected-output model sums: the configured ones, else the array as one plane."""
        return self.planes or (PlaneConfig(self.tilt_deg, self.azimuth_deg, self.panels),)

    def plane_of(self, serial: str) -> int | None:
        """Index of the configured plane a panel is on; None when no plane says (or none is configured).

        A plane given by its count alone holds the panels no other plane lists, when it is the only such plane
        ("the 4 west panels are these, the rest face east").
        """
        for index, plane in enumerate(self.planes):
            if plane.holds(serial):
                return index
        unlisted = [i for i, plane in enumerate(self.planes) if not plane.serials]
        return unlisted[0] if len(unlisted) == 1 and len(self.planes) > 1 else None


@dataclass(frozen=True, slots=True)
class TariffWindow:
    """One time-of-use period: a price from ``start_min`` to ``end_min`` (minutes after local midnight; an end
    before the start runs past midnight) on ``days`` ("all", "weekday" or "weekend")."""

    start_min: int
    end_min: int
    price: float
    days: str = "all"


@dataclass(frozen=True, slots=True)
class Tariff:
    """What a lost kWh is worth beyond the flat ``price_per_kwh`` (`pvs6_cloud.tariff.price_at`).

    ``windows`` are time-of-use periods in site-local time (outside them ``price_per_kwh`` applies);
    ``export_price_per_kwh``, when set, means no net metering: every lost kWh is valued at it.
    """

    windows: tuple[TariffWindow, ...] = ()
    export_price_per_kwh: float | None = None

    @property
    def flat(self) -> bool:
        """True when every kWh is worth ``price_per_kwh`` (no windows, no export price)."""
        return not self.windows and self.export_price_per_kwh is None


@dataclass(frozen=True, slots=True)
class SiteConfig:
    """One monitored home: its secret, place, destination sheet and who gets its mail.

    ``archive_spreadsheet_ids`` names spreadsheets the owner made (and shared with the function's service
    account) for Readings archives, for accounts whose service account cannot create files of its own.
    """

    site_id: str
    secret: str
    latitude: float
    longitude: float
    timezone: str
    name: str = ""
    local_dir: Path | None = None
    spreadsheet_id: str = ""
    sheet_url: str = ""
    mail_to: tuple[str, ...] = ()
    array: ArrayConfig = field(default_factory=ArrayConfig)
    price_per_kwh: float = 0.30
    currency: str = "$"
    tariff: Tariff = field(default_factory=Tariff)
    active_hours: tuple[int, int] = (6, 21)
    elevation_m: float = 0.0
    archive_spreadsheet_ids: tuple[str, ...] = ()
    secret_file: Path | None = None  # where the secret was read from (``<secret_env>_FILE``): read again later

    @property
    def tz(self) -> ZoneInfo:
        """The site's time zone (validated at load time)."""
        return ZoneInfo(self.timezone)

    @property
    def display_name(self) -> str:
        """What emails call this site."""
        return self.name or self.site_id


@dataclass(frozen=True, slots=True)
class MailConfig:
    """How mail leaves: an SMTP server (Gmail with an app password in production), else .eml files in a folder."""

    outbox_dir: Path | None = None
    smtp_host: str = ""
    smtp_port: int = 587
    starttls: bool = True
    username: str = ""
    password: str = ""
    sender: str = ""
    timeout_s: float = 30.0
    ca_file: str = ""  # a private CA for a local SMTP server; empty = the system's trusted CAs (Gmail)

    @property
    def uses_smtp(self) -> bool:
        """True when a real SMTP server is configured."""
        return bool(self.smtp_host)


@dataclass(frozen=True, slots=True)
class WeatherConfig:
    """Open-Meteo endpoints (free, no key); tests point these at a local server."""

    enabled: bool = True
    forecast_url: str = "https://api.open-meteo.com/v1/forecast"
    archive_url: str = "https://archive-api.open-meteo.com/v1/archive"
    timeout_s: float = 10.0


@dataclass(frozen=True, slots=True)
class SheetsConfig:
    """Google Sheets access. ``api_endpoint`` is for tests (a local Sheets-compatible server)."""

    api_endpoint: str = ""
    credentials_file: str = ""
    max_retries: int = 5
    timeout_s: float = 60.0
    # The whole spreadsheet's cell budget (Google's hard limit is 10M): finished years of Readings move to
    # "Readings <year>" tabs while they fit under it, then to an archive spreadsheet (docs/capacity.md).
    readings_archive_after_cells: int = 8_000_000


@dataclass(frozen=True, slots=True)
class DetectionConfig:
    """Thresholds of the alert rules. Defaults are documented in the README; each says why it is what it is."""

    min_sun_elevation_deg: float = 15.0
    peer_min_kw: float = 0.03
    dead_ratio: float = 0.05
    dead_persist_min: float = 45.0
    stale_measurement_min: float = 30.0
    weak_ratio: float = 0.80
    weak_days: int = 3
    array_zero_persist_min: float = 45.0
    below_expected_ratio: float = 0.35
    below_expected_days: int = 2
    stuck_counter_hours: float = 4.0
    flash_low_kb: int = 10_000
    flash_high_pct: float = 90.0
    comm_errors_per_hour: float = 50.0
    pvs_unreachable_min: float = 60.0
    watchdog_silent_min: float = 90.0
    reminder_hours: float = 24.0
    clear_persist_min: float = 30.0
    missing_after_daylight_min: float = 60.0
    min_peer_share: float = 0.34
    sunny_ratio: float = 0.6
    sunny_minutes_per_day: float = 180.0
    learning_hours: float = 48.0
    reboots_per_day: int = 2
    reversed_min_kw: float = 0.1
    low_light_peer_kw: float = 0.003
    low_light_peer_share: float = 0.5
    low_light_spread: float = 0.3


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    """Who may call the scheduled endpoints: Cloud Scheduler's OIDC identity. Empty = local (no check).

    ``audience`` may stay empty when ``service_account`` is set: the token is then for the function's own URL
    (what deploy.sh sets up; see `pvs6_cloud.oidc`)."""

    audience: str = ""
    service_account: str = ""
    certs_url: str = ""


@dataclass(frozen=True, slots=True)
class CloudConfig:
    """Everything the cloud side needs, for every site it serves."""

    sites: Mapping[str, SiteConfig]
    mail: MailConfig = field(default_factory=MailConfig)
    weather: WeatherConfig = field(default_factory=WeatherConfig)
    sheets: SheetsConfig = field(default_factory=SheetsConfig)
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)

    def site(self, site_id: str) -> SiteConfig:
        """The site with this id, or ``KeyError``."""
        return self.sites[site_id]


def read_secret_file(path: Path) -> str:
    """A secret file's content without the line end an editor or ``echo`` adds."""
    return path.read_text(encoding="utf-8").strip()


class _Reader:
    """Reads one TOML table, remembering its path so every error names the exact key."""

    def __init__(self, table: Mapping[str, Any], path: str, env: Mapping[str, str], base_dir: Path) -> None:
        if not isinstance(table, Mapping):
            raise ConfigError(f"[{path}] must be a table")
        self.table = table
        self.path = path
        self.env = env
        self.base_dir = base_dir
        self.used: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None, *, required: bool = False) -> Any:
        self.used.add(key)
        if key not in self.table:
            if required:
                raise ConfigError(f"missing required key {self._key(key)}")
            return default
        value = self.table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, float)):
            raise ConfigError(f"{self._key(key)} has the wrong type: {value!r}")
        return value

    def number(self, key: str, default: float, *, low: float | None = None, high: float | None = None) -> float:
        value = self.get(key, float, default)
        if (low is not None and value < low) or (high is not None and value > high):
            raise ConfigError(f"{self._key(key)} = {value} is outside [{low}, {high}]")
        return value

    def path_value(self, key: str) -> Path | None:
        raw = self.get(key, str)
        if raw is None:
            return None
        path = Path(raw).expanduser()
        return path if path.is_absolute() else (self.base_dir / path)

    def secret(self, key: str, *, required: bool) -> str:
        """A secret given inline as ``key`` or by environment variable name as ``key_env``."""
        return self.secret_and_file(key, required=required)[0]

    def secret_and_file(self, key: str, *, required: bool) -> tuple[str, Path | None]:
        """`secret`, and the file it came from when the variable was unset and ``<NAME>_FILE`` named one."""
        inline = self.get(key, str)
        env_name = self.get(f"{key}_env", str)
        if inline and env_name:
            raise ConfigError(f"give {self._key(key)} or {self._key(key + '_env')}, not both")
        if env_name:
            value = self.env.get(env_name, "")
            file_name = self.env.get(f"{env_name}_FILE", "")
            if not value and file_name:
                path = Path(file_name)
                try:
                    value = read_secret_file(path)
                except OSError as err:
                    raise ConfigError(f"{self._key(key + '_env')}: {env_name}_FILE names {path}, which cannot be "
                                      f"read ({err.strerror})") from err
                if not value:
                    raise ConfigError(f"{self._key(key + '_env')}: {env_name}_FILE names {path}, which is empty")
                return value, path
            if not value:
                raise ConfigError(f"{self._key(key + '_env')} names {env_name}, which is not set")
            return value, None
        if required and not inline:
            raise ConfigError(f"missing required key {self._key(key)} (or {self._key(key + '_env')})")
        return inline or "", None

    def sub(self, key: str) -> _Reader:
        self.used.add(key)
        return _Reader(self.table.get(key, {}), self._key(key), self.env, self.base_dir)

    def check_unknown(self) -> None:
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            raise ConfigError(f"unknown key(s) in [{self.path or 'top level'}]: {', '.join(unknown)}")


def _read_array(r: _Reader) -> ArrayConfig:
    circuits_raw = r.get("circuits", dict, {})
    circuits: dict[str, tuple[str, ...]] = {}
    for name, serials in circuits_raw.items():
        if not isinstance(serials, list) or not all(isinstance(s, str) for s in serials):
            raise ConfigError(f"{r.path}.circuits.{name} must be a list of inverter serials")
        circuits[name] = tuple(serials)
    places = r.get("places", dict, {})
    if not all(isinstance(v, str) for v in places.values()):
        raise ConfigError(f"{r.path}.places values must be strings")
    planes = _read_planes(r, circuits)
    if planes and ("tilt" in r.table or "azimuth" in r.table):
        raise ConfigError(f"[{r.path}] has planes: give tilt and azimuth in each [[{r.path}.planes]], not in "
                          f"[{r.path}] itself")
    panels = int(r.number("panels", sum(p.panels for p in planes) or 12, low=1, high=10_000))
    if planes and sum(p.panels for p in planes) != panels:
        counts = " + ".join(str(p.panels) for p in planes)
        raise ConfigError(f"{r.path}.planes hold {counts} = {sum(p.panels for p in planes)} panels, but "
                          f"{r.path}.panels = {panels}: every panel is on exactly one plane")
    array = ArrayConfig(
        panels=panels,
        panel_w=r.number("panel_w", 360.0, low=1, high=2000),
        tilt_deg=planes[0].tilt_deg if planes else r.number("tilt", 30.0, low=0, high=90),
        azimuth_deg=planes[0].azimuth_deg if planes else _azimuth(r, 180.0),
        losses_pct=r.number("losses_pct", 10.0, low=0, high=90),
        inverter_ac_w=r.number("inverter_ac_w", 320.0, low=1, high=100_000),
        temp_coeff_pct_per_c=r.number("temp_coeff_pct_per_c", -0.29, low=-2, high=0),
        circuits=circuits,
        places=dict(places),
        planes=planes,
    )
    r.check_unknown()
    return array


def _azimuth(r: _Reader, default: float) -> float:
    """A compass direction, with the convention said when it is out of range (owners try -90 for east)."""
    value = r.get("azimuth", float, default)
    if not 0 <= value <= 360:
        raise ConfigError(f"{r._key('azimuth')} = {value:g} is outside [0, 360]: the compass direction the panels "
                          "face, 90 = east, 180 = south, 270 = west")
    return value


def _read_planes(array: _Reader, circuits: Mapping[str, tuple[str, ...]]) -> tuple[PlaneConfig, ...]:
    """``[[sites.X.array.planes]]``: tilt, azimuth and ``panels`` (a count, or the serials as in the Devices tab).

    Refused, naming the plane: a serial in two planes (or one that is the ending of another), a serial ending
    shorter than `MIN_SERIAL_SUFFIX`, and, when circuits are configured, a serial that is on no circuit (a typo).
    """
    raw = array.get("planes", list, [])
    planes: list[PlaneConfig] = []
    seen: dict[str, str] = {}
    wired = [s for serials in circuits.values() for s in serials]
    for n, table in enumerate(raw):
        where = f"{array.path}.planes[{n}]"
        r = _Reader(table, where, array.env, array.base_dir)
        for key in ("tilt", "azimuth", "panels"):
            if key not in r.table:
                raise ConfigError(f"missing required key {where}.{key}")
        tilt = r.number("tilt", 0.0, low=0, high=90)
        azimuth = _azimuth(r, 0.0)
        given = r.get("panels", (int, list))
        if isinstance(given, list):
            if not given or not all(isinstance(s, str) and s.strip() for s in given):
                raise ConfigError(f'{where}.panels must be a count (panels = 8) or a list of inverter serials as '
                                  f'in the Devices tab (panels = ["E00121938047653", ...])')
            serials = tuple(s.strip() for s in given)
            for serial in serials:
                if len(serial) < MIN_SERIAL_SUFFIX:
                    raise ConfigError(f"{where}.panels: {serial!r} is too short to name one panel: give at least "
                                      f"its last {MIN_SERIAL_SUFFIX} characters")
                clash = next((s for s in seen if s.endswith(serial) or serial.endswith(s)), None)
                if clash is not None:
                    raise ConfigError(f"{where}.panels: {serial!r} is already on {seen[clash]} ({clash!r}): each "
                                      "panel is on one plane")
                if wired and not any(w == serial or w.endswith(serial) for w in wired):
                    raise ConfigError(f"{where}.panels: unknown serial {serial!r}: it is on none of "
                                      f"{array.path}.circuits (copy it from the Devices tab)")
                seen[serial] = where
            count = len(serials)
        elif isinstance(given, int) and not isinstance(given, bool) and given >= 1:
            serials, count = (), given
        else:
            raise ConfigError(f"{where}.panels = {given!r} must be a count of at least 1 or a list of serials")
        r.check_unknown()
        planes.append(PlaneConfig(tilt, azimuth, count, serials))
    return tuple(planes)


def _strings(r: _Reader, key: str) -> list[str]:
    values = r.get(key, list, [])
    if not all(isinstance(v, str) and v for v in values):
        raise ConfigError(f"{r.path}.{key} must be a list of non-empty strings")
    return values


# The ID inside a spreadsheet's address: https://docs.google.com/spreadsheets/d/<ID>/edit#gid=0
_SHEET_URL_ID = re.compile(r"/spreadsheets/d/([A-Za-z0-9_-]+)")
_SHEET_ID = re.compile(r"^[A-Za-z0-9_-]+$")


def _spreadsheet_id(r: _Reader) -> str:
    """The spreadsheet ID; the whole address copied from the browser is accepted too (owners paste it)."""
    raw = r.get("spreadsheet_id", str, "").strip()
    found = _SHEET_URL_ID.search(raw)
    if found:
        return found.group(1)
    if raw and not _SHEET_ID.match(raw):
        raise ConfigError(f"{r.path}.spreadsheet_id = {raw!r} is not a spreadsheet ID: copy the long part of the "
                          "sheet's address between /d/ and /edit (or paste the whole address)")
    return raw


def _mail_to(r: _Reader) -> list[str]:
    """Recipients; one address written as a plain string (or "a@x, b@y") is accepted as the list it means."""
    raw = r.get("mail_to", (list, str), [])
    mail_to = [x.strip() for x in re.split(r"[,;]", raw) if x.strip()] if isinstance(raw, str) else raw
    if not all(isinstance(x, str) and "@" in x for x in mail_to):
        raise ConfigError(f'{r.path}.mail_to must be a list of email addresses, e.g. mail_to = ["you@gmail.com"]')
    return mail_to


def _check_position(r: _Reader) -> None:
    """Explain the usual slip: both numbers copied from Google Maps into one key ("40.71, -74.00")."""
    for key in ("latitude", "longitude"):
        value = r.table.get(key)
        if isinstance(value, str):
            if "," in value:
                raise ConfigError(f"{r.path}.{key} = {value!r} holds both numbers: write them on two lines, "
                                  f"latitude = {value.split(',')[0].strip()} and "
                                  f"longitude = {value.split(',', 1)[1].strip()} (no quotes)")
            raise ConfigError(f"{r.path}.{key} = {value!r} must be a number without quotes, e.g. {key} = 40.71")


def _read_site(site_id: str, r: _Reader) -> SiteConfig:
    timezone = r.get("timezone", str, "UTC")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ConfigError(f"{r.path}.timezone: unknown time zone {timezone!r}") from err
    mail_to = _mail_to(r)
    _check_position(r)
    hours = r.get("active_hours", list, [6, 21])
    if len(hours) != 2 or not all(isinstance(h, int) and 0 <= h <= 24 for h in hours) or hours[0] >= hours[1]:
        raise ConfigError(f"{r.path}.active_hours must be [start_hour, end_hour], e.g. [6, 21]")
    local_dir = r.path_value("local_dir")
    spreadsheet_id = _spreadsheet_id(r)
    if local_dir is None and not spreadsheet_id:
        raise ConfigError(f"[{r.path}] needs local_dir (CSV folder) or spreadsheet_id (Google Sheet)")
    secret, secret_file = _upload_secret(r)
    site = SiteConfig(
        site_id=site_id,
        secret=secret,
        secret_file=secret_file,
        latitude=r.number("latitude", 0.0, low=-90, high=90),
        longitude=r.number("longitude", 0.0, low=-180, high=180),
        timezone=timezone,
        name=r.get("name", str, ""),
        local_dir=local_dir,
        spreadsheet_id=spreadsheet_id,
        sheet_url=r.get("sheet_url", str, "")
        or (f"https://docs.google.com/spreadsheets/d/{spreadsheet_id}" if spreadsheet_id else ""),
        mail_to=tuple(mail_to),
        array=_read_array(r.sub("array")),
        price_per_kwh=r.number("price_per_kwh", 0.30, low=0, high=100),
        currency=r.get("currency", str, "$"),
        tariff=_read_tariff(r),
        active_hours=(hours[0], hours[1]),
        elevation_m=r.number("elevation_m", 0.0, low=-500, high=9000),
        archive_spreadsheet_ids=tuple(_strings(r, "archive_spreadsheet_ids")),
    )
    for key in ("latitude", "longitude"):
        if key not in r.table:
            raise ConfigError(f"missing required key {r.path}.{key}")
    r.check_unknown()
    return site


_CLOCK = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")
_DAYS = {"all": frozenset(range(7)), "weekday": frozenset(range(5)), "weekend": frozenset({5, 6})}


def _minutes(value: Any, where: str) -> int:
    """Minutes after midnight of a "HH:MM" clock time ("24:00" is the end of the day)."""
    found = _CLOCK.match(value) if isinstance(value, str) else None
    minutes = int(found.group(1)) * 60 + int(found.group(2)) if found else -1
    if not found or minutes > 24 * 60:
        raise ConfigError(f'{where} = {value!r} is not a time of day: write it as "HH:MM", e.g. "16:00"')
    return minutes


def _covered(window: TariffWindow) -> set[tuple[int, int]]:
    """The (weekday, quarter hour) slots a window covers, to find overlaps (an end past midnight wraps into the
    next day's weekday: a weekday window 22:00-06:00 covers Saturday morning too, as the clock says)."""
    span = (window.end_min - window.start_min) % (24 * 60) or 24 * 60
    return {((day + (window.start_min + m) // (24 * 60)) % 7, ((window.start_min + m) % (24 * 60)) // 15)
            for day in _DAYS[window.days] for m in range(0, span, 15)}


def _read_tariff(site: _Reader) -> Tariff:
    """``[sites.X.tariff]``: ``export_price_per_kwh`` and ``windows = [{from, to, price, days}]``; overlapping
    windows are refused, naming both."""
    r = site.sub("tariff")
    export = r.get("export_price_per_kwh", float)
    if export is not None and not 0 <= export <= 100:
        raise ConfigError(f"{r.path}.export_price_per_kwh = {export} is outside [0, 100]")
    windows: list[TariffWindow] = []
    for n, raw in enumerate(r.get("windows", list, [])):
        where = f"{r.path}.windows[{n}]"
        w = _Reader(raw, where, r.env, r.base_dir)
        days = w.get("days", str, "all")
        if days not in _DAYS:
            raise ConfigError(f'{where}.days = {days!r} must be "all", "weekday" or "weekend"')
        start = _minutes(w.get("from", str, required=True), f"{where}.from")
        end = _minutes(w.get("to", str, required=True), f"{where}.to")
        if start % (24 * 60) == end % (24 * 60):
            raise ConfigError(f"{where} starts and ends at the same time: it would cover nothing (or everything: "
                              "that is price_per_kwh)")
        if start % 15 or end % 15:
            raise ConfigError(f"{where}: times must be on the quarter hour (:00, :15, :30, :45)")
        if "price" not in w.table:
            raise ConfigError(f"missing required key {where}.price")
        window = TariffWindow(start % (24 * 60), end % (24 * 60), w.number("price", 0.0, low=0, high=100), days)
        w.check_unknown()
        for m, other in enumerate(windows):
            if _covered(window) & _covered(other):
                raise ConfigError(f"{where} ({raw['from']}-{raw['to']}, {days}) overlaps {r.path}.windows[{m}]: "
                                  "each time of the week may have one price")
        windows.append(window)
    r.check_unknown()
    return Tariff(tuple(windows), export)


def _read_dataclass(cls: type, r: _Reader, overrides: Mapping[str, Any] | None = None) -> Any:
    """Fill a flat dataclass of numbers/strings/bools from a table, type-checked against its defaults."""
    values: dict[str, Any] = dict(overrides or {})
    for name in cls.__dataclass_fields__:
        if name in values:
            continue
        default = getattr(cls(), name)
        if isinstance(default, bool):
            values[name] = r.get(name, bool, default)
        elif isinstance(default, int):
            values[name] = int(r.number(name, default, low=0))
        elif isinstance(default, float):
            values[name] = r.number(name, default, low=0)
        elif isinstance(default, str):
            values[name] = r.get(name, str, default)
    r.check_unknown()
    return cls(**values)


def _mail_password(r: _Reader) -> str:
    """The SMTP password. Google shows an app password as four groups ("abcd efgh ijkl mnop") and wants the 16
    letters; a copy may also bring a newline or a non-breaking space. So ends are always trimmed, and for Gmail
    every space goes: other servers may have passwords with inner spaces, which are kept."""
    password = r.secret("password", required=False).strip()
    host = str(r.table.get("smtp_host", "")).lower()
    if host.endswith(("gmail.com", "googlemail.com")):
        password = "".join(password.split())
    return password


def _upload_secret(r: _Reader) -> tuple[str, Path | None]:
    """The site's upload secret and the file it is re-read from; empty when this process checks no uploads and
    was given none (see `NO_UPLOAD_SECRETS_ENV`). An inline secret, a set variable or a named file is still read
    and validated as usual."""
    env_name = r.get("secret_env", str)
    given = env_name and (r.env.get(env_name) or r.env.get(f"{env_name}_FILE"))
    if r.env.get(NO_UPLOAD_SECRETS_ENV) == "1" and env_name and not given and not r.get("secret", str):
        return "", None
    return r.secret_and_file("secret", required=True)


def parse_config(
    data: Mapping[str, Any], *, env: Mapping[str, str] | None = None, base_dir: Path | None = None
) -> CloudConfig:
    """Validate a parsed TOML document into a `CloudConfig`.

    Parameters
    ----------
    data : mapping
        The TOML document as a dict.
    env : mapping, optional
        Where ``*_env`` secrets are looked up; defaults to ``os.environ``. Tests pass their own.
    base_dir : Path, optional
        Relative folders (``local_dir``, ``outbox_dir``) are taken relative to this (the config file's folder).

    Raises
    ------
    ConfigError
        Naming the bad key.
    """
    env = os.environ if env is None else env
    root = _Reader(data, "", env, base_dir or Path.cwd())
    sites_table = root.get("sites", dict, {})
    if not sites_table:
        raise ConfigError("no [sites.<id>] table: configure at least one site")
    sites = {}
    for site_id, table in sites_table.items():
        if not site_id.replace("-", "").replace("_", "").isalnum():
            raise ConfigError(f"site id {site_id!r} may hold only letters, digits, '-' and '_'")
        sites[site_id] = _read_site(site_id, _Reader(table, f"sites.{site_id}", env, root.base_dir))

    mail_r = root.sub("mail")
    mail = _read_dataclass(
        MailConfig,
        mail_r,
        {
            "outbox_dir": mail_r.path_value("outbox_dir"),
            "password": _mail_password(mail_r),
            "sender": mail_r.get("from", str, ""),
            "smtp_port": int(mail_r.number("smtp_port", 587, low=1, high=65535)),
        },
    )
    if not mail.uses_smtp and mail.outbox_dir is None:
        mail = MailConfig(**{**{f: getattr(mail, f) for f in MailConfig.__dataclass_fields__},
                             "outbox_dir": root.base_dir / "outbox"})
    config = CloudConfig(
        sites=sites,
        mail=mail,
        weather=_read_dataclass(WeatherConfig, root.sub("weather")),
        sheets=_read_dataclass(SheetsConfig, root.sub("sheets")),
        detection=_read_dataclass(DetectionConfig, root.sub("detection")),
        scheduler=_read_dataclass(SchedulerConfig, root.sub("scheduler")),
    )
    root.check_unknown()
    return config


def load_config(
    path: str | Path | None = None, *, env: Mapping[str, str] | None = None, checks_uploads: bool = True
) -> CloudConfig:
    """Load the TOML file named by ``path`` or by ``$PVS6_CLOUD_CONFIG``.

    A command that checks no upload (``checks_uploads=False``: replay, the jobs, evidence) starts without the Pis'
    upload secrets, as the scheduled functions do (`NO_UPLOAD_SECRETS_ENV`): the owner running it by hand need
    not fetch a secret it never uses.

    Raises
    ------
    ConfigError
        When no file is named, it cannot be read, is not TOML, or holds a bad key.
    """
    env = os.environ if env is None else env
    if not checks_uploads:
        env = {**env, NO_UPLOAD_SECRETS_ENV: "1"}
    chosen = path or env.get(CONFIG_ENV)
    if not chosen:
        raise ConfigError(f"no configuration: pass --config FILE or set {CONFIG_ENV}")
    file = Path(chosen).expanduser()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"cannot read config file {file}: {err.strerror}") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file {file} is not valid TOML: {err}{_toml_hint(file, err)}") from err
    return parse_config(data, env=env, base_dir=file.resolve().parent)


def _toml_hint(file: Path, err: tomllib.TOMLDecodeError) -> str:
    """A plain hint for the slip owners make most: "40.71, -74.00" from Google Maps pasted after latitude."""
    found = re.search(r"at line (\d+)", str(err))
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except OSError:
        return ""
    line = lines[int(found.group(1)) - 1].strip() if found and 0 < int(found.group(1)) <= len(lines) else ""
    if re.match(r"(latitude|longitude)\s*=.*,", line):
        return (". Latitude and longitude go on two lines, each one number: latitude = 40.71 and "
                "longitude = -74.00")
    return ""
