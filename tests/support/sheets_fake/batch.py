"""The ``spreadsheets.batchUpdate`` requests the project sends, applied atomically as the API applies them.

Each ``_req_<kind>`` method is one ``Request`` of the Sheets API v4 reference (``addSheet``, ``deleteSheet``,
``updateSheetProperties``, ``appendDimension``, ``deleteDimension``, ``updateDimensionProperties``, ``sortRange``,
``repeatCell``, ``updateCells``, ``appendCells``, ``addChart``, ``addProtectedRange``), with the refusals that
matter: a range past the grid, deleting the last tab or every row, a duplicate title, a missing ``fields`` mask.
The batch is atomic: every request is applied to a copy and the copy replaces the original only when all of them
succeeded and the limits hold (the caller commits it), so a refused batch leaves the spreadsheet untouched.
An unknown request kind is refused as the API refuses an unknown JSON field.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from tests.support.sheets_fake.cells import CellValue, col_letters, from_cell_data
from tests.support.sheets_fake.limits import ApiError
from tests.support.sheets_fake.model import FakeSheet, FakeSpreadsheet, new_sheet


class BatchRequests:
    """The request handlers of ``batchUpdate``; ``ids`` numbers new charts and protected ranges."""

    def __init__(self, ids: Iterator[int]) -> None:
        self._ids = ids

    def apply(self, book: FakeSpreadsheet,
              payload: dict[str, Any]) -> tuple[FakeSpreadsheet, list[dict[str, Any]], list[str]]:
        """(the changed copy, the replies, the request kinds in order); the first refused request refuses them all,
        its error naming it as ``requests[i].kind``, as the API's does."""
        requests = payload.get("requests", [])
        if not isinstance(requests, list):
            raise ApiError(400, "Invalid JSON payload: requests must be a list")
        new = book.clone()
        replies = []
        kinds = []
        for i, request in enumerate(requests):
            if len(request) != 1:
                raise ApiError(400, f"Invalid requests[{i}]: exactly one kind of request expected")
            kind, body = next(iter(request.items()))
            kinds.append(kind)
            handler = getattr(self, f"_req_{kind}", None)
            if handler is None:
                raise ApiError(400, f'Invalid JSON payload received. Unknown name "{kind}" at \'requests[{i}]\'')
            try:
                replies.append(handler(new, body) or {})
            except ApiError as err:
                raise ApiError(err.code, f"Invalid requests[{i}].{kind}: {err.message}") from err
            except (KeyError, TypeError, ValueError) as err:
                raise ApiError(400, f"Invalid requests[{i}].{kind}: bad field {err}") from err
        return new, replies, kinds

    def _req_addSheet(self, book: FakeSpreadsheet, body: dict[str, Any]) -> dict[str, Any]:
        sheet = new_sheet(body.get("properties", {}), book.sheets)
        index = sheet.properties["index"]
        book.sheets.insert(min(index, len(book.sheets)), sheet)
        for i, s in enumerate(book.sheets):
            s.properties["index"] = i
        return {"addSheet": {"properties": copy.deepcopy(sheet.properties)}}

    def _req_addProtectedRange(self, book: FakeSpreadsheet, body: dict[str, Any]) -> dict[str, Any]:
        """As the API: the id is Google's to choose, a range or named range is needed, and warning-only
        protection takes no editors (ProtectedRange in the Sheets API v4 reference)."""
        wanted = copy.deepcopy(body["protectedRange"])
        if "protectedRangeId" in wanted:
            raise ApiError(400, "protectedRangeId is read-only")
        if "range" not in wanted:
            raise ApiError(400, "a protected range needs a range")
        if wanted.get("warningOnly") and wanted.get("editors"):
            raise ApiError(400, "Editors are not supported with warning_only protection.")
        sheet = book.by_id(wanted["range"].get("sheetId", 0))
        wanted["protectedRangeId"] = next(self._ids)
        wanted["requestingUserCanEdit"] = True
        if wanted["range"].get("sheetId") == 0:
            wanted["range"].pop("sheetId")  # the API leaves zero-valued fields out of its answers
        sheet.protected_ranges.append(wanted)
        return {"addProtectedRange": {"protectedRange": copy.deepcopy(wanted)}}

    def _req_deleteSheet(self, book: FakeSpreadsheet, body: dict[str, Any]) -> None:
        sheet = book.by_id(body["sheetId"])
        if len(book.sheets) == 1:
            raise ApiError(400, "You can't remove all the sheets in a document.")
        book.sheets.remove(sheet)

    def _req_updateSheetProperties(self, book: FakeSpreadsheet, body: dict[str, Any]) -> None:
        props = body["properties"]
        sheet = book.by_id(props["sheetId"])
        fields = body.get("fields", "")
        if not fields:
            raise ApiError(400, "fields is required")
        for path in fields.split(","):
            path = path.strip()
            src: Any = props
            keys = path.split(".")
            for key in keys[:-1]:
                src = src.get(key, {})
            dst = sheet.properties
            for key in keys[:-1]:
                dst = dst.setdefault(key, {})
            if keys[-1] in src:
                dst[keys[-1]] = copy.deepcopy(src[keys[-1]])
            else:
                dst.pop(keys[-1], None)
        if "title" in fields:
            titles = [s.title for s in book.sheets]
            if titles.count(sheet.title) > 1:
                raise ApiError(400, f'A sheet with the name "{sheet.title}" already exists.')
        self._truncate_to_grid(sheet)

    @staticmethod
    def _truncate_to_grid(sheet: FakeSheet) -> None:
        del sheet.rows[sheet.row_count:]
        for row in sheet.rows:
            del row[sheet.column_count:]

    def _req_appendDimension(self, book: FakeSpreadsheet, body: dict[str, Any]) -> None:
        sheet = book.by_id(body["sheetId"])
        length = int(body["length"])
        if length <= 0:
            raise ApiError(400, "length must be positive")
        key = "rowCount" if body["dimension"] == "ROWS" else "columnCount"
        sheet.grid[key] = (sheet.row_count if key == "rowCount" else sheet.column_count) + length

    def _req_deleteDimension(self, book: FakeSpreadsheet, body: dict[str, Any]) -> None:
        rng = body["range"]
        sheet = book.by_id(rng["sheetId"])
        start = int(rng.get("startIndex", 0))
        if rng["dimension"] == "ROWS":
            end = int(rng.get("endIndex", sheet.row_count))
            if not 0 <= start < end <= sheet.row_count:
                raise ApiError(400, "Invalid dimension range")
            if end - start >= sheet.row_count:
                raise ApiError(400, "You can't delete all the rows on the sheet.")
            del sheet.rows[start:end]
            sheet.grid["rowCount"] = sheet.row_count - (end - start)
        else:
            end = int(rng.get("endIndex", sheet.column_count))
            if not 0 <= start < end <= sheet.column_count:
                raise ApiError(400, "Invalid dimension range")
            for row in sheet.rows:
                del row[start:end]
            sheet.grid["columnCount"] = sheet.column_count - (end - start)

    def _req_updateDimensionProperties(self, book: FakeSpreadsheet, body: dict[str, Any]) -> None:
        rng = body["range"]
        sheet = book.by_id(rng["sheetId"])
        if rng["dimension"] == "COLUMNS" and "pixelSize" in body.get("fields", ""):
            end = int(rng.get("endIndex", sheet.column_count))
            for c in range(int(rng.get("startIndex", 0)), end):
                sheet.widths[c] = int(body["properties"]["pixelSize"])

    def _grid_range(self, book: FakeSpreadsheet, rng: dict[str, Any]) -> tuple[FakeSheet, int, int, int, int]:
        sheet = book.by_id(rng.get("sheetId", 0))
        r0 = int(rng.get("startRowIndex", 0))
        r1 = int(rng.get("endRowIndex", sheet.row_count))
        c0 = int(rng.get("startColumnIndex", 0))
        c1 = int(rng.get("endColumnIndex", sheet.column_count))
        if r1 > sheet.row_count or c1 > sheet.column_count or r0 < 0 or c0 < 0:
            raise ApiError(400, f"Range ({sheet.title}!{col_letters(c0)}{r0 + 1}:{col_letters(max(c1 - 1, 0))}"
                                f"{r1}) exceeds grid limits. Max rows: {sheet.row_count}, max columns: "
                                f"{sheet.column_count}")
        return sheet, r0, r1, c0, c1

    def _req_sortRange(self, book: FakeSpreadsheet, body: dict[str, Any]) -> None:
        """``SortRangeRequest``: rows of the range reordered by the sort specs' columns, as the real API does
        (empty cells last whatever the order; numbers before text; ties keep their order)."""
        sheet, r0, r1, c0, c1 = self._grid_range(book, body["range"])
        specs = body.get("sortSpecs") or []
        if not specs:
            raise ApiError(400, "sortSpecs is required")
        block = sheet.rows[r0:min(r1, len(sheet.rows))]
        for spec in reversed(specs):
            column = int(spec["dimensionIndex"])
            if not c0 <= column < c1:
                raise ApiError(400, "dimensionIndex outside the range")
            reverse = spec.get("sortOrder", "ASCENDING") == "DESCENDING"

            def key(row: list[CellValue], column: int = column) -> tuple[int, Any]:
                cell = row[column] if column < len(row) else None
                if cell is None:
                    return (0, 0)
                kind, value = cell
                return (1, (0, float(value), "")) if kind == "n" else (1, (1, 0.0, str(value)))

            present = [r for r in block if key(r)[0]]
            empty = [r for r in block if not key(r)[0]]
            block = sorted(present, key=lambda r: key(r)[1], reverse=reverse) + empty
        sheet.rows[r0:r0 + len(block)] = block

    def _req_repeatCell(self, book: FakeSpreadsheet, body: dict[str, Any]) -> None:
        sheet, _r0, _r1, c0, c1 = self._grid_range(book, body["range"])
        fmt = body.get("cell", {}).get("userEnteredFormat", {})
        for c in range(c0, c1):
            sheet.formats[c] = copy.deepcopy(fmt)

    def _write_rows(self, sheet: FakeSheet, r0: int, c0: int, rows: list[dict[str, Any]], fields: str,
                    bounds: tuple[int, int] | None) -> None:
        if not fields:
            raise ApiError(400, "fields is required")
        values = "userEnteredValue" in fields or fields.strip() == "*"
        for i, row in enumerate(rows):
            cells = row.get("values", [])
            if c0 + len(cells) > sheet.column_count:
                raise ApiError(400, f"Range exceeds grid limits. Max columns: {sheet.column_count}")
            if r0 + i >= sheet.row_count:
                raise ApiError(400, f"Range exceeds grid limits. Max rows: {sheet.row_count}")
            if values:
                for j, data in enumerate(cells):
                    sheet.set(r0 + i, c0 + j, from_cell_data(data))
        if bounds is not None and values:
            r1, c1 = bounds
            for r in range(r0, min(r1, len(sheet.rows))):
                row_cells = rows[r - r0].get("values", []) if r - r0 < len(rows) else []
                for c in range(c0 + len(row_cells), min(c1, len(sheet.rows[r]))):
                    sheet.rows[r][c] = None

    def _req_updateCells(self, book: FakeSpreadsheet, body: dict[str, Any]) -> None:
        rows = body.get("rows", [])
        fields = body.get("fields", "")
        if "range" in body:
            sheet, r0, r1, c0, c1 = self._grid_range(book, body["range"])
            if len(rows) > r1 - r0:
                raise ApiError(400, "more rows than the range holds")
            self._write_rows(sheet, r0, c0, rows, fields, (r1, c1))
        else:
            start = body["start"]
            sheet = book.by_id(start.get("sheetId", 0))
            self._write_rows(sheet, int(start.get("rowIndex", 0)), int(start.get("columnIndex", 0)), rows, fields,
                             None)

    def _req_appendCells(self, book: FakeSpreadsheet, body: dict[str, Any]) -> None:
        sheet = book.by_id(body["sheetId"])
        rows = body.get("rows", [])
        start = sheet.last_data_row()
        needed = start + len(rows)
        if needed > sheet.row_count:
            sheet.grid["rowCount"] = needed
        self._write_rows(sheet, start, 0, rows, body.get("fields", ""), None)

    def _req_addChart(self, book: FakeSpreadsheet, body: dict[str, Any]) -> dict[str, Any]:
        chart = copy.deepcopy(body["chart"])
        anchor = chart.get("position", {}).get("overlayPosition", {}).get("anchorCell", {})
        sheet = book.by_id(anchor.get("sheetId", book.sheets[0].sheet_id))
        for source in chart_sources(chart.get("spec", {})):
            book.by_id(source.get("sheetId", 0))
        chart["chartId"] = next(self._ids)
        sheet.charts.append(chart)
        return {"addChart": {"chart": copy.deepcopy(chart)}}


def chart_sources(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every source range of a basic chart's domains and series, so ``addChart`` can check their tabs exist."""
    basic = spec.get("basicChart", {})
    for part in [*basic.get("domains", []), *basic.get("series", [])]:
        for key in ("domain", "series"):
            yield from part.get(key, {}).get("sourceRange", {}).get("sources", [])
