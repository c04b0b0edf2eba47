"""What every rule shares: the per-reading view of the array (`Frame`), persistence, and words for devices.

A `Frame` is computed once per snapshot: which inverters reported fresh measurements, their effective power (a
stale measurement counts as zero: the PVS6 repeats a dead inverter's last numbers with an old ``measured_at``), and
the *reference* power: the median of the panels that are producing. Rules compare a panel to that reference, so
clouds and season cancel out; when too few panels produce (night, overcast, snow) there is no reference and no
per-panel rule judges.

On a roof whose planes the config describes with their panels (``[[sites.X.array.planes]]``, east and west
faces), a panel's peers are the panels of its own plane (`Frame.ref_for`): an east face at 8 am makes several
times what the west face makes, and neither is a fault. A plane none of whose panels produces (a tripped breaker,
or the west face at dawn) is measured against what the model's clear sky allows it, scaled by how the other
planes do against theirs now, so a whole face going dark is still seen and a face in its own shade is not.

`persist` is the one persistence mechanism: a condition must be seen over ``open_min`` minutes of *judged* time
before its finding appears, and be gone over ``clear_min`` minutes before it disappears. Each judged reading
stands for the interval since the previous judged reading, capped at `GAP_CAP_MIN`, so nights and outages never
count as evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from statistics import median
from typing import Any

from pvs6_cloud.enrich.conditions import Enrichment
from pvs6_cloud.infra.config import DetectionConfig, SiteConfig
from pvs6_parse.models import Inverter, Snapshot

__all__ = ["GAP_CAP_MIN", "Context", "Frame", "build_frame", "judged_step", "persist", "setting",
           "weather_expected_kw"]

GAP_CAP_MIN = 20.0  # the most one reading can stand for [min]; polls are 1-15 min apart
# Settings not (yet) in DetectionConfig: name -> default. Read through `setting`, so adding them there later
# changes nothing here.
EXTRA_DEFAULTS: dict[str, float] = {
    "clear_persist_min": 30.0,  # a condition must be gone this long before its alert resolves [min]
    "missing_after_daylight_min": 60.0,  # absent inverters are not judged before this much daylight [min]
    "min_peer_share": 0.34,  # share of known panels that must produce for a peer comparison [unitless]
    "sunny_ratio": 0.6,  # a reading is "sunny" when peers make this share of clear-sky output [unitless]
    "sunny_minutes_per_day": 180.0,  # sunny time a day needs to count for the weak-panel rule [min]
    "learning_hours": 48.0,  # devices first seen within this time after monitoring starts are not "new" [h]
    "reboots_per_day": 2.0,  # daytime reboots in 24 h that open an alert [count]
    "reversed_min_kw": 0.1,  # production meter below minus this while panels produce = reversed CT [kW]
    "low_light_peer_kw": 0.003,  # under peer_min_kw, panels this strong can still be peers when they agree [kW]
    "low_light_peer_share": 0.5,  # ... when at least this share of known panels make it [unitless]
    "low_light_spread": 0.3,  # ... and their middle half lies within this fraction of their median [unitless]
}


def weather_expected_kw(enrichment: Enrichment) -> float | None:
    """``expected_kw`` when it reflects real weather; None when unknown or only the clear-sky fallback."""
    if enrichment.expected_kw is None or getattr(enrichment, "expected_source", "") == "clearsky":
        return None
    return enrichment.expected_kw


def setting(config: DetectionConfig, name: str) -> float:
    """A threshold from the config, or its documented default when the config does not have it yet."""
    value = getattr(config, name, None)
    return float(EXTRA_DEFAULTS[name] if value is None else value)


@dataclass(frozen=True, slots=True)
class Context:
    """What rules need besides the readings: the site, the thresholds, and words for devices."""

    site: SiteConfig
    config: DetectionConfig

    def circuit_of(self, serial: str) -> str:
        """The configured circuit name of an inverter, or ""."""
        for name, serials in self.site.array.circuits.items():
            if serial in serials:
                return name
        return ""

    def circuit_words(self, name: str) -> str:
        """"circuit 2" for a bare number, else the configured name as it is."""
        return f"circuit {name}" if name.isdigit() else name

    def panel_words(self, serial: str) -> str:
        """How an email names a panel: serial plus where it is, e.g. "Panel E001 (circuit 1, top row left)"."""
        place = self.site.array.places.get(serial, "")
        circuit = self.circuit_of(serial)
        where = []
        if circuit and "circuit" not in place.lower():
            where.append(self.circuit_words(circuit))
        if place:
            where.append(place)
        return f"Panel {serial}" + (f" ({', '.join(where)})" if where else "")

    def local(self, at: datetime, *, with_day: bool = False) -> str:
        """A time in the site's zone, as people read it."""
        local = at.astimezone(self.site.tz)
        return f"{local:%a} {local.day} {local:%b %H:%M}" if with_day else f"{local:%H:%M}"

    def local_date(self, at: datetime) -> str:
        """The site-local calendar date of an instant, ISO."""
        return at.astimezone(self.site.tz).date().isoformat()


