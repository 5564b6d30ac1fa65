"""A digest: the alerts a digest target collected over a period, sent as one message.

The relay (``monitor.deliver.outbox``) builds it from the target's due outbox rows with
:func:`build_digest`: an :class:`~monitor.model.Alert` of ``kind="digest"`` whose ``items`` are
the collected alerts (oldest first), whose severity is the highest among them, and whose key is
derived from the items' keys (the same rows give the same key on every retry: the webhook id and
the e-mail Message-ID stay stable). Every target renders it (Slack, e-mail, webhook, console,
Apprise) from the cleaned lines given here, escaping them for its sink.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.deliver import story
from monitor.deliver.base import clean_line
from monitor.model import SEVERITIES, Alert, Severity, severity_rank


def build_digest(target: str, alerts: Sequence[Alert], now: datetime) -> Alert:
    """One digest alert for ``target`` listing ``alerts`` (given oldest first)."""
    if not alerts:
        raise ValueError("a digest needs at least one alert")
    keys = "\n".join(a.key for a in alerts)
    key = "nm_digest_" + hashlib.sha256(f"{target}\n{keys}".encode()).hexdigest()[:32]
    top: Severity = min((a.severity for a in alerts), key=severity_rank)
    first = alerts[0]
    return Alert(
        key=key, target=target, story_id=first.story_id, severity=top,
        title=headline(len(alerts), first.created_at), url=None, feed="news-monitor",
        site=None, published=None, snippet=counts_line(alerts), matches=(), created_at=now,
        kind="digest", items=tuple(alerts),
        # recipients that already have every row (an e-mail digest retried after a partial
        # refusal goes only to the others)
        delivered_to=tuple(sorted(set.intersection(*(set(a.delivered_to) for a in alerts)))))


def headline(count: int, since: datetime) -> str:
    plural = "alert" if count == 1 else "alerts"
    return f"news-monitor digest: {count} {plural} since {story.when(since)}"


def counts_line(alerts: Sequence[Alert]) -> str:
    """``3 alerts: 1 critical, 2 high`` (severities highest first)."""
    counts = Counter(a.severity for a in alerts)
    parts = [f"{counts[s]} {s}" for s in SEVERITIES if counts[s]]
    plural = "alert" if len(alerts) == 1 else "alerts"
    return f"{len(alerts)} {plural}: {', '.join(parts)}"


@dataclass(frozen=True)
class ShownItem:
    """One alert of a digest, cleaned: the target escapes and links it."""

    severity: str  # upper case
    label: str  # "" for a new story, else UPDATE / ESCALATION / OPERATOR
    title: str
    url: str | None  # an http(s) URL; None when it should not be linked
    outlet: str
    published: str


def shown(alert: Alert) -> ShownItem:
    label = story.kind_label(alert) or ("" if alert.kind == "new" else alert.kind.upper())
    return ShownItem(
        severity=alert.severity.upper(), label=label,
        title=clean_line(alert.title) or "(untitled)", url=story.web_url(alert.url),
        outlet=clean_line(alert.site or alert.feed),
        published=story.when(alert.published or alert.created_at))


def items(alert: Alert, limit: int) -> tuple[list[ShownItem], int]:
    """The first ``limit`` alerts of a digest, cleaned, and how many more there are."""
    return [shown(a) for a in alert.items[:limit]], max(0, len(alert.items) - limit)


def plain_line(item: ShownItem) -> str:
    """``[HIGH] UPDATE: title (outlet, 2024-05-01 12:00 UTC)``: for text sinks."""
    label = f" {item.label}:" if item.label else ""
    where = ", ".join(x for x in (item.outlet, item.published) if x)
    return f"[{item.severity}]{label} {item.title} ({where})"
