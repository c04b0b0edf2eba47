"""The owner's own history on the Pi: ``history/YYYY-MM.csv``, one row per reading, readable without us.

If the Google side is ever lost, these files are the record a person can open in any spreadsheet program. So:

- **One file per local month**, one row per reading: local time as ``YYYY-MM-DD HH:MM:SS`` (the ISO 8601 form
  with one space that LibreOffice, Excel and Google Sheets read as a date and time; see LibreOffice Help,
  "Converting Text to Numbers"), the UTC offset in its own column (``UTC-04:00``, text, so the repeated hour of
  a DST change stays unambiguous), the whole-system numbers, then one kW column per panel.
- **Stable panel columns**: a new month starts with the previous month's panels; a panel that appears later gets
  a new column at the end, and the file is rewritten atomically with the wider header (old rows get empty cells).
- **Power-cut safe**: a row is one ``O_APPEND`` write followed by ``fsync``; the next run checks the file's last
  line and cuts a torn one (:func:`_repair_tail`). No row is written twice: a reading is keyed by its time and
  the first 16 hex digits of its sha256 (the cloud's Readings "Reading id"), checked against the file's tail.
- **Never pruned**: the raw archive's age and size limits do not apply here (about 8 MB a year, docs/capacity.md).
- **A reading the parser cannot read** is kept raw in ``history/unreadable/`` (bounded) and logged; it never
  stops the collect.

Values come from the shared stdlib-only parser ``pvs6_parse`` (the cloud's own), imported on first use so
``pvs6-edge status`` and the start-up stay light.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, NamedTuple

from pvs6_edge.clock import stamp_utc
from pvs6_edge.errors import StorageError
from pvs6_edge.fsio import TEMP_PREFIX, atomic_write
from pvs6_edge.history_csv import append_line, csv_line, last_row, read_month, read_tail, repair_tail, rewrite, row_ts

__all__ = ["FIXED_COLUMNS", "PANEL_SUFFIX", "History", "local_zone", "panel_serial", "read_month"]

log = logging.getLogger(__name__)

# (key, header) of the fixed columns. The headers of the columns the cloud's Readings tab also has are its own
# titles (sheets_template/layout.toml), so the two records read alike; tests hold them equal.
FIXED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("time", "Time (local)"),
    ("utc_offset", "UTC offset"),
    ("production_kw", "Solar production (kW)"),
    ("consumption_kw", "Home use (kW)"),
    ("net_grid_kw", "From grid (kW, negative = to grid)"),
    ("lifetime_production_kwh", "Lifetime production (kWh)"),
    ("lifetime_import_kwh", "Lifetime from grid (kWh)"),
    ("lifetime_export_kwh", "Lifetime to grid (kWh)"),
    ("inverters_working", "Panels working"),
    ("inverters_total", "Panels total"),
    ("snapshot_id", "Reading id"),
)
PANEL_SUFFIX = " kW"
_FIXED_HEADER = [title for _key, title in FIXED_COLUMNS]
_N_FIXED = len(FIXED_COLUMNS)
UNREADABLE_MAX_FILES = 500


class _Month(NamedTuple):
    """What appending to one month file needs: its panel serials in column order and its tail's row keys."""

    panels: list[str]
    keys: set[tuple[str, str, str]]


def local_zone(name: str) -> tzinfo | None:
    """The zone for ``history.timezone``: the named IANA zone, or None for the Pi's own zone."""
    if not name:
        return None
    import zoneinfo

    return zoneinfo.ZoneInfo(name)


def panel_serial(header: str) -> str:
    """The inverter serial of a panel column header (``E00123456789 kW`` -> ``E00123456789``)."""
    text = header[1:] if header.startswith("'") else header
    return text[: -len(PANEL_SUFFIX)] if text.endswith(PANEL_SUFFIX) else text


def _panel_header(serial: str) -> str:
    text = serial + PANEL_SUFFIX
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text  # a serial is never a formula


