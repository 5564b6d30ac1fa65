"""The extract stage: ``extract(entry, client) -> Article``.

The entry's page is fetched through the guarded client and its main text taken with
``trafilatura.bare_extraction`` (this package is the only importer of trafilatura; its own
fetching helpers are never used). When the page cannot be had, or yields no text, the feed
summary stands in, and ``Article.source``/``note`` say so.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import trafilatura

from monitor.errors import FetchError
from monitor.model import Article, Entry
from monitor.net import GuardedClient, redact_url

__all__ = ["PAGE_MAX_BYTES", "extract", "extract_html"]

log = logging.getLogger(__name__)
PAGE_MAX_BYTES = 5 * 1024 * 1024
MIN_TEXT = 200  # characters: less than this from a page is taken as a failed extraction
ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"


def extract(entry: Entry, client: GuardedClient) -> Article:
    """The article text of ``entry``: from its page, else from the feed summary."""
    if not entry.link:
        return _fallback(entry, "the entry has no link")
    try:
        response = client.get(entry.link, headers={"Accept": ACCEPT}, max_bytes=PAGE_MAX_BYTES)
    except FetchError as e:
        return _fallback(entry, f"page not fetched: {e}")
    if response.status != 200:
        return _fallback(entry, f"page not fetched: HTTP {response.status} from "
                                f"{redact_url(response.url)}")
    kind = response.headers.get("content-type", "text/html").split(";")[0].strip().lower()
    if kind not in ("text/html", "application/xhtml+xml", ""):
        return _fallback(entry, f"page is {kind}, not HTML")
    article = extract_html(entry, response.content, response.url)
    return article or _fallback(entry, "no article text found on the page")


def extract_html(entry: Entry, html: bytes | str, url: str) -> Article | None:
    """Extract the main text of an HTML page; None when there is too little to trust."""
    try:
        doc = trafilatura.bare_extraction(
            html, url=url, with_metadata=True, include_comments=False, include_tables=False)
    except Exception as e:  # trafilatura raises a variety of lxml/parsing errors
        log.warning("extract=failed url=%s error=%s", redact_url(url), type(e).__name__)
        return None
    if doc is None:
        return None
    text = (getattr(doc, "text", None) or "").strip()
    if len(text) < min(MIN_TEXT, max(len(entry.summary), 1)):
        return None
    return Article(
        entry=entry, url=url, title=(getattr(doc, "title", None) or entry.title).strip(),
        text=text, published=entry.published or _date(getattr(doc, "date", None)),
        site=getattr(doc, "sitename", None) or None, source="page")


def _fallback(entry: Entry, note: str) -> Article:
    log.info("extract=summary feed=%s reason=%s", entry.feed, note)
    return Article(entry=entry, url=entry.link, title=entry.title, text=entry.summary,
                   published=entry.published, site=None, source="summary", note=note)


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
