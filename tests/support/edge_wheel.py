"""An edge wheel made by hand, so install tests need neither a build backend nor the network.

It holds what the Pi's ``pip install .`` puts on the Pi: the edge package and the shared parser it imports
(both standard library plus ``requests``), with the ``pvs6-edge`` entry point.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"pvs6_edge": ROOT / "edge" / "pvs6_edge", "pvs6_parse": ROOT / "pvs6_parse"}


def build_edge_wheel(folder: Path) -> Path:
    """Write ``pvs6_sentinel-0.1.0-py3-none-any.whl`` into ``folder`` and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pvs6_sentinel-0.1.0-py3-none-any.whl"
    info = "pvs6_sentinel-0.1.0.dist-info"
    files = {f"{name}/{p.relative_to(source).as_posix()}": p.read_bytes()
             for name, source in PACKAGES.items() for p in sorted(source.rglob("*.py"))}
    files[f"{info}/METADATA"] = b"Metadata-Version: 2.1\nName: pvs6-sentinel\nVersion: 0.1.0\n"
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files[f"{info}/entry_points.txt"] = b"[console_scripts]\npvs6-edge = pvs6_edge.cli:main\n"
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
