"""Retention (`[retention]`, ``monitor.store.retention``, ``monitor.maintenance``): what goes,
what stays (the seen set, pending alerts), batches, VACUUM and the WAL, and the daemon's job."""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest

from monitor import scheduler
from monitor.cli import build_context
from monitor.config import RetentionConfig, load_config
from monitor.dedup import near
from monitor.dedup.near import BANDS
from monitor.dispatch import Dispatcher
from monitor.errors import ConfigError
from monitor.maintenance import (
    FIRST_DELAY,
    MAINTAIN_EVERY,
    VACUUM_FREE,
    maintain,
    run_maintenance,
)
from monitor.model import Article, Entry, Feed, Match
from monitor.store import Store
from tests.conftest import ROOT
from tests.fakes import story_view
from tests.test_store_schema import alert

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
FEED = Feed(name="wire", url="https://example.org/feed.xml", interval=3600)
DAY = timedelta(days=1)
POLICY = RetentionConfig()  # 90 d texts, 400 d fingerprints, 180 d alerts, vacuum every 7 d


def text(i: int) -> str:
    """A text long enough for a fingerprint with LSH bands, different for each ``i``."""
    return " ".join(f"word{i}x{j}" for j in range(300))


def add(store: Store, guid: str, age: timedelta, *, story: bool = False,
        matched: bool = True) -> int:
    """An entry first seen ``age`` before NOW, with its article, a match (unless not
    ``matched``: what databases made before 2026-11-21 fingerprinted too) and a fingerprint."""
    when = NOW - age
    entry = Entry(feed=FEED.name, guid=guid, link=f"https://example.org/{guid}",
                  title=f"title {guid}", summary="summary", published=when)
    body = text(abs(hash(guid)) % 10_000)
    with store.transaction():
        entry_id = store.add_entry(entry, entry.link, when)
        store.add_article(entry_id, Article(entry=entry, url=entry.link, title=entry.title,
                                            text=body, published=when, site="Wire",
                                            source="page"), when)
        if matched:
            store.add_matches(entry_id, [Match(
                rule_id="r", title="R", severity="high", tags=(), entities=("Ain al-Asad",),
                terms=("rocket",), snippet="Rockets hit Ain al-Asad.")])
        store.add_fingerprint(entry_id, near.fingerprint(body))
        if story:
            story_id = store.open_story(entry_id, story_view(guid, when), when)
            store.attach(story_id, entry_id, "new", "first", when)
    return entry_id


def queue(store: Store, key: str, age: timedelta, state: str, story_id: int) -> int:
    with store.transaction():
        store.add_alert(replace(alert(key, story_id=story_id), created_at=NOW - age))
    row = store.db.execute("SELECT id FROM alerts WHERE key = ?", [key]).fetchone()
    store.db.execute("UPDATE alerts SET state = ? WHERE id = ?", [state, row[0]])
    store.record_recipients(row[0], {"a@example.org": "accepted", "b@example.org": "deferred"},
                            NOW)
    return int(row[0])


def rows(store: Store, sql: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in store.db.execute(sql).fetchall()]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path / "m.db")
    s.sync_feeds([FEED])
    return s


def test_old_texts_are_emptied_and_what_identifies_them_stays(store: Store) -> None:
    old = add(store, "old", 100 * DAY, story=True)
    young = add(store, "young", 10 * DAY)
    assert store.prune_texts(NOW - 90 * DAY, NOW, pause=0) == 1
    (pruned,) = rows(store, f"SELECT text, title, url, text_pruned_at FROM articles"  # noqa: S608
                            f" WHERE entry_id = {old}")
    assert pruned == ("", "title old", "https://example.org/old", "2025-06-01T12:00:00+00:00")
    assert rows(store, f"SELECT length(text) > 1000 FROM articles WHERE entry_id = {young}"  # noqa: S608
                ) == [(1,)]
    assert rows(store, "SELECT count(*) FROM matches") == [(2,)]
    assert [e.title for e in store.story_entries(1)] == ["title old"]
    # the seen set is whole: the old entry, resurfacing in its feed or elsewhere, is known
    seen = store.find_seen("wire", "old", "https://example.org/old")
    assert seen is not None and seen.id == old and seen.same_guid
    elsewhere = store.find_seen("other-feed", "new-guid", "https://example.org/old")
    assert elsewhere is not None and elsewhere.id == old
    assert store.prune_texts(NOW - 90 * DAY, NOW, pause=0) == 0, "pruned once"


