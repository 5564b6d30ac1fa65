"""The exception tree of news-monitor.

::

    MonitorError                 every error this package raises on purpose
    ├── ConfigError              the TOML config is wrong (names the file and the key)
    ├── RuleError                a rule file is wrong (names the file and the line)
    ├── FetchError               an HTTP fetch failed (network, status, size, deadline)
    │   └── BlockedURLError      the guard refused the URL (scheme, non-public address)
    ├── ParseError               a feed could not be parsed
    ├── ExtractError             an article page gave no text
    ├── DeliveryError            a target did not accept an alert (transient or permanent)
    └── StoreError               the database failed or is not ours

Library exceptions are wrapped once, at the boundary, with ``raise ... from e``. Messages never
carry secrets (webhook URLs, passwords): callers pass redacted forms.
"""

from __future__ import annotations

from collections.abc import Mapping


class MonitorError(Exception):
    """Base class of every error news-monitor raises on purpose."""


class ConfigError(MonitorError):
    """The config file is invalid. The message names the file and the key."""

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        self.path = path
        self.key = key
        where = ": ".join(p for p in (path, key) if p)
        super().__init__(f"{where}: {message}" if where else message)


class RuleError(MonitorError):
    """A rule file is invalid. The message names the file and, when known, the line."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        self.path = path
        self.line = line
        where = path or ""
        if path and line is not None:
            where = f"{path}:{line}"
        super().__init__(f"{where}: {message}" if where else message)


class FetchError(MonitorError):
    """An HTTP request failed. ``url`` is already redacted for display."""

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None) -> None:
        self.url = url
        self.status = status
        super().__init__(f"{message} ({url})" if url else message)


class BlockedURLError(FetchError):
    """The guarded client refused a URL: bad scheme, or a non-public address not allowlisted."""


class ParseError(MonitorError):
    """A feed body could not be parsed."""


class ExtractError(MonitorError):
    """An article page yielded no usable text."""


class DeliveryError(MonitorError):
    """A target did not accept an alert.

    ``transient`` failures are retried with backoff (honouring ``retry_after`` seconds when the
    target gave one); permanent ones go to the dead-letter state at once. ``gone`` says the
    destination itself is gone (HTTP 410, an archived Slack channel, a revoked token): the relay
    disables the target and keeps its alerts pending until an operator re-enables it.

    ``recipients`` (targets with several recipients, i.e. e-mail): recipient address → outcome
    of this attempt, ``"accepted"``, ``"refused: 550 5.1.1 no such user"`` or ``"deferred: 451
    4.3.0 try later"``; the relay records them, so recipients that accepted are not sent the
    alert again. Empty when the attempt got no per-recipient answer. Never holds a secret.
    ``recipients_only``: the target itself worked (the server answered each recipient on its
    own) and only some recipients refused or deferred it: the relay retries this alert later
    without pausing the target, whose other alerts go on to the recipients that take them.
    """

    def __init__(
        self, message: str, *, transient: bool, retry_after: float | None = None,
        gone: bool = False, recipients: Mapping[str, str] | None = None,
        recipients_only: bool = False,
    ) -> None:
        self.transient = transient
        self.retry_after = retry_after
        self.gone = gone
        self.recipients: dict[str, str] = dict(recipients or {})
        self.recipients_only = recipients_only
        super().__init__(message)


class StoreError(MonitorError):
    """The database could not be opened, migrated or written."""
