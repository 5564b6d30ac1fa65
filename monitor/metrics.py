"""Prometheus metrics of the daemon, served by ``/metrics`` (:mod:`monitor.health`).

Two kinds:

- **Events of this process**, counted where they happen by one call each: a poll
  (``pipeline.poll_feed`` → :func:`polled`), an extraction (``extract`` → :func:`extracted`),
  a send accepted or failed (``deliver.outbox`` → :func:`delivered`, :func:`delivery_failed`).
  They start at zero with the process, as Prometheus counters do.
- **What the database holds**, read at scrape time by :class:`StateCollector` through
  :func:`monitor.health.read_picture` (a read-only connection, indexed queries): feeds by
  health and their consecutive failures, the outbox by target and state, its oldest
  undelivered alert, stories, the last send to each target; and the matches recorded since the
  listener started, by rule and severity (read by row id, so counting costs one range scan of
  the new rows).

Each :class:`Metrics` has its own ``CollectorRegistry`` (never the library's global one), so
tests can hold several. The process has one current instance (:func:`current`), which the
module-level calls feed; :func:`install` swaps it.

Names: ``monitor_polls_total{status}``, ``monitor_new_entries_total``,
``monitor_stories_opened_total``, ``monitor_extract_seconds``, ``monitor_alerts_sent_total
{target}``, ``monitor_delivery_failures_total{target,outcome}``,
``monitor_delivery_latency_seconds{target}``, ``monitor_matches_total{rule,severity}``,
``monitor_feeds{status}``, ``monitor_feed_consecutive_failures{feed}``,
``monitor_last_poll_timestamp_seconds``, ``monitor_alerts{target,state}``,
``monitor_outbox_depth``, ``monitor_outbox_oldest_age_seconds``, ``monitor_stories``,
``monitor_target_last_sent_timestamp_seconds{target}``, ``monitor_target_disabled{target}``,
``monitor_heartbeat_age_seconds{part}``, ``monitor_database_up``,
``monitor_database_writable`` (the daemon's: 0 while its polls are paused because the database
takes no writes, ``monitor.write_pause``).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from monitor import health
from monitor.heartbeat import Heartbeat
from monitor.write_pause import WritePause

__all__ = ["Metrics", "StateCollector", "current", "delivered", "delivery_failed", "extracted",
           "install", "polled"]

log = logging.getLogger("monitor.metrics")
# No *_created series (the process start time says the same).
disable_created_metrics()  # type: ignore[no-untyped-call]
POLL_STATUSES = ("ok", "not_modified", "error")
EXTRACT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
# From queueing to acceptance: group_wait (1 min), retries, quiet hours and digests (a day).
LATENCY_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0, 21600.0,
                   86400.0)


class Metrics:
    """The counters of this process, in a registry of their own; :meth:`watch` adds what the
    database holds."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.polls = Counter("monitor_polls", "Feed polls by outcome: ok, not_modified (HTTP "
                             "304) or error.", ["status"], registry=r)
        for status in POLL_STATUSES:
            self.polls.labels(status)  # present, at 0, from the start
        self.new_entries = Counter("monitor_new_entries", "Entries stored for the first time "
                                   "(new to the database).", registry=r)
        self.stories_opened = Counter("monitor_stories_opened", "Stories opened by a new "
                                      "article.", registry=r)
        self.pages_skipped = Counter("monitor_pages_skipped", "New entries whose page was not "
                                     "fetched: their feed has full_text = when_candidate and "
                                     "their title and summary hold no part of any rule.",
                                     registry=r)
        self.extract_seconds = Histogram("monitor_extract_seconds", "Time to extract one "
                                         "page's text (trafilatura, in its child process).",
                                         buckets=EXTRACT_BUCKETS, registry=r)
        self.sent = Counter("monitor_alerts_sent", "Alerts accepted by their target (a digest "
                            "counts each alert it carries).", ["target"], registry=r)
        self.failures = Counter("monitor_delivery_failures", "Failed send attempts by outcome:"
                                " retrying or dead.", ["target", "outcome"], registry=r)
        self.latency = Histogram("monitor_delivery_latency_seconds", "From an alert's queueing "
                                 "to its acceptance by the target (group_wait, retries, quiet "
                                 "hours and digest periods included).", ["target"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self._state: StateCollector | None = None
        self._lock = threading.Lock()

    def polled(self, status: str, new: int = 0, stories: int = 0) -> None:
        self.polls.labels(status).inc()
        if new:
            self.new_entries.inc(new)
        if stories:
            self.stories_opened.inc(stories)

    def extracted(self, seconds: float) -> None:
        self.extract_seconds.observe(max(0.0, seconds))

    def delivered(self, target: str, latency: float) -> None:
        self.sent.labels(target).inc()
        self.latency.labels(target).observe(max(0.0, latency))

    def delivery_failed(self, target: str, outcome: str) -> None:
        self.failures.labels(target, outcome).inc()

    def watch(self, database: Path, heartbeat: Heartbeat | None = None,
              clock: Callable[[], float] = time.time, writes: WritePause | None = None) -> None:
        """Export, at each scrape, what ``database`` holds (and ``heartbeat``'s ages, whether
        ``writes`` is paused); a second call replaces the first. ``clock``: Unix time, for the
        oldest alert's age."""
        with self._lock:
            if self._state is not None:
                self.registry.unregister(self._state)
            self._state = StateCollector(database, heartbeat, clock, writes)
            self.registry.register(self._state)

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class StateCollector:
    """Reads the database at each scrape (a collector of ``prometheus_client``)."""

    def __init__(self, database: Path, heartbeat: Heartbeat | None = None,
                 clock: Callable[[], float] = time.time, writes: WritePause | None = None
                 ) -> None:
        self.database, self.heartbeat, self.clock = database, heartbeat, clock
        self.writes = writes
        self._lock = threading.Lock()  # scrapes run in parallel threads
        self._matches: Tally[tuple[str, str]] = Tally()
        # Matches are counted from the rows after this one: the last when watching began (no
        # database yet: every row is new; unreadable: the first scrape that reads it decides).
        self._last_match: int | None = 0
        if database.exists():
            try:
                with health.readonly(database) as conn:
                    self._last_match = health.last_match_id(conn)
            except sqlite3.Error:
                self._last_match = None

    def describe(self) -> Iterable[Metric]:
        """The families, without reading anything (the registry checks names with it)."""
        return list(self._families(None, answered=True))

    def collect(self) -> Iterable[Metric]:
        try:
            with health.readonly(self.database) as conn:
                picture = health.read_picture(conn)
                self._count_matches(conn)
        except (sqlite3.Error, OSError) as e:
            log.warning("metrics=database-unavailable error=%r", str(e))
            return list(self._families(None, answered=False))
        return list(self._families(picture, answered=True))

    def _count_matches(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            if self._last_match is None:
                self._last_match = health.last_match_id(conn)
                return
            for row_id, rule, severity in health.matches_after(conn, self._last_match):
                self._matches[(rule, severity)] += 1
                self._last_match = row_id

    def _families(self, picture: health.Picture | None, *, answered: bool) -> Iterable[Metric]:
        up = GaugeMetricFamily("monitor_database_up", "1 when the database answered this "
                               "scrape, else 0 (the database metrics are then absent).")
        up.add_metric([], 1 if answered else 0)
        matches = CounterMetricFamily("monitor_matches", "Rule matches recorded in the "
                                      "database since the listener started, by rule and "
                                      "severity.",
                                      labels=["rule", "severity"])
        with self._lock:
            for (rule, severity), n in sorted(self._matches.items()):
                matches.add_metric([rule, severity], n)
        beats = GaugeMetricFamily("monitor_heartbeat_age_seconds", "Seconds since each part "
                                  "of the daemon last showed it is alive.", labels=["part"])
        for part in health.BEAT_LIMITS:
            age = self.heartbeat.age(part) if self.heartbeat is not None else None
            if age is not None:
                beats.add_metric([part], age)
        yield from (up, matches, beats)
        if self.writes is not None:
            writable = GaugeMetricFamily(
                "monitor_database_writable", "0 from a write the database refused (a full "
                "disk, a read-only directory) until a poll or a drain stores again: the "
                "daemon's polls are paused meanwhile; else 1.")
            writable.add_metric([], 0 if self.writes.failing() is not None else 1)
            yield writable
        yield from self._database_families(picture)

    def _database_families(self, p: health.Picture | None) -> Iterable[Metric]:
        feeds = GaugeMetricFamily("monitor_feeds", "Feeds by health: active, failing (failing "
                                  "after [polling] failing_after errors in a row) or gone "
                                  "(HTTP 410).", labels=["status"])
        failures = GaugeMetricFamily("monitor_feed_consecutive_failures", "Failed polls in a "
                                     "row, by feed.", labels=["feed"])
        last_poll = GaugeMetricFamily("monitor_last_poll_timestamp_seconds", "When a feed was "
                                      "last polled (Unix time).")
        alerts = GaugeMetricFamily("monitor_alerts", "Outbox rows not sent, by target and "
                                   "state: pending, sending, dead.", labels=["target", "state"])
        depth = GaugeMetricFamily("monitor_outbox_depth", "Alerts waiting to be sent (pending "
                                  "or sending), all targets.")
        oldest = GaugeMetricFamily("monitor_outbox_oldest_age_seconds", "Age of the oldest "
                                   "alert waiting to be sent (0 when none waits).")
        stories = GaugeMetricFamily("monitor_stories", "Stories in the database.")
        last_sent = GaugeMetricFamily("monitor_target_last_sent_timestamp_seconds", "When an "
                                      "alert was last sent to each target (Unix time).",
                                      labels=["target"])
        disabled = GaugeMetricFamily("monitor_target_disabled", "1 for a target disabled as "
                                     "gone: its alerts wait for `monitor alerts enable`.",
                                     labels=["target"])
        if p is not None:
            for status, n in sorted(p.feeds.items()):
                feeds.add_metric([status], n)
            for feed, n in sorted(p.failures.items()):
                failures.add_metric([feed], n)
            if p.last_poll is not None:
                last_poll.add_metric([], p.last_poll.timestamp())
            for (target, state), n in sorted(p.outbox.items()):
                alerts.add_metric([target, state], n)
            depth.add_metric([], sum(p.state_total(s) for s in health.UNDELIVERED))
            age = (0.0 if p.oldest_undelivered is None
                   else self.clock() - p.oldest_undelivered.timestamp())
            oldest.add_metric([], max(0.0, age))
            stories.add_metric([], p.stories)
            for target, moment in sorted(p.last_sent_by_target.items()):
                last_sent.add_metric([target], moment.timestamp())
            for target in sorted(p.disabled_targets):
                disabled.add_metric([target], 1)
        yield from (feeds, failures, last_poll, alerts, depth, oldest, stories, last_sent,
                    disabled)


# --- the process's instance, fed by one call at each event --------------------------------------

_current = Metrics()


def current() -> Metrics:
    return _current


def install(metrics: Metrics) -> Metrics:
    """Make ``metrics`` the process's instance; return the one it replaces."""
    global _current
    previous, _current = _current, metrics
    return previous


def polled(status: str, new: int = 0, stories: int = 0) -> None:
    """A poll ended with ``status``; ``new`` entries stored, ``stories`` opened."""
    _current.polled(status, new, stories)


def extracted(seconds: float) -> None:
    _current.extracted(seconds)


def page_skipped() -> None:
    """A new entry's page was not fetched (``full_text = when_candidate``, not a candidate)."""
    _current.pages_skipped.inc()


def delivered(target: str, created_at: datetime, sent_at: datetime) -> None:
    """An alert queued at ``created_at`` was accepted by ``target`` at ``sent_at`` (both
    timezone-aware; a naive one counts the send without its latency)."""
    if created_at.tzinfo is None or sent_at.tzinfo is None:
        _current.sent.labels(target).inc()
        return
    _current.delivered(target, (sent_at - created_at).total_seconds())


def delivery_failed(target: str, outcome: str) -> None:
    """A send to ``target`` failed; ``outcome``: retrying or dead."""
    _current.delivery_failed(target, outcome)
