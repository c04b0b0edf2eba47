"""Calendar arithmetic the scheduled jobs share: local days, months and the edge's active hours.

Every job reasons in the site's local calendar (a "day" of production is a local day, the watchdog's night is
local night), while every stored time is an aware ``datetime``. These helpers are the one place that converts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo

from pvs6_cloud.infra.errors import BadRequest

__all__ = [
    "active_minutes",
    "day_bounds",
    "days_between",
    "month_days",
    "month_of",
    "parse_day",
    "parse_month",
    "previous_month",
    "same_month_last_year",
    "slots_per_day",
]

CADENCE_MIN = 15.0  # the edge's nominal reading interval (the seed's cron: every 15 minutes)


def day_bounds(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """Start and end of a local calendar day as aware datetimes (23 or 25 hours long around DST changes)."""
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return start, end


def days_between(first: date, last: date) -> list[date]:
    """Every date from ``first`` to ``last`` inclusive (empty when ``last`` is before ``first``)."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def parse_month(text: str) -> tuple[int, int]:
    """``"YYYY-MM"`` -> ``(year, month)``.

    Raises
    ------
    BadRequest
        When the text is not a month.
    """
    try:
        year_s, month_s = text.strip().split("-")
        year, month = int(year_s), int(month_s)
    except ValueError:
        raise BadRequest(f"month must look like YYYY-MM, not {text!r}") from None
    if not (1 <= month <= 12 and 1900 <= year <= 9999):
        raise BadRequest(f"month must look like YYYY-MM, not {text!r}")
    return year, month


def parse_day(text: str) -> date:
    """``"YYYY-MM-DD"`` -> date, or `BadRequest`."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise BadRequest(f"date must look like YYYY-MM-DD, not {text!r}") from None


def month_of(day: date) -> str:
    """The ``"YYYY-MM"`` a date falls in."""
    return f"{day.year:04d}-{day.month:02d}"


def month_days(month: str) -> list[date]:
    """Every date of a ``"YYYY-MM"`` month."""
    year, mon = parse_month(month)
    first = date(year, mon, 1)
    nxt = date(year + (mon == 12), mon % 12 + 1, 1)
    return days_between(first, nxt - timedelta(days=1))


def previous_month(month: str) -> str:
    """The month before ``"YYYY-MM"``."""
    year, mon = parse_month(month)
    return f"{year - 1:04d}-12" if mon == 1 else f"{year:04d}-{mon - 1:02d}"


def same_month_last_year(month: str) -> str:
    """The same month one year earlier."""
    year, mon = parse_month(month)
    return f"{year - 1:04d}-{mon:02d}"


def slots_per_day(active_hours: tuple[int, int], cadence_min: float = CADENCE_MIN) -> int:
    """How many readings a healthy edge takes in a day's active hours at the nominal cadence."""
    start_h, end_h = active_hours
    return max(1, round((end_h - start_h) * 60.0 / cadence_min))


def active_minutes(start: datetime, end: datetime, tz: tzinfo, active_hours: tuple[int, int]) -> float:
    """Minutes of the interval ``[start, end)`` that fall inside the site's daily active hours.

    Parameters
    ----------
    start, end : datetime
        Aware interval ends; an empty or reversed interval gives 0.
    tz : tzinfo
        The site's zone: active hours are local wall-clock hours.
    active_hours : (int, int)
        ``(start_hour, end_hour)`` local [h], e.g. ``(6, 21)``.

    Returns
    -------
    float
        Overlap [min]. This is what makes the night "not silent": a Pi that stops at 20:55 with hours
        (6, 21) has been silent 5 active minutes at midnight, and 5 + n minutes at 06:00 + n.
    """
    if end <= start:
        return 0.0
    first = start.astimezone(tz).date()
    last = end.astimezone(tz).date()
    total = 0.0
    for day in days_between(first, last):
        open_at = datetime.combine(day, time(active_hours[0]), tzinfo=tz)
        close_at = (datetime.combine(day, time(active_hours[1]), tzinfo=tz) if active_hours[1] < 24
                    else day_bounds(day, tz)[1])
        lo, hi = max(start, open_at), min(end, close_at)
        if hi > lo:  # in UTC: two times in the same zone subtract as wall clocks (24 h on a 23-hour day)
            total += (hi.astimezone(UTC) - lo.astimezone(UTC)).total_seconds() / 60.0
    return total
