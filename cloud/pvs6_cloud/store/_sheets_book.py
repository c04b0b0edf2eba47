"""One site's spreadsheet as the sink reaches it: API calls, its tabs, its values, and the hidden ``_state`` tab.

The low floor of the Sheets sink, shared by everything above it: laying out tabs (``_sheets_tabs``), committing
rows (``sheets``) and moving finished years out (``_sheets_archive``). It holds the settings those need (cell
budgets, archive spreadsheets, who to share with) and the per-process caches of what the spreadsheet looks like,
so the archive mover can work on a `SheetsBook` without knowing the sink built on it.

The state is stored with a random commit token in the same batchUpdate as the rows it remembers; when a reply is
lost, `commit_state` reads the token back before re-sending, so nothing lands twice.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo
from typing import Any

from pvs6_cloud.infra.errors import SinkUnavailable
from pvs6_cloud.store._sheets_cells import a1, cell_data, from_sheet
from pvs6_cloud.store._sheets_client import SheetsApi
from pvs6_cloud.store._sheets_layout import SheetInfo, new_tab_requests, parse_meta
from pvs6_cloud.store.base import Panels
from pvs6_cloud.store.layout import Cell, Layout, Tab, load_layout
from pvs6_cloud.store.state import STATE_TAB, SiteState, state_from_rows, state_to_rows
from pvs6_cloud.store.stored import from_stored, match_header

__all__ = ["GOOGLE_MAX_CELLS", "READINGS", "SECTION", "SheetsBook"]

SECTION = "sheets"
READINGS = "Readings"

_META_FIELDS = "properties.title,sheets(properties,charts(chartId,spec.title),protectedRanges(range,warningOnly))"
GOOGLE_MAX_CELLS = 10_000_000
_VALUE_OPTS = {"valueRenderOption": "UNFORMATTED_VALUE", "dateTimeRenderOption": "SERIAL_NUMBER"}


class SheetsBook:
    """A site's Google spreadsheet, reached through the Sheets API (the sink's base: see the module docstring).

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

    new_tab_requests = staticmethod(new_tab_requests)

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

    def _columns_fit(self, tab: Tab, sheet_id: int, count: int) -> list[dict[str, Any]]:
        info = self.metadata()[tab.name]
        if info.columns >= count:
            return []
        grow = count - info.columns
        info.columns = count
        return [{"appendDimension": {"sheetId": sheet_id, "dimension": "COLUMNS", "length": grow}}]

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
