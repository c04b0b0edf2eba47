"""Local times as spreadsheets read them: ``2025-06-01 06:00:00`` plus a zone label such as ``UTC-4``.

LibreOffice, Excel and Google Sheets turn ``YYYY-MM-DD HH:MM:SS`` into a date they sort and chart, but keep
``2025-06-01T06:00:00-04:00`` as text. The wall time alone is ambiguous for the hour clocks repeat in autumn,
so the UTC offset travels beside it (its own column) as a label a person can read and no spreadsheet mistakes
for a number or a formula. Standard library only: the edge's own CSV history uses the same form.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo

__all__ = ["local_time_text", "parse_local_time", "parse_utc_offset", "utc_offset_label", "with_utc_offset"]

_LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"


def local_time_text(at: datetime, tz: tzinfo) -> str:
    """``at`` as site-local wall time, to the second (``2025-06-01 06:00:00``).

    Parameters
    ----------
    at : datetime
        An aware time [any zone].
    tz : tzinfo
        The site's zone.
    """
    return at.astimezone(tz).strftime(_LOCAL_FORMAT)


def utc_offset_label(at: datetime, tz: tzinfo) -> str:
    """The site's UTC offset at ``at`` as people write it: ``UTC-4``, ``UTC+5:30``, ``UTC+0``."""
    offset = at.astimezone(tz).utcoffset() or timedelta(0)
    minutes = round(offset.total_seconds() / 60)
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def parse_utc_offset(label: str) -> timedelta | None:
    """Inverse of `utc_offset_label` (also ``-04:00`` and ``+0530``); None when ``label`` is no offset."""
    text = label.strip().upper().removeprefix("UTC").removeprefix("GMT").strip()
    if not text or text[0] not in "+-":
        return None
    sign = -1 if text[0] == "-" else 1
    body = text[1:].replace(":", "")
    if not body.isdigit() or len(body) not in (1, 2, 3, 4):
        return None
    hours, minutes = (int(body), 0) if len(body) <= 2 else (int(body[:-2]), int(body[-2:]))
    if hours > 18 or minutes >= 60:
        return None
    return sign * timedelta(hours=hours, minutes=minutes)


def parse_local_time(text: str, tz: tzinfo, offset_label: str = "") -> datetime:
    """A time written by `local_time_text` (or the older ISO 8601 form with offset) as an aware datetime.

    Parameters
    ----------
    text : str
        ``2025-11-02 01:30:00``, ``2025-11-02 01:30`` or ``2025-11-02T01:30:00-05:00``.
    tz : tzinfo
        The site's zone, for text without an offset.
    offset_label : str, optional
        The offset written beside the time (``UTC-5``): it picks the right one of the two occurrences of a
        repeated autumn hour. Without it such a time reads as its first occurrence.

    Raises
    ------
    ValueError
        When ``text`` is no time.
    """
    parsed = datetime.fromisoformat(text.strip())
    if parsed.tzinfo is not None:
        return _unambiguous(parsed.astimezone(tz))
    return with_utc_offset(parsed.replace(tzinfo=tz), offset_label)


def with_utc_offset(local: datetime, offset_label: str) -> datetime:
    """A site-local time read back from its wall time, placed by the offset written beside it.

    Inside the repeated autumn hour the result carries a fixed-offset zone: Python compares two times of one
    ``ZoneInfo`` by wall time alone, so 01:15 of the second pass would sort before 01:30 of the first.
    """
    offset = parse_utc_offset(offset_label) if offset_label else None
    if local.tzinfo is None:
        return local
    if offset is None:
        return _unambiguous(local)
    for fold in (0, 1):
        candidate = local.replace(fold=fold)
        if candidate.utcoffset() == offset:
            return _unambiguous(candidate)
    # A wall time the zone never shows with that offset (a person edited it): trust the written offset.
    return local.replace(tzinfo=timezone(offset), fold=0).astimezone(local.tzinfo)


def _unambiguous(local: datetime) -> datetime:
    if local.replace(fold=0).utcoffset() == local.replace(fold=1).utcoffset():
        return local
    offset = local.utcoffset()
    return local.astimezone(timezone(offset)) if offset is not None else local
