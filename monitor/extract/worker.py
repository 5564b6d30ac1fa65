"""Running a function in a child process that is killed when it overruns its time.

trafilatura's own ``EXTRACTION_TIMEOUT`` applies to its command line only, and a thread cannot
be stopped, so a page that keeps lxml and trafilatura busy (a few MB of paragraphs or table
rows takes seconds; worse exists) is given to a child process, waited for at most ``timeout``
seconds, and killed after that. Children come from a fork server that imported
``monitor.extract`` (and trafilatura) once, so each costs a fork, not an interpreter start, and
never inherits the threads, sockets or locks of the daemon.

The child has no network: it is there to parse a page already fetched by the guarded client,
so ``socket`` connections and name lookups raise in it (a trafilatura helper that fetches by
itself would fail there instead of reaching past the guard).
"""

from __future__ import annotations

import multiprocessing
import socket
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

__all__ = ["WorkerError", "run"]

_PRELOAD = ["monitor.extract"]
_lock = threading.Lock()
_context: Any = None


class WorkerError(Exception):
    """The child overran its time, died, or raised; the message says which, in one line."""


def run(func: Callable[..., Any], args: tuple[Any, ...], timeout: float) -> Any:
    """``func(*args)`` in a child process; WorkerError when it takes longer than ``timeout``
    seconds (the child is killed), dies, or raises. ``func`` must be a module-level function."""
    context = _get_context()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, func, args), name="monitor-extract",
                              daemon=True)
    failure: str | None = None
    started, ok, value = False, False, None
    try:
        try:
            process.start()
            started = True
        except OSError as e:
            raise WorkerError(f"cannot start an extraction process: {e}") from e
        finally:
            sender.close()  # ours; the child has its own copy: EOF here when it exits
        if not receiver.poll(timeout):
            failure = f"extraction took longer than {timeout:g}s: process killed"
        else:
            try:
                ok, value = receiver.recv()
            except (EOFError, OSError):
                failure = "extraction process died"
    finally:
        receiver.close()
        if started:
            if process.is_alive():
                process.kill()
            process.join(5)
            if failure == "extraction process died":
                failure += f" (exit code {process.exitcode})"
            if process.exitcode is not None:
                process.close()
    if failure is not None:
        raise WorkerError(failure)
    if not ok:
        raise WorkerError(str(value))
    return value


def _get_context() -> Any:
    global _context
    with _lock:
        if _context is None:
            if "forkserver" in multiprocessing.get_all_start_methods():
                forkserver = multiprocessing.get_context("forkserver")
                forkserver.set_forkserver_preload(_PRELOAD)
                _context = forkserver
            else:  # no fork server (Windows): a fresh interpreter per child, slower but sound
                _context = multiprocessing.get_context("spawn")
        return _context


def _child(conn: Connection, func: Callable[..., Any], args: tuple[Any, ...]) -> None:
    _cut_network()
    try:
        result: tuple[bool, Any] = (True, func(*args))
    except Exception as e:  # reported to the parent as a value; the parent decides
        detail = " ".join(str(e).split())[:200]
        result = (False, f"{type(e).__name__}: {detail}" if detail else type(e).__name__)
    conn.send(result)
    conn.close()


def _refuse(*args: object, **kwargs: object) -> Any:
    raise OSError("no network in the extraction process")


def _cut_network() -> None:
    socket.socket.connect = _refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = _refuse  # type: ignore[method-assign]
    socket.create_connection = _refuse
    socket.getaddrinfo = _refuse
