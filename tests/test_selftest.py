"""``pvs6-cloud selftest`` in the local default: CSV folder, outbox, a local weather server, a closed SMTP port."""

from __future__ import annotations

import email
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path

import pytest

from pvs6_cloud.cli import main
from pvs6_cloud.infra.config import load_config
from pvs6_cloud.store import SheetWrite
from pvs6_cloud.store.csv_sink import CsvSink
from pvs6_cloud.store.state import SiteState
from tests.support.cloud import cloud_toml
from tests.support.json_server import serve_json
from tests.support.ports import free_port
from tests.support.smtp import loopback_mail_toml


def write_config(tmp: Path, *, mail: str = 'outbox_dir = "outbox"', weather: str = "enabled = false") -> Path:
    path = tmp / "cloud.toml"
    path.write_text(cloud_toml(mail=mail, weather=weather, site_lines='name = "Test house"'))
    return path


def run_selftest(config: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["selftest", "--config", str(config), *extra])
    return code, capsys.readouterr().out


def report_rows(out: str) -> dict[str, str]:
    """Check name -> Result column of the printed table."""
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "home:":
            rows[parts[1]] = parts[2]
    return rows


def test_local_default_passes_and_leaves_a_test_email_in_the_outbox(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_selftest(write_config(tmp_path), capsys)
    assert code == 0, out
    assert report_rows(out) == {"sheet": "OK", "email": "OK", "weather": "skipped"}
    assert "All 2 checks passed." in out
    mails = list((tmp_path / "outbox").glob("*.eml"))
    assert len(mails) == 1
    message = email.message_from_bytes(mails[0].read_bytes(), policy=policy.default)
    assert message["Subject"].startswith("PVS6 Sentinel is connected")
    assert message["To"] == "owner@example.com"
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "PVS6 Sentinel is connected" in text
    # the test row was written and removed: the tab holds its header only
    assert (tmp_path / "sheet" / "_selftest.csv").read_text().splitlines() == ["Time (UTC),Check,Message"]


def test_real_rows_and_state_are_left_exactly_as_they_were(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_path = write_config(tmp_path)
    config = load_config(config_path)
    site = config.sites["home"]
    sink = CsvSink(site.local_dir, site.tz)
    sink.ensure_layout()
    state = SiteState()
    captured = datetime(2026, 6, 1, 16, 0, tzinfo=UTC)
    state.remember("abc123", captured)
    sink.commit(SheetWrite(state=state, append={"Readings": [
        {"time": captured, "production_kw": 2.5, "snapshot_id": "abc123"}]}))
    before = {p.name: p.read_bytes() for p in (tmp_path / "sheet").iterdir()}

    code, out = run_selftest(config_path, capsys)

    assert code == 0, out
    after = {p.name: p.read_bytes() for p in (tmp_path / "sheet").iterdir() if p.name != "_selftest.csv"}
    assert after == before
    assert CsvSink(site.local_dir, site.tz).load_state().seen("abc123")


def test_unreachable_smtp_server_is_reported_as_failing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_selftest(write_config(tmp_path, mail=loopback_mail_toml(free_port())), capsys)
    assert code == 1
    rows = report_rows(out)
    assert rows["email"] == "FAILED"
    assert rows["sheet"] == "OK"  # one failure does not hide the other checks
    assert "127.0.0.1" in out
    assert "1 failed" in out


@contextmanager
def weather_server(status: int) -> Iterator[str]:
    """A local Open-Meteo stand-in answering every GET with hourly data around today (or an error status)."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
    hours = [start + timedelta(hours=i) for i in range(24 * 5)]
    body = json.dumps({
        "utc_offset_seconds": 0,
        "hourly_units": {"cloud_cover": "%", "shortwave_radiation": "W/m²", "temperature_2m": "°C"},
        "hourly": {
            "time": [h.strftime("%Y-%m-%dT%H:%M") for h in hours],
            "cloud_cover": [40] * len(hours),
            "shortwave_radiation": [300.0] * len(hours),
            "temperature_2m": [18.5] * len(hours),
        },
    }).encode() if status == 200 else b'{"error": true, "reason": "down for the test"}'
    with serve_json(body, status) as base:
        yield f"{base}/v1/forecast"


def test_weather_service_answering_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with weather_server(200) as url:
        config = write_config(tmp_path, weather=f'forecast_url = "{url}"\narchive_url = "{url}"\ntimeout_s = 5')
        code, out = run_selftest(config, capsys)
    assert code == 0, out
    assert report_rows(out)["weather"] == "OK"


def test_weather_service_down_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with weather_server(503) as url:
        config = write_config(tmp_path, weather=f'forecast_url = "{url}"\narchive_url = "{url}"\ntimeout_s = 5')
        code, out = run_selftest(config, capsys)
    assert code == 1
    assert report_rows(out)["weather"] == "FAILED"
    assert "503" in out


def test_an_unwritable_sheet_folder_fails_the_sheet_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "sheet").write_text("a file where the folder should be")
    code, out = run_selftest(write_config(tmp_path), capsys)
    assert code == 1
    assert report_rows(out) == {"sheet": "FAILED", "email": "OK", "weather": "skipped"}


def test_an_unknown_site_is_a_configuration_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["selftest", "--config", str(write_config(tmp_path)), "--site", "cabin"])
    assert code == 2
    assert "cabin" in capsys.readouterr().err
