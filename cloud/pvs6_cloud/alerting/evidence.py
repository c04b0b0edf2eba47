"""Evidence for the installer: the panel and its peers, reading by reading, as a CSV a spreadsheet opens.

A warranty claim for a microinverter asks for its serial and model, the first day of the fault, what it lost
and what the monitoring said (the PVS6's own state strings). The Readings tab keeps each panel's power but not
its state or energy counter, so the ingest also keeps a short rolling record (`remember`, in
``state.section("evidence")``): every panel's power, PVS6 state and lifetime kWh each half hour of daylight over
the last `DAYS_KEPT` days, as aligned lists (about 20 KB for 12 panels). An alert mail attaches it
(`attachment`); ``pvs6-cloud evidence`` exports any period, from this record where it reaches and from the
Readings and Devices tabs before it (`rows_from_tabs`: power, and the model and last state the Devices tab knows).

CSV times are site-local ``2025-06-03 07:45:00``, which LibreOffice and Excel read as dates.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from pvs6_cloud.alerting.loss import PANEL_KINDS, covered_serials, kwh_words
from pvs6_cloud.store.layout import panel_key
from pvs6_parse.localtime import local_time_text
from pvs6_parse.models import Snapshot

if TYPE_CHECKING:
    from pvs6_cloud.alerting.findings import Finding
    from pvs6_cloud.infra.config import SiteConfig

__all__ = ["HEADER", "EvidenceRow", "attachment", "claim_paragraph", "evidence_csv", "evidence_for", "remember",
           "rows_from_buffer", "rows_from_tabs"]

DAYS_KEPT = 3  # the fault's first day and the days before it [days]
EVERY = timedelta(minutes=29)  # one point per half hour of daylight
HEADER = ("Time (local)", "Serial", "Model", "Panel", "Power (kW)", "PVS6 state", "Lifetime (kWh)")


@dataclass(frozen=True, slots=True)
class EvidenceRow:
    """One panel at one reading; ``state`` and ``lifetime_kwh`` are None where the source did not keep them."""

    at: datetime
    serial: str
    model: str
    power_kw: float | None
    state: str | None = None
    lifetime_kwh: float | None = None


def remember(mem: dict[str, Any], snapshot: Snapshot, sun_elevation_deg: float | None) -> None:
    """Add a reading to the rolling record (daylight only, one per half hour, the last `DAYS_KEPT` days)."""
    if sun_elevation_deg is None or sun_elevation_deg <= 0 or not snapshot.inverters:
        return
    times: list[str] = mem.setdefault("t", [])
    at = snapshot.captured_at
    if times and at - datetime.fromisoformat(times[-1]) < EVERY:
        return
    serials: list[str] = mem.setdefault("serials", [])
    models: dict[str, str] = mem.setdefault("models", {})
    for inv in snapshot.inverters:
        if inv.serial and inv.serial not in serials:
            serials.append(inv.serial)
        if inv.serial and inv.model:
            models[inv.serial] = inv.model
    by_serial = {inv.serial: inv for inv in snapshot.inverters}
    times.append(at.isoformat())
    mem.setdefault("p", []).append([_num(by_serial[s].power_kw, 4) if s in by_serial else None for s in serials])
    mem.setdefault("s", []).append([str(by_serial[s].state) if s in by_serial else None for s in serials])
    mem.setdefault("l", []).append([_num(by_serial[s].lifetime_kwh, 2) if s in by_serial else None for s in serials])
    keep = next((i for i, t in enumerate(times) if at - datetime.fromisoformat(t) <= timedelta(days=DAYS_KEPT)), 0)
    for key in ("t", "p", "s", "l"):
        del mem[key][:keep]


def _num(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def rows_from_buffer(mem: Mapping[str, Any], start: datetime, end: datetime) -> list[EvidenceRow]:
    """Every panel's rows in the rolling record between ``start`` and ``end`` [aware]."""
    serials = mem.get("serials", [])
    models = mem.get("models", {})
    out = []
    for i, stamp in enumerate(mem.get("t", [])):
        at = datetime.fromisoformat(stamp)
        if not start <= at <= end:
            continue
        for j, serial in enumerate(serials):
            power = _at(mem["p"][i], j)
            state = _at(mem["s"][i], j)
            if power is None and state is None:
                continue
            out.append(EvidenceRow(at, serial, models.get(serial, ""), power, state, _at(mem["l"][i], j)))
    return out


