"""One GET to the PVS6 and what its answer means: the transport under the PVS6 client (`pvs6_edge.pvs`).

Every request has a hard deadline of ``pvs.timeout_s`` for the whole body (a watchdog shuts the socket when a
slow PVS trickles bytes) and a size cap. An answer counts once its status says it is one and its body is a JSON
object; each other outcome becomes the `PvsError` the client and the runner act on (busy, wrong API, login
wanted, garbled). Kept apart from the client so the API dialogue (styles, login, variables) reads on its own.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from urllib.parse import urlsplit

import requests

from pvs6_edge.errors import (
    PvsAuthError,
    PvsBadResponse,
    PvsLoginDemanded,
    PvsUnavailable,
    PvsWrongApi,
)

__all__ = ["check_answer", "get_answer", "https"]

_CHUNK = 64 * 1024


def get_answer(session: requests.Session, url: str, path: str, params: dict[str, str] | None,
               headers: dict[str, str] | None, *, timeout_s: float, max_body_bytes: int,
               base: str) -> tuple[int, bytes]:
    """GET ``url`` (``path`` names it in messages, ``base`` the PVS6) within ``timeout_s`` for the whole body.

    Raises
    ------
    PvsUnavailable
        No answer in time, or the PVS6 cannot be reached.
    PvsBadResponse
        A broken answer, or a body larger than ``max_body_bytes``.
    """
    fired = threading.Event()
    try:
        with session.get(url, params=params, headers=headers, timeout=(timeout_s, timeout_s),
                         stream=True, verify=False, allow_redirects=False) as resp:
            watchdog = threading.Timer(timeout_s, _shut, args=(resp, fired))
            watchdog.daemon = True
            watchdog.start()
            try:
                return resp.status_code, _read_body(resp, path, max_body_bytes)
            finally:
                watchdog.cancel()
    except requests.Timeout as err:
        raise PvsUnavailable(f"PVS6 did not answer {path} within {timeout_s:g} s") from err
    except requests.RequestException as err:
        if fired.is_set():
            raise PvsUnavailable(f"PVS6 answer to {path} took longer than {timeout_s:g} s") from err
        if isinstance(err, requests.ConnectionError):
            raise PvsUnavailable(f"cannot reach PVS6 at {base}: {_reason(err)}") from err
        raise PvsBadResponse(f"{path}: broken answer ({_reason(err)})") from err


def _read_body(resp: requests.Response, path: str, max_body_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in resp.iter_content(_CHUNK):
        size += len(chunk)
        if size > max_body_bytes:
            raise PvsBadResponse(f"{path}: body larger than pvs.max_body_bytes ({max_body_bytes})")
        chunks.append(chunk)
    return b"".join(chunks)


def check_answer(path: str, status: int, body: bytes, style: str) -> bytes:
    """``body`` once the status says it is an answer and it is a JSON object; else the matching PvsError."""
    if status in (401, 403):
        if style == "varserver":
            raise PvsAuthError(f"HTTP {status} from {path}")
        raise PvsLoginDemanded(f"HTTP {status} from {path}")
    if status == 404:
        raise PvsWrongApi(f"HTTP 404 from {path}")
    if status == 429 or status >= 500:
        raise PvsUnavailable(f"PVS6 busy: HTTP {status} from {path}")
    if status != 200:
        raise PvsBadResponse(f"unexpected HTTP {status} from {path}")
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise PvsBadResponse(f"{path}: body is not JSON ({len(body)} bytes; truncated or garbage)") from err
    if not isinstance(doc, dict):
        raise PvsBadResponse(f"{path}: body is JSON but not an object")
    return body


def https(base: str) -> str:
    """The same PVS6 address over https:// (the varserver answers nothing useful over plain HTTP)."""
    parts = urlsplit(base)
    return parts._replace(scheme="https").geturl()


def _shut(resp: requests.Response, fired: threading.Event) -> None:
    """Watchdog: end a response that outlived its deadline by shutting its socket."""
    fired.set()
    sock = getattr(getattr(resp.raw, "_connection", None), "sock", None) or getattr(
        getattr(resp.raw, "connection", None), "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _reason(err: Exception) -> str:
    text = str(err)
    return text if len(text) <= 200 else text[:200] + "..."
