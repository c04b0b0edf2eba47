"""The monthly summary email: one narrow column a non-programmer enjoys on a phone, and the same in plain text.

Pure formatting: a `MonthSummary` in, an `OutgoingMail` out (the charts are drawn here, lazily). Numbers are
rounded the way people say them ("512 kWh", "8 % more than May"), and every section says what it means in
words before it shows a number.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from pvs6_cloud.alerting.notify.compose import duration_words, local_time
from pvs6_cloud.alerting.notify.costs import month_cost_sentences
from pvs6_cloud.alerting.notify.transport import OutgoingMail
from pvs6_cloud.infra.config import SiteConfig
from pvs6_cloud.jobs.charts import daily_production_png, panel_energy_png
from pvs6_cloud.jobs.summary import MonthSummary
from pvs6_cloud.jobs.window import parse_month, previous_month, same_month_last_year

__all__ = ["compose_summary_mail", "summary_lines"]

_CARD = "background:#ffffff;border-radius:10px;padding:14px 16px;margin:0 0 12px 0"
_MUTED = "color:#5f6b7a;font-size:14px"


def _month_name(month: str) -> str:
    year, mon = parse_month(month)
    return f"{date(year, mon, 1):%B %Y}"


def _short_month(month: str) -> str:
    year, mon = parse_month(month)
    return f"{date(year, mon, 1):%B}"


def _kwh(value: float | None) -> str:
    return "no data" if value is None else f"{value:,.0f} kWh"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def _compare(change: float, before: float, name: str) -> str:
    if abs(change) < 0.02:
        return f"about the same as {name} ({_kwh(before)})"
    word = "more" if change > 0 else "less"
    return f"{abs(change) * 100:.0f}% {word} than {name} ({_kwh(before)})"


def _comparison_sentence(summary: MonthSummary) -> str:
    """One sentence a person would say, whichever of last month and last year has a figure."""
    last_month = _short_month(previous_month(summary.month))
    last_year = _month_name(same_month_last_year(summary.month))
    known = [(_compare(change, before, name)) for change, before, name in (
        (summary.vs_last_month, summary.last_month_kwh, last_month),
        (summary.vs_last_year, summary.last_year_kwh, last_year)) if change is not None and before is not None]
    month_known = summary.vs_last_month is not None and summary.last_month_kwh is not None
    if len(known) == 2:
        return f"That is {known[0]} and {known[1]}."
    if not known:
        return f"There is nothing to compare it with yet: no figures for {last_month} or {last_year}."
    missing = last_year if month_known else last_month
    return f"That is {known[0]}; there is no figure for {missing} to compare with."


def _weather_verdict(ratio: float | None) -> str:
    if ratio is None:
        return "There is no weather figure to judge the month by."
    if ratio >= 0.9:
        return f"The panels made {_pct(ratio)} of what the weather allowed: right on track."
    if ratio >= 0.75:
        return f"The panels made {_pct(ratio)} of what the weather allowed: a little below par."
    return f"The panels made only {_pct(ratio)} of what the weather allowed: something is holding them back."


def _panel_sentence(summary: MonthSummary) -> str:
    weak = summary.weak_panels
    known = [p for p in summary.panels if p.kwh is not None]
    if not known:
        return "No per-panel figures this month."
    if not weak:
        return f"All {len(summary.panels)} panels pulled their weight."
    typical = sorted(p.kwh or 0.0 for p in known)[len(known) // 2]
    names = ", ".join(f"{p.label} ({_kwh(p.kwh)}, {((p.kwh or 0.0) / typical * 100) if typical else 0:.0f}% "
                      "of a typical panel)" for p in weak)
    return f"Weak this month: {names}. If it stays low, ask your installer to check it."


def _health_lines(summary: MonthSummary) -> list[str]:
    h = summary.health
    lines = [f"Readings received: {_pct(summary.completeness)} of those expected "
             f"({summary.days_with_data} of {len(summary.days)} days with data)."]
    began = summary.monitoring_began
    if began is not None:
        # The first month: only the days from the first reading on were expected to have readings.
        days = summary.days_counted or 0
        lines = [f"Monitoring began on {began.day} {began:%B}. Readings received since then: "
                 f"{_pct(summary.completeness)} of those expected ({summary.days_with_data} of {days} "
                 f"day{'s' if days != 1 else ''} with data)."]
    if h.uptime is not None:
        lines.append(f"Monitor up {_pct(h.uptime)} of daytime hours.")
    if h.write_failures:
        lines.append(f"The spreadsheet refused {h.write_failures} write(s); they were retried.")
    if h.mail_failures:
        lines.append(f"{h.mail_failures} email delivery attempt(s) failed and were retried.")
    if h.mail_failing_since:
        lines.append(f"Email has been failing since {h.mail_failing_since[:16].replace('T', ' ')} UTC; "
                     f"{h.mail_pending} message(s) are waiting.")
    return lines


def _what(alert: Mapping[str, Any]) -> str:
    """The alert's first sentence (its email's heading), without the details that follow it in the tab."""
    message = str(alert.get("message") or alert.get("kind") or "An alert").strip()
    head = re.split(r"(?<=[^.\s])\.\s", message, maxsplit=1)[0]
    return head.rstrip(".…") + "."


def _alert_line(alert: Mapping[str, Any], site: SiteConfig) -> str:
    """One short line: when it began, how long it lasted, what it was, and whether it is still open.

    The Alerts tab's message holds the whole paragraph (a circuit's names every serial); the summary lists
    the month, so each alert gets its heading only, and the email's or the tab's row has the rest.
    """
    began = alert.get("started") if isinstance(alert.get("started"), datetime) else alert.get("opened")
    resolved = alert.get("resolved")
    if not isinstance(began, datetime):
        return f"{_what(alert)} Still open." if not isinstance(resolved, datetime) else f"{_what(alert)} Cleared."
    start = local_time(began, site)
    if not isinstance(resolved, datetime):
        return f"Since {start}: {_what(alert)} Still open."
    same_day = began.astimezone(site.tz).date() == resolved.astimezone(site.tz).date()
    end = local_time(resolved, site, with_day=not same_day)
    return f"{start} to {end} ({duration_words(began, resolved)}): {_what(alert)} Cleared."


def _alert_lines(summary: MonthSummary, site: SiteConfig) -> list[str]:
    return [_alert_line(alert, site) for alert in summary.alerts]


def summary_lines(summary: MonthSummary, site: SiteConfig) -> dict[str, list[str]]:
    """The email's sections as plain sentences (shared by the text and HTML parts, and handy in tests)."""
    month = summary.month
    head = [f"Your panels made {_kwh(summary.production_kwh)} in {_month_name(month)}.",
            _comparison_sentence(summary)]
    if summary.savings is not None:
        head.append(f"Worth about {summary.currency}{summary.savings:,.2f} at {summary.currency}"
                    f"{summary.price_per_kwh:.2f} per kWh.")
    head += month_cost_sentences(summary.faults, _month_name(month), site)
    energy = [
        f"Solar produced: {_kwh(summary.production_kwh)}",
        f"Home used: {_kwh(summary.consumption_kwh)}",
        f"Bought from the grid: {_kwh(summary.import_kwh)}",
        f"Sent to the grid: {_kwh(summary.export_kwh)}",
        f"Solar used at home: {_pct(summary.self_consumption)}",
    ]
    weather = [_weather_verdict(summary.performance_ratio)]
    if summary.expected_kwh is not None:
        weather.insert(0, f"The month's weather allowed about {_kwh(summary.expected_kwh)}.")
    alerts = _alert_lines(summary, site) or ["No alerts this month."]
    return {"head": head, "energy": energy, "weather": weather, "panels": [_panel_sentence(summary)],
            "alerts": alerts, "health": _health_lines(summary)}


