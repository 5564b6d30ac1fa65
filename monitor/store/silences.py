"""Silences: `monitor silence add|list|expire`, and the alerts they held.

A silence is active from its creation until its end; expiring one early moves its end to now.
While active it holds (does not queue) an alert whose target is one of its targets (if it
names any), AND whose matches include one of its rules (if any) AND one of its tags (if any;
rule tags or feed tags). A critical alert is held only when the silence names its rule
explicitly: the rule of one of its critical matches (or, when the story's severity came from
earlier articles, any of its matched rules). Each held alert is recorded in ``silenced``.

A mixin of :class:`monitor.store.Store` (``self.db`` is the thread's connection), and the
migration that creates its tables.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlite_utils

from monitor.model import Match, Severity
from monitor.store.codec import dt_in, dt_out

if TYPE_CHECKING:
    from contextlib import AbstractContextManager


def migrate_silences(db: sqlite_utils.Database) -> None:
    """Silences and the alerts they held (``silenced``: one row per held alert)."""
    db.execute(
        """
        CREATE TABLE silences (
            id INTEGER PRIMARY KEY,
            rules TEXT NOT NULL,
            targets TEXT NOT NULL,
            tags TEXT NOT NULL,
            reason TEXT NOT NULL,
            created_at TEXT NOT NULL,
            ends_at TEXT NOT NULL,
            expired_at TEXT
        )"""
    )
    db.execute(
        """
        CREATE TABLE silenced (
            id INTEGER PRIMARY KEY,
            silence_id INTEGER NOT NULL REFERENCES silences(id),
            story_id INTEGER NOT NULL REFERENCES stories(id),
            target TEXT NOT NULL,
            kind TEXT NOT NULL,
            at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX silenced_silence ON silenced(silence_id)")


@dataclass(frozen=True)
class Silence:
    """A silence; ``held``: how many alerts it held (as listed)."""

    id: int
    rules: tuple[str, ...]
    targets: tuple[str, ...]
    tags: tuple[str, ...]
    reason: str
    created_at: datetime
    ends_at: datetime
    expired_at: datetime | None = None
    held: int = 0

    def active(self, now: datetime) -> bool:
        return self.created_at <= now < self.ends_at

    def holds(self, target: str, matches: Sequence[Match], feed_tags: Sequence[str],
              severity: Severity) -> bool:
        """Whether this silence holds the alert to ``target`` of an article with ``matches``
        (of a story of ``severity``); its activity is the caller's to check."""
        if self.targets and target not in self.targets:
            return False
        rules = {m.rule_id for m in matches}
        if self.rules and not rules & set(self.rules):
            return False
        tags = {t for m in matches for t in m.tags} | set(feed_tags)
        if self.tags and not tags & set(self.tags):
            return False
        if severity == "critical":
            critical = {m.rule_id for m in matches if m.severity == "critical"} or rules
            return bool(critical & set(self.rules))
        return True


_COLUMNS = ("SELECT s.id, s.rules, s.targets, s.tags, s.reason, s.created_at, s.ends_at,"
            " s.expired_at, (SELECT count(*) FROM silenced x WHERE x.silence_id = s.id)"
            " FROM silences s")


def _row(r: Sequence[Any]) -> Silence:
    return Silence(id=r[0], rules=tuple(json.loads(r[1])), targets=tuple(json.loads(r[2])),
                   tags=tuple(json.loads(r[3])), reason=r[4],
                   created_at=dt_in(r[5]) or datetime.min, ends_at=dt_in(r[6]) or datetime.min,
                   expired_at=dt_in(r[7]), held=r[8])


class SilenceQueries:
    """Silences for :class:`monitor.store.Store` (which provides ``db`` and ``transaction``)."""

    if TYPE_CHECKING:
        @property
        def db(self) -> sqlite_utils.Database: ...

        def transaction(self) -> AbstractContextManager[sqlite_utils.Database]: ...

    def add_silence(self, *, rules: Sequence[str], targets: Sequence[str], tags: Sequence[str],
                    reason: str, now: datetime, ends_at: datetime) -> Silence:
        """Create a silence active from ``now`` until ``ends_at``."""
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO silences (rules, targets, tags, reason, created_at, ends_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [json.dumps(list(rules)), json.dumps(list(targets)), json.dumps(list(tags)),
                 reason, dt_out(now), dt_out(ends_at)])
            assert cur.lastrowid is not None
            silence_id = cur.lastrowid
        found = self.get_silence(silence_id)
        assert found is not None
        return found

    def get_silence(self, silence_id: int) -> Silence | None:
        row = self.db.execute(f"{_COLUMNS} WHERE s.id = ?", [silence_id]).fetchone()
        return _row(row) if row else None

    def active_silences(self, now: datetime) -> list[Silence]:
        """The silences active at ``now``, oldest first."""
        rows = self.db.execute(f"{_COLUMNS} WHERE s.created_at <= ? AND s.ends_at > ?"
                               " ORDER BY s.id", [dt_out(now), dt_out(now)]).fetchall()
        return [_row(r) for r in rows]

    def list_silences(self, now: datetime, *, include_ended: bool = False) -> list[Silence]:
        """The active silences at ``now`` (with ``include_ended``, all), newest first."""
        if include_ended:
            rows = self.db.execute(f"{_COLUMNS} ORDER BY s.id DESC").fetchall()
            return [_row(r) for r in rows]
        return self.active_silences(now)[::-1]

    def expire_silence(self, silence_id: int, now: datetime) -> Silence | None:
        """End a silence at ``now`` (if it ends later); return it as it was, None if unknown."""
        with self.transaction() as db:
            before = self.get_silence(silence_id)
            if before is not None and before.ends_at > now:
                db.execute("UPDATE silences SET ends_at = ?, expired_at = ? WHERE id = ?",
                           [dt_out(now), dt_out(now), silence_id])
        return before

    def record_silenced(self, silence_id: int, story_id: int, target: str, kind: str,
                        now: datetime) -> None:
        """Record an alert held by a silence (inside the caller's transaction)."""
        self.db.execute("INSERT INTO silenced (silence_id, story_id, target, kind, at)"
                        " VALUES (?, ?, ?, ?, ?)",
                        [silence_id, story_id, target, kind, dt_out(now)])

    def note_silenced(self, story_id: int, feed: str, guid: str, note: str) -> None:
        """Append ``note`` to the attachment reason of entry (feed, guid) in its story (inside
        the caller's transaction); nothing if it was not attached."""
        self.db.execute("UPDATE story_entries SET reason = reason || ? WHERE story_id = ?"
                        " AND entry_id = (SELECT id FROM entries WHERE feed = ? AND guid = ?)",
                        [note, story_id, feed, guid])
