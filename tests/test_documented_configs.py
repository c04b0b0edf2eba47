"""Every config a person is told to copy (examples, the README, the guides) loads with the real loaders.

Documentation that drifts from the code is how a homeowner ends up with a monitor that refuses to start.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from pvs6_cloud.infra.config import parse_config
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


def test_edge_example_loads_with_the_url_deploy_sh_prints(tmp_path):
    # As copied, its [cloud] url is a placeholder the edge refuses (tests/test_edge_config.py): the owner puts
    # in the one deploy.sh printed.
    text = (ROOT / "edge" / "config.example.toml").read_text()
    _edge_loads(tmp_path, re.sub(r'(?m)^url = "https://REGION-PROJECT[^"]*"',
                                 'url = "https://pvs6-ingest-x.a.run.app"', text))


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


def _sh_blocks(markdown: Path) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", markdown.read_text(), flags=re.S)


def test_pi_only_secret_and_password_survive_the_cron_lines(tmp_path):
    """The guide's commands, run as written (paths moved to a temp folder): one secret in both files, and a
    quoted app password with spaces that `set -a; . cloud.env` reads whole and the config uses without spaces."""
    doc = ROOT / "docs" / "pi-only.md"
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "secret").write_text("")  # what install.sh leaves: empty, mode 600
    (etc / "secret").chmod(0o600)
    make_secret = next(b for b in _sh_blocks(doc) if "token_hex" in b)
    file_lines = re.findall(r"```text\n(.*?)```", doc.read_text(), flags=re.S)
    password_line = next(b for b in file_lines if b.startswith("PVS6_SMTP_PASSWORD="))
    command = make_secret.strip().removeprefix("sudo ").replace("/etc/pvs6-sentinel", str(etc))
    subprocess.run(["sh", "-c", command], check=True, timeout=30)
    with (etc / "cloud.env").open("a") as env_file:
        env_file.write(password_line)
    cron = next(b for b in re.findall(r"```cron\n(.*?)```", doc.read_text(), flags=re.S))
    assert "set -a; . /etc/pvs6-sentinel/cloud.env;" in cron
    seen = subprocess.run(["sh", "-c", f"set -a; . {etc / 'cloud.env'}; env"], capture_output=True, text=True,
                          check=True, timeout=30, env={"PATH": "/usr/bin:/bin"}).stdout
    env = dict(line.split("=", 1) for line in seen.splitlines() if line.startswith("PVS6_"))
    assert env["PVS6_SECRET_HOME"] == (etc / "secret").read_text().strip() and len(env["PVS6_SECRET_HOME"]) == 64
    assert (etc / "secret").stat().st_mode & 0o077 == 0 and (etc / "cloud.env").stat().st_mode & 0o077 == 0
    cloud_toml = next(b for b in _toml_blocks(doc) if "[sites.home]" in b)
    config = parse_config(tomllib.loads(cloud_toml), env=env, base_dir=tmp_path)
    assert config.mail.password == "abcdefghijklmnop"
    assert config.site("home").secret == env["PVS6_SECRET_HOME"]


_PLACES = ("on the pi", "in cloud shell", "on your computer")


@pytest.mark.parametrize("doc", ["README.md", "docs/google-setup.md", "docs/pi-only.md"])
def test_every_command_block_says_where_it_runs(doc):
    """A homeowner with three terminals open (their computer, Cloud Shell, the Pi) must never have to guess."""
    text = (ROOT / doc).read_text()
    unlabelled = []
    for found in re.finditer(r"```(?:sh|bash)\n(.*?)```", text, flags=re.S):
        before = text[:found.start()].rstrip()
        paragraph = before[before.rfind("\n\n") + 2:].lower() if "\n\n" in before else before.lower()
        if not any(place in paragraph for place in _PLACES):
            unlabelled.append(found.group(1).strip().splitlines()[0])
    assert unlabelled == [], f"{doc}: blocks without On the Pi / In Cloud Shell / On your computer"
