"""The deliver stage: targets that send an alert somewhere, and the seam that builds them.

A target has a ``name`` and ``send(alert)``: it returns when the destination accepted the alert
and otherwise raises ``DeliveryError(transient=…, retry_after=…)``; it never returns a bool. What
it returns is a receipt: ``None`` for a target without recipients, or, for one with several
(e-mail), recipient → outcome line (``"accepted"``, ``"refused: 550 …"``), which the relay records
so that a retry skips the recipients that have the alert (``Alert.delivered_to``).
Targets are picked by explicit maps, never by importing a name given as a string:

- ``TARGET_TYPES``: config ``type`` → target class;
- ``SETTINGS_TYPES``: config ``type`` → settings class (what the config loader builds);
- ``build_target``: settings object → a ready target.

Modules: ``console``, ``slack`` (+ ``slack_render``), ``webhook``, ``mail`` (+ ``mail_render``),
``apprise_target`` (the optional Apprise library, imported only when such a target is built);
shared helpers and the ``HttpPoster`` protocol (what ``monitor.net.GuardedClient`` offers) in
``base``; what every target says about an alert's story (update, escalation) in ``story``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, TextIO

from monitor.deliver.apprise_target import AppriseTarget
from monitor.deliver.base import HttpPoster, HttpResponse
from monitor.deliver.console import ConsoleTarget
from monitor.deliver.mail import EmailTarget
from monitor.deliver.settings import (
    AppriseSettings,
    ConsoleSettings,
    EmailSettings,
    SlackSettings,
    TargetSettings,
    WebhookSettings,
)
from monitor.deliver.slack import SlackTarget
from monitor.deliver.webhook import WebhookTarget
from monitor.model import Alert
from monitor.net import NetConfig

__all__ = [
    "SETTINGS_TYPES",
    "TARGET_TYPES",
    "AppriseSettings",
    "AppriseTarget",
    "ConsoleSettings",
    "ConsoleTarget",
    "EmailSettings",
    "EmailTarget",
    "HttpPoster",
    "HttpResponse",
    "SlackSettings",
    "SlackTarget",
    "Target",
    "TargetSettings",
    "WebhookSettings",
    "WebhookTarget",
    "build_target",
]


class Target(Protocol):
    """Something that delivers alerts."""

    name: str

    def send(self, alert: Alert) -> Mapping[str, str] | None:
        """Return on success: ``None``, or per-recipient outcomes for a target that has
        recipients (only those tried in this attempt). Raise ``DeliveryError(transient=…,
        retry_after=…, recipients=…)`` otherwise."""
        ...


TARGET_TYPES: dict[str, type] = {
    "console": ConsoleTarget,
    "slack": SlackTarget,
    "webhook": WebhookTarget,
    "email": EmailTarget,
    "apprise": AppriseTarget,
}

SETTINGS_TYPES: dict[str, type] = {
    "console": ConsoleSettings,
    "slack": SlackSettings,
    "webhook": WebhookSettings,
    "email": EmailSettings,
    "apprise": AppriseSettings,
}

_Builder = Callable[[str, TargetSettings, HttpPoster, TextIO | None], Target]


def _console(name: str, s: TargetSettings, _: HttpPoster, stream: TextIO | None) -> Target:
    assert isinstance(s, ConsoleSettings)
    return ConsoleTarget(name, s, stream=stream)


def _slack(name: str, s: TargetSettings, client: HttpPoster, _: TextIO | None) -> Target:
    assert isinstance(s, SlackSettings)
    return SlackTarget(name, s, client)


def _webhook(name: str, s: TargetSettings, client: HttpPoster, _: TextIO | None) -> Target:
    assert isinstance(s, WebhookSettings)
    return WebhookTarget(name, s, client)


def _email(name: str, s: TargetSettings, client: HttpPoster, _: TextIO | None) -> Target:
    """SMTP does not go through the client, but through the same address guard: the relay may
    be on an address of the client's ``[network] allow_private``."""
    assert isinstance(s, EmailSettings)
    network = getattr(client, "config", None)  # a GuardedClient's NetConfig
    allow = network.allow_private if isinstance(network, NetConfig) else ()
    return EmailTarget(name, s, allow_private=allow)


def _apprise(name: str, s: TargetSettings, _: HttpPoster, __: TextIO | None) -> Target:
    assert isinstance(s, AppriseSettings)
    return AppriseTarget(name, s)


_BUILDERS: dict[type, _Builder] = {
    ConsoleSettings: _console,
    SlackSettings: _slack,
    WebhookSettings: _webhook,
    EmailSettings: _email,
    AppriseSettings: _apprise,
}


def build_target(name: str, settings: TargetSettings, client: HttpPoster, *,
                 stream: TextIO | None = None) -> Target:
    """The target for ``settings`` (chosen by its type). ``stream`` is for the console target.

    Raises ``ConfigError`` for settings a target cannot use (e.g. a malformed webhook secret).
    """
    builder = _BUILDERS.get(type(settings))
    if builder is None:
        raise TypeError(f"no delivery target for settings of type {type(settings).__name__}")
    return builder(name, settings, client, stream)
