"""Typed access to one table of the TOML document, with errors that name the file and the key;
and the value parsers every section shares (durations, URLs)."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitor.config.schema import _DURATION, _UNITS, KEYS, MAX_DURATION
from monitor.errors import ConfigError
from monitor.net import redact_url


class Reader:
    """Typed access to one table of the TOML document, with errors that name file and key."""

    def __init__(self, path: Path, key: str, table: Mapping[str, Any], schema: str) -> None:
        self.path, self.key, self.table = path, key, table
        allowed = KEYS[schema]
        for name in table:
            if name not in allowed:
                hint = difflib.get_close_matches(name, sorted(allowed), n=1)
                known = ", ".join(sorted(allowed))
                more = f"; did you mean '{hint[0]}'?" if hint else f"; known keys: {known}"
                raise self.error(f"unknown key '{name}'{more}", name)

    def error(self, message: str, name: str | None = None) -> ConfigError:
        key = f"{self.key}.{name}" if self.key and name else (name or self.key)
        return ConfigError(message, path=str(self.path), key=key or None)

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = None, *,
            required: bool = False) -> Any:
        if name not in self.table:
            if required:
                raise self.error("is required", name)
            return default
        value = self.table[name]
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            raise self.error(f"must be a number, not {value!r}", name)
        if not isinstance(value, kind):
            want = (kind.__name__ if isinstance(kind, type)
                    else " or ".join(k.__name__ for k in kind))
            raise self.error(f"must be a {want}, not {type(value).__name__}", name)
        return value

    def positive(self, name: str, default: float, kind: type = float,
                 most: float = 10 * 365 * 86400) -> Any:
        value = self.get(name, (int, float) if kind is float else int, default)
        if not math.isfinite(value) or value <= 0:
            raise self.error("must be a number greater than zero", name)
        if value > most:
            raise self.error(f"must be at most {most:g}", name)
        return kind(value)

    def strings(self, name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self.get(name, list, list(default))
        if not all(isinstance(v, str) for v in value):
            raise self.error("must be a list of strings", name)
        return tuple(value)

    def secret(self, name: str, env: Mapping[str, str], *, required: bool = True) -> str | None:
        """Read ``name_env`` (an environment variable) or ``name_file`` (a file path)."""
        var = self.get(f"{name}_env", str)
        file = self.get(f"{name}_file", str)
        if var and file:
            raise self.error(f"set only one of '{name}_env' and '{name}_file'", f"{name}_env")
        if var:
            if not env.get(var):
                raise self.error(f"environment variable {var} is not set", f"{name}_env")
            return str(env[var]).strip()
        if file:
            secret_path: Path = self.path.parent / str(file)
            try:
                return secret_path.read_text(encoding="utf-8").strip()
            except OSError as e:
                raise self.error(f"cannot read {secret_path}: {e.strerror}", f"{name}_file") from e
        if required:
            raise self.error(f"is required: set '{name}_env' or '{name}_file'", f"{name}_env")
        return None


def parse_duration(value: object) -> int | None:
    """Seconds from an int or a string such as ``"90s"``, ``"15m"``, ``"1h"``; None if invalid."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and (m := _DURATION.match(value)):
        return int(m.group(1)) * _UNITS[m.group(2)]
    return None


def check_url(reader: Reader, name: str, url: str, *, secret: bool = False) -> str:
    """An absolute http(s) URL with a host; the message never echoes a secret URL."""
    shown = "the URL" if secret else repr(redact_url(url))
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as e:
        raise reader.error(f"{shown} is not a valid URL", name) from e
    if parts.scheme not in ("http", "https") or not parts.hostname or "\\" in url:
        raise reader.error(f"{shown} must be an absolute http:// or https:// URL", name)
    if any(c.isspace() for c in url):
        raise reader.error(f"{shown} contains white space", name)
    return url


def seconds(r: Reader, key: str, default: int, least: int) -> int:
    seconds = parse_duration(r.table.get(key, default))
    if seconds is None:
        raise r.error("must be seconds or a duration such as '15m', '1d'", key)
    if not least <= seconds <= MAX_DURATION:
        raise r.error(f"must be from {least} seconds to ten years", key)
    return seconds


