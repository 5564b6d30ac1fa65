"""The three fields of a page's metadata the pipeline uses: its title, its site's name and its
date, read from the parsed page with trafilatura's and htmldate's own readers.

``trafilatura.bare_extraction(with_metadata=True)`` also looks for the author, the categories,
the tags, the licence and the host name. Where a page's meta tags and JSON-LD name no author,
its author search copies the whole tree and prunes it; categories and tags are searched over
the whole page too. None of them is used here, and they are dear: on a page that names no
author about half of what extracting it costs (9 of 16.5 ms on the bench's former author-less
pages), and on the bench's link-heavy pages, which name one, ~5 ms of ~17 (categories and
tags ~2.9, licence ~1.9): so the worker reads the three fields itself, with the readers
trafilatura uses for them, in the same order:

* the title: the meta tags (``og:title``…), else JSON-LD, else the page's own title;
* the site's name: the same, a Twitter handle's ``@`` dropped, a name in lower case with no
  dot capitalised; else the host of the page's URL (its canonical link, else the one fetched);
* the date: htmldate's (original date, extensive search, nothing after today), given the
  page's URL, and only when it is wanted: the pipeline takes a page's date only for an entry
  its feed gave no date.

``tests/test_extract_meta.py`` holds these equal to what ``bare_extraction`` gives on the
sample site's and the test suite's pages, so an upgrade of trafilatura that changes its readers
shows there.
"""

from __future__ import annotations

import logging
import re
from datetime import date

from htmldate import find_date
from lxml.html import HtmlElement
from trafilatura.metadata import (
    examine_meta,
    extract_meta_json,
    extract_sitename,
    extract_title,
    extract_url,
)

__all__ = ["page_fields"]

log = logging.getLogger(__name__)
_HOST = re.compile(r"https?://(?:www\.|w[0-9]+\.)?([^/]+)")  # the host, "www." left out


def page_fields(tree: HtmlElement, url: str, *, want_date: bool = True) -> dict[str, str]:
    """``title``, ``sitename`` and (when ``want_date``) ``date`` of a parsed page, those it
    has; ``url`` is where it was fetched from. ``tree`` is only read."""
    found = examine_meta(tree)
    try:
        found = extract_meta_json(tree, found)
    except Exception as e:  # a bug in its JSON-LD reader must not lose the page
        log.debug("extract=json-ld error=%r", str(e))
    fields: dict[str, str | None] = {"title": found.title or extract_title(tree)}
    page_url: str | None = None
    if want_date:
        page_url = found.url or extract_url(tree, url)
        fields["date"] = find_date(tree, url=page_url, original_date=True,
                                   extensive_search=True, max_date=date.today().isoformat())
    site = found.sitename or extract_sitename(tree)
    if site:
        site = site.lstrip("@")
        if site and "." not in site and not site[0].isupper():
            site = site.title()
    else:
        page_url = page_url or found.url or extract_url(tree, url)
        host = _HOST.match(page_url or "")
        site = host[1] if host else None
    fields["sitename"] = site
    return {name: value for name, value in fields.items() if isinstance(value, str)}