def _at(values: Sequence[Any], j: int) -> Any:
    return values[j] if j < len(values) else None


def rows_from_tabs(readings: Iterable[Mapping[str, Any]], devices: Iterable[Mapping[str, Any]],
                   start: datetime, end: datetime) -> list[EvidenceRow]:
    """Rows from the Readings tab (each panel's power) with the Devices tab's model.

    The Readings tab keeps no per-panel state or counter: those cells stay empty (the Devices tab's last
    state is a present-day fact, not a reading's, so it is not copied onto old rows).
    """
    models = {str(d.get("serial")): str(d.get("model") or "") for d in devices if d.get("serial")}
    serials = [s for s in models if s]
    out = []
    for row in readings:
        at = row.get("time")
        if not isinstance(at, datetime) or not start <= at <= end:
            continue
        for serial in serials:
            power = row.get(panel_key(serial))
            if isinstance(power, int | float) and not isinstance(power, bool):
                out.append(EvidenceRow(at, serial, models[serial], float(power)))
    return out


def evidence_csv(rows: Iterable[EvidenceRow], focus: Sequence[str], tz: tzinfo) -> bytes:
    """The CSV: one line per panel per reading, the alert's panels first at each time ("this panel" / "peer")."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(HEADER)
    ordered = sorted(rows, key=lambda r: (r.at, r.serial not in focus, r.serial))
    for r in ordered:
        writer.writerow([local_time_text(r.at, tz), r.serial, r.model,
                         "this panel" if r.serial in focus else "peer",
                         "" if r.power_kw is None else f"{r.power_kw:.4f}", r.state or "",
                         "" if r.lifetime_kwh is None else f"{r.lifetime_kwh:.2f}"])
    return buf.getvalue().encode("utf-8")


def claim_paragraph(rows: Sequence[EvidenceRow], focus: Sequence[str], first_day: str, lost: str) -> str:
    """What a warranty claim needs, in one paragraph: serial and model, first day, energy lost, PVS6 states."""
    mine = [r for r in rows if r.serial in focus]
    models = sorted({r.model for r in mine if r.model})
    states = sorted({r.state for r in mine if r.state})
    who = ", ".join(focus)
    parts = [f"For a warranty claim: serial {who}" + (f", model {', '.join(models)}" if models else ""),
             f"faulty since {first_day}"]
    if lost:
        parts.append(f"energy lost: {lost}")
    if states:
        parts.append("the PVS6 reported its state as " + ", ".join(f'"{s}"' for s in states))
    return "; ".join(parts) + ". The attached CSV has every reading of it and its neighbours for the fault " \
        "and the days before: forward this email to your installer."


def attachment(mem: Mapping[str, Any], focus: Sequence[str], started: datetime, end: datetime,
               tz: tzinfo) -> tuple[str, bytes, list[EvidenceRow]] | None:
    """The file name and CSV for an alert about ``focus`` that began at ``started`` (None without a record)."""
    rows = rows_from_buffer(mem, started - timedelta(days=DAYS_KEPT), end)
    if not any(r.serial in focus for r in rows):
        return None
    name = f"evidence-{focus[0] if len(focus) == 1 else 'circuit'}-{started.astimezone(tz):%Y-%m-%d}.csv"
    return name, evidence_csv(rows, focus, tz), rows


def evidence_for(mem: Mapping[str, Any], opened: Sequence[Finding], site: SiteConfig,
                 now: datetime) -> tuple[dict[str, bytes], dict[str, str]]:
    """Attachments and claim paragraphs (by finding key) for the panel and circuit alerts that just opened."""
    files: dict[str, bytes] = {}
    claims: dict[str, str] = {}
    for finding in opened:
        if finding.kind not in PANEL_KINDS:
            continue
        focus = covered_serials(finding.kind, finding.device, site.array.circuits)
        started = finding.started_at or finding.at or now
        made = attachment(mem, focus, started, finding.at or now, site.tz)
        if made is None:
            continue
        name, data, rows = made
        files[name] = data
        loss = finding.loss
        lost = f"about {kwh_words(loss.per_day_kwh)} a day" if loss and loss.per_day_kwh is not None else ""
        local = started.astimezone(site.tz)
        claims[finding.key] = claim_paragraph(rows, focus, f"{local:%A} {local.day} {local:%B %Y}", lost)
    return files, claims
