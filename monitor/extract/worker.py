"""Running a function in a pool of long-lived worker processes, each killed (and replaced) when
it overruns its time.

trafilatura's own ``EXTRACTION_TIMEOUT`` applies to its command line only, and a thread cannot
be stopped, so pages are parsed in worker processes: a call hands its task to the least loaded
worker and waits at most ``timeout`` seconds for the answer once the worker has begun it; a
worker that overruns (a few MB of paragraphs or table rows keeps lxml and trafilatura busy for
seconds; worse exists) or dies is killed and replaced, and the call raises :class:`WorkerError`.
The pool has one worker per CPU (``os.cpu_count()``, at least one), so extraction keeps every
core busy while the daemon's threads wait on the network; the workers live as long as the
process, so a page costs a pipe round trip, not a process start. They come from a fork server
that imported ``monitor.extract`` (and trafilatura) once, and never inherit the threads,
sockets or locks of the daemon.

Each worker is handed up to ``DEPTH`` (2) tasks at once: the one it parses and the next, which
waits in its pipe. So a worker goes from one page to the next without waiting for a thread of
the daemon to read its answer and hand it more work: those threads share one interpreter lock
with the daemon's matching and fingerprinting, and a worker fed one task at a time sat idle
~25 % of a check (``bench/README.md``). A thread per worker reads its answers, in the order the
tasks were sent. When a worker overruns or dies, the task it was parsing fails and the one
waiting behind it is handed to another worker, its time not yet begun.

A worker has no network: it is there to parse a page already fetched by the guarded client, so
``socket`` connections and name lookups raise in it (a trafilatura helper that fetches by
itself would fail there instead of reaching past the guard).
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any

__all__ = ["DEPTH", "WorkerError", "pool_size", "run", "worker_pids"]

log = logging.getLogger("monitor.extract")

_PRELOAD = ["monitor.extract"]
DEPTH = 2  # tasks handed to a worker at once: the one it parses and the next
_lock = threading.Lock()
# Held while the pool is started: the threads that find no pool wait for the first one's
# workers instead of each starting a pool of its own (a feed's page threads all arrive at once).
_start_lock = threading.Lock()
_context: Any = None
_started = False  # the pool's workers are in ``_workers``
_workers: set[_Worker] = set()  # every live worker
_space = threading.Condition(_lock)  # notified when a worker takes fewer tasks than DEPTH
_exiting = False  # the interpreter exits: its workers are ended, not replaced


@atexit.register  # runs before multiprocessing's own exit handler, which ends the workers
def _at_exit() -> None:
    global _exiting
    _exiting = True


class WorkerError(Exception):
    """The worker overran its time, died, or raised; the message says which, in one line."""


def pool_size() -> int:
    return max(1, os.cpu_count() or 1)


class _Task:
    """A call handed to a worker: when the worker began it, and its answer once there."""

    def __init__(self) -> None:
        self.began: float | None = None
        self.answer: tuple[bool, Any] | None = None  # (ok, value or message); _AGAIN: re-send


_AGAIN = (False, None)  # the answer of a task whose worker was lost before it began it


class _Worker:
    """One long-lived child process, the parent's end of its pipe, and the tasks handed to it
    (``queue``, in the order they were sent; the first is the one it parses)."""

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
        self.load = 0  # tasks given to it and not answered (under ``_lock``)
        self.retired = False  # killed or dead: takes no more tasks
        self.queue: deque[_Task] = deque()
        self.changed = threading.Condition()  # guards queue/retired; notified on each answer
        self.send_lock = threading.Lock()  # one message at a time on the pipe

    def start_reader(self) -> None:
        threading.Thread(target=_read, args=(self,), name="monitor-extract-reader",
                         daemon=True).start()

    def close(self) -> None:
        """Stop the worker for good, not replaced (a pool that is shut down): what it was
        handed fails."""
        with self.changed:
            self.retired = True
        _kill(self, "the extraction pool was closed", replace=False)

    def stop(self) -> int | None:
        """Kill the child (if alive) and return its exit code (the reader closes the pipe)."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        code: int | None = self.process.exitcode
        return code