def test_old_fingerprints_and_their_band_rows_go(store: Store) -> None:
    ids = {guid: add(store, guid, age) for guid, age in
           (("a", 500 * DAY), ("b", 450 * DAY), ("c", 30 * DAY))}
    assert rows(store, "SELECT count(*) FROM fingerprint_bands") == [(3 * BANDS,)]
    young_fp = store.get_fingerprint(ids["c"])
    old_fp = store.get_fingerprint(ids["a"])
    assert young_fp is not None and old_fp is not None
    assert store.prune_fingerprints(NOW - 400 * DAY, pause=0) == (2, 2 * BANDS)
    assert rows(store, "SELECT entry_id FROM fingerprints") == [(ids["c"],)]
    assert rows(store, "SELECT count(*), min(entry_id), max(entry_id) FROM fingerprint_bands"
                ) == [(BANDS, ids["c"], ids["c"])], "no orphan band rows"
    assert store.find_near(old_fp, near.DUPLICATE) == []
    assert [e for e, _ in store.find_near(young_fp, near.DUPLICATE)] == [ids["c"]]
    assert rows(store, "SELECT count(*) FROM entries") == [(3,)], "entries are kept"
    # the next pass starts near the last cutoff, and still finds what crossed it since
    assert store.meta("fingerprints_pruned_before") == "2024-04-27T12:00:00+00:00"
    assert store.prune_fingerprints(NOW - 20 * DAY, pause=0) == (1, BANDS)


def test_fingerprints_of_entries_no_rule_matched_go_whatever_their_age(store: Store) -> None:
    ids = {guid: add(store, guid, age, matched=guid.startswith("m")) for guid, age in
           (("m-young", DAY), ("u-young", DAY), ("u-old", 500 * DAY), ("m-old", 500 * DAY),
            ("u-mid", 30 * DAY))}
    unmatched_fp = store.get_fingerprint(ids["u-young"])
    assert unmatched_fp is not None
    selects: list[str] = []
    store.db.conn.set_trace_callback(
        lambda sql: selects.append(sql) if "FROM fingerprints f" in sql else None)
    try:
        assert store.prune_unmatched_fingerprints(batch=2, pause=0) == (3, 3 * BANDS)
        assert len(selects) == 3, "batches of 2: 2 + 2 + 1"
    finally:
        store.db.conn.set_trace_callback(None)
    kept = sorted((ids["m-young"], ids["m-old"]))
    assert rows(store, "SELECT entry_id FROM fingerprints ORDER BY entry_id") == [
        (i,) for i in kept]
    assert rows(store, "SELECT DISTINCT entry_id FROM fingerprint_bands ORDER BY entry_id") == [
        (i,) for i in kept], "no orphan band rows"
    assert store.find_near(unmatched_fp, near.DUPLICATE) == []
    assert rows(store, "SELECT count(*) FROM entries") == [(5,)], "entries are kept"
    # the next pass goes on after the last entry read: only what was added since
    assert store.meta("unmatched_fingerprints_pruned_after") == str(max(ids.values()))
    later = add(store, "u-later", DAY, matched=False)
    assert store.prune_unmatched_fingerprints(pause=0) == (1, BANDS)
    assert store.get_fingerprint(later) is None
    assert store.prune_unmatched_fingerprints(pause=0) == (0, 0)


def test_a_dry_run_counts_unmatched_fingerprints_once(store: Store) -> None:
    add(store, "old-unmatched", 500 * DAY, matched=False)  # old and unmatched: one to count
    add(store, "old", 500 * DAY)
    add(store, "young-unmatched", DAY, matched=False)
    add(store, "young", DAY)
    dry = maintain(store, POLICY, NOW, dry_run=True)
    assert dry.pruned.fingerprints == 3
    done = maintain(store, POLICY, NOW, pause=0)
    assert (done.pruned.fingerprints, done.pruned.bands) == (3, 3 * BANDS)
    assert rows(store, "SELECT count(*) FROM fingerprints") == [(1,)]


