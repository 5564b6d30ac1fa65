"""Operator notices about feeds: one alert to every enabled target when a feed turns failing,
when it recovers, and when it is gone (HTTP 410).

They are ``kind="operator"`` alerts with no story (``story_id`` 0), queued in the same
transaction that records the poll, so each transition is told once. Their keys derive from the
feed, the transition and its time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from monitor.model import Alert, Feed, FeedState, PollResult
from monitor.net import redact_url
from monitor.sources.timing import Plan

_TITLES = {
    "failing": "news-monitor: feed {name!r} is failing",
    "gone": "news-monitor: feed {name!r} is gone",
    "recovered": "news-monitor: feed {name!r} has recovered",
}


def transition(before: FeedState, plan: Plan) -> str | None:
    """``failing``, ``gone`` or ``recovered`` when this poll changed the feed's health."""
    if plan.status == before.status:
        return None
    if plan.status in ("failing", "gone"):
        return plan.status
    if before.status == "failing":
        return "recovered"
    return None  # gone → active: an operator enabled it again


def _details(change: str, feed: Feed, before: FeedState, plan: Plan, result: PollResult,
             failures: int) -> str:
    url = redact_url(before.url or feed.url)
    if change == "failing":
        return (f"The last {failures} polls of {url} failed; the last error: {result.error}. "
                f"It is retried at the backoff ceiling ({plan.reason}) until it recovers; "
                "`monitor feeds list` shows its state.")
    if change == "gone":
        return (f"{url} answered HTTP 410 Gone: the publisher removed the feed. It is not polled "
                "again until `monitor feeds retry` is run for it, or its URL is changed.")
    since = f" (last success {before.last_success_at:%Y-%m-%d %H:%M} UTC)" \
        if before.last_success_at else ""
    return f"{url} answered again after {before.consecutive_failures} failed polls{since}."


def feed_notices(feed: Feed, before: FeedState, plan: Plan, result: PollResult,
                 targets: Iterable[str], now: datetime) -> list[Alert]:
    """The operator alerts this poll raises (none when the feed's health did not change)."""
    change = transition(before, plan)
    if change is None:
        return []
    failures = before.consecutive_failures + (result.status == "error")
    title = _TITLES[change].format(name=feed.name)
    text = _details(change, feed, before, plan, result, failures)
    out = []
    for name in sorted(targets):
        key = "nm_" + hashlib.sha256(
            f"feed\n{feed.name}\n{change}\n{now.isoformat()}\n{name}".encode()).hexdigest()[:32]
        out.append(Alert(
            key=key, target=name, story_id=0,
            severity="high", title=title, url=None,
            feed=feed.name, site=None, published=None, snippet=text, matches=(),
            created_at=now, kind="operator"))
    return out
