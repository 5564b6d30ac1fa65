"""HTTP header values both directions need: ``Retry-After`` (feeds and targets), and a feed
response's caching hints (``Cache-Control: max-age``, ``Expires``).

Values are parsed, never trusted: a malformed header is None (no hint), never an exception.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

_MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-)?max-age\s*=\s*\"?(\d{1,10})\"?\s*(?:,|$)", re.I)
_NO_CACHE = re.compile(r"(?:^|,)\s*(?:no-cache|no-store)\s*(?:,|=|$)", re.I)


def http_date(value: str | None) -> datetime | None:
    """An aware UTC datetime from an HTTP-date, else None (``0``, ``-1``, garbage)."""
    if not value or not value.strip():
        return None
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date), else None.
    A date in the past is 0; negative or non-numeric values are None."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"[0-9]{1,10}", value):
        return float(int(value))
    when = http_date(value)
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def cache_lifetime(cache_control: str | None, expires: str | None,
                   now: datetime) -> int | None:
    """Seconds the response says it stays fresh: ``max-age`` (which wins over ``Expires``, as
    in RFC 9111), else ``Expires`` minus now; None without a usable hint. ``no-cache`` and
    ``no-store`` give 0; an invalid ``Expires`` (such as ``0``) is an expired response, 0."""
    if cache_control:
        m = _MAX_AGE.search(cache_control)
        if m:
            return int(m.group(1))
        if _NO_CACHE.search(cache_control):
            return 0
    if expires is not None:
        when = http_date(expires)
        if when is None:
            return 0
        return max(0, int((when - now).total_seconds()))
    return None
