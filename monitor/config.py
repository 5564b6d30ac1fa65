"""TOML config → typed, validated settings.

Every problem is a ``ConfigError`` naming the file and the key (``feeds[2].intervall``), raised at
load, before anything runs. Secrets are never written in the file itself: a key ``X_env`` names an
environment variable and ``X_file`` a file that holds the secret. The reference of every key is
``deploy/monitor.toml.example``; ``KEYS`` below is the schema that file is tested against.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import ssl
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitor.deliver import apprise_target, schedule
from monitor.deliver.settings import (
    AppriseSettings,
    ConsoleSettings,
    EmailSettings,
    SlackSettings,
    TargetSettings,
    WebhookSettings,
)
from monitor.errors import ConfigError
from monitor.model import SEVERITIES, Feed, Severity
from monitor.net import NetConfig, redact_url
from monitor.sources.timing import PollingConfig

DEFAULT_INTERVAL = 3600
MIN_INTERVAL = 60
MAX_DURATION = 10 * 365 * 86400  # seconds: anything longer is a typo, and breaks timedelta

# The schema: section → allowed keys. Tested against deploy/monitor.toml.example and the README.
KEYS: dict[str, frozenset[str]] = {
    "": frozenset({"database", "rules", "max_entries_per_feed", "network", "delivery", "stories",
                   "polling", "feeds", "targets", "routes"}),
    "polling": frozenset({"floor", "ceiling", "adaptive", "jitter", "failing_after",
                          "concurrency", "per_host", "first_poll_max_age"}),
    "stories": frozenset({"window", "max_age", "group_wait", "update_interval"}),
    "network": frozenset({"connect_timeout", "read_timeout", "total_timeout", "max_bytes",
                          "max_redirects", "allow_private", "user_agent"}),
    "delivery": frozenset({"max_attempts", "backoff_base", "backoff_max", "min_severity",
                           "max_age", "min_interval"}),
    "feeds": frozenset({"name", "url", "interval", "tags"}),
    "routes": frozenset({"targets", "min_severity", "tags", "rules"}),
    "targets.console": frozenset({"type", "color"}),
    "targets.slack": frozenset({"type", "webhook_url_env", "webhook_url_file"}),
    "targets.webhook": frozenset({"type", "url", "url_env", "url_file", "secret_env",
                                  "secret_file"}),
    "targets.email": frozenset({"type", "host", "port", "security", "from", "to", "username",
                                "password_env", "password_file", "timeout", "ca_file"}),
    "targets.apprise": frozenset({"type", "url_env", "url_file"}),
}
for _kind in ("console", "slack", "webhook", "email", "apprise"):  # any target: when to send
    KEYS[f"targets.{_kind}"] |= schedule.SCHEDULE_KEYS
TARGET_TYPES = ("console", "slack", "webhook", "email", "apprise")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_ADDRESS = re.compile(r"^[^\s@<>()\[\]\\,;:\"]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")


@dataclass(frozen=True)
class DeliveryConfig:
    max_attempts: int = 10
    backoff_base: float = 30.0  # seconds; attempt n waits up to base * 2**n (full jitter)
    backoff_max: float = 3600.0
    # Without [[routes]], alerts at this severity or above go to every target; lower matches
    # (context rules such as a US strike on a militia) are recorded but not pushed.
    min_severity: Severity = "medium"
    max_age: float = 86400.0  # seconds: an alert still undelivered this long after it was queued
    # is dead (and raises an operator alert)
    # target name -> seconds between two sends to it; overrides the type's default (slack 1 s,
    # others 0)
    min_interval: Mapping[str, float] = field(default_factory=dict)
    # target name -> its quiet hours and digest period (``monitor.deliver.schedule``)
    schedules: Mapping[str, schedule.Schedule] = field(default_factory=dict)


@dataclass(frozen=True)
class StoriesConfig:
    """How articles are grouped into stories and how often a story may alert."""

    window: int = 7 * 86400  # seconds: a story quiet this long is closed; later reports start anew
    max_age: int = 3 * 86400  # seconds: older articles when first seen are stale (stored, no alert)
    group_wait: int = 60  # seconds a new story waits so near-simultaneous reports join its alert
    update_interval: int = 1800  # seconds: at most one update alert per story per interval


@dataclass(frozen=True)
class RouteConfig:
    targets: tuple[str, ...]
    min_severity: Severity = "low"
    tags: tuple[str, ...] = ()  # empty: any; else a rule tag or feed tag must be among them
    rules: tuple[str, ...] = ()  # empty: any; else one of these rule ids must have matched


@dataclass(frozen=True)
class Config:
    path: Path
    database: Path
    rules: Path
    network: NetConfig
    delivery: DeliveryConfig
    stories: StoriesConfig
    feeds: tuple[Feed, ...]
    targets: Mapping[str, TargetSettings]
    routes: tuple[RouteConfig, ...]
    max_entries_per_feed: int = 200
    polling: PollingConfig = field(default_factory=PollingConfig)


class _Reader:
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


def check_url(reader: _Reader, name: str, url: str, *, secret: bool = False) -> str:
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


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Load and validate the config file at ``path``; raise ConfigError on any problem."""
    path = Path(path)
    env = os.environ if env is None else env
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as e:
        raise ConfigError("config file not found", path=str(path)) from e
    except OSError as e:
        raise ConfigError(f"cannot read config file: {e.strerror}", path=str(path)) from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"invalid TOML: {e}", path=str(path)) from e
    return _build(path, data, env)


