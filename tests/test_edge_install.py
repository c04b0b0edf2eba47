"""edge/install.sh into a temporary folder: no root, no systemctl, no network (a wheel built here)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.edge_wheel import build_edge_wheel

ROOT = Path(__file__).resolve().parents[1]
INSTALL = ROOT / "edge" / "install.sh"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "CONFIG_DIR": str(tmp_path / "etc"), "SYSTEMD_DIR": str(tmp_path / "systemd"),
            "STATE_DIR": str(tmp_path / "state"), "PYTHON": sys.executable, **extra}


def _install(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(INSTALL), "--prefix", str(tmp_path / "opt"), "--no-systemctl", *args],
                          env=_env(tmp_path, **env), capture_output=True, text=True, timeout=300)


def test_dry_run_changes_nothing(tmp_path):
    proc = _install(tmp_path, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "would run:" in proc.stdout and "never-default" in proc.stdout and "*/15 6-21 * * *" in proc.stdout
    assert list(tmp_path.iterdir()) == []
    assert "Installed." not in proc.stdout and "Dry run: nothing was installed" in proc.stdout


def _fake_ip(folder: Path, default_route: str) -> dict[str, str]:
    """An ``ip`` first on PATH that reports DEFAULT_ROUTE, as the Pi's own would."""
    folder.mkdir()
    fake = folder / "ip"
    fake.write_text(f"#!/bin/sh\necho '{default_route}'\n")
    fake.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def test_a_default_route_through_the_pvs6_stops_before_anything_is_installed(tmp_path):
    path = _fake_ip(tmp_path / "bin", "default via 172.27.153.1 dev eth0 proto dhcp metric 100")
    proc = _install(tmp_path, **path)
    assert proc.returncode == 1
    assert "ipv4.never-default yes" in proc.stderr and "con-name pvs6-lan1" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin"]


def test_a_default_route_over_wifi_lets_the_dry_run_through_without_a_warning(tmp_path):
    path = _fake_ip(tmp_path / "bin", "default via 192.168.1.1 dev wlan0 proto dhcp metric 600")
    proc = _install(tmp_path, "--dry-run", **path)
    assert proc.returncode == 0, proc.stderr
    assert "no internet" not in proc.stderr


def _installed_before(tmp_path: Path, *, secret: str, cloud_url: str) -> dict[str, str]:
    """A temporary root as an earlier install left it: the program's venv (this test's own Python, which has
    pvs6_edge), the config with the given [cloud] url, the secret file, and a ``systemctl`` on PATH."""
    venv_bin = tmp_path / "opt" / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (venv_bin / "python").chmod(0o755)
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "secret").write_text(secret)
    example = (ROOT / "edge" / "config.example.toml").read_text()
    (etc / "edge.toml").write_text(example.replace("https://REGION-PROJECT.cloudfunctions.net/ingest", cloud_url)
                                   .replace("/etc/pvs6-sentinel/secret", str(etc / "secret"))
                                   .replace("/var/lib/pvs6-sentinel", str(tmp_path / "state")))
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "systemctl").write_text("#!/bin/sh\nexit 0\n")
    (tools / "systemctl").chmod(0o755)
    return {"PATH": f"{tools}{os.pathsep}{os.environ['PATH']}"}


def _dry_run_with_systemctl(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(INSTALL), "--prefix", str(tmp_path / "opt"), "--dry-run"],
                          env=_env(tmp_path, **env), capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(("secret", "cloud_url", "why"), [
    ("", "https://pvs6-ingest-x.a.run.app", "is still empty"),
    ("0123456789abcdef" * 4 + "\n", "https://REGION-PROJECT.cloudfunctions.net/ingest", "still the example's"),
])
def test_the_timer_waits_until_the_config_is_complete(tmp_path, secret, cloud_url, why):
    proc = _dry_run_with_systemctl(tmp_path, _installed_before(tmp_path, secret=secret, cloud_url=cloud_url))
    assert proc.returncode == 0, proc.stderr
    assert "would run: systemctl enable pvs6-edge.timer" in proc.stdout
    assert "enable --now" not in proc.stdout
    assert "timer: NOT started yet, because the config is not complete:" in proc.stdout and why in proc.stdout
    assert "sudo systemctl start pvs6-edge.timer" in proc.stdout


