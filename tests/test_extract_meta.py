"""The page's title, site name and date read by monitor.extract.meta: what trafilatura's full
metadata gives, without its author, category, tag and licence searches."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import trafilatura
from lxml.html import tostring

from monitor.demo import SITE
from monitor.extract import _fields, extract_html, without_teasers
from monitor.extract import meta as meta_module
from monitor.extract.meta import page_fields
from tests.test_extract_page import entry

DATA = Path(__file__).parent / "data"
BODY = "<p>" + "Rockets struck the base before dawn, officials said on Monday. " * 12 + "</p>"


def trafilatura_fields(html: bytes | str, url: str) -> dict[str, str] | None:
    """What the worker returned before :mod:`monitor.extract.meta`: trafilatura's own (its text
    without the dated teasers of a "more news" list, which the worker leaves out since)."""
    doc = trafilatura.bare_extraction(html, url=url, with_metadata=True,
                                      include_comments=False, include_tables=False)
    if doc is None:
        return None
    fields = {name: getattr(doc, name, None) for name in ("text", "title", "date", "sitename")}
    if isinstance(fields["text"], str):
        fields["text"] = without_teasers(fields["text"])
    return {name: value.strip() for name, value in fields.items() if isinstance(value, str)}


def html(head: str, body: str = BODY) -> str:
    return f"<html><head>{head}</head><body><article>{body}</article></body></html>"


HANDMADE = {
    "no metadata at all": html(""),
    "title tag only": html("<title>Rockets hit Ain al-Asad | Some News</title>"),
    "og tags": html('<meta property="og:title" content="Drone attack on Harir">'
                    '<meta property="og:site_name" content="rudaw">'
                    '<meta property="article:published_time" content="2024-08-06T09:00:00Z">'),
    "twitter handle as site": html('<meta name="twitter:site" content="@shafaqnews">'
                                   "<title>Attack</title>"),
    "site with a dot": html('<meta property="og:site_name" content="example.com">'),
    "canonical link, no site name": html(
        '<link rel="canonical" href="https://www.canonical.example/2024/08/06/story.html">'),
    "JSON-LD only": html('<script type="application/ld+json">{"@context": "https://schema.org",'
                         ' "@type": "NewsArticle", "headline": "Ain al-Asad attacked",'
                         ' "datePublished": "2024-08-05", "publisher": {"@type":'
                         ' "Organization", "name": "The National"}}</script>'),
    "broken JSON-LD": html('<script type="application/ld+json">{"@type": "NewsArticle",'
                           ' "headline": </script><title>Still a title</title>'),
    "date in the URL only": html("<title>Undated page</title>"),
    "date in the text only": html("<title>A report</title>", BODY + (
        "<p>The attack happened on August 5, 2024, officials said.</p>")),
}


def pages() -> list[tuple[str, bytes | str, str]]:
    found: list[tuple[str, bytes | str, str]] = [
        (name, text, url) for name, text in HANDMADE.items()
        for url in ("https://w3.news.example/story.html",
                    "https://w3.news.example/2024/08/07/story.html")]
    for path in sorted([*SITE.rglob("*.html"), *DATA.rglob("*.html")]):
        raw = path.read_bytes().replace(b"{{BASE}}", b"http://127.0.0.1:8000")
        found.append((path.name, raw, f"https://www.example.org/{path.name}"))
    return found


PAGES = pages()


@pytest.mark.parametrize(("name", "page", "url"), PAGES,
                         ids=[f"{name}:{url.split('/', 3)[3]}" for name, _, url in PAGES])
def test_fields_are_trafilaturas_own(name: str, page: bytes | str, url: str) -> None:
    assert _fields(page, url) == trafilatura_fields(page, url)


def test_the_handmade_pages_cover_each_way_a_field_is_found() -> None:
    url = "https://w3.news.example/story.html"
    got = {name: _fields(text, url) or {} for name, text in HANDMADE.items()}
    assert got["no metadata at all"]["sitename"] == "news.example"  # the host, "w3." left out
    assert got["canonical link, no site name"]["sitename"] == "canonical.example"
    assert got["og tags"]["sitename"] == "Rudaw"  # lower case, no dot: capitalised
    assert got["og tags"]["date"] == "2024-08-06"
    assert got["twitter handle as site"]["sitename"] == "Shafaqnews"
    assert got["site with a dot"]["sitename"] == "example.com"
    assert got["JSON-LD only"]["title"] == "Ain al-Asad attacked"
    assert got["JSON-LD only"]["sitename"] == "The National"
    assert got["broken JSON-LD"]["title"] == "Still a title"
    assert "date" not in got["date in the URL only"]
    assert got["date in the text only"]["date"] == "2024-08-05"  # htmldate's extensive search
    dated = _fields(HANDMADE["date in the URL only"], url.replace("story", "2024/08/07/story"))
    assert dated is not None and dated["date"] == "2024-08-07"
    assert all("Rockets struck the base" in fields["text"] for fields in got.values())


def test_the_date_is_read_only_when_wanted() -> None:
    page = HANDMADE["og tags"]
    url = "https://news.example/story.html"
    assert "date" not in (_fields(page, url, want_date=False) or {})
    assert (_fields(page, url, want_date=False) or {})["title"] == "Drone attack on Harir"
    dated = entry("https://news.example/a")
    undated = replace(dated, published=None)
    article = extract_html(undated, page, url)
    assert article is not None and article.published is not None
    assert article.published.date().isoformat() == "2024-08-06"
    kept = extract_html(dated, page, url)
    assert kept is not None and kept.published == dated.published


def test_a_json_ld_reader_that_raises_loses_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(tree: object, found: object) -> object:
        raise ValueError("a bug in the JSON-LD reader")

    monkeypatch.setattr(meta_module, "extract_meta_json", broken)
    tree = trafilatura.load_html(HANDMADE["JSON-LD only"])
    fields = page_fields(tree, "https://news.example/a")
    assert fields["sitename"] == "news.example"  # from the URL, the JSON-LD unread
    assert "title" not in fields or fields["title"] != "Ain al-Asad attacked"


def test_the_tree_is_only_read() -> None:
    tree = trafilatura.load_html(HANDMADE["og tags"])
    serialised = tostring(tree)
    page_fields(tree, "https://news.example/a")
    assert tostring(tree) == serialised


def test_a_metadata_reader_that_fails_keeps_the_text(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(tree: object) -> object:
        raise ValueError("a bug in the title reader")

    monkeypatch.setattr(meta_module, "extract_title", broken)
    fields = _fields(HANDMADE["title tag only"], "https://news.example/a")
    assert fields is not None and "Rockets struck the base" in fields["text"]
    assert "title" not in fields  # the entry's title stands in (Article.title)
