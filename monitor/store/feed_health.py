"""Migration 0009: what the feed scheduler keeps (``monitor.sources.timing``), and operator
notices that belong to no story.

- ``feeds.moved_to``: the URL a permanent redirect (301/308) moved the feed to; polls use it
  instead of ``url`` (the config's) until the config's URL changes. ``moved_from``: the URL it
  was moved away from, so a redirect back to it is refused (no A→B→A flapping).
- ``feeds.poll_interval``: the base interval of the last successful plan (adaptive mode keeps
  it across 304s).
- ``alerts.story_id`` becomes nullable: an operator notice about a feed (failing, recovered,
  gone) has no story. The table is rebuilt (SQLite cannot drop NOT NULL in place); foreign keys
  pointing at it are checked at commit (``defer_foreign_keys``), when every row is back.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlite_utils

from monitor.store.codec import dt_out

if TYPE_CHECKING:
    from contextlib import AbstractContextManager


def migrate_feed_health(db: sqlite_utils.Database) -> None:
    db.execute("ALTER TABLE feeds ADD COLUMN moved_to TEXT")
    db.execute("ALTER TABLE feeds ADD COLUMN moved_from TEXT")
    db.execute("ALTER TABLE feeds ADD COLUMN poll_interval INTEGER")
    db.execute("PRAGMA defer_foreign_keys = ON")
    db.execute(
        """
        CREATE TABLE alerts_new (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            story_id INTEGER REFERENCES stories(id),
            target TEXT NOT NULL,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'sending', 'sent', 'dead')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            next_attempt_at TEXT NOT NULL,
            created_at TEXT NOT NULL,
            sent_at TEXT
        )"""
    )
    db.execute("INSERT INTO alerts_new SELECT id, key, story_id, target, kind, payload, state,"
               " attempts, last_error, next_attempt_at, created_at, sent_at FROM alerts")
    db.execute("DROP TABLE alerts")
    db.execute("ALTER TABLE alerts_new RENAME TO alerts")
    db.execute("CREATE INDEX alerts_due ON alerts(state, next_attempt_at)")
    db.execute("CREATE INDEX alerts_story ON alerts(story_id, target)")


class FeedHealth:
    """The scheduler's queries for :class:`monitor.store.Store` (which provides ``db`` and
    ``transaction``)."""

    if TYPE_CHECKING:
        @property
        def db(self) -> sqlite_utils.Database: ...

        def transaction(self) -> AbstractContextManager[sqlite_utils.Database]: ...

    def due_feeds(self, now: datetime) -> list[tuple[str, str]]:
        """``(name, url to poll)`` of every feed due at ``now`` (never polled, or its next poll
        has come), earliest first; gone and removed feeds are not."""
        return [(r[0], r[1]) for r in self.db.execute(
            "SELECT name, coalesce(moved_to, url) FROM feeds WHERE status != 'gone'"
            " AND removed_at IS NULL AND (next_poll_at IS NULL OR next_poll_at <= ?)"
            " ORDER BY next_poll_at IS NOT NULL, next_poll_at, name", [dt_out(now)]).fetchall()]

    def feed_is_new(self, name: str) -> bool:
        """True until the feed has given an entry: its next poll is its first (a backlog)."""
        return self.db.execute("SELECT 1 FROM entries WHERE feed = ? LIMIT 1",
                               [name]).fetchone() is None

    def retry_feed(self, name: str, now: datetime) -> str | None:
        """Make a feed due now, whatever its health (an operator's retry of a gone or failing
        feed); its failure count is kept, so a feed still failing stays failing. Returns its
        status before, or None when there is no such feed."""
        with self.transaction() as db:
            row = db.execute("SELECT status FROM feeds WHERE name = ? AND removed_at IS NULL",
                             [name]).fetchone()
            if row is None:
                return None
            db.execute("UPDATE feeds SET next_poll_at = ?, status = CASE WHEN status = 'gone'"
                       " THEN 'active' ELSE status END WHERE name = ?", [dt_out(now), name])
        return str(row[0])
