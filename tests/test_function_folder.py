"""The folder deploy.sh uploads stands alone, as Cloud Build's Python buildpack runs it.

The buildpack installs ``requirements.txt`` into a fresh environment and starts ``functions-framework --source
main.py --target X`` in the uploaded folder, which is then the only place the project's code can come from.
Here the folder is built by the same helper deploy.sh calls (deploy/stage_function.py); the environment is a new
virtualenv whose only packages are this one's installed dependencies (a plain path line, so the editable install
of the project is NOT on sys.path: checked). No package index is reachable offline, so requirements.txt itself
is checked statically: every third-party module the function imports is provided by it or its dependencies.
Each of the four targets is then served and called as in production: ingest with a signed batch, the scheduled
ones with the token a private Cloud Run service hands on (signature stripped, ``X-Serverless-Authorization``).
"""

from __future__ import annotations

import base64
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from pvs6_cloud.infra.oidc import PRIVATE_ENV, STRIPPED_SIGNATURE
from tests.support.cloud import cloud_toml, envelope, signed, snapshot_item
from tests.support.ports import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy"))
import stage_function  # noqa: E402

TARGETS = ["ingest", "monthly_summary", "watchdog", "daily_rollup"]
AUDIENCE = "pvs6-sentinel-scheduler-test"
ACCOUNT = "pvs6-scheduler@pvs6-test.iam.gserviceaccount.com"
CLI_ONLY = ("pvs6_cloud/cli.py", "pvs6_cloud/commands/")  # the console script's code, never the function's
CONFIG = cloud_toml(more=f'[scheduler]\naudience = "{AUDIENCE}"\nservice_account = "{ACCOUNT}"')
LAUNCHER = "#!{python}\nimport sys\nfrom functions_framework._cli import _cli\nsys.exit(_cli())\n"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return stage_function.stage(tmp_path_factory.mktemp("deploy") / "source")


@pytest.fixture(scope="module")
def buildpack_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with this one's installed dependencies and a ``functions-framework`` script."""
    venv = tmp_path_factory.mktemp("buildpack") / "venv"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    here = sysconfig.get_paths()
    # Plain path lines: the dependencies' folders join sys.path, but no .pth file in them runs, so the
    # editable install of the project (a .pth finder) stays out.
    Path(site, "dependencies.pth").write_text(f"{here['purelib']}\n{here['platlib']}\n", encoding="utf-8")
    launcher = venv / "bin" / "functions-framework"
    launcher.write_text(LAUNCHER.format(python=python), encoding="utf-8")
    launcher.chmod(0o755)
    return venv


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PVS6_", "K_"))}
    return {**env, "PYTHONDONTWRITEBYTECODE": "1", **extra}


def test_the_environment_holds_the_dependencies_but_not_the_project(buildpack_env: Path, tmp_path: Path) -> None:
    probe = ("import importlib.util as u, json; print(json.dumps({n: u.find_spec(n) is not None for n in "
             "('pvs6_cloud', 'pvs6_parse', 'sheets_template', 'functions_framework', 'pvlib', 'googleapiclient')}))")
    found = json.loads(subprocess.run([str(buildpack_env / "bin" / "python"), "-c", probe], cwd=tmp_path,
                                      env=_clean_env(), check=True, capture_output=True, text=True).stdout)
    assert found == {"pvs6_cloud": False, "pvs6_parse": False, "sheets_template": False,
                     "functions_framework": True, "pvlib": True, "googleapiclient": True}


def test_the_folder_holds_the_function_and_nothing_else(folder: Path) -> None:
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert {"main.py", "requirements.txt", ".gcloudignore", "pvs6_cloud/functions.py", "pvs6_parse/__init__.py",
            "sheets_template/__init__.py", "sheets_template/layout.toml"} <= files
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc") or f.startswith("tests/")]
    assert {f.split("/")[0] for f in files} == {"main.py", "requirements.txt", ".gcloudignore", "pvs6_cloud",
                                                "pvs6_parse", "sheets_template"}


def test_staging_refuses_code_that_imports_a_package_the_folder_lacks(folder: Path, tmp_path: Path) -> None:
    copy = stage_function.stage(tmp_path / "source")
    (copy / "pvs6_cloud" / "uses_edge.py").write_text("from pvs6_edge.config import EdgeConfig\n")
    with pytest.raises(stage_function.StageError, match="pvs6_edge"):
        stage_function.check_stands_alone(copy)


