"""Python values <-> Google Sheets cells, and A1 notation, for the Sheets sink.

Times become site-local *date serial numbers* (days since 1899-12-30, the spreadsheet epoch), so the template's
date formats, sorting and charts work on them; text always travels as ``stringValue``, which Sheets stores as
text even when it starts with ``=``: device strings can never become formulas.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from pvs6_cloud.store.layout import Cell

__all__ = ["a1", "cell_data", "col_letters", "from_sheet", "quote_title", "serial_to_datetime", "to_serial"]

EPOCH = datetime(1899, 12, 30)
_EPOCH_DATE = EPOCH.date()
_DAY_S = 86400.0


def col_letters(index: int) -> str:
    """Column letters of a 0-based column index (0 -> A, 26 -> AA)."""
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def quote_title(title: str) -> str:
    """A sheet title quoted for A1 notation (``Tab's`` -> ``'Tab''s'``)."""
    return "'" + title.replace("'", "''") + "'"


def a1(title: str, first_row: int, last_col: int | None = None, first_col: int = 0, last_row: int | None = None) -> str:
    """``'Tab'!A{first_row}:{last_col}{last_row}`` with 1-based rows and 0-based column indexes; open when None."""
    end_col = col_letters(last_col) if last_col is not None else "ZZZ"
    end_row = str(last_row) if last_row is not None else ""
    return f"{quote_title(title)}!{col_letters(first_col)}{first_row}:{end_col}{end_row}"


def to_serial(value: datetime | date, tz: tzinfo) -> float:
    """A spreadsheet date serial number [days since 1899-12-30, site-local wall time]."""
    if isinstance(value, datetime):
        local = value.astimezone(tz).replace(tzinfo=None) if value.tzinfo else value
        return (local - EPOCH).total_seconds() / _DAY_S
    return float((value - _EPOCH_DATE).days)


def serial_to_datetime(serial: float, tz: tzinfo) -> datetime:
    """Inverse of `to_serial` for times, to the millisecond [aware, in ``tz``].

    Wall time is all a spreadsheet keeps, so a time inside the autumn DST overlap reads back as its first
    occurrence (``fold=0``).
    """
    millis = round(serial * _DAY_S * 1000)
    return (EPOCH + timedelta(milliseconds=millis)).replace(tzinfo=tz)


def cell_data(value: Cell, tz: tzinfo) -> dict[str, Any]:
    """The ``CellData`` of one value; ``{}`` (an empty cell) for None and for NaN/inf, which JSON cannot carry."""
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"userEnteredValue": {"boolValue": value}}
    if isinstance(value, datetime | date):
        return {"userEnteredValue": {"numberValue": to_serial(value, tz)}}
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return {}
        return {"userEnteredValue": {"numberValue": value}}
    return {"userEnteredValue": {"stringValue": str(value)}}


def raw_cell_data(value: Any) -> dict[str, Any]:
    """The ``CellData`` of a value read back with ``UNFORMATTED_VALUE`` (copying rows verbatim)."""
    if value is None or value == "":
        return {}
    if isinstance(value, bool):
        return {"userEnteredValue": {"boolValue": value}}
    if isinstance(value, int | float):
        return {"userEnteredValue": {"numberValue": value}}
    return {"userEnteredValue": {"stringValue": str(value)}}


def from_sheet(value: Any, kind: str, tz: tzinfo) -> Cell:
    """A cell read with ``UNFORMATTED_VALUE`` + ``SERIAL_NUMBER``, typed by the layout column ``kind``.

    Numbers come back as float (``integer`` as int), ``datetime`` as an aware datetime in ``tz``, ``date`` as a
    date, text as str. A cell whose content does not fit its column (a person typed over it) is returned as is.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if kind in ("number", "percent"):
            return float(value)
        if kind == "integer":
            return int(value)
        if kind == "datetime":
            return serial_to_datetime(float(value), tz)
        if kind in ("date", "month"):
            return _EPOCH_DATE + timedelta(days=int(value))
        return float(value)
    return str(value)
