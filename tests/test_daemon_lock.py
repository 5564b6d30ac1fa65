"""One daemon per database: ``monitor run`` holds ``<database>.lock`` for its whole life; a
second one exits 1 at once naming the database and the holder's pid; ``monitor check`` is
allowed beside it; a holder that dies, even by ``kill -9``, leaves no stale lock."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from monitor.daemon_lock import DaemonLock, DaemonLockError, lock_path
from tests.conftest import ROOT, Receiver
from tests.test_pipeline_e2e import STORIES, Site, write_config

TIMEOUT = 60.0


def test_a_second_lock_on_one_database_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    db = tmp_path / "state" / "monitor.db"
    with DaemonLock(db) as held:
        assert held.path == lock_path(db) == tmp_path / "state" / "monitor.db.lock"
        assert held.path.read_text() == f"{os.getpid()}\n"
        with pytest.raises(DaemonLockError) as refused:
            DaemonLock(db).acquire()  # another open file: flock refuses it, even in-process
        message = str(refused.value)
        assert str(db) in message and f"pid {os.getpid()}" in message
        DaemonLock(tmp_path / "other.db").acquire()  # another database: no conflict
    with DaemonLock(db):  # released: free again
        pass


def test_a_holder_killed_with_sigkill_leaves_no_stale_lock(tmp_path: Path) -> None:
    db = tmp_path / "monitor.db"
    code = ("import sys, time; from pathlib import Path; from monitor.daemon_lock import "
            f"DaemonLock; DaemonLock(Path({str(db)!r})).acquire(); print('held', flush=True); "
            "time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        with pytest.raises(DaemonLockError, match=f"pid {child.pid}"):
            DaemonLock(db).acquire()
        child.send_signal(signal.SIGKILL)
        child.wait(TIMEOUT)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()
    assert lock_path(db).read_text() == f"{child.pid}\n", "the dead holder's pid is still there"
    with DaemonLock(db):  # ... and means nothing: the kernel dropped the lock
        assert lock_path(db).read_text() == f"{os.getpid()}\n"


def monitor(*args: str, hook: str) -> subprocess.Popen[str]:
    env = {**os.environ, "TEST_SLACK_WEBHOOK_URL": hook}
    env.pop("MONITOR_CONFIG", None)
    return subprocess.Popen([sys.executable, "-m", "monitor", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_one_daemon_per_database_and_check_beside_it(
        tmp_path: Path, sample_site: Site, receiver: Receiver,
        notify_socket: socket.socket) -> None:
    base, _ = sample_site
    config = write_config(tmp_path, base)
    config.write_text(config.read_text().replace("[stories]\n", "[stories]\ngroup_wait = '0s'\n"))
    db = tmp_path / "state" / "monitor.db"
    first = monitor("run", "--config", str(config), hook=receiver.url)
    procs = [first]
    try:
        assert notify_socket.recv(64) == b"READY=1"
        second = monitor("run", "--config", str(config), hook=receiver.url)
        procs.append(second)
        _, err = second.communicate(timeout=TIMEOUT)
        assert second.returncode == 1, err
        (line,) = err.strip().splitlines()[-1:]
        assert line.startswith("error: another `monitor run`")
        assert f"(pid {first.pid})" in line and str(db) in line
        # `monitor check` is allowed beside the daemon: SQLite orders the writers and the
        # outbox leases what it sends.
        check = monitor("check", "--config", str(config), hook=receiver.url)
        procs.append(check)
        out, err = check.communicate(timeout=TIMEOUT)
        assert check.returncode == 0, err
        assert "check: feeds=2 failed=0" in out
        deadline = time.monotonic() + TIMEOUT
        while len(receiver.requests) < len(STORIES) and time.monotonic() < deadline:
            time.sleep(0.1)
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=TIMEOUT)
        assert first.returncode == 0, err
        notify_socket.settimeout(5)
        while notify_socket.recv(64) != b"STOPPING=1":  # the second one said nothing
            pass
        third = monitor("run", "--config", str(config), hook=receiver.url)
        procs.append(third)
        assert notify_socket.recv(64) == b"READY=1", "the lock went with the first daemon"
        third.send_signal(signal.SIGTERM)
        _, err = third.communicate(timeout=TIMEOUT)
        assert third.returncode == 0, err
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
    with closing(sqlite3.connect(db)) as conn:
        (sent,) = conn.execute("SELECT count(*) FROM alerts WHERE state = 'sent'").fetchone()
    assert len(receiver.requests) == sent == len(STORIES), "no alert sent twice, none lost"
