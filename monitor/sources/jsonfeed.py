"""JSON Feed 1.0/1.1 (https://jsonfeed.org/version/1.1), which feedparser 6.0 does not read."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from monitor.model import Entry
from monitor.sources.text import clean_text, html_to_text

VERSIONS = ("https://jsonfeed.org/version/1", "https://jsonfeed.org/version/1.1")


def looks_like_json_feed(content_type: str, body: bytes) -> bool:
    return "json" in content_type.lower() or body.lstrip()[:1] == b"{"


def parse_json_feed(feed_name: str, body: bytes, base_url: str,
                    max_entries: int) -> tuple[Entry, ...]:
    """Entries of a JSON Feed; raises ValueError with a reason when the body is not one."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"invalid JSON: {e}") from e
    if not isinstance(doc, dict) or doc.get("version") not in VERSIONS:
        raise ValueError("JSON without a JSON Feed version")
    items = doc.get("items")
    if not isinstance(items, list):
        raise ValueError("JSON Feed without an items list")
    return tuple(_entry(feed_name, item, base_url) for item in items[:max_entries]
                 if isinstance(item, dict))


def _entry(feed_name: str, item: dict[str, Any], base_url: str) -> Entry:
    url = item.get("url") or item.get("external_url")
    try:
        link = urljoin(base_url, url) if isinstance(url, str) else None
    except ValueError:  # e.g. "http://[::1": this item has no usable link
        link = None
    if link and (not link.startswith(("http://", "https://")) or clean_text(link) != link):
        link = None
    title = html_to_text(str(item.get("title") or ""))
    summary = html_to_text(str(item.get("summary") or item.get("content_text")
                               or item.get("content_html") or ""))
    guid = clean_text(str(item.get("id") or "")) or link or "sha256:" + hashlib.sha256(
        f"{title}\n{summary}".encode()).hexdigest()[:32]
    return Entry(feed=feed_name, guid=guid, link=link, title=title, summary=summary,
                 published=_date(item))


def _date(item: dict[str, Any]) -> datetime | None:
    for key in ("date_published", "date_modified"):
        value = item.get(key)
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
                return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
            except (ValueError, OverflowError):
                continue
    return None
