"""Edge housekeeping: leftovers of killed runs are swept everywhere, and a full SD card is said and survived.

The full-disk tests use a real, tiny tmpfs (2 MiB) as the storage folder, so every ENOSPC comes from the kernel;
mounting one needs root, so they skip elsewhere (the /dev/full tests in test_edge_runner still run there).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from pvs6_edge.cli import main
from pvs6_edge.config import load_config
from pvs6_edge.errors import StorageError
from pvs6_edge.fsio import TEMP_PREFIX
from pvs6_edge.housekeeping import TEMP_MIN_AGE_S
from pvs6_edge.runner import EdgeRunner
from tests.support.edge_servers import SECRET, FakeClock, FakeIngest, FakePvs, write_config


@pytest.fixture
def servers():
    clock = FakeClock()
    with FakePvs() as pvs, FakeIngest("home", SECRET, clock.time) as ingest:
        yield pvs, ingest, clock


def _runner(folder: Path, pvs: FakePvs, ingest: FakeIngest, clock: FakeClock) -> tuple[EdgeRunner, Path]:
    config = write_config(folder, pvs.url, ingest.url)
    return EdgeRunner(load_config(config, {}), clock=clock, rng=lambda: 0.5), config


def _temp(folder: Path, name: str, data: bytes, age_s: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{TEMP_PREFIX}{name}.4242"
    path.write_bytes(data)
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def test_leftover_temp_files_anywhere_are_swept_but_a_fresh_one_is_left(tmp_path, servers):
    pvs, ingest, clock = servers
    runner, _config = _runner(tmp_path, pvs, ingest, clock)
    data = tmp_path / "data"
    old = TEMP_MIN_AGE_S + 60
    torn_reading = _temp(data / "spool", "20250912T211115Z.json", b'{"captured_at":"2025-09-12T21:1', old)
    gone = [_temp(data, "state.json", b"{", old), _temp(data / "archive" / "2025" / "09", "x.json.gz", b"\x1f", old),
            _temp(data / "history", "2025-09.csv", b"Time,", old)]  # any file the edge keeps, not only ours today
    fresh = [_temp(data / "spool", "20250912T211500Z.json", b"{", 5), _temp(data / "history", "2025-10.csv", b"T", 5)]
    set_aside = _temp(data / "quarantine", "20250101T000000Z.json", b"kept", old)  # quarantined before: stays
    runner.execute(collect=False, upload=False)
    assert not any(p.exists() for p in [torn_reading, *gone])
    assert all(p.exists() for p in [*fresh, set_aside])  # a write that may still be running is not touched
    kept = data / "quarantine" / torn_reading.name
    assert kept.read_bytes() == b'{"captured_at":"2025-09-12T21:1'  # the bytes of a torn reading are kept
    assert [r["name"] for r in runner.status()["newly_quarantined"]] == [torn_reading.name]


@pytest.fixture
def tiny_disk(tmp_path):
    """A 2 MiB tmpfs: a real file system that really fills up."""
    mount = tmp_path / "sd"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True,
                          check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, check=False)


def _fill(folder: Path, prefix: str, size: int = 64 * 1024) -> list[Path]:
    """Write incompressible files into ``folder`` until the disk refuses; returns them, oldest name first."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for n in range(10_000):
        path = folder / f"{prefix}{n:05d}"
        try:
            with open(path, "wb") as fh:
                fh.write(os.urandom(size))
        except OSError as err:
            path.unlink()
            if err.errno != errno.ENOSPC:
                raise
            if size <= 512:
                return written
            size //= 8  # top up to the last block
            continue
        written.append(path)
    raise AssertionError("the tmpfs never filled up")


def test_on_a_full_disk_the_oldest_archive_gives_way_to_a_new_reading(tiny_disk, servers):
    pvs, ingest, clock = servers
    runner, _config = _runner(tiny_disk, pvs, ingest, clock)
    ingest.stop()  # the cloud is away: readings must stay in the spool
    assert runner.execute(collect=True, upload=True).collect == "ok"
    old_archive = _fill(tiny_disk / "data" / "archive" / "2024" / "01", "20240101T000000Z-")
    clock.advance(900)
    result = runner.execute(collect=True, upload=True)
    assert result.collect == "ok"
    assert len(runner.spool.items()) == 2  # the new reading was kept
    assert not old_archive[0].exists() and old_archive[-1].exists()  # the oldest went first, not all of them
    assert (tiny_disk / "data" / "archive" / "2025" / "09" / "20250912T212615Z.json.gz").exists()
    state = json.loads((tiny_disk / "data" / "state.json").read_text())
    assert state["last_poll_at"] == clock.time()  # and the state file was saved too


def test_a_full_disk_with_nothing_to_give_is_shown_by_status_though_no_state_could_be_saved(
        tiny_disk, servers, capsys):
    pvs, ingest, clock = servers
    runner, config = _runner(tiny_disk, pvs, ingest, clock)
    assert runner.execute(collect=True, upload=True).upload == "ok"
    state_before = (tiny_disk / "data" / "state.json").read_bytes()
    shutil.rmtree(tiny_disk / "data" / "archive")  # no archive left to give way
    _fill(tiny_disk / "owner-files", "photo-")  # something else filled the SD card
    clock.advance(900)
    with pytest.raises(StorageError, match="No space left"):  # pvs6-edge run exits 1: storage failure
        runner.execute(collect=True, upload=True)
    assert (tiny_disk / "data" / "state.json").read_bytes() == state_before  # nothing could be remembered
    assert "No space left" in ingest.heartbeats[-1]["storage_error"]  # the cloud was told all the same
    capsys.readouterr()
    assert main(["status", "--config", str(config)], environ={}) == 0
    text = capsys.readouterr().out
    assert "DISK FULL" in text and "new readings cannot be kept" in text
    assert main(["status", "--json", "--config", str(config)], environ={}) == 0
    assert json.loads(capsys.readouterr().out)["disk_full"] is True