def test_a_complete_config_starts_the_timer_and_the_first_upload_is_one_command_away(tmp_path):
    env = _installed_before(tmp_path, secret="0123456789abcdef" * 4 + "\n", cloud_url="https://pvs6-ingest-x.a.run.app")
    proc = _dry_run_with_systemctl(tmp_path, env)
    assert proc.returncode == 0, proc.stderr
    assert "would run: systemctl enable --now pvs6-edge.timer" in proc.stdout
    assert "NOT started" not in proc.stdout
    assert f"pvs6-edge run --now --config {tmp_path / 'etc' / 'edge.toml'}" in proc.stdout


def test_a_fresh_dry_run_says_the_timer_starts_once_the_config_is_filled_in(tmp_path):
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "systemctl").write_text("#!/bin/sh\nexit 0\n")
    (tools / "systemctl").chmod(0o755)
    proc = _dry_run_with_systemctl(tmp_path, {"PATH": f"{tools}{os.pathsep}{os.environ['PATH']}"})
    assert proc.returncode == 0, proc.stderr
    assert "would run: systemctl enable pvs6-edge.timer" in proc.stdout
    assert "the config and the secret are not filled in yet" in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tools"]


def test_unknown_option_is_refused(tmp_path):
    proc = _install(tmp_path, "--frobnicate")
    assert proc.returncode == 2 and "unknown option" in proc.stderr


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_shellcheck_clean():
    proc = subprocess.run(["shellcheck", str(INSTALL)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


@pytest.mark.slow
def test_install_twice_into_a_temp_prefix(tmp_path, pi_python):
    wheel = build_edge_wheel(tmp_path)
    pip = {"SOURCE": str(wheel), "PIP_ARGS": "--no-index --no-deps --force-reinstall", "PYTHON": str(pi_python)}
    proc = _install(tmp_path, **pip)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    config, secret = tmp_path / "etc" / "edge.toml", tmp_path / "etc" / "secret"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600 and stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert f'dir = "{tmp_path / "state"}"' in config.read_text()
    assert f'secret_file = "{secret}"' in config.read_text()
    service = (tmp_path / "systemd" / "pvs6-edge.service").read_text()
    assert f"ExecStart={tmp_path}/opt/venv/bin/pvs6-edge run --config {config}" in service
    assert f"ReadWritePaths={tmp_path / 'state'}" in service and "@" not in service.split("[Service]")[1]
    assert "OnCalendar=*-*-* 06..21:00/15:00" in (tmp_path / "systemd" / "pvs6-edge.timer").read_text()
    assert secret.read_text() == "", "the secret comes from the cloud side; install.sh never invents one"
    with pytest.raises(subprocess.CalledProcessError):  # an empty secret is refused with a clear message
        _status(tmp_path, config)
    secret.write_text("0123456789abcdef" * 4 + "\n")  # what `echo ... | sudo tee` leaves, mode unchanged
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    first_secret = secret.read_text()
    config.write_text(config.read_text().replace('site = "home"', 'site = "cabin"')
                      .replace("https://REGION-PROJECT.cloudfunctions.net/ingest", "https://pvs6-ingest-x.a.run.app"))

    again = _install(tmp_path, **pip)
    assert again.returncode == 0, again.stderr
    assert "keeping" in again.stdout and secret.read_text() == first_secret
    assert 'site = "cabin"' in config.read_text()
    assert "spool:              0 item(s)" in _status(tmp_path, config).stdout


def _status(tmp_path: Path, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(tmp_path / "opt" / "venv" / "bin" / "pvs6-edge"), "status", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, check=True)
