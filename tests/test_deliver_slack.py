"""Slack target: Block Kit rendering of hostile feed text, limits, and HTTP outcomes."""

from __future__ import annotations

import json
import socket
import unicodedata
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from monitor.deliver import SlackSettings, SlackTarget, build_target
from monitor.deliver.base import HttpPoster
from monitor.deliver.slack_render import escape, escape_truncate, render_slack
from monitor.errors import BlockedURLError, DeliveryError, FetchError
from monitor.model import Alert, Match
from monitor.net import GuardedClient, NetConfig
from tests.fakes import FakePoster, FakeResponse

HOOK = "https://hooks.slack.com/services/T000/B000/XXXXXXXXSECRETXXXXXXXX"


def make_alert(**changes: Any) -> Alert:
    alert = Alert(
        key="alert-1-slack", target="slack", story_id=7, severity="high",
        title="Rocket attack on Ain al-Asad air base", url="https://news.example/a?x=1&y=2",
        feed="example-feed", site="News Example",
        published=datetime(2024, 1, 20, 10, 15, tzinfo=UTC),
        snippet="Several rockets struck the base housing US forces.",
        matches=(Match("us-forces-attack", "Attack on US forces", "high", ("iraq",),
                       ("Ain al-Asad",), ("rocket", "struck")),),
        created_at=datetime(2024, 1, 20, 10, 20, tzinfo=UTC),
    )
    return replace(alert, **changes)


def mrkdwn_texts(payload: dict[str, Any]) -> list[str]:
    texts = [payload["text"]]
    for block in payload["blocks"]:
        if block["type"] == "section":
            texts.append(block["text"]["text"])
        elif block["type"] == "context":
            texts.extend(e["text"] for e in block["elements"])
    return texts


