"""The generic JSON webhook target, signed per Standard Webhooks.

Request: ``POST`` with ``Content-Type: application/json``, a minified UTF-8 JSON body, and

``webhook-id``
    the alert's idempotency key (``Alert.key``), the same on every retry. A key holding
    characters other than ``A-Z a-z 0-9 _ : -`` (the spec forbids ``.``) is replaced by the
    stable ``msg_<first 32 hex of sha256(key)>``.
``webhook-timestamp``
    integer unix seconds of this attempt (fresh on every retry).
``webhook-signature``
    only when secrets are configured: space-separated ``v1,<base64 HMAC-SHA256>``, one per
    secret (several during a rotation), over ``{webhook-id}.{webhook-timestamp}.{body}``, keyed
    with the base64-decoded part of ``whsec_<base64>`` (at least 24 bytes). Receivers verify
    with any Standard Webhooks library. The bytes signed are the bytes sent.

Payload, version 1 (fields are never removed or retyped within a version; new ones may appear)::

    {
      "version": 1,
      "type": "alert.new",                 # alert.<kind>
      "event": "new",                      # the kind: new | update | escalation | operator
      "timestamp": "2024-05-01T12:00:00Z", # when the alert was created (= alert.created_at)
      "alert": {"key": "…", "severity": "critical|high|medium|low",
                "kind": "new|update|escalation|operator", "created_at": "2024-05-01T12:00:00Z"},
      "story": {"id": 42 | null, "title": "…", "started": "2024-05-01T11:40:00Z" | null,
                "sources": ["other outlet", …],
                "articles": [{"title": "…", "url": "https://…" | null, "outlet": "…",
                              "published": "2024-05-01T11:40:00Z" | null}, …],
                "articles_total": 3, "articles_truncated": false},
      "changes": "2 more outlets: …",      # what changed ("" for a new alert)
      "article": {"title": "…", "url": "https://…" | null, "feed": "…", "site": "…" | null,
                  "published": "2024-05-01T11:40:00Z" | null, "snippet": "…",
                  "snippet_truncated": false},
      "matches": [{"rule_id": "…", "title": "…", "severity": "high", "tags": ["…"],
                   "entities": ["…"], "terms": ["…"]}],
      "matches_truncated": false           # true when matches were left out to fit the size
    }

``article`` is the report this alert is about (for an update, the latest); ``story.articles``
are all the story's reports, first first (the alert's own included). Added within version 1,
for stories (all additive): ``event``, ``changes``, ``story.title``, ``story.started``,
``story.articles``, ``story.articles_total``, ``story.articles_truncated``; ``kind`` / ``type``
may now be ``escalation``.

A digest (a digest target's collected alerts, one request per period) is also version 1::

    {"version": 1, "type": "digest", "event": "digest", "timestamp": "…",
     "alert": {"key": "nm_digest_…", "severity": "high", "kind": "digest", "created_at": "…"},
     "digest": {"count": 12, "summary": "12 alerts: 2 critical, 10 high",
                "alerts": [{"key": "…", "severity": "…", "kind": "new|update|…",
                            "story_id": 42, "created_at": "…", "title": "…", "url": "…" | null,
                            "feed": "…", "site": "…" | null, "published": "…" | null,
                            "rules": ["…"]}, …],
                "alerts_truncated": false}}

Times are ISO 8601 in UTC with ``Z``. Feed text has control characters removed. The body is
kept ≤ 20 000 bytes: long fields and lists are capped (≤ 50 matches, ≤ 20 names per list,
≤ 100 story articles); then, to fit, story articles are left out from the end (down to 10),
then the snippet is cut (``snippet_truncated``), then the remaining articles and the matches go
(``articles_truncated``, ``matches_truncated``).

Outcomes: 2xx delivered; 3xx permanent ("update the URL"; redirects are never followed);
410 permanent (the receiver wants no more); 429/502/503/504 transient with ``Retry-After``
(seconds or HTTP-date); 408 and other 5xx transient; other 4xx permanent; network errors and
timeouts transient; an address refused by the network guard permanent. Messages name the target,
never the URL (it may carry a token).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from monitor.deliver import story
from monitor.deliver.base import (
    HttpPoster,
    body_code,
    clean_line,
    clean_text,
    header,
    parse_retry_after,
    post,
    truncate,
)
from monitor.deliver.settings import WebhookSettings
from monitor.errors import ConfigError, DeliveryError
from monitor.model import Alert, Match, StoryArticle

PAYLOAD_VERSION = 1
MAX_PAYLOAD_BYTES = 20_000
MIN_SECRET_BYTES = 24
_SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
_SAFE_ID = re.compile(r"[A-Za-z0-9_:-]{1,200}")
_THROTTLED = frozenset({429, 502, 503, 504})
_MAX_ARTICLES = 100
_ARTICLES_FLOOR = 10  # articles kept while the snippet can still be cut instead


# --- signing -----------------------------------------------------------------------------------


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret. The ValueError never quotes the secret."""
    if not secret.startswith(_SECRET_PREFIX):
        raise ValueError("a webhook secret looks like 'whsec_<base64>'")
    try:
        key = base64.b64decode(secret[len(_SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the part after 'whsec_' is not valid base64") from None
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"a webhook secret needs at least {MIN_SECRET_BYTES} bytes; "
                         f"this one has {len(key)}")
    return key


def sign(msg_id: str, timestamp: int, body: bytes, keys: Sequence[bytes]) -> str:
    """The ``webhook-signature`` value: one ``v1,<base64>`` per key, space-separated."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")
        for key in keys
    )


def webhook_id(key: str) -> str:
    """``key`` when it is header- and signature-safe, else a stable digest of it."""
    if _SAFE_ID.fullmatch(key):
        return key
    return "msg_" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:32]


# --- payload -----------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _strings(values: Sequence[str], *, items: int = 20, chars: int = 200) -> list[str]:
    return [truncate(clean_line(v), chars) for v in values[:items]]


def _match(match: Match) -> dict[str, Any]:
    return {
        "rule_id": truncate(clean_line(match.rule_id), 200),
        "title": truncate(clean_line(match.title), 500),
        "severity": match.severity,
        "tags": _strings(match.tags),
        "entities": _strings(match.entities),
        "terms": _strings(match.terms),
    }


def _encode(payload: Mapping[str, Any]) -> bytes:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8", "replace")


def _article(article: StoryArticle) -> dict[str, Any]:
    url = clean_line(article.url)
    return {
        "title": truncate(clean_line(article.title), 300),
        "url": url if url and len(url) <= 2048 else None,
        "outlet": truncate(clean_line(article.outlet), 200),
        "published": _iso(article.published),
    }


def _largest(low: int, high: int, fits: Callable[[int], bool]) -> int:
    """The largest ``n`` in ``[low, high]`` with ``fits(n)`` (``fits`` grows false with n),
    or ``low`` when none fits."""
    while low < high:
        mid = (low + high + 1) // 2
        if fits(mid):
            low = mid
        else:
            high = mid - 1
    return low


def render_payload(alert: Alert) -> bytes:
    """The request body: version-1 JSON, ≤ ``MAX_PAYLOAD_BYTES``. Serialised once, here."""
    url = clean_line(alert.url)
    article: dict[str, Any] = {
        "title": truncate(clean_line(alert.title), 1000),
        "url": url if url and len(url) <= 4096 else None,
        "feed": truncate(clean_line(alert.feed), 200),
        "site": truncate(clean_line(alert.site), 200) if alert.site else None,
        "published": _iso(alert.published),
        "snippet": "",
        "snippet_truncated": False,
    }
    all_articles = [_article(a) for a in alert.articles[:_MAX_ARTICLES]]
    story_part: dict[str, Any] = {
        "id": alert.story_id or None,  # None: an operator notice about a feed
        "title": truncate(story.title(alert), 1000),
        "started": _iso(story.started(alert)),
        "sources": _strings(alert.sources),
        "articles": all_articles,
        "articles_total": len(alert.articles),
        "articles_truncated": len(alert.articles) > _MAX_ARTICLES,
    }
    created = _iso(alert.created_at)
    payload: dict[str, Any] = {
        "version": PAYLOAD_VERSION,
        "type": f"alert.{alert.kind}",
        "event": alert.kind,
        "timestamp": created,
        "alert": {"key": alert.key, "severity": alert.severity, "kind": alert.kind,
                  "created_at": created},
        "story": story_part,
        "changes": truncate(story.changes(alert), 1000),
        "article": article,
        "matches": [_match(m) for m in alert.matches[:50]],
        "matches_truncated": len(alert.matches) > 50,
    }
    snippet = clean_text(alert.snippet[:100_000])
    article["snippet"] = snippet

    def fits() -> bool:
        return len(_encode(payload)) <= MAX_PAYLOAD_BYTES

    def keep_articles(n: int) -> bool:
        story_part["articles"] = all_articles[:n]
        return fits()

    def keep_snippet(n: int) -> bool:
        article["snippet"] = truncate(snippet, n)
        return fits()

    if not fits():  # 1. the story's later articles, down to a few
        kept = _largest(min(_ARTICLES_FLOOR, len(all_articles)), len(all_articles),
                        keep_articles)
        keep_articles(kept)
        story_part["articles_truncated"] = story_part["articles_truncated"] or kept < len(
            all_articles)
    if not fits():  # 2. the snippet (bytes ≥ characters, so the search is bounded)
        article["snippet_truncated"] = True
        keep_snippet(_largest(0, min(len(snippet), MAX_PAYLOAD_BYTES), keep_snippet))
    if not fits():  # 3. the last articles, only with very long URLs or titles
        keep_articles(_largest(0, len(story_part["articles"]), keep_articles))
        story_part["articles_truncated"] = True
    matches: list[dict[str, Any]] = payload["matches"]
    while not fits() and matches:  # only with very many, very long matches
        matches.pop()
        payload["matches_truncated"] = True
    return _encode(payload)


def _digest_entry(alert: Alert) -> dict[str, Any]:
    url = clean_line(alert.url)
    return {
        "key": alert.key, "severity": alert.severity, "kind": alert.kind,
        "story_id": alert.story_id, "created_at": _iso(alert.created_at),
        "title": truncate(clean_line(alert.title), 300),
        "url": url if url and len(url) <= 2048 else None,
        "feed": truncate(clean_line(alert.feed), 200),
        "site": truncate(clean_line(alert.site), 200) if alert.site else None,
        "published": _iso(alert.published),
        "rules": _strings([m.rule_id for m in alert.matches]),
    }


def render_digest_payload(alert: Alert) -> bytes:
    """A digest's body: version-1 JSON listing the collected alerts, ≤ ``MAX_PAYLOAD_BYTES``
    (the last entries are left out to fit, ``digest.alerts_truncated``)."""
    created = _iso(alert.created_at)
    entries = [_digest_entry(a) for a in alert.items]
    part: dict[str, Any] = {"count": len(entries), "summary": clean_line(alert.snippet),
                            "alerts": entries, "alerts_truncated": False}
    payload = {
        "version": PAYLOAD_VERSION, "type": "digest", "event": "digest", "timestamp": created,
        "alert": {"key": alert.key, "severity": alert.severity, "kind": "digest",
                  "created_at": created},
        "digest": part,
    }

    def keep(n: int) -> bool:
        part["alerts"] = entries[:n]
        return len(_encode(payload)) <= MAX_PAYLOAD_BYTES

    if not keep(len(entries)):
        keep(_largest(0, len(entries), keep))
        part["alerts_truncated"] = True
    return _encode(payload)


# --- outcome -----------------------------------------------------------------------------------


def webhook_outcome(name: str, status: int, headers: Mapping[str, str], content: bytes, *,
                    secret: str | None = None) -> DeliveryError | None:
    """None for 2xx, else the error to raise (see the module docstring for the table).
    ``secret``: the target's URL, redacted from the body quoted in the message."""
    where = f"webhook target {name!r}"
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return DeliveryError(f"{where}: endpoint redirects (HTTP {status}); update the URL",
                             transient=False)
    if status == 410:
        return DeliveryError(f"{where}: endpoint gone (HTTP 410); the receiver asked for no "
                             "more webhooks: disable or update the target", transient=False,
                             gone=True)
    retry_after = parse_retry_after(header(headers, "Retry-After"))
    if status in _THROTTLED:
        return DeliveryError(f"{where}: throttled (HTTP {status})", transient=True,
                             retry_after=retry_after)
    if status == 408 or status >= 500:
        return DeliveryError(f"{where}: HTTP {status} {body_code(content, secret=secret)!r}",
                             transient=True, retry_after=retry_after)
    if 400 <= status < 500:
        return DeliveryError(f"{where}: rejected with HTTP {status} "
                             f"{body_code(content, secret=secret)!r}", transient=False)
    return DeliveryError(f"{where}: unexpected HTTP {status}", transient=True)


class WebhookTarget:
    """POSTs the version-1 payload, signed with every configured secret."""

    def __init__(self, name: str, settings: WebhookSettings, client: HttpPoster, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.name = name
        self._url = settings.url
        self._client = client
        self._clock = clock
        keys = []
        for i, secret in enumerate(settings.secrets):
            try:
                keys.append(decode_secret(secret))
            except ValueError as e:
                raise ConfigError(f"webhook target {name!r}: secret #{i + 1}: {e}",
                                  key=f"targets.{name}") from None
        self._keys = tuple(keys)

    def __repr__(self) -> str:
        return f"WebhookTarget(name={self.name!r}, signed={bool(self._keys)})"

    def request(self, alert: Alert) -> tuple[bytes, dict[str, str]]:
        """The body and headers of one attempt (the timestamp is taken now)."""
        body = render_digest_payload(alert) if alert.kind == "digest" else render_payload(alert)
        msg_id = webhook_id(alert.key)
        timestamp = int(self._clock())
        headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
        }
        if self._keys:
            headers["webhook-signature"] = sign(msg_id, timestamp, body, self._keys)
        return body, headers

    def send(self, alert: Alert) -> None:
        body, headers = self.request(alert)
        response = post(self._client, self._url, body, headers, f"webhook target {self.name!r}")
        error = webhook_outcome(self.name, response.status, response.headers, response.content,
                                secret=self._url)
        if error is not None:
            raise error
