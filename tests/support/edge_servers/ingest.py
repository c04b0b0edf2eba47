"""The cloud's ingest on loopback for the edge's tests, checking the upload contract as strictly as the cloud does.

The contract (ARCHITECTURE.md, "Upload contract"): ``POST /ingest`` with a gzip body of at most 1 MiB (16 MiB
unpacked), ``X-Sentinel-Timestamp`` within 300 s of the cloud's clock and ``X-Sentinel-Signature:
sha256=<HMAC-SHA256 of "timestamp." + body>`` under the site's secret, ``schema`` 1, the site in body and header,
at most 500 snapshots of exactly ``captured_at/source/sha256/payload`` and an edge status. A broken rule is
answered with the status the cloud gives (400/401/404/413) and recorded in ``errors``; a good batch is acknowledged
by sha256, duplicates named as such, so the edge's spool, retries and exactly-once delivery are tested against the
same refusals the cloud makes. ``mode`` and the sha256 sets make it fail on cue (503/429 with ``Retry-After``,
IAM's 403, a 400 or 500 for one reading, a lost acknowledgement).
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from pvs6_sim.httpd import PlainOrTlsServer
from tests.support.edge_servers.reply import send


class FakeIngest:
    """The cloud's ingest on loopback, checking the upload contract strictly (HMAC, gzip, limits, schema).

    Steer with ``mode`` ("ok", "503", "429", or any other status code, answered to every request) and
    ``retry_after`` (header value for 429/503), ``reject`` (a set of sha256: a batch holding one gets a 400),
    ``fail`` (a set of sha256: a batch holding one gets a 500, as a reading that trips a bug in the cloud would;
    ``fail_snapshots`` True: every batch holding any snapshot does, while heartbeats alone go through),
    ``unacknowledged`` (a set of sha256 answered 200 but left out of the acknowledgement), ``clock`` (callable
    giving unix seconds for the skew check and the ``Date`` header of every answer, as the real cloud's own
    clock), ``send_date`` (False: answers carry no ``Date``, as behind an odd proxy).
    Records ``snapshots`` (in arrival order, first arrival only), ``arrivals`` (every sha256 received),
    ``heartbeats`` (status of every accepted request), ``requests`` and ``bytes``.
    """

    def __init__(self, site: str, secret: str, clock: Any = time.time) -> None:
        self.site = site
        self.secret = secret
        self.clock = clock
        self.send_date = True
        self.mode = "ok"
        self.retry_after: str | None = None
        self.reject: set[str] = set()
        self.fail: set[str] = set()
        self.fail_snapshots = False
        self.unacknowledged: set[str] = set()
        self.snapshots: list[dict[str, Any]] = []
        self.arrivals: list[str] = []
        self.heartbeats: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.requests = 0
        self.bytes = 0
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._server: PlainOrTlsServer | None = None
        self._port = 0
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/ingest"

    def start(self) -> None:
        """(Re)start listening on the same port."""
        self._server = PlainOrTlsServer(("127.0.0.1", self._port), self._handler())
        self._port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        """Stop listening: the edge then meets 'connection refused'."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeIngest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        ingest = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def date_time_string(self, timestamp: float | None = None) -> str:
                return email.utils.formatdate(ingest.clock() if timestamp is None else timestamp, usegmt=True)

            def send_header(self, keyword: str, value: str) -> None:
                if keyword.lower() != "date" or ingest.send_date:
                    super().send_header(keyword, value)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                code, reply, headers = ingest._handle(self.path, dict(self.headers.items()), body)
                send(self, code, json.dumps(reply).encode(), headers)

        return Handler

    def _handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            self.requests += 1
            self.bytes += len(body)
            extra = {"Retry-After": self.retry_after} if self.retry_after else {}
            if self.mode == "503":
                return 503, {"error": "down"}, extra
            if self.mode == "429":
                return 429, {"error": "slow down"}, extra
            if self.mode.isdigit():  # e.g. "403": the function's IAM refuses every request, "404": wrong URL
                return int(self.mode), {"error": f"HTTP {self.mode}"}, {}
            problem = self._check(path, headers, body)
            if problem:
                self.errors.append(problem)
                return problem_code(problem), {"error": problem}, {}
            doc = json.loads(gzip.decompress(body))
            shas = [s["sha256"] for s in doc["snapshots"]]
            if self.reject & set(shas):
                return 400, {"error": "snapshot refused"}, {}
            if self.fail & set(shas) or (self.fail_snapshots and shas):
                return 500, {"error": "internal error"}, {}
            accepted, duplicates = [], []
            for snap in doc["snapshots"]:
                if snap["sha256"] in self.unacknowledged:
                    continue
                self.arrivals.append(snap["sha256"])
                if snap["sha256"] in self._seen:
                    duplicates.append(snap["sha256"])
                    continue
                self._seen.add(snap["sha256"])
                self.snapshots.append(snap)
                accepted.append(snap["sha256"])
            self.heartbeats.append(doc["edge"]["status"])
            return 200, {"accepted": accepted, "duplicates": duplicates}, {}

    def _check(self, path: str, headers: dict[str, str], body: bytes) -> str | None:
        if path != "/ingest":
            return "404 wrong path"
        if headers.get("Content-Encoding") != "gzip":
            return "400 not gzip"
        if len(body) > 1024 * 1024:
            return "413 body over 1 MiB"
        ts = headers.get("X-Sentinel-Timestamp", "")
        sig = headers.get("X-Sentinel-Signature", "")
        if not ts.isdigit() or abs(int(ts) - self.clock()) > 300:
            return "401 stale timestamp"
        good = "sha256=" + hmac.new(self.secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(good, sig):
            return "401 bad signature"
        try:
            plain = gzip.decompress(body)
            doc = json.loads(plain)
        except (OSError, ValueError):
            return "400 body is not gzip JSON"
        if len(plain) > 16 * 1024 * 1024:
            return "413 decompressed over 16 MiB"
        if doc.get("schema") != 1 or doc.get("site") != self.site or headers.get("X-Sentinel-Site") != self.site:
            return "400 schema or site wrong"
        snaps = doc.get("snapshots")
        if not isinstance(snaps, list) or len(snaps) > 500 or "status" not in doc.get("edge", {}):
            return "400 snapshots or edge status missing"
        for snap in snaps:
            if set(snap) != {"captured_at", "source", "sha256", "payload"} or snap["source"] not in (
                    "dl_cgi", "varserver"):
                return "400 snapshot fields wrong"
        return None


def problem_code(problem: str) -> int:
    """The HTTP status at the start of a problem text ("401 bad signature" -> 401)."""
    return int(problem.split(" ", 1)[0])
