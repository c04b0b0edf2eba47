"""Reading one TOML table of the cloud config: typed keys, ranges, paths and secrets, every error naming its key.

A secret is written inline or named by environment variable (``*_env``); when that variable is unset but
``<NAME>_FILE`` names a file, the secret is that file's content (how deploy.sh mounts the Pis' upload secrets).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pvs6_cloud.infra.errors import ConfigError

__all__ = ["NO_UPLOAD_SECRETS_ENV", "read_secret_file"]

# Set to 1 by deploy.sh on the scheduled functions, which never check an upload: they start without the Pis'
# upload secrets (least privilege, and one Secret Manager read less per site at each start: docs/cost.md).
NO_UPLOAD_SECRETS_ENV = "PVS6_NO_UPLOAD_SECRETS"


def read_secret_file(path: Path) -> str:
    """A secret file's content without the line end an editor or ``echo`` adds."""
    return path.read_text(encoding="utf-8").strip()


class _Reader:
    """Reads one TOML table, remembering its path so every error names the exact key."""

    def __init__(self, table: Mapping[str, Any], path: str, env: Mapping[str, str], base_dir: Path) -> None:
        if not isinstance(table, Mapping):
            raise ConfigError(f"[{path}] must be a table")
        self.table = table
        self.path = path
        self.env = env
        self.base_dir = base_dir
        self.used: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None, *, required: bool = False) -> Any:
        self.used.add(key)
        if key not in self.table:
            if required:
                raise ConfigError(f"missing required key {self._key(key)}")
            return default
        value = self.table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, float)):
            raise ConfigError(f"{self._key(key)} has the wrong type: {value!r}")
        return value

    def number(self, key: str, default: float, *, low: float | None = None, high: float | None = None) -> float:
        value = self.get(key, float, default)
        if (low is not None and value < low) or (high is not None and value > high):
            raise ConfigError(f"{self._key(key)} = {value} is outside [{low}, {high}]")
        return value

    def path_value(self, key: str) -> Path | None:
        raw = self.get(key, str)
        if raw is None:
            return None
        path = Path(raw).expanduser()
        return path if path.is_absolute() else (self.base_dir / path)

    def secret(self, key: str, *, required: bool) -> str:
        """A secret given inline as ``key`` or by environment variable name as ``key_env``."""
        return self.secret_and_file(key, required=required)[0]

    def secret_and_file(self, key: str, *, required: bool) -> tuple[str, Path | None]:
        """`secret`, and the file it came from when the variable was unset and ``<NAME>_FILE`` named one."""
        inline = self.get(key, str)
        env_name = self.get(f"{key}_env", str)
        if inline and env_name:
            raise ConfigError(f"give {self._key(key)} or {self._key(key + '_env')}, not both")
        if env_name:
            value = self.env.get(env_name, "")
            file_name = self.env.get(f"{env_name}_FILE", "")
            if not value and file_name:
                path = Path(file_name)
                try:
                    value = read_secret_file(path)
                except OSError as err:
                    raise ConfigError(f"{self._key(key + '_env')}: {env_name}_FILE names {path}, which cannot be "
                                      f"read ({err.strerror})") from err
                if not value:
                    raise ConfigError(f"{self._key(key + '_env')}: {env_name}_FILE names {path}, which is empty")
                return value, path
            if not value:
                raise ConfigError(f"{self._key(key + '_env')} names {env_name}, which is not set")
            return value, None
        if required and not inline:
            raise ConfigError(f"missing required key {self._key(key)} (or {self._key(key + '_env')})")
        return inline or "", None

    def sub(self, key: str) -> _Reader:
        self.used.add(key)
        return _Reader(self.table.get(key, {}), self._key(key), self.env, self.base_dir)

    def check_unknown(self) -> None:
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            raise ConfigError(f"unknown key(s) in [{self.path or 'top level'}]: {', '.join(unknown)}")


def _strings(r: _Reader, key: str) -> list[str]:
    values = r.get(key, list, [])
    if not all(isinstance(v, str) and v for v in values):
        raise ConfigError(f"{r.path}.{key} must be a list of non-empty strings")
    return values
