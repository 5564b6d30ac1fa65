"""monitor.net against real HTTP servers on 127.0.0.1: redirects, body caps, deadlines, headers.

No test reaches the internet: an autouse fixture lets sockets go only to loopback and makes
getaddrinfo numeric-only.
"""

from __future__ import annotations

import gzip
import socket
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from monitor import USER_AGENT
from monitor.errors import BlockedURLError, FetchError
from monitor.net import GuardedClient, NetConfig
from tests.conftest import ScriptedHandler, ScriptedServer

pytestmark = pytest.mark.usefixtures("dialled")
MiB = 1024 * 1024


# --- the scriptable test server of conftest: routes by path, every request seen -------------

Server = ScriptedServer
Handler = ScriptedHandler


@pytest.fixture
def server(scripted_server: ScriptedServer) -> ScriptedServer:
    return scripted_server


def resolve_localhost(host: str, port: int) -> list[str]:
    """Loopback names only, so tests do not depend on /etc/hosts; other names do not exist."""
    table = {"localhost": ["127.0.0.1"], "internal.test": ["10.0.0.5"]}
    if host in table:
        return table[host]
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@pytest.fixture
def make_client() -> Iterator[Callable[..., GuardedClient]]:
    clients: list[GuardedClient] = []

    def make(**config: Any) -> GuardedClient:
        config.setdefault("allow_private", ("127.0.0.1",))
        client = GuardedClient(NetConfig(**config), resolver=resolve_localhost)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


# --- headers -----------------------------------------------------------------------------------


def test_user_agent_and_encodings_sent_on_every_hop(
    server: Server, make_client: Callable[..., GuardedClient]
) -> None:
    server.routes["/a"] = lambda h: h.redirect("/b")
    server.routes["/b"] = lambda h: h.reply(200, b"ok")
    response = make_client().get(server.url("/a"), headers={"Accept": "application/rss+xml"})
    assert response.content == b"ok"
    for seen in server.seen:
        assert seen.headers["user-agent"] == USER_AGENT
        assert seen.headers["accept-encoding"] == "gzip, deflate"
        assert seen.headers["accept"] == "application/rss+xml"
        assert "cookie" not in seen.headers


def test_cookies_are_not_carried_between_requests(
    server: Server, make_client: Callable[..., GuardedClient]
) -> None:
    server.routes["/set"] = lambda h: h.reply(200, headers={"Set-Cookie": "track=1; Path=/"})
    client = make_client()
    client.get(server.url("/set"))
    client.get(server.url("/set"))
    assert all("cookie" not in seen.headers for seen in server.seen)


# --- redirects ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_relative_redirect_followed(
    status: int, server: Server, make_client: Callable[..., GuardedClient]
) -> None:
    server.routes["/feed"] = lambda h: h.redirect("new/feed.xml?x=1", status)
    server.routes["/new/feed.xml"] = lambda h: h.reply(200, b"<rss/>")
    response = make_client().get(server.url("/feed"))
    assert (response.status, response.content) == (200, b"<rss/>")
    assert response.url == server.url("/new/feed.xml?x=1")
    assert response.redirects == ((status, server.url("/new/feed.xml?x=1")),)
    assert [s.method for s in server.seen] == ["GET", "GET"]


def _chain(server: Server, hops: int) -> None:
    for i in range(hops):
        server.routes[f"/{i}"] = lambda h, i=i: h.redirect(f"/{i + 1}")
    server.routes[f"/{hops}"] = lambda h: h.reply(200, b"end")


def test_five_redirects_are_followed(
    server: Server, make_client: Callable[..., GuardedClient]
) -> None:
    _chain(server, 5)
    response = make_client().get(server.url("/0"))
    assert response.content == b"end"
    assert len(response.redirects) == 5


def test_six_redirects_are_too_many(
    server: Server, make_client: Callable[..., GuardedClient]
) -> None:
    _chain(server, 6)
    with pytest.raises(FetchError, match=r"too many redirects \(5\)") as info:
        make_client().get(server.url("/0"))
    assert not isinstance(info.value, BlockedURLError)
    assert info.value.url == server.url("/0")
    assert server.paths() == ["/0", "/1", "/2", "/3", "/4", "/5"]


def test_redirect_loop_is_bounded(
    server: Server, make_client: Callable[..., GuardedClient]
) -> None:
    server.routes["/loop"] = lambda h: h.redirect("/loop", 301)
    with pytest.raises(FetchError, match="too many redirects"):
        make_client(max_redirects=2).get(server.url("/loop"))
    assert len(server.seen) == 3


