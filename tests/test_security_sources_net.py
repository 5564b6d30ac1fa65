"""security-cases A, C and J against the guarded client, with real servers on 127.0.0.1 (plain
and TLS) and stub resolvers: non-global ranges refused at connect time (4), odd host spellings
(11), credentials kept from other origins and from logs (15), stacked encodings refused before
decoding (26), lying lengths (28), deadlines (29, 30), validators echoed byte for byte (33), TLS
failing closed and https→http refused (40, 10), the User-Agent (79).

No test reaches beyond this machine: the ``dialled`` fixture lets sockets go to loopback only.
"""

from __future__ import annotations

import logging
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import monitor.net.client as client_module
from monitor import USER_AGENT
from monitor.errors import BlockedURLError, FetchError
from monitor.extract import extract
from monitor.model import Entry, Feed, FeedState
from monitor.net import GuardedClient, NetConfig
from monitor.sources import poll
from tests.conftest import ScriptedHandler, ScriptedServer, scripted

pytestmark = pytest.mark.usefixtures("dialled")
RSS = (b"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>"
       b"<item><guid>a</guid><title>A</title></item></channel></rss>")


class Resolver:
    """Answers from a table (``localhost`` is 127.0.0.1), records every lookup."""

    def __init__(self, table: dict[str, list[str]] | None = None) -> None:
        self.table = {"localhost": ["127.0.0.1"], **(table or {})}
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.table[host]


@pytest.fixture
def make_client() -> Iterator[Callable[..., GuardedClient]]:
    clients: list[GuardedClient] = []

    def make(resolver: Resolver | None = None, **config: Any) -> GuardedClient:
        config.setdefault("allow_private", ("127.0.0.1",))
        client = GuardedClient(NetConfig(**config), resolver=resolver or Resolver())
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


# --- case 4: every non-global range is refused at connect time, not only by the classifier ----

NON_GLOBAL = [
    "100.64.0.1", "192.0.0.8", "198.18.0.1", "240.0.0.1", "224.0.0.1", "fc00::1", "fe80::1",
    "ff02::1", "3fff::1", "2002:a9fe:a9fe::1",
    "2001:0:a00:5::1",  # Teredo whose server part is 10.0.0.5
    "2001:0:4136:e378:8000:63bf:f5ff:fffa",  # Teredo whose (obfuscated) client is 10.0.0.5
]


@pytest.mark.parametrize("address", NON_GLOBAL)
def test_a_name_resolving_to_a_non_global_address_is_never_dialled(
        address: str, make_client: Callable[..., GuardedClient],
        dialled: list[tuple[str, int]]) -> None:
    resolver = Resolver({"feed.test": [address]})
    with pytest.raises(BlockedURLError, match=r"feed\.test resolves to non-public address"):
        make_client(resolver).get("http://feed.test/rss.xml")
    assert resolver.calls == ["feed.test"]
    assert dialled == []


# --- case 11: whatever host httpx would dial is the one resolved and classified ----------------


def test_percent_encoded_and_invalid_idn_hosts_are_refused_before_any_lookup(
        make_client: Callable[..., GuardedClient], dialled: list[tuple[str, int]]) -> None:
    resolver = Resolver()
    client = make_client(resolver)
    for url in ("http://%31%32%37.0.0.1/", "http://loc%61lhost/", "http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/",
                "http://①②⑦.0.0.1/"):
        with pytest.raises(BlockedURLError):
            client.get(url)
    assert resolver.calls == []
    assert dialled == []


def test_an_idn_host_is_resolved_in_its_ascii_form_and_classified(
        make_client: Callable[..., GuardedClient], dialled: list[tuple[str, int]]) -> None:
    resolver = Resolver({"xn--mxahsa5b.com": ["10.0.0.5"]})
    with pytest.raises(BlockedURLError, match=r"resolves to non-public address 10\.0\.0\.5"):
        make_client(resolver).get("http://ΕΛΛΑΣ.com/feed")
    assert resolver.calls == ["xn--mxahsa5b.com"]
    assert dialled == []


def test_ideographic_dots_make_the_loopback_literal_and_are_refused(
        make_client: Callable[..., GuardedClient], dialled: list[tuple[str, int]]) -> None:
    resolver = Resolver()
    with pytest.raises(BlockedURLError, match=r"non-public address 127\.0\.0\.1"):
        make_client(resolver, allow_private=()).get("http://127。0。0。1/")
    assert resolver.calls == []  # a literal: nothing to look up, and nothing dialled
    assert dialled == []


