"""The dedup stage: what was seen before, and which story an article belongs to.

- ``canonical_url`` (here): one spelling of an article's address (tracking parameters,
  fragments, case and default ports removed by courlan; then the www./m./mobile./amp.
  host variants, AMP paths (``…/amp``, ``….amp.html``) and AMP parameters folded). An entry
  is *seen* when its guid is already stored for its feed, or its canonical URL for any feed
  (the store answers that, with a UNIQUE constraint on (feed, guid)).
- ``near``: text fingerprints (MinHash, LSH bands) for syndicated copies and light rewrites.
- ``dates``: the day a text says its event happened.
- ``stories.assign``: the story decision, a pure function of the article, its matches, the
  recent stories and ``now``, with its reason.
- ``policy``: when a story alerts (group wait, update interval, escalation, stale).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

import courlan

from monitor.dedup.stories import StoryDecision, assign
from monitor.model import StoryView

__all__ = ["StoryDecision", "StoryView", "assign", "canonical_url"]


def canonical_url(url: str | None) -> str | None:
    """The canonical form of an article URL, or None for a missing or non-http(s) one."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            return None
        normalised = courlan.normalize_url(parts, strict=False, trailing_slash=False)
    except ValueError:
        return None
    p = urlsplit(normalised)
    host = p.netloc.lower()
    for prefix in _VARIANT_HOSTS:  # www., m., mobile., amp. serve the same article
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix):]
            break
    path = _AMP_PATH.sub("", p.path).rstrip("/") or "/"
    query = "&".join(q for q in p.query.split("&") if q and q.split("=")[0].lower() not in
                     _AMP_PARAMS and q.lower() not in ("outputtype=amp", "output=amp"))
    return urlunsplit((p.scheme, host, path, query, ""))


_VARIANT_HOSTS = ("www.", "m.", "mobile.", "amp.")
_AMP_PATH = re.compile(r"/amp/?$|\.amp(?=\.html?$)", re.IGNORECASE)  # …/amp, ….amp.html
_AMP_PARAMS = frozenset({"amp", "amp_js_v", "usqp"})
