"""The daemon's polls paused while the database takes no writes (security case 68: a full disk,
a read-only state directory, an I/O error).

A poll that cannot store what it read leaves its feed due (its next poll is one more write),
so without a pause the daemon would fetch that feed and its pages again every few seconds, and
write nothing each time. After a poll ends in a :class:`~monitor.errors.StoreError` no poll
starts (nor does an outbox drain, whose claims are writes too) for :data:`FIRST_PAUSE`; each
further failure right after a pause doubles it, up to :data:`LONGEST_PAUSE`; the first poll
that stores its outcome ends it, or the first drain that stores the outcome of a row (one with
nothing to send proves nothing: it wrote nothing). The pause and its end are logged once each,
as one line, and ``/healthz`` answers "unhealthy" from the first failed write until then.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

__all__ = ["FIRST_PAUSE", "LONGEST_PAUSE", "WritePause"]

log = logging.getLogger("monitor.scheduler")
FIRST_PAUSE = timedelta(seconds=30)
LONGEST_PAUSE = timedelta(minutes=10)


class WritePause:
    """Whether the daemon's writers wait, and until when (times from the daemon's clock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until: datetime | None = None
        self._length: timedelta | None = None  # of the last pause, until a poll or drain stores
        self._error: str | None = None  # what the last failed write said, until then

    def paused(self, now: datetime) -> bool:
        with self._lock:
            return self._until is not None and now < self._until

    def failing(self) -> str | None:
        """What the last failed write said, while no poll or drain has stored since
        (``/healthz``)."""
        with self._lock:
            return self._error

    def failed(self, error: Exception, now: datetime) -> None:
        """A write failed at ``now``: pause (a failure during a pause, from a poll that began
        before it, changes nothing)."""
        with self._lock:
            if self._until is not None and now < self._until:
                return
            length = FIRST_PAUSE if self._length is None else min(2 * self._length,
                                                                   LONGEST_PAUSE)
            self._length, self._until, self._error = length, now + length, str(error)
        log.error("store=paused for=%ds error=%r: the database takes no writes; no poll or "
                  "delivery starts until then", length.total_seconds(), str(error))

    def stored(self) -> None:
        """A poll, or a drain, stored its outcome: the database takes writes again."""
        with self._lock:
            if self._length is None:
                return
            self._length = self._until = self._error = None
        log.warning("store=resumed: the database takes writes again")
