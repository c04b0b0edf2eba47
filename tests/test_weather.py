"""Open-Meteo client over a real loopback server: request shape, parsing, caching, outage handling, bad answers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
import requests

from pvs6_cloud.enrich import weather
from pvs6_cloud.enrich.weather import (
    WeatherDay,
    WeatherFormatError,
    WeatherUnavailable,
    fetch_weather_day,
    openmeteo_azimuth,
    read_openmeteo_hourly,
    weather_for_day,
)
from pvs6_cloud.infra.config import ArrayConfig, SiteConfig, WeatherConfig
from tests.support.openmeteo_server import OpenMeteoServer, serve_openmeteo

SITE = SiteConfig(site_id="home", secret="x", latitude=41.76, longitude=-72.68, timezone="America/New_York")
DAY = date(2025, 6, 21)
NOW = datetime(2025, 6, 21, 16, 0, tzinfo=UTC)  # 12:00 EDT on DAY


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    weather.clear_cache()
    yield
    weather.clear_cache()


@pytest.fixture
def server() -> Iterator[OpenMeteoServer]:
    with serve_openmeteo() as s:
        yield s


def config_for(server: OpenMeteoServer, timeout_s: float = 5.0) -> WeatherConfig:
    return WeatherConfig(forecast_url=server.forecast_url, archive_url=server.archive_url, timeout_s=timeout_s)


@pytest.mark.parametrize(
    ("pvlib_deg", "openmeteo_deg"),
    [(180.0, 0.0), (90.0, -90.0), (270.0, 90.0), (0.0, -180.0), (360.0, -180.0), (135.0, -45.0), (225.0, 45.0)],
)
def test_azimuth_converts_from_compass_to_openmeteo_convention(pvlib_deg: float, openmeteo_deg: float) -> None:
    assert openmeteo_azimuth(pvlib_deg) == pytest.approx(openmeteo_deg)


def test_request_asks_for_the_local_day_in_gmt_with_the_array_plane(server: OpenMeteoServer) -> None:
    site = SiteConfig(site_id="east", secret="x", latitude=41.76, longitude=-72.68, timezone="America/New_York",
                      array=ArrayConfig(tilt_deg=25, azimuth_deg=90))
    with requests.Session() as http:
        day = fetch_weather_day(site, DAY, config_for(server), today=DAY, fetched_at=NOW, http=http)
    (req,) = server.requests
    assert req.path == "/v1/forecast"
    assert req.params["timezone"] == "GMT"
    assert req.params["tilt"] == "25"
    assert req.params["azimuth"] == "-90"
    assert set(req.params["hourly"].split(",")) == set(weather.VARIABLE_MAP)
    # 00:00 EDT on June 21 is 04:00 UTC; the last label needed is 05:00 UTC on June 22.
    assert (req.params["start_date"], req.params["end_date"]) == ("2025-06-21", "2025-06-22")
    assert day.start == datetime(2025, 6, 21, 4, tzinfo=UTC)
    assert day.hours == 26
    assert day.source == "forecast"


def test_east_facing_plane_gets_more_morning_light_than_west(server: OpenMeteoServer) -> None:
    """The server reads azimuth the Open-Meteo way; a wrong conversion would swap morning and afternoon."""
    morning = datetime(2025, 6, 21, 13, 30, tzinfo=UTC)  # 09:30 EDT
    afternoon = datetime(2025, 6, 21, 20, 30, tzinfo=UTC)  # 16:30 EDT
    poa = {}
    for name, azimuth in (("east", 90.0), ("west", 270.0)):
        site = SiteConfig(site_id=name, secret="x", latitude=41.76, longitude=-72.68, timezone="America/New_York",
                          array=ArrayConfig(tilt_deg=40, azimuth_deg=azimuth))
        with requests.Session() as http:
            day = fetch_weather_day(site, DAY, config_for(server), today=DAY, fetched_at=NOW, http=http)
        poa[name] = day.sample([morning, afternoon])["poa_w_m2"]
    assert poa["east"][0] > 1.3 * poa["west"][0]
    assert poa["west"][1] > 1.3 * poa["east"][1]


def test_old_days_use_the_archive_endpoint_recent_days_the_forecast(server: OpenMeteoServer) -> None:
    config = config_for(server)
    memory: dict = {}
    weather_for_day(SITE, config, memory, DAY - timedelta(days=30), now=NOW)
    weather_for_day(SITE, config, memory, DAY - timedelta(days=1), now=NOW)
    assert [r.path for r in server.requests] == ["/v1/archive", "/v1/forecast"]


def test_a_day_is_fetched_once_and_served_from_the_process_cache(server: OpenMeteoServer) -> None:
    config = config_for(server)
    memory: dict = {}
    first = weather_for_day(SITE, config, memory, DAY, now=NOW, needed_until=NOW)
    again = weather_for_day(SITE, config, memory, DAY, now=NOW + timedelta(minutes=20),
                            needed_until=NOW - timedelta(minutes=5))
    assert first is not None and again is not None
    assert server.count() == 1


def test_cold_start_uses_the_persisted_memory_instead_of_refetching(server: OpenMeteoServer) -> None:
    config = config_for(server)
    memory: dict = {}
    weather_for_day(SITE, config, memory, DAY, now=NOW, needed_until=NOW)
    weather.clear_cache()  # a new function instance: only the persisted memory survives
    restored = weather_for_day(SITE, config, memory, DAY, now=NOW + timedelta(minutes=30), needed_until=NOW)
    assert server.count() == 1
    assert restored is not None
    assert restored.sample([NOW])["ghi_w_m2"][0] > 500


def test_today_is_refreshed_at_most_hourly_when_readings_move_past_the_fetch(server: OpenMeteoServer) -> None:
    config = config_for(server)
    memory: dict = {}
    weather_for_day(SITE, config, memory, DAY, now=NOW, needed_until=NOW)
    later = NOW + timedelta(minutes=45)
    weather_for_day(SITE, config, memory, DAY, now=later, needed_until=later)
    assert server.count() == 1  # less than an hour since the fetch
    later = NOW + timedelta(minutes=75)
    weather_for_day(SITE, config, memory, DAY, now=later, needed_until=later)
    assert server.count() == 2
    weather_for_day(SITE, config, memory, DAY, now=later + timedelta(minutes=10), needed_until=later)
    assert server.count() == 2


def test_memory_keeps_only_today_and_yesterday(server: OpenMeteoServer) -> None:
    config = config_for(server)
    memory: dict = {}
    for back in range(4):
        weather_for_day(SITE, config, memory, DAY - timedelta(days=back), now=NOW)
    assert sorted(memory["days"]) == ["2025-06-20", "2025-06-21"]


def test_outage_logs_one_error_then_one_recovery(server: OpenMeteoServer, caplog: pytest.LogCaptureFixture) -> None:
    config = config_for(server)
    memory: dict = {}
    caplog.set_level(logging.DEBUG, logger="pvs6_cloud.enrich.weather")
    server.behaviour.mode = "http500"
    for minutes in (0, 5, 15, 30):  # retries after RETRY_AFTER_S; every one fails
        now = NOW + timedelta(minutes=minutes)
        assert weather_for_day(SITE, config, memory, DAY, now=now, needed_until=now) is None
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].getMessage().startswith("weather service unreachable: ")
    assert "HTTP 500" in errors[0].getMessage()
    assert server.count() == 3  # t=0, 15, 30: the call at t=5 was skipped (pause after failure)
    server.behaviour.mode = "ok"
    now = NOW + timedelta(minutes=45)
    assert weather_for_day(SITE, config, memory, DAY, now=now, needed_until=now) is not None
    infos = [r for r in caplog.records if r.levelno == logging.INFO and "reachable again" in r.getMessage()]
    assert len(infos) == 1
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
    assert "outage" not in memory


def test_outage_state_survives_a_cold_start(server: OpenMeteoServer, caplog: pytest.LogCaptureFixture) -> None:
    config = config_for(server)
    memory: dict = {}
    server.behaviour.mode = "html"
    weather_for_day(SITE, config, memory, DAY, now=NOW, needed_until=NOW)
    weather.clear_cache()
    later = NOW + timedelta(minutes=20)
    weather_for_day(SITE, config, memory, DAY, now=later, needed_until=later)
    assert server.count() == 2
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1


@pytest.mark.parametrize(
    ("mode", "error", "words"),
    [
        ("http500", WeatherUnavailable, "HTTP 500"),
        ("html", WeatherFormatError, "not JSON"),
        ("error400", WeatherUnavailable, "out of allowed range"),
        ("garbage_shape", WeatherFormatError, "hourly.time"),
    ],
)
def test_bad_answers_raise_one_error_family(server: OpenMeteoServer, mode: str, error: type, words: str) -> None:
    server.behaviour.mode = mode
    with requests.Session() as http, pytest.raises(error, match=words) as caught:
        fetch_weather_day(SITE, DAY, config_for(server), today=DAY, fetched_at=NOW, http=http)
    assert isinstance(caught.value, weather.WeatherError)


def test_timeout_is_bounded_by_timeout_s(server: OpenMeteoServer) -> None:
    server.behaviour.delay_s = 1.0
    started = datetime.now(UTC)
    with requests.Session() as http, pytest.raises(WeatherUnavailable, match="Timeout"):
        fetch_weather_day(SITE, DAY, config_for(server, timeout_s=0.2), today=DAY, fetched_at=NOW, http=http)
    assert (datetime.now(UTC) - started).total_seconds() < 0.9


def test_connection_refused_is_unavailable() -> None:
    with serve_openmeteo() as gone:
        config = config_for(gone)
    with requests.Session() as http, pytest.raises(WeatherUnavailable):
        fetch_weather_day(SITE, DAY, config, today=DAY, fetched_at=NOW, http=http)


def test_nulls_missing_and_short_arrays_leave_holes_not_failures(server: OpenMeteoServer) -> None:
    server.behaviour.null_hours = {16}
    server.behaviour.missing = {"global_tilted_irradiance"}
    server.behaviour.wrong_length = {"direct_normal_irradiance"}
    with requests.Session() as http:
        day = fetch_weather_day(SITE, DAY, config_for(server), today=DAY, fetched_at=NOW, http=http)
    assert "poa_w_m2" not in day.values
    assert "dni_w_m2" not in day.values
    labels = day.hour_ends()
    at16 = labels.index(datetime(2025, 6, 21, 16, tzinfo=UTC))
    assert day.values["ghi_w_m2"][at16] is None
    assert day.values["ghi_w_m2"][at16 + 1] is not None
    moments = [datetime(2025, 6, 21, 15, m, tzinfo=UTC) for m in (20, 50)] + [datetime(2025, 6, 21, 18, tzinfo=UTC)]
    sampled = day.sample(moments)
    # 15:20 is nearest the 15:00 temperature; 15:50 is nearest the null at 16:00, so it stays unknown.
    assert sampled["air_temp_c"][0] == day.values["air_temp_c"][at16 - 1]
    assert sampled["air_temp_c"][1] is None
    assert sampled["poa_w_m2"] == [None, None, None]
    assert sampled["ghi_w_m2"][2] > 0


def test_all_null_answer_is_a_format_error() -> None:
    payload = {"utc_offset_seconds": 0, "hourly": {"time": ["2025-06-21T04:00"], "cloud_cover": [None]}}
    with pytest.raises(WeatherFormatError, match="no usable"):
        read_openmeteo_hourly(payload, day=DAY, timezone="America/New_York", source="forecast", fetched_at=NOW)


def test_bad_time_label_is_a_format_error() -> None:
    payload = {"utc_offset_seconds": 0, "hourly": {"time": ["21/06/2025 04:00"], "cloud_cover": [10]}}
    with pytest.raises(WeatherFormatError, match="YYYY-MM-DDTHH:MM"):
        read_openmeteo_hourly(payload, day=DAY, timezone="America/New_York", source="forecast", fetched_at=NOW)


def test_local_time_labels_are_shifted_by_utc_offset() -> None:
    """Had the service answered in local time, ``utc_offset_seconds`` still puts each value at the right hour."""
    payload = {
        "utc_offset_seconds": -4 * 3600,
        "hourly_units": {"temperature_2m": "°C"},
        "hourly": {"time": ["2025-06-21T00:00", "2025-06-21T01:00"], "temperature_2m": [18.5, 17.5]},
    }
    day = read_openmeteo_hourly(payload, day=DAY, timezone="America/New_York", source="forecast", fetched_at=NOW)
    assert day.start == datetime(2025, 6, 21, 4, tzinfo=UTC)
    assert day.values["air_temp_c"][:2] == (18.5, 17.5)


def test_unexpected_units_are_refused_per_variable() -> None:
    payload = {
        "utc_offset_seconds": 0,
        "hourly_units": {"temperature_2m": "°F", "cloud_cover": "%"},
        "hourly": {"time": ["2025-06-21T04:00"], "temperature_2m": [70.0], "cloud_cover": [40]},
    }
    day = read_openmeteo_hourly(payload, day=DAY, timezone="America/New_York", source="forecast", fetched_at=NOW)
    assert "air_temp_c" not in day.values
    assert day.values["cloud_cover_pct"][0] == 40.0


def test_hour_means_are_centred_on_their_hour() -> None:
    start = datetime(2025, 6, 21, 4, tzinfo=UTC)
    day = WeatherDay(day=DAY, start=start, source="forecast", fetched_at=NOW,
                     values={"ghi_w_m2": (0.0, 100.0, 300.0), "air_temp_c": (10.0, 20.0, 30.0)})
    # The 05:00 label is the 04:00-05:00 mean: it belongs at 04:30. Temperature is instantaneous at its label.
    got = day.sample([start + timedelta(minutes=30), start + timedelta(hours=1)])
    assert got["ghi_w_m2"] == [pytest.approx(100.0), pytest.approx(200.0)]
    assert got["air_temp_c"] == [pytest.approx(15.0), pytest.approx(20.0)]
    assert day.sample([start + timedelta(hours=5)])["ghi_w_m2"] == [None]


def test_memory_round_trip_is_plain_json_and_small(server: OpenMeteoServer) -> None:
    import json

    with requests.Session() as http:
        day = fetch_weather_day(SITE, DAY, config_for(server), today=DAY, fetched_at=NOW, http=http)
    text = json.dumps(day.to_memory())
    assert len(text) < 2500
    back = WeatherDay.from_memory(json.loads(text))
    assert back.sample([NOW])["ghi_w_m2"][0] == pytest.approx(day.sample([NOW])["ghi_w_m2"][0], abs=0.1)


def test_disabled_weather_makes_no_call(server: OpenMeteoServer) -> None:
    config = WeatherConfig(enabled=False, forecast_url=server.forecast_url, archive_url=server.archive_url)
    assert weather_for_day(SITE, config, {}, DAY, now=NOW) is None
    assert server.count() == 0


def _snow_at(label: datetime) -> float:
    """1.2 cm an hour falling 10:00-12:00 UTC (the labels 11:00 and 12:00), nothing else."""
    return 1.2 if label.hour in (11, 12) else 0.0


def test_snowfall_and_snow_depth_are_asked_for_and_read_in_their_units(server: OpenMeteoServer) -> None:
    server.behaviour.snowfall_cm = _snow_at
    server.behaviour.snow_depth_m = lambda label: 0.05 if label.hour >= 11 else 0.0
    with requests.Session() as http:
        day = fetch_weather_day(SITE, DAY, config_for(server), today=DAY, fetched_at=NOW, http=http)
    assert {"snowfall", "snow_depth"} <= set(server.requests[0].params["hourly"].split(","))
    at = [datetime(2025, 6, 21, 10, 30, tzinfo=UTC), datetime(2025, 6, 21, 12, 0, tzinfo=UTC),
          datetime(2025, 6, 21, 12, 10, tzinfo=UTC)]
    got = day.sample(at)
    # Snowfall is the hour's sum (in Open-Meteo's 0.07 cm steps): a reading gets the hour it falls in, whole.
    assert got["snowfall_cm"] == [pytest.approx(1.19), pytest.approx(1.19), 0.0]
    # Snow depth is instantaneous at its label: 10:30 lies between 0 (10:00) and 5 cm (11:00).
    assert got["snow_depth_m"] == [pytest.approx(0.025), pytest.approx(0.05), pytest.approx(0.05)]


def test_a_model_without_snow_depth_answers_nulls_and_nothing_else_suffers(
    server: OpenMeteoServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.behaviour.snowfall_cm = _snow_at
    server.behaviour.null_variables = {"snow_depth"}
    caplog.set_level(logging.INFO, logger="pvs6_cloud.enrich.weather")
    with requests.Session() as http:
        day = fetch_weather_day(SITE, DAY, config_for(server), today=DAY, fetched_at=NOW, http=http)
    assert set(day.values["snow_depth_m"]) == {None}
    got = day.sample([datetime(2025, 6, 21, 11, 30, tzinfo=UTC), NOW])
    assert got["snow_depth_m"] == [None, None]
    assert got["snowfall_cm"][0] == pytest.approx(1.19)
    assert got["ghi_w_m2"][1] > 500
    assert not caplog.records


def test_an_answer_without_snow_fields_is_read_quietly_and_the_snow_stays_unknown(
    server: OpenMeteoServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.behaviour.missing = {"snowfall", "snow_depth"}
    caplog.set_level(logging.INFO, logger="pvs6_cloud.enrich.weather")
    with requests.Session() as http:
        day = fetch_weather_day(SITE, DAY, config_for(server), today=DAY, fetched_at=NOW, http=http)
    assert "snowfall_cm" not in day.values and "snow_depth_m" not in day.values
    got = day.sample([NOW])
    assert got["snowfall_cm"] == [None] and got["snow_depth_m"] == [None]
    assert got["ghi_w_m2"][0] > 500
    assert not caplog.records


def test_unknown_hourly_variables_are_refused_like_the_real_service(server: OpenMeteoServer) -> None:
    """The fake refuses what it does not know, so asking Open-Meteo for a name it lacks cannot pass here."""
    answer = requests.get(server.forecast_url, params={"latitude": "41.76", "longitude": "-72.68",
                                                        "hourly": "snowfall,snow_cover", "start_date": "2025-06-21",
                                                        "end_date": "2025-06-21"}, timeout=5)
    assert answer.status_code == 400
    assert "snow_cover" in answer.json()["reason"]


def test_snow_survives_the_persisted_memory_to_the_centimetre_and_old_memories_still_load(
    server: OpenMeteoServer,
) -> None:
    import json

    server.behaviour.snowfall_cm = _snow_at
    server.behaviour.snow_depth_m = 0.03
    with requests.Session() as http:
        day = fetch_weather_day(SITE, DAY, config_for(server), today=DAY, fetched_at=NOW, http=http)
    record = json.loads(json.dumps(day.to_memory()))
    back = WeatherDay.from_memory(record)
    moment = [datetime(2025, 6, 21, 11, 30, tzinfo=UTC)]
    assert back.sample(moment)["snow_depth_m"] == [pytest.approx(0.03)]
    assert back.sample(moment)["snowfall_cm"] == [pytest.approx(1.19)]
    for name in ("snowfall_cm", "snow_depth_m"):  # a memory written before snow was asked for
        del record["values"][name]
    old = WeatherDay.from_memory(record)
    assert old.sample(moment)["snow_depth_m"] == [None]
    assert old.sample(moment)["ghi_w_m2"][0] is not None
