"""At most N requests at once to one host, across every thread of a client (security case 82):
feed polls and page fetches alike. A request waits for a slot before its deadline starts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit


def host_of(url: str) -> str:
    """The host a URL names, lower-cased (the whole URL when it has none)."""
    try:
        return (urlsplit(url).hostname or url).lower()
    except ValueError:
        return url


class HostSlots:
    """A semaphore per host, made on first use; ``limit`` None or 0 means no limit."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit or 0
        self._lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = {}

    @contextmanager
    def hold(self, url: str) -> Iterator[None]:
        if not self.limit:
            yield
            return
        host = host_of(url)
        with self._lock:
            slot = self._slots.get(host)
            if slot is None:
                slot = self._slots[host] = threading.BoundedSemaphore(self.limit)
        with slot:
            yield
