"""Alert emails in plain words: what happened, the evidence, what to do, and a chart of the day.

Pure formatting (F4): findings in, an `OutgoingMail` out. The HTML is a single narrow column with inline styles
(what phone mail apps render reliably); the plain-text part says exactly the same things. Charts are drawn only
for findings that carry the day's per-panel series (``evidence["chart"]``), at most `MAX_CHARTS` per mail.
"""

from __future__ import annotations

import hashlib
import html
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pvs6_cloud.alerting.findings import KIND_TITLES
from pvs6_cloud.alerting.notify.costs import cost_words, resolved_cost_words
from pvs6_cloud.alerting.notify.transport import OutgoingMail
from pvs6_cloud.infra.config import SiteConfig

if TYPE_CHECKING:
    from pvs6_cloud.alerting.findings import Finding, ResolvedAlert

__all__ = ["KIND_TITLES", "chart_title", "compose_alert_mail", "duration_words", "local_time"]

log = logging.getLogger(__name__)

MAX_CHARTS = 4
# An event whose reading is older than this when the mail is written happened while the Pi could not send:
# the mail says so, and gives its day and time, instead of reading like news of the moment.
LATE_AFTER = timedelta(minutes=60)


def local_time(at: datetime, site: SiteConfig, *, with_day: bool = True) -> str:
    """A time as a homeowner reads it, in the site's zone ("Tue 3 Jun 10:45")."""
    local = at.astimezone(site.tz)
    return f"{local:%a} {local.day} {local:%b %H:%M}" if with_day else f"{local:%H:%M}"


def _on(at: datetime, site: SiteConfig) -> str:
    """"on Tue 23 Jun at 10:00", in the site's zone."""
    local = at.astimezone(site.tz)
    return f"on {local:%a} {local.day} {local:%b} at {local:%H:%M}"


def _late(at: datetime | None, now: datetime) -> bool:
    return at is not None and now - at > LATE_AFTER


def _past_words(at: datetime | None, now: datetime, site: SiteConfig) -> str:
    """The sentence that dates a late event ("While your Pi was offline, on Tue 23 Jun at 10:00, ..."), or ""."""
    if at is None or not _late(at, now):
        return ""
    return f"While your Pi was offline, {_on(at, site)}, its readings showed this."


def chart_title(chart: dict, site: SiteConfig, now: datetime) -> str:
    """The chart's day and what its colours mean, counted from what it draws.

    "Today: ..." only when the chart's day is today; a past day is named ("Tue 23 Jun: ..."). A circuit's alert
    draws several panels in colour: the title counts them ("these 6 panels (colour)") rather than saying "this
    panel" over six coloured lines, and names the grey ones only when there are some.
    """
    times = chart.get("times") or []
    day = datetime.fromisoformat(times[-1]).astimezone(site.tz) if times else now.astimezone(site.tz)
    when = "Today" if day.date() == now.astimezone(site.tz).date() else f"{day:%a} {day.day} {day:%b}"
    panels = chart.get("panels") or {}
    focus = [s for s in chart.get("focus") or [] if not panels or s in panels]
    coloured = "this panel (colour)" if len(focus) <= 1 else f"these {len(focus)} panels (colour)"
    others = len(panels) - len(focus) if panels else 1
    return f"{when}: {coloured}" + (", the others (grey)" if others > 0 else "")


def duration_words(start: datetime, end: datetime) -> str:
    """How long something lasted, as a person says it ("45 minutes", "about an hour", "3 hours", "2 days")."""
    hours = max(0.0, (end - start).total_seconds() / 3600.0)
    if hours < 1.0:
        return f"{round(hours * 60)} minutes"
    if hours < 48.0:
        return f"{hours:.0f} hours" if hours >= 1.5 else "about an hour"
    return f"{hours / 24.0:.0f} days"


def _subject(site: SiteConfig, opened: Sequence[Finding], reminded: Sequence[Finding],
             resolved: Sequence[ResolvedAlert]) -> str:
    name = site.display_name
    if opened:
        head = opened[0].summary if len(opened) == 1 else f"{len(opened)} problems with your solar system"
        extra = len(reminded) + len(resolved)
        return f"[{name}] {head}" + (f" (+{extra} update{'s' if extra > 1 else ''})" if extra else "")
    if reminded:
        head = reminded[0].summary if len(reminded) == 1 else f"{len(reminded)} problems still open"
        return f"[{name}] Still not fixed: {head}"
    head = resolved[0].summary if len(resolved) == 1 else f"{len(resolved)} problems cleared"
    return f"[{name}] Resolved: {head}"


