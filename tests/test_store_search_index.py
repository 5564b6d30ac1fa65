"""The full-text index fed by ``Store.add_article`` itself (``0013_ingest_path``): the same
index the view-fed trigger made, the trigger still indexing rows inserted by anything else, and
nothing indexed for a row the database refused."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.model import Article, Entry, Feed
from monitor.store import Store
from monitor.store.schema import MIGRATIONS
from monitor.store.search import _FOLD, fold, fold_select

NOW = datetime(2024, 8, 7, 12, 0, tzinfo=UTC)
FEED = Feed(name="wire", url="https://example.org/feed.xml", interval=3600)
ARABIC = "سقطت صواريخ على قاعدةِ عَيْنِ الأَسَد الجوية في الأنبار، ٣ إصابات ـ أكّدت مصادرٌ"


def article(store: Store, guid: str, title: str, text: str) -> int:
    entry = Entry(feed=FEED.name, guid=guid, link=f"https://example.org/{guid}", title=title,
                  summary="", published=NOW)
    with store.transaction():
        entry_id = store.add_entry(entry, entry.link, NOW)
        store.add_article(entry_id, Article(entry=entry, url=entry.link, title=title, text=text,
                                            published=NOW, site="Wire", source="page"), NOW)
    return entry_id


def found(store: Store, phrase: str) -> set[int]:
    return {h.entry_id for h in store.search([phrase])}


def fts_integrity(store: Store) -> None:
    """FTS5's own check of the index against its content (the folded view); raises if not."""
    store.db.execute("INSERT INTO articles_fts (articles_fts, rank) VALUES ('integrity-check', 1)")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store.open(tmp_path / "m.db")
    store.sync_feeds([FEED])
    return store


def test_fold_is_the_translation_and_the_views_folding() -> None:
    every = "".join(chr(cp) for cp in _FOLD)
    rng = random.Random(3)
    texts = [every, every[::-1], ARABIC, "Aïn al-Asad \u2019s\u00ad base", "plain ascii", "",
             *("".join(rng.choice(every + ARABIC + "ab ") for _ in range(80)) for _ in range(50))]
    conn = sqlite3.connect(":memory:")
    select = fold_select("(SELECT 1 AS entry_id, ? AS title, ? AS text)")
    for text in texts:
        assert fold(text) == text.translate(_FOLD)
        assert conn.execute(select, ["", text]).fetchone()[2] == fold(text)


def test_articles_indexed_by_the_store_and_by_the_trigger_are_one_index(store: Store) -> None:
    by_store = article(store, "a", "Rockets hit base", "Rockets struck Ain al-Asad air base.")
    arabic = article(store, "b", "هجوم", ARABIC)
    # a row inserted by another program: the insert trigger indexes it, from the view
    with store.transaction() as db:
        entry = Entry(feed=FEED.name, guid="c", link=None, title="t", summary="",
                      published=NOW)
        raw = store.add_entry(entry, None, NOW)
        db.execute("INSERT INTO articles (entry_id, title, text, source, extracted_at)"
                   " VALUES (?, 'Drone over Erbil', 'A drone was seen over Ain al-Asad.',"
                   " 'page', ?)", [raw, NOW.isoformat()])
    fts_integrity(store)
    assert found(store, "Ain al-Asad") == {by_store, raw}
    assert found(store, "عين الاسد") == {arabic}
    assert found(store, "Drone over Erbil") == {raw}
    with store.transaction():  # an edit deletes the row (trigger) and adds it again (store)
        store.revise_entry(by_store, Entry(feed=FEED.name, guid="a", link=None, title="x",
                                           summary="", published=NOW),
                           Article(entry=entry, url=None, title="Edited", text="Now Erbil.",
                                   published=NOW, site=None, source="page"), (), NOW)
    fts_integrity(store)
    assert found(store, "Ain al-Asad") == {raw} and found(store, "Now Erbil") == {by_store}


def test_a_refused_row_leaves_nothing_in_the_index(store: Store) -> None:
    first = article(store, "a", "First", "The first text about Ain al-Asad.")
    entry = Entry(feed=FEED.name, guid="a", link=None, title="t", summary="", published=NOW)
    with store.transaction():  # the caller goes on after the refusal, and commits
        with pytest.raises(sqlite3.IntegrityError):
            store.add_article(first, Article(entry=entry, url=None, title="Second",
                                             text="A second text about Erbil.", published=NOW,
                                             site=None, source="page"), NOW)
    fts_integrity(store)
    assert found(store, "Ain al-Asad") == {first} and found(store, "Erbil") == set()


def test_a_database_from_before_0013_is_migrated_and_its_index_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = [name for name, _ in MIGRATIONS]
    before = names.index("0013_ingest_path")
    db = tmp_path / "m.db"
    with monkeypatch.context() as patch:
        patch.setattr("monitor.store.MIGRATIONS", MIGRATIONS[:before])
        old = Store.open(db)
        old.db.execute("INSERT INTO feeds (name, url) VALUES (?, ?)", [FEED.name, FEED.url])
        with old.transaction() as conn:  # as the code of then wrote it: the trigger indexes
            entry = Entry(feed=FEED.name, guid="old", link="https://example.org/old",
                          title="t", summary="", published=NOW)
            old_id = old.add_entry(entry, entry.link, NOW)
            conn.execute("INSERT INTO articles (entry_id, title, text, source, extracted_at)"
                         " VALUES (?, 'Old report', 'Rockets hit Ain al-Asad last year.',"
                         " 'page', ?)", [old_id, NOW.isoformat()])
        old.close()
    store = Store.open(db)
    indexes = {r[0] for r in store.db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'entries'")}
    assert "entries_url_original" in indexes and "entries_canonical_url" not in indexes
    trigger = store.db.execute("SELECT sql FROM sqlite_master WHERE name = 'articles_ai'"
                               ).fetchone()[0]
    assert "articles_fts_docsize" in trigger
    new_id = article(store, "new", "New report", "Drones hit Ain al-Asad today.")
    fts_integrity(store)
    assert found(store, "Ain al-Asad") == {old_id, new_id}
    assert store.find_seen(FEED.name, "x", "https://example.org/old") is not None
    assert store.migrate() == []
