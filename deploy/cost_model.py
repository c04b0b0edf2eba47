#!/usr/bin/env python3
"""What PVS6 Sentinel uses of each Google service per month, beside the always-free allowance.

The owner asked for a monitor without fees, so every number here comes from somewhere a reader can check:
the schedule from the files that set it (the Pi's systemd timer, the Cloud Scheduler lines, the memory flags
and the cleanup policy in ``deploy.sh``), the per-call figures from ``bench/cost.py`` (which measures the real
functions and stores its results in ``cost_figures.json`` beside this file), and the allowances from Google's
pricing pages (``docs/cost.md`` cites each page and the date it was read). Standard library only: ``deploy.sh
--dry-run`` runs it in Cloud Shell, where the project itself is not installed.

Safe readings where Google's documentation leaves room: a 31-day month; every scheduled call and every upload
slot a cold start (start-up is billed); no sharing of image layers between the functions' images; every
secret read at each instance start.

    python3 deploy/cost_model.py summary --sites 1     # the table deploy.sh --dry-run prints
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEPLOY_SH = ROOT / "deploy.sh"
EDGE_TIMER = ROOT / "edge" / "systemd" / "pvs6-edge.timer"
CLEANUP_POLICY = ROOT / "deploy" / "cleanup-policy.json"
FIGURES = ROOT / "deploy" / "cost_figures.json"

MONTH_DAYS = 31  # the longest month: what a free allowance must cover
_MONTH_START = date(2025, 1, 1)  # a 31-day month starting on a Wednesday, for day-of-week cron fields

# Google's published figures (read 2026-12-03; sources in docs/cost.md). vCPU per memory size is what
# `gcloud functions deploy --memory` gives a function (Cloud Run functions, "Configure memory" page).
VCPU_FOR_MIB = {128: 0.083, 256: 0.167, 512: 0.333, 1024: 0.583, 2048: 1.0, 4096: 2.0, 8192: 2.0}
FREE = {
    "run_requests": 2_000_000,          # Cloud Run, request-based billing, per billing account per month
    "run_vcpu_s": 180_000,
    "run_gib_s": 360_000,
    "build_minutes": 2_500,             # Cloud Build default pool (e2-standard-2), per billing account
    "registry_bytes": 0.5 * 1e9,        # Artifact Registry storage, 0.5 GB per billing account
    "scheduler_jobs": 3,                # Cloud Scheduler, per billing account
    "secret_versions": 6,               # Secret Manager active versions, per billing account
    "secret_accesses": 10_000,          # Secret Manager access operations
    "log_bytes": 50 * 2**30,            # Cloud Logging ingestion, 50 GiB per project
    "sheets_per_min_per_user": 60,      # Sheets API reads (and, apart, writes) per minute per user: all calls vs 60
}

# What cannot be measured on a laptop; stated so the reader can judge it (docs/cost.md says why).
DEPLOYS_PER_MONTH = 4        # a busy month of changes; each deploy builds every function once
BUILD_MINUTES_EACH = 5       # a buildpacks Python build with pandas/scipy wheels, rounded up generously
REQUEST_LOG_BYTES = 2048     # Cloud Run's own request log entry per call, an upper bound


class CostModelError(Exception):
    """A schedule or figures file could not be read; the message says which and why."""


# --- the schedule, read from the files that set it ---------------------------------------------------------------
def _calendar_values(spec: str, low: int, high: int, range_sep: str) -> set[int]:
    """Values of one calendar field: ``*``, ``a``, ``a<sep>b``, ``a/step``, ``a<sep>b/step``, comma lists.

    systemd and cron spell a field alike except for the range separator (``..`` and ``-``).
    """
    values: set[int] = set()
    for part in spec.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            first, last = low, high
        elif range_sep in base:
            first_text, last_text = base.split(range_sep, 1)
            first, last = int(first_text), int(last_text)
        else:
            first = int(base)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    return values


def _systemd_values(spec: str, low: int, high: int) -> list[int]:
    """Values of one systemd calendar component (``a..b`` ranges), within ``low..high``."""
    return sorted(v for v in _calendar_values(spec, low, high, "..") if low <= v <= high)


def edge_runs_per_day(timer_text: str) -> int:
    """Runs a day of the Pi's ``OnCalendar=*-*-* H:M[:S]`` timer (one upload request per run)."""
    match = re.search(r"^OnCalendar=\*-\*-\*\s+(\S+)\s*$", timer_text, re.MULTILINE)
    if match is None:
        raise CostModelError("the edge timer has no daily OnCalendar=*-*-* H:M line")
    fields = match.group(1).split(":")
    hours = _systemd_values(fields[0], 0, 23)
    minutes = _systemd_values(fields[1], 0, 59)
    seconds = _systemd_values(fields[2], 0, 59) if len(fields) > 2 else [0]
    return len(hours) * len(minutes) * len(seconds)


