"""What every target shares: the HTTP seam, feed-text hygiene, truncation, ``Retry-After``.

Feed text is data. Every string that came from a feed (title, outlet, snippet, URL, entity and
term names) passes through :func:`clean_line` or :func:`clean_text` before a target renders it,
so it cannot carry terminal escapes, header-splitting line breaks or bidi overrides.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import parse_qsl, urlsplit

from monitor.errors import BlockedURLError, DeliveryError, FetchError
from monitor.headers import parse_retry_after as parse_retry_after  # re-exported for targets

ELLIPSIS = "…"


class HttpResponse(Protocol):
    """The part of ``monitor.net.Response`` the targets read."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def content(self) -> bytes: ...


class HttpPoster(Protocol):
    """Anything with the ``post`` of ``monitor.net.GuardedClient``.

    It never follows redirects, returns a response for every status, and raises ``FetchError``
    (network, timeout, size) or ``BlockedURLError`` (address not allowed).
    """

    def post(
        self,
        url: str,
        *,
        content: bytes,
        headers: Mapping[str, str] | None = None,
        secret_url: bool = True,
    ) -> HttpResponse: ...


# --- feed-text hygiene -------------------------------------------------------------------------

_ESCAPE_SEQUENCE = re.compile(
    r"""
      \x1b\[[0-?]*[ -/]*[@-~]?              # CSI … final byte
    | \x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?   # OSC … BEL or ST (hyperlinks, titles)
    | \x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?     # DCS, SOS, PM, APC … ST
    | \x1b[ -/]*[0-~]?                      # any other escape
    | \x9b[0-?]*[ -/]*[@-~]?                # 8-bit CSI
    | [\x90\x98\x9d-\x9f][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?   # 8-bit DCS/SOS/OSC/PM/APC
    """,
    re.VERBOSE,
)
_LINE_BREAKS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_SPACES = re.compile(r"[ \t]+")
_BREAKS_TO_SPACE = {ord(c): " " for c in _LINE_BREAKS + "\t"}
_BREAKS_TO_NEWLINE = {ord(c): "\n" for c in _LINE_BREAKS}


def _drop_controls(text: str, keep: str) -> str:
    return "".join(
        ch
        for ch in text
        if ch in keep
        or (unicodedata.category(ch) not in ("Cc", "Cs") and ch not in _BIDI_CONTROLS)
    )


def clean_line(text: str | None) -> str:
    """One line of feed text: escapes and controls removed, every line break a space."""
    if not text:
        return ""
    text = _ESCAPE_SEQUENCE.sub("", text)
    text = text.translate(_BREAKS_TO_SPACE)
    text = _drop_controls(text, "")
    return _SPACES.sub(" ", text).strip()


def clean_text(text: str | None) -> str:
    """Multi-line feed text: as :func:`clean_line` but line breaks kept as ``\\n``."""
    if not text:
        return ""
    text = _ESCAPE_SEQUENCE.sub("", text).replace("\r\n", "\n")
    text = text.translate(_BREAKS_TO_NEWLINE)
    text = _drop_controls(text, "\n\t")
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --- truncation on character (near-grapheme) boundaries ----------------------------------------

_ZWJ = "\u200d"


def _is_extender(ch: str) -> bool:
    """Characters that belong to the grapheme before them (marks, ZWJ, selectors, skin tones)."""
    cp = ord(ch)
    return (
        unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or ch == _ZWJ
        or 0xFE00 <= cp <= 0xFE0F
        or 0x1F3FB <= cp <= 0x1F3FF
        or 0xE0020 <= cp <= 0xE007F
        or 0xE0100 <= cp <= 0xE01EF
    )


def _is_regional_indicator(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def grapheme_floor(text: str, index: int) -> int:
    """The largest cut point ≤ ``index`` that does not split a character cluster."""
    index = max(0, min(index, len(text)))
    while 0 < index < len(text):
        if _is_extender(text[index]) or text[index - 1] == _ZWJ:
            index -= 1
            continue
        if _is_regional_indicator(text[index]) and _is_regional_indicator(text[index - 1]):
            run = 0
            while index - run - 1 >= 0 and _is_regional_indicator(text[index - run - 1]):
                run += 1
            if run % 2:  # an odd run before us: we would split a flag
                index -= 1
                continue
        break
    return index


def truncate(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters, else cut on a cluster boundary + "…"."""
    if len(text) <= limit:
        return text
    if limit < len(ELLIPSIS):
        return ""
    cut = grapheme_floor(text, limit - len(ELLIPSIS))
    return text[:cut].rstrip() + ELLIPSIS


# --- HTTP helpers ------------------------------------------------------------------------------


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup that works on a plain dict too."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, item in headers.items():
        if key.lower() == lowered:
            return item
    return None


def body_code(content: bytes, limit: int = 80, *, secret: str | None = None) -> str:
    """A short, printable form of a response body, for error messages. A server may quote the
    request ("Cannot POST /services/T0/B0/…"): what it quotes of the secret URL ``secret`` is
    redacted (before the cut, so no piece of it survives at the end)."""
    text = clean_line(content[:1024].decode("utf-8", "replace"))
    return truncate(redact(text, secret), limit)


_TOKEN_LENGTH = 8  # a path segment or query value this long may be a token on its own


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with each secret URL replaced by ``<redacted>``, and so its path and query, the
    segments of its path after the first, and the values of its query, when long enough to be
    tokens on their own (``/services/T0…/B0…/XXXX``, ``?token=…``)."""
    for secret in secrets:
        if not secret:
            continue
        text = text.replace(secret, "<redacted>")
        parts = urlsplit(secret)
        pieces = [parts.path + ("?" + parts.query if parts.query else ""), parts.path,
                  parts.query]
        pieces += [s for s in parts.path.split("/")[2:] if len(s) >= _TOKEN_LENGTH]
        pieces += [v for _, v in parse_qsl(parts.query, keep_blank_values=True)
                   if len(v) >= _TOKEN_LENGTH]
        for piece in sorted(pieces, key=len, reverse=True):
            if len(piece) > 1:
                text = text.replace(piece, "<redacted>")
    return text


def post(client: HttpPoster, url: str, body: bytes, headers: Mapping[str, str],
         where: str) -> HttpResponse:
    """POST through the guarded client; a refused address is a permanent DeliveryError, a
    network failure a transient one. The secret URL never reaches the message (nor, when the
    library's message held it, the chained exception)."""
    try:
        return client.post(url, content=body, headers=headers, secret_url=True)
    except BlockedURLError as e:
        message = redact(str(e), url)
        raise DeliveryError(f"{where}: address refused by the network guard: {message}",
                            transient=False) from (e if message == str(e) else None)
    except FetchError as e:
        message = redact(str(e), url)
        raise DeliveryError(f"{where}: {message}", transient=True) from (
            e if message == str(e) else None)
