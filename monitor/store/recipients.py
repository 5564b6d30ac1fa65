"""Per-recipient outcomes of an alert (e-mail): who accepted it, who refused it, who deferred it.

A target with several recipients reports, for each attempt, one outcome line per recipient
(``DeliveryError.recipients`` or the receipt ``Target.send`` returns): ``"accepted"``,
``"refused: 550 5.1.1 no such user"``, ``"deferred: 451 4.3.0 try later"``. They are kept in
``alert_recipients``, one row per (alert, recipient), the latest outcome winning, except that an
``accepted`` is never replaced: a recipient that has the alert keeps it. When the row is claimed
again (``Store.claim_due``), the recipients that accepted are handed to the target as
``Alert.delivered_to`` and are not sent the alert again.

A mixin of :class:`monitor.store.Store` (``self.db`` is the thread's connection), and the
migration that creates its table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

import sqlite_utils

from monitor.store.codec import dt_in, dt_out

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

Outcome = Literal["accepted", "refused", "deferred"]
OUTCOMES: tuple[Outcome, ...] = ("accepted", "refused", "deferred")


def migrate_recipients(db: sqlite_utils.Database) -> None:
    """``alert_recipients``: the latest outcome of each recipient of an alert."""
    db.execute(
        """
        CREATE TABLE alert_recipients (
            alert_id INTEGER NOT NULL REFERENCES alerts(id),
            recipient TEXT NOT NULL,
            outcome TEXT NOT NULL CHECK (outcome IN ('accepted', 'refused', 'deferred')),
            detail TEXT,
            at TEXT NOT NULL,
            PRIMARY KEY (alert_id, recipient)
        )"""
    )


@dataclass(frozen=True)
class RecipientOutcome:
    """One recipient of an alert and what its mail server last said."""

    recipient: str
    outcome: Outcome
    detail: str | None  # the server's reply ("550 5.1.1 no such user"), or why it is unknown
    at: datetime | None


def split_outcome(line: str) -> tuple[Outcome, str | None]:
    """``"refused: 550 no such user"`` → ``("refused", "550 no such user")``. A line that
    does not start with a known outcome is taken as ``deferred`` (so it is tried again),
    with the whole line as its detail."""
    word, colon, detail = line.partition(":")
    word = word.strip()
    for outcome in OUTCOMES:
        if word == outcome:
            return outcome, (detail.strip() or None) if colon else None
    return "deferred", line.strip() or None


class RecipientQueries:
    """Per-recipient outcomes for :class:`monitor.store.Store` (which provides ``db`` and
    ``transaction``)."""

    if TYPE_CHECKING:
        @property
        def db(self) -> sqlite_utils.Database: ...

        def transaction(self) -> AbstractContextManager[sqlite_utils.Database]: ...

    def record_recipients(self, alert_id: int, outcomes: Mapping[str, str],
                          now: datetime) -> None:
        """Record one attempt's outcome lines (recipient → ``"accepted"``, ``"refused: …"``,
        ``"deferred: …"``) in their own transaction: each replaces the recipient's earlier
        outcome, except that an ``accepted`` is never downgraded."""
        if not outcomes:
            return
        with self.transaction() as db:
            for recipient, line in outcomes.items():
                outcome, detail = split_outcome(line)
                db.execute(
                    "INSERT INTO alert_recipients (alert_id, recipient, outcome, detail, at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (alert_id, recipient) DO UPDATE SET"
                    " outcome = excluded.outcome, detail = excluded.detail, at = excluded.at"
                    " WHERE alert_recipients.outcome != 'accepted'",
                    [alert_id, recipient, outcome, detail, dt_out(now)])

    def recipients(self, alert_id: int) -> list[RecipientOutcome]:
        """The recorded recipients of an alert, by address (none for a target without
        recipients, or before its first attempt)."""
        rows = self.db.execute("SELECT recipient, outcome, detail, at FROM alert_recipients"
                               " WHERE alert_id = ? ORDER BY recipient", [alert_id]).fetchall()
        return [RecipientOutcome(recipient=r[0], outcome=r[1], detail=r[2], at=dt_in(r[3]))
                for r in rows]

    def accepted_by(self, alert_ids: Iterable[int]) -> dict[int, tuple[str, ...]]:
        """Alert id → the recipients that accepted it (sorted); alerts without any are left
        out. Used by ``claim_due`` to fill ``Alert.delivered_to``."""
        rows = self.db.execute(
            "SELECT alert_id, recipient FROM alert_recipients WHERE outcome = 'accepted' AND"
            " alert_id IN (SELECT value FROM json_each(?)) ORDER BY alert_id, recipient",
            [json.dumps(list(alert_ids))]).fetchall()
        found: dict[int, tuple[str, ...]] = {}
        for alert_id, recipient in rows:
            found[alert_id] = (*found.get(alert_id, ()), recipient)
        return found
