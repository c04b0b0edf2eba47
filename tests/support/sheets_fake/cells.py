"""How the fake reads A1 ranges and stores, converts and renders typed cell values.

A1 notation follows the Sheets API v4 guide ("A1 notation"): ``'Tab'!A2:C`` with single quotes around a title
(a quote inside doubled), an open-ended ``A2:C`` or a bare ``Tab`` for the whole sheet, and a range without a sheet
name on the first sheet. Cells are kept with their type (``("s", text)``, ``("n", number)``, ``("b", bool)``,
``("f", formula)``) so a test can prove that a string starting with ``=`` was stored as text, not as a formula:
``valueInputOption=RAW`` stores input as-is, ``USER_ENTERED`` parses it as if typed into the UI (``=`` starts a
formula, a leading ``'`` forces text, numbers and TRUE/FALSE are recognised). ``valueRenderOption`` decides what a
read returns: ``FORMATTED_VALUE`` strings, ``UNFORMATTED_VALUE`` numbers and booleans, ``FORMULA`` the formula
text (the fake does not evaluate formulas: their value reads as ``#NAME?``). Trailing empty cells and rows are left
out of value responses, as the API does.
"""

from __future__ import annotations

import re
from typing import Any

from tests.support.sheets_fake.limits import ApiError

CellValue = tuple[str, Any] | None


def col_letters(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def _col_index(letters: str) -> int:
    """A -> 0, Z -> 25, AA -> 26."""
    value = 0
    for ch in letters.upper():
        value = value * 26 + (ord(ch) - 64)
    return value - 1


_CELL = re.compile(r"^([A-Za-z]*)(\d*)$")
_BARE_RANGE = re.compile(r"^[A-Za-z]{1,3}\d+(:[A-Za-z]{1,3}\d+)?$")


def parse_a1(text: str) -> tuple[str | None, int | None, int | None, int | None, int | None]:
    """``'Tab'!A2:C`` -> (sheet title, start row, end row (exclusive), start col, end col (exclusive)).

    ``None`` bounds are open. A bare ``Tab`` is the whole sheet; a range without a sheet name is on the first sheet.
    """
    sheet: str | None = None
    cells = text
    if "!" in text:
        sheet, cells = text.rsplit("!", 1)
    elif not _BARE_RANGE.match(text):
        return (text[1:-1].replace("''", "'") if text.startswith("'") else text), None, None, None, None
    if sheet is not None and sheet.startswith("'") and sheet.endswith("'"):
        sheet = sheet[1:-1].replace("''", "'")
    parts = cells.split(":")
    if len(parts) > 2:
        raise ApiError(400, f"Unable to parse range: {text}")
    bounds = []
    for part in parts:
        m = _CELL.match(part)
        if not m or not part:
            raise ApiError(400, f"Unable to parse range: {text}")
        bounds.append((m.group(1), m.group(2)))
    (c1, r1) = bounds[0]
    (c2, r2) = bounds[-1] if len(bounds) == 2 else bounds[0]
    start_row = int(r1) - 1 if r1 else None
    end_row = int(r2) if r2 else None
    start_col = _col_index(c1) if c1 else None
    end_col = _col_index(c2) + 1 if c2 else None
    if len(bounds) == 1 and r1 and not c1:
        start_col = end_col = None
    return sheet, start_row, end_row, start_col, end_col


def quote(title: str) -> str:
    """A sheet title as A1 notation quotes it: in single quotes, a quote inside doubled."""
    return "'" + title.replace("'", "''") + "'"


def from_cell_data(data: dict[str, Any] | None) -> CellValue:
    """The typed value of a ``CellData`` (``userEnteredValue``) in an ``updateCells``/``appendCells`` request."""
    value = (data or {}).get("userEnteredValue") or {}
    if "stringValue" in value:
        return ("s", str(value["stringValue"]))
    if "numberValue" in value:
        return ("n", float(value["numberValue"]))
    if "boolValue" in value:
        return ("b", bool(value["boolValue"]))
    if "formulaValue" in value:
        return ("f", str(value["formulaValue"]))
    return None


def from_input(value: Any, user_entered: bool) -> CellValue:
    """The typed value of one ``values`` input, under ``valueInputOption`` RAW or USER_ENTERED."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", float(value))
    text = str(value)
    if user_entered:
        if text.startswith("="):
            return ("f", text)
        if text.startswith("'"):
            return ("s", text[1:])
        try:
            return ("n", float(text))
        except ValueError:
            pass
        if text.upper() in ("TRUE", "FALSE"):
            return ("b", text.upper() == "TRUE")
    return ("s", text)


def render(cell: CellValue, option: str) -> Any:
    """A stored cell as a values read returns it under ``valueRenderOption`` ``option``."""
    if cell is None:
        return ""
    kind, value = cell
    if kind == "f":
        return value if option == "FORMULA" else "#NAME?"
    if kind == "n":
        number = int(value) if float(value).is_integer() else value
        return number if option in ("UNFORMATTED_VALUE", "FORMULA") else str(number)
    if kind == "b":
        return value if option != "FORMATTED_VALUE" else ("TRUE" if value else "FALSE")
    return value


def trim(rows: list[list[Any]]) -> list[list[Any]]:
    """Rows without their trailing empty cells, and without trailing empty rows, as value responses come."""
    out = []
    for row in rows:
        end = len(row)
        while end and row[end - 1] == "":
            end -= 1
        out.append(row[:end])
    while out and not out[-1]:
        out.pop()
    return out


def cell_data(cell: CellValue) -> dict[str, Any]:
    """A stored cell as the ``CellData`` of ``spreadsheets.get`` with ``includeGridData``."""
    if cell is None:
        return {}
    kind, value = cell
    key = {"s": "stringValue", "n": "numberValue", "b": "boolValue", "f": "formulaValue"}[kind]
    return {"userEnteredValue": {key: value}}
