"""Upload the spool to the cloud's ``ingest``: oldest first, batched, gzip, HMAC-signed (ARCHITECTURE contract).

A batch holds at most ``cloud.batch_max_snapshots`` (<= 500) items and ``cloud.batch_max_bytes`` (<= 1 MiB) of
gzip; it is compressed item by item so the Pi never holds a large uncompressed body, and an item that would
overflow waits for the next batch. Only items whose sha256 comes back in ``accepted`` or ``duplicates`` are
deleted. A 4xx means one item is bad, once a heartbeat alone is shown to go through (a cloud that refuses
every request, e.g. 403 or a wrong URL, keeps everything): the batch is split in halves until the offending
item is alone, which is quarantined (never retried forever) while the others go through. A 5xx for a batch
while a heartbeat alone goes through is split the same way: the reading that fails alone is held back, sent
alone in later runs, and set aside in quarantine once it has failed for a bounded number of runs over a bounded
time while others went through (``pvs6_edge.failing``). Otherwise 5xx, 429, 401, timeouts and connection errors
stop the round with everything kept; the caller backs off (honouring Retry-After). Every round sends at least
one request, so the heartbeat (edge status) reaches the cloud even when the spool is empty. Every answer's
``Date`` header (200, 401, 4xx, 5xx alike) gives the cloud's time: the outcome carries the offset of the local
clock from it, which decides whether the edge may delete by age.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import zlib
from dataclasses import dataclass, field
from typing import Any

import requests

from pvs6_edge.clock import Clock, describe_span, offset_from_date
from pvs6_edge.config import CloudConfig
from pvs6_edge.errors import CloudRejected, CloudRetryLater, SpoolCorrupt
from pvs6_edge.failing import FailingItems
from pvs6_edge.spool import Spool, SpoolItem

__all__ = ["UploadOutcome", "Uploader", "sign"]

log = logging.getLogger(__name__)

_MAX_PLAIN_BYTES = 15 * 1024 * 1024  # the ingest refuses more than 16 MiB decompressed
_GZIP_TAIL_BYTES = 64
_SIGNATURE_WINDOW_S = 300.0  # the ingest refuses X-Sentinel-Timestamp further than this from its own clock
# Failed requests one round may spend looking for the reading a 5xx is about: enough to find one in 500 by
# halving (2 per level), few enough that a cloud failing on every reading costs a handful of requests a run.
_FAULT_SEARCH_BUDGET = 24


@dataclass(slots=True)
class UploadOutcome:
    """What one upload round did."""

    acked: int = 0
    requests: int = 0
    bytes_sent: int = 0
    heartbeat_delivered: bool = False
    quarantined: list[dict[str, str]] = field(default_factory=list)
    failed_alone: list[tuple[SpoolItem, str]] = field(default_factory=list)  # 5xx alone while the cloud was up
    error: str | None = None
    retry_after_s: float | None = None
    clock_offset_s: float | None = None  # cloud time minus local time [s], from the last answer's Date
    clock_offset_at: float | None = None  # local time [unix s] of that answer


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Sentinel-Signature`` value: ``sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>``."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class Uploader:
    """Drains the spool into the ingest endpoint.

    Parameters
    ----------
    session : requests.Session
        Used for every POST (the caller owns it).
    cfg : CloudConfig
        URL, site, secret, timeout [s] and batch limits.
    spool : Spool
        Where the items are.
    clock : Clock
        Wall clock for the signature timestamp and Retry-After dates.
    version : str
        Edge version for the heartbeat.
    failing : FailingItems, optional
        Readings the cloud failed on before (the edge state's memory); default: none remembered.
    """

    def __init__(self, session: requests.Session, cfg: CloudConfig, spool: Spool, clock: Clock,
                 version: str, failing: FailingItems | None = None) -> None:
        self._session = session
        self._cfg = cfg
        self._spool = spool
        self._clock = clock
        self._version = version
        self._failing = failing if failing is not None else FailingItems()
        self._search_budget = _FAULT_SEARCH_BUDGET

    def upload(self, status: dict[str, Any]) -> UploadOutcome:
        """Send everything in the spool (or a heartbeat alone), oldest first, until done or the cloud fails.

        Parameters
        ----------
        status : dict
            Edge status for the heartbeat (rides in every batch).

        Returns
        -------
        UploadOutcome
            Counts, newly quarantined items, and the error that stopped the round (None when all went).
        """
        out = UploadOutcome()
        self._search_budget = _FAULT_SEARCH_BUDGET
        listing = self._spool.items()
        held_back = [item for item in listing if item.path in self._failing]
        pending = [item for item in listing if item.path not in self._failing]
        stalled = False
        try:
            while pending or not out.heartbeat_delivered:
                taken, consumed, body = self._pack(pending, status, out)
                pending = pending[consumed:]
                if not taken and out.heartbeat_delivered:
                    if consumed and pending:
                        continue  # only corrupt items were met; go on with the rest
                    break
                try:
                    acked = self._post(body, out)
                except CloudRetryLater as err:
                    if not taken or not err.server_fault or not self._accepts_heartbeat(status, out):
                        raise
                    log.warning("cloud failed on a batch of %d (%s) but takes a heartbeat; looking for the "
                                "reading it fails on", len(taken), err)
                    self._isolate(taken, status, err, out)
                    continue
                except CloudRejected as err:
                    if not taken:
                        out.error = f"cloud refused the heartbeat: {err}"
                        log.error("%s", out.error)
                        return out
                    if not self._accepts_heartbeat(status, out):
                        out.error = (f"cloud refuses every request, even a heartbeat alone ({err}): check "
                                     f"cloud.url and that the function lets the Pi call it; nothing was dropped")
                        log.error("%s", out.error)
                        return out
                    log.warning("cloud refused a batch of %d (%s); isolating the bad item", len(taken), err)
                    self._isolate(taken, status, err, out)
                    continue
                if not self._settle(taken, acked, out):
                    stalled = True
                    break
            if not stalled:
                self._retry_held_back(held_back, status, out)
        except CloudRetryLater as err:
            out.error = str(err)
            out.retry_after_s = err.retry_after_s
            log.warning("upload stopped, will retry later: %s", err)
        self._judge_failures(out)
        return out

    def _retry_held_back(self, held_back: list[SpoolItem], status: dict[str, Any], out: UploadOutcome) -> None:
        """Send each reading the cloud failed on before alone, after the others, so it holds up nothing."""
        for item in held_back:
            taken, _consumed, body = self._pack([item], status, out)
            if not taken:
                continue  # corrupt or too large: quarantined by _pack
            try:
                acked = self._post(body, out)
            except CloudRejected as err:
                self._isolate(taken, status, err, out)
                continue
            except CloudRetryLater as err:
                if not err.server_fault:
                    raise
                out.failed_alone.append((item, str(err)))
                continue
            if self._settle(taken, acked, out):
                log.info("the cloud took %s, which it had failed on before", os.path.basename(item.path))

    def _judge_failures(self, out: UploadOutcome) -> None:
        """Count this round's lone failures, but only when other readings went through (else: an outage)."""
        if not out.failed_alone:
            return
        if not out.acked:
            if out.error is None:
                out.error = (f"the cloud took a heartbeat but failed on each of the {len(out.failed_alone)} "
                             f"reading(s) sent (last: {out.failed_alone[-1][1]}): treated as an outage, "
                             f"everything kept for the next run")
            log.warning("%s", out.error)
            return
        now = self._clock.time()
        for item, error in out.failed_alone:
            if self._failing.failed(item.path, error, now):
                reason = self._failing.describe(item.path)
                out.quarantined.append(self._spool.quarantine(item.path, reason))
                self._failing.forget(item.path)
            else:
                log.warning("the cloud failed on %s alone while it took other readings (%s); it is held back "
                            "and retried alone", os.path.basename(item.path), error)

    def heartbeat(self, status: dict[str, Any]) -> UploadOutcome:
        """Send the status alone (no snapshots): the runner's way to learn the cloud's time before it judges ages.

        Parameters
        ----------
        status : dict
            Edge status for the heartbeat.

        Returns
        -------
        UploadOutcome
            ``heartbeat_delivered``, the measured clock offset, and the error when the cloud refused or failed.
        """
        out = UploadOutcome()
        _taken, _consumed, body = self._pack([], status, out)
        try:
            self._post(body, out)
        except CloudRejected as err:
            out.error = f"cloud refused the heartbeat: {err}"
            log.error("%s", out.error)
        except CloudRetryLater as err:
            out.error = str(err)
            out.retry_after_s = err.retry_after_s
            log.warning("heartbeat failed, will retry later: %s", err)
        return out

    def _settle(self, taken: list[tuple[SpoolItem, str]], acked: set[str], out: UploadOutcome) -> bool:
        """Delete acknowledged items; False when the cloud left some unacknowledged (stop this round)."""
        done = [item for item, sha in taken if sha in acked]
        self._spool.delete(done)
        out.acked += len(done)
        missing = len(taken) - len(done)
        if missing:
            # Not a success: a cloud that keeps leaving an item out would otherwise stall the spool behind it
            # while the status says "upload OK".
            out.error = (f"cloud left {missing} of {len(taken)} snapshots unacknowledged; they stay in the "
                         f"spool for the next run")
            log.warning("%s", out.error)
        return missing == 0

    def _accepts_heartbeat(self, status: dict[str, Any], out: UploadOutcome) -> bool:
        """True when a body without snapshots goes through: only then can a refusal be an item's fault.

        A 403 (the function's invoker permission), 404 or 405 (a wrong ``cloud.url``) refuses every request;
        blaming the items would quarantine the whole spool.
        """
        _taken, _consumed, body = self._pack([], status, out)
        try:
            self._post(body, out)
        except CloudRejected:
            return False
        return True

    def _isolate(self, taken: list[tuple[SpoolItem, str]], status: dict[str, Any],
                 err: CloudRejected | CloudRetryLater, out: UploadOutcome) -> None:
        """Split a batch the cloud refused (4xx) or failed on (5xx, while it takes a heartbeat) in halves.

        Halves that go through are settled and a 4xx half is searched on as a refusal, until the offending item
        is alone: a refused one is quarantined, one the cloud fails on alone is held in ``out.failed_alone``
        (judged by :meth:`_judge_failures`). A 5xx half goes on being searched only in a 5xx search, and only
        for ``_FAULT_SEARCH_BUDGET`` failed requests a round; otherwise it stops the round (retry later,
        nothing set aside), so a cloud failing on every reading costs a handful of requests.
        """
        if len(taken) == 1:
            item = taken[0][0]
            if isinstance(err, CloudRejected):
                out.quarantined.append(self._spool.quarantine(item.path, f"cloud refused it: {err}"))
            else:
                out.failed_alone.append((item, str(err)))
            return
        mid = len(taken) // 2
        for half in (taken[:mid], taken[mid:]):
            packed, _consumed, body = self._pack([i for i, _s in half], status, out)
            if not packed:
                continue
            try:
                acked = self._post(body, out)
            except CloudRejected as sub:
                self._isolate(packed, status, sub, out)
                continue
            except CloudRetryLater as sub:
                if isinstance(err, CloudRejected) or not sub.server_fault:
                    raise
                self._search_budget -= 1
                if self._search_budget <= 0:
                    raise
                self._isolate(packed, status, sub, out)
                continue
            self._settle(packed, acked, out)

    def _pack(self, pending: list[SpoolItem], status: dict[str, Any],
              out: UploadOutcome) -> tuple[list[tuple[SpoolItem, str]], int, bytes]:
        """Compress as many pending items as fit; returns (items with sha256, items consumed, gzip body)."""
        comp = zlib.compressobj(6, zlib.DEFLATED, 31)
        head = json.dumps({"schema": 1, "site": self._cfg.site,
                           "edge": {"version": self._version, "status": status}}, separators=(",", ":"))
        chunks = [comp.compress(head[:-1].encode("utf-8") + b',"snapshots":[')]
        gz_len = len(chunks[0])
        plain_len = len(head)
        taken: list[tuple[SpoolItem, str]] = []
        consumed = 0
        for item in pending:
            if len(taken) >= self._cfg.batch_max_snapshots:
                break
            try:
                meta, obj = self._spool.read(item)
            except SpoolCorrupt as err:
                out.quarantined.append(self._spool.quarantine(item.path, f"corrupt spool file: {err}"))
                consumed += 1
                continue
            piece = (b"," if taken else b"") + obj
            if taken and plain_len + len(piece) > _MAX_PLAIN_BYTES:
                break
            before = comp.copy()
            chunk = comp.compress(piece) + comp.flush(zlib.Z_SYNC_FLUSH)
            if gz_len + len(chunk) + _GZIP_TAIL_BYTES > self._cfg.batch_max_bytes:
                comp = before
                if taken:
                    break
                reason = f"too large for one upload ({len(chunk)} bytes gzip > cloud.batch_max_bytes)"
                out.quarantined.append(self._spool.quarantine(item.path, reason))
                consumed += 1
                continue
            chunks.append(chunk)
            gz_len += len(chunk)
            plain_len += len(piece)
            taken.append((item, meta["sha256"]))
            consumed += 1
        chunks.append(comp.compress(b"]}") + comp.flush())
        return taken, consumed, b"".join(chunks)

    def _post(self, body: bytes, out: UploadOutcome) -> set[str]:
        """POST one signed body; returns the acknowledged sha256 set or raises CloudRejected/CloudRetryLater."""
        timestamp = str(int(self._clock.time()))
        headers = {
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "X-Sentinel-Timestamp": timestamp,
            "X-Sentinel-Signature": sign(self._cfg.secret, timestamp, body),
            "X-Sentinel-Site": self._cfg.site,
        }
        out.requests += 1
        out.bytes_sent += len(body)
        t = self._cfg.timeout_s
        try:
            resp = self._session.post(self._cfg.url, data=body, headers=headers, timeout=(t, t))
        except requests.Timeout as err:
            raise CloudRetryLater(f"cloud did not answer within {t:g} s") from err
        except requests.RequestException as err:
            raise CloudRetryLater(f"cannot reach the cloud: {str(err)[:200]}") from err
        with resp:
            received_at = self._clock.time()
            offset_s = offset_from_date(resp.headers.get("Date"), received_at)
            if offset_s is not None:
                out.clock_offset_s, out.clock_offset_at = offset_s, received_at
            return self._ack(resp, out)

    def _ack(self, resp: requests.Response, out: UploadOutcome) -> set[str]:
        code = resp.status_code
        text = resp.text[:200].strip()
        if code == 200:
            try:
                doc = resp.json()
                acked = set(doc.get("accepted", [])) | set(doc.get("duplicates", []))
            except (ValueError, TypeError, AttributeError) as err:
                raise CloudRetryLater(f"cloud answered 200 without a readable acknowledgement: {text!r}") from err
            out.heartbeat_delivered = True
            return acked
        if code in (408, 429) or code >= 500:
            raise CloudRetryLater(f"cloud answered HTTP {code}: {text}", self._retry_after(resp), code)
        if code == 401:
            if out.clock_offset_s is not None and abs(out.clock_offset_s) > _SIGNATURE_WINDOW_S:
                raise CloudRetryLater(
                    f"cloud refused the request's timestamp (HTTP 401): the Pi's clock is off by about "
                    f"{describe_span(out.clock_offset_s)} ({out.clock_offset_s:+.0f} s) compared with the cloud's "
                    f"Date, more than the {_SIGNATURE_WINDOW_S:.0f} s allowed: check time sync (timedatectl): "
                    f"{text}", self._retry_after(resp))
            raise CloudRetryLater(f"cloud refused the signature (HTTP 401): check that the Pi's "
                                  f"secret (cloud.secret_file) holds exactly what the cloud has, and the Pi's clock: "
                                  f"{text}", self._retry_after(resp))
        if 400 <= code < 500:
            raise CloudRejected(f"HTTP {code}: {text}", code)
        raise CloudRetryLater(f"cloud answered unexpected HTTP {code}")

    def _retry_after(self, resp: requests.Response) -> float | None:
        value = resp.headers.get("Retry-After")
        if not value:
            return None
        value = value.strip()
        if value.isdigit():
            return float(value)
        from email.utils import parsedate_to_datetime  # rarely needed: keep start-up light

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        return max(0.0, when.timestamp() - self._clock.time())
