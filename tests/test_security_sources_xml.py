"""security-cases B (and 13, 31, 32) against the sources stage: hostile feed bodies parsed by
``monitor.sources.parse``, or polled from a real server on 127.0.0.1.

Entity bombs are judged by what comes out (no expansion) and by the memory a parse takes
(tracemalloc), never by a stopwatch.
"""

from __future__ import annotations

import builtins
import logging
import socket
import sys
import tracemalloc
import types
import urllib.request
import xml.sax
import xml.sax.expatreader
from collections.abc import Iterator
from typing import Any

import feedparser
import feedparser.api
import feedparser.http
import pytest

from monitor.model import Entry, Feed, FeedState, PollResult
from monitor.net import GuardedClient, NetConfig, Response
from monitor.sources import parse, poll
from monitor.sources.xmlguard import check_expat, first_entries
from tests.conftest import ScriptedHandler, ScriptedServer

LOCAL = NetConfig(allow_private=("127.0.0.1",), total_timeout=20)
MiB = 1024 * 1024


def rss_text(items: str, head: str = '<?xml version="1.0" encoding="utf-8"?>\n') -> str:
    return (f'{head}<rss version="2.0"><channel><title>t</title><link>https://x.example.org/'
            f"</link><description>d</description>{items}</channel></rss>")


def rss(items: str, head: str = '<?xml version="1.0" encoding="utf-8"?>\n') -> bytes:
    return rss_text(items, head).encode()


def response(body: bytes, content_type: str = "application/rss+xml") -> Response:
    return Response(url="https://x.example.org/feed.xml", status=200,
                    headers={"content-type": content_type}, content=body)


def fields(entry: Entry) -> list[str]:
    return [entry.guid, entry.title, entry.summary, entry.link or ""]


