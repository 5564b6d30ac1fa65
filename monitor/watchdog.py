"""systemd's watchdog, pinged honestly: only by the daemon's main loop, only after a self-check.

Under ``WatchdogSec=`` systemd sets ``WATCHDOG_USEC`` (and ``WATCHDOG_PID``) and restarts the
service when no ``WATCHDOG=1`` arrives within that time. A thread that pinged on a timer would
keep a daemon alive whose work had stopped, so the pings come from the main loop
(``scheduler.run_daemon``), which calls :meth:`Watchdog.tick` between its waits, and only when:

- the dispatch job finished a run within :data:`JOB_LIMITS` ``["dispatch"]`` seconds (it runs
  every 2 s and only hands feeds to the pollers, so a busy pool does not delay it; a dispatch
  stuck on a lock, or a dead scheduler thread, does);
- the deliver job showed progress within ``JOB_LIMITS["deliver"]``: it beats at each step of a
  drain (each read of its clock), so a long drain of a backlog is alive, a send hung past every
  network deadline is not;
- the database answers a read within :data:`DB_TIMEOUT` seconds (a fresh read-only connection:
  a file deleted, replaced or unreadable fails it).

Each part beats on the context's :class:`~monitor.heartbeat.Heartbeat` (``dispatch``,
``deliver``; the main loop beats ``scheduler`` after a passing self-check, watchdog or not,
every :data:`SELF_CHECK_EVERY` seconds, or every half WatchdogSec if that is shorter), which
``/healthz`` reads too. A part that never beat is stale: the first ping means both jobs have
run.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Mapping
from contextlib import closing
from pathlib import Path

from monitor.heartbeat import Heartbeat

__all__ = ["DB_TIMEOUT", "JOB_LIMITS", "SELF_CHECK_EVERY", "Watchdog", "watchdog_interval"]

log = logging.getLogger("monitor.watchdog")
# Seconds without a beat after which a job is taken as hung. Dispatch runs every 2 s and does
# two reads; a drain beats at each row, and a row's send is bounded by network deadlines
# (a minute or two at most) plus at most a minute of waiting for paced slots.
JOB_LIMITS: dict[str, float] = {"dispatch": 60.0, "deliver": 600.0}
DB_TIMEOUT = 1.0  # seconds the database may keep a read waiting (busy timeout)
SELF_CHECK_EVERY = 5.0  # seconds between two passing self-checks (at most)
RETRY_EVERY = 0.5  # seconds before a failed self-check is tried again


def watchdog_interval(env: Mapping[str, str] | None = None, pid: int | None = None
                      ) -> float | None:
    """Seconds within which systemd wants a ping, as ``sd_watchdog_enabled(3)`` decides:
    ``WATCHDOG_USEC`` set to a positive integer, and ``WATCHDOG_PID`` unset or this process.
    None when the watchdog is off (or the variables are malformed)."""
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    owner = env.get("WATCHDOG_PID")
    if owner is not None and owner != str(os.getpid() if pid is None else pid):
        return None
    return int(usec) / 1_000_000


class Watchdog:
    """The main loop's self-check and the pings it earns; used from that one thread."""

    def __init__(self, heartbeat: Heartbeat, database: Path, *, interval: float | None,
                 notify: Callable[[str], object], limits: Mapping[str, float] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.heartbeat = heartbeat
        self.database = database
        self.interval = interval
        self.notify = notify
        self.limits = dict(JOB_LIMITS if limits is None else limits)
        self._clock = clock
        # At most half of WatchdogSec, as sd_watchdog_enabled(3) advises (and often enough
        # for /healthz's limit on the ``scheduler`` beat); a self-check that fails is tried
        # again every RETRY_EVERY until one passes or systemd gives up.
        self.every = SELF_CHECK_EVERY if interval is None else min(SELF_CHECK_EVERY,
                                                                    interval / 2)
        self._started = self._next = clock()
        self._failing: str | None = None

    def wake(self, at_most: float) -> float:
        """How long the main loop may wait before it should call :meth:`tick` again."""
        return max(0.0, min(at_most, self._next - self._clock()))

    def problems(self) -> dict[str, str]:
        """What is wrong now, part → what (empty: healthy): a job whose beat is stale, a
        database that does not answer."""
        found = {name: f"last beat {'never' if age is None else f'{age:.0f}s ago'}"
                 for name, age in self.heartbeat.stale(self.limits).items()}
        try:
            uri = f"{self.database.resolve().as_uri()}?mode=ro"
            with closing(sqlite3.connect(uri, uri=True, timeout=DB_TIMEOUT)) as conn:
                conn.execute("SELECT count(*) FROM _migrations").fetchone()
        except (sqlite3.Error, OSError) as e:
            found["database"] = f"{self.database}: {e}"
        return found

    def tick(self) -> bool:
        """When a check is due: run it; if healthy, beat ``scheduler`` and (under systemd's
        watchdog) send ``WATCHDOG=1``. True when it pinged or beat."""
        if self._clock() < self._next:
            return False
        problems = self.problems()
        if problems:
            self._next = self._clock() + min(RETRY_EVERY, self.every)
            if self._starting(problems):
                return False  # no ping yet, nothing wrong yet
            parts = ",".join(sorted(problems))
            if parts != self._failing:  # once per change, not at every retry
                log.error("watchdog=withheld parts=%s reason=%r: systemd restarts the daemon "
                          "if this lasts", parts,
                          "; ".join(f"{k}: {v}" for k, v in sorted(problems.items())))
                self._failing = parts
            return False
        if self._failing is not None:
            log.warning("watchdog=healthy again")
            self._failing = None
        self._next = self._clock() + self.every
        self.heartbeat.beat("scheduler")
        if self.interval is not None:
            self.notify("WATCHDOG=1")
        return True

    def _starting(self, problems: Mapping[str, str]) -> bool:
        """Only jobs that have not run yet, within their limit of the start."""
        up = self._clock() - self._started
        return all(name in self.limits and self.heartbeat.age(name) is None
                   and up <= self.limits[name] for name in problems)
