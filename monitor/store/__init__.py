"""The store: SQLite through sqlite-utils, the one place SQL lives.

WAL mode, ``synchronous=FULL`` (the outbox marks must survive a power cut: the write volume is a
few rows per story, so the fsync cost is small), a 5 s busy timeout, foreign keys on, a
connection per thread, and ``BEGIN IMMEDIATE`` for every read-then-write transaction. Methods
take and return model objects, never dict rows.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import sqlite_utils

from monitor.errors import StoreError
from monitor.model import Alert, Article, Entry, Match
from monitor.store.alerts import AlertQueries
from monitor.store.codec import alert_from_json, alert_to_json, dt_in, dt_out, evidence_to_dict
from monitor.store.feed_health import FeedHealth
from monitor.store.feeds import FeedQueries
from monitor.store.near import NearIndex
from monitor.store.recipients import RecipientQueries
from monitor.store.retention import RetentionQueries
from monitor.store.schema import MIGRATIONS, REBUILDS
from monitor.store.search import SearchQueries
from monitor.store.silences import SilenceQueries
from monitor.store.stories import StoryQueries

__all__ = ["DueAlert", "Seen", "Store"]
WRITER_WAIT = 60.0  # seconds a thread waits for this process's write lock
WAL_LIMIT = 64 * 1024 * 1024  # bytes
# ``find_seen``: two index searches, never a scan (an OR of both would read every row of the URL)
_SEEN_GUID = ("SELECT id, ? IS NOT NULL AND duplicate_of IS NULL AND (title != ? OR summary != ?)"
              " FROM entries WHERE feed = ? AND guid = ?")
_SEEN_URL = ("SELECT id FROM entries WHERE canonical_url = ?"  # index entries_url_original
             " ORDER BY duplicate_of IS NOT NULL, id LIMIT 1")


@dataclass(frozen=True)
class Seen:
    """An entry already stored: by this feed's guid (``same_guid``), or by canonical URL."""

    id: int
    same_guid: bool
    edited: bool = False  # same guid, but the feed now gives another title or summary


@dataclass(frozen=True)
class DueAlert:
    """An outbox row ready for an attempt."""

    id: int
    alert: Alert
    attempts: int
    leased_until: datetime | None = None  # the lease ``claim_due`` gave it


