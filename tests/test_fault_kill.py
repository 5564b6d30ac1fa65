"""``kill -9`` of the real daemon at each delivery step, then a restart (security case 64).

The daemon (``monitor run``) polls the sample site and delivers to a generic webhook receiver
whose ``webhook-id`` header is the alert's idempotency key. The receiver holds every request
until the test opens its gate, so each kill lands deterministically:

(a) right after READY=1 (while polling / before anything was sent);
(b) mid-send: the receiver holds the request when the daemon is killed;
(c) sent but not marked: the daemon is frozen (SIGSTOP) while the receiver holds the request,
    the receiver then answers 200, and the frozen daemon is killed before it could mark the
    row sent.

After each kill the test moves ``next_attempt_at`` of every ``sending`` row into the past with
sqlite3: this simulates the 5-minute lease (``outbox.LEASE``) running out, which the test
cannot wait for. Then the daemon is restarted; the last run goes to completion.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_pipeline_e2e import STORIES, Site

TIMEOUT = 60.0  # seconds: the bound on every wait below


@dataclass
class Exchange:
    webhook_id: str
    body: bytes
    answered: bool = False
    done: bool = False


@dataclass
class GatedReceiver:
    """Records every request on arrival; answers 200 only once ``gate`` is set."""

    url: str = ""
    exchanges: list[Exchange] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)
    answer: bool = True  # False: a released request is dropped without an answer
    changed: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, what: str, test: Callable[[], bool]) -> None:
        deadline = time.monotonic() + TIMEOUT
        with self.changed:
            while not test():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}")
                self.changed.wait(left)


@pytest.fixture
def gated_receiver() -> Iterator[GatedReceiver]:
    rec = GatedReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            exchange = Exchange(self.headers.get("webhook-id", ""), self.rfile.read(length))
            with rec.changed:
                rec.exchanges.append(exchange)
                rec.changed.notify_all()
            rec.gate.wait(TIMEOUT)
            answered = False
            if rec.answer:
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                    self.wfile.flush()
                    answered = True
                except OSError:
                    pass
            self.close_connection = True
            with rec.changed:
                exchange.answered = answered
                exchange.done = True
                rec.changed.notify_all()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield rec
    finally:
        rec.gate.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def write_config(tmp_path: Path, base: str) -> Path:
    path = tmp_path / "monitor.toml"
    path.write_text(f"""
database = "state/monitor.db"
rules = "{(ROOT / 'rules').as_posix()}"

[network]
allow_private = ["127.0.0.1"]
total_timeout = 20

[delivery]
backoff_base = 1
backoff_max = 1

[stories]
max_age = "3650d"
group_wait = "0s"   # alert as soon as a story is seen

[[feeds]]
name = "rss"
url = "{base}/feeds/rss.xml"
interval = 60       # the shortest allowed: the start-up jitter is at most 6 s

[[feeds]]
name = "atom"
url = "{base}/feeds/atom.xml"
interval = 60

[targets.hook]
type = "webhook"
url_env = "TEST_WEBHOOK_URL"
""", encoding="utf-8")
    return path


class Daemon:
    def __init__(self, config: Path, url: str, notify: socket.socket) -> None:
        env = {**os.environ, "TEST_WEBHOOK_URL": url}
        env.pop("MONITOR_CONFIG", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--config", str(config)], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while notify.recv(64) != b"READY=1":  # the socket times out after 60 s
            pass

    def signal(self, sig: signal.Signals) -> None:
        os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=TIMEOUT)

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=TIMEOUT)


def db(tmp_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(tmp_path / "state" / "monitor.db", timeout=10)


def states(tmp_path: Path) -> dict[str, str]:
    with db(tmp_path) as conn:
        return dict(conn.execute("SELECT key, state FROM alerts").fetchall())


def expire_leases_and_check(tmp_path: Path) -> None:
    """Simulate the lease running out (the test cannot wait 5 minutes), and check the file."""
    with db(tmp_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        conn.execute("UPDATE alerts SET next_attempt_at = '2000-01-01T00:00:00+00:00'"
                     " WHERE state = 'sending'")
    conn.close()


def test_kill_9_at_each_delivery_step_loses_nothing(
        tmp_path: Path, sample_site: Site, gated_receiver: GatedReceiver,
        notify_socket: socket.socket) -> None:
    base, _ = sample_site
    rec = gated_receiver
    config = write_config(tmp_path, base)
    daemons: list[Daemon] = []

    def start() -> Daemon:
        daemons.append(Daemon(config, rec.url, notify_socket))
        return daemons[-1]

    try:
        # (a) killed right after start-up (the gate is closed: nothing can be answered)
        start().kill()
        rec.answer = False
        rec.gate.set()
        rec.wait_for("held requests to end", lambda: all(e.done for e in rec.exchanges))
        rec.gate.clear()
        rec.answer = True
        expire_leases_and_check(tmp_path)

        # (b) killed mid-send: the receiver holds the request
        seen = len(rec.exchanges)
        daemon = start()
        rec.wait_for("a request", lambda: len(rec.exchanges) > seen)
        held = rec.exchanges[seen]
        daemon.kill()
        rec.answer = False  # its client is gone: drop it unanswered
        rec.gate.set()
        rec.wait_for("the held request to end", lambda: held.done)
        rec.answer = True
        assert states(tmp_path)[held.webhook_id] == "sending", "not marked sent: never answered"
        expire_leases_and_check(tmp_path)

        # (c) sent and answered, but killed before the row was marked sent
        rec.gate.clear()
        seen = len(rec.exchanges)
        daemon = start()
        rec.wait_for("a request", lambda: len(rec.exchanges) > seen)
        answered = rec.exchanges[seen]
        daemon.signal(signal.SIGSTOP)  # frozen: it cannot mark the row sent
        rec.gate.set()
        rec.wait_for("the answer", lambda: answered.answered)
        daemon.kill()
        assert states(tmp_path)[answered.webhook_id] == "sending", \
            "the receiver answered but the daemon never recorded it"
        expire_leases_and_check(tmp_path)

        # the last run goes to completion
        daemon = start()
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            final = states(tmp_path)
            if len(final) == len(STORIES) and set(final.values()) == {"sent"}:
                break
            time.sleep(0.2)
        daemon.signal(signal.SIGTERM)
        assert daemon.proc.wait(timeout=TIMEOUT) == 0
    finally:
        for d in daemons:
            d.cleanup()

    final = states(tmp_path)
    assert len(final) == len(STORIES), "one alert per story"
    assert set(final.values()) == {"sent"}, final
    delivered = {e.webhook_id for e in rec.exchanges if e.answered}
    assert delivered == set(final), "every decided alert reached the receiver"
    bodies: dict[str, bytes] = {}
    for e in rec.exchanges:  # a re-send carries the same key and the very same alert
        assert bodies.setdefault(e.webhook_id, e.body) == e.body
    ids = [e.webhook_id for e in rec.exchanges if e.answered]
    assert ids.count(answered.webhook_id) == 2, "the 'sent but not marked' alert went twice"
    assert all(ids.count(k) == 1 for k in set(ids) - {answered.webhook_id}), \
        "nothing else was answered twice"
    with db(tmp_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