@dataclass(frozen=True, slots=True)
class Frame:
    """One snapshot seen by the rules.

    Attributes
    ----------
    at : captured time [aware UTC]. elevation_deg : sun elevation [°] or None when unknown.
    present : inverters in the snapshot by serial. power_kw : effective power [kW] of present inverters (0 when the
    measurement is stale or missing). fresh : whether each present inverter's measurement is recent.
    reference_kw : median power of producing panels [kW], None when too few produce to compare.
    producing : serials producing at least ``peer_min_kw``. daylight : sun above the alerting threshold.
    normal, snow_hold, snow_day : the learned normals and the snow hold (`detect.normal`, `detect.snow`).
    replaced : serials a newcomer replaced this past month (`detect.devices`): their alerts are over.
    """

    snapshot: Snapshot
    enrichment: Enrichment
    at: datetime
    elevation_deg: float | None
    present: Mapping[str, Inverter]
    power_kw: Mapping[str, float]
    fresh: Mapping[str, bool]
    producing: frozenset[str]
    reference_kw: float | None
    daylight: bool
    known: frozenset[str] = field(default_factory=frozenset)
    # Filled by `detect` after the frame is built: each panel's learned normal now (`normal.Normal`, only where
    # learned), whether a snow hold is on, and the site-local day of recent snow ("" = none).
    normal: Mapping[str, Any] = field(default_factory=dict)
    snow_hold: bool = False
    snow_day: str = ""
    replaced: frozenset[str] = field(default_factory=frozenset)
    # Panels on a configured plane: serial -> plane index, and their plane's reference [kW] (None: not judged).
    plane: Mapping[str, int] = field(default_factory=dict)
    plane_ref_kw: Mapping[str, float | None] = field(default_factory=dict)

    def sun_climbing(self, longitude: float) -> bool:
        """Whether the sun is still east of the meridian (before solar noon), in either hemisphere.

        East of the meridian is azimuth 0-180° whether the sun culminates in the south or the north; without a
        sun azimuth, the mean solar time from the longitude (off by the equation of time, a quarter hour at most).
        """
        azimuth = self.enrichment.sun_azimuth_deg
        if azimuth is not None:
            return 0.0 < azimuth < 180.0
        solar_hours = (self.at.hour + self.at.minute / 60.0 + longitude / 15.0) % 24.0
        return solar_hours < 12.0

    def ref_for(self, serial: str) -> float | None:
        """The power a panel is compared with [kW]: its plane's reference when configured, else the array's."""
        if self.reference_kw is None:
            return None
        return self.plane_ref_kw.get(serial, self.reference_kw)

    def peers_of(self, serial: str) -> int:
        """How many panels produce among this panel's peers (its plane's, else the whole array's)."""
        if serial not in self.plane:
            return len(self.producing)
        return sum(1 for s in self.producing if self.plane.get(s) == self.plane[serial] and s != serial)

    @property
    def typical_kw(self) -> float | None:
        """What a working panel makes now [kW], to compare with the clear sky's panel: the reference, or on a
        configured multi-plane roof the panels' plane references averaged (the model's clear sky is a mean too).
        """
        if not self.plane_ref_kw or self.reference_kw is None:
            return self.reference_kw
        refs = [self.ref_for(s) for s in self.known]
        known = [r for r in refs if r is not None]
        return sum(known) / len(known) if known else None

    def age_min(self, serial: str) -> float | None:
        """Minutes since the inverter's own last measurement, at capture time (None if unknown)."""
        inv = self.present.get(serial)
        if inv is None or inv.measured_at is None:
            return None
        return (self.at - inv.measured_at).total_seconds() / 60.0

    def clearsky_panel_kw(self, ctx: Context) -> float:
        """What one panel could make under a clear sky now [kW]: from enrichment, else a rough sun-angle guess."""
        n = max(1, len(self.known) or ctx.site.array.panels)
        if self.enrichment.clearsky_kw is not None:
            return max(0.0, self.enrichment.clearsky_kw) / n
        if self.elevation_deg is None or self.elevation_deg <= 0:
            return 0.0
        from math import radians, sin

        array = ctx.site.array
        dc_kw = array.panel_w / 1000.0 * (1.0 - array.losses_pct / 100.0) * sin(radians(self.elevation_deg))
        return min(dc_kw, array.inverter_ac_w / 1000.0)


