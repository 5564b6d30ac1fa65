"""Polling over time against a scripted feed server on 127.0.0.1 (security cases 20, 31–39):
conditional GET, the feed's caching hints, backoff and Retry-After, failing and recovered
notices, permanent and temporary redirects, 410, and the first poll's backlog. The clock is an
input; the store is a real SQLite file."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from monitor import sources
from monitor.cli import build_context
from monitor.config import load_config
from monitor.pipeline import Context, poll_feed, run_once
from monitor.store import Store
from tests.conftest import serve
from tests.fakes import SMALL

NOW = datetime(2024, 8, 7, 12, 0, tzinfo=UTC)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Script:
    """Path → replies, consumed in order (the last one repeats); every request recorded."""

    base: str = ""
    replies: dict[str, list[Reply]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    delay: float = 0.0  # seconds each answer waits (to see how many are in flight at once)
    active: int = 0
    peak: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on(self, path: str, *replies: Reply) -> None:
        self.replies[path] = list(replies)

    def hits(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)


@pytest.fixture
def script() -> Iterator[Script]:
    s = Script()

    class Handler(BaseHTTPRequestHandler):
        counted = False

        def do_GET(self) -> None:
            with s.lock:
                s.requests.append((self.path, dict(self.headers.items())))
                s.active += 1
                s.peak = max(s.peak, s.active)
            self.counted = True
            try:
                time.sleep(s.delay)
                self.answer()
            finally:
                self.done()

        def done(self) -> None:
            """No longer in flight: counted down before the body is sent, so a client that has
            read it (and may start its next request at once) is never still counted here."""
            if self.counted:
                self.counted = False
                with s.lock:
                    s.active -= 1

        def answer(self) -> None:
            queue = s.replies.get(self.path) or [Reply(404, b"not here")]
            reply = queue.pop(0) if len(queue) > 1 else queue[0]
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value.replace("{BASE}", s.base))
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.done()
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serve(Handler) as base:
        s.base = base
        yield s


def rss(*items: tuple[str, str, datetime | None], ttl: int | None = None,
        pages: str = "http://127.0.0.1:1") -> bytes:
    parts = []
    for guid, title, published in items:
        date = f"<pubDate>{format_datetime(published)}</pubDate>" if published else ""
        parts.append(f"<item><guid>{guid}</guid><title>{title}</title>"
                     f"<link>{pages}/{guid}</link>"
                     f"<description>{title}.</description>{date}</item>")
    ttl_tag = f"<ttl>{ttl}</ttl>" if ttl else ""
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{ttl_tag}'
            f'{"".join(parts)}</channel></rss>').encode()


ATTACK = ("a1", "Drone attack on Tanf", NOW - timedelta(hours=1))
OLD = ("a0", "Rocket attack on Tanf base", NOW - timedelta(days=2))
UNDATED = ("a2", "Drone strike near Tanf", None)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


Make = Callable[..., tuple[Context, "Clock"]]


@pytest.fixture
def make(tmp_path: Path, script: Script) -> Iterator[Make]:
    made: list[Context] = []

    def build(path: str = "/feed", polling: str = "", feeds: int = 1) -> tuple[Context, Clock]:
        rules = tmp_path / "rules"
        rules.mkdir(exist_ok=True)
        (rules / "r.yaml").write_text(SMALL, encoding="utf-8")
        config_path = tmp_path / "monitor.toml"
        config_path.write_text(f"""
database = "monitor.db"
rules = "rules"
[network]
allow_private = ["127.0.0.1"]
total_timeout = 10
[polling]
floor = "15m"
ceiling = "1d"
jitter = 0.1
failing_after = 3
{polling}
[[feeds]]
name = "f"
url = "{script.base}{path}"
interval = "1h"
{"".join(f'[[feeds]]{chr(10)}name = "f{i}"{chr(10)}url = "{script.base}/feed{i}"{chr(10)}'
         for i in range(1, feeds))}