def _cron_values(spec: str, low: int, high: int) -> set[int]:
    return _calendar_values(spec, low, high, "-")


def cron_runs_per_month(expr: str, days: int = MONTH_DAYS) -> int:
    """Times a five-field cron line fires in a month of ``days`` days (numeric fields, as deploy.sh writes)."""
    fields = expr.split()
    if len(fields) != 5:
        raise CostModelError(f"{expr!r} is not a five-field cron line")
    minutes, hours, mdays, months, wdays = (
        _cron_values(fields[0], 0, 59), _cron_values(fields[1], 0, 23), _cron_values(fields[2], 1, 31),
        _cron_values(fields[3], 1, 12), _cron_values(fields[4], 0, 7))
    wdays = {d % 7 for d in wdays}
    runs = 0
    for offset in range(days):
        day = _MONTH_START + timedelta(days=offset)
        day_ok_m, day_ok_w = day.day in mdays, day.isoweekday() % 7 in wdays
        # cron: when both day fields are restricted, either may match; else both must.
        restricted = fields[2] != "*" and fields[4] != "*"
        if (day_ok_m or day_ok_w) if restricted else (day_ok_m and day_ok_w):
            runs += len(minutes) * len(hours) * (1 if _MONTH_START.month in months else 0)
    return runs


@dataclass(frozen=True)
class Deployment:
    """What deploy.sh sets up, read from its text: functions, memory, schedules, alert policies."""

    entry_points: tuple[str, ...]
    memory_mib: dict[str, int]
    schedules: dict[str, str]
    alert_policies: int
    keep_versions: int
    delete_after_days: float | None
    jobs_get_upload_secrets: bool = True


def _days(duration: str) -> float:
    """A cleanup policy's ``olderThan``: ``1d``, ``36h`` or ``86400s``."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([dhms])", duration)
    if match is None:
        raise CostModelError(f"cleanup policy olderThan {duration!r} is not a duration like 1d")
    return float(match.group(1)) * {"d": 1, "h": 1 / 24, "m": 1 / 1440, "s": 1 / 86400}[match.group(2)]


def read_deployment(deploy_text: str, policy: list[dict[str, Any]], alert_policies: int) -> Deployment:
    entries = re.search(r"^readonly ENTRY_POINTS=\(([^)]*)\)", deploy_text, re.MULTILINE)
    if entries is None:
        raise CostModelError("deploy.sh has no ENTRY_POINTS=(...) line")
    memory = {name: int(size) * (1024 if unit == "Gi" else 1) for name, size, unit in
              re.findall(r"^\s*(\w+)\) printf .*--memory=(\d+)(Mi|Gi)", deploy_text, re.MULTILINE)}
    schedules = dict(re.findall(r'^\s*ensure_job (\w+) "([^"]+)"', deploy_text, re.MULTILINE))
    keep = [p["mostRecentVersions"]["keepCount"] for p in policy if "mostRecentVersions" in p]
    deletes = [_days(p["condition"]["olderThan"]) for p in policy
               if p.get("action", {}).get("type") == "Delete" and "olderThan" in p.get("condition", {})]
    if not schedules:
        raise CostModelError("deploy.sh has no ensure_job lines")
    return Deployment(tuple(entries.group(1).split()), memory, schedules, alert_policies, max(keep, default=0),
                      min(deletes, default=None), "PVS6_NO_UPLOAD_SECRETS=1" not in deploy_text)


def load_deployment(root: Path = ROOT, monitoring_alerts: bool = False) -> Deployment:
    """``monitoring_alerts``: deploy.sh ran with --with-monitoring-alerts (off by default: they may be billed)."""
    policy = json.loads((root / "deploy" / "cleanup-policy.json").read_text(encoding="utf-8"))
    alert_policies = len(list((root / "deploy").glob("policy-*.json"))) if monitoring_alerts else 0
    return read_deployment((root / "deploy.sh").read_text(encoding="utf-8"), policy, alert_policies)


# --- usage per month --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Line:
    """One service's monthly usage beside its free allowance (``free`` None: no published allowance)."""

    service: str
    unit: str
    usage: float
    free: float | None
    note: str = ""

    @property
    def share(self) -> float | None:
        """The part of the allowance used (1.0 = all of it); nothing used is nothing billed, allowance or not."""
        if self.usage == 0:
            return 0.0
        if self.free is None:
            return None
        return self.usage / self.free if self.free else math.inf