def build_frame(snapshot: Snapshot, enrichment: Enrichment, known: frozenset[str], ctx: Context) -> Frame:
    """Derive the per-reading view rules share.

    Parameters
    ----------
    snapshot, enrichment : the reading and what the sun allowed.
    known : frozenset of str
        Inverters the site is known to have (seen before or configured): the denominator of "most peers".
    ctx : Context
        Site and thresholds.
    """
    cfg = ctx.config
    stale_min = cfg.stale_measurement_min
    present = {inv.serial: inv for inv in snapshot.inverters if inv.serial}
    power: dict[str, float] = {}
    fresh: dict[str, bool] = {}
    for serial, inv in present.items():
        age = None if inv.measured_at is None else (snapshot.captured_at - inv.measured_at).total_seconds() / 60.0
        is_fresh = age is None or age <= stale_min
        fresh[serial] = is_fresh
        power[serial] = max(0.0, inv.power_kw or 0.0) if is_fresh else 0.0
    producing = frozenset(s for s, p in power.items() if p >= cfg.peer_min_kw)
    universe = max(len(known | set(present)), 1)
    reference = None
    # Two producing panels make a baseline; a two-panel site has only one peer to compare the other with.
    need = 2 if universe > 2 else 1
    if len(producing) >= need and len(producing) >= setting(cfg, "min_peer_share") * universe:
        reference = median(power[s] for s in producing)
    else:
        producing, reference = _low_light_peers(power, universe, producing, cfg)
    elevation = enrichment.sun_elevation_deg
    daylight = elevation is not None and elevation >= cfg.min_sun_elevation_deg
    everyone = frozenset(known | set(present))
    plane, plane_ref = _plane_references(everyone, power, producing, reference, enrichment, ctx)
    return Frame(snapshot, enrichment, snapshot.captured_at, elevation, present, power, fresh, producing,
                 reference, daylight, everyone, plane=plane, plane_ref_kw=plane_ref)


def _plane_references(serials: frozenset[str], power: Mapping[str, float], producing: frozenset[str],
                      reference: float | None, enrichment: Enrichment,
                      ctx: Context) -> tuple[dict[str, int], dict[str, float | None]]:
    """Each configured plane's reference: the median of its producing panels, as for the whole array.

    A plane with too few producing panels of its own gets the model's clear-sky panel of that plane times the
    other planes' ratio of reference to their clear-sky panel (how bright it is now); without that (no model
    values, no other plane producing) its panels have no reference (None) and are not judged.
    """
    array = ctx.site.array
    if len(array.planes) < 2 or reference is None:
        return {}, {}
    plane = {s: i for s in serials if (i := array.plane_of(s)) is not None}
    groups: dict[int, list[str]] = {}
    for serial, index in plane.items():
        groups.setdefault(index, []).append(serial)
    own: dict[int, float] = {}
    for index, members in groups.items():
        live = [s for s in members if s in producing]
        need = 2 if len(members) > 2 else 1
        if len(live) >= need and len(live) >= setting(ctx.config, "min_peer_share") * len(members):
            own[index] = median(power[s] for s in live)
    clear = enrichment.plane_clearsky_kw
    brightness = [own[i] / clear[i] for i in own if i < len(clear) and clear[i] > 0]
    refs: dict[str, float | None] = {}
    for index, members in groups.items():
        ref = own.get(index)
        if ref is None and brightness and index < len(clear):
            ref = median(brightness) * clear[index]
            ref = ref if ref >= ctx.config.peer_min_kw else None  # too dark there to tell dead from dim
        refs.update(dict.fromkeys(members, ref))
    return plane, refs


