"""The cloud config: every bad key is named, secrets resolve from the environment, defaults are the seed's."""

from __future__ import annotations

from pathlib import Path

import pytest

from pvs6_cloud.config import load_config, parse_config
from pvs6_cloud.errors import ConfigError

SITE = {"secret": "s", "latitude": 41.76, "longitude": -72.68, "timezone": "America/New_York", "local_dir": "sheet"}


def _cfg(site=None, **top):
    return parse_config({"sites": {"home": {**SITE, **(site or {})}}, **top}, env={"HOME_SECRET": "from-env"},
                        base_dir=Path("/base"))


def test_defaults_describe_the_seed_system():
    config = _cfg()
    site = config.site("home")
    assert site.array.panels == 12 and site.array.panel_w == 360
    assert site.array.dc_kw == pytest.approx(4.32)
    assert site.local_dir == Path("/base/sheet")
    assert config.mail.outbox_dir == Path("/base/outbox")
    assert not config.mail.uses_smtp


def test_secret_from_environment():
    without_inline = {k: v for k, v in SITE.items() if k != "secret"}
    config = parse_config({"sites": {"home": {**without_inline, "secret_env": "HOME_SECRET"}}},
                          env={"HOME_SECRET": "from-env"})
    assert config.site("home").secret == "from-env"
    with pytest.raises(ConfigError, match="not both"):
        _cfg({"secret_env": "HOME_SECRET"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"latitude": 123.0}, "sites.home.latitude"),
        ({"timezone": "Mars/Olympus"}, "sites.home.timezone"),
        ({"mail_to": ["not-an-address"]}, "sites.home.mail_to"),
        ({"surprise": 1}, "surprise"),
        ({"array": {"tilt": "steep"}}, "sites.home.array.tilt"),
        ({"local_dir": None}, "local_dir"),
        ({"secret_env": "MISSING_VAR", "secret": ""}, "MISSING_VAR"),
    ],
)
def test_bad_keys_are_named(change, message):
    site = {**SITE, **change}
    site = {k: v for k, v in site.items() if v is not None}
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        parse_config({"sites": {"home": site}}, env={})


def test_no_site_is_an_error():
    with pytest.raises(ConfigError, match="at least one site"):
        parse_config({}, env={})


def test_load_config_names_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="PVS6_CLOUD_CONFIG"):
        load_config(None, env={})
    bad = tmp_path / "c.toml"
    bad.write_text("[sites.home\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad, env={})
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml", env={})


def test_load_config_from_env_variable(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[sites.home]\nsecret = "x"\nlatitude = 1\nlongitude = 2\nlocal_dir = "out"\n'
                    '[mail]\nsmtp_host = "smtp.example.com"\npassword_env = "PW"\nfrom = "me@example.com"\n')
    config = load_config(None, env={"PVS6_CLOUD_CONFIG": str(path), "PW": "app-password"})
    assert config.site("home").local_dir == tmp_path / "out"
    assert config.mail.uses_smtp and config.mail.password == "app-password"
    assert config.mail.sender == "me@example.com"
