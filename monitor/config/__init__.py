"""TOML config → typed, validated settings.

Every problem is a ``ConfigError`` naming the file and the key (``feeds[2].intervall``), raised at
load, before anything runs. Secrets are never written in the file itself: a key ``X_env`` names an
environment variable and ``X_file`` a file that holds the secret. The reference of every key is
``deploy/monitor.toml.example``; ``KEYS`` (``schema.py``) is the schema that file is tested
against. The sections are read here; the targets in ``targets.py``; ``reader.py`` holds the
typed table reader and the shared value parsers.
"""

from __future__ import annotations

import ipaddress
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from monitor.config.reader import Reader, check_url, parse_duration, seconds
from monitor.config.schema import (
    _NAME,
    DEFAULT_INTERVAL,
    KEYS,
    MAX_DURATION,
    MIN_INTERVAL,
    TARGET_TYPES,
)
from monitor.config.targets import parse_targets
from monitor.deliver import schedule
from monitor.deliver.settings import MAX_SEND_SECONDS, TargetSettings
from monitor.dispatch import MAX_CONCURRENCY
from monitor.errors import ConfigError
from monitor.model import FULL_TEXT, SEVERITIES, Feed, Severity
from monitor.net import NetConfig
from monitor.sources.timing import PollingConfig

__all__ = [
    "DEFAULT_INTERVAL",
    "KEYS",
    "MAX_DURATION",
    "MIN_INTERVAL",
    "TARGET_TYPES",
    "_NAME",
    "Config",
    "DeliveryConfig",
    "HealthConfig",
    "Reader",
    "RetentionConfig",
    "RouteConfig",
    "StoriesConfig",
    "check_route_rules",
    "check_url",
    "load_config",
    "parse_duration",
]


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
class RetentionConfig:
    """``[retention]``: how long the database keeps what (``monitor.store.retention``);
    seconds. Entries (guid, canonical URL: what was seen) are kept forever."""

    article_text: int = 90 * 86400  # article texts are emptied after this
    fingerprints: int = 400 * 86400  # near-duplicate fingerprints deleted after this
    alerts: int = 180 * 86400  # sent and dead outbox rows deleted after this
    vacuum_every: int = 7 * 86400  # VACUUM at most this often


@dataclass(frozen=True)
class RouteConfig:
    targets: tuple[str, ...]
    min_severity: Severity = "low"
    tags: tuple[str, ...] = ()  # empty: any; else a rule tag or feed tag must be among them
    rules: tuple[str, ...] = ()  # empty: any; else one of these rule ids must have matched


@dataclass(frozen=True)
class HealthConfig:
    """``[health] listen``: where ``monitor run`` serves ``/healthz`` and ``/metrics``."""

    host: str | None = None  # None: no listener (the default)
    port: int = 0

    @property
    def loopback(self) -> bool:
        return self.host is not None and ipaddress.ip_address(self.host).is_loopback


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
    health: HealthConfig = field(default_factory=HealthConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)


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
    top = Reader(path, "", data, "")
    base = path.parent
    database = base / top.get("database", str, "monitor.db")
    rules = base / top.get("rules", str, "rules")
    network = _network(Reader(path, "network", top.get("network", dict, {}), "network"))
    delivery_r = Reader(path, "delivery", top.get("delivery", dict, {}), "delivery")
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
    stories = _stories(Reader(path, "stories", top.get("stories", dict, {}), "stories"))
    polling = _polling(Reader(path, "polling", top.get("polling", dict, {}), "polling"))
    feeds = _feeds(path, top.get("feeds", list, []), top)
    schedules: dict[str, schedule.Schedule] = {}
    targets = parse_targets(path, top.get("targets", dict, {}), env, top, network, schedules)
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
        health=_health(Reader(path, "health", top.get("health", dict, {}), "health")),
        retention=_retention(Reader(path, "retention", top.get("retention", dict, {}),
                                    "retention"), stories),
    )


def _health(r: Reader) -> HealthConfig:
    """``listen = "HOST:PORT"``: an IP address (``[::1]`` for IPv6) or ``localhost``, and a
    port; absent or empty, no listener."""
    listen = r.get("listen", str, "").strip()
    if not listen:
        return HealthConfig()
    host, sep, port = listen.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    host = "127.0.0.1" if host == "localhost" else host[1:-1] if bracketed else host
    try:
        if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(port)
        if (ipaddress.ip_address(host).version == 6) != bracketed:
            raise ValueError(host)
    except ValueError:
        raise r.error(f"{listen!r} must be HOST:PORT, HOST an IP address ('[::1]' for IPv6) "
                      "or 'localhost', PORT from 1 to 65535, e.g. '127.0.0.1:9464'",
                      "listen") from None
    return HealthConfig(host=host, port=int(port))


