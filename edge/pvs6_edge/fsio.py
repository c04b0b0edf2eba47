"""Crash-safe file writes: a power cut at any point leaves either the whole new file or none.

The recipe: write a temp file in the same folder, flush and fsync it, ``os.replace`` it over the final name,
then fsync the folder so the rename itself is durable. Temp files carry a recognisable prefix so a run after a
crash can find leftovers and clear them out of the way.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from pvs6_edge.errors import StorageError

__all__ = ["TEMP_PREFIX", "atomic_write", "fsync_dir"]

TEMP_PREFIX = ".tmp-"


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably.

    Parameters
    ----------
    path : Path
        Final file name; its folder must exist.
    data : bytes
        The complete content.

    Raises
    ------
    StorageError
        The write failed (disk full, read-only file system); no partial file is left under ``path``.
    """
    tmp = path.with_name(f"{TEMP_PREFIX}{path.name}.{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise StorageError(f"cannot write {path}: {err.strerror or err}") from err


def fsync_dir(folder: Path) -> None:
    """Make a rename or unlink in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
