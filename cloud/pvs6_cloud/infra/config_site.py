"""Reading one ``[sites.<id>]`` table: place, sheet, mail, upload secret, the array (circuits, places, roof
planes) and the tariff, each slip explained in the owner's words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pvs6_cloud.infra.config_model import MIN_SERIAL_SUFFIX, ArrayConfig, PlaneConfig, SiteConfig, Tariff, TariffWindow
from pvs6_cloud.infra.config_reader import NO_UPLOAD_SECRETS_ENV, _Reader, _strings
from pvs6_cloud.infra.errors import ConfigError

__all__: list[str] = []


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
    if isinstance(array.table.get("planes"), Mapping):
        raise ConfigError(f"[{array.path}.planes] must be written [[{array.path}.planes]] (double brackets), once "
                          "per plane")
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


def _upload_secret(r: _Reader) -> tuple[str, Path | None]:
    """The site's upload secret and the file it is re-read from; empty when this process checks no uploads and
    was given none (see `NO_UPLOAD_SECRETS_ENV`). An inline secret, a set variable or a named file is still read
    and validated as usual."""
    env_name = r.get("secret_env", str)
    given = env_name and (r.env.get(env_name) or r.env.get(f"{env_name}_FILE"))
    if r.env.get(NO_UPLOAD_SECRETS_ENV) == "1" and env_name and not given and not r.get("secret", str):
        return "", None
    return r.secret_and_file("secret", required=True)
