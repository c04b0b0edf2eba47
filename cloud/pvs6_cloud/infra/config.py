"""The cloud side's configuration: one typed tree, loaded and validated in one place.

Every other module receives these frozen dataclasses; nothing else reads ``os.environ`` or a file for settings.
Secrets may be written inline (local use), or named by environment variable (``*_env``), and are resolved here
so a missing secret is a clear start-up error, not a 500 at 3 a.m. When that variable is unset but
``<NAME>_FILE`` names a file, the secret is that file's content: deploy.sh mounts each Pi's upload secret from
Secret Manager as such a file, which Cloud Run re-reads from the secret's latest version on every read, so a
rotated secret takes effect without a redeploy (`SiteConfig.secret_file`; the runtime re-reads it). Key names
are contracts (see ARCHITECTURE.md); an unknown or ill-typed key is reported with its full path.

The tree's dataclasses live in `config_model`, the key-by-key reader and secrets in `config_reader`, a site's
tables (array, roof planes, tariff) in `config_site`; everything public is imported from here.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pvs6_cloud.infra.config_model import (
    ArrayConfig,
    CloudConfig,
    DetectionConfig,
    MailConfig,
    PlaneConfig,
    SchedulerConfig,
    SheetsConfig,
    SiteConfig,
    Tariff,
    TariffWindow,
    WeatherConfig,
)
from pvs6_cloud.infra.config_reader import NO_UPLOAD_SECRETS_ENV, _Reader, read_secret_file
from pvs6_cloud.infra.config_site import _read_site
from pvs6_cloud.infra.errors import ConfigError

__all__ = [
    "CONFIG_ENV",
    "NO_UPLOAD_SECRETS_ENV",
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
