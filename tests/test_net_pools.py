"""monitor.net.pools against real HTTP servers on 127.0.0.1: one connection pool per origin.

Each origin is a server of its own (127.0.0.1, its own port), which records the client port of
every connection it accepts and of every connection the client closes, so keep-alive and the
closing of evicted pools are seen from the server's side.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpcore
import httpx
import pytest

from monitor.net import GuardedClient, NetConfig, default_resolver, parse_allowlist
from monitor.net.backend import GuardedBackend
from monitor.net.pools import Origin, Pools
from tests.conftest import ScriptedHandler, ScriptedServer

pytestmark = pytest.mark.usefixtures("dialled")


class Handler(ScriptedHandler):
    server: Server

    def setup(self) -> None:
        super().setup()
        self.server.opened.append(self.client_address[1])

    def finish(self) -> None:  # the client closed the connection (or the server stops)
        try:
            super().finish()
        finally:
            self.server.closed.append(self.client_address[1])


class Server(ScriptedServer):
    """A ScriptedServer answering ``/`` with ``ok``; ``opened``/``closed``: client ports."""

    def __init__(self) -> None:
        super().__init__()
        self.RequestHandlerClass = Handler
        self.opened: list[int] = []
        self.closed: list[int] = []
        self.routes["/"] = lambda h: h.reply(200, b"ok")

    @property
    def origin(self) -> Origin:
        return ("http", "127.0.0.1", self.server_port)


@contextmanager
def running(count: int) -> Iterator[list[Server]]:
    """``count`` servers, each its own origin, until the block ends."""
    with ExitStack() as stack:
        servers = []
        for _ in range(count):
            srv = Server()
            thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.01},
                                      daemon=True)
            thread.start()
            stack.callback(thread.join, 5)
            stack.callback(srv.server_close)
            stack.callback(srv.shutdown)
            stack.callback(srv.stopping.set)
            servers.append(srv)
        yield servers


@pytest.fixture
def make_pools() -> Iterator[Callable[..., Pools]]:
    made: list[Pools] = []

    def make(**options: Any) -> Pools:
        backend = GuardedBackend(parse_allowlist(("127.0.0.1",)), default_resolver)
        made.append(Pools(backend, ssl.create_default_context(), **options))
        return made[-1]

    yield make
    for pools in made:
        pools.close()


@pytest.fixture
def client() -> Iterator[GuardedClient]:
    with GuardedClient(NetConfig(allow_private=("127.0.0.1",))) as made:
        yield made


def fetch(pools: Pools, url: str) -> bytes:
    response = pools.handle_request(httpx.Request("GET", url))
    try:
        return response.read()
    finally:
        response.close()


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def held(gate: threading.Event) -> Callable[[ScriptedHandler], None]:
    """A route that answers ``late`` once ``gate`` is set."""
    def route(h: ScriptedHandler) -> None:
        gate.wait(10)
        h.reply(200, b"late")
    return route


def own_connections_only(pools: Pools) -> bool:
    """Every connection of every pool is to that pool's origin."""
    for (scheme, host, port), pool in pools.pools().items():
        mine = httpcore.Origin(scheme.encode(), host.encode(), port)
        if not all(connection.can_handle_request(mine) for connection in pool.connections):
            return False
    return True


def client_pools(client: GuardedClient) -> Pools:
    pools = client._transport
    assert isinstance(pools, Pools)
    return pools


# --- through GuardedClient -----------------------------------------------------------------------


def test_sequential_gets_to_one_origin_reuse_one_connection(client: GuardedClient) -> None:
    with running(1) as (srv,):
        ports: list[int] = []
        srv.routes["/"] = lambda h: (ports.append(h.client_address[1]), h.reply(200, b"ok"))
        for _ in range(3):
            assert client.get(srv.url("/")).content == b"ok"
        assert len(ports) == 3 and len(set(ports)) == 1
        assert srv.opened == ports[:1] and srv.closed == []


def test_each_origin_has_a_pool_holding_only_its_own_connections(
    client: GuardedClient,
) -> None:
    with running(5) as servers:
        for _ in range(2):
            for srv in servers:
                assert client.get(srv.url("/")).content == b"ok"
        pools = client_pools(client).pools()
        assert set(pools) == {srv.origin for srv in servers}
        assert [len(pool.connections) for pool in pools.values()] == [1] * 5
        assert own_connections_only(client_pools(client))
        assert [len(srv.opened) for srv in servers] == [1] * 5


def test_a_redirect_to_another_origin_goes_through_that_origins_pool(
    client: GuardedClient,
) -> None:
    with running(2) as (first, second):
        first.routes["/go"] = lambda h: h.redirect(second.url("/"))
        response = client.get(first.url("/go"))
        assert (response.content, response.redirects) == (b"ok", ((302, second.url("/")),))
        pools = client_pools(client).pools()
        assert set(pools) == {first.origin, second.origin}
        assert len(pools[second.origin].connections) == 1
        assert own_connections_only(client_pools(client))


def test_closing_the_client_closes_every_pool(client: GuardedClient) -> None:
    with running(3) as servers:
        for srv in servers:
            client.get(srv.url("/"))
        client.close()
        assert client_pools(client).pools() == {}
        assert eventually(lambda: all(srv.closed == srv.opened for srv in servers))


def test_an_httpx_without_a_transport_pool_is_refused_when_the_client_is_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Bare(httpx.BaseTransport):
        def __init__(self, **options: Any) -> None:
            pass

    monkeypatch.setattr(httpx, "HTTPTransport", Bare)
    with pytest.raises(RuntimeError, match="unsupported httpx version"):
        GuardedClient()


