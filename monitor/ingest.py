"""One new article into the store: match, near-duplicate check, story, outbox.

``ingest`` is what ``pipeline.poll_feed`` does for each new entry once its text is extracted,
and what ``monitor replay`` does for each saved article. All of it happens in one write
transaction (``BEGIN IMMEDIATE``), so story assignment and the outbox have a single writer: two
reports of one event arriving together make one story.

Near-duplicates are a question of stories: only an article that matches a rule is
fingerprinted (``monitor.dedup.near``) and compared, and only with articles that matched one. A
matching article that nearly repeats an earlier matching one is its duplicate: it joins that
article's story and does not alert. An article that matches nothing needs no story, so it is
stored (its text, for search) without a fingerprint: the fingerprint is most of the CPU the
monitor spends on it, and a matching copy of it (another outlet's headline on the same wire
text, or a rule added since) must make its own story, not be taken for a copy of an article
that never alerted.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from monitor import match
from monitor.config import RouteConfig
from monitor.dedup import near, policy, stories
from monitor.model import (
    Alert,
    AlertKind,
    Article,
    Entry,
    Feed,
    Match,
    Severity,
    StoryArticle,
    StoryView,
    severity_rank,
)
from monitor.store.codec import dt_out
from monitor.store.stories import outlets_of

log = logging.getLogger("monitor.ingest")

if TYPE_CHECKING:
    from monitor.pipeline import Context
    from monitor.store import Store


@dataclass(frozen=True)
class Outcome:
    """What became of one article. ``decision``: new, update, escalation, duplicate, stale,
    no-match, or edit (an edited article that changes nothing); ``story_id`` None when it
    joined no story."""

    entry_id: int
    decision: str
    story_id: int | None
    reason: str
    alerts: int = 0
    opened: bool = False  # the article opened its story


def ingest(ctx: Context, feed: Feed, entry: Entry, canonical: str | None, article: Article,
           ruleset: match.RuleSet, now: datetime, *, kinds: Mapping[str, str],
           group_wait: timedelta, backlog: timedelta | None = None,
           regions: Mapping[str, str] | None = None) -> Outcome | None:
    """Store ``article`` and decide its story and alerts; None if another worker stored the
    entry meanwhile. ``backlog``: this is the feed's first poll, whose entries alert only when
    published within that age (undated ones do not alert). ``kinds`` and ``regions``:
    :func:`monitor.dedup.stories.entity_kinds` and ``entity_regions`` of ``ruleset``."""
    store = ctx.store
    matches = match.match(article, ruleset)
    fingerprint = near.fingerprint(article.text) if matches else None
    lead = match.lead(article, ruleset) if matches else stories.NO_LEAD
    with store.transaction():
        if record_if_seen(ctx, entry, canonical, now):
            return None
        entry_id = store.add_entry(entry, canonical, now)
        store.add_article(entry_id, article, now)
        store.add_matches(entry_id, matches)
        if fingerprint is None:
            return Outcome(entry_id, "no-match", None, "no rule matched")
        copies = _copies(store, entry_id, fingerprint)
        store.add_fingerprint(entry_id, fingerprint)
        if copies:
            story_id = next((s for s in (store.story_of(e) for e, _ in copies) if s), None)
            reason = f"near-duplicate of entry {copies[0][0]} (similarity {copies[0][1]:.2f})"
            if story_id is not None:
                store.attach(story_id, entry_id, "duplicate", reason, now)
            return Outcome(entry_id, "duplicate", story_id, reason)
        return _into_story(ctx, feed, entry_id, article, matches, now, kinds, group_wait,
                           backlog, lead, regions)


def revise(ctx: Context, feed: Feed, entry_id: int, entry: Entry, article: Article,
           ruleset: match.RuleSet, now: datetime, *, kinds: Mapping[str, str],
           group_wait: timedelta, regions: Mapping[str, str] | None = None) -> Outcome:
    """An entry the feed now gives with another title or summary (an edited article): its
    text, matches and fingerprint are replaced. It alerts only if it now raises its story's
    severity (an escalation), or if it now matches and had no story (then as a new article)."""
    store = ctx.store
    matches = match.match(article, ruleset)
    with store.transaction():
        store.revise_entry(entry_id, entry, article, matches, now)
        if matches:
            store.add_fingerprint(entry_id, near.fingerprint(article.text))
        else:
            store.drop_fingerprint(entry_id)
        story_id = store.story_of(entry_id)
        if story_id is None:
            if not matches:
                return Outcome(entry_id, "edit", None, "edited; still no rule matched")
            return _into_story(ctx, feed, entry_id, article, matches, now, kinds, group_wait,
                               lead=match.lead(article, ruleset), regions=regions)
        view = store.story_view(story_id)
        if not matches or view is None:
            return Outcome(entry_id, "edit", story_id, "edited; its story is unchanged")
        top = min((m.severity for m in matches), key=severity_rank)
        if severity_rank(top) >= severity_rank(view.severity):
            return Outcome(entry_id, "edit", story_id,
                           f"edited; severity {top} does not raise its story's {view.severity}")
        if policy.is_stale(article.published, now,
                           timedelta(seconds=ctx.config.stories.max_age)):
            return Outcome(entry_id, "edit", story_id, "edited; stale, so it raises nothing")
        view = replace(view, severity=top)
        store.save_story(view, now)
        alerted = store.alerted_severity(story_id)
        stale = False
        decision = policy.story_decision(opened=False, stale=stale, duplicate=False,
                                         severity=top, alerted=alerted)
        queued = _queue(ctx, feed, story_id, view, decision, alerted, article, matches, now,
                        group_wait)
        return Outcome(entry_id, decision, story_id,
                       f"edited; severity now {top} (alerted: {alerted or 'none'})", queued)


def _into_story(ctx: Context, feed: Feed, entry_id: int, article: Article,
                matches: Sequence[Match], now: datetime, kinds: Mapping[str, str],
                group_wait: timedelta, backlog: timedelta | None = None,
                lead: match.Lead = stories.NO_LEAD,
                regions: Mapping[str, str] | None = None) -> Outcome:
    """Assign a stored, matched article to a story and plan its alerts (inside the caller's
    transaction). With ``backlog`` (a feed's first poll), older or undated articles are stale."""
    store, settings = ctx.store, ctx.config.stories
    window = timedelta(seconds=settings.window)
    seen_at = min(article.published or now, now)
    recent = store.recent_stories(seen_at - window)
    decided = stories.assign(article, matches, recent, now, kinds=kinds, window=window,
                             lead=lead, regions=regions)
    assert decided is not None
    if decided.story_id is None:
        view = stories.updated_view(None, 0, decided, article, now)
        story_id = store.open_story(entry_id, view, now)
        view = replace(view, id=story_id)
    max_age = timedelta(seconds=settings.max_age)
    stale = policy.is_stale(article.published, now, min(max_age, backlog or max_age))
    undated_backlog = backlog is not None and article.published is None
    told_late = decided.event_date if decided.story_id is None and policy.is_old_event(
        decided.event_date, seen_at, max_age) else None  # old news told anew opens no alert
    stale = stale or undated_backlog or told_late is not None
    if decided.story_id is not None:
        story_id = decided.story_id
        old = next(v for v in recent if v.id == story_id)
        view = stories.updated_view(old, story_id, decided, article, now)
        if stale:  # old news joins its story but does not raise what it alerts on
            view = replace(view, severity=old.severity)
        store.save_story(view, now)
    alerted = store.alerted_severity(story_id)
    decision = policy.story_decision(opened=decided.story_id is None, stale=stale,
                                     duplicate=False, severity=view.severity, alerted=alerted)
    reason = decided.reason
    if undated_backlog:
        reason = f"stale: undated, in the backlog of the feed's first poll; {reason}"
    elif told_late is not None and not policy.is_stale(article.published, now, max_age):
        days = (seen_at.date() - told_late).days
        reason = f"stale: its event day is {days} days before it was written; {reason}"
    elif stale and article.published is not None:
        age = now - article.published
        when = (f"{age.days} days" if age.days else f"{age.seconds // 3600} hours")
        first = ", on the feed's first poll" if backlog is not None else ""
        reason = f"stale: published {when} before it was first seen{first}; {reason}"
    store.attach(story_id, entry_id, decision, reason, now)
    queued = _queue(ctx, feed, story_id, view, decision, alerted, article, matches, now,
                    group_wait)
    return Outcome(entry_id, decision, story_id, reason, queued,
                   opened=decided.story_id is None)


def _copies(store: Store, entry_id: int, fingerprint: near.Fingerprint
            ) -> list[tuple[int, float]]:
    """The earlier matched articles whose text ``fingerprint`` nearly repeats, most similar
    first. Only an article that matches a rule is fingerprinted (``ingest``), but a database
    written before 2026-11-21 also holds the fingerprints of articles that matched nothing:
    those are passed over, so a matching copy of one still makes its own story."""
    return [(e, s) for e, s in store.find_near(fingerprint, near.DUPLICATE)
            if e != entry_id and store.has_matches(e)]


def record_if_seen(ctx: Context, entry: Entry, canonical: str | None,
                   now: datetime) -> bool:
    """True when the entry was seen before (inside a transaction). A copy of an article first
    seen through another feed (same canonical URL) is recorded as a duplicate of it, so this
    feed's guid is known too."""
    seen = ctx.store.find_seen(entry.feed, entry.guid, canonical)
    if seen is None:
        return False
    if not seen.same_guid:
        ctx.store.add_entry(entry, canonical, now, duplicate_of=seen.id)
    return True


def _queue(ctx: Context, feed: Feed, story_id: int, view: StoryView, decision: policy.Decision,
           alerted: Severity | None, article: Article, matches: Sequence[Match], now: datetime,
           group_wait: timedelta) -> int:
    """Create or refresh the story's alerts per the policy; return how many were queued."""
    if decision in ("duplicate", "stale"):
        return 0
    store, settings = ctx.store, ctx.config.stories
    articles = store.story_articles(story_id)
    changes = _changes(decision, alerted, view, article)
    identity = f"story\n{story_id}\n{dt_out(view.first_seen)}"
    queued = 0
    targets = route(ctx.config.routes, ctx.targets, matches, feed,
                    ctx.config.delivery.min_severity, severity=view.severity)
    silences = store.active_silences(now)
    held: dict[int, list[str]] = {}  # silence id → the targets it held
    for target in targets:
        silence = next((s for s in silences
                        if s.holds(target, matches, feed.tags, view.severity)), None)
        pending = store.pending_story_alert(story_id, target)
        previous = store.story_alert_times(story_id, target)
        step = policy.plan(decision, now=now, pending=pending is not None, previous=previous,
                           group_wait=group_wait,
                           update_interval=timedelta(seconds=settings.update_interval),
                           pending_new=pending is not None and pending[1].kind == "new")
        if step.action == "refresh" and pending is not None:
            alert_id, old = pending
            store.refresh_alert(alert_id, replace(
                old, severity=view.severity, articles=articles, sources=outlets_of(articles),
                changes=changes if old.kind != "new" else old.changes))
        elif step.action == "queue" and silence is not None:
            store.record_silenced(silence.id, story_id, target, step.kind, now)
            held.setdefault(silence.id, []).append(target)
        elif step.action == "queue":
            suffix = (str(len(previous)) if step.kind == "update"
                      else view.severity if step.kind == "escalation" else "")
            alert = build_alert(identity, target, story_id, feed, article, matches, now,
                                kind=step.kind, suffix=suffix, view=view, articles=articles,
                                changes=changes if step.kind != "new" else "")
            if store.add_alert(alert, not_before=step.not_before):
                queued += 1
                log.info("alert=%s target=%s state=queued kind=%s story=%d severity=%s "
                         "due=%s", alert.key, target, step.kind, story_id, alert.severity,
                         (step.not_before or now).strftime("%Y-%m-%dT%H:%M:%SZ"))
    if held:
        store.note_silenced(story_id, article.entry.feed, article.entry.guid, "; " + "; ".join(
            f"silenced by {i} ({', '.join(t)})" for i, t in sorted(held.items())))
    if len(targets) > sum(map(len, held.values())) and decision in ("new", "escalation"):
        store.set_alerted_severity(story_id, view.severity)
    return queued


def _changes(decision: str, alerted: Severity | None, view: StoryView, article: Article) -> str:
    outlet = article.site or article.entry.feed
    if decision == "escalation":
        return f"severity {alerted} → {view.severity}, reported by {outlet}"
    return f"{len(view.outlets)} outlets now; latest: {outlet}"


def route(routes: Sequence[RouteConfig], targets: Mapping[str, object],
          matches: Sequence[Match], feed: Feed, default_min: Severity = "medium", *,
          severity: Severity | None = None) -> list[str]:
    """The target names an alert goes to: when no route is configured, every target if the
    alert reaches ``default_min``; else the targets of each route whose severity floor, tags
    and rule ids the alert meets. ``severity`` (the story's) overrides that of ``matches``."""
    top = min(severity_rank(m.severity) for m in matches)
    if severity is not None:
        top = min(top, severity_rank(severity))
    if not routes:
        return sorted(targets) if top <= severity_rank(default_min) else []
    tags = {t for m in matches for t in m.tags} | set(feed.tags)
    rules = {m.rule_id for m in matches}
    chosen: set[str] = set()
    for r in routes:
        if (top <= severity_rank(r.min_severity) and (not r.tags or tags & set(r.tags))
                and (not r.rules or rules & set(r.rules))):
            chosen.update(r.targets)
    return sorted(chosen)


def build_alert(identity: str, target: str, story_id: int, feed: Feed, article: Article,
                matches: Sequence[Match], now: datetime, *, kind: AlertKind = "new",
                suffix: str = "", view: StoryView | None = None,
                articles: tuple[StoryArticle, ...] = (), changes: str = "") -> Alert:
    """The outbox alert for one target. Its key depends only on the story's identity, the
    target, the kind and (for updates) their number, so it stays the same across retries."""
    key = "nm_" + hashlib.sha256(
        f"{identity}\n{target}\n{kind}\n{suffix}".rstrip("\n").encode()).hexdigest()[:32]
    ordered = tuple(sorted(matches, key=lambda m: (severity_rank(m.severity), m.rule_id)))
    return Alert(
        key=key, target=target, story_id=story_id,
        severity=view.severity if view else ordered[0].severity,
        title=article.title or article.entry.title, url=article.url or article.entry.link,
        feed=feed.name, site=article.site, published=article.published,
        snippet=ordered[0].snippet, matches=ordered, created_at=now,
        kind=kind, sources=outlets_of(articles), story_title=view.title if view else "",
        story_started=view.first_seen if view else None, articles=articles, changes=changes)
