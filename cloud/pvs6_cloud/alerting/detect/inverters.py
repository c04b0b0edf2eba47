"""Per-panel liveness: a panel down (error, 0 kW, stale or missing) while its peers produce, and whole circuits.

Never trusts ``STATE``: the PVS6 says ``error`` at night and in heavy shade, and the varserver API has no state
at all. A panel is judged only in daylight, against the median of the panels that are producing (`Frame`), so a
dark sky or snow that dims every panel never makes one look dead. An absent panel is judged only after an hour of
daylight (varserver inverters report in one by one after sunrise) and only while most panels are present.

On a roof whose planes are configured with their panels, a panel's peers are its own plane's (`Frame.ref_for`).
Where a panel has a learned normal for the sun's position (`normal`), it is down only when it is far below that
normal too, and never judged where it is often dark anyway (a tree's shadow). While snow slides off (`snow`),
down verdicts wait. Where nothing is learned yet (the first days, or a sun position not seen before), a panel that
has not produced yet today is not judged while the sun climbs below where it usually starts producing (its
waking elevation on its last two days, plus `WAKE_MARGIN_DEG`): on the first morning a tree's shadow looks
exactly like a dead panel, and only the panel's own habits tell them apart. A panel never seen waking (the
site's first morning) waits for solar noon; a panel that woke with the sun yesterday and not today is judged
a few degrees of sun later; a panel that stops during the day is judged at once.

When every panel of a configured circuit is down at once, that is one finding, ``circuit_down`` (a tripped
breaker), instead of six ``inverter_down`` ones. Without a map (most sites), panels that stop *in the same
reading* while the others keep producing are taken as one circuit too: a learned group, one ``circuit_down``
finding whose device is the group's serials, opened and resolved as a group. Independent microinverters do not
die in the same fifteen minutes; a breaker or a circuit fault takes its panels down together. A configured
circuit that went down whole is explained by the map, which wins.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pvs6_cloud.alerting.detect.common import Context, Frame, judged_step, persist, setting
from pvs6_cloud.alerting.detect.normal import down_verdict
from pvs6_cloud.alerting.findings import Finding

__all__ = ["KINDS", "findings", "step"]

KINDS = ("inverter_down", "circuit_down")
WAKE_MARGIN_DEG = 5.0  # sun elevation past a panel's usual waking point before "not awake yet" means down [°]
ADVICE_DOWN = ("Check that the solar breaker in your electrical panel is on. If it is, call your installer: "
               "microinverters are usually under a 25-year warranty, and a dead one only costs you money while "
               "nobody knows. If snow or a leaf covers just this panel, the alert clears by itself.")
ADVICE_MAP = ("Telling the monitor which panels share a breaker (circuits in the config) lets its alerts name "
              "the circuit.")
ADVICE_CIRCUIT = ("Look at your electrical panel: a solar breaker has probably tripped. Switch it fully off and "
                  "on again once. If it trips again, do not keep resetting it: call your installer.")


def _memory(mem: dict[str, Any]) -> dict[str, Any]:
    for key in ("inv", "circ", "ev", "last_prod", "groups", "grp", "wake"):
        mem.setdefault(key, {})
    mem.setdefault("last_bad", [])
    mem.setdefault("dawn", {})
    return mem


def _daylight_min(mem: dict[str, Any], frame: Frame, ctx: Context) -> float:
    """Minutes since the first reading today with the sun up (site-local day)."""
    today = ctx.local_date(frame.at)
    dawn = mem["dawn"]
    if frame.elevation_deg is not None and frame.elevation_deg > 0 and dawn.get("date") != today:
        dawn.update(date=today, first=frame.at.isoformat())
    if dawn.get("date") != today:
        return 0.0
    return (frame.at - datetime.fromisoformat(dawn["first"])).total_seconds() / 60.0


def _panel_bad(frame: Frame, serial: str, ctx: Context, missing_ok: bool) -> bool | None:
    ref = frame.ref_for(serial)
    cfg = ctx.config
    if ref is None:  # a configured plane too dark to compare now
        peer = None
    elif serial not in frame.present:
        peer = True if missing_ok else None
    else:
        power = frame.power_kw[serial]
        peer = True if power < cfg.dead_ratio * ref else (False if power >= 2.0 * cfg.dead_ratio * ref else None)
    bad = down_verdict(peer, frame.power_kw.get(serial, 0.0), frame.normal.get(serial))
    return None if bad and frame.snow_hold else bad


def step(frame: Frame, mem: dict[str, Any], ctx: Context) -> set[str]:
    """Advance the liveness memory with one reading; return the kinds it could judge."""
    mem = _memory(mem)
    cfg = ctx.config
    for serial in frame.producing:
        mem["last_prod"][serial] = frame.at.isoformat()
    today = ctx.local_date(frame.at)
    _note_wake(mem["wake"], frame, today)
    _forget_departed(mem, frame.known, frame.replaced)
    daylight_min = _daylight_min(mem, frame, ctx)
    if not frame.daylight or frame.reference_kw is None:
        return set()
    previous = mem.get("_last")
    first_today = not previous or ctx.local_date(datetime.fromisoformat(previous)) != today
    step_min = judged_step(mem, frame.at)
    missing_ok = (daylight_min >= setting(cfg, "missing_after_daylight_min")
                  and len(frame.present) >= 0.5 * len(frame.known))
    clear_min = setting(cfg, "clear_persist_min")
    verdicts: dict[str, bool | None] = {}
    climbing = frame.sun_climbing(ctx.site.longitude)
    for serial in sorted(frame.known):
        bad = _panel_bad(frame, serial, ctx, missing_ok)
        if bad and climbing and serial not in frame.normal and _not_its_hour_yet(mem["wake"], serial, frame, today):
            bad = None  # nothing learned here yet: a panel not awake this morning may be behind a shadow
        verdicts[serial] = bad
        persist(mem["inv"], serial, bad, frame.at, step_min, cfg.dead_persist_min, clear_min)
        if bad:
            inv = frame.present.get(serial)
            mem["ev"][serial] = {
                "at": frame.at.isoformat(), "kw": frame.power_kw.get(serial),
                "ref": round(frame.ref_for(serial) or 0.0, 4),
                "peers": frame.peers_of(serial), "absent": inv is None, "state": str(inv.state) if inv else "",
                "age_min": None if inv is None else frame.age_min(serial),
                **({"snow": frame.snow_day} if frame.snow_day else {}),
            }
    for name, serials in ctx.site.array.circuits.items():
        members = [s for s in serials if s in frame.known]
        bad = _group_verdict(members, verdicts, frame) if members else None
        persist(mem["circ"], name, bad, frame.at, step_min, cfg.array_zero_persist_min, clear_min)
    _learn_groups(frame, mem, verdicts, step_min, ctx, first_today)
    for serial in list(mem["ev"]):
        if serial not in mem["inv"]:
            del mem["ev"][serial]
    return set(KINDS)


def _note_wake(wake: dict[str, list[Any]], frame: Frame, today: str) -> None:
    """Each panel's first producing reading of the day: ``[date, sun elevation then, the previous day's]``.

    Not while snow slides off: then the snow decides when a panel wakes, not the panel's habit.
    """
    if frame.elevation_deg is None or frame.snow_hold:
        return
    for serial in frame.producing:
        rec = wake.get(serial)
        if rec is None or rec[0] != today:
            wake[serial] = [today, round(frame.elevation_deg, 1), rec[1] if rec else None]


def _not_its_hour_yet(wake: dict[str, list[Any]], serial: str, frame: Frame, today: str) -> bool:
    """A panel not awake yet today, with the sun still below where it usually wakes (plus `WAKE_MARGIN_DEG`).

    Usually = the lower of its last two waking days, so one cloudy morning does not move it. Never seen waking:
    it may be shaded every morning, so it waits for solar noon (the caller's climbing test).
    """
    rec = wake.get(serial)
    if rec is None:
        return True
    if rec[0] == today:
        return False
    usual = min(el for el in rec[1:] if el is not None)
    return frame.elevation_deg is None or frame.elevation_deg < usual + WAKE_MARGIN_DEG


def _forget_departed(mem: dict[str, Any], known: frozenset[str], replaced: frozenset[str]) -> None:
    """Drop what is remembered of panels the site no longer has (gone a month: `devices.FORGET_AFTER`).

    Without this, every inverter ever replaced, and every serial a garbled answer invented, would stay in the
    site's memory for the 25 years it runs. A panel whose alert is still open is kept (its alert must not vanish
    because it stopped reporting) unless a newcomer replaced it.
    """
    for serial in [s for s in mem["inv"] if s in replaced]:
        del mem["inv"][serial]
    if len(mem["last_prod"]) <= len(known) and len(mem["inv"]) <= len(known):
        return
    for serial in [s for s in mem["inv"] if s not in known and not mem["inv"][s]["active"]]:
        del mem["inv"][serial]
    for serial in [s for s in mem["last_prod"] if s not in known and s not in mem["inv"]]:
        del mem["last_prod"][serial]
    for serial in [s for s in mem["wake"] if s not in known and s not in mem["inv"]]:
        del mem["wake"][serial]


def _group_verdict(members: list[str], verdicts: dict[str, bool | None], frame: Frame) -> bool | None:
    """A circuit's verdict from its panels': down when all are down while other panels produce, up when any
    produces, else unknown (no other panel producing tells nothing about the circuit)."""
    if not frame.producing - set(members):
        return None
    states = [verdicts.get(s) for s in members]
    if all(v is True for v in states):
        return True
    if any(v is False for v in states):
        return False
    return None


def _explained_by_map(frame: Frame, down: set[str], verdicts: dict[str, bool | None], ctx: Context) -> set[str]:
    """Panels of ``down`` whose configured circuit is down whole (the map's ``circuit_down`` tells those)."""
    explained: set[str] = set()
    for serials in ctx.site.array.circuits.values():
        members = [s for s in serials if s in frame.known]
        if members and all(verdicts.get(s) is True for s in members):
            explained |= set(members) & down
    return explained


def _learn_groups(frame: Frame, mem: dict[str, Any], verdicts: dict[str, bool | None], step_min: float,
                  ctx: Context, first_today: bool) -> None:
    """Group panels that stop in the same reading while others produce; advance each group's persistence."""
    cfg = ctx.config
    bad_now = {s for s, v in verdicts.items() if v is True}
    # Only a stop that was seen: down now, producing at the previous judged reading (a panel never seen
    # producing, such as one dead when monitoring began, did not "stop together" with anything).
    newly = (bad_now - set(mem["last_bad"])) & set(mem.get("last_producing", ()))
    mem["last_bad"] = sorted(bad_now)
    mem["last_producing"] = sorted(frame.producing)
    newly -= _explained_by_map(frame, newly, verdicts, ctx)
    if len(newly) >= 2 and frame.producing - newly:
        serials = sorted(newly)
        mem["groups"][serials[0]] = {"serials": serials, "at": frame.at.isoformat(), "total": len(frame.known),
                                     "dawn": first_today}
    for gid, group in list(mem["groups"].items()):
        bad = _group_verdict(group["serials"], verdicts, frame)
        persist(mem["grp"], gid, bad, frame.at, step_min, cfg.array_zero_persist_min, setting(cfg, "clear_persist_min"))
        if gid not in mem["grp"]:
            del mem["groups"][gid]


def _details(serial: str, mem: dict[str, Any], ctx: Context) -> str:
    rec, ev = mem["inv"][serial], mem["ev"].get(serial, {})
    since = datetime.fromisoformat(rec["since"])
    parts = []
    if ev:
        at = datetime.fromisoformat(ev["at"])
        if ev.get("absent"):
            parts.append(f"At {ctx.local(at)} the monitor did not list it at all, while {ev['peers']} other "
                         f"panels made about {ev['ref'] * 1000:.0f} W each.")
        else:
            state = _STATE_WORDS.get(str(ev.get("state") or ""), "")
            parts.append(f"At {ctx.local(at)} it made {(ev.get('kw') or 0) * 1000:.0f} W{state}, while "
                         f"{ev['peers']} other panels made about {ev['ref'] * 1000:.0f} W each.")
            age = ev.get("age_min")
            if age is not None and age > ctx.config.stale_measurement_min:
                parts.append(f"Its own last measurement is {age:.0f} minutes old.")
    if ev.get("snow"):
        parts.append(f"Snow covered the panels on {ev['snow']}; the other panels have had sunshine enough to clear "
                     "since, and this one has not come back.")
    stopped = ctx.local(since, with_day=True)
    parts.append(f"Not producing since about {stopped} ({rec['bad']:.0f} minutes of daylight so far).")
    last = mem["last_prod"].get(serial)
    if last and (produced := ctx.local(datetime.fromisoformat(last), with_day=True)) != stopped:
        parts.append(f"It last produced power on {produced}.")
    return " ".join(parts)


# What the PVS6's device states mean in the alert's words ("working" needs no remark).
_STATE_WORDS = {"error": " and the monitor lists it as faulty", "offline": " and the monitor lists it as offline"}


def findings(mem: dict[str, Any], ctx: Context, chart: Any) -> list[Finding]:
    """The active liveness findings. ``chart(focus)`` returns the day's chart data for the given serials."""
    mem = _memory(mem)
    out: list[Finding] = []
    covered: set[str] = set()
    for name, rec in sorted(mem["circ"].items()):
        serials = [s for s in ctx.site.array.circuits.get(name, ()) if s in mem["inv"] or s in mem["last_prod"]]
        if rec["bad"] or rec["active"]:
            # Panels that went down with the circuit are explained by it; one already down before is not.
            covered |= {s for s in serials if s in mem["inv"] and mem["inv"][s]["since"] >= rec["since"]}
        if not rec["active"]:
            continue
        words = ctx.circuit_words(name)
        since = datetime.fromisoformat(rec["since"])
        details = (f"All {len(serials)} panels on {words} stopped producing at about "
                   f"{ctx.local(since, with_day=True)}, while the panels on the other circuit(s) kept producing "
                   f"({rec['bad']:.0f} minutes of daylight so far).")
        out.append(Finding("circuit_down", name, f"All panels on {words} stopped producing", details,
                           ADVICE_CIRCUIT, {"since": rec["since"], "serials": serials, "chart": chart(serials)}))
    for gid, rec in sorted(mem["grp"].items()):
        group = mem["groups"].get(gid)
        if group is None:
            continue
        serials = list(group["serials"])
        if rec["bad"] or rec["active"]:
            covered |= {s for s in serials if s in mem["inv"] and mem["inv"][s]["since"] >= rec["since"]}
        if rec["active"]:
            out.append(_group_finding(serials, group, rec, ctx, chart))
    for serial, rec in sorted(mem["inv"].items()):
        if not rec["active"] or serial in covered:
            continue
        ev = mem["ev"].get(serial, {})
        summary = f"{ctx.panel_words(serial)} " + ("is no longer reported" if ev.get("absent")
                                                    else "stopped producing")
        out.append(Finding("inverter_down", serial, summary, _details(serial, mem, ctx), ADVICE_DOWN,
                           {"since": rec["since"], **ev, "chart": chart([serial])}))
    return out


def _group_finding(serials: list[str], group: dict[str, Any], rec: dict[str, Any], ctx: Context,
                   chart: Any) -> Finding:
    """One alert for panels that stopped together: the cause is their circuit, not each microinverter."""
    n, total = len(serials), int(group["total"])
    at = datetime.fromisoformat(group["at"])
    names = ", ".join(ctx.panel_words(s).removeprefix("Panel ") for s in serials)
    details = (f"Panels {names} all stopped producing in the same reading, on {ctx.local(at, with_day=True)}, "
               f"while the other {total - n} kept producing ({rec['bad']:.0f} minutes of daylight so far). That is "
               f"almost always a tripped breaker or a circuit fault, not {n} broken microinverters.")
    if group.get("dawn"):
        details += (" They were already dark at the first bright reading of the day: snow lying on just these "
                    "panels looks the same, and clears by itself.")
    return Finding("circuit_down", ",".join(serials),
                   f"{n} of your {total} panels stopped together at {ctx.local(at)}", details,
                   ADVICE_CIRCUIT + " " + ADVICE_MAP,
                   {"since": rec["since"], "serials": serials, "learned": True, "chart": chart(serials)})
