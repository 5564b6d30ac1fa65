"""security-cases 1, 8, 14, 22 and 81 through ``monitor.pipeline.run_once``, the pass
``monitor check`` makes, against news sites served from 127.0.0.1: every connection leaves
through the guarded client, a broken feed does not stop the others, identities stay stable
when feeds misbehave, and each entry's page is fetched once.
"""

from __future__ import annotations

import io
import socket
import sqlite3
import traceback
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser.http
import pytest
import trafilatura
import trafilatura.downloads
import trafilatura.feeds
import trafilatura.sitemaps

from monitor.cli import build_context
from monitor.config import load_config
from monitor.demo import serve_site
from monitor.pipeline import RunReport, run_once
from monitor.store import Store
from tests.conftest import DATA, ROOT, Receiver, ScriptedServer

NOW = datetime(2024, 8, 7, 21, tzinfo=UTC)
Site = tuple[str, list[tuple[str, dict[str, str]]]]
SEEDS = {p.stem[:3]: p.read_text(encoding="utf-8") for p in (DATA / "seeds").glob("*.txt")}


def write_config(tmp_path: Path, feeds: dict[str, str], extra: str = "") -> Path:
    path = tmp_path / "monitor.toml"
    listed = "".join(f'[[feeds]]\nname = "{name}"\nurl = "{url}"\n' for name, url in feeds.items())
    path.write_text(f'database = "m.db"\nrules = "{(ROOT / "rules").as_posix()}"\n'
                    '[network]\nallow_private = ["127.0.0.1"]\ntotal_timeout = 20\n'
                    '[stories]\nmax_age = "3650d"\n'
                    f'{listed}[targets.console]\ntype = "console"\n{extra}', encoding="utf-8")
    return path


@dataclass
class Pass:
    report: RunReport
    printed: str  # what the console target printed: one block per alert


def check(config_path: Path, now: datetime = NOW) -> Pass:
    config = load_config(config_path, env={})
    store = Store.open(config.database)
    out = io.StringIO()
    ctx = build_context(config, store, stream=out, clock=lambda: now)
    try:
        report = run_once(ctx)
    finally:
        ctx.client.close()
        store.close()
    return Pass(report, out.getvalue())


def alerts(printed: str) -> int:
    return sum(line.startswith("[") and "]" in line[:12] for line in printed.splitlines())


def article_notes(tmp_path: Path) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(tmp_path / "m.db") as conn:
        return conn.execute("SELECT e.link, a.source, a.note FROM articles a "
                            "JOIN entries e ON e.id = a.entry_id ORDER BY e.id").fetchall()


# --- case 14: the egress chokepoint ---------------------------------------------------------


@dataclass
class Egress:
    connects: list[tuple[Any, list[str]]]
    lookups: list[tuple[Any, list[str]]]
    forbidden: list[str]


