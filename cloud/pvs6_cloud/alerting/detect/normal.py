"""Each panel's learned normal: its share of the array's output by sun position and season.

Peer comparison assumes identical, unshaded panels. Real roofs have a tree that shades three panels every
morning, or an east and a west face that peak hours apart. Both are geometry: they recur whenever the sun stands
in the same patch of sky. So every panel learns its *share*: its power over the mean live panel's power (1.0 = an
average panel, 0.03 = deep in a tree's shadow, 1.8 = an east face at 8 am), per sun-position bin
(`AZ_BIN_DEG` x `EL_BIN_DEG`) and half-year (sun climbing, December to June, or sinking: a deciduous tree is bare
in April and leafy in August at the same sun position). Each bin also keeps how often the panel was dark there.

Learning uses only *sunny* readings (the producing panels make at least ``sunny_ratio`` of clear-sky), outside a
snow hold, and commits a panel's day only when the day was ordinary for it: it worked properly, had no down/weak
alert still open at the day's last reading, and (where already learned) stayed within `DAY_DEPARTURE` of its
normal. "Worked properly" is either of two things:

- it made at least ``weak_ratio`` of its peers' median (the weak rule's own bar) for `GOOD_MIN_PER_DAY` minutes:
  a shadow that passes every morning does, and so does any panel on the main face;
- or another panel without an open alert saw the sun as it did all day (`_alike`): in every sun-position bin
  where either was lit, each made at least ``weak_ratio`` of the other. A small face the config does not
  describe (four west panels on a south roof, in December) never reaches the first bar: it makes an eighth of
  a south panel in the morning and catches up only in the last sunny hour. But its panels have each other, since
  orientation is shared by a whole face. A panel weak from its first day has no such company: its face-mates
  make a third more than it does at every sun position, and it is as far below the panels of any other face
  somewhere in the sky (its share is flat, theirs is not). So it is still never learned as normal, and the weak
  rule judges it by its peers alone. The limit: two panels failing alike from their very first day look like a
  face of their own (as two smaller panels of another model do, which is what they should look like).

The company test was chosen over the alternatives because it is the issue's own definition of a fault turned
round: a fault departs from the panel's normal *and* its peers, and a panel with a face-mate has peers it does
not depart from. Lowering the first bar (fewer minutes, a few bins) does not help a face that never reaches it,
and learns more weak panels on faces that outshine the rest part of the day; judging the shape of the share
curve alone (a face varies with the sun, a weak panel is flat) would learn a weak panel that is also partly
shaded; learned planes as peer groups would change what every rule compares with, where only the learning gate
was wrong.

A bin counts as learned after `LEARNED_MIN` sunny minutes (typically two or three sunny days); newer days weigh
more once a bin holds `WEIGHT_CAP_MIN`. Before a bin is learned, the rules behave as without learning (peers only),
with one exception learned faster: a panel once seen dark (`DARK_EVIDENCE_MIN`, one sunny reading, on a day it came
back from) in this bin or one of the eight around it is not judged dead here, since a shadow's edge drifts a few
degrees from day to day and the first morning's shade would otherwise alert again on each of the next. A bin of the
other half-year stands in until the current one is learned (around the solstices the sun's path is the same on both
sides).

Where the config lists the panels of each roof plane, a share is of the panel's own plane (its base is that
plane's live panels), so a face is normal for its face from day one; the table starts again when that list changes.

The memory is compact JSON (integers) and bounded by `MAX_BYTES` per site: the least-used bins are dropped first.
A reading costs a dictionary look-up and a few sums per panel.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pvs6_cloud.alerting.detect.common import Context, Frame, setting

__all__ = ["Normal", "down_verdict", "expectations", "step"]

AZ_BIN_DEG = 15.0  # sun azimuth bin width [°]
EL_BIN_DEG = 10.0  # sun elevation bin width [°]
LEARNED_MIN = 60.0  # sunny minutes a bin needs before its share is trusted [min]
DARK_EVIDENCE_MIN = 15.0  # dark minutes (one reading) that teach "this panel goes dark here" [min]
WEIGHT_CAP_MIN = 600.0  # weight at which older days start fading [min]
GOOD_MIN_PER_DAY = 60.0  # minutes a panel must work properly (share >= weak_ratio) for its day to be learned [min]
DARK_SHARE = 0.2  # a reading under this share of an average panel is "dark" [unitless]
DAY_DEPARTURE = 0.1  # a day more than this below the panel's learned normal is not learned [unitless]
JUDGE_SHARE = 0.6  # liveness is judged against the normal only where the panel normally makes this much [unitless]
MAX_DARK_FRACTION = 0.1  # ... and is dark there at most this often [unitless]
OWN_DEAD = 0.1  # under this share of its own normal = down by its own standard [unitless]
OWN_ALIVE = 0.3  # at least this share of its own normal = alive by its own standard [unitless]
MAX_BYTES = 60_000  # bound of the learned table per site (the budget is 64 KB) [bytes]


@dataclass(frozen=True, slots=True)
class Normal:
    """What a panel normally makes at this sun position.

    expected_kw : its normal power now, given the array's output [kW]; share : its learned share of an average
    panel [unitless]; dark : how often it was dark in this bin [unitless, 0-1].
    """

    expected_kw: float
    share: float
    dark: float

    @property
    def judges_liveness(self) -> bool:
        """Whether a near-zero reading here means something (not a panel that is often shaded here)."""
        return self.share >= JUDGE_SHARE and self.dark <= MAX_DARK_FRACTION


def _season(at: datetime) -> str:
    """"u" while the sun climbs (Dec 21 - Jun 20), "d" while it sinks: the same sun position, other leaves."""
    day = at.timetuple().tm_yday
    return "u" if day >= 355 or day < 172 else "d"


def _bin(frame: Frame) -> str | None:
    el, az = frame.elevation_deg, frame.enrichment.sun_azimuth_deg
    if el is None or az is None or el <= 0:
        return None
    return f"{int(az // AZ_BIN_DEG)}:{int(el // EL_BIN_DEG)}"


def _memory(mem: dict[str, Any]) -> dict[str, Any]:
    mem.setdefault("panels", [])
    mem.setdefault("bins", {})
    mem.setdefault("today", {})
    return mem


def _index(mem: dict[str, Any], serial: str) -> int:
    panels: list[str] = mem["panels"]
    if serial not in panels:
        panels.append(serial)
    return panels.index(serial)


def _base_kw(frame: Frame, dead_ratio: float, serial: str | None = None) -> float:
    """The mean power of the *live* panels (at least ``dead_ratio`` of the reference) [kW]; 0 when none.

    Shares are measured against this, not against all panels: a panel that dies, or three in a tree's shadow,
    would otherwise pull the base down and make every other panel look better than its normal. Shaded panels
    leave the base the same way whenever they are dark, while learning and while judging, so the shares agree.
    With ``serial`` on a configured plane, the base is the *other* live panels of its plane (its share is of its
    own face): on a face of four, a panel 25 % weak would otherwise pull its own base down by a sixteenth and
    look only 20 % below its normal.
    """
    ref = frame.reference_kw if serial is None else frame.ref_for(serial)
    if ref is None:
        return 0.0
    peers = frame.known
    if serial is not None and serial in frame.plane:
        peers = frozenset(s for s in frame.known if frame.plane.get(s) == frame.plane[serial] and s != serial)
    live = [kw for s in peers if (kw := frame.power_kw.get(s, 0.0)) >= dead_ratio * ref]
    return sum(live) / len(live) if live else 0.0


def _bases(frame: Frame, dead_ratio: float) -> dict[str, float]:
    """Each known panel's base (`_base_kw`): its plane's other panels where configured, else the array's; empty
    when no panel of the array is live (nothing to measure a share against)."""
    whole = _base_kw(frame, dead_ratio)
    if whole <= 0:
        return {}
    return {s: _base_kw(frame, dead_ratio, s) if s in frame.plane else whole for s in frame.known}


def _grouping(ctx: Context) -> str:
    """Which configured plane each listed panel is on: shares learned under another grouping mean another thing."""
    planes = ctx.site.array.planes if len(ctx.site.array.planes) > 1 else ()
    return json.dumps([[p.serials, bool(p.serials)] for p in planes]) if any(p.serials for p in planes) else ""


def _neighbours(key: str) -> list[str]:
    """The eight bins around ``key`` ("az:el"): where the sun stood a little earlier or later, or days before."""
    az, el = (int(x) for x in key.split(":"))
    return [f"{az + da}:{el + de}" for da in (-1, 0, 1) for de in (-1, 0, 1) if da or de]


def _dark_seen(row: list[int] | None, i: int) -> float:
    """How often the panel was dark in this bin, if that was seen on at least `DARK_EVIDENCE_MIN`; else 0."""
    if row is None or i + 2 >= len(row):
        return 0.0
    dark = row[i + 1] / 100.0
    return dark if dark * row[i + 2] >= DARK_EVIDENCE_MIN else 0.0


def expectations(frame: Frame, mem: dict[str, Any], dead_ratio: float) -> dict[str, Normal]:
    """Each known panel's learned normal at this reading (panels with nothing learned around here are left out).

    A bin is trusted for the share after `LEARNED_MIN` minutes. Darkness is learned faster and spreads to the
    neighbouring bins: a panel seen dark (on days it came back from) in this bin or the bins around it is not
    judged dead here. A shadow's edge drifts by a few degrees from one day to the next and rarely falls in the
    bin it fell in before; a panel that died is never learned at all (`_commit`), so this never hides one.
    """
    mem = _memory(mem)
    key = _bin(frame)
    if key is None or not mem["bins"]:
        return {}
    bases = _bases(frame, dead_ratio)
    if not bases:
        return {}
    season = _season(frame.at)
    other = "d" if season == "u" else "u"
    bins = mem["bins"]
    rows = [bins.get(season + key), bins.get(other + key)]
    around = [r for k in _neighbours(key) if (r := bins.get(season + k)) is not None]
    out: dict[str, Normal] = {}
    for index, serial in enumerate(mem["panels"]):
        if serial not in frame.known:
            continue
        i = 3 * index
        base = bases.get(serial, 0.0)
        if base <= 0:
            continue
        dark_near = max([_dark_seen(r, i) for r in (*rows, *around)], default=0.0)
        found = None
        for row in rows:
            if row is not None and i + 2 < len(row) and row[i + 2] >= LEARNED_MIN:
                share = row[i] / 1000.0
                found = Normal(share * base, share, max(row[i + 1] / 100.0, dark_near))
                break
        if found is None and dark_near > MAX_DARK_FRACTION:
            found = Normal(base, 1.0, dark_near)  # the share is not known yet, only that it goes dark near here
        if found is not None:
            out[serial] = found
    return out


def down_verdict(peer: bool | None, power_kw: float, own: Normal | None) -> bool | None:
    """Combine the peer verdict of the liveness rule with the panel's own normal.

    Not learned: the peer verdict as it is. Learned: down needs both (under `OWN_DEAD` of its normal too); a
    panel at its normal is fine; where the panel is often dark anyway (shade), no verdict either way but "fine".
    """
    if own is None:
        return peer
    if not own.judges_liveness:
        return False if peer is False else None
    if peer is False or power_kw >= OWN_ALIVE * own.expected_kw:
        return False
    if peer is True and power_kw < OWN_DEAD * own.expected_kw:
        return True
    return None


def step(frame: Frame, mem: dict[str, Any], ctx: Context, excluded: Iterable[str], hold: bool,
         normals: Mapping[str, Normal]) -> bool:
    """Add a sunny reading to today's observations; learn yesterday's when a new day starts.

    Returns True when yesterday was learned now: the learned table changed, so this reading's `expectations`
    would come out differently after this step than before it.

    Parameters
    ----------
    frame : Frame
        The reading.
    mem : dict
        This module's memory (``detect.normal``).
    ctx : Context
        Site and thresholds.
    excluded : iterable of str
        Panels with an open down/weak alert now: if still so at the day's last reading, their day is not learned.
    hold : bool
        A snow hold is on: nothing is learned from this reading.
    normals : mapping
        `expectations` for this reading (to see whether the day departs from the normal).
    """
    mem = _memory(mem)
    learned = False
    grouping = _grouping(ctx)
    if mem.get("grouping", "") != grouping:  # the owner (re)described the roof's planes: learn anew
        learned = bool(mem["bins"])
        mem.update(panels=[], bins={}, today={}, grouping=grouping)
    today = ctx.local_date(frame.at)
    buf = mem["today"]
    if buf.get("date") != today:
        if buf.get("date"):
            learned = _commit(mem, buf, ctx.config.weak_ratio)
        buf = mem["today"] = {"date": today, "last": "", "obs": {}, "good": {}, "own": {}, "excl": []}
    last = buf["last"]
    buf["last"] = frame.at.isoformat()
    step_min = 0.0 if not last else min(20.0, (frame.at - datetime.fromisoformat(last)).total_seconds() / 60.0)
    # What counts is the end of the day: a shadow's alert has cleared by then, a dead panel's has not.
    buf["excl"] = sorted(s for s in excluded if s in frame.known)
    key = _bin(frame)
    ref = frame.reference_kw
    if hold or not frame.daylight or key is None or ref is None or step_min <= 0:
        return learned
    clear_kw = frame.clearsky_panel_kw(ctx)
    typical = frame.typical_kw
    if clear_kw <= 0 or typical is None or typical < setting(ctx.config, "sunny_ratio") * clear_kw:
        return learned
    bases = _bases(frame, ctx.config.dead_ratio)
    if not bases:
        return learned
    row = buf["obs"].setdefault(_season(frame.at) + key, {})
    for serial in frame.known:
        power = frame.power_kw.get(serial, 0.0)
        if bases[serial] <= 0:
            continue
        share = power / bases[serial]
        obs = row.setdefault(serial, [0.0, 0.0, 0.0])
        obs[0] = round(obs[0] + share * step_min, 3)
        obs[1] = round(obs[1] + (step_min if share < DARK_SHARE else 0.0), 3)
        obs[2] = round(obs[2] + step_min, 3)
        # "Working properly" is the weak rule's own bar, against the same median of its peers (not the mean: a
        # low face pulls the mean down, and a weak panel on the main face would pass): a panel 25 % weak from its
        # first day never reaches it at any sun position; shade reaches it part of the day, and a face that never
        # does is vouched for by its face-mates (`_with_company`).
        peer_kw = frame.ref_for(serial) or 0.0
        if peer_kw > 0 and power >= ctx.config.weak_ratio * peer_kw:
            buf["good"][serial] = buf["good"].get(serial, 0.0) + step_min
        own = normals.get(serial)
        if own is not None and own.judges_liveness:
            pair = buf["own"].setdefault(serial, [0.0, 0.0])
            pair[0] = round(pair[0] + power * step_min, 5)
            pair[1] = round(pair[1] + own.expected_kw * step_min, 5)
    return learned


def _curves(buf: dict[str, Any]) -> dict[str, dict[str, tuple[float, float]]]:
    """Each panel's day as a share curve: per sun-position bin, (mean share, sunny minutes)."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for key, row in buf["obs"].items():
        for serial, (share_min, _dark, minutes) in row.items():
            if minutes > 0:
                out.setdefault(serial, {})[key] = (share_min / minutes, minutes)
    return out


