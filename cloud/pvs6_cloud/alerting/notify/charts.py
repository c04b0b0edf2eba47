"""The email's chart: the affected panel(s) against their peers over the day, as a small PNG.

matplotlib is imported lazily (and with the Agg backend) so importing the package stays cheap and needs no
display. The series come from the detector's day memory (``evidence["chart"]``), never from the sheet.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

__all__ = ["render_day_chart", "short_label"]

FOCUS_COLOURS = ("#c0392b", "#8e44ad", "#d35400", "#2471a3")
_LABEL_CHARS = 12
_TITLE_CHARS = 56  # what fits the plot's width at 8 pt ("Tue 23 Jun: these 6 panels (colour), the others (grey)")


def short_label(label: str) -> str:
    """A panel's name for a chart: its place name, or the last five characters of a long serial."""
    return label if len(label) <= _LABEL_CHARS else "…" + label[-5:]


def render_day_chart(chart: Mapping[str, Any], tz: tzinfo, *, title: str = "", width_in: float = 3.6,
                     height_in: float = 2.4, dpi: int = 300) -> bytes:
    """Draw one day's per-panel power: peers in grey, their median dashed, the affected panel(s) in colour.

    Parameters
    ----------
    chart : mapping
        ``{"times": [ISO UTC...], "panels": {serial: [kW or None, ...]}, "focus": [serial...],
        "labels": {serial: label}}``; every series is aligned with ``times``.
    tz : tzinfo
        The site's zone for the time axis.
    title : str
        Chart title (the finding's summary).
    width_in, height_in : float
        Figure size [in]; the default is a phone mail column (about 360 px).
    dpi : int
        Resolution [dots per inch]; 300 keeps it sharp on a 3x phone screen.

    Returns
    -------
    bytes
        A PNG image.

    Raises
    ------
    ValueError
        The chart data is empty or misaligned.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure

    times = [datetime.fromisoformat(t).astimezone(tz) for t in chart.get("times", [])]
    panels: Mapping[str, list[float | None]] = chart.get("panels", {})
    focus = [s for s in chart.get("focus", []) if s in panels]
    labels: Mapping[str, str] = chart.get("labels", {})
    if not times or not panels:
        raise ValueError("no series to draw")
    for serial, values in panels.items():
        if len(values) != len(times):
            raise ValueError(f"series of {serial} has {len(values)} points for {len(times)} times")

    fig = Figure(figsize=(width_in, height_in), dpi=dpi)
    ax = fig.add_subplot()
    peers = [s for s in panels if s not in focus]
    for serial in peers:
        ax.plot(times, [_watts(v) for v in panels[serial]], color="#b0b0b0", linewidth=0.9)
    if peers:
        median = []
        for i in range(len(times)):
            vals = sorted(v for s in peers if (v := panels[s][i]) is not None)
            median.append(vals[len(vals) // 2] * 1000.0 if vals else float("nan"))
        ax.plot(times, median, color="#555555", linewidth=1.6, linestyle="--", label="other panels (typical)")
    # A circuit's panels are one thing that stopped: one colour and one legend line ("these 6 panels"), where
    # cycling four colours over six serials would pair panels that have nothing in common.
    together = len(focus) > len(FOCUS_COLOURS)
    for n, serial in enumerate(focus):
        colour = FOCUS_COLOURS[0] if together else FOCUS_COLOURS[n]
        label = (f"these {len(focus)} panels" if n == 0 else "_nolegend_") if together \
            else short_label(labels.get(serial, serial))
        ax.plot(times, [_watts(v) for v in panels[serial]], color=colour, linewidth=2.0, label=label)
    ax.set_ylabel("Power per panel (W)", fontsize=8)  # the email's text says watts too
    ax.tick_params(labelsize=7)
    ax.set_ylim(bottom=0)
    ax.xaxis.set_major_locator(mdates.HourLocator(interval=3, tz=tz))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=tz))
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title if len(title) <= _TITLE_CHARS else title[:_TITLE_CHARS - 1] + "…", fontsize=8)
    # Below the plot: a legend inside would sit on the lines it names.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=7, frameon=False)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _watts(value_kw: float | None) -> float:
    return float("nan") if value_kw is None else float(value_kw) * 1000.0
