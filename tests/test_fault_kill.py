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

The second test kills the daemon at the pipeline steps before delivery, with a sample site
that holds one article page request until the test lets it go:

(d) after fetch: the feed was fetched and parsed, the first article page is held (no entry
    stored yet);
(e) after an entry insert: the page of the entry that follows the first report of the
    5 August attack (in publication order, the order entries are stored in) is held, so that
    report's transaction (entry, article, matches, story, outbox row) has committed and the
    next one has not begun.

Then a last run completes: every matched entry is in its story with its alerts, each alert
reached the receiver, and an alert went twice only under the same ``webhook-id``.
"""

from __future__ import annotations

import json
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
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from monitor.demo.server import SiteHandler
from tests.conftest import ROOT, Receiver, serve
from tests.test_pipeline_e2e import SEEDS, STORIES, Site

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

    with serve(Handler) as base:
        rec.url = f"{base}/hook"
        try:
            yield rec
        finally:
            rec.gate.set()


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

[polling]
first_poll_max_age = "3650d"   # the first poll may alert on the old sample reports

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
        try:
            while notify.recv(64) != b"READY=1":  # the socket times out after 60 s
                pass
        except BaseException:  # never ready (a config the daemon refuses, say): not left behind
            self.cleanup()
            raise

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


# --- (d) after fetch and (e) after an entry insert ----------------------------------------------

NATIONAL = next(p for p in SEEDS if p.startswith("the-national/2024/08/06/"))


def following(path: str) -> str:
    """The page of the RSS entry that comes right after ``path`` in publication order (the
    order the daemon stores a feed's entries in)."""
    import feedparser

    from monitor.demo import server

    rss = (Path(server.__file__).parent / "site" / "feeds" / "rss.xml").read_bytes()
    items = sorted(feedparser.parse(rss.replace(b"{{BASE}}", b"http://x"))["entries"],
                   key=lambda e: tuple(e["published_parsed"]))
    links = [urlsplit(e["link"]).path.lstrip("/") for e in items]
    return links[links.index(path) + 1]


@dataclass
class GatedSite:
    """The sample site; one article page request can be held until ``release`` is set."""

    base: str = ""
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    hold_first: bool = False  # hold the next article page requested
    hold_path: str | None = None  # hold the request for this article page
    held: str | None = None  # the page being held
    release: threading.Event = field(default_factory=threading.Event)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def arm(self, *, first: bool = False, path: str | None = None) -> None:
        with self.changed:
            self.hold_first, self.hold_path, self.held = first, path, None
            self.release.clear()

    def wait_held(self) -> str:
        deadline = time.monotonic() + TIMEOUT
        with self.changed:
            while self.held is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("timed out waiting for the page request to be held")
                self.changed.wait(left)
            return self.held


@pytest.fixture
def gated_site() -> Iterator[GatedSite]:
    site = GatedSite()

    class Handler(SiteHandler):
        requests_seen = site.requests

        def do_GET(self) -> None:
            path = unquote(urlsplit(self.path).path)
            hold = False
            with site.changed:
                if not path.startswith("/feeds/") and site.held is None:
                    hold = site.hold_first or path == f"/{site.hold_path}"
                    if hold:
                        site.held, site.hold_first, site.hold_path = path, False, None
                        site.changed.notify_all()
            if hold:
                site.release.wait(TIMEOUT)
            try:
                super().do_GET()
            except OSError:
                pass  # the daemon that asked was killed meanwhile

    with serve(Handler) as base:
        site.base = base
        try:
            yield site
        finally:
            site.release.set()


def write_pipeline_config(tmp_path: Path, base: str) -> Path:
    """One feed (its pages are fetched one after the other, oldest entry first); updates go out
    at once, so every report of a story reaches the receiver within the test."""
    config = write_config(tmp_path, base)
    text = config.read_text(encoding="utf-8")
    atom = text.index("[[feeds]]\nname = \"atom\"")
    text = text[:atom] + text[text.index("[targets.hook]"):]
    text = text.replace('group_wait = "0s"', 'group_wait = "0s"\nupdate_interval = "0s"')
    config.write_text(text, encoding="utf-8")
    return config


def rows(tmp_path: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    with db(tmp_path) as conn:
        found = conn.execute(sql, args).fetchall()
    conn.close()
    return found


def test_kill_9_after_fetch_and_after_an_entry_insert_loses_nothing(
        tmp_path: Path, gated_site: GatedSite, receiver: Receiver,
        notify_socket: socket.socket) -> None:
    site = gated_site
    config = write_pipeline_config(tmp_path, site.base)
    feed_requests = 0
    daemons: list[Daemon] = []

    def start() -> Daemon:
        daemons.append(Daemon(config, receiver.url, notify_socket))
        return daemons[-1]

    def fetched_in_full_since(count: int) -> bool:
        """Every feed request since the ``count``-th went without validators."""
        feeds = [h for p, h in site.requests if p == "/feeds/rss.xml"][count:]
        return bool(feeds) and all("If-None-Match" not in h for h in feeds)

    try:
        # (d) after fetch: the feed is in hand, the first article page is held
        site.arm(first=True)
        daemon = start()
        site.wait_held()
        assert fetched_in_full_since(feed_requests)
        feed_requests = sum(p == "/feeds/rss.xml" for p, _ in site.requests)
        assert rows(tmp_path, "SELECT count(*) FROM entries") == [(0,)]
        daemon.kill()
        site.release.set()
        assert rows(tmp_path, "SELECT etag, last_polled_at FROM feeds") == [(None, None)], \
            "the poll was not recorded: the next one fetches the feed again, in full"
        expire_leases_and_check(tmp_path)

        # (e) after the 6 August report's transaction, before the next article's: the page of
        # the entry that follows it in publication order is held. Pages are fetched a few
        # ahead of the article being stored, so it may be asked for before the report is
        # committed: wait (bounded) for that commit; the held page still stops every later
        # article, as entries are stored in publication order.
        site.arm(path=following(NATIONAL))
        daemon = start()
        site.wait_held()
        assert fetched_in_full_since(feed_requests)
        feed_requests = sum(p == "/feeds/rss.xml" for p, _ in site.requests)
        deadline = time.monotonic() + TIMEOUT
        while True:
            committed = rows(
                tmp_path, "SELECT e.id, s.story_id, (SELECT count(*) FROM alerts a"
                " WHERE a.story_id = s.story_id) FROM entries e JOIN story_entries s"
                " ON s.entry_id = e.id WHERE e.link = ?", f"{site.base}/{NATIONAL}")
            if committed or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert len(committed) == 1 and committed[0][2] == 1, \
            "the report, its story and its outbox row were committed together"
        newer = rows(tmp_path, "SELECT count(*) FROM entries WHERE published > ("
                     "SELECT published FROM entries WHERE link = ?)", f"{site.base}/{NATIONAL}")
        assert newer == [(0,)], "the next article was not begun"
        daemon.kill()
        site.release.set()
        expire_leases_and_check(tmp_path)

        # the last run goes to completion
        site.arm()
        daemon = start()
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            done = rows(tmp_path, "SELECT (SELECT count(*) FROM entries),"
                        " (SELECT last_status FROM feeds),"
                        " (SELECT count(*) FROM alerts WHERE state != 'sent')")
            if done == [(21, "ok", 0)]:
                break
            time.sleep(0.2)
        daemon.signal(signal.SIGTERM)
        assert daemon.proc.wait(timeout=TIMEOUT) == 0
    finally:
        site.release.set()
        for d in daemons:
            d.cleanup()

    assert fetched_in_full_since(feed_requests)
    with db(tmp_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
    assert rows(tmp_path, "SELECT count(*), count(DISTINCT guid) FROM entries") == [(21, 21)]
    matched = {str(link) for (link,) in rows(
        tmp_path, "SELECT DISTINCT e.link FROM entries e JOIN matches m ON m.entry_id = e.id")}
    assert {f"{site.base}/{p}" for p in SEEDS} <= matched
    unattached = rows(tmp_path, "SELECT e.link FROM entries e JOIN matches m ON m.entry_id ="
                      " e.id WHERE e.id NOT IN (SELECT entry_id FROM story_entries)")
    assert unattached == [], "every matched entry is in its story"
    stories = rows(tmp_path, "SELECT story_id, count(*) FROM alerts WHERE kind = 'new'"
                   " GROUP BY story_id")
    assert len(stories) == len(STORIES) and all(n == 1 for _, n in stories), \
        "one story per event, each with one first alert: nothing re-derived twice"
    keys = {str(k) for (k,) in rows(tmp_path, "SELECT key FROM alerts WHERE state = 'sent'")}
    assert keys and rows(tmp_path, "SELECT count(*) FROM alerts") == [(len(keys),)]
    answered = [(r.headers["webhook-id"], r.body) for r in receiver.requests]
    assert {k for k, _ in answered} == keys, "every alert reached the receiver"
    bodies: dict[str, bytes] = {}
    for key, body in answered:  # a second delivery only under the same id, the same alert
        assert bodies.setdefault(key, body) == body
    reported = set()
    for _, body in answered:
        payload = json.loads(body)
        reported |= {a["url"] for a in payload["story"]["articles"]} | {payload["article"]["url"]}
    assert {f"{site.base}/{p}" for p in SEEDS} <= reported, \
        "every matched report reached the receiver in an alert of its story"
