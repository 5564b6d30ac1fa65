"""The systemd watchdog (security case 73) and readiness (case 74), against a Unix datagram
socket the test opens (``notify_socket``): pings only while the daemon's jobs beat and the
database answers; none while the dispatch job hangs, though other threads run; still pings when
every poller is busy; READY=1 only after migrations and rules, never when a migration fails."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest

from monitor import scheduler, watchdog
from monitor.config import load_config
from monitor.heartbeat import Heartbeat
from monitor.pipeline import Context
from monitor.store import Store
from monitor.store.schema import MIGRATIONS
from monitor.watchdog import Watchdog, watchdog_interval
from tests.conftest import ROOT
from tests.test_scheduler_reload import write_setup

TIMEOUT = 20.0  # seconds: the bound on every wait below


def test_watchdog_interval_follows_sd_watchdog_enabled() -> None:
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "60000000"}) == 60.0  # no WATCHDOG_PID: ours
    assert watchdog_interval({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "42"}, pid=42) == 60
    assert watchdog_interval({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "42"}, pid=7) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}) is None


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_ping_needs_fresh_beats_and_a_database_that_answers(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    Store.open(db).close()
    clock = FakeClock()
    heartbeat = Heartbeat(clock)
    sent: list[str] = []
    dog = Watchdog(heartbeat, db, interval=10.0, notify=sent.append,
                   limits={"dispatch": 30.0, "deliver": 300.0}, clock=clock)
    assert dog.every == 5.0, "half of WatchdogSec"
    assert dog.tick() is False and sent == [], "the jobs have not run yet"
    heartbeat.beat("dispatch")
    heartbeat.beat("deliver")
    assert dog.tick() is False, "a failed check is tried again half a second later"
    clock.now += 0.5
    assert dog.tick() is True and sent == ["WATCHDOG=1"]
    assert heartbeat.age("scheduler") == 0.0, "the main loop beat after its check"
    clock.now += 1
    assert dog.tick() is False and sent == ["WATCHDOG=1"], "not due yet"
    clock.now += 30  # dispatch last beat 31 s ago
    heartbeat.beat("deliver")
    assert set(dog.problems()) == {"dispatch"}
    assert dog.tick() is False and sent == ["WATCHDOG=1"]
    heartbeat.beat("dispatch")
    clock.now += 1
    assert dog.tick() is True and sent == ["WATCHDOG=1"] * 2, "healthy again"
    clock.now += 10
    heartbeat.beat("dispatch")
    heartbeat.beat("deliver")
    db.write_bytes(b"not a database at all, " * 100)  # replaced, say, or corrupt
    assert set(dog.problems()) == {"database"}
    assert dog.tick() is False and sent == ["WATCHDOG=1"] * 2


def test_no_watchdog_still_beats_the_scheduler_but_sends_nothing(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    Store.open(db).close()
    heartbeat = Heartbeat()
    sent: list[str] = []
    for job in ("dispatch", "deliver"):
        heartbeat.beat(job)
    dog = Watchdog(heartbeat, db, interval=None, notify=sent.append)
    assert dog.tick() is True and sent == []
    assert heartbeat.age("scheduler") is not None, "/healthz reads this beat"


# --- the daemon, in a thread ---------------------------------------------------------------------


@pytest.fixture
def watched(monkeypatch: pytest.MonkeyPatch, notify_socket: socket.socket) -> socket.socket:
    """systemd's watchdog on, at 1 s (a ping every half second); a job hung after 1 s."""
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    monkeypatch.setitem(watchdog.JOB_LIMITS, "dispatch", 1.0)
    notify_socket.settimeout(TIMEOUT)
    return notify_socket


@contextmanager
def daemon(ctx: Context) -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=scheduler.run_daemon, args=(ctx, stop),
                              kwargs={"stop_timeout": 10.0})
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(TIMEOUT)
        assert not thread.is_alive()
        ctx.client.close()
        ctx.store.close()


def context(tmp_path: Path, feeds: str = "", polling: str = "") -> Context:
    from monitor.cli import build_context

    config = load_config(write_setup(tmp_path, feeds + polling))
    return build_context(config, Store.open(config.database), daemon=True)


def next_ping(sock: socket.socket) -> None:
    while sock.recv(256) != b"WATCHDOG=1":  # READY=1 first; the socket times out
        pass