def _mail_id(site: SiteConfig, now: datetime, opened: Sequence[Finding], reminded: Sequence[Finding],
             resolved: Sequence[ResolvedAlert]) -> str:
    parts = [site.site_id, now.isoformat()]
    parts += [f"o:{f.key}" for f in opened] + [f"m:{f.key}" for f in reminded] + [f"r:{r.key}" for r in resolved]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


def _charts(findings: Sequence[Finding], site: SiteConfig, now: datetime) -> dict[str, bytes]:
    images: dict[str, bytes] = {}
    for finding in findings:
        chart = finding.evidence.get("chart") if finding.evidence else None
        if not chart or len(images) >= MAX_CHARTS:
            continue
        from pvs6_cloud.alerting.notify.charts import render_day_chart

        try:
            images[_cid(finding)] = render_day_chart(chart, site.tz, title=chart_title(chart, site, now))
        except (ValueError, TypeError, KeyError, RuntimeError, OSError) as err:
            log.warning("chart for %s not drawn: %s", finding.key, err)
    return images


def _cid(finding: Finding) -> str:
    # The same alert can open twice inside one backlog: each opening has its own chart.
    at = finding.at.isoformat() if finding.at is not None else ""
    return "chart-" + hashlib.sha256(f"{finding.key}|{at}".encode()).hexdigest()[:10]


def _chart_alt(finding: Finding) -> str:
    chart = finding.evidence.get("chart") if finding.evidence else None
    count = len((chart or {}).get("focus") or [])
    return f"these {count} panels against the others" if count > 1 else "this panel against the others"


def _text_block(finding: Finding, heading: str, past: str = "", cost: str = "") -> list[str]:
    return [f"{heading}: {finding.summary}", "", *([past, ""] if past else []), finding.details, "",
            *([cost, ""] if cost else []), f"What to do: {finding.advice}", ""]


def _html_card(finding: Finding, heading: str, colour: str, images: dict[str, bytes], past: str = "",
               cost: str = "") -> str:
    e = html.escape
    chart = ""
    if _cid(finding) in images:
        chart = (f'<img src="cid:{_cid(finding)}" alt="Chart: {e(_chart_alt(finding))}" '
                 'style="width:100%;max-width:560px;height:auto;margin:8px 0;border:1px solid #ddd">')
    return (
        f'<div style="border-left:6px solid {colour};padding:8px 12px;margin:16px 0;background:#fafafa">'
        f'<div style="font-size:13px;color:{colour};text-transform:uppercase;letter-spacing:.05em">{e(heading)}</div>'
        f'<div style="font-size:19px;font-weight:bold;margin:4px 0">{e(finding.summary)}</div>'
        + (f'<p style="margin:6px 0;font-weight:bold">{e(past)}</p>' if past else "")
        + f'<p style="margin:6px 0">{e(finding.details)}</p>{chart}'
        + "".join(f'<p style="margin:6px 0">{e(part)}</p>' for part in cost.split("\n\n") if part)
        + f'<p style="margin:6px 0"><b>What to do:</b> {e(finding.advice)}</p></div>'
    )


