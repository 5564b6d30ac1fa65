"""When the daemon's parts last showed they were alive: read by the systemd watchdog (the
scheduler loop pings only while its own beats are fresh) and by ``/healthz``.

Each part beats under a name (``scheduler``: the main loop after its self-check; ``dispatch``:
the job that hands due feeds to the pollers; ``deliver``: the outbox drain). Monotonic time, so
a clock change does not fake a hang.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Heartbeat:
    """Thread-safe last-beat times, by part name."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._beats: dict[str, float] = {}

    def beat(self, name: str) -> None:
        with self._lock:
            self._beats[name] = self._clock()

    def age(self, name: str) -> float | None:
        """Seconds since ``name`` last beat; None if it never did."""
        with self._lock:
            at = self._beats.get(name)
        return None if at is None else self._clock() - at

    def stale(self, limits: dict[str, float]) -> dict[str, float | None]:
        """The parts whose last beat is older than their limit (or missing): name → age."""
        out: dict[str, float | None] = {}
        for name, limit in limits.items():
            age = self.age(name)
            if age is None or age > limit:
                out[name] = age
        return out
