"""Stopping the daemon (security cases 75 and 76): on SIGTERM no new work starts, the work in
hand finishes or is abandoned within ``--stop-timeout``, the outbox stays consistent and
resumes on the next start, under the same ``webhook-id``; a restart does not poll a feed before
its stored next poll."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from monitor import scheduler
from monitor.pipeline import Context
from tests import test_fault_kill
from tests.conftest import ROOT
from tests.test_daemon_watchdog import context
from tests.test_deliver_pacing import NOW, fill
from tests.test_fault_kill import GatedReceiver, expire_leases_and_check, states, write_config
from tests.test_pipeline_e2e import Site

TIMEOUT = 60.0
gated_receiver = test_fault_kill.gated_receiver  # a receiver that holds requests until told


def wait_until(what: str, test: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not test():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def start(config: Path, hook: str, notify: socket.socket, *args: str,
          env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`monitor run` on ``config``, once it said READY=1."""
    full = {**os.environ, "TEST_WEBHOOK_URL": hook, **(env or {})}
    full.pop("MONITOR_CONFIG", None)
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(config),
                             *args], cwd=ROOT, env=full, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        while notify.recv(64) != b"READY=1":  # the socket times out after 60 s
            pass
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    return proc


def stop(proc: subprocess.Popen[str], within: float) -> str:
    """SIGTERM, then the process must be gone within ``within`` seconds; its stderr."""
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=within)
    assert proc.returncode == 0, err
    return err


def polled(tmp_path: Path) -> int:
    """Feeds whose poll was recorded (a next poll stored)."""
    with closing(sqlite3.connect(tmp_path / "state" / "monitor.db", timeout=10)) as conn:
        return int(conn.execute("SELECT count(*) FROM feeds WHERE next_poll_at IS NOT NULL")
                   .fetchone()[0])


def feed_requests(seen: list[tuple[str, dict[str, str]]]) -> int:
    return sum(1 for path, _ in seen if path.startswith("/feeds/"))