@pytest.fixture
def egress(monkeypatch: pytest.MonkeyPatch) -> Iterator[Egress]:
    """Every TCP connect and name lookup, with the files on its call stack; and any call of a
    helper that fetches by itself (trafilatura's, feedparser's, urllib's, requests')."""
    seen = Egress([], [], [])
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def stack() -> list[str]:
        return [frame.filename for frame in traceback.extract_stack()]

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            seen.connects.append((address, stack()))
        return real_connect(self, address)

    def getaddrinfo(*args: Any, **kwargs: Any) -> Any:
        seen.lookups.append((args[:2], stack()))
        return real_getaddrinfo(*args, **kwargs)

    def forbid(name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            seen.forbidden.append(name)
            raise AssertionError(f"{name} called: it fetches outside the guarded client")
        return call

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    for module, name in [(trafilatura, "fetch_url"), (trafilatura.downloads, "fetch_url"),
                         (trafilatura.downloads, "fetch_response"),
                         (trafilatura.downloads, "add_to_compressed_dict"),
                         (trafilatura.feeds, "find_feed_urls"),
                         (trafilatura.sitemaps, "sitemap_search"),
                         (feedparser.http, "get"), (urllib.request, "urlopen")]:
        monkeypatch.setattr(module, name, forbid(f"{module.__name__}.{name}"))
    requests = pytest.importorskip("requests")
    monkeypatch.setattr(requests.Session, "request", forbid("requests.Session.request"))
    yield seen


def test_every_connection_of_a_full_pass_leaves_through_the_guarded_client(
        tmp_path: Path, sample_site: Site, receiver: Receiver, egress: Egress) -> None:
    base, requests_seen = sample_site
    config = write_config(tmp_path, {"rss": f"{base}/feeds/rss.xml",
                                     "atom": f"{base}/feeds/atom.xml"},
                          f'[targets.hook]\ntype = "webhook"\nurl = "{receiver.url}"\n')
    done = check(config)
    assert done.report.ok and not done.report.failed_feeds
    pages = [path for path, _ in requests_seen if not path.startswith("/feeds/")]
    assert len(pages) >= 10, "the pass fetched the entries' pages"
    assert receiver.requests, "and delivered alerts"
    assert egress.connects, "the instrumentation saw the connections"
    guard = str(Path("monitor") / "net" / "backend.py")
    for address, frames in egress.connects:
        assert any(f.endswith(guard) for f in frames), f"{address} dialled outside the guard"
    for args, frames in egress.lookups:
        assert any(f.endswith(guard) for f in frames), f"lookup of {args} outside the guard"
    assert egress.forbidden == []
    assert {h.get("User-Agent", "") for _, h in requests_seen} == {
        requests_seen[0][1]["User-Agent"]}


# --- case 8: a redirect loop is a bounded error; the other feeds go on ----------------------


def test_a_redirect_loop_fails_its_feed_only(tmp_path: Path, sample_site: Site,
                                             scripted_server: ScriptedServer) -> None:
    base, _ = sample_site
    scripted_server.routes["/loop.xml"] = lambda h: h.redirect("/loop.xml", 301)
    config = write_config(tmp_path, {"loop": scripted_server.url("/loop.xml"),
                                     "rss": f"{base}/feeds/rss.xml"})
    report = check(config).report
    loop, rss = report.feeds
    assert loop.status == "error" and "too many redirects (5)" in (loop.error or "")
    assert scripted_server.paths() == ["/loop.xml"] * 6
    assert rss.status == "ok" and rss.new >= 17


# --- case 1: an entry linking to the metadata service: blocked_url, nothing fetched ----------


def test_an_entry_linking_to_the_metadata_service_is_recorded_blocked(
        tmp_path: Path, dialled: list[tuple[str, int]]) -> None:
    site = tmp_path / "site"
    publish(site, [Item("m1", "Rocket attack on US forces at Ain al-Asad",
                        "http://169.254.169.254/latest/meta-data/", SEEDS["001"][:300])])
    with serve_site(site) as (base, _):
        report = check(write_config(tmp_path, {"wire": f"{base}/feeds/rss.xml"})).report
    assert report.feeds[0].new == 1
    ((link, source, note),) = article_notes(tmp_path)
    assert (link, source) == ("http://169.254.169.254/latest/meta-data/", "summary")
    assert note and note.startswith("blocked_url: refused: non-public address 169.254.169.254")
    assert all(host == "127.0.0.1" for host, _ in dialled)


# --- cases 22 and 81: identities that misbehave; pages fetched once --------------------------


@dataclass
class Item:
    guid: str | None
    title: str
    link: str | None  # "{BASE}/…" is served by the site; None: no link element
    summary: str
    page: str | None = None  # the page's text, served at the link


def publish(root: Path, items: list[Item], build: int = 0) -> None:
    """Write the site: feeds/rss.xml (its lastBuildDate moves with ``build``, so every pass
    gets a new body and a new ETag) and the pages."""
    (root / "feeds").mkdir(parents=True, exist_ok=True)
    xml = []
    for n, item in enumerate(items):
        guid = f'<guid isPermaLink="false">{item.guid}</guid>' if item.guid else ""
        link = f"<link>{item.link}</link>" if item.link else ""
        stamp = (NOW - timedelta(hours=2, minutes=n)).strftime("%a, %d %b %Y %H:%M:%S GMT")
        xml.append(f"<item><title>{item.title}</title>{link}{guid}<pubDate>{stamp}</pubDate>"
                   f"<description>{item.summary}</description></item>")
        if item.page and item.link and item.link.startswith("{{BASE}}/"):
            body = "".join(f"<p>{line}</p>" for line in item.page.splitlines() if line.strip())
            page = root / item.link.removeprefix("{{BASE}}/")
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_text(f"<html><head><title>{item.title}</title></head><body><article>"
                            f"<h1>{item.title}</h1>{body}</article></body></html>",
                            encoding="utf-8")
    built = (NOW - timedelta(minutes=60 - build)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    (root / "feeds" / "rss.xml").write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>'
        f"<link>{{{{BASE}}}}/</link><description>x</description><lastBuildDate>{built}"
        f"</lastBuildDate>{''.join(xml)}</channel></rss>", encoding="utf-8")


def three_passes(tmp_path: Path, versions: list[list[Item]]) -> tuple[list[Pass], list[str]]:
    """Publish each version in turn and run a pass on it, an hour apart (past the stories'
    update interval, so a story that took a 'new' report again would send an update)."""
    site = tmp_path / "site"
    passes = []
    with serve_site(site) as (base, seen):
        publish(site, versions[0])
        config = write_config(tmp_path, {"wire": f"{base}/feeds/rss.xml"})
        for n, items in enumerate(versions):
            publish(site, items, build=n)
            passes.append(check(config, NOW + timedelta(hours=n)))
        return passes, [path for path, _ in seen if not path.startswith("/feeds/")]


ATTACK = Item("wire-1", "Rocket attack on US forces at Ain al-Asad", "{{BASE}}/2024/a.html",
              "Rockets struck Ain al-Asad air base.", SEEDS["001"])
OTHER = Item("wire-2", "Drone attack on Harir base", "{{BASE}}/2024/b.html",
             "Drones targeted the Harir base.", SEEDS["002"])


def test_a_guid_that_changes_every_fetch_is_not_a_new_entry(tmp_path: Path) -> None:
    versions = [[Item(f"{ATTACK.guid}-{n}", ATTACK.title, ATTACK.link, ATTACK.summary,
                      ATTACK.page)] for n in range(3)]
    passes, pages = three_passes(tmp_path, versions)
    assert [p.report.feeds[0].status for p in passes] == ["ok"] * 3
    assert passes[0].report.feeds[0].new == 1 and alerts(passes[0].printed) == 1
    assert [p.report.feeds[0].new for p in passes[1:]] == [0, 0]
    assert [alerts(p.printed) for p in passes[1:]] == [0, 0]
    assert pages == ["/2024/a.html"], "the page is fetched once"


def test_an_entry_without_guid_or_link_keeps_one_identity(tmp_path: Path) -> None:
    bare = Item(None, ATTACK.title, None, SEEDS["001"][:600])
    passes, pages = three_passes(tmp_path, [[bare]] * 3)
    assert passes[0].report.feeds[0].new == 1 and alerts(passes[0].printed) == 1
    assert [p.report.feeds[0].new for p in passes[1:]] == [0, 0]
    assert [alerts(p.printed) for p in passes[1:]] == [0, 0]
    assert pages == []


def test_each_page_is_fetched_once_across_polls(tmp_path: Path) -> None:
    passes, pages = three_passes(tmp_path, [[ATTACK], [ATTACK, OTHER], [ATTACK, OTHER]])
    assert [p.report.feeds[0].new for p in passes] == [1, 1, 0]
    assert sorted(pages) == ["/2024/a.html", "/2024/b.html"]


def test_duplicate_guids_in_one_feed_are_not_refetched_every_poll(tmp_path: Path) -> None:
    twin = Item(ATTACK.guid, OTHER.title, OTHER.link, OTHER.summary, OTHER.page)
    passes, pages = three_passes(tmp_path, [[ATTACK, twin]] * 3)
    assert [alerts(p.printed) for p in passes[1:]] == [0, 0]
    assert sorted(pages) == ["/2024/a.html", "/2024/b.html"], "each page fetched once"