def _build(path: Path, data: Mapping[str, Any], env: Mapping[str, str]) -> Config:
    top = _Reader(path, "", data, "")
    base = path.parent
    database = base / top.get("database", str, "monitor.db")
    rules = base / top.get("rules", str, "rules")
    network = _network(_Reader(path, "network", top.get("network", dict, {}), "network"))
    delivery_r = _Reader(path, "delivery", top.get("delivery", dict, {}), "delivery")
    min_severity = delivery_r.get("min_severity", str, "medium")
    if min_severity not in SEVERITIES:
        raise delivery_r.error(f"must be one of {', '.join(SEVERITIES)}", "min_severity")
    delivery = DeliveryConfig(
        max_attempts=delivery_r.positive("max_attempts", 10, int),
        backoff_base=delivery_r.positive("backoff_base", 30.0),
        backoff_max=delivery_r.positive("backoff_max", 3600.0),
        min_severity=min_severity,
        max_age=delivery_r.positive("max_age", 86400.0),
        min_interval=_min_interval(delivery_r),
    )
    stories = _stories(_Reader(path, "stories", top.get("stories", dict, {}), "stories"))
    polling = _polling(_Reader(path, "polling", top.get("polling", dict, {}), "polling"))
    feeds = _feeds(path, top.get("feeds", list, []), top)
    schedules: dict[str, schedule.Schedule] = {}
    targets = _targets(path, top.get("targets", dict, {}), env, top, network, schedules)
    delivery = replace(delivery, schedules=schedules)
    routes = _routes(path, top.get("routes", list, []), targets)
    for name in delivery.min_interval:
        if name not in targets:
            raise delivery_r.error(f"names target '{name}', which is not configured",
                                   "min_interval")
    return Config(
        path=path, database=database, rules=rules, network=network, delivery=delivery,
        stories=stories, polling=polling, feeds=feeds, targets=targets, routes=routes,
        max_entries_per_feed=top.positive("max_entries_per_feed", 200, int),
    )


def _min_interval(r: _Reader) -> dict[str, float]:
    """``[delivery] min_interval = {name = seconds}``: per-target pacing overrides."""
    table = r.get("min_interval", dict, {})
    out: dict[str, float] = {}
    for name, value in table.items():
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value) or not 0 <= value <= 3600):
            raise r.error(f"'{name}' must be a number of seconds from 0 to 3600",
                          "min_interval")
        out[name] = float(value)
    return out


def _network(r: _Reader) -> NetConfig:
    import ipaddress

    allow = r.strings("allow_private")
    for item in allow:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError as e:
            raise r.error(f"{item!r} is not an IP address or CIDR network", "allow_private") from e
    default = NetConfig()
    return NetConfig(
        connect_timeout=r.positive("connect_timeout", default.connect_timeout),
        read_timeout=r.positive("read_timeout", default.read_timeout),
        total_timeout=r.positive("total_timeout", default.total_timeout),
        max_bytes=r.positive("max_bytes", default.max_bytes, int),
        max_redirects=_redirects(r, default.max_redirects),
        allow_private=allow,
        user_agent=r.get("user_agent", str, default.user_agent),
    )


def _stories(r: _Reader) -> StoriesConfig:
    default = StoriesConfig()
    values: dict[str, int] = {}
    for key in ("window", "max_age", "group_wait", "update_interval"):
        raw = r.table.get(key, getattr(default, key))
        seconds = parse_duration(raw)
        if seconds is None or seconds < 0:
            raise r.error("must be seconds or a duration such as '30m', '3d'", key)
        if seconds > MAX_DURATION:
            raise r.error("must be at most ten years", key)
        values[key] = seconds
    return StoriesConfig(**values)


