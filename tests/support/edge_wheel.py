"""Wheels made by hand, so install tests need neither a build backend nor the network.

The edge wheel holds what the Pi's ``pip install .`` puts on the Pi: the edge package and the shared parser it
imports (both standard library plus ``requests``), with the ``pvs6-edge`` entry point. The project wheel adds
what ``pip install '.[cloud]'`` puts in a private environment (docs/pi-only.md on the Pi, google-setup.md's
``~/pvs6-venv`` in Cloud Shell): the cloud package, the sheet layout it reads as package data, and
``pvs6-cloud``; its dependencies (pandas, pvlib, ...) are the installer's business, not the wheel's.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"pvs6_edge": ROOT / "edge" / "pvs6_edge", "pvs6_parse": ROOT / "pvs6_parse"}
CLOUD_PACKAGES = {"pvs6_cloud": ROOT / "cloud" / "pvs6_cloud", "sheets_template": ROOT / "sheets_template"}


def build_edge_wheel(folder: Path) -> Path:
    """Write ``pvs6_sentinel-0.1.0-py3-none-any.whl`` (the edge only) into ``folder`` and return its path."""
    return _wheel(folder, PACKAGES, {"pvs6-edge": "pvs6_edge.cli:main"})


def build_project_wheel(folder: Path) -> Path:
    """Write the project's wheel with the cloud part (``pvs6-edge`` and ``pvs6-cloud``) into ``folder``."""
    return _wheel(folder, {**PACKAGES, **CLOUD_PACKAGES},
                  {"pvs6-edge": "pvs6_edge.cli:main", "pvs6-cloud": "pvs6_cloud.cli:main"})


def _wheel(folder: Path, packages: dict[str, Path], scripts: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pvs6_sentinel-0.1.0-py3-none-any.whl"
    info = "pvs6_sentinel-0.1.0.dist-info"
    files = {f"{name}/{p.relative_to(source).as_posix()}": p.read_bytes()
             for name, source in packages.items() for pattern in ("*.py", "*.toml", "py.typed")
             for p in sorted(source.rglob(pattern)) if "__pycache__" not in p.parts}
    files[f"{info}/METADATA"] = b"Metadata-Version: 2.1\nName: pvs6-sentinel\nVersion: 0.1.0\n"
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    entry_points = "[console_scripts]\n" + "".join(f"{name} = {target}\n" for name, target in scripts.items())
    files[f"{info}/entry_points.txt"] = entry_points.encode()
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path