def _alike(mine: dict[str, tuple[float, float]], theirs: dict[str, tuple[float, float]], weak_ratio: float) -> bool:
    """Whether two panels saw the sun alike all day: in every bin both were lit in, each made at least
    ``weak_ratio`` of the other (both dark counts as alike: the same shadow), over `GOOD_MIN_PER_DAY` minutes."""
    minutes = 0.0
    for key, (share, seen) in mine.items():
        if key not in theirs:
            continue
        other = theirs[key][0]
        if share < DARK_SHARE and other < DARK_SHARE:
            continue
        if not weak_ratio * other <= share <= other / weak_ratio:
            return False
        minutes += seen
    return minutes >= GOOD_MIN_PER_DAY


def _with_company(buf: dict[str, Any], weak_ratio: float) -> set[str]:
    """The panels that did not reach the weak bar against the whole array but saw the sun as another panel did
    (`_alike`, that one without an open alert): a face of their own, not a fault."""
    curves = _curves(buf)
    below = [s for s in curves if s not in buf["excl"] and buf["good"].get(s, 0.0) < GOOD_MIN_PER_DAY]
    vouching = [s for s in curves if s not in buf["excl"]]
    return {s for s in below if any(o != s and _alike(curves[s], curves[o], weak_ratio) for o in vouching)}


