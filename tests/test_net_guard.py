"""The SSRF guard of monitor.net: address classification, schemes, connect-time checks, redaction.

No test reaches the internet: an autouse fixture lets sockets go only to loopback and makes
getaddrinfo numeric-only, so a mistake fails fast instead of leaking a packet.
"""

from __future__ import annotations

import socket
import socketserver
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from monitor.errors import BlockedURLError, ConfigError, FetchError
from monitor.net import GuardedClient, NetConfig, address_allowed, redact_url

REAL_CREATE_CONNECTION = socket.create_connection
pytestmark = pytest.mark.usefixtures("dialled")


# --- fixtures ----------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else a 40 ms delayed-ACK stall per response
    server: _Server

    def do_GET(self) -> None:
        self.server.seen.append({k.lower(): v for k, v in self.headers.items()})
        self.send_response(200)
        self.send_header("Content-Length", "5")
        if self.server.close_connections:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[dict[str, str]] = []
        self.close_connections = False

    def server_bind(self) -> None:  # skip HTTPServer's getfqdn(): no DNS in tests
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    @property
    def port(self) -> int:
        return self.server_port


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.01})
    thread.daemon = True
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(2)


@pytest.fixture
def make_client() -> Iterator[Callable[..., GuardedClient]]:
    clients: list[GuardedClient] = []

    def make(resolver: Callable[[str, int], list[str]] | None = None, **config: Any
             ) -> GuardedClient:
        client = GuardedClient(NetConfig(**config), resolver=resolver)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


class FakeResolver:
    """Answers from a table, records every lookup, raises gaierror for unknown names."""

    def __init__(self, table: dict[str, list[list[str]] | list[str]]) -> None:
        self.table = table
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        answer = self.table.get(host)
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if answer and isinstance(answer[0], list):  # successive answers, the last one repeats
            answers: list[list[str]] = answer  # type: ignore[assignment]
            return answers.pop(0) if len(answers) > 1 else answers[0]
        return answer  # type: ignore[return-value]


# --- the classifier ----------------------------------------------------------------------------

BLOCKED = [
    "127.0.0.1", "127.0.0.2", "127.255.255.254", "10.0.0.5", "172.16.0.1", "172.31.255.255",
    "192.168.1.1", "169.254.169.254", "0.0.0.0", "0.1.2.3", "100.64.0.1", "100.127.255.254",
    "192.0.0.8", "192.0.2.1", "192.88.99.1", "198.18.0.1", "198.19.255.255", "198.51.100.7",
    "203.0.113.9", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
    "::", "::1", "::7f00:1", "::ffff:127.0.0.1", "::ffff:a9fe:a9fe", "::ffff:10.0.0.5",
    "64:ff9b::7f00:1", "64:ff9b::a00:5", "64:ff9b:1::1", "100::1", "fc00::1", "fd12:3456::1",
    "fe80::1", "fe80::1%eth0", "fec0::1", "ff02::1", "ff0e::1", "2001:db8::1", "3fff::1",
    "5f00::1", "2001:2::1", "2002:a9fe:a9fe::1", "2002:7f00:1::1", "2002:a00:5::1",
    # Teredo: server 65.54.227.120, client 192.0.2.45 (obfuscated), and one embedding 10.0.0.5
    "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:0:a00:5::1",
]
ALLOWED = [
    "8.8.8.8", "1.1.1.1", "93.184.216.34", "100.63.255.255", "100.128.0.1",
    "2606:4700::1111", "2a00:1450:4001:81b::200e", "::ffff:8.8.8.8", "64:ff9b::808:808",
]


@pytest.mark.parametrize("address", BLOCKED)
def test_classifier_blocks_non_public(address: str) -> None:
    assert not address_allowed(address)


@pytest.mark.parametrize("address", ALLOWED)
def test_classifier_allows_public(address: str) -> None:
    assert address_allowed(address)


def test_classifier_refuses_what_is_not_an_ip() -> None:
    for text in ("example.com", "2130706433", "0x7f000001", "127.1", "", "1.2.3.4.5"):
        assert not address_allowed(text)


