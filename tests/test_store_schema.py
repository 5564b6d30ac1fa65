"""The store: migrations, WAL, uniqueness in the database, refusing foreign or corrupt files."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.errors import StoreError
from monitor.model import Alert, Entry, Feed, Match, PollResult
from monitor.store import Store
from monitor.store.schema import MIGRATIONS
from tests.fakes import story_view

NOW = datetime(2024, 8, 7, 12, 0, tzinfo=UTC)

FEED = Feed(name="f", url="https://example.org/feed.xml", interval=3600)


def schema(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()


def entry(guid: str = "g1") -> Entry:
    return Entry(feed="f", guid=guid, link=f"https://example.org/{guid}", title="t", summary="s",
                 published=NOW)


def alert(key: str = "k1", story_id: int = 1, target: str = "console") -> Alert:
    m = Match(rule_id="r", title="R", severity="high", tags=("x",), entities=("Ain al-Asad",),
              terms=("rocket",), snippet="Rockets hit Ain al-Asad.")
    return Alert(key=key, target=target, story_id=story_id, severity="high", title="T",
                 url="https://example.org/a", feed="f", site="S", published=NOW,
                 snippet="Rockets", matches=(m,), created_at=NOW)


def test_tables_created_and_migrations_idempotent(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    store = Store.open(db)
    tables = {n for n, _ in schema(db)}
    assert {"feeds", "entries", "articles", "matches", "stories", "alerts", "_migrations"} <= tables
    before = schema(db)
    assert store.migrate() == []  # nothing left to apply
    store.close()
    again = Store.open(db)  # a restart re-runs the list
    assert schema(db) == before
    names = [r[0] for r in again.db.execute("SELECT name FROM _migrations").fetchall()]
    assert names == [name for name, _ in MIGRATIONS]
    assert again.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_foreign_database_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    before = db.read_bytes()
    with pytest.raises(StoreError, match="not news-monitor's"):
        Store.open(db)
    assert db.read_bytes() == before


def test_corrupt_file_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "junk.db"
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="not a usable SQLite database"):
        Store.open(db)


def test_entry_uniqueness_lives_in_the_database(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "m.db")
    store.sync_feeds([FEED])
    with store.transaction():
        store.add_entry(entry(), "https://example.org/g1", NOW)
    with pytest.raises(sqlite3.IntegrityError), store.transaction():
        store.add_entry(entry(), "https://example.org/g1", NOW)
    first = store.find_seen("f", "g1", None)
    assert first is not None and first.same_guid
    copy = store.find_seen("other-feed", "zzz", "https://example.org/g1")
    assert copy is not None and not copy.same_guid and copy.id == first.id
    assert store.find_seen("f", "g2", "https://example.org/g2") is None


def test_a_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "m.db")
    store.sync_feeds([FEED])
    with pytest.raises(RuntimeError), store.transaction():
        for i in range(250):
            store.add_entry(entry(f"g{i}"), None, NOW)
            if i == 150:
                raise RuntimeError("crash at row 150")
    assert store.db.execute("SELECT count(*) FROM entries").fetchone()[0] == 0


def test_poll_state_is_recorded_and_validators_kept_on_error(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "m.db")
    store.sync_feeds([FEED])
    store.record_poll(PollResult(feed="f", status="ok", http_status=200, etag='"e1"',
                                 last_modified="Wed, 07 Aug 2024 00:00:00 GMT"), NOW,
                      NOW + timedelta(hours=1))
    store.record_poll(PollResult(feed="f", status="error", error="HTTP 500", http_status=500),
                      NOW, NOW + timedelta(hours=1))
    state = store.feed_state("f")
    assert state.etag == '"e1"' and state.last_status == "error"
    assert state.consecutive_failures == 1 and state.last_error == "HTTP 500"
    assert state.next_poll_at == NOW + timedelta(hours=1)


def test_outbox_claim_lease_sent_and_retry(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "m.db")
    store.sync_feeds([FEED])
    with store.transaction():
        eid = store.add_entry(entry(), None, NOW)
        sid = store.open_story(eid, story_view(), NOW)
        assert store.add_alert(alert(story_id=sid))
        assert not store.add_alert(alert(story_id=sid))  # same key: ignored
    due = store.claim_due(NOW, NOW + timedelta(minutes=5))
    assert [d.alert for d in due] == [alert(story_id=sid)]
    # leased: not due again until the lease runs out (a crash mid-send is retried then)
    assert store.claim_due(NOW, NOW + timedelta(minutes=5)) == []
    again = store.claim_due(NOW + timedelta(minutes=6), NOW + timedelta(minutes=11))
    assert [d.alert.key for d in again] == ["k1"]
    store.mark_failed(again[0].id, "HTTP 500", NOW + timedelta(minutes=20))
    assert store.alert_counts() == {"pending": 1}
    store.mark_sent(store.claim_due(NOW + timedelta(minutes=21), NOW + timedelta(hours=1))[0].id,
                    NOW)
    assert store.alert_counts() == {"sent": 1}


def test_a_database_from_the_first_schema_is_migrated_in_place(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.store import schema as schema_module

    db = tmp_path / "old.db"
    monkeypatch.setattr("monitor.store.MIGRATIONS", schema_module.MIGRATIONS[:1])
    old = Store.open(db)
    old.db.execute("INSERT INTO feeds (name, url) VALUES (?, ?)", [FEED.name, FEED.url])
    with old.transaction():
        eid = old.add_entry(entry(), None, NOW)
        old.db.execute("INSERT INTO matches (entry_id, rule_id, title, severity, tags, entities,"
                       " terms, snippet) VALUES (?, 'r', 'R', 'high', '[]', '[]', '[]', 's')",
                       [eid])
    old.close()
    monkeypatch.setattr("monitor.store.MIGRATIONS", schema_module.MIGRATIONS)
    new = Store.open(db)
    row = new.db.execute("SELECT evidence, marks FROM matches").fetchone()
    assert row == ("[]", "[]")


def test_the_alerts_rebuild_keeps_every_row_and_the_rows_pointing_at_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """0009 rebuilds ``alerts`` (story_id becomes nullable) under foreign keys: rows, ids,
    indexes and the recipients that point at them survive; an operator notice without a story
    can then be queued."""
    from monitor.store import schema as schema_module

    db = tmp_path / "old.db"
    upto = [name for name, _ in schema_module.MIGRATIONS].index("0009_feed_health")
    monkeypatch.setattr("monitor.store.MIGRATIONS", schema_module.MIGRATIONS[:upto])
    old = Store.open(db)
    old.db.execute("INSERT INTO feeds (name, url) VALUES (?, ?)", [FEED.name, FEED.url])
    with old.transaction():
        sid = old.open_story(old.add_entry(entry(), None, NOW), story_view(), NOW)
        old.add_alert(replace(alert(), story_id=sid))
    (row_id,) = old.db.execute("SELECT id FROM alerts").fetchone()
    old.record_recipients(row_id, {"a@example.org": "accepted"}, NOW)
    old.close()
    monkeypatch.setattr("monitor.store.MIGRATIONS", schema_module.MIGRATIONS)
    new = Store.open(db)
    assert new.db.execute("SELECT id, story_id FROM alerts").fetchall() == [(row_id, sid)]
    assert [r.recipient for r in new.recipients(row_id)] == ["a@example.org"]
    assert new.db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert new.db.execute("PRAGMA foreign_keys").fetchone() == (1,)
    indexes = {r[0] for r in new.db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'alerts'")}
    assert {"alerts_due", "alerts_story"} <= indexes
    with new.transaction():
        assert new.add_alert(replace(alert(), key="nm_operator", story_id=0, kind="operator"))
    assert new.db.execute("SELECT story_id FROM alerts WHERE key = 'nm_operator'"
                          ).fetchone() == (None,)
    assert {r.story_id for r in new.list_alerts()} == {sid, 0}
    with pytest.raises(sqlite3.IntegrityError), new.transaction():
        new.add_alert(replace(alert(), key="nm_bad", story_id=999))


def test_alert_round_trip_keeps_evidence_and_marks(tmp_path: Path) -> None:
    from monitor.model import Evidence
    from monitor.store.codec import alert_from_json, alert_to_json

    ev = Evidence(kind="entity", ref="ain-al-asad", label="Ain al-Asad Air Base",
                  text="Ain Al Asad", field="body", start=10, end=21)
    a = alert()
    m = a.matches[0]
    from monitor.model import StoryArticle

    rich = Alert(**{**a.__dict__, "matches": (Match(**{**m.__dict__, "evidence": (ev,),
                                                       "marks": ((0, 7),)}),),
                    "kind": "update", "story_title": "First", "story_started": NOW,
                    "changes": "2 more outlets", "sources": ("Shafaq News",),
                    "articles": (StoryArticle("T", "https://x.org/a", "Shafaq News", NOW),
                                 StoryArticle("U", None, "Al-Fassel", None))})
    assert alert_from_json(alert_to_json(rich)) == rich


def test_recent_stories_use_the_last_seen_index(tmp_path: Path) -> None:
    from monitor.store.stories import RECENT_SQL

    store = Store.open(tmp_path / "m.db")
    plan = " ".join(r[3] for r in store.db.execute("EXPLAIN QUERY PLAN " + RECENT_SQL,
                                                   ["2024-01-01"]).fetchall())
    assert "USING INDEX stories_last_seen" in plan, plan
    store.sync_feeds([FEED])
    with store.transaction():
        for i, when in enumerate((NOW - timedelta(days=30), NOW, NOW - timedelta(days=1))):
            eid = store.add_entry(entry(f"g{i}"), None, NOW)
            store.open_story(eid, replace(story_view(f"s{i}"), last_seen=when), NOW)
    recent = store.recent_stories(NOW - timedelta(days=7))
    assert [v.title for v in recent] == ["s1", "s2"]  # by id, the old one left out


def test_the_wal_is_kept_from_growing_for_good(tmp_path: Path) -> None:
    from monitor.store import WAL_LIMIT

    store = Store.open(tmp_path / "m.db")
    assert store.db.execute("PRAGMA journal_size_limit").fetchone()[0] == WAL_LIMIT


def test_opening_an_up_to_date_database_takes_no_write_lock(tmp_path: Path) -> None:
    """A backup or a listing opens the store while the daemon writes: with every migration
    applied, opening reads only, so another connection's write transaction does not hold it up
    (it used to take the write lock once per migration, and a writer committing without pause
    could starve it past busy_timeout)."""
    path = tmp_path / "monitor.db"
    Store.open(path).close()
    with closing(sqlite3.connect(path, isolation_level=None)) as writer:
        writer.execute("PRAGMA busy_timeout = 0")
        writer.execute("BEGIN IMMEDIATE")  # the daemon, mid-transaction
        writer.execute("INSERT INTO _migrations VALUES ('a-write', datetime('now'))")
        store = Store.open(path)  # would wait busy_timeout (5 s), then fail, on the lock
        try:
            assert store.migrate() == []
            store.snapshot(tmp_path / "copy.db")
        finally:
            store.close()
        writer.execute("ROLLBACK")
    assert (tmp_path / "copy.db").stat().st_size > 0