# --- case 15: credentials stay with their origin and out of errors and logs -------------------


def test_feed_credentials_are_not_sent_across_origins_nor_logged(
        scripted_server: ScriptedServer, make_client: Callable[..., GuardedClient],
        caplog: pytest.LogCaptureFixture) -> None:
    port = scripted_server.server_port
    scripted_server.routes["/private.rss"] = lambda h: h.redirect(
        f"http://localhost:{port}/moved.rss", 301)
    scripted_server.routes["/moved.rss"] = lambda h: h.reply(500, b"boom")
    scripted_server.routes["/leak.rss"] = lambda h: h.redirect("http://internal.test/x", 302)
    resolver = Resolver({"internal.test": ["10.0.0.5"]})
    feed = Feed(name="private", url=f"http://reader:s3cr3tpw@127.0.0.1:{port}/private.rss",
                interval=3600)
    leak = Feed(name="leak", url=f"http://reader:s3cr3tpw@127.0.0.1:{port}/leak.rss?token=t0k3n",
                interval=3600)
    caplog.set_level(logging.DEBUG)

    moved = poll(feed, None, make_client(resolver))
    blocked = poll(leak, None, make_client(resolver))

    first, second, third = scripted_server.seen
    assert first.headers["authorization"].startswith("Basic ")  # sent to its own origin
    assert second.headers["host"] == f"localhost:{port}"
    assert "authorization" not in second.headers  # not to the next one
    assert third.path == "/leak.rss?token=t0k3n"
    assert moved.status == "error" and "HTTP 500" in (moved.error or "")
    assert blocked.status == "error" and "non-public" in (blocked.error or "")
    shown = " ".join([moved.error or "", blocked.error or "", caplog.text])
    for secret in ("s3cr3tpw", "t0k3n", first.headers["authorization"].split()[1]):
        assert secret not in shown


# --- cases 7 and 12: a feed redirected to a private address; .netrc and proxies ignored -------


def test_a_feed_redirected_to_a_private_address_is_an_error_and_not_moved(
        scripted_server: ScriptedServer, make_client: Callable[..., GuardedClient],
        dialled: list[tuple[str, int]]) -> None:
    scripted_server.routes["/feed"] = lambda h: h.redirect("http://10.0.0.5:8080/admin", 301)
    feed = Feed(name="f", url=scripted_server.url("/feed"), interval=3600)
    result = poll(feed, None, make_client())
    assert result.status == "error" and result.entries == ()
    assert "non-public address 10.0.0.5 after redirect to http://10.0.0.5:8080/admin" in (
        result.error or "")
    assert result.moved_to is None  # nothing for the scheduler to store
    assert dialled == [("127.0.0.1", scripted_server.server_port)]


def test_netrc_and_proxy_variables_are_not_read(
        scripted_server: ScriptedServer, make_client: Callable[..., GuardedClient],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        dialled: list[tuple[str, int]]) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login reader password n3trcpw\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9/")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9/")
    scripted_server.routes["/feed"] = lambda h: h.reply(200, RSS)
    assert make_client().get(scripted_server.url("/feed")).content == RSS
    assert "authorization" not in scripted_server.seen[0].headers
    assert dialled == [("127.0.0.1", scripted_server.server_port)]  # not the proxy's port 9


# --- case 26: more than two stacked encodings refused before any decoding ----------------------


def test_fifty_stacked_encodings_are_refused_before_decoding(
        scripted_server: ScriptedServer, make_client: Callable[..., GuardedClient],
        monkeypatch: pytest.MonkeyPatch) -> None:
    inflaters: list[int] = []
    real = zlib.decompressobj

    def counting(*args: Any, **kwargs: Any) -> Any:
        inflaters.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(zlib, "decompressobj", counting)
    body = b"x"
    for _ in range(50):
        body = zlib.compress(body)
    chain = ", ".join(["deflate"] * 50)
    scripted_server.routes["/x"] = lambda h: h.reply(200, body, {"Content-Encoding": chain})
    scripted_server.routes["/ok"] = lambda h: h.reply(200, zlib.compress(b"ok"),
                                                      {"Content-Encoding": "deflate"})
    client = make_client()
    with pytest.raises(FetchError, match=r"refused 50 stacked Content-Encodings \(at most 2\)"):
        client.get(scripted_server.url("/x"))
    assert inflaters == []
    assert client.get(scripted_server.url("/ok")).content == b"ok"  # the spy does see decoding
    assert inflaters == [1]


