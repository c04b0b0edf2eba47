#!/usr/bin/env python3
"""Helper of ``deploy.sh``: build the folder Cloud Functions deploys, and prove it stands alone.

``cloud/`` alone is not deployable: the function also needs the parser the Pi shares (``pvs6_parse/``, at the
project root so the Pi can install it without the cloud code) and the sheet layout (``sheets_template/``). Cloud
Build's Python buildpack installs ``requirements.txt`` and imports ``main.py`` from the uploaded folder only, so
every first-party package the function imports must be inside that folder. This script copies exactly that, and
refuses (exit 2, naming the package) when the code imports a first-party package the folder would lack, so a
deployment never fails on its first request with ``ModuleNotFoundError``.

Usage: ``python3 deploy/stage_function.py DEST`` (DEST is created; it must not exist or be empty). Standard
library only: Cloud Shell runs it before anything is installed.
"""

from __future__ import annotations

import ast
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What the deployed folder holds: (source in the project, name in the folder).
FILES = [(ROOT / "cloud" / "main.py", "main.py"), (ROOT / "cloud" / "requirements.txt", "requirements.txt")]
PACKAGES = [(ROOT / "cloud" / "pvs6_cloud", "pvs6_cloud"), (ROOT / "pvs6_parse", "pvs6_parse"),
            (ROOT / "sheets_template", "sheets_template")]
# Where the project's other first-party packages live: importing one of these from the function is an error.
PACKAGE_HOMES = [ROOT, ROOT / "cloud", ROOT / "edge", ROOT / "sim"]
GCLOUDIGNORE = ".gcloudignore\n__pycache__/\n*.pyc\ntests/\n.pytest_cache/\n"
_JUNK = shutil.ignore_patterns("__pycache__", "*.pyc", "tests", ".pytest_cache")


class StageError(Exception):
    """The folder would not stand alone; the message says what is missing."""


def first_party_names() -> set[str]:
    """Top-level packages this project defines (``pvs6_edge``, ``pvs6_sim``, ...), wherever they live."""
    return {p.name for home in PACKAGE_HOMES if home.is_dir() for p in home.iterdir()
            if (p / "__init__.py").is_file()}


def imported_top_level(folder: Path) -> set[str]:
    """Top-level module names imported (absolutely) anywhere under ``folder``."""
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.partition(".")[0])
    return names


def check_stands_alone(stage: Path) -> None:
    """Every first-party package the staged code imports is in the folder, and the layout file is there."""
    missing = sorted((imported_top_level(stage) & first_party_names()) - {name for _, name in PACKAGES})
    if missing:
        raise StageError(f"the function imports {', '.join(missing)}, which the deployed folder would not hold; "
                         "add it to PACKAGES in deploy/stage_function.py")
    if not (stage / "sheets_template" / "layout.toml").is_file():
        raise StageError("sheets_template/layout.toml is missing from the deployed folder")


def stage(dest: Path) -> Path:
    """Copy the function's files into ``dest`` (new or empty) and check the result stands alone."""
    if dest.exists() and any(dest.iterdir()):
        raise StageError(f"{dest} is not empty")
    dest.mkdir(parents=True, exist_ok=True)
    for source, name in FILES:
        shutil.copy2(source, dest / name)
    for source, name in PACKAGES:
        shutil.copytree(source, dest / name, ignore=_JUNK)
    (dest / ".gcloudignore").write_text(GCLOUDIGNORE, encoding="utf-8")
    check_stands_alone(dest)
    return dest


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: stage_function.py DEST\n")
        return 2
    try:
        stage(Path(argv[0]))
    except (StageError, OSError) as err:
        sys.stderr.write(f"cannot build the function's folder: {err}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
