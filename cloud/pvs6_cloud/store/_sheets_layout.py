"""``batchUpdate`` requests that give a tab its shape: header, frozen row, number formats, widths, charts.

Pure builders over the layout (``sheets_template/layout.toml``): the Sheets sink decides *which* are needed by
comparing with what the spreadsheet already has, so running bootstrap twice adds nothing the second time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pvs6_cloud.store.layout import Chart, Column, Tab

__all__ = [
    "PROTECTION_NOTE",
    "SheetInfo",
    "chart_request",
    "format_requests",
    "header_request",
    "new_tab_requests",
    "number_format",
    "parse_meta",
    "protection_request",
]

# Columns kept free to the right of a tab's data for the chart anchored there.
CHART_COLUMNS = 8
_FORMAT_TYPES = {"datetime": "DATE_TIME", "date": "DATE", "month": "DATE", "percent": "NUMBER",
                 "number": "NUMBER", "integer": "NUMBER"}
_NEW_TAB_ROWS = 200
# A hidden tab is the function's memory (``_state``) or scratch space: an owner who unhides one gets a warning
# before a stray edit, and the service account (an editor) writes on as before. Warning-only protection takes no
# editors list: https://developers.google.com/sheets/api/reference/rest/v4/spreadsheets/sheets#ProtectedRange
PROTECTION_NOTE = ("PVS6 Sentinel writes this tab itself (its memory). Editing it can make the monitor forget "
                   "what it has stored or send alerts again: please leave it as it is.")
# After the valve could not archive (no archive spreadsheet could be made), commits write on without trying again


@dataclass(slots=True)
class SheetInfo:
    """What the sink needs to know about one existing tab (from ``spreadsheets.get``)."""

    sheet_id: int
    title: str
    hidden: bool = False
    frozen_rows: int = 0
    rows: int = 0
    columns: int = 0
    chart_titles: set[str] = field(default_factory=set)
    protected: bool = False  # a protected range covers the whole tab


def parse_meta(reply: dict[str, Any]) -> tuple[str, dict[str, SheetInfo]]:
    """(spreadsheet title, tab title -> `SheetInfo`) from a ``spreadsheets.get`` reply."""
    sheets = {}
    for entry in reply.get("sheets", []):
        props = entry.get("properties", {})
        grid = props.get("gridProperties", {})
        info = SheetInfo(
            sheet_id=int(props.get("sheetId", 0)),
            title=str(props.get("title", "")),
            hidden=bool(props.get("hidden", False)),
            frozen_rows=int(grid.get("frozenRowCount", 0)),
            rows=int(grid.get("rowCount", 0)),
            columns=int(grid.get("columnCount", 0)),
            chart_titles={str(c.get("spec", {}).get("title", "")) for c in entry.get("charts", [])},
            protected=any(set(p.get("range", {})) <= {"sheetId"} for p in entry.get("protectedRanges", [])),
        )
        sheets[info.title] = info
    return str(reply.get("properties", {}).get("title", "")), sheets


def number_format(column: Column) -> dict[str, str] | None:
    """The ``NumberFormat`` of a column, or None for plain text."""
    if not column.format or column.type not in _FORMAT_TYPES:
        return None
    return {"type": _FORMAT_TYPES[column.type], "pattern": column.format}


def header_request(sheet_id: int, header: Sequence[str]) -> dict[str, Any]:
    """Write the header row as text, bold."""
    return {"updateCells": {
        "start": {"sheetId": sheet_id, "rowIndex": 0, "columnIndex": 0},
        "rows": [{"values": [{"userEnteredValue": {"stringValue": title},
                              "userEnteredFormat": {"textFormat": {"bold": True}}} for title in header]}],
        "fields": "userEnteredValue,userEnteredFormat.textFormat.bold",
    }}


def format_requests(sheet_id: int, columns: Sequence[Column], start: int = 0) -> list[dict[str, Any]]:
    """Number formats (rows below the header) and pixel widths of ``columns`` placed from column ``start``."""
    requests: list[dict[str, Any]] = []
    for offset, column in enumerate(columns):
        index = start + offset
        fmt = number_format(column)
        if fmt is not None:
            requests.append({"repeatCell": {
                "range": {"sheetId": sheet_id, "startRowIndex": 1, "startColumnIndex": index,
                          "endColumnIndex": index + 1},
                "cell": {"userEnteredFormat": {"numberFormat": fmt}},
                "fields": "userEnteredFormat.numberFormat",
            }})
        if column.width:
            requests.append({"updateDimensionProperties": {
                "range": {"sheetId": sheet_id, "dimension": "COLUMNS", "startIndex": index, "endIndex": index + 1},
                "properties": {"pixelSize": column.width},
                "fields": "pixelSize",
            }})
    return requests


def _source(sheet_id: int, index: int) -> dict[str, Any]:
    return {"sourceRange": {"sources": [{"sheetId": sheet_id, "startRowIndex": 0, "startColumnIndex": index,
                                         "endColumnIndex": index + 1}]}}


def chart_request(chart: Chart, tab: Tab, sheet_id: int, anchor_column: int) -> dict[str, Any]:
    """``addChart`` for a layout chart: x column as domain, series columns on the value axis, header as labels."""
    keys = [c.key for c in tab.columns]
    value_axis = "BOTTOM_AXIS" if chart.kind == "BAR" else "LEFT_AXIS"
    domain_axis = "LEFT_AXIS" if chart.kind == "BAR" else "BOTTOM_AXIS"
    x_title = tab.columns[keys.index(chart.x)].title
    return {"addChart": {"chart": {
        "spec": {
            "title": chart.title,
            "basicChart": {
                "chartType": chart.kind,
                "legendPosition": "BOTTOM_LEGEND",
                "headerCount": 1,
                "axis": [{"position": domain_axis, "title": x_title}],
                "domains": [{"domain": _source(sheet_id, keys.index(chart.x))}],
                "series": [{"series": _source(sheet_id, keys.index(key)), "targetAxis": value_axis}
                           for key in chart.series],
            },
        },
        "position": {"overlayPosition": {
            "anchorCell": {"sheetId": sheet_id, "rowIndex": 1, "columnIndex": anchor_column},
            "widthPixels": 720, "heightPixels": 360,
        }},
    }}}


def protection_request(sheet_id: int) -> dict[str, Any]:
    """Warning-only protection of a whole tab (an unbounded range on the sheet is the sheet)."""
    return {"addProtectedRange": {"protectedRange": {"range": {"sheetId": sheet_id}, "description": PROTECTION_NOTE,
                                                     "warningOnly": True}}}


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
