"""Outbox rows as the operator sees them: `monitor alerts list` and `monitor alerts retry`.

A mixin of :class:`monitor.store.Store` (``self.db`` is the thread's connection). Only the
title of a row's payload is read (payloads hold no secrets, and target settings are never in
the database).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlite_utils

from monitor.store.codec import dt_in, dt_out

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

ALERT_STATES = ("pending", "sending", "sent", "dead")
REQUEUEABLE = ("pending", "dead")
_COLUMNS = ("SELECT id, key, state, target, kind, attempts, next_attempt_at, sent_at,"
            " coalesce(story_id, 0),"
            " coalesce(json_extract(payload, '$.title'), ''),"
            " coalesce(json_extract(payload, '$.severity'), ''), last_error, created_at"
            " FROM alerts")


@dataclass(frozen=True)
class AlertRow:
    """An outbox row, without its payload (but for the title and severity)."""

    id: int
    key: str
    state: str  # pending | sending | sent | dead
    target: str
    kind: str
    attempts: int
    next_attempt_at: datetime | None
    sent_at: datetime | None
    story_id: int
    title: str
    severity: str
    last_error: str | None
    created_at: datetime | None


def _row(r: Sequence[Any]) -> AlertRow:
    return AlertRow(id=r[0], key=r[1], state=r[2], target=r[3], kind=r[4], attempts=r[5],
                    next_attempt_at=dt_in(r[6]), sent_at=dt_in(r[7]), story_id=r[8],
                    title=r[9], severity=r[10], last_error=r[11], created_at=dt_in(r[12]))


class AlertQueries:
    """Outbox listing and requeueing for :class:`monitor.store.Store` (which provides ``db``
    and ``transaction``)."""

    if TYPE_CHECKING:
        @property
        def db(self) -> sqlite_utils.Database: ...

        def transaction(self) -> AbstractContextManager[sqlite_utils.Database]: ...

    def list_alerts(self, state: str | None = None, limit: int = 50) -> list[AlertRow]:
        """Outbox rows, newest first, optionally only those in ``state``."""
        where, args = (" WHERE state = ?", [state]) if state else ("", [])
        rows = self.db.execute(f"{_COLUMNS}{where} ORDER BY created_at DESC, id DESC LIMIT ?",
                               [*args, limit]).fetchall()
        return [_row(r) for r in rows]

    def get_alert(self, alert_id: int) -> AlertRow | None:
        row = self.db.execute(f"{_COLUMNS} WHERE id = ?", [alert_id]).fetchone()
        return _row(row) if row else None

    def requeue_alert(self, alert_id: int, now: datetime) -> AlertRow | None:
        """Set a dead or pending row back to pending, due at ``now``; attempts and key kept.
        Returns the row as it was before, or None when there is no such row. A row in another
        state (sent, or being sent) is returned unchanged."""
        with self.transaction() as db:
            before = self.get_alert(alert_id)
            if before is not None and before.state in REQUEUEABLE:
                db.execute("UPDATE alerts SET state = 'pending', next_attempt_at = ?"
                           " WHERE id = ?", [dt_out(now), alert_id])
        return before

    def requeue_dead(self, now: datetime) -> list[AlertRow]:
        """Set every dead row back to pending, due at ``now``; return them (oldest first)."""
        with self.transaction() as db:
            rows = [_row(r) for r in db.execute(
                f"{_COLUMNS} WHERE state = 'dead' ORDER BY id").fetchall()]
            db.execute("UPDATE alerts SET state = 'pending', next_attempt_at = ?"
                       " WHERE state = 'dead'", [dt_out(now)])
        return rows
