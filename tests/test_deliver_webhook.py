"""Generic webhook target: Standard Webhooks signatures, payload, size cap, HTTP outcomes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from monitor.deliver import WebhookSettings, WebhookTarget, build_target
from monitor.deliver.base import HttpPoster
from monitor.deliver.webhook import (
    MAX_PAYLOAD_BYTES,
    decode_secret,
    render_payload,
    sign,
    webhook_id,
)
from monitor.errors import BlockedURLError, ConfigError, DeliveryError, FetchError
from monitor.model import Alert, Match
from monitor.net import GuardedClient, NetConfig
from tests.fakes import FakePoster, FakeResponse

URL = "https://receiver.example/hooks/news?token=SECRETTOKEN123"
# The Standard Webhooks reference vector (standard-webhooks/standard-webhooks,
# libraries/python/tests/test_webhooks.py, test_sign_function).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
OTHER_SECRET = "whsec_" + base64.b64encode(b"a second secret, 32 bytes long!!").decode()


def make_alert(**changes: Any) -> Alert:
    alert = Alert(
        key="alert-42-webhook", target="hook", story_id=42, severity="critical",
        title="Drone attack on Tower 22", url="https://news.example/t22",
        feed="example-feed", site="News Example",
        published=datetime(2024, 1, 28, 9, 0, tzinfo=UTC),
        snippet="A one-way drone struck Tower 22 in Jordan.",
        matches=(Match("us-forces-attack", "Attack on US forces", "critical", ("jordan",),
                       ("Tower 22",), ("drone", "struck")),),
        created_at=datetime(2024, 1, 28, 9, 5, tzinfo=UTC),
    )
    return replace(alert, **changes)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def independent_signature(secret: str, msg_id: str, ts: str, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, msg_id.encode() + b"." + ts.encode() + b"." + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def verifies(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    expected = independent_signature(secret, headers["webhook-id"],
                                     headers["webhook-timestamp"], body)
    return any(hmac.compare_digest(expected, candidate)
               for candidate in headers["webhook-signature"].split(" "))


def test_signature_matches_the_spec_test_vector() -> None:
    key = decode_secret(VECTOR_SECRET)
    assert sign(VECTOR_ID, VECTOR_TS, VECTOR_BODY, [key]) == VECTOR_SIGNATURE


def test_signed_request_verifies_independently_and_body_posted_is_body_signed() -> None:
    poster = FakePoster()
    target = WebhookTarget("hook", WebhookSettings(URL, (VECTOR_SECRET,)), poster,
                           clock=Clock(1_700_000_000.7))
    target.send(make_alert())
    (call,) = poster.calls
    headers, body = call["headers"], call["content"]
    assert call["url"] == URL and call["secret_url"] is True
    assert headers["Content-Type"] == "application/json"
    assert headers["webhook-id"] == "alert-42-webhook"
    assert headers["webhook-timestamp"] == "1700000000"
    assert headers["webhook-signature"] == independent_signature(
        VECTOR_SECRET, "alert-42-webhook", "1700000000", body)
    assert verifies(VECTOR_SECRET, headers, body)
    assert not verifies(VECTOR_SECRET, headers, body + b" ")


def test_two_secrets_give_two_signatures() -> None:
    poster = FakePoster()
    WebhookTarget("hook", WebhookSettings(URL, (VECTOR_SECRET, OTHER_SECRET)), poster).send(
        make_alert())
    headers, body = poster.calls[0]["headers"], poster.calls[0]["content"]
    first, second = headers["webhook-signature"].split(" ")
    ts, msg_id = headers["webhook-timestamp"], headers["webhook-id"]
    assert first == independent_signature(VECTOR_SECRET, msg_id, ts, body)
    assert second == independent_signature(OTHER_SECRET, msg_id, ts, body)


def test_id_is_stable_across_retries_and_timestamp_is_fresh() -> None:
    poster, clock = FakePoster(), Clock(1_700_000_000)
    target = WebhookTarget("hook", WebhookSettings(URL, (VECTOR_SECRET,)), poster, clock=clock)
    alert = make_alert()
    target.send(alert)
    clock.now += 300
    target.send(alert)
    first, second = (c["headers"] for c in poster.calls)
    assert first["webhook-id"] == second["webhook-id"] == alert.key
    assert int(second["webhook-timestamp"]) - int(first["webhook-timestamp"]) == 300
    assert first["webhook-signature"] != second["webhook-signature"]
    assert poster.calls[0]["content"] == poster.calls[1]["content"]
    for call in poster.calls:
        assert verifies(VECTOR_SECRET, call["headers"], call["content"])


def test_unsafe_keys_map_to_a_stable_dot_free_id() -> None:
    msg_id = webhook_id("story.42/target hook\r\n")
    assert msg_id.startswith("msg_") and "." not in msg_id and msg_id.isascii()
    assert webhook_id("story.42/target hook\r\n") == msg_id
    assert webhook_id("alert-42:hook") == "alert-42:hook"


def test_unsigned_without_secrets() -> None:
    poster = FakePoster()
    WebhookTarget("hook", WebhookSettings(URL), poster).send(make_alert())
    headers = poster.calls[0]["headers"]
    assert "webhook-signature" not in headers
    assert headers["webhook-id"] == "alert-42-webhook"


@pytest.mark.parametrize("secret", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not*base64!",
                                    "whsec_" + base64.b64encode(b"short").decode()])
def test_bad_secrets_are_config_errors_that_do_not_quote_the_secret(secret: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_target("hook", WebhookSettings(URL, (secret,)), FakePoster())
    assert secret not in str(info.value) and secret.removeprefix("whsec_") not in str(info.value)
    assert "hook" in str(info.value)


V1_ORIGINAL = {  # the version-1 payload before stories: every field must stay as it was
    "version": 1,
    "type": "alert.new",
    "timestamp": "2024-01-28T09:05:00Z",
    "alert": {"key": "alert-42-webhook", "severity": "critical", "kind": "new",
              "created_at": "2024-01-28T09:05:00Z"},
    "story": {"id": 42, "sources": ["Other Outlet"]},
    "article": {"title": "Drone attack on Tower 22", "url": "https://news.example/t22",
                "feed": "example-feed", "site": "News Example",
                "published": "2024-01-28T09:00:00Z",
                "snippet": "A one-way drone struck Tower 22 in Jordan.",
                "snippet_truncated": False},
    "matches": [{"rule_id": "us-forces-attack", "title": "Attack on US forces",
                 "severity": "critical", "tags": ["jordan"], "entities": ["Tower 22"],
                 "terms": ["drone", "struck"]}],
    "matches_truncated": False,
}


def test_payload_is_the_documented_version_1() -> None:
    body = render_payload(make_alert(sources=("Other Outlet",)))
    assert body == render_payload(make_alert(sources=("Other Outlet",)))  # deterministic
    payload = json.loads(body)
    assert payload == {
        **V1_ORIGINAL,
        "event": "new",
        "story": {"id": 42, "sources": ["Other Outlet"], "title": "Drone attack on Tower 22",
                  "started": None, "articles": [], "articles_total": 0,
                  "articles_truncated": False},
        "changes": "",
    }
    # Additive: every field of the original version 1 is still there, unchanged.
    for key, value in V1_ORIGINAL.items():
        if key == "story":
            assert value.items() <= payload["story"].items()
        else:
            assert payload[key] == value
    assert json.loads(render_payload(make_alert(kind="update")))["type"] == "alert.update"


@pytest.mark.parametrize("unit", ["x", "ب", "👨‍👩‍👧", "\"\\"])
def test_payload_stays_under_20_kb_for_a_1_mb_snippet(unit: str) -> None:
    snippet = unit * (1_000_000 // len(unit))
    body = render_payload(make_alert(snippet=snippet, title="T" * 100_000))
    assert len(body) <= MAX_PAYLOAD_BYTES
    article = json.loads(body)["article"]
    assert article["snippet_truncated"] is True
    assert article["snippet"].endswith("…") and len(article["snippet"]) > 1000
    assert len(body) > MAX_PAYLOAD_BYTES - 100  # the budget is used, not thrown away


def test_payload_cap_holds_with_very_many_long_matches() -> None:
    matches = tuple(Match(f"r{i}" * 50, "T" * 1000, "low", ("t" * 300,) * 40,
                          ("e" * 300,) * 40, ("w" * 300,) * 40) for i in range(200))
    payload = json.loads(body := render_payload(make_alert(matches=matches)))
    assert len(body) <= MAX_PAYLOAD_BYTES and payload["matches_truncated"] is True


# --- HTTP outcomes -----------------------------------------------------------------------------


def outcome(status: int, headers: Mapping[str, str] | None = None,
            body: bytes = b"") -> DeliveryError | None:
    poster = FakePoster(FakeResponse(URL, status, headers or {}, body))
    try:
        WebhookTarget("hook", WebhookSettings(URL, (VECTOR_SECRET,)), poster).send(make_alert())
    except DeliveryError as e:
        assert URL not in str(e) and "SECRETTOKEN" not in str(e)
        return e
    return None


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_is_success(status: int) -> None:
    assert outcome(status) is None


@pytest.mark.parametrize(("status", "headers", "transient", "retry_after", "words"), [
    (301, {"Location": "https://x/"}, False, None, "update the URL"),
    (302, {}, False, None, "update the URL"),
    (307, {}, False, None, "update the URL"),
    (308, {}, False, None, "update the URL"),
    (410, {}, False, None, "gone"),
    (429, {"Retry-After": "30"}, True, 30.0, "throttled"),
    (502, {"Retry-After": "5"}, True, 5.0, "502"),
    (503, {"Retry-After": "120"}, True, 120.0, "503"),
    (504, {}, True, None, "504"),
    (500, {}, True, None, "500"),
    (501, {}, True, None, "501"),
    (408, {}, True, None, "408"),
    (400, {}, False, None, "400"),
    (401, {}, False, None, "401"),
    (403, {}, False, None, "403"),
    (404, {}, False, None, "404"),
    (422, {}, False, None, "422"),
])
def test_status_mapping(status: int, headers: dict[str, str], transient: bool,
                        retry_after: float | None, words: str) -> None:
    error = outcome(status, headers, b"nope")
    assert error is not None
    assert error.transient is transient and error.retry_after == retry_after
    assert words in str(error) and "'hook'" in str(error)


def test_retry_after_as_http_date() -> None:
    error = outcome(503, {"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"})
    assert error is not None and error.transient
    assert error.retry_after is not None and error.retry_after > 365 * 86400


def test_network_errors_are_transient_and_hide_the_url() -> None:
    poster = FakePoster(error=FetchError(f"read timeout on {URL}"))
    target = WebhookTarget("hook", WebhookSettings(URL), poster)
    with pytest.raises(DeliveryError) as info:
        target.send(make_alert())
    assert info.value.transient is True
    assert "SECRETTOKEN" not in str(info.value) and info.value.__cause__ is None


def test_blocked_address_is_permanent() -> None:
    poster = FakePoster(error=BlockedURLError("resolves to 10.0.0.5, not allowlisted"))
    with pytest.raises(DeliveryError) as info:
        WebhookTarget("hook", WebhookSettings(URL), poster).send(make_alert())
    assert info.value.transient is False and "10.0.0.5" in str(info.value)


def test_repr_hides_url_and_secrets() -> None:
    target = WebhookTarget("hook", WebhookSettings(URL, (VECTOR_SECRET,)), FakePoster())
    for text in (repr(target), repr(WebhookSettings(URL, (VECTOR_SECRET,)))):
        assert "SECRETTOKEN" not in text and "MfKQ9r8" not in text


# --- against a real HTTP server on 127.0.0.1 ---------------------------------------------------


def guarded(*allow: str) -> GuardedClient:
    return GuardedClient(NetConfig(allow_private=allow, total_timeout=10.0))


def test_real_receiver_verifies_the_signature_and_redirects_are_not_followed(
        receiver: Any) -> None:
    poster: HttpPoster = guarded("127.0.0.1")
    try:
        target = WebhookTarget("hook", WebhookSettings(receiver.url, (VECTOR_SECRET,)), poster)
        receiver.status, receiver.body = 200, b""
        target.send(make_alert(title="Ünïcode “quotes” & <tags>"))
        (request,) = receiver.requests
        headers = {k.lower(): v for k, v in request.headers.items()}
        assert verifies(VECTOR_SECRET, headers, request.body)
        assert request.json()["article"]["title"] == "Ünïcode “quotes” & <tags>"
        receiver.status, receiver.headers = 307, {"Location": receiver.url + "/moved"}
        with pytest.raises(DeliveryError, match="update the URL"):
            target.send(make_alert())
        assert [r.path for r in receiver.requests] == ["/hook", "/hook"]
    finally:
        assert isinstance(poster, GuardedClient)
        poster.close()


def test_private_receiver_not_allowlisted_is_blocked_permanently(receiver: Any) -> None:
    with guarded() as client:
        target = WebhookTarget("hook", WebhookSettings(receiver.url + "?token=SECRETTOKEN"),
                               client)
        with pytest.raises(DeliveryError) as info:
            target.send(make_alert())
    assert info.value.transient is False and "network guard" in str(info.value)
    assert "SECRETTOKEN" not in str(info.value)
    assert receiver.requests == []


def test_receiver_that_never_answers_is_transient() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
        config = NetConfig(allow_private=("127.0.0.1",), connect_timeout=1.0, read_timeout=0.5,
                           total_timeout=1.0)
        with GuardedClient(config) as client:
            started = time.monotonic()
            with pytest.raises(DeliveryError) as info:
                WebhookTarget("hook", WebhookSettings(url), client).send(make_alert())
    assert info.value.transient is True and time.monotonic() - started < 5
