"""Every config a person is told to copy (examples, the README, the guides) loads with the real loaders.

Documentation that drifts from the code is how a homeowner ends up with a monitor that refuses to start.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from pvs6_cloud.config import parse_config
from pvs6_edge.config import load_config as load_edge_config

ROOT = Path(__file__).resolve().parents[1]
SECRETS = {"PVS6_SECRET_HOME": "s" * 64, "PVS6_SMTP_PASSWORD": "abcd efgh ijkl mnop"}


def _toml_blocks(markdown: Path) -> list[str]:
    return re.findall(r"```toml\n(.*?)```", markdown.read_text(), flags=re.S)


def _edge_loads(tmp_path: Path, text: str) -> None:
    path = tmp_path / "edge.toml"
    path.write_text(text)
    (tmp_path / "secret").write_text("s" * 64)
    text = text.replace("/etc/pvs6-sentinel/secret", str(tmp_path / "secret"))
    path.write_text(text)
    config = load_edge_config(path, SECRETS)
    assert config.cloud.site


def test_cloud_example_for_deploy_loads():
    data = tomllib.loads((ROOT / "deploy" / "cloud.example.toml").read_text())
    config = parse_config(data, env=SECRETS)
    assert config.site("home").spreadsheet_id
    assert config.mail.uses_smtp


def test_edge_example_loads(tmp_path):
    _edge_loads(tmp_path, (ROOT / "edge" / "config.example.toml").read_text())


@pytest.mark.parametrize("doc", ["README.md", "docs/pi-only.md"])
def test_config_snippets_in_the_guides_load(tmp_path, doc):
    blocks = _toml_blocks(ROOT / doc)
    assert blocks, f"{doc} shows no config"
    for block in blocks:
        data = tomllib.loads(block)
        if "sites" in data:
            parse_config(data, env=SECRETS, base_dir=tmp_path)
        elif "pvs" in data or "cloud" in data:
            full = block if "[pvs]" in block else f'[pvs]\nurl = "http://172.27.153.1"\n{block}'
            if "[storage]" not in full:
                full += f'\n[storage]\ndir = "{tmp_path / "edge"}"\n'
            _edge_loads(tmp_path, full)
