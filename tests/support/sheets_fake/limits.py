"""The Sheets API's documented limits and the JSON error shape it refuses with, shared by every part of the fake.

Google caps a spreadsheet at 10,000,000 grid cells and a sheet at 18,278 columns (column ``ZZZ``) and answers a
request past either with 400 ``INVALID_ARGUMENT``; a new tab is 1000 rows by 26 columns unless the request says
otherwise. Errors come back as ``{"error": {"code", "message", "status"}}`` with the canonical status name for the
HTTP code, which is what ``googleapiclient.errors.HttpError`` parses, so the fake answers in the same shape.
"""

from __future__ import annotations

from typing import Any

QUOTA_MESSAGE = "The user's Drive storage quota has been exceeded."
MAX_CELLS = 10_000_000
MAX_COLUMNS = 18_278
DEFAULT_ROWS = 1000
DEFAULT_COLUMNS = 26

_STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED",
           500: "INTERNAL", 503: "UNAVAILABLE"}


class ApiError(Exception):
    """An error the fake answers with, in Google's JSON error shape."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "status": _STATUS.get(self.code, "UNKNOWN")}}
