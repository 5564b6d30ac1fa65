"""The extract stage: ``extract(entry, client) -> Article``.

The entry's page is fetched once, through the guarded client (its address checks, redirects,
deadline), asking for HTML and refusing any other media type before reading the body, and
capped at ``PAGE_MAX_BYTES``. Its main text is taken with ``trafilatura.bare_extraction``, and
its title, site name and (for an entry its feed gave no date) date by :mod:`.meta`, in a child
process killed after ``EXTRACT_TIMEOUT`` seconds (:mod:`monitor.extract.worker`); this package
is the only importer of trafilatura, and its own fetching helpers are never used.

trafilatura keeps some "more news" lists that sit inside a page's main element; an item of such a
list is a link to another story followed by its date ("- Rockets hit Ain al-Asad base 19/10/2023"):
list items that end with a date in figures are left out of the text (:func:`without_teasers`), so
an old headline beside an unrelated story does not match as if the page told it. It also keeps
"Read more:" / "Related" / "اقرأ أيضاً" blocks whose links are written in the text: a line that
is only such a marker, and the headlines under it (list items, or lines that do not end a
sentence), and a line of the marker followed by one headline, are left out too
(:func:`without_related`).

When the page cannot be had or yields too little text, the feed summary stands in:
``Article.source`` is ``summary`` and ``Article.note`` says why (``blocked_url: …`` when the
guard refused the link, ``page skipped: …`` for another media type, ``page not fetched: …``,
``extraction failed: …``, ``no article text found on the page``).
"""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime

import trafilatura

from monitor import metrics
from monitor.errors import BlockedURLError, FetchError
from monitor.extract.meta import page_fields
from monitor.extract.worker import WorkerError, run
from monitor.model import Article, Entry
from monitor.net import ContentTypeError, GuardedClient, redact_url

__all__ = ["ACCEPT", "EXTRACT_TIMEOUT", "PAGE_MAX_BYTES", "PAGE_TYPES", "extract",
           "extract_html", "from_summary", "without_related", "without_teasers"]

log = logging.getLogger(__name__)
PAGE_MAX_BYTES = 5 * 1024 * 1024
EXTRACT_TIMEOUT = 20.0  # seconds of wall clock for trafilatura on one page
MIN_TEXT = 200  # characters: less than this from a page is taken as a failed extraction
ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# The first bytes of formats an entry link often points at instead of a page.
_BINARY_MAGIC = (b"%PDF-", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"PK\x03\x04", b"\x1f\x8b",
                 b"ID3", b"OggS", b"fLaC", b"RIFF", b"\x1a\x45\xdf\xa3")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def extract(entry: Entry, client: GuardedClient, *, timeout: float = EXTRACT_TIMEOUT
            ) -> Article:
    """The article text of ``entry``: from its page, else from the feed summary."""
    if not entry.link:
        return _fallback(entry, "the entry has no link")
    try:
        response = client.get(entry.link, headers={"Accept": ACCEPT}, max_bytes=PAGE_MAX_BYTES,
                              media_types=PAGE_TYPES)
    except BlockedURLError as e:
        return _fallback(entry, f"blocked_url: {e}")
    except ContentTypeError as e:
        return _fallback(entry, f"page skipped: it is {e.media_type}, not HTML (body not read)")
    except FetchError as e:
        return _fallback(entry, f"page not fetched: {e}")
    if response.status != 200:
        return _fallback(entry, f"page not fetched: HTTP {response.status} from "
                                f"{redact_url(response.url)}")
    if _binary(response.content):
        return _fallback(entry, "page skipped: binary content, not HTML")
    found = _extract(entry, response.content, response.url, timeout)
    return found if isinstance(found, Article) else _fallback(entry, found)


def extract_html(entry: Entry, html: bytes | str, url: str, *,
                 timeout: float = EXTRACT_TIMEOUT) -> Article | None:
    """Extract the main text of an HTML page; None when there is too little to trust."""
    found = _extract(entry, html, url, timeout)
    return found if isinstance(found, Article) else None


def _extract(entry: Entry, html: bytes | str, url: str, timeout: float) -> Article | str:
    """The article, or why there is none."""
    started = time.monotonic()
    try:
        fields = run(_fields, (html, url, entry.published is None), timeout)
    except WorkerError as e:
        log.warning("extract=failed url=%s error=%r", redact_url(url), str(e))
        return f"extraction failed: {e}"
    finally:
        metrics.extracted(time.monotonic() - started)
    text = fields.get("text", "") if fields else ""
    if not fields or len(text) < min(MIN_TEXT, max(len(entry.summary), 1)):
        return "no article text found on the page"
    return Article(
        entry=entry, url=url, title=fields.get("title") or entry.title, text=text,
        published=entry.published or _date(fields.get("date")),
        site=fields.get("sitename") or None, source="page")