def test_sigterm_mid_delivery_abandons_the_send_within_the_bound_and_a_restart_resends_it(
        tmp_path: Path, sample_site: Site, gated_receiver: GatedReceiver,
        notify_socket: socket.socket) -> None:
    base, seen = sample_site
    config = write_config(tmp_path, base)
    # The send's own deadline far off: only the stop timeout can end the held request.
    config.write_text(config.read_text().replace("total_timeout = 20", "total_timeout = 200"))
    rec = gated_receiver
    proc = start(config, rec.url, notify_socket, "--stop-timeout", "2")
    try:
        rec.wait_for("the first send", lambda: len(rec.exchanges) >= 1)
        wait_until("both feeds polled and recorded", lambda: polled(tmp_path) == 2)
        held = rec.exchanges[0].webhook_id
        err = stop(proc, within=30)  # well past the 2 s stop timeout, well below 30
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "daemon=stopped abandoned=yes" in err
    assert len(rec.exchanges) == 1, "no new send started after SIGTERM"
    assert states(tmp_path)[held] == "sending", "leased, not marked: it was never answered"
    expire_leases_and_check(tmp_path)  # the 5-minute lease, run out
    rec.gate.set()  # from now on the receiver answers at once
    before = feed_requests(seen)
    proc = start(config, rec.url, notify_socket, env={"WATCHDOG_USEC": "1000000"})
    try:
        # The first ping follows a dispatch (it needs the job's beat): had the restart ignored
        # the stored next polls, that dispatch would have polled both feeds again.
        while notify_socket.recv(64) != b"WATCHDOG=1":
            pass
        wait_until("every alert sent", lambda: set(states(tmp_path).values()) == {"sent"})
        stop(proc, within=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert feed_requests(seen) == before, "the restart polled before the stored next poll"
    ids = [e.webhook_id for e in rec.exchanges]
    assert ids.count(held) == 2, "the abandoned send went again, under the same webhook-id"
    assert sorted(set(ids)) == sorted(states(tmp_path)), "every alert reached the receiver"
    assert all(ids.count(i) == 1 for i in set(ids) - {held}), "the others went once"


def test_sigterm_lets_a_send_in_flight_finish(
        tmp_path: Path, sample_site: Site, gated_receiver: GatedReceiver,
        notify_socket: socket.socket) -> None:
    base, _ = sample_site
    config = write_config(tmp_path, base)
    rec = gated_receiver
    proc = start(config, rec.url, notify_socket)
    try:
        rec.wait_for("the first send", lambda: len(rec.exchanges) >= 1)
        held = rec.exchanges[0].webhook_id
        proc.send_signal(signal.SIGTERM)
        rec.gate.set()  # answered after SIGTERM, within the stop timeout
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "abandoned" not in err and "daemon=stopped" in err
    assert states(tmp_path)[held] == "sent", "the answer was recorded before the exit"
    assert "sending" not in states(tmp_path).values(), "nothing left leased"


# --- the daemon, in a thread ---------------------------------------------------------------------


def test_queued_polls_are_dropped_and_running_ones_abandoned_after_the_timeout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    feeds = "".join(f'[[feeds]]\nname = "f{i}"\nurl = "http://127.0.0.1:9/{i}.xml"\n'
                    for i in range(5))
    ctx = context(tmp_path, feeds, "[polling]\nconcurrency = 2\nper_host = 2\n")
    started: list[str] = []
    release = threading.Event()

    def hung_poll(ctx: Context, feed: Any) -> None:
        started.append(feed.name)
        release.wait(TIMEOUT)

    monkeypatch.setattr(scheduler, "poll_feed", hung_poll)
    stop = threading.Event()
    result: list[bool] = []
    thread = threading.Thread(
        target=lambda: result.append(scheduler.run_daemon(ctx, stop, stop_timeout=1.0)))
    try:
        with caplog.at_level(logging.INFO, logger="monitor.scheduler"):
            thread.start()
            wait_until("two polls running", lambda: len(started) == 2)
            stop.set()
            thread.join(TIMEOUT)
            assert not thread.is_alive() and result == [False], "returned: work abandoned"
    finally:
        release.set()
        thread.join(TIMEOUT)
        ctx.client.close()
        ctx.store.close()
    assert any("daemon=stopped abandoned=yes polls=2" in r.getMessage() for r in caplog.records)
    time.sleep(0.5)  # the two polls end now; were the three others still queued, they'd start
    assert len(started) == 2, "the queued polls were dropped"


def test_a_drain_waiting_for_paced_slots_ends_when_the_daemon_stops(tmp_path: Path) -> None:
    base = context(tmp_path)
    sent: list[str] = []

    class Console:
        name = "console"

        def send(self, alert: Any) -> None:
            sent.append(alert.key)

    store = fill(tmp_path, ["console"], 2)
    delivery = dataclasses.replace(base.config.delivery, min_interval={"console": 30.0})
    ctx = dataclasses.replace(base, store=store, targets={"console": Console()},
                              config=dataclasses.replace(base.config, delivery=delivery),
                              clock=lambda: NOW)
    stopping = threading.Event()
    drain = threading.Thread(target=scheduler.deliver_job, args=(ctx, stopping))
    try:
        drain.start()
        wait_until("the first send", lambda: len(sent) == 1)
        stopping.set()
        drain.join(10)  # instead of waiting 30 s for the second one's slot
        assert not drain.is_alive()
    finally:
        stopping.set()
        drain.join(TIMEOUT)
        base.client.close()
        base.store.close()
    assert len(sent) == 1
    rows = dict(store.db.execute("SELECT state, count(*) FROM alerts GROUP BY state").fetchall())
    assert rows == {"sent": 1, "pending": 1}, "the one held for its slot is not left leased"
    assert ctx.heartbeat.age("deliver") is not None, "the drain beat at each step"
    store.close()
