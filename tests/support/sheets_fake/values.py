"""The ``spreadsheets.values`` endpoints: get/batchGet, update/batchUpdate, append, clear/batchClear.

As the Sheets API v4 reference describes them: ranges are A1 notation, ``valueInputOption`` decides how input is
parsed and ``valueRenderOption`` how it is read back (see `cells`), an update past the grid is refused with
"Range exceeds grid limits" while ``append`` writes after the table's last row holding a value and grows the tab
when it has to. A write is applied to a copy of the spreadsheet the caller commits only when the limits hold.
"""

from __future__ import annotations

from typing import Any

from tests.support.sheets_fake.cells import col_letters, from_input, parse_a1, quote, render, trim
from tests.support.sheets_fake.limits import ApiError
from tests.support.sheets_fake.model import FakeSheet, FakeSpreadsheet


def resolve(book: FakeSpreadsheet, rng: str) -> tuple[FakeSheet, int, int, int, int]:
    """The tab and bounds (rows, then columns, end exclusive) an A1 range names, open ends at the grid's edge."""
    title, r0, r1, c0, c1 = parse_a1(rng)
    sheet = book.by_title(title)
    return sheet, r0 or 0, r1 if r1 is not None else sheet.row_count, c0 or 0, \
        c1 if c1 is not None else sheet.column_count


def values_get(book: FakeSpreadsheet, rng: str, option: str) -> dict[str, Any]:
    """``values.get``: a ``ValueRange`` of the cells in ``rng``, trailing empties left out."""
    sheet, r0, r1, c0, c1 = resolve(book, rng)
    out = [[render(sheet.get(r, c), option) for c in range(c0, min(c1, max(
        (len(row) for row in sheet.rows[r0:r1]), default=0)))] for r in range(r0, min(r1, len(sheet.rows)))]
    result: dict[str, Any] = {"range": f"{quote(sheet.title)}!{col_letters(c0)}{r0 + 1}:"
                                       f"{col_letters(c1 - 1)}{r1}", "majorDimension": "ROWS"}
    trimmed = trim(out)
    if trimmed:
        result["values"] = trimmed
    return result


def values_write(book: FakeSpreadsheet, rng: str, values: list[list[Any]], user_entered: bool,
                 start_row: int | None = None) -> dict[str, Any]:
    """``values.update`` (or the write of an append at ``start_row``): past the grid is refused, except that an
    append grows the tab, as the API does."""
    sheet, r0, _r1, c0, _c1 = resolve(book, rng)
    if start_row is not None:
        r0 = start_row
    needed_rows = r0 + len(values)
    if needed_rows > sheet.row_count:
        if start_row is None:
            raise ApiError(400, f"Range exceeds grid limits. Max rows: {sheet.row_count}")
        sheet.grid["rowCount"] = needed_rows
    for i, row in enumerate(values):
        if c0 + len(row) > sheet.column_count:
            raise ApiError(400, f"Range exceeds grid limits. Max columns: {sheet.column_count}")
        for j, value in enumerate(row):
            sheet.set(r0 + i, c0 + j, from_input(value, user_entered))
    return {"updatedRange": f"{quote(sheet.title)}!{col_letters(c0)}{r0 + 1}",
            "updatedRows": len(values), "updatedCells": sum(len(r) for r in values)}


def values_append(book: FakeSpreadsheet, rng: str, values: list[list[Any]],
                  user_entered: bool) -> dict[str, Any]:
    """``values.append``: the rows go after the last row holding a value on the tab."""
    sheet, *_ = resolve(book, rng)
    updates = values_write(book, rng, values, user_entered, start_row=sheet.last_data_row())
    return {"tableRange": f"{quote(sheet.title)}", "updates": updates}


def values_clear(book: FakeSpreadsheet, rng: str) -> dict[str, Any]:
    """``values.clear``: the values in ``rng`` are removed (formats stay)."""
    sheet, r0, r1, c0, c1 = resolve(book, rng)
    for r in range(r0, min(r1, len(sheet.rows))):
        for c in range(c0, min(c1, len(sheet.rows[r]))):
            sheet.rows[r][c] = None
    return {"clearedRange": rng}
