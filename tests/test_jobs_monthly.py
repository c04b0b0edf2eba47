"""Monthly summary: numbers from the Daily tab, comparisons, the Monthly row, the email (both parts, two PNGs),
once per month, and never lost when mail is down."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from test_jobs_daily import PANELS, TZ, WEAK, SyntheticSite, make_site, store

from pvs6_cloud.alerting.notify.transport import OutboxTransport
from pvs6_cloud.infra.config import CloudConfig, WeatherConfig
from pvs6_cloud.infra.errors import TransientError
from pvs6_cloud.jobs.compose import summary_lines
from pvs6_cloud.jobs.daily import run_daily_rollup
from pvs6_cloud.jobs.monthly import run_monthly_summary, summarize_month
from pvs6_cloud.store import SheetWrite
from pvs6_cloud.store.csv_sink import CsvSink

NOW = datetime(2025, 7, 1, 8, 0, tzinfo=TZ)


class DownTransport:
    """An SMTP server that is down: every send fails the way the real transport reports it."""

    def __init__(self) -> None:
        self.tries = 0

    def send(self, mail) -> None:
        self.tries += 1
        raise TransientError("SMTP smtp.example.com:587: connection refused")


def _site(root: Path):
    return make_site(root, sheet_url="https://docs.google.com/spreadsheets/d/abc", price_per_kwh=0.25)


@pytest.fixture(scope="module")
def month_of_readings(tmp_path_factory: pytest.TempPathFactory):
    """May and June 2025 of Readings, rolled up nightly as the scheduler would (built once, copied per test)."""
    root = tmp_path_factory.mktemp("months")
    site = _site(root)
    sink = CsvSink(site.local_dir, TZ)
    peaks = {date(2025, 5, d): 3.0 for d in range(1, 32)} | {date(2025, 6, d): 3.5 for d in range(1, 31)}
    gen = SyntheticSite(peaks, date(2025, 5, 1))
    store(sink, gen.generate(61))
    run_daily_rollup(sink, site, datetime(2025, 6, 29, 1, 0, tzinfo=TZ))
    return root, gen


@pytest.fixture
def world(month_of_readings, tmp_path: Path):
    root, gen = month_of_readings
    shutil.copytree(root / "sheet", tmp_path / "sheet")
    site = _site(tmp_path)
    sink = CsvSink(site.local_dir, TZ)
    state = sink.load_state()
    state.section("watchdog")["months"] = {"2025-06": {"active_min": 27000.0, "down_min": 540.0}}
    alert = {"opened": datetime(2025, 6, 10, 9, 30, tzinfo=TZ), "resolved": datetime(2025, 6, 10, 13, 0, tzinfo=TZ),
             "kind": "edge_silent", "device": "", "message": "The Raspberry Pi has gone silent", "alert_id": "a1"}
    typed_in = {"month": "2024-06", "production_kwh": 400.0}  # last June, typed in by the owner from an old app
    sink.commit(SheetWrite(state=state, panels=PANELS, replace={"Alerts": [alert]},
                           upsert={"Monthly": ("month", [typed_in])}))
    config = CloudConfig(sites={site.site_id: site}, weather=WeatherConfig(enabled=False))
    return site, sink, gen, config


def parts_of(path: Path) -> dict[str, list]:
    msg = message_from_bytes(path.read_bytes(), policy=policy.default)
    out: dict[str, list] = {"subject": [msg["Subject"]]}
    for part in msg.walk():
        out.setdefault(part.get_content_type(), []).append(part)
    return out


def test_summary_numbers_row_and_email(world, tmp_path: Path) -> None:
    site, sink, gen, config = world
    outbox = OutboxTransport(tmp_path / "outbox")
    result = run_monthly_summary(sink, site, config, NOW, mailer=lambda: outbox)
    assert result.month == "2025-06" and result.queued and result.mail_sent == 1

    june = sum(v["prod"] for d, v in gen.truth.items() if d.month == 6)
    may = sum(v["prod"] for d, v in gen.truth.items() if d.month == 5)
    s = result.summary
    assert s.production_kwh == pytest.approx(june, rel=1e-4)
    assert s.last_year_kwh == 400.0
    assert s.vs_last_year == pytest.approx(june / 400.0 - 1, rel=1e-3)
    assert s.last_month_kwh == pytest.approx(may, rel=0.01)
    assert s.savings == pytest.approx(june * 0.25, rel=1e-4)
    assert [p.serial for p in s.weak_panels] == [WEAK]
    assert s.completeness == pytest.approx(1.0)
    assert len(s.alerts) == 1

    monthly = {r["month"]: r for r in sink.read_records("Monthly")}
    row = monthly["2025-06"]
    assert row["production_kwh"] == pytest.approx(june, abs=0.05)  # to the tenth, as the tab shows it
    assert row["vs_last_year_pct"] == pytest.approx(june / 400.0 - 1, abs=1e-3)
    assert row["monitor_uptime_pct"] == pytest.approx(0.98)
    assert row["alerts"] == 1
    assert row["self_consumption_pct"] == pytest.approx(1 - s.export_kwh / june, abs=1e-3)

    mails = list(outbox.folder.glob("*.eml"))
    assert len(mails) == 1
    parts = parts_of(mails[0])
    assert "June 2025" in parts["subject"][0]
    text = parts["text/plain"][0].get_content()
    html = parts["text/html"][0].get_content()
    assert f"{june:,.0f} kWh" in text and f"{june:,.0f} kWh" in html
    assert "cid:daily" in html and "cid:panels" in html
    assert "https://docs.google.com/spreadsheets/d/abc" in text
    assert "Monitor up 98%" in text
    pngs = parts["image/png"]
    assert len(pngs) == 2 and all(p.get_content()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    # Drawn for a 3x phone screen: a mail column about 360 px wide gets about 1080 px.
    assert all(int.from_bytes(p.get_content()[16:20], "big") >= 1000 for p in pngs)
    assert WEAK in text
    assert "No fault cost you any solar energy in June 2025." in text  # no production fault this month


def test_the_summary_says_what_faults_cost_this_month(world, tmp_path: Path) -> None:
    site, sink, _gen, config = world
    state = sink.load_state()
    state.section("loss")["months"] = {"2025-06": 86.2, "2025-05": 3.0}
    state.section("alerts")["open"] = {"inverter_down:E1": {
        "id": "x", "kind": "inverter_down", "device": "E1", "opened": "2025-06-20T14:00:00+00:00",
        "loss": {"kwh": 30.0, "normal_kwh": 31.0, "panels": 1}}}
    sink.commit(SheetWrite(state=state, panels=PANELS))
    outbox = OutboxTransport(tmp_path / "outbox")
    run_monthly_summary(sink, site, config, NOW, mailer=lambda: outbox)
    text = parts_of(next(outbox.folder.glob("*.eml")))["text/plain"][0].get_content()
    assert "Faults cost you about 86 kWh ($21.55) in June 2025; 1 panel is still down." in text
    assert "12 months" not in text  # two months of history only


def test_each_month_goes_out_once(world, tmp_path: Path) -> None:
    site, sink, _gen, config = world
    outbox = OutboxTransport(tmp_path / "outbox")
    run_monthly_summary(sink, site, config, NOW, mailer=lambda: outbox)
    again = run_monthly_summary(sink, site, config, NOW, mailer=lambda: outbox)
    assert again.already_sent and not again.queued
    assert len(list(outbox.folder.glob("*.eml"))) == 1
    assert [r["month"] for r in sink.read_records("Monthly")].count("2025-06") == 1
    forced = run_monthly_summary(sink, site, config, NOW, mailer=lambda: outbox, force=True)
    assert forced.queued and len(list(outbox.folder.glob("*.eml"))) == 2


def test_mail_down_delays_the_summary_but_never_loses_it(world, tmp_path: Path) -> None:
    site, sink, _gen, config = world
    down = DownTransport()
    first = run_monthly_summary(sink, site, config, NOW, mailer=lambda: down)
    assert first.queued and first.mail_sent == 0 and down.tries == 1
    outbox = OutboxTransport(tmp_path / "outbox")
    later = run_monthly_summary(sink, site, config, NOW.replace(hour=9), mailer=lambda: outbox)
    assert later.already_sent and later.mail_sent == 1
    assert "June 2025" in parts_of(next(outbox.folder.glob("*.eml")))["subject"][0]


def test_words_without_history(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    gen = SyntheticSite({}, date(2025, 6, 1))
    from pvs6_cloud.jobs.daily import rollup_days

    daily = rollup_days(gen.generate(3), [date(2025, 6, d) for d in (1, 2, 3)], site, PANELS)
    summary = summarize_month("2025-06", daily, [], [], site, PANELS)
    lines = summary_lines(summary, site)
    assert lines["head"][1] == "There is nothing to compare it with yet: no figures for May or June 2024."
    assert lines["alerts"] == ["No alerts this month."]
    assert summary.days_with_data == 3
    assert summary.completeness == pytest.approx(3 / 30)
    assert summary.monthly_record()["vs_last_month_pct"] is None


@pytest.mark.parametrize(("last_month", "last_year", "sentence"), [
    (None, None, "There is nothing to compare it with yet: no figures for May or June 2024."),
    (50.0, None, "That is {m}; there is no figure for June 2024 to compare with."),
    (None, 40.0, "That is {y}; there is no figure for May to compare with."),
    (50.0, 40.0, "That is {m} and {y}."),
])
def test_the_comparison_is_one_sentence_a_person_would_say(tmp_path: Path, last_month, last_year,
                                                          sentence: str) -> None:
    """Every mix of last month / same month last year present or missing reads as plain English in the mail."""
    from dataclasses import replace

    from pvs6_cloud.jobs.compose import compose_summary_mail
    from pvs6_cloud.jobs.daily import rollup_days

    site = make_site(tmp_path)
    gen = SyntheticSite({}, date(2025, 6, 1))
    daily = rollup_days(gen.generate(3), [date(2025, 6, d) for d in (1, 2, 3)], site, PANELS)
    summary = replace(summarize_month("2025-06", daily, [], [], site, PANELS),
                      last_month_kwh=last_month, last_year_kwh=last_year)
    june = summary.production_kwh
    m = f"{abs(june / 50.0 - 1) * 100:.0f}% {'more' if june > 50 else 'less'} than May (50 kWh)"
    y = f"{abs(june / 40.0 - 1) * 100:.0f}% {'more' if june > 40 else 'less'} than June 2024 (40 kWh)"
    expected = sentence.format(m=m, y=y)
    assert summary_lines(summary, site)["head"][1] == expected
    if last_month is None or last_year is not None:
        return  # the mail itself (charts take a while to draw) is read for one case
    outbox = OutboxTransport(tmp_path / "outbox")
    outbox.send(compose_summary_mail(summary, site, NOW))
    parts = parts_of(next(outbox.folder.glob("*.eml")))
    text = parts["text/plain"][0].get_content()
    html = parts["text/html"][0].get_content()
    assert expected in text.splitlines()
    assert expected in html


def test_a_replaced_inverter_with_no_data_this_month_is_not_a_weak_panel(tmp_path: Path) -> None:
    """The old serial of a replaced inverter keeps its column, empty all month: it is not flagged weak."""
    site = make_site(tmp_path)
    gen = SyntheticSite({}, date(2025, 6, 1))
    from pvs6_cloud.jobs.daily import rollup_days

    retired = ("E00OLD", "E00OLD")
    daily = rollup_days(gen.generate(3), [date(2025, 6, d) for d in (1, 2, 3)], site, [*PANELS, retired])
    summary = summarize_month("2025-06", daily, [], [], site, [*PANELS, retired])
    assert [p.serial for p in summary.weak_panels] == [WEAK]


@pytest.mark.parametrize("nightly", [True, False], ids=["after-nightly-rollups", "no-rollup-yet"])
def test_a_first_month_begun_late_has_no_empty_days_before_the_first_reading(tmp_path: Path, nightly: bool) -> None:
    """Monitoring began on 29 June: June's summary rolls up the 30th it lacks, not 28 empty days before."""
    site = make_site(tmp_path)
    sink = CsvSink(site.local_dir, TZ)
    store(sink, SyntheticSite({}, date(2025, 6, 29)).generate(2))
    if nightly:
        run_daily_rollup(sink, site, datetime(2025, 6, 30, 1, 0, tzinfo=TZ))  # the 29th; the 30th's run was missed
    config = CloudConfig(sites={site.site_id: site}, weather=WeatherConfig(enabled=False))
    result = run_monthly_summary(sink, site, config, NOW)
    assert [r["date"] for r in sink.read_records("Daily", PANELS)] == [date(2025, 6, 29), date(2025, 6, 30)]
    assert result.summary is not None and result.summary.days_with_data == 2
