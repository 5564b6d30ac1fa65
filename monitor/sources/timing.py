"""When to poll a feed next: pure decisions that take the poll's outcome, the feed's state and
``now`` (``lemon24/reader``-style), so they are tested with literals and a fixed clock.

After a **success** (200 or 304) the wait is the feed's interval (``[[feeds]] interval``; in
adaptive mode, half the mean gap between the feed's recent entries), lengthened by what the feed
itself asks (``Cache-Control: max-age``, ``Expires``, RSS ``<ttl>``: the longest), then held
within ``[floor, ceiling]`` and spread by up to ``jitter`` (a fraction, upwards only, so the
floor holds) so feeds never poll in lock-step.

After a **failure** the wait grows exponentially with full jitter: uniform in
``[0, min(ceiling, interval × 2^(failures-1))]``, never under the floor; a ``Retry-After`` (for
this feed only, clamped to [60 s, 24 h]) is a lower bound. From ``failing_after`` consecutive
failures the feed is *failing* and retried at the ceiling (minus jitter), until it recovers.
A 410 makes it *gone*: no more polls until an operator says otherwise.
"""

from __future__ import annotations

import itertools
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

RETRY_AFTER_MIN = 60.0
RETRY_AFTER_MAX = 86400.0
_ADAPTIVE_ENTRIES = 20  # the most recent entries whose gaps set the adaptive interval


@dataclass(frozen=True)
class PollingConfig:
    """``[polling]``: bounds and behaviour of every feed's schedule."""

    floor: int = 900  # seconds: no feed is polled more often (after its first poll)
    ceiling: int = 86400  # seconds: nor less often; also the retry interval of a failing feed
    adaptive: bool = False  # interval from the feed's own rhythm instead of its `interval`
    jitter: float = 0.1  # the wait is spread upwards by up to this fraction
    failing_after: int = 3  # consecutive failures before the feed is failing (operator alert)
    concurrency: int = 16  # feeds polled at once (threads: they mostly wait on the network)
    per_host: int = 2  # requests at once to one host
    first_poll_max_age: int = 86400  # seconds: on a feed's first poll, older entries do not alert


@dataclass(frozen=True)
class Outcome:
    """What a poll said that matters for the schedule."""

    ok: bool  # 200 or 304
    gone: bool = False  # 410
    retry_after: float | None = None  # seconds, as the server sent it
    cache_lifetime: int | None = None  # seconds, from Cache-Control / Expires
    ttl: int | None = None  # seconds, from RSS <ttl>
    entry_times: tuple[datetime, ...] = ()  # publication times in the feed (adaptive mode)


@dataclass(frozen=True)
class Plan:
    """The next poll and why; ``next_poll`` is None for a gone feed."""

    next_poll: datetime | None
    interval: int  # the base interval used (seconds), for the record
    status: str  # active | failing | gone
    reason: str


def clamp_retry_after(seconds: float) -> float:
    return min(RETRY_AFTER_MAX, max(RETRY_AFTER_MIN, seconds))


def adaptive_interval(times: Sequence[datetime], fallback: int) -> int:
    """Half the median gap between the most recent entries (a feed that publishes hourly is
    polled every half hour); ``fallback`` with fewer than three dated entries."""
    recent = sorted(times, reverse=True)[:_ADAPTIVE_ENTRIES]
    if len(recent) < 3:
        return fallback
    gaps = [(a - b).total_seconds() for a, b in itertools.pairwise(recent)]
    return max(1, int(statistics.median(gaps) / 2))


def plan(outcome: Outcome, *, interval: int, failures: int, now: datetime,
         config: PollingConfig, rng: random.Random) -> Plan:
    """The next poll after ``outcome``. ``failures`` counts consecutive failures *including*
    this one (0 after a success); ``interval`` is the feed's configured interval."""
    floor, ceiling = config.floor, max(config.floor, config.ceiling)
    if outcome.gone:
        return Plan(None, interval, "gone", "HTTP 410: gone; not polled again until enabled")
    if outcome.ok:
        base = adaptive_interval(outcome.entry_times, interval) if config.adaptive else interval
        asked = max((h for h in (outcome.cache_lifetime, outcome.ttl) if h is not None),
                    default=0)
        steady = min(ceiling, max(floor, base, asked))
        reason = f"interval {base}s" + (f", feed asks {asked}s" if asked > base else "")
        spread = steady * (1 + rng.uniform(0, config.jitter))
        return Plan(now + timedelta(seconds=spread), base, "active", reason)
    wait: float
    if failures >= config.failing_after:
        wait = ceiling * (1 - rng.uniform(0, config.jitter))
        status, reason = "failing", f"{failures} failures in a row: retry at the ceiling"
    else:
        cap = min(float(ceiling), interval * 2.0 ** max(0, failures - 1))
        wait = max(float(floor), rng.uniform(0, cap))
        status, reason = "active", f"failure {failures}: backoff"
    if outcome.retry_after is not None:
        asked_wait = clamp_retry_after(outcome.retry_after)
        if asked_wait > wait:
            wait, reason = asked_wait, f"Retry-After {asked_wait:g}s"
    return Plan(now + timedelta(seconds=wait), interval, status, reason)
