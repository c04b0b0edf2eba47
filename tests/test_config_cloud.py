"""The cloud config: every bad key is named, secrets resolve from the environment, defaults are the seed's."""

from __future__ import annotations

from pathlib import Path

import pytest

from pvs6_cloud.infra.config import NO_UPLOAD_SECRETS_ENV, load_config, parse_config
from pvs6_cloud.infra.errors import ConfigError

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


def test_a_scheduled_function_may_start_without_the_upload_secrets_but_not_without_the_mail_password():
    without_inline = {k: v for k, v in SITE.items() if k != "secret"}
    data = {"sites": {"home": {**without_inline, "secret_env": "HOME_SECRET"}},
            "mail": {"smtp_host": "smtp.example.com", "username": "u@example.com", "password_env": "SMTP_PW"}}
    config = parse_config(data, env={NO_UPLOAD_SECRETS_ENV: "1", "SMTP_PW": "pw"})
    assert config.site("home").secret == ""
    assert parse_config(data, env={NO_UPLOAD_SECRETS_ENV: "1", "SMTP_PW": "pw", "HOME_SECRET": "s"}).site(
        "home").secret == "s"
    with pytest.raises(ConfigError, match="HOME_SECRET"):
        parse_config(data, env={"SMTP_PW": "pw"})  # the ingest function: the secret is required
    with pytest.raises(ConfigError, match="SMTP_PW"):
        parse_config(data, env={NO_UPLOAD_SECRETS_ENV: "1"})


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


def test_a_whole_spreadsheet_address_is_taken_for_its_id():
    url = "https://docs.google.com/spreadsheets/d/1AbC_x-yz9/edit#gid=0"
    site = _cfg({"spreadsheet_id": url}).site("home")
    assert site.spreadsheet_id == "1AbC_x-yz9"
    assert site.sheet_url == "https://docs.google.com/spreadsheets/d/1AbC_x-yz9"
    with pytest.raises(ConfigError, match="between /d/ and /edit"):
        _cfg({"spreadsheet_id": "docs.google.com/my sheet"})


def test_mail_to_written_as_one_string_is_the_list_it_means():
    assert _cfg({"mail_to": "you@gmail.com"}).site("home").mail_to == ("you@gmail.com",)
    assert _cfg({"mail_to": "a@x.com, b@y.com"}).site("home").mail_to == ("a@x.com", "b@y.com")
    with pytest.raises(ConfigError, match=r'mail_to = \["you@gmail.com"\]'):
        _cfg({"mail_to": "nobody"})


@pytest.mark.parametrize("pasted", ["40.71, -74.00", "40.71,-74.00"])
def test_both_numbers_pasted_into_latitude_are_explained(pasted):
    with pytest.raises(ConfigError, match=r"latitude = 40\.71 and longitude = -74\.00"):
        _cfg({"latitude": pasted})


def test_a_quoted_latitude_says_to_drop_the_quotes():
    with pytest.raises(ConfigError, match="number without quotes"):
        _cfg({"latitude": "40.71"})


def test_the_map_copy_pasted_unquoted_gets_a_plain_hint(tmp_path):
    path = tmp_path / "cloud.toml"
    path.write_text('[sites.home]\nsecret = "s"\nlatitude = 40.71, -74.00\nlongitude = -74.0\nlocal_dir = "x"\n')
    with pytest.raises(ConfigError, match=r"not valid TOML.*two lines, each one number"):
        load_config(path)


def test_a_gmail_app_password_loses_its_spaces_others_keep_theirs():
    env = {"PVS6_SMTP_PASSWORD": " abcd efgh\u00a0ijkl mnop\n"}
    mail = {"smtp_host": "smtp.gmail.com", "username": "you@gmail.com", "password_env": "PVS6_SMTP_PASSWORD"}
    config = parse_config({"sites": {"home": SITE}, "mail": mail}, env=env)
    assert config.mail.password == "abcdefghijklmnop"
    other = parse_config({"sites": {"home": SITE}, "mail": {**mail, "smtp_host": "mail.example.org"}}, env=env)
    assert other.mail.password == "abcd efgh\u00a0ijkl mnop"


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
