"""The Google Sheets sink: a site's spreadsheet written through the Sheets API v4, exactly once.

A commit is ONE ``spreadsheets.batchUpdate``: ``appendCells`` for new Readings rows, clear + ``appendCells`` for
replaced tabs (Devices, Alerts), ``updateCells``/``appendCells`` for upserts, the header when panel columns grew,
and the rewrite of the hidden ``_state`` tab. Sheets applies a batchUpdate all-or-nothing, so the rows and the
state that remembers them land together: a retried upload finds its ids in the state and writes nothing twice.
The state carries a random commit token; when a reply is lost, the sink reads the token back before re-sending.
A tab of an older layout is rewritten in the current form once, before the first commit adds rows to it.

Cost of a live batch: one ``values.get`` of ``_state`` plus one ``batchUpdate`` (plus one ``spreadsheets.get``
the first time a process touches the sheet). Capacity: finished years of Readings move to ``Readings <year>`` tabs
of the same spreadsheet while it stays under its cell budget, then to archive spreadsheets shared with the owners
(see `rotate_readings`, ``_sheets_archive`` and docs/capacity.md); Daily, Monthly, Devices and Alerts stay put.

The sink is built in floors, each its own module so none needs the one above: ``_sheets_client`` (the Google
client and its retries), ``_sheets_book`` (one spreadsheet: calls, tabs, values, the ``_state`` tab),
``_sheets_tabs`` (laying out tabs), ``_sheets_archive`` (moving finished years out) and this module on top
(what a commit writes, the safety valve, the yearly rotation).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pvs6_cloud.infra.errors import SinkUnavailable
from pvs6_cloud.store._sheets_archive import ArchiveMover, book_cells
from pvs6_cloud.store._sheets_book import READINGS, SECTION
from pvs6_cloud.store._sheets_cells import a1, cell_data, to_serial
from pvs6_cloud.store._sheets_client import build_drive_service, build_service
from pvs6_cloud.store._sheets_layout import PROTECTION_NOTE, format_requests, header_request
from pvs6_cloud.store._sheets_tabs import LayoutReport, SheetsTabs
from pvs6_cloud.store.base import Panels, SheetWrite
from pvs6_cloud.store.layout import Cell, Tab
from pvs6_cloud.store.state import STATE_TAB, SiteState
from pvs6_cloud.store.stored import stored_cells

if TYPE_CHECKING:
    from pvs6_cloud.infra.config import SheetsConfig, SiteConfig

# PROTECTION_NOTE and LayoutReport are re-exported: callers have always found them here.
__all__ = ["PROTECTION_NOTE", "LayoutReport", "SheetsSink"]

log = logging.getLogger(__name__)

# After the valve could not archive (no archive spreadsheet could be made), commits write on without trying again
# for this long: the valve sits 1 M cells below Google's limit by default, over a year of readings for a house [s].
_VALVE_PAUSE_S = 6 * 3600.0


def _key(value: Any) -> str:
    """A comparable form of a key cell, whether read back from the sheet or about to be written."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return repr(round(float(value), 6))
    return str(value)


