"""The spool: raw PVS6 answers waiting for the cloud's acknowledgement, one file per poll.

Each item is ``spool/<UTC stamp>.json`` (older ones gzip-compressed to ``.json.gz``) holding exactly the snapshot
object of the upload contract, with the PVS6 bytes spliced in unchanged::

    {"captured_at":"2025-09-12T21:11:15Z","source":"dl_cgi","sha256":"<hex of the raw bytes>","payload":<raw>}

so an upload splices files into the body without re-encoding, and reading an item re-hashes the payload: a torn
or altered file (power cut, SD card rot, bad gzip CRC) is detected, moved to ``quarantine/`` and never uploaded.
The spool is bounded by size and age; before anything would be dropped the heartbeat carries a loud warning,
and dropped items still live in the raw archive.
"""

from __future__ import annotations

import calendar
import gzip
import logging
import os
import re
import time
import zlib
from pathlib import Path
from typing import NamedTuple

from pvs6_edge.clock import stamp_utc
from pvs6_edge.config import StorageConfig
from pvs6_edge.envelope import decode_item, encode_item
from pvs6_edge.errors import SpoolCorrupt, StorageError
from pvs6_edge.fsio import atomic_write, fsync_dir

__all__ = ["Spool", "SpoolItem", "decode_item", "encode_item"]

log = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^(\d{8}T\d{6}Z)(?:-(\d+))?\.json(\.gz)?$")
_DAY_S = 86400.0
_MIB = 1024 * 1024


class SpoolItem(NamedTuple):
    """One spooled snapshot file; ``stamp`` and ``seq`` (collision counter) order it, oldest first."""

    stamp: str
    seq: int
    path: str
    size_bytes: int

    @property
    def captured_ts(self) -> float:
        """Capture time from the file name [unix s]."""
        return float(calendar.timegm(time.strptime(self.stamp, "%Y%m%dT%H%M%SZ")))


def _key(item: SpoolItem) -> tuple[str, int]:
    return item.stamp, item.seq