def _ordinary(buf: dict[str, Any], serial: str, company: set[str]) -> bool:
    if serial in buf["excl"] or (buf["good"].get(serial, 0.0) < GOOD_MIN_PER_DAY and serial not in company):
        return False
    made, normal = buf["own"].get(serial, (0.0, 0.0))
    return normal <= 0 or made >= (1.0 - DAY_DEPARTURE) * normal


def _commit(mem: dict[str, Any], buf: dict[str, Any], weak_ratio: float) -> bool:
    """Fold one finished day into the learned table, for the panels whose day was ordinary; False when none was
    (the table is as it was)."""
    company = _with_company(buf, weak_ratio)
    ordinary = {s for row in buf["obs"].values() for s in row if _ordinary(buf, s, company)}
    if not ordinary:
        return False
    bins: dict[str, list[int]] = mem["bins"]
    for key, row in buf["obs"].items():
        for serial, (share_min, dark_min, minutes) in row.items():
            if serial not in ordinary or minutes <= 0:
                continue
            i = 3 * _index(mem, serial)
            cells = bins.setdefault(key, [])
            cells.extend([0] * (i + 3 - len(cells)))
            weight = min(float(cells[i + 2]), max(0.0, WEIGHT_CAP_MIN - minutes))
            new_weight = weight + minutes
            share = (cells[i] / 1000.0 * weight + share_min) / new_weight
            dark = (cells[i + 1] / 100.0 * weight + dark_min) / new_weight
            cells[i:i + 3] = [round(share * 1000), round(dark * 100), round(new_weight)]
    _bound(mem)
    return True


def _bound(mem: dict[str, Any]) -> None:
    """Drop the least-used bins until the table fits `MAX_BYTES`."""
    bins: dict[str, list[int]] = mem["bins"]
    size = len(json.dumps(mem, separators=(",", ":")))
    if size <= MAX_BYTES:
        return
    by_use = sorted(bins, key=lambda k: sum(bins[k][2::3]))
    for key in by_use:
        size -= len(json.dumps({key: bins[key]}, separators=(",", ":")))
        del bins[key]
        if size <= MAX_BYTES:
            break

