"""Daily rollup over a synthetic month of Readings written through the CSV sink.

The generator integrates a known power curve in 5-minute steps into the lifetime counters, so each day's true
energy is known independently of the 15-minute readings the rollup sees.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pvs6_cloud.infra.config import SiteConfig
from pvs6_cloud.jobs.daily import DayWeather, counter_baseline, rollup_day, run_daily_rollup
from pvs6_cloud.store import SheetWrite
from pvs6_cloud.store.csv_sink import CsvSink
from pvs6_cloud.store.layout import panel_key
from pvs6_cloud.store.state import SiteState

TZ = ZoneInfo("America/New_York")
SERIALS = [f"E00{1000 + i}" for i in range(12)]
WEAK = SERIALS[4]
WEAK_FACTOR = 0.6
STEP_MIN = 5  # integration step of the synthetic counters [min]


def _shape(hour: float) -> float:
    """Clear-sky shape of the array's output, 0 outside 05:30-20:30 local, 1 at 13:00."""
    if not 5.5 < hour < 20.5:
        return 0.0
    return math.sin(math.pi * (hour - 5.5) / 15.0) ** 1.5


@dataclass
class SyntheticSite:
    """Counters integrated every 5 minutes from a known curve; readings every 15 minutes in active hours."""

    peaks_kw: dict[date, float]
    start: date
    counters: dict[str, float] = field(default_factory=lambda: {"prod": 27000.0, "imp": 30000.0, "exp": 18000.0})
    truth: dict[date, dict[str, float]] = field(default_factory=dict)
    panel_truth: dict[date, dict[str, float]] = field(default_factory=dict)

    def panel_share(self, serial: str) -> float:
        total = len(SERIALS) - 1 + WEAK_FACTOR
        return (WEAK_FACTOR if serial == WEAK else 1.0) / total

    def generate(self, days: int, skip: set[tuple[date, int]] = frozenset()) -> list[dict]:
        """Records for the next ``days`` days; ``skip`` holds (day, hour) pairs with no reading (a gap)."""
        records = []
        first = self.start + timedelta(days=len(self.truth))
        for n in range(days):
            day = first + timedelta(days=n)
            peak = self.peaks_kw.get(day, 3.6)
            truth = {"prod": 0.0, "imp": 0.0, "exp": 0.0}
            for minute in range(0, 24 * 60, STEP_MIN):
                hour = minute / 60.0
                at = datetime.combine(day, time(0), tzinfo=TZ) + timedelta(minutes=minute)
                prod = peak * _shape(hour)
                load = 0.6 + (1.2 if 17 <= hour < 21 else 0.0)
                net = load - prod
                hours = STEP_MIN / 60.0
                step = {"prod": prod * hours, "imp": max(net, 0.0) * hours, "exp": max(-net, 0.0) * hours}
                if minute % 15 == 0 and 6 <= hour < 21 and (day, int(hour)) not in skip:
                    records.append(self._record(at, prod, load, net, peak))
                for key, value in step.items():
                    self.counters[key] += value
                    truth[key] += value
            self.truth[day] = truth
            self.panel_truth[day] = {s: truth["prod"] * self.panel_share(s) for s in SERIALS}
        return records

    def _record(self, at: datetime, prod: float, load: float, net: float, peak: float) -> dict:
        record = {
            "time": at,
            "production_kw": prod,
            "consumption_kw": load,
            "net_grid_kw": net,
            "lifetime_production_kwh": self.counters["prod"],
            "lifetime_import_kwh": self.counters["imp"],
            "lifetime_export_kwh": self.counters["exp"],
            "inverters_working": 12 if prod > 0.01 else 0,
            "inverters_total": 12,
            "cloud_cover_pct": 100.0 * (1 - peak / 4.0),
            "irradiance_w_m2": 1000.0 * prod / 4.0,
            "expected_kw": prod / 0.9,
            "snapshot_id": at.isoformat(),
        }
        for serial in SERIALS:
            record[panel_key(serial)] = prod * self.panel_share(serial)
        return record


def make_site(tmp_path: Path, **overrides) -> SiteConfig:
    return SiteConfig(site_id="home", secret="s3cret", latitude=41.76, longitude=-72.68, timezone="America/New_York",
                      local_dir=tmp_path / "sheet", mail_to=("owner@example.com",), active_hours=(6, 21),
                      **overrides)


