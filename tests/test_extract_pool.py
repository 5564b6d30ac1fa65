"""The extraction pool hands each worker a second task while it parses the first
(``worker.DEPTH``): what waits in a worker's pipe is never charged for the task before it, and
is handed to another worker when that one is killed or dies (real worker processes)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from monitor.extract import worker


def _die_later(seconds: float) -> None:
    time.sleep(seconds)
    os._exit(3)


@pytest.fixture
def threads() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2 * worker.pool_size() * worker.DEPTH) as pool:
        yield pool


def _loads() -> list[int]:
    with worker._lock:
        return sorted(w.load for w in worker._workers if not w.retired)


def _until(condition: Callable[[], bool]) -> None:
    """Wait (at most 30 s) for what other threads do; fail when it never comes."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "the pool never got there"
        time.sleep(0.01)


def _fill_heads(threads: ThreadPoolExecutor, func: Callable[..., Any], args: tuple[Any, ...],
                timeout: float) -> list[Future[Any]]:
    """One call of ``func`` at the head of every worker."""
    worker.run(len, ("warm",), 30)
    _until(lambda: _loads() == [0] * worker.pool_size())
    heads = [threads.submit(worker.run, func, args, timeout) for _ in range(worker.pool_size())]
    _until(lambda: _loads() == [1] * worker.pool_size())
    return heads


def test_a_second_task_waits_in_the_pipe_and_its_time_begins_with_it(
        threads: ThreadPoolExecutor) -> None:
    """Each worker parses a 1.5 s task (allowed 30 s) while a 0.5 s-limited one waits behind
    it: the waiting one is not killed at 0.5 s, and runs in the same, unreplaced worker."""
    heads = _fill_heads(threads, time.sleep, (1.5,), 30)
    before = worker.worker_pids()
    behind = [threads.submit(worker.run, os.getpid, (), 0.5) for _ in heads]
    _until(lambda: _loads() == [2] * worker.pool_size())
    assert [h.result(30) for h in heads] == [None] * len(heads)
    assert sorted(b.result(30) for b in behind) == before
    assert worker.worker_pids() == before


@pytest.mark.parametrize(("head", "args", "timeout", "failure"), [
    (time.sleep, (60,), 2, r"extraction took longer than 2s: process killed"),
    # 3, as the task exited; multiprocessing's forkserver reports 255 when it could not read
    # the status back (seen once, on a loaded machine)
    (_die_later, (2,), 30, r"extraction process died \(exit code (?:3|255)\)"),
], ids=["overrun", "death"])
def test_the_task_behind_a_lost_worker_is_handed_to_another_one(
        head: Callable[..., Any], args: tuple[Any, ...], timeout: float, failure: str,
        threads: ThreadPoolExecutor) -> None:
    """Each worker parses a task that overruns its time (or dies) while another waits behind
    it: the first fails, the second is run by the worker put in its place."""
    heads = _fill_heads(threads, head, args, timeout)
    before = set(worker.worker_pids())
    behind = [threads.submit(worker.run, os.getpid, (), 30) for _ in heads]
    _until(lambda: _loads() == [2] * worker.pool_size())  # queued behind the heads
    for lost in heads:
        with pytest.raises(worker.WorkerError, match=failure):
            lost.result(30)
    pids = {b.result(30) for b in behind}
    after = set(worker.worker_pids())
    assert pids <= after and not pids & before, "run by the new workers, not lost"
    assert len(after) == worker.pool_size() and not after & before


def test_many_calls_at_once_are_all_answered_each_by_its_own_result(
        threads: ThreadPoolExecutor) -> None:
    """Answers come back to the call they belong to, whatever the order of the threads."""
    calls = [threads.submit(worker.run, str, (n,), 30) for n in range(200)]
    assert [c.result(30) for c in calls] == [str(n) for n in range(200)]
    assert max(_loads()) == 0


def test_a_pool_closed_on_purpose_is_not_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "_started", False)
    fresh: set[worker._Worker] = set()
    monkeypatch.setattr(worker, "_workers", fresh)
    worker.run(len, ("warm",), 30)
    pool = list(fresh)
    for w in pool:
        w.close()
    _until(lambda: all(w.conn.closed for w in pool))  # their readers saw the end and stopped
    assert fresh == set(pool), "none replaced"
    assert not any(w.process.is_alive() for w in pool)
