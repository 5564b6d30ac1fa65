"""The guarded HTTP client: the one way news-monitor talks to the network.

Every request goes through :class:`GuardedClient`, which

* allows only http and https URLs, and refuses backslashes and other parser-differential tricks;
* resolves each host itself when connecting, refuses the connection if any address returned is
  not public (unless listed in ``allow_private``), and dials exactly the address it checked, so
  DNS rebinding and odd IP notations cannot slip through — on every redirect hop;
* follows redirects by hand (at most ``max_redirects``), never from https to http, and drops
  credentials (Authorization, Cookie, URL userinfo) when a hop changes origin;
* caps the decoded body (``max_bytes``; gzip bombs stop near the cap), refuses more than two
  stacked Content-Encodings, and bounds the whole request by ``total_timeout``;
* sends the project User-Agent, and ignores proxy variables and ``.netrc``;
* with ``get(media_types=...)``, refuses a 2xx answer of another media type before reading its
  body (:class:`ContentTypeError`);
* exposes response header values as their bytes in latin-1 and sends header values back the
  same way, so a validator (ETag, Last-Modified) is echoed byte for byte.

Failures raise :class:`~monitor.errors.FetchError`, or :class:`~monitor.errors.BlockedURLError`
when the guard refused; their messages carry only redacted URLs (:func:`redact_url`).
"""

from monitor.net.address import address_allowed, parse_allowlist
from monitor.net.backend import Resolver, default_resolver
from monitor.net.client import ContentTypeError, GuardedClient, NetConfig, Response
from monitor.net.urls import redact_url

__all__ = [
    "ContentTypeError",
    "GuardedClient",
    "NetConfig",
    "Resolver",
    "Response",
    "address_allowed",
    "default_resolver",
    "parse_allowlist",
    "redact_url",
]
