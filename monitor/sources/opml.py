"""OPML subscription lists: read one (``monitor feeds import``), write one (``feeds export``).

Reading takes OPML 1.0 and 2.0: an ``<outline>`` with an ``xmlUrl`` is a feed, one without is a
category whose text becomes a tag of every feed nested in it (at any depth), and a feed's
``category`` attribute (OPML 2.0: comma-separated, slash-delimited, ``/Iraq/Kurdistan,news``)
adds the names it lists. A feed listed twice (under two categories) is one feed with the tags
of both. Only http and https feed URLs are taken; any other outline that claims to be a feed
is reported (file, line, why) and skipped.

The bytes are parsed with defusedxml, which refuses entity declarations (entity-expansion
bombs such as "billion laughs") and external entities or DTDs before they are resolved; a file
that is not XML, not OPML or has no ``<body>`` is a ``ParseError`` naming the file.

Writing gives OPML 2.0: one ``<outline text="TAG">`` per tag holding its feeds (a feed with
several tags appears under each), untagged feeds at the top level; the outline ``text`` is the
feed's name, so an export imported again gives the same names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit
from xml.etree.ElementTree import (  # writing only: parsing goes through defusedxml
    Element,
    SubElement,
    TreeBuilder,
    indent,
    tostring,
)

import defusedxml
import defusedxml.ElementTree as safe_xml

from monitor.errors import ParseError
from monitor.net import redact_url

__all__ = ["Opml", "OpmlFeed", "parse_opml", "read_opml", "write_opml"]

# Characters XML 1.0 cannot carry at all, even escaped (C0 controls but tab and newlines, …).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class OpmlFeed:
    """One feed of a subscription list."""

    url: str
    title: str | None = None  # the outline's title (else its text)
    tags: tuple[str, ...] = ()
    name: str | None = None  # the outline's text, which an export sets to the feed's name


@dataclass(frozen=True)
class Opml:
    """A parsed subscription list: its title, its feeds (in document order) and one line per
    outline skipped (``FILE:LINE: why``)."""

    title: str | None
    feeds: tuple[OpmlFeed, ...]
    skipped: tuple[str, ...] = ()


def parse_opml(data: bytes, source: str = "OPML") -> list[OpmlFeed]:
    """The feeds of an OPML document (see :func:`read_opml`)."""
    return list(read_opml(data, source).feeds)


class _Lines(TreeBuilder):
    """A tree builder that records the line each element starts on."""

    def __init__(self) -> None:
        super().__init__()
        self.parser: Any = None
        self.lines: dict[int, int] = {}

    def start(self, tag: Any, attrs: dict[Any, Any]) -> Element:
        element = super().start(tag, attrs)
        expat = getattr(self.parser, "parser", None)
        if expat is not None:
            self.lines[id(element)] = int(expat.CurrentLineNumber)
        return element


def _root(data: bytes, source: str) -> tuple[Element, dict[int, int]]:
    if not data.strip():
        raise ParseError(f"{source}: empty file, not OPML")
    builder = _Lines()
    parser = safe_xml.DefusedXMLParser(target=builder, forbid_dtd=False,
                                       forbid_entities=True, forbid_external=True)
    builder.parser = parser
    try:
        parser.feed(data)
        root: Element = parser.close()
    except defusedxml.EntitiesForbidden as e:
        raise ParseError(f"{source}: refused: it declares XML entities (entity expansion and "
                         "external entities are not allowed)") from e
    except defusedxml.DefusedXmlException as e:
        raise ParseError(f"{source}: refused: {type(e).__name__}: it refers to an external "
                         "resource") from e
    except safe_xml.ParseError as e:
        line = e.position[0] if getattr(e, "position", None) else None
        where = f"{source}:{line}" if line else source
        raise ParseError(f"{where}: not well-formed XML, not OPML: {e}") from e
    return root, builder.lines


def _local(tag: object) -> str:
    return str(tag).rpartition("}")[2].lower()


def _clean(value: str | None) -> str:
    return _SPACES.sub(" ", value or "").strip()


def _attrs(element: Element) -> dict[str, str]:
    return {_local(k): v for k, v in element.attrib.items()}


def _categories(value: str | None) -> list[str]:
    """The names in an OPML 2.0 ``category`` attribute: ``/Iraq/Kurdistan,news`` → Iraq,
    Kurdistan, news."""
    return [_clean(part) for item in (value or "").split(",") for part in item.split("/")
            if _clean(part)]


def _outlines(parent: Element, tags: tuple[str, ...]) -> Iterator[tuple[Element, tuple[str, ...]]]:
    """Every outline under ``parent`` in document order, with the tags of the categories that
    enclose it (iterative: a deeply nested file cannot exhaust the stack)."""
    stack = [(child, tags) for child in reversed(list(parent)) if _local(child.tag) == "outline"]
    while stack:
        element, enclosing = stack.pop()
        yield element, enclosing
        attrs = _attrs(element)
        inner = enclosing
        if not _clean(attrs.get("xmlurl")):
            category = _clean(attrs.get("text")) or _clean(attrs.get("title"))
            if category and category not in inner:
                inner = (*inner, category)
        stack.extend((child, inner) for child in reversed(list(element))
                     if _local(child.tag) == "outline")


def read_opml(data: bytes, source: str = "OPML") -> Opml:
    """Parse an OPML 1.0 or 2.0 document; ``source`` (the file name) names it in errors and in
    the skipped lines. Raises ``ParseError`` for what is not a safe, well-formed OPML file."""
    root, lines = _root(data, source)
    if _local(root.tag) != "opml":
        raise ParseError(f"{source}: not an OPML file (its root element is "
                         f"<{_local(root.tag)}>, not <opml>)")
    body = next((c for c in root if _local(c.tag) == "body"), None)
    if body is None:
        raise ParseError(f"{source}: not an OPML file: it has no <body>")
    head = next((c for c in root if _local(c.tag) == "head"), None)
    title_element = None if head is None else next(
        (c for c in head if _local(c.tag) == "title"), None)
    title = _clean(title_element.text if title_element is not None else None) or None
    feeds: dict[str, OpmlFeed] = {}
    skipped: list[str] = []
    for element, enclosing in _outlines(body, ()):
        attrs = _attrs(element)
        url = _clean(attrs.get("xmlurl"))
        text = _clean(attrs.get("text")) or None
        where = f"{source}:{lines.get(id(element), '?')}"
        shown = repr(text or _clean(attrs.get("title")) or "(untitled)")
        if not url:
            if attrs.get("type", "").lower() in ("rss", "atom") and not len(element):
                skipped.append(f"{where}: outline {shown} is a feed without an xmlUrl; skipped")
            continue
        if not _is_http(url):
            skipped.append(f"{where}: outline {shown}: {redact_url(url)!r} is not an http(s) "
                           "URL; skipped")
            continue
        tags = _unique([*enclosing, *_categories(attrs.get("category"))])
        found = feeds.get(url)
        if found is None:
            feeds[url] = OpmlFeed(url=url, title=_clean(attrs.get("title")) or text, tags=tags,
                                  name=text)
        else:
            feeds[url] = OpmlFeed(url=url, title=found.title, name=found.name,
                                  tags=_unique([*found.tags, *tags]))
    return Opml(title=title, feeds=tuple(feeds.values()), skipped=tuple(skipped))


def _is_http(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _unique(items: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in items if i))


def _xml(value: str | None) -> str:
    """Text XML 1.0 can carry: characters it forbids outright are dropped (ElementTree escapes
    the rest: ``& < > "`` and line breaks in attributes)."""
    return _NOT_XML.sub("", value or "")


def write_opml(feeds: Sequence[OpmlFeed], title: str, created: datetime | None = None) -> bytes:
    """An OPML 2.0 document listing ``feeds``: untagged ones at the top level, then one
    category outline per tag (in order of name) holding each feed with that tag."""
    root = Element("opml", {"version": "2.0"})
    head = SubElement(root, "head")
    SubElement(head, "title").text = _xml(title)
    if created is not None:
        SubElement(head, "dateCreated").text = format_datetime(created)
    body = SubElement(root, "body")
    for feed in feeds:
        if not feed.tags:
            _feed_outline(body, feed)
    for tag in sorted({t for f in feeds for t in f.tags}, key=lambda t: (t.casefold(), t)):
        group = SubElement(body, "outline", {"text": _xml(tag)})
        for feed in feeds:
            if tag in feed.tags:
                _feed_outline(group, feed)
    indent(root, space="  ")
    data: bytes = tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def _feed_outline(parent: Element, feed: OpmlFeed) -> None:
    text = feed.name or feed.title or feed.url
    attrs = {"type": "rss", "text": _xml(text)}
    if feed.title:
        attrs["title"] = _xml(feed.title)
    attrs["xmlUrl"] = _xml(feed.url)
    SubElement(parent, "outline", attrs)
