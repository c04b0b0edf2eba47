"""The cloud configuration's typed tree: frozen dataclasses every other module receives (`pvs6_cloud.infra.config`
reads and validates them). Defaults are the seed's system and the documented thresholds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

__all__ = [
    "MIN_SERIAL_SUFFIX",
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
]


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
    """What a lost kWh is worth beyond the flat ``price_per_kwh`` (`pvs6_cloud.alerting.tariff.price_at`).

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
    (what deploy.sh sets up; see `pvs6_cloud.infra.oidc`)."""

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