def test_allowlist_single_address() -> None:
    allow = ["127.0.0.1"]
    assert address_allowed("127.0.0.1", allow)
    assert address_allowed("::ffff:127.0.0.1", allow)  # the same host, IPv4-mapped
    assert not address_allowed("127.0.0.2", allow)
    assert not address_allowed("10.0.0.5", allow)
    assert not address_allowed("::1", allow)
    assert address_allowed("8.8.8.8", allow)  # public stays allowed


def test_allowlist_networks_and_ipv6() -> None:
    assert address_allowed("10.1.2.3", ["10.0.0.0/8"])
    assert not address_allowed("172.16.0.1", ["10.0.0.0/8"])
    assert address_allowed("::1", ["::1"])
    assert not address_allowed("::2", ["::1"])
    assert address_allowed("fd00::5", ["fd00::/8"])
    # An IPv6 network never matches an IPv4 address by its bits (0.0.0.1 vs ::/96).
    assert not address_allowed("0.0.0.1", ["::/96"])


def test_bad_allowlist_entry_is_config_error() -> None:
    with pytest.raises(ConfigError, match="not-an-ip"):
        GuardedClient(NetConfig(allow_private=("not-an-ip",)))


# --- the guard runs at connect time ------------------------------------------------------------


def test_loopback_blocked_and_server_never_reached(
    server: _Server, make_client: Callable[..., GuardedClient], dialled: list[tuple[str, int]]
) -> None:
    client = make_client()
    with pytest.raises(BlockedURLError, match=r"non-public address 127\.0\.0\.1") as info:
        client.get(f"http://127.0.0.1:{server.port}/feed")
    assert info.value.url == f"http://127.0.0.1:{server.port}/feed"
    assert dialled == []
    assert server.seen == []


def test_allowlisted_loopback_is_fetched(
    server: _Server, make_client: Callable[..., GuardedClient]
) -> None:
    client = make_client(allow_private=("127.0.0.1",))
    response = client.get(f"http://127.0.0.1:{server.port}/feed")
    assert (response.status, response.content) == (200, b"hello")
    assert len(server.seen) == 1


ALTERNATE_LITERALS = [
    "http://2130706433/", "http://0x7f000001/", "http://0177.0.0.1/", "http://127.1/",
    "http://0.0.0.0/", "http://[::]/", "http://[::1]/", "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:a9fe:a9fe]/", "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1%25eth0]/", "http://0x7f.1/", "https://127.0.0.1/",
]


@pytest.mark.parametrize("url", ALTERNATE_LITERALS)
def test_alternate_ip_notations_blocked(
    url: str, make_client: Callable[..., GuardedClient], dialled: list[tuple[str, int]]
) -> None:
    with pytest.raises(BlockedURLError):
        make_client().get(url)
    assert dialled == []


@pytest.mark.parametrize("template", [
    "http://example.com@127.0.0.1:{port}/",
    "http://127.0.0.1:{port}#@example.com/",
    "http://user:pass@127.0.0.1:{port}/",
])
def test_parser_differentials_blocked(
    template: str, server: _Server, make_client: Callable[..., GuardedClient],
    dialled: list[tuple[str, int]],
) -> None:
    with pytest.raises(BlockedURLError) as info:
        make_client().get(template.format(port=server.port))
    assert "pass" not in str(info.value)
    assert dialled == []
    assert server.seen == []


def test_trailing_dot_host_is_resolved_as_dialled(
    make_client: Callable[..., GuardedClient], dialled: list[tuple[str, int]]
) -> None:
    resolver = FakeResolver({"localhost.": ["127.0.0.1"]})
    with pytest.raises(BlockedURLError, match=r"localhost\. resolves to non-public"):
        make_client(resolver).get("http://localhost./")
    assert resolver.calls == [("localhost.", 80)]
    assert dialled == []


