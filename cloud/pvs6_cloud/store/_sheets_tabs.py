"""Keeping a spreadsheet's tabs in the shape of the layout: creating what is missing, repairing what drifted.

Bootstrap (and `ensure_layout` before a commit that finds a tab missing) compares the spreadsheet with
``sheets_template/layout.toml`` and sends only the requests that close the gap, so running it twice adds nothing
the second time. A tab of an older layout (Readings before its Time zone column, fractions under percent titles)
is rewritten in the current form once, before the first commit adds rows to it (``_sheets_migrate``). The
request builders themselves are pure and live in ``_sheets_layout``; this module decides which are needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pvs6_cloud.infra.errors import SinkUnavailable
from pvs6_cloud.store._sheets_book import SheetsBook
from pvs6_cloud.store._sheets_cells import a1
from pvs6_cloud.store._sheets_layout import (
    CHART_COLUMNS,
    SheetInfo,
    chart_request,
    format_requests,
    header_request,
    new_tab_requests,
    protection_request,
)
from pvs6_cloud.store._sheets_migrate import migration_requests, needs_migration
from pvs6_cloud.store.base import Panels
from pvs6_cloud.store.layout import Tab
from pvs6_cloud.store.state import STATE_TAB

__all__ = ["LayoutReport", "SheetsTabs"]


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


class SheetsTabs(SheetsBook):
    """A spreadsheet that can lay out its own tabs (the Sheets sink builds on it)."""

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
                requests.extend(new_tab_requests(tab, next_id, columns, extra_columns=need_cols - len(columns)))
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
