"""The sources stage: ``poll(feed, state, client) -> PollResult``.

The feed is fetched through the guarded client with the stored validators (conditional GET), and
its bytes, never a URL or a path, are handed to feedparser. Every failure is returned as a
``PollResult`` with status ``error`` and a one-line reason; nothing here raises for a bad feed.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import feedparser

from monitor.errors import FetchError
from monitor.headers import cache_lifetime, parse_retry_after
from monitor.model import Entry, Feed, FeedState, PollResult
from monitor.net import GuardedClient, Response, redact_url
from monitor.sources.jsonfeed import looks_like_json_feed, parse_json_feed
from monitor.sources.text import clean_text, html_to_text
from monitor.sources.xmlguard import first_entries

__all__ = ["body_hash", "parse", "poll"]

log = logging.getLogger(__name__)
ACCEPT = ("application/rss+xml, application/atom+xml, application/feed+json, "
          "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5")


def poll(feed: Feed, state: FeedState | None, client: GuardedClient,
         max_entries: int = 200, now: datetime | None = None) -> PollResult:
    """Fetch and parse one feed. Errors are values: status ``error`` with the reason.

    The result also carries what the response says about the schedule: ``Retry-After`` (on any
    error status), the cache lifetime (``Cache-Control``/``Expires``, on 200 and 304), and
    ``moved_to`` when every redirect hop was permanent (301/308) and the new URL answered (each
    hop passed the guard at connect time; 302/307 hops are followed but never stored)."""
    now = now or datetime.now(UTC)
    url = state.url if state and state.url else feed.url
    headers = {"Accept": ACCEPT}
    if state and state.etag:
        headers["If-None-Match"] = state.etag
    if state and state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    try:
        response = client.get(url, headers=headers)
    except FetchError as e:
        return PollResult(feed=feed.name, status="error", error=str(e), http_status=e.status)
    lifetime = cache_lifetime(response.headers.get("cache-control"),
                              response.headers.get("expires"), now)
    moved = _moved_to(response)
    if response.status == 304:
        return PollResult(feed=feed.name, status="not_modified", http_status=304,
                          etag=state.etag if state else None,
                          last_modified=state.last_modified if state else None,
                          cache_lifetime=lifetime, moved_to=moved)
    if not 200 <= response.status < 300:
        return PollResult(feed=feed.name, status="error", http_status=response.status,
                          error=f"HTTP {response.status} from {redact_url(response.url)}",
                          retry_after=parse_retry_after(response.headers.get("retry-after")))
    digest = body_hash(response.content, max_entries)
    if state and state.body_hash == digest:  # a server without validators, nothing new
        return PollResult(feed=feed.name, status="not_modified", http_status=response.status,
                          etag=response.headers.get("etag"),
                          last_modified=response.headers.get("last-modified"),
                          cache_lifetime=lifetime, moved_to=moved, body_hash=digest)
    result = parse(feed.name, response, max_entries)
    if result.status != "ok":
        return result
    return replace(result, cache_lifetime=lifetime, moved_to=moved, body_hash=digest)


def body_hash(content: bytes, max_entries: int) -> str:
    """What identifies a feed body as processed: the same bytes read with the same entry
    limit are parsed once (a feed parsed once per change, also from a server that sends no
    ETag or Last-Modified, or ignores them)."""
    return hashlib.sha256(b"%d\n%s" % (max_entries, content)).hexdigest()


def _moved_to(response: Response) -> str | None:
    """The final URL when the request was redirected only permanently (301/308)."""
    hops = response.redirects
    if hops and all(status in (301, 308) for status, _ in hops):
        return response.url
    return None


def parse(feed_name: str, response: Response, max_entries: int = 200) -> PollResult:
    """Parse a fetched feed body into entries (at most ``max_entries``)."""
    content_type = response.headers.get("content-type", "application/xml")
    etag = response.headers.get("etag")
    modified = response.headers.get("last-modified")
    if not response.content or response.content.isspace():
        return PollResult(feed=feed_name, status="error", http_status=response.status,
                          error="empty response")
    if looks_like_json_feed(content_type, response.content):
        try:
            items = parse_json_feed(feed_name, response.content, response.url, max_entries)
        except ValueError as e:
            return PollResult(feed=feed_name, status="error", http_status=response.status,
                              error=f"not a feed: {_one_line(e)}")
        return PollResult(feed=feed_name, status="ok", entries=distinct_guids(items),
                          http_status=response.status, etag=etag, last_modified=modified)
    headers = {
        "content-type": content_type,
        "content-location": response.url,
    }
    body = first_entries(response.content, max_entries)  # the rest would be parsed for nothing
    # Links and ids are made absolute whatever resolve_relative_uris says; that flag only
    # rewrites the URLs inside summary and content HTML, which html_to_text drops: one sixth
    # of the parse, spent on nothing.
    try:
        parsed = feedparser.parse(io.BytesIO(body), response_headers=headers,
                                  sanitize_html=True, resolve_relative_uris=False)
    except Exception as e:  # feedparser returns what it finds wrong; a raise is its own bug
        return PollResult(feed=feed_name, status="error", http_status=response.status,
                          error=f"not a feed: feedparser failed: {type(e).__name__}: "
                                f"{_one_line(e)}")
    if parsed.get("bozo") and not parsed.get("entries"):
        reason = parsed.get("bozo_exception")
        return PollResult(feed=feed_name, status="error", http_status=response.status,
                          error=f"not a feed: {_one_line(reason)}")
    if not parsed.get("version") and not parsed.get("entries"):
        return PollResult(feed=feed_name, status="error", http_status=response.status,
                          error="not a feed: no RSS, Atom or JSON Feed found in the body")
    if parsed.get("bozo"):
        log.info("feed=%s parse=lenient reason=%s", feed_name,
                 _one_line(parsed.get("bozo_exception")))
    entries = distinct_guids(tuple(_entry(feed_name, item)
                                   for item in parsed["entries"][:max_entries]))
    channel = parsed.get("feed") or {}
    title = html_to_text(str(channel.get("title") or "")) or None
    return PollResult(feed=feed_name, status="ok", entries=entries, http_status=response.status,
                      etag=etag, last_modified=modified, title=title, ttl=_ttl(channel))


def distinct_guids(entries: tuple[Entry, ...]) -> tuple[Entry, ...]:
    """Entries whose guid another item of the same feed also carries get
    ``guid#<hash of link, else title and summary>``, the same on every poll: the store keeps
    one entry per (feed, guid), and two items under one guid would otherwise read as edits of
    each other on every poll."""
    counts = Counter(e.guid for e in entries)
    if all(n == 1 for n in counts.values()):
        return entries
    return tuple(
        replace(e, guid=f"{e.guid}#{_content_hash(e.link or e.title, '' if e.link else e.summary)}")
        if counts[e.guid] > 1 else e for e in entries)


def _ttl(channel: Mapping[str, Any]) -> int | None:
    """RSS ``<ttl>`` (minutes) in seconds; None when absent or not a small whole number."""
    text = str(channel.get("ttl") or "").strip()
    return int(text) * 60 if text.isdigit() and len(text) <= 7 else None


def _entry(feed_name: str, item: Mapping[str, Any]) -> Entry:
    title = html_to_text(str(item.get("title") or ""))
    summary = html_to_text(str(item.get("summary") or ""))
    link = _link(item)
    guid = clean_text(str(item.get("id") or "")) or link or _content_hash(title, summary)
    return Entry(feed=feed_name, guid=guid, link=link, title=title, summary=summary,
                 published=_date(item))


def _link(item: Mapping[str, Any]) -> str | None:
    """The entry's http(s) link; never one with controls or unpaired surrogates in it."""
    candidates = [str(item.get("link") or "").strip()]
    candidates += [str(alt.get("href") or "").strip() for alt in item.get("links") or []
                   if alt.get("rel", "alternate") == "alternate"]
    for link in candidates:
        if link.startswith(("http://", "https://")) and clean_text(link) == link:
            return link
    return None


def _date(item: Mapping[str, Any]) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        # The plain dict lookup: FeedParserDict maps a missing updated_parsed to
        # published_parsed with a DeprecationWarning (feedparser issue 310).
        value = dict.get(item, key) if isinstance(item, dict) else item.get(key)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
            except (ValueError, OverflowError, OSError):  # year 0, year 10000…: no date
                continue
    return None


def _content_hash(title: str, summary: str) -> str:
    digest = hashlib.sha256(f"{title}\n{summary}".encode()).hexdigest()
    return f"sha256:{digest[:32]}"


def _one_line(value: object) -> str:
    return " ".join(str(value or "unknown error").split())[:300]
