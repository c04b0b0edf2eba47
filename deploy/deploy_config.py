#!/usr/bin/env python3
"""Helper of ``deploy.sh``: read the cloud config TOML so the shell script never has to parse TOML itself.

Bash cannot read TOML safely, and ``deploy.sh`` must know which secrets to create (``secret_env`` /
``password_env``), which time zone the schedules use, and whether the file is fit for Google Cloud at all
(a CSV folder or an .eml outbox would vanish with every function instance). This script answers those
questions with the standard library only (Cloud Shell has Python 3.11+), and validates the file with the
project's own ``pvs6_cloud.infra.config`` when it can import it, so the error names the exact bad key.

Subcommands (output is tab-separated lines for the shell; errors go to stderr with exit code 2):

``facts CONFIG``
    ``timezone TZ``, one ``site ID SECRET_ENV SPREADSHEET_ID`` per site, ``mail SMTP_HOST USERNAME``,
    ``mail_password_env NAME`` (when set), ``mail_to ADDRESS`` (each recipient, for the owner default).
``render CONFIG OUT SERVICE_ACCOUNT``
    Write the copy deployed to Secret Manager: the user's file plus the ``[scheduler]`` table deploy.sh owns
    (only the scheduler's service account: each job's token is for its function's own URL, which the
    function accepts when no audience is configured).
``template IN OUT KEY=VALUE...``
    Fill ``${KEY}`` placeholders of a JSON template, each value JSON-escaped.
"""

from __future__ import annotations

import json
import re
import string
import sys
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED_ENV = {"PVS6_CLOUD_CONFIG", "PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION", "FUNCTION_TARGET"}


class DeployConfigError(Exception):
    """The config cannot be deployed as it is; the message says what to change."""


def secret_id(env_name: str) -> str:
    """The Secret Manager id for an environment variable name (``PVS6_SECRET_HOME`` -> ``pvs6-secret-home``)."""
    return env_name.lower().replace("_", "-")


