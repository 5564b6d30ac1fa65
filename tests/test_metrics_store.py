"""/metrics from the database (read at scrape time, through indexes) and from the events of
the process (one registry per Metrics instance, never the library's global one)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor import health, metrics
from monitor.heartbeat import Heartbeat
from monitor.model import Alert, Entry, Feed, Match, PollResult
from monitor.store import Store
from monitor.write_pause import WritePause

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(m: metrics.Metrics) -> Samples:
    text = m.render()[0].decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def operator_alert(key: str, target: str, created: datetime) -> Alert:
    return Alert(key=key, target=target, story_id=0, severity="high", title=f"alert {key}",
                 url=None, feed="news-monitor", site=None, published=None, snippet="",
                 matches=(), created_at=created, kind="operator")


def entry(guid: str) -> Entry:
    return Entry(feed="a", guid=guid, link=None, title=guid, summary="", published=None)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path / "monitor.db")
    s.sync_feeds([Feed("a", "https://example.org/a.xml", 3600),
                  Feed("b", "https://example.org/b.xml", 3600),
                  Feed("c", "https://example.org/c.xml", 3600)])
    return s


def fill(store: Store) -> None:
    """Feed a fails (failing), c is gone; two pending alerts to slack, one dead to siem, one
    sent to siem, and siem is disabled."""
    store.record_poll(PollResult(feed="a", status="error", error="HTTP 503"), NOW, NOW,
                      status="failing")
    store.record_poll(PollResult(feed="a", status="error", error="HTTP 503"), NOW, NOW,
                      status="failing")
    store.record_poll(PollResult(feed="b", status="ok"), NOW - timedelta(minutes=5), NOW)
    store.record_poll(PollResult(feed="c", status="error", http_status=410, error="HTTP 410"),
                      NOW, None, status="gone")
    with store.transaction():
        for key, target, age in (("p1", "slack", 600), ("p2", "slack", 60),
                                 ("d1", "siem", 3000), ("s1", "siem", 100)):
            store.add_alert(operator_alert(key, target, NOW - timedelta(seconds=age)))
    ids = {row.key: row.id for row in store.list_alerts()}
    store.mark_failed(ids["d1"], "HTTP 400", None)
    store.mark_sent(ids["s1"], NOW - timedelta(seconds=30))
    store.disable_target("siem", "HTTP 410", NOW)


def test_database_values_at_scrape_time(store: Store) -> None:
    fill(store)
    m = metrics.Metrics()
    m.watch(store.path, clock=NOW.timestamp)
    found = scrape(m)
    assert value(found, "monitor_database_up") == 1
    assert value(found, "monitor_feeds", status="active") == 1
    assert value(found, "monitor_feeds", status="failing") == 1
    assert value(found, "monitor_feeds", status="gone") == 1
    assert value(found, "monitor_feed_consecutive_failures", feed="a") == 2
    assert value(found, "monitor_feed_consecutive_failures", feed="b") == 0
    assert value(found, "monitor_alerts", target="slack", state="pending") == 2
    assert value(found, "monitor_alerts", target="siem", state="dead") == 1
    assert value(found, "monitor_alerts", target="siem", state="sent") is None, \
        "sent rows are counted by monitor_alerts_sent_total, not read from the table"
    assert value(found, "monitor_outbox_depth") == 2
    assert value(found, "monitor_outbox_oldest_age_seconds") == 600
    assert value(found, "monitor_last_poll_timestamp_seconds") == NOW.timestamp()
    assert value(found, "monitor_target_last_sent_timestamp_seconds", target="siem") == \
        (NOW - timedelta(seconds=30)).timestamp()
    assert value(found, "monitor_target_disabled", target="siem") == 1
    assert value(found, "monitor_stories") == 0


def test_matches_are_counted_from_the_rows_added_after_watching_began(store: Store) -> None:
    with store.transaction():
        old = store.add_entry(entry("old"), None, NOW)
        store.add_matches(old, [Match("attack", "Attack", "critical")])
    m = metrics.Metrics()
    m.watch(store.path)
    assert not [k for k in scrape(m) if k[0] == "monitor_matches_total"]
    with store.transaction():
        for guid in ("n1", "n2"):
            new = store.add_entry(entry(guid), None, NOW)
            store.add_matches(new, [Match("attack", "Attack", "critical"),
                                    Match("context", "Context", "low")])
    found = scrape(m)
    assert value(found, "monitor_matches_total", rule="attack", severity="critical") == 2
    assert value(found, "monitor_matches_total", rule="context", severity="low") == 2
    assert scrape(m) == found, "a second scrape counts nothing twice"


def test_an_unreachable_database_reports_down_and_keeps_the_event_counters(
        tmp_path: Path) -> None:
    m = metrics.Metrics()
    m.watch(tmp_path / "missing.db", Heartbeat())
    m.polled("ok", new=3)
    found = scrape(m)
    assert value(found, "monitor_database_up") == 0
    assert value(found, "monitor_feeds", status="active") is None
    assert value(found, "monitor_polls_total", status="ok") == 1
    assert value(found, "monitor_new_entries_total") == 3
    assert not (tmp_path / "missing.db").exists()


def test_heartbeat_ages_are_exported() -> None:
    clock = [100.0]
    heartbeat = Heartbeat(lambda: clock[0])
    heartbeat.beat("scheduler")
    clock[0] = 104.5
    m = metrics.Metrics()
    m.watch(Path("/nonexistent/monitor.db"), heartbeat)
    found = scrape(m)
    assert value(found, "monitor_heartbeat_age_seconds", part="scheduler") == 4.5
    assert value(found, "monitor_heartbeat_age_seconds", part="deliver") is None


def test_each_instance_has_its_own_registry_and_the_module_calls_feed_the_current_one() -> None:
    first, second = metrics.Metrics(), metrics.Metrics()
    previous = metrics.install(first)
    try:
        metrics.polled("error")
        metrics.extracted(0.3)
        metrics.delivered("slack", NOW - timedelta(seconds=90), NOW)
        metrics.delivery_failed("siem", "retrying")
    finally:
        metrics.install(previous)
    found = scrape(first)
    assert value(found, "monitor_polls_total", status="error") == 1
    assert value(found, "monitor_extract_seconds_count") == 1
    assert value(found, "monitor_alerts_sent_total", target="slack") == 1
    assert value(found, "monitor_delivery_latency_seconds_bucket", target="slack",
                 le="60.0") == 0
    assert value(found, "monitor_delivery_latency_seconds_bucket", target="slack",
                 le="120.0") == 1
    assert value(found, "monitor_delivery_failures_total", target="siem",
                 outcome="retrying") == 1
    assert value(scrape(second), "monitor_polls_total", status="error") == 0
    global_names = {f.name for f in prometheus_client.REGISTRY.collect()}
    assert not {n for n in global_names if n.startswith("monitor_")}


def test_a_naive_time_counts_the_send_without_a_latency() -> None:
    m = metrics.Metrics()
    previous = metrics.install(m)
    try:
        metrics.delivered("slack", NOW.replace(tzinfo=None), NOW)
    finally:
        metrics.install(previous)
    found = scrape(m)
    assert value(found, "monitor_alerts_sent_total", target="slack") == 1
    assert value(found, "monitor_delivery_latency_seconds_count", target="slack") is None


@pytest.mark.parametrize(("sql", "args", "index"), [
    (health.OUTBOX_SQL, health.OUTBOX_STATES, "USING INDEX alerts_due"),
    (health.OLDEST_SQL, health.UNDELIVERED, "USING INDEX alerts_due"),
    (health.LAST_SENT_SQL, (), "USING INDEX alerts_due"),
    (health.MATCHES_SQL, (0, 10), "USING INTEGER PRIMARY KEY"),
])
def test_the_scrape_queries_on_growing_tables_use_an_index(store: Store, sql: str,
                                                           args: tuple[object, ...],
                                                           index: str) -> None:
    with closing(sqlite3.connect(store.path)) as conn:
        plan = " | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", args))
    assert index in plan, plan
    assert "SCAN alerts" not in plan and "SCAN matches" not in plan, plan


def test_the_daemons_write_pause_is_exported(store: Store) -> None:
    """``monitor_database_writable``: 1, then 0 from a refused write (the database still
    answers reads: ``monitor_database_up`` stays 1), then 1 once a poll stored again; absent
    when nothing watches the daemon's writes (``monitor status``-like use)."""
    writes = WritePause()
    m = metrics.Metrics()
    m.watch(store.path, writes=writes)
    assert value(scrape(m), "monitor_database_writable") == 1
    writes.failed(OSError("database or disk is full"), NOW)
    found = scrape(m)
    assert value(found, "monitor_database_writable") == 0
    assert value(found, "monitor_database_up") == 1
    writes.stored()
    assert value(scrape(m), "monitor_database_writable") == 1
    m.watch(store.path)
    assert value(scrape(m), "monitor_database_writable") is None
