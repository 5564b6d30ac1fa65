"""Issue 6 point 6: RSS 0.9x/1.0/2.0, Atom and JSON Feed 1.1 golden files ↔ the entries they
give (guid, absolute link, plain title and summary, UTC date); feedparser is given bytes; a
broken feed is an error carrying feedparser's reason; at most N entries per poll.

Each ``tests/data/feeds/x.*`` has its expectations in ``x.expected.json``
(``tests/data/feeds/README.md`` says what each one tries and where it comes from).
"""

from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest

from monitor.model import Entry, Feed
from monitor.net import GuardedClient, NetConfig, Response
from monitor.sources import parse, poll
from tests.conftest import DATA, ScriptedServer

FEEDS = DATA / "feeds"
GOLDEN = sorted(FEEDS.glob("*.expected.json"))
LOCAL = NetConfig(allow_private=("127.0.0.1",), total_timeout=20)


def feed_file(golden: Path) -> Path:
    stem = golden.name.removesuffix(".expected.json")
    (found,) = [p for p in FEEDS.iterdir() if (p.stem == stem and p.suffix != ".json")
                or p.name == f"{stem}.json"]
    return found


def as_dict(entry: Entry) -> dict[str, Any]:
    return {"guid": entry.guid, "link": entry.link, "title": entry.title,
            "summary": entry.summary,
            "published": entry.published.isoformat() if entry.published else None}


def test_every_format_has_a_golden_file() -> None:
    names = {feed_file(g).name for g in GOLDEN}
    assert {"rss091.xml", "rss10.rdf", "rss2-relative.xml", "atom-xmlbase.xml",
            "jsonfeed11-relative.json"} <= names
    assert len(GOLDEN) >= 9


@pytest.mark.parametrize("golden", GOLDEN, ids=lambda p: p.name.removesuffix(".expected.json"))
def test_golden_feed_gives_its_entries(golden: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = json.loads(golden.read_text(encoding="utf-8"))
    given: list[object] = []
    real = feedparser.parse
    monkeypatch.setattr(feedparser, "parse", lambda f, **k: given.append(f) or real(f, **k))
    body = feed_file(golden).read_bytes()
    result = parse("golden", Response(url=expected["url"], status=200,
                                      headers={"content-type": expected["content_type"]},
                                      content=body))
    assert result.status == "ok", result.error
    assert [as_dict(e) for e in result.entries] == expected["entries"]
    for entry in result.entries:
        assert entry.feed == "golden"
        assert entry.link is None or entry.link.startswith(("https://", "http://"))
        assert entry.published is None or entry.published.utcoffset() is not None
    if not expected["content_type"].endswith("json"):  # JSON Feed is not feedparser's
        assert len(given) == 1 and isinstance(given[0], io.BytesIO)


@pytest.mark.parametrize("golden", GOLDEN, ids=lambda p: p.name.removesuffix(".expected.json"))
def test_golden_feed_polled_over_http(golden: Path, scripted_server: ScriptedServer) -> None:
    """The same entries when the file is served from 127.0.0.1, relative links resolved
    against the server's URL where the feed gives no base of its own."""
    expected = json.loads(golden.read_text(encoding="utf-8"))
    body = feed_file(golden).read_bytes()
    path = "/" + expected["url"].split("/", 3)[3]
    scripted_server.routes[path] = lambda h: h.reply(
        200, body, {"Content-Type": expected["content_type"]})
    with GuardedClient(LOCAL) as client:
        result = poll(Feed(name="golden", url=scripted_server.url(path), interval=3600), None,
                      client)
    assert result.status == "ok", result.error
    origin = expected["url"].split("/", 3)
    served = scripted_server.url("/").rstrip("/")
    for got, want in zip(result.entries, expected["entries"], strict=True):
        link = want["link"]
        if link and link.startswith(f"{origin[0]}//{origin[2]}/"):
            link = served + link[len(origin[0]) + len(origin[2]) + 2:]
        assert (got.title, got.summary) == (want["title"], want["summary"])
        assert got.link in (want["link"], link)


def test_dates_are_utc_and_offsets_applied() -> None:
    golden = json.loads((FEEDS / "rss10.expected.json").read_text(encoding="utf-8"))
    first = datetime.fromisoformat(golden["entries"][0]["published"])
    assert first.isoformat() == "2024-08-07T20:10:00+00:00"  # 23:10 at +03:00


def test_a_broken_feed_is_an_error_with_feedparsers_reason() -> None:
    result = parse("broken", Response(url="https://x.example.org/feed", status=200,
                                      headers={"content-type": "application/rss+xml"},
                                      content=(FEEDS / "garbage.html").read_bytes()))
    assert result.status == "error" and result.entries == ()
    assert result.error and result.error.startswith("not a feed: ")
    assert len(result.error) > len("not a feed: ")  # the reason itself, not only the verdict


@pytest.mark.parametrize("name", ["rss2-relative.xml", "rss10.rdf", "atom-xmlbase.xml",
                                  "jsonfeed11-relative.json"])
def test_at_most_n_entries_per_poll(name: str) -> None:
    golden = json.loads((FEEDS / name.rsplit(".", 1)[0]).with_suffix(".expected.json")
                        .read_text(encoding="utf-8"))
    result = parse("n", Response(url=golden["url"], status=200,
                                 headers={"content-type": golden["content_type"]},
                                 content=(FEEDS / name).read_bytes()), max_entries=1)
    assert [as_dict(e) for e in result.entries] == golden["entries"][:1]