def _seconds(r: _Reader, key: str, default: int, least: int) -> int:
    seconds = parse_duration(r.table.get(key, default))
    if seconds is None:
        raise r.error("must be seconds or a duration such as '15m', '1d'", key)
    if not least <= seconds <= MAX_DURATION:
        raise r.error(f"must be from {least} seconds to ten years", key)
    return seconds


def _polling(r: _Reader) -> PollingConfig:
    d = PollingConfig()
    floor = _seconds(r, "floor", d.floor, MIN_INTERVAL)
    ceiling = _seconds(r, "ceiling", d.ceiling, MIN_INTERVAL)
    if ceiling < floor:
        raise r.error(f"must not be below floor ({floor} s)", "ceiling")
    jitter = r.get("jitter", (int, float), d.jitter)
    if not 0 <= jitter <= 1:
        raise r.error("must be a fraction from 0 to 1", "jitter")
    numbers = {}
    for key, most in (("failing_after", 100), ("concurrency", 256), ("per_host", 16)):
        numbers[key] = r.get(key, int, getattr(d, key))
        if not 1 <= numbers[key] <= most:
            raise r.error(f"must be from 1 to {most}", key)
    return PollingConfig(
        floor=floor, ceiling=ceiling, adaptive=r.get("adaptive", bool, d.adaptive),
        jitter=float(jitter), **numbers,
        first_poll_max_age=_seconds(r, "first_poll_max_age", d.first_poll_max_age, 0))


def _redirects(r: _Reader, default: int) -> int:
    value: int = r.get("max_redirects", int, default)
    if not 0 <= value <= 20:
        raise r.error("must be between 0 and 20", "max_redirects")
    return value


def _feeds(path: Path, items: list[Any], top: _Reader) -> tuple[Feed, ...]:
    feeds: list[Feed] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise top.error("each [[feeds]] entry must be a table", f"feeds[{i}]")
        r = _Reader(path, f"feeds[{i}]", item, "feeds")
        name = r.get("name", str, required=True)
        if not _NAME.match(name):
            raise r.error(f"{name!r} must be 1-64 letters, digits, '.', '_' or '-'", "name")
        if name in seen:
            raise r.error(f"duplicate feed name {name!r}", "name")
        seen.add(name)
        url = check_url(r, "url", r.get("url", str, required=True))
        interval = parse_duration(r.table.get("interval", DEFAULT_INTERVAL))
        if interval is None:
            raise r.error("must be seconds or a duration such as '15m' or '1h'", "interval")
        if interval < MIN_INTERVAL:
            raise r.error(f"must be at least {MIN_INTERVAL} seconds", "interval")
        if interval > MAX_DURATION:
            raise r.error("must be at most ten years", "interval")
        feeds.append(Feed(name=name, url=url, interval=interval, tags=r.strings("tags")))
    return tuple(feeds)


def _targets(path: Path, table: Mapping[str, Any], env: Mapping[str, str],
             top: _Reader, network: NetConfig,
             schedules: dict[str, schedule.Schedule]) -> dict[str, TargetSettings]:
    targets: dict[str, TargetSettings] = {}
    for name, item in table.items():
        key = f"targets.{name}"
        if not _NAME.match(name):
            raise top.error("target names are 1-64 letters, digits, '.', '_' or '-'", key)
        if not isinstance(item, dict):
            raise top.error("must be a table", key)
        kind = item.get("type")
        if kind not in TARGET_TYPES:
            raise ConfigError(f"type must be one of {', '.join(TARGET_TYPES)}, not {kind!r}",
                              path=str(path), key=f"{key}.type")
        r = _Reader(path, key, item, f"targets.{kind}")
        targets[name] = _target(r, kind, env, network)
        if (when := _schedule(r)) is not None:
            schedules[name] = when
    if not targets:
        raise top.error("no targets configured: add at least one [targets.NAME] table", "targets")
    return targets


def _target(r: _Reader, kind: str, env: Mapping[str, str], network: NetConfig) -> TargetSettings:
    if kind == "console":
        return ConsoleSettings(color=r.get("color", bool, False))
    if kind == "slack":
        url = r.secret("webhook_url", env)
        assert url is not None
        return SlackSettings(webhook_url=check_url(r, "webhook_url_env", url, secret=True))
    if kind == "webhook":
        if "url" in r.table:
            url = check_url(r, "url", r.get("url", str))
        else:
            found = r.secret("url", env)
            assert found is not None
            url = check_url(r, "url_env", found, secret=True)
        secrets = tuple((r.secret("secret", env, required=False) or "").split())
        for s in secrets:
            if not s.startswith("whsec_"):
                raise r.error("webhook secrets look like 'whsec_<base64>'", "secret_env")
        return WebhookSettings(url=url, secrets=secrets)
    if kind == "apprise":
        return _apprise(r, env, network)
    return _email(r, env)


