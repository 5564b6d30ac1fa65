"""Frozen dataclasses passed between the pipeline stages.

Stages never hand each other a feedparser dict, a trafilatura document or a database row: they
convert at their boundary into these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

Severity = Literal["critical", "high", "medium", "low"]
FullText = Literal["always", "when_candidate"]
FULL_TEXT: tuple[FullText, ...] = ("always", "when_candidate")
SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low")


def severity_rank(severity: Severity) -> int:
    """0 for critical … 3 for low: smaller is more severe."""
    return SEVERITIES.index(severity)


@dataclass(frozen=True)
class Feed:
    """A configured feed."""

    name: str
    url: str
    interval: int  # seconds between polls
    tags: tuple[str, ...] = ()
    # "always": every new entry's page is fetched and extracted; "when_candidate": only for
    # entries whose title and feed summary hold a part of some rule (``match.candidate``).
    full_text: FullText = "always"


@dataclass(frozen=True)
class FeedState:
    """What the store remembers of a feed between polls."""

    url: str  # the URL last polled (config URL unless a permanent redirect was accepted)
    etag: str | None = None
    last_modified: str | None = None
    last_status: str | None = None  # ok | not_modified | error
    last_error: str | None = None
    consecutive_failures: int = 0
    last_polled_at: datetime | None = None
    next_poll_at: datetime | None = None
    status: str = "active"  # active | failing | gone (the feed's health)
    last_success_at: datetime | None = None  # the last poll that got an answer (ok or 304)
    moved_from: str | None = None  # the URL a permanent redirect moved it away from
    body_hash: str | None = None  # of the last feed body processed (``sources.body_hash``)


@dataclass(frozen=True)
class Entry:
    """One item of a feed, as the feed told it."""

    feed: str  # feed name
    guid: str  # the feed's id for the item, or a stable fallback (link, else content hash)
    link: str | None
    title: str
    summary: str  # plain text
    published: datetime | None  # timezone-aware UTC


PollStatus = Literal["ok", "not_modified", "error"]


@dataclass(frozen=True)
class PollResult:
    """The outcome of polling one feed. Errors are values here, not exceptions."""

    feed: str
    status: PollStatus
    entries: tuple[Entry, ...] = ()
    http_status: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    title: str | None = None  # the feed's own title, when it gave one
    # What the response says about the schedule (``monitor.sources.timing``):
    retry_after: float | None = None  # seconds, from Retry-After (429/503), unclamped
    cache_lifetime: int | None = None  # seconds, from Cache-Control max-age / Expires
    ttl: int | None = None  # seconds, from RSS <ttl>
    moved_to: str | None = None  # the new URL when every redirect hop was permanent (301/308)
    body_hash: str | None = None  # of the body answered (200): the same next time, no parse


ArticleSource = Literal["page", "summary"]


@dataclass(frozen=True)
class Article:
    """The text of an entry: from its page when it could be had, else from the feed summary."""

    entry: Entry
    url: str | None  # the page URL the text came from (after redirects), or the entry link
    title: str
    text: str
    published: datetime | None
    site: str | None
    source: ArticleSource
    note: str | None = None  # why the summary was used, when it was


MatchField = Literal["title", "body"]


@dataclass(frozen=True)
class Evidence:
    """One thing a rule found, and where: offsets are into ``Article.title`` or ``Article.text``."""

    kind: Literal["entity", "term"]
    ref: str  # the entity id, or the term list's name
    label: str  # the entity's canonical name, or the term as the list writes it
    text: str  # as written in the article
    field: MatchField
    start: int
    end: int


@dataclass(frozen=True)
class Match:
    """One rule that matched an article, with the evidence."""

    rule_id: str
    title: str
    severity: Severity
    tags: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()  # canonical names of the entities found
    terms: tuple[str, ...] = ()  # the term-list words / phrases found
    snippet: str = ""  # a short passage around the strongest evidence
    marks: tuple[tuple[int, int], ...] = ()  # spans of the evidence within ``snippet``
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class StoryView:
    """A recent story as the story decision sees it (``dedup.stories.assign``/``updated_view``),
    kept by the store."""

    id: int
    title: str
    severity: Severity
    first_seen: datetime  # the time of its earliest article (publication, else when seen)
    last_seen: datetime  # the time of its latest article
    event_date: date | None
    entities: frozenset[str]  # canonical names (as in ``Match.entities``): the decisions' keys
    sites: frozenset[str]  # bases (kind "base"), by canonical name
    groups: frozenset[str]  # militias and armed groups
    rules: frozenset[str]  # its decisions' rules
    outlets: frozenset[str]  # sites / feed names of its articles
    text_sample: str  # the first article's title and lead (``dedup.stories.text_sample``)
    # the kinds of event its reports told (attack, threat, strike), which a report whose headline
    # alone tells its kind has and its rules may not; empty in a view stored before they were kept
    kinds: frozenset[str] = frozenset()


@dataclass(frozen=True)
class StoryArticle:
    """One article of a story, as an alert lists it."""

    title: str
    url: str | None
    outlet: str
    published: datetime | None


AlertKind = Literal["new", "update", "escalation", "operator", "digest"]


@dataclass(frozen=True)
class Alert:
    """An alert for one target, as stored in the outbox and handed to ``Target.send``.

    ``kind``: ``new`` (the first alert of a story), ``update`` (more outlets report it),
    ``escalation`` (its severity rose), ``operator`` (about the monitor itself), ``digest``
    (a digest target's collected alerts, in ``items``; built when sent, never stored).
    """

    key: str  # idempotency key: stable across retries of this alert to this target
    target: str  # target name from the config
    story_id: int
    severity: Severity
    title: str
    url: str | None
    feed: str
    site: str | None
    published: datetime | None
    snippet: str
    matches: tuple[Match, ...]
    created_at: datetime
    kind: AlertKind = "new"
    sources: tuple[str, ...] = field(default_factory=tuple)  # other outlets in the story
    story_title: str = ""  # the title of the story's first alert
    story_started: datetime | None = None  # when the story was first seen
    articles: tuple[StoryArticle, ...] = ()  # the story's articles, first first
    changes: str = ""  # for an update or escalation: what changed, in one line
    # recipients (e-mail) that accepted this alert on an earlier attempt: filled by the store
    # from its per-recipient outcomes when the row is claimed, never kept in the payload
    delivered_to: tuple[str, ...] = ()
    items: tuple[Alert, ...] = ()  # for a digest: the alerts it lists, oldest first