def _subject(summary: MonthSummary) -> str:
    change = summary.vs_last_year
    tail = f" ({change * 100:+.0f}% vs a year ago)" if change is not None else ""
    return f"{summary.site_name}: {_kwh(summary.production_kwh)} of solar in {_month_name(summary.month)}{tail}"


def _text(summary: MonthSummary, parts: dict[str, list[str]]) -> str:
    blocks = [
        "\n".join(parts["head"]),
        "ENERGY\n" + "\n".join(parts["energy"]),
        "WEATHER\n" + "\n".join(parts["weather"]),
        "PANELS\n" + "\n".join(parts["panels"]),
        "ALERTS\n" + "\n".join(f"- {a}" for a in parts["alerts"]),
        "THE MONITOR ITSELF\n" + "\n".join(parts["health"]),
    ]
    if summary.sheet_url:
        blocks.append(f"All the numbers: {summary.sheet_url}")
    blocks.append("-- PVS6 Sentinel")
    return "\n\n".join(blocks) + "\n"


def _p(text: str, style: str = "") -> str:
    return f'<p style="margin:6px 0;{style}">{html.escape(text)}</p>'


def _html(summary: MonthSummary, parts: dict[str, list[str]]) -> str:
    e = html.escape
    big = _kwh(summary.production_kwh)
    rows = "".join(
        f'<tr><td style="padding:4px 0;{_MUTED}">{e(label)}</td>'
        f'<td style="padding:4px 0;text-align:right;font-weight:600">{e(value)}</td></tr>'
        for label, value in (line.split(": ", 1) for line in parts["energy"])
    )
    alerts = "".join(f'<li style="margin:4px 0">{e(a)}</li>' for a in parts["alerts"])
    link = (f'<p style="margin:16px 0;text-align:center"><a href="{e(summary.sheet_url)}" style="background:#2e86de;'
            f'color:#ffffff;padding:10px 18px;border-radius:6px;text-decoration:none">Open the spreadsheet</a></p>'
            if summary.sheet_url else "")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="margin:0;background:#eef2f6;font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;
