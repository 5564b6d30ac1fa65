"""Decoding a response body with bounded memory.

httpx's decoders inflate a whole network chunk in one call, so 64 KiB of a gzip bomb can become
64 MiB, and two stacked layers far more, before any cap is checked. Here each layer is a zlib
decompressor asked for at most ``_STEP`` bytes at a time, so peak memory stays near the cap.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

import httpx

MAX_ENCODINGS = 2
ACCEPT_ENCODING = "gzip, deflate"
_STEP = 64 * 1024
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class BodyError(Exception):
    """The body is too large, badly encoded, or encoded in a way we refuse."""


def content_encodings(headers: httpx.Headers) -> list[str]:
    """The Content-Encoding chain in the order applied; more than two layers is refused."""
    values = [v.strip().lower() for v in headers.get_list("content-encoding", split_commas=True)]
    chain = [v for v in values if v and v != "identity"]
    if len(chain) > MAX_ENCODINGS:
        raise BodyError(f"refused {len(chain)} stacked Content-Encodings (at most {MAX_ENCODINGS})")
    return chain


def decoded(raw: Iterable[bytes], encodings: list[str], limit: int) -> Iterator[bytes]:
    """Decoded chunks of ``raw``; BodyError once the raw or decoded bytes pass ``limit``."""
    stream = _capped(raw, limit)
    for encoding in reversed(encodings):
        stream = _inflate(stream, encoding)
    return _capped(stream, limit)


def _capped(chunks: Iterable[bytes], limit: int) -> Iterator[bytes]:
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise BodyError(f"response larger than {limit} bytes")
        yield chunk


def _inflate(chunks: Iterator[bytes], encoding: str) -> Iterator[bytes]:
    wbits = _WBITS.get(encoding)
    if wbits is None:
        if any(chunks):
            raise BodyError(f"unsupported Content-Encoding {encoding!r}")
        return
    inflater = zlib.decompressobj(wbits)
    started = False
    try:
        for data in chunks:
            while data and not inflater.eof:
                try:
                    out = inflater.decompress(data, _STEP)
                except zlib.error:
                    if started or encoding != "deflate":
                        raise
                    # "deflate" is sent both zlib-wrapped (RFC 9110) and raw; httpx accepts both.
                    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                    out = inflater.decompress(data, _STEP)
                started = True
                data = inflater.unconsumed_tail
                if out:
                    yield out
        tail = inflater.flush()
    except zlib.error as e:
        raise BodyError(f"cannot decode {encoding} body: {e}") from e
    if tail:
        yield tail
