"""The spreadsheet the fake holds: tabs with their grid size, typed cells, formats, charts and protected ranges.

It mirrors the ``Spreadsheet``/``Sheet`` resources of the Sheets API v4 reference: a tab is its ``SheetProperties``
(``sheetId``, ``title``, ``index``, ``gridProperties.rowCount/columnCount``) plus what lives on it. The grid size is
what counts against the 10,000,000-cell limit, not the cells that hold a value, so `FakeSpreadsheet.cells` sums
rows x columns of every tab, as Google does. A range naming a tab that does not exist is refused with
"Unable to parse range", an unknown ``sheetId`` with "No grid with id", in the API's words.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from tests.support.sheets_fake.cells import CellValue, cell_data, parse_a1, quote
from tests.support.sheets_fake.limits import DEFAULT_COLUMNS, DEFAULT_ROWS, ApiError


@dataclass
class FakeSheet:
    """One tab: properties, typed cells as ragged row lists, column formats and widths, charts."""

    properties: dict[str, Any]
    rows: list[list[CellValue]] = field(default_factory=list)
    formats: dict[int, dict[str, Any]] = field(default_factory=dict)
    widths: dict[int, int] = field(default_factory=dict)
    charts: list[dict[str, Any]] = field(default_factory=list)
    protected_ranges: list[dict[str, Any]] = field(default_factory=list)

    @property
    def sheet_id(self) -> int:
        return int(self.properties["sheetId"])

    @property
    def title(self) -> str:
        return str(self.properties["title"])

    @property
    def grid(self) -> dict[str, Any]:
        return self.properties.setdefault("gridProperties", {})

    @property
    def row_count(self) -> int:
        return int(self.grid.get("rowCount", DEFAULT_ROWS))

    @property
    def column_count(self) -> int:
        return int(self.grid.get("columnCount", DEFAULT_COLUMNS))

    def last_data_row(self) -> int:
        """Index one past the last row holding a value."""
        for i in range(len(self.rows) - 1, -1, -1):
            if any(c is not None for c in self.rows[i]):
                return i + 1
        return 0

    def set(self, r: int, c: int, value: CellValue) -> None:
        while len(self.rows) <= r:
            self.rows.append([])
        row = self.rows[r]
        if value is None and c >= len(row):
            return
        while len(row) <= c:
            row.append(None)
        row[c] = value

    def get(self, r: int, c: int) -> CellValue:
        if r < len(self.rows) and c < len(self.rows[r]):
            return self.rows[r][c]
        return None

    def clone(self) -> FakeSheet:
        return FakeSheet(copy.deepcopy(self.properties), [list(r) for r in self.rows], copy.deepcopy(self.formats),
                         dict(self.widths), copy.deepcopy(self.charts), copy.deepcopy(self.protected_ranges))


@dataclass
class FakeSpreadsheet:
    """A spreadsheet: id, title and its sheets in order."""

    spreadsheet_id: str
    title: str
    sheets: list[FakeSheet] = field(default_factory=list)

    def cells(self) -> int:
        return sum(s.row_count * s.column_count for s in self.sheets)

    def by_title(self, title: str | None) -> FakeSheet:
        if title is None:
            return self.sheets[0]
        for sheet in self.sheets:
            if sheet.title == title:
                return sheet
        raise ApiError(400, f"Unable to parse range: {quote(title)}")

    def by_id(self, sheet_id: int) -> FakeSheet:
        for sheet in self.sheets:
            if sheet.sheet_id == sheet_id:
                return sheet
        raise ApiError(400, f"Invalid requests: No grid with id: {sheet_id}")

    def clone(self) -> FakeSpreadsheet:
        return FakeSpreadsheet(self.spreadsheet_id, self.title, [s.clone() for s in self.sheets])


def new_sheet(props: dict[str, Any], existing: list[FakeSheet]) -> FakeSheet:
    """A tab as ``addSheet`` or ``spreadsheets.create`` makes it: sheetId one past the highest (Google picks its own
    when none is asked for), ``SheetN`` untitled, last, 1000 rows by 26 columns unless given; a taken id or title
    is refused as the API refuses it."""
    props = copy.deepcopy(props)
    used = {s.sheet_id for s in existing}
    if "sheetId" not in props:
        candidate = 0 if not existing else max(used) + 1
        props["sheetId"] = candidate
    elif props["sheetId"] in used:
        raise ApiError(400, f"Invalid requests: A sheet with id {props['sheetId']} already exists")
    titles = {s.title for s in existing}
    props.setdefault("title", f"Sheet{len(existing) + 1}")
    if props["title"] in titles:
        raise ApiError(400, f'Invalid requests[0].addSheet: A sheet with the name "{props["title"]}" already '
                            "exists. Please enter another name.")
    props.setdefault("index", len(existing))
    props.setdefault("sheetType", "GRID")
    grid = props.setdefault("gridProperties", {})
    grid.setdefault("rowCount", DEFAULT_ROWS)
    grid.setdefault("columnCount", DEFAULT_COLUMNS)
    return FakeSheet(props)


def describe(book: FakeSpreadsheet, with_data: bool, ranges: list[str] | None) -> dict[str, Any]:
    """The ``Spreadsheet`` resource ``spreadsheets.get``/``create`` answer: properties, charts and protected ranges
    of each tab (only the tabs ``ranges`` name, if given), its cells too with ``includeGridData``."""
    wanted = None
    if ranges:
        wanted = {parse_a1(r)[0] or book.sheets[0].title for r in ranges}
    sheets = []
    for sheet in book.sheets:
        if wanted is not None and sheet.title not in wanted:
            continue
        entry: dict[str, Any] = {"properties": copy.deepcopy(sheet.properties)}
        if sheet.charts:
            entry["charts"] = copy.deepcopy(sheet.charts)
        if sheet.protected_ranges:
            entry["protectedRanges"] = copy.deepcopy(sheet.protected_ranges)
        if with_data:
            entry["data"] = [{"rowData": [
                {"values": [cell_data(c) for c in row]} for row in sheet.rows
            ]}]
        sheets.append(entry)
    return {"spreadsheetId": book.spreadsheet_id, "properties": {"title": book.title},
            "sheets": sheets,
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{book.spreadsheet_id}/edit"}
