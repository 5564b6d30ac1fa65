"""When a feed is polled next (``monitor.sources.timing``), the header values it reads
(``monitor.headers``), and the concurrent dispatcher's limits (``monitor.dispatch``). Fixed
clock and seeded randomness; nothing sleeps."""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from monitor.dispatch import Dispatcher
from monitor.headers import cache_lifetime, parse_retry_after
from monitor.model import Feed
from monitor.net.limits import host_of
from monitor.sources.timing import Outcome, PollingConfig, adaptive_interval, plan

NOW = datetime(2024, 8, 7, 12, 0, tzinfo=UTC)
POLICY = PollingConfig(floor=900, ceiling=86400, jitter=0.1, failing_after=3)


def wait(outcome: Outcome, *, interval: int = 3600, failures: int = 0,
         config: PollingConfig = POLICY, seed: int = 1) -> float:
    p = plan(outcome, interval=interval, failures=failures, now=NOW, config=config,
             rng=random.Random(seed))
    assert p.next_poll is not None
    return (p.next_poll - NOW).total_seconds()


def test_success_waits_the_interval_plus_upward_jitter_only() -> None:
    waits = [wait(Outcome(ok=True), seed=s) for s in range(200)]
    assert all(3600 <= w <= 3960 for w in waits)
    assert len({round(w) for w in waits}) > 100, "jittered: feeds do not poll in lock-step"


@pytest.mark.parametrize(("outcome", "interval", "expected"), [
    (Outcome(ok=True), 60, 900),  # the floor holds for a config that asks too often
    (Outcome(ok=True, cache_lifetime=10), 3600, 3600),  # max-age=10 does not speed it up
    (Outcome(ok=True, cache_lifetime=7200), 3600, 7200),  # a longer one slows it down
    (Outcome(ok=True, ttl=365 * 86400), 3600, 86400),  # <ttl> of a year: the ceiling
    (Outcome(ok=True, cache_lifetime=0), 3600, 3600),  # Expires: 0 / no-cache: no hint
    (Outcome(ok=True, ttl=5400, cache_lifetime=4000), 3600, 5400),  # the longest hint
])
def test_feed_hints_within_floor_and_ceiling(outcome: Outcome, interval: int,
                                             expected: float) -> None:
    no_jitter = PollingConfig(floor=900, ceiling=86400, jitter=0.0)
    assert wait(outcome, interval=interval, config=no_jitter) == expected


def test_failures_back_off_exponentially_with_full_jitter_and_a_floor() -> None:
    for failures, cap in ((1, 3600), (2, 7200)):
        waits = [wait(Outcome(ok=False), failures=failures, seed=s) for s in range(300)]
        assert all(900 <= w <= cap for w in waits)
        assert max(waits) > 0.8 * cap and len({round(w) for w in waits}) > 100
    p = plan(Outcome(ok=False), interval=3600, failures=1, now=NOW, config=POLICY,
             rng=random.Random(1))
    assert p.status == "active" and "backoff" in p.reason


def test_repeated_failures_make_the_feed_failing_and_retried_at_the_ceiling() -> None:
    p = plan(Outcome(ok=False), interval=3600, failures=3, now=NOW, config=POLICY,
             rng=random.Random(2))
    assert p.status == "failing" and p.next_poll is not None
    assert 0.9 * 86400 <= (p.next_poll - NOW).total_seconds() <= 86400


@pytest.mark.parametrize(("retry_after", "least"), [
    (30.0, 900),  # below the floor and the 60 s clamp: the backoff's own floor decides
    (7200.0, 7200),
    (999_999_999.0, 86400),  # absurd: clamped to a day
])
def test_retry_after_is_a_clamped_lower_bound_for_this_feed(retry_after: float,
                                                            least: float) -> None:
    w = wait(Outcome(ok=False, retry_after=retry_after), failures=1)
    assert least <= w <= max(least, 3600)


def test_gone_is_never_polled_again() -> None:
    p = plan(Outcome(ok=False, gone=True), interval=3600, failures=1, now=NOW,
             config=POLICY, rng=random.Random(1))
    assert p.next_poll is None and p.status == "gone"