def test_backslash_refused_before_any_lookup(make_client: Callable[..., GuardedClient]) -> None:
    resolver = FakeResolver({})
    with pytest.raises(BlockedURLError, match="backslash"):
        make_client(resolver).get("http://127.0.0.1:8080\\@example.com/")
    assert resolver.calls == []


@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "ftp://example.com/feed.xml", "gopher://example.com:70/_x",
    "data:text/plain,hello", "javascript:alert(1)", "smb://host/share", "ws://example.com/",
    "//example.com/feed", "example.com/feed", "http:///feed", "http://example.com:99999/",
])
def test_refused_urls_open_no_socket(
    url: str, make_client: Callable[..., GuardedClient], dialled: list[tuple[str, int]]
) -> None:
    resolver = FakeResolver({"example.com": ["93.184.216.34"]})
    client = make_client(resolver)
    with pytest.raises(BlockedURLError):
        client.get(url)
    with pytest.raises(BlockedURLError):
        client.post(url, content=b"{}")
    assert resolver.calls == []
    assert dialled == []


def test_name_resolving_to_private_address_blocked(
    make_client: Callable[..., GuardedClient], dialled: list[tuple[str, int]]
) -> None:
    resolver = FakeResolver({"internal.test": ["10.0.0.5"]})
    match = r"internal\.test resolves to non-public address 10\.0\.0\.5"
    with pytest.raises(BlockedURLError, match=match):
        make_client(resolver).get("http://internal.test/feed")
    assert dialled == []


def test_one_private_record_among_public_ones_blocks(
    make_client: Callable[..., GuardedClient], dialled: list[tuple[str, int]]
) -> None:
    resolver = FakeResolver({"mixed.test": ["93.184.216.34", "127.0.0.1"]})
    with pytest.raises(BlockedURLError, match=r"127\.0\.0\.1"):
        make_client(resolver).get("http://mixed.test/")
    assert dialled == []


def test_resolver_answer_that_is_not_an_ip_is_blocked(
    make_client: Callable[..., GuardedClient], dialled: list[tuple[str, int]]
) -> None:
    resolver = FakeResolver({"odd.test": ["2130706433"]})
    with pytest.raises(BlockedURLError):
        make_client(resolver).get("http://odd.test/")
    assert dialled == []