def test_sent_and_dead_alerts_go_with_their_recipients_pending_ones_never(store: Store) -> None:
    entry_id = add(store, "s", 300 * DAY, story=True)
    ids = {name: queue(store, name, age, state, 1) for name, age, state in (
        ("old-sent", 200 * DAY, "sent"), ("old-dead", 190 * DAY, "dead"),
        ("old-pending", 250 * DAY, "pending"), ("old-sending", 250 * DAY, "sending"),
        ("young-sent", 10 * DAY, "sent"))}
    assert store.prune_alerts(NOW - 180 * DAY, pause=0) == (2, 4)
    kept = {r[0] for r in rows(store, "SELECT key FROM alerts")}
    assert kept == {"old-pending", "old-sending", "young-sent"}
    assert {r[0] for r in rows(store, "SELECT alert_id FROM alert_recipients")} == {
        ids["old-pending"], ids["old-sending"], ids["young-sent"]}
    assert rows(store, "SELECT count(*) FROM stories") == [(1,)]
    assert store.story_of(entry_id) == 1


def test_pruning_works_in_short_transactions(store: Store) -> None:
    for i in range(10):
        add(store, f"g{i}", 500 * DAY)
    begins: list[str] = []
    store.db.conn.set_trace_callback(
        lambda sql: begins.append(sql) if sql.startswith("BEGIN IMMEDIATE") else None)
    try:
        assert store.prune_texts(NOW - 90 * DAY, NOW, batch=3, pause=0) == 10
        assert len(begins) == 4, "batches of 3: 3 + 3 + 3 + 1"
        begins.clear()
        assert store.prune_fingerprints(NOW - 400 * DAY, batch=4, pause=0) == (10, 10 * BANDS)
        assert len(begins) == 3 + 1, "three batches, then the cutoff recorded"
    finally:
        store.db.conn.set_trace_callback(None)
    assert rows(store, "SELECT count(*) FROM articles WHERE text != ''") == [(0,)]


def test_a_dry_run_counts_exactly_what_a_pass_then_removes(store: Store) -> None:
    for i in range(4):
        add(store, f"old{i}", 500 * DAY, story=i == 0)
    add(store, "young", DAY)
    queue(store, "k", 200 * DAY, "sent", 1)
    before = store.path.read_bytes(), rows(store, "SELECT * FROM _meta")
    dry = maintain(store, POLICY, NOW, dry_run=True)
    assert (store.path.read_bytes(), rows(store, "SELECT * FROM _meta")) == before
    assert (dry.pruned.texts, dry.pruned.fingerprints, dry.pruned.alerts,
            dry.pruned.recipients) == (4, 4, 1, 2)
    assert dry.vacuum == "due" and dry.checkpoint is None
    done = maintain(store, POLICY, NOW, pause=0)
    assert (done.pruned.texts, done.pruned.fingerprints, done.pruned.alerts,
            done.pruned.recipients, done.pruned.bands) == (4, 4, 1, 2, 4 * BANDS)
    again = maintain(store, POLICY, NOW + timedelta(hours=1), dry_run=True)
    assert (again.pruned.texts, again.pruned.fingerprints, again.pruned.alerts) == (0, 0, 0)


def wal(path: Path) -> int:
    w = path.with_name(path.name + "-wal")
    return w.stat().st_size if w.exists() else 0