# --- case 28: a length that lies does not make the client read on ------------------------------


def test_a_body_longer_than_its_content_length_is_read_only_as_announced(
        scripted_server: ScriptedServer, make_client: Callable[..., GuardedClient]) -> None:
    def liar(h: ScriptedHandler) -> None:  # says 100 bytes, then never stops sending
        h.send_response(200)
        h.send_header("Content-Length", "100")
        h.end_headers()
        h.trickle(b"y" * 4096, every=0.001)

    scripted_server.routes["/liar"] = liar
    response = make_client(total_timeout=10).get(scripted_server.url("/liar"))
    assert response.content == b"y" * 100


# --- case 29, 30: deadlines for the slow, the silent and the unreachable ------------------------


def test_a_server_that_never_accepts_is_a_connect_timeout(
        make_client: Callable[..., GuardedClient]) -> None:
    """A listener whose backlog is full drops SYNs, as a blackholed address does."""
    with socket.socket() as listener, socket.socket() as filler:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        filler.connect(listener.getsockname())  # fills the backlog of one
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
        started = time.monotonic()
        with pytest.raises(FetchError, match=r"connect timeout|total deadline") as info:
            make_client(connect_timeout=0.3, total_timeout=5).get(url)
    assert not isinstance(info.value, BlockedURLError)
    assert time.monotonic() - started < 5  # the connect timeout, not the total deadline


def test_a_resolver_that_never_answers_is_cut_by_the_total_deadline(
        make_client: Callable[..., GuardedClient]) -> None:
    release = threading.Event()

    def hung(host: str, port: int) -> list[str]:
        release.wait(30)
        return ["93.184.216.34"]

    try:
        with pytest.raises(FetchError, match=r"total deadline of 0\.3s exceeded"):
            make_client(hung, connect_timeout=30, total_timeout=0.3).get("http://hung.test/")
    finally:
        release.set()


# --- case 33: validators go back exactly as they came ----------------------------------------

ODD_ETAG = 'W/"abc\\"def"'
LATIN1_ETAG = '"caf\xe9 \xff"'  # bytes 0xE9 and 0xFF, as a server may send them
ODD_MODIFIED = "Tue, 15 Nov 1994 12:45:26 GMT (yes, a comment)"


@pytest.mark.parametrize("etag", [ODD_ETAG, LATIN1_ETAG])
def test_validators_are_echoed_byte_for_byte(
        etag: str, scripted_server: ScriptedServer,
        make_client: Callable[..., GuardedClient]) -> None:
    def feed(h: ScriptedHandler) -> None:
        if h.headers.get("If-None-Match") == etag:
            h.reply(304, headers={"ETag": etag})
        else:
            h.reply(200, RSS, {"Content-Type": "application/rss+xml", "ETag": etag,
                               "Last-Modified": ODD_MODIFIED})

    scripted_server.routes["/feed"] = feed
    client = make_client()
    feed_config = Feed(name="f", url=scripted_server.url("/feed"), interval=3600)
    first = poll(feed_config, None, client)
    assert (first.status, first.etag, first.last_modified) == ("ok", etag, ODD_MODIFIED)
    state = FeedState(url=feed_config.url, etag=first.etag, last_modified=first.last_modified)
    second = poll(feed_config, state, client)
    sent = scripted_server.seen[-1].headers
    assert sent["if-none-match"].encode("latin-1") == etag.encode("latin-1")
    assert sent["if-modified-since"] == ODD_MODIFIED
    assert second.status == "not_modified" and second.etag == etag


# --- case 40 and 10: TLS fails closed; https never redirects to http ---------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A test CA; server certificates for localhost: valid, expired, self-signed, wrong name."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    d = tmp_path_factory.mktemp("tls")
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=60)

    openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=news-monitor test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign")
    (d / "localhost.ext").write_text("subjectAltName=DNS:localhost\n")
    (d / "other.ext").write_text("subjectAltName=DNS:other.test\n")
    for name, days, ext in (("valid", "2", "localhost.ext"), ("expired", "-1", "localhost.ext"),
                            ("wrong-name", "2", "other.ext")):
        openssl("req", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", "/CN=localhost")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-set_serial", str(len(name)), "-days", days, "-extfile", ext,
                "-out", f"{name}.pem")
    openssl("req", "-x509", *key, "-keyout", "self-signed.key", "-out", "self-signed.pem",
            "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost")
    return {p.stem: p for p in d.glob("*.pem")}


