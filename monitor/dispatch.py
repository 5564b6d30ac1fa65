"""Polls run concurrently, politely: at most ``concurrency`` feeds at once, at most ``per_host``
of them on one host, and one feed never twice at once.

A feed whose host is busy waits in a queue without holding a worker, so a slow host delays only
its own feeds (the others take the free workers). ``monitor check`` submits every feed and waits;
the daemon's dispatch job submits the feeds that are due and returns at once.

A feed passes two gates: its host's (``per_host``), then the dispatcher's (``concurrency``),
each in the order the feeds came. The pool's threads are made as the polls need them, so a
reload may change both limits (:meth:`Dispatcher.set_limits`): the next feeds start under the
new ones, and the polls running finish.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from monitor.model import Feed
from monitor.net.limits import host_of

MAX_CONCURRENCY = 256  # the most [polling] concurrency may be (monitor.config)


class Dispatcher:
    """Runs ``job(feed)`` for submitted feeds within the limits; thread-safe."""

    def __init__(self, job: Callable[[Feed], object], *, concurrency: int,
                 per_host: int) -> None:
        self._job = job
        self.concurrency, self.per_host = concurrency, per_host
        self._pool = ThreadPoolExecutor(MAX_CONCURRENCY, thread_name_prefix="poll")
        self._lock = threading.Lock()
        self._busy: Counter[str] = Counter()  # host → feeds past its gate (ready or polling)
        self._running = 0  # feeds polling now
        self._active: set[str] = set()  # feed names queued or polling
        self._waiting: dict[str, deque[tuple[Feed, Future[object]]]] = {}  # host → queue
        self._ready: deque[tuple[Feed, str, Future[object]]] = deque()  # past their host's gate
        self._closed = False

    def submit(self, feed: Feed, url: str | None = None) -> Future[object] | None:
        """Poll ``feed`` (whose host is that of ``url``, default its config URL) as soon as the
        limits allow; None when it is already queued or polling, or the dispatcher is closed."""
        host = host_of(url or feed.url)
        done: Future[object] = Future()
        with self._lock:
            if self._closed or feed.name in self._active:
                return None
            self._active.add(feed.name)
            self._waiting.setdefault(host, deque()).append((feed, done))
            self._start_ready(host)
            self._launch()
        return done

    def set_limits(self, concurrency: int, per_host: int) -> None:
        """New limits (a reload): feeds start under them from now on; running polls finish."""
        if not 0 < concurrency <= MAX_CONCURRENCY or per_host < 1:
            raise ValueError(f"limits out of range: concurrency={concurrency} "
                             f"per_host={per_host}")
        with self._lock:
            self.concurrency, self.per_host = concurrency, per_host
            if self._closed:
                return
            for host in list(self._waiting):
                self._start_ready(host)
            self._launch()

    def active(self) -> int:
        with self._lock:
            return len(self._active)

    def close(self, wait: bool = True) -> None:
        """Take no more feeds, drop those still waiting, and (``wait``) let running polls end."""
        with self._lock:
            self._closed = True
            dropped = [item for queue in self._waiting.values() for item in queue]
            dropped += [(feed, done) for feed, _, done in self._ready]
            self._waiting.clear()
            self._ready.clear()
            for feed, done in dropped:
                self._active.discard(feed.name)
                done.cancel()
        self._pool.shutdown(wait=wait)

    def _start_ready(self, host: str) -> None:
        """Pass the feeds waiting for ``host`` through its gate while it has room (called with
        the lock held): only a submit or a finished poll on that host can make room there, so
        only its queue is looked at."""
        queue = self._waiting.get(host)
        while queue and self._busy[host] < self.per_host:
            feed, done = queue.popleft()
            self._busy[host] += 1
            self._ready.append((feed, host, done))
        if not queue:
            self._waiting.pop(host, None)

    def _launch(self) -> None:
        """Start the feeds past their host's gate while fewer than ``concurrency`` poll (called
        with the lock held)."""
        while self._ready and self._running < self.concurrency:
            feed, host, done = self._ready.popleft()
            self._running += 1
            self._pool.submit(self._run, feed, host, done)

    def _run(self, feed: Feed, host: str, done: Future[object]) -> None:
        try:
            result = self._job(feed)
        except BaseException as e:  # handed to whoever waits on the future (the job logs)
            done.set_exception(e)
        else:
            done.set_result(result)
        finally:
            with self._lock:
                self._running -= 1
                self._busy[host] -= 1
                self._active.discard(feed.name)
                if not self._closed:
                    self._start_ready(host)
                    self._launch()
