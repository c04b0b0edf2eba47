"""``pvs6-cloud selftest``: prove the monitor's own output paths work, and say plainly which one does not.

The owner never looks at a dashboard, so a broken sheet permission or a revoked Gmail app password would
otherwise stay silent until the day an inverter dies. For each site this command

- writes a test row into the dedicated, normally empty ``_selftest`` tab, reads it back and removes it (the
  sink has no delete, so the tab is *replaced*: first with the one row, then with nothing; real tabs, their
  per-panel columns included, are never touched and the site's state is written back exactly as it was loaded),
- sends a test email "PVS6 Sentinel is connected" to the site's recipients through the configured transport
  (SMTP, or the outbox folder locally),
- asks the weather service for today's hourly weather,

and prints a table. The exit code is 0 only when every check that ran passed (a check that is switched off in
the config is shown as skipped).
"""

from __future__ import annotations

import argparse
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pvs6_cloud.infra.config import CloudConfig, SiteConfig, load_config
from pvs6_cloud.infra.errors import ConfigError
from pvs6_cloud.intake.contract import now_utc
from pvs6_cloud.store import SheetWrite, Sink, open_sink
from pvs6_cloud.store.layout import Column, Layout, Tab
from pvs6_cloud.store.rows import panels as panel_columns

NAME = "selftest"
HELP = "write and remove a test row, send a test email, check the weather service; exit 0 only if all pass"

