"""The ``apprise`` target: services we do not speak natively (Teams, Discord, Telegram, Matrix…)
through the Apprise library (optional: ``pip install 'news-monitor[apprise]'``).

The Apprise URL (``discord://id/token``, ``tgram://bot-token/chat``…) carries the service's
credentials, so it comes only from ``url_env`` / ``url_file`` and is never written in an error
or a log line of ours. Apprise logs through the ``apprise`` logger and puts URLs in DEBUG
lines: ``setup_logging`` keeps that logger at WARNING whatever ``-v`` says, and the logger is
silenced while the URL is parsed (Apprise logs an unparseable URL whole, at ERROR).

Message: title ``[SEVERITY] title`` (one line, controls and escape sequences removed), body the
plain-text console rendering (``render_console``, no colour), sent as Apprise's TEXT format.

**Security: Apprise makes its own HTTP requests** (with ``requests``), bypassing
``monitor.net.GuardedClient``: no check that the address is public, no body cap, none of the
``[network]`` limits. What this module does instead, at config load (``check_url``):

- only the schemes in ``ALLOWED_SCHEMES`` are accepted (others: a ConfigError naming the key);
- for schemes whose host is a server the user chooses (``SELF_HOSTED``: generic
  ``json``/``form``/``xml`` and Matrix), the host must be a public IP literal, an address
  listed in ``[network] allow_private``, or a dotted host name that is not ``localhost``,
  ``*.localhost``, ``*.local``, ``*.internal`` or ``*.home.arpa``. Host names are **not**
  resolved: a public-looking name that resolves to a private address is not caught here;
- the ``redirect`` URL option is refused and redirects are turned off in the Apprise asset
  (on Apprise versions without that option, ``requests`` follows redirects).

The other schemes post to the fixed endpoints of their service (discord.com, api.telegram.org,
*.webhook.office.com, hooks.slack.com); their "host" part is a token, not a server.

Outcome: ``Apprise.notify`` answers only true or false, so false (and any exception from
Apprise) is a **transient** ``DeliveryError``: Apprise does not tell a revoked token from an
outage, so a permanently broken URL is retried until ``max_attempts`` / ``max_age``.

Deadline: Apprise's own timeouts bound each connect and each read, not the whole send (a
server trickling its answer holds it). The send runs in a thread, waited for at most
``total_timeout`` seconds (at most ``MAX_SEND_SECONDS``, inside the outbox's lease); past it,
the alert fails as transient, and while that thread still runs the target sends nothing more:
its notification may still arrive, and a second one would be a duplicate.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
import warnings
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from monitor.deliver.base import clean_line
from monitor.deliver.console import render_console
from monitor.deliver.settings import AppriseSettings
from monitor.errors import ConfigError, DeliveryError
from monitor.model import Alert
from monitor.net.address import address_allowed

INSTALL_HINT = "the apprise target needs the Apprise library: install news-monitor[apprise]"

# Services posting to their own fixed endpoints (the "host" in these URLs is a token or id).
HOSTED = frozenset({"discord", "tgram", "msteams", "slack"})
# Schemes whose host is a server the user chooses: checked like an outbound address.
SELF_HOSTED = frozenset({"json", "jsons", "form", "forms", "xml", "xmls", "matrix", "matrixs"})
ALLOWED_SCHEMES = HOSTED | SELF_HOSTED
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]{0,31})://")
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa")


def check_url(url: str, allow_private: tuple[str, ...] = ()) -> str | None:
    """None when ``url`` is an acceptable Apprise URL, else why not (never quoting the URL)."""
    if not url or any(c.isspace() or not c.isprintable() for c in url):
        return "the Apprise URL is empty or contains white space or control characters"
    match = _SCHEME.match(url)
    if match is None:
        return "the value is not an Apprise URL (scheme://…)"
    scheme = match.group(1).lower()
    if scheme not in ALLOWED_SCHEMES:
        return (f"Apprise scheme '{scheme}://' is not allowed (allowed: "
                f"{', '.join(sorted(ALLOWED_SCHEMES))})")
    try:
        parts = urlsplit(url)
        if scheme in SELF_HOSTED:
            parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "the Apprise URL is not a valid URL"
    if any(k.lower() == "redirect" for k, _ in parse_qsl(parts.query)):
        return "the 'redirect' option is not allowed in an Apprise URL"
    if scheme in SELF_HOSTED:
        return _check_host(parts.hostname, allow_private)
    return None


def _check_host(host: str | None, allow_private: tuple[str, ...]) -> str | None:
    if not host:
        return "the Apprise URL has no host"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        if address_allowed(ip, allow_private):
            return None
        return ("the Apprise URL's host is not a public address; list it in "
                "[network] allow_private to allow it")
    name = host.rstrip(".").lower()
    if "." not in name or name == "localhost" or name.endswith(_LOCAL_SUFFIXES):
        return ("the Apprise URL's host is a local name; use a public host name, or an IP "
                "address listed in [network] allow_private")
    return None


def load_apprise() -> ModuleType:
    """The apprise module, imported here (lazily) so the package works without it."""
    try:
        import apprise
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    return apprise


def render_title(alert: Alert) -> str:
    """``[SEVERITY] title`` on one line."""
    return f"[{alert.severity.upper()}] {clean_line(alert.title)}"


class AppriseTarget:
    """Sends each alert to one Apprise URL (checked by ``check_url`` at config load)."""

    def __init__(self, name: str, settings: AppriseSettings) -> None:
        self.name = name
        self.total_timeout = settings.total_timeout
        self._running: threading.Thread | None = None  # a send that outlived total_timeout
        apprise = load_apprise()
        asset_options: dict[str, Any] = {}
        if hasattr(apprise.AppriseAsset, "http_redirects"):
            asset_options["http_redirects"] = False
        self._text_format = apprise.NotifyFormat.TEXT
        self._apprise = apprise.Apprise(asset=apprise.AppriseAsset(**asset_options))
        apprise_log = logging.getLogger("apprise")
        was_disabled = apprise_log.disabled
        apprise_log.disabled = True  # a URL Apprise cannot parse is logged whole, token included
        try:
            with warnings.catch_warnings():
                # Apprise imports its plugins on the first add; some import modules deprecated
                # in newer Pythons (imghdr). Not ours to fix, and not worth a warning per start.
                warnings.simplefilter("ignore", DeprecationWarning)
                added = self._apprise.add(settings.url)
        finally:
            apprise_log.disabled = was_disabled
        if not added:
            raise ConfigError(f"apprise target {name!r}: Apprise cannot use this URL "
                              "(check the value of url_env / url_file)", key=f"targets.{name}")

    def __repr__(self) -> str:
        return f"AppriseTarget(name={self.name!r})"

    def send(self, alert: Alert) -> None:
        where = f"apprise target {self.name!r}"
        if self._running is not None and self._running.is_alive():
            raise DeliveryError(f"{where}: an earlier send is still running past total_timeout; "
                                "nothing more is sent until it ends", transient=True)
        outcome: list[object] = []

        def notify() -> None:
            try:
                outcome.append(self._apprise.notify(
                    body=render_console(alert), title=render_title(alert),
                    body_format=self._text_format))
            except Exception as e:  # Apprise's own failure: its message may hold the URL
                outcome.append(e)

        thread = threading.Thread(target=notify, name=f"apprise-{self.name}", daemon=True)
        thread.start()
        thread.join(self.total_timeout)
        if thread.is_alive():
            self._running = thread
            raise DeliveryError(f"{where}: Apprise did not finish within total_timeout "
                                f"({self.total_timeout:g} s); retried later, not while it runs",
                                transient=True)
        ok = outcome[0] if outcome else False
        if isinstance(ok, Exception):
            raise DeliveryError(f"{where}: Apprise failed ({type(ok).__name__})",
                                transient=True) from None
        if not ok:
            raise DeliveryError(f"{where}: the service did not accept the notification "
                                "(Apprise gives no reason; retried as transient)", transient=True)