class Spool:
    """The spool and quarantine folders under ``storage.dir``.

    Parameters
    ----------
    limits : StorageConfig
        Folder and size/age limits.
    """

    def __init__(self, limits: StorageConfig) -> None:
        self.limits = limits
        self.dir = limits.dir / "spool"
        self.quarantine_dir = limits.dir / "quarantine"
        self._listing: list[SpoolItem] | None = None  # valid while this process holds the run lock

    def ensure_dirs(self) -> None:
        """Create the folders and forget any cached listing (raises ``StorageError``)."""
        self._listing = None
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StorageError(f"cannot create {self.dir}: {err.strerror or err}") from err

    def put(self, raw: bytes, source: str, captured_ts: float) -> Path:
        """Spool one raw answer atomically; never overwrites an item (a clock jump may repeat a stamp).

        Parameters
        ----------
        raw : bytes
            The PVS6 JSON exactly as received (or merged, for varserver).
        source : str
            ``dl_cgi`` or ``varserver``.
        captured_ts : float
            When it was captured [unix s].

        Returns
        -------
        Path
            The new spool file.
        """
        stamp = stamp_utc(captured_ts)
        seq = 0
        while True:
            path = self.dir / (f"{stamp}.json" if seq == 0 else f"{stamp}-{seq}.json")
            if not path.exists() and not path.with_name(path.name + ".gz").exists():
                break
            seq += 1
        data = encode_item(raw, source, captured_ts)
        atomic_write(path, data)
        item = SpoolItem(stamp, seq, str(path), len(data))
        if self._listing is not None and (not self._listing or _key(self._listing[-1]) < _key(item)):
            self._listing.append(item)
        else:
            self._listing = None
        return path

    def items(self) -> list[SpoolItem]:
        """All spooled items, oldest first (a leftover ``.json`` beside its ``.json.gz`` is dropped)."""
        if self._listing is None:
            self._listing = self._scan()
        return list(self._listing)

    def _scan(self) -> list[SpoolItem]:
        found: dict[tuple[str, int], SpoolItem] = {}
        try:
            entries = list(os.scandir(self.dir))
        except FileNotFoundError:
            return []
        except OSError as err:
            raise StorageError(f"cannot list {self.dir}: {err.strerror or err}") from err
        for entry in entries:
            match = _NAME_RE.match(entry.name)
            if not match:
                continue
            key = (match.group(1), int(match.group(2) or 0))
            item = SpoolItem(key[0], key[1], entry.path, entry.stat().st_size)
            other = found.get(key)
            if other is not None:  # a crash between compressing and unlinking: both copies are whole
                keep, drop = (item, other) if item.path.endswith(".gz") else (other, item)
                self._unlink(drop.path)
                item = keep
            found[key] = item
        return sorted(found.values(), key=_key)

    def read(self, item: SpoolItem) -> tuple[dict[str, str], bytes]:
        """Read and verify one item; returns (metadata, snapshot object bytes).

        Raises
        ------
        SpoolCorrupt
            The file is torn, altered, a bad gzip stream or unreadable: the caller quarantines it.
        """
        try:
            with open(item.path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError as err:
            raise StorageError(f"cannot read {item.path}: {err.strerror or err}") from err
        except OSError as err:  # an SD card read error (EIO) on this file must not block every later upload
            raise SpoolCorrupt(f"unreadable: {err.strerror or err}") from err
        if item.path.endswith(".gz"):
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError, zlib.error) as err:
                raise SpoolCorrupt(f"bad gzip stream: {err}") from err
        return decode_item(data)

    def delete(self, items: list[SpoolItem]) -> None:
        """Remove acknowledged items, with one folder fsync for all of them.

        An unlink lost to a power cut only brings an item back; the cloud then reports it as a duplicate.
        """
        for item in items:
            self._unlink(Path(item.path), durable=False)
        fsync_dir(self.dir)

    def quarantine(self, path: Path | str, reason: str) -> dict[str, str]:
        """Move a file out of the spool so it is never uploaded; returns a record for the heartbeat."""
        path = Path(path)
        target = self.quarantine_dir / path.name
        n = 1
        while target.exists():
            target = self.quarantine_dir / f"{path.name}.{n}"
            n += 1
        self._listing = None
        try:
            os.replace(path, target)
            target.with_name(target.name + ".reason").write_text(reason + "\n", encoding="utf-8")
        except OSError as err:
            raise StorageError(f"cannot quarantine {path}: {err.strerror or err}") from err
        fsync_dir(self.dir)
        log.error("quarantined %s: %s", path.name, reason)
        self._trim_quarantine()
        return {"name": path.name, "reason": reason}

    def quarantine_count(self) -> int:
        """How many files sit in quarantine."""
        try:
            return sum(1 for e in os.scandir(self.quarantine_dir) if not e.name.endswith(".reason"))
        except OSError:
            return 0

    def compress_older(self) -> int:
        """Gzip every plain item but the newest, oldest first; returns how many were compressed."""
        listing = self.items()
        plain = [n for n, i in enumerate(listing) if not i.path.endswith(".gz")][:-1]
        for n in plain:
            item = listing[n]
            try:
                with open(item.path, "rb") as fh:
                    packed = gzip.compress(fh.read(), mtime=0)
            except OSError as err:
                raise StorageError(f"cannot read {item.path}: {err.strerror or err}") from err
            atomic_write(Path(item.path + ".gz"), packed)
            self._unlink(Path(item.path), durable=False)  # if lost, items() drops the plain twin
            listing[n] = SpoolItem(item.stamp, item.seq, item.path + ".gz", len(packed))
        self._listing = listing
        return len(plain)

    def enforce_limits(self, age_now: float | None) -> tuple[list[str], int]:
        """Warn near the size/age limits; past them drop the oldest items (they stay in the archive).

        Parameters
        ----------
        age_now : float or None
            The time ages are judged against [unix s] (``clock.judge_clock``); None while the Pi's clock is
            off: then nothing is dropped or warned about by age (a clock jumped forward would drop everything),
            only the size cap, which protects the SD card, applies.

        Returns
        -------
        tuple[list[str], int]
            Warnings for the heartbeat, and how many items were dropped.
        """
        lim = self.limits
        items = self.items()
        total = sum(i.size_bytes for i in items)
        max_age_s = lim.spool_max_age_days * _DAY_S
        horizon = -float("inf") if age_now is None else age_now - max_age_s
        dropped = 0
        while items and (total > lim.spool_max_bytes or items[0].captured_ts < horizon):
            victim = items.pop(0)
            self._unlink(Path(victim.path), durable=False)
            total -= victim.size_bytes
            dropped += 1
        if dropped:
            fsync_dir(self.dir)
        self._listing = items
        warnings = []
        if dropped:
            msg = (f"DATA DROPPED: {dropped} oldest spool item(s) removed, spool over storage.spool_max_bytes "
                   f"or spool_max_age_days (copies remain in the archive)")
            log.error("%s", msg)
            warnings.append(msg)
        if total >= lim.spool_warn_fraction * lim.spool_max_bytes:
            warnings.append(f"spool at {100 * total / lim.spool_max_bytes:.0f}% of storage.spool_max_bytes "
                            f"({total / _MIB:.1f} of {lim.spool_max_bytes / _MIB:.0f} MiB): the oldest items "
                            f"will be dropped at 100%; is the cloud reachable?")
        if items and age_now is not None and age_now - items[0].captured_ts >= lim.spool_warn_fraction * max_age_s:
            age_d = (age_now - items[0].captured_ts) / _DAY_S
            warnings.append(f"oldest spool item is {age_d:.1f} days old; items older than "
                            f"{lim.spool_max_age_days:g} days (storage.spool_max_age_days) will be dropped")
        for msg in warnings[1 if dropped else 0:]:
            log.warning("%s", msg)
        return warnings, dropped

    def _trim_quarantine(self) -> None:
        files = sorted((e for e in os.scandir(self.quarantine_dir) if not e.name.endswith(".reason")),
                       key=lambda e: e.stat().st_mtime)
        for entry in files[: max(0, len(files) - self.limits.quarantine_max_files)]:
            self._unlink(Path(entry.path))
            self._unlink(Path(entry.path + ".reason"))

    def _unlink(self, path: Path | str, durable: bool = True) -> None:
        path = Path(path)
        self._listing = None
        try:
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as err:
            raise StorageError(f"cannot remove {path}: {err.strerror or err}") from err
        if durable:
            fsync_dir(path.parent)
