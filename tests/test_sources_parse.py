"""The sources stage: feed bytes → Entry dataclasses, errors as values, polls over real HTTP."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.model import Feed, FeedState
from monitor.net import GuardedClient, NetConfig, Response
from monitor.sources import parse, poll

FEEDS = Path(__file__).parent / "data" / "feeds"
LOCAL = NetConfig(allow_private=("127.0.0.1",), total_timeout=10)


def response(name: str, url: str, content_type: str = "application/xml") -> Response:
    return Response(url=url, status=200, headers={"content-type": content_type},
                    content=(FEEDS / name).read_bytes())


def test_rss2_entries_are_plain_text_with_utc_dates_and_stable_guids() -> None:
    result = parse("ex", response("rss2.xml", "https://news.example.org/rss.xml"))
    assert result.status == "ok"
    first, second, third = result.entries
    assert first.guid == "example-0001"
    assert first.title == "Rockets hit Ain al-Asad air base"  # markup is data, dropped
    assert first.summary == "Two rockets struck the base."  # <script> content gone
    assert first.published == datetime(2024, 8, 6, 6, 15, tzinfo=UTC)
    assert second.guid == "https://news.example.org/2024/08/05/no-guid.html"
    assert third.link is None and third.guid.startswith("sha256:")
    again = parse("ex", response("rss2.xml", "https://news.example.org/rss.xml"))
    assert [e.guid for e in again.entries] == [e.guid for e in result.entries]


def test_atom_relative_links_are_resolved_against_xml_base() -> None:
    result = parse("ex", response("atom.xml", "https://atom.example.org/feed.atom"))
    (entry,) = result.entries
    assert entry.link == "https://atom.example.org/news/2024/08/07/harir.html?utm_source=atom"
    assert entry.title == "Attack on Harir base"
    assert entry.published == datetime(2024, 8, 7, 20, 53, 19, tzinfo=UTC)


def test_json_feed() -> None:
    result = parse("ex", response("jsonfeed.json", "https://json.example.org/feed.json",
                                  "application/feed+json"))
    assert result.status == "ok", result.error
    (entry,) = result.entries
    assert (entry.guid, entry.link) == ("j1", "https://json.example.org/a.html")


def test_an_html_error_page_served_with_200_is_an_error_not_entries() -> None:
    result = parse("ex", response("garbage.html", "https://x.example.org/feed", "text/html"))
    assert result.status == "error" and result.entries == ()
    assert result.error and result.error.startswith("not a feed")


def test_max_entries_per_poll() -> None:
    items = "".join(f"<item><guid>g{i}</guid><title>t{i}</title></item>" for i in range(50))
    body = f"<rss version='2.0'><channel><title>x</title>{items}</channel></rss>".encode()
    result = parse("ex", Response(url="https://x.example.org/", status=200,
                                  headers={"content-type": "application/rss+xml"}, content=body),
                   max_entries=10)
    assert len(result.entries) == 10


def test_feedparser_is_given_bytes_never_a_path_or_url(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[object] = []
    real_open = io.open

    def spy(file: object, *args: object, **kwargs: object) -> object:
        opened.append(file)
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", spy)
    for body in (b"/etc/passwd", b"http://169.254.169.254/latest/meta-data/"):
        result = parse("ex", Response(url="https://x.example.org/", status=200,
                                      headers={"content-type": "text/plain"}, content=body))
        assert result.status == "error"
    assert "/etc/passwd" not in [str(f) for f in opened]


def test_poll_over_http_with_conditional_get(
        sample_site: tuple[str, list[tuple[str, dict[str, str]]]]) -> None:
    base, seen = sample_site
    feed = Feed(name="rss", url=f"{base}/feeds/rss.xml", interval=900)
    with GuardedClient(LOCAL) as client:
        first = poll(feed, None, client)
        assert first.status == "ok" and len(first.entries) >= 17 and first.etag
        assert all(e.link and e.link.startswith(base) for e in first.entries)
        state = FeedState(url=feed.url, etag=first.etag, last_modified=first.last_modified)
        second = poll(feed, state, client)
    assert second.status == "not_modified" and second.entries == ()
    assert seen[-1][1].get("If-None-Match") == first.etag


def test_poll_errors_are_values(sample_site: tuple[str, list[tuple[str, dict[str, str]]]]) -> None:
    base, _ = sample_site
    with GuardedClient(LOCAL) as client:
        missing = poll(Feed(name="x", url=f"{base}/feeds/nope.xml", interval=900), None, client)
        with GuardedClient(NetConfig()) as strict:  # 127.0.0.1 not allowlisted
            blocked = poll(Feed(name="y", url=f"{base}/feeds/rss.xml", interval=900), None,
                           strict)
    assert missing.status == "error" and missing.http_status == 404
    assert missing.error and "HTTP 404" in missing.error
    assert blocked.status == "error" and blocked.error
    assert "127.0.0.1" in blocked.error


def json_feed(items: str) -> Response:
    body = ('{"version": "https://jsonfeed.org/version/1.1", "items": [' + items + "]}").encode()
    return Response(url="https://x.example.org/feed.json", status=200,
                    headers={"content-type": "application/feed+json"}, content=body)


def xml_response(body: str) -> Response:
    return Response(url="https://x.example.org/feed", status=200,
                    headers={"content-type": "application/xml"}, content=body.encode())


@pytest.mark.parametrize("response", [
    json_feed('{"id": "a", "date_published": "0001-01-01T00:00:00+01:00"}'),
    xml_response("<rss version='2.0'><channel><title>x</title><item><guid>a</guid>"
                 "<pubDate>0000-01-01T00:00:00Z</pubDate></item></channel></rss>"),
    xml_response("<feed xmlns='http://www.w3.org/2005/Atom'><title>x</title><entry><id>a</id>"
                 "<updated>9999-12-31T23:59:59-14:00</updated></entry></feed>"),
])
def test_an_out_of_range_date_is_no_date_not_a_crash(response: Response) -> None:
    result = parse("ex", response)
    assert result.status == "ok" and result.entries[0].published is None


def test_deeply_nested_json_is_an_error_value() -> None:
    result = parse("ex", Response(url="https://x.example.org/", status=200,
                                  headers={"content-type": "application/json"},
                                  content=b"[" * 100_000))
    assert result.status == "error" and result.error and "not a feed" in result.error


def test_one_bad_item_url_does_not_lose_the_feed() -> None:
    result = parse("ex", json_feed('{"id": "bad", "url": "http://[::1"}, '
                                   '{"id": "good", "url": "https://x.example.org/a"}'))
    assert result.status == "ok"
    assert [(e.guid, e.link) for e in result.entries] == [
        ("bad", None), ("good", "https://x.example.org/a")]


def test_c1_controls_and_bidi_overrides_are_dropped_from_feed_text() -> None:
    result = parse("ex", json_feed('{"id": "a", "title": "a\\u009b31m b\\u202e c\\u2066d"}'))
    assert result.entries[0].title == "a31m b cd"


def test_items_sharing_a_guid_are_told_apart_the_same_way_on_every_poll() -> None:
    from monitor.model import Entry
    from monitor.sources import distinct_guids

    a = Entry(feed="f", guid="g", link="https://x.example/a", title="A", summary="", published=None)
    b = Entry(feed="f", guid="g", link="https://x.example/b", title="B", summary="", published=None)
    c = Entry(feed="f", guid="c", link=None, title="C", summary="", published=None)
    once, again = distinct_guids((a, b, c)), distinct_guids((b, a, c))
    assert len({e.guid for e in once}) == 3 and once[2] is c, "unique guids are left alone"
    assert {e.guid for e in once} == {e.guid for e in again}, "stable whatever the order"
    assert all(e.guid.startswith("g#sha256:") for e in once[:2])
    assert distinct_guids((a, c)) == (a, c)
