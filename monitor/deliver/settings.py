"""Typed settings of each delivery target.

The config loader (``monitor.config``) parses and validates the TOML and builds these; the
targets only read them. Secret fields are marked: they never appear in logs, errors or ``repr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

EmailSecurity = Literal["starttls", "tls", "none"]


@dataclass(frozen=True)
class ConsoleSettings:
    """Print alerts to a stream (stdout by default)."""

    color: bool = False


@dataclass(frozen=True)
class SlackSettings:
    """A Slack incoming webhook. The URL is the credential: treat it as a secret."""

    webhook_url: str = field(repr=False)


@dataclass(frozen=True)
class WebhookSettings:
    """A generic JSON webhook, signed per Standard Webhooks when ``secrets`` is not empty.

    ``secrets`` are ``whsec_<base64>`` strings; several are allowed during a rotation (one
    signature is sent per secret). The URL may carry a token, so it is treated as a secret too.
    """

    url: str = field(repr=False)
    secrets: tuple[str, ...] = field(default=(), repr=False)


# The longest a single send may take, as a whole (e-mail ``total_timeout``, ``[network]
# total_timeout`` + ``connect_timeout``): under the outbox's five-minute lease
# (``monitor.deliver.outbox.LEASE``), so that a send still running is never claimed again.
MAX_SEND_SECONDS = 240.0


@dataclass(frozen=True)
class EmailSettings:
    """An SMTP relay. ``security`` "none" is accepted only without credentials.

    ``ca_file``: a PEM bundle of the CAs that may issue the relay's certificate (a company CA),
    trusted instead of the system store; None: the system store. ``host`` is resolved and
    checked against ``[network] allow_private`` like every other destination.

    ``timeout`` bounds each wait (the DNS lookup, the connection, each reply); ``total_timeout``
    the whole send, so that a relay trickling its replies under ``timeout`` cannot hold one past
    ``MAX_SEND_SECONDS``, inside the outbox's lease.
    """

    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    security: EmailSecurity = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    total_timeout: float = 120.0
    ca_file: str | None = None


@dataclass(frozen=True)
class AppriseSettings:
    """One Apprise URL (``discord://…``, ``tgram://…``): it carries the service's credentials,
    so it is a secret. Checked against the scheme and host allowlist at config load.
    ``total_timeout`` bounds the wait for one send (at most ``MAX_SEND_SECONDS``)."""

    url: str = field(repr=False)
    total_timeout: float = 120.0


TargetSettings = (ConsoleSettings | SlackSettings | WebhookSettings | EmailSettings
                  | AppriseSettings)
