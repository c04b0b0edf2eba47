"""Moving old Readings rows into one archive spreadsheet per year, without losing or doubling a row.

Order of a move, each step safe to repeat: (1) make sure the year's archive spreadsheet exists, its id stored in
``_state`` at once (section ``sheets.archives``); (2) append to it the rows it does not hold yet (matched by
reading id, else by the whole row); (3) delete the rows from Readings in the same batchUpdate that stores the
state. A failure after (2) leaves the rows in both places; the next run finds them in the archive and only
deletes them. See docs/capacity.md for the arithmetic.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..errors import SinkUnavailable
from ..layout import Column
from ..state import SiteState
from ._sheets_cells import a1, raw_cell_data, serial_to_datetime, to_serial
from ._sheets_layout import format_requests, header_request

if TYPE_CHECKING:
    from .sheets import SheetsSink

__all__ = ["ArchiveMover"]

log = logging.getLogger(__name__)

READINGS = "Readings"
SECTION = "sheets"


def _runs(indexes: Sequence[int]) -> list[tuple[int, int]]:
    """Consecutive runs ``[start, end)`` of sorted indexes, last run first (so deleting keeps indexes valid)."""
    runs: list[tuple[int, int]] = []
    for i in sorted(indexes):
        if runs and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs[::-1]


class ArchiveMover:
    """One rotation of a sink's Readings tab."""

    def __init__(self, sink: SheetsSink) -> None:
        self.sink = sink
        self.tab = sink.layout.tab(READINGS)

    def rotate(self, state: SiteState, before: datetime) -> tuple[list[dict[str, Any]], int]:
        """Archive rows older than ``before``; return (main-sheet requests deleting them, rows moved).

        ``state`` is updated (archives, Readings row count, oldest reading); the caller stores it together with
        the returned requests in one batchUpdate.
        """
        sink = self.sink
        section = state.section(SECTION)
        cut = to_serial(before, sink.tz)
        oldest = section.get("readings_oldest")
        if (oldest is not None and oldest >= cut) or READINGS not in sink.metadata():
            return [], 0
        rows = sink.values([a1(READINGS, 1)], "read Readings for the archive")[0]
        header, data = (rows[0], rows[1:]) if rows else ([], [])
        titles = [str(t) for t in header]
        time_i = titles.index(self.tab.columns[0].title) if self.tab.columns[0].title in titles else 0
        id_title = next((c.title for c in self.tab.columns if c.key == "snapshot_id"), None)
        id_i = titles.index(id_title) if id_title in titles else None
        by_year: dict[int, list[list[Any]]] = {}
        moving: list[int] = []
        remaining_oldest: float | None = None
        for i, row in enumerate(data):
            stamp = row[time_i] if len(row) > time_i else ""
            if not isinstance(stamp, int | float) or isinstance(stamp, bool):
                continue
            if stamp < cut:
                by_year.setdefault(serial_to_datetime(stamp, sink.tz).year, []).append(row)
                moving.append(i)
            else:
                remaining_oldest = stamp if remaining_oldest is None else min(remaining_oldest, stamp)
        section["readings_oldest"] = remaining_oldest
        state.row_counts[READINGS] = len(data) - len(moving)
        for year, year_rows in sorted(by_year.items()):
            self._copy(state, year, titles, year_rows, id_i)
        sheet_id = sink.metadata()[READINGS].sheet_id
        requests = [{"deleteDimension": {"range": {"sheetId": sheet_id, "dimension": "ROWS",
                                                   "startIndex": start + 1, "endIndex": end + 1}}}
                    for start, end in _runs(moving)]
        return requests, len(moving)

    @staticmethod
    def _key(row: Sequence[Any], id_i: int | None) -> Any:
        if id_i is not None and len(row) > id_i and row[id_i] not in ("", None):
            return ("id", str(row[id_i]))
        trimmed = list(row)
        while trimmed and trimmed[-1] in ("", None):
            trimmed.pop()
        return ("row", tuple(trimmed))

    def _columns(self, header: Sequence[str]) -> list[Column]:
        fixed = list(self.tab.columns)
        extra = [Column(f"extra:{i}", title, "number", self.tab.dynamic_format)
                 for i, title in enumerate(header[len(fixed):])]
        return fixed + extra

    def _archive_id(self, state: SiteState, year: int, header: Sequence[str], rows: int) -> str:
        """The year's archive spreadsheet, created (and remembered in the stored state) when missing."""
        sink = self.sink
        archives = state.section(SECTION).setdefault("archives", {})
        entry = archives.get(str(year))
        if entry:
            return str(entry["id"])
        title = f"{sink.title} — Readings {year}"
        body = {"properties": {"title": title}, "sheets": [{"properties": {
            "title": READINGS, "gridProperties": {"rowCount": rows + 1, "columnCount": len(header),
                                                  "frozenRowCount": 1}}}]}
        reply = sink.api.run(lambda s: s.sheets.create(body=body, fields="spreadsheetId"),
                             f"create the {year} archive", sink.spreadsheet_id)
        archive_id = str(reply["spreadsheetId"])
        entry = {"id": archive_id, "title": title, "rows": 0}
        # Remember it before copying anything, so a failure later never makes a second archive for the year.
        stored = sink.load_state()
        stored.section(SECTION).setdefault("archives", {})[str(year)] = dict(entry)
        sink.commit_state(stored, (), f"remember the {year} archive")
        archives[str(year)] = entry
        log.warning("created archive spreadsheet %r (id %s) for %d readings; it is owned by the account the "
                    "function runs as", title, archive_id, year)
        return archive_id

    def _copy(self, state: SiteState, year: int, header: Sequence[str], rows: Sequence[Sequence[Any]],
              id_i: int | None) -> None:
        sink = self.sink
        archive_id = self._archive_id(state, year, header, len(rows))
        info = sink.metadata(spreadsheet_id=archive_id).get(READINGS)
        if info is None:
            raise SinkUnavailable(f"archive spreadsheet {archive_id} for {year} has no {READINGS} tab")

        def held(retries: int | None = None) -> set[Any]:
            existing = sink.values([a1(READINGS, 2)], f"read the {year} archive", spreadsheet_id=archive_id,
                                   retries=retries)[0]
            return {self._key(r, id_i) for r in existing}

        present = held()
        missing = [r for r in rows if self._key(r, id_i) not in present]
        requests: list[dict[str, Any]] = []
        if info.columns < len(header):
            requests.append({"appendDimension": {"sheetId": info.sheet_id, "dimension": "COLUMNS",
                                                 "length": len(header) - info.columns}})
        requests.append(header_request(info.sheet_id, header))
        requests.extend(format_requests(info.sheet_id, self._columns(header)))
        if missing:
            requests.append({"appendCells": {"sheetId": info.sheet_id, "fields": "userEnteredValue",
                                             "rows": [{"values": [raw_cell_data(v) for v in r]} for r in missing]}})
        wanted = {self._key(r, id_i) for r in missing}
        sink.batch_update(requests, f"archive {len(missing)} reading(s) of {year}", spreadsheet_id=archive_id,
                          landed=lambda: wanted <= held(0))
        entry = state.section(SECTION)["archives"][str(year)]
        entry["rows"] = len(present) + len(missing)
        log.info("archive %s: %d reading(s) added, %d already there", year, len(missing), len(rows) - len(missing))
