"""What the owner reads about a group of panels: the chart says how many are drawn in colour, the all-clear and
the summary give the same times as the first email, and the summary lists each alert in one short line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pvs6_cloud.config import SiteConfig
from pvs6_cloud.notify.charts import render_day_chart
from pvs6_cloud.notify.compose import chart_title

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
