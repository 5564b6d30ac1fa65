"""The ``[targets.NAME]`` tables: one settings object per target, with its schedule (quiet
hours, digest). Secrets come from ``*_env`` / ``*_file`` and never appear in an error."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from monitor.config.reader import Reader, check_url, parse_duration
from monitor.config.schema import _ADDRESS, _NAME, TARGET_TYPES
from monitor.deliver import apprise_target, schedule
from monitor.deliver.settings import (
    MAX_SEND_SECONDS,
    AppriseSettings,
    ConsoleSettings,
    EmailSettings,
    SlackSettings,
    TargetSettings,
    WebhookSettings,
)
from monitor.errors import ConfigError
from monitor.net import NetConfig


def parse_targets(path: Path, table: Mapping[str, Any], env: Mapping[str, str],
             top: Reader, network: NetConfig,
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
        r = Reader(path, key, item, f"targets.{kind}")
        targets[name] = _target(r, kind, env, network)
        if (when := _schedule(r)) is not None:
            schedules[name] = when
    if not targets:
        raise top.error("no targets configured: add at least one [targets.NAME] table", "targets")
    return targets


def _target(r: Reader, kind: str, env: Mapping[str, str], network: NetConfig) -> TargetSettings:
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


def _schedule(r: Reader) -> schedule.Schedule | None:
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


def _apprise(r: Reader, env: Mapping[str, str], network: NetConfig) -> AppriseSettings:
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
    total = r.positive("total_timeout", 120.0, most=MAX_SEND_SECONDS)
    return AppriseSettings(url=url, total_timeout=total)


def _email(r: Reader, env: Mapping[str, str]) -> EmailSettings:
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
    total = r.positive("total_timeout", 120.0, most=MAX_SEND_SECONDS)
    timeout = r.positive("timeout", min(30.0, total))
    if timeout > total:
        raise r.error(f"must be at most total_timeout ({total:g})", "timeout")
    return EmailSettings(
        host=r.get("host", str, required=True), port=port, sender=sender,
        recipients=recipients, security=security, username=username, password=password,
        timeout=timeout, total_timeout=total, ca_file=_ca_file(r, security),
    )


def _ca_file(r: Reader, security: str) -> str | None:
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


