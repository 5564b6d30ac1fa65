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
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import cast

from monitor import dedup, extract, match, metrics, sources
from monitor.config import Config
from monitor.dedup import stories
from monitor.deliver import Target
from monitor.deliver.outbox import DeliveryReport, deliver
from monitor.dispatch import Dispatcher
from monitor.heartbeat import Heartbeat
from monitor.ingest import ingest, record_if_seen, revise
from monitor.model import Article, Entry, Feed, FeedState, PollResult
from monitor.net import GuardedClient, redact_url
from monitor.notices import feed_notices
from monitor.sources import timing
from monitor.store import Seen, Store
from monitor.store.feeds import clash_error
from monitor.write_pause import WritePause

__all__ = ["Context", "FeedReport", "RunReport", "all_feeds", "deliver_due", "poll_feed",
           "run_once"]

log = logging.getLogger("monitor.pipeline")
PAGES_AT_ONCE = 4  # pages of one feed fetched and extracted at once (the client's per-host
# limit still applies)
NOT_A_CANDIDATE = ("page not fetched: full_text = when_candidate, and neither the title nor "
                   "the summary holds a part of any rule")


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
    # When the daemon's parts last showed they were alive (the systemd watchdog, /healthz).
    heartbeat: Heartbeat = field(default_factory=Heartbeat)
    # The daemon's polls and drains, paused while the database takes no writes.
    writes: WritePause = field(default_factory=WritePause)


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


def all_feeds(ctx: Context) -> tuple[Feed, ...]:
    """The feeds to poll: those of the config, then those added at the command line. A name in
    both is a ``StoreError`` (one name, one origin), as for ``Store.sync_feeds``."""
    cli = tuple(ctx.store.cli_feeds())
    taken = {feed.name for feed in ctx.config.feeds}
    for feed in cli:
        if feed.name in taken:
            raise clash_error(feed.name)
    return ctx.config.feeds + cli


def run_once(ctx: Context, feeds: Sequence[Feed] | None = None, *,
             due_only: bool = False) -> RunReport:
    """Poll every feed once, concurrently within ``[polling]`` limits (``due_only``: only those
    whose stored next poll has come), then deliver what is due. Gone feeds are not polled:
    they are reported as errors until an operator enables them again."""
    feeds = all_feeds(ctx) if feeds is None else feeds
    ctx.store.sync_feeds(ctx.config.feeds)
    due = {name for name, _ in ctx.store.due_feeds(ctx.clock())} if due_only else None
    polling = ctx.config.polling
    dispatcher = Dispatcher(lambda feed: poll_feed(ctx, feed), concurrency=polling.concurrency,
                            per_host=polling.per_host)
    pending: list[FeedReport | Future[object]] = []
    try:
        for feed in feeds:
            state = ctx.store.feed_state(feed.name)
            if state.status == "gone":
                pending.append(FeedReport(
                    feed=feed.name, status="error", error="gone (HTTP 410): not polled; "
                    f"`monitor feeds retry {feed.name}` polls it again"))
            elif due is None or feed.name in due:
                future = dispatcher.submit(feed, state.url)
                assert future is not None  # every name is submitted once
                pending.append(future)
        reports = tuple(p if isinstance(p, FeedReport) else p.result() for p in pending)
    finally:
        dispatcher.close(wait=True)
    return RunReport(feeds=cast(tuple[FeedReport, ...], reports), delivery=deliver_due(ctx))


def _chronological(entry: Entry) -> tuple[bool, datetime]:
    return entry.published is None, entry.published or datetime.min.replace(tzinfo=UTC)


def deliver_due(ctx: Context) -> DeliveryReport:
    return deliver(ctx.store, ctx.targets, ctx.config.delivery, clock=ctx.clock, rng=ctx.rng)


def _plan(ctx: Context, feed: Feed, state: FeedState, result: PollResult,
          now: datetime) -> timing.Plan:
    failures = state.consecutive_failures + 1 if result.status == "error" else 0
    outcome = timing.Outcome(
        ok=result.status != "error", gone=result.http_status == 410,
        retry_after=result.retry_after, cache_lifetime=result.cache_lifetime, ttl=result.ttl,
        entry_times=tuple(e.published for e in result.entries if e.published is not None))
    return timing.plan(outcome, interval=feed.interval, failures=failures, now=now,
                       config=ctx.config.polling, rng=ctx.rng)


