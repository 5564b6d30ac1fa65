"""The httpcore network backend that resolves, classifies and dials: the SSRF guard proper.

httpcore asks the backend to connect to (host, port). The backend resolves the host itself,
refuses the connection unless every address returned is allowed, then dials one of those very
addresses, so a second DNS answer (rebinding) is never consulted. TLS still verifies against the
hostname, which httpcore passes to ``start_tls`` from the URL.

The backend also enforces the whole-request deadline: while a thread is inside
``GuardedBackend.deadline(...)``, every connect, read and write it makes waits at most until
then, so a server trickling headers or body cannot hold a request past ``total_timeout``.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore

from monitor.net.address import IPAddress, IPNetwork, ip_allowed

Resolver = Callable[[str, int], list[str]]
SocketOption = Any  # httpcore's SOCKET_OPTION union


class BlockedAddressError(Exception):
    """Raised inside httpcore when a host resolves to a refused address; the client rewraps it."""

    def __init__(self, host: str, address: str, *, literal: bool = False) -> None:
        self.host = host
        self.address = address
        if literal:
            message = f"refused: non-public address {address}"
        else:
            message = f"refused: {host} resolves to non-public address {address}"
        super().__init__(message)


def _parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def default_resolver(host: str, port: int) -> list[str]:
    """All addresses ``getaddrinfo`` gives for a TCP connection to host:port, in its order."""
    found: list[str] = []
    for family, _, _, _, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        if family in (socket.AF_INET, socket.AF_INET6) and str(sockaddr[0]) not in found:
            found.append(str(sockaddr[0]))
    return found


class GuardedBackend(httpcore.NetworkBackend):
    """Resolve with ``resolver``, refuse unless every address is allowed, dial a checked one."""

    def __init__(self, allow: tuple[IPNetwork, ...], resolver: Resolver) -> None:
        self._allow = allow
        self._resolver = resolver
        self._inner = httpcore.SyncBackend()
        self._local = threading.local()

    @contextmanager
    def deadline(self, at: float) -> Iterator[None]:
        """Bound this thread's network waits by ``at`` (a ``time.monotonic()`` value)."""
        previous = getattr(self._local, "at", None)
        self._local.at = at
        try:
            yield
        finally:
            self._local.at = previous

    def budget(self, timeout: float | None, error: type[Exception]) -> float | None:
        """``timeout`` cut to what is left before the deadline; ``error`` if nothing is left."""
        at: float | None = getattr(self._local, "at", None)
        if at is None:
            return timeout
        left = at - time.monotonic()
        if left <= 0:
            raise error("total deadline exceeded")
        return left if timeout is None else min(timeout, left)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        literal = _parse_ip(host)
        if literal is not None:
            addresses = [literal]  # nothing to look up
        else:
            addresses = self._resolve(host, port, self.budget(timeout, httpcore.ConnectTimeout))
        for address in addresses:  # every record, so a private one cannot be reached by fallback
            if not ip_allowed(address, self._allow):
                raise BlockedAddressError(host, str(address), literal=literal is not None)
        last: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:  # like socket.create_connection: the first that answers wins
            try:
                stream = self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=self.budget(timeout, httpcore.ConnectTimeout),
                    local_address=local_address,
                    socket_options=list(socket_options or ()),
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                last = e
                continue
            return _DeadlineStream(stream, self)
        assert last is not None
        raise last

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not used by the guarded client")

    def _resolve(self, host: str, port: int, timeout: float | None) -> list[IPAddress]:
        # getaddrinfo cannot be interrupted, so it runs in a daemon thread we stop waiting for.
        answer: list[str] = []
        failure: list[BaseException] = []

        def lookup() -> None:
            try:
                answer.extend(self._resolver(host, port))
            except BaseException as e:
                failure.append(e)

        worker = threading.Thread(target=lookup, name=f"resolve {host}", daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            raise httpcore.ConnectTimeout(f"DNS lookup of {host} timed out")
        if failure:
            if isinstance(failure[0], OSError | UnicodeError):  # UnicodeError: label too long
                raise httpcore.ConnectError(f"cannot resolve {host}: {failure[0]}") from failure[0]
            raise failure[0]
        if not answer:
            raise httpcore.ConnectError(f"cannot resolve {host}: no address")
        addresses: list[IPAddress] = []
        for text in answer:
            parsed = _parse_ip(text)
            if parsed is None:  # never hand the dialler something it would resolve again
                raise BlockedAddressError(host, repr(text))
            addresses.append(parsed)
        return addresses


class _DeadlineStream(httpcore.NetworkStream):
    """A connected stream whose every wait is cut to the calling thread's deadline."""

    def __init__(self, inner: httpcore.NetworkStream, backend: GuardedBackend) -> None:
        self._inner = inner
        self._backend = backend

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._backend.budget(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._backend.budget(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        budget = self._backend.budget(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._inner.start_tls(ssl_context, server_hostname, budget), self._backend
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)
