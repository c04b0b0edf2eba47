"""Backfill: push a folder of archived raw PVS6 responses through the same pipeline as live uploads.

Two naming habits are understood: the edge's own archive (``20250912T211115Z.json`` or ``.json.gz``, UTC) and
the seed's curl one-liner (``20250912_211115.json``, the Pi's local time, taken in the site's zone). The source
API is recognised from the payload itself, so a folder may mix firmware generations. Because ingest is
idempotent, replaying a folder twice, or one that overlaps what the Pi already uploaded, adds no duplicates.

A file that cannot be read (torn, not JSON, not a PVS6 answer, a gzip bomb, a name whose time is no date or
is before any PVS6 existed) is skipped with its reason and counted; the rest of the folder still goes in.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from pvs6_cloud.infra.config import CloudConfig
from pvs6_cloud.intake.contract import (
    EARLIEST_CAPTURE,
    MAX_DECOMPRESSED_BYTES,
    MAX_SNAPSHOTS,
    GzipRefused,
    UploadBatch,
    UploadItem,
    gunzip_bounded,
)
from pvs6_cloud.intake.pipeline import Services, ingest_batch
from pvs6_parse import ParseError, parse_payload

__all__ = ["ReplayReport", "find_archive_files", "replay_folder"]

log = logging.getLogger(__name__)

_EDGE_NAME = re.compile(r"(\d{8}T\d{6})Z")
_SEED_NAME = re.compile(r"(\d{8})_(\d{6})")


@dataclass
class ReplayReport:
    """What a replay did, for the closing summary."""

    files: int = 0
    accepted: int = 0
    duplicates: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)


class Unreadable(Exception):
    """Why one archive file cannot be replayed (the replay skips it and goes on)."""


def stamp_from_name(path: Path, site_tz: tzinfo) -> datetime | None:
    """The capture time a file name carries (UTC for the edge's names, site-local for the seed's).

    Raises
    ------
    ValueError
        The name has the shape of a time but is no date (``20251399T...``).
    """
    if match := _EDGE_NAME.search(path.name):
        return datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    if match := _SEED_NAME.search(path.name):
        local = datetime.strptime(match.group(1) + match.group(2), "%Y%m%d%H%M%S").replace(tzinfo=site_tz)
        return local.astimezone(UTC)
    return None


def find_archive_files(folder: Path, site_tz: tzinfo,
                       misnamed: list[tuple[str, str]] | None = None) -> list[tuple[datetime, Path]]:
    """Every ``.json``/``.json.gz`` under ``folder`` whose name carries a time, oldest first.

    Files whose name looks like a time but is none are left out, and named with the reason in ``misnamed``.
    """
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and (path.name.endswith(".json") or path.name.endswith(".json.gz")):
            try:
                stamp = stamp_from_name(path, site_tz)
            except (ValueError, OverflowError) as err:
                if misnamed is not None:
                    misnamed.append((path.name, f"the time in its name is not a date ({err})"))
                continue
            if stamp is not None:
                found.append((stamp, path))
    return sorted(found)


def _source_of(payload: dict) -> str:
    return "varserver" if any(str(k).startswith("/sys/") for k in payload) else "dl_cgi"


def _load(path: Path) -> bytes:
    """The file's raw PVS6 bytes, inflated if gzipped, never more than an upload may carry (16 MiB)."""
    if path.stat().st_size > MAX_DECOMPRESSED_BYTES:
        raise Unreadable("larger than 16 MiB, more than any PVS6 answer")
    raw = path.read_bytes()
    if not path.name.endswith(".gz"):
        return raw
    try:
        return gunzip_bounded(raw, allow_trailing=True)
    except GzipRefused as err:
        raise Unreadable(f"{err}, more than any PVS6 answer" if err.too_large else str(err)) from err


def _read(path: Path, stamp: datetime, site: str) -> UploadItem:
    """One archive file as an upload item, or :class:`Unreadable` saying why not."""
    if stamp < EARLIEST_CAPTURE:
        raise Unreadable(f"the time in its name is before {EARLIEST_CAPTURE:%Y}, before any PVS6 existed")
    try:
        raw = _load(path)
        payload = json.loads(raw)
        if not isinstance(payload, dict):
            raise ParseError("not a JSON object")
        source = _source_of(payload)
        parse_payload(payload, source=source, site=site, captured_at=stamp)
    except Unreadable:
        raise
    except RecursionError as err:
        raise Unreadable("JSON nested too deep") from err
    except (OSError, EOFError, ValueError) as err:  # ParseError and JSON errors are ValueErrors
        raise Unreadable(str(err) or type(err).__name__) from err
    return UploadItem(stamp, source, hashlib.sha256(raw).hexdigest(), payload)


def _items(files: Iterable[tuple[datetime, Path]], site: str, report: ReplayReport) -> Iterator[UploadItem]:
    for stamp, path in files:
        report.files += 1
        try:
            item = _read(path, stamp, site)
        except Unreadable as err:
            log.warning("skipping %s: %s", path.name, err)
            report.skipped.append((path.name, str(err)))
            continue
        yield item


def replay_folder(
    folder: Path,
    site_id: str,
    config: CloudConfig,
    services: Services,
    *,
    batch_size: int = MAX_SNAPSHOTS,
    progress: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Ingest every archived response under ``folder`` for ``site_id``, in time order, in contract-size batches.

    Parameters
    ----------
    folder : Path
        The archive (searched recursively).
    site_id : str
        Which configured site the files belong to.
    config, services
        As for `ingest_batch`: the same pipeline as live uploads.
    batch_size : int
        Snapshots per batch (at most the contract's 500).
    progress : callable, optional
        Called with the number of files handled after each batch (for a progress bar).
    """
    site = config.site(site_id)
    report = ReplayReport()
    files = find_archive_files(folder, site.tz, report.skipped)
    report.files += len(report.skipped)
    for name, reason in report.skipped:
        log.warning("skipping %s: %s", name, reason)
    batch: list[UploadItem] = []

    def flush() -> None:
        if not batch:
            return
        result = ingest_batch(UploadBatch(site_id, "replay", {}, tuple(batch)), config, services)
        report.accepted += len(result.accepted)
        report.duplicates += len(result.duplicates)
        batch.clear()
        if progress:
            progress(report.files)

    for item in _items(files, site_id, report):
        batch.append(item)
        if len(batch) >= min(batch_size, MAX_SNAPSHOTS):
            flush()
    flush()
    if progress:
        progress(report.files)
    return report
