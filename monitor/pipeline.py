"""``run_once()``: sources → extract → match → dedup → outbox → deliver, for every feed.

The daemon (``scheduler.py``) and ``monitor check`` share this code: the daemon calls
``poll_feed`` per feed on its own schedule and ``deliver_due`` on a timer; ``check`` calls
``run_once``. Expected failures (a feed that is down, a target that refuses) are recorded and
the run goes on; they come back in the report, as values.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from monitor import dedup, extract, match, sources
from monitor.config import Config, RouteConfig
from monitor.deliver import Target
from monitor.deliver.outbox import DeliveryReport, deliver
from monitor.model import Alert, Article, Entry, Feed, Match, Severity, severity_rank
from monitor.net import GuardedClient
from monitor.store import Store

__all__ = ["Context", "FeedReport", "RunReport", "deliver_due", "poll_feed", "run_once"]

log = logging.getLogger("monitor.pipeline")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    """Everything a pass needs, built once by the CLI or the daemon. ``ruleset`` may be
    replaced by the daemon's reload (one attribute assignment; readers take it once)."""

    config: Config
    store: Store
    client: GuardedClient
    ruleset: match.RuleSet
    targets: Mapping[str, Target]
    clock: Callable[[], datetime] = utcnow
    rng: random.Random = field(default_factory=random.Random)


@dataclass(frozen=True)
class FeedReport:
    feed: str
    status: str  # ok | not_modified | error
    error: str | None = None
    entries: int = 0
    new: int = 0
    matched: int = 0
    alerts: int = 0


@dataclass(frozen=True)
class RunReport:
    feeds: tuple[FeedReport, ...]
    delivery: DeliveryReport

    @property
    def failed_feeds(self) -> tuple[FeedReport, ...]:
        return tuple(f for f in self.feeds if f.status == "error")

    @property
    def ok(self) -> bool:
        return not self.failed_feeds and self.delivery.ok

    def summary(self) -> str:
        d = self.delivery
        return (f"feeds={len(self.feeds)} failed={len(self.failed_feeds)} "
                f"entries={sum(f.entries for f in self.feeds)} "
                f"new={sum(f.new for f in self.feeds)} "
                f"matched={sum(f.matched for f in self.feeds)} "
                f"alerts={sum(f.alerts for f in self.feeds)} sent={d.sent} "
                f"retrying={d.retrying} dead={d.dead}")


def run_once(ctx: Context, feeds: Sequence[Feed] | None = None) -> RunReport:
    """Poll every feed once (whatever its schedule), then deliver what is due."""
    feeds = ctx.config.feeds if feeds is None else feeds
    ctx.store.sync_feeds(feeds)
    reports = tuple(poll_feed(ctx, feed) for feed in feeds)
    return RunReport(feeds=reports, delivery=deliver_due(ctx))


def deliver_due(ctx: Context) -> DeliveryReport:
    return deliver(ctx.store, ctx.targets, ctx.config.delivery, clock=ctx.clock, rng=ctx.rng)


def poll_feed(ctx: Context, feed: Feed) -> FeedReport:
    """Poll one feed and take each new entry through extract, match and dedup into the outbox.

    The rule set is taken once, at the start: a reload (``scheduler.reload_rules``) swaps
    ``ctx.ruleset`` for the polls that start after it, never in the middle of one."""
    now = ctx.clock()
    ruleset = ctx.ruleset
    state = ctx.store.feed_state(feed.name)
    result = sources.poll(feed, state, ctx.client, ctx.config.max_entries_per_feed)
    ctx.store.record_poll(result, now, now + timedelta(seconds=feed.interval))
    if result.status != "ok":
        report = FeedReport(feed=feed.name, status=result.status, error=result.error)
        log.log(logging.WARNING if result.error else logging.INFO,
                "feed=%s status=%s http=%s new=0 matches=0 alerts=0%s", feed.name,
                result.status, result.http_status,
                f" error={result.error!r}" if result.error else "")
        return report
    new = matched = alerts = 0
    for entry in result.entries:
        canonical = dedup.canonical_url(entry.link)
        seen = ctx.store.find_seen(feed.name, entry.guid, canonical)
        if seen is not None:
            if not seen.same_guid:  # re-checked and recorded under the write lock
                with ctx.store.transaction():
                    _record_if_seen(ctx, entry, canonical, now)
            continue
        new += 1
        article = extract.extract(entry, ctx.client)
        matches = match.match(article, ruleset)
        decision = dedup.assign(article, matches, now)
        with ctx.store.transaction():
            if _record_if_seen(ctx, entry, canonical, now):
                new -= 1  # stored meanwhile by another worker: it decided, not us
                continue
            entry_id = ctx.store.add_entry(entry, canonical, now)
            ctx.store.add_article(entry_id, article, now)
            ctx.store.add_matches(entry_id, matches)
            if decision is None:
                continue
            matched += 1
            story_id = ctx.store.add_story(entry_id, decision.title, decision.severity, now)
            identity = canonical or f"{feed.name}\n{entry.guid}"
            for target in route(ctx.config.routes, ctx.targets, matches, feed,
                                ctx.config.delivery.min_severity):
                alert = build_alert(identity, target, story_id, feed, article, matches, now)
                alerts += ctx.store.add_alert(alert)
    log.info("feed=%s status=ok http=%s entries=%d new=%d matches=%d alerts=%d", feed.name,
             result.http_status, len(result.entries), new, matched, alerts)
    return FeedReport(feed=feed.name, status="ok", entries=len(result.entries), new=new,
                      matched=matched, alerts=alerts)


def _record_if_seen(ctx: Context, entry: Entry, canonical: str | None, now: datetime) -> bool:
    """True when the entry was seen before (call inside a transaction). A copy of an article
    first seen through another feed (same canonical URL) is recorded as a duplicate of it, so
    this feed's guid is known too."""
    seen = ctx.store.find_seen(entry.feed, entry.guid, canonical)
    if seen is None:
        return False
    if not seen.same_guid:
        ctx.store.add_entry(entry, canonical, now, duplicate_of=seen.id)
    return True


def route(routes: Sequence[RouteConfig], targets: Mapping[str, object],
          matches: Sequence[Match], feed: Feed, default_min: Severity = "medium") -> list[str]:
    """The target names an alert goes to: when no route is configured, every target if the
    alert reaches ``default_min``; else the targets of each route whose severity floor and
    tags the alert meets."""
    top = min(severity_rank(m.severity) for m in matches)
    if not routes:
        return sorted(targets) if top <= severity_rank(default_min) else []
    tags = {t for m in matches for t in m.tags} | set(feed.tags)
    chosen: set[str] = set()
    for r in routes:
        if top <= severity_rank(r.min_severity) and (not r.tags or tags & set(r.tags)):
            chosen.update(r.targets)
    return sorted(chosen)


def build_alert(identity: str, target: str, story_id: int, feed: Feed, article: Article,
                matches: Sequence[Match], now: datetime) -> Alert:
    """The outbox alert for one target; its key depends only on the article and the target,
    so it stays the same across retries and restarts."""
    key = "nm_" + hashlib.sha256(f"{identity}\n{target}\nnew".encode()).hexdigest()[:32]
    ordered = tuple(sorted(matches, key=lambda m: (severity_rank(m.severity), m.rule_id)))
    return Alert(
        key=key, target=target, story_id=story_id, severity=ordered[0].severity,
        title=article.title or article.entry.title, url=article.url or article.entry.link,
        feed=feed.name, site=article.site, published=article.published,
        snippet=ordered[0].snippet, matches=ordered, created_at=now, kind="new")
