"""The monthly summary: the month's numbers from the Daily tab, compared with last month and last year.

The user wants no dashboard, so this email is the view most owners will ever see, and its arrival is itself
the proof that the monitor lives. `summarize_month` is pure (records in, `MonthSummary` out: `jobs.summary`);
`run_monthly_summary` reads the tabs, writes the ``Monthly`` row, queues the mail in the site state (so an SMTP
outage delays it but never loses it) and remembers the month as sent, so it never goes out twice.

Comparisons prefer the ``Monthly`` row of the earlier month when it has a production figure (a person may type
in last year's numbers from an old app), else sum that month's Daily rows.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pvs6_cloud.alerting.costs import fault_cost
from pvs6_cloud.alerting.loss import FaultCost
from pvs6_cloud.alerting.notify.queue import deliver_pending, pending_count, queue_mail
from pvs6_cloud.infra.config import CloudConfig, SiteConfig
from pvs6_cloud.jobs.compose import compose_summary_mail
from pvs6_cloud.jobs.daily import run_daily_rollup
from pvs6_cloud.jobs.summary import MonitorHealth, MonthSummary, PanelEnergy, rounded
from pvs6_cloud.jobs.watchdog import SECTION as WATCHDOG_SECTION
from pvs6_cloud.jobs.window import month_days, month_of, parse_month, previous_month, same_month_last_year
from pvs6_cloud.store import Panels, SheetWrite, Sink
from pvs6_cloud.store.layout import Cell, panel_key
from pvs6_cloud.store.rows import panels as panel_columns
from pvs6_cloud.store.state import SiteState

__all__ = ["MonitorHealth", "MonthSummary", "SummaryResult", "first_site_day", "monitor_health", "run_monthly_summary",
           "summarize_month"]

log = logging.getLogger(__name__)

SECTION = "jobs"


@dataclass(slots=True)
class SummaryResult:
    """One site's summary run."""

    site: str
    month: str
    queued: bool = False
    already_sent: bool = False
    mail_sent: int = 0
    summary: MonthSummary | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON an entry point returns."""
        s = self.summary
        return {"site": self.site, "month": self.month, "queued": self.queued, "already_sent": self.already_sent,
                "mail_sent": self.mail_sent, "production_kwh": rounded(s.production_kwh) if s else None}


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _sum(rows: Sequence[Mapping[str, Cell]], key: str) -> float | None:
    values = [v for r in rows if (v := _num(r.get(key))) is not None]
    return sum(values) if values else None


def _rows_of_month(daily: Sequence[Mapping[str, Cell]], month: str) -> list[Mapping[str, Cell]]:
    return sorted((r for r in daily if isinstance(r.get("date"), date) and month_of(r["date"]) == month),
                  key=lambda r: r["date"])


def _month_production(month: str, daily: Sequence[Mapping[str, Cell]],
                      monthly: Sequence[Mapping[str, Cell]]) -> float | None:
    for row in monthly:
        if str(row.get("month") or "")[:7] == month and _num(row.get("production_kwh")) is not None:
            return _num(row.get("production_kwh"))
    return _sum(_rows_of_month(daily, month), "production_kwh")


def _alerts_of_month(alerts: Sequence[Mapping[str, Cell]], month: str, tz: Any) -> list[Mapping[str, Cell]]:
    """Alerts opened in the month, or opened before it and still open during it."""
    days = month_days(month)
    start = datetime.combine(days[0], datetime.min.time(), tzinfo=tz)
    end = datetime.combine(days[-1] + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    out = []
    for alert in alerts:
        opened, resolved = alert.get("opened"), alert.get("resolved")
        if not isinstance(opened, datetime) or opened >= end:
            continue
        if opened >= start or not isinstance(resolved, datetime) or resolved >= start:
            out.append(alert)
    return sorted(out, key=lambda a: a["opened"])


def monitor_health(state: SiteState, month: str) -> MonitorHealth:
    """The monitor's own record for the month, read defensively from the state sections that keep it.

    ``watchdog.months[month]`` (``active_min``, ``down_min``) gives the uptime; ``health.months[month]``
    (``write_failures``, ``mail_failures``) the failures, when the health checks record them; ``mail`` the queue.
    """
    tally = state.sections.get(WATCHDOG_SECTION, {}).get("months", {}).get(month, {})
    uptime = None
    active = _num(tally.get("active_min")) if isinstance(tally, dict) else None
    if active:
        uptime = max(0.0, 1.0 - (_num(tally.get("down_min")) or 0.0) / active)
    record = state.sections.get("health", {})
    record = record.get("months", {}).get(month, {}) if isinstance(record, dict) else {}
    record = record if isinstance(record, dict) else {}

    def count(key: str) -> int | None:
        value = record.get(key)
        return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    mail = state.sections.get("mail", {})
    mail = mail if isinstance(mail, dict) else {}
    pending = mail.get("pending", [])
    return MonitorHealth(uptime, count("write_failures"), count("mail_failures"),
                         len(pending) if isinstance(pending, list) else 0, str(mail.get("failing_since") or ""))


def summarize_month(
    month: str,
    daily: Sequence[Mapping[str, Cell]],
    monthly: Sequence[Mapping[str, Cell]],
    alerts: Sequence[Mapping[str, Cell]],
    site: SiteConfig,
    panels: Panels,
    *,
    health: MonitorHealth | None = None,
    weak_ratio: float = 0.80,
    faults: FaultCost | None = None,
    first_day: date | None = None,
) -> MonthSummary:
    """The month's numbers.

    Parameters
    ----------
    month : str
        ``"YYYY-MM"``.
    daily, monthly, alerts : sequences of records
        The Daily, Monthly and Alerts tabs (typed records, any order).
    site : SiteConfig
        Name, zone, price per kWh [currency/kWh], sheet link.
    panels : sequence of (serial, label)
        Panel columns of the Daily tab.
    health : MonitorHealth, optional
        The monitor's own record (`monitor_health`).
    weak_ratio : float, default 0.80
        A panel below this share of the median panel's energy is highlighted as weak [fraction].
    faults : FaultCost, optional
        What production faults cost (`alerting.costs.fault_cost`).
    first_day : date, optional
        The site's first day with readings (`first_site_day`); default the first Daily row with readings.
        Readings are expected from that day on only: a month the monitoring began in is not judged by the days
        before it.

    Returns
    -------
    MonthSummary
        Savings assume net metering: every solar kWh is worth ``price_per_kwh``, used at home or exported.
    """
    parse_month(month)
    rows = _rows_of_month(daily, month)
    production = _sum(rows, "production_kwh")
    consumption = _sum(rows, "consumption_kwh")
    exported = _sum(rows, "export_kwh")
    expected = _sum([r for r in rows if _num(r.get("production_kwh")) is not None], "expected_kwh")
    self_use = None
    if production and exported is not None:
        self_use = min(1.0, max(0.0, (production - exported) / production))
    ratio = production / expected if production is not None and expected and expected > 0.1 else None
    energies = [(serial, label, _sum(rows, panel_key(serial))) for serial, label in panels]
    known = [kwh for _, _, kwh in energies if kwh is not None]
    median = statistics.median(known) if known else 0.0
    panel_energy = tuple(
        PanelEnergy(serial, label, kwh, weak=bool(median > 0 and kwh is not None and kwh < weak_ratio * median))
        for serial, label, kwh in energies
    )
    by_day = {r["date"]: r for r in rows}
    days = tuple((d, _num(by_day.get(d, {}).get("production_kwh")), _num(by_day.get(d, {}).get("expected_kwh")))
                 for d in month_days(month))
    if first_day is None:
        first_day = min((r["date"] for r in daily if isinstance(r.get("date"), date)
                         and (_num(r.get("completeness_pct")) or 0) > 0), default=None)
    counted = [d for d, _, _ in days if first_day is None or d >= first_day]
    completeness = (sum(_num(r.get("completeness_pct")) or 0.0 for r in rows if r["date"] in counted)
                    / len(counted)) if counted else 0.0
    began = first_day if first_day is not None and days[0][0] < first_day <= days[-1][0] else None
    return MonthSummary(
        month=month,
        site_name=site.display_name,
        production_kwh=production,
        consumption_kwh=consumption,
        import_kwh=_sum(rows, "import_kwh"),
        export_kwh=exported,
        expected_kwh=expected,
        self_consumption=self_use,
        performance_ratio=ratio,
        last_month_kwh=_month_production(previous_month(month), daily, monthly),
        last_year_kwh=_month_production(same_month_last_year(month), daily, monthly),
        savings=None if production is None else production * site.price_per_kwh,
        currency=site.currency,
        price_per_kwh=site.price_per_kwh,
        days=days,
        panels=panel_energy,
        alerts=tuple(_alerts_of_month(alerts, month, site.tz)),
        completeness=completeness,
        days_with_data=sum(1 for r in rows if (_num(r.get("completeness_pct")) or 0.0) > 0),
        health=health or MonitorHealth(),
        sheet_url=site.sheet_url,
        faults=faults,
        monitoring_began=began,
        days_counted=len(counted) if began is not None else None,
    )


def first_site_day(state: SiteState, daily: Sequence[Mapping[str, Cell]]) -> date | None:
    """The first day with readings, as the nightly rollup remembers it or the Daily tab shows it; None when
    neither knows (no rollup has run yet)."""
    remembered = state.section(SECTION).get("rollup", {}).get("first_day")
    days = [r["date"] for r in daily if isinstance(r.get("date"), date) and (_num(r.get("completeness_pct")) or 0) > 0]
    if remembered:
        days.append(date.fromisoformat(remembered))
    return min(days, default=None)


def run_monthly_summary(
    sink: Sink,
    site: SiteConfig,
    config: CloudConfig,
    now: datetime,
    month: str | None = None,
    *,
    mailer: Callable[[], Any] | None = None,
    force: bool = False,
    http: Any = None,
) -> SummaryResult:
    """Summarize a month (default: the previous one), write its Monthly row and send the email once.

    Parameters
    ----------
    sink : Sink
        The site's spreadsheet.
    site : SiteConfig
        The site.
    config : CloudConfig
        Weather (for rolling up missing days) and detection (``weak_ratio``) settings.
    now : datetime
        Current time [aware].
    month : str, optional
        ``"YYYY-MM"``; default the month before ``now`` in the site's zone.
    mailer : callable, optional
        Returns the mail transport; None leaves the mail queued for the next job or ingest to deliver.
    force : bool, default False
        Queue the email again even if this month was already sent (the Monthly row is always refreshed).
    http : requests.Session-like, optional
        HTTP session for the weather service.

    Raises
    ------
    SinkUnavailable
        The sheet could not be read or written (nothing was queued; the next run retries).
    """
    today = now.astimezone(site.tz).date()
    month = month or previous_month(month_of(today))
    parse_month(month)
    state = sink.load_state()
    panels = panel_columns(state, site.array.places)
    daily = sink.read_records("Daily", panels)
    have = {r["date"] for r in daily if isinstance(r.get("date"), date)}
    first = first_site_day(state, daily)
    # Days before the site's first reading are no days of the site: a first month begun on the 29th has 2 rows.
    missing = [d for d in month_days(month) if d < today and d not in have and first is not None and d >= first]
    if missing or first is None:
        log.info("site %s: rolling up %s of %s first", site.site_id,
                 f"{len(missing)} day(s)" if missing else "the days with readings", month)
        run_daily_rollup(sink, site, now, days=missing or None, weather=config.weather, http=http)
        state = sink.load_state()
        daily = sink.read_records("Daily", panels)
    summary = summarize_month(month, daily, sink.read_records("Monthly"), sink.read_records("Alerts"), site, panels,
                              health=monitor_health(state, month), weak_ratio=config.detection.weak_ratio,
                              faults=fault_cost(state, site, month, min(have | {today})),
                              first_day=first_site_day(state, daily))
    result = SummaryResult(site.site_id, month, summary=summary)
    sent: dict[str, str] = state.section(SECTION).setdefault("summaries", {})
    if month in sent and not force:
        result.already_sent = True
        log.info("site %s: the %s summary went out on %s; not sending it again", site.site_id, month, sent[month])
    else:
        mail = compose_summary_mail(summary, site, now, resend=month in sent)
        queue_mail(state, mail)
        sent[month] = now.isoformat()
        result.queued = True
    sink.commit(SheetWrite(state=state, panels=panels, upsert={"Monthly": ("month", [summary.monthly_record()])}))
    if mailer is not None and pending_count(state):
        result.mail_sent = deliver_pending(state, mailer(), now)
        if result.mail_sent:
            sink.commit(SheetWrite(state=state, panels=panels))
    return result
