"""GuardedClient: the one HTTP client every outbound request of news-monitor goes through."""

from __future__ import annotations

import base64
import functools
import ssl
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType

import httpcore
import httpx

from monitor import USER_AGENT
from monitor.errors import BlockedURLError, FetchError
from monitor.net.address import parse_allowlist
from monitor.net.backend import BlockedAddressError, GuardedBackend, default_resolver
from monitor.net.body import ACCEPT_ENCODING, BodyError, content_encodings, decoded
from monitor.net.limits import HostSlots
from monitor.net.pools import Pools
from monitor.net.urls import check_url, origin, redact_url

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie")
_DEADLINE_SLACK = 0.05  # seconds; a timeout this close to the deadline was caused by it
HEADER_ENCODING = "iso-8859-1"  # header bytes <-> str one to one (validators echo exactly)


class ContentTypeError(FetchError):
    """A 2xx answer of a media type the caller did not ask for (``get(media_types=...)``);
    its body was not read. ``media_type`` is the one the server named."""

    def __init__(self, media_type: str, *, url: str | None = None,
                 status: int | None = None) -> None:
        self.media_type = media_type
        super().__init__(f"refused Content-Type {media_type!r}: not a type asked for", url=url,
                         status=status)


@dataclass(frozen=True)
class NetConfig:
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0  # whole request incl. redirects and body
    max_bytes: int = 15 * 1024 * 1024  # decoded bytes cap
    max_redirects: int = 5
    allow_private: tuple[str, ...] = ()  # IPs or CIDRs allowed although not public
    user_agent: str = USER_AGENT


@dataclass(frozen=True)
class Response:
    url: str  # final URL after redirects (not redacted)
    status: int
    # case-insensitive; Content-Encoding still names the wire form; values are the header
    # bytes decoded as latin-1, so sending one back (If-None-Match) restores the exact bytes
    headers: Mapping[str, str]
    content: bytes  # decoded body (<= max_bytes)
    redirects: tuple[tuple[int, str], ...] = field(default=())  # (status, absolute URL) per hop