def compose_alert_mail(
    site: SiteConfig,
    opened: Sequence[Finding],
    reminded: Sequence[Finding],
    resolved: Sequence[ResolvedAlert],
    now: datetime,
    *,
    attachments: Mapping[str, bytes] | None = None,
    claims: Mapping[str, str] | None = None,
) -> OutgoingMail:
    """One email for everything that opened, is still open (reminder) or cleared in one round.

    Parameters
    ----------
    site : SiteConfig
        Name, recipients, time zone and sheet link.
    opened, reminded : sequence of Finding
        New alerts, and open alerts due for their daily reminder.
    resolved : sequence of ResolvedAlert
        Alerts that cleared.
    now : datetime
        Current time [aware UTC]; part of the mail's stable id.
    attachments : mapping of str to bytes, optional
        Evidence files (name -> CSV) to attach.
    claims : mapping of str to str, optional
        By finding key: the warranty-claim paragraph shown under that new alert.

    Returns
    -------
    OutgoingMail
        Kind ``"alert"`` (anything opened), ``"reminder"`` (only reminders) or ``"resolved"``.
    """
    images = _charts([*opened, *reminded], site, now)
    e = html.escape
    text: list[str] = [f"PVS6 Sentinel for {site.display_name}, {local_time(now, site)}", ""]
    cards: list[str] = []
    if any(_late(f.at, now) for f in opened) or any(_late(r.resolved_at, now) for r in resolved):
        intro = ("This email reports the past: the readings below reached the monitor late, after your Pi "
                 "could not send for a while. Each item says when it happened.")
        text += [intro, ""]
        cards.append(f'<p style="margin:12px 0">{e(intro)}</p>')
    for finding in opened:
        heading = KIND_TITLES.get(finding.kind, "Problem")
        past = _past_words(finding.at, now, site)
        cost = cost_words(finding.loss, site, reminder=False)
        claim = (claims or {}).get(finding.key, "")
        cost = f"{cost}\n\n{claim}".strip() if claim else cost
        text += _text_block(finding, "NEW", past, cost)
        cards.append(_html_card(finding, f"New: {heading}", "#c0392b", images, past, cost))
    for finding in reminded:
        cost = cost_words(finding.loss, site, reminder=True)
        text += _text_block(finding, "STILL OPEN", cost=cost)
        cards.append(_html_card(finding, f"Still open: {KIND_TITLES.get(finding.kind, 'Problem')}", "#d68910",
                                images, cost=cost))
    for item in resolved:
        cleared = item.resolved_at or now
        began = item.started_at or item.opened_at
        # "began" is the alert's Started, its first bad reading: the time its first email gave.
        same_day = began.astimezone(site.tz).date() == cleared.astimezone(site.tz).date()
        since = (f"It began {f'at {local_time(began, site, with_day=False)}' if same_day else _on(began, site)} "
                 f"and lasted {duration_words(began, cleared)}.")
        when = (f"While your Pi was offline, {_on(cleared, site)}, it cleared."
                if _late(cleared, now) else f"Cleared at {local_time(cleared, site)}.")
        cost = resolved_cost_words(item.loss, site)
        text += [f"RESOLVED: {item.summary}", "", f"{when} {since} {cost}Nothing more to do.", ""]
        cards.append(
            '<div style="border-left:6px solid #1e8449;padding:8px 12px;margin:16px 0;background:#fafafa">'
            '<div style="font-size:13px;color:#1e8449;text-transform:uppercase;letter-spacing:.05em">Resolved</div>'
            f'<div style="font-size:17px;font-weight:bold;margin:4px 0">{e(item.summary)}</div>'
            f'<p style="margin:6px 0">{e(when)} {e(since)} {e(cost)}Nothing more to do.</p>'
            "</div>"
        )
    footer_text = ["Your panels keep producing power whether or not this monitor works; "
                   "this email only tells you what it noticed."]
    footer_html = e(footer_text[0])
    if site.sheet_url:
        footer_text.append(f"Your spreadsheet (history, Alerts tab): {site.sheet_url}")
        footer_html += f'<br><a href="{e(site.sheet_url)}">Open your solar spreadsheet</a> (see the Alerts tab).'
    text += ["--", *footer_text]
    kind = "alert" if opened else ("reminder" if reminded else "resolved")
    title = "Solar alert" if opened else ("Solar reminder" if reminded else "All clear")
    body = (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1"></head>'
        '<body style="margin:0;padding:0;background:#ffffff">'
        '<div style="max-width:600px;margin:0 auto;padding:12px;font-family:-apple-system,Segoe UI,Roboto,'
        'Helvetica,Arial,sans-serif;font-size:16px;line-height:1.45;color:#222">'
        f'<div style="font-size:22px;font-weight:bold">{e(title)} for {e(site.display_name)}</div>'
        f'<div style="color:#666;font-size:14px">{e(local_time(now, site))}</div>'
        + "".join(cards)
        + f'<p style="color:#666;font-size:13px;margin-top:24px">{footer_html}</p></div></body></html>'
    )
    return OutgoingMail(
        to=tuple(site.mail_to),
        subject=_subject(site, opened, reminded, resolved),
        text="\n".join(text).strip() + "\n",
        html=body,
        images=images,
        kind=kind,
        id=_mail_id(site, now, opened, reminded, resolved),
        timezone=site.timezone,
        attachments=dict(attachments or {}),
    )