@pytest.fixture
def no_io(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Record any file open, socket connect or feedparser/urllib fetch made during the test."""
    calls: list[str] = []
    real_open = builtins.open

    def spy_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(f"open {file}")
        return real_open(file, *args, **kwargs)

    def refuse(name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls.append(f"{name} {args[:2]}")
            raise OSError(f"test: {name} refused")
        return call

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    monkeypatch.setattr(feedparser.http, "get", refuse("feedparser.http.get"))
    monkeypatch.setattr(urllib.request, "urlopen", refuse("urlopen"))
    yield calls


# --- case 13: feedparser is given bytes, never something it could open or fetch ---------------


@pytest.mark.parametrize("body", [
    b"/etc/passwd", b"http://169.254.169.254/latest/meta-data/", b"file:///etc/passwd",
    b"feed://127.0.0.1/x", b"  /etc/hostname\n",
])
def test_a_body_that_looks_like_a_path_or_url_is_only_data(body: bytes, no_io: list[str]
                                                           ) -> None:
    result = parse("ex", response(body, "text/plain"))
    assert result.status == "error" and result.error and result.error.startswith("not a feed")
    assert no_io == []


# --- cases 16, 17: entity bombs are not expanded ------------------------------------------------


def _laughs(layout: str) -> bytes:
    decls = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{(f"&lol{i - 1};" if i > 1 else "&lol;") * 10}">'
        for i in range(1, 10)]
    if layout == "doctype-line":
        subset = "<!DOCTYPE rss [" + "".join(decls) + "]>\n"
    elif layout == "indented":
        subset = "<!DOCTYPE rss [\n" + "".join(f"    {d}\n" for d in decls) + "]>\n"
    else:  # comments between the declarations
        subset = "<!DOCTYPE rss [\n" + "".join(f"<!-- x -->{d}\n" for d in decls) + "]>\n"
    return rss("<item><guid>a</guid><title>&lol9;</title><description>&lol5;&lol9;"
               "</description></item>", '<?xml version="1.0"?>\n' + subset)


def _quadratic(layout: str) -> bytes:
    big = "x" * 100_000
    subset = {"own-line": f'<!DOCTYPE rss [\n<!ENTITY a "{big}">\n]>\n',
              "doctype-line": f'<!DOCTYPE rss [<!ENTITY a "{big}">]>\n',
              "after-xml-decl": f'<!DOCTYPE rss [\n  <!ENTITY a "{big}" >\n<!-- c -->\n]>'}[layout]
    return rss("<item><guid>a</guid><title>q</title><description>" + "&a;" * 10_000
               + "</description></item>", '<?xml version="1.0"?>\n' + subset)


def _parse_measured(body: bytes) -> tuple[PollResult, int]:
    tracemalloc.start()
    try:
        result = parse("ex", response(body))
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("layout", ["doctype-line", "indented", "comments"])
def test_billion_laughs_is_not_expanded(layout: str, no_io: list[str]) -> None:
    result, peak = _parse_measured(_laughs(layout))
    for entry in result.entries:
        assert "lollol" not in entry.title + entry.summary
        assert len(entry.title) + len(entry.summary) < 1000
    assert peak < 50 * MiB
    assert no_io == []


@pytest.mark.parametrize("layout", ["own-line", "doctype-line", "after-xml-decl"])
def test_quadratic_blowup_is_not_expanded(layout: str) -> None:
    """feedparser re-declares 'safe' entities and its lenient parser expands them with no
    limit: unguarded, this body becomes a 1 GB summary."""
    result, peak = _parse_measured(_quadratic(layout))
    assert result.status == "ok"
    (entry,) = result.entries
    assert "x" * 1000 not in entry.summary
    assert len(entry.summary) < 100_000
    assert peak < 100 * MiB


def test_character_reference_entities_still_work() -> None:
    body = rss("<item><guid>a</guid><title>A&nbsp;B&eacute;</title></item>",
               '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY nbsp "&#160;">\n'
               '<!ENTITY eacute "&#233;">\n]>\n')
    result = parse("ex", response(body))
    assert result.status == "ok"
    assert result.entries[0].title == "A Bé"  # expanded by expat; the space folded


# --- case 18: XXE, with expat and with a libxml2 SAX driver installed ---------------------------


def _xxe_bodies(url: str) -> list[bytes]:
    return [
        rss("<item><guid>a</guid><title>&x;</title></item>",
            '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY x SYSTEM "file:///etc/passwd">\n]>\n'),
        rss("<item><guid>a</guid><title>&x;</title></item>",
            f'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY x SYSTEM "{url}/entity">]>\n'),
        rss("<item><guid>a</guid><title>&x;</title></item>",
            f'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "{url}/external.dtd">\n'),
        rss("<item><guid>a</guid><title>t</title></item>",
            f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY % p SYSTEM "{url}/p.dtd">\n'
            "%p;\n]>\n"),
    ]


def test_external_entities_are_never_fetched_or_opened(
        scripted_server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda f, *a, **k: opened.append(str(f))
                        or real_open(f, *a, **k))
    for body in _xxe_bodies(scripted_server.url("").rstrip("/")):
        result = parse("ex", response(body))
        for entry in result.entries:
            assert "root:" not in " ".join(fields(entry))
    assert scripted_server.seen == []
    assert opened == []


class _InsecureDriver(xml.sax.expatreader.ExpatParser):
    """Stands in for drv_libxml2: a SAX driver that will not turn external entities off."""

    created = 0

    def setFeature(self, name: str, state: int) -> None:
        if name == xml.sax.handler.feature_external_ges and not state:
            raise xml.sax.SAXNotSupportedException("always on")
        super().setFeature(name, state)


def test_an_installed_libxml2_sax_driver_is_not_used(
        scripted_server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    def create_parser() -> _InsecureDriver:
        _InsecureDriver.created += 1
        parser = _InsecureDriver()
        xml.sax.expatreader.ExpatParser.setFeature(
            parser, xml.sax.handler.feature_external_ges, 1)
        return parser

    fake = types.ModuleType("drv_libxml2")
    fake.create_parser = create_parser  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "drv_libxml2", fake)
    installed = xml.sax.make_parser(["drv_libxml2"])  # noqa: S317 (parses nothing)
    assert isinstance(installed, _InsecureDriver)  # the driver is "installed"
    _InsecureDriver.created = 0
    for body in _xxe_bodies(scripted_server.url("").rstrip("/")):
        parse("ex", response(body))
    assert scripted_server.seen == []
    assert _InsecureDriver.created == 0
    assert feedparser.api.PREFERRED_XML_PARSERS == ["xml.sax.expatreader"]


def test_a_real_libxml2_driver_if_installed_is_not_used() -> None:
    pytest.importorskip("drv_libxml2")
    body = _xxe_bodies("http://127.0.0.1:9")[0]
    result = parse("ex", response(body))
    assert all("root:" not in " ".join(fields(e)) for e in result.entries)


# --- case 19: a 50 MB token is stopped by the byte cap; the expat version is checked ----------


def test_a_50_mb_text_node_is_stopped_by_the_byte_cap_before_parsing(
        scripted_server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    def huge(h: ScriptedHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml")
        h.send_header("Content-Length", str(50 * MiB + 200))
        h.end_headers()
        h.wfile.write(b"<rss version='2.0'><channel><item><description>")
        h.trickle(b"x" * MiB, every=0)  # until the client hangs up

    parsed: list[int] = []
    real = feedparser.parse
    monkeypatch.setattr(feedparser, "parse", lambda *a, **k: parsed.append(1) or real(*a, **k))
    scripted_server.routes["/big.xml"] = huge
    with GuardedClient(LOCAL) as client:  # the default cap: 15 MiB
        result = poll(Feed(name="big", url=scripted_server.url("/big.xml"), interval=3600),
                      None, client)
    assert result.status == "error" and result.entries == ()
    assert f"response larger than {15 * MiB} bytes" in (result.error or "")
    assert parsed == []


def test_old_expat_is_reported_at_startup(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="monitor.sources")
    message = check_expat((2, 5, 0))
    assert message and "2.7.2" in message
    assert "expat=outdated version=2.5.0" in caplog.text
    caplog.clear()
    assert check_expat((2, 7, 2)) is None
    assert check_expat((3, 0, 0)) is None
    assert caplog.text == ""


# --- case 20: what is not a feed is an error with feedparser's reason, never entries ----------


@pytest.mark.parametrize(("body", "content_type", "reason"), [
    (b"<html><head><title>502 Bad Gateway</title></head><body><h1>502</h1></body></html>",
     "text/html", "not a feed"),
    (b'{"status": "ok", "data": []}', "application/json", "JSON without a JSON Feed version"),
    (bytes(range(256)) * 64, "application/octet-stream", "not well-formed"),
])
def test_garbage_served_with_200_is_an_error_with_a_reason(
        body: bytes, content_type: str, reason: str, scripted_server: ScriptedServer) -> None:
    scripted_server.routes["/feed"] = lambda h: h.reply(200, body, {"Content-Type": content_type})
    with GuardedClient(LOCAL) as client:
        result = poll(Feed(name="g", url=scripted_server.url("/feed"), interval=3600), None,
                      client)
    assert result.status == "error" and result.entries == ()
    assert result.error and result.error.startswith("not a feed") and reason in result.error
    assert "\n" not in result.error and len(result.error) <= 400


# --- case 21: encoding lies give deterministic, valid UTF-8 text -------------------------------

ITEM = "<item><guid>g-{t}</guid><title>{t}</title><description>{d}</description></item>"


def _encoded(title: str, encoding: str, declared: str, description: str = "d") -> bytes:
    body = rss_text(ITEM.format(t=title, d=description),
                    f'<?xml version="1.0" encoding="{declared}"?>\n')
    return body.encode(encoding, "surrogateescape")


LIES = {
    "header latin-1, declaration and bytes utf-8": (
        _encoded("café", "utf-8", "utf-8"), "application/rss+xml; charset=iso-8859-1"),
    "header utf-8, declaration and bytes latin-1": (
        _encoded("café", "latin-1", "iso-8859-1"), "application/rss+xml; charset=utf-8"),
    "invalid utf-8": (_encoded("caf\udce9 \udcff\udcfe", "utf-8", "utf-8"), "application/xml"),
    "utf-16 with a BOM": (_encoded("café", "utf-16", "utf-16"), "application/xml"),
    "utf-16 with a BOM, declared utf-8": (_encoded("café", "utf-16", "utf-8"), "text/xml"),
    "NUL bytes": (_encoded("ca\x00fé", "utf-8", "utf-8", "x\x00y"), "application/xml"),
    "surrogate character references": (
        _encoded("a&#xD800;b", "utf-8", "utf-8", "&#55296;"), "application/xml"),
    "a JSON Feed with lone surrogates": (
        b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "g\\ud800", '
        b'"url": "https://x.example.org/\\udfff", "title": "a\\ud800b", '
        b'"content_text": "c\\udfffd"}]}', "application/feed+json"),
}


@pytest.mark.parametrize("lie", list(LIES))
def test_encoding_lies_are_deterministic_and_stored_text_is_utf8(lie: str) -> None:
    body, content_type = LIES[lie]
    first = parse("ex", response(body, content_type))
    again = parse("ex", response(body, content_type))
    assert first == again
    assert first.status in ("ok", "error")
    for entry in first.entries:
        for value in fields(entry):
            value.encode("utf-8")  # strict: raises on a lone surrogate
            assert "\x00" not in value
    if first.status == "error":
        assert first.error and first.error.startswith("not a feed")


@pytest.mark.parametrize("lie", ["utf-16 with a BOM", "header latin-1, declaration and bytes "
                                 "utf-8", "header utf-8, declaration and bytes latin-1"])
def test_an_honest_byte_order_mark_or_declaration_wins(lie: str) -> None:
    body, content_type = LIES[lie]
    result = parse("ex", response(body, content_type))
    assert [e.title for e in result.entries] == ["café"]


def test_json_feed_surrogates_are_dropped_not_stored() -> None:
    body, content_type = LIES["a JSON Feed with lone surrogates"]
    (entry,) = parse("ex", response(body, content_type)).entries
    assert (entry.guid, entry.title, entry.summary, entry.link) == ("g", "ab", "cd", None)


# --- case 23: only the first N entries are parsed --------------------------------------------


def test_100k_entries_only_the_first_n_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    items = "".join(f"<item><guid isPermaLink='false'>g{i}</guid><title>t{i}</title>"
                    f"<link>https://x.example.org/{i}</link></item>" for i in range(100_000))
    body = rss(items)
    given: list[int] = []
    real = feedparser.parse
    monkeypatch.setattr(feedparser, "parse",
                        lambda f, **k: given.append(len(f.getvalue())) or real(f, **k))
    result = parse("ex", response(body), max_entries=50)
    assert [e.guid for e in result.entries] == [f"g{i}" for i in range(50)]
    assert given and given[0] < len(body) // 100  # feedparser saw the first entries only
    alone = parse("ex", response(rss("".join(items.split("</item>")[i] + "</item>"
                                             for i in range(50)))), max_entries=50)
    assert result.entries == alone.entries


@pytest.mark.parametrize(("doc", "closers"), [
    ("<rss><channel><item>1</item><item>2</item><item>3</item></channel></rss>",
     "</channel></rss>"),
    ("<rdf:RDF><channel/><item rdf:about='a'>1</item><item>2</item><item>3</item></rdf:RDF>",
     "</rdf:RDF>"),
    ("<feed xmlns='http://www.w3.org/2005/Atom'><entry>1</entry><entry>2</entry>"
     "<entry>3</entry></feed>", "</feed>"),
])
def test_first_entries_cuts_after_the_nth_and_closes_what_is_open(doc: str, closers: str
                                                                  ) -> None:
    cut = first_entries(doc.encode(), 2).decode()
    assert cut.endswith(("</item>" if "item" in doc else "</entry>") + closers)
    assert ">3<" not in cut and ">2<" in cut
    assert first_entries(doc.encode(), 3) == doc.encode()  # not more than the limit: untouched


def test_first_entries_is_not_fooled_by_cdata_comments_or_attributes() -> None:
    body = rss("<item><guid isPermaLink='false'>a</guid><description><![CDATA[</item></item>"
               " <entry>]]></description><!-- </item> --></item><item><guid isPermaLink='false'"
               ">b</guid><title a='x>y'>B</title></item><item><guid isPermaLink='false'>c</guid>"
               "</item>")
    assert [e.guid for e in parse("ex", response(body), max_entries=2).entries] == ["a", "b"]
    assert [e.guid for e in parse("ex", response(body), max_entries=3).entries] == [
        "a", "b", "c"]


# --- case 24: markup in titles and summaries is text, and never a link -------------------------


def test_markup_in_titles_and_summaries_is_plain_text() -> None:
    body = rss(
        "<item><guid>a</guid><title>&lt;script&gt;alert(1)&lt;/script&gt;Rockets hit base"
        " &lt;img src=x onerror=alert(2)&gt;</title><description><![CDATA[<p>Two <b>rockets"
        "</b></p><a href=\"javascript:alert(3)\">more</a><iframe src=//evil></iframe>"
        "<style>p{}</style>]]></description><link>javascript:alert(4)</link></item>")
    atom = (b"<feed xmlns='http://www.w3.org/2005/Atom'><title>t</title><entry><id>b</id>"
            b"<title type='html'>&lt;svg onload=alert(5)&gt;Drone strike</title>"
            b"<summary type='text'>&lt;b&gt;bold&lt;/b&gt; text</summary>"
            b"<link href='data:text/html,x'/></entry></feed>")
    first = parse("ex", response(body)).entries[0]
    second = parse("ex", response(atom, "application/atom+xml")).entries[0]
    assert (first.title, first.summary) == ("Rockets hit base", "Two rockets\nmore")
    assert second.title == "Drone strike" and "bold" in second.summary
    for entry in (first, second):
        assert entry.link is None
        for value in (entry.title, entry.summary):
            for bad in ("<", "script", "onerror", "onload", "javascript:", "alert("):
                assert bad not in value


# --- cases 31, 32: empty 200, and 304 with or without validators -------------------------------


@pytest.mark.parametrize("body", [b"", b" \r\n\t "])
def test_an_empty_200_is_an_empty_response_error(body: bytes,
                                                 scripted_server: ScriptedServer) -> None:
    scripted_server.routes["/feed"] = lambda h: h.reply(
        200, body, {"Content-Type": "application/rss+xml", "ETag": '"new"'})
    with GuardedClient(LOCAL) as client:
        state = FeedState(url=scripted_server.url("/feed"), etag='"old"')
        result = poll(Feed(name="e", url=state.url, interval=3600), state, client)
    assert (result.status, result.error, result.entries) == ("error", "empty response", ())
    assert result.etag is None  # the empty answer's validators are not taken


def test_304_without_validators_sent_parses_nothing(scripted_server: ScriptedServer) -> None:
    scripted_server.routes["/feed"] = lambda h: h.reply(304, headers={"ETag": '"x"'})
    with GuardedClient(LOCAL) as client:
        feed = Feed(name="n", url=scripted_server.url("/feed"), interval=3600)
        bare = poll(feed, None, client)
        kept = poll(feed, FeedState(url=feed.url, etag='"v1"', last_modified="Mon"), client)
    assert "if-none-match" not in scripted_server.seen[0].headers
    assert (bare.status, bare.entries, bare.etag) == ("not_modified", (), None)
    assert (kept.status, kept.entries) == ("not_modified", ())
    assert (kept.etag, kept.last_modified) == ('"v1"', "Mon")  # validators retained