def test_dns_rebinding_dials_only_the_validated_address(
    server: _Server, make_client: Callable[..., GuardedClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Public answer first, loopback after: the client connects to the address it checked."""
    server.close_connections = True  # so the second request needs a new connection
    targets: list[tuple[str, int]] = []

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        targets.append((address[0], address[1]))  # "reach" the public address: our test server
        return REAL_CREATE_CONNECTION(("127.0.0.1", server.port), *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    resolver = FakeResolver({"rebind.test": [["93.184.216.34"], ["127.0.0.1"]]})
    client = make_client(resolver)
    url = f"http://rebind.test:{server.port}/feed"

    assert client.get(url).content == b"hello"
    assert resolver.calls == [("rebind.test", server.port)]
    assert targets == [("93.184.216.34", server.port)]
    assert server.seen[0]["host"] == f"rebind.test:{server.port}"

    with pytest.raises(BlockedURLError, match=r"rebind\.test resolves to non-public"):
        client.get(url)
    assert len(resolver.calls) == 2  # one lookup per connection
    assert targets == [("93.184.216.34", server.port)]  # nothing dialled for the rebound answer
    assert len(server.seen) == 1


def test_tls_verifies_the_hostname_not_the_dialled_ip(
    server: _Server, make_client: Callable[..., GuardedClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hostnames: list[str | None] = []

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        return REAL_CREATE_CONNECTION(("127.0.0.1", server.port), *args, **kwargs)

    def wrap_socket(self: ssl.SSLContext, sock: socket.socket, *args: Any,
                    server_hostname: str | None = None, **kwargs: Any) -> ssl.SSLSocket:
        hostnames.append(server_hostname)
        assert self.verify_mode == ssl.CERT_REQUIRED and self.check_hostname
        raise ssl.SSLCertVerificationError("test: certificate refused")

    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(ssl.SSLContext, "wrap_socket", wrap_socket)
    client = make_client(FakeResolver({"news.test": ["93.184.216.34"]}))
    with pytest.raises(FetchError, match="certificate refused") as info:
        client.get(f"https://news.test:{server.port}/")
    assert not isinstance(info.value, BlockedURLError)
    assert hostnames == ["news.test"]


def test_resolver_failure_is_a_fetch_error_not_a_block(
    make_client: Callable[..., GuardedClient],
) -> None:
    with pytest.raises(FetchError, match=r"cannot resolve nowhere\.test") as info:
        make_client(FakeResolver({})).get("http://nowhere.test/")
    assert not isinstance(info.value, BlockedURLError)
    assert isinstance(info.value.__cause__, Exception)


def test_hung_resolver_is_bounded_by_connect_timeout(
    make_client: Callable[..., GuardedClient],
) -> None:
    release = threading.Event()

    def slow(host: str, port: int) -> list[str]:
        release.wait(5)
        return ["93.184.216.34"]

    try:
        with pytest.raises(FetchError, match=r"DNS lookup of slow\.test timed out"):
            make_client(slow, connect_timeout=0.2).get("http://slow.test/")
    finally:
        release.set()


def test_proxy_variables_are_ignored(
    server: _Server, make_client: Callable[..., GuardedClient],
    monkeypatch: pytest.MonkeyPatch, dialled: list[tuple[str, int]],
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9/")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = make_client(allow_private=("127.0.0.1",))
    assert client.get(f"http://127.0.0.1:{server.port}/").status == 200
    assert dialled == [("127.0.0.1", server.port)]


def test_post_to_blocked_secret_url_keeps_the_secret_out(
    server: _Server, make_client: Callable[..., GuardedClient],
) -> None:
    url = f"http://127.0.0.1:{server.port}/services/T000/B000/XXXXsecretXXXX"
    with pytest.raises(BlockedURLError) as info:
        make_client().post(url, content=b"{}")
    assert "secret" not in str(info.value)
    assert info.value.url == f"http://127.0.0.1:{server.port}/…"
    with pytest.raises(BlockedURLError) as info:
        make_client().post(url, content=b"{}", secret_url=False)
    assert info.value.url == url


# --- redact_url --------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "shown"), [
    ("https://user:pw@example.com/feed?x=1", "https://example.com/feed?…"),
    ("https://example.com/private.rss?token=s3cret", "https://example.com/private.rss?…"),
    ("https://user@example.com:8443/a#b", "https://example.com:8443/a"),
    ("http://a:b@c@example.com/", "http://example.com/"),
    ("https://example.com/feed", "https://example.com/feed"),
    ("http://example.com/a b\r\nc", "http://example.com/a%20b%0D%0Ac"),
    ("javascript:alert(1)", "javascript:alert(1)"),
])
def test_redact_url_drops_userinfo(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(("url", "shown"), [
    ("https://hooks.slack.com/services/T0/B0/abcdef", "https://hooks.slack.com/…"),
    ("https://u:p@hooks.example.com:8443/hook?token=abc", "https://hooks.example.com:8443/…"),
    ("not a url", "<redacted URL>"),
])
def test_redact_url_secret_keeps_only_the_origin(url: str, shown: str) -> None:
    assert redact_url(url, secret=True) == shown


def test_redact_url_never_raises_and_stays_short() -> None:
    assert redact_url("http://[::1/") == "<invalid URL>"
    long = redact_url("https://example.com/" + "a" * 5000)
    assert len(long) <= 300 and long.endswith("…")


def test_unresolvable_name_is_a_fetch_error(make_client: Callable[..., GuardedClient]) -> None:
    """The default resolver's failures, even the idna codec's, become FetchError."""
    client = make_client()
    for url in ("http://no-such-host.invalid/", "http://" + "a" * 70 + ".com/"):
        with pytest.raises(FetchError, match="cannot resolve") as info:
            client.get(url)
        assert not isinstance(info.value, BlockedURLError)
