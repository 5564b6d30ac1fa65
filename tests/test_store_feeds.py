"""Feeds of the config and of the command line side by side in the store: neither overwrites
the other, state survives, removal keeps entries, the migration fills the new columns."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils

from monitor.errors import StoreError
from monitor.model import Entry, Feed, PollResult
from monitor.store import Store
from monitor.store.schema import MIGRATIONS

NOW = datetime(2024, 8, 7, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
CONFIG = Feed(name="shafaq", url="https://shafaq.example/rss.xml", interval=1800,
              tags=("iraq",))
ADDED = Feed(name="rudaw", url="https://rudaw.example/feed", interval=900, tags=("kurdistan",))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path / "m.db")
    s.sync_feeds([CONFIG])
    s.add_feed(ADDED, title="Rudaw English", now=NOW)
    return s


def add_entry(store: Store, feed: str, guid: str) -> None:
    with store.transaction():
        store.add_entry(Entry(feed=feed, guid=guid, link=f"https://x.example/{guid}", title="t",
                              summary="s", published=NOW), None, NOW)


def test_migration_gives_existing_rows_config_origin_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    names = [name for name, _ in MIGRATIONS]
    before = names.index("0008_feeds")
    with sqlite3.connect(path) as conn:  # a database as it was before 0008
        conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        db = sqlite_utils.Database(conn)
        for name, step in MIGRATIONS[:before]:
            step(db)
            conn.execute("INSERT INTO _migrations VALUES (?, datetime('now'))", [name])
        conn.execute("INSERT INTO feeds (name, url, etag) VALUES ('old', 'https://o.example/',"
                     " '\"v1\"')")
    store = Store.open(path)
    row = store.db.execute("SELECT origin, tags, status, interval, title, last_success_at, etag"
                           " FROM feeds WHERE name = 'old'").fetchone()
    assert row == ("config", "[]", "active", None, None, None, '"v1"')
    assert store.migrate() == []  # idempotent
    with pytest.raises(sqlite3.IntegrityError):  # the CHECK constraints hold
        store.db.execute("UPDATE feeds SET origin = 'web' WHERE name = 'old'")
    with pytest.raises(sqlite3.IntegrityError):
        store.db.execute("UPDATE feeds SET status = 'sleepy' WHERE name = 'old'")
    store.db.execute("INSERT INTO feeds (name, url, origin) VALUES ('a', 'https://a/', 'cli')")
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):  # in the database too
        store.db.execute("INSERT INTO feeds (name, url, origin) VALUES ('b', 'https://a/', 'cli')")


def test_rows_list_both_origins_with_their_settings_and_entry_counts(store: Store) -> None:
    add_entry(store, "rudaw", "a")
    add_entry(store, "rudaw", "b")
    add_entry(store, "shafaq", "c")
    rows = {r.name: r for r in store.feed_rows()}
    assert rows["shafaq"].origin == "config" and rows["shafaq"].tags == ("iraq",)
    assert rows["shafaq"].entries == 1 and rows["shafaq"].added_at is None
    cli = rows["rudaw"]
    assert (cli.origin, cli.url, cli.tags, cli.interval, cli.title, cli.entries) == (
        "cli", ADDED.url, ("kurdistan",), 900, "Rudaw English", 2)
    assert cli.added_at == NOW and cli.status == "active"
    assert store.cli_feeds() == [ADDED]


def test_record_poll_sets_last_success_on_ok_and_304_and_keeps_it_on_error(
        store: Store) -> None:
    store.record_poll(PollResult(feed="rudaw", status="ok", etag='"e1"'), NOW, LATER)
    assert store.feed_state("rudaw").last_success_at == NOW
    store.record_poll(PollResult(feed="rudaw", status="not_modified"), LATER, LATER)
    assert store.feed_state("rudaw").last_success_at == LATER
    store.record_poll(PollResult(feed="rudaw", status="error", error="HTTP 500"),
                      LATER + timedelta(hours=1), LATER)
    state = store.feed_state("rudaw")
    assert state.last_success_at == LATER and state.last_error == "HTTP 500"
    assert state.etag == '"e1"' and state.status == "active"


def test_config_feed_named_like_a_cli_feed_is_refused_and_nothing_is_overwritten(
        store: Store) -> None:
    store.record_poll(PollResult(feed="rudaw", status="ok", etag='"e1"'), NOW, LATER)
    clash = Feed(name="rudaw", url="https://other.example/rss", interval=3600)
    with pytest.raises(StoreError) as e:
        store.sync_feeds([CONFIG, clash, Feed(name="new", url="https://n.example/", interval=60)])
    message = str(e.value)
    assert "'rudaw'" in message and "config" in message and "command line" in message
    assert "monitor feeds remove rudaw" in message
    row = {r.name: r for r in store.feed_rows()}["rudaw"]
    assert (row.origin, row.url, row.title) == ("cli", ADDED.url, "Rudaw English")
    assert store.feed_state("rudaw").etag == '"e1"'
    assert "new" not in {r.name for r in store.feed_rows()}  # all or nothing


def test_the_same_name_twice_in_one_sync_is_a_clash_even_when_identical(store: Store) -> None:
    with pytest.raises(StoreError, match="rudaw"):
        store.sync_feeds([CONFIG, ADDED, *store.cli_feeds()])


def test_cli_feed_keeps_its_state_across_sync(store: Store) -> None:
    store.record_poll(PollResult(feed="rudaw", status="ok", etag='"e1"', last_modified="Mon"),
                      NOW, LATER)
    before = store.feed_state("rudaw")
    store.sync_feeds([CONFIG, *store.cli_feeds()])  # as pipeline.all_feeds hands them
    store.sync_feeds([replace(CONFIG, url="https://shafaq.example/new.xml")])
    assert store.feed_state("rudaw") == before
    assert store.feed_state("shafaq").url == "https://shafaq.example/new.xml"


def test_config_url_change_still_resets_validators(store: Store) -> None:
    store.record_poll(PollResult(feed="shafaq", status="ok", etag='"e1"'), NOW, LATER)
    store.sync_feeds([CONFIG])
    assert store.feed_state("shafaq").etag == '"e1"'
    store.sync_feeds([replace(CONFIG, url="https://shafaq.example/v2.xml")])
    assert store.feed_state("shafaq").etag is None


def test_add_refuses_a_taken_name_or_url_and_says_which(store: Store) -> None:
    with pytest.raises(StoreError, match=r"named 'shafaq' already exists \(in the config"):
        store.add_feed(replace(ADDED, name="shafaq", url="https://z.example/"), title=None,
                       now=NOW)
    with pytest.raises(StoreError, match=r"is already feed 'shafaq' \(in the config\)"):
        store.add_feed(replace(ADDED, name="z", url=CONFIG.url), title=None, now=NOW)
    with pytest.raises(StoreError, match=r"already feed 'rudaw' \(added at the command line"):
        store.add_feed(replace(ADDED, name="z"), title=None, now=NOW)
    assert {r.name for r in store.feed_rows()} == {"shafaq", "rudaw"}


def test_remove_keeps_entries_refuses_config_feeds_and_allows_a_fresh_start(
        store: Store) -> None:
    add_entry(store, "rudaw", "a")
    store.record_poll(PollResult(feed="rudaw", status="ok", etag='"e1"'), NOW, LATER)
    with pytest.raises(StoreError, match="config file"):
        store.remove_feed("shafaq")
    assert store.remove_feed("rudaw") is True
    assert store.remove_feed("rudaw") is False and store.remove_feed("nope") is False
    assert store.cli_feeds() == []
    assert {r.name for r in store.feed_rows()} == {"shafaq"}
    assert store.db.execute("SELECT count(*) FROM entries WHERE feed = 'rudaw'").fetchone() == (1,)
    assert "rudaw" in store.feed_names()
    moved = replace(ADDED, url="https://rudaw.example/v2")
    store.add_feed(moved, title="Rudaw v2", now=LATER)  # the name again: the row taken over
    state = store.feed_state("rudaw")
    assert (state.url, state.etag, state.last_polled_at) == (moved.url, None, None)
    assert store.cli_feeds() == [moved]


def test_remove_without_entries_deletes_the_row(store: Store) -> None:
    assert store.remove_feed("rudaw") is True
    assert "rudaw" not in store.feed_names()


def test_retire_marks_feeds_that_left_the_config(store: Store) -> None:
    add_entry(store, "shafaq", "a")
    assert store.retire_feeds(["other"], NOW) == ["shafaq"]
    assert {r.name for r in store.feed_rows()} == {"rudaw"}
    store.add_feed(replace(CONFIG, interval=600), title=None, now=NOW)  # its URL is free again
    assert {f.name for f in store.cli_feeds()} == {"rudaw", "shafaq"}
    assert store.db.execute("SELECT count(*) FROM entries WHERE feed = 'shafaq'").fetchone() == (1,)