color:#1f2933;font-size:16px;line-height:1.4">
<div style="max-width:600px;margin:0 auto;padding:16px">
<p style="{_MUTED};margin:0 0 4px 0">{e(summary.site_name)} &middot; {e(_month_name(summary.month))}</p>
<div style="{_CARD}">
<div style="font-size:34px;font-weight:700;color:#b37700">&#9728; {e(big)}</div>
{''.join(_p(line) for line in parts["head"][1:])}
</div>
<div style="{_CARD}"><h3 style="margin:0 0 6px 0;font-size:17px">Every day of the month</h3>
<img src="cid:daily" alt="Solar production per day" style="width:100%;max-width:600px;height:auto">
{''.join(_p(line, _MUTED) for line in parts["weather"])}
</div>
<div style="{_CARD}"><h3 style="margin:0 0 6px 0;font-size:17px">Where the energy went</h3>
<table style="width:100%;border-collapse:collapse">{rows}</table></div>
<div style="{_CARD}"><h3 style="margin:0 0 6px 0;font-size:17px">Each panel</h3>
<img src="cid:panels" alt="Energy per panel" style="width:100%;max-width:600px;height:auto">
{''.join(_p(line) for line in parts["panels"])}
</div>
<div style="{_CARD}"><h3 style="margin:0 0 6px 0;font-size:17px">Alerts</h3>
<ul style="margin:0;padding-left:20px">{alerts}</ul></div>
<div style="{_CARD}"><h3 style="margin:0 0 6px 0;font-size:17px">The monitor itself</h3>
{''.join(_p(line, _MUTED) for line in parts["health"])}
</div>
{link}
<p style="{_MUTED};text-align:center;font-size:12px">PVS6 Sentinel &middot; this email is its monthly proof of life</p>
</div></body></html>
"""


def compose_summary_mail(summary: MonthSummary, site: SiteConfig, now: datetime, *,
                         resend: bool = False) -> OutgoingMail:
    """The summary email with its two inline charts (``cid:daily`` and ``cid:panels``).

    Parameters
    ----------
    summary : MonthSummary
        The month.
    site : SiteConfig
        Recipients and zone.
    now : datetime
        When it is composed [aware]; a forced resend gets a new id from it.
    resend : bool, default False
        True when this month already went out once (a forced resend must not be deduplicated away).
    """
    parts = summary_lines(summary, site)
    images = {
        "daily": daily_production_png(summary.days),
        "panels": panel_energy_png([(p.label, p.kwh, p.weak) for p in summary.panels]),
    }
    mail_id = f"summary-{site.site_id}-{summary.month}"
    if resend:
        mail_id += f"-{now:%Y%m%d%H%M%S}"
    return OutgoingMail(to=tuple(site.mail_to), subject=_subject(summary), text=_text(summary, parts),
                        html=_html(summary, parts), images=images, kind="summary", id=mail_id,
                        timezone=site.timezone)