def slack_display(text: str) -> str:
    """What Slack shows for mrkdwn text (entity decoding of the three escapes)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


HOSTILE = "<!channel> & <http://evil|click> <!here> <@U123> <#C1>"


def test_hostile_title_is_escaped_exactly_once_and_mentions_nothing() -> None:
    alert = make_alert(title=HOSTILE, snippet="<script>alert(1)</script> & more",
                       site="<!everyone>", sources=("<!subteam^S1>",))
    payload = render_slack(alert)
    texts = mrkdwn_texts(payload)
    whole = json.dumps(payload, ensure_ascii=False)
    for text in texts:
        assert "&amp;amp;" not in text and "&amp;lt;" not in text
        assert "<!" not in text and "<@" not in text and "<#" not in text
    # Only our own link is a "<": in the summary section, nowhere else.
    summary = payload["blocks"][1]["text"]["text"]
    assert summary.count("<") == 1 and summary.startswith("*<https://news.example/a?x=1&amp;y=2|")
    assert sum(t.count("<") for t in texts) == 1
    # Shown literally: decoding Slack's three entities gives back the title exactly.
    assert "&lt;!channel&gt; &amp; &lt;http://evil¦click&gt;" in summary
    assert HOSTILE in slack_display(payload["text"])
    snippet = payload["blocks"][3]["text"]["text"]
    assert snippet == "> &lt;script&gt;alert(1)&lt;/script&gt; &amp; more"
    assert "<script>" not in whole
    assert "link_names" not in payload


def test_escape_only_three_characters_once() -> None:
    raw = "a &amp; b &lt; 'q' \"d\" *bold* _x_ `code` > <"
    escaped = escape(raw)
    assert escaped == "a &amp;amp; b &amp;lt; 'q' \"d\" *bold* _x_ `code` &gt; &lt;"
    assert slack_display(escaped) == raw  # one decode gives the input back: escaped once
    assert "&#39;" not in escaped and "&quot;" not in escaped


def test_link_label_and_url_cannot_break_out() -> None:
    alert = make_alert(title="a|b > c", url="https://x.example/p?q=<a>|b c")
    summary = render_slack(alert)["blocks"][1]["text"]["text"]
    assert summary.startswith("*<https://x.example/p?q=%3Ca%3E%7Cb%20c|a¦b &gt; c>*")


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,x", "ftp://x/y", None,
                                 "https://" + "a" * 5000])
def test_non_web_urls_are_not_linked(url: str | None) -> None:
    summary = render_slack(make_alert(url=url))["blocks"][1]["text"]["text"]
    assert "<" not in summary and "javascript:" not in summary


def test_unfurl_disabled_and_fallback_text_present() -> None:
    payload = render_slack(make_alert())
    assert payload["unfurl_links"] is False and payload["unfurl_media"] is False
    assert payload["text"].startswith("HIGH: Rocket attack")
    assert payload["blocks"][0]["type"] == "header"
    assert payload["blocks"][0]["text"]["type"] == "plain_text"


def test_header_is_at_most_150_characters_for_a_long_title() -> None:
    header = render_slack(make_alert(title="x" * 500))["blocks"][0]["text"]["text"]
    assert len(header) <= 150 and header.endswith("…")


def _is_boundary(full: str, cut: int) -> bool:
    if cut in (0, len(full)):
        return True
    nxt, prev = full[cut], full[cut - 1]
    return (unicodedata.category(nxt) not in ("Mn", "Mc", "Me") and nxt != "\u200d"
            and prev != "\u200d" and not 0x1F3FB <= ord(nxt) <= 0x1F3FF
            and not 0xFE00 <= ord(nxt) <= 0xFE0F)


@pytest.mark.parametrize("title", [
    "هجوم بطائرة مسيّرة على قاعدة " * 20,
    "👨‍👩‍👧‍👦" * 60,
    "a" * 140 + "👍🏽" * 20,
    "e\u0301" * 200,
    "🇺🇸🇮🇶" * 50,
])
def test_truncation_falls_on_character_clusters(title: str) -> None:
    header = render_slack(make_alert(title=title))["blocks"][0]["text"]["text"]
    full = f"HIGH: {title}"
    assert len(header) <= 150 and header.endswith("…")
    kept = header[:-1]
    assert full.startswith(kept)
    assert _is_boundary(full, len(kept))
    if title.startswith("🇺🇸"):
        assert (len(kept) - len("HIGH: ")) % 2 == 0  # whole flags only
    json.dumps(render_slack(make_alert(title=title))).encode()  # no lone surrogates


def test_escape_truncate_never_splits_an_entity() -> None:
    out = escape_truncate("&" * 5000, 3000)
    assert len(out) <= 3000 and out.endswith("…")
    assert out[:-1] == "&amp;" * (len(out[:-1]) // 5)


def test_limits_hold_for_huge_inputs() -> None:
    matches = tuple(
        Match(f"rule-{i}", "T" * 300, "medium", ("t",), tuple(f"E{j}" * 20 for j in range(30)),
              tuple(f"term{j}" for j in range(30)))
        for i in range(120)
    )
    alert = make_alert(title="<" * 300, snippet="<&> " * 10_000, matches=matches,
                       sources=tuple(f"outlet {i}" for i in range(200)))
    payload = render_slack(alert)
    assert len(payload["blocks"]) <= 50
    for block in payload["blocks"]:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        elif block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
        else:
            assert all(len(e["text"]) <= 3000 for e in block["elements"])
    assert "more" in payload["blocks"][2]["text"]["text"]
    assert len(payload["text"]) <= 3000
    assert len(json.dumps(payload, ensure_ascii=False)) < 40_000


def test_control_characters_are_removed_from_feed_text() -> None:
    payload = render_slack(make_alert(title="A\x1b[2J\x07 title\r\nsecond\u202e"))
    assert payload["blocks"][0]["text"]["text"] == "HIGH: A title second"


# --- HTTP outcomes -----------------------------------------------------------------------------


def send(response: FakeResponse | None = None, error: Exception | None = None,
         ) -> tuple[FakePoster, DeliveryError | None]:
    poster = FakePoster(response, error)
    target = SlackTarget("ops-slack", SlackSettings(webhook_url=HOOK), poster)
    try:
        target.send(make_alert())
    except DeliveryError as e:
        return poster, e
    return poster, None


def test_success_posts_json_to_the_webhook() -> None:
    poster, error = send(FakeResponse(HOOK, 200, {}, b"ok"))
    assert error is None
    (call,) = poster.calls
    assert call["url"] == HOOK and call["secret_url"] is True
    assert call["headers"]["Content-Type"].startswith("application/json")
    assert json.loads(call["content"])["unfurl_links"] is False


@pytest.mark.parametrize(("status", "body", "headers", "transient", "retry_after", "words"), [
    (200, b"invalid_payload", {}, False, None, "invalid_payload"),
    (200, b"", {}, False, None, "instead of 'ok'"),
    (429, b"rate_limited", {"Retry-After": "7"}, True, 7.0, "rate limited"),
    (429, b"", {"retry-after": "30"}, True, 30.0, "429"),
    (500, b"rollup_error", {}, True, None, "500"),
    (503, b"", {}, True, None, "503"),
    (400, b"invalid_payload", {}, False, None, "invalid_payload"),
    (403, b"invalid_token", {}, False, None, "invalid_token"),
    (403, b"action_prohibited", {}, False, None, "action_prohibited"),
    (404, b"no_service", {}, False, None, "no_service"),
    (404, b"channel_not_found", {}, False, None, "channel_not_found"),
    (410, b"channel_is_archived", {}, False, None, "channel_is_archived"),
    (302, b"", {"Location": "https://evil.example/"}, False, None, "update the URL"),
    (301, b"", {}, False, None, "redirects"),
])
def test_status_handling(status: int, body: bytes, headers: dict[str, str], transient: bool,
                         retry_after: float | None, words: str) -> None:
    _, error = send(FakeResponse(HOOK, status, headers, body))
    assert error is not None
    assert error.transient is transient
    assert error.retry_after == retry_after
    assert words in str(error)
    assert "ops-slack" in str(error)
    assert HOOK not in str(error) and "/services/" not in str(error)


def test_network_errors_are_transient_and_never_show_the_url() -> None:
    leaky = FetchError(f"timed out posting to {HOOK}", url=HOOK)  # a careless client
    _, error = send(error=leaky)
    assert error is not None and error.transient is True
    assert HOOK not in str(error) and "XXXXXXXXSECRET" not in str(error)
    assert error.__cause__ is None  # the leaky message is not chained into tracebacks
    _, error = send(error=FetchError("timed out", url="https://hooks.slack.com/<redacted>"))
    assert error is not None and error.transient is True and error.__cause__ is not None


def test_blocked_address_is_permanent() -> None:
    _, error = send(error=BlockedURLError("non-public address", url="https://<redacted>"))
    assert error is not None and error.transient is False
    assert "network guard" in str(error) and HOOK not in str(error)


def test_repr_hides_the_webhook_url() -> None:
    target = build_target("ops-slack", SlackSettings(webhook_url=HOOK), FakePoster())
    assert HOOK not in repr(target) and HOOK not in repr(SlackSettings(webhook_url=HOOK))


# --- against a real HTTP server on 127.0.0.1 ---------------------------------------------------


def guarded(*allow: str) -> GuardedClient:
    return GuardedClient(NetConfig(allow_private=allow, total_timeout=10.0))


def test_real_server_ok_and_redirect_not_followed(receiver: Any) -> None:
    poster: HttpPoster = guarded("127.0.0.1")
    try:
        target = SlackTarget("ops-slack", SlackSettings(webhook_url=receiver.url), poster)
        target.send(make_alert(title=HOSTILE))
        (request,) = receiver.requests
        payload = request.json()
        assert payload["unfurl_links"] is False
        assert all("<!" not in text for text in mrkdwn_texts(payload))
        # plain_text (the header) is shown literally by Slack: the only place it stays as is.
        assert request.body.decode().count("<!channel>") == 1
        assert payload["blocks"][0]["text"] == {
            "type": "plain_text", "text": f"HIGH: {HOSTILE}", "emoji": False}
        receiver.status, receiver.body = 302, b""
        receiver.headers = {"Location": receiver.url + "/elsewhere"}
        with pytest.raises(DeliveryError, match="update the URL") as info:
            target.send(make_alert())
        assert info.value.transient is False
        assert len(receiver.requests) == 2  # the redirect was not followed
        assert receiver.url not in str(info.value)
    finally:
        assert isinstance(poster, GuardedClient)
        poster.close()


def test_real_connection_failure_never_shows_the_webhook_path() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    url = f"http://127.0.0.1:{closed}/services/T0/B0/SECRETPATH"
    with guarded("127.0.0.1") as client:
        with pytest.raises(DeliveryError) as info:
            SlackTarget("ops-slack", SlackSettings(webhook_url=url), client).send(make_alert())
    assert info.value.transient is True
    error: BaseException | None = info.value
    while error is not None:  # nothing in the chain shows the secret path either
        assert "SECRETPATH" not in str(error)
        error = error.__cause__ or error.__context__
