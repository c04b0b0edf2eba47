"""Edge configuration: one frozen dataclass tree, loaded from TOML and validated in one place.

Key names are contracts (see ARCHITECTURE "Configuration"). Every key is checked here, unknown keys are
refused (a typo must not silently fall back to a default), and each error names the offending key as
``section.key``. This is the only module that reads the environment, and only through the mapping it is
given: ``PVS6_EDGE_CONFIG`` names the file, ``cloud.secret_env`` names a variable holding the secret.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pvs6_edge.errors import ConfigError

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_VARSERVER_MATCHES",
    "CloudConfig",
    "EdgeConfig",
    "HistoryConfig",
    "PvsConfig",
    "StorageConfig",
    "load_config",
    "resolve_config_path",
]

CONFIG_ENV = "PVS6_EDGE_CONFIG"
DEFAULT_CONFIG_PATH = Path("/etc/pvs6-sentinel/edge.toml")
MIB = 1024 * 1024
# The device classes, by one match: inverters, meters, batteries and transfer switch, in either layout. The PVS6's
# own health and the livedata summary are asked by name (pvs6_parse.varserver.QUERY_NAMES), which is cheaper than
# a match (a match scans every variable the PVS holds) and keeps the Wi-Fi settings out.
DEFAULT_VARSERVER_MATCHES = ("/sys/devices/",)
# The placeholder in edge/config.example.toml's [cloud] url, which install.sh copies: a url holding it was never
# filled in.
EXAMPLE_URL_MARK = "REGION-PROJECT"
_SITE_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SERIAL5_RE = re.compile(r"^[A-Za-z0-9]{5}$")


@dataclass(frozen=True, slots=True)
class PvsConfig:
    """How to reach the PVS6. ``url`` is the base (no path); ``timeout_s`` bounds each whole request [s]."""

    url: str
    api: str = "auto"
    serial_last5: str | None = None
    timeout_s: float = 60.0
    min_interval_s: float = 60.0
    varserver_matches: tuple[str, ...] = DEFAULT_VARSERVER_MATCHES
    max_body_bytes: int = 8 * MIB


@dataclass(frozen=True, slots=True)
class CloudConfig:
    """Where and how to upload. Batch limits are capped at the ingest's own limits (500 items, 1 MiB)."""

    url: str
    site: str
    secret: str
    timeout_s: float = 30.0
    batch_max_snapshots: int = 500
    batch_max_bytes: int = MIB
    backoff_base_s: float = 300.0
    backoff_max_s: float = 6 * 3600.0


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """Where the Pi keeps its files, and how much of the SD card they may use."""

    dir: Path
    spool_max_bytes: int = 256 * MIB
    spool_max_age_days: float = 90.0
    spool_warn_fraction: float = 0.8
    archive_retention_days: float = 365.0
    archive_max_bytes: int = 2048 * MIB
    quarantine_max_files: int = 1000


@dataclass(frozen=True, slots=True)
class HistoryConfig:
    """The owner's CSV history on the Pi (``storage.dir/history``).

    ``timezone`` is an IANA name (``America/New_York``) for the local times written; empty means the Pi's own
    zone (what ``raspi-config`` / ``timedatectl set-timezone`` set), which is right on a Pi set up for its home.
    """

    timezone: str = ""


@dataclass(frozen=True, slots=True)
class EdgeConfig:
    """The whole edge configuration, plus the file it came from (for messages)."""

    pvs: PvsConfig
    cloud: CloudConfig
    storage: StorageConfig
    source: Path
    history: HistoryConfig = HistoryConfig()


def resolve_config_path(arg: str | None, environ: Mapping[str, str]) -> Path:
    """Pick the configuration file: ``--config``, else ``PVS6_EDGE_CONFIG``, else the installed default.

    Parameters
    ----------
    arg : str or None
        The ``--config`` value.
    environ : Mapping[str, str]
        The process environment (passed in so nothing else reads ``os.environ``).

    Returns
    -------
    Path
        The file to load.
    """
    if arg:
        return Path(arg)
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    return DEFAULT_CONFIG_PATH