def _tls(certificates: dict[str, Path], name: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates[name], certificates[name].with_suffix(".key"))
    return context


@pytest.fixture
def trust_test_ca(certificates: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients made after this trust the test CA (and only it), as they trust certifi's."""
    context = ssl.create_default_context(cafile=str(certificates["ca"]))
    monkeypatch.setattr(client_module, "_ssl_context", lambda: context)


@pytest.mark.parametrize("name", ["valid", "expired", "self-signed", "wrong-name"])
def test_tls_failures_fail_closed(
        name: str, certificates: dict[str, Path],
        make_client: Callable[..., GuardedClient]) -> None:
    """With the real trust store none of these is trusted: the request fails, nothing is sent."""
    with scripted(_tls(certificates, name)) as server:
        server.routes["/feed"] = lambda h: h.reply(200, RSS)
        with pytest.raises(FetchError, match="certificate verify failed") as info:
            make_client().get(server.url("/feed", host="localhost"))
        assert not isinstance(info.value, BlockedURLError)
        assert server.seen == []


@pytest.mark.parametrize(("name", "reason"), [
    ("valid", None), ("expired", "certificate has expired"),
    ("self-signed", "self-signed certificate"), ("wrong-name", "Hostname mismatch"),
])
def test_tls_with_a_trusted_ca_still_checks_dates_and_names(
        name: str, reason: str | None, certificates: dict[str, Path], trust_test_ca: None,
        make_client: Callable[..., GuardedClient]) -> None:
    with scripted(_tls(certificates, name)) as server:
        server.routes["/feed"] = lambda h: h.reply(200, RSS)
        client = make_client()
        if reason is None:
            assert client.get(server.url("/feed", host="localhost")).content == RSS
            assert len(server.seen) == 1
            return
        with pytest.raises(FetchError, match=reason):
            client.get(server.url("/feed", host="localhost"))
        assert server.seen == []


def test_https_feed_redirecting_to_http_is_refused(
        certificates: dict[str, Path], trust_test_ca: None,
        scripted_server: ScriptedServer, make_client: Callable[..., GuardedClient]) -> None:
    scripted_server.routes["/feed"] = lambda h: h.reply(200, RSS)
    with scripted(_tls(certificates, "valid")) as server:
        server.routes["/feed"] = lambda h: h.redirect(
            scripted_server.url("/feed", host="localhost"), 301)
        with pytest.raises(BlockedURLError, match="refused redirect from https to http://"):
            make_client().get(server.url("/feed", host="localhost"))
        assert server.paths() == ["/feed"]
    assert scripted_server.seen == []


# --- case 79: a User-Agent that names the project, its version and a contact URL -------------


def test_user_agent_names_project_version_and_contact_on_every_hop(
        scripted_server: ScriptedServer, make_client: Callable[..., GuardedClient]) -> None:
    port = scripted_server.server_port
    scripted_server.routes["/feed"] = lambda h: h.redirect(f"http://localhost:{port}/feed2", 301)
    scripted_server.routes["/feed2"] = lambda h: h.reply(
        200, RSS.replace(b"<title>A</title>", b"<title>A</title><link>/page</link>"),
        {"Content-Type": "application/rss+xml"})
    scripted_server.routes["/page"] = lambda h: h.redirect("/page2", 302)
    scripted_server.routes["/page2"] = lambda h: h.reply(
        200, b"<html><body><p>short</p></body></html>", {"Content-Type": "text/html"})
    client = make_client()
    result = poll(Feed(name="f", url=scripted_server.url("/feed"), interval=3600), None, client)
    assert result.status == "ok" and result.entries[0].link == f"http://localhost:{port}/page"
    extract(Entry(feed="f", guid="a", link=result.entries[0].link, title="A", summary="s",
                  published=None), client)
    assert scripted_server.paths() == ["/feed", "/feed2", "/page", "/page2"]
    agents = {seen.headers["user-agent"] for seen in scripted_server.seen}
    assert agents == {USER_AGENT}
    assert re.fullmatch(r"news-monitor/\d+\.\d+\.\d+\S* \(\+https://[^\s)]+\)", USER_AGENT)