class GuardedClient:
    """http/https only; every connection classified at connect time; manual redirects; caps.

    ``resolver(host, port)`` returns IP strings (default: ``socket.getaddrinfo``); tests inject
    fakes. Thread-safe: one client may serve several threads; ``per_host`` bounds the GETs in
    flight to one host (the host of the URL asked for) across them.
    """

    def __init__(
        self,
        config: NetConfig = NetConfig(),
        *,
        resolver: Callable[[str, int], list[str]] | None = None,
        per_host: int | None = None,
    ) -> None:
        self.config = config
        self._hosts = HostSlots(per_host)  # at most per_host requests at once to one host
        self._backend = GuardedBackend(
            parse_allowlist(config.allow_private), resolver or default_resolver
        )
        # httpx.Client is not used: even with follow_redirects=False it builds `next_request`
        # for every 3xx and raises on a malformed Location, and it brings cookies, .netrc and
        # proxy variables we do not want. The transports alone read no environment. One pool
        # per origin (pools.py): httpcore walks every connection of a pool on each request.
        self._transport: httpx.BaseTransport = Pools(self._backend, _ssl_context())

    def get(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        max_bytes: int | None = None,
        media_types: Collection[str] | None = None,
    ) -> Response:
        """GET, following at most ``max_redirects`` redirects, each hop checked again.

        Any final status (304, 404, 500 …) is returned, not raised. With ``media_types``, a
        2xx answer whose Content-Type names another media type is refused (FetchError) before
        its body is read: a 2 GB video costs one round trip, not a download.
        """
        shown = redact_url(url)
        limit = self.config.max_bytes if max_bytes is None else max_bytes
        hops: list[tuple[int, str]] = []
        with self._hosts.hold(url), self._guard(shown, hops):
            current = check_url(url, shown=shown)
            sent = self._headers(headers)
            while True:
                with self._send("GET", current, sent) as response:
                    location = response.headers.get("location")
                    if response.status_code not in REDIRECT_STATUSES or location is None:
                        _check_media_type(response, media_types)
                        return self._read(response, limit, hops)
                if len(hops) >= self.config.max_redirects:
                    raise FetchError(f"too many redirects ({self.config.max_redirects})", url=shown)
                target = self._redirect_target(current, location, shown)
                if origin(target) != origin(current):
                    for name in _CREDENTIAL_HEADERS:
                        sent.pop(name, None)
                    target = target.copy_with(userinfo=b"")
                hops.append((response.status_code, str(target)))
                current = target

    def post(
        self,
        url: str,
        *,
        content: bytes,
        headers: Mapping[str, str] | None = None,
        secret_url: bool = True,
    ) -> Response:
        """POST ``content``; a 3xx is returned as is, never followed (webhooks)."""
        shown = redact_url(url, secret=secret_url)
        with self._guard(shown, []):
            target = check_url(url, shown=shown)
            with self._send("POST", target, self._headers(headers), content) as response:
                return self._read(response, self.config.max_bytes, [])

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> GuardedClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- internals -------------------------------------------------------------------------

    @contextmanager
    def _send(
        self, method: str, url: httpx.URL, headers: httpx.Headers, content: bytes | None = None
    ) -> Iterator[httpx.Response]:
        """One request, no redirect handling; the response body is left unread on the wire."""
        headers = headers.copy()
        if (url.username or url.password) and "authorization" not in headers:
            userinfo = f"{url.username}:{url.password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(userinfo).decode("ascii")
        c, r = self.config.connect_timeout, self.config.read_timeout
        pool = self._backend.budget(c, httpcore.PoolTimeout)  # waiting for a free connection
        timeout = httpx.Timeout(connect=c, read=r, write=r, pool=pool)
        request = httpx.Request(
            method, url, headers=headers, content=content,
            extensions={"timeout": timeout.as_dict()},
        )
        response = self._transport.handle_request(request)  # its pool busy until closed
        response.request = request
        try:
            yield response
        finally:
            response.close()

    def _headers(self, extra: Mapping[str, str] | None) -> httpx.Headers:
        # Values go out as latin-1 bytes, the way Response.headers decodes them, so a validator
        # received (ETag, Last-Modified) is sent back byte for byte, whatever bytes it holds.
        values = {"user-agent": ("User-Agent", self.config.user_agent),
                  "accept": ("Accept", "*/*")}
        values.update({name.lower(): (name, value) for name, value in (extra or {}).items()})
        values["accept-encoding"] = ("Accept-Encoding", ACCEPT_ENCODING)  # what body.py decodes
        raw = [(name.encode("ascii"), _header_bytes(value)) for name, value in values.values()]
        return httpx.Headers(raw, encoding=HEADER_ENCODING)

    def _redirect_target(self, current: httpx.URL, location: str, shown: str) -> httpx.URL:
        hop = redact_url(location)
        if "\\" in location:
            raise BlockedURLError(f"refused redirect to {hop}: backslash in URL", url=shown)
        try:
            target = current.join(location)
        except httpx.InvalidURL as e:
            raise BlockedURLError(f"refused redirect to {hop}: invalid URL: {e}", url=shown) from e
        try:
            check_url(target, shown=redact_url(str(target)))
        except BlockedURLError as e:
            raise BlockedURLError(f"refused redirect: {e}", url=shown) from e
        if current.scheme == "https" and target.scheme == "http":
            raise BlockedURLError(f"refused redirect from https to {hop}", url=shown)
        return target

    def _read(
        self, response: httpx.Response, limit: int, hops: list[tuple[int, str]]
    ) -> Response:
        encodings = content_encodings(response.headers)
        length = response.headers.get("content-length", "")
        has_body = response.status_code not in (204, 304) and response.status_code >= 200
        if has_body and not encodings and length.isdigit() and int(length) > limit:
            raise BodyError(f"response larger than {limit} bytes")
        body = bytearray()
        for chunk in decoded(response.iter_raw(), encodings, limit):
            body += chunk
            self._backend.budget(None, httpcore.ReadTimeout)  # the deadline, between chunks
        response.headers.encoding = HEADER_ENCODING  # byte-transparent: see _headers
        return Response(
            url=str(response.url),
            status=response.status_code,
            headers=response.headers,
            content=bytes(body),
            redirects=tuple(hops),
        )

    @contextmanager
    def _guard(self, shown: str, hops: list[tuple[int, str]]) -> Iterator[None]:
        """Run one request under the total deadline, turning every failure into FetchError."""
        deadline = time.monotonic() + self.config.total_timeout
        try:
            with self._backend.deadline(deadline):
                yield
        except FetchError:
            raise
        except BlockedAddressError as e:
            where = f" after redirect to {redact_url(hops[-1][1])}" if hops else ""
            raise BlockedURLError(f"{e}{where}", url=shown) from e
        except BodyError as e:
            raise FetchError(str(e), url=shown) from e
        except (httpx.TimeoutException, httpcore.TimeoutException) as e:
            if time.monotonic() >= deadline - _DEADLINE_SLACK:
                message = f"total deadline of {self.config.total_timeout:g}s exceeded"
            else:
                message = _describe(e)
            raise FetchError(message, url=shown) from e
        except (httpx.HTTPError, httpx.StreamError, httpcore.NetworkError, OSError) as e:
            raise FetchError(_describe(e), url=shown) from e


def _header_bytes(value: str) -> bytes:
    try:
        return value.encode(HEADER_ENCODING)
    except UnicodeEncodeError:  # not from a response; RFC 9110 allows only obs-text anyway
        return value.encode("utf-8")


def _check_media_type(response: httpx.Response, media_types: Collection[str] | None) -> None:
    """ContentTypeError, the body unread, when a 2xx answer is of a media type not asked for."""
    if media_types is None or not 200 <= response.status_code < 300:
        return
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()[:100]
    if kind and kind not in media_types:
        raise ContentTypeError(kind, url=redact_url(str(response.url)),
                               status=response.status_code)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """Certificate-verifying context (certifi roots), built once: loading them takes ~20 ms."""
    return httpx.create_ssl_context(verify=True, trust_env=False)


def _describe(e: BaseException) -> str:
    """One line: the error kind in words, then its message."""
    kind = {
        "ConnectTimeout": "connect timeout",
        "ReadTimeout": "read timeout",
        "WriteTimeout": "write timeout",
        "PoolTimeout": "timed out waiting for a connection",
        "ConnectError": "connection failed",
        "ReadError": "read failed",
        "WriteError": "write failed",
        "RemoteProtocolError": "bad HTTP response",
    }.get(type(e).__name__, "network error")
    detail = " ".join(str(e).split())
    if len(detail) > 200:
        detail = detail[:199] + "…"
    return f"{kind}: {detail}" if detail else kind
