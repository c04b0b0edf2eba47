"""The embedded default sink: one CSV file per tab in a folder, openable by any spreadsheet program.

A commit appends rows and replaces small tabs first and writes ``_state.csv`` last (temp file, fsync, rename).
The state records each appended file's size, header and data row count, so a commit cut off by a crash is undone
on the next load by truncating the file back (or, when the panel columns grew meanwhile and every old row was
rewritten, by keeping the committed rows under the committed header): the edge never got an acknowledgement for
those rows and will send them again.
Text that a spreadsheet would run as a formula (``= + - @``) is stored with a leading apostrophe. Times are
site-local ``2025-06-01 06:00:00`` (which spreadsheets read as dates; older files with ISO 8601 offsets still
read), percent columns hold percent numbers and numbers are rounded as the Sheet's formats show them (`stored`).
A file whose header is not the layout's (a column was added or renamed) is rewritten once, row by row, in the
current form.
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from pvs6_cloud.infra.errors import SinkUnavailable
from pvs6_cloud.store.base import Panels, SheetWrite
from pvs6_cloud.store.layout import Cell, Layout, Tab, load_layout
from pvs6_cloud.store.state import STATE_TAB, SiteState, state_from_rows, state_to_rows
from pvs6_cloud.store.stored import from_stored, match_header, stored_cells
from pvs6_parse.localtime import local_time_text, parse_local_time

__all__ = ["CsvSink", "neutralise"]

log = logging.getLogger(__name__)

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_SECTION = "csv_sink"


def neutralise(text: str) -> str:
    """Make device-supplied text inert in a spreadsheet (``=IMPORTXML(...)`` stays text).

    A text that already starts with an apostrophe gets one more, so `_restore` can always take exactly one off:
    the mapping is reversible for every string, which the ``_state`` tab relies on.
    """
    return "'" + text if text.startswith((*_FORMULA_STARTS, "'")) else text


def _restore(text: str) -> str:
    return text[1:] if text.startswith("'") else text


class CsvSink:
    """A site's spreadsheet as a folder of CSV files.

    Parameters
    ----------
    folder : Path
        Where ``Readings.csv``, ``Daily.csv``, ... live; created when missing.
    tz : tzinfo
        The site's time zone: times are written as its wall time (``2025-06-01 06:00:00``).
    layout : Layout, optional
        Defaults to the project's ``sheets_template/layout.toml``.
    """

    def __init__(self, folder: Path, tz: tzinfo, layout: Layout | None = None) -> None:
        self.folder = Path(folder)
        self.tz = tz
        self.layout = layout or load_layout()

    # -- cells ------------------------------------------------------------------------------------------------
    def _format(self, value: Cell) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, datetime):
            return local_time_text(value, self.tz)
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, float):
            return repr(round(value, 6))
        if isinstance(value, int):
            return str(value)
        return neutralise(str(value))

    def _parse(self, text: str, kind: str) -> Cell:
        if text == "":
            return None
        try:
            if kind in ("number", "percent"):
                return float(text)
            if kind == "integer":
                return int(float(text))
            if kind == "datetime":
                return parse_local_time(text, self.tz)
            if kind == "date":
                return date.fromisoformat(text)
        except ValueError:
            return _restore(text)
        return _restore(text)

    # -- files ------------------------------------------------------------------------------------------------
    def _path(self, tab: str) -> Path:
        return self.folder / f"{tab}.csv"

    def _rows_text(self, rows: Iterable[Sequence[Cell]]) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        for row in rows:
            writer.writerow([self._format(c) for c in row])
        return buf.getvalue()

    def _write_atomic(self, path: Path, text: str) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _read_rows(self, tab: str) -> list[list[str]]:
        path = self._path(tab)
        if not path.exists():
            return []
        with path.open(encoding="utf-8", newline="") as fh:
            return list(csv.reader(fh))

    @staticmethod
    def _read_header(path: Path) -> list[str] | None:
        if not path.exists():
            return None
        with path.open(encoding="utf-8", newline="") as fh:
            titles = next(csv.reader(fh), None)
        return None if titles is None else [_restore(t) for t in titles]

    def _ensure_header(self, tab: Tab, panels: Panels) -> None:
        """Write the header; when it differs, rewrite the file once (rows keep their cells, in the current form).

        Only panel columns added at the end: the old rows are padded. Anything else (a column added or renamed,
        a file from an older version): every row is read under its own header and written under the layout's.
        """
        header = tab.header(panels if tab.dynamic else ())
        path = self._path(tab.name)
        old = self._read_header(path)
        if old == header:
            return  # the common case reads one line, not years of Readings
        rows = self._read_rows(tab.name)
        if rows and old is not None and old != header[: len(old)]:
            log.info("%s: bringing the file to the current columns and formats (every row is kept)", path.name)
            records = self._records(tab, panels if tab.dynamic else (), rows[0], iter(rows[1:]))
            body = [[self._format(c) for c in stored_cells(tab, r, panels if tab.dynamic else (), self.tz)]
                    for r in records]
        else:
            body = [r + [""] * (len(header) - len(r)) for r in rows[1:]]
        buf = io.StringIO()
        # A panel's title can be its device's serial: kept inert like every other device string.
        csv.writer(buf, lineterminator="\n").writerows([[neutralise(t) for t in header], *body])
        self._write_atomic(path, buf.getvalue())

    # -- Sink interface ---------------------------------------------------------------------------------------
    def ensure_layout(self, panels: Panels = ()) -> None:
        """Create the folder and every tab's file with its header."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for tab in self.layout.tabs:
                self._ensure_header(tab, panels)
        except OSError as err:
            raise SinkUnavailable(f"cannot prepare the sheet folder {self.folder}: {err.strerror}") from err

    def load_state(self) -> SiteState:
        """Read ``_state.csv`` and cut back any file a crashed commit left longer than the state says."""
        try:
            state = state_from_rows([[_restore(c) for c in row] for row in self._read_rows(STATE_TAB)])
            section = state.section(_SECTION)
            sizes: dict[str, int] = section.get("sizes", {})
            headers: dict[str, list[str]] = section.get("headers", {})
            counts: dict[str, int] = section.get("rows", {})
            for tab, size in sizes.items():
                path = self._path(tab)
                if path.exists() and path.stat().st_size > size:
                    log.warning("%s: undoing a commit that was cut off (%d bytes past the last commit)",
                                path.name, path.stat().st_size - size)
                    header = headers.get(tab)
                    if header is not None and tab in counts and self._read_header(path) != header:
                        # The header was rewritten after the last commit: every old row moved, so bytes mean
                        # nothing. The rewrite kept the rows in order, so the committed ones are the first ones.
                        rows = self._read_rows(tab)
                        current = [_restore(t) for t in rows[0]]
                        if current[: len(header)] == header:  # panel columns grew: cut back to the old header
                            kept = (r[: len(header)] for r in rows[1 : 1 + counts[tab]])
                            out = [[neutralise(t) for t in header], *kept]
                        else:  # the file was brought to new columns: keep that form, drop the uncommitted rows
                            out = rows[: 1 + counts[tab]]
                            headers[tab] = current
                        buf = io.StringIO()
                        csv.writer(buf, lineterminator="\n").writerows(out)
                        self._write_atomic(path, buf.getvalue())
                        sizes[tab] = path.stat().st_size
                        continue
                    with path.open("r+b") as fh:
                        fh.truncate(size)
                        fh.flush()
                        os.fsync(fh.fileno())
        except OSError as err:
            raise SinkUnavailable(f"cannot read the sheet folder {self.folder}: {err.strerror}") from err
        return state

    def commit(self, write: SheetWrite) -> None:
        """Append, replace and upsert, then store the state last (see the module docstring)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            section = write.state.section(_SECTION)
            sizes = section.setdefault("sizes", {})
            headers = section.setdefault("headers", {})
            counts = section.setdefault("rows", {})
            for name, records in write.append.items():
                tab = self.layout.tab(name)
                panels = write.panels if tab.dynamic else ()
                self._ensure_header(tab, panels)
                path = self._path(name)
                if name not in counts:  # a folder from before row counts were kept: count once
                    counts[name] = max(0, len(self._read_rows(name)) - 1)
                with path.open("a", encoding="utf-8", newline="") as fh:
                    fh.write(self._rows_text(stored_cells(tab, r, panels, self.tz) for r in records))
                    fh.flush()
                    os.fsync(fh.fileno())
                sizes[name] = path.stat().st_size
                headers[name] = tab.header(panels)
                counts[name] += len(records)
                write.state.row_counts[name] = write.state.row_counts.get(name, 0) + len(records)
            for name, records in write.replace.items():
                tab = self.layout.tab(name)
                panels = write.panels if tab.dynamic else ()
                rows = [tab.header(panels), *(stored_cells(tab, r, panels, self.tz) for r in records)]
                self._write_atomic(self._path(name), self._rows_text(rows))
            for name, (key, records) in write.upsert.items():
                self._upsert(self.layout.tab(name), key, records, write.panels)
            self._write_atomic(self._path(STATE_TAB), self._rows_text(state_to_rows(write.state)))
        except OSError as err:
            raise SinkUnavailable(f"cannot write to the sheet folder {self.folder}: {err.strerror}") from err

    def _upsert(self, tab: Tab, key: str, records: Sequence[Any], panels: Panels) -> None:
        panels = panels if tab.dynamic else ()
        existing = self.read_records(tab.name, panels)
        index = {str(self._format(r.get(key))): i for i, r in enumerate(existing)}
        for record in records:
            slot = index.get(self._format(record.get(key)))
            if slot is None:
                index[self._format(record.get(key))] = len(existing)
                existing.append(dict(record))
            else:
                existing[slot] = dict(record)
        # Keyed tabs (Daily, Monthly) stay in key order whatever order days arrive in; ISO text sorts by date.
        existing.sort(key=lambda r: (r.get(key) is None, self._format(r.get(key))))
        rows = [tab.header(panels), *(stored_cells(tab, r, panels, self.tz) for r in existing)]
        self._write_atomic(self._path(tab.name), self._rows_text(rows))

    def stored_ids(self, state: SiteState, since: datetime, until: datetime) -> set[str]:
        """Reading ids in ``Readings.csv`` whose local date is within a day of ``since``..``until`` (one pass)."""
        tab = self.layout.tab("Readings")
        time_title = next(c.title for c in tab.columns if c.key == "time")
        id_title = next(c.title for c in tab.columns if c.key == "snapshot_id")
        first = (since.astimezone(self.tz) - timedelta(days=1)).date().isoformat()
        last = (until.astimezone(self.tz) + timedelta(days=1)).date().isoformat()
        path = self._path(tab.name)
        found: set[str] = set()
        try:
            if not path.exists():
                return found
            with path.open(encoding="utf-8", newline="") as fh:
                reader = csv.reader(fh)
                titles = [_restore(t) for t in next(reader, [])]
                if time_title not in titles or id_title not in titles:
                    return found
                time_i, id_i = titles.index(time_title), titles.index(id_title)
                for row in reader:
                    if len(row) > max(time_i, id_i) and first <= row[time_i][:10] <= last and row[id_i]:
                        found.add(_restore(row[id_i]))
        except OSError as err:
            raise SinkUnavailable(f"cannot read the sheet folder {self.folder}: {err.strerror}") from err
        return found

    def read_records(self, tab: str, panels: Panels = (), start_row: int = 0) -> list[dict[str, Cell]]:
        """Typed rows of a tab (numbers as float, times as aware datetimes) from data row ``start_row``.

        The file is streamed and the rows before ``start_row`` are skipped unparsed into values, so a nightly
        job that reads only the last days stays cheap on a Readings file holding years.
        """
        layout_tab = self.layout.tab(tab)
        path = self._path(tab)
        if not path.exists():
            return []
        panels = panels if layout_tab.dynamic else ()
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            titles = next(reader, None)
            if titles is None:
                return []
            return self._records(layout_tab, panels, titles, itertools.islice(reader, start_row, None))

    def _records(self, tab: Tab, panels: Panels, titles: Sequence[str],
                 rows: Iterable[Sequence[str]]) -> list[dict[str, Cell]]:
        header = match_header(tab, [_restore(t) for t in titles], panels)
        legacy = {m.column.key for m in header if m is not None and m.legacy}
        records = []
        for raw in rows:
            values: dict[str, Cell] = {}
            for match, text in zip(header, raw, strict=False):
                if match is not None:
                    values[match.column.key] = self._parse(text, match.column.type)
            records.append(from_stored(tab, values, legacy, panels))
        return records
