"""Spool and archive on disk: atomic writes under SIGKILL, torn files, compression, limits, retention."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pvs6_edge.archive import Archive
from pvs6_edge.config import StorageConfig
from pvs6_edge.errors import SpoolCorrupt
from pvs6_edge.fsio import TEMP_PREFIX
from pvs6_edge.housekeeping import sweep_leftovers
from pvs6_edge.spool import Spool, decode_item, encode_item

T0 = 1_757_711_475.0
MIB = 1024 * 1024


def _spool(tmp_path: Path, **limits) -> Spool:
    spool = Spool(StorageConfig(dir=tmp_path, **limits))
    spool.ensure_dirs()
    return spool


def test_envelope_keeps_raw_bytes_and_is_valid_json():
    raw = b'{"a": [1, 2],\n "b": "\xc3\xa9"}'
    data = encode_item(raw, "varserver", T0)
    doc = json.loads(data)
    assert doc["payload"] == {"a": [1, 2], "b": "é"} and doc["source"] == "varserver"
    meta, obj = decode_item(data)
    assert obj.endswith(raw + b"}") and meta["captured_at"] == "2025-09-12T21:11:15Z"
    for cut in (10, len(data) // 2, len(data) - 1):
        with pytest.raises(SpoolCorrupt):
            decode_item(data[:cut])


def test_older_items_are_gzipped_oldest_first_newest_stays_plain(tmp_path):
    spool = _spool(tmp_path)
    for n in range(4):
        spool.put(json.dumps({"n": n}).encode(), "dl_cgi", T0 + 60 * n)
    assert spool.compress_older() == 3
    names = [os.path.basename(i.path) for i in spool.items()]
    assert names == ["20250912T211115Z.json.gz", "20250912T211215Z.json.gz", "20250912T211315Z.json.gz",
                     "20250912T211415Z.json"]
    assert [json.loads(spool.read(i)[1])["payload"]["n"] for i in spool.items()] == [0, 1, 2, 3]


def test_crash_between_compress_and_unlink_leaves_one_item(tmp_path):
    spool = _spool(tmp_path)
    path = spool.put(b"{}", "dl_cgi", T0)
    Path(str(path) + ".gz").write_bytes(gzip.compress(path.read_bytes()))
    fresh = _spool(tmp_path)
    assert [os.path.basename(i.path) for i in fresh.items()] == ["20250912T211115Z.json.gz"]
    assert not path.exists()


def test_near_limit_warns_then_drops_oldest(tmp_path):
    spool = _spool(tmp_path, spool_max_bytes=MIB, spool_warn_fraction=0.5)
    blob = json.dumps({"x": "y" * 200_000}).encode()
    for n in range(3):
        spool.put(blob, "dl_cgi", T0 + n)
    warnings, dropped = spool.enforce_limits(T0 + 10)
    assert dropped == 0 and len(warnings) == 1 and "will be dropped" in warnings[0]
    for n in range(3, 6):
        spool.put(blob, "dl_cgi", T0 + n)
    warnings, dropped = spool.enforce_limits(T0 + 10)
    assert dropped == 1 and warnings[0].startswith("DATA DROPPED")
    assert spool.items()[0].stamp == "20250912T211116Z" and len(spool.items()) == 5


def test_age_limit_drops_only_past_it_and_warns_before(tmp_path):
    spool = _spool(tmp_path, spool_max_age_days=10, spool_warn_fraction=0.8)
    spool.put(b"{}", "dl_cgi", T0)
    spool.put(b"{}", "dl_cgi", T0 + 5 * 86400)
    warnings, dropped = spool.enforce_limits(T0 + 9 * 86400)
    assert dropped == 0 and "days old" in warnings[0]
    warnings, dropped = spool.enforce_limits(T0 + 11 * 86400)
    assert dropped == 1 and len(spool.items()) == 1


def test_leftover_temp_files_are_quarantined_and_counted(tmp_path):
    spool = _spool(tmp_path)
    (spool.dir / f"{TEMP_PREFIX}20250912T211115Z.json.123").write_bytes(b'{"captured_at":"20')
    records, _removed = sweep_leftovers(tmp_path, spool, min_age_s=0)
    assert len(records) == 1 and spool.quarantine_count() == 1 and spool.items() == []


def test_quarantine_is_bounded(tmp_path):
    spool = _spool(tmp_path, quarantine_max_files=3)
    for n in range(5):
        spool.quarantine(spool.put(b"{}", "dl_cgi", T0 + n), "test")
    assert spool.quarantine_count() == 3


_WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from pvs6_edge.config import StorageConfig
    from pvs6_edge.spool import Spool
    spool = Spool(StorageConfig(dir=Path(sys.argv[1])))
    spool.ensure_dirs()
    raw = b'{"big": "' + b"x" * (24 * 1024 * 1024) + b'"}'
    n = 0
    while True:
        spool.put(raw, "dl_cgi", 1757711475.0 + n)
        n += 1
""")


def test_sigkill_during_a_spool_write_never_leaves_a_torn_item(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path)])
    spool_dir = tmp_path / "spool"
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            if spool_dir.exists() and any(p.name.startswith(TEMP_PREFIX) for p in spool_dir.iterdir()):
                break
            time.sleep(0.001)
        else:
            pytest.fail("writer never started a write")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    spool = _spool(tmp_path)
    leftovers = [p for p in spool_dir.iterdir() if p.name.startswith(TEMP_PREFIX)]
    assert leftovers, "the kill should have landed mid-write"
    sweep_leftovers(tmp_path, spool, min_age_s=0)
    for item in spool.items():
        spool.read(item)  # every visible item is whole (raises SpoolCorrupt otherwise)
    assert not any(p.name.startswith(TEMP_PREFIX) for p in spool_dir.iterdir())
    assert spool.quarantine_count() == len(leftovers)


def test_archive_names_retention_and_size_cap(tmp_path):
    archive = Archive(StorageConfig(dir=tmp_path, archive_retention_days=30, archive_max_bytes=0))
    first = archive.put(b'{"n": 1}', T0)
    again = archive.put(b'{"n": 2}', T0)
    assert first.relative_to(tmp_path).as_posix() == "archive/2025/09/20250912T211115Z.json.gz"
    assert again.name == "20250912T211115Z-1.json.gz" and gzip.decompress(first.read_bytes()) == b'{"n": 1}'
    archive.limits = StorageConfig(dir=tmp_path, archive_retention_days=30)
    archive.put(b"{}", T0 + 40 * 86400)
    assert archive.prune(T0 + 40 * 86400) == 2
    assert [p.name for p in (tmp_path / "archive").rglob("*.gz")] == ["20251022T211115Z.json.gz"]
    archive.limits = StorageConfig(dir=tmp_path, archive_max_bytes=0)
    assert archive.prune(T0 + 40 * 86400) == 1
