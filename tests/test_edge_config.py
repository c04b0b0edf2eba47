"""Edge configuration: exact key names, defaults, secrets from file/env, and errors that name the bad key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pvs6_edge.config import CONFIG_ENV, DEFAULT_CONFIG_PATH, load_config, resolve_config_path
from pvs6_edge.errors import ConfigError
from tests.support.edge_servers import SECRET, write_config

EXAMPLE = Path(__file__).resolve().parents[1] / "edge" / "config.example.toml"


def _write(tmp_path, **extra):
    return write_config(tmp_path, "http://172.27.153.1", "https://example.invalid/ingest", **extra)


def test_minimal_config_gets_documented_defaults(tmp_path):
    cfg = load_config(_write(tmp_path, **{"pvs.timeout_s": None, "pvs.min_interval_s": None,
                                          "cloud.timeout_s": None, "cloud.backoff_base_s": None}), {})
    assert cfg.pvs.api == "auto" and cfg.pvs.timeout_s == 60 and cfg.pvs.min_interval_s == 60
    assert cfg.cloud.batch_max_snapshots == 500 and cfg.cloud.batch_max_bytes == 1024 * 1024
    assert cfg.storage.dir == tmp_path / "data" and cfg.storage.archive_retention_days == 365
    assert cfg.cloud.secret == SECRET


def test_example_config_loads_once_its_cloud_url_is_filled_in(tmp_path):
    text = EXAMPLE.read_text().replace('secret_file = "/etc/pvs6-sentinel/secret"', f'secret = "{SECRET}"')
    path = tmp_path / "edge.toml"
    path.write_text(text)
    # As install.sh copies it: the example's address is refused at load, before a run could fail an upload.
    with pytest.raises(ConfigError, match=r"cloud\.url is still the example's .*: put in the url deploy\.sh printed"):
        load_config(path, {})
    path.write_text(re.sub(r'(?m)^url = "https://REGION-PROJECT[^"]*"', 'url = "https://pvs6-ingest-x.a.run.app"',
                           text))
    cfg = load_config(path, {})
    assert cfg.pvs.url == "http://172.27.153.1" and cfg.cloud.site == "home"


@pytest.mark.parametrize(("key", "literal", "named"), [
    ("pvs.api", '"soap"', "pvs.api"),
    ("pvs.url", '"ftp://x"', "pvs.url"),
    ("pvs.timeout_s", "0", "pvs.timeout_s"),
    ("pvs.timeout_s", '"60"', "pvs.timeout_s"),
    ("pvs.serial_last5", '"A12"', "pvs.serial_last5"),
    ("pvs.min_interval", "60", "pvs.min_interval"),
    ("cloud.site", '"my site!"', "cloud.site"),
    ("cloud.batch_max_snapshots", "501", "cloud.batch_max_snapshots"),
    ("cloud.batch_max_bytes", "2097152", "cloud.batch_max_bytes"),
    ("cloud.secret_file", '"x"', "exactly one of secret"),
    ("storage.archive_retention_days", "-1", "storage.archive_retention_days"),
    ("storage.dir", '""', "storage.dir"),
])
def test_bad_values_name_the_key(tmp_path, key, literal, named):
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load_config(_write(tmp_path, **{key: literal}), {})


def test_secret_from_file_and_env(tmp_path):
    (tmp_path / "secret").write_text(SECRET + "\n")
    cfg = load_config(_write(tmp_path, **{"cloud.secret": None, "cloud.secret_file": '"secret"'}), {})
    assert cfg.cloud.secret == SECRET
    path = _write(tmp_path, **{"cloud.secret": None, "cloud.secret_env": '"EDGE_SECRET"'})
    assert load_config(path, {"EDGE_SECRET": SECRET}).cloud.secret == SECRET
    with pytest.raises(ConfigError, match="EDGE_SECRET is not set"):
        load_config(path, {})


def test_an_empty_secret_file_says_where_the_secret_comes_from(tmp_path):
    (tmp_path / "secret").write_text("\n")  # what install.sh leaves until the owner puts the secret in
    with pytest.raises(ConfigError, match=r"secret is still empty: .*deploy\.sh printed .*sudo tee"):
        load_config(_write(tmp_path, **{"cloud.secret": None, "cloud.secret_file": '"secret"'}), {})


def test_short_secret_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="16 characters"):
        load_config(_write(tmp_path, **{"cloud.secret": '"short"'}), {})
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml", {})
    bad = tmp_path / "bad.toml"
    bad.write_text("[pvs\nurl=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad, {})


def test_config_path_resolution():
    assert resolve_config_path("a.toml", {CONFIG_ENV: "b.toml"}) == Path("a.toml")
    assert resolve_config_path(None, {CONFIG_ENV: "b.toml"}) == Path("b.toml")
    assert resolve_config_path(None, {}) == DEFAULT_CONFIG_PATH
