"""enrich_batch / daily_expectation / refill_weather over a local Open-Meteo-format server."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from pvs6_cloud.enrich import weather
from pvs6_cloud.enrich.conditions import daily_expectation, enrich_batch, pending_refills, refill_weather
from pvs6_cloud.infra.config import SiteConfig, WeatherConfig
from pvs6_cloud.store import rows
from pvs6_parse.models import Snapshot
from tests.support.openmeteo_server import OpenMeteoServer, hours_between, serve_openmeteo

SITE = SiteConfig(site_id="home", secret="x", latitude=41.76, longitude=-72.68, timezone="America/New_York")
DAY = date(2025, 6, 21)
NOON = datetime(2025, 6, 21, 16, 50, tzinfo=UTC)  # solar noon, EDT


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    weather.clear_cache()
    yield
    weather.clear_cache()


@pytest.fixture
def server() -> Iterator[OpenMeteoServer]:
    with serve_openmeteo() as s:
        yield s


def config_for(server: OpenMeteoServer, *, enabled: bool = True) -> WeatherConfig:
    return WeatherConfig(enabled=enabled, forecast_url=server.forecast_url, archive_url=server.archive_url,
                         timeout_s=10.0)


def snapshots(times: list[datetime]) -> list[Snapshot]:
    return [Snapshot(site="home", captured_at=t, source="dl_cgi", sha256=f"{i:064x}") for i, t in enumerate(times)]


def test_week_backlog_costs_one_archive_call_per_day(server: OpenMeteoServer) -> None:
    start = datetime(2025, 5, 1, 4, tzinfo=UTC)  # local midnight, seven weeks before "now"
    times = hours_between(start, start + timedelta(days=7))
    assert len(times) == 672
    memory: dict = {}
    result = enrich_batch(snapshots(times), SITE, config_for(server), memory, now=NOON)
    assert len(result) == 672
    assert server.count("/v1/archive") == 7 and server.count() == 7
    daylight = [e for e in result if e.sun_elevation_deg > 10]
    assert daylight and all(e.conditions is not None and e.conditions.source == "archive" for e in daylight)
    assert all(e.expected_source == "gti" for e in daylight)
    assert pending_refills(memory) == []
    assert "days" not in memory or not memory["days"]  # old days stay out of the persisted memory


def test_todays_batch_is_one_forecast_call_and_memory_survives_a_cold_start(server: OpenMeteoServer) -> None:
    memory: dict = {}
    times = hours_between(NOON - timedelta(hours=2), NOON)
    enrich_batch(snapshots(times), SITE, config_for(server), memory, now=NOON)
    weather.clear_cache()
    enrich_batch(snapshots([NOON - timedelta(minutes=5)]), SITE, config_for(server), memory,
                 now=NOON + timedelta(minutes=15))
    assert server.count("/v1/forecast") == 1 and server.count() == 1


def test_clear_and_cloudy_hours_shape_the_expectation(server: OpenMeteoServer) -> None:
    server.behaviour.cloud_cover_pct = lambda label: 100.0 if label.hour >= 18 else 0.0
    times = [NOON - timedelta(minutes=40), NOON + timedelta(hours=2)]
    clear, cloudy = enrich_batch(snapshots(times), SITE, config_for(server), {}, now=NOON + timedelta(hours=3))
    assert clear.conditions is not None and clear.conditions.cloud_cover_pct == pytest.approx(0.0)
    assert cloudy.conditions is not None and cloudy.conditions.cloud_cover_pct == pytest.approx(100.0)
    assert clear.expected_kw == pytest.approx(clear.clearsky_kw, rel=0.15)
    assert cloudy.expected_kw < 0.5 * cloudy.clearsky_kw
    assert cloudy.expected_kw > 0


def test_outage_still_gives_rows_with_clear_sky_expectation(
    server: OpenMeteoServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.behaviour.mode = "http500"
    memory: dict = {}
    batch = snapshots([NOON, NOON + timedelta(minutes=15), datetime(2025, 6, 21, 6, tzinfo=UTC)])
    result = enrich_batch(batch, SITE, config_for(server), memory, now=NOON + timedelta(minutes=20))
    assert [e.conditions for e in result] == [None, None, None]
    assert [e.expected_source for e in result] == ["clearsky"] * 3
    assert result[0].expected_kw == result[0].clearsky_kw and result[0].expected_kw > 2.0
    assert result[2].sun_elevation_deg < 0 and result[2].expected_kw == 0.0
    assert all(e.sun_azimuth_deg is not None for e in result)
    assert pending_refills(memory) == [DAY]
    assert server.count() == 1
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
    record = rows.readings_record(batch[0], result[0])
    assert record["cloud_cover_pct"] is None and record["irradiance_w_m2"] is None and record["air_temp_c"] is None
    assert record["expected_kw"] is None  # a clear-sky bound is not "what the weather allowed"
    assert record["performance_ratio"] is None


def test_refill_after_recovery_completes_the_day_and_empties_the_queue(
    server: OpenMeteoServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    memory: dict = {}
    old = datetime(2025, 6, 1, 16, 50, tzinfo=UTC)
    server.behaviour.mode = "http500"
    enrich_batch(snapshots([old]), SITE, config_for(server), memory, now=NOON)
    assert pending_refills(memory) == [date(2025, 6, 1)]
    assert refill_weather(SITE, config_for(server), memory, now=NOON + timedelta(minutes=1))[date(2025, 6, 1)].source \
        == "clearsky"  # still paused after the failure: no call, the day stays queued
    assert server.count() == 1 and pending_refills(memory) == [date(2025, 6, 1)]
    server.behaviour.mode = "ok"
    server.behaviour.cloud_cover_pct = 50.0
    results = refill_weather(SITE, config_for(server), memory, now=NOON + timedelta(hours=1))
    day = results[date(2025, 6, 1)]
    assert day.complete and day.source == "archive"
    assert server.requests[-1].path == "/v1/archive"
    assert pending_refills(memory) == []
    assert len(day.hourly) == 24 and day.hourly[0][0] == datetime(2025, 6, 1, 5, tzinfo=UTC)
    assert day.cloud_cover_mean_pct == pytest.approx(50.0)
    assert 0 < day.expected_kwh < day.clearsky_kwh
    assert day.poa_insolation_kwh_m2 and day.ghi_insolation_kwh_m2
    assert any("reachable again" in r.getMessage() for r in caplog.records)


def test_daily_expectation_cloudy_day_below_clear_day(server: OpenMeteoServer) -> None:
    now = datetime(2025, 6, 23, 5, tzinfo=UTC)
    clear = daily_expectation(SITE, config_for(server), {}, DAY, now=now)
    weather.clear_cache()
    server.behaviour.cloud_cover_pct = 90.0
    cloudy = daily_expectation(SITE, config_for(server), {}, DAY, now=now)
    assert clear.complete and cloudy.complete
    assert clear.expected_kwh == pytest.approx(clear.clearsky_kwh, rel=0.15)
    assert cloudy.expected_kwh < 0.7 * clear.expected_kwh
    assert cloudy.poa_insolation_kwh_m2 < clear.poa_insolation_kwh_m2
    assert clear.performance_ratio(clear.expected_kwh / 2) == pytest.approx(0.5)


def test_disabled_weather_is_clear_sky_without_network_or_refill(server: OpenMeteoServer) -> None:
    memory: dict = {}
    (result,) = enrich_batch(snapshots([NOON]), SITE, config_for(server, enabled=False), memory, now=NOON)
    assert server.count() == 0
    assert result.conditions is None and result.expected_source == "clearsky" and result.expected_kw > 2
    assert pending_refills(memory) == []


def test_empty_batch_makes_no_call(server: OpenMeteoServer) -> None:
    assert enrich_batch([], SITE, config_for(server), {}, now=NOON) == []
    assert server.count() == 0


def test_importing_enrich_does_not_import_pvlib_or_pandas() -> None:
    cloud = Path(__file__).resolve().parents[1] / "cloud"
    code = "import sys, pvs6_cloud.enrich.conditions, pvs6_cloud.enrich.weather, pvs6_cloud.enrich.solar; " \
           "print(sorted(m for m in ('pvlib', 'pandas', 'numpy', 'requests') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=cloud)
    assert out.stdout.strip() == "[]"


def _ingest(tmp_path: Path, server: OpenMeteoServer, at: datetime) -> list[dict[str, str]]:
    """One real upload through the pipeline into the CSV sink; returns the Readings rows written so far."""
    import csv
    import json

    from pvs6_cloud.intake.contract import UploadBatch, UploadItem
    from pvs6_cloud.intake.pipeline import Services, ingest_batch
    from pvs6_cloud.store.csv_sink import CsvSink
    from tests.support.cloud import local_config

    config = local_config(tmp_path, extra={"weather": {"enabled": True, "forecast_url": server.forecast_url,
                                                       "archive_url": server.archive_url, "timeout_s": 10.0}})
    site = config.site("home")
    payload = json.loads((Path(__file__).parent / "data" / "seed_devicelist.json").read_text())
    item = UploadItem(captured_at=at, source="dl_cgi", sha256=f"{int(at.timestamp()):064x}", payload=payload)
    sink = CsvSink(site.local_dir, site.tz)
    ingest_batch(UploadBatch("home", "test", {}, (item,)), config, Services(sink_for=lambda _s: sink, clock=lambda: at))
    from pvs6_cloud.store.layout import load_layout

    with (site.local_dir / "Readings.csv").open(newline="", encoding="utf-8") as f:
        cells = list(csv.reader(f))[1:]
    readings = load_layout().tab("Readings")
    return [{k: "" if v is None else str(v) for k, v in readings.to_record(row).items()} for row in cells]


def test_pipeline_rows_carry_weather_and_survive_an_outage(tmp_path: Path, server: OpenMeteoServer) -> None:
    server.behaviour.cloud_cover_pct = 40.0
    (row,) = _ingest(tmp_path, server, NOON)
    assert float(row["cloud_cover_pct"]) == pytest.approx(40.0)
    assert float(row["irradiance_w_m2"]) > 100 and row["air_temp_c"] and float(row["expected_kw"]) > 0.5
    server.behaviour.mode = "http500"
    weather.clear_cache()
    rows_now = _ingest(tmp_path, server, NOON + timedelta(days=40))
    assert len(rows_now) == 2
    assert rows_now[1]["cloud_cover_pct"] == "" and rows_now[1]["irradiance_w_m2"] == ""
    assert rows_now[1]["expected_kw"] == ""  # clear-sky fallback stays out of the sheet
