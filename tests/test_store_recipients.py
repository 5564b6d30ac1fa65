"""Per-recipient outcomes in the store (security case 61): the table and its constraints, the
upsert that never downgrades an ``accepted``, ``claim_due`` handing the accepted recipients to
the target as ``Alert.delivered_to`` (from the table, never from the payload), and the way
``monitor alerts list`` shows them."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.cli_alerts import alerts_json, alerts_table, recipients_of
from monitor.model import Entry, Feed
from monitor.store import Store
from monitor.store.recipients import split_outcome
from monitor.store.schema import MIGRATIONS
from tests.fakes import story_view
from tests.test_deliver_email import make_alert

NOW = datetime(2024, 8, 7, 12, 0, tzinfo=UTC)
LEASE = NOW + timedelta(minutes=5)
FEED = Feed(name="f", url="https://example.org/feed", interval=3600)
A, B, C = "a@ops.example", "b@ops.example", "c@ops.example"


def store_with_alert(tmp_path: Path, **changes: Any) -> tuple[Store, int]:
    """A store holding one pending alert to target "mail"; returns it and the row id."""
    store = Store.open(tmp_path / "m.db")
    store.sync_feeds([FEED])
    entry = Entry(feed="f", guid="g", link=None, title="t", summary="s", published=NOW)
    with store.transaction():
        story_id = store.open_story(store.add_entry(entry, None, NOW), story_view("t"), NOW)
        assert store.add_alert(replace(make_alert(story_id=story_id, created_at=NOW),
                                       **changes))
    (row,) = store.list_alerts()
    return store, row.id


def test_migration_follows_silences_creates_the_table_and_is_idempotent(tmp_path: Path) -> None:
    names = [name for name, _ in MIGRATIONS]
    assert names.index("0007_recipients") == names.index("0006_silences") + 1
    store = Store.open(tmp_path / "m.db")
    sql = store.db.execute("SELECT sql FROM sqlite_master WHERE name = 'alert_recipients'"
                           ).fetchone()[0]
    assert "PRIMARY KEY (alert_id, recipient)" in sql and "REFERENCES alerts(id)" in sql
    store.close()
    again = Store.open(tmp_path / "m.db")
    assert again.migrate() == []


def test_constraints(tmp_path: Path) -> None:
    store, alert_id = store_with_alert(tmp_path)
    insert = ("INSERT INTO alert_recipients (alert_id, recipient, outcome, at)"
              " VALUES (?, ?, ?, '2024-08-07T12:00:00+00:00')")
    with pytest.raises(sqlite3.IntegrityError):
        store.db.execute(insert, [alert_id, A, "maybe"])  # outcome outside the CHECK
    with pytest.raises(sqlite3.IntegrityError):
        store.db.execute(insert, [alert_id + 99, A, "accepted"])  # no such alert
    store.db.execute(insert, [alert_id, A, "accepted"])
    with pytest.raises(sqlite3.IntegrityError):
        store.db.execute(insert, [alert_id, A, "refused"])  # one row per recipient


def test_outcomes_are_upserted_and_accepted_is_never_downgraded(tmp_path: Path) -> None:
    store, alert_id = store_with_alert(tmp_path)
    store.record_recipients(alert_id, {A: "accepted", B: "refused: 550 5.1.1 no such user",
                                       C: "deferred: 451 4.3.0 try later"}, NOW)
    later = NOW + timedelta(minutes=10)
    store.record_recipients(alert_id, {A: "deferred: 421 closing", B: "accepted",
                                       C: "refused: 552 mailbox gone"}, later)
    got = {o.recipient: (o.outcome, o.detail, o.at) for o in store.recipients(alert_id)}
    assert got == {A: ("accepted", None, NOW), B: ("accepted", None, later),
                   C: ("refused", "552 mailbox gone", later)}
    assert [o.recipient for o in store.recipients(alert_id)] == [A, B, C]
    assert store.recipients(alert_id + 1) == []


def test_split_outcome() -> None:
    assert split_outcome("accepted") == ("accepted", None)
    assert split_outcome("refused: 550 5.1.1 no such user") == ("refused", "550 5.1.1 no such user")
    assert split_outcome("deferred: outcome unknown: x") == ("deferred", "outcome unknown: x")
    assert split_outcome("accepted-ish: what") == ("deferred", "accepted-ish: what")


def test_claim_due_hands_the_accepted_recipients_to_the_target(tmp_path: Path) -> None:
    store, alert_id = store_with_alert(tmp_path)
    (due,) = store.claim_due(NOW, LEASE)
    assert due.alert.delivered_to == ()
    store.record_recipients(alert_id, {C: "accepted", A: "accepted",
                                       B: "deferred: 452 4.2.2 mailbox full"}, NOW)
    store.release(alert_id, NOW)
    (due,) = store.claim_due(NOW, LEASE)
    assert due.alert.delivered_to == (A, C)  # the deferred one is sent again, in order
    assert replace(due.alert, delivered_to=()) == replace(make_alert(), story_id=due.alert.story_id,
                                                          created_at=NOW)


def test_delivered_to_never_comes_from_the_payload(tmp_path: Path) -> None:
    store, alert_id = store_with_alert(tmp_path, delivered_to=(A, B))
    payload = store.db.execute("SELECT payload FROM alerts WHERE id = ?", [alert_id]).fetchone()
    assert "delivered_to" not in json.loads(payload[0])
    (due,) = store.claim_due(NOW, LEASE)
    assert due.alert.delivered_to == ()


def test_alerts_list_shows_each_recipient(tmp_path: Path) -> None:
    store, alert_id = store_with_alert(tmp_path)
    store.record_recipients(alert_id, {A: "accepted", B: "refused: 550 5.1.1 no such user",
                                       C: "deferred: 451 \x1b[31mtry later"}, NOW)
    rows = store.list_alerts()
    found = recipients_of(store, rows)
    (listed,) = json.loads(alerts_json(rows, found))
    assert listed["recipients"] == [
        {"address": A, "outcome": "accepted", "detail": None},
        {"address": B, "outcome": "refused", "detail": "550 5.1.1 no such user"},
        {"address": C, "outcome": "deferred", "detail": "451 \x1b[31mtry later"}]
    table = alerts_table(rows, found)
    assert "1/3 accepted" in table and "\x1b" not in table
    assert json.loads(alerts_json(rows))[0]["recipients"] == []  # none recorded: an empty list