def test_vacuum_when_due_and_worth_it_and_the_wal_truncated(store: Store) -> None:
    for i in range(60):
        add(store, f"g{i}", 500 * DAY)
    add(store, "young", DAY)
    store.checkpoint()
    size = store.path.stat().st_size
    first = maintain(store, POLICY, NOW, pause=0)
    assert first.vacuum == "done" and first.free >= VACUUM_FREE
    assert store.last_vacuum() == NOW
    assert store.path.stat().st_size < size * 0.6, "the pruned texts' pages given back"
    assert first.checkpoint is not None and first.checkpoint[0] == 0 and wal(store.path) == 0
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # within vacuum_every: not again, even with pages to give back
    add(store, "later", 100 * DAY)
    soon = maintain(store, POLICY, NOW + 6 * DAY, pause=0)
    assert soon.vacuum == "not-due" and soon.pruned.texts == 1
    assert store.last_vacuum() == NOW
    # due, but hardly any free page: skipped, and not recorded (the next pass looks again)
    late = maintain(store, POLICY, NOW + 8 * DAY, pause=0)
    assert late.vacuum == "little-free" and store.last_vacuum() == NOW


def test_the_daemon_runs_maintenance_hourly_and_logs_it(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config_path = tmp_path / "monitor.toml"
    config_path.write_text(f'database = "m.db"\nrules = "{ROOT / "rules"}"\n'
                           '[retention]\narticle_text = "30d"\n'
                           '[[feeds]]\nname = "wire"\nurl = "https://example.org/feed.xml"\n'
                           '[targets.console]\ntype = "console"\n', encoding="utf-8")
    config = load_config(config_path)
    assert config.retention.article_text == 30 * 86400
    with closing(Store.open(config.database)) as st:
        ctx = build_context(config, st)
        ctx.clock = lambda: NOW
        st.sync_feeds(config.feeds)
        add(st, "old", 40 * DAY)
        sched = scheduler.build_scheduler(ctx, cast(Dispatcher, object()))
        sched.start(paused=True)
        try:
            job = sched.get_job("maintain")
            assert job is not None and job.trigger.interval == timedelta(seconds=MAINTAIN_EVERY)
            assert job.next_run_time == NOW + FIRST_DELAY
        finally:
            sched.shutdown(wait=False)
        with caplog.at_level(logging.INFO, logger="monitor.maintenance"):
            report = run_maintenance(ctx)
        ctx.client.close()
    assert report.pruned.texts == 1
    assert any(r.getMessage().startswith("maintenance=done texts=1 ") for r in caplog.records)


@pytest.mark.parametrize(("toml", "key", "message"), [
    ('[retention]\narticle_text = "12h"\n', "retention.article_text", "from 86400 seconds"),
    ('[retention]\nalerts = "forever"\n', "retention.alerts", "duration"),
    ('[retention]\nfingerprints = "5d"\n', "retention.fingerprints", "[stories] window"),
    ('[stories]\nwindow = "30d"\n[retention]\nalerts = "20d"\n', "retention.alerts",
     "[stories] window"),
    ('[retention]\nvacum_every = "7d"\n', "retention.vacum_every", "vacuum_every"),
])
def test_retention_config_errors_name_the_key(tmp_path: Path, toml: str, key: str,
                                              message: str) -> None:
    path = tmp_path / "monitor.toml"
    path.write_text(toml + '[targets.console]\ntype = "console"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == key and message in str(info.value)


def test_retention_defaults_and_a_long_story_window(tmp_path: Path) -> None:
    path = tmp_path / "monitor.toml"
    path.write_text('[targets.console]\ntype = "console"\n', encoding="utf-8")
    assert load_config(path).retention == RetentionConfig(
        article_text=90 * 86400, fingerprints=400 * 86400, alerts=180 * 86400,
        vacuum_every=7 * 86400)
    path.write_text('[stories]\nwindow = "500d"\n[targets.console]\ntype = "console"\n',
                    encoding="utf-8")
    retention = load_config(path).retention
    assert retention.fingerprints == retention.alerts == 500 * 86400, "raised to the window"


def test_migration_adds_the_meta_table_and_indexes(tmp_path: Path) -> None:
    Store.open(tmp_path / "m.db").close()
    with closing(sqlite3.connect(tmp_path / "m.db")) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        plan = " ".join(str(r) for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT entry_id FROM articles WHERE text_pruned_at IS NULL"
            " AND extracted_at < '2025' ORDER BY extracted_at LIMIT 5"))
    assert {"_meta", "articles_unpruned", "entries_first_seen"} <= names
    assert "articles_unpruned" in plan, plan
