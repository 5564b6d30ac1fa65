"""Connection pools kept per origin, so no request pays for the connections of other hosts.

httpcore's ``ConnectionPool`` walks every connection it holds (idle? expired? socket readable?)
on each request and on each response close. One pool shared by every host made that walk the
largest CPU cost of the client once pages and feeds came from 40 hosts at once. :class:`Pools`
keeps one small pool per origin (scheme, host, port) instead, each behind its own
``httpx.HTTPTransport``, and routes every request to the pool of its URL's origin; a redirect
to another origin therefore goes through that origin's pool.

What is kept stays bounded. At most ``cap`` pools are kept: when a new origin would exceed it,
the least recently used pools with no request in flight are closed, and when every pool is
busy the count goes over the cap until requests end rather than make anyone wait. A pool
holds at most ``keepalive`` idle connections, each for ``keepalive_expiry`` seconds, and a
pool idle for longer than that holds nothing worth keeping: the next request to any origin
closes it, so the sockets of a host fetched once do not linger until that host comes back.

A request counts as in flight from before its pool is asked for a connection until its
response is closed, so a pool is never closed under a thread that is using it.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpcore
import httpx

from monitor.net.urls import origin

Origin = tuple[str, str, int]  # (scheme, host, port), the default port filled in

CAP = 64  # per-origin pools kept while idle
KEEPALIVE = 4  # idle connections kept per pool
KEEPALIVE_EXPIRY = 5.0  # seconds an idle connection is kept
MAX_CONNECTIONS = 100  # per pool; HostSlots and the dispatcher bound concurrency well below


def _origin_transport(
    backend: httpcore.NetworkBackend,
    ssl_context: ssl.SSLContext,
    *,
    keepalive: int = KEEPALIVE,
    keepalive_expiry: float = KEEPALIVE_EXPIRY,
) -> tuple[httpx.HTTPTransport, httpcore.ConnectionPool]:
    """A transport dialling through ``backend``: HTTP/1.1 only, no retries, no environment.

    The pool is the one ``HTTPTransport`` builds for itself (httpx 0.28, no proxy), with our
    backend; RuntimeError if this httpx has no such pool to replace.
    """
    # trust_env=False: no proxy variables, no SSL_CERT_FILE; a transport reads no .netrc.
    transport = httpx.HTTPTransport(verify=ssl_context, trust_env=False)
    if not isinstance(getattr(transport, "_pool", None), httpcore.ConnectionPool):
        raise RuntimeError("unsupported httpx version: HTTPTransport has no _pool")
    pool = httpcore.ConnectionPool(
        ssl_context=ssl_context,
        max_connections=MAX_CONNECTIONS,
        max_keepalive_connections=keepalive,
        keepalive_expiry=keepalive_expiry,
        http1=True,
        http2=False,
        retries=0,
        network_backend=backend,
    )
    transport._pool = pool
    return transport, pool


@dataclass(eq=False)
class _Entry:
    """One origin's transport and pool, with the requests in flight on it."""

    origin: Origin
    transport: httpx.HTTPTransport
    pool: httpcore.ConnectionPool
    busy: int = 0  # requests from before handle_request until their response is closed
    idle_since: float = 0.0  # time.monotonic() when the last of them ended


class Pools(httpx.BaseTransport):
    """An httpx transport that sends each request through the pool of its origin.

    Thread-safe: any number of threads may send requests at once.
    """

    def __init__(
        self,
        backend: httpcore.NetworkBackend,
        ssl_context: ssl.SSLContext,
        *,
        cap: int = CAP,
        keepalive: int = KEEPALIVE,
        keepalive_expiry: float = KEEPALIVE_EXPIRY,
    ) -> None:
        self._backend = backend
        self._ssl_context = ssl_context
        self._cap = cap
        self._keepalive = keepalive
        self._expiry = keepalive_expiry
        self._lock = threading.Lock()
        # Least recently used first: an entry moves to the end when taken and when given back,
        # so the idle entries stand in the order they became idle.
        self._entries: OrderedDict[Origin, _Entry] = OrderedDict()
        _origin_transport(backend, ssl_context)[0].close()  # an unsupported httpx fails here, now

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        entry, evicted = self._take(origin(request.url))
        try:
            _close(evicted)
            response = entry.transport.handle_request(request)
            assert isinstance(response.stream, httpx.SyncByteStream)  # as HTTPTransport's own
            response.stream = _Released(response.stream, lambda: self._give_back(entry))
        except BaseException:
            self._give_back(entry)
            raise
        return response

    def pools(self) -> dict[Origin, httpcore.ConnectionPool]:
        """The pools kept now, by origin (a snapshot, for tests and diagnostics)."""
        with self._lock:
            return {key: entry.pool for key, entry in self._entries.items()}

    def close(self) -> None:
        """Close every pool, busy or not; a later request opens new ones."""
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
        _close(entries)

    # --- internals -------------------------------------------------------------------------

    def _new(self, key: Origin) -> _Entry:
        transport, pool = _origin_transport(
            self._backend, self._ssl_context,
            keepalive=self._keepalive, keepalive_expiry=self._expiry,
        )
        return _Entry(key, transport, pool)

    def _take(self, key: Origin) -> tuple[_Entry, list[_Entry]]:
        """The entry of ``key``, counted busy, and the entries removed to make room (to close)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = self._new(key)
            else:
                self._entries.move_to_end(key)
            entry.busy += 1
            return entry, self._evict(time.monotonic())

    def _give_back(self, entry: _Entry) -> None:
        """Count ``entry``'s request ended; close what went over the cap while it was busy."""
        with self._lock:
            entry.busy -= 1
            entry.idle_since = time.monotonic()
            if self._entries.get(entry.origin) is entry:  # not already evicted or closed
                self._entries.move_to_end(entry.origin)
            evicted = self._evict(entry.idle_since)
        _close(evicted)

    def _evict(self, now: float) -> list[_Entry]:
        """Remove idle entries, oldest first, while over the cap or expired (lock held)."""
        over = len(self._entries) - self._cap
        doomed: list[_Entry] = []
        for entry in self._entries.values():
            if entry.busy:
                continue
            if over <= 0 and now - entry.idle_since <= self._expiry:
                break  # every idle entry after this one became idle later
            doomed.append(entry)
            over -= 1
        for entry in doomed:
            del self._entries[entry.origin]
        return doomed


class _Released(httpx.SyncByteStream):
    """A response body that calls ``release`` once, when it is closed."""

    def __init__(self, inner: httpx.SyncByteStream, release: Callable[[], None]) -> None:
        self._inner = inner
        self._release: Callable[[], None] | None = release

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._inner)

    def close(self) -> None:
        release, self._release = self._release, None
        try:
            self._inner.close()
        finally:
            if release is not None:
                release()


def _close(entries: list[_Entry]) -> None:
    for entry in entries:
        entry.transport.close()
