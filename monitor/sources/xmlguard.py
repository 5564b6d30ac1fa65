"""What stands between a hostile feed body and feedparser's XML parsing.

feedparser is given bytes only (never a URL or a path, which it would fetch or open itself).
Three more things are set here, once, at import:

* **expat, always.** feedparser prefers the ``drv_libxml2`` SAX driver when it is installed, and
  that driver cannot turn external entities off (feedparser ignores the refusal). The pure
  expat reader is pinned instead, with external general entities off, so no ``SYSTEM`` entity
  or external DTD is ever opened or fetched, whatever else is installed.
* **No entity expansion.** feedparser strips the DOCTYPE but re-inserts the entity
  declarations it calls safe (any text without ``&``), and when expat stops the document its
  lenient parser expands them itself, with no limit: one 100 kB entity referenced 10⁴ times
  becomes a 1 GB string (CVE-2012-2921's quadratic cousin). Only declarations whose value is a
  single character reference (``<!ENTITY nbsp "&#160;">``) are kept; any other DOCTYPE or
  entity declaration before the root element is dropped, so its references stay unexpanded.
* **Entries past the limit are not parsed.** :func:`first_entries` cuts a body with more
  entries than a poll takes after the last one kept, so 100 000 entries cost what N do.

:func:`check_expat` tells whether the linked libexpat is older than 2.7.2, the release Python's
documentation names for its billion-laughs, quadratic-blowup and large-token protections; the
CLI and the daemon call it at startup and it logs a warning when so.
"""

from __future__ import annotations

import logging
import pyexpat
import re

import feedparser.api
import feedparser.sanitizer

__all__ = ["EXPAT_MINIMUM", "check_expat", "first_entries"]

log = logging.getLogger("monitor.sources")
EXPAT_MINIMUM = (2, 7, 2)

_ELEMENT = re.compile(rb"<\w")  # where feedparser's "head" ends: the first element
_DECLARATION = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_CHAR_REF = re.compile(r"&#(?:[0-9]{1,7}|x[0-9a-fA-F]{1,6});")
_END_ENTRY = re.compile(rb"</(?:[\w.-]+:)?(?:item|entry)\s*>")
_TOKEN = re.compile(
    rb"<!\[CDATA\[.*?\]\]>|<!--.*?-->|<\?.*?\?>|<![^>]*>"
    rb"|<(/?)([\w.:-]+)(?:\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*\s*(/?)>",
    re.DOTALL,
)


def check_expat(version: tuple[int, int, int] | None = None) -> str | None:
    """A warning (also logged) when libexpat is older than 2.7.2; None when it is not."""
    found = version or (pyexpat.version_info[0], pyexpat.version_info[1],
                        pyexpat.version_info[2])
    if found >= EXPAT_MINIMUM:
        return None
    shown = ".".join(map(str, found))
    message = ("Python documents libexpat before 2.7.2 as possibly "
               "vulnerable to billion laughs, quadratic blowup and large tokens; feeds are "
               "parsed with entity expansion off and a byte cap, but upgrade libexpat (or "
               "Python) where you can")
    log.warning("expat=outdated version=%s minimum=2.7.2: %s", shown, message)
    return message


def first_entries(body: bytes, limit: int) -> bytes:
    """``body`` cut after its ``limit``-th item or entry, open elements closed again.

    A body with no more entries than that, or one whose markup this simple scan cannot follow
    (it tracks only tags, comments, CDATA and processing instructions, in an ASCII-compatible
    encoding), is returned whole: feedparser then reads it all, as before.
    """
    if limit < 1 or len(_END_ENTRY.findall(body)) <= limit:
        return body
    stack: list[bytes] = []
    taken = 0
    for token in _TOKEN.finditer(body):
        closing, name, empty = token.group(1, 2, 3)
        if name is None or empty:
            continue
        if not closing:
            stack.append(name)
            continue
        if not stack or stack[-1] != name:
            return body
        stack.pop()
        if name.rpartition(b":")[2] in (b"item", b"entry"):
            taken += 1
            if taken == limit:
                return body[: token.end()] + b"".join(b"</%s>" % n for n in reversed(stack))
    return body


def _replace_doctype(data: bytes) -> tuple[str | None, bytes, dict[str, str]]:
    """feedparser's ``replace_doctype`` without the entities it would expand."""
    version, data, entities = _feedparser_replace_doctype(data)
    element = _ELEMENT.search(data)
    end = element.start() if element else len(data)
    declaration = _DECLARATION.search(data, 0, end)
    kept = {name: value for name, value in entities.items() if _CHAR_REF.fullmatch(value)}
    if declaration is None:
        return version, data, kept
    doctype = b""
    if kept:
        declared = b"".join(b'<!ENTITY %s "%s">' % (name.encode(), value.encode())
                            for name, value in kept.items())
        doctype = b"<!DOCTYPE feed [" + declared + b"]>\n"
    return version, data[: declaration.start()] + doctype + data[end:], kept


def _harden(api: object) -> None:
    if not callable(getattr(api, "replace_doctype", None)) or not hasattr(
            api, "PREFERRED_XML_PARSERS"):
        raise RuntimeError("unsupported feedparser version: no api.replace_doctype")
    setattr(api, "PREFERRED_XML_PARSERS", ["xml.sax.expatreader"])  # noqa: B010
    setattr(api, "replace_doctype", _replace_doctype)  # noqa: B010


# The sanitizer's own function, never the one patched into feedparser.api (a reload of this
# module must not wrap a wrapper).
_feedparser_replace_doctype = feedparser.sanitizer.replace_doctype
_harden(feedparser.api)
