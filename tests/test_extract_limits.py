"""The extract stage against real pages on 127.0.0.1 (security-cases 1, 41, 42, 43 and issue 6
point 7): each page fetched once through the guarded client, asking for HTML; other media types
and oversized pages skipped with the reason in ``Article.note``; trafilatura run in a child
process that is killed past its time and has no network.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
import trafilatura

from monitor.extract import ACCEPT, PAGE_MAX_BYTES, extract, worker
from monitor.model import Article, Entry
from monitor.net import GuardedClient, NetConfig
from tests.conftest import DATA, ScriptedHandler, ScriptedServer

pytestmark = pytest.mark.usefixtures("dialled")
PAGES = DATA / "pages"
LOCAL = NetConfig(allow_private=("127.0.0.1",), total_timeout=30)
SUMMARY = "The feed's own summary of the report, long enough to be worth keeping."
GB = 1024 ** 3


def entry(link: str | None) -> Entry:
    return Entry(feed="wire", guid="g1", link=link, title="Feed title", summary=SUMMARY,
                 published=datetime(2024, 8, 7, 21, tzinfo=UTC))


@pytest.fixture
def client() -> Iterator[GuardedClient]:
    with GuardedClient(LOCAL) as c:
        yield c


def html(h: ScriptedHandler, body: bytes) -> None:
    h.reply(200, body, {"Content-Type": "text/html; charset=utf-8"})


def assert_summary(article: Article, note: str) -> None:
    assert article.source == "summary"
    assert (article.text, article.title) == (SUMMARY, "Feed title")
    assert article.note and article.note.startswith(note), article.note


# --- golden pages ------------------------------------------------------------------------------


def test_golden_article_page(scripted_server: ScriptedServer, client: GuardedClient) -> None:
    scripted_server.routes["/a.html"] = lambda h: html(h, (PAGES / "article.html").read_bytes())
    article = extract(entry(scripted_server.url("/a.html")), client)
    assert article.source == "page" and article.note is None
    assert article.text == (PAGES / "article.txt").read_text(encoding="utf-8").strip()
    assert (article.title, article.site) == ("Drone attack on Harir base in Erbil",
                                             "Example Wire")
    assert article.url == scripted_server.url("/a.html")
    (seen,) = scripted_server.seen  # fetched once, asking for HTML
    assert seen.headers["accept"] == ACCEPT
    assert seen.headers["user-agent"].startswith("news-monitor/")


def test_golden_page_without_an_article_falls_back(scripted_server: ScriptedServer,
                                                   client: GuardedClient) -> None:
    scripted_server.routes["/v.html"] = lambda h: html(h, (PAGES / "no-article.html")
                                                       .read_bytes())
    assert_summary(extract(entry(scripted_server.url("/v.html")), client),
                   "no article text found on the page")


# --- case 1: a link to the metadata service is refused, recorded as blocked_url ---------------


@pytest.mark.parametrize(("link", "reason"), [
    ("http://169.254.169.254/latest/meta-data/", "non-public address 169.254.169.254"),
    ("http://[::ffff:a9fe:a9fe]/latest/meta-data/", "non-public address ::ffff:a9fe:a9fe"),
    ("file:///etc/passwd", "refused scheme 'file'"),
])
def test_an_entry_link_to_a_forbidden_place_is_blocked_url(
        link: str, reason: str, dialled: list[tuple[str, int]], client: GuardedClient) -> None:
    article = extract(entry(link), client)
    assert_summary(article, "blocked_url: ")
    assert article.note and reason in article.note
    assert dialled == []


# --- case 42, point 7: other media types skipped without reading the body ---------------------


def _endless(kind: str, length: int | None, closed: threading.Event,
             first: bytes = b"\x00\x00\x00\x18ftypmp42") -> Callable[[ScriptedHandler], None]:
    def serve(h: ScriptedHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", kind)
        if length is not None:
            h.send_header("Content-Length", str(length))
        else:
            h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        piece = first + b"\x00" * (64 * 1024 - len(first))
        if length is None:
            piece = b"%x\r\n%s\r\n" % (len(piece), piece)
        h.trickle(piece, every=0.01)
        closed.set()  # trickle returns once the client has hung up

    return serve


@pytest.mark.parametrize(("kind", "length"), [
    ("video/mp4", 2 * GB), ("application/pdf", None), ("application/octet-stream", 2 * GB),
])
def test_a_2_gb_video_or_pdf_is_skipped_on_its_content_type(
        kind: str, length: int | None, scripted_server: ScriptedServer,
        client: GuardedClient) -> None:
    closed = threading.Event()
    scripted_server.routes["/media"] = _endless(kind, length, closed)
    article = extract(entry(scripted_server.url("/media")), client)
    assert_summary(article, f"page skipped: it is {kind}, not HTML (body not read)")
    assert closed.wait(10), "the client hung up instead of reading on"


def test_a_video_labelled_html_is_stopped_by_the_page_cap(
        scripted_server: ScriptedServer, client: GuardedClient) -> None:
    closed = threading.Event()
    scripted_server.routes["/liar"] = _endless("text/html", None, closed)
    article = extract(entry(scripted_server.url("/liar")), client)
    assert_summary(article, f"page not fetched: response larger than {PAGE_MAX_BYTES} bytes")
    assert closed.wait(10)


def test_a_small_pdf_labelled_html_is_recognised_by_its_first_bytes(
        scripted_server: ScriptedServer, client: GuardedClient) -> None:
    scripted_server.routes["/doc"] = lambda h: html(h, b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" * 100)
    assert_summary(extract(entry(scripted_server.url("/doc")), client),
                   "page skipped: binary content, not HTML")


@pytest.mark.parametrize(("name", "body"), [
    ("10^6 nested divs", b"<html><body>" + b"<div>" * 10**6 + b"x" + b"</div>" * 10**6),
    ("20 MB of inline script", b"<html><body><p>x</p><script>" + b"var a=1;" * 2_500_000),
])
def test_an_oversized_page_is_refused_by_its_length(
        name: str, body: bytes, scripted_server: ScriptedServer, client: GuardedClient) -> None:
    scripted_server.routes["/big"] = lambda h: html(h, body)
    assert_summary(extract(entry(scripted_server.url("/big")), client),
                   f"page not fetched: response larger than {PAGE_MAX_BYTES} bytes")


# --- case 41: extraction has a wall-clock limit we enforce ------------------------------------


def test_slow_extraction_is_killed_at_its_time_limit(
        scripted_server: ScriptedServer, client: GuardedClient) -> None:
    """4.9 MB of short paragraphs keeps trafilatura busy for seconds; the child is killed."""
    page = b"<html><body>" + b"<p>word word word word</p>" * 190_000 + b"</body></html>"
    assert len(page) < PAGE_MAX_BYTES
    scripted_server.routes["/slow"] = lambda h: html(h, page)
    article = extract(entry(scripted_server.url("/slow")), client, timeout=0.5)
    assert_summary(article, "extraction failed: extraction took longer than 0.5s: "
                            "process killed")
    live = {p.pid for p in multiprocessing.active_children()}
    assert set(worker.worker_pids()) == live, "the overrunning worker is gone, not left alive"
    assert len(live) == worker.pool_size(), "and replaced: the pool keeps its size"


def test_deeply_nested_markup_under_the_cap_gives_up_cleanly(
        scripted_server: ScriptedServer, client: GuardedClient) -> None:
    page = b"<html><body>" + b"<div>" * 400_000 + b"deep" + b"</div>" * 400_000
    assert len(page) < PAGE_MAX_BYTES
    scripted_server.routes["/deep"] = lambda h: html(h, page)
    article = extract(entry(scripted_server.url("/deep")), client)
    assert_summary(article, "no article text found on the page")


# --- case 43: no text, or too little, and never an exception --------------------------------


@pytest.mark.parametrize("body", [
    b"", b"<html></html>", b"\xff\xfe\xfd" * 1000, b"<p>Too short.</p>",
    b"<?xml version='1.0'?><x>" + b"&amp;" * 1000 + b"</x>",
])
def test_too_little_text_falls_back_to_the_summary(
        body: bytes, scripted_server: ScriptedServer, client: GuardedClient) -> None:
    scripted_server.routes["/p"] = lambda h: html(h, body)
    assert_summary(extract(entry(scripted_server.url("/p")), client),
                   "no article text found on the page")


# --- the worker process: no network, and failures as values ---------------------------------


def test_the_extraction_process_has_no_network(scripted_server: ScriptedServer) -> None:
    scripted_server.routes["/x"] = lambda h: html(h, b"<p>reached</p>")
    with pytest.raises(worker.WorkerError, match="no network in the extraction process"):
        worker.run(urllib.request.urlopen, (scripted_server.url("/x"),), 30)
    assert worker.run(trafilatura.fetch_url, (scripted_server.url("/x"),), 30) is None
    assert scripted_server.seen == []


def test_a_child_that_raises_or_dies_is_a_worker_error() -> None:
    with pytest.raises(worker.WorkerError, match=r"ValueError: invalid literal"):
        worker.run(int, ("not a number",), 30)
    with pytest.raises(worker.WorkerError, match=r"extraction process died \(exit code 3\)"):
        worker.run(os._exit, (3,), 30)
    assert worker.run(len, ("four",), 30) == 4


def test_no_link_no_fetch(client: GuardedClient, dialled: list[tuple[str, int]]) -> None:
    assert_summary(extract(entry(None), client), "the entry has no link")
    assert dialled == []


def test_the_workers_live_on_and_serve_many_pages() -> None:
    """A pool of long-lived workers (one per CPU): twenty calls from four threads run in the
    pool's own processes, and no process is started for them."""
    from concurrent.futures import ThreadPoolExecutor

    worker.run(len, ("warm",), 30)
    before = worker.worker_pids()
    with ThreadPoolExecutor(4) as threads:
        pids = set(threads.map(lambda _: worker.run(os.getpid, (), 30), range(20)))
    assert pids <= set(before) and worker.worker_pids() == before
    assert len(before) == worker.pool_size()


def test_threads_whose_first_calls_come_at_once_start_one_pool(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The first calls of a process come from many threads at once (a check starts 16 feeds,
    each with its page threads): they start one pool of ``pool_size()`` workers between them,
    not a pool each whose extra workers are killed at once (the e2e bench saw 59 processes)."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(worker, "_started", False)  # no pool yet, as in a new process
    fresh: set[worker._Worker] = set()
    monkeypatch.setattr(worker, "_workers", fresh)
    started: list[int] = []
    start = worker._Worker.__init__

    def counted(self: worker._Worker, context: object) -> None:
        start(self, context)
        assert self.process.pid is not None
        started.append(self.process.pid)

    monkeypatch.setattr(worker._Worker, "__init__", counted)
    threads = 16
    together = threading.Barrier(threads)

    def first_call(_: int) -> int:
        together.wait(30)
        pid: int = worker.run(os.getpid, (), 30)
        return pid

    try:
        with ThreadPoolExecutor(threads) as pool:
            pids = set(pool.map(first_call, range(threads)))
        assert len(started) == worker.pool_size(), "one pool, started once"
        assert pids <= set(started) and sorted(worker.worker_pids()) == sorted(started)
    finally:
        for w in list(fresh):
            w.close()
