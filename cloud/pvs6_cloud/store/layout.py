"""The spreadsheet layout, read from ``sheets_template/layout.toml``.

Both sinks take their tabs and headers from here, so the CSV folder and the Google Sheet can never drift apart.
Rows travel between the pipeline and a sink as dicts keyed by column ``key``; the layout turns them into
ordered cells. Panel columns (``dynamic = "panel"``) are keyed ``panel:<serial>`` and follow the Devices order.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import Any

__all__ = [
    "Cell",
    "Chart",
    "Column",
    "Layout",
    "Tab",
    "load_layout",
    "panel_key",
]

Cell = str | int | float | bool | datetime | date | None
PANEL_PREFIX = "panel:"


def panel_key(serial: str) -> str:
    """The row key of an inverter's column in a panel-wide tab."""
    return PANEL_PREFIX + serial


@dataclass(frozen=True, slots=True)
class Column:
    """One column: ``key`` for code, ``title`` for people, ``type``/``format`` for the sheet.

    ``was`` lists older titles (a file written before a rename is still read; a percent column under one of
    them holds fractions); ``of`` names the datetime column an ``offset`` column belongs to.
    """

    key: str
    title: str
    type: str = "text"
    format: str = ""
    width: int = 0
    was: tuple[str, ...] = ()
    of: str = ""

    @property
    def decimals(self) -> int | None:
        """Decimal places the number format shows (``0.00`` -> 2, ``+0.0;-0.0`` -> 1); None without a format."""
        if not self.format or self.type not in ("number", "percent"):
            return None
        first = self.format.split(";", 1)[0]
        return len(first.split(".", 1)[1].rstrip("%")) if "." in first else 0


@dataclass(frozen=True, slots=True)
class Chart:
    """A chart bootstrap-sheet adds to a tab (x column and series columns by key)."""

    tab: str
    title: str
    kind: str
    x: str
    series: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Tab:
    """One tab of the spreadsheet."""

    name: str
    columns: tuple[Column, ...]
    description: str = ""
    hidden: bool = False
    dynamic: str = ""
    dynamic_title: str = "{label}"
    dynamic_format: str = ""

    def panel_columns(self, panels: Sequence[tuple[str, str]]) -> tuple[Column, ...]:
        """The extra columns for ``(serial, label)`` pairs, when this tab grows with the panels."""
        if self.dynamic != "panel":
            return ()
        return tuple(
            Column(panel_key(serial), self.dynamic_title.format(label=label), "number", self.dynamic_format)
            for serial, label in panels
        )

    def all_columns(self, panels: Sequence[tuple[str, str]] = ()) -> tuple[Column, ...]:
        """Fixed columns, then one per panel."""
        return self.columns + self.panel_columns(panels)

    def header(self, panels: Sequence[tuple[str, str]] = ()) -> list[str]:
        """The header row a person sees."""
        return [c.title for c in self.all_columns(panels)]

    def to_cells(self, row: Mapping[str, Cell], panels: Sequence[tuple[str, str]] = ()) -> list[Cell]:
        """Order a keyed row into cells; missing keys are empty cells."""
        return [row.get(c.key) for c in self.all_columns(panels)]

    def to_record(self, cells: Sequence[Any], panels: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
        """Inverse of `to_cells` for reading a tab back (values as the sink returns them)."""
        cols = self.all_columns(panels)
        return {c.key: (cells[i] if i < len(cells) else None) for i, c in enumerate(cols)}


@dataclass(frozen=True, slots=True)
class Layout:
    """Every tab and chart."""

    tabs: tuple[Tab, ...]
    charts: tuple[Chart, ...]

    def tab(self, name: str) -> Tab:
        """The tab called ``name`` (``KeyError`` if none)."""
        for tab in self.tabs:
            if tab.name == name:
                return tab
        raise KeyError(name)


def parse_layout(data: Mapping[str, Any]) -> Layout:
    """Build a `Layout` from the TOML document's data."""
    tabs = tuple(
        Tab(
            name=t["name"],
            columns=tuple(Column(**(c | {"was": tuple(c.get("was", ()))})) for c in t["columns"]),
            description=t.get("description", ""),
            hidden=t.get("hidden", False),
            dynamic=t.get("dynamic", ""),
            dynamic_title=t.get("dynamic_title", "{label}"),
            dynamic_format=t.get("dynamic_format", ""),
        )
        for t in data["tabs"]
    )
    charts = tuple(
        Chart(c["tab"], c["title"], c["kind"], c["x"], tuple(c["series"])) for c in data.get("charts", [])
    )
    return Layout(tabs, charts)


@cache
def load_layout() -> Layout:
    """The project's layout (``sheets_template/layout.toml``, shipped beside the function's code)."""
    text = resources.files("sheets_template").joinpath("layout.toml").read_text(encoding="utf-8")
    return parse_layout(tomllib.loads(text))
