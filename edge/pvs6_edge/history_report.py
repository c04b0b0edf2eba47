"""Reading the history back: ``pvs6-edge export`` (one CSV for a date range) and the history lines of ``status``.

Read-only and without the run lock: a month file is only ever appended to (a reader skips a row still being
written) or replaced whole by a rename, so a reader always sees whole rows.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import IO, Any

from pvs6_edge.errors import StorageError
from pvs6_edge.fsio import TEMP_PREFIX, fsync_dir
from pvs6_edge.history import FIXED_COLUMNS, History
from pvs6_edge.history_csv import read_month, read_tail

__all__ = ["export_range", "format_history", "history_summary", "write_export"]

_N_FIXED = len(FIXED_COLUMNS)


def export_range(history: History, first: date, last: date) -> Iterator[list[str]]:
    """The header, then every row from ``first`` to ``last`` (local dates, both included), oldest month first.

    Panel columns are the union over the months, in the order they first appear, so a panel added in May sits
    after the others all year; a month without it has empty cells there.

    Raises
    ------
    StorageError
        A month file cannot be read.
    """
    months = [p for p in history.month_files() if f"{first:%Y-%m}" <= p.stem <= f"{last:%Y-%m}"]
    panels: list[str] = []
    for path in months:  # headers first, then one month at a time: 25 years never sit in a Pi Zero's memory
        panels.extend(h for h in read_tail(path)[0][_N_FIXED:] if h not in panels)
    yield [title for _key, title in FIXED_COLUMNS] + panels
    since, until = first.isoformat(), last.isoformat()
    for path in months:
        header, rows = read_month(path)
        where = {h: i for i, h in enumerate(header)}
        picks = [where.get(h) for h in panels]
        for row in rows:
            if since <= row[0][:10] <= until:
                yield row[:_N_FIXED] + [row[i] if i is not None else "" for i in picks]


def write_export(rows: Iterator[list[str]], out: Path | None, stdout: IO[str]) -> int:
    """Write the export to ``out`` (whole or not at all: a temp file renamed at the end), or to ``stdout``.

    Returns
    -------
    int
        Data rows written (the header not counted).

    Raises
    ------
    StorageError
        ``out`` cannot be written (its folder missing, disk full, no permission).
    """
    if out is None:
        return _write_rows(rows, stdout)
    tmp = out.with_name(f"{TEMP_PREFIX}{out.name}.{os.getpid()}")
    try:
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            count = _write_rows(rows, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"cannot write {out}: {err.strerror or err}") from err
    fsync_dir(out.parent)
    return count


def _write_rows(rows: Iterator[list[str]], fh: IO[str]) -> int:
    writer = csv.writer(fh, lineterminator="\n")
    count = -1
    for row in rows:
        writer.writerow(row)
        count += 1
    return max(count, 0)


def history_summary(history: History) -> dict[str, Any]:
    """Where the history is and how much it holds, cheaply (sizes and the newest month only).

    Returns
    -------
    dict
        ``dir``, ``months`` (files), ``first_month``, ``last_month``, ``bytes``, ``newest_month_rows``,
        ``last_reading`` (local time and offset of the newest row), ``unreadable`` (raw answers kept).
    """
    try:
        files = history.month_files()
        sizes = [p.stat().st_size for p in files]
        header, rows = read_month(files[-1]) if files else ([], [])
    except (StorageError, OSError) as err:
        return {"dir": str(history.dir), "error": str(err)}
    try:
        unreadable = len(os.listdir(history.unreadable_dir))
    except OSError:
        unreadable = 0
    return {
        "dir": str(history.dir),
        "months": len(files),
        "first_month": files[0].stem if files else None,
        "last_month": files[-1].stem if files else None,
        "bytes": sum(sizes),
        "newest_month_rows": len(rows),
        "last_reading": f"{rows[-1][0]} ({rows[-1][1]})" if rows else None,
        "panels": len(header[_N_FIXED:]),
        "unreadable": unreadable,
    }


def format_history(summary: dict[str, Any]) -> str:
    """The history lines of ``pvs6-edge status``."""
    lines = [f"history (CSV):      {summary['dir']}"]
    if "error" in summary:
        return "\n".join([*lines, f"  CANNOT READ:      {summary['error']}"])
    if not summary["months"]:
        return "\n".join([*lines, "  no readings yet (one row is added after every reading from the PVS6)"])
    span = summary["first_month"] if summary["months"] == 1 else f"{summary['first_month']} to {summary['last_month']}"
    lines += [
        f"  holds:            {summary['months']} month file(s), {span}, {summary['bytes'] / 1e6:.1f} MB",
        f"  this month:       {summary['newest_month_rows']} reading(s), {summary['panels']} panel column(s), "
        f"last {summary['last_reading']}",
    ]
    if summary["unreadable"]:
        lines.append(f"  unreadable:       {summary['unreadable']} answer(s) kept raw in "
                     f"{Path(summary['dir']) / 'unreadable'}")
    return "\n".join(lines)
