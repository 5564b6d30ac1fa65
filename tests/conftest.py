"""Shared fixtures: real HTTP servers on 127.0.0.1 that stop by themselves."""

from __future__ import annotations

import ipaddress
import json
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from monitor.demo import serve_site

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"


_real_create_connection = socket.create_connection
_real_getaddrinfo = socket.getaddrinfo


@pytest.fixture
def dialled(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every (host, port) socket.create_connection was asked for; only loopback is let through,
    and getaddrinfo answers for numeric hosts only, so no test can reach beyond this machine."""
    seen: list[tuple[str, int]] = []

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        seen.append((address[0], address[1]))
        try:
            loopback = ipaddress.ip_address(address[0]).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise OSError(f"test guard: refused to dial {address[0]}")
        return _real_create_connection(address, *args, **kwargs)

    def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0,
                    flags: int = 0) -> Any:
        return _real_getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return seen


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook receiver that records every request and answers with ``status``/``body``."""

    url: str
    requests: list[Recorded] = field(default_factory=list)
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on 127.0.0.1 (a free port, a thread per request) until the block ends;
    yields the base URL, ``http://127.0.0.1:PORT``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            rec.requests.append(Recorded(self.path, dict(self.headers.items()),
                                         self.rfile.read(length)))
            self.send_response(rec.status)
            for k, v in rec.headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(rec.body)))
            self.end_headers()
            self.wfile.write(rec.body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serve(Handler) as base:
        rec.url = f"{base}/hook"
        yield rec


@pytest.fixture
def sample_site() -> Iterator[tuple[str, list[tuple[str, dict[str, str]]]]]:
    """The bundled sample news site: (base URL, requests seen)."""
    with serve_site() as served:
        yield served


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A fake systemd notify socket: NOTIFY_SOCKET points at it; read what the daemon says."""
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(60)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


# --- a scriptable HTTP(S) server for hostile responses (security-cases A–D, J) ----------------


@dataclass
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names; values are the header bytes as latin-1
    body: bytes = b""  # what a POST sent


class ScriptedHandler(BaseHTTPRequestHandler):
    """Answers each path with the route the test set, ``404`` for any other."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else a 40 ms delayed-ACK stall per response
    server: ScriptedServer

    def setup(self) -> None:
        if self.server.tls is not None:  # the handshake runs in this handler's thread
            wrapped = self.server.tls.wrap_socket(self.request, server_side=True,
                                                  do_handshake_on_connect=False)
            try:
                wrapped.do_handshake()
            except (OSError, ValueError):
                wrapped.close()
                raise
            self.request = wrapped
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self.server.tls is not None:
                self.request.close()

    def do_GET(self) -> None:
        self._dispatch(b"")

    def do_POST(self) -> None:
        self._dispatch(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def _dispatch(self, body: bytes) -> None:
        self.server.seen.append(SeenRequest(
            self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        route = self.server.routes.get(self.path.partition("?")[0])
        if route is None:
            self.reply(404, b"not found")
        else:
            route(self)

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
              ) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if not any(name.lower() == "content-length" for name in headers or {}):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def redirect(self, location: str, status: int = 302) -> None:
        self.reply(status, headers={"Location": location})

    def trickle(self, piece: bytes, every: float = 0.1) -> None:
        """Write ``piece`` every ``every`` seconds until the client leaves or the test ends."""
        while not self.server.stopping.is_set():
            try:
                self.wfile.write(piece)
                self.wfile.flush()
            except OSError:
                return
            self.server.stopping.wait(every)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), ScriptedHandler)
        self.tls = tls
        self.routes: dict[str, Callable[[ScriptedHandler], None]] = {}
        self.seen: list[SeenRequest] = []
        self.stopping = threading.Event()

    def server_bind(self) -> None:  # skip HTTPServer's getfqdn(): no DNS in tests
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hang up on purpose (caps, deadlines, refused certificates)

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{host}:{self.server_port}{path}"

    def paths(self) -> list[str]:
        return [seen.path for seen in self.seen]


@contextmanager
def scripted(tls: ssl.SSLContext | None = None) -> Iterator[ScriptedServer]:
    """A ScriptedServer on 127.0.0.1 for the length of the block."""
    srv = ScriptedServer(tls)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.01},
                              daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.stopping.set()
        srv.shutdown()
        srv.server_close()
        thread.join(5)


@pytest.fixture
def scripted_server() -> Iterator[ScriptedServer]:
    """A scriptable HTTP server on 127.0.0.1: set ``routes[path]``, read ``seen``."""
    with scripted() as srv:
        yield srv
