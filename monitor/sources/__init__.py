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
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import feedparser

from monitor.errors import FetchError
from monitor.model import Entry, Feed, FeedState, PollResult
from monitor.net import GuardedClient, Response, redact_url
from monitor.sources.jsonfeed import looks_like_json_feed, parse_json_feed
from monitor.sources.text import html_to_text

__all__ = ["parse", "poll"]

log = logging.getLogger(__name__)
ACCEPT = ("application/rss+xml, application/atom+xml, application/feed+json, "
          "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5")


def poll(feed: Feed, state: FeedState | None, client: GuardedClient,
         max_entries: int = 200) -> PollResult:
    """Fetch and parse one feed. Errors are values: status ``error`` with the reason."""
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
    if response.status == 304:
        return PollResult(feed=feed.name, status="not_modified", http_status=304,
                          etag=state.etag if state else None,
                          last_modified=state.last_modified if state else None)
    if not 200 <= response.status < 300:
        return PollResult(feed=feed.name, status="error", http_status=response.status,
                          error=f"HTTP {response.status} from {redact_url(response.url)}")
    return parse(feed.name, response, max_entries)


def parse(feed_name: str, response: Response, max_entries: int = 200) -> PollResult:
    """Parse a fetched feed body into entries (at most ``max_entries``)."""
    content_type = response.headers.get("content-type", "application/xml")
    etag = response.headers.get("etag")
    modified = response.headers.get("last-modified")
    if looks_like_json_feed(content_type, response.content):
        try:
            items = parse_json_feed(feed_name, response.content, response.url, max_entries)
        except ValueError as e:
            return PollResult(feed=feed_name, status="error", http_status=response.status,
                              error=f"not a feed: {_one_line(e)}")
        return PollResult(feed=feed_name, status="ok", entries=items,
                          http_status=response.status, etag=etag, last_modified=modified)
    headers = {
        "content-type": content_type,
        "content-location": response.url,
    }
    parsed = feedparser.parse(io.BytesIO(response.content), response_headers=headers,
                              sanitize_html=True, resolve_relative_uris=True)
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
    entries = tuple(_entry(feed_name, item) for item in parsed["entries"][:max_entries])
    return PollResult(feed=feed_name, status="ok", entries=entries, http_status=response.status,
                      etag=etag, last_modified=modified)


def _entry(feed_name: str, item: Mapping[str, Any]) -> Entry:
    title = html_to_text(str(item.get("title") or ""))
    summary = html_to_text(str(item.get("summary") or ""))
    link = _link(item)
    guid = str(item.get("id") or "").strip() or link or _content_hash(title, summary)
    return Entry(feed=feed_name, guid=guid, link=link, title=title, summary=summary,
                 published=_date(item))


def _link(item: Mapping[str, Any]) -> str | None:
    link = str(item.get("link") or "").strip()
    if link.startswith(("http://", "https://")):
        return link
    for alt in item.get("links") or []:
        href = str(alt.get("href") or "")
        if alt.get("rel", "alternate") == "alternate" and href.startswith(("http://", "https://")):
            return href
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