def load_config(path: Path, environ: Mapping[str, str]) -> EdgeConfig:
    """Load and validate the edge configuration.

    Relative ``storage.dir`` and ``cloud.secret_file`` are taken relative to the configuration file's folder.

    Parameters
    ----------
    path : Path
        The TOML file.
    environ : Mapping[str, str]
        The process environment, used only for ``cloud.secret_env``.

    Returns
    -------
    EdgeConfig
        The validated configuration.

    Raises
    ------
    ConfigError
        The file is unreadable, is not TOML, or a key is missing, unknown or out of range (named in the message).
    """
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror or err}") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file {path} is not valid TOML: {err}") from err
    base = path.parent
    _only(doc, "", {"pvs", "cloud", "storage", "history"})
    pvs = _pvs(_section(doc, "pvs"))
    cloud = _cloud(_section(doc, "cloud"), base, environ)
    storage = _storage(_section(doc, "storage"), base)
    history = _history(doc.get("history", {}))
    return EdgeConfig(pvs=pvs, cloud=cloud, storage=storage, source=path, history=history)


def _pvs(sec: dict[str, Any]) -> PvsConfig:
    keys = {"url", "api", "serial_last5", "timeout_s", "min_interval_s", "varserver_matches", "max_body_bytes"}
    _only(sec, "pvs", keys)
    api = _get(sec, "pvs", "api", str, "auto")
    if api not in ("auto", "dl_cgi", "varserver"):
        raise ConfigError(f"pvs.api must be one of auto, dl_cgi, varserver (got {api!r})")
    serial = _get(sec, "pvs", "serial_last5", str, None)
    if serial is not None and not _SERIAL5_RE.match(serial):
        raise ConfigError("pvs.serial_last5 must be the last 5 letters/digits of the PVS6 serial number")
    matches = _get(sec, "pvs", "varserver_matches", list, list(DEFAULT_VARSERVER_MATCHES))
    if not matches or not all(isinstance(m, str) and m for m in matches):
        raise ConfigError("pvs.varserver_matches must be a non-empty list of non-empty strings")
    return PvsConfig(
        url=_url(sec, "pvs"),
        api=api,
        serial_last5=serial,
        timeout_s=_num(sec, "pvs", "timeout_s", 60.0, low=0.05, high=600.0),
        min_interval_s=_num(sec, "pvs", "min_interval_s", 60.0, low=0.0, high=86400.0),
        varserver_matches=tuple(matches),
        max_body_bytes=int(_num(sec, "pvs", "max_body_bytes", 8 * MIB, low=1024, high=64 * MIB, integer=True)),
    )


def _cloud(sec: dict[str, Any], base: Path, environ: Mapping[str, str]) -> CloudConfig:
    keys = {"url", "site", "secret", "secret_file", "secret_env", "timeout_s", "batch_max_snapshots",
            "batch_max_bytes", "backoff_base_s", "backoff_max_s"}
    _only(sec, "cloud", keys)
    site = _get(sec, "cloud", "site", str, None)
    if site is None or not _SITE_RE.match(site):
        raise ConfigError("cloud.site is required: 1 to 64 letters, digits, '-' or '_'")
    base_s = _num(sec, "cloud", "backoff_base_s", 300.0, low=1.0, high=86400.0)
    max_s = _num(sec, "cloud", "backoff_max_s", 6 * 3600.0, low=1.0, high=7 * 86400.0)
    if max_s < base_s:
        raise ConfigError("cloud.backoff_max_s must be at least cloud.backoff_base_s")
    return CloudConfig(
        url=_url(sec, "cloud"),
        site=site,
        secret=_secret(sec, base, environ),
        timeout_s=_num(sec, "cloud", "timeout_s", 30.0, low=0.05, high=600.0),
        batch_max_snapshots=int(_num(sec, "cloud", "batch_max_snapshots", 500, low=1, high=500, integer=True)),
        batch_max_bytes=int(_num(sec, "cloud", "batch_max_bytes", MIB, low=4096, high=MIB, integer=True)),
        backoff_base_s=base_s,
        backoff_max_s=max_s,
    )


