"""How a Sheets or Drive request reaches the fake: the URL layout of the discovery documents, and the HTTP handler.

``googleapiclient`` builds its URLs from the Sheets v4 discovery document: ``POST /v4/spreadsheets`` (create),
``GET /v4/spreadsheets/{id}`` (get), ``POST /v4/spreadsheets/{id}:batchUpdate``, ``/v4/spreadsheets/{id}/values/
{range}`` (GET get, PUT update, POST ``...:append``/``...:clear``) and ``/v4/spreadsheets/{id}/values:batchGet``
(and ``:batchUpdate``, ``:batchClear``); the Drive v3 document gives ``POST /drive/v3/files/{fileId}/permissions``.
`route` turns a path back into (method, spreadsheet id, range); `WRITES` are the methods the write quota counts.
The handler speaks HTTP/1.1 with keep-alive, so a client reuses its connection as it does with Google.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from tests.support.sheets_fake.limits import ApiError

if TYPE_CHECKING:
    from tests.support.sheets_fake.server import SheetsFake

WRITES = {"create", "batchUpdate", "values.update", "values.append", "values.clear", "values.batchUpdate",
          "values.batchClear"}


def method_name(verb: str, path: str) -> str:
    """The API method a recorded call was to, ``"?"`` for a path the fake does not serve."""
    try:
        return route(verb, path)[0]
    except ApiError:
        return "?"


def route(verb: str, path: str) -> tuple[str, str | None, str | None]:
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


class Handler(BaseHTTPRequestHandler):
    """Serves every request of one `SheetsFake` (``owner``, set on a subclass per server) as JSON."""

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
