"""URL checks done before any socket is opened, and the redacted form used in messages."""

from __future__ import annotations

import re
import urllib.parse

import httpx

from monitor.errors import BlockedURLError

ALLOWED_SCHEMES = frozenset({"http", "https"})
_MAX_SHOWN = 300
_UNPRINTABLE = re.compile(r"[\x00-\x20\x7f]")


def redact_url(url: str, *, secret: bool = False) -> str:
    """The URL as it may appear in logs and errors: one line, never with credentials.

    Userinfo (``user:password@``) is always dropped, and so are the query string (private feeds
    put tokens there: ``?…`` stands for it) and the fragment. With ``secret=True`` only the
    origin is kept, ``https://hooks.slack.com/…``, because webhook URLs carry their secret in
    the path.
    """
    # Encode controls and spaces first: urlsplit would silently drop \r, \n and \t.
    url = _UNPRINTABLE.sub(lambda m: f"%{ord(m.group()):02X}", url)
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    netloc = parts.netloc.rpartition("@")[2]  # the last "@" ends the userinfo, as for httpx
    if secret:
        if not (parts.scheme and netloc):
            return "<redacted URL>"
        text = f"{parts.scheme}://{netloc}/…"
    else:
        text = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        if parts.query:
            text += "?…"
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def check_url(url: str | httpx.URL, *, shown: str) -> httpx.URL:
    """Parse ``url`` and refuse what the guard never fetches; ``shown`` names it in errors."""
    if "\\" in str(url):
        raise BlockedURLError("refused URL with a backslash", url=shown)
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except httpx.InvalidURL as e:
        raise BlockedURLError(f"invalid URL: {e}", url=shown) from e
    if parsed.scheme not in ALLOWED_SCHEMES:
        scheme = parsed.scheme or "(none)"
        raise BlockedURLError(f"refused scheme {scheme!r}: only http and https", url=shown)
    if not parsed.host:
        raise BlockedURLError("URL has no host", url=shown)
    if "%" in parsed.host:  # percent-encoded names are not DNS names: never looked up
        raise BlockedURLError("refused percent-encoded host", url=shown)
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise BlockedURLError(f"invalid port {parsed.port}", url=shown)
    return parsed


def origin(url: httpx.URL) -> tuple[str, str, int]:
    """(scheme, host, port) with the default port filled in."""
    port = url.port if url.port is not None else (443 if url.scheme == "https" else 80)
    return (url.scheme, url.host, port)
