"""The feed farm: the benchmark corpus (``corpus.py``) served on loopback addresses only.

One child process runs one asyncio loop with one HTTP/1.1 server (keep-alive, Content-Length)
per outlet on its own address, all on one port: news outlet *n* on ``127.1.x.y``, polling host
*n* on ``127.2.x.y`` (all of 127.0.0.0/8 is loopback on Linux), so the monitor's per-host limit
(``[polling] per_host``) applies per outlet as it would on the internet. Every feed and page
answer waits ``delay_ms`` first (real sites are not on loopback); feeds carry an ETag and
Last-Modified and answer 304 to a matching conditional GET, except the odd-numbered polling
feeds, which send no validators (so half the polling feeds answer 304 on a second pass).

``127.0.0.1:port`` is the farm's own: ``POST /hook`` is a webhook sink (each request is kept
with the time it arrived), and ``/_farm/…`` controls it: ``stats``, ``delay?ms=``,
``publish?feed=`` (a new attack report on top of a news feed, now), ``hooks``, ``reset``,
``prerender`` (every page and feed made before a measured run, not during it). With
``smtp`` an aiosmtpd sink listens on 127.0.0.1 too and counts messages.

The farm stops by itself: when its parent closes its stdin, when the parent dies, or after
``--ttl`` seconds.

    python bench/farm.py serve '{"articles": 1000}'   # prints the addresses, serves until EOF
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import asdict
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from corpus import Corpus, Spec

HERE = Path(__file__).resolve().parent
_REASONS = {200: "OK", 304: "Not Modified", 404: "Not Found", 405: "Method Not Allowed"}
_HTML = "text/html; charset=utf-8"


def client(ua: str) -> str:
    ua = ua.lower()
    for name in ("news-monitor", "rss2email", "feed2exec"):
        if name in ua:
            return name
    return "other"


class Farm:
    """The serving side (in the child process)."""

    def __init__(self, spec: Spec, port: int) -> None:
        self.spec = spec
        self.corpus = Corpus(spec, port)
        self.delay = spec.delay_ms / 1000
        self.stats: Counter[str] = Counter()
        self.hooks: list[dict[str, Any]] = []
        self.smtp_messages = 0
        self.cache: dict[str, bytes] = {}
        self.fetched: dict[int, float] = {}  # published article → when its page was first asked

    def respond(self, site: tuple[str, int], method: str, target: str,
                headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes, bool]:
        """(status, headers, body, delayed)."""
        parts = urlsplit(target)
        path, query = parts.path, parse_qs(parts.query)
        kind, n = site
        who = client(headers.get("user-agent", ""))
        if kind == "control":
            return (*self.control(method, path, query, body), False)
        if method != "GET":
            return 405, {}, b"", True
        found = self.lookup(kind, n, path)
        if found is None:
            self.stats[f"{who} 404"] += 1
            return 404, {"Content-Type": "text/plain"}, b"not found", True
        what, content, validators = found
        if what == "page":
            media = _HTML
        elif what == "doc":
            media = "application/pdf"
        elif b"<feed " in content[:300]:
            media = "application/atom+xml; charset=utf-8"
        else:
            media = "application/rss+xml; charset=utf-8"
        out = {"Content-Type": media}
        if validators:
            etag = '"' + hashlib.sha1(content).hexdigest()[:16] + '"'
            out["ETag"] = etag
            out["Last-Modified"] = formatdate(self.spec.now, usegmt=True)
            if headers.get("if-none-match") == etag or (
                    "if-none-match" not in headers
                    and headers.get("if-modified-since") == out["Last-Modified"]):
                self.stats[f"{who} {kind}-{what} 304"] += 1
                return 304, {"ETag": etag}, b"", True
        self.stats[f"{who} {kind}-{what} 200"] += 1
        return 200, out, content, True

    def lookup(self, kind: str, n: int, path: str) -> tuple[str, bytes, bool] | None:
        c, spec = self.corpus, self.spec
        try:
            if kind == "news" and path.startswith("/feeds/"):
                f = int(path.split("/")[2].split(".")[0])
                if f % spec.outlets == n and f < spec.feeds:
                    key = f"feed {f} {len(c.extras.get(f, ()))}"
                    return "feed", self.cached(key, lambda: c.feed(f)), True
            elif kind == "news":
                i = int(path.rsplit("-", 1)[1].removesuffix(".html"))
                if (i < spec.articles or i in c.extra_times) and c.article(i).path == path \
                        and c.article(i).outlet == n:
                    if i in c.extra_times:
                        self.fetched.setdefault(i, time.time())
                    return "page", self.cached(path, lambda: c.page(i)), False
            elif kind == "poll" and path.startswith("/p/x/"):  # an entry's link: not HTML
                return "doc", b"%PDF-1.4\n% not a page\n", False
            elif kind == "poll" and path.startswith("/p/"):
                i = int(path[3:].removesuffix(".xml"))
                if i < spec.poll_feeds and i % spec.poll_hosts == n:
                    return "feed", self.cached(path, lambda: c.poll_feed(i)), i % 2 == 0
        except (ValueError, IndexError):
            return None
        return None

    def cached(self, key: str, make: Any) -> bytes:
        value = self.cache.get(key)
        if value is None:
            value = self.cache[key] = make()
        return value

    def control(self, method: str, path: str, query: dict[str, list[str]],
                body: bytes) -> tuple[int, dict[str, str], bytes]:
        now = time.time()
        if path == "/hook" and method == "POST":
            try:
                payload: Any = json.loads(body)
            except ValueError:
                payload = body.decode("utf-8", "replace")
            self.hooks.append({"t": now, "body": payload})
            self.stats["webhook"] += 1
            return 200, {}, b"ok"
        if path == "/_farm/stats":
            data: Any = {"stats": dict(self.stats), "smtp_messages": self.smtp_messages,
                         "hooks": len(self.hooks), "delay_ms": self.delay * 1000,
                         "published_fetched": self.fetched}
        elif path == "/_farm/delay":
            self.delay = float(query["ms"][0]) / 1000
            data = {"delay_ms": self.delay * 1000}
        elif path == "/_farm/publish":
            feed = int(query["feed"][0])
            i = self.corpus.publish(feed, now)
            data = {"index": i, "url": self.corpus.url(i), "t": now}
        elif path == "/_farm/prerender":  # every page and feed, before a measured run
            for i in range(self.spec.articles):
                self.cached(self.corpus.article(i).path, lambda i=i: self.corpus.page(i))
            for f in range(self.spec.feeds if self.spec.articles else 0):
                self.cached(f"feed {f} 0", lambda f=f: self.corpus.feed(f))
            data = {"cached": len(self.cache), "seconds": round(time.time() - now, 1)}
        elif path == "/_farm/hooks":
            data = self.hooks[int(query.get("since", ["0"])[0]):]
        elif path == "/_farm/reset":
            self.stats.clear()
            self.hooks.clear()
            self.smtp_messages = 0
            data = {}
        else:
            return 404, {}, b"not found"
        return 200, {"Content-Type": "application/json"}, json.dumps(data).encode()

    async def handle(self, site: tuple[str, int], reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, version = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    name, sep, value = line.partition(":")
                    if sep:
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                status, out, content, delayed = self.respond(site, method, target, headers,
                                                             body)
                if delayed and self.delay > 0:
                    await asyncio.sleep(self.delay)
                keep = (version.strip() == "HTTP/1.1"
                        and headers.get("connection", "").lower() != "close")
                out["Content-Length"] = str(len(content))
                out["Connection"] = "keep-alive" if keep else "close"
                head_out = f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}\r\n" + "".join(
                    f"{k}: {v}\r\n" for k, v in out.items()) + "\r\n"
                writer.write(head_out.encode("latin-1") + content)
                await writer.drain()
                if not keep:
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError,
                ValueError, asyncio.CancelledError):
            pass  # the client went away, sent garbage, or the farm is stopping
        finally:
            writer.close()


async def _serve(spec: Spec, ttl: float) -> None:
    control = socket.create_server(("127.0.0.1", 0))
    port = control.getsockname()[1]
    farm = Farm(spec, port)
    sites: list[tuple[tuple[str, int], socket.socket | None]] = [(("control", 0), control)]
    sites += [(("news", n), None) for n in range(spec.outlets if spec.articles else 0)]
    sites += [(("poll", n), None) for n in range(spec.poll_hosts if spec.poll_feeds else 0)]
    servers = []
    for site, sock in sites:
        if sock is None:
            sock = socket.create_server((Corpus.ip(*site), port), backlog=512)
        servers.append(await asyncio.start_server(
            lambda r, w, s=site: farm.handle(s, r, w), sock=sock, limit=1 << 16))
    smtp = None
    if spec.smtp:
        smtp = _smtp(farm)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    parent = os.getppid()

    def watch_stdin() -> None:
        sys.stdin.read()  # returns at EOF: the parent closed the pipe or died
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    print(json.dumps({"port": port, "smtp": smtp.port if smtp else None, "pid": os.getpid()}),
          flush=True)
    deadline = time.monotonic() + ttl
    while not stop.is_set() and time.monotonic() < deadline and os.getppid() == parent:
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except TimeoutError:
            pass
    for server in servers:
        server.close()
    if smtp is not None:
        smtp.stop()


def _smtp(farm: Farm) -> Any:
    from aiosmtpd.controller import Controller

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            farm.smtp_messages += 1
            return "250 OK"

    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    return controller


class FarmProcess:
    """The farm in a child process, from the benchmark's side: ``with FarmProcess(spec) as f``."""

    def __init__(self, spec: Spec, ttl: float = 3600) -> None:
        self.spec = spec
        self.ttl = ttl
        self.corpus = Corpus(spec)
        self.port = 0
        self.smtp_port: int | None = None
        self.pid = 0
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> FarmProcess:
        self._proc = subprocess.Popen(
            [sys.executable, str(HERE / "farm.py"), "serve", json.dumps(asdict(self.spec)),
             "--ttl", str(self.ttl)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("the feed farm did not start")
        info = json.loads(line)
        self.port, self.smtp_port, self.pid = info["port"], info["smtp"], info["pid"]
        self.corpus.port = self.port
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.close()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def call(self, path: str, method: str = "GET") -> Any:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method)
        with opener.open(request, timeout=30) as response:
            return json.loads(response.read())

    @property
    def hook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def set_delay(self, ms: float) -> None:
        self.call(f"/_farm/delay?ms={ms}", "POST")

    def stats(self) -> dict[str, Any]:
        return dict(self.call("/_farm/stats"))


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its reaped children (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    if len(sys.argv) >= 3 and sys.argv[1] == "serve":
        ttl = float(sys.argv[sys.argv.index("--ttl") + 1]) if "--ttl" in sys.argv else 3600
        asyncio.run(_serve(Spec(**json.loads(sys.argv[2])), ttl))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