def test_3xx_without_location_is_returned(
    server: Server, make_client: Callable[..., GuardedClient]
) -> None:
    server.routes["/odd"] = lambda h: h.reply(302, b"moved somewhere")
    response = make_client().get(server.url("/odd"))
    assert (response.status, response.redirects) == (302, ())


@pytest.mark.parametrize("target", [
    "http://127.0.0.2:{port}/admin",  # loopback, but only 127.0.0.1 is allowlisted
    "http://internal.test:{port}/admin",  # a name that resolves to 10.0.0.5
    "http://[::1]:{port}/admin",
    "http://169.254.169.254/latest/meta-data/",
])
def test_redirect_to_non_allowlisted_address_blocked(
    target: str, server: Server, make_client: Callable[..., GuardedClient],
    dialled: list[tuple[str, int]],
) -> None:
    server.routes["/feed"] = lambda h: h.redirect(target.format(port=server.server_port), 307)
    with pytest.raises(BlockedURLError, match=r"non-public address .* after redirect to") as info:
        make_client().get(server.url("/feed"))
    assert info.value.url == server.url("/feed")
    assert server.paths() == ["/feed"]
    assert dialled == [("127.0.0.1", server.server_port)]


@pytest.mark.parametrize("location", [
    "file:///etc/passwd", "gopher://127.0.0.1:70/_x", "javascript:alert(1)",
    "data:text/html,<b>x</b>", "http://127.0.0.1:8080\\@example.com/",
])
def test_redirect_to_refused_url_blocked(
    location: str, server: Server, make_client: Callable[..., GuardedClient]
) -> None:
    server.routes["/feed"] = lambda h: h.redirect(location)
    with pytest.raises(BlockedURLError, match="refused redirect"):
        make_client().get(server.url("/feed"))
    assert server.paths() == ["/feed"]


