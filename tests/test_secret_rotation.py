"""A rotated Pi secret needs no redeploy: the function reads it from the file Secret Manager mounts, again
when the copy in memory is a minute old, through functions-framework's real app.

Cloud Run re-reads a secret mounted as a volume from its latest version at every read, while a secret in an
environment variable is fixed when the instance starts
(https://cloud.google.com/run/docs/configuring/services/secrets): the file here stands for that mount.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app

from pvs6_cloud.infra.config import parse_config
from pvs6_cloud.infra.errors import ConfigError
from pvs6_cloud.runtime import SECRET_TTL_S, Runtime, set_runtime
from tests.support.cloud import envelope, signed, snapshot_item

MAIN = Path(__file__).resolve().parents[1] / "cloud" / "main.py"
T0 = datetime(2025, 9, 12, 17, 0, tzinfo=UTC)
SEED = json.loads((Path(__file__).resolve().parent / "data" / "seed_devicelist.json").read_text())
OLD, NEW = "old-secret-the-pi-had", "new-secret-after-rotation"


def _data(tmp: Path) -> dict[str, Any]:
    return {"sites": {"home": {"secret_env": "PVS6_SECRET_HOME", "latitude": 41.76, "longitude": -72.68,
                               "timezone": "America/New_York", "local_dir": str(tmp / "sheet"),
                               "mail_to": ["owner@example.com"]}},
            "mail": {"outbox_dir": str(tmp / "outbox")}, "weather": {"enabled": False}}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def mounted(tmp_path: Path):
    secret = tmp_path / "pvs6-secret-home" / "secret"
    secret.parent.mkdir()
    secret.write_text(OLD + "\n")  # as `echo ... | gcloud secrets versions add` would store it
    config = parse_config(_data(tmp_path), env={"PVS6_SECRET_HOME_FILE": str(secret)})
    clock = Clock()
    set_runtime(Runtime(config, monotonic=clock))
    client = create_app(target="ingest", source=str(MAIN), signature_type="http").test_client()
    yield client, secret, clock
    set_runtime(None)


def _upload(client, secret: str, minute: int) -> int:
    item = snapshot_item(SEED, T0 + timedelta(minutes=15 * minute))
    body, headers = signed(envelope([item]), secret=secret)
    return client.post("/", data=body, headers=headers).status_code


def test_the_secret_comes_from_the_file_named_by_the_env_file_variable(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text(f"{OLD}\n")
    site = parse_config(_data(tmp_path), env={"PVS6_SECRET_HOME_FILE": str(secret)}).site("home")
    assert site.secret == OLD and site.secret_file == secret
    # the variable itself still wins (local runs, the self-test), and then nothing is re-read
    site = parse_config(_data(tmp_path), env={"PVS6_SECRET_HOME": NEW,
                                              "PVS6_SECRET_HOME_FILE": str(secret)}).site("home")
    assert site.secret == NEW and site.secret_file is None


@pytest.mark.parametrize(("content", "says"), [(None, "cannot be read"), ("\n", "is empty")])
def test_a_missing_or_empty_secret_file_is_a_clear_start_up_error(tmp_path: Path, content: str | None,
                                                                  says: str) -> None:
    secret = tmp_path / "secret"
    if content is not None:
        secret.write_text(content)
    with pytest.raises(ConfigError, match=f"PVS6_SECRET_HOME_FILE names .*secret, which {says}"):
        parse_config(_data(tmp_path), env={"PVS6_SECRET_HOME_FILE": str(secret)})


def test_a_rotated_secret_is_in_force_within_a_minute_without_a_restart(mounted, caplog) -> None:
    client, secret, clock = mounted
    assert _upload(client, OLD, 1) == 200
    secret.write_text(NEW + "\n")  # gcloud secrets versions add: the mount now shows the new version
    clock.now += SECRET_TTL_S / 2
    assert _upload(client, OLD, 2) == 200  # read a moment ago: still the old one, no Secret Manager call
    clock.now += SECRET_TTL_S
    with caplog.at_level(logging.INFO, logger="pvs6_cloud.runtime"):
        assert _upload(client, NEW, 3) == 200
    assert "a new upload secret is in force" in caplog.text
    assert NEW not in caplog.text and OLD not in caplog.text
    assert _upload(client, OLD, 4) == 401


def test_an_unreadable_mount_keeps_the_last_secret(mounted, caplog) -> None:
    client, secret, clock = mounted
    secret.unlink()
    clock.now += SECRET_TTL_S * 2
    with caplog.at_level(logging.WARNING, logger="pvs6_cloud.runtime"):
        assert _upload(client, OLD, 5) == 200
    assert "using the one read before" in caplog.text
