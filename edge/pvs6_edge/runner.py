"""One edge run: take the lock, collect one snapshot gently, upload with backoff, remember what happened.

This is the only place that ties config, state, PVS client, spool, archive and uploader together; each of
those does one job and knows nothing of the others. Side effects come in through the constructor (clock,
session factory, random source) so tests can run a simulated week in milliseconds.
``requests`` is imported lazily: ``pvs6-edge status`` over SSH needs only the standard library.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pvs6_edge import __version__
from pvs6_edge.archive import Archive
from pvs6_edge.clock import (
    EARLIEST_PLAUSIBLE_TS,
    Clock,
    ClockVerdict,
    SystemClock,
    describe_span,
    iso_utc,
    judge_clock,
)
from pvs6_edge.config import EdgeConfig
from pvs6_edge.errors import PvsError, PvsRefusing, SpoolCorrupt, StorageError
from pvs6_edge.failing import FailingItems
from pvs6_edge.housekeeping import sweep_leftovers
from pvs6_edge.lock import run_lock
from pvs6_edge.spool import Spool
from pvs6_edge.state import EdgeState, load_state, save_state
from pvs6_edge.status import build_status

if TYPE_CHECKING:
    import requests

    from pvs6_edge.upload import UploadOutcome

# build_status is re-exported: callers have always found it here.
__all__ = ["EdgeRunner", "RunResult", "build_status"]

log = logging.getLogger(__name__)

_DAY_S = 86400.0
_ROOM_MARGIN_BYTES = 256 * 1024  # freed beyond a write's own size when the disk is full (state, archive copy)
_T = TypeVar("_T")


@dataclass(slots=True)
class RunResult:
    """What a run did: ``collect`` is ok | skipped | failed | not-run; ``upload`` is ok | backoff | failed."""

    busy: bool = False
    collect: str = "not-run"
    upload: str = "not-run"
    snapshots_acked: int = 0
    upload_requests: int = 0
    upload_bytes: int = 0


REFUSING_ADVICE_AFTER_S = 3600.0  # a 403 fit lasting this long is not passing by itself [s]
REFUSING_ADVICE = ("switch the PVS6's breaker off for a minute and on again (it takes about 10 minutes to come "
                   "back); that ends these fits")


class EdgeRunner:
    """Runs collect and/or upload under the run lock.

    Parameters
    ----------
    cfg : EdgeConfig
        The validated configuration.
    clock : Clock, optional
        Wall and monotonic clock (default: the system's).
    session_factory : callable, optional
        Returns a new ``requests.Session``-like object usable in a ``with`` (default: ``requests.Session``).
    rng : callable, optional
        Returns a float in [0, 1) for backoff jitter (default: ``random.random``).
    """

    def __init__(self, cfg: EdgeConfig, *, clock: Clock | None = None,
                 session_factory: Callable[[], requests.Session] | None = None,
                 rng: Callable[[], float] | None = None) -> None:
        self.cfg = cfg
        self.clock = clock or SystemClock()
        self._session_factory = session_factory
        self._rng = rng or random.random
        self.spool = Spool(cfg.storage)
        self.archive = Archive(cfg.storage)
        self.state_path = cfg.storage.dir / "state.json"
        self.lock_path = cfg.storage.dir / "lock"

    def execute(self, *, collect: bool, upload: bool, skip_backoff: bool = False) -> RunResult:
        """Run the requested steps; an overlapping run returns at once with ``busy=True``.

        ``skip_backoff`` uploads at once even while earlier failures asked to wait (``pvs6-edge run --now``): the owner
        who just fixed the config wants to see the first row, not wait hours for the backoff to end.

        Raises
        ------
        StorageError
            The storage folder cannot be written (the only failure that is not just logged).
        """
        result = RunResult()
        try:
            self.cfg.storage.dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StorageError(f"cannot create {self.cfg.storage.dir}: {err.strerror or err}") from err
        with run_lock(self.lock_path) as held:
            if not held:
                log.info("another pvs6-edge run holds %s; exiting quietly", self.lock_path)
                result.busy = True
                return result
            state = load_state(self.state_path)
            self.spool.ensure_dirs()
            failures: list[StorageError] = []
            # A full or failing SD card must not stop the upload (which frees space) nor the heartbeat that
            # tells the owner: storage errors of the steps before the upload are recorded, then the run goes on.
            try:
                records, _removed = sweep_leftovers(self.cfg.storage.dir, self.spool)
                state.unreported_quarantine.extend(records)
            except StorageError as err:
                self._storage_failed(state, err, failures)
            with self._new_session() as session:
                if collect:
                    try:
                        result.collect = self._collect(session, state)
                    except StorageError as err:
                        self._storage_failed(state, err, failures)
                        result.collect = "failed"
                verdict = self._judge_clock(state)
                self._maintain(state, failures, verdict)
                now = self.clock.time()
                if now < EARLIEST_PLAUSIBLE_TS:
                    state.warnings.insert(0, f"the Pi's clock is not set (it says {iso_utc(now)}): no readings "
                                             f"are taken until network time sets it")
                if not failures and state.storage_error is not None:
                    log.info("storage writable again (after: %s)", state.storage_error)
                    state.storage_error = state.storage_error_at = None
                if upload:
                    self._upload(session, state, result, verdict, ignore_backoff=skip_backoff)
            self._save_state(state)
        return result

    def _save_state(self, state: EdgeState) -> None:
        self._with_room(lambda: save_state(self.state_path, state), 0)

    def _with_room(self, write: Callable[[], _T], size_bytes: int) -> _T:
        """Run a write; when the disk is full, let the oldest archive files go and try once more.

        Raises
        ------
        StorageError
            The write failed for another reason, or still fails with nothing left to free.
        """
        try:
            return write()
        except StorageError as err:
            if not err.disk_full or not self.archive.make_room(2 * size_bytes + _ROOM_MARGIN_BYTES):
                raise
            log.warning("disk full (%s): the oldest archive files gave way; writing again", err)
            return write()

    def _storage_failed(self, state: EdgeState, err: StorageError, failures: list[StorageError]) -> None:
        failures.append(err)
        if state.storage_error is None:
            log.error("storage error (the upload and heartbeat still go): %s", err)
        else:
            log.info("storage still failing: %s", err)
        state.storage_error = str(err)
        state.storage_error_at = self.clock.time()

    def status(self) -> dict[str, Any]:
        """The current status without taking the lock (read-only, for ``pvs6-edge status``)."""
        return build_status(load_state(self.state_path), self.spool, self.clock.time())

    def _new_session(self) -> requests.Session:
        if self._session_factory is not None:
            return self._session_factory()
        import requests

        session = requests.Session()
        session.headers["User-Agent"] = f"pvs6-edge/{__version__}"
        return session

    def _collect(self, session: requests.Session, state: EdgeState) -> str:
        from pvs6_edge.pvs import PvsClient

        now = self.clock.time()
        last = state.last_poll_at
        if now < EARLIEST_PLAUSIBLE_TS:
            log.error("the Pi's clock says %s: not set yet (no network time?); not polling the PVS6 until it "
                      "is, a reading would be misdated", iso_utc(now))
            return "skipped"
        if last is not None and now < last:
            log.warning("clock went backwards by %.0f s since the last poll; polling anyway", last - now)
        elif last is not None and now - last < self.cfg.pvs.min_interval_s:
            log.info("last poll was %.0f s ago (pvs.min_interval_s = %g); not polling the PVS6 now",
                     now - last, self.cfg.pvs.min_interval_s)
            return "skipped"
        state.last_poll_at = now
        self._save_state(state)  # a run killed mid-poll still counts as a poll
        started = self.clock.monotonic()
        try:
            fetched = PvsClient(session, self.cfg.pvs, self.clock).fetch(self.cfg.pvs.api, state.api)
        except PvsError as err:
            self._pvs_failed(state, now, err)
            return "failed"
        captured = self.clock.time()
        spooled = self._with_room(lambda: self.spool.put(fetched.raw, fetched.source, captured), len(fetched.raw))
        try:
            self._with_room(lambda: self.archive.put(fetched.raw, captured), len(fetched.raw))
        except StorageError as err:
            log.error("archive write failed (the snapshot is safe in the spool): %s", err)
        self._record_history(fetched.raw, fetched.source, captured, str(spooled))
        if state.pvs_failing_since is not None:
            log.info("PVS6 answers again after %.0f min", max(0.0, captured - state.pvs_failing_since) / 60)
        state.pvs_failing_since = None
        state.last_pvs_contact_at = captured
        if self.cfg.pvs.api == "auto":
            state.api = fetched.source
        log.info("collected a %s snapshot (%d bytes) in %.1f s", fetched.source, len(fetched.raw),
                 self.clock.monotonic() - started)
        return "ok"

    def _record_history(self, raw: bytes, source: str, captured: float, spooled: str) -> None:
        """Add the reading to the owner's CSV history, after any spooled one a killed run left out; never fatal."""
        import json

        from pvs6_edge.history import History, local_zone

        history = History(self.cfg.storage.dir, self.cfg.cloud.site, local_zone(self.cfg.history.timezone))
        try:
            newest = history.newest_ts()
            for item in self.spool.items():
                if item.path == spooled or (newest is not None and item.captured_ts < newest):  # same second: deduped
                    continue
                try:
                    meta, obj = self.spool.read(item)
                    payload = json.loads(obj)["payload"]
                except (SpoolCorrupt, ValueError):
                    continue  # the upload quarantines a corrupt item; an odd payload stays in the archive
                history.record(payload, meta["source"], item.captured_ts, meta["sha256"])
            history.record_raw(raw, source, captured)
        except StorageError as err:
            log.error("history write failed (the reading is safe in the spool and archive): %s", err)

    def _pvs_failed(self, state: EdgeState, now: float, err: PvsError) -> None:
        advised = REFUSING_ADVICE in (state.last_pvs_error or "")
        state.last_pvs_error = f"{type(err).__name__}: {err}"
        state.last_pvs_error_at = now
        if state.pvs_failing_since is None:
            state.pvs_failing_since = now
            log.warning("PVS6 did not answer: %s", state.last_pvs_error)
        elif isinstance(err, PvsRefusing) and now - state.pvs_failing_since >= REFUSING_ADVICE_AFTER_S:
            # The message travels in the heartbeat into the cloud's alert: it must say what helps.
            state.last_pvs_error += (f". It has refused for {describe_span(now - state.pvs_failing_since)}: "
                                     f"{REFUSING_ADVICE}")
            (log.info if advised else log.warning)("%s", state.last_pvs_error)
        else:
            log.info("PVS6 still not answering (since %s): %s", iso_utc(state.pvs_failing_since),
                     state.last_pvs_error)

    def _maintain(self, state: EdgeState, failures: list[StorageError], verdict: ClockVerdict) -> None:
        """Compress, bound the spool, prune the archive; each step runs even when another one failed."""
        now = self.clock.time()
        try:
            self.spool.compress_older()
        except StorageError as err:
            self._storage_failed(state, err, failures)
        last = state.last_archive_prune_at
        self._apply_limits(state, failures, verdict.age_now,
                           prune_archive=last is None or now - last >= _DAY_S or now < last)

    def _apply_limits(self, state: EdgeState, failures: list[StorageError], age_now: float | None, *,
                      prune_archive: bool) -> None:
        """Bound the spool and (when due) prune the archive, judging ages against ``age_now`` (None: size only)."""
        try:
            warnings, dropped = self.spool.enforce_limits(age_now)
            state.warnings = warnings
            state.dropped_total += dropped
        except StorageError as err:
            self._storage_failed(state, err, failures)
        if prune_archive:
            try:
                self.archive.prune(age_now)
                state.last_archive_prune_at = self.clock.time()
            except StorageError as err:
                self._storage_failed(state, err, failures)

    def _judge_clock(self, state: EdgeState) -> ClockVerdict:
        """Judge the wall clock from the last measured offset; log once when it goes off and when it is right again.

        The one ERROR line and the warning in every status/heartbeat are the owner's cue to fix time sync; while
        the clock is off nothing is deleted by age (see ``clock.judge_clock``).
        """
        verdict = judge_clock(self.clock.time(), state.clock_offset_s, state.clock_offset_at, self._newest_item_ts)
        if verdict.problem is not None and state.clock_problem is None:
            log.error("%s", verdict.problem)
            state.clock_problem_since = self.clock.time()
        elif verdict.problem is None and state.clock_problem is not None:
            log.info("the Pi's clock agrees with the cloud again (offset %+.0f s); deleting by age resumes",
                     state.clock_offset_s or 0.0)
            state.clock_problem_since = None
        state.clock_problem = verdict.problem
        return verdict

    def _newest_item_ts(self) -> float | None:
        """Capture time of the newest stored reading (spool or archive) [unix s], for the clock's sanity check."""
        try:
            items = self.spool.items()
        except StorageError:
            items = []
        found = [t for t in (items[-1].captured_ts if items else None, self.archive.newest_ts()) if t is not None]
        return max(found, default=None)

    def _upload(self, session: requests.Session, state: EdgeState, result: RunResult,
                verdict: ClockVerdict, *, ignore_backoff: bool = False) -> None:
        from pvs6_edge.upload import Uploader

        cloud = self.cfg.cloud
        now = self.clock.time()
        if state.next_upload_at is not None and ignore_backoff:
            log.info("uploading now (--now), without waiting for the backoff after %d failed upload(s)",
                     state.upload_failures)
        elif state.next_upload_at is not None:
            wait_s = state.next_upload_at - now
            if wait_s > cloud.backoff_max_s + 60:
                log.warning("upload backoff ends %.0f s from now, beyond cloud.backoff_max_s: the clock "
                            "moved back; trying now", wait_s)
            elif wait_s > 0:
                log.info("cloud backoff: next upload attempt at %s", iso_utc(state.next_upload_at))
                result.upload = "backoff"
                return
        failing = FailingItems(state.failing_items)
        uploader = Uploader(session, cloud, self.spool, self.clock, __version__, failing)
        if state.clock_offset_s is not None and not verdict.confirmed:
            # The last clock check is too old to vouch for the local clock (the Pi was off, the cloud away, or
            # the clock jumped): ask the cloud's time with a heartbeat, then judge ages before sending snapshots,
            # so a long power-off still prunes by age as before and a jumped clock deletes nothing.
            probe = uploader.heartbeat(build_status(state, self.spool, now))
            if not self._settle_outcome(state, probe, result, now):
                return
            fresh = self._judge_clock(state)
            if fresh.age_now != verdict.age_now:
                self._apply_limits(state, [], fresh.age_now, prune_archive=True)
        status = build_status(state, self.spool, now)
        outcome = uploader.upload(status)
        failing.keep_only(item.path for item in self.spool.items())
        if self._settle_outcome(state, outcome, result, now):
            log.info("upload: %d snapshot(s) acknowledged in %d request(s), %d bytes", outcome.acked,
                     outcome.requests, outcome.bytes_sent)

    def _settle_outcome(self, state: EdgeState, outcome: UploadOutcome, result: RunResult, now: float) -> bool:
        """Record a round (counts, clock offset, quarantine, backoff); True when it went through without error."""
        result.snapshots_acked += outcome.acked
        result.upload_requests += outcome.requests
        result.upload_bytes += outcome.bytes_sent
        if outcome.clock_offset_s is not None:
            state.clock_offset_s = round(outcome.clock_offset_s, 3)
            state.clock_offset_at = outcome.clock_offset_at
            self._judge_clock(state)
        if outcome.heartbeat_delivered:
            state.unreported_quarantine = []
            state.last_upload_ok_at = now
        state.unreported_quarantine.extend(outcome.quarantined)
        cloud = self.cfg.cloud
        if outcome.error is None:
            state.upload_failures = 0
            state.next_upload_at = None
            result.upload = "ok"
            return True
        state.upload_failures += 1
        state.last_upload_error = outcome.error
        state.last_upload_error_at = now
        if outcome.retry_after_s is not None:
            delay_s = min(outcome.retry_after_s, cloud.backoff_max_s)
        else:
            full_s = min(cloud.backoff_max_s, cloud.backoff_base_s * 2 ** (state.upload_failures - 1))
            delay_s = full_s / 2 + self._rng() * full_s / 2
        state.next_upload_at = now + delay_s
        result.upload = "failed"
        log.warning("upload failed %d time(s) in a row; next attempt in %.0f s", state.upload_failures, delay_s)
        return False
