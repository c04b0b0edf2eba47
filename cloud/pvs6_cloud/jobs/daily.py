"""The daily rollup job: one ``Daily`` row per local day, from the Readings tab.

The arithmetic of a day's row lives in `pvs6_cloud.jobs.daily_row`; this module is the job's one I/O edge
(`run_daily_rollup`): it reads only the rows it needs (a row mark in the ``"jobs"`` state section remembers where
the last days worth re-rolling start), fills missing weather from the weather service, writes the rows, and asks
the sink to move last year's readings to its archive.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from pvs6_cloud.infra.config import SiteConfig, WeatherConfig
from pvs6_cloud.jobs.daily_row import (
    COUNTERS,
    DayWeather,
    WeatherFill,
    counter_baseline,
    panel_energy_kwh,
    rollup_day,
    rollup_days,
)
from pvs6_cloud.jobs.window import day_bounds, days_between
from pvs6_cloud.store import SheetWrite, Sink
from pvs6_cloud.store.layout import Cell
from pvs6_cloud.store.rows import panels as panel_columns

# The pure pieces are re-exported: callers have always found them here.
__all__ = [
    "COUNTERS",
    "LATE_DAYS",
    "DayWeather",
    "RollupResult",
    "counter_baseline",
    "panel_energy_kwh",
    "rollup_day",
    "rollup_days",
    "run_daily_rollup",
    "weather_fill_from",
]

log = logging.getLogger(__name__)

SECTION = "jobs"
# Each nightly run re-rolls this many recent days, so readings a Pi uploads late (after an outage) still land.
LATE_DAYS = 3
# Keep the row mark this many rows before the first row needed, in case rows arrived slightly out of order.
_MARK_MARGIN = 50
# A first run reads at most this far back.
_MAX_CATCH_UP_DAYS = 400


@dataclass(slots=True)
class RollupResult:
    """What a rollup run wrote for one site."""

    site: str
    days: list[str] = field(default_factory=list)
    rows: list[dict[str, Cell]] = field(default_factory=list)
    rotated: int = 0
    rows_read: int = 0

    def to_json(self) -> dict[str, Any]:
        """The JSON an entry point returns."""
        return {"site": self.site, "days": self.days, "rotated": self.rotated, "rows_read": self.rows_read}


def weather_fill_from(site: SiteConfig, weather: WeatherConfig, memory: dict[str, Any], now: datetime,
                      http: Any = None) -> WeatherFill:
    """A `WeatherFill` over the weather module's day expectation (cached; never raises for an outage).

    A day whose weather is still missing stays in the weather module's refill queue (``memory``).
    """

    def fill(day: date) -> DayWeather | None:
        from pvs6_cloud.enrich.conditions import daily_expectation

        expectation = daily_expectation(site, weather, memory, day, http=http, now=now)
        if expectation.source == "clearsky":
            return None  # a clear-sky bound is not what the weather allowed
        insolation = expectation.poa_insolation_kwh_m2
        if insolation is None:
            insolation = expectation.ghi_insolation_kwh_m2
        return DayWeather(expectation.cloud_cover_mean_pct, insolation, expectation.expected_kwh)

    return fill


# -- I/O edge -------------------------------------------------------------------------------------------------
def _memory(state_sections: dict[str, Any]) -> dict[str, Any]:
    return state_sections.setdefault("rollup", {})


def _new_mark(records: Sequence[Mapping[str, Cell]], offset: int, keep_from: datetime) -> int:
    """Absolute row index the next run may start reading from: a little before the first row it will need."""
    for i, r in enumerate(records):
        at = r.get("time")
        if isinstance(at, datetime) and at >= keep_from:
            return max(0, offset + i - _MARK_MARGIN)
    return max(0, offset + len(records) - _MARK_MARGIN)


def run_daily_rollup(
    sink: Sink,
    site: SiteConfig,
    now: datetime,
    *,
    days: Sequence[date] | None = None,
    weather: WeatherConfig | None = None,
    http: Any = None,
) -> RollupResult:
    """Write the Daily rows of finished days (or of ``days``) and remember where to read next time.

    Parameters
    ----------
    sink : Sink
        The site's spreadsheet.
    site : SiteConfig
        The site.
    now : datetime
        Current time [aware]; "yesterday" is in the site's zone.
    days : sequence of date, optional
        Re-roll exactly these days (reads all of Readings). Default: the days since the last run, plus the
        `LATE_DAYS` before it, up to yesterday, plus every earlier day of rows appended since the last run.
    weather : WeatherConfig, optional
        When given (and enabled), days whose readings lack weather are filled from the weather service
        (`weather_fill_from`); None: the readings' own weather only.
    http : requests.Session-like, optional
        HTTP session for the weather service.

    Returns
    -------
    RollupResult
        The rows written (idempotent: re-running replaces them).

    Raises
    ------
    SinkUnavailable
        The sheet could not be read or written; nothing counts as done and the next run retries.
    """
    state = sink.load_state()
    memory = _memory(state.section(SECTION))
    panels = panel_columns(state, site.array.places)
    today = now.astimezone(site.tz).date()
    yesterday = today - timedelta(days=1)
    explicit = days is not None
    start_row = 0 if explicit else int(memory.get("start_row", 0))
    records = sink.read_records("Readings", panels, start_row=start_row)
    if start_row and not records:
        log.info("site %s: Readings is shorter than the remembered mark; reading it all", site.site_id)
        start_row = 0
        records = sink.read_records("Readings", panels)
    result = RollupResult(site.site_id, rows_read=len(records))

    if explicit:
        wanted = sorted(set(days or ()))
    else:
        last = memory.get("last_day")
        if last:
            first = date.fromisoformat(last) - timedelta(days=LATE_DAYS - 1)
        else:
            seen = [r["time"].astimezone(site.tz).date() for r in records if isinstance(r.get("time"), datetime)]
            first = max(min(seen), today - timedelta(days=_MAX_CATCH_UP_DAYS)) if seen else today
        wanted = days_between(first, yesterday)
        if not last:  # the first run (after a replay, say) rolls every day of the readings, however old
            wanted = sorted(set(wanted) | {d for d in seen if d <= yesterday})
        # Rows appended since the last run may be days old (a Pi back from a long outage sends its backlog):
        # their days are rolled again too, not only the last LATE_DAYS.
        seen_rows = memory.get("rows_seen")
        if isinstance(seen_rows, int) and last:
            oldest = today - timedelta(days=_MAX_CATCH_UP_DAYS)
            late = {r["time"].astimezone(site.tz).date() for r in records[max(0, seen_rows - start_row):]
                    if isinstance(r.get("time"), datetime)}
            wanted = sorted(set(wanted) | {d for d in late if oldest <= d <= yesterday})
    considered = wanted
    if not explicit:
        wanted = _site_days(considered, records, site, memory, yesterday, live=bool(memory.get("last_day")))
    fill = None
    if weather is not None and weather.enabled:
        fill = weather_fill_from(site, weather, state.section("weather"), now, http)
    rows = rollup_days(records, wanted, site, panels, fill)
    result.days = [d.isoformat() for d in wanted]
    result.rows = rows

    if not explicit:
        if considered:
            memory["last_day"] = max(considered[-1].isoformat(), memory.get("last_day", ""))
        keep_from = day_bounds(today - timedelta(days=LATE_DAYS + 1), site.tz)[0]
        memory["start_row"] = _new_mark(records, start_row, keep_from)
        memory["rows_seen"] = start_row + len(records)
    upsert = {"Daily": ("date", rows)} if rows else {}
    sink.commit(SheetWrite(state=state, panels=panels, upsert=upsert))
    log.info("site %s: rolled up %d day(s) from %d reading row(s)", site.site_id, len(rows), len(records))
    if not explicit:
        result.rotated = _rotate(sink, site, today, memory)
        if result.rotated:
            # The rotation saved where each year went in the state: start from that, not the copy read before.
            fresh = sink.load_state()
            _memory(fresh.section(SECTION)).update(memory)
            sink.commit(SheetWrite(state=fresh, panels=panels))
    return result


def _site_days(wanted: Sequence[date], records: Sequence[Mapping[str, Any]], site: SiteConfig,
               memory: dict[str, Any], yesterday: date, *, live: bool) -> list[date]:
    """The wanted days that are days of the site: no empty rows before its first reading, none for the
    stretch after the last reading of an old archive replayed today.

    A day without a single reading is kept only between the first and the last day with readings (a real gap,
    shown as 0 % received) or, once the nightly job runs (``live``), among the last `LATE_DAYS` (a silent Pi
    shows at once; late data still fills it). ``memory`` keeps the first and last reading days across runs that
    read only the newest rows.
    """
    seen = {r["time"].astimezone(site.tz).date() for r in records if isinstance(r.get("time"), datetime)}
    first = min([*seen, *([date.fromisoformat(memory["first_day"])] if memory.get("first_day") else [])],
                default=None)
    last = max([*seen, *([date.fromisoformat(memory["last_reading_day"])] if memory.get("last_reading_day")
                         else [])], default=None)
    if first is not None:
        memory["first_day"] = first.isoformat()
    if last is not None:
        memory["last_reading_day"] = last.isoformat()
    if first is None or last is None:
        return []
    recent = yesterday - timedelta(days=LATE_DAYS - 1)
    return [d for d in wanted if d in seen or (d >= first and (d <= last or (live and d >= recent)))]


def _rotate(sink: Sink, site: SiteConfig, today: date, memory: dict[str, Any]) -> int:
    """Ask the sink to move last year's raw readings to its archive, when it can (Google Sheets does).

    Only rows older than both the start of this year and the days still re-rolled may go. Row indices shift
    afterwards, so the read mark starts over.
    """
    rotate = getattr(sink, "rotate_readings", None)
    if not callable(rotate):
        return 0
    year_start = day_bounds(date(today.year, 1, 1), site.tz)[0]
    still_needed = day_bounds(today - timedelta(days=LATE_DAYS + 1), site.tz)[0]
    moved = int(rotate(min(year_start, still_needed)) or 0)
    if moved:
        log.info("site %s: moved %d old reading row(s) to the archive", site.site_id, moved)
        memory["start_row"] = 0
        memory.pop("rows_seen", None)  # row numbers shifted: the next run cannot tell new rows from old
    return moved
