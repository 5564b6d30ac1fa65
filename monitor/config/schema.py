"""The config's schema: section → allowed keys, and the limits every reader shares.

Tested against ``deploy/monitor.toml.example`` (which must show every key) and the README.
"""

from __future__ import annotations

import re

from monitor.deliver import schedule

DEFAULT_INTERVAL = 3600
MIN_INTERVAL = 60
MAX_DURATION = 10 * 365 * 86400  # seconds: anything longer is a typo, and breaks timedelta

KEYS: dict[str, frozenset[str]] = {
    "": frozenset({"database", "rules", "max_entries_per_feed", "network", "delivery", "stories",
                   "polling", "feeds", "targets", "routes", "health", "retention"}),
    "health": frozenset({"listen"}),
    "polling": frozenset({"floor", "ceiling", "adaptive", "jitter", "failing_after",
                          "concurrency", "per_host", "first_poll_max_age"}),
    "stories": frozenset({"window", "max_age", "group_wait", "update_interval"}),
    "retention": frozenset({"article_text", "fingerprints", "alerts", "vacuum_every"}),
    "network": frozenset({"connect_timeout", "read_timeout", "total_timeout", "max_bytes",
                          "max_redirects", "allow_private", "user_agent"}),
    "delivery": frozenset({"max_attempts", "backoff_base", "backoff_max", "min_severity",
                           "max_age", "min_interval"}),
    "feeds": frozenset({"name", "url", "interval", "tags", "full_text"}),
    "routes": frozenset({"targets", "min_severity", "tags", "rules"}),
    "targets.console": frozenset({"type", "color"}),
    "targets.slack": frozenset({"type", "webhook_url_env", "webhook_url_file"}),
    "targets.webhook": frozenset({"type", "url", "url_env", "url_file", "secret_env",
                                  "secret_file"}),
    "targets.email": frozenset({"type", "host", "port", "security", "from", "to", "username",
                                "password_env", "password_file", "timeout", "total_timeout",
                                "ca_file"}),
    "targets.apprise": frozenset({"type", "url_env", "url_file", "total_timeout"}),
}
for _kind in ("console", "slack", "webhook", "email", "apprise"):  # any target: when to send
    KEYS[f"targets.{_kind}"] |= schedule.SCHEDULE_KEYS
TARGET_TYPES = ("console", "slack", "webhook", "email", "apprise")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_ADDRESS = re.compile(r"^[^\s@<>()\[\]\\,;:\"]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