def _fields(html: bytes | str, url: str, want_date: bool = True) -> dict[str, str] | None:
    """In the worker process: the page's text and the metadata we use (:mod:`.meta`), as plain
    strings (picklable). The page is parsed once; trafilatura extracts from a copy of it."""
    tree = trafilatura.load_html(html)
    if tree is None:
        return None
    try:
        head = page_fields(tree, url, want_date=want_date)
    except (TypeError, ValueError):  # a metadata reader's bug on an odd page: keep the text
        head = {}
    doc = trafilatura.bare_extraction(
        tree, url=url, with_metadata=False, include_comments=False, include_tables=False)
    text = getattr(doc, "text", None)
    if not isinstance(text, str):
        return None
    text = without_related(without_teasers(text))
    return {name: value.strip() for name, value in {**head, "text": text}.items()}


# A list item (trafilatura writes "- " before each) that ends with a date in figures: 19/10/2023,
# 2023-10-19, 19.10.2023 (a time may follow). Text in a body's own lists seldom ends so.
_TEASER = re.compile(  # within one line: [^\S\n] is white space other than a line break
    r"^- .*\S[^\S\n]+(?:\d{1,2}[/.-]\d{1,2}[/.-](?:19|20)\d\d|(?:19|20)\d\d-\d\d-\d\d)"
    r"(?:[^\S\n]+\d{1,2}:\d\d)?[^\S\n]*$\n?", re.M)


def without_teasers(text: str) -> str:
    """``text`` without the list items that end with a date in figures: the teasers of a "more
    news" list (see the module docstring)."""
    return _TEASER.sub("", text) if "- " in text else text


_MARKERS = (
    r"read\s+(?:more|also)|also\s+read|see\s+also|further\s+reading|more\s+on\s+this(?:\s+story)?"
    r"|related(?:\s+(?:articles?|stories|news|content|coverage|reading|links|topics))?"
    r"|you\s+(?:may|might)\s+also\s+like|recommended(?:\s+(?:stories|for\s+you))?"
    r"|more\s+(?:stories|news)|editor'?s?\s+picks?|most\s+(?:read|popular)|don'?t\s+miss"
    r"|[اإ]قر[أا]\s+(?:[أا]يضا|المزيد)|(?:مواضيع|أخبار|اخبار|مقالات)?\s*ذات\s+صلة|اخترنا\s+لك"
    r"|الأكثر\s+قراءة|(?:شاهد|طالع)\s+[أا]يضا|قد\s+يهمك|يهمك\s+[أا]يضا"
)
_HARAKAT = re.compile("[\u064b-\u0652\u0640]")  # short vowels (أيضاً) and tatweel
_MARKER = re.compile(  # the marker at the start of a line; what follows it on the line: rest
    rf"^[^\S\n]*(?:{_MARKERS}){_HARAKAT.pattern}*(?!\w)[^\S\n]*[:：…-]?[^\S\n]*(?P<rest>[^\n]*)$",
    re.I | re.M)
_HEADLINE = re.compile(r"^[^\S\n]*(?:- |• |\* )?(?P<line>[^\n]{1,200})$")
_SENTENCE_END = (".", "!", "?", "؟", "。", "…", ".\"", ".”", ".'", ".’")


def _headline(line: str) -> bool:
    """A line that reads as a link to another story: a list item, or a short line that does
    not end a sentence."""
    found = _HEADLINE.match(line)
    if found is None:
        return False
    if line.lstrip().startswith(("- ", "• ", "* ")):
        return True
    return not found.group("line").rstrip().endswith(_SENTENCE_END)


def without_related(text: str) -> str:
    """``text`` without its "Read more:" / "Related" / "اقرأ أيضاً" blocks (see the module
    docstring): the marker's line and the headlines that follow it."""
    if not _MARKER.search(text):
        return text
    kept: list[str] = []
    skipping = False
    for line in text.split("\n"):
        marker = _MARKER.match(_HARAKAT.sub("", line))
        if marker is not None:
            rest = marker.group("rest").strip()
            if not rest or _headline(rest):
                skipping = not rest  # a marker alone: the headlines under it go too
                continue
        if skipping and (not line.strip() or _headline(line)):
            continue
        skipping = False
        kept.append(line)
    return "\n".join(kept)


def _binary(content: bytes) -> bool:
    head = content[:1024]
    if head.startswith(_BINARY_MAGIC) or head[4:8] == b"ftyp":  # ftyp: MP4, MOV, 3GP
        return True
    return b"\x00" in head and not head.startswith(_UTF16_BOMS)


def _fallback(entry: Entry, note: str) -> Article:
    log.info("extract=summary feed=%s reason=%r", entry.feed, note)
    return from_summary(entry, note)


def from_summary(entry: Entry, note: str) -> Article:
    """The entry's article made of its title and feed summary, its page not read (``note``
    says why)."""
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