def _record(ctx: Context, feed: Feed, state: FeedState, result: PollResult,
            now: datetime) -> timing.Plan:
    """Store the poll's outcome and next poll, the feed's new URL after a permanent redirect
    (never back to the URL it was moved from), and the operator notices its health change
    raises, in one transaction."""
    plan = _plan(ctx, feed, state, result, now)
    enabled = [n for n in ctx.targets if n not in ctx.store.disabled_targets()]
    notices = feed_notices(feed, state, plan, result, enabled, now)
    moved = result.moved_to
    if moved is not None and moved in (state.url, state.moved_from):
        if moved == state.moved_from:
            log.warning("feed=%s redirect=refused to=%s reason='it was moved from there: "
                        "redirects going back and forth'", feed.name, redact_url(moved))
        moved = None
    ctx.store.record_poll(result, now, plan.next_poll, status=plan.status,
                          interval=plan.interval, moved_to=moved, notices=notices)
    if moved is not None:
        log.warning("feed=%s moved from=%s to=%s (permanent redirect)", feed.name,
                    redact_url(state.url), redact_url(moved))
    if plan.status != state.status:
        log.warning("feed=%s health=%s was=%s reason=%r", feed.name, plan.status,
                    state.status, plan.reason)
    return plan


def poll_feed(ctx: Context, feed: Feed) -> FeedReport:
    """Poll one feed and take each new entry through extract, match and dedup into the outbox;
    then record the outcome and the next poll (``monitor.sources.timing``).

    The rule set is taken once, at the start: a reload (``scheduler.reload_rules``) swaps
    ``ctx.ruleset`` for the polls that start after it, never in the middle of one. On a feed's
    first poll its backlog is stored, but only entries younger than ``[polling]
    first_poll_max_age`` may alert."""
    now = ctx.clock()
    ruleset = ctx.ruleset
    state = ctx.store.feed_state(feed.name)
    result = sources.poll(feed, state, ctx.client, ctx.config.max_entries_per_feed, now=now)
    if result.status != "ok":
        plan = _record(ctx, feed, state, result, now)
        metrics.polled(result.status)
        log.log(logging.WARNING if result.error else logging.INFO,
                "feed=%s status=%s http=%s new=0 matches=0 alerts=0 next=%s%s", feed.name,
                result.status, result.http_status, _when(plan.next_poll),
                f" error={result.error!r}" if result.error else "")
        return FeedReport(feed=feed.name, status=result.status, error=result.error)
    backlog = (timedelta(seconds=ctx.config.polling.first_poll_max_age)
               if ctx.store.feed_is_new(feed.name) else None)
    new = matched = opened = stale = alerts = 0
    notes: list[str] = []
    kinds = stories.entity_kinds(ruleset.entities)
    regions = stories.entity_regions(ruleset.entities)
    # Oldest first, so that a story opens with the earliest report of its event.
    ordered = sorted(result.entries, key=_chronological)
    with ThreadPoolExecutor(PAGES_AT_ONCE, thread_name_prefix="page") as pool:
        known: dict[int, tuple[str | None, Seen | None]] = {}
        pages = _prefetch(ctx, feed, ordered, pool, ruleset, known)
        try:
            for entry in ordered:
                canonical, seen = _seen_now(ctx, feed, entry, known)
                if seen is not None and seen.edited:  # the feed changed it: read it again
                    edit = revise(ctx, feed, seen.id, entry,
                                  _page(ctx, feed, entry, pages, ruleset), ruleset,
                                  now, kinds=kinds, group_wait=ctx.group_wait,
                                  regions=regions)
                    alerts += edit.alerts
                    log.info("entry=%d feed=%s decision=%s story=%s reason=%r",
                             edit.entry_id, feed.name, edit.decision, edit.story_id,
                             edit.reason)
                    continue
                if seen is not None:
                    if not seen.same_guid:  # re-checked and recorded under the write lock
                        with ctx.store.transaction():
                            record_if_seen(ctx, entry, canonical, now)
                    continue
                article = _page(ctx, feed, entry, pages, ruleset)
                outcome = ingest(ctx, feed, entry, canonical, article, ruleset, now,
                                 kinds=kinds, group_wait=ctx.group_wait, backlog=backlog,
                                 regions=regions)
                if outcome is None:
                    continue  # stored meanwhile by another worker: it decided, not us
                new += 1
                matched += outcome.decision not in ("no-match", "duplicate")
                alerts += outcome.alerts
                opened += outcome.opened
                if outcome.decision == "stale":
                    stale += 1
                    notes.append(f"stale, not alerted: {article.title!r} "
                                 f"({outcome.reason.split(';')[0]})")
                log.debug("entry=%d feed=%s decision=%s story=%s reason=%r", outcome.entry_id,
                          feed.name, outcome.decision, outcome.story_id, outcome.reason)
        finally:
            for future in pages.values():
                future.cancel()
    # Validators only now: a crash in the loop leaves them as they were, so the next poll
    # fetches the feed again instead of getting a 304 and skipping the unprocessed entries.
    plan = _record(ctx, feed, state, result, now)
    metrics.polled("ok", new=new, stories=opened)
    log.info("feed=%s status=ok http=%s entries=%d new=%d matches=%d alerts=%d next=%s",
             feed.name, result.http_status, len(result.entries), new, matched, alerts,
             _when(plan.next_poll))
    return FeedReport(feed=feed.name, status="ok", entries=len(result.entries), new=new,
                      matched=matched, stories=opened, stale=stale, alerts=alerts,
                      notes=tuple(notes))