# --- the cap on pools ----------------------------------------------------------------------------


def test_pools_over_the_cap_are_closed_least_recently_used_first(
    make_pools: Callable[..., Pools],
) -> None:
    pools = make_pools(cap=2)
    with running(4) as (a, b, c, d):
        for srv in (a, b, a, c):  # b is now the least recently used
            assert fetch(pools, srv.url("/")) == b"ok"
        assert set(pools.pools()) == {a.origin, c.origin}
        assert eventually(lambda: b.closed == b.opened)
        fetch(pools, d.url("/"))
        assert set(pools.pools()) == {c.origin, d.origin}
        assert eventually(lambda: a.closed == a.opened)
        time.sleep(0.05)
        assert (c.closed, d.closed) == ([], [])
        assert [len(srv.opened) for srv in (a, b, c, d)] == [1, 1, 1, 1]  # a reused its own


def test_a_pool_with_a_request_in_flight_is_not_closed(
    make_pools: Callable[..., Pools],
) -> None:
    pools = make_pools(cap=2)
    gate = threading.Event()
    answers: list[bytes] = []
    with running(4) as (slow, b, c, d):
        slow.routes["/"] = held(gate)
        waiting = threading.Thread(target=lambda: answers.append(fetch(pools, slow.url("/"))))
        waiting.start()
        assert eventually(lambda: len(slow.seen) == 1)  # in flight, the answer held
        for srv in (b, c, d):
            fetch(pools, srv.url("/"))
            assert slow.origin in pools.pools() and len(pools.pools()) <= 2
        assert set(pools.pools()) == {slow.origin, d.origin}
        assert slow.closed == []
        gate.set()
        waiting.join(10)
        assert answers == [b"late"]
        fetch(pools, b.url("/"))  # d was used before slow ended: d goes first
        assert set(pools.pools()) == {slow.origin, b.origin}
        fetch(pools, c.url("/"))
        assert set(pools.pools()) == {b.origin, c.origin}
        assert eventually(lambda: slow.closed == slow.opened)


def test_when_every_pool_is_busy_the_cap_is_exceeded_rather_than_waited_for(
    make_pools: Callable[..., Pools],
) -> None:
    pools = make_pools(cap=1)
    gate = threading.Event()
    answers: list[bytes] = []
    with running(3) as servers:
        threads = []
        for srv in servers:
            srv.routes["/"] = held(gate)
            threads.append(threading.Thread(
                target=lambda url: answers.append(fetch(pools, url)), args=(srv.url("/"),)))
            threads[-1].start()
        assert eventually(lambda: all(len(srv.seen) == 1 for srv in servers))
        assert len(pools.pools()) == 3
        gate.set()
        for thread in threads:
            thread.join(10)
        assert answers == [b"late"] * 3
        (kept,) = pools.pools()  # back under the cap once the requests ended
        assert eventually(lambda: [len(srv.closed) for srv in servers]
                          == [0 if srv.origin == kept else 1 for srv in servers])


def test_a_failed_request_leaves_its_pool_idle(make_pools: Callable[..., Pools]) -> None:
    pools = make_pools(cap=1)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{unused.getsockname()[1]}/"
    with pytest.raises(httpx.ConnectError):
        fetch(pools, refused)
    with running(1) as (srv,):
        fetch(pools, srv.url("/"))
        assert set(pools.pools()) == {srv.origin}  # the failed one was not counted busy


# --- idle connections and idle pools -------------------------------------------------------------


def test_idle_connections_per_pool_are_capped(make_pools: Callable[..., Pools]) -> None:
    pools = make_pools(keepalive=2)
    gate = threading.Event()
    with running(1) as (srv,):
        srv.routes["/"] = held(gate)
        threads = [threading.Thread(target=fetch, args=(pools, srv.url("/"))) for _ in range(4)]
        for thread in threads:
            thread.start()
        assert eventually(lambda: len(srv.seen) == 4)
        assert len(srv.opened) == 4
        gate.set()
        for thread in threads:
            thread.join(10)
        assert len(pools.pools()[srv.origin].connections) == 2
        assert eventually(lambda: len(srv.closed) == 2)


def test_a_pool_idle_past_the_keepalive_expiry_is_closed_at_the_next_request(
    make_pools: Callable[..., Pools],
) -> None:
    pools = make_pools(keepalive_expiry=0.5)
    with running(2) as (old, new):
        fetch(pools, old.url("/"))
        fetch(pools, new.url("/"))
        assert set(pools.pools()) == {old.origin, new.origin}  # both fresh: under the cap
        time.sleep(0.7)
        fetch(pools, new.url("/"))
        assert set(pools.pools()) == {new.origin}
        assert eventually(lambda: old.closed == old.opened)
        assert len(new.opened) == 2  # its own connection had expired too, and was replaced
        assert eventually(lambda: new.closed == new.opened[:1])
        assert len(pools.pools()[new.origin].connections) == 1


# --- many threads --------------------------------------------------------------------------------


def test_many_threads_over_many_origins_stay_bounded_and_leak_no_socket(
    make_pools: Callable[..., Pools],
) -> None:
    pools = make_pools(cap=3)
    failures: list[BaseException] = []
    with running(6) as servers:
        def work(offset: int) -> None:
            for i in range(30):
                try:
                    assert fetch(pools, servers[(offset + i) % 6].url("/")) == b"ok"
                except BaseException as e:
                    failures.append(e)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert failures == []
        assert len(pools.pools()) <= 3
        assert own_connections_only(pools)
        held_open = sum(len(pool.connections) for pool in pools.pools().values())
        assert eventually(lambda: sum(len(s.opened) - len(s.closed) for s in servers) == held_open)
