"""Slack delivery, security cases 44-49 and 51 (tests/SECURITY_CASES.md): the exact hostile inputs
of the cases through ``render_slack``, cuts at every position inside emoji, ZWJ sequences, CJK,
flags and escapes, and a Slack stand-in on 127.0.0.1 reached through ``monitor.net.GuardedClient``
and the outbox relay (429 + Retry-After paced on an injected clock; 4xx/410/500 outcomes)."""

from __future__ import annotations

import itertools
import json
import random
import re
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from monitor.config import DeliveryConfig
from monitor.deliver import SlackSettings, SlackTarget, WebhookSettings, WebhookTarget
from monitor.deliver.base import clean_line
from monitor.deliver.outbox import deliver
from monitor.deliver.slack import slack_outcome
from monitor.deliver.slack_render import HEADER_LIMIT, SECTION_LIMIT, render_slack
from monitor.model import Alert, Match, StoryArticle
from monitor.net import GuardedClient, NetConfig
from monitor.store import Store
from tests.conftest import Receiver, serve
from tests.test_deliver_outbox import NOW, Clock
from tests.test_deliver_pacing import fill

# --- rendering: cases 44, 45, 46, 51 ---------------------------------------------------------

CASE_44 = ("Breaking <!channel> <!here> <!everyone> <@U123> <#C1> @channel "
           "<https://evil.example|https://bank.example>")
OUR_URLS = ("https://news.example/a", "https://outlet.example/")  # the only links we may make


def make_alert(**changes: Any) -> Alert:
    alert = Alert(
        key="sec-slack-1", target="slack", story_id=7, severity="high",
        title="Rocket attack on Ain al-Asad air base", url="https://news.example/a",
        feed="feed", site="News Example", published=datetime(2024, 8, 6, 12, tzinfo=UTC),
        snippet="Rockets struck the base.",
        matches=(Match("us-forces-attack", "Attack on US forces", "high", ("iraq",),
                       ("Ain al-Asad",), ("rocket",)),),
        created_at=datetime(2024, 8, 6, 12, 5, tzinfo=UTC))
    return replace(alert, **changes)


def mrkdwn(payload: dict[str, Any]) -> list[str]:
    """Every mrkdwn string of a payload (the fallback text, sections, context elements)."""
    texts = [payload["text"]]
    for block in payload["blocks"]:
        if block["type"] == "section":
            assert block["text"]["type"] == "mrkdwn"
            texts.append(block["text"]["text"])
        elif block["type"] == "context":
            texts.extend(e["text"] for e in block["elements"])
    return texts


