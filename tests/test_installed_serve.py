"""``pvs6-cloud serve`` from a plain (non-editable) install, outside the source tree, as docs/pi-only.md runs it.

The project is built and installed with ``pip install --no-deps --target`` into a temporary folder; its
dependencies come from this virtualenv (PYTHONPATH puts the installed copy first, ahead of the editable one).
The installed console script then serves the ingest function on loopback and must answer.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["pyproject.toml", "README.md", "LICENSE", "edge", "cloud", "sim", "pvs6_parse", "sheets_template"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project installed the way ``pip install .`` does, in a folder of its own."""
    base = tmp_path_factory.mktemp("plain-install")
    source = base / "source"
    source.mkdir()
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=junk)
        elif (ROOT / name).exists():
            shutil.copy2(ROOT / name, source / name)
    target = base / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile",
                    "--target", str(target), str(source)], check=True, capture_output=True, timeout=150)
    shutil.rmtree(source)  # nothing may be found through the copy the install was built from
    return target


def _env(target: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(target), "PYTHONDONTWRITEBYTECODE": "1"}


def test_the_install_is_plain_and_used(installed: Path, tmp_path: Path) -> None:
    probe = "import pvs6_cloud, pathlib; print(pathlib.Path(pvs6_cloud.__file__).resolve())"
    where = subprocess.run([sys.executable, "-c", probe], env=_env(installed), cwd=tmp_path, check=True,
                           capture_output=True, text=True).stdout.strip()
    assert Path(where).is_relative_to(installed.resolve())
    assert not (installed / "main.py").exists()  # cloud/main.py is not part of an install


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "cloud.toml"
    config.write_text(
        '[sites.home]\nsecret = "s3cret"\nlatitude = 41.76\nlongitude = -72.68\ntimezone = "America/New_York"\n'
        'local_dir = "sheet"\nmail_to = ["owner@example.com"]\n[mail]\noutbox_dir = "outbox"\n'
        "[weather]\nenabled = false\n",
        encoding="utf-8",
    )
    return config


def test_a_job_command_runs_from_a_plain_install(installed: Path, tmp_path: Path) -> None:
    done = subprocess.run([str(installed / "bin" / "pvs6-cloud"), "watchdog", "--config", str(_config(tmp_path))],
                          env=_env(installed), cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "never heard" in done.stdout


def test_serve_answers_from_a_plain_install(installed: Path, tmp_path: Path) -> None:
    config = _config(tmp_path)
    proc = subprocess.Popen([str(installed / "bin" / "pvs6-cloud"), "serve", "--config", str(config), "--port", "0"],
                            env=_env(installed), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline().strip()
        if not line:
            proc.wait(timeout=10)
            pytest.fail(f"serve exited {proc.returncode}: {proc.stderr.read()[-2000:]}")
        assert line.startswith("serving ingest on http://127.0.0.1:")
        url = line.split(" on ", 1)[1]
        reply = requests.get(url, timeout=30)
        assert reply.status_code == 405 and "POST" in reply.headers["Allow"]
        bad = requests.post(url, data=b"not a batch", timeout=30)
        assert 400 <= bad.status_code < 500 and bad.headers["Content-Type"].startswith("application/json")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