[targets.out]
type = "console"
""", encoding="utf-8")
        config = load_config(config_path)
        ctx = build_context(config, Store.open(config.database))
        ctx.store.sync_feeds(config.feeds)
        clock = Clock()
        ctx.clock = clock
        made.append(ctx)
        return ctx, clock

    yield build
    for ctx in made:
        ctx.client.close()
        ctx.store.close()


def poll(ctx: Context) -> str:
    return poll_feed(ctx, ctx.config.feeds[0]).status


def next_in(ctx: Context, clock: Clock) -> float:
    state = ctx.store.feed_state("f")
    assert state.next_poll_at is not None
    return (state.next_poll_at - clock.now).total_seconds()


def operator_titles(ctx: Context) -> list[str]:
    return [r.title for r in reversed(ctx.store.list_alerts()) if r.kind == "operator"]


def test_conditional_get_echoes_validators_byte_for_byte_and_304_is_cheap(
        make: Make, script: Script) -> None:
    etag, modified = 'W/"abc\\"def"', "Wed, 07 Aug 2024 11:00:00 GMT; odd"
    script.on("/feed", Reply(200, rss(ATTACK), {"ETag": etag, "Last-Modified": modified}),
              Reply(304))
    ctx, clock = make()
    assert poll(ctx) == "ok"
    pages = len(script.requests)
    clock.now += timedelta(hours=2)
    assert poll(ctx) == "not_modified"
    sent = script.requests[-1][1]
    assert sent["If-None-Match"] == etag and sent["If-Modified-Since"] == modified
    assert len(script.requests) == pages + 1, "a 304 fetches nothing else"
    state = ctx.store.feed_state("f")
    assert state.last_status == "not_modified" and state.etag == etag


def test_the_same_body_without_validators_is_parsed_once(
        make: Make, script: Script, monkeypatch: pytest.MonkeyPatch) -> None:
    script.on("/feed", Reply(200, rss(ATTACK)), Reply(200, rss(ATTACK)),
              Reply(200, rss(ATTACK, UNDATED)))
    parsed: list[str] = []
    real = sources.parse

    def counted(name: str, *args: Any, **kwargs: Any) -> Any:
        parsed.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr("monitor.sources.parse", counted)
    ctx, clock = make()
    assert poll(ctx) == "ok" and len(parsed) == 1
    clock.now += timedelta(hours=2)
    assert poll(ctx) == "not_modified", "the same bytes again: nothing to parse"
    assert len(parsed) == 1
    state = ctx.store.feed_state("f")
    assert state.last_status == "not_modified" and state.last_success_at == clock.now
    clock.now += timedelta(hours=2)
    assert poll(ctx) == "ok" and len(parsed) == 2, "a changed body is parsed"
    assert ctx.store.db.execute("SELECT count(*) FROM entries").fetchone()[0] == 2
    assert sources.body_hash(b"x", 200) != sources.body_hash(b"x", 100), \
        "a new entry limit reads the same body again"


@pytest.mark.parametrize(("headers", "ttl", "least", "most"), [
    ({"Cache-Control": "max-age=7200"}, None, 7200, 7920),
    ({"Cache-Control": "max-age=10"}, None, 3600, 3960),
    ({"Expires": "0"}, None, 3600, 3960),
    ({}, 525600, 0.9 * 86400, 86400 * 1.1),  # <ttl> of a year (minutes): the ceiling
])
def test_next_poll_honours_the_feed_within_floor_and_ceiling(
        make: Make, script: Script, headers: dict[str, str], ttl: int | None,
        least: float, most: float) -> None:
    script.on("/feed", Reply(200, rss(ATTACK, ttl=ttl), headers))
    ctx, clock = make()
    poll(ctx)
    assert least <= next_in(ctx, clock) <= most


def test_retry_after_applies_to_this_feed_and_is_clamped(make: Make, script: Script) -> None:
    script.on("/feed", Reply(429, b"slow down", {"Retry-After": "7200"}),
              Reply(503, b"", {"Retry-After": "999999999"}),
              Reply(429, b"", {"Retry-After": "soon"}))
    ctx, clock = make()
    assert poll(ctx) == "error" and next_in(ctx, clock) >= 7200
    clock.now += timedelta(hours=3)
    poll(ctx)
    assert next_in(ctx, clock) == 86400, "an absurd Retry-After is a day"
    clock.now += timedelta(days=1)
    poll(ctx)  # unparsable: plain backoff, but never a hot loop
    assert next_in(ctx, clock) >= 86400 * 0.9, "third failure: failing, at the ceiling"


def test_failing_then_recovered_raises_one_notice_each_and_resends_nothing(
        make: Make, script: Script) -> None:
    script.on("/feed", Reply(200, rss(ATTACK)), Reply(500), Reply(500), Reply(200, b"<html>"),
              Reply(500), Reply(200, rss(ATTACK)))
    ctx, clock = make()
    assert poll(ctx) == "ok"
    alerts = len(ctx.store.list_alerts())
    waits = []
    for _ in range(4):
        clock.now += timedelta(days=1)
        assert poll(ctx) == "error"
        waits.append(next_in(ctx, clock))
        assert ctx.store.feed_state("f").status == ("failing" if len(waits) >= 3 else "active")
    assert all(900 <= w <= 86400 for w in waits)
    assert operator_titles(ctx) == ["news-monitor: feed 'f' is failing"], "told once"
    clock.now += timedelta(days=1)
    assert poll(ctx) == "not_modified", "an answer (the first body again: not parsed)"
    state = ctx.store.feed_state("f")
    assert state.status == "active" and state.consecutive_failures == 0
    assert operator_titles(ctx)[-1] == "news-monitor: feed 'f' has recovered"
    story_alerts = [r for r in ctx.store.list_alerts() if r.kind != "operator"]
    assert len(story_alerts) == alerts, "the old entry is not alerted again"


def test_garbage_with_200_is_an_error_that_leaves_the_seen_set_alone(
        make: Make, script: Script) -> None:
    script.on("/feed", Reply(200, b"<html><body>Oops</body></html>",
                             {"Content-Type": "text/html"}), Reply(200, rss(ATTACK)))
    ctx, _clock = make()
    assert poll(ctx) == "error"
    assert ctx.store.db.execute("SELECT count(*) FROM entries").fetchone()[0] == 0
    state = ctx.store.feed_state("f")
    assert "not a feed" in (state.last_error or "") and state.consecutive_failures == 1


def test_permanent_redirect_moves_the_feed_and_a_temporary_one_does_not(
        make: Make, script: Script) -> None:
    script.on("/old", Reply(301, b"", {"Location": "{BASE}/new"}))
    script.on("/new", Reply(200, rss(ATTACK)))
    script.on("/tmp", Reply(302, b"", {"Location": "{BASE}/new"}))
    ctx, clock = make("/old")
    assert poll(ctx) == "ok"
    assert ctx.store.feed_state("f").url == f"{script.base}/new"
    clock.now += timedelta(days=1)
    poll(ctx)
    assert script.hits("/old") == 1 and script.hits("/new") == 2, "polled at its new URL"
    other, _ = make("/tmp")
    poll(other)
    assert other.store.feed_state("f").url == f"{script.base}/tmp", "302: not stored"


def test_a_redirect_back_is_refused_no_flapping(make: Make, script: Script) -> None:
    script.on("/a", Reply(301, b"", {"Location": "{BASE}/b"}), Reply(200, rss(ATTACK)))
    script.on("/b", Reply(200, rss(ATTACK)), Reply(308, b"", {"Location": "{BASE}/a"}))
    ctx, clock = make("/a")
    poll(ctx)
    assert ctx.store.feed_state("f").url.endswith("/b")
    clock.now += timedelta(days=1)
    assert poll(ctx) == "not_modified"  # /b → 308 → /a, which answers (the same body)
    assert ctx.store.feed_state("f").url.endswith("/b"), "not moved back"


def test_a_permanent_redirect_to_a_private_address_is_neither_followed_nor_stored(
        make: Make, script: Script) -> None:
    script.on("/feed", Reply(301, b"", {"Location": "http://10.0.0.5/feed"}))
    ctx, _ = make()
    assert poll(ctx) == "error"
    state = ctx.store.feed_state("f")
    assert state.url == f"{script.base}/feed" and "10.0.0.5" in (state.last_error or "")


def test_410_marks_the_feed_gone_and_it_is_not_polled_again(make: Make, script: Script) -> None:
    script.on("/feed", Reply(410, b"gone"))
    ctx, clock = make()
    assert poll(ctx) == "error"
    state = ctx.store.feed_state("f")
    assert state.status == "gone" and state.next_poll_at is None
    assert operator_titles(ctx) == ["news-monitor: feed 'f' is gone"]
    clock.now += timedelta(days=30)
    report = run_once(ctx)
    assert script.hits("/feed") == 1, "not polled again"
    assert report.feeds[0].status == "error" and "gone" in (report.feeds[0].error or "")
    assert ctx.store.due_feeds(clock.now) == []


def test_404_backs_off_but_is_not_gone(make: Make, script: Script) -> None:
    script.on("/feed", Reply(404))
    ctx, _clock = make()
    poll(ctx)
    state = ctx.store.feed_state("f")
    assert state.status == "active" and state.next_poll_at is not None


def test_first_poll_stores_the_backlog_but_alerts_only_recent_entries(
        make: Make, script: Script) -> None:
    script.on("/feed", Reply(200, rss(OLD, UNDATED, ATTACK)),
              Reply(200, rss(OLD, UNDATED, ATTACK, ("a3", "Rocket attack hits Tanf",
                                                    NOW + timedelta(hours=2)),
                             ("a4", "Drone attack at Tanf", NOW - timedelta(days=2)))))
    ctx, clock = make()
    report = poll_feed(ctx, ctx.config.feeds[0])
    assert report.new == 3 and report.stale == 2
    titles = {r.title for r in ctx.store.list_alerts()}
    assert titles == {"Drone attack on Tanf"}
    clock.now += timedelta(hours=3)
    report = poll_feed(ctx, ctx.config.feeds[0])
    assert report.new == 2 and report.stale == 0, "after the first poll, [stories] max_age"


def test_a_restart_keeps_the_schedule(make: Make, script: Script) -> None:
    script.on("/feed", Reply(200, rss(ATTACK)))
    ctx, clock = make()
    poll(ctx)
    assert ctx.store.due_feeds(clock.now) == []
    again, _ = make()  # a new process on the same database
    assert again.store.due_feeds(clock.now) == []
    state = again.store.feed_state("f")
    assert state.next_poll_at is not None
    assert [n for n, _ in again.store.due_feeds(state.next_poll_at)] == ["f"]


def test_many_feeds_on_one_host_poll_at_most_per_host_at_once(make: Make,
                                                              script: Script) -> None:
    script.delay = 0.2
    for i in range(1, 12):
        script.on(f"/feed{i}", Reply(200, rss((f"g{i}", f"Item {i}", NOW))))
    script.on("/feed", Reply(200, rss(("g0", "Item 0", NOW))))
    ctx, _ = make(polling="concurrency = 8\nper_host = 2", feeds=12)
    report = run_once(ctx)
    assert [f.status for f in report.feeds] == ["ok"] * 12
    assert script.peak == 2, "two at once, never more (feeds and their pages alike)"


def test_a_feeds_new_pages_are_fetched_a_few_at_once_and_stored_in_order(
        make: Make, script: Script) -> None:
    script.delay = 0.2
    items = [(f"p{i}", f"Drone attack on Tanf number {i}", NOW - timedelta(minutes=60 - i))
             for i in range(8)]
    script.on("/feed", Reply(200, rss(*items, pages=script.base)))
    for guid, title, _ in items:
        script.on(f"/{guid}", Reply(200, f"<html><body><article><p>{title}.</p>"
                                         f"</article></body></html>".encode(),
                                    {"Content-Type": "text/html"}))
    ctx, _ = make(polling="per_host = 3")
    report = poll_feed(ctx, ctx.config.feeds[0])
    assert report.new == 8
    assert script.peak == 3, "one feed's pages fetched at once, within the per-host limit"
    assert sorted(script.hits(f"/{g}") for g, _, _ in items) == [1] * 8, "each page once"
    stored = [r[0] for r in ctx.store.db.execute("SELECT link FROM entries ORDER BY id")]
    assert stored == [f"{script.base}/{g}" for g, _, _ in items], \
        "stored oldest first, as the feed dates them"
