"""Charge each open production alert with the energy it loses, reading by reading, and learn a normal day.

Called by `flow.evaluate_batch` after the lifecycle has judged a reading, so a backlog is charged exactly as
the same readings arriving one by one. The arithmetic is `pvs6_cloud.alerting.loss`; this module only reads the reading
as the detector left it (`detect.Detection.reading`: the frame and each panel's learned normal, computed once per
reading) and writes the results into the state: the site's normal day and
the energy lost each month in ``state.section("loss")`` (``{"_last": ISO, "day": {...}, "months": {"YYYY-MM":
kWh}, "values": {"YYYY-MM": money}}``), and each alert's charge through `lifecycle.add_loss`. Each reading's kWh
are priced at its own local time (`tariff.site_price_at`: a time-of-use peak costs more than noon).

A month's loss counts each reading once: the panels' losses added up, or the whole array's shortfall when that is
larger (a dead panel also makes the array fall below the weather: the two are the same energy, not twice).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from pvs6_cloud.alerting.lifecycle import add_loss, open_alerts
from pvs6_cloud.alerting.loss import PANEL_KINDS, PRODUCTION_KINDS, FaultCost, covered_serials, lost_now, note_day
from pvs6_cloud.alerting.tariff import site_price_at
from pvs6_cloud.infra.config import SiteConfig
from pvs6_cloud.store.state import SiteState

if TYPE_CHECKING:
    from pvs6_cloud.alerting.detect.common import Frame

__all__ = ["SECTION", "FaultCost", "charge_reading", "fault_cost"]

SECTION = "loss"
BACKDATED_KINDS = frozenset({"inverter_down", "circuit_down", "array_down"})
BACKDATE_MAX_H = 3.0  # at most this much of a fault before its alert opened is charged [h]
MONTHS_KEPT = 25  # this month and the 24 before it: enough for "the last 12 months" a year from now


def charge_reading(state: SiteState, frame: Frame, site: SiteConfig) -> bool:
    """Add one reading to the normal day and to every open production alert; True when the Alerts tab should be
    rewritten to show a new Lost (kWh) figure.

    Parameters
    ----------
    state : SiteState
        Sections ``"loss"`` and ``"alerts"`` are updated.
    frame : Frame
        The reading as the detector's memory stands after it, its panels' learned normals in ``frame.normal``
        (`detect.Detection.reading`).
    site : SiteConfig
        Circuits, time zone and prices.
    """
    # Here, not at the top: the monthly job reads `fault_cost` and need not load the rules.
    from pvs6_cloud.alerting.detect.common import GAP_CAP_MIN

    enrichment = frame.enrichment
    mem = state.section(SECTION)
    step_h = _step_h(mem, frame.at, GAP_CAP_MIN)
    if step_h <= 0:
        return False
    if frame.elevation_deg is not None and frame.elevation_deg > 0:
        array_kw = enrichment.expected_kw if enrichment.expected_kw is not None else enrichment.clearsky_kw
        note_day(mem.setdefault("day", {}), frame.at.astimezone(site.tz).date(), frame.reference_kw, array_kw,
                 step_h)
    own_kw = _own_normals(frame)
    price = site_price_at(site, frame.at)
    rewrite = False
    panel_kwh, array_kwh = 0.0, 0.0  # this reading's loss, panels added up and the array's
    for key, record in sorted(open_alerts(state).items()):
        if record["kind"] not in PRODUCTION_KINDS:
            continue
        serials = covered_serials(record["kind"], record["device"], site.array.circuits)
        now = lost_now(record["kind"], serials, frame, own_kw)
        if now is None:
            continue
        lost_kw, normal_kw, rough = now
        hours = step_h + _before_opening_h(record)
        if record["kind"] in PANEL_KINDS:
            panel_kwh += max(0.0, lost_kw) * hours
        else:
            array_kwh = max(array_kwh, lost_kw * hours)
        rewrite |= add_loss(state, key, lost_kw, normal_kw, rough=rough, step_h=hours, panels=len(serials),
                            price=price)
    lost_kwh = max(panel_kwh, array_kwh)
    if lost_kwh > 0:
        months = mem.setdefault("months", {})
        month = f"{frame.at.astimezone(site.tz):%Y-%m}"
        values = mem.setdefault("values", {})
        # A month begun before prices were kept: its earlier kWh at the flat price.
        before = values.get(month, months.get(month, 0.0) * site.price_per_kwh)
        months[month] = round(months.get(month, 0.0) + lost_kwh, 4)
        values[month] = round(before + lost_kwh * price, 4)
        for table in (months, values):
            for old in sorted(table)[:-MONTHS_KEPT]:
                del table[old]
    return rewrite


def _own_normals(frame: Frame) -> dict[str, float]:
    """Each panel's normal power now by its learned share [kW], scaled by the *other* panels' output.

    `detect.normal` scales a share by the mean of all panels, which a dead panel drags down (by a twelfth on a
    12-panel roof); the mean of the others does not.
    """
    normals = frame.normal
    if not normals:
        return {}
    n = len(frame.known)
    total = sum(frame.power_kw.get(s, 0.0) for s in frame.known)
    out = {}
    for serial, own in normals.items():
        if n > 1 and own.share > 0:
            others = (total - frame.power_kw.get(serial, 0.0)) / (n - 1)
            out[serial] = own.share * others
    return out


def _before_opening_h(record: dict[str, Any]) -> float:
    """On an alert's first charge, the hours between its start and the reading that opened it [h].

    A dead panel is already dead during the 45 minutes of evidence its rule waits for; that time counts at the
    first reading's rate. Its start is its first bad reading, which, like every reading, stands for the interval
    before it: so the whole gap counts, and the opening reading adds its own step. Only for the kinds whose start
    is the fault's start (not a weak or flaky panel's).
    """
    if record.get("loss") or record["kind"] not in BACKDATED_KINDS:
        return 0.0
    started, opened = record.get("started"), record.get("opened")
    if not started or not opened:
        return 0.0
    gap_h = (datetime.fromisoformat(opened) - datetime.fromisoformat(started)).total_seconds() / 3600.0
    return min(BACKDATE_MAX_H, max(0.0, gap_h))


def _step_h(mem: dict[str, Any], at: datetime, cap_min: float) -> float:
    """Hours this reading stands for (since the previous one, capped like the rules' persistence) [h]."""
    last = mem.get("_last")
    if last and datetime.fromisoformat(last) >= at:
        return 0.0
    mem["_last"] = at.isoformat()
    if not last:
        return 0.0
    return min(cap_min, (at - datetime.fromisoformat(last)).total_seconds() / 60.0) / 60.0


def fault_cost(state: SiteState, site: SiteConfig, month: str, history_since: date | None) -> FaultCost:
    """The month's `FaultCost` from the state (``history_since``: the first day with data, for the 12 months)."""
    months: dict[str, float] = state.section(SECTION).get("months", {})
    year, mon = (int(part) for part in month.split("-"))
    window = [f"{year - (mon - k <= 0)}-{(mon - k - 1) % 12 + 1:02d}" for k in range(12)]
    first = date(int(window[-1][:4]), int(window[-1][5:]), 1)
    values: dict[str, float] = state.section(SECTION).get("values", {})
    year_kwh = sum(months.get(m, 0.0) for m in window) if history_since and history_since <= first else None
    year_value = None if year_kwh is None else sum(
        values.get(m, months.get(m, 0.0) * site.price_per_kwh) for m in window)
    panels, whole, unmeasured = set(), False, False
    for record in open_alerts(state).values():
        if record["kind"] not in PRODUCTION_KINDS:
            continue
        if record["kind"] in PANEL_KINDS:
            panels |= set(covered_serials(record["kind"], record["device"], site.array.circuits))
        else:
            whole = True
        unmeasured |= not (record.get("loss") or {}).get("normal_kwh")
    month_value = values.get(month, months.get(month, 0.0) * site.price_per_kwh)
    return FaultCost(months.get(month, 0.0), year_kwh, len(panels), whole, unmeasured, month_value, year_value)