class Store(NearIndex, StoryQueries, AlertQueries, SilenceQueries, RecipientQueries, FeedHealth,
            FeedQueries, RetentionQueries, SearchQueries):
    """Open with ``Store.open(path)``; safe to share across threads (a connection per thread).

    Near-duplicate fingerprints (``add_fingerprint``, ``near_candidates``, ``find_near``) are
    in ``monitor.store.near``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        # One writer at a time in this process: threads queue here instead of in SQLite's busy
        # handler, whose sleeping retries starve some writers past busy_timeout when many
        # threads commit at once. Other processes still meet busy_timeout.
        self._writer = threading.Lock()
        # ``add_article`` indexes the article itself once ``0013_ingest_path`` is known to be
        # applied (``migrate``); before, the insert trigger does, whatever the schema.
        self._indexes_articles = False

    @classmethod
    def open(cls, path: str | Path) -> Store:
        """Open (creating if needed), check and migrate the database at ``path``."""
        store = cls(Path(path))
        store._check()
        store.migrate()
        return store

    @property
    def db(self) -> sqlite_utils.Database:
        db: sqlite_utils.Database | None = getattr(self._local, "db", None)
        if db is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None,
                                       check_same_thread=True)
                conn.execute("PRAGMA busy_timeout = 5000")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = FULL")
                # After a checkpoint, a WAL grown past this by a burst is truncated back.
                conn.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT}")
                conn.execute("PRAGMA foreign_keys = ON")
            except (sqlite3.Error, OSError) as e:
                raise StoreError(f"cannot open database {self.path}: {e}") from e
            db = sqlite_utils.Database(conn)
            self._local.db = db
        return db

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """One ``BEGIN IMMEDIATE`` … ``COMMIT``; rolled back whole on any exception. An
        operational failure inside (``SQLITE_FULL``, ``SQLITE_READONLY``, an I/O error) becomes
        a ``StoreError``; a constraint violation stays an ``sqlite3.IntegrityError``."""
        db = self.db
        if not self._writer.acquire(timeout=WRITER_WAIT):
            raise StoreError(f"cannot start a transaction on {self.path}: another thread has "
                             f"held the write lock for {WRITER_WAIT:g} s")
        try:
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as e:
                raise StoreError(f"cannot start a transaction on {self.path}: {e}") from e
            try:
                yield db
            except sqlite3.OperationalError as e:  # disk full, read-only, I/O error, locked
                db.rollback()
                raise StoreError(f"cannot write to {self.path}: {e}") from e
            except BaseException:
                db.rollback()
                raise
            try:
                db.execute("COMMIT")
            except sqlite3.Error as e:
                db.rollback()
                raise StoreError(f"cannot commit to {self.path}: {e}") from e
        finally:
            self._writer.release()

    def _check(self) -> None:
        """Refuse a corrupt file, or one that holds another program's tables, before writing a
        byte to it (read-only connection; WAL mode is switched on only afterwards)."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        try:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                ok = conn.execute("PRAGMA quick_check").fetchone()[0]
                tables = {r[0] for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'")}
            finally:
                conn.close()
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path} is not a usable SQLite database: {e}") from e
        if ok != "ok":
            raise StoreError(f"{self.path} failed its integrity check: {ok}")
        if tables and "_migrations" not in tables:
            raise StoreError(f"{self.path} holds tables that are not news-monitor's; refusing "
                             "to touch it")

    def migrate(self) -> list[str]:
        """Apply the migrations not yet applied; return their names. The applied ones are read
        first, without the write lock: opening an up-to-date database (a backup, a listing,
        while the daemon writes) takes no write transaction, so a busy writer cannot starve it.
        Each pending one is checked again inside its transaction (another process may have
        applied it meanwhile)."""
        if not self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                               "AND name = '_migrations'").fetchone():
            self.db.execute("CREATE TABLE IF NOT EXISTS _migrations "
                            "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        done = {row[0] for row in self.db.execute("SELECT name FROM _migrations")}
        applied: list[str] = []
        for name, step in MIGRATIONS:
            if name in done:
                continue
            rebuild = name in REBUILDS
            if rebuild:  # SQLite's table-rebuild procedure: foreign keys off, checked at the end
                self.db.execute("PRAGMA foreign_keys = OFF")
            try:
                with self.transaction() as db:
                    if db.execute("SELECT 1 FROM _migrations WHERE name = ?",
                                  [name]).fetchone():
                        continue
                    try:
                        step(db)
                        if rebuild and db.execute("PRAGMA foreign_key_check").fetchone():
                            raise StoreError(f"migration {name} would break a foreign key")
                    except sqlite3.Error as e:
                        raise StoreError(f"migration {name} failed: {e}") from e
                    db.execute("INSERT INTO _migrations VALUES (?, datetime('now'))", [name])
                    applied.append(name)
            finally:
                if rebuild:
                    self.db.execute("PRAGMA foreign_keys = ON")
        self._indexes_articles = self.db.execute(
            "SELECT 1 FROM _migrations WHERE name = '0013_ingest_path'").fetchone() is not None
        return applied

    def snapshot(self, dest: Path) -> None:
        """A consistent copy of the database at ``dest`` (``VACUUM INTO``)."""
        self.db.execute("VACUUM INTO ?", [str(dest)])

    # --- entries, articles, matches, stories -------------------------------------------------

    def find_seen(self, feed: str, guid: str, canonical_url: str | None,
                  entry: Entry | None = None) -> Seen | None:
        """The entry already stored with this guid in this feed, or else the first one with
        this canonical URL in any feed; None when the entry is new. Given ``entry``, ``edited``
        says whether the stored one (same guid) has another title or summary (never for a copy
        recorded as a duplicate of another feed's entry: the original decides)."""
        title, summary = (entry.title, entry.summary) if entry else (None, None)
        conn = self.db.conn
        row = conn.execute(_SEEN_GUID, [title, title, summary, feed, guid]).fetchone()
        if row is not None:
            return Seen(id=int(row[0]), same_guid=True, edited=bool(row[1]))
        if canonical_url is None:
            return None
        row = conn.execute(_SEEN_URL, [canonical_url]).fetchone()
        return Seen(id=int(row[0]), same_guid=False) if row is not None else None

    def revise_entry(self, entry_id: int, entry: Entry, article: Article,
                     matches: Sequence[Match], now: datetime) -> None:
        """Replace an edited entry's text, article and matches (inside the caller's
        transaction)."""
        self.db.execute("UPDATE entries SET title = ?, summary = ?, link = ?, published = ?"
                        " WHERE id = ?", [entry.title, entry.summary, entry.link,
                                          dt_out(entry.published), entry_id])
        self.db.execute("DELETE FROM articles WHERE entry_id = ?", [entry_id])
        self.add_article(entry_id, article, now)
        self.db.execute("DELETE FROM matches WHERE entry_id = ?", [entry_id])
        self.add_matches(entry_id, matches)

    def add_entry(self, entry: Entry, canonical_url: str | None, now: datetime,
                  duplicate_of: int | None = None) -> int:
        """Insert an entry (inside the caller's transaction); return its id."""
        cur = self.db.execute(
            "INSERT INTO entries (feed, guid, link, canonical_url, title, summary, published,"
            " first_seen_at, duplicate_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [entry.feed, entry.guid, entry.link, canonical_url, entry.title, entry.summary,
             dt_out(entry.published), dt_out(now), duplicate_of])
        assert cur.lastrowid is not None
        return cur.lastrowid

    def add_matches(self, entry_id: int, matches: Sequence[Match]) -> None:
        for m in matches:
            self.db.execute(
                "INSERT INTO matches (entry_id, rule_id, title, severity, tags, entities, terms,"
                " snippet, evidence, marks) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [entry_id, m.rule_id, m.title, m.severity, json.dumps(m.tags),
                 json.dumps(m.entities, ensure_ascii=False), json.dumps(m.terms),
                 m.snippet, json.dumps([evidence_to_dict(e) for e in m.evidence],
                                       ensure_ascii=False),
                 json.dumps(m.marks)])

    def has_matches(self, entry_id: int) -> bool:
        """True when a rule matched the entry (it has rows in ``matches``)."""
        return self.db.execute("SELECT 1 FROM matches WHERE entry_id = ? LIMIT 1",
                               [entry_id]).fetchone() is not None

    # --- the outbox --------------------------------------------------------------------------

    def add_alert(self, alert: Alert, not_before: datetime | None = None) -> bool:
        """Queue an alert (inside the caller's transaction), due at ``not_before`` (default: at
        once); False if its key already exists. ``story_id`` 0 (an operator notice about a
        feed) is stored as no story."""
        cur = self.db.execute(
            "INSERT INTO alerts (key, story_id, target, kind, payload, next_attempt_at,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [alert.key, alert.story_id or None, alert.target, alert.kind, alert_to_json(alert),
             dt_out(not_before or alert.created_at), dt_out(alert.created_at)])
        return cur.rowcount == 1

    def claim_due(self, now: datetime, lease_until: datetime, limit: int = 100) -> list[DueAlert]:
        """Take up to ``limit`` alerts due at ``now`` (pending, or ``sending`` whose lease ran
        out after a crash) and lease them until ``lease_until`` so no one else sends them.
        Alerts to a disabled target, or to one paused past ``now``, are left alone. Each
        alert's ``delivered_to`` is filled from ``alert_recipients`` (who accepted it)."""
        with self.transaction() as db:
            rows = db.execute(
                "SELECT id, payload, attempts FROM alerts WHERE state IN ('pending', 'sending')"
                " AND next_attempt_at <= ? AND target NOT IN (SELECT name FROM target_state"
                " WHERE disabled_at IS NOT NULL OR paused_until > ?) ORDER BY id LIMIT ?",
                [dt_out(now), dt_out(now), limit]).fetchall()
            for row in rows:
                db.execute("UPDATE alerts SET state = 'sending', next_attempt_at = ? WHERE id = ?",
                           [dt_out(lease_until), row[0]])
            delivered = self.accepted_by(r[0] for r in rows)
        return [DueAlert(id=r[0], alert=replace(alert_from_json(r[1]),
                                                delivered_to=delivered.get(r[0], ())),
                         attempts=r[2], leased_until=lease_until) for r in rows]

    def renew_lease(self, due: DueAlert, until: datetime) -> bool:
        """Extend the lease of an alert claimed by this process to ``until``, just before
        sending it; False when it is not this process' any more: its lease ran out (a long
        drain) and another process claimed it, and sends it, or it was settled meanwhile."""
        if due.leased_until is None:
            return True
        with self.transaction() as db:
            cur = db.execute("UPDATE alerts SET next_attempt_at = ? WHERE id = ?"
                             " AND state = 'sending' AND next_attempt_at = ?",
                             [dt_out(until), due.id, dt_out(due.leased_until)])
        return cur.rowcount == 1

    def mark_sent(self, alert_id: int, now: datetime) -> None:
        """Record a send, and the time of the target's last send (for pacing)."""
        with self.transaction() as db:
            db.execute("UPDATE alerts SET state = 'sent', sent_at = ?, attempts = attempts + 1,"
                       " last_error = NULL WHERE id = ?", [dt_out(now), alert_id])
            db.execute("INSERT INTO target_state (name, last_sent_at) SELECT target, ? FROM"
                       " alerts WHERE id = ? ON CONFLICT(name) DO UPDATE SET"
                       " last_sent_at = excluded.last_sent_at",
                       [dt_out(now, "microseconds"), alert_id])

    def mark_failed(self, alert_id: int, error: str, retry_at: datetime | None,
                    operator_alerts: Sequence[Alert] = ()) -> None:
        """Record a failed attempt: back to ``pending`` until ``retry_at``, or ``dead``; queue
        ``operator_alerts`` (about a dead one) in the same transaction."""
        with self.transaction() as db:
            db.execute(
                "UPDATE alerts SET state = ?, attempts = attempts + 1, last_error = ?,"
                " next_attempt_at = coalesce(?, next_attempt_at) WHERE id = ?",
                ["pending" if retry_at else "dead", error, dt_out(retry_at), alert_id])
            for alert in operator_alerts:
                self.add_alert(alert)

    def release(self, alert_id: int, at: datetime, error: str | None = None) -> None:
        """Give a leased alert back, not attempted (no attempt counted): pending, due at
        ``at`` (a paced slot, the end of its target's pause). ``error`` replaces its last one."""
        with self.transaction() as db:
            db.execute("UPDATE alerts SET state = 'pending', next_attempt_at = ?,"
                       " last_error = coalesce(?, last_error) WHERE id = ?",
                       [dt_out(at), error, alert_id])

    def expire_pending(self, created_before: datetime, error: str,
                       operator_alerts: Callable[[Alert], Sequence[Alert]],
                       skip: Collection[str] = ()) -> list[Alert]:
        """Mark dead every undelivered alert created before ``created_before`` (except those
        to a disabled target, which wait for the operator, and those to the targets in
        ``skip``), queueing ``operator_alerts(alert)`` for each in the same transaction; return
        the alerts that died."""
        with self.transaction() as db:
            rows = [r for r in db.execute(
                "SELECT id, payload, target FROM alerts WHERE state IN ('pending', 'sending')"
                " AND created_at < ? AND target NOT IN (SELECT name FROM target_state"
                " WHERE disabled_at IS NOT NULL) ORDER BY id", [dt_out(created_before)]).fetchall()
                if r[2] not in skip]
            dead = []
            for row in rows:
                db.execute("UPDATE alerts SET state = 'dead', last_error = ? WHERE id = ?",
                           [error, row[0]])
                alert = alert_from_json(row[1])
                for extra in operator_alerts(alert):
                    self.add_alert(extra)
                dead.append(alert)
        return dead

    # --- target state ------------------------------------------------------------------------

    def pause_target(self, name: str, until: datetime) -> None:
        """Send nothing to ``name`` before ``until`` (a Retry-After, an outage's backoff)."""
        with self.transaction() as db:
            db.execute("INSERT INTO target_state (name, paused_until) VALUES (?, ?)"
                       " ON CONFLICT(name) DO UPDATE SET paused_until = excluded.paused_until",
                       [name, dt_out(until)])

    def disable_target(self, name: str, reason: str, now: datetime,
                       notices: Sequence[Alert] = ()) -> None:
        """Stop sending to ``name`` (it is gone); its alerts stay pending until re-enabled.
        ``notices`` (operator alerts saying so, to the other targets) are queued with it."""
        with self.transaction() as db:
            db.execute("INSERT INTO target_state (name, disabled_at, reason) VALUES (?, ?, ?)"
                       " ON CONFLICT(name) DO UPDATE SET disabled_at = excluded.disabled_at,"
                       " reason = excluded.reason", [name, dt_out(now), reason])
            for notice in notices:
                self.add_alert(notice)

    def enable_target(self, name: str) -> bool:
        """Re-enable a disabled target (and lift any pause); False if it was not disabled."""
        with self.transaction() as db:
            cur = db.execute("UPDATE target_state SET disabled_at = NULL, reason = NULL,"
                             " paused_until = NULL WHERE name = ? AND disabled_at IS NOT NULL",
                             [name])
        return cur.rowcount == 1

    def disabled_targets(self) -> dict[str, str]:
        """Disabled target name → the reason it was disabled."""
        rows = self.db.execute("SELECT name, reason FROM target_state"
                               " WHERE disabled_at IS NOT NULL ORDER BY name").fetchall()
        return {name: reason or "" for name, reason in rows}

    def last_sent(self, name: str) -> datetime | None:
        """When an alert was last sent to ``name`` (None: never, or before 0005_targets)."""
        row = self.db.execute("SELECT last_sent_at FROM target_state WHERE name = ?",
                              [name]).fetchone()
        return dt_in(row[0]) if row else None

    def pending_count(self, target: str) -> int:
        row = self.db.execute("SELECT count(*) FROM alerts WHERE target = ?"
                              " AND state IN ('pending', 'sending')", [target]).fetchone()
        return int(row[0])

    def alert_counts(self) -> dict[str, int]:
        """Outbox rows by state."""
        rows = self.db.execute("SELECT state, count(*) FROM alerts GROUP BY state").fetchall()
        return {state: n for state, n in rows}
