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
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["ApiError", "FakeClock", "FakeSheet", "FakeSpreadsheet", "SheetsFake", "col_letters", "parse_a1"]

QUOTA_MESSAGE = "The user's Drive storage quota has been exceeded."
MAX_CELLS = 10_000_000
MAX_COLUMNS = 18_278
DEFAULT_ROWS = 1000
DEFAULT_COLUMNS = 26
CellValue = tuple[str, Any] | None

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


class FakeClock:
    """A clock tests advance by "sleeping": pass ``clock`` to the fake and ``clock.sleep`` to the client."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


# -- A1 notation ---------------------------------------------------------------------------------------------------
def col_letters(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def _col_index(letters: str) -> int:
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


def _quote(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


# -- model ------------------------------------------------------------------------------------------------------------
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
        raise ApiError(400, f"Unable to parse range: {_quote(title)}")

    def by_id(self, sheet_id: int) -> FakeSheet:
        for sheet in self.sheets:
            if sheet.sheet_id == sheet_id:
                return sheet
        raise ApiError(400, f"Invalid requests: No grid with id: {sheet_id}")

    def clone(self) -> FakeSpreadsheet:
        return FakeSpreadsheet(self.spreadsheet_id, self.title, [s.clone() for s in self.sheets])


@dataclass
class _Failure:
    status: int
    remaining: int | None
    methods: tuple[str, ...] | None
    spreadsheet_id: str | None
    after_apply: bool
    retry_after: str | None
    message: str


# -- cell conversions ------------------------------------------------------------------------------------------------
def _from_cell_data(data: dict[str, Any] | None) -> CellValue:
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


def _from_input(value: Any, user_entered: bool) -> CellValue:
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


def _render(cell: CellValue, option: str) -> Any:
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


# -- the server -----------------------------------------------------------------------------------------------------
class SheetsFake:
    """The fake Sheets API. Use as a context manager; ``endpoint`` is what ``client_options`` needs.

    Parameters
    ----------
    write_quota_per_min : int, optional
        Write requests allowed per 60 s of ``clock`` (None: unlimited). Past it: 429.
    clock : callable, default time.monotonic
        Seconds; tests pass a fake clock and advance it from their injected ``sleep``.
    max_cells, max_columns : int
        The spreadsheet limits (Google's by default); tests may lower them to reach a limit quickly.
    """

    def __init__(self, *, write_quota_per_min: int | None = None, clock: Callable[[], float] = time.monotonic,
                 max_cells: int = MAX_CELLS, max_columns: int = MAX_COLUMNS) -> None:
        self.write_quota_per_min = write_quota_per_min
        self.clock = clock
        self.max_cells = max_cells
        self.max_columns = max_columns
        self.spreadsheets: dict[str, FakeSpreadsheet] = {}
        self.calls: list[tuple[str, str]] = []
        self.batch_requests: list[list[str]] = []
        self.permissions: list[dict[str, Any]] = []
        self._create_refusal: ApiError | None = None
        self._writes: deque[float] = deque()
        self._failures: list[_Failure] = []
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.endpoint = ""

    # -- lifecycle ----------------------------------------------------------------------------------------------
    def __enter__(self) -> SheetsFake:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.endpoint = f"http://{host}:{port}/"
        self._thread = threading.Thread(target=self._server.serve_forever, name="sheets-fake", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- test controls -------------------------------------------------------------------------------------------
    def add_spreadsheet(self, title: str = "PVS6 Sentinel", spreadsheet_id: str | None = None, *,
                        first_tab: str = "Sheet1") -> str:
        """Create a spreadsheet the way a person would (one empty tab, sheetId 0, named in the owner's language:
        ``Sheet1``, ``Feuille 1``, ``Tabellenblatt1``...); return its id."""
        with self._lock:
            sid = spreadsheet_id or f"fake-sheet-{next(self._ids)}"
            self.spreadsheets[sid] = FakeSpreadsheet(sid, title, [self._new_sheet({"title": first_tab}, [])])
            return sid

    def fail(self, status: int, times: int | None = 1, *, methods: tuple[str, ...] | None = None,
             spreadsheet_id: str | None = None, after_apply: bool = False, retry_after: str | None = None,
             message: str = "injected failure") -> None:
        """Answer ``status`` to the next ``times`` matching requests (None: until `clear_failures`).

        ``methods`` filters by API method name (``"batchUpdate"``, ``"values.get"``...); ``after_apply`` applies a
        write before failing (a lost acknowledgement).
        """
        with self._lock:
            self._failures.append(_Failure(status, times, methods, spreadsheet_id, after_apply, retry_after,
                                           message))

    def refuse_create(self, message: str | None = QUOTA_MESSAGE, status: int = 403) -> None:
        """Make ``spreadsheets.create`` fail with ``status`` and ``message`` (None: allow it again).

        Google answers a service account that has no Drive storage of its own with 403 and
        `QUOTA_MESSAGE` (some projects see "The caller does not have permission" instead).
        """
        with self._lock:
            self._create_refusal = None if message is None else ApiError(status, message)

    def reset(self, *, clock: Callable[[], float] | None = None, write_quota_per_min: int | None = None) -> None:
        """Forget every spreadsheet, call, failure and limit change (one server can serve a whole test module)."""
        with self._lock:
            self.spreadsheets.clear()
            self.calls.clear()
            self.batch_requests.clear()
            self.permissions.clear()
            self._create_refusal = None
            self._writes.clear()
            self._failures.clear()
            self.max_cells = MAX_CELLS
            self.max_columns = MAX_COLUMNS
            self.write_quota_per_min = write_quota_per_min
            if clock is not None:
                self.clock = clock

    def clear_failures(self) -> None:
        """Stop every injected failure."""
        with self._lock:
            self._failures.clear()

    def sheet(self, spreadsheet_id: str, title: str) -> FakeSheet:
        """A tab, for assertions."""
        return self.spreadsheets[spreadsheet_id].by_title(title)

    def values(self, spreadsheet_id: str, title: str) -> list[list[Any]]:
        """A tab's values (unformatted), trailing empties trimmed, for assertions."""
        sheet = self.sheet(spreadsheet_id, title)
        return _trim([[_render(c, "UNFORMATTED_VALUE") for c in row] for row in sheet.rows])

    def count(self, method: str) -> int:
        """How many recorded calls were to API method ``method`` (e.g. ``"batchUpdate"``)."""
        return sum(1 for m, path in self.calls if _method_name(m, path) == method)

    # -- internals -----------------------------------------------------------------------------------------------
    def _new_sheet(self, props: dict[str, Any], existing: list[FakeSheet]) -> FakeSheet:
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

    def _injected(self, method: str, spreadsheet_id: str | None, applied: bool) -> _Failure | None:
        with self._lock:
            for failure in self._failures:
                if failure.after_apply != applied:
                    continue
                if failure.methods and method not in failure.methods:
                    continue
                if failure.spreadsheet_id and failure.spreadsheet_id != spreadsheet_id:
                    continue
                if failure.remaining is not None:
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        self._failures.remove(failure)
                return failure
        return None

    def _count_write(self) -> None:
        if self.write_quota_per_min is None:
            return
        now = self.clock()
        while self._writes and self._writes[0] <= now - 60.0:
            self._writes.popleft()
        if len(self._writes) >= self.write_quota_per_min:
            raise ApiError(429, "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per "
                                "minute per user' of service 'sheets.googleapis.com'.")
        self._writes.append(now)

    def _check_limits(self, book: FakeSpreadsheet) -> None:
        for sheet in book.sheets:
            if sheet.column_count > self.max_columns:
                raise ApiError(400, f"Invalid requests: This action would increase the number of columns in sheet "
                                    f"{sheet.title} above the limit of {self.max_columns} columns.")
        if book.cells() > self.max_cells:
            raise ApiError(400, "This action would increase the number of cells in the workbook above the limit "
                                f"of {self.max_cells} cells.")

    def handle(self, verb: str, raw_path: str, body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Dispatch one HTTP request; returns (status, JSON body, extra headers)."""
        parts = urlsplit(raw_path)
        path = parts.path
        query = parse_qs(parts.query)
        with self._lock:
            self.calls.append((verb, path))
        method, sid, rng = _route(verb, path)
        failure = self._injected(method, sid, applied=False)
        if failure is not None:
            return self._failure_reply(failure)
        payload = json.loads(body) if body else {}
        try:
            with self._lock:
                if method in _WRITES:
                    self._count_write()
                result = self._dispatch(method, sid, rng, query, payload)
        except ApiError as err:
            return err.code, err.body(), {}
        failure = self._injected(method, sid, applied=True)
        if failure is not None:
            return self._failure_reply(failure)
        return 200, result, {}

    @staticmethod
    def _failure_reply(failure: _Failure) -> tuple[int, dict[str, Any], dict[str, str]]:
        headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
        return failure.status, ApiError(failure.status, failure.message).body(), headers

    def _book(self, sid: str | None) -> FakeSpreadsheet:
        book = self.spreadsheets.get(sid or "")
        if book is None:
            raise ApiError(404, "Requested entity was not found.")
        return book

    def _dispatch(self, method: str, sid: str | None, rng: str | None, query: dict[str, list[str]],
                  payload: dict[str, Any]) -> dict[str, Any]:
        if method == "create":
            return self._create(payload)
        if method == "drive.permissions.create":
            return self._permission(self._book(sid), query, payload)
        book = self._book(sid)
        if method == "get":
            return self._get(book, query)
        if method == "batchUpdate":
            return self._batch_update(book, payload)
        opt = query.get("valueRenderOption", ["FORMATTED_VALUE"])[0]
        if method == "values.get":
            return self._values_get(book, rng or "", opt)
        if method == "values.batchGet":
            return {"spreadsheetId": book.spreadsheet_id,
                    "valueRanges": [self._values_get(book, r, opt) for r in query.get("ranges", [])]}
        user_entered = query.get("valueInputOption", ["RAW"])[0] == "USER_ENTERED"
        if method in ("values.update", "values.append", "values.clear"):
            new = book.clone()
            if method == "values.update":
                result = self._values_write(new, rng or "", payload.get("values", []), user_entered)
            elif method == "values.append":
                result = self._values_append(new, rng or "", payload.get("values", []), user_entered)
            else:
                result = self._values_clear(new, rng or "")
            self._commit(book, new)
            return {"spreadsheetId": book.spreadsheet_id, **result}
        if method in ("values.batchUpdate", "values.batchClear"):
            new = book.clone()
            if method == "values.batchUpdate":
                entered = payload.get("valueInputOption", "RAW") == "USER_ENTERED"
                for data in payload.get("data", []):
                    self._values_write(new, data["range"], data.get("values", []), entered)
            else:
                for r in payload.get("ranges", []):
                    self._values_clear(new, r)
            self._commit(book, new)
            return {"spreadsheetId": book.spreadsheet_id}
        raise ApiError(404, f"Method not found: {method}")

    def _commit(self, book: FakeSpreadsheet, new: FakeSpreadsheet) -> None:
        self._check_limits(new)
        self.spreadsheets[book.spreadsheet_id] = new

    # -- spreadsheets ----------------------------------------------------------------------------------------------
    def _create(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self._create_refusal is not None:
            raise self._create_refusal
        sid = f"fake-sheet-{next(self._ids)}"
        title = payload.get("properties", {}).get("title", "Untitled spreadsheet")
        book = FakeSpreadsheet(sid, title)
        for spec in payload.get("sheets", []) or [{"properties": {"title": "Sheet1"}}]:
            book.sheets.append(self._new_sheet(spec.get("properties", {}), book.sheets))
        self._check_limits(book)
        self.spreadsheets[sid] = book
        return self._describe(book, False, None)

    def _permission(self, book: FakeSpreadsheet, query: dict[str, list[str]],
                    payload: dict[str, Any]) -> dict[str, Any]:
        """Drive ``permissions.create``: record who the file is shared with, and how."""
        kind, role = payload.get("type"), payload.get("role")
        if kind not in ("user", "group", "domain", "anyone") or role not in (
                "owner", "organizer", "fileOrganizer", "writer", "commenter", "reader"):
            raise ApiError(400, "Invalid permission type or role.")
        if kind in ("user", "group") and not payload.get("emailAddress"):
            raise ApiError(400, "The permission emailAddress field is required.")
        record = {"file_id": book.spreadsheet_id, "type": kind, "role": role,
                  "email": payload.get("emailAddress", ""),
                  "notify": query.get("sendNotificationEmail", ["true"])[0] != "false"}
        self.permissions.append(record)
        return {"kind": "drive#permission", "id": f"perm-{next(self._ids)}", "type": kind, "role": role,
                "emailAddress": record["email"]}

    def _get(self, book: FakeSpreadsheet, query: dict[str, list[str]]) -> dict[str, Any]:
        with_data = query.get("includeGridData", ["false"])[0] == "true"
        ranges = query.get("ranges")
        return self._describe(book, with_data, ranges)

    def _describe(self, book: FakeSpreadsheet, with_data: bool, ranges: list[str] | None) -> dict[str, Any]:
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
                    {"values": [_cell_data(c) for c in row]} for row in sheet.rows
                ]}]
            sheets.append(entry)
        return {"spreadsheetId": book.spreadsheet_id, "properties": {"title": book.title},
                "sheets": sheets,
                "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{book.spreadsheet_id}/edit"}

    def _batch_update(self, book: FakeSpreadsheet, payload: dict[str, Any]) -> dict[str, Any]:
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
        self._commit(book, new)
        self.batch_requests.append(kinds)
        return {"spreadsheetId": book.spreadsheet_id, "replies": replies}

    # -- batchUpdate requests ------------------------------------------------------------------------------------
    def _req_addSheet(self, book: FakeSpreadsheet, body: dict[str, Any]) -> dict[str, Any]:
        sheet = self._new_sheet(body.get("properties", {}), book.sheets)
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
                    sheet.set(r0 + i, c0 + j, _from_cell_data(data))
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
        for source in _chart_sources(chart.get("spec", {})):
            book.by_id(source.get("sheetId", 0))
        chart["chartId"] = next(self._ids)
        sheet.charts.append(chart)
        return {"addChart": {"chart": copy.deepcopy(chart)}}

    # -- values ----------------------------------------------------------------------------------------------------
    def _resolve(self, book: FakeSpreadsheet, rng: str) -> tuple[FakeSheet, int, int, int, int]:
        title, r0, r1, c0, c1 = parse_a1(rng)
        sheet = book.by_title(title)
        return sheet, r0 or 0, r1 if r1 is not None else sheet.row_count, c0 or 0, \
            c1 if c1 is not None else sheet.column_count

    def _values_get(self, book: FakeSpreadsheet, rng: str, option: str) -> dict[str, Any]:
        sheet, r0, r1, c0, c1 = self._resolve(book, rng)
        out = [[_render(sheet.get(r, c), option) for c in range(c0, min(c1, max(
            (len(row) for row in sheet.rows[r0:r1]), default=0)))] for r in range(r0, min(r1, len(sheet.rows)))]
        result: dict[str, Any] = {"range": f"{_quote(sheet.title)}!{col_letters(c0)}{r0 + 1}:"
                                           f"{col_letters(c1 - 1)}{r1}", "majorDimension": "ROWS"}
        trimmed = _trim(out)
        if trimmed:
            result["values"] = trimmed
        return result

    def _values_write(self, book: FakeSpreadsheet, rng: str, values: list[list[Any]], user_entered: bool,
                      start_row: int | None = None) -> dict[str, Any]:
        sheet, r0, _r1, c0, _c1 = self._resolve(book, rng)
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
                sheet.set(r0 + i, c0 + j, _from_input(value, user_entered))
        return {"updatedRange": f"{_quote(sheet.title)}!{col_letters(c0)}{r0 + 1}",
                "updatedRows": len(values), "updatedCells": sum(len(r) for r in values)}

    def _values_append(self, book: FakeSpreadsheet, rng: str, values: list[list[Any]],
                       user_entered: bool) -> dict[str, Any]:
        sheet, *_ = self._resolve(book, rng)
        updates = self._values_write(book, rng, values, user_entered, start_row=sheet.last_data_row())
        return {"tableRange": f"{_quote(sheet.title)}", "updates": updates}

    def _values_clear(self, book: FakeSpreadsheet, rng: str) -> dict[str, Any]:
        sheet, r0, r1, c0, c1 = self._resolve(book, rng)
        for r in range(r0, min(r1, len(sheet.rows))):
            for c in range(c0, min(c1, len(sheet.rows[r]))):
                sheet.rows[r][c] = None
        return {"clearedRange": rng}


_WRITES = {"create", "batchUpdate", "values.update", "values.append", "values.clear", "values.batchUpdate",
           "values.batchClear"}


def _method_name(verb: str, path: str) -> str:
    try:
        return _route(verb, path)[0]
    except ApiError:
        return "?"


def _route(verb: str, path: str) -> tuple[str, str | None, str | None]:
    """(API method, spreadsheet id, A1 range) of a request path, as the discovery document lays them out."""
    if path.startswith("/drive/v3/files/") and path.endswith("/permissions") and verb == "POST":
        return "drive.permissions.create", unquote(path[len("/drive/v3/files/"):-len("/permissions")]), None
    if not path.startswith("/v4/spreadsheets"):
        raise ApiError(404, f"unknown path {path}")
    rest = path[len("/v4/spreadsheets"):]
    if rest in ("", "/"):
        return ("create" if verb == "POST" else "?"), None, None
    rest = rest.lstrip("/")
    if "/values" in rest:
        sid, _, tail = rest.partition("/values")
        sid = unquote(sid)
        if tail.startswith(":"):
            return "values." + tail[1:], sid, None
        rng = unquote(tail.lstrip("/"))
        head, _, suffix = rng.rpartition(":")
        if head and suffix in ("append", "clear"):
            return "values." + suffix, sid, head
        return ("values.update" if verb == "PUT" else "values.get"), sid, rng
    sid, _, action = rest.partition(":")
    if action:
        return action, unquote(sid), None
    return "get", unquote(sid), None


def _trim(rows: list[list[Any]]) -> list[list[Any]]:
    out = []
    for row in rows:
        end = len(row)
        while end and row[end - 1] == "":
            end -= 1
        out.append(row[:end])
    while out and not out[-1]:
        out.pop()
    return out


def _cell_data(cell: CellValue) -> dict[str, Any]:
    if cell is None:
        return {}
    kind, value = cell
    key = {"s": "stringValue", "n": "numberValue", "b": "boolValue", "f": "formulaValue"}[kind]
    return {"userEnteredValue": {key: value}}


def _chart_sources(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    basic = spec.get("basicChart", {})
    for part in [*basic.get("domains", []), *basic.get("series", [])]:
        for key in ("domain", "series"):
            yield from part.get(key, {}).get("sourceRange", {}).get("sources", [])


class _Handler(BaseHTTPRequestHandler):
    owner: SheetsFake
    protocol_version = "HTTP/1.1"
    # One buffered write per reply and no Nagle: otherwise each call waits ~40 ms for a delayed ACK.
    wbufsize = -1
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            status, data, headers = self.owner.handle(self.command, self.path, body)
        except ApiError as err:
            status, data, headers = err.code, err.body(), {}
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(raw)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = do_PUT = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""