def run(func: Callable[..., Any], args: tuple[Any, ...], timeout: float) -> Any:
    """``func(*args)`` in a worker process; WorkerError when it takes longer than ``timeout``
    seconds (the worker is killed and replaced), the worker dies, or ``func`` raises. ``func``
    must be a module-level function. The time a task waits for a worker, or in a worker's pipe
    behind another, does not count against ``timeout``."""
    message = ForkingPickler.dumps((func, args))
    _pool()
    while True:
        worker = _take()
        task = _Task()
        with worker.send_lock:
            with worker.changed:
                if worker.retired:
                    task.answer = _AGAIN
                else:
                    worker.queue.append(task)
                    if len(worker.queue) == 1:
                        task.began = time.monotonic()
            if task.answer is None:
                try:
                    worker.conn.send_bytes(message)
                except OSError:  # it died: its reader hands the task on or fails it
                    pass
        answer = task.answer or _wait(worker, task, timeout)
        _release(worker)
        if answer is not _AGAIN:
            break
    ok, value = answer
    if not ok:
        raise WorkerError(str(value))
    return value


def _take() -> _Worker:
    """The live worker with the fewest tasks, once one has fewer than ``DEPTH``."""
    with _space:
        while True:
            live = [w for w in _workers if not w.retired]
            if live:
                worker = min(live, key=lambda w: w.load)
                if worker.load < DEPTH:
                    worker.load += 1
                    return worker
            _space.wait()


def _release(worker: _Worker) -> None:
    with _space:
        worker.load -= 1
        _space.notify()


def _wait(worker: _Worker, task: _Task, timeout: float) -> tuple[bool, Any]:
    """The task's answer; the worker killed and replaced when it overruns ``timeout`` seconds
    after it began the task."""
    with worker.changed:
        while task.answer is None:
            if task.began is None:  # behind another task: its time has not begun
                worker.changed.wait()
                continue
            left = task.began + timeout - time.monotonic()
            if left <= 0:
                worker.retired = True  # decided under the lock: no answer slips in after it
                break
            worker.changed.wait(left)
        else:
            return task.answer
    _kill(worker, f"extraction took longer than {timeout:g}s: process killed")
    assert task.answer is not None
    return task.answer


def _read(worker: _Worker) -> None:
    """A worker's reader thread: each answer to the task it belongs to, until the pipe ends;
    then, unless the worker was retired on purpose, it died: replaced."""
    while True:
        try:
            answer = worker.conn.recv()
        except (EOFError, OSError):
            break
        with worker.changed:
            if worker.retired or not worker.queue:
                break
            worker.queue.popleft().answer = answer
            if worker.queue:
                worker.queue[0].began = time.monotonic()
            worker.changed.notify_all()
    with worker.changed:
        died = not worker.retired and not _exiting
        worker.retired = True
    try:
        if died:
            _kill(worker, "extraction process died (exit code {code})")
    except WorkerError as e:
        log.error("extract=pool error=%r", str(e))
    finally:
        worker.conn.close()


def _kill(worker: _Worker, failure: str, *, replace: bool = True) -> None:
    """Kill a retired ``worker`` and replace it: the task it was parsing fails with ``failure``
    (``{code}``: its exit code), the others are handed on."""
    code = worker.stop()
    try:
        if replace:
            _replace(worker)
    finally:
        with worker.changed:
            tasks = list(worker.queue)
            worker.queue.clear()
            for k, task in enumerate(tasks):
                task.answer = (False, failure.format(code=code)) if k == 0 else _AGAIN
            worker.changed.notify_all()


def worker_pids() -> list[int]:
    """The pids of the pool's live workers (empty before the first call)."""
    with _lock:
        return sorted(w.process.pid for w in _workers if w.process.pid is not None)


def _replace(dead: _Worker) -> None:
    """Put a new worker in the place of ``dead`` (the pool keeps its size)."""
    with _lock:
        _workers.discard(dead)
    fresh = _Worker(_get_context())
    fresh.start_reader()
    with _space:
        _workers.add(fresh)
        _space.notify_all()


def _pool() -> None:
    """Start the pool on the first call: ``pool_size()`` workers, started once (under
    ``_start_lock``) however many threads ask at once."""
    global _started
    if _started:
        return
    with _start_lock:
        if _started:  # started by the thread this one waited for
            return
        context = _get_context()
        started: list[_Worker] = []
        try:
            for _ in range(pool_size()):
                started.append(_Worker(context))
        except BaseException:
            for worker in started:  # no half pool left running
                worker.stop()
                worker.conn.close()  # no reader yet
            raise
        for worker in started:
            worker.start_reader()
        with _space:
            _workers.update(started)
            _space.notify_all()
        _started = True  # published once full: a thread that sees it needs no lock


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