def shown(text: str) -> str:
    """What Slack displays for mrkdwn: its three entities decoded, once."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def everywhere(text: str) -> Alert:
    """An update alert carrying ``text`` in every feed-derived field a target shows."""
    hostile = StoryArticle(text, "https://outlet.example/", text, NOW)
    return make_alert(
        kind="update", title=text, site=text, feed=text, snippet=text, story_title=text,
        changes=text, sources=(text,), articles=(hostile, hostile),
        matches=(Match(text, text, "high", (text,), (text,), (text,), snippet=text),))


@pytest.mark.parametrize("kind", ["new", "update", "escalation", "operator"])
def test_case_44_mentions_and_disguised_links_are_shown_literally(kind: str) -> None:
    payload = render_slack(replace(everywhere(CASE_44), kind=kind))
    assert "link_names" not in payload and "parse" not in payload
    assert payload["unfurl_links"] is False and payload["unfurl_media"] is False  # case 51
    header = payload["blocks"][0]
    assert header["type"] == "header" and header["text"]["type"] == "plain_text"
    assert header["text"]["emoji"] is False
    for text in mrkdwn(payload):
        # every "<" left is the start of one of our own links; nothing else can be a control
        # sequence (mention, channel, user, disguised link)
        for at in (m.start() for m in re.finditer("<", text)):
            assert text.startswith(OUR_URLS, at + 1), text[at:at + 60]
        assert "<!" not in text and "<@" not in text and "<#" not in text
        assert "<https://evil.example" not in text
    texts = " ".join(mrkdwn(payload))
    assert "&lt;!channel&gt;" in texts and "&lt;!everyone&gt;" in texts
    assert "&lt;@U123&gt;" in texts and "&lt;#C1&gt;" in texts
    # the disguised link is shown as text: its "|" cannot split a label from a target
    assert "&lt;https://evil.example¦https://bank.example&gt;" in texts
    assert "@channel" in shown(texts)  # plain text; it notifies no one without link_names


def test_case_45_escaped_exactly_once_through_the_renderer() -> None:
    title = "Tom &amp; Jerry &lt;b&gt; 'quoted' \"double\" *bold* _x_ `code` ~s~ & < >"
    payload = render_slack(make_alert(title=title, snippet=title, site=title))
    summary = payload["blocks"][1]["text"]["text"]
    label = summary.split("|", 1)[1].split(">*", 1)[0]
    assert shown(label) == title, "one decode gives the feed text back: escaped exactly once"
    assert label == ("Tom &amp;amp; Jerry &amp;lt;b&amp;gt; 'quoted' \"double\" *bold* _x_ "
                     "`code` ~s~ &amp; &lt; &gt;")
    for text in mrkdwn(payload):
        assert "&#39;" not in text and "&quot;" not in text and "&apos;" not in text
        assert "&amp;amp;amp;" not in text  # never escaped twice
    snippet = next(t for t in mrkdwn(payload) if t.startswith("> "))
    assert shown(snippet[2:]) == title
    # the header is plain_text: Slack shows it as written, so it is not entity-escaped at all
    assert payload["blocks"][0]["text"]["text"] == f"HIGH: {title}"


def is_cluster_boundary(text: str, i: int) -> bool:
    """Whether cutting ``text`` at ``i`` keeps every character cluster whole: not before a
    combining mark, variation selector, skin tone or tag, not next to a ZWJ, not inside a flag."""
    if i <= 0 or i >= len(text):
        return True
    nxt, prev = text[i], text[i - 1]
    if unicodedata.category(nxt) in ("Mn", "Mc", "Me") or "\u200d" in (nxt, prev):
        return False
    if 0xFE00 <= ord(nxt) <= 0xFE0F or 0x1F3FB <= ord(nxt) <= 0x1F3FF \
            or 0xE0020 <= ord(nxt) <= 0xE007F:
        return False
    if 0x1F1E6 <= ord(nxt) <= 0x1F1FF and 0x1F1E6 <= ord(prev) <= 0x1F1FF:
        run = len(text[:i]) - len(text[:i].rstrip("".join(map(chr, range(0x1F1E6, 0x1F200)))))
        return run % 2 == 0
    return True


UNITS = {
    "skin-tone": "👍🏽",
    "zwj-family": "👨\u200d👩\u200d👧\u200d👦",
    "cjk": "火箭袭击基地",
    "flag": "🇮🇶",
    "combining": "e\u0301\u0323",
    "ampersand": "&",
    "entity-text": "&amp;",
    "lt-gt": "<>",
    "arabic": "هجوم",
}


def assert_entities_whole(text: str) -> None:
    """Every "&" in mrkdwn starts one of the three escapes: no cut fell inside one."""
    assert re.search(r"&(?!amp;|lt;|gt;)", text) is None, text[-40:]


@pytest.mark.parametrize("unit", list(UNITS.values()), ids=list(UNITS))
def test_case_46_cuts_fall_on_cluster_boundaries_never_inside_an_escape(unit: str) -> None:
    for shift in range(len(unit) * 5 + 1):  # the cut lands at every offset inside the unit
        raw = "x" * shift + unit * (12_000 // len(unit))
        payload = render_slack(make_alert(title=raw[:400], snippet=raw))
        header = payload["blocks"][0]["text"]["text"]
        assert len(header) <= HEADER_LIMIT and header.endswith("…")
        full = f"HIGH: {clean_line(raw[:400])}"
        assert full.startswith(header[:-1]) and is_cluster_boundary(full, len(header) - 1)
        for text in mrkdwn(payload):
            assert len(text) <= SECTION_LIMIT
            assert_entities_whole(text)
        snippet = next(t for t in mrkdwn(payload) if t.startswith("> "))[2:]
        assert snippet.endswith("…")
        kept = shown(snippet[:-1])
        assert raw.startswith(kept) and is_cluster_boundary(raw, len(kept)), (shift, kept[-8:])
        label = payload["blocks"][1]["text"]["text"].split("|", 1)[1].split(">*", 1)[0]
        assert_entities_whole(label)
        cut = shown(label)[:-1] if label.endswith("…") else shown(label)
        assert raw[:400].startswith(cut) and is_cluster_boundary(raw[:400], len(cut))


@pytest.mark.parametrize("unit", ["👨\u200d👩\u200d👧\u200d👦", "&", "🇮🇶", "e\u0301"])
def test_case_46_a_marked_snippet_is_cut_on_boundaries_too(unit: str) -> None:
    for shift in range(len(unit) * 5 + 1):
        raw = "x" * shift + unit * (6000 // len(unit))
        marks = tuple((i, i + 7) for i in range(0, len(raw), 11))  # a mark across every cut
        match = Match("r", "R", "high", (), (), (), snippet=raw, marks=marks)
        payload = render_slack(make_alert(snippet=raw, matches=(match,)))
        snippet = next(t for t in mrkdwn(payload) if t.startswith("> "))
        assert len(snippet) <= SECTION_LIMIT and snippet.endswith("…")
        assert_entities_whole(snippet)
        assert snippet[2:-1].count("*") % 2 == 0, "every bold mark is closed"
        kept = shown(snippet[2:-1].replace("*", "").replace("\u200b", ""))
        assert raw.startswith(kept) and is_cluster_boundary(raw, len(kept)), (shift, kept[-8:])


def test_case_46_limits_with_the_sizes_of_the_case() -> None:
    """A 300-character title, a 10 kB summary and 60 kB of text in all: ≤ 50 blocks, sections
    ≤ 3000, header ≤ 150, the whole message < 40 000 characters (and valid JSON)."""
    matches = tuple(Match(f"rule-{i}-" + "r" * 40, "T" * 300, "high", ("t",),
                          tuple(f"entity {j} " * 5 for j in range(10)),
                          tuple(f"term {j}" for j in range(10))) for i in range(40))
    articles = tuple(StoryArticle("a" * 300 + " <&>", f"https://outlet.example/{i}",
                                  f"Outlet {i} & <co>", NOW) for i in range(30))
    alert = make_alert(kind="update", title="<&>👨\u200d👩\u200d👧" * 60, snippet="火&<" * 3400,
                       matches=matches, articles=articles, story_title="t" * 300,
                       changes="c & " * 500, sources=tuple(f"s{i}" for i in range(200)))
    feed_text = (len(alert.title) + len(alert.snippet) + len(alert.changes)
                 + len(json.dumps([asdict(m) for m in matches], default=str))
                 + sum(len(a.title) + len(a.outlet) for a in articles))
    assert len(alert.title) >= 300 and len(alert.snippet) >= 10_000 and feed_text >= 60_000
    payload = render_slack(alert)
    assert len(payload["blocks"]) <= 50
    for block in payload["blocks"]:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        elif block["type"] == "section":
            assert 0 < len(block["text"]["text"]) <= 3000
        else:
            assert all(0 < len(e["text"]) <= 3000 for e in block["elements"])
    assert 0 < len(payload["text"]) <= 3000
    assert len(json.dumps(payload, ensure_ascii=False)) < 40_000
    for text in mrkdwn(payload):
        assert_entities_whole(text)


# --- a Slack stand-in on 127.0.0.1 -----------------------------------------------------------


@dataclass
class SlackStandIn:
    """Answers each POST with the next scripted (status, headers, body), then 200 "ok"; records
    the injected clock's time of every request."""

    url: str = ""
    clock: Clock | None = None
    script: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    seen: list[tuple[datetime | None, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def slack_stand_in() -> Iterator[SlackStandIn]:
    stand_in = SlackStandIn()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with stand_in.lock:
                at = stand_in.clock.now if stand_in.clock is not None else None
                stand_in.seen.append((at, json.loads(body)))
                status, headers, answer = (stand_in.script.pop(0) if stand_in.script
                                           else (200, {}, b"ok"))
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serve(Handler) as base:
        stand_in.url = f"{base}/services/T0/B0/xyz"
        yield stand_in


@pytest.fixture
def client() -> Iterator[GuardedClient]:
    with GuardedClient(NetConfig(allow_private=("127.0.0.1",), total_timeout=10.0)) as c:
        yield c


def states(store: Store, target: str) -> list[tuple[str, str, int]]:
    return [(r.key, r.state, r.attempts) for r in store.list_alerts(limit=1000)
            if r.target == target]


def test_case_47_a_429_with_retry_after_is_paced_through_the_real_client(
        tmp_path: Path, slack_stand_in: SlackStandIn, receiver: Receiver,
        client: GuardedClient) -> None:
    clock = Clock()
    slack_stand_in.clock = clock
    slack_stand_in.script = [(429, {"Retry-After": "30"}, b"rate_limited")]
    store = fill(tmp_path, ["slack", "hook"], 5)
    targets = {"slack": SlackTarget("slack", SlackSettings(slack_stand_in.url), client),
               "hook": WebhookTarget("hook", WebhookSettings(receiver.url), client)}
    assert targets["slack"].min_interval == 1.0
    policy = DeliveryConfig(max_attempts=10, backoff_base=5, backoff_max=600)

    def run() -> None:
        deliver(store, targets, policy, clock=clock, rng=random.Random(3),
                sleep=lambda s: setattr(clock, "now", clock.now + timedelta(seconds=s)))

    run()
    assert len(slack_stand_in.seen) == 1, "rate limited at the first post: nothing more sent"
    assert len(receiver.requests) == 5, "the other destination keeps flowing"
    slack_rows = states(store, "slack")
    assert [s for _, s, _ in slack_rows] == ["pending"] * 5, "the messages stay in the outbox"
    first_key = slack_rows[-1][0]  # newest first: the oldest row was the one posted
    assert {k: a for k, _, a in slack_rows}[first_key] == 1
    limited = store.list_alerts(limit=1000)
    assert any(r.key == first_key and "rate limited" in (r.last_error or "") for r in limited)

    for seconds in (10, 29):  # within Retry-After: not a single request
        clock.now = NOW + timedelta(seconds=seconds)
        run()
        assert len(slack_stand_in.seen) == 1
    clock.now = NOW + timedelta(seconds=30)
    run()
    times = [at for at, _ in slack_stand_in.seen if at is not None]
    assert len(times) == 6 and times[0] == NOW
    after = times[1:]  # the five sent once the pause was over
    assert all(at >= NOW + timedelta(seconds=30) for at in after), \
        "the webhook waited at least Retry-After"
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(after)]
    assert min(gaps) >= 1.0, "at most one message per second"
    span = (after[-1] - after[0]).total_seconds()
    assert (len(after) - 1) / span <= 1.0, "sustained rate ≤ 1 msg/s"
    assert [s for _, s, _ in states(store, "slack")] == ["sent"] * 5
    posted = [p for _, p in slack_stand_in.seen]
    assert posted[0] == posted[1], "the rate-limited message went again, unchanged"
    assert all(p["unfurl_links"] is False and p["unfurl_media"] is False for p in posted)


@pytest.mark.parametrize(("status", "body", "final"), [
    (400, b"invalid_payload", "dead"),
    (403, b"action_prohibited", "dead"),
    (404, b"channel_not_found", "dead"),
    (200, b"<html>Sign in to continue</html>", "dead"),  # case 49: 200 without "ok"
    (200, b"", "dead"),
    (410, b"channel_is_archived", "disabled"),
    (404, b"no_service", "disabled"),  # the hook was removed or revoked
    (403, b"invalid_token", "disabled"),
    (403, b"token_revoked", "disabled"),
    (500, b"rollup_error", "retrying"),
])
def test_case_48_49_outcomes_through_the_relay(
        tmp_path: Path, slack_stand_in: SlackStandIn, receiver: Receiver,
        client: GuardedClient, status: int, body: bytes, final: str) -> None:
    """Non-retryable answers are dead-lettered with an operator notice on the other target,
    "gone" ones disable the target (alerts kept pending) with an operator notice too, a 500 is
    retried with backoff."""
    clock = Clock()
    slack_stand_in.script = [(status, {}, body)]
    store = fill(tmp_path, ["slack", "hook"], 1)
    targets = {"slack": SlackTarget("slack", SlackSettings(slack_stand_in.url), client),
               "hook": WebhookTarget("hook", WebhookSettings(receiver.url), client)}
    policy = DeliveryConfig(max_attempts=5, backoff_base=30, backoff_max=600)
    report = deliver(store, targets, policy, clock=clock, rng=random.Random(1))
    (row,) = [r for r in store.list_alerts() if r.target == "slack" and r.kind == "new"]
    operator = [r.json() for r in receiver.requests if r.json()["type"] == "alert.operator"]
    code = body.decode()[:20]
    if final == "dead":
        assert row.state == "dead" and report.dead == 1 and row.attempts == 1
        assert code in (row.last_error or "") or "instead of 'ok'" in (row.last_error or "")
        (notice,) = operator
        assert "slack" in notice["article"]["title"] and str(status) in \
            notice["article"]["snippet"]
        assert store.disabled_targets() == {}
    elif final == "disabled":
        assert row.state == "pending" and row.attempts == 0, "kept, neither sent nor lost"
        assert list(store.disabled_targets()) == ["slack"] and report.disabled
        assert code in store.disabled_targets()["slack"]
        (notice,) = operator  # the operator is told on the other target
        assert "'slack'" in notice["article"]["snippet"] and code in notice["article"]["snippet"]
    else:
        assert row.state == "pending" and row.attempts == 1 and report.retrying == 1
        assert row.next_attempt_at is not None and row.next_attempt_at > NOW
        assert operator == []
        clock.now = row.next_attempt_at
        assert deliver(store, targets, policy, clock=clock, rng=random.Random(1)).sent == 1
        assert len(slack_stand_in.seen) == 2 and slack_stand_in.seen[0][1] == \
            slack_stand_in.seen[1][1]


@pytest.mark.parametrize("code", [b"no_service", b"invalid_token", b"token_revoked",
                                  b"team_disabled", b"no_team", b"channel_is_archived"])
def test_case_48_revoked_hook_strings_are_permanent_and_gone(code: bytes) -> None:
    for status in (403, 404, 410):
        error = slack_outcome("s", status, {}, code)
        assert error is not None and not error.transient and error.gone, (status, code)