def invocations(deployment: Deployment, runs_per_day: int, sites: int) -> dict[str, int]:
    """Calls per month per function: one upload per Pi run, and each Scheduler job as its cron line says."""
    calls = {name: cron_runs_per_month(expr) for name, expr in deployment.schedules.items()}
    calls["ingest"] = runs_per_day * MONTH_DAYS * sites
    return calls


def _billed_s(seconds: float) -> float:
    """Cloud Run bills instance time rounded up to the next 100 ms."""
    return math.ceil(seconds * 10 - 1e-9) / 10


def usage(figures: dict[str, Any], deployment: Deployment, runs_per_day: int, sites: int) -> list[Line]:
    """Every service's monthly usage for ``sites`` sites, from measured figures and the deployment's schedule.

    Times measured on a machine giving the process a whole vCPU are divided by the function's vCPU share, as if
    all of it were CPU-bound. Every Pi's timer fires in the same minute and ingest runs one instance at a time,
    so an upload slot costs one cold start and the other sites' uploads in that slot find the instance warm.
    """
    calls = invocations(deployment, runs_per_day, sites)
    per_call = figures["functions"]
    vcpu_s = gib_s = 0.0
    mail = 1 if figures.get("mail_password_secret", True) else 0
    secret_reads = 0.0
    for name, count in calls.items():
        fig = per_call[name]
        mib = deployment.memory_mib[name]
        slow = 1 / min(VCPU_FOR_MIB[mib], 1.0)
        if name == "ingest":
            slots = runs_per_day * MONTH_DAYS
            warm = fig.get("warm_handler_s") or fig["handler_s"]
            instance_s = slots * (_billed_s((fig["cold_start_s"] + fig["handler_s"]) * slow)
                                  + (sites - 1) * _billed_s(warm * slow))
            cold_starts, upload_secrets = slots, sites
        else:  # a scheduled job works through every site in one call
            instance_s = count * _billed_s((fig["cold_start_s"] + fig["handler_s"] * sites) * slow)
            cold_starts, upload_secrets = count, sites if deployment.jobs_get_upload_secrets else 0
        # Each start reads every secret the function is given once (the config file once per process).
        secret_reads += cold_starts * (figures["config_reads_per_instance"] + upload_secrets + mail)
        vcpu_s += instance_s * VCPU_FOR_MIB[mib]
        gib_s += instance_s * mib / 1024
    requests = sum(calls.values())
    log_bytes = sum(count * (per_call[name]["log_bytes"] + REQUEST_LOG_BYTES) for name, count in calls.items())
    image = figures["image"]["compressed_bytes"]
    built = len(deployment.entry_points) * image  # one image per function per deploy
    if deployment.delete_after_days is None:  # nothing is ever deleted: every deploy adds to the bill
        stored = built * DEPLOYS_PER_MONTH
    else:
        # Images live until the policy's age plus a day (the cleanup runs about daily), then only the kept ones.
        lifetime = min(MONTH_DAYS, DEPLOYS_PER_MONTH * (deployment.delete_after_days + 1)) / MONTH_DAYS
        stored = built * max(lifetime, deployment.keep_versions)
    sheets_per_min = sites * per_call["ingest"]["sheets_calls"]  # every Pi's timer fires in the same minute
    return [
        Line("Cloud Run functions: requests", "requests", requests, FREE["run_requests"]),
        Line("Cloud Run functions: CPU", "vCPU-seconds", vcpu_s, FREE["run_vcpu_s"]),
        Line("Cloud Run functions: memory", "GiB-seconds", gib_s, FREE["run_gib_s"]),
        Line("Cloud Build", "build-minutes", len(deployment.entry_points) * DEPLOYS_PER_MONTH * BUILD_MINUTES_EACH,
             FREE["build_minutes"], f"assumed {DEPLOYS_PER_MONTH} deploys, {BUILD_MINUTES_EACH} min per build"),
        Line("Artifact Registry storage", "GB-months", stored / 1e9, FREE["registry_bytes"] / 1e9,
             f"{len(deployment.entry_points)} images of {image / 1e6:.0f} MB per deploy, "
             f"{built / 1e9:.2f} GB right after it"),
        Line("Cloud Scheduler", "jobs", len(deployment.schedules), FREE["scheduler_jobs"],
             "free jobs are per billing account"),
        Line("Secret Manager: versions", "active versions", 1 + sites + mail, FREE["secret_versions"],
             "one version each; a changed value adds one"),
        Line("Secret Manager: accesses", "accesses", secret_reads, FREE["secret_accesses"],
             "one read per secret a function is given, per cold start"),
        Line("Cloud Logging", "MiB", log_bytes / 2**20, FREE["log_bytes"] / 2**20),
        Line("Cloud Monitoring alerting", "alert policies", deployment.alert_policies, None,
             "log-based, possibly $1.50 a month each; see docs/cost.md" if deployment.alert_policies
             else "none: only with deploy.sh --with-monitoring-alerts"),
        Line("Sheets API", "requests per minute (peak)", sheets_per_min, FREE["sheets_per_min_per_user"],
             "a quota, never billed"),
    ]