def _secret(sec: dict[str, Any], base: Path, environ: Mapping[str, str]) -> str:
    given = [k for k in ("secret", "secret_file", "secret_env") if k in sec]
    if len(given) != 1:
        raise ConfigError("cloud: give exactly one of secret, secret_file, secret_env")
    key = given[0]
    value = _get(sec, "cloud", key, str, None)
    if key == "secret_file":
        path = base / value
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as err:
            raise ConfigError(f"cloud.secret_file: cannot read {value}: {err.strerror or err}") from err
        if not value:
            # install.sh leaves it empty: the secret is made on the cloud side and only received here.
            raise ConfigError(f"cloud.secret_file: {path} is still empty: put the upload secret in it with the "
                              f"command deploy.sh printed (echo '...' | sudo tee {path})")
    elif key == "secret_env":
        if value not in environ:
            raise ConfigError(f"cloud.secret_env: environment variable {value} is not set")
        value = environ[value].strip()
    if not value or len(value) < 16:
        raise ConfigError(f"cloud.{key}: the secret must be at least 16 characters")
    return value


def _storage(sec: dict[str, Any], base: Path) -> StorageConfig:
    keys = {"dir", "spool_max_bytes", "spool_max_age_days", "spool_warn_fraction", "archive_retention_days",
            "archive_max_bytes", "quarantine_max_files"}
    _only(sec, "storage", keys)
    folder = _get(sec, "storage", "dir", str, None)
    if not folder:
        raise ConfigError("storage.dir is required")
    big = 1024 * 1024 * MIB
    return StorageConfig(
        dir=base / folder,
        spool_max_bytes=int(_num(sec, "storage", "spool_max_bytes", 256 * MIB, low=MIB, high=big, integer=True)),
        spool_max_age_days=_num(sec, "storage", "spool_max_age_days", 90.0, low=1.0, high=3650.0),
        spool_warn_fraction=_num(sec, "storage", "spool_warn_fraction", 0.8, low=0.1, high=1.0),
        archive_retention_days=_num(sec, "storage", "archive_retention_days", 365.0, low=0.0, high=36500.0),
        archive_max_bytes=int(_num(sec, "storage", "archive_max_bytes", 2048 * MIB, low=0, high=big, integer=True)),
        quarantine_max_files=int(_num(sec, "storage", "quarantine_max_files", 1000, low=1, high=10**6, integer=True)),
    )


def _history(sec: Any) -> HistoryConfig:
    if not isinstance(sec, dict):
        raise ConfigError("[history] must be a table")
    _only(sec, "history", {"timezone"})
    name = _get(sec, "history", "timezone", str, "")
    if name:
        import zoneinfo  # only when a zone is named: the default (the Pi's own zone) needs no tz database

        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as err:
            raise ConfigError(f"history.timezone: unknown time zone {name!r} (use a name like "
                              f"'America/New_York', or leave it out for the Pi's own zone)") from err
    return HistoryConfig(timezone=name)


def _section(doc: dict[str, Any], name: str) -> dict[str, Any]:
    sec = doc.get(name)
    if not isinstance(sec, dict):
        raise ConfigError(f"[{name}] section is missing")
    return sec


def _only(sec: dict[str, Any], where: str, allowed: set[str]) -> None:
    for key in sec:
        if key not in allowed:
            name = f"{where}.{key}" if where else f"[{key}]"
            raise ConfigError(f"unknown key {name} (allowed: {', '.join(sorted(allowed))})")


def _get(sec: dict[str, Any], where: str, key: str, kind: type, default: Any) -> Any:
    if key not in sec:
        return default
    value = sec[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ConfigError(f"{where}.{key} must be a {kind.__name__} (got {value!r})")
    return value


def _num(sec: dict[str, Any], where: str, key: str, default: float, *, low: float, high: float,
         integer: bool = False) -> float:
    value = sec.get(key, default)
    ok: Callable[[Any], bool] = (lambda v: isinstance(v, int)) if integer else (lambda v: isinstance(v, int | float))
    if isinstance(value, bool) or not ok(value):
        raise ConfigError(f"{where}.{key} must be {'an integer' if integer else 'a number'} (got {value!r})")
    if not low <= value <= high:
        raise ConfigError(f"{where}.{key} must be between {low:g} and {high:g} (got {value!r})")
    return value


def _url(sec: dict[str, Any], where: str) -> str:
    value = _get(sec, where, "url", str, None)
    if not value or not re.match(r"^https?://[^\s/]+", value):
        raise ConfigError(f"{where}.url is required and must start with http:// or https://")
    if EXAMPLE_URL_MARK in value:
        # Refused at load, before any upload: a run against the example's address would only fail, and each
        # failure doubles the wait before the next upload (hours, once the real address is in).
        raise ConfigError(f"{where}.url is still the example's {value}: put in the url deploy.sh printed")
    return value
