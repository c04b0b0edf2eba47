"""`SheetsFake`: the server itself, its test controls, and the dispatch of each API method to its part.

The parts live beside it: `routing` (URL layout and HTTP handler), `model` (the spreadsheet), `batch` (the
``batchUpdate`` requests), `values` (the ``values`` endpoints), `faults` (write quota and injected failures) and
`limits` (Google's limits and error shape). Here are ``spreadsheets.create`` (refused, when `SheetsFake.refuse_create`
says so, the way it is for a service account without Drive storage: 403, "The user's Drive storage quota has been
exceeded."), ``spreadsheets.get`` and Drive's ``permissions.create``, and the commit every write ends with: the
changed copy replaces the spreadsheet only when the cell and column limits hold (400 ``INVALID_ARGUMENT`` past
them, like Google).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.sheets_fake.batch import BatchRequests
from tests.support.sheets_fake.cells import render, trim
from tests.support.sheets_fake.faults import Failure, count_write, take_failure
from tests.support.sheets_fake.limits import MAX_CELLS, MAX_COLUMNS, QUOTA_MESSAGE, ApiError
from tests.support.sheets_fake.model import FakeSheet, FakeSpreadsheet, describe, new_sheet
from tests.support.sheets_fake.routing import WRITES, Handler, method_name, route
from tests.support.sheets_fake.values import values_append, values_clear, values_get, values_write


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
        self._failures: list[Failure] = []
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._requests = BatchRequests(self._ids)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.endpoint = ""

    # -- lifecycle ----------------------------------------------------------------------------------------------
    def __enter__(self) -> SheetsFake:
        fake = self

        class _Handler(Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
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
            self._failures.append(Failure(status, times, methods, spreadsheet_id, after_apply, retry_after,
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
        return trim([[render(c, "UNFORMATTED_VALUE") for c in row] for row in sheet.rows])

    def count(self, method: str) -> int:
        """How many recorded calls were to API method ``method`` (e.g. ``"batchUpdate"``)."""
        return sum(1 for m, path in self.calls if method_name(m, path) == method)

    # -- internals -----------------------------------------------------------------------------------------------
    @staticmethod
    def _new_sheet(props: dict[str, Any], existing: list[FakeSheet]) -> FakeSheet:
        """A new tab with the API's defaults (`model.new_sheet`); tests that build a spreadsheet by hand use it."""
        return new_sheet(props, existing)

    def _injected(self, method: str, spreadsheet_id: str | None, applied: bool) -> Failure | None:
        with self._lock:
            return take_failure(self._failures, method, spreadsheet_id, applied)

    def _count_write(self) -> None:
        count_write(self._writes, self.clock, self.write_quota_per_min)

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
        method, sid, rng = route(verb, path)
        failure = self._injected(method, sid, applied=False)
        if failure is not None:
            return failure.reply()
        payload = json.loads(body) if body else {}
        try:
            with self._lock:
                if method in WRITES:
                    self._count_write()
                result = self._dispatch(method, sid, rng, query, payload)
        except ApiError as err:
            return err.code, err.body(), {}
        failure = self._injected(method, sid, applied=True)
        if failure is not None:
            return failure.reply()
        return 200, result, {}

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
            return values_get(book, rng or "", opt)
        if method == "values.batchGet":
            return {"spreadsheetId": book.spreadsheet_id,
                    "valueRanges": [values_get(book, r, opt) for r in query.get("ranges", [])]}
        user_entered = query.get("valueInputOption", ["RAW"])[0] == "USER_ENTERED"
        if method in ("values.update", "values.append", "values.clear"):
            new = book.clone()
            if method == "values.update":
                result = values_write(new, rng or "", payload.get("values", []), user_entered)
            elif method == "values.append":
                result = values_append(new, rng or "", payload.get("values", []), user_entered)
            else:
                result = values_clear(new, rng or "")
            self._commit(book, new)
            return {"spreadsheetId": book.spreadsheet_id, **result}
        if method in ("values.batchUpdate", "values.batchClear"):
            new = book.clone()
            if method == "values.batchUpdate":
                entered = payload.get("valueInputOption", "RAW") == "USER_ENTERED"
                for data in payload.get("data", []):
                    values_write(new, data["range"], data.get("values", []), entered)
            else:
                for r in payload.get("ranges", []):
                    values_clear(new, r)
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
        return describe(book, False, None)

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
        return describe(book, with_data, ranges)

    def _batch_update(self, book: FakeSpreadsheet, payload: dict[str, Any]) -> dict[str, Any]:
        new, replies, kinds = self._requests.apply(book, payload)
        self._commit(book, new)
        self.batch_requests.append(kinds)
        return {"spreadsheetId": book.spreadsheet_id, "replies": replies}