def store(sink: CsvSink, records: list[dict]) -> None:
    """Write readings the way ingest does: panel order in the state, one append to Readings."""
    state = sink.load_state()
    for serial in SERIALS:
        if serial not in state.panel_order:
            state.panel_order.append(serial)
    panels = [(s, s) for s in state.panel_order]
    sink.ensure_layout(panels)
    sink.commit(SheetWrite(state=state, panels=panels, append={"Readings": records}))


PANELS = [(s, s) for s in SERIALS]


def test_energy_comes_from_counters_and_a_gap_loses_none(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    gen = SyntheticSite({}, date(2025, 6, 1))
    gap_day = date(2025, 6, 2)
    records = gen.generate(2, skip={(gap_day, h) for h in range(10, 14)})
    before = [r for r in records if r["time"].date() == date(2025, 6, 1)]
    day_records = [r for r in records if r["time"].date() == gap_day]
    start = datetime.combine(gap_day, time(0), tzinfo=TZ)
    row = rollup_day(day_records, gap_day, site, PANELS, baseline=counter_baseline(before, start))
    assert row["production_kwh"] == pytest.approx(gen.truth[gap_day]["prod"], abs=1e-3)
    naive = sum(r["production_kw"] * 0.25 for r in day_records)
    assert gen.truth[gap_day]["prod"] - naive > 5.0  # summing samples would have lost hours of sun
    # Import/export include the evening after the last reading and the night: last reading before -> last today.
    last_before, last_today = before[-1], day_records[-1]
    imported = last_today["lifetime_import_kwh"] - last_before["lifetime_import_kwh"]
    assert row["import_kwh"] == pytest.approx(imported)
    assert row["consumption_kwh"] == pytest.approx(row["production_kwh"] + imported - row["export_kwh"])
    assert row["completeness_pct"] == pytest.approx((60 - 16) / 60)
    assert row["peak_time"] == "14:00"  # the 13:00 reading is in the gap: the peak is the best one received


def test_panel_energy_integrates_samples_and_shows_the_weak_panel(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    gen = SyntheticSite({}, date(2025, 6, 1))
    records = gen.generate(1)
    row = rollup_day(records, date(2025, 6, 1), site, PANELS)
    for serial in SERIALS:
        assert row[panel_key(serial)] == pytest.approx(gen.panel_truth[date(2025, 6, 1)][serial], rel=0.02)
    assert row[panel_key(WEAK)] / row[panel_key(SERIALS[0])] == pytest.approx(WEAK_FACTOR, rel=1e-6)
    assert row["completeness_pct"] == 1.0
    assert (row["peak_time"], row["peak_kw"]) == ("13:00", pytest.approx(3.6))
    assert row["insolation_kwh_m2"] == pytest.approx(gen.truth[date(2025, 6, 1)]["prod"] / 4.0, rel=0.02)
    assert row["performance_ratio"] == pytest.approx(0.9, rel=0.02)


def test_weather_gaps_are_filled_from_the_weather_service(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    gen = SyntheticSite({}, date(2025, 6, 1))
    records = gen.generate(1)
    for r in records:
        r["cloud_cover_pct"] = r["irradiance_w_m2"] = r["expected_kw"] = None
    row = rollup_day(records, date(2025, 6, 1), site, PANELS,
                     weather=DayWeather(cloud_cover_pct=40.0, insolation_kwh_m2=6.0, expected_kwh=30.0))
    assert (row["cloud_cover_pct"], row["insolation_kwh_m2"], row["expected_kwh"]) == (40.0, 6.0, 30.0)
    assert row["performance_ratio"] == pytest.approx(row["production_kwh"] / 30.0)


def test_a_day_with_a_reading_gap_expects_what_the_whole_day_allowed(tmp_path: Path) -> None:
    """Four midday hours missing: the straight line across the gap would understate the day's expectation
    (and show more than 100 %), so the weather service's whole-day figure stands in the Daily tab."""
    from pvs6_cloud.jobs.daily import rollup_days

    site = make_site(tmp_path)
    gen = SyntheticSite({}, date(2025, 6, 1))
    gap_day = date(2025, 6, 2)
    records = gen.generate(2, skip={(gap_day, h) for h in range(10, 14)})
    whole_day = gen.truth[gap_day]["prod"] / 0.9  # the synthetic site makes 90 % of what it should
    fills = {gap_day: DayWeather(cloud_cover_pct=10.0, insolation_kwh_m2=7.0, expected_kwh=whole_day)}
    rows = rollup_days(records, [date(2025, 6, 1), gap_day], site, PANELS, fills.get)
    received_only = rollup_day([r for r in records if r["time"].date() == gap_day], gap_day, site, PANELS)
    assert received_only["expected_kwh"] < 0.97 * whole_day  # the straight line under the midday hump
    sink = CsvSink(site.local_dir, TZ)
    sink.commit(SheetWrite(state=SiteState(), panels=PANELS, upsert={"Daily": ("date", rows)}))
    with (site.local_dir / "Daily.csv").open(encoding="utf-8", newline="") as fh:
        full, gappy = list(csv.DictReader(fh))
    assert float(gappy["Expected for the weather (kWh)"]) == pytest.approx(whole_day, abs=0.01)
    assert float(gappy["Actual / expected (%)"]) == pytest.approx(90.0, abs=0.2)
    assert float(full["Actual / expected (%)"]) == pytest.approx(90.0, abs=2.0)  # no gap: its own readings


def test_nightly_runs_write_each_day_once_read_only_new_rows_and_pick_up_late_data(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    sink = CsvSink(site.local_dir, TZ)
    gen = SyntheticSite({date(2025, 6, d): 2.0 + d / 10 for d in range(1, 31)}, date(2025, 6, 1))
    store(sink, gen.generate(20))
    first = run_daily_rollup(sink, site, datetime(2025, 6, 21, 1, 0, tzinfo=TZ))
    assert first.days[0] == "2025-06-01" and first.days[-1] == "2025-06-20"
    daily = sink.read_records("Daily", PANELS)
    assert [r["date"] for r in daily] == [date(2025, 6, d) for d in range(1, 21)]
    for r in daily[1:]:
        assert r["production_kwh"] == pytest.approx(gen.truth[r["date"]]["prod"], abs=0.02)  # as the tabs round

    # The Pi was offline on the 21st and the 22nd's upload arrives together after midnight.
    late = gen.generate(2, skip={(date(2025, 6, 21), h) for h in range(6, 21)})
    store(sink, late)
    second = run_daily_rollup(sink, site, datetime(2025, 6, 23, 1, 0, tzinfo=TZ))
    assert second.rows_read < first.rows_read / 3  # the mark kept it from re-reading the month
    assert second.days == ["2025-06-18", "2025-06-19", "2025-06-20", "2025-06-21", "2025-06-22"]
    daily = {r["date"]: r for r in sink.read_records("Daily", PANELS)}
    assert len(daily) == 22
    assert daily[date(2025, 6, 21)]["completeness_pct"] == 0.0
    assert daily[date(2025, 6, 21)]["production_kwh"] is None
    assert daily[date(2025, 6, 22)]["production_kwh"] == pytest.approx(gen.truth[date(2025, 6, 22)]["prod"],
                                                                     abs=0.05)

    again = run_daily_rollup(sink, site, datetime(2025, 6, 23, 1, 0, tzinfo=TZ))
    assert again.rows == second.rows[-len(again.rows):]
    assert len(sink.read_records("Daily", PANELS)) == 22  # re-running replaces, never duplicates


def test_a_week_uploaded_late_after_an_internet_outage_fills_its_days(tmp_path: Path) -> None:
    """The rollup ran every night of a week-long outage (empty days); the Pi's backlog then arrives at once."""
    site = make_site(tmp_path)
    sink = CsvSink(site.local_dir, TZ)
    gen = SyntheticSite({}, date(2025, 6, 1))
    store(sink, gen.generate(10))
    run_daily_rollup(sink, site, datetime(2025, 6, 11, 1, 0, tzinfo=TZ))
    backlog = gen.generate(7)  # June 11-17, kept on the Pi
    for day in range(12, 19):
        run_daily_rollup(sink, site, datetime(2025, 6, day, 1, 0, tzinfo=TZ))
    assert sink.read_records("Daily", PANELS)[-1]["production_kwh"] is None
    store(sink, backlog + gen.generate(1))  # back online on the 18th: the week, then the 18th itself
    result = run_daily_rollup(sink, site, datetime(2025, 6, 19, 1, 0, tzinfo=TZ))
    assert result.days[0] == "2025-06-11"
    daily = {r["date"]: r for r in sink.read_records("Daily", PANELS)}
    assert len(daily) == 18
    for day in range(12, 19):
        assert daily[date(2025, 6, day)]["production_kwh"] == pytest.approx(gen.truth[date(2025, 6, day)]["prod"],
                                                                           abs=0.02)
        assert daily[date(2025, 6, day)]["completeness_pct"] == 1.0
    assert daily[date(2025, 6, 11)]["production_kwh"] is not None


def test_explicit_day_reads_everything_and_replaces_its_row(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    sink = CsvSink(site.local_dir, TZ)
    gen = SyntheticSite({}, date(2025, 6, 1))
    store(sink, gen.generate(5))
    run_daily_rollup(sink, site, datetime(2025, 6, 6, 1, 0, tzinfo=TZ))
    result = run_daily_rollup(sink, site, datetime(2025, 6, 6, 1, 0, tzinfo=TZ), days=[date(2025, 6, 2)])
    assert result.days == ["2025-06-02"]
    assert result.rows_read == 5 * 60
    assert len(sink.read_records("Daily", PANELS)) == 5


class RotatingSink(CsvSink):
    """A CSV sink that also offers the Sheets sink's rotation hook, to see the rollup use it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rotations: list[datetime] = []

    def rotate_readings(self, before: datetime) -> int:
        self.rotations.append(before)
        return 7


def test_rotation_is_asked_for_rows_before_this_year_and_resets_the_mark(tmp_path: Path) -> None:
    site = make_site(tmp_path)
    sink = RotatingSink(site.local_dir, TZ)
    gen = SyntheticSite({}, date(2025, 6, 1))
    store(sink, gen.generate(10))
    result = run_daily_rollup(sink, site, datetime(2025, 6, 11, 1, 0, tzinfo=TZ))
    assert result.rotated == 7
    assert sink.rotations == [datetime(2025, 1, 1, tzinfo=TZ)]
    assert sink.load_state().section("jobs")["rollup"]["start_row"] == 0


@pytest.mark.parametrize(("day", "hours"), [(date(2025, 3, 9), 23), (date(2025, 11, 2), 25)])
def test_completeness_of_a_dst_day_counts_its_real_hours(tmp_path: Path, day: date, hours: int) -> None:
    """A Pi polling round the clock every 15 minutes on a 23- or 25-hour day delivered everything."""
    site = replace(make_site(tmp_path), active_hours=(0, 24))
    start = datetime.combine(day, time(0), tzinfo=TZ).astimezone(ZoneInfo("UTC"))  # real minutes, not wall clock
    readings = [{"time": start + timedelta(minutes=15 * i), "production_kw": 0.0} for i in range(hours * 4)]
    assert readings[-1]["time"].astimezone(TZ).date() == day
    row = rollup_day(readings, day, site, PANELS)
    assert row["completeness_pct"] == pytest.approx(1.0)
    half = rollup_day(readings[::2], day, site, PANELS)
    assert half["completeness_pct"] == pytest.approx(0.5)


def test_rollups_after_replays_write_only_days_of_the_site_and_keep_daily_in_date_order(tmp_path: Path) -> None:
    """A first rollup after replaying an old archive writes its days only (no empty year up to today); later
    replays of other archives land in date order among the nightly rows."""
    site = make_site(tmp_path)
    sink = CsvSink(site.local_dir, TZ)
    store(sink, SyntheticSite({}, date(2025, 6, 1)).generate(5))  # June 2025, replayed in December 2026
    run_daily_rollup(sink, site, datetime(2026, 12, 3, 1, 0, tzinfo=TZ))
    with (site.local_dir / "Daily.csv").open(encoding="utf-8", newline="") as fh:
        first = [row["Date"] for row in csv.DictReader(fh)]
    assert first == [f"2025-06-0{d}" for d in range(1, 6)]

    store(sink, SyntheticSite({}, date(2026, 12, 3)).generate(2))  # the Pi goes live
    run_daily_rollup(sink, site, datetime(2026, 12, 5, 1, 0, tzinfo=TZ))
    store(sink, SyntheticSite({}, date(2026, 5, 1)).generate(3))  # then an older archive is replayed
    run_daily_rollup(sink, site, datetime(2026, 12, 6, 1, 0, tzinfo=TZ))
    with (site.local_dir / "Daily.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    dates = [row["Date"] for row in rows]
    assert dates == sorted(dates) and len(set(dates)) == len(dates)
    assert dates[:8] == [*first, "2026-05-01", "2026-05-02", "2026-05-03"]
    assert {"2026-12-03", "2026-12-04", "2026-12-05"} <= set(dates)
    assert not [d for d in dates if "2025-06-05" < d < "2026-05-01"]  # no empty rows between the archives
    assert all(row["Solar production (kWh)"] for row in rows if row["Date"] <= "2026-05-03")
