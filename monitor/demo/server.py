"""A small HTTP server for the bundled sample news site, on 127.0.0.1 only.

Files under ``site/`` are served with ``{{BASE}}`` replaced by the server's own address, with an
ETag and Last-Modified so that conditional GET can be seen working. The demo and the tests use
it; it stops when its context ends.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

SITE = Path(__file__).parent / "site"
PLACEHOLDER = "{{BASE}}"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".json": "application/feed+json",
    ".md": "text/plain; charset=utf-8",
}
FEED_TYPES = {"rss.xml": "application/rss+xml; charset=utf-8",
              "atom.xml": "application/atom+xml; charset=utf-8"}
LAST_MODIFIED = formatdate(1723075200, usegmt=True)  # fixed, so validators are stable


class SiteHandler(BaseHTTPRequestHandler):
    server_version = "SampleNews/1.0"
    root: Path = SITE
    requests_seen: list[tuple[str, dict[str, str]]]

    def do_GET(self) -> None:
        path = unquote(urlsplit(self.path).path)
        if path.endswith("/"):
            path += "index.html"
        file = (self.root / path.lstrip("/")).resolve()
        self.requests_seen.append((path, dict(self.headers.items())))
        if self.root.resolve() not in file.parents or not file.is_file():
            self.send_error(404)
            return
        port = self.server.server_port  # type: ignore[attr-defined]
        body = file.read_bytes().replace(PLACEHOLDER.encode(), f"http://127.0.0.1:{port}".encode())
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if self.headers.get("If-None-Match") == etag:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", FEED_TYPES.get(file.name) or TYPES.get(
            file.suffix, "application/octet-stream"))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", LAST_MODIFIED)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the demo prints alerts, not access logs."""


@contextmanager
def serve_site(root: Path = SITE) -> Iterator[tuple[str, list[tuple[str, dict[str, str]]]]]:
    """Serve ``root`` on 127.0.0.1 on a free port; yield (base URL, list of requests seen)."""
    seen: list[tuple[str, dict[str, str]]] = []
    handler = type("Handler", (SiteHandler,), {"root": root, "requests_seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="sample-site",
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
