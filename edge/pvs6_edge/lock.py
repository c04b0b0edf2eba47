"""One run at a time: an exclusive, non-blocking ``flock`` on a file in the storage folder.

Cron or a timer may start a run while the previous one still waits on a slow PVS6; the second run must not
talk to the PVS6 too. The kernel drops the lock when the process dies, so a crash never leaves it stuck.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pvs6_edge.errors import StorageError

__all__ = ["run_lock"]


@contextmanager
def run_lock(path: Path) -> Iterator[bool]:
    """Hold the run lock while the ``with`` body runs.

    Parameters
    ----------
    path : Path
        The lock file (created if absent).

    Yields
    ------
    bool
        True when this process holds the lock, False when another run holds it (do nothing then).
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as err:
        raise StorageError(f"cannot open lock file {path}: {err.strerror or err}") from err
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
