"""OPML: categories become tags, odd outlines are reported, hostile files are refused, and what
is written is well-formed OPML 2.0 that reads back the same."""

from __future__ import annotations

import xml.etree.ElementTree as ET  # parses only what write_opml just wrote
from datetime import UTC, datetime

import pytest

from monitor.errors import ParseError
from monitor.sources.opml import OpmlFeed, parse_opml, read_opml, write_opml

SUBSCRIPTIONS = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Analyst feeds</title></head>
  <body>
    <outline text="Iraq">
      <outline text="Kurdistan" title="Kurdistan region">
        <outline type="rss" text="Rudaw" title="Rudaw English" xmlUrl="https://rudaw.example/rss"/>
      </outline>
      <outline type="rss" text="Shafaq" xmlUrl="https://shafaq.example/rss"
               category="/Wire/Arabic,militias"/>
    </outline>
    <outline text="Daily">
      <outline type="rss" text="Rudaw (again)" xmlUrl="https://rudaw.example/rss"/>
    </outline>
    <outline type="rss" text="Top level" xmlUrl="http://top.example/feed.xml"/>
    <outline type="rss" text="Gopher" xmlUrl="gopher://old.example/feed"/>
    <outline type="rss" text="Script" xmlUrl="javascript:alert(1)"/>
    <outline type="rss" text="No URL"/>
    <outline type="link" text="A link, not a feed" url="https://link.example/"/>
  </body>
</opml>
"""


def test_categories_at_any_depth_and_the_category_attribute_become_tags() -> None:
    doc = read_opml(SUBSCRIPTIONS, "subs.opml")
    assert doc.title == "Analyst feeds"
    feeds = {f.url: f for f in doc.feeds}
    assert list(feeds) == ["https://rudaw.example/rss", "https://shafaq.example/rss",
                           "http://top.example/feed.xml"]
    rudaw = feeds["https://rudaw.example/rss"]  # listed twice: one feed, both categories
    assert rudaw.tags == ("Iraq", "Kurdistan", "Daily")
    assert (rudaw.name, rudaw.title) == ("Rudaw", "Rudaw English")
    assert feeds["https://shafaq.example/rss"].tags == ("Iraq", "Wire", "Arabic", "militias")
    assert feeds["http://top.example/feed.xml"].tags == ()
    assert parse_opml(SUBSCRIPTIONS) == list(doc.feeds)


def test_feeds_that_are_not_http_are_reported_with_file_and_line_and_skipped() -> None:
    skipped = read_opml(SUBSCRIPTIONS, "subs.opml").skipped
    assert len(skipped) == 3
    assert skipped[0].startswith("subs.opml:16: outline 'Gopher'")
    assert "gopher://old.example/feed" in skipped[0] and "not an http(s) URL" in skipped[0]
    assert skipped[1].startswith("subs.opml:17: outline 'Script'")
    assert skipped[2] == "subs.opml:18: outline 'No URL' is a feed without an xmlUrl; skipped"


def test_opml_1_0_with_lowercase_attributes() -> None:
    doc = parse_opml(b'<opml version="1.0"><head/><body><outline title="News">'
                     b'<outline text="A" xmlurl="https://a.example/rss" />'
                     b"</outline></body></opml>")
    assert doc == [OpmlFeed(url="https://a.example/rss", title="A", tags=("News",), name="A")]


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE opml [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<opml version="2.0"><body><outline text="&lol4;" xmlUrl="https://x.example/"/></body></opml>
"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE opml [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<opml version="2.0"><body><outline text="&secret;" xmlUrl="https://x.example/"/></body></opml>
"""


@pytest.mark.parametrize(("data", "expected"), [
    (BILLION_LAUGHS, r"evil\.opml: refused: it declares XML entities"),
    (EXTERNAL_ENTITY, r"evil\.opml: refused: it declares XML entities"),
    (b"this is not XML at all", r"evil\.opml:1: not well-formed XML"),
    (b"<opml><body><outline text='x'></body></opml>", r"evil\.opml:1: not well-formed XML"),
    (b"", r"evil\.opml: empty file"),
    (b'<opml version="2.0"><head><title>t</title></head></opml>', r"evil\.opml: .*no <body>"),
    (b"<html><body><p>hi</p></body></html>", r"evil\.opml: .*root element is <html>"),
    (b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>', r"root element is <rss>"),
], ids=["billion-laughs", "external-entity", "not-xml", "unclosed", "empty", "no-body",
        "html", "rss"])
def test_hostile_or_wrong_files_are_refused_naming_the_file(data: bytes, expected: str) -> None:
    with pytest.raises(ParseError, match=expected) as e:
        read_opml(data, "evil.opml")
    assert "root:" not in str(e.value)  # nothing of /etc/passwd was read into the message


def test_write_groups_feeds_by_tag_and_keeps_untagged_at_the_top() -> None:
    feeds = [OpmlFeed(url="https://a.example/rss", name="a", tags=("iraq", "syria")),
             OpmlFeed(url="https://b.example/rss", name="b"),
             OpmlFeed(url="https://c.example/rss", name="c", title="C News", tags=("iraq",))]
    data = write_opml(feeds, "export", created=datetime(2024, 8, 7, tzinfo=UTC))
    root = ET.fromstring(data)  # noqa: S314 - our own output
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.findtext("head/title") == "export"
    assert root.findtext("head/dateCreated") == "Wed, 07 Aug 2024 00:00:00 +0000"
    body = root.find("body")
    assert body is not None
    top = list(body)
    assert [(o.get("text"), o.get("xmlUrl")) for o in top] == [
        ("b", "https://b.example/rss"), ("iraq", None), ("syria", None)]
    assert [o.get("text") for o in top[1]] == ["a", "c"]
    assert [o.get("text") for o in top[2]] == ["a"]
    assert top[1][1].get("title") == "C News" and top[1][1].get("type") == "rss"


def test_every_attribute_is_escaped_and_forbidden_characters_dropped() -> None:
    nasty = 'Q&A <b>"quoted"</b>\nline\x00\x07'
    url = "https://x.example/feed?a=1&b=<2>"
    data = write_opml([OpmlFeed(url=url, name=nasty, title=nasty, tags=(nasty,))], nasty)
    assert b"<b>" not in data and b"\x00" not in data and b"\x07" not in data
    root = ET.fromstring(data)  # noqa: S314 - our own output
    outline = root.find("body/outline/outline")
    assert outline is not None
    clean = 'Q&A <b>"quoted"</b>\nline'
    assert outline.get("xmlUrl") == url and outline.get("text") == clean
    assert root.findtext("head/title") == clean


def test_what_is_written_reads_back_the_same() -> None:
    feeds = [OpmlFeed(url="https://a.example/rss", name="a", title="A", tags=("iraq", "syria")),
             OpmlFeed(url="https://b.example/rss?token=1&x=2", name="b-2", title="B"),
             OpmlFeed(url="https://c.example/rss", name="C.c", title="C", tags=("iraq",))]
    back = {f.url: f for f in parse_opml(write_opml(feeds, "t"))}
    assert set(back) == {f.url for f in feeds}
    for f in feeds:
        assert (back[f.url].name, back[f.url].title, set(back[f.url].tags)) == (
            f.name, f.title, set(f.tags))