def pings_stop(sock: socket.socket, quiet: float) -> bool:
    """True once no ping came for ``quiet`` seconds (within TIMEOUT)."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        sock.settimeout(quiet)
        try:
            sock.recv(256)
        except TimeoutError:
            return True
        finally:
            sock.settimeout(TIMEOUT)
    return False


def test_pings_while_healthy_none_while_dispatch_hangs_then_again(
        tmp_path: Path, watched: socket.socket, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    ctx = context(tmp_path)
    hang, entered, release = threading.Event(), threading.Event(), threading.Event()
    real_due_feeds = ctx.store.due_feeds

    def due_feeds(now: Any) -> Any:
        if hang.is_set():  # a dispatch blocked, say, on a lock
            entered.set()
            release.wait(TIMEOUT)
        return real_due_feeds(now)

    monkeypatch.setattr(ctx.store, "due_feeds", due_feeds)
    with daemon(ctx):
        try:
            for _ in range(4):
                next_ping(watched)  # healthy: one every half second
            hang.set()
            assert entered.wait(TIMEOUT)
            assert pings_stop(watched, quiet=2.0), "pings went on while dispatch hung"
            age = ctx.heartbeat.age("dispatch")
            assert age is not None and age > 1.0
            assert ctx.heartbeat.age("deliver") is not None, "other jobs still ran"
            assert any("watchdog=withheld parts=dispatch" in r.getMessage()
                       for r in caplog.records)
            hang.clear()
        finally:
            release.set()
        next_ping(watched)  # the job ran again: pings resume


def test_a_busy_daemon_still_pings(tmp_path: Path, watched: socket.socket,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    feeds = "".join(f'[[feeds]]\nname = "f{i}"\nurl = "http://127.0.0.1:9/{i}.xml"\n'
                    for i in range(6))
    ctx = context(tmp_path, feeds, "[polling]\nconcurrency = 2\nper_host = 2\n")
    started: list[str] = []
    release = threading.Event()

    def slow_poll(ctx: Context, feed: Any) -> None:  # a poll that takes its time
        started.append(feed.name)
        release.wait(TIMEOUT)

    monkeypatch.setattr(scheduler, "poll_feed", slow_poll)
    with daemon(ctx):
        try:
            next_ping(watched)
            deadline = time.monotonic() + TIMEOUT
            while len(started) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(started) == 2, "both pollers are busy, four feeds wait"
            for _ in range(6):  # three seconds' worth, longer than the dispatch limit
                next_ping(watched)
            assert len(started) == 2
        finally:
            release.set()


# --- readiness, with the real command ------------------------------------------------------------

# Runs `monitor` with Store.migrate and match.load_rules wrapped to tell the notify socket when
# they are done, and {extra} (a migration that fails) first.
WRAPPER = """
import os, socket, sqlite3, sys
import monitor.store as store_module
from monitor import match

def say(message):
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(os.environ["NOTIFY_SOCKET"])
        s.sendall(message.encode())

real_migrate, real_load = store_module.Store.migrate, match.load_rules
def migrate(self):
    applied = real_migrate(self)
    say("TEST:migrated")
    return applied
def load_rules(directory):
    ruleset = real_load(directory)
    say("TEST:rules-loaded")
    return ruleset
store_module.Store.migrate, match.load_rules = migrate, load_rules
{extra}
from monitor.cli import main
sys.argv = ["monitor", *sys.argv[1:]]
main()
"""
FAILING_MIGRATION = """
def broken(db):
    db.execute("CREATE TABLE half_done (x)")
    raise sqlite3.OperationalError("no such column: nope")
store_module.MIGRATIONS = [*store_module.MIGRATIONS, ("9999_broken", broken)]
"""


def monitor_run(config: Path, extra: str = "", **kw: Any) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "MONITOR_CONFIG"}
    return subprocess.Popen([sys.executable, "-c", WRAPPER.format(extra=extra), "run",
                             "--config", str(config)], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def test_ready_comes_after_migrations_and_rules_then_pings(
        tmp_path: Path, notify_socket: socket.socket, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")  # no WATCHDOG_PID: any process may ping
    config = write_setup(tmp_path)
    proc = monitor_run(config)
    try:
        said = [notify_socket.recv(256) for _ in range(3)]
        assert said == [b"TEST:migrated", b"TEST:rules-loaded", b"READY=1"]
        with closing(sqlite3.connect(tmp_path / "monitor.db")) as conn:
            applied = {r[0] for r in conn.execute("SELECT name FROM _migrations")}
        assert applied == {name for name, _ in MIGRATIONS}
        for _ in range(3):
            assert notify_socket.recv(256) == b"WATCHDOG=1"
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err


def test_a_failing_migration_exits_non_zero_without_ready(
        tmp_path: Path, notify_socket: socket.socket) -> None:
    config = write_setup(tmp_path)
    proc = monitor_run(config, FAILING_MIGRATION)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err
    assert err.strip().splitlines()[-1] == ("error: migration 9999_broken failed: no such "
                                            "column: nope")
    assert "Traceback" not in err
    notify_socket.setblocking(False)
    with pytest.raises(BlockingIOError):
        notify_socket.recv(256)  # not READY=1, nor even the migrations done
    with closing(sqlite3.connect(tmp_path / "monitor.db")) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        applied = {r[0] for r in conn.execute("SELECT name FROM _migrations")}
    assert "half_done" not in tables, "the failed migration was rolled back whole"
    assert applied == {name for name, _ in MIGRATIONS}, "the schema stays at the last version"