class History:
    """The ``history`` folder under ``storage.dir``.

    Parameters
    ----------
    folder : Path
        ``storage.dir``; files go to its ``history`` subfolder.
    site : str
        Site id (for the parser; not written).
    zone : tzinfo or None
        Local zone of the times written; None for the Pi's own zone.
    """

    def __init__(self, folder: Path, site: str, zone: tzinfo | None = None) -> None:
        self.dir = folder / "history"
        self.unreadable_dir = self.dir / "unreadable"
        self.site = site
        self.zone = zone
        self._checked: dict[Path, _Month] = {}

    def month_files(self) -> list[Path]:
        """Every month file, oldest first."""
        try:
            names = sorted(n for n in os.listdir(self.dir) if re.fullmatch(r"\d{4}-\d{2}\.csv", n))
        except FileNotFoundError:
            return []
        except OSError as err:
            raise StorageError(f"cannot list {self.dir}: {err.strerror or err}") from err
        return [self.dir / n for n in names]

    def newest_ts(self) -> float | None:
        """Capture time of the last row of the newest month file [unix s] (after cutting a torn line)."""
        files = self.month_files()
        if not files:
            return None
        repair_tail(files[-1])
        last = last_row(files[-1])
        return None if last is None else row_ts(last)

    def record_raw(self, raw: bytes, source: str, captured_ts: float) -> str:
        """:meth:`record` for the PVS6 bytes as received (``captured_ts`` in [unix s])."""
        import hashlib

        try:
            payload: Any = json.loads(raw)
        except ValueError as err:
            kept = self._keep_unreadable(raw, captured_ts)
            log.warning("history: the %s reading is not JSON (%s); no row written, the raw answer is kept in %s",
                        source, err, kept or "the spool and archive")
            return "unreadable"
        return self.record(payload, source, captured_ts, hashlib.sha256(raw).hexdigest())

    def record(self, payload: Any, source: str, captured_ts: float, sha256: str) -> str:
        """Append the row of one reading, unless the month file already has it.

        Parameters
        ----------
        payload : Any
            The decoded PVS6 JSON.
        source : str
            ``dl_cgi`` or ``varserver``.
        captured_ts : float
            When the Pi asked [unix s]; written to the second, as in the upload envelope.
        sha256 : str
            Hex digest of the raw bytes: with the time, the reading's key.

        Returns
        -------
        str
            ``written``, ``duplicate`` (already there) or ``unreadable`` (kept raw, logged).

        Raises
        ------
        StorageError
            The file cannot be read or written (the caller logs it; the collect stands).
        """
        snapshot = self._parse(payload, source, captured_ts, sha256)
        if snapshot is None:
            return "unreadable"
        local = datetime.fromtimestamp(int(captured_ts), UTC).astimezone(self.zone)
        path = self.dir / f"{local:%Y-%m}.csv"
        month = self._open(path)
        row = _fixed_cells(snapshot, local)
        key = (row[0], row[1], row[-1])
        if key in month.keys:
            log.info("history: %s already holds the reading of %s", path.name, row[0])
            return "duplicate"
        powers = {inv.serial: inv.power_kw for inv in snapshot.inverters if inv.serial}
        new = [s for s in powers if s not in month.panels]
        if new:
            month.panels.extend(new)
            rewrite(path, _header(month.panels))
            log.info("history: %s gets column(s) for new panel(s) %s", path.name, ", ".join(new))
        row += [_num(powers.get(serial)) for serial in month.panels]
        append_line(path, csv_line(row))
        month.keys.add(key)
        return "written"

    def _parse(self, payload: Any, source: str, captured_ts: float, sha256: str) -> Any:
        from pvs6_parse import ParseError, parse_payload

        when = datetime.fromtimestamp(int(captured_ts), UTC)
        try:
            if not isinstance(payload, Mapping):
                raise ParseError(f"the answer is a JSON {type(payload).__name__}, not an object")
            return parse_payload(payload, source=source, site=self.site, captured_at=when, sha256=sha256)
        except Exception as err:  # a parser bug must not stop years of collecting: it is logged, the raw kept
            kept = self._keep_unreadable(payload, captured_ts)
            log.warning("history: the %s reading of %s could not be read (%s: %s); no row written, the raw "
                        "answer is kept%s", source, when.strftime("%Y-%m-%d %H:%M:%SZ"), type(err).__name__,
                        err, f" in {kept}" if kept else " in the spool and archive")
            return None

    def _keep_unreadable(self, payload: Any, captured_ts: float) -> Path | None:
        """Keep the raw answer the parser refused (the spool empties and the archive is pruned); bounded."""
        try:
            self.unreadable_dir.mkdir(parents=True, exist_ok=True)
            if len(os.listdir(self.unreadable_dir)) >= UNREADABLE_MAX_FILES:
                return None
            path = self.unreadable_dir / f"{stamp_utc(captured_ts)}.json.gz"
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
            atomic_write(path, gzip.compress(data, mtime=0))
        except (OSError, TypeError, ValueError) as err:  # StorageError is an OSError
            log.warning("history: cannot keep the unreadable answer: %s", err)
            return None
        return path

    def _open(self, path: Path) -> _Month:
        """Create the month file with a header, or cut its torn tail and read its panels and recent keys."""
        month = self._checked.get(path)
        if month is not None:
            return month
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StorageError(f"cannot create {self.dir}: {err.strerror or err}") from err
        self._sweep_temps()
        if not path.exists() or path.stat().st_size == 0:
            panels = self._inherited_panels(path)
            atomic_write(path, csv_line(_header(panels)).encode("utf-8"))
            month = _Month(panels, set())
        else:
            repair_tail(path)
            header, rows = read_tail(path)
            month = _Month([panel_serial(h) for h in header[_N_FIXED:]], {(r[0], r[1], r[_N_FIXED - 1]) for r in rows})
        self._checked[path] = month
        return month

    def _inherited_panels(self, path: Path) -> list[str]:
        """A new month starts with the columns of the latest month before it, so charts line up."""
        earlier = [p for p in self.month_files() if p.name < path.name]
        if not earlier:
            return []
        header, _rows = read_tail(earlier[-1])
        return [panel_serial(h) for h in header[_N_FIXED:]]

    def _sweep_temps(self) -> None:
        """Remove temp files of a rewrite killed mid-way (the month file itself is whole: see fsio)."""
        try:
            for entry in os.scandir(self.dir):
                if entry.name.startswith(TEMP_PREFIX):
                    os.unlink(entry.path)
        except OSError as err:
            log.warning("history: cannot clear leftover temp files: %s", err)


def _header(panels: list[str]) -> list[str]:
    return _FIXED_HEADER + [_panel_header(s) for s in panels]


def _fixed_cells(snapshot: Any, local: datetime) -> list[str]:
    prod = snapshot.production_meter
    cons = snapshot.consumption_meter
    offset = local.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "-" if minutes < 0 else "+"
    return [
        local.strftime("%Y-%m-%d %H:%M:%S"),
        f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}",
        _num(snapshot.production_kw),
        _num(snapshot.consumption_kw),
        _num(snapshot.net_grid_kw),
        _num(prod.lifetime_net_kwh if prod else None),
        _num(cons.lifetime_import_kwh if cons else None),
        _num(cons.lifetime_export_kwh if cons else None),
        str(snapshot.inverters_working),
        str(len(snapshot.inverters)),
        snapshot.sha256[:16],
    ]


def _num(value: float | None) -> str:
    """A number as a spreadsheet reads it in any locale: a point, no thousands separator; empty for unknown."""
    if value is None:
        return ""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
