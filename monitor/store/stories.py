"""Stories in the store: their state for the story decision, their articles, their alerts.

A mixin of :class:`monitor.store.Store` (``self.db`` is the thread's connection). Write methods
run inside the caller's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlite_utils

from monitor.model import Alert, Severity, StoryArticle, StoryView
from monitor.store.codec import alert_from_json, alert_to_json, dt_in, dt_out

StoryDecisionKind = str  # new | update | escalation | duplicate | stale
RECENT_SQL = "SELECT id, view FROM stories WHERE last_seen >= ? AND view IS NOT NULL"


def migrate_stories(db: sqlite_utils.Database) -> None:
    """Stories keep their decision state; articles are attached with why; alerts may be many
    per story and target (updates), so the (story, target, kind) constraint goes."""
    db.execute("ALTER TABLE stories ADD COLUMN view TEXT")
    db.execute("ALTER TABLE stories ADD COLUMN last_seen TEXT")
    db.execute("ALTER TABLE stories ADD COLUMN alerted_severity TEXT")
    db.execute("CREATE INDEX stories_last_seen ON stories(last_seen)")
    db.execute(
        """
        CREATE TABLE story_entries (
            entry_id INTEGER PRIMARY KEY REFERENCES entries(id),
            story_id INTEGER NOT NULL REFERENCES stories(id),
            decision TEXT NOT NULL
                CHECK (decision IN ('new', 'update', 'escalation', 'duplicate', 'stale')),
            reason TEXT NOT NULL,
            joined_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX story_entries_story ON story_entries(story_id)")
    db.execute(
        """
        CREATE TABLE alerts_new (
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
            sent_at TEXT
        )"""
    )
    db.execute("INSERT INTO alerts_new SELECT id, key, story_id, target, kind, payload, state,"
               " attempts, last_error, next_attempt_at, created_at, sent_at FROM alerts")
    db.execute("DROP TABLE alerts")
    db.execute("ALTER TABLE alerts_new RENAME TO alerts")
    db.execute("CREATE INDEX alerts_due ON alerts(state, next_attempt_at)")
    db.execute("CREATE INDEX alerts_story ON alerts(story_id, target)")


def _view_out(v: StoryView) -> str:
    return json.dumps({
        "title": v.title, "severity": v.severity, "first_seen": dt_out(v.first_seen),
        "last_seen": dt_out(v.last_seen),
        "event_date": v.event_date.isoformat() if v.event_date else None,
        "entities": sorted(v.entities), "sites": sorted(v.sites), "groups": sorted(v.groups),
        "rules": sorted(v.rules), "outlets": sorted(v.outlets), "text_sample": v.text_sample,
        "kinds": sorted(v.kinds),
    }, ensure_ascii=False)


_DECODED: dict[int, tuple[str, StoryView]] = {}  # story id → its view's text and the view
DECODED_MAX = 4096  # views kept decoded, ~2 KB each: more stories in the window decode anew


def _view_in(story_id: int, text: str) -> StoryView:
    """The view stored as ``text``; the same text of the same story is decoded once (the story
    decision reads every story of its window for every matched article)."""
    known = _DECODED.get(story_id)
    if known is not None and known[0] == text:
        return known[1]
    view = _decode(story_id, text)
    if len(_DECODED) >= DECODED_MAX:
        _DECODED.clear()
    _DECODED[story_id] = (text, view)
    return view


def _decode(story_id: int, text: str) -> StoryView:
    d: dict[str, Any] = json.loads(text)
    first, last = dt_in(d["first_seen"]), dt_in(d["last_seen"])
    assert first is not None and last is not None
    return StoryView(
        id=story_id, title=d["title"], severity=d["severity"], first_seen=first, last_seen=last,
        event_date=date.fromisoformat(d["event_date"]) if d["event_date"] else None,
        entities=frozenset(d["entities"]), sites=frozenset(d["sites"]),
        groups=frozenset(d["groups"]), rules=frozenset(d["rules"]),
        outlets=frozenset(d["outlets"]), text_sample=d["text_sample"],
        kinds=frozenset(d.get("kinds", ())))  # absent from views stored before 2026-11-22


@dataclass(frozen=True)
class StoryRow:
    """A story as `monitor stories` lists it."""

    id: int
    title: str
    severity: Severity
    created_at: datetime
    updated_at: datetime
    articles: int
    outlets: tuple[str, ...]
    event_date: date | None


@dataclass(frozen=True)
class StoryEntryRow:
    """An article of a story, with the decision that put it there."""

    entry_id: int
    title: str
    url: str | None
    outlet: str
    published: datetime | None
    decision: StoryDecisionKind
    reason: str
    joined_at: datetime


class StoryQueries:
    """Story queries of :class:`monitor.store.Store` (which provides ``db``)."""

    if TYPE_CHECKING:
        @property
        def db(self) -> sqlite_utils.Database: ...

    def recent_stories(self, since: datetime) -> list[StoryView]:
        """Stories whose latest article is at or after ``since`` (an indexed range)."""
        # No ORDER BY: sorting by id would make SQLite scan the table instead of the index.
        rows = self.db.execute(RECENT_SQL, [dt_out(since)]).fetchall()
        return [_view_in(r[0], r[1]) for r in sorted(rows)]

    def story_view(self, story_id: int) -> StoryView | None:
        row = self.db.execute("SELECT view FROM stories WHERE id = ?", [story_id]).fetchone()
        return _view_in(story_id, row[0]) if row and row[0] else None

    def open_story(self, entry_id: int, view: StoryView, now: datetime) -> int:
        """A new story whose first article is ``entry_id``; ``view.id`` is ignored."""
        cur = self.db.execute(
            "INSERT INTO stories (title, severity, first_entry_id, created_at, updated_at,"
            " view, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [view.title, view.severity, entry_id, dt_out(now), dt_out(now), _view_out(view),
             dt_out(view.last_seen)])
        assert cur.lastrowid is not None
        return cur.lastrowid

    def save_story(self, view: StoryView, now: datetime) -> None:
        self.db.execute(
            "UPDATE stories SET severity = ?, updated_at = ?, view = ?, last_seen = ?"
            " WHERE id = ?", [view.severity, dt_out(now), _view_out(view),
                              dt_out(view.last_seen), view.id])

    def attach(self, story_id: int, entry_id: int, decision: StoryDecisionKind, reason: str,
               now: datetime) -> None:
        self.db.execute("INSERT INTO story_entries VALUES (?, ?, ?, ?, ?)",
                        [entry_id, story_id, decision, reason, dt_out(now)])

    def story_of(self, entry_id: int) -> int | None:
        row = self.db.execute("SELECT story_id FROM story_entries WHERE entry_id = ?",
                              [entry_id]).fetchone()
        return int(row[0]) if row else None

    def alerted_severity(self, story_id: int) -> Severity | None:
        row = self.db.execute("SELECT alerted_severity FROM stories WHERE id = ?",
                              [story_id]).fetchone()
        return row[0] if row else None

    def set_alerted_severity(self, story_id: int, severity: Severity) -> None:
        self.db.execute("UPDATE stories SET alerted_severity = ? WHERE id = ?",
                        [severity, story_id])

    def story_articles(self, story_id: int) -> tuple[StoryArticle, ...]:
        """The articles of a story (stale ones excluded), oldest first."""
        return tuple(StoryArticle(title=e.title, url=e.url, outlet=e.outlet,
                                  published=e.published)
                     for e in self.story_entries(story_id) if e.decision != "stale")

    def story_entries(self, story_id: int) -> list[StoryEntryRow]:
        rows = self.db.execute(
            "SELECT e.id, coalesce(a.title, e.title), coalesce(a.url, e.link),"
            " coalesce(a.site, e.feed), coalesce(a.published, e.published), s.decision,"
            " s.reason, s.joined_at FROM story_entries s JOIN entries e ON e.id = s.entry_id"
            " LEFT JOIN articles a ON a.entry_id = e.id WHERE s.story_id = ?"
            " ORDER BY coalesce(a.published, e.published, s.joined_at), e.id",
            [story_id]).fetchall()
        return [StoryEntryRow(entry_id=r[0], title=r[1], url=r[2], outlet=r[3],
                              published=dt_in(r[4]), decision=r[5], reason=r[6],
                              joined_at=dt_in(r[7]) or datetime.min) for r in rows]

    def list_stories(self, limit: int = 50) -> list[StoryRow]:
        rows = self.db.execute(
            "SELECT s.id, s.title, s.severity, s.created_at, s.updated_at, s.view,"
            " (SELECT count(*) FROM story_entries x WHERE x.story_id = s.id)"
            " FROM stories s ORDER BY s.updated_at DESC, s.id DESC LIMIT ?",
            [limit]).fetchall()
        out = []
        for r in rows:
            view = _view_in(r[0], r[5]) if r[5] else None
            out.append(StoryRow(
                id=r[0], title=r[1], severity=r[2], created_at=dt_in(r[3]) or datetime.min,
                updated_at=dt_in(r[4]) or datetime.min, articles=r[6],
                outlets=tuple(sorted(view.outlets)) if view else (),
                event_date=view.event_date if view else None))
        return out

    # --- alerts of a story -------------------------------------------------------------------

    def pending_story_alert(self, story_id: int, target: str) -> tuple[int, Alert] | None:
        """The story's alert to ``target`` not yet attempted, if any (it can still be
        refreshed with the latest articles)."""
        row = self.db.execute(
            "SELECT id, payload FROM alerts WHERE story_id = ? AND target = ? AND"
            " state = 'pending' AND attempts = 0 ORDER BY id DESC LIMIT 1",
            [story_id, target]).fetchone()
        return (row[0], alert_from_json(row[1])) if row else None

    def refresh_alert(self, alert_id: int, alert: Alert) -> None:
        self.db.execute("UPDATE alerts SET payload = ? WHERE id = ? AND state = 'pending'",
                        [alert_to_json(alert), alert_id])

    def story_alert_times(self, story_id: int, target: str) -> list[datetime]:
        """When each alert of the story to ``target`` was (or will first be) sent."""
        rows = self.db.execute(
            "SELECT coalesce(sent_at, next_attempt_at) FROM alerts WHERE story_id = ? AND"
            " target = ? ORDER BY id", [story_id, target]).fetchall()
        return [t for t in (dt_in(r[0]) for r in rows) if t is not None]


def outlets_of(articles: Iterable[StoryArticle]) -> tuple[str, ...]:
    """Each outlet once, in order of first appearance."""
    seen: dict[str, None] = {}
    for a in articles:
        seen.setdefault(a.outlet, None)
    return tuple(seen)