def test_adaptive_interval_follows_the_feed_rhythm_within_bounds() -> None:
    hourly = tuple(NOW - timedelta(hours=h) for h in range(10))
    assert adaptive_interval(hourly, 3600) == 1800
    assert adaptive_interval(hourly[:2], 3600) == 3600, "too few dated entries: fallback"
    adaptive = PollingConfig(floor=900, ceiling=86400, jitter=0.0, adaptive=True)
    assert wait(Outcome(ok=True, entry_times=hourly), config=adaptive) == 1800
    busy = tuple(NOW - timedelta(minutes=m) for m in range(0, 50, 5))
    assert wait(Outcome(ok=True, entry_times=busy), config=adaptive) == 900, "the floor"
    quiet = tuple(NOW - timedelta(days=7 * w) for w in range(5))
    assert wait(Outcome(ok=True, entry_times=quiet), config=adaptive) == 86400, "the ceiling"


@pytest.mark.parametrize(("value", "expected"), [
    ("120", 120.0), ("0", 0.0), ("-5", None), ("soon", None), ("", None), (None, None),
    ("Wed, 07 Aug 2024 12:02:00 GMT", 120.0),
    ("Wed, 07 Aug 2024 11:00:00 GMT", 0.0),  # a date in the past
])
def test_retry_after_values(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW.timestamp()) == expected


@pytest.mark.parametrize(("cache_control", "expires", "expected"), [
    ("public, max-age=600", None, 600),
    ("max-age=600", "Wed, 07 Aug 2024 14:00:00 GMT", 600),  # max-age wins
    (None, "Wed, 07 Aug 2024 14:00:00 GMT", 7200),
    (None, "0", 0),  # an invalid Expires is already expired
    ("no-cache", None, 0),
    ("private", None, None),
    (None, None, None),
])
def test_cache_lifetime(cache_control: str | None, expires: str | None,
                        expected: int | None) -> None:
    assert cache_lifetime(cache_control, expires, NOW) == expected


def test_host_of() -> None:
    assert host_of("https://Example.ORG:8443/feed") == "example.org"
    assert host_of("not a url") == "not a url"


def test_dispatcher_keeps_the_per_host_and_global_limits() -> None:
    lock = threading.Lock()
    now: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    running = [0]
    peak_all = [0]
    gate = threading.Event()
    hold = threading.Event()

    def job(feed: Feed) -> str:
        host = host_of(feed.url)
        with lock:
            now[host] += 1
            running[0] += 1
            peak[host] = max(peak[host], now[host])
            peak_all[0] = max(peak_all[0], running[0])
        hold.wait(30)  # until feeds[0] was submitted twice: it is surely running or queued
        gate.wait(0.02)
        with lock:
            now[host] -= 1
            running[0] -= 1
        return feed.name

    feeds = [Feed(name=f"slow{i}", url=f"https://slow.example/{i}", interval=3600)
             for i in range(10)]
    feeds += [Feed(name=f"f{i}", url=f"https://host{i}.example/", interval=3600)
              for i in range(10)]
    d = Dispatcher(job, concurrency=4, per_host=2)
    futures = [d.submit(f) for f in feeds]
    assert d.submit(feeds[0]) is None, "a feed already queued is not queued twice"
    hold.set()
    results = [f.result(timeout=30) for f in futures if f is not None]
    d.close()
    assert sorted(results) == sorted(f.name for f in feeds)
    assert peak["slow.example"] <= 2 and peak_all[0] <= 4
    assert d.submit(feeds[0]) is None, "closed"


def test_a_slow_host_does_not_hold_the_others() -> None:
    release = threading.Event()
    finished: list[str] = []

    def job(feed: Feed) -> None:
        if "slow" in feed.url:
            release.wait(30)
        finished.append(feed.name)

    d = Dispatcher(job, concurrency=3, per_host=2)
    slow = [d.submit(Feed(name=f"s{i}", url="https://slow.example/", interval=60))
            for i in range(6)]
    fast = [d.submit(Feed(name=f"f{i}", url=f"https://h{i}.example/", interval=60))
            for i in range(8)]
    for f in fast:
        assert f is not None
        f.result(timeout=30)
    assert not any(name.startswith("s") for name in finished), "the slow host is still stuck"
    release.set()
    for f in slow:
        assert f is not None
        f.result(timeout=30)
    d.close()
    assert len(finished) == 14