def _low_light_peers(power: Mapping[str, float], universe: int, producing: frozenset[str],
                     cfg: DetectionConfig) -> tuple[frozenset[str], float | None]:
    """Peers on a dull winter day: many panels making a few watts *in step* are as good a baseline as 30 W.

    A fixed floor (``peer_min_kw``) kept a December overcast, when every panel makes 7-10 W, from judging at all,
    so a dead panel waited for a brighter hour. Below the floor the panels' own behaviour decides instead: most
    of them (``low_light_peer_share``) at least ``low_light_peer_kw``, and their middle half within
    ``low_light_spread`` of the median (panels waking one by one, or scattered by patchy snow, do not agree).
    """
    low = sorted(p for p in power.values() if p >= setting(cfg, "low_light_peer_kw"))
    if len(low) < 3 or len(low) < setting(cfg, "low_light_peer_share") * universe:
        return producing, None
    mid = median(low)
    q1, q3 = low[len(low) // 4], low[(3 * len(low)) // 4]
    if q3 - q1 > setting(cfg, "low_light_spread") * mid:
        return producing, None
    floor = setting(cfg, "low_light_peer_kw")
    return frozenset(s for s, p in power.items() if p >= floor), mid


def judged_step(mem: dict[str, Any], at: datetime) -> float:
    """How many minutes this judged reading stands for (since the rule's previous judged reading, capped).

    Updates ``mem["_last"]``; the first judged reading ever stands for nothing (0).
    """
    last = mem.get("_last")
    mem["_last"] = at.isoformat()
    if not last:
        return 0.0
    return min(GAP_CAP_MIN, max(0.0, (at - datetime.fromisoformat(last)).total_seconds() / 60.0))


def persist(mem: dict[str, Any], key: str, bad: bool | None, at: datetime, step_min: float, open_min: float,
            clear_min: float) -> bool:
    """Advance one condition's persistence and say whether its finding is active.

    Parameters
    ----------
    mem : dict
        The rule's memory; the record lives at ``mem[key]`` (``bad``/``good`` minutes, ``since`` the first bad reading,
        ``active``).
    key : str
        The condition (usually a serial).
    bad : bool or None
        This reading shows the condition (True), shows it cleared (False), or cannot judge (None: no change).
    at : datetime
        Time of the reading [aware UTC].
    step_min : float
        Judged time this reading stands for (`judged_step`) [min].
    open_min, clear_min : float
        Judged time the condition must hold to open, and be absent to clear [min].

    Returns
    -------
    bool
        Whether the condition is active after this reading.
    """
    rec = mem.get(key)
    if bad is None:
        return bool(rec and rec["active"])
    if rec is None:
        if not bad:
            return False
        rec = mem[key] = {"bad": 0.0, "good": 0.0, "since": "", "active": False}
    if bad:
        if not rec["bad"]:
            # The first bad reading is when it stopped: the time the subject, the all-clear, the summary and the
            # Alerts tab's Started all give (the last good reading is the alert's "last produced" remark).
            rec["since"] = at.isoformat()
        rec["bad"] += step_min
        rec["good"] = 0.0
        if rec["bad"] >= open_min:
            rec["active"] = True
    else:
        rec["good"] += step_min
        rec["bad"] = 0.0
        if rec["active"] and rec["good"] >= clear_min:
            rec["active"] = False
        if not rec["active"]:
            del mem[key]
            return False
    return bool(rec["active"])
