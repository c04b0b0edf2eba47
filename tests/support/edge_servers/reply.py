"""The one way both loopback fakes write an answer: status, Content-Length, headers, body.

A client that gives up (the edge's read deadline) may close the socket before the body is written; the write
then fails with ``OSError`` and the fake lets it go instead of printing a traceback from its handler thread.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler


def send(h: BaseHTTPRequestHandler, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
    """Answer ``code`` with ``body`` and ``headers`` on the request ``h`` serves."""
    h.send_response(code)
    h.send_header("Content-Length", str(len(body)))
    for key, value in (headers or {}).items():
        h.send_header(key, value)
    h.end_headers()
    try:
        h.wfile.write(body)
    except OSError:
        return
