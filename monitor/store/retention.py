"""Retention: what the database forgets, and when (``[retention]``, run by
``monitor.maintenance``).

- **Article texts** (``articles.text``) older than ``article_text`` are emptied and stamped
  ``text_pruned_at``; the article's title, URL, site and times stay, and so do its matches
  (with their snippets and evidence), its story and its alerts' payloads. The full-text index
  follows (its triggers): a pruned article is found by its title only.
- **Fingerprints** (``fingerprints`` and their ``fingerprint_bands`` LSH rows) of entries first
  seen before ``fingerprints``: near-duplicate detection compares a new text with the stored
  ones, and once a story is closed (``[stories] window``) a copy of one of its texts could only
  reopen it as stale.
- **Fingerprints of entries no rule matched**, whatever their age: since 2026-11-21 only a
  matching article is fingerprinted and compared (``monitor.ingest``); databases made before
  hold one for every article (most of that table), passed over by the lookups. The pass goes
  on from the entry where the last one stopped (``_meta``), so once those are gone it reads
  only the fingerprints added since.
- **Alerts** that were ``sent`` or are ``dead`` (and their ``alert_recipients`` rows), created
  before ``alerts``. ``pending`` and ``sending`` rows are never removed.
- **Entries are kept forever**: their guid and canonical URL are the set of what was seen, and
  forgetting one would let an old report that resurfaces in a feed alert again, the failure this
  product exists to avoid. They are small (no article text). Stories, matches, feeds, silences
  and target state are kept too.

Every pass works in batches of :data:`BATCH` rows, each its own short ``BEGIN IMMEDIATE``
transaction, with a pause between them, so the daemon's writer waits at most one batch.

A mixin of :class:`monitor.store.Store` (``self.db`` is the thread's connection), and the
migration that adds what it needs: ``_meta`` (small facts about the database: when it was last
vacuumed), ``articles.text_pruned_at``, and indexes so a pass reads only what it may remove.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlite_utils

from monitor.dedup.near import Fingerprint
from monitor.errors import StoreError
from monitor.store.codec import dt_in, dt_out
from monitor.store.near import delete_fingerprints

if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from pathlib import Path

BATCH = 500  # rows per transaction
PAUSE = 0.05  # seconds between two batches: the daemon's writer gets the lock in between
# A fingerprint pass starts this far before where the last one stopped (a clock set back).
SLACK = timedelta(days=1)
LAST_VACUUM = "last_vacuum_at"
FINGERPRINTS_BEFORE = "fingerprints_pruned_before"
UNMATCHED_AFTER = "unmatched_fingerprints_pruned_after"  # the last entry id a pass read


def migrate_retention(db: sqlite_utils.Database) -> None:
    db.execute("CREATE TABLE _meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("ALTER TABLE articles ADD COLUMN text_pruned_at TEXT")
    # Only the texts not yet pruned: the index stays as small as the retention period.
    db.execute("CREATE INDEX articles_unpruned ON articles(extracted_at)"
               " WHERE text_pruned_at IS NULL")
    db.execute("CREATE INDEX entries_first_seen ON entries(first_seen_at)")


@dataclass(frozen=True)
class Pruned:
    """What one pass removed (or, in a dry run, would remove)."""

    texts: int = 0
    fingerprints: int = 0
    bands: int = 0  # fingerprint_bands rows (not counted in a dry run)
    alerts: int = 0
    recipients: int = 0


_TEXTS = "FROM articles WHERE text_pruned_at IS NULL AND extracted_at < ?"
_ALERTS = "FROM alerts WHERE state IN ('sent', 'dead') AND created_at < ?"
_FINGERPRINTS = ("FROM entries e JOIN fingerprints f ON f.entry_id = e.id"
                 " WHERE e.first_seen_at >= ? AND e.first_seen_at < ?")


class RetentionQueries:
    """Pruning, checkpoints and VACUUM for :class:`monitor.store.Store` (which provides
    ``db``, ``path`` and ``transaction``)."""

    if TYPE_CHECKING:
        path: Path

        @property
        def db(self) -> sqlite_utils.Database: ...

        def transaction(self) -> AbstractContextManager[sqlite_utils.Database]: ...

    # --- _meta ---------------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM _meta WHERE key = ?", [key]).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO _meta (key, value) VALUES (?, ?) ON CONFLICT (key)"
                       " DO UPDATE SET value = excluded.value", [key, value])

    # --- what would go -------------------------------------------------------------------------

    def count_prunable(self, texts_before: datetime, fingerprints_before: datetime,
                       alerts_before: datetime) -> Pruned:
        """What :meth:`prune_texts`, :meth:`prune_fingerprints` and :meth:`prune_alerts` would
        remove with these cutoffs (band rows are not counted: they have no entry index)."""
        db = self.db
        texts = db.execute(f"SELECT count(*) {_TEXTS}", [dt_out(texts_before)]).fetchone()[0]
        window = [self._fingerprints_from(), dt_out(fingerprints_before)]
        fps = db.execute(f"SELECT count(*) {_FINGERPRINTS}", window).fetchone()[0]
        fps += db.execute(  # those of entries no rule matched, not already counted
            "SELECT count(*) FROM fingerprints f JOIN entries e ON e.id = f.entry_id"
            " WHERE f.entry_id > ? AND NOT EXISTS (SELECT 1 FROM matches m"
            " WHERE m.entry_id = f.entry_id)"
            " AND NOT (e.first_seen_at >= ? AND e.first_seen_at < ?)",
            [int(self.meta(UNMATCHED_AFTER) or 0), *window]).fetchone()[0]
        alerts = db.execute(f"SELECT count(*) {_ALERTS}",
                            [dt_out(alerts_before)]).fetchone()[0]
        recipients = db.execute(f"SELECT count(*) FROM alert_recipients WHERE alert_id IN"  # noqa: S608
                                f" (SELECT id {_ALERTS})", [dt_out(alerts_before)]).fetchone()[0]
        return Pruned(texts=texts, fingerprints=fps, alerts=alerts, recipients=recipients)

    # --- pruning -------------------------------------------------------------------------------

    def prune_texts(self, before: datetime, now: datetime, *, batch: int = BATCH,
                    pause: float = PAUSE) -> int:
        """Empty the text of every article extracted before ``before`` and stamp it pruned at
        ``now``; return how many."""
        done = 0
        while True:
            with self.transaction() as db:
                ids = [r[0] for r in db.execute(
                    f"SELECT entry_id {_TEXTS} ORDER BY extracted_at LIMIT ?",
                    [dt_out(before), batch]).fetchall()]
                db.execute("UPDATE articles SET text = '', text_pruned_at = ? WHERE entry_id IN"
                           " (SELECT value FROM json_each(?))", [dt_out(now), json.dumps(ids)])
            done += len(ids)
            if len(ids) < batch:
                return done
            time.sleep(pause)

    def prune_fingerprints(self, before: datetime, *, batch: int = BATCH,
                           pause: float = PAUSE) -> tuple[int, int]:
        """Delete the fingerprints (and their LSH band rows) of the entries first seen before
        ``before``; return (fingerprints, band rows) deleted. The next pass starts near this
        cutoff (``_meta``), so a pass never rereads the whole history of entries."""
        start = self._fingerprints_from()
        fingerprints = band_rows = 0
        while True:
            with self.transaction() as db:
                rows = db.execute(
                    f"SELECT e.first_seen_at, f.entry_id, f.signature, f.content_hash, f.words"
                    f" {_FINGERPRINTS} ORDER BY e.first_seen_at LIMIT ?",
                    [start, dt_out(before), batch]).fetchall()
                band_rows += _delete(db, [r[1:] for r in rows])
            fingerprints += len(rows)
            if len(rows) < batch:
                break
            start = rows[-1][0]
            time.sleep(pause)
        previous = dt_in(self.meta(FINGERPRINTS_BEFORE))
        if previous is None or before > previous:
            self.set_meta(FINGERPRINTS_BEFORE, dt_out(before) or "")
        return fingerprints, band_rows

    def prune_unmatched_fingerprints(self, *, batch: int = BATCH,
                                     pause: float = PAUSE) -> tuple[int, int]:
        """Delete the fingerprints (and band rows) of entries that no rule matched (see the
        module's docstring); return (fingerprints, band rows) deleted."""
        after = int(self.meta(UNMATCHED_AFTER) or 0)
        fingerprints = band_rows = 0
        while True:
            with self.transaction() as db:
                rows = db.execute(
                    "SELECT f.entry_id, f.signature, f.content_hash, f.words, EXISTS (SELECT 1"
                    " FROM matches m WHERE m.entry_id = f.entry_id) FROM fingerprints f"
                    " WHERE f.entry_id > ? ORDER BY f.entry_id LIMIT ?", [after, batch]).fetchall()
                unmatched = [r[:4] for r in rows if not r[4]]
                band_rows += _delete(db, unmatched)
                if rows:
                    after = rows[-1][0]
                    db.execute("INSERT INTO _meta (key, value) VALUES (?, ?) ON CONFLICT (key)"
                               " DO UPDATE SET value = excluded.value",
                               [UNMATCHED_AFTER, str(after)])
            fingerprints += len(unmatched)
            if len(rows) < batch:
                return fingerprints, band_rows
            time.sleep(pause)

    def _fingerprints_from(self) -> str:
        """Where a fingerprint pass starts: a little before the last one's cutoff."""
        previous = dt_in(self.meta(FINGERPRINTS_BEFORE))
        if previous is None:
            return ""  # from the first entry
        return dt_out(previous - SLACK) or ""

    def prune_alerts(self, before: datetime, *, batch: int = BATCH,
                     pause: float = PAUSE) -> tuple[int, int]:
        """Delete the sent and dead alerts created before ``before`` and their recipient rows;
        return (alerts, recipient rows) deleted. Pending and sending alerts always stay."""
        alerts = recipients = 0
        while True:
            with self.transaction() as db:
                ids = json.dumps([r[0] for r in db.execute(
                    f"SELECT id {_ALERTS} ORDER BY id LIMIT ?",
                    [dt_out(before), batch]).fetchall()])
                recipients += db.execute("DELETE FROM alert_recipients WHERE alert_id IN"
                                         " (SELECT value FROM json_each(?))", [ids]).rowcount
                n = db.execute("DELETE FROM alerts WHERE id IN (SELECT value FROM json_each(?))",
                               [ids]).rowcount
            alerts += n
            if n < batch:
                return alerts, recipients
            time.sleep(pause)

    # --- the file ------------------------------------------------------------------------------

    def free_fraction(self) -> float:
        """The share of the file's pages that are free (what a VACUUM would give back)."""
        pages = self.db.execute("PRAGMA page_count").fetchone()[0]
        free = self.db.execute("PRAGMA freelist_count").fetchone()[0]
        return float(free) / pages if pages else 0.0

    def vacuum(self, now: datetime) -> None:
        """Rebuild the file without its free pages (``VACUUM``: it holds the write lock while
        it runs, and needs free disk space about the size of the database) and record when."""
        try:
            self.db.execute("VACUUM")
        except sqlite3.Error as e:
            raise StoreError(f"VACUUM of {self.path} failed: {e}") from e
        self.set_meta(LAST_VACUUM, dt_out(now) or "")

    def last_vacuum(self) -> datetime | None:
        return dt_in(self.meta(LAST_VACUUM))

    def checkpoint(self) -> tuple[int, int, int]:
        """``PRAGMA wal_checkpoint(TRUNCATE)``: copy the WAL into the database and empty it;
        (busy, WAL frames, frames checkpointed). ``busy`` 1: a reader kept it from finishing."""
        try:
            row = self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error as e:
            raise StoreError(f"checkpoint of {self.path} failed: {e}") from e
        return int(row[0]), int(row[1]), int(row[2])



def _delete(db: sqlite_utils.Database, rows: list[tuple[int, bytes, str, int]]) -> int:
    """``delete_fingerprints`` for rows read as (entry_id, signature, content_hash, words)."""
    return delete_fingerprints(db, [(r[0], Fingerprint.from_bytes(*r[1:])) for r in rows])
