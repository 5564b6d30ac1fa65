"""``[polling]`` concurrency and per_host changed by a reload (``Dispatcher.set_limits``): the
next polls start under the new limits at once, the polls running finish, and the daemon's
reload hands the limits over."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest

from monitor import daemon_context
from monitor.dispatch import MAX_CONCURRENCY, Dispatcher
from monitor.model import Feed
from monitor.pipeline import Context
from tests import test_scheduler_reload
from tests.test_scheduler_reload import feed, rewrite

daemon_ctx = test_scheduler_reload.daemon_ctx  # the fixture, here too

SETTLE = 0.3  # seconds given to a poll that must not start, to show that it does not


class Polls:
    """A job whose polls each wait for their own release; records what started."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started: list[str] = []
        self.running = 0
        self.peak = 0
        self.release: dict[str, threading.Event] = {}

    def __call__(self, f: Feed) -> str:
        with self.lock:
            self.started.append(f.name)
            self.running += 1
            self.peak = max(self.peak, self.running)
        self.release.setdefault(f.name, threading.Event()).wait(30)
        with self.lock:
            self.running -= 1
        return f.name

    def let_go(self, name: str) -> None:
        self.release.setdefault(name, threading.Event()).set()

    def wait_started(self, count: int) -> list[str]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.started) >= count:
                    return list(self.started)
            time.sleep(0.01)
        raise AssertionError(f"{count} polls did not start: {self.started}")

    def still(self, count: int) -> None:
        time.sleep(SETTLE)
        with self.lock:
            assert len(self.started) == count, self.started


@pytest.fixture
def polls() -> Iterator[tuple[Polls, Callable[..., Dispatcher]]]:
    job = Polls()
    made: list[Dispatcher] = []

    def make(concurrency: int, per_host: int) -> Dispatcher:
        made.append(Dispatcher(job, concurrency=concurrency, per_host=per_host))
        return made[-1]

    yield job, make
    for name in list(job.release) + [f"f{i}" for i in range(10)]:
        job.let_go(name)
    for d in made:
        d.close()


def feeds(count: int, host: str | None = None) -> list[Feed]:
    return [Feed(name=f"f{i}", url=f"https://{host or f'h{i}'}.example/", interval=60)
            for i in range(count)]


def submit_all(d: Dispatcher, items: list[Feed]) -> list[Future[object]]:
    futures = [d.submit(f) for f in items]
    assert all(f is not None for f in futures)
    return [f for f in futures if f is not None]


def test_raising_concurrency_starts_the_waiting_feeds_at_once(
        polls: tuple[Polls, Callable[..., Dispatcher]]) -> None:
    job, make = polls
    d = make(1, 4)
    futures = submit_all(d, feeds(4))
    job.wait_started(1)
    job.still(1)
    d.set_limits(3, 4)  # the first poll still running: the others must not wait for it
    assert job.wait_started(3) == ["f0", "f1", "f2"], "in the order they came"
    job.still(3)
    for name in ("f0", "f1", "f2", "f3"):
        job.let_go(name)
    assert sorted(str(f.result(timeout=30)) for f in futures) == ["f0", "f1", "f2", "f3"]
    assert job.peak == 3


def test_lowering_concurrency_lets_the_running_polls_finish_and_starts_no_more_meanwhile(
        polls: tuple[Polls, Callable[..., Dispatcher]]) -> None:
    job, make = polls
    d = make(3, 4)
    futures = submit_all(d, feeds(5))
    job.wait_started(3)
    d.set_limits(1, 4)
    job.let_go("f0")
    futures[0].result(timeout=30)
    job.still(3)  # two still running, the limit one: nothing starts
    job.let_go("f1")
    futures[1].result(timeout=30)
    job.still(3)  # one running
    job.let_go("f2")
    assert job.wait_started(4)[3] == "f3"
    job.still(4)
    job.let_go("f3")
    job.let_go("f4")
    assert sorted(str(f.result(timeout=30)) for f in futures) == ["f0", "f1", "f2", "f3", "f4"]


def test_raising_per_host_starts_more_feeds_of_a_busy_host(
        polls: tuple[Polls, Callable[..., Dispatcher]]) -> None:
    job, make = polls
    d = make(4, 1)
    futures = submit_all(d, feeds(3, host="one"))
    job.wait_started(1)
    job.still(1)
    d.set_limits(4, 2)
    job.wait_started(2)
    job.still(2)
    for name in ("f0", "f1", "f2"):
        job.let_go(name)
    assert len([f.result(timeout=30) for f in futures]) == 3


def test_limits_out_of_range_are_refused(
        polls: tuple[Polls, Callable[..., Dispatcher]]) -> None:
    _, make = polls
    d = make(2, 2)
    for concurrency, per_host in ((0, 2), (MAX_CONCURRENCY + 1, 2), (2, 0)):
        with pytest.raises(ValueError):
            d.set_limits(concurrency, per_host)
    assert (d.concurrency, d.per_host) == (2, 2)


def test_a_reload_hands_the_new_limits_to_the_dispatcher(
        daemon_ctx: Context, caplog: pytest.LogCaptureFixture) -> None:
    ctx = daemon_ctx
    old = ctx.config.polling
    d = Dispatcher(lambda f: None, concurrency=old.concurrency, per_host=old.per_host)
    try:
        caplog.set_level(logging.INFO)
        rewrite(Path(ctx.config.path), "[polling]\nconcurrency = 5\nper_host = 3\n" + feed("a"))
        assert daemon_context.reload(ctx, [], d) is True
        assert (d.concurrency, d.per_host) == (5, 3)
        assert "polling=resized concurrency=5 per_host=3" in caplog.messages
        caplog.clear()
        assert daemon_context.reload(ctx, [], d) is True  # the same again: nothing to say
        assert not any(m.startswith("polling=") for m in caplog.messages)
    finally:
        d.close()
