"""Security case 68 in the daemon: when the database takes no writes (here a full disk: every
connection may not grow the file), a poll fails in one logged line, no poll or drain starts for
a pause that doubles while it lasts, the feeds are not fetched meanwhile, and polling resumes
by itself once there is room (real sample site, real SQLite file)."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from monitor import scheduler
from monitor.cli import build_context
from monitor.config import load_config
from monitor.deliver.outbox import DeliveryReport
from monitor.dispatch import Dispatcher
from monitor.errors import StoreError
from monitor.health import check
from monitor.model import Feed
from monitor.pipeline import Context
from monitor.store import Store
from monitor.write_pause import FIRST_PAUSE, LONGEST_PAUSE, WritePause
from tests.conftest import Receiver
from tests.test_pipeline_e2e import Site, write_config
from tests.test_scheduler_reload import Recorder

START = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


class _Clock:
    def __init__(self) -> None:
        self.now = START
        self.step = timedelta(0)  # how far each reading moves it on (a drain's paced slots)

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now


@pytest.fixture
def full(tmp_path: Any, sample_site: Site, receiver: Receiver,
         monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Context, _Clock, Site]]:
    """A daemon context whose database file may not grow past its size after set-up."""
    base, _ = sample_site
    config = load_config(write_config(tmp_path, base),
                         env={"TEST_SLACK_WEBHOOK_URL": receiver.url})
    prepared = Store.open(config.database)
    prepared.sync_feeds(config.feeds)
    prepared.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = prepared.db.execute("PRAGMA page_count").fetchone()[0]
    prepared.close()
    real = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn: sqlite3.Connection = real(*args, **kwargs)
        conn.execute(f"PRAGMA max_page_count = {pages}")
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)
    store = Store.open(config.database)
    ctx = build_context(config, store, daemon=True)
    clock = _Clock()
    ctx.clock = clock
    yield ctx, clock, sample_site
    ctx.client.close()
    store.close()


def _feeds(ctx: Context) -> dict[str, Feed]:
    return {feed.name: feed for feed in ctx.config.feeds}


def test_a_full_disk_pauses_the_polls_and_they_resume_when_there_is_room(
        full: tuple[Context, _Clock, Site], caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    ctx, clock, (_, fetched) = full
    drains: list[datetime] = []
    monkeypatch.setattr(scheduler, "deliver",
                        lambda *a, **k: drains.append(clock.now) or DeliveryReport())
    caplog.set_level(logging.INFO)
    scheduler.poll_job(ctx, _feeds(ctx)["atom"])
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage().split(" ")[:2] for r in errors] == [
        ["feed=atom", "status=store-error"], ["store=paused", "for=30s"]]
    assert "full" in errors[0].getMessage() and all(r.exc_info is None for r in errors)
    stored = ctx.store.db.execute("SELECT count(*) FROM entries").fetchone()[0]
    assert ctx.store.db.execute("SELECT count(*) FROM feeds WHERE last_polled_at IS NULL"
                                ).fetchone() == (2,), "the poll's outcome was not stored"

    dispatcher = Recorder()
    asked = len(fetched)
    clock.now = START + FIRST_PAUSE - timedelta(seconds=1)
    assert scheduler.dispatch_due(ctx, cast(Dispatcher, dispatcher)) == 0
    scheduler.deliver_job(ctx, threading.Event())
    assert dispatcher.submitted == [] and len(fetched) == asked, "nothing fetched while paused"
    assert drains == [], "no drain while paused: its claims are writes"

    ctx.store.db.execute("PRAGMA max_page_count = 1073741823")  # room again
    clock.now = START + FIRST_PAUSE
    assert scheduler.dispatch_due(ctx, cast(Dispatcher, dispatcher)) == 2
    assert sorted(dispatcher.submitted) == ["atom", "rss"], "both feeds are due: none recorded"
    scheduler.deliver_job(ctx, threading.Event())
    assert drains == [clock.now]
    caplog.clear()
    scheduler.poll_job(ctx, _feeds(ctx)["atom"])
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING
            if r.getMessage().startswith("store=")] == [
        "store=resumed: the database takes writes again"]
    assert not ctx.writes.paused(clock.now)
    assert ctx.store.db.execute("SELECT count(*) FROM entries").fetchone()[0] > stored
    assert ctx.store.db.execute("SELECT count(*) FROM feeds WHERE last_polled_at IS NULL"
                                ).fetchone() == (1,), "atom's poll is recorded now"


def test_failures_right_after_a_pause_double_it_up_to_ten_minutes() -> None:
    pause, now = WritePause(), START
    lengths = []
    for _ in range(8):
        pause.failed(OSError("disk full"), now)
        length = next(s for s in range(1, 3600) if not pause.paused(now + timedelta(seconds=s)))
        lengths.append(length)
        now += timedelta(seconds=length)
    assert lengths == [30, 60, 120, 240, 480, 600, 600, 600]
    assert timedelta(seconds=lengths[0]) == FIRST_PAUSE and LONGEST_PAUSE == timedelta(minutes=10)
    pause.stored()
    pause.failed(OSError("disk full"), now)
    assert pause.paused(now + FIRST_PAUSE - timedelta(seconds=1))
    assert not pause.paused(now + FIRST_PAUSE), "a poll that stored starts the count again"


def test_a_failure_during_a_pause_neither_extends_nor_logs_it(
        caplog: pytest.LogCaptureFixture) -> None:
    pause = WritePause()
    pause.failed(OSError("disk full"), START)
    pause.failed(OSError("disk full"), START + timedelta(seconds=10))  # a poll begun before
    assert not pause.paused(START + FIRST_PAUSE)
    assert len([r for r in caplog.records if "store=paused" in r.getMessage()]) == 1


def test_a_drain_that_stores_an_outcome_ends_the_failing_state_and_an_idle_one_does_not(
        full: tuple[Context, _Clock, Site], receiver: Receiver,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A pause set off by a drain's failed write: without a poll (feeds polled hourly, say),
    the next drain that sends an alert shows the database takes writes again."""
    ctx, clock, _ = full
    ctx.store.db.execute("PRAGMA max_page_count = 1073741823")  # room for the first poll
    scheduler.poll_job(ctx, _feeds(ctx)["atom"])
    queued = ctx.store.db.execute("SELECT count(*) FROM alerts WHERE state = 'pending'"
                                  ).fetchone()[0]
    assert queued > 0 and ctx.writes.failing() is None
    real = scheduler.deliver

    def failing_drain(*args: Any, **kwargs: Any) -> Any:
        raise StoreError("disk I/O error")

    monkeypatch.setattr(scheduler, "deliver", failing_drain)
    scheduler.deliver_job(ctx, threading.Event())
    assert ctx.writes.failing() == "disk I/O error"
    assert check(ctx.heartbeat, ctx.config.database, {}, ctx.writes)["status"] == "unhealthy"

    monkeypatch.setattr(scheduler, "deliver", real)
    clock.now = START + 2 * FIRST_PAUSE + timedelta(seconds=1)  # the pause, and group_wait, over
    clock.step = timedelta(seconds=1)  # the second alert's paced slot comes
    scheduler.deliver_job(ctx, threading.Event())
    clock.step = timedelta(0)
    assert len(receiver.requests) == queued
    assert ctx.writes.failing() is None
    assert check(ctx.heartbeat, ctx.config.database, {}, ctx.writes)["status"] == "ok"

    ctx.writes.failed(StoreError("disk I/O error"), clock.now)
    clock.now += FIRST_PAUSE * 2
    scheduler.deliver_job(ctx, threading.Event())  # nothing left to send: it wrote nothing
    assert len(receiver.requests) == queued
    assert ctx.writes.failing() == "disk I/O error"
