"""The Google Sheets sink: a site's spreadsheet written through the Sheets API v4, exactly once.

A commit is ONE ``spreadsheets.batchUpdate``: ``appendCells`` for new Readings rows, clear + ``appendCells`` for
replaced tabs (Devices, Alerts), ``updateCells``/``appendCells`` for upserts, the header when panel columns grew,
and the rewrite of the hidden ``_state`` tab. Sheets applies a batchUpdate all-or-nothing, so the rows and the
state that remembers them land together: a retried upload finds its ids in the state and writes nothing twice.
The state carries a random commit token; when a reply is lost, the sink reads the token back before re-sending.
A tab of an older layout (Readings before its Time zone column, fractions under percent titles) is rewritten in
the current form once, before the first commit adds rows to it (``_sheets_migrate``).

Cost of a live batch: one ``values.get`` of ``_state`` plus one ``batchUpdate`` (plus one ``spreadsheets.get``
the first time a process touches the sheet). Capacity: finished years of Readings move to ``Readings <year>`` tabs
of the same spreadsheet while it stays under its cell budget, then to archive spreadsheets shared with the owners
(see `rotate_readings`, ``_sheets_archive`` and docs/capacity.md); Daily, Monthly, Devices and Alerts stay put.
"""

from __future__ import annotations

import copy
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any

from ..errors import SinkUnavailable
from ..layout import Cell, Column, Layout, Tab, load_layout
from ..state import STATE_TAB, SiteState, state_from_rows, state_to_rows
from ._sheets_archive import ArchiveMover, book_cells
from ._sheets_cells import a1, cell_data, from_sheet, to_serial
from ._sheets_client import SheetsApi, build_drive_service, build_service
from ._sheets_layout import (
    CHART_COLUMNS,
    SheetInfo,
    chart_request,
    format_requests,
    header_request,
    parse_meta,
)
from ._sheets_migrate import migration_requests, needs_migration
from .base import Panels, SheetWrite
from .stored import from_stored, match_header, stored_cells

if TYPE_CHECKING:
    from ..config import SheetsConfig, SiteConfig

__all__ = ["LayoutReport", "SheetsSink"]

log = logging.getLogger(__name__)

SECTION = "sheets"
READINGS = "Readings"
_NEW_TAB_ROWS = 200
_META_FIELDS = "properties.title,sheets(properties,charts(chartId,spec.title),protectedRanges(range,warningOnly))"
# A hidden tab is the function's memory (``_state``) or scratch space: an owner who unhides one gets a warning
# before a stray edit, and the service account (an editor) writes on as before. Warning-only protection takes no
# editors list: https://developers.google.com/sheets/api/reference/rest/v4/spreadsheets/sheets#ProtectedRange
PROTECTION_NOTE = ("PVS6 Sentinel writes this tab itself (its memory). Editing it can make the monitor forget "
                   "what it has stored or send alerts again: please leave it as it is.")
# After the valve could not archive (no archive spreadsheet could be made), commits write on without trying again
# for this long: the valve sits 1 M cells below Google's limit by default, over a year of readings for a house [s].
_VALVE_PAUSE_S = 6 * 3600.0
GOOGLE_MAX_CELLS = 10_000_000
_VALUE_OPTS = {"valueRenderOption": "UNFORMATTED_VALUE", "dateTimeRenderOption": "SERIAL_NUMBER"}


def protection_request(sheet_id: int) -> dict[str, Any]:
    """Warning-only protection of a whole tab (an unbounded range on the sheet is the sheet)."""
    return {"addProtectedRange": {"protectedRange": {"range": {"sheetId": sheet_id}, "description": PROTECTION_NOTE,
                                                     "warningOnly": True}}}


class LayoutReport:
    """What `SheetsSink.bootstrap` did, for the CLI's summary."""

    def __init__(self) -> None:
        self.tabs_added: list[str] = []
        self.headers_fixed: list[str] = []
        self.properties_fixed: list[str] = []
        self.columns_added: dict[str, int] = {}
        self.charts_added: list[str] = []
        self.removed: list[str] = []
        self.requests = 0

    @property
    def changed(self) -> bool:
        """True when the structure of the spreadsheet changed (formats re-applied do not count)."""
        return bool(self.tabs_added or self.headers_fixed or self.properties_fixed or self.columns_added
                    or self.charts_added or self.removed)


