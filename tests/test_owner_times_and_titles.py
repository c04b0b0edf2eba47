"""What the owner reads about a group of panels: the chart says how many are drawn in colour, the all-clear and
the summary give the same times as the first email, and the summary lists each alert in one short line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pvs6_cloud.alerting.notify.charts import render_day_chart
from pvs6_cloud.alerting.notify.compose import chart_title
from pvs6_cloud.infra.config import SiteConfig

SITE = SiteConfig("home", "secret", 41.76, -72.68, "America/New_York", name="Maple St", mail_to=("o@example.com",))
T0 = datetime(2025, 6, 30, 15, 0, tzinfo=UTC)  # Mon 30 Jun, 11:00 EDT
SERIALS = [f"E0044073626{n:04d}" for n in range(12)]


def _chart(focus: list[str], panels: list[str] = SERIALS) -> dict:
    times = [(T0 - timedelta(minutes=15 * (8 - i))).isoformat() for i in range(9)]
    return {"times": times, "panels": {s: [0.2] * 8 + [0.0 if s in focus else 0.2] for s in panels},
            "focus": focus, "labels": {}}


def test_a_circuit_chart_counts_the_panels_it_draws_in_colour() -> None:
    title = chart_title(_chart(SERIALS[:6]), SITE, T0)
    assert title == "Today: these 6 panels (colour), the others (grey)"
    assert chart_title(_chart(SERIALS[:1]), SITE, T0) == "Today: this panel (colour), the others (grey)"
    assert chart_title(_chart(SERIALS, SERIALS), SITE, T0) == "Today: these 12 panels (colour)"  # no grey left
    assert render_day_chart(_chart(SERIALS[:6]), SITE.tz, title=title).startswith(b"\x89PNG")


def _circuit_row(resolved: datetime | None) -> dict:
    names = ", ".join(SERIALS[:6])
    message = (f"6 of your 12 panels stopped together at 11:00. Panels {names} all stopped producing in the same "
               "reading, on Mon 30 Jun 11:00, while the other 6 kept producing.")
    return {"started": T0, "opened": T0 + timedelta(minutes=30), "resolved": resolved,
            "kind": "A whole circuit produces nothing", "device": ",".join(SERIALS[:6]), "message": message,
            "alert_id": "a1"}


def test_the_summary_lists_each_alert_in_one_short_line() -> None:
    from pvs6_cloud.jobs.compose import summary_lines
    from pvs6_cloud.jobs.monthly import summarize_month

    alerts = [_circuit_row(T0 + timedelta(hours=2, minutes=15)),
              {**_circuit_row(None), "started": T0 + timedelta(days=-3), "opened": T0 + timedelta(days=-3),
               "message": "Panel E00440736269999 stopped producing. At 11:00 it made 0 W.", "alert_id": "a2"}]
    lines = summary_lines(summarize_month("2025-06", [], [], alerts, SITE, []), SITE)["alerts"]
    assert lines == [
        "Since Fri 27 Jun 11:00: Panel E00440736269999 stopped producing. Still open.",
        "Mon 30 Jun 11:00 to 13:15 (2 hours): 6 of your 12 panels stopped together at 11:00. Cleared.",
    ]
    assert not any(SERIALS[1] in line for line in lines)  # the circuit's serials stay in the Alerts tab


def test_the_first_bad_reading_is_the_time_every_message_gives() -> None:
    """A panel dead at the 11:00 reading (fine at 10:45): the first email, the Alerts tab's Started and the
    all-clear all say 11:00; the last good reading is only the alert's "last produced" remark."""
    from dataclasses import replace

    from test_detect_inverters import SERIALS as PANELS
    from test_detect_inverters import SITE as DETECT_SITE
    from test_detect_inverters import every, healthy, snapshot, sun

    from pvs6_cloud.alerting.flow import evaluate_batch
    from pvs6_cloud.alerting.lifecycle import alerts_rows
    from pvs6_cloud.infra.config import CloudConfig
    from pvs6_cloud.store.state import SiteState

    site = replace(DETECT_SITE, mail_to=("o@example.com",))
    dead, stopped, back = PANELS[0], datetime(2025, 6, 3, 15, 0, tzinfo=UTC), datetime(2025, 6, 3, 17, 0, tzinfo=UTC)
    state = SiteState()
    for t in every(15, 24, datetime(2025, 6, 3, 13, 0, tzinfo=UTC)):  # 09:00-14:45 EDT
        powers = {**healthy(), **({dead: 0.0} if stopped <= t < back else {})}
        snap = snapshot(t, powers, stale=[dead] if stopped <= t < back else [])
        evaluate_batch([(snap, sun())], {}, state, site, CloudConfig(sites={"home": site}), t + timedelta(seconds=20))
    [row] = alerts_rows(state, site)
    assert row["started"] == stopped and row["opened"] > stopped and row["resolved"] == back + timedelta(minutes=15)
    opened, cleared = state.section("mail")["pending"]
    assert "Not producing since about Tue 3 Jun 11:00" in opened["text"]
    assert "It last produced power on Tue 3 Jun 10:45." in opened["text"]
    assert "Cleared at Tue 3 Jun 13:15. It began at 11:00 and lasted 2 hours." in cleared["text"]


def test_a_first_month_counts_readings_from_the_first_one_on() -> None:
    from datetime import date

    from pvs6_cloud.jobs.compose import summary_lines
    from pvs6_cloud.jobs.monthly import summarize_month

    daily = [{"date": date(2025, 6, 29), "production_kwh": 27.0, "completeness_pct": 0.9},
             {"date": date(2025, 6, 30), "production_kwh": 25.0, "completeness_pct": 1.0}]
    summary = summarize_month("2025-06", daily, [], [], SITE, [])
    assert summary.completeness == 0.95 and summary.monthly_record()["completeness_pct"] == 0.95
    assert summary_lines(summary, SITE)["health"][0] == (
        "Monitoring began on 29 June. Readings received since then: 95% of those expected (2 of 2 days with data).")
    # A month watched from its first day, and the next one, are judged on every day as before.
    july = [{"date": date(2025, 7, d), "production_kwh": 25.0, "completeness_pct": 1.0} for d in range(1, 16)]
    later = summarize_month("2025-07", daily + july, [], [], SITE, [], first_day=date(2025, 6, 29))
    assert later.monitoring_began is None and later.completeness == 15 / 31
    assert summary_lines(later, SITE)["health"][0] == (
        "Readings received: 48% of those expected (15 of 31 days with data).")