def _prefetch(ctx: Context, feed: Feed, entries: Sequence[Entry], pool: ThreadPoolExecutor,
              ruleset: match.RuleSet, known: dict[int, tuple[str | None, Seen | None]]
              ) -> dict[int, Future[Article]]:
    """Start fetching and extracting the page of every entry the store does not know yet (or
    knows with another title or summary), in feed order, ``PAGES_AT_ONCE`` at a time, while the
    loop takes them in order: a page is read once, and a feed with many new entries does not
    wait for each page's round trip in turn. Keyed by ``id(entry)``; one page per canonical
    URL (a second entry with the same URL is a copy, decided in the loop); for an entry whose
    page is not wanted (:func:`_wants_page`), its summary article, already done. Fills
    ``known`` (for :func:`_seen_now`): each entry's canonical URL and what the store knew of
    it."""
    pages: dict[int, Future[Article]] = {}
    urls: set[str] = set()
    for entry in entries:
        canonical = dedup.canonical_url(entry.link)
        seen = ctx.store.find_seen(feed.name, entry.guid, canonical, entry)
        known[id(entry)] = canonical, seen
        if seen is not None and not seen.edited:
            continue
        if canonical is not None and seen is None:
            if canonical in urls:
                continue
            urls.add(canonical)
        if _wants_page(feed, entry, ruleset):
            pages[id(entry)] = pool.submit(extract.extract, entry, ctx.client)
        else:  # decided once, here: the loop takes the summary as it takes a page
            skipped: Future[Article] = Future()
            skipped.set_result(_skip(feed, entry))
            pages[id(entry)] = skipped
    return pages


def _seen_now(ctx: Context, feed: Feed, entry: Entry,
              known: Mapping[int, tuple[str | None, Seen | None]]
              ) -> tuple[str | None, Seen | None]:
    """The entry's canonical URL and what the store knows of it now, for ``poll_feed``'s loop.
    What ``_prefetch`` found is kept where it cannot have changed since: an entry stored
    unedited stays so (entries are never removed, and only a poll of their feed edits them),
    and a copy of another feed's entry is looked up again anyway, inside the write transaction
    that records it. A new or edited entry is looked up again: an earlier entry of this poll
    (same URL) or another worker may have stored it meanwhile."""
    canonical, seen = known.get(id(entry)) or (dedup.canonical_url(entry.link), None)
    if seen is None or seen.edited:
        seen = ctx.store.find_seen(feed.name, entry.guid, canonical, entry)
    return canonical, seen


def _wants_page(feed: Feed, entry: Entry, ruleset: match.RuleSet) -> bool:
    """Whether the entry's page is to be read: always, unless the feed says ``full_text =
    "when_candidate"`` and the entry's title and summary hold no part of any rule."""
    return feed.full_text == "always" or match.candidate(entry.title, entry.summary, ruleset)


def _page(ctx: Context, feed: Feed, entry: Entry, pages: Mapping[int, Future[Article]],
          ruleset: match.RuleSet) -> Article:
    """The entry's article: its page, prefetched or (when it was not) fetched now; or, when
    its page is not wanted, its title and summary."""
    future = pages.get(id(entry))
    if future is not None:
        return future.result()
    if not _wants_page(feed, entry, ruleset):
        return _skip(feed, entry)
    return extract.extract(entry, ctx.client)


def _skip(feed: Feed, entry: Entry) -> Article:
    """The article of an entry whose page is not read: its title and summary."""
    metrics.page_skipped()
    log.debug("feed=%s entry=%r page=skipped reason=not a candidate", feed.name, entry.guid)
    return extract.from_summary(entry, NOT_A_CANDIDATE)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else "never"