def _key(value: Any) -> str:
    """A comparable form of a key cell, whether read back from the sheet or about to be written."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return repr(round(float(value), 6))
    return str(value)


class SheetsSink:
    """A site's Google spreadsheet.

    Parameters
    ----------
    service : Resource or callable
        A Sheets v4 service, or a zero-argument function building one (called on first use, once per thread).
    spreadsheet_id : str
        The site's spreadsheet (shared with the service account as Editor).
    tz : tzinfo
        The site's zone: times are stored as site-local date serial numbers.
    layout : Layout, optional
        Defaults to ``sheets_template/layout.toml``.
    sleep : callable, default time.sleep
        Backoff sleeper [s]; tests inject one.
    max_retries : int, default 5
        Retries of a call on 429/5xx before `SinkUnavailable`.
    archive_after_cells : int, default 8,000,000
        Cell budget of every spreadsheet the sink writes [cells] (Google's hard limit is 10,000,000). A finished
        year becomes a tab of the main spreadsheet only while the main stays under it with room for another
        year of Readings; an archive spreadsheet takes years while it stays under it.
    valve_after_cells : int, optional
        When a commit would take the main spreadsheet past this [cells], Readings rows move out at once
        (the safety valve). Default: halfway between ``archive_after_cells`` and Google's limit (9,000,000),
        which a 12-panel site never reaches in 25 years (docs/capacity.md).
    drive : Resource or callable, optional
        A Drive v3 service (or a function building one), used only to share an archive spreadsheet the sink had
        to create. None: created archives cannot be shared, so rows are not moved into them.
    share_with : sequence of str
        Who gets writer access to a created archive spreadsheet (the site's ``mail_to``).
    archive_spreadsheet_ids : sequence of str
        Archive spreadsheets the owner created and shared with the service account (Editor), used in order
        before the sink tries to create one (which a service account without Drive storage cannot).
    site_id : str
        Names the site's config section in messages.
    """

    def __init__(self, service: Any, spreadsheet_id: str, tz: tzinfo, layout: Layout | None = None, *,
                 sleep: Callable[[float], None] = time.sleep, max_retries: int = 5,
                 archive_after_cells: int = 8_000_000, valve_after_cells: int | None = None,
                 account: str = "", drive: Any = None,
                 share_with: Sequence[str] = (), archive_spreadsheet_ids: Sequence[str] = (),
                 site_id: str = "") -> None:
        factory = service if callable(service) else (lambda: service)
        self.api = SheetsApi(factory, sleep=sleep, max_retries=max_retries, account=account)
        self.drive_api: SheetsApi | None = None
        if drive is not None:
            drive_factory = drive if callable(drive) else (lambda: drive)
            self.drive_api = SheetsApi(drive_factory, sleep=sleep, max_retries=max_retries, account=account,
                                       resources=lambda service: service)
        self.share_with = tuple(share_with)
        self.archive_spreadsheet_ids = tuple(i for i in archive_spreadsheet_ids if i and i != spreadsheet_id)
        self.site_id = site_id
        self.spreadsheet_id = spreadsheet_id
        self.tz = tz
        self.layout = layout or load_layout()
        self.archive_after_cells = archive_after_cells
        self.valve_after_cells = (valve_after_cells if valve_after_cells is not None
                                  else archive_after_cells + max(GOOGLE_MAX_CELLS - archive_after_cells, 0) // 2)
        self._meta: dict[str, SheetInfo] | None = None
        self._title = ""
        self._header_len: dict[str, int] = {}
        self._replaced: set[str] = set()
        # Header row of each tab as last read (with the state, at no extra call); a tab whose header is known to
        # be in the current form maps to None. See `_bring_up_to_date`.
        self._headers: dict[str, list[str] | None] = {}
        self._lock = threading.Lock()
        # (token the rotated state was loaded with, what the rotation stored): see `_catch_up`.
        self._rotated: tuple[str | None, dict[str, Any], int] | None = None

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

    # -- plumbing ----------------------------------------------------------------------------------------------
    def _call(self, build: Callable[[Any], Any], what: str, *, spreadsheet_id: str | None = None,
              landed: Callable[[], bool] | None = None, retries: int | None = None) -> Any:
        return self.api.run(build, what, spreadsheet_id or self.spreadsheet_id, landed=landed, retries=retries)

    def batch_update(self, requests: list[dict[str, Any]], what: str, *, spreadsheet_id: str | None = None,
                     landed: Callable[[], bool] | None = None) -> Any:
        """One atomic ``spreadsheets.batchUpdate`` (retried; ``landed`` guards against writing twice)."""
        sid = spreadsheet_id or self.spreadsheet_id
        body = {"requests": requests}
        return self._call(lambda s: s.sheets.batchUpdate(spreadsheetId=sid, body=body), what,
                          spreadsheet_id=sid, landed=landed)

    def values(self, ranges: Sequence[str], what: str, *, spreadsheet_id: str | None = None,
               retries: int | None = None) -> list[list[list[Any]]]:
        """Unformatted values (times as serial numbers) of each A1 range, one ``values.batchGet``."""
        sid = spreadsheet_id or self.spreadsheet_id
        reply = self._call(lambda s: s.values.batchGet(spreadsheetId=sid, ranges=list(ranges),
                                                                         **_VALUE_OPTS),
                           what, spreadsheet_id=sid, retries=retries)
        return [vr.get("values", []) for vr in (reply or {}).get("valueRanges", [])]

    def metadata(self, *, refresh: bool = False, spreadsheet_id: str | None = None) -> dict[str, SheetInfo]:
        """Tabs of the spreadsheet (cached per sink; ``refresh`` re-reads them)."""
        sid = spreadsheet_id or self.spreadsheet_id
        if sid != self.spreadsheet_id:
            reply = self._call(lambda s: s.sheets.get(spreadsheetId=sid, fields=_META_FIELDS),
                               "read archive tabs", spreadsheet_id=sid)
            return parse_meta(reply)[1]
        if self._meta is None or refresh:
            reply = self._call(lambda s: s.sheets.get(spreadsheetId=sid, fields=_META_FIELDS),
                               "read the sheet's tabs")
            self._title, self._meta = parse_meta(reply)
        return self._meta

    @property
    def title(self) -> str:
        """The spreadsheet's title (read with the tabs)."""
        self.metadata()
        return self._title

    def _sheet_id(self, tab: str) -> int:
        info = self.metadata().get(tab)
        if info is None:
            raise SinkUnavailable(f"spreadsheet {self.spreadsheet_id} has no {tab!r} tab; run bootstrap-sheet")
        return info.sheet_id

    # -- layout ------------------------------------------------------------------------------------------------
    def ensure_layout(self, panels: Panels = ()) -> None:
        """Create missing tabs, headers and charts; repair drift. Sends nothing when all is in place."""
        self.bootstrap(panels, reformat=False)

    def bootstrap(self, panels: Panels = (), *, reformat: bool = True) -> LayoutReport:
        """Create or repair every tab of the layout, idempotently.

        Parameters
        ----------
        panels : sequence of (serial, label)
            Panel columns of the dynamic tabs.
        reformat : bool, default True
            Re-apply number formats and widths to every tab (else only to tabs created or whose header changed).

        Returns
        -------
        LayoutReport
            What changed.
        """
        report = LayoutReport()
        meta = self.metadata(refresh=True)
        existing = [t for t in self.layout.tabs if t.name in meta]
        headers = self.values([a1(t.name, 1, last_row=1) for t in existing], "read headers") if existing else []
        current = {t.name: [str(v) for v in (rows[0] if rows else [])] for t, rows in zip(existing, headers,
                                                                                           strict=True)}
        requests: list[dict[str, Any]] = []
        next_id = max((i.sheet_id for i in meta.values()), default=0) + 1
        ids: dict[str, int] = {}
        chart_tabs = {c.tab for c in self.layout.charts}
        for tab in self.layout.tabs:
            columns = tab.all_columns(panels if tab.dynamic else ())
            header = [c.title for c in columns]
            need_cols = len(columns) + (CHART_COLUMNS if tab.name in chart_tabs else 0)
            info = meta.get(tab.name)
            touched = reformat
            if info is None:
                ids[tab.name] = next_id
                requests.extend(self.new_tab_requests(tab, next_id, columns, extra_columns=need_cols - len(columns)))
                report.tabs_added.append(tab.name)
                next_id += 1
                self._header_len[tab.name] = len(header)
                continue
            ids[tab.name] = info.sheet_id
            requests.extend(self._repair_properties(tab, info, need_cols, report))
            if current.get(tab.name, [])[: len(header)] != header:
                old = current.get(tab.name, [])
                if not tab.hidden and needs_migration(old, header):
                    requests.extend(self._migration(tab, ids[tab.name], old, panels))
                else:
                    requests.append(header_request(ids[tab.name], header))
                report.headers_fixed.append(tab.name)
                touched = True
            if touched:
                requests.extend(format_requests(ids[tab.name], columns))
            self._header_len[tab.name] = len(header)
        for chart in self.layout.charts:
            info = meta.get(chart.tab)
            if info is not None and chart.title in info.chart_titles:
                continue
            tab = self.layout.tab(chart.tab)
            anchor = len(tab.all_columns(panels if tab.dynamic else ())) + 1
            requests.append(chart_request(chart, tab, ids[chart.tab], anchor))
            report.charts_added.append(chart.title)
        requests.extend(self._drop_blank_default(meta, existing, report))
        if requests:
            self.batch_update(requests, "prepare the sheet's tabs")
            report.requests = len(requests)
            self.metadata(refresh=True)
        self._headers.update(dict.fromkeys((t.name for t in self.layout.tabs), None))
        return report

    @staticmethod
    def new_tab_requests(tab: Tab, sheet_id: int, columns: Sequence[Column], *, rows: int = _NEW_TAB_ROWS,
                         extra_columns: int = 0) -> list[dict[str, Any]]:
        """Add a tab with its header, frozen row, number formats and widths: the one way tabs are made, whether
        by bootstrap or for a year of archived Readings.

        Parameters
        ----------
        tab : Tab
            Name, hidden flag.
        sheet_id : int
            The new tab's id (chosen by the caller, so later requests of the same batch can refer to it).
        columns : sequence of Column
            Header and formats, left to right.
        rows : int
            Grid rows, header included.
        extra_columns : int
            Empty grid columns to the right (room for a chart).
        """
        return [
            {"addSheet": {"properties": {
                "sheetId": sheet_id, "title": tab.name, "hidden": tab.hidden,
                "gridProperties": {"rowCount": rows, "columnCount": len(columns) + extra_columns,
                                   "frozenRowCount": 1},
            }}},
            header_request(sheet_id, [c.title for c in columns]),
            *format_requests(sheet_id, columns),
            *([protection_request(sheet_id)] if tab.hidden else []),
        ]

    def _repair_properties(self, tab: Tab, info: SheetInfo, need_cols: int,
                           report: LayoutReport) -> list[dict[str, Any]]:
        requests: list[dict[str, Any]] = []
        fields = []
        if info.hidden != tab.hidden:
            fields.append("hidden")
        if info.frozen_rows != 1:
            fields.append("gridProperties.frozenRowCount")
        if fields:
            requests.append({"updateSheetProperties": {
                "properties": {"sheetId": info.sheet_id, "hidden": tab.hidden, "gridProperties": {"frozenRowCount": 1}},
                "fields": ",".join(fields),
            }})
            report.properties_fixed.append(tab.name)
        if tab.hidden and not info.protected:
            requests.append(protection_request(info.sheet_id))
            report.properties_fixed.append(tab.name)
        if info.columns < need_cols:
            requests.append({"appendDimension": {"sheetId": info.sheet_id, "dimension": "COLUMNS",
                                                 "length": need_cols - info.columns}})
            report.columns_added[tab.name] = need_cols - info.columns
        return requests

    def _migration(self, tab: Tab, sheet_id: int, old: Sequence[str], panels: Panels) -> list[dict[str, Any]]:
        """Requests that rewrite a tab of an older layout in the current form (see ``_sheets_migrate``)."""
        [rows] = self.values([a1(tab.name, 2)], f"read {tab.name} to bring it to the current columns")
        return migration_requests(tab, sheet_id, old, rows, panels, self.tz)

    def _bring_up_to_date(self, names: Sequence[str], panels: Panels) -> None:
        """Rewrite, once, every tab among ``names`` whose stored header is of an older layout, before a commit
        adds rows under the current header (which would shift each old row by the columns added since).

        The headers come with the state `load_state` read, so a cold instance pays no extra call; the rewrite is
        its own atomic batchUpdate, the same content however often it is repeated.
        """
        todo = [n for n in dict.fromkeys(names) if n != STATE_TAB and self._headers.get(n, []) is not None]
        unread = [n for n in todo if n not in self._headers]
        if unread:
            read = self.values([a1(n, 1, last_row=1) for n in unread], "read headers")
            self._headers.update({n: [str(v) for v in (rows[0] if rows else [])]
                                  for n, rows in zip(unread, read, strict=True)})
        requests: list[dict[str, Any]] = []
        for name in todo:
            tab = self.layout.tab(name)
            tab_panels = panels if tab.dynamic else ()
            header = tab.header(tab_panels)
            old = self._headers[name] or []
            if needs_migration(old, header):
                sheet_id = self._sheet_id(name)
                requests.extend(self._columns_fit(tab, sheet_id, len(header)))
                requests.extend(self._migration(tab, sheet_id, old, tab_panels))
                self._header_len[name] = len(header)
            self._headers[name] = None
        if requests:
            try:
                self.batch_update(requests, "bring older tabs to the current columns")
            except SinkUnavailable:
                self._headers.clear()
                raise

    def _drop_blank_default(self, meta: Mapping[str, SheetInfo], existing: Sequence[Tab],
                            report: LayoutReport) -> list[dict[str, Any]]:
        """Remove the empty first tab a new spreadsheet starts with, once our tabs are being added.

        Known by what it is, not by its name (``Sheet1``, ``Feuille 1``, ``Tabellenblatt1``, ``Hoja 1``... by
        the owner's language): the spreadsheet's only tab, the first one Google made (sheetId 0), empty, and
        none of ours. A spreadsheet the owner already used (another tab, or anything written) is left alone.
        """
        ours = {t.name for t in self.layout.tabs}
        if existing or len(meta) != 1:
            return []
        blank = next(iter(meta.values()))
        if blank.sheet_id != 0 or blank.title in ours:
            return []
        if self.values([a1(blank.title, 1, last_row=50)], f"look at {blank.title}")[0]:
            return []
        report.removed.append(blank.title)
        return [{"deleteSheet": {"sheetId": blank.sheet_id}}]

    # -- state ---------------------------------------------------------------------------------------------------
    def _stored_state(self, retries: int | None = None) -> SiteState:
        if STATE_TAB not in self.metadata():
            return SiteState()
        rows = self.values([a1(STATE_TAB, 1, last_col=2)], "load state", retries=retries)[0]
        return state_from_rows(rows)

    def load_state(self) -> SiteState:
        """The site's memory from the hidden ``_state`` tab (a fresh state for a new sheet).

        Nothing is ever half-committed in a spreadsheet (batchUpdate is atomic), so there is nothing to undo.
        The same read brings the header rows of the tabs this process has not looked at yet, which the next
        commit compares with the layout (`_bring_up_to_date`).
        """
        meta = self.metadata()
        if STATE_TAB not in meta:
            return SiteState()
        unseen = [t.name for t in self.layout.tabs if not t.hidden and t.name in meta and t.name not in self._headers]
        ranges = [a1(STATE_TAB, 1, last_col=2), *(a1(n, 1, last_row=1) for n in unseen)]
        state_rows, *headers = self.values(ranges, "load state")
        self._headers.update({n: [str(v) for v in (rows[0] if rows else [])]
                              for n, rows in zip(unseen, headers, strict=True)})
        return state_from_rows(state_rows)

    def _landed(self, token: str) -> Callable[[], bool]:
        return lambda: self._stored_state(retries=0).section(SECTION).get("commit") == token

    def commit_state(self, state: SiteState, extra: Sequence[dict[str, Any]] = (), what: str = "store state") -> None:
        """Store ``state`` (after ``extra`` requests) in one batchUpdate, guarded by a fresh commit token."""
        token = secrets.token_hex(8)
        state.section(SECTION)["commit"] = token
        requests = [*extra, *self._state_requests(state)]
        try:
            self.batch_update(requests, what, landed=self._landed(token))
        except SinkUnavailable:
            self._meta = None  # a tab may have been changed by a person: look again next time
            self._header_len.clear()
            self._replaced.clear()
            self._headers.clear()
            raise

    def _state_requests(self, state: SiteState) -> list[dict[str, Any]]:
        sheet_id = self._sheet_id(STATE_TAB)
        rows = [{"values": [cell_data(v, self.tz) for v in row]} for row in state_to_rows(state)]
        return [
            {"updateCells": {"range": {"sheetId": sheet_id}, "fields": "userEnteredValue"}},
            {"appendCells": {"sheetId": sheet_id, "rows": rows, "fields": "userEnteredValue"}},
        ]

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

    def _columns_fit(self, tab: Tab, sheet_id: int, count: int) -> list[dict[str, Any]]:
        info = self.metadata()[tab.name]
        if info.columns >= count:
            return []
        grow = count - info.columns
        info.columns = count
        return [{"appendDimension": {"sheetId": sheet_id, "dimension": "COLUMNS", "length": grow}}]

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

    # -- reading -------------------------------------------------------------------------------------------------
    def read_records(self, tab: str, panels: Panels = (), start_row: int = 0) -> list[dict[str, Cell]]:
        """Typed rows of a tab (numbers as float, times as aware datetimes in the site's zone) from data row
        ``start_row`` (0 = first under the header), matched to columns by header title like the CSV sink."""
        layout_tab = self.layout.tab(tab)
        if tab not in self.metadata():
            return []
        header_rows, rows = self.values([a1(tab, 1, last_row=1), a1(tab, 2 + start_row)], f"read {tab}")
        if not header_rows:
            return []
        panels = panels if layout_tab.dynamic else ()
        header = match_header(layout_tab, [str(title) for title in header_rows[0]], panels)
        legacy = {m.column.key for m in header if m is not None and m.legacy}
        records = []
        for raw in rows:
            values: dict[str, Cell] = {}
            for match, value in zip(header, raw, strict=False):
                if match is not None:
                    values[match.column.key] = from_sheet(value, match.column.type, self.tz)
            records.append(from_stored(layout_tab, values, legacy, panels))
        return records

    def stored_ids(self, state: SiteState, since: datetime, until: datetime) -> set[str]:
        """Reading ids in Readings and in the archive tabs of the years ``since``..``until`` touch.

        Two reads per spreadsheet involved (headers, then the id columns): only asked for readings older than the
        ids the state remembers, so a replayed archive never doubles rows that were rotated out long ago.
        """
        id_title = next(c.title for c in self.layout.tab(READINGS).columns if c.key == "snapshot_id")
        places: dict[str, list[str]] = {self.spreadsheet_id: [READINGS] if READINGS in self.metadata() else []}
        archives = state.section(SECTION).get("archives", {})
        first, last = since.astimezone(self.tz).year - 1, until.astimezone(self.tz).year + 1
        for year in range(first, last + 1):
            entry = archives.get(str(year))
            if not entry:
                continue
            sid = str(entry.get("id") or self.spreadsheet_id)
            tab = str(entry.get("tab") or READINGS)
            if sid == self.spreadsheet_id and tab not in self.metadata():
                continue
            places.setdefault(sid, []).append(tab)
        found: set[str] = set()
        for sid, tabs in places.items():
            if sid != self.spreadsheet_id:
                held = self.metadata(spreadsheet_id=sid)
                tabs = [t for t in tabs if t in held]
            tabs = list(dict.fromkeys(tabs))
            if not tabs:
                continue
            headers = self.values([a1(t, 1, last_row=1) for t in tabs], "read reading ids", spreadsheet_id=sid)
            ranges = []
            for tab, header in zip(tabs, headers, strict=True):
                titles = [str(t) for t in header[0]] if header else []
                if id_title in titles:
                    i = titles.index(id_title)
                    ranges.append(a1(tab, 2, last_col=i, first_col=i))
            if ranges:
                for column in self.values(ranges, "read reading ids", spreadsheet_id=sid):
                    found.update(str(row[0]) for row in column if row and row[0] not in ("", None))
        return found

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
