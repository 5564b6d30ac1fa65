"""Running a function in a pool of long-lived worker processes, each killed (and replaced) when
it overruns its time.

trafilatura's own ``EXTRACTION_TIMEOUT`` applies to its command line only, and a thread cannot
be stopped, so pages are parsed in worker processes: a call waits for an idle worker, hands it
the task and waits at most ``timeout`` seconds for the answer; a worker that overruns (a few MB
of paragraphs or table rows keeps lxml and trafilatura busy for seconds; worse exists) or dies
is killed and replaced, and the call raises :class:`WorkerError`. The pool has one worker per
CPU (``os.cpu_count()``, at least one), so extraction keeps every core busy while the daemon's
threads wait on the network; the workers live as long as the process, so a page costs a pipe
round trip, not a process start. They come from a fork server that imported
``monitor.extract`` (and trafilatura) once, and never inherit the threads, sockets or locks of
the daemon.

A worker has no network: it is there to parse a page already fetched by the guarded client, so
``socket`` connections and name lookups raise in it (a trafilatura helper that fetches by
itself would fail there instead of reaching past the guard).
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import socket
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

__all__ = ["WorkerError", "pool_size", "run", "worker_pids"]

_PRELOAD = ["monitor.extract"]
_lock = threading.Lock()
# Held while the pool is started: the threads that find no pool wait for the first one's
# workers instead of each starting a pool of its own (a feed's page threads all arrive at once).
_start_lock = threading.Lock()
_context: Any = None
_idle: queue.SimpleQueue[_Worker] | None = None
_workers: set[_Worker] = set()  # every live worker, idle or busy (for worker_pids)


class WorkerError(Exception):
    """The worker overran its time, died, or raised; the message says which, in one line."""


def pool_size() -> int:
    return max(1, os.cpu_count() or 1)


class _Worker:
    """One long-lived child process and the parent's end of its pipe."""

    def __init__(self, context: Any) -> None:
        self.conn, child_end = context.Pipe(duplex=True)
        self.process = context.Process(target=_serve, args=(child_end,),
                                       name="monitor-extract", daemon=True)
        try:
            self.process.start()
        except OSError as e:
            raise WorkerError(f"cannot start an extraction process: {e}") from e
        finally:
            child_end.close()  # the child has its own copy: EOF here when it exits

    def stop(self) -> int | None:
        """Kill the child (if alive) and return its exit code."""
        self.conn.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        code: int | None = self.process.exitcode
        return code


def run(func: Callable[..., Any], args: tuple[Any, ...], timeout: float) -> Any:
    """``func(*args)`` in a worker process; WorkerError when it takes longer than ``timeout``
    seconds (the worker is killed and replaced), the worker dies, or ``func`` raises. ``func``
    must be a module-level function. The time spent waiting for an idle worker does not count
    against ``timeout``."""
    idle = _pool()
    worker = idle.get()
    failure: str | None = None
    ok, value = False, None
    try:
        try:
            worker.conn.send((func, args))
            if not worker.conn.poll(timeout):
                failure = f"extraction took longer than {timeout:g}s: process killed"
            else:
                ok, value = worker.conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            failure = "extraction process died"
    finally:
        if failure is None:
            idle.put(worker)
        else:
            code = worker.stop()
            if failure == "extraction process died":
                failure += f" (exit code {code})"
            _replace(worker, idle)
    if failure is not None:
        raise WorkerError(failure)
    if not ok:
        raise WorkerError(str(value))
    return value


def worker_pids() -> list[int]:
    """The pids of the pool's live workers (empty before the first call)."""
    with _lock:
        return sorted(w.process.pid for w in _workers if w.process.pid is not None)


def _replace(dead: _Worker, idle: queue.SimpleQueue[_Worker]) -> None:
    """Put a new worker in the place of ``dead`` (the pool keeps its size)."""
    with _lock:
        _workers.discard(dead)
    fresh = _Worker(_get_context())
    with _lock:
        _workers.add(fresh)
    idle.put(fresh)


def _pool() -> queue.SimpleQueue[_Worker]:
    """The idle queue, the pool started on the first call: ``pool_size()`` workers, started
    once (under ``_start_lock``) however many threads ask at once."""
    global _idle
    idle = _idle
    if idle is not None:
        return idle
    with _start_lock:
        if _idle is not None:  # started by the thread this one waited for
            return _idle
        context = _get_context()
        started: list[_Worker] = []
        try:
            for _ in range(pool_size()):
                started.append(_Worker(context))
        except BaseException:
            for worker in started:  # no half pool left running
                worker.stop()
            raise
        idle = queue.SimpleQueue()
        with _lock:
            for worker in started:
                _workers.add(worker)
                idle.put(worker)
        _idle = idle  # published once full: a thread that sees it needs no lock
        return idle


def _get_context() -> Any:
    global _context
    with _lock:
        if _context is None:
            if "forkserver" in multiprocessing.get_all_start_methods():
                forkserver = multiprocessing.get_context("forkserver")
                forkserver.set_forkserver_preload(_PRELOAD)
                _context = forkserver
            else:  # no fork server (Windows): a fresh interpreter per worker, slower but sound
                _context = multiprocessing.get_context("spawn")
        return _context


def _serve(conn: Connection) -> None:
    """A worker's loop: run each task received, send back ``(ok, value or message)``."""
    _cut_network()
    while True:
        try:
            func, args = conn.recv()
        except (EOFError, OSError):
            return  # the parent closed its end or exited
        try:
            result: tuple[bool, Any] = (True, func(*args))
        except Exception as e:  # reported to the parent as a value; the parent decides
            detail = " ".join(str(e).split())[:200]
            result = (False, f"{type(e).__name__}: {detail}" if detail else type(e).__name__)
        conn.send(result)


def _refuse(*args: object, **kwargs: object) -> Any:
    raise OSError("no network in the extraction process")


def _cut_network() -> None:
    socket.socket.connect = _refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = _refuse  # type: ignore[method-assign]
    socket.create_connection = _refuse
    socket.getaddrinfo = _refuse