SUBJECT = "PVS6 Sentinel is connected"
SELFTEST_TAB = "_selftest"
# The tab's shape, used when sheets_template/layout.toml does not (yet) declare it.
SELFTEST_TAB_DEF = Tab(
    name=SELFTEST_TAB,
    description="Written and cleared by pvs6-cloud selftest; empty except during a self-test.",
    hidden=True,
    columns=(
        Column("time", "Time (UTC)", "datetime"),
        Column("check", "Check", "text"),
        Column("message", "Message", "text"),
    ),
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One line of the report. ``ok`` is True (passed), False (failed) or None (skipped)."""

    name: str
    ok: bool | None
    detail: str

    @property
    def label(self) -> str:
        """What the Result column shows."""
        return {True: "OK", False: "FAILED", None: "skipped"}[self.ok]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--site", metavar="ID", help="test only this site (default: every site in the config)")


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    results = run_checks(config, [args.site] if args.site else None)
    print(format_report(results))
    return 0 if passed(results) else 1


def passed(results: Sequence[CheckResult]) -> bool:
    """True when no check failed (skipped checks do not fail the self-test)."""
    return all(r.ok is not False for r in results)


def run_checks(
    config: CloudConfig,
    site_ids: Sequence[str] | None = None,
    *,
    sink_for: Callable[[SiteConfig], Sink] | None = None,
    transport: Any = None,
    weather_http: Any = None,
    clock: Callable[[], datetime] = now_utc,
) -> list[CheckResult]:
    """Run the sheet, email and weather checks for each chosen site.

    Parameters
    ----------
    config : CloudConfig
        The configuration to test, exactly as the function would use it.
    site_ids : sequence of str, optional
        Sites to test; all of them when omitted.
    sink_for, transport, weather_http, clock : optional
        Replacements for the real sink factory, mail transport, weather HTTP session and clock (tests).

    Raises
    ------
    ConfigError
        A requested site is not in the config.
    """
    ids = list(site_ids or config.sites)
    unknown = [s for s in ids if s not in config.sites]
    if unknown:
        raise ConfigError(f"no site {unknown[0]!r} in the config (sites: {', '.join(config.sites)})")
    open_site = sink_for or (lambda site: open_sink(site, config))
    results: list[CheckResult] = []
    for site_id in ids:
        site = config.sites[site_id]
        results.append(check_sheet(site, open_site, clock()))
        results.append(check_mail(site, config, transport, clock()))
        results.append(check_weather(site, config, weather_http, clock()))
    return results


def _with_selftest_tab(sink: Any) -> None:
    """Teach the sink the ``_selftest`` tab when the project layout does not declare it."""
    layout = getattr(sink, "layout", None)
    if isinstance(layout, Layout) and SELFTEST_TAB not in {t.name for t in layout.tabs}:
        sink.layout = Layout(tabs=(*layout.tabs, SELFTEST_TAB_DEF), charts=layout.charts)


def _where(site: SiteConfig) -> str:
    return site.sheet_url if site.spreadsheet_id else f"the CSV folder {site.local_dir}"


def check_sheet(site: SiteConfig, open_site: Callable[[SiteConfig], Sink], now: datetime) -> CheckResult:
    """Write a test row into ``_selftest``, read it back, remove it; report what failed in plain words."""
    name = f"{site.site_id}: sheet"
    token = f"selftest-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    row = {"time": now, "check": token, "message": "written by pvs6-cloud selftest and removed straight away"}
    stage = "open the sheet"
    try:
        sink = open_site(site)
        _with_selftest_tab(sink)
        stage = "prepare the tabs"
        # The site's own panel columns, exactly as the next upload will ask for them: a layout without them
        # would have the CSV sink rewrite Readings and Daily under a header without the panels.
        panels = panel_columns(sink.load_state(), site.array.places)
        sink.ensure_layout(panels)
        stage = "write a test row"
        # The state is loaded right before each commit and written back unchanged: the sink commits rows and
        # state together, and the self-test must not change what the function remembers.
        sink.commit(SheetWrite(state=sink.load_state(), panels=panels, replace={SELFTEST_TAB: [row]}))
        stage = "read the test row back"
        if not any(r.get("check") == token for r in sink.read_records(SELFTEST_TAB)):
            return CheckResult(name, False, f"wrote a test row to {_where(site)} but could not read it back")
        stage = "remove the test row"
        sink.commit(SheetWrite(state=sink.load_state(), panels=panels, replace={SELFTEST_TAB: []}))
        if any(r.get("check") == token for r in sink.read_records(SELFTEST_TAB)):
            return CheckResult(name, False, f"the test row is still in tab {SELFTEST_TAB} of {_where(site)}")
    except Exception as err:  # the self-test reports every failure instead of stopping at the first
        log.debug("sheet check of %s failed", site.site_id, exc_info=True)
        return CheckResult(name, False, f"could not {stage} ({_where(site)}): {err}")
    return CheckResult(name, True, f"wrote, read back and removed a test row in tab {SELFTEST_TAB} of {_where(site)}")


def check_mail(site: SiteConfig, config: CloudConfig, transport: Any, now: datetime) -> CheckResult:
    """Send "PVS6 Sentinel is connected" to the site's recipients through the configured transport."""
    name = f"{site.site_id}: email"
    if not site.mail_to:
        return CheckResult(name, False, f"sites.{site.site_id}.mail_to is empty: alerts would reach nobody")
    mail_config = config.mail
    how = (f"SMTP {mail_config.smtp_host}:{mail_config.smtp_port}" if mail_config.uses_smtp
           else f"the outbox folder {mail_config.outbox_dir}")
    local = now.astimezone(site.tz)
    text = (
        f"{SUBJECT}.\n\n"
        f"This is a test from PVS6 Sentinel's self-test for {site.display_name}, sent {local:%Y-%m-%d %H:%M %Z}.\n"
        "If you are reading it, alert emails and the monthly summary can reach you. Nothing else to do.\n"
    )
    html = (
        f"<p><b>{SUBJECT}.</b></p><p>This is a test from PVS6 Sentinel's self-test for "
        f"{_escape(site.display_name)}, sent {local:%Y-%m-%d %H:%M %Z}.</p>"
        "<p>If you are reading it, alert emails and the monthly summary can reach you. Nothing else to do.</p>"
    )
    try:
        from pvs6_cloud.alerting.notify.transport import OutgoingMail, transport_from_config

        sender = transport if transport is not None else transport_from_config(mail_config)
        sender.send(OutgoingMail(
            to=tuple(site.mail_to), subject=f"{SUBJECT}: {site.display_name}", text=text, html=html,
            kind="selftest", id=f"selftest-{site.site_id}-{now:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}",
            timezone=site.timezone,
        ))
    except Exception as err:  # reported, not raised: the other checks still run
        log.debug("mail check of %s failed", site.site_id, exc_info=True)
        return CheckResult(name, False, f"could not send the test email via {how}: {err}")
    return CheckResult(name, True, f'sent "{SUBJECT}" to {", ".join(site.mail_to)} via {how}')


def check_weather(site: SiteConfig, config: CloudConfig, http: Any, now: datetime) -> CheckResult:
    """Ask the weather service for today's hourly weather at the site."""
    name = f"{site.site_id}: weather"
    if not config.weather.enabled:
        return CheckResult(name, None, "weather is switched off in the config ([weather] enabled = false)")
    today = now.astimezone(site.tz).date()
    try:
        from pvs6_cloud.enrich.weather import fetch_weather_day

        day = fetch_weather_day(site, today, config.weather, today=today, fetched_at=now, http=http)
    except Exception as err:  # reported, not raised
        log.debug("weather check of %s failed", site.site_id, exc_info=True)
        return CheckResult(name, False, f"the weather service did not answer usefully: {err}")
    return CheckResult(name, True, f"Open-Meteo answered: {day.hours} hours of weather for {today}")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def format_report(results: Sequence[CheckResult]) -> str:
    """The plain table a person reads, and a last line that says what to do."""
    headers = ("Check", "Result", "Details")
    rows = [(r.name, r.label, r.detail) for r in results]
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(2)]
    lines = ["PVS6 Sentinel self-test", ""]
    for i, row in enumerate([headers, *rows]):
        lines.append(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}")
        if i == 0:
            lines.append(f"{'-' * widths[0]}  {'-' * widths[1]}  {'-' * 7}")
    failed = sum(1 for r in results if r.ok is False)
    ran = sum(1 for r in results if r.ok is not None)
    lines.append("")
    if failed:
        lines.append(f"{ran - failed} of {ran} checks passed, {failed} failed. "
                     "Fix what failed (see Details) and run the self-test again.")
    else:
        lines.append(f"All {ran} checks passed.")
    return "\n".join(lines)
