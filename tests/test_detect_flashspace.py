"""The free-space trend rule on hand-built daily readings: a steady fall warns once with the days left; a flat or
wobbling record does not; a clean-up starts the record again."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from test_detect_inverters import SITE, T0, healthy, run, snapshot, sun

from pvs6_cloud.alerting.detect.flashspace import HORIZON_DAYS, slope_per_day
from pvs6_cloud.alerting.notify.compose import compose_alert_mail
from pvs6_parse.models import PvsHealth

FILLING = "pvs_flash_filling"


def _free(day: float, kb: int | None = None, used_pct: float | None = None):
    at = T0 + timedelta(days=day)
    return replace(snapshot(at, healthy()), pvs=PvsHealth("ZT01", flash_avail_kb=kb, flash_used_pct=used_pct)), sun()


def _filling(result):
    return [f for f in result.findings if f.kind == FILLING]


def test_a_steady_fall_warns_once_with_the_days_left_and_the_mail_says_what_helps() -> None:
    # 1,000 kB a day from 59,000 kB; a higher afternoon reading does not count (the daily lowest does).
    readings = [_free(d, 59_000 - 1_000 * d) for d in range(6)] + [_free(5.2, 56_500)]
    result, memory = run(readings)
    assert _filling(result) == [] and FILLING in result.evaluated_kinds  # six days are too few to trust a pace
    result, memory = run([_free(6, 53_000)], memory)
    [finding] = _filling(result)
    assert "about 43 days" in finding.summary  # (53,000 - 10,000) / 1,000 a day
    assert finding.evidence["quiet_resolve"] is True  # one email, no daily reminders
    assert "about 1.0 MB a day" in finding.details and "under 10.0 MB free" in finding.details
    result, memory = run([_free(d, 59_000 - 1_000 * d) for d in range(7, 12)], memory)
    [later] = _filling(result)
    assert later.key == finding.key and "about 38 days" in later.summary
    mail = compose_alert_mail(SITE, [finding], [], [], T0 + timedelta(days=6))
    assert "43 days" in mail.text and "breaker off for a minute" in mail.text
    assert len(memory["pvs"]["flash_space"]["days"]) == 12


def test_a_slow_fall_or_a_flat_wobbling_record_is_quiet() -> None:
    slow = [_free(d, 59_000 - 100 * d) for d in range(20)]  # full in about 300 days: beyond the horizon
    result, _ = run(slow)
    assert _filling(result) == [] and FILLING in result.evaluated_kinds
    # Near the threshold, a wobble whose fitted slope dips below zero would "fill" within the horizon, but it is
    # no steady fall.
    wobble = [11_800, 11_000, 11_900, 10_900, 11_700, 11_100, 11_500, 10_950, 11_600, 11_000]
    slope, error, level = slope_per_day([[(T0 + timedelta(days=d)).date().isoformat(), v]
                                         for d, v in enumerate(wobble)])
    assert slope < 0 and (level - 10_000) / -slope <= HORIZON_DAYS and -slope < 3 * error
    result, _ = run([_free(d, v) for d, v in enumerate(wobble)])
    assert _filling(result) == []


def test_a_clean_up_starts_the_record_again_and_clears_the_warning_and_the_fixed_alert_stays() -> None:
    result, memory = run([_free(d, 30_000 - 1_000 * d) for d in range(10)])
    assert len(_filling(result)) == 1
    result, memory = run([_free(10, 58_000)], memory)  # the PVS6 freed space (a restart)
    assert _filling(result) == [] and memory["pvs"]["flash_space"]["days"] == [[
        (T0 + timedelta(days=10)).date().isoformat(), 58_000]]
    # Under the fixed threshold the fixed alert speaks, and the trend warning gives way to it.
    result, memory = run([_free(d, 22_000 - 1_000 * d) for d in range(7)])
    assert {f.kind for f in result.findings} == {FILLING}
    result, memory = run([_free(7 + d, 15_000 - 1_000 * d) for d in range(7)], memory)
    assert {f.kind for f in result.findings} == {"pvs_flash_low"}


def test_the_varserver_share_used_is_trended_too() -> None:
    result, _ = run([_free(d, used_pct=70.0 + d) for d in range(8)])  # 1 % a day; 23 % free, full at 10 %
    [finding] = _filling(result)
    assert "about 13 days" in finding.summary and "1.0 % of its storage a day" in finding.details


def test_no_space_reading_judges_nothing() -> None:
    result, _ = run([_free(0)])
    assert FILLING not in result.evaluated_kinds
    assert slope_per_day([["2025-01-01", 1.0], ["2025-01-01", 2.0], ["2025-01-01", 3.0]]) is None
