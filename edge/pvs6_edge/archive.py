"""The raw archive on the Pi: every PVS6 answer as received, ``archive/YYYY/MM/<UTC stamp>.json.gz``.

This is the seed's "JSON file named by timestamp", kept apart from the spool: the spool empties as the cloud
acknowledges, the archive stays (for replay/backfill with ``pvs6-cloud replay``) until its own retention runs
out (default one year) or it outgrows ``storage.archive_max_bytes`` (oldest removed first).
Files hold the PVS6 bytes only; the source is evident from the content (DeviceList vs varserver names).
"""

from __future__ import annotations

import calendar
import gzip
import logging
import os
import time
from pathlib import Path

from pvs6_edge.clock import stamp_utc
from pvs6_edge.config import StorageConfig
from pvs6_edge.errors import StorageError
from pvs6_edge.fsio import TEMP_PREFIX, atomic_write

__all__ = ["Archive"]

log = logging.getLogger(__name__)


class Archive:
    """The archive folder under ``storage.dir``.

    Parameters
    ----------
    limits : StorageConfig
        Folder, retention [days] and size cap [bytes].
    """

    def __init__(self, limits: StorageConfig) -> None:
        self.limits = limits
        self.dir = limits.dir / "archive"

    def put(self, raw: bytes, captured_ts: float) -> Path:
        """Archive one raw answer (gzip, atomic); a repeated stamp gets a ``-N`` suffix, never overwrites.

        Parameters
        ----------
        raw : bytes
            The PVS6 answer.
        captured_ts : float
            Capture time [unix s].

        Returns
        -------
        Path
            The archive file.
        """
        stamp = stamp_utc(captured_ts)
        folder = self.dir / stamp[:4] / stamp[4:6]
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StorageError(f"cannot create {folder}: {err.strerror or err}") from err
        path = folder / f"{stamp}.json.gz"
        n = 1
        while path.exists():
            path = folder / f"{stamp}-{n}.json.gz"
            n += 1
        atomic_write(path, gzip.compress(raw, mtime=0))
        return path

    def prune(self, age_now: float | None) -> int:
        """Remove files past ``archive_retention_days`` or beyond ``archive_max_bytes``, oldest first.

        Parameters
        ----------
        age_now : float or None
            The time retention is judged against [unix s] (``clock.judge_clock``); None while the Pi's clock
            is off: then only the size cap applies (a clock jumped a year forward would delete a year of files).

        Returns
        -------
        int
            How many files were removed.
        """
        files: list[tuple[str, int, str]] = []
        for root, _dirs, names in os.walk(self.dir):
            for name in names:
                path = os.path.join(root, name)
                if name.startswith(TEMP_PREFIX):
                    _remove(path)
                    continue
                try:
                    files.append((name, os.stat(path).st_size, path))
                except OSError:
                    continue
        files.sort()
        total = sum(size for _n, size, _p in files)
        horizon = -float("inf") if age_now is None else age_now - self.limits.archive_retention_days * 86400.0
        removed = 0
        for name, size, path in files:
            if _stamp_ts(name) >= horizon and total <= self.limits.archive_max_bytes:
                break
            _remove(path)
            total -= size
            removed += 1
        if removed:
            log.info("archive: removed %d file(s) past retention or size limit", removed)
        return removed

    def make_room(self, needed_bytes: int) -> int:
        """Remove the oldest archived files until ``needed_bytes`` of disk are freed: new readings come first.

        Called when the disk is full; the archive is the only thing the edge keeps that a new reading outranks
        (its files are copies of readings the cloud already has, or still has in the spool).

        Parameters
        ----------
        needed_bytes : int
            Disk space to free [bytes].

        Returns
        -------
        int
            How many files were removed (0: the archive is empty).
        """
        files = sorted((name, path) for path, name in self._files())
        freed = removed = 0
        for _name, path in files:
            if freed >= needed_bytes:
                break
            try:
                freed += os.stat(path).st_blocks * 512
            except (OSError, AttributeError):
                freed += 4096
            _remove(path)
            removed += 1
        if removed:
            log.warning("disk full: removed the %d oldest archive file(s) (%d KiB) to keep new readings",
                        removed, freed // 1024)
        return removed

    def _files(self) -> list[tuple[str, str]]:
        """(path, name) of every archived file, temp files aside."""
        return [(os.path.join(root, name), name) for root, _dirs, names in os.walk(self.dir) for name in names
                if not name.startswith(TEMP_PREFIX)]

    def newest_ts(self) -> float | None:
        """Capture time of the newest archived file [unix s], looking only into the newest month's folder."""
        folder = self.dir
        for _level in ("year", "month"):
            try:
                subdirs = [e.name for e in os.scandir(folder) if e.is_dir() and e.name.isdigit()]
            except OSError:
                return None
            if not subdirs:
                return None
            folder = folder / max(subdirs)
        try:
            names = [n for n in os.listdir(folder) if not n.startswith(TEMP_PREFIX)]
        except OSError:
            return None
        return _stamp_ts(max(names)) if names else None


def _stamp_ts(name: str) -> float:
    try:
        return float(calendar.timegm(time.strptime(name[:16], "%Y%m%dT%H%M%SZ")))
    except ValueError:
        return 0.0  # an odd name sorts and prunes as oldest


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    except OSError as err:
        raise StorageError(f"cannot remove {path}: {err.strerror or err}") from err
