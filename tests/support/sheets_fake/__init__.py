"""A Google-Sheets-API-compatible HTTP server for tests: the real ``googleapiclient`` talks to it over loopback.

It implements the part of Sheets API v4 the project calls (``spreadsheets.get/create/batchUpdate`` and
``spreadsheets.values.get/batchGet/append/update/batchUpdate/clear/batchClear``) with the limits that matter in
production, so tests exercise the real client and the real failure modes:

- 10,000,000 grid cells per spreadsheet and 18,278 columns per sheet (400 ``INVALID_ARGUMENT``, like Google);
- a per-minute write quota (429 ``RESOURCE_EXHAUSTED``), on an injectable clock so no test waits a minute;
- injected failures (403/404/500... for N requests or until cleared, optionally *after* applying the write,
  which is how a lost acknowledgement looks to a client);
- ``batchUpdate`` is atomic: every request is applied to a copy and the copy replaces the original only when
  all of them succeeded and the limits hold.

It also answers the one Drive v3 call the sink makes, ``permissions.create`` on
``/drive/v3/files/{fileId}/permissions`` (recorded in `SheetsFake.permissions`, so a test can see who an archive was
shared with), and `SheetsFake.refuse_create` makes ``spreadsheets.create`` fail the way it does for a service
account without Drive storage (403, "The user's Drive storage quota has been exceeded.").

Cells are stored with their type (``("s", text)``, ``("n", number)``, ``("b", bool)``, ``("f", formula)``), so a
test can prove that a string starting with ``=`` was stored as text, not as a formula. Every request is recorded
as ``(method, path)`` in `SheetsFake.calls` for call-count assertions.

The package is split along the API's own seams so no module grows past 400 lines: `server` (the fake, its test
controls and the dispatch), `routing` (URL layout, HTTP handler), `model` (spreadsheet and tabs), `batch`
(``batchUpdate`` requests), `values` (``values`` endpoints), `cells` (A1 notation, typed cells), `faults` (write
quota, injected failures, `FakeClock`) and `limits` (Google's limits and error shape). Import from here.
"""

from tests.support.sheets_fake.cells import CellValue, col_letters, parse_a1
from tests.support.sheets_fake.faults import FakeClock
from tests.support.sheets_fake.limits import (
    DEFAULT_COLUMNS,
    DEFAULT_ROWS,
    MAX_CELLS,
    MAX_COLUMNS,
    QUOTA_MESSAGE,
    ApiError,
)
from tests.support.sheets_fake.model import FakeSheet, FakeSpreadsheet
from tests.support.sheets_fake.server import SheetsFake

__all__ = ["DEFAULT_COLUMNS", "DEFAULT_ROWS", "MAX_CELLS", "MAX_COLUMNS", "QUOTA_MESSAGE", "ApiError", "CellValue",
           "FakeClock", "FakeSheet", "FakeSpreadsheet", "SheetsFake", "col_letters", "parse_a1"]
