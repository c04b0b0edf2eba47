"""A ``PYTHON`` for edge/install.sh whose ``-m venv DIR`` copies one venv made beforehand instead of a new one.

Making a venv with pip (ensurepip installs and byte-compiles pip) takes 10-40 s on two busy cores and is the
same every time; what the install tests are about is install.sh's own work (its checks, the pip install of the
wheel into the venv, the config, secret and units it writes). The template is made once per test session by the
real ``python -m venv --without-pip``, with this environment's own pip copied in (pip is pure Python, so no
ensurepip run). A copy is a working venv for install.sh: it runs only ``$VENV/bin/python -m pip``, and the
console scripts pip then writes name the copy's own python. Every other use of ``PYTHON`` (the version check)
runs the real interpreter.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pip

__all__ = ["make_pi_python"]


def make_pi_python(folder: Path) -> Path:
    """Make the template venv under ``folder`` and return the path of the ``python3`` to pass as ``PYTHON``."""
    folder.mkdir(parents=True, exist_ok=True)
    template = folder / "template-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(template)], check=True, capture_output=True,
                   timeout=120)
    site_packages = next(template.glob("lib/python*/site-packages"))
    here = Path(pip.__file__).resolve().parent
    shutil.copytree(here, site_packages / "pip")  # with its byte code: the first pip run need not compile
    for info in here.parent.glob("pip-*.dist-info"):
        shutil.copytree(info, site_packages / info.name)
    python = folder / "python3"
    python.write_text(
        "#!/bin/sh\n"
        'if [ "$#" -eq 3 ] && [ "$1" = "-m" ] && [ "$2" = "venv" ] && [ ! -e "$3" ]; then\n'
        f'    exec cp -a {shlex.quote(str(template))} "$3"\n'
        "fi\n"
        f'exec {shlex.quote(sys.executable)} "$@"\n',
        encoding="utf-8",
    )
    python.chmod(0o755)
    return python
