"""deploy/cost_model.py: the schedule is read from the files that set it, usage scales with sites, and every
service it reports is written down in docs/cost.md with the figures deploy.sh --dry-run prints."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cost_model", REPO / "deploy" / "cost_model.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["cost_model"] = module
    spec.loader.exec_module(module)
    return module


cost = _load()
TIMER = (REPO / "edge" / "systemd" / "pvs6-edge.timer").read_text()


def test_the_edge_timer_runs_as_often_as_the_seed_crontab_it_replaced() -> None:
    """The timer's comment says it is the seed's ``*/15 6-21 * * *``: both parsers must agree on that."""
    assert "*/15 6-21 * * *" in TIMER
    assert cost.edge_runs_per_day(TIMER) * cost.MONTH_DAYS == cost.cron_runs_per_month("*/15 6-21 * * *")


@pytest.mark.parametrize(("spec", "per_day"), [
    ("OnCalendar=*-*-* 06..21:00/15:00", 16 * 4),
    ("OnCalendar=*-*-* *:00/30", 48),
    ("OnCalendar=*-*-* 08,20:00", 2),
    ("OnCalendar=*-*-* 06..21/5:07:00", 4),
])
def test_systemd_calendar_specs(spec: str, per_day: int) -> None:
    assert cost.edge_runs_per_day(f"[Timer]\n{spec}\n") == per_day


@pytest.mark.parametrize(("expr", "runs"), [
    ("*/30 * * * *", 48 * 31), ("30 23 * * *", 31), ("0 8 1 * *", 1), ("0 12 * * 1", 4), ("0 0 1,15 * 0", 2 + 4),
])
def test_cron_runs_in_a_31_day_month(expr: str, runs: int) -> None:
    assert cost.cron_runs_per_month(expr) == runs


def test_the_deployment_is_read_from_deploy_sh_and_the_cleanup_policy() -> None:
    deployment = cost.load_deployment(REPO)
    text = (REPO / "deploy.sh").read_text()
    assert set(deployment.entry_points) == set(deployment.memory_mib)
    for name, expr in deployment.schedules.items():
        assert f'ensure_job {name} "{expr}"' in text
    policy = json.loads((REPO / "deploy" / "cleanup-policy.json").read_text())
    assert deployment.keep_versions == sum(p.get("mostRecentVersions", {}).get("keepCount", 0) for p in policy)
    assert deployment.delete_after_days == 1  # "olderThan": "1d"
    # Google's alert emails may be billed, so deploy.sh makes them only when asked (--with-monitoring-alerts)
    assert deployment.alert_policies == 0
    asked = cost.load_deployment(REPO, monitoring_alerts=True)
    assert asked.alert_policies == len(list((REPO / "deploy").glob("policy-*.json"))) == 2


def test_the_summary_counts_alert_policies_only_when_they_are_asked_for() -> None:
    def alerting(**kwargs: bool) -> list[str]:
        table = cost.table([1, 10], **kwargs)
        (line,) = [line for line in table.splitlines() if line.startswith("Cloud Monitoring alerting")]
        return line.split()[-4:]

    assert alerting() == ["0", "0.0%", "0", "0.0%"]
    assert alerting(monitoring_alerts=True) == ["2", "unclear", "2", "unclear"]


def test_without_a_delete_policy_every_deploy_adds_images_to_the_bill() -> None:
    figures = cost.load_figures()
    text = (REPO / "deploy.sh").read_text()
    runs = cost.edge_runs_per_day(TIMER)
    kept = cost.read_deployment(text, [{"action": {"type": "Delete"}, "condition": {"olderThan": "1d"}}], 2)
    never = cost.read_deployment(text, [], 2)
    def stored(deployment: object) -> float:
        lines = cost.usage(figures, deployment, runs, 1)
        return next(line.usage for line in lines if line.service.startswith("Artifact"))

    # each deploy's images live two days (a day, then the daily cleanup), out of a 31-day month
    assert stored(never) == pytest.approx(stored(kept) * cost.MONTH_DAYS / 2)
    assert stored(never) * 1e9 == pytest.approx(
        cost.DEPLOYS_PER_MONTH * len(never.entry_points) * figures["image"]["compressed_bytes"])


def _lines(sites: int) -> dict[str, object]:
    deployment = cost.load_deployment(REPO)
    lines = cost.usage(cost.load_figures(), deployment, cost.edge_runs_per_day(TIMER), sites)
    return {line.service: line for line in lines}


def test_uploads_and_secrets_grow_with_sites_while_schedules_and_images_do_not() -> None:
    one, ten = _lines(1), _lines(10)
    runs = cost.edge_runs_per_day(TIMER) * cost.MONTH_DAYS
    assert ten["Cloud Run functions: requests"].usage - one["Cloud Run functions: requests"].usage == 9 * runs
    assert ten["Cloud Run functions: CPU"].usage > one["Cloud Run functions: CPU"].usage
    assert ten["Secret Manager: versions"].usage == one["Secret Manager: versions"].usage + 9
    for same in ("Cloud Scheduler", "Artifact Registry storage", "Cloud Build"):
        assert ten[same].usage == one[same].usage


def test_the_stored_figures_cover_every_function_and_the_image() -> None:
    figures = cost.load_figures()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", figures["measured_on"])
    for name in cost.load_deployment(REPO).entry_points:
        fig = figures["functions"][name]
        assert fig["cold_start_s"] > 0 and fig["handler_s"] > 0 and fig["log_bytes"] >= 0
    assert figures["image"]["compressed_bytes"] < figures["image"]["uncompressed_bytes"]
    assert figures["config_reads_per_instance"] >= 1


def test_docs_cost_md_has_a_line_for_every_service_the_summary_prints() -> None:
    doc = (REPO / "docs" / "cost.md").read_text()
    for service in _lines(1):
        assert f"| {service} |" in doc, service
    assert cost.load_figures()["measured_on"] in doc, "docs/cost.md shows the figures deploy.sh prints"


def test_the_summary_command_prints_one_column_per_site_count() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "deploy" / "cost_model.py"), "summary", "--sites", "1",
                           "--sites", "10"], capture_output=True, text=True, timeout=60, check=True)
    head = proc.stdout.splitlines()[0]
    assert "1 site(s)" in head and "10 site(s)" in head
    assert "Artifact Registry storage" in proc.stdout


def test_the_scheduled_jobs_start_without_upload_secrets_so_each_start_reads_fewer() -> None:
    figures = cost.load_figures()
    text = (REPO / "deploy.sh").read_text()
    policy = json.loads((REPO / "deploy" / "cleanup-policy.json").read_text())
    runs = cost.edge_runs_per_day(TIMER)
    now = cost.read_deployment(text, policy, 2)
    before = cost.read_deployment(text.replace("PVS6_NO_UPLOAD_SECRETS=1", ""), policy, 2)
    assert not now.jobs_get_upload_secrets and before.jobs_get_upload_secrets

    def reads(deployment: object, sites: int) -> float:
        lines = cost.usage(figures, deployment, runs, sites)
        return next(line.usage for line in lines if line.service == "Secret Manager: accesses")

    job_starts = sum(cost.cron_runs_per_month(expr) for expr in now.schedules.values())
    for sites in (1, 10):
        assert reads(before, sites) - reads(now, sites) == job_starts * sites
