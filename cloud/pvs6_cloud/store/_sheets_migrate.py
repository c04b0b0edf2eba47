"""Bringing a tab written by an older version of the layout to the current one, in a Google Sheet.

A spreadsheet made before Readings gained its "Time zone" column, or before percent columns held percent numbers
under "(%)" titles, has rows whose cells sit under other titles and fractions where the layout now wants 0-100.
Writing the new header over them would shift every old row by a column. So the first write of a process to such
a tab rewrites it once: every row read under its own header (current titles, older ``was`` titles, panel columns
by position, exactly as `stored.match_header` reads a CSV file), then written back in the current form, in the
same order, in one batchUpdate together with the new header. A tab whose header only gained panel columns at the
right needs nothing of this.

Pure builders: the Sheets sink reads the rows and sends the requests.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import tzinfo
from typing import Any

from pvs6_cloud.store._sheets_cells import cell_data, from_sheet
from pvs6_cloud.store._sheets_layout import format_requests, header_request
from pvs6_cloud.store.base import Panels
from pvs6_cloud.store.layout import Cell, Tab
from pvs6_cloud.store.stored import from_stored, match_header, stored_cells

__all__ = ["migration_requests", "needs_migration"]

log = logging.getLogger(__name__)


def needs_migration(old: Sequence[str], header: Sequence[str]) -> bool:
    """True when a tab's stored header is not the layout's, nor the layout's minus (or plus) panel columns.

    An empty tab (no header yet) needs only its header, which the sink writes anyway.
    """
    old, header = [str(t) for t in old], list(header)
    if not old:
        return False
    return header[: len(old)] != old and old[: len(header)] != header


def migration_requests(tab: Tab, sheet_id: int, old: Sequence[str], rows: Sequence[Sequence[Any]],
                       panels: Panels, tz: tzinfo) -> list[dict[str, Any]]:
    """The requests that rewrite ``rows`` (read under header ``old``) in the current form of ``tab``.

    Parameters
    ----------
    tab : Tab
        The layout's tab.
    sheet_id : int
        Its sheet in the spreadsheet.
    old : sequence of str
        The header row the tab has now.
    rows : sequence of rows
        Every data row below it, as read with ``UNFORMATTED_VALUE`` / ``SERIAL_NUMBER``.
    panels : sequence of (serial, label)
        Panel columns of a dynamic tab.
    tz : tzinfo
        The site's zone (times are its wall-time serials; offsets are computed for rows that had none).

    Returns
    -------
    list of dict
        Clear the tab, write the header, its formats and every row, top to bottom; the grid must already be
        wide enough for the current header.
    """
    titles = [str(t) for t in old]
    panels = panels if tab.dynamic else ()
    header = match_header(tab, titles, panels)
    legacy = {m.column.key for m in header if m is not None and m.legacy}
    if not any(m is not None and m.column in tab.columns for m in header):
        log.warning("%s: its header names none of our columns; writing ours above its rows", tab.name)
        return [header_request(sheet_id, tab.header(panels))]
    dropped = [t for t, m in zip(titles, header, strict=True) if m is None and t]
    if dropped:
        log.warning("%s: column(s) %s are not in the layout; their cells are left out", tab.name, ", ".join(dropped))
    moved = []
    for raw in rows:
        values: dict[str, Cell] = {}
        for match, value in zip(header, raw, strict=False):
            if match is not None:
                values[match.column.key] = from_sheet(value, match.column.type, tz)
        record = from_stored(tab, values, legacy, panels)
        moved.append({"values": [cell_data(v, tz) for v in stored_cells(tab, record, panels, tz)]})
    log.info("%s: bringing %d row(s) to the current columns and formats (every row is kept, in order)",
             tab.name, len(moved))
    requests: list[dict[str, Any]] = [
        {"updateCells": {"range": {"sheetId": sheet_id}, "fields": "userEnteredValue"}},
        header_request(sheet_id, tab.header(panels)),
        *format_requests(sheet_id, tab.all_columns(panels)),
    ]
    if moved:
        requests.append({"updateCells": {"start": {"sheetId": sheet_id, "rowIndex": 1, "columnIndex": 0},
                                         "rows": moved, "fields": "userEnteredValue"}})
    return requests
