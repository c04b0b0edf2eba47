"""What a sink stores for a record, and how a stored row becomes a record again: one convention for both sinks.

The code keeps ratios as fractions and times as aware datetimes; a person reads the tabs. So, in the CSV folder
and the Google Sheet alike, a ``percent`` column holds a percent number (0.325 is stored as 32.5 under a
"(%)" title), numbers are rounded to the decimals their column's format shows, and an ``offset`` column holds
the UTC offset of the time beside it ("UTC-4"), which tells the two occurrences of a repeated autumn hour
apart. Each sink still turns a value into its own cell (text in a CSV, a date serial in the Sheet).

Reading maps a file's header titles onto the layout: the current title, or an older one listed in ``was``
(percent cells under an older title are fractions), and panel columns whose title changed (a panel got a place
name) by their position after the fixed columns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from pvs6_cloud.store.base import Panels
from pvs6_cloud.store.layout import Cell, Column, Tab
from pvs6_parse.localtime import utc_offset_label, with_utc_offset

__all__ = ["FileColumn", "from_stored", "match_header", "stored_cells"]


def _stored_value(column: Column, value: Cell, record: Mapping[str, Cell], tz: tzinfo) -> Cell:
    if column.type == "offset":
        at = record.get(column.of)
        return utc_offset_label(at, tz) if isinstance(at, datetime) else value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if column.type == "percent":
        value = value * 100.0
    places = column.decimals
    if places is None or not isinstance(value, float) or not math.isfinite(value):
        return value
    return round(value) if places == 0 else round(value, places)


def stored_cells(tab: Tab, record: Mapping[str, Cell], panels: Panels, tz: tzinfo) -> list[Cell]:
    """The cells of one row as a sink stores them, in column order (see the module docstring).

    Parameters
    ----------
    tab : Tab
        The tab the row goes to.
    record : mapping
        The row keyed by column key (fractions for percent columns, aware datetimes for times).
    panels : sequence of (serial, label)
        The panel columns of a dynamic tab.
    tz : tzinfo
        The site's zone (for the offset columns).
    """
    return [_stored_value(c, record.get(c.key), record, tz) for c in tab.all_columns(panels)]


@dataclass(frozen=True, slots=True)
class FileColumn:
    """A column of a stored tab matched to the layout; ``legacy`` when found under an older title."""

    column: Column
    legacy: bool = False


def match_header(tab: Tab, titles: Sequence[str], panels: Panels) -> list[FileColumn | None]:
    """The layout column of each stored header title (None for a column the layout does not know)."""
    fixed = {c.title: FileColumn(c) for c in tab.columns}
    for column in tab.columns:
        for old in column.was:
            fixed.setdefault(old, FileColumn(column, legacy=True))
    panel_cols = tab.panel_columns(panels)
    by_panel_title = {c.title: c for c in panel_cols}
    out: list[FileColumn | None] = []
    for title in titles:
        if title in fixed:
            out.append(fixed[title])
        elif title in by_panel_title:
            out.append(FileColumn(by_panel_title[title]))
        else:
            out.append(None)
    taken = {m.column.key for m in out if m is not None}
    spare = iter(c for c in panel_cols if c.key not in taken)
    last_fixed = max((i for i, m in enumerate(out) if m is not None and m.column in tab.columns), default=-1)
    for i in range(last_fixed + 1, len(out)):
        if out[i] is None and titles[i] != "":
            column = next(spare, None)
            if column is None:
                break
            out[i] = FileColumn(column)
    return out


def from_stored(tab: Tab, values: Mapping[str, Cell], legacy: set[str], panels: Panels) -> dict[str, Cell]:
    """A record from a stored row whose cells the sink has typed (numbers, aware datetimes, text).

    Percent numbers become fractions again (cells found under an older title, keys in ``legacy``, already are),
    and a time takes the occurrence its offset column names.
    """
    record: dict[str, Cell] = {c.key: None for c in tab.all_columns(panels)}
    record.update(values)
    for column in tab.columns:
        value = record.get(column.key)
        if column.type == "percent" and column.key not in legacy and isinstance(value, int | float) \
                and not isinstance(value, bool):
            record[column.key] = value / 100.0
        elif column.type == "offset" and isinstance(value, str):
            at = record.get(column.of)
            if isinstance(at, datetime):
                record[column.of] = with_utc_offset(at, value)
    return record
