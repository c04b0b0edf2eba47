"""The two pictures of the monthly email, as PNG bytes: energy per day, and energy per panel.

Drawn for a phone: a 3.6-inch-wide figure (the width a phone mail app shows, about 360 px) at 300 dpi, so a
2x-3x screen shows it sharp and its 8-point labels stay readable; few words, value labels on a white ground so
the "typical" line never runs through them, panel names short. matplotlib is imported here, inside the
functions, with the Agg backend, so no display is needed and nothing on the ingest path pays for it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date
from typing import Any

from pvs6_cloud.alerting.notify.charts import short_label

__all__ = ["daily_production_png", "panel_energy_png"]

_SUN = "#f2a900"
_WEAK = "#d64541"
_OK = "#2e86de"
_GREY = "#9aa5b1"
PHONE_WIDTH_IN = 3.6
PHONE_DPI = 300


def _figure(height_in: float) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(PHONE_WIDTH_IN, height_in), dpi=PHONE_DPI)
    ax = fig.add_subplot(1, 1, 1)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=8)
    return fig, ax


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def daily_production_png(days: Sequence[tuple[date, float | None, float | None]]) -> bytes:
    """Bars of each day's production, with a dash for what the weather allowed.

    Parameters
    ----------
    days : sequence of (date, production [kWh] or None, expected [kWh] or None)
        Every day of the month; a day without data shows as a grey "no data" tick.
    """
    fig, ax = _figure(2.3)
    xs = [d.day for d, _, _ in days]
    produced = [p or 0.0 for _, p, _ in days]
    ax.bar(xs, produced, color=_SUN, width=0.75, label="Produced")
    expected = [(d.day, e) for d, _, e in days if e is not None]
    if expected:
        ax.scatter([x for x, _ in expected], [e for _, e in expected], marker="_", s=40, color="#333333",
                   linewidths=1.5, label="Weather allowed", zorder=3)
    missing = [d.day for d, p, _ in days if p is None]
    if missing:
        ax.scatter(missing, [0] * len(missing), marker="x", color=_GREY, s=18, label="No data", zorder=3)
    ax.set_ylabel("kWh per day", fontsize=8)
    ax.set_xlim(0.3, max(xs, default=1) + 0.7)
    ax.set_xticks([x for x in xs if x == 1 or x % 5 == 0])
    ax.legend(fontsize=7, frameon=False, loc="upper left", ncol=3, bbox_to_anchor=(0, 1.22))
    return _png(fig)


def panel_energy_png(panels: Sequence[tuple[str, float | None, bool]]) -> bytes:
    """One horizontal bar per panel; weak panels in red, the median as a dashed line.

    Parameters
    ----------
    panels : sequence of (label, energy [kWh] or None, weak)
        In the sheet's panel order.
    """
    import statistics

    height = 0.8 + 0.2 * max(1, len(panels))
    fig, ax = _figure(height)
    labels = [short_label(label) for label, _, _ in panels][::-1]
    values = [kwh or 0.0 for _, kwh, _ in panels][::-1]
    colours = [_WEAK if weak else _OK for _, _, weak in panels][::-1]
    ax.barh(range(len(values)), values, color=colours, height=0.7)
    ax.set_yticks(range(len(values)), labels)
    known = [kwh for _, kwh, _ in panels if kwh is not None]
    if known:
        median = statistics.median(known)
        ax.axvline(median, color="#333333", linestyle="--", linewidth=1)
        ax.text(median, len(values) - 0.4, " typical", fontsize=7, va="bottom")
    for y, value in enumerate(values):
        ax.text(value, y, f" {value:.0f}", va="center", fontsize=7, zorder=4,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.6})
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel("kWh this month", fontsize=8)
    ax.margins(x=0.12)
    return _png(fig)