def _requirement_closure(requirements: Path) -> set[str]:
    """Distribution names requirements.txt brings in, following each one's own (non-extra) requirements."""
    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    todo = [re.split(r"[\s<>=!~;\[]", line.strip(), maxsplit=1)[0]
            for line in requirements.read_text().splitlines() if line.strip() and not line.startswith("#")]
    seen: set[str] = set()
    while todo:
        name = norm(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            reqs = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:  # behind a marker this Python does not meet
            continue
        for req in reqs:
            if "extra ==" not in req:
                todo.append(re.split(r"[\s<>=!~;\[(]", req, maxsplit=1)[0])
    return seen


def test_requirements_txt_provides_every_module_the_function_imports(folder: Path, tmp_path: Path) -> None:
    function_code = tmp_path / "function-code"
    function_code.mkdir()
    for path in folder.rglob("*.py"):
        rel = path.relative_to(folder).as_posix()
        if not rel.startswith(CLI_ONLY):
            (function_code / rel.replace("/", "__")).write_text(path.read_text())
    imported = stage_function.imported_top_level(function_code)
    local = {"main", "pvs6_cloud", "pvs6_parse", "sheets_template"}
    third_party = {name for name in imported - local if name not in sys.stdlib_module_names}
    provided = _requirement_closure(folder / "requirements.txt")
    dists = importlib.metadata.packages_distributions()
    unprovided = {name: dists.get(name) for name in third_party
                  if not {re.sub(r"[-_.]+", "-", d).lower() for d in dists.get(name, [])} & provided}
    assert unprovided == {}, "add these to cloud/requirements.txt (and the [cloud] extra)"
    assert {"pandas", "pvlib", "googleapiclient", "functions_framework"} <= third_party


def test_cloud_folder_alone_stops_at_start_and_says_what_to_deploy(buildpack_env: Path) -> None:
    proc = subprocess.run([str(buildpack_env / "bin" / "functions-framework"), "--source", "main.py",
                           "--target", "watchdog", "--port", str(free_port())], cwd=ROOT / "cloud",
                          env=_clean_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "pvs6_parse and sheets_template not found beside main.py" in proc.stderr
    assert "deploy/stage_function.py" in proc.stderr


def _wait_until_serving(proc: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"functions-framework exited {proc.returncode}: {proc.stderr.read()[-3000:]}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    pytest.fail(f"functions-framework did not answer on {url}")


@pytest.fixture(scope="module")
def served(folder: Path, buildpack_env: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[dict[str, str], Path]]:
    """The four targets, each started as the buildpack starts it, from the folder alone; all at once."""
    work = tmp_path_factory.mktemp("instance")
    (work / "cloud.toml").write_text(CONFIG, encoding="utf-8")
    procs: dict[str, subprocess.Popen[str]] = {}
    urls: dict[str, str] = {}
    try:
        for target in TARGETS:
            port = free_port()
            env = _clean_env(PVS6_CLOUD_CONFIG=str(work / "cloud.toml"), K_SERVICE=f"pvs6-{target}",
                             **({PRIVATE_ENV: "1"} if target != "ingest" else {}))
            procs[target] = subprocess.Popen(
                [str(buildpack_env / "bin" / "functions-framework"), "--source", "main.py", "--target", target,
                 "--port", str(port), "--host", "127.0.0.1"],
                cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            urls[target] = f"http://127.0.0.1:{port}/"
        for target, proc in procs.items():
            _wait_until_serving(proc, urls[target])
        yield urls, work
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(timeout=20)
            if proc.stderr:
                proc.stderr.close()


def _b64(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def _token_cloud_run_passes_on() -> str:
    now = int(time.time())
    claims = {"iss": "https://accounts.google.com", "aud": AUDIENCE, "email": ACCOUNT, "email_verified": True,
              "sub": "1", "iat": now, "exp": now + 3600}
    return f"{_b64({'alg': 'RS256', 'kid': 'k', 'typ': 'JWT'})}.{_b64(claims)}.{STRIPPED_SIGNATURE}"


def test_ingest_from_the_folder_stores_a_signed_batch(served: tuple[dict[str, str], Path],
                                                      seed_payload: dict) -> None:
    urls, work = served
    item = snapshot_item(seed_payload, datetime(2025, 9, 12, 17, 0, tzinfo=UTC))
    body, headers = signed(envelope([item]))
    reply = requests.post(urls["ingest"], data=body, headers=headers, timeout=60)
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"accepted": [item["sha256"]], "duplicates": []}
    assert len((work / "sheet" / "Readings.csv").read_text().splitlines()) == 2  # header + the reading
    forged = requests.post(urls["ingest"], data=body, headers={**headers, "X-Sentinel-Site": "stranger"},
                           timeout=60)
    assert forged.status_code == 401


@pytest.mark.parametrize("target", ["monthly_summary", "watchdog", "daily_rollup"])
def test_scheduled_targets_from_the_folder_answer_cloud_schedulers_call(served: tuple[dict[str, str], Path],
                                                                        target: str) -> None:
    urls, _work = served
    header = {"X-Serverless-Authorization": f"Bearer {_token_cloud_run_passes_on()}"}
    reply = requests.post(urls[target], headers=header, timeout=120)
    assert reply.status_code == 200, reply.text
    assert reply.json()["job"] == target
    assert requests.post(urls[target], timeout=60).status_code == 401  # the door is shut without the token