def _min_interval(r: Reader) -> dict[str, float]:
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


def _network(r: Reader) -> NetConfig:
    import ipaddress

    allow = r.strings("allow_private")
    for item in allow:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError as e:
            raise r.error(f"{item!r} is not an IP address or CIDR network", "allow_private") from e
    default = NetConfig()
    connect = r.positive("connect_timeout", default.connect_timeout)
    total = r.positive("total_timeout", default.total_timeout)
    if connect + total > MAX_SEND_SECONDS:  # a webhook's send must end inside its lease
        raise r.error(f"plus connect_timeout ({connect:g}) must be at most "
                      f"{MAX_SEND_SECONDS:g} seconds: an alert still being sent after the "
                      "outbox's five-minute lease could be sent twice", "total_timeout")
    return NetConfig(
        connect_timeout=connect,
        read_timeout=r.positive("read_timeout", default.read_timeout),
        total_timeout=total,
        max_bytes=r.positive("max_bytes", default.max_bytes, int),
        max_redirects=_redirects(r, default.max_redirects),
        allow_private=allow,
        user_agent=r.get("user_agent", str, default.user_agent),
    )


def _stories(r: Reader) -> StoriesConfig:
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


def _retention(r: Reader, stories: StoriesConfig) -> RetentionConfig:
    """Durations of at least a day (``vacuum_every``: an hour). Fingerprints and alerts are
    kept at least as long as a story stays open (``[stories] window``): a default shorter than
    a long window is raised to it, a value written shorter is an error."""
    d = RetentionConfig()
    values = {"article_text": seconds(r, "article_text", d.article_text, 86400),
              "vacuum_every": seconds(r, "vacuum_every", d.vacuum_every, 3600)}
    for key in ("fingerprints", "alerts"):
        values[key] = seconds(r, key, max(getattr(d, key), stories.window), 86400)
        if values[key] < stories.window:
            raise r.error(f"must be at least [stories] window ({stories.window} s): a story "
                          "still open needs them", key)
    return RetentionConfig(**values)


def _polling(r: Reader) -> PollingConfig:
    d = PollingConfig()
    floor = seconds(r, "floor", d.floor, MIN_INTERVAL)
    ceiling = seconds(r, "ceiling", d.ceiling, MIN_INTERVAL)
    if ceiling < floor:
        raise r.error(f"must not be below floor ({floor} s)", "ceiling")
    jitter = r.get("jitter", (int, float), d.jitter)
    if not 0 <= jitter <= 1:
        raise r.error("must be a fraction from 0 to 1", "jitter")
    numbers = {}
    for key, most in (("failing_after", 100), ("concurrency", MAX_CONCURRENCY), ("per_host", 16)):
        numbers[key] = r.get(key, int, getattr(d, key))
        if not 1 <= numbers[key] <= most:
            raise r.error(f"must be from 1 to {most}", key)
    return PollingConfig(
        floor=floor, ceiling=ceiling, adaptive=r.get("adaptive", bool, d.adaptive),
        jitter=float(jitter), **numbers,
        first_poll_max_age=seconds(r, "first_poll_max_age", d.first_poll_max_age, 0))


def _redirects(r: Reader, default: int) -> int:
    value: int = r.get("max_redirects", int, default)
    if not 0 <= value <= 20:
        raise r.error("must be between 0 and 20", "max_redirects")
    return value


def _feeds(path: Path, items: list[Any], top: Reader) -> tuple[Feed, ...]:
    feeds: list[Feed] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise top.error("each [[feeds]] entry must be a table", f"feeds[{i}]")
        r = Reader(path, f"feeds[{i}]", item, "feeds")
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
        full_text = r.get("full_text", str, "always")
        if full_text not in FULL_TEXT:
            raise r.error(f"must be one of {', '.join(FULL_TEXT)}, not {full_text!r}",
                          "full_text")
        feeds.append(Feed(name=name, url=url, interval=interval, tags=r.strings("tags"),
                          full_text=full_text))
    return tuple(feeds)


def _routes(path: Path, items: list[Any],
            targets: Mapping[str, TargetSettings]) -> tuple[RouteConfig, ...]:
    routes: list[RouteConfig] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ConfigError("each [[routes]] entry must be a table", path=str(path),
                              key=f"routes[{i}]")
        r = Reader(path, f"routes[{i}]", item, "routes")
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
