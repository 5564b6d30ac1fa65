"""The daemon: feeds dispatched when due, outbox drained, READY=1 after start-up, clean stop
on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest

from monitor import scheduler
from monitor.cli import build_context
from monitor.config import load_config
from monitor.dispatch import Dispatcher
from monitor.model import Feed, PollResult
from monitor.store import Store
from tests.conftest import ROOT, Receiver
from tests.test_pipeline_e2e import STORIES, Site, write_config


def test_feeds_are_dispatched_when_their_stored_next_poll_comes(
        tmp_path: Path, sample_site: Site, receiver: Receiver) -> None:
    base, _ = sample_site
    config = load_config(write_config(tmp_path, base), env={"TEST_SLACK_WEBHOOK_URL":
                                                            receiver.url})
    store = Store.open(config.database)
    ctx = build_context(config, store)
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    ctx.clock = lambda: now
    store.sync_feeds(config.feeds)
    later = now + timedelta(minutes=40)
    store.record_poll(PollResult(feed="rss", status="ok"), now, later)
    submitted: list[str] = []

    class Recorder:
        def submit(self, feed: Feed, url: str | None = None) -> object:
            submitted.append(feed.name)
            return object()

    dispatcher = cast(Dispatcher, Recorder())
    sched = scheduler.build_scheduler(ctx, dispatcher)
    sched.start(paused=True)  # job defaults (max_instances…) are applied on start
    jobs = {job.id: job for job in sched.get_jobs()}
    sched.shutdown(wait=False)
    assert {"dispatch", "deliver"} <= set(jobs)  # and the maintenance job
    assert all(job.max_instances == 1 for job in jobs.values())
    assert scheduler.dispatch_due(ctx, dispatcher) == 1
    assert submitted == ["atom"], "never polled: due now; rss is due in 40 minutes"
    now = later
    scheduler.dispatch_due(ctx, dispatcher)
    assert submitted == ["atom", "atom", "rss"]
    ctx.client.close()
    store.close()


def test_daemon_polls_delivers_and_stops(tmp_path: Path, sample_site: Site, receiver: Receiver,
                                         notify_socket: socket.socket) -> None:
    base, _ = sample_site
    config = load_config(write_config(tmp_path, base), env={"TEST_SLACK_WEBHOOK_URL":
                                                            receiver.url})
    store = Store.open(config.database)
    ctx = build_context(config, store)
    stop = threading.Event()
    daemon = threading.Thread(target=scheduler.run_daemon, args=(ctx, stop))
    daemon.start()
    try:
        assert notify_socket.recv(64) == b"READY=1"
        deadline = time.monotonic() + 60
        while len(receiver.requests) < len(STORIES) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        daemon.join(timeout=60)
    assert not daemon.is_alive()
    assert notify_socket.recv(64) == b"STOPPING=1"
    assert len(receiver.requests) == len(STORIES)
    ctx.client.close()
    store.close()


def test_sigterm_stops_the_daemon_cleanly(tmp_path: Path, sample_site: Site, receiver: Receiver,
                                          notify_socket: socket.socket) -> None:
    base, _ = sample_site
    config = write_config(tmp_path, base)
    env = {**os.environ, "TEST_SLACK_WEBHOOK_URL": receiver.url}
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(config)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert notify_socket.recv(64) == b"READY=1"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "signal=SIGTERM" in err and "daemon=stopped" in err


def test_sd_notify_without_systemd_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert scheduler.sd_notify("READY=1") is False
