"""What every target says about the story an alert belongs to (``Alert.kind`` and the story
fields), before the target escapes it for its sink.

- ``new``: the first alert of a story, shown as before.
- ``update``: more outlets report the story: its title and start, the outlets reporting it, its
  articles (the first :data:`ARTICLES_SHOWN`, then "and N more") and what changed.
- ``escalation``: the story's severity rose: the same, marked loudly.
- ``operator``: about the monitor itself; no story block.

Everything here is plain, cleaned text (:func:`~monitor.deliver.base.clean_line`); each target
escapes it for its sink (Slack ``& < >``, HTML, nothing for the console and plain-text mail).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from monitor.deliver.base import clean_line
from monitor.model import Alert, StoryArticle

ARTICLES_SHOWN = 10
OUTLETS_SHOWN = 20
_LABELS = {"update": "UPDATE", "escalation": "ESCALATION"}


def is_followup(alert: Alert) -> bool:
    """True for an update or an escalation: an alert about a story already alerted."""
    return alert.kind in _LABELS


def kind_label(alert: Alert) -> str:
    """``UPDATE`` / ``ESCALATION``, or ``""`` for a new alert (and an operator notice)."""
    return _LABELS.get(alert.kind, "")


def when(moment: datetime | None, unknown: str = "time unknown") -> str:
    """``2024-05-01 12:00 UTC`` (a naive time is taken as UTC)."""
    if moment is None:
        return unknown
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def title(alert: Alert) -> str:
    """The story's title (its first alert's), else the alert's own title."""
    return clean_line(alert.story_title) or clean_line(alert.title) or "(untitled)"


def started(alert: Alert) -> datetime | None:
    """When the story was first seen, else its earliest known article time."""
    if alert.story_started is not None:
        return alert.story_started
    times = [a.published for a in alert.articles if a.published is not None]
    return min(times, key=lambda t: t if t.tzinfo else t.replace(tzinfo=UTC)) if times else None


def changes(alert: Alert) -> str:
    """What changed, in one cleaned line; an escalation without one says the severity rose."""
    text = clean_line(alert.changes)
    if not text and alert.kind == "escalation":
        return f"severity raised to {alert.severity.upper()}"
    return text


def outlets(alert: Alert) -> list[str]:
    """The outlets reporting the story, each once, first first: from its articles, else the
    alert's own outlet and ``sources``."""
    names = [a.outlet for a in alert.articles]
    if not names:
        names = [alert.site or alert.feed, *alert.sources]
    out: list[str] = []
    seen: set[str] = set()
    for name in names:
        cleaned = clean_line(name)
        if cleaned and cleaned.casefold() not in seen:
            seen.add(cleaned.casefold())
            out.append(cleaned)
    return out


def outlets_line(alert: Alert, limit: int = OUTLETS_SHOWN) -> str:
    """``A, B, C`` (``… and N more`` past ``limit``)."""
    names = outlets(alert)
    line = ", ".join(names[:limit])
    if len(names) > limit:
        line += f" … and {len(names) - limit} more"
    return line


@dataclass(frozen=True)
class ShownArticle:
    """One article of the story, cleaned: the target escapes and links it."""

    title: str
    url: str | None  # an http(s) URL, cleaned; None when it should not be linked
    outlet: str
    published: str  # formatted by :func:`when`


def web_url(url: str | None) -> str | None:
    """A cleaned http(s) URL of at most 2000 characters, else None (not to be linked)."""
    url = clean_line(url)
    if not url or len(url) > 2000 or not url.lower().startswith(("http://", "https://")):
        return None
    return url


def _shown(article: StoryArticle) -> ShownArticle:
    return ShownArticle(title=clean_line(article.title) or "(untitled)",
                        url=web_url(article.url), outlet=clean_line(article.outlet),
                        published=when(article.published))


def articles(alert: Alert, limit: int = ARTICLES_SHOWN) -> tuple[list[ShownArticle], int]:
    """The first ``limit`` articles of the story, cleaned, and how many more there are."""
    return [_shown(a) for a in alert.articles[:limit]], max(0, len(alert.articles) - limit)


def shows_articles(alert: Alert) -> bool:
    """Whether a target lists the story's articles: for a follow-up, or a new alert that
    already groups several."""
    return bool(alert.articles) and (is_followup(alert) or len(alert.articles) > 1)