class SheetsSink(SheetsTabs):
    """A site's Google spreadsheet as a `Sink`: commits, reads back, and rotates its Readings.

    Built like a `SheetsBook` (its parameters are documented there), or from the configuration with
    `from_config`.
    """

    @classmethod
    def from_config(cls, site: SiteConfig, sheets: SheetsConfig) -> SheetsSink:
        """The sink of a configured site; the Google client is built on first use, not here."""
        sink: SheetsSink

        def factory() -> Any:
            service, account = build_service(sheets.api_endpoint, sheets.credentials_file, sheets.timeout_s)
            if account:
                sink.api.account = account
            return service

        def drive_factory() -> Any:
            return build_drive_service(sheets.api_endpoint, sheets.credentials_file, sheets.timeout_s)[0]

        sink = cls(factory, site.spreadsheet_id, site.tz, max_retries=sheets.max_retries,
                   archive_after_cells=sheets.readings_archive_after_cells, drive=drive_factory,
                   share_with=site.mail_to, site_id=site.site_id,
                   archive_spreadsheet_ids=tuple(getattr(site, "archive_spreadsheet_ids", ()) or ()))
        return sink

    # -- commit --------------------------------------------------------------------------------------------------
    def commit(self, write: SheetWrite) -> None:
        """Write everything in ``write`` and its state in ONE atomic batchUpdate (see the module docstring).

        Raises
        ------
        SinkUnavailable
            The sheet could not be written; nothing was.
        """
        with self._lock:
            names = {*write.append, *write.replace, *write.upsert, STATE_TAB}
            if not names <= set(self.metadata()):
                self.ensure_layout(write.panels)
            self._catch_up(write.state)
            dynamic = [n for n in write.replace if self.layout.tab(n).dynamic]
            self._bring_up_to_date([*write.append, *write.upsert, *dynamic], write.panels)
            requests: list[dict[str, Any]] = []
            readings = write.append.get(READINGS)
            relieved = False
            if readings and self._too_big(write.state, len(readings), write.panels):
                relief = self._relieve(write.state)
                requests.extend(relief)
                relieved = bool(relief)
            for name, records in write.append.items():
                requests.extend(self._append_requests(name, records, write.panels))
                write.state.row_counts[name] = write.state.row_counts.get(name, 0) + len(records)
            for name, records in write.replace.items():
                requests.extend(self._replace_requests(name, records, write.panels))
            if write.upsert:
                requests.extend(self._upsert_requests(write.upsert, write.panels))
            if readings:
                self._track_oldest(write.state, readings)
            self.commit_state(write.state, requests, "commit")
            if relieved:
                self.metadata(refresh=True)  # tabs were added and Readings shrank

    def _too_big(self, state: SiteState, adding: int, panels: Panels) -> bool:
        """True when this commit would take the spreadsheet past the valve and Readings has rows to move.

        Counted without a read: Readings from the state's row count, the other tabs from the cached grid sizes
        (a few rows stale at most; the valve sits 1 M cells below Google's limit by default).
        """
        held = state.row_counts.get(READINGS, 0)
        if not held:
            return False
        meta = self.metadata()
        columns = max(len(self.layout.tab(READINGS).all_columns(panels)), meta[READINGS].columns)
        others = book_cells({k: v for k, v in meta.items() if k != READINGS})
        cells = others + (held + adding + 1) * columns
        if cells <= self.valve_after_cells:
            return False
        log.warning("the spreadsheet would hold %d cells (valve at %d): moving Readings rows out now",
                    cells, self.valve_after_cells)
        return True

    def _relieve(self, state: SiteState) -> list[dict[str, Any]]:
        """Move every Readings row to its year's archive now (the valve); [] when that is not possible.

        Runs on a copy of the state, so a failure leaves the commit exactly as it was, except that an archive
        spreadsheet created on the way stays remembered. Failing here must not stop ingestion: the commit goes
        on (the budget is below Google's limit), the error is logged for the owner, and the valve rests for
        `_VALVE_PAUSE_S` instead of costing calls on every upload.
        """
        section = state.section(SECTION)
        if time.time() < float(section.get("valve_paused_until") or 0):
            return []
        trial = copy.deepcopy(state)
        try:
            requests, _moved = ArchiveMover(self).rotate(trial, datetime(9999, 1, 1, tzinfo=UTC), out=True)
        except SinkUnavailable as err:
            kept = trial.section(SECTION)
            for key in ("archives", "archive_books"):
                if key in kept:
                    section[key] = kept[key]
            section["valve_paused_until"] = time.time() + _VALVE_PAUSE_S
            self._meta = None
            log.error("spreadsheet %s is near its cell limit and its readings could not be archived: %s. "
                      "Writing on; Google refuses writes at 10,000,000 cells", self.spreadsheet_id, err)
            return []
        state.sections[SECTION] = trial.section(SECTION)
        state.sections[SECTION].pop("valve_paused_until", None)
        state.row_counts[READINGS] = trial.row_counts.get(READINGS, 0)
        return requests

    def _catch_up(self, state: SiteState) -> None:
        """Carry this sink's last rotation into a state loaded before it.

        The daily job loads the state, rolls up, asks for a rotation (which loads and stores the state itself),
        then commits the state it loaded first. Without this, that commit would erase where each year went.
        """
        if self._rotated is None:
            return
        base, rotated, readings_rows = self._rotated
        section = state.section(SECTION)
        if section.get("commit") != base:
            return
        for key in ("archives", "archive_books", "readings_oldest"):
            if key in rotated:
                section[key] = copy.deepcopy(rotated[key])
        state.row_counts[READINGS] = readings_rows
        self._rotated = None
        log.info("a state loaded before the rotation is being stored: the rotation's archive records kept")

    def _track_oldest(self, state: SiteState, records: Sequence[Mapping[str, Cell]]) -> None:
        times = [to_serial(r["time"], self.tz) for r in records if isinstance(r.get("time"), datetime)]
        if not times:
            return
        section = state.section(SECTION)
        oldest = section.get("readings_oldest")
        section["readings_oldest"] = min(times) if oldest is None else min(oldest, *times)

    def _rows(self, tab: Tab, records: Sequence[Mapping[str, Cell]], panels: Panels) -> list[dict[str, Any]]:
        return [{"values": [cell_data(v, self.tz) for v in stored_cells(tab, r, panels, self.tz)]} for r in records]

    def _shape(self, name: str, panels: Panels) -> tuple[Tab, Panels, int, list[dict[str, Any]]]:
        """Tab, its panels, sheet id, and the requests that make room for and write its current header."""
        tab = self.layout.tab(name)
        panels = panels if tab.dynamic else ()
        sheet_id = self._sheet_id(name)
        header = tab.header(panels)
        requests = self._columns_fit(tab, sheet_id, len(header))
        if tab.dynamic and self._header_len.get(name) != len(header):
            requests.append(header_request(sheet_id, header))
            requests.extend(format_requests(sheet_id, tab.panel_columns(panels), start=len(tab.columns)))
            self._header_len[name] = len(header)
        return tab, panels, sheet_id, requests

    def _append_requests(self, name: str, records: Sequence[Mapping[str, Cell]],
                         panels: Panels) -> list[dict[str, Any]]:
        tab, panels, sheet_id, requests = self._shape(name, panels)
        if records:
            requests.append({"appendCells": {"sheetId": sheet_id, "rows": self._rows(tab, records, panels),
                                             "fields": "userEnteredValue"}})
        return requests

    def _replace_requests(self, name: str, records: Sequence[Mapping[str, Cell]],
                          panels: Panels) -> list[dict[str, Any]]:
        tab, panels, sheet_id, requests = self._shape(name, panels)
        if not tab.dynamic and name not in self._replaced:
            # The whole content is rewritten anyway: write its header and formats too, once per process, so a
            # tab made by an older layout (Alerts before Started/Emailed) never shows cells under wrong titles.
            requests.append(header_request(sheet_id, tab.header()))
            requests.extend(format_requests(sheet_id, tab.columns))
            self._replaced.add(name)
        requests.append({"updateCells": {"range": {"sheetId": sheet_id, "startRowIndex": 1},
                                         "fields": "userEnteredValue"}})
        if records:
            requests.append({"appendCells": {"sheetId": sheet_id, "rows": self._rows(tab, records, panels),
                                             "fields": "userEnteredValue"}})
        return requests

    def _upsert_requests(self, upserts: Mapping[str, tuple[str, Sequence[Mapping[str, Cell]]]],
                         panels: Panels) -> list[dict[str, Any]]:
        """Replace rows whose key matches, append the rest: one read of every key column, no extra write."""
        names = list(upserts)
        ranges = []
        for name in names:
            key = upserts[name][0]
            index = [c.key for c in self.layout.tab(name).columns].index(key)
            ranges.append(a1(name, 2, last_col=index, first_col=index))
        key_columns = self.values(ranges, "read upsert keys")
        requests: list[dict[str, Any]] = []
        for name, column in zip(names, key_columns, strict=True):
            key, records = upserts[name]
            tab, tab_panels, sheet_id, shape = self._shape(name, panels)
            requests.extend(shape)
            slots = {_key(row[0]): i for i, row in enumerate(column) if row and row[0] != ""}
            fresh = []
            for record in records:
                value = cell_data(record.get(key), self.tz).get("userEnteredValue", {})
                slot = slots.get(_key(next(iter(value.values()), "")))
                if slot is None:
                    fresh.append(record)
                    continue
                requests.append({"updateCells": {
                    "start": {"sheetId": sheet_id, "rowIndex": slot + 1, "columnIndex": 0},
                    "rows": self._rows(tab, [record], tab_panels), "fields": "userEnteredValue",
                }})
            if fresh:
                requests.append({"appendCells": {"sheetId": sheet_id, "rows": self._rows(tab, fresh, tab_panels),
                                                 "fields": "userEnteredValue"}})
            # Keyed tabs (Daily, Monthly) stay in key order whatever order days arrive in (a replay of older
            # days after the nightly rollup): dates are serial numbers and months "YYYY-MM", so both sort.
            index = [c.key for c in tab.columns].index(key)
            requests.append({"sortRange": {"range": {"sheetId": sheet_id, "startRowIndex": 1},
                                           "sortSpecs": [{"dimensionIndex": index, "sortOrder": "ASCENDING"}]}})
        return requests

    # -- capacity ------------------------------------------------------------------------------------------------
    def rotate_readings(self, before: datetime) -> int:
        """Move Readings rows older than ``before`` to their year's archive; return how many.

        A year goes to a ``Readings <year>`` tab of this spreadsheet while it stays under its cell budget, else
        to an archive spreadsheet (see ``_sheets_archive``); the state records where each year went. The daily
        rollup calls this with the start of the current local year: every day but the first days of a year it
        costs one read (the state says nothing is that old). Safe to repeat after a failure: rows already in an
        archive are not copied again, and rows leave Readings only in the batchUpdate that stores the state.

        Parameters
        ----------
        before : datetime
            Aware cut-off; rows with an earlier local time move.

        Raises
        ------
        SinkUnavailable
            A spreadsheet could not be read or written, or no archive spreadsheet could be made (the message
            says what the owner must do); Readings keeps every row and the next call tries again.
        """
        with self._lock:
            state = self.load_state()
            section = state.section(SECTION)
            base, oldest = section.get("commit"), section.get("readings_oldest")
            requests, moved = ArchiveMover(self).rotate(state, before)
            if not moved:
                if section.get("readings_oldest") != oldest:  # remember it, so tomorrow costs one read again
                    self.commit_state(state, (), "remember the oldest reading")
                return 0
            self.commit_state(state, requests, "rotate Readings")
            self.metadata(refresh=True)
            self._rotated = (base, copy.deepcopy(state.section(SECTION)), state.row_counts.get(READINGS, 0))
            log.info("moved %d Readings row(s) older than %s to the yearly archive(s)", moved, before.date())
            return moved
