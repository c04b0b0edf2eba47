"""The month files' bytes: whole rows only, appended in one write, a torn end cut, a wider header rewritten.

The file-level half of :mod:`pvs6_edge.history` (which decides what a row holds). A row is a line of plain CSV
(cells never contain a newline), so "the last line is a whole row" is checked by the line's width and its time
and offset cells; anything else at the end of a file is what a power cut left, and only the end is ever cut.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pvs6_edge.errors import StorageError
from pvs6_edge.fsio import atomic_write, fsync_dir

__all__ = ["append_line", "csv_line", "last_row", "read_month", "read_tail", "repair_tail", "rewrite", "row_ts"]

log = logging.getLogger(__name__)

_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
_OFFSET_RE = re.compile(r"^UTC[+-]\d{2}:\d{2}$")
TAIL_BYTES = 64 * 1024  # the dedup window: about 200 rows, days of readings at any sane interval


def read_month(path: Path) -> tuple[list[str], list[list[str]]]:
    """All rows of a month file: (header, rows), skipping a torn last line (read-only: nothing is cut).

    Raises
    ------
    StorageError
        The file cannot be read.
    """
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as err:
        raise StorageError(f"cannot read {path}: {err.strerror or err}") from err
    lines = text.split("\n")[:-1]  # the last piece is empty, or a row still being written: never a whole row
    if not lines or not lines[0]:
        return [], []
    header = next(csv.reader([lines[0]]))
    rows = [row for row in (parse_line(line, len(header)) for line in lines[1:]) if row is not None]
    return header, rows


def csv_line(cells: list[str]) -> str:
    """One CSV line ending in ``\\n``; the csv module quotes a header title holding a comma."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()


def parse_line(line: str, width: int) -> list[str] | None:
    """A data row, or None for a line that is not one whole row (torn, zero-filled, wrong width)."""
    if not line or "\x00" in line:
        return None
    try:
        row = next(csv.reader([line]))
    except (csv.Error, StopIteration):
        return None
    if len(row) != width or not _TIME_RE.match(row[0]) or not _OFFSET_RE.match(row[1]):
        return None
    return row


def row_ts(row: list[str]) -> float:
    """The instant of a row [unix s], from its local time and its ``UTC+hh:mm`` offset cell."""
    sign = -1 if row[1][3] == "-" else 1
    hours, minutes = int(row[1][4:6]), int(row[1][7:9])
    zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
    return datetime.strptime(row[0], "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone).timestamp()


def read_tail(path: Path) -> tuple[list[str], list[list[str]]]:
    """The header and the whole rows within the last ``TAIL_BYTES`` of a month file."""
    try:
        with path.open("rb") as fh:
            head = fh.readline().decode("utf-8", errors="replace").rstrip("\n")
            start = fh.tell()
            size = os.fstat(fh.fileno()).st_size
            fh.seek(max(start, size - TAIL_BYTES))
            skip_partial = fh.tell() > start
            tail = fh.read().decode("utf-8", errors="replace")
    except OSError as err:
        raise StorageError(f"cannot read {path}: {err.strerror or err}") from err
    header = next(csv.reader([head])) if head else []
    lines = tail.split("\n")[:-1]
    if skip_partial:
        lines = lines[1:]
    rows = [row for row in (parse_line(line, len(header)) for line in lines) if row is not None]
    return header, rows


def last_row(path: Path) -> list[str] | None:
    _header_cells, rows = read_tail(path)
    return rows[-1] if rows else None


def repair_tail(path: Path) -> None:
    """Cut what a power cut left at the end of a month file: a line without its newline, or a last line that is
    no whole row (zero-filled blocks, a short write). Only the end is ever touched."""
    try:
        with path.open("r+b") as fh:
            first = fh.readline()
            header_len = len(first)
            header = next(csv.reader([first.decode("utf-8", errors="replace").rstrip("\n")]), [])
            size = os.fstat(fh.fileno()).st_size
            good = size
            while good > header_len:
                fh.seek(max(header_len, good - TAIL_BYTES))
                chunk = fh.read(good - fh.tell())
                base = good - len(chunk)
                if not chunk.endswith(b"\n"):
                    cut = chunk.rfind(b"\n")
                    good = base + cut + 1 if cut >= 0 else base  # no newline in the window: look further back
                    continue
                prev = chunk.rfind(b"\n", 0, len(chunk) - 1)
                if prev < 0 and base > header_len:
                    break  # a line longer than the window: leave it, the reader skips it
                line = chunk[prev + 1:-1].decode("utf-8", errors="replace")
                if parse_line(line, len(header)) is not None:
                    break
                good = base + prev + 1 if prev >= 0 else header_len
            if good < size:
                fh.truncate(good)
                fh.flush()
                os.fsync(fh.fileno())
                log.warning("history: cut %d byte(s) of a torn last row from %s (a power cut mid-write?)",
                            size - good, path.name)
    except OSError as err:
        raise StorageError(f"cannot repair {path}: {err.strerror or err}") from err


def append_line(path: Path, line: str) -> None:
    """One row in one write, then fsync: a power cut leaves the row whole or a torn end ``repair_tail`` cuts."""
    data = line.encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as err:
        raise StorageError(f"cannot append to {path}: {err.strerror or err}") from err


def rewrite(path: Path, header: list[str]) -> None:
    """Rewrite a month file atomically under a wider ``header``; old rows get empty cells in the new columns."""
    _old, rows = read_month(path)
    lines = [csv_line(header)] + [csv_line(row + [""] * (len(header) - len(row))) for row in rows]
    atomic_write(path, "".join(lines).encode("utf-8"))
    fsync_dir(path.parent)