def _schedule(r: _Reader) -> schedule.Schedule | None:
    """The target's quiet hours and digest period, if it has either."""
    digest = None
    if "digest" in r.table:
        digest = parse_duration(r.table["digest"])
        if digest is None:
            raise r.error("must be a duration such as '1h' or '1d'", "digest")
    try:
        return schedule.build(r.get("timezone", str), r.get("quiet_hours", str), digest,
                              r.get("digest_at", str))
    except schedule.ScheduleError as e:
        raise r.error(str(e), e.key) from None


def _apprise(r: _Reader, env: Mapping[str, str], network: NetConfig) -> AppriseSettings:
    """An Apprise URL from the environment or a file, in the scheme/host allowlist (Apprise
    makes its own requests, outside the network guard: see ``monitor.deliver.apprise_target``).
    Errors never quote the URL: it holds the service's token."""
    key = "url_file" if "url_file" in r.table and "url_env" not in r.table else "url_env"
    url = r.secret("url", env)
    assert url is not None
    problem = apprise_target.check_url(url, network.allow_private)
    if problem is not None:
        raise r.error(problem, key)
    try:
        apprise_target.load_apprise()
    except ConfigError:
        raise r.error(apprise_target.INSTALL_HINT, "type") from None
    return AppriseSettings(url=url)


def _email(r: _Reader, env: Mapping[str, str]) -> EmailSettings:
    security = r.get("security", str, "starttls")
    if security not in ("starttls", "tls", "none"):
        raise r.error("must be 'starttls', 'tls' or 'none'", "security")
    sender = r.get("from", str, required=True)
    recipients = r.strings("to")
    if not recipients:
        raise r.error("needs at least one address", "to")
    for key, address in [("from", sender)] + [("to", a) for a in recipients]:
        if not _ADDRESS.match(address):
            raise r.error(f"{address!r} is not a plain e-mail address", key)
    username = r.get("username", str)
    password = r.secret("password", env, required=False)
    if security == "none" and (username or password):
        raise r.error("credentials would be sent in clear: use 'starttls' or 'tls'", "security")
    port = r.get("port", int, 465 if security == "tls" else 587)
    if not 0 < port < 65536:
        raise r.error("must be a TCP port number", "port")
    return EmailSettings(
        host=r.get("host", str, required=True), port=port, sender=sender,
        recipients=recipients, security=security, username=username, password=password,
        timeout=r.positive("timeout", 30.0), ca_file=_ca_file(r, security),
    )


def _ca_file(r: _Reader, security: str) -> str | None:
    """The e-mail target's ``ca_file`` (relative to the config's folder): a readable PEM bundle
    of CA certificates, loaded here once so a bad one stops the program at load."""
    name = r.get("ca_file", str)
    if name is None:
        return None
    if security == "none":
        raise r.error("is only used with security 'starttls' or 'tls'", "ca_file")
    path = r.path.parent / name
    try:
        ssl.create_default_context(cafile=path)
    except ssl.SSLError as e:
        raise r.error(f"{path} holds no usable PEM certificate: {e.reason or e}",
                      "ca_file") from e
    except OSError as e:
        raise r.error(f"cannot read {path}: {e.strerror or e}", "ca_file") from e
    return str(path.resolve())


def _routes(path: Path, items: list[Any],
            targets: Mapping[str, TargetSettings]) -> tuple[RouteConfig, ...]:
    routes: list[RouteConfig] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ConfigError("each [[routes]] entry must be a table", path=str(path),
                              key=f"routes[{i}]")
        r = _Reader(path, f"routes[{i}]", item, "routes")
        names = r.strings("targets")
        if not names:
            raise r.error("names no target", "targets")
        for name in names:
            if name not in targets:
                raise r.error(f"target {name!r} does not exist (defined: "
                              f"{', '.join(sorted(targets))})", "targets")
        severity = r.get("min_severity", str, "low")
        if severity not in SEVERITIES:
            raise r.error(f"must be one of {', '.join(SEVERITIES)}", "min_severity")
        routes.append(RouteConfig(targets=names, min_severity=severity, tags=r.strings("tags"),
                                  rules=r.strings("rules")))
    return tuple(routes)


def check_route_rules(config: Config, rule_ids: set[str]) -> None:
    """Routes naming rule ids must name rules the rule set has (checked once the rules are
    loaded: a typo would otherwise route nothing, silently)."""
    for i, route in enumerate(config.routes):
        for rule_id in route.rules:
            if rule_id not in rule_ids:
                raise ConfigError(f"rule {rule_id!r} is not in the rules of {config.rules}",
                                  path=str(config.path), key=f"routes[{i}].rules")