def test_https_to_http_redirect_refused(
    make_client: Callable[..., GuardedClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(301, headers={"Location": "http://news.test/feed"})

    client = make_client()
    monkeypatch.setattr(client, "_transport", httpx.MockTransport(handler))
    with pytest.raises(BlockedURLError, match=r"from https to http://news\.test/feed"):
        client.get("https://news.test/feed")
    assert calls == ["https://news.test/feed"]


def test_cross_origin_redirect_drops_credentials(
    server: Server, make_client: Callable[..., GuardedClient]
) -> None:
    """127.0.0.1 → localhost is another origin: Authorization, Cookie and userinfo stay behind."""
    port = server.server_port
    server.routes["/same"] = lambda h: h.redirect("/start")
    server.routes["/start"] = lambda h: h.redirect(f"http://localhost:{port}/next")
    server.routes["/next"] = lambda h: h.reply(200, b"ok")
    client = make_client()

    client.get(f"http://user:pw@127.0.0.1:{port}/same")
    first, second, third = server.seen
    assert first.headers["authorization"].startswith("Basic ")
    assert second.headers["authorization"] == first.headers["authorization"]  # same origin
    assert "authorization" not in third.headers
    assert third.headers["host"] == f"localhost:{port}"
    assert third.headers["user-agent"] == USER_AGENT

    server.seen.clear()
    client.get(server.url("/start"), headers={"Authorization": "Bearer t0ken", "Cookie": "s=1"})
    first, second = server.seen
    assert (first.headers["authorization"], first.headers["cookie"]) == ("Bearer t0ken", "s=1")
    assert "authorization" not in second.headers and "cookie" not in second.headers


# --- bodies ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """About 100 KB of gzip that inflates to 100 MiB of zeros."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(MiB)
    return b"".join([*(packer.compress(zeros) for _ in range(100)), packer.flush()])


def _fetch_peak(client: GuardedClient, url: str) -> tuple[BaseException, int]:
    tracemalloc.start()
    try:
        with pytest.raises(FetchError) as info:
            client.get(url, max_bytes=MiB)
        return info.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_gzip_bomb_stops_at_the_cap(
    bomb: bytes, server: Server, make_client: Callable[..., GuardedClient]
) -> None:
    server.routes["/bomb"] = lambda h: h.reply(200, bomb, {"Content-Encoding": "gzip"})
    server.routes["/hop"] = lambda h: h.redirect("/bomb")  # a bomb behind a redirect: same cap
    for path in ("/bomb", "/hop"):
        error, peak = _fetch_peak(make_client(), server.url(path))
        assert str(error).startswith(f"response larger than {MiB} bytes")
        assert peak < 6 * MiB


def test_stacked_gzip_bomb_stops_at_the_cap(
    bomb: bytes, server: Server, make_client: Callable[..., GuardedClient]
) -> None:
    """Two layers (331 bytes → 100 MiB) still decode a bounded step at a time."""
    double = gzip.compress(bomb)
    assert len(double) < 2000
    server.routes["/bomb"] = lambda h: h.reply(200, double, {"Content-Encoding": "gzip, gzip"})
    error, peak = _fetch_peak(make_client(), server.url("/bomb"))
    assert str(error).startswith(f"response larger than {MiB} bytes")
    assert peak < 6 * MiB


@pytest.mark.parametrize("encoding", ["gzip, gzip, gzip", "gzip, deflate, gzip, br, zstd"])
def test_more_than_two_encodings_refused(
    encoding: str, server: Server, make_client: Callable[..., GuardedClient]
) -> None:
    body = gzip.compress(gzip.compress(gzip.compress(b"x")))
    server.routes["/x"] = lambda h: h.reply(200, body, {"Content-Encoding": encoding})
    with pytest.raises(FetchError, match="stacked Content-Encodings"):
        make_client().get(server.url("/x"))


def test_unsupported_encoding_refused(
    server: Server, make_client: Callable[..., GuardedClient]
) -> None:
    server.routes["/br"] = lambda h: h.reply(200, b"\x1b\x00\x00", {"Content-Encoding": "br"})
    with pytest.raises(FetchError, match="unsupported Content-Encoding 'br'"):
        make_client().get(server.url("/br"))


@pytest.mark.parametrize(("encoding", "packed"), [
    ("gzip", gzip.compress(b"<rss>news</rss>")),
    ("x-gzip", gzip.compress(b"<rss>news</rss>")),
    ("deflate", zlib.compress(b"<rss>news</rss>")),  # zlib-wrapped, as RFC 9110 says
    ("deflate", zlib.compress(b"<rss>news</rss>")[2:-4]),  # raw, as some servers send
    ("identity", b"<rss>news</rss>"),
    ("gzip, deflate", zlib.compress(gzip.compress(b"<rss>news</rss>"))),
])
def test_encoded_bodies_are_decoded(
    encoding: str, packed: bytes, server: Server, make_client: Callable[..., GuardedClient]
) -> None:
    server.routes["/x"] = lambda h: h.reply(200, packed, {"Content-Encoding": encoding})
    assert make_client().get(server.url("/x")).content == b"<rss>news</rss>"


def test_corrupt_gzip_is_a_fetch_error(
    server: Server, make_client: Callable[..., GuardedClient]
) -> None:
    server.routes["/x"] = lambda h: h.reply(200, b"not gzip at all", {"Content-Encoding": "gzip"})
    with pytest.raises(FetchError, match="cannot decode gzip body"):
        make_client().get(server.url("/x"))


def test_plain_body_over_the_cap(
    server: Server, make_client: Callable[..., GuardedClient]
) -> None:
    server.routes["/big"] = lambda h: h.reply(200, b"x" * 2000)
    server.routes["/liar"] = lambda h: h.reply(200, b"x" * 2000, {"Content-Length": "100"})
    server.routes["/exact"] = lambda h: h.reply(200, b"x" * 1000)
    client = make_client(max_bytes=1000)
    with pytest.raises(FetchError, match="response larger than 1000 bytes"):
        client.get(server.url("/big"))
    assert client.get(server.url("/exact")).content == b"x" * 1000
    with pytest.raises(FetchError, match="response larger than 10 bytes"):
        client.get(server.url("/exact"), max_bytes=10)
    assert len(client.get(server.url("/liar")).content) == 100  # reads what it was told
    # The rest of the lie is left on that connection; the next request must not read it as a
    # response (it may fail, but as a FetchError naming the URL, in one short line).
    try:
        client.get(server.url("/exact"))
    except FetchError as e:
        assert len(str(e)) < 400 and "\n" not in str(e)


def test_endless_chunked_body_stops_at_the_cap(
    server: Server, make_client: Callable[..., GuardedClient]
) -> None:
    def endless(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        h.trickle(b"4000\r\n" + b"y" * 0x4000 + b"\r\n", every=0)

    server.routes["/endless"] = endless
    with pytest.raises(FetchError, match=f"response larger than {MiB} bytes"):
        make_client(max_bytes=MiB).get(server.url("/endless"))


@pytest.mark.parametrize("status", [200, 304, 404, 410, 500])
def test_any_final_status_is_returned(
    status: int, server: Server, make_client: Callable[..., GuardedClient]
) -> None:
    body = b"" if status == 304 else b"page"
    # A 304 may announce the size of the unchanged body; that is no reason to refuse it.
    extra = {"Content-Length": str(10 * MiB), "ETag": '"v1"'} if status == 304 else {}
    server.routes["/x"] = lambda h: h.reply(status, body, extra)
    response = make_client(max_bytes=MiB).get(server.url("/x"), headers={"If-None-Match": '"v1"'})
    assert (response.status, response.content) == (status, body)
    assert server.seen[0].headers["if-none-match"] == '"v1"'
    if status == 304:
        assert response.headers["etag"] == '"v1"'


# --- deadlines ---------------------------------------------------------------------------------


def _timed_failure(client: GuardedClient, url: str) -> tuple[FetchError, float]:
    started = time.monotonic()
    with pytest.raises(FetchError) as info:
        client.get(url)
    return info.value, time.monotonic() - started


def test_trickled_body_cut_off_by_total_deadline(
    server: Server, make_client: Callable[..., GuardedClient]
) -> None:
    def slow_body(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "100000")
        h.end_headers()
        h.trickle(b"x")

    server.routes["/slow"] = slow_body
    client = make_client(read_timeout=0.5, total_timeout=1.0)
    error, elapsed = _timed_failure(client, server.url("/slow"))
    assert "total deadline of 1s exceeded" in str(error)
    assert 0.9 < elapsed < 8  # cut off at the deadline: not the 10 000 s the body needs


def test_trickled_headers_cut_off_by_total_deadline(
    server: Server, make_client: Callable[..., GuardedClient]
) -> None:
    def slow_headers(h: Handler) -> None:
        h.wfile.write(b"HTTP/1.1 200 OK\r\n")
        h.trickle(b"X-Slow: 1\r\n")

    server.routes["/slow"] = slow_headers
    client = make_client(read_timeout=0.5, total_timeout=1.0)
    error, elapsed = _timed_failure(client, server.url("/slow"))
    assert "total deadline of 1s exceeded" in str(error)
    assert 0.9 < elapsed < 8  # cut off at the deadline: not the 10 000 s the body needs


def test_silent_server_cut_off_by_read_timeout_or_deadline(
    make_client: Callable[..., GuardedClient],
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:  # accepts TCP, never answers
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
        error, elapsed = _timed_failure(make_client(read_timeout=5, total_timeout=0.5), url)
        assert "total deadline of 0.5s exceeded" in str(error)
        assert elapsed < 4.5  # before the 5 s read timeout
        error, elapsed = _timed_failure(make_client(read_timeout=0.2, total_timeout=5), url)
        assert str(error).startswith("read timeout")
        assert elapsed < 4.5  # before the 5 s deadline


def test_connection_refused_is_a_fetch_error(make_client: Callable[..., GuardedClient]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(FetchError, match="connection failed") as info:
        make_client().get(f"http://127.0.0.1:{port}/")
    assert not isinstance(info.value, BlockedURLError)
    assert isinstance(info.value.__cause__, httpx.ConnectError)


# --- post --------------------------------------------------------------------------------------


def test_post_sends_the_body_and_does_not_follow_redirects(
    server: Server, make_client: Callable[..., GuardedClient]
) -> None:
    server.routes["/hook"] = lambda h: h.redirect("/elsewhere")
    server.routes["/elsewhere"] = lambda h: h.reply(200, b"ok")
    response = make_client().post(
        server.url("/hook"), content=b'{"text": "hi"}',
        headers={"Content-Type": "application/json"},
    )
    assert (response.status, response.redirects) == (302, ())
    assert response.headers["location"] == "/elsewhere"
    assert [(s.method, s.path, s.body) for s in server.seen] == [
        ("POST", "/hook", b'{"text": "hi"}')
    ]
    assert server.seen[0].headers["content-type"] == "application/json"
    assert server.seen[0].headers["user-agent"] == USER_AGENT


def test_post_errors_redact_the_url(make_client: Callable[..., GuardedClient]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(FetchError) as info:
        make_client().post(f"http://127.0.0.1:{port}/services/T/B/s3cret", content=b"{}")
    assert "s3cret" not in str(info.value)
    assert info.value.url == f"http://127.0.0.1:{port}/…"
