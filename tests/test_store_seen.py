"""``Store.find_seen``: the entry stored with this guid in this feed, else the first original with
this canonical URL; two index searches whatever the history (issue 8: one OR query read every
row of a URL shared by thousands of entries)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.model import Entry
from monitor.store import _SEEN_GUID, _SEEN_URL, Seen, Store

NOW = datetime(2024, 8, 7, 12, 0, tzinfo=UTC)
URL = "https://example.org/news/shared"
FEEDS = [f"f{i}" for i in range(20)]

# The query find_seen ran before 0013_ingest_path: the reference for what it must answer.
OLD = ("SELECT id, (feed = ? AND guid = ?) AS same, (? IS NOT NULL AND duplicate_of IS NULL"
       " AND (title != ? OR summary != ?)) FROM entries"
       " WHERE (feed = ? AND guid = ?) OR (? IS NOT NULL AND canonical_url = ?)"
       " ORDER BY same DESC, duplicate_of IS NOT NULL, id LIMIT 1")


def old_find_seen(store: Store, feed: str, guid: str, url: str | None,
                  entry: Entry | None) -> Seen | None:
    title, summary = (entry.title, entry.summary) if entry else (None, None)
    row = store.db.execute(OLD, [feed, guid, title, title, summary, feed, guid, url,
                                 url]).fetchone()
    if row is None:
        return None
    return Seen(id=int(row[0]), same_guid=bool(row[1]), edited=bool(row[1] and row[2]))


def entry(feed: str, guid: str, url: str | None, title: str = "t",
          summary: str = "s") -> Entry:
    return Entry(feed=feed, guid=guid, link=url, title=title, summary=summary, published=NOW)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store.open(tmp_path / "m.db")
    with store.transaction() as db:
        for name in FEEDS:
            db.execute("INSERT INTO feeds (name, url) VALUES (?, ?)",
                       [name, f"https://{name}.example/feed"])
    return store


def test_five_thousand_entries_of_one_url(store: Store) -> None:
    """Copies recorded from many feeds under one canonical URL: a new guid finds the original
    (not an earlier-numbered duplicate), a stored guid finds itself."""
    with store.transaction():
        other = store.add_entry(entry("f0", "elsewhere", "https://example.org/other"),
                                "https://example.org/other", NOW)
        # duplicates numbered before the original (a history merged from elsewhere)
        early = [store.add_entry(entry(FEEDS[i], f"early-{i}", URL), URL, NOW,
                                 duplicate_of=other) for i in range(3)]
        original = store.add_entry(entry("f1", "original", URL), URL, NOW)
        copies = [store.add_entry(entry(FEEDS[i % len(FEEDS)], f"copy-{i}", URL), URL, NOW,
                                  duplicate_of=original) for i in range(5000)]
    probe = entry("f2", "new-guid", URL)
    assert store.find_seen("f2", "new-guid", URL, probe) == Seen(original, same_guid=False)
    assert store.find_seen("f2", "new-guid", URL) == Seen(original, same_guid=False)
    copy = entry(FEEDS[1234 % len(FEEDS)], "copy-1234", URL)
    assert store.find_seen(copy.feed, copy.guid, URL, copy) == Seen(copies[1234], True)
    assert store.find_seen("f1", "original", URL, entry("f1", "original", URL, title="new")
                           ) == Seen(original, same_guid=True, edited=True)
    # a copy's own text does not make it edited: the original decides
    assert store.find_seen(copy.feed, copy.guid, URL, entry(copy.feed, copy.guid, URL, "x")
                           ) == Seen(copies[1234], same_guid=True, edited=False)
    assert store.find_seen("f0", "early-0", URL) == Seen(early[0], same_guid=True)
    assert store.find_seen("f2", "new-guid", "https://example.org/unknown") is None
    assert store.find_seen("f2", "new-guid", None) is None


def test_only_duplicates_of_a_url_still_find_one(store: Store) -> None:
    """No original under the URL (its entries all point elsewhere): the first by id."""
    with store.transaction():
        first = store.add_entry(entry("f0", "a", "https://example.org/a"),
                                "https://example.org/a", NOW)
        dups = [store.add_entry(entry(f, f"d-{f}", URL), URL, NOW, duplicate_of=first)
                for f in FEEDS[:5]]
    assert store.find_seen("f9", "new", URL) == Seen(dups[0], same_guid=False)


def test_the_same_answers_as_the_single_or_query(store: Store) -> None:
    """Random histories (originals and duplicates in any order, shared and missing URLs,
    guids repeated across feeds, edited titles): every lookup answers as the old query."""
    rng = random.Random(8)
    urls = [f"https://example.org/{i}" for i in range(12)] + [None]
    stored: list[tuple[str, str, str | None]] = []
    with store.transaction():
        ids: list[int] = []
        for _ in range(400):
            feed, guid, url = rng.choice(FEEDS[:6]), f"g{rng.randrange(150)}", rng.choice(urls)
            if (feed, guid) in {(f, g) for f, g, _ in stored}:
                continue
            dup = rng.choice(ids) if ids and rng.random() < 0.6 else None
            ids.append(store.add_entry(entry(feed, guid, url, rng.choice("ab"),
                                             rng.choice("xy")), url, NOW, duplicate_of=dup))
            stored.append((feed, guid, url))
    for _ in range(600):
        if rng.random() < 0.5:
            feed, guid, url = rng.choice(stored)
            url = url if rng.random() < 0.8 else rng.choice(urls)
        else:
            feed, guid, url = rng.choice(FEEDS[:6]), f"n{rng.randrange(50)}", rng.choice(urls)
        probe = (entry(feed, guid, url, rng.choice("ab"), rng.choice("xy"))
                 if rng.random() < 0.7 else None)
        assert (store.find_seen(feed, guid, url, probe)
                == old_find_seen(store, feed, guid, url, probe)), (feed, guid, url, probe)


def test_both_lookups_are_index_searches(store: Store) -> None:
    with store.transaction():
        for i in range(200):
            store.add_entry(entry(FEEDS[i % len(FEEDS)], f"g{i}", URL), URL, NOW)
    for sql, args, index in ((_SEEN_GUID, ["t", "t", "s", "f1", "g1"], "sqlite_autoindex_entries"),
                             (_SEEN_URL, [URL], "entries_url_original")):
        plan = " | ".join(r[3] for r in store.db.execute("EXPLAIN QUERY PLAN " + sql, args))
        assert plan.startswith("SEARCH entries USING") and index in plan, plan
        assert "SCAN" not in plan and "TEMP B-TREE" not in plan, plan