def load_figures(path: Path = FIGURES) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CostModelError(f"cannot read the measured figures {path.name}: {err}") from err


def _amount(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:.1f}"
    return f"{value:.3f}"


def _share(line: Line) -> str:
    share = line.share
    if share is None:
        return "unclear"
    return f"{share * 100:.1f}%" if share <= 1 else f"OVER ({share * 100:.0f}%)"


def table(sites_list: list[int], root: Path = ROOT, figures: dict[str, Any] | None = None,
          monitoring_alerts: bool = False) -> str:
    """The summary: each service's usage for each site count, beside the free allowance and the share used."""
    figures = figures if figures is not None else load_figures(root / "deploy" / "cost_figures.json")
    deployment = load_deployment(root, monitoring_alerts)
    runs = edge_runs_per_day((root / "edge" / "systemd" / "pvs6-edge.timer").read_text(encoding="utf-8"))
    columns = {n: usage(figures, deployment, runs, n) for n in sites_list}
    head = f"{'service':32} {'unit':24} {'free':>12}"
    for n in sites_list:
        head += f" {f'{n} site(s)':>12} {'used':>12}"
    out = [head]
    for i, line in enumerate(columns[sites_list[0]]):
        row = f"{line.service:32} {line.unit:24} {_amount(line.free) if line.free is not None else '-':>12}"
        for n in sites_list:
            other = columns[n][i]
            row += f" {_amount(other.usage):>12} {_share(other):>12}"
        out.append(row)
    out.append(f"(figures measured {figures.get('measured_on', '?')} by bench/cost.py; a {MONTH_DAYS}-day month, "
               "every job call and upload slot a cold start; sources and caveats: docs/cost.md)")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    summary = sub.add_parser("summary", help="print the monthly usage beside the free allowances")
    summary.add_argument("--sites", type=int, action="append", help="number of sites (repeatable; default 1)")
    summary.add_argument("--monitoring-alerts", action="store_true",
                         help="include the alert policies deploy.sh --with-monitoring-alerts sets up")
    args = parser.parse_args(argv)
    try:
        sys.stdout.write(table(args.sites or [1], monitoring_alerts=args.monitoring_alerts) + "\n")
    except CostModelError as err:
        sys.stderr.write(f"cost summary unavailable: {err}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
