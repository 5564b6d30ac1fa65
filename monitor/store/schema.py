"""The schema, as an ordered list of named migrations.

Each migration runs once, in its own transaction, and is recorded in ``_migrations``; running the
list again changes nothing. A new migration is appended, never edited in place.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils

from monitor.store.feed_health import migrate_feed_health
from monitor.store.feeds import migrate_feed_body_hash, migrate_feed_full_text, migrate_feeds
from monitor.store.near import migrate_fingerprints_v2
from monitor.store.recipients import migrate_recipients
from monitor.store.retention import migrate_retention
from monitor.store.search import index_by_store, migrate_search
from monitor.store.silences import migrate_silences
from monitor.store.stories import migrate_stories

Migration = tuple[str, Callable[[sqlite_utils.Database], None]]


def _initial(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE feeds (
            name TEXT PRIMARY KEY,
            url TEXT NOT NULL,
            etag TEXT,
            last_modified TEXT,
            last_status TEXT CHECK (last_status IN ('ok', 'not_modified', 'error')),
            last_error TEXT,
            http_status INTEGER,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            last_polled_at TEXT,
            next_poll_at TEXT
        )"""
    )
    db.execute(
        """
        CREATE TABLE entries (
            id INTEGER PRIMARY KEY,
            feed TEXT NOT NULL REFERENCES feeds(name),
            guid TEXT NOT NULL,
            link TEXT,
            canonical_url TEXT,
            title TEXT NOT NULL,
            summary TEXT NOT NULL,
            published TEXT,
            first_seen_at TEXT NOT NULL,
            duplicate_of INTEGER REFERENCES entries(id),
            UNIQUE (feed, guid)
        )"""
    )
    db.execute("CREATE INDEX entries_canonical_url ON entries(canonical_url)")
    db.execute(
        """
        CREATE TABLE articles (
            entry_id INTEGER PRIMARY KEY REFERENCES entries(id),
            url TEXT,
            title TEXT NOT NULL,
            text TEXT NOT NULL,
            published TEXT,
            site TEXT,
            source TEXT NOT NULL CHECK (source IN ('page', 'summary')),
            note TEXT,
            extracted_at TEXT NOT NULL
        )"""
    )
    db.execute(
        """
        CREATE TABLE matches (
            id INTEGER PRIMARY KEY,
            entry_id INTEGER NOT NULL REFERENCES entries(id),
            rule_id TEXT NOT NULL,
            title TEXT NOT NULL,
            severity TEXT NOT NULL,
            tags TEXT NOT NULL,
            entities TEXT NOT NULL,
            terms TEXT NOT NULL,
            snippet TEXT NOT NULL,
            UNIQUE (entry_id, rule_id)
        )"""
    )
    db.execute(
        """
        CREATE TABLE stories (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            severity TEXT NOT NULL,
            first_entry_id INTEGER NOT NULL UNIQUE REFERENCES entries(id),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )"""
    )
    db.execute(
        """
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            story_id INTEGER NOT NULL REFERENCES stories(id),
            target TEXT NOT NULL,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'sending', 'sent', 'dead')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            next_attempt_at TEXT NOT NULL,
            created_at TEXT NOT NULL,
            sent_at TEXT,
            UNIQUE (story_id, target, kind)
        )"""
    )
    db.execute("CREATE INDEX alerts_due ON alerts(state, next_attempt_at)")


def _match_evidence(db: sqlite_utils.Database) -> None:
    """Matches keep their evidence (what was found, where) and the marks in their snippet."""
    db.execute("ALTER TABLE matches ADD COLUMN evidence TEXT NOT NULL DEFAULT '[]'")
    db.execute("ALTER TABLE matches ADD COLUMN marks TEXT NOT NULL DEFAULT '[]'")


def _fingerprints(db: sqlite_utils.Database) -> None:
    """Near-duplicate fingerprints of article texts (``monitor.dedup.near``) and their LSH index.

    ``signature`` holds the MinHash values as little-endian uint32s (empty for a text too short
    to have one). ``fingerprint_bands`` is the LSH index: one row per band of each signature,
    keyed (band, bucket, entry_id) in a WITHOUT ROWID table, so the primary key *is* the
    (band, bucket) index and a lookup reads only the rows of one bucket. It is derived data,
    kept by ``Store.add_fingerprint``, so it has no foreign key (deleting a fingerprint would
    otherwise scan it).
    """
    db.execute(
        """
        CREATE TABLE fingerprints (
            entry_id INTEGER PRIMARY KEY REFERENCES entries(id),
            signature BLOB NOT NULL,
            content_hash TEXT NOT NULL,
            words INTEGER NOT NULL
        )"""
    )
    db.execute("CREATE INDEX fingerprints_content_hash ON fingerprints(content_hash)")
    db.execute(
        """
        CREATE TABLE fingerprint_bands (
            band INTEGER NOT NULL,
            bucket INTEGER NOT NULL,
            entry_id INTEGER NOT NULL,
            PRIMARY KEY (band, bucket, entry_id)
        ) WITHOUT ROWID"""
    )


def _targets(db: sqlite_utils.Database) -> None:
    """Per-target delivery state: disabled (gone) targets, pauses (Retry-After, outages) and the
    time of the last send (for pacing). A target without a row is enabled and unpaced."""
    db.execute(
        """
        CREATE TABLE target_state (
            name TEXT PRIMARY KEY,
            disabled_at TEXT,
            reason TEXT,
            paused_until TEXT,
            last_sent_at TEXT
        )"""
    )


def _ingest_path(db: sqlite_utils.Database) -> None:
    """What each new entry costs the writer. ``Store.find_seen`` looks an entry up by (feed,
    guid), then by canonical URL for the first original (``duplicate_of IS NULL``) by id: this
    index holds that order, so the lookup is one index search however many entries share the
    URL (it replaces ``entries_canonical_url``, its prefix). And ``Store.add_article`` indexes
    the article for full-text search itself (``search.index_by_store``)."""
    db.execute("CREATE INDEX entries_url_original ON entries(canonical_url,"
               " duplicate_of IS NOT NULL)")
    db.execute("DROP INDEX entries_canonical_url")
    index_by_store(db)


MIGRATIONS: list[Migration] = [
    ("0001_initial", _initial),
    ("0002_match_evidence", _match_evidence),
    ("0003_fingerprints", _fingerprints),
    ("0004_stories", migrate_stories),
    ("0005_targets", _targets),
    ("0006_silences", migrate_silences),
    ("0007_recipients", migrate_recipients),
    ("0008_feeds", migrate_feeds),
    ("0009_feed_health", migrate_feed_health),
    ("0010_retention", migrate_retention),
    ("0011_search", migrate_search),
    ("0012_fingerprints_v2", migrate_fingerprints_v2),
    ("0013_ingest_path", _ingest_path),
    ("0014_feed_full_text", migrate_feed_full_text),
    ("0015_feed_body_hash", migrate_feed_body_hash),
]

# Migrations that rebuild a table other tables point at: run with foreign keys off (SQLite's
# documented procedure), and refused unless ``PRAGMA foreign_key_check`` finds nothing.
REBUILDS: frozenset[str] = frozenset({"0009_feed_health"})
