"""Feeds: those of the config and those added at the command line (`monitor feeds add|import`),
side by side in the ``feeds`` table, and what each poll left on its row.

Every row has an ``origin``: ``config`` (made by :meth:`FeedQueries.sync_feeds` from the config
file, which stays the authority on it) or ``cli`` (made by :meth:`FeedQueries.add_feed`; the
config never touches it). A name has one origin: a config feed named like a command-line feed
is an error, never an overwrite. Removing a command-line feed keeps its entries (they point at
the row), so the row stays, marked ``removed_at``, and is neither polled nor listed; adding a
feed of that name again, from either place, takes the row over.

A mixin of :class:`monitor.store.Store` (``self.db`` is the thread's connection), and the
migration that adds its columns.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlite_utils

from monitor.errors import StoreError
from monitor.model import Alert, Feed, FeedState, FullText, PollResult
from monitor.net.urls import redact_url
from monitor.store.codec import dt_in, dt_out

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

FALLBACK_INTERVAL = 3600  # seconds, for a row without one (config.DEFAULT_INTERVAL)
REMOVE_HINT = "run `monitor feeds remove {name}`"


def migrate_feeds(db: sqlite_utils.Database) -> None:
    """Origin, tags, interval and title of a feed; when it last succeeded; its health status
    (set by the feed-health logic); ``removed_at`` for a feed removed while its entries stay
    (a command-line feed removed, a config feed gone from the config)."""
    for column in (
        "origin TEXT NOT NULL DEFAULT 'config' CHECK (origin IN ('config', 'cli'))",
        "tags TEXT NOT NULL DEFAULT '[]'",
        "interval INTEGER",
        "title TEXT",
        "added_at TEXT",
        "last_success_at TEXT",
        "status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'failing', 'gone'))",
        "status_since TEXT",
        "removed_at TEXT",
    ):
        db.execute(f"ALTER TABLE feeds ADD COLUMN {column}")
    # Two command-line feeds never share a URL (config feeds are the config's business).
    db.execute("CREATE UNIQUE INDEX feeds_cli_url ON feeds(url)"
               " WHERE origin = 'cli' AND removed_at IS NULL")


def migrate_feed_body_hash(db: sqlite_utils.Database) -> None:
    """The hash of the last feed body processed (``sources.body_hash``): a feed that answers
    the same bytes again, without validators, is not parsed again."""
    db.execute("ALTER TABLE feeds ADD COLUMN body_hash TEXT")


def migrate_feed_full_text(db: sqlite_utils.Database) -> None:
    """A feed's ``full_text`` setting: ``always`` (the default) or ``when_candidate``, stored
    for command-line feeds (the config holds its own) and shown for every feed."""
    db.execute("ALTER TABLE feeds ADD COLUMN full_text TEXT NOT NULL DEFAULT 'always'"
               " CHECK (full_text IN ('always', 'when_candidate'))")


@dataclass(frozen=True)
class FeedRow:
    """A feed as ``monitor feeds list`` shows it: its settings, its state and how many entries
    it gave."""

    name: str
    url: str
    origin: str  # config | cli
    tags: tuple[str, ...] = ()
    interval: int | None = None  # seconds
    title: str | None = None  # the feed's own title (command-line feeds, read when added)
    status: str = "active"  # active | failing | gone
    status_since: datetime | None = None
    last_status: str | None = None  # ok | not_modified | error
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_polled_at: datetime | None = None
    next_poll_at: datetime | None = None
    consecutive_failures: int = 0
    entries: int = 0
    added_at: datetime | None = None
    full_text: FullText = "always"


_ROW = ("SELECT f.name, f.url, f.origin, f.tags, f.interval, f.title, f.status, f.status_since,"
        " f.last_status, f.last_success_at, f.last_error, f.last_polled_at, f.next_poll_at,"
        " f.consecutive_failures, (SELECT count(*) FROM entries e WHERE e.feed = f.name),"
        " f.added_at, f.full_text FROM feeds f WHERE f.removed_at IS NULL")


# The poll state of a feed that starts afresh.
_FRESH = ("etag = NULL, last_modified = NULL, last_status = NULL, last_error = NULL,"
          " http_status = NULL, consecutive_failures = 0, last_polled_at = NULL,"
          " next_poll_at = NULL, last_success_at = NULL, status = 'active', status_since = NULL,"
          " moved_to = NULL, moved_from = NULL, poll_interval = NULL, body_hash = NULL")


def _feed_row(r: Sequence[Any]) -> FeedRow:
    return FeedRow(name=r[0], url=r[1], origin=r[2], tags=tuple(json.loads(r[3] or "[]")),
                   interval=r[4], title=r[5], status=r[6], status_since=dt_in(r[7]),
                   last_status=r[8], last_success_at=dt_in(r[9]), last_error=r[10],
                   last_polled_at=dt_in(r[11]), next_poll_at=dt_in(r[12]),
                   consecutive_failures=r[13], entries=r[14], added_at=dt_in(r[15]),
                   full_text=r[16])


def clash_error(name: str) -> StoreError:
    """The error for a config feed named like a command-line feed."""
    return StoreError(
        f"feed {name!r} is both in the config and added at the command line (origin cli); a "
        f"name can have only one origin: {REMOVE_HINT.format(name=name)} to drop the "
        "command-line one, or rename the one in the config")


class FeedQueries:
    """Feeds for :class:`monitor.store.Store` (which provides ``db`` and ``transaction``)."""

    if TYPE_CHECKING:
        @property
        def db(self) -> sqlite_utils.Database: ...

        def transaction(self) -> AbstractContextManager[sqlite_utils.Database]: ...

        def add_alert(self, alert: Alert, not_before: datetime | None = None) -> bool: ...

    def sync_feeds(self, feeds: Sequence[Feed]) -> None:
        """Make sure every configured feed has a row; a changed config URL resets poll state.

        A command-line feed passed back as :meth:`cli_feeds` gave it (``pipeline.all_feeds``)
        is left alone. Any other feed named like a command-line feed is a config feed that
        clashes with it: ``StoreError``, and nothing is written. A removed command-line feed's
        row is taken over by the config feed of its name."""
        with self.transaction() as db:
            cli = {f.name: f for f in self.cli_feeds()}
            counts = Counter(f.name for f in feeds)
            for feed in feeds:
                if feed.name in cli and (counts[feed.name] > 1 or feed != cli[feed.name]):
                    raise clash_error(feed.name)
            for feed in feeds:
                if feed.name in cli:
                    continue
                # A removed feed's row (kept for its entries) taken over under another URL:
                # none of its poll state applies.
                db.execute(f"UPDATE feeds SET {_FRESH} WHERE name = ?"  # noqa: S608 - constant
                           " AND removed_at IS NOT NULL AND url != ?", [feed.name, feed.url])
                db.execute(
                    "INSERT INTO feeds (name, url, origin, tags, interval, full_text) VALUES"
                    " (?, ?, 'config', ?, ?, ?) ON CONFLICT(name) DO UPDATE SET"
                    " etag = CASE WHEN feeds.url != excluded.url THEN NULL ELSE feeds.etag END,"
                    " last_modified = CASE WHEN feeds.url != excluded.url THEN NULL"
                    " ELSE feeds.last_modified END,"
                    " moved_to = CASE WHEN feeds.url != excluded.url THEN NULL"
                    " ELSE feeds.moved_to END,"
                    " moved_from = CASE WHEN feeds.url != excluded.url THEN NULL"
                    " ELSE feeds.moved_from END,"
                    " body_hash = CASE WHEN feeds.url != excluded.url THEN NULL"
                    " ELSE feeds.body_hash END, url = excluded.url, origin = 'config',"
                    " tags = excluded.tags, interval = excluded.interval,"
                    " full_text = excluded.full_text, removed_at = NULL",
                    [feed.name, feed.url, json.dumps(list(feed.tags), ensure_ascii=False),
                     feed.interval, feed.full_text])

    def feed_state(self, name: str) -> FeedState:
        """What the store remembers of feed ``name``; ``url`` is where it is polled (its
        config URL, or where a permanent redirect moved it)."""
        row = self.db.execute(
            "SELECT coalesce(moved_to, url), etag, last_modified, last_status, last_error,"
            " consecutive_failures, last_polled_at, next_poll_at, status, last_success_at,"
            " moved_from, body_hash FROM feeds WHERE name = ?", [name]).fetchone()
        if row is None:
            raise StoreError(f"feed {name!r} is not in the database")
        return FeedState(url=row[0], etag=row[1], last_modified=row[2], last_status=row[3],
                         last_error=row[4], consecutive_failures=row[5],
                         last_polled_at=dt_in(row[6]), next_poll_at=dt_in(row[7]),
                         status=row[8], last_success_at=dt_in(row[9]), moved_from=row[10],
                         body_hash=row[11])

    def record_poll(self, result: PollResult, now: datetime, next_poll_at: datetime | None, *,
                    status: str | None = None, interval: int | None = None,
                    moved_to: str | None = None, notices: Sequence[Alert] = ()) -> None:
        """Store the outcome of a poll on the feed's row, in one transaction with what it
        decided: the next poll (None: never, for a gone feed), the feed's health ``status``
        (its ``status_since`` moves only when it changes), the base ``interval`` used,
        ``moved_to`` (a permanent redirect's new URL; the old one becomes ``moved_from``) and
        the operator ``notices`` to queue. Validators are kept on an error; an answer (``ok``
        or ``not_modified``) is the feed's last success."""
        failed = result.status == "error"
        with self.transaction() as db:
            db.execute(
                "UPDATE feeds SET last_status = ?, last_error = ?, http_status = ?,"
                " consecutive_failures = CASE WHEN ? THEN consecutive_failures + 1 ELSE 0 END,"
                " etag = CASE WHEN ? THEN etag ELSE coalesce(?, etag) END,"
                " last_modified = CASE WHEN ? THEN last_modified"
                " ELSE coalesce(?, last_modified) END,"
                " last_success_at = CASE WHEN ? THEN last_success_at ELSE ? END,"
                " status_since = CASE WHEN ? IS NOT NULL AND ? != status THEN ?"
                " ELSE status_since END, status = coalesce(?, status),"
                " poll_interval = coalesce(?, poll_interval),"
                " body_hash = coalesce(?, body_hash),"
                " last_polled_at = ?, next_poll_at = ? WHERE name = ?",
                [result.status, result.error, result.http_status, failed, failed, result.etag,
                 failed, result.last_modified, failed, dt_out(now), status, status,
                 dt_out(now), status, interval, result.body_hash, dt_out(now),
                 dt_out(next_poll_at), result.feed])
            if moved_to is not None:
                db.execute("UPDATE feeds SET moved_from = coalesce(moved_to, url),"
                           " moved_to = ? WHERE name = ?", [moved_to, result.feed])
            for notice in notices:
                self.add_alert(notice)

    def add_feed(self, feed: Feed, *, title: str | None, now: datetime) -> None:
        """Add a command-line feed. ``StoreError`` if a feed of that name exists (either
        origin), or if a feed already has this URL (naming it)."""
        with self.transaction() as db:
            row = db.execute("SELECT origin, url, removed_at FROM feeds WHERE name = ?",
                             [feed.name]).fetchone()
            if row is not None and row[2] is None:
                where = "in the config" if row[0] == "config" else "added at the command line"
                raise StoreError(f"a feed named {feed.name!r} already exists ({where}, "
                                 f"{redact_url(row[1])}); choose another name")
            same = db.execute("SELECT name, origin FROM feeds WHERE url = ? AND removed_at IS"
                              " NULL", [feed.url]).fetchone()
            if same is not None:
                where = "in the config" if same[1] == "config" else "added at the command line"
                raise StoreError(f"{redact_url(feed.url)} is already feed {same[0]!r} "
                                 f"({where})")
            values = [feed.url, json.dumps(list(feed.tags), ensure_ascii=False), feed.interval,
                      title, dt_out(now), feed.full_text]
            if row is None:
                db.execute("INSERT INTO feeds (url, tags, interval, title, added_at, full_text,"
                           " name, origin) VALUES (?, ?, ?, ?, ?, ?, ?, 'cli')",
                           [*values, feed.name])
                return
            # A removed feed's row (kept for its entries): a fresh start.
            db.execute("UPDATE feeds SET url = ?, tags = ?, interval = ?, title = ?,"  # noqa: S608
                       " added_at = ?, full_text = ?, origin = 'cli', removed_at = NULL,"
                       f" {_FRESH}"
                       " WHERE name = ?", [*values, feed.name])

    def remove_feed(self, name: str, now: datetime | None = None) -> bool:
        """Stop polling command-line feed ``name``; its entries stay. False if there is no such
        feed; ``StoreError`` for a feed of the config (the config file is its authority)."""
        with self.transaction() as db:
            row = db.execute("SELECT origin FROM feeds WHERE name = ? AND removed_at IS NULL",
                             [name]).fetchone()
            if row is None:
                return False
            if row[0] == "config":
                raise StoreError(f"feed {name!r} comes from the config file: remove its "
                                 "[[feeds]] entry there instead")
            if db.execute("SELECT 1 FROM entries WHERE feed = ? LIMIT 1", [name]).fetchone():
                db.execute("UPDATE feeds SET removed_at = ? WHERE name = ?",
                           [dt_out(now or datetime.now(UTC)), name])
            else:
                db.execute("DELETE FROM feeds WHERE name = ?", [name])
        return True

    def retire_feeds(self, config_names: Collection[str], now: datetime) -> list[str]:
        """Mark removed the config feeds whose names are not in ``config_names`` (feeds that
        left the config; their entries stay), so a feed moved from the config to the command
        line can be added under its old name and URL. Returns their names."""
        keep = set(config_names)
        with self.transaction() as db:
            rows = db.execute("SELECT name FROM feeds WHERE origin = 'config' AND removed_at IS"
                              " NULL ORDER BY name").fetchall()
            gone = [r[0] for r in rows if r[0] not in keep]
            for name in gone:
                db.execute("UPDATE feeds SET removed_at = ? WHERE name = ?", [dt_out(now), name])
        return gone

    def feed_names(self) -> set[str]:
        """Every name a feed row holds, removed feeds' included (a new feed given one of these
        would take over its row and its entries)."""
        return {r[0] for r in self.db.execute("SELECT name FROM feeds").fetchall()}

    def cli_feeds(self) -> list[Feed]:
        """The command-line feeds, by name."""
        rows = self.db.execute("SELECT name, url, interval, tags, full_text FROM feeds"
                               " WHERE origin = 'cli' AND removed_at IS NULL ORDER BY name"
                               ).fetchall()
        return [Feed(name=r[0], url=r[1], interval=r[2] or FALLBACK_INTERVAL,
                     tags=tuple(json.loads(r[3] or "[]")), full_text=r[4]) for r in rows]

    def feed_rows(self) -> list[FeedRow]:
        """Every feed of the database (config and command line, not removed), by name, with its
        state and how many entries it gave. Config feeds appear once a check or the daemon has
        seen them, and stay after leaving the config (``monitor feeds list`` shows the
        current config's)."""
        rows = self.db.execute(f"{_ROW} ORDER BY f.name").fetchall()
        return [_feed_row(r) for r in rows]