def _load(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise DeployConfigError(f"cannot read {path}: {err.strerror}") from err
    except tomllib.TOMLDecodeError as err:
        raise DeployConfigError(f"{path} is not valid TOML: {err}") from err


def _env_names(data: Mapping[str, Any]) -> list[str]:
    names = [str(site.get("secret_env", "")) for site in data.get("sites", {}).values() if isinstance(site, dict)]
    mail = data.get("mail", {})
    if isinstance(mail, dict) and mail.get("password_env"):
        names.append(str(mail["password_env"]))
    return [n for n in names if n]


def _validate_with_project_code(data: Mapping[str, Any], base_dir: Path) -> None:
    """Run the function's own validator (when the repo's cloud/ folder is importable) with placeholder secrets."""
    cloud_dir = Path(__file__).resolve().parents[1] / "cloud"
    if str(cloud_dir) not in sys.path:
        sys.path.insert(0, str(cloud_dir))
    try:
        from pvs6_cloud.infra.config import parse_config
        from pvs6_cloud.infra.errors import ConfigError
    except ImportError:
        return
    try:
        parse_config(data, env={name: "placeholder" for name in _env_names(data)}, base_dir=base_dir)
    except ConfigError as err:
        raise DeployConfigError(str(err)) from err


def check_for_google(data: Mapping[str, Any]) -> None:
    """Refuse what works locally but not in Google Cloud, saying what to write instead."""
    sites = data.get("sites")
    if not isinstance(sites, dict) or not sites:
        raise DeployConfigError("no [sites.<id>] table: configure at least one site")
    for site_id, site in sites.items():
        where = f"[sites.{site_id}]"
        if not isinstance(site, dict):
            raise DeployConfigError(f"{where} must be a table")
        if site.get("secret"):
            raise DeployConfigError(
                f"{where} has the upload secret written in the file. For Google Cloud replace it with "
                f'secret_env = "PVS6_SECRET_{site_id.upper().replace("-", "_")}": deploy.sh keeps the value in '
                "Secret Manager (export that variable first to keep the secret your Pi already uses)."
            )
        env = str(site.get("secret_env", ""))
        if not env:
            raise DeployConfigError(f'{where} needs secret_env = "PVS6_SECRET_{site_id.upper()}"')
        if not _ENV_NAME.match(env) or env in _RESERVED_ENV:
            raise DeployConfigError(f"{where} secret_env = {env!r} is not a usable environment variable name")
        if not site.get("spreadsheet_id"):
            raise DeployConfigError(
                f"{where} needs spreadsheet_id: in Google Cloud readings go to a Google Sheet "
                "(a local_dir folder would vanish with every function instance)"
            )
    mail = data.get("mail", {})
    if not isinstance(mail, dict) or not mail.get("smtp_host"):
        raise DeployConfigError(
            '[mail] needs smtp_host (e.g. "smtp.gmail.com"): in Google Cloud an outbox folder would vanish'
        )
    if mail.get("password"):
        raise DeployConfigError(
            '[mail] has the password written in the file. Replace it with password_env = "PVS6_SMTP_PASSWORD": '
            "deploy.sh keeps the value in Secret Manager."
        )
    env = str(mail.get("password_env", ""))
    if env and (not _ENV_NAME.match(env) or env in _RESERVED_ENV):
        raise DeployConfigError(f"[mail] password_env = {env!r} is not a usable environment variable name")
    if mail.get("username") and not env:
        raise DeployConfigError('[mail] has a username but no password_env (e.g. "PVS6_SMTP_PASSWORD")')
    names = _env_names(data)
    if len(names) != len(set(names)):
        raise DeployConfigError("two secrets share one environment variable name; give each its own")


def facts(path: Path) -> list[tuple[str, ...]]:
    """What deploy.sh needs to know, after validating the file for Google Cloud."""
    data = _load(path)
    check_for_google(data)
    _validate_with_project_code(data, path.resolve().parent)
    sites: dict[str, Any] = data["sites"]
    mail: dict[str, Any] = data["mail"]
    first = next(iter(sites.values()))
    lines: list[tuple[str, ...]] = [("timezone", str(first.get("timezone", "UTC")))]
    for site_id, site in sites.items():
        lines.append(("site", site_id, str(site["secret_env"]), str(site["spreadsheet_id"])))
        recipients = site.get("mail_to", [])
        if isinstance(recipients, str):  # one address written without brackets, accepted by pvs6_cloud.infra.config
            recipients = [a.strip() for a in re.split(r"[,;]", recipients) if a.strip()]
        lines.extend(("mail_to", str(address)) for address in recipients)
    lines.append(("mail", str(mail["smtp_host"]), str(mail.get("username", ""))))
    if mail.get("password_env"):
        lines.append(("mail_password_env", str(mail["password_env"])))
    return lines


def render(path: Path, out: Path, service_account: str) -> None:
    """Write the deployed copy: the user's text untouched, plus the ``[scheduler]`` table (deploy.sh owns it).

    The table names only the service account. An ``audience`` would make the function refuse the jobs' tokens,
    which are for the function's own URL, so a table the user wrote must say exactly what deploy.sh would.
    """
    text = path.read_text(encoding="utf-8")
    data = _load(path)
    wanted = {"service_account": service_account}
    existing = data.get("scheduler")
    if existing is not None:
        if existing != wanted:
            raise DeployConfigError(
                "[scheduler] in your config differs from what deploy.sh sets up; delete the [scheduler] "
                "table and let deploy.sh write it"
            )
        out.write_text(text, encoding="utf-8")
        return
    block = "\n# Written by deploy.sh: who may call the scheduled functions.\n[scheduler]\n" + "".join(
        f"{key} = {json.dumps(value)}\n" for key, value in wanted.items()
    )
    rendered = text.rstrip("\n") + "\n" + block
    tomllib.loads(rendered)  # never store a file the function could not read
    out.write_text(rendered, encoding="utf-8")


def template(src: Path, out: Path, pairs: Sequence[str]) -> None:
    """Fill a JSON template; values are JSON-escaped so a filter with quotes stays valid JSON."""
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise DeployConfigError(f"template value {pair!r} is not KEY=VALUE")
        values[key] = json.dumps(value)[1:-1]
    try:
        filled = string.Template(src.read_text(encoding="utf-8")).substitute(values)
    except KeyError as err:
        raise DeployConfigError(f"{src.name} needs a value for {err}") from err
    json.loads(filled)
    out.write_text(filled, encoding="utf-8")


def main(argv: Sequence[str]) -> int:
    """Dispatch a subcommand; exit code 2 with a plain message on any problem with the config."""
    try:
        if len(argv) == 2 and argv[0] == "facts":
            for line in facts(Path(argv[1])):
                sys.stdout.write("\t".join(line) + "\n")
            return 0
        if len(argv) == 4 and argv[0] == "render":
            render(Path(argv[1]), Path(argv[2]), argv[3])
            return 0
        if len(argv) >= 3 and argv[0] == "template":
            template(Path(argv[1]), Path(argv[2]), argv[3:])
            return 0
        if len(argv) == 2 and argv[0] == "secret-id":
            sys.stdout.write(secret_id(argv[1]) + "\n")
            return 0
    except DeployConfigError as err:
        sys.stderr.write(f"config problem: {err}\n")
        return 2
    sys.stderr.write(__doc__ or "")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
