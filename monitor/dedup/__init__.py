"""The dedup stage: what was seen before, and which story an article belongs to.

``canonical_url`` gives one spelling of an article's address (tracking parameters, fragments,
case and default ports removed; courlan does the work). An entry is *seen* when its guid is
already stored for its feed, or its canonical URL for any feed (the store answers that, with a
UNIQUE constraint on (feed, guid)). ``assign`` decides, as a pure function of the article, its
matches and ``now``, whether it opens a story; the reason is kept with the decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import courlan

from monitor.model import Article, Match, Severity, severity_rank

__all__ = ["StoryDecision", "assign", "canonical_url"]


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
    path = p.path.rstrip("/") or "/"
    return urlunsplit((p.scheme, p.netloc.lower(), path, p.query, ""))


@dataclass(frozen=True)
class StoryDecision:
    """What to do with a matched article: open a story (``story_id`` None) or join one."""

    story_id: int | None
    title: str
    severity: Severity
    reason: str


def assign(article: Article, matches: Sequence[Match], now: datetime) -> StoryDecision | None:
    """Decide the story of a newly seen article; None when nothing matched.

    Every new matched article opens its own story for now; joining reports of one event from
    several outlets into one story is the cross-outlet stage that comes next.
    """
    if not matches:
        return None
    severity = min((m.severity for m in matches), key=severity_rank)
    rules = ", ".join(sorted({m.rule_id for m in matches}))
    return StoryDecision(story_id=None, title=article.title or article.entry.title,
                         severity=severity, reason=f"first report; matched {rules}")
