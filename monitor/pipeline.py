"""``run_once()``: sources → extract → match → dedup → outbox → deliver, for every feed.

The daemon (``scheduler.py``) and ``monitor check`` share this code: the daemon calls
``poll_feed`` per feed on its own schedule and ``deliver_due`` on a timer; ``check`` calls
``run_once``. Expected failures (a feed that is down, a target that refuses) are recorded and
the run goes on; they come back in the report, as values.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from monitor import dedup, extract, match, sources
from monitor.config import Config
from monitor.dedup import stories
from monitor.deliver import Target
from monitor.deliver.outbox import DeliveryReport, deliver
from monitor.ingest import ingest, record_if_seen, revise
from monitor.model import Entry, Feed
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
    # How long a new story's first alert waits for other reports to join it. `check` uses 0:
    # the whole pass is the wait, since delivery runs after every feed was polled.
    group_wait: timedelta = timedelta(0)


@dataclass(frozen=True)
class FeedReport:
    feed: str
    status: str  # ok | not_modified | error
    error: str | None = None
    entries: int = 0
    new: int = 0
    matched: int = 0
    stories: int = 0  # stories opened
    stale: int = 0
    alerts: int = 0
    notes: tuple[str, ...] = ()  # one line per stale article: matched, not alerted, and why


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
                f"stories={sum(f.stories for f in self.feeds)} "
                f"stale={sum(f.stale for f in self.feeds)} "
                f"alerts={sum(f.alerts for f in self.feeds)} sent={d.sent} "
                f"retrying={d.retrying} dead={d.dead}")


def run_once(ctx: Context, feeds: Sequence[Feed] | None = None) -> RunReport:
    """Poll every feed once (whatever its schedule), then deliver what is due."""
    feeds = ctx.config.feeds if feeds is None else feeds
    ctx.store.sync_feeds(feeds)
    reports = tuple(poll_feed(ctx, feed) for feed in feeds)
    return RunReport(feeds=reports, delivery=deliver_due(ctx))


def _chronological(entry: Entry) -> tuple[bool, datetime]:
    return entry.published is None, entry.published or datetime.min.replace(tzinfo=UTC)


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
    next_poll = now + timedelta(seconds=feed.interval)
    if result.status != "ok":
        ctx.store.record_poll(result, now, next_poll)
        report = FeedReport(feed=feed.name, status=result.status, error=result.error)
        log.log(logging.WARNING if result.error else logging.INFO,
                "feed=%s status=%s http=%s new=0 matches=0 alerts=0%s", feed.name,
                result.status, result.http_status,
                f" error={result.error!r}" if result.error else "")
        return report
    new = matched = opened = stale = alerts = 0
    notes: list[str] = []
    kinds = stories.entity_kinds(ruleset.entities)
    # Oldest first, so that a story opens with the earliest report of its event.
    for entry in sorted(result.entries, key=_chronological):
        canonical = dedup.canonical_url(entry.link)
        seen = ctx.store.find_seen(feed.name, entry.guid, canonical, entry)
        if seen is not None and seen.edited:  # the feed changed it: read it again
            edit = revise(ctx, feed, seen.id, entry, extract.extract(entry, ctx.client),
                          ruleset, now, kinds=kinds, group_wait=ctx.group_wait)
            alerts += edit.alerts
            log.info("entry=%d feed=%s decision=%s story=%s reason=%r", edit.entry_id,
                     feed.name, edit.decision, edit.story_id, edit.reason)
            continue
        if seen is not None:
            if not seen.same_guid:  # re-checked and recorded under the write lock
                with ctx.store.transaction():
                    record_if_seen(ctx, entry, canonical, now)
            continue
        article = extract.extract(entry, ctx.client)
        outcome = ingest(ctx, feed, entry, canonical, article, ruleset, now, kinds=kinds,
                         group_wait=ctx.group_wait)
        if outcome is None:
            continue  # stored meanwhile by another worker: it decided, not us
        new += 1
        matched += outcome.decision not in ("no-match", "duplicate")
        alerts += outcome.alerts
        opened += outcome.opened
        if outcome.decision == "stale":
            stale += 1
            notes.append(f"stale, not alerted: {article.title!r} ({outcome.reason.split(';')[0]})")
        log.debug("entry=%d feed=%s decision=%s story=%s reason=%r", outcome.entry_id,
                  feed.name, outcome.decision, outcome.story_id, outcome.reason)
    # Validators only now: a crash in the loop leaves them as they were, so the next poll
    # fetches the feed again instead of getting a 304 and skipping the unprocessed entries.
    ctx.store.record_poll(result, now, next_poll)
    log.info("feed=%s status=ok http=%s entries=%d new=%d matches=%d alerts=%d", feed.name,
             result.http_status, len(result.entries), new, matched, alerts)
    return FeedReport(feed=feed.name, status="ok", entries=len(result.entries), new=new,
                      matched=matched, stories=opened, stale=stale, alerts=alerts,
                      notes=tuple(notes))
