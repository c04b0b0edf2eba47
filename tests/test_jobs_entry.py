"""The scheduled entry points through functions-framework's app, loaded from cloud/main.py as Cloud Functions
would: method, OIDC door (401 / 403 / 200), per-site runs and the JSON answer."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from functions_framework import create_app
from test_jobs_daily import TZ, SyntheticSite, make_site, store
from test_oidc import ACCOUNT, AUDIENCE, Keys, certs_url, keys  # noqa: F401  (fixtures)

from pvs6_cloud.alerting.notify.transport import OutboxTransport
from pvs6_cloud.infra.config import CloudConfig, SchedulerConfig, WeatherConfig
from pvs6_cloud.infra.oidc import PRIVATE_ENV
from pvs6_cloud.runtime import Runtime, set_runtime
from pvs6_cloud.store.csv_sink import CsvSink

MAIN = Path(__file__).resolve().parents[1] / "cloud" / "main.py"
NOW = datetime(2025, 6, 4, 1, 0, tzinfo=TZ)


@pytest.fixture
def runtime(tmp_path: Path, certs_url: str) -> Runtime:  # noqa: F811
    site = make_site(tmp_path)
    store(CsvSink(site.local_dir, TZ), SyntheticSite({}, datetime(2025, 6, 1).date()).generate(3))
    config = CloudConfig(sites={"home": site}, weather=WeatherConfig(enabled=False),
                         scheduler=SchedulerConfig(audience=AUDIENCE, service_account=ACCOUNT, certs_url=certs_url))
    rt = Runtime(config, clock=lambda: NOW, mailer=OutboxTransport(tmp_path / "outbox"))
    set_runtime(rt)
    yield rt
    set_runtime(None)


def client(target: str):
    return create_app(target=target, source=str(MAIN), signature_type="http").test_client()


def test_rollup_with_schedulers_token(runtime: Runtime, keys: Keys) -> None:  # noqa: F811
    reply = client("daily_rollup").post("/", headers={"Authorization": f"Bearer {keys.token()}"})
    assert reply.status_code == 200, reply.get_json()
    body = reply.get_json()
    assert body["job"] == "daily_rollup"
    assert body["sites"][0]["days"] == ["2025-06-01", "2025-06-02", "2025-06-03"]
    site = runtime.config.site("home")
    assert len(CsvSink(site.local_dir, TZ).read_records("Daily")) == 3


def test_door(runtime: Runtime, keys: Keys) -> None:  # noqa: F811
    app = client("watchdog")
    assert app.post("/").status_code == 401
    assert app.post("/", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    other = keys.token(email="intruder@example.com")
    assert app.post("/", headers={"Authorization": f"Bearer {other}"}).status_code == 403
    wrong_aud = keys.token(aud="https://elsewhere.example.com")
    assert app.post("/", headers={"Authorization": f"Bearer {wrong_aud}"}).status_code == 401
    assert app.put("/", headers={"Authorization": f"Bearer {keys.token()}"}).status_code == 405
    ok = app.post("/", headers={"Authorization": f"Bearer {keys.token()}"})
    assert ok.status_code == 200 and ok.get_json()["sites"][0]["site"] == "home"


def test_query_is_checked_after_the_door(runtime: Runtime, keys: Keys) -> None:  # noqa: F811
    auth = {"Authorization": f"Bearer {keys.token()}"}
    assert client("daily_rollup").post("/?date=June", headers={}).status_code == 401
    assert client("daily_rollup").post("/?date=June", headers=auth).status_code == 400
    assert client("monthly_summary").post("/?month=2025-13", headers=auth).status_code == 400
    assert client("watchdog").post("/?site=nope", headers=auth).status_code == 400


def test_monthly_summary_sends_once(runtime: Runtime, keys: Keys, tmp_path: Path) -> None:  # noqa: F811
    auth = {"Authorization": f"Bearer {keys.token()}"}
    app = client("monthly_summary")
    first = app.post("/?month=2025-06&site=home", headers=auth).get_json()["sites"][0]
    assert first["queued"] and first["mail_sent"] == 1
    second = app.post("/?month=2025-06", headers=auth).get_json()["sites"][0]
    assert second["already_sent"] and second["mail_sent"] == 0
    assert len(list((tmp_path / "outbox").glob("summary-*.eml"))) == 1


@pytest.mark.parametrize("header", ["Authorization", "X-Serverless-Authorization"])
def test_private_cloud_run_service_answers_the_token_cloud_run_checked(
        runtime: Runtime, keys: Keys, header: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """Cloud Run strips the signature of the token it checked; the job then runs on the claims alone."""
    stripped = {header: f"Bearer {keys.stripped()}"}
    monkeypatch.setenv("K_SERVICE", "pvs6-watchdog")
    monkeypatch.delenv(PRIVATE_ENV, raising=False)
    assert client("watchdog").post("/", headers=stripped).status_code == 401
    monkeypatch.setenv(PRIVATE_ENV, "1")
    ok = client("watchdog").post("/", headers=stripped)
    assert ok.status_code == 200 and ok.get_json()["sites"][0]["site"] == "home"
    intruder = {header: f"Bearer {keys.stripped(email='intruder@example.com')}"}
    assert client("watchdog").post("/", headers=intruder).status_code == 403
