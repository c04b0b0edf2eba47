"""Housekeeping of the storage folder: leftovers of killed runs, and how much room the SD card has left.

A run killed mid-write (power cut, SIGKILL, OOM) leaves a ``.tmp-`` file wherever it was writing: the spool, the
archive, the state file's folder or any other file the edge keeps under ``storage.dir``. They are swept at the
start of each run, once old enough that no write still running (an ``export`` beside a run, a slow SD card) can
own them. A spool leftover may hold a whole reading (killed between the write and the rename), so it goes to
``quarantine/`` with its bytes; any other leftover is a copy of something still in place, and is removed.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from pvs6_edge.errors import StorageError
from pvs6_edge.fsio import TEMP_PREFIX
from pvs6_edge.spool import Spool

__all__ = ["DISK_FULL_BYTES", "TEMP_MIN_AGE_S", "free_bytes", "sweep_leftovers"]

log = logging.getLogger(__name__)

TEMP_MIN_AGE_S = 600.0  # a temp file younger than this may belong to a write still running [s]
DISK_FULL_BYTES = 1024 * 1024  # below this much free space a reading may not fit: the status says full [bytes]


def sweep_leftovers(root: Path, spool: Spool, min_age_s: float = TEMP_MIN_AGE_S) -> tuple[list[dict[str, str]], int]:
    """Clear temp files of interrupted writes anywhere under ``root`` (call while holding the run lock).

    Parameters
    ----------
    root : Path
        ``storage.dir``.
    spool : Spool
        Spool leftovers go to its quarantine.
    min_age_s : float
        Only files last written at least this long ago (by the file system's own clock) are touched [s].

    Returns
    -------
    tuple[list[dict], int]
        Quarantine records for the heartbeat, and how many other leftovers were removed.
    """
    records: list[dict[str, str]] = []
    removed = 0
    now = time.time()  # file times come from the system clock, so the age is judged against it too
    for folder, dirs, names in os.walk(root):
        if Path(folder) == root and spool.quarantine_dir.name in dirs:
            dirs.remove(spool.quarantine_dir.name)  # what is set aside there stays, whatever its name
        for name in names:
            if not name.startswith(TEMP_PREFIX):
                continue
            path = Path(folder) / name
            try:
                age_s = now - path.lstat().st_mtime  # the temp's own age, not a link target's
            except FileNotFoundError:
                continue  # its write just finished (renamed) or failed (removed)
            except OSError as err:
                raise StorageError(f"cannot inspect {path}: {err.strerror or err}") from err
            if age_s < min_age_s:
                continue
            if path.parent == spool.dir:
                records.append(spool.quarantine(path, "leftover temp file of an interrupted write"))
                continue
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as err:
                raise StorageError(f"cannot remove {path}: {err.strerror or err}") from err
            removed += 1
    if removed:
        log.info("removed %d leftover temp file(s) of interrupted writes", removed)
    return records, removed


def free_bytes(folder: Path) -> int | None:
    """Space left for ordinary writes on the file system holding ``folder`` [bytes]; None when unknown."""
    try:
        stats = os.statvfs(folder)
    except (OSError, AttributeError):  # AttributeError: no statvfs on this platform
        return None
    return stats.f_bavail * stats.f_frsize
