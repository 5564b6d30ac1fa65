"""Every target shows the story: updates and escalations name it, list its articles and say what
changed; hostile article titles and outlets stay harmless; limits hold for huge stories."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import hmac
import io
import json
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest

from monitor.deliver import ConsoleSettings, EmailSettings, WebhookSettings, WebhookTarget
from monitor.deliver import build_target as _build_target
from monitor.deliver.mail import build_message, message_id, story_message_id
from monitor.deliver.slack_render import render_slack
from monitor.deliver.webhook import MAX_PAYLOAD_BYTES, render_payload
from monitor.model import Alert, AlertKind, Match, Severity, StoryArticle
from tests.fakes import FakePoster

T0 = datetime(2024, 1, 20, 10, 0, tzinfo=UTC)
STORY_TITLE = "Rocket attack on Ain al-Asad air base"
CHANGES = "2 more outlets: Shafaq News, Al-Fassel"
ARTICLES = (
    StoryArticle(STORY_TITLE, "https://wire.example/1", "Wire Service", T0),
    StoryArticle("Rockets hit base in Anbar", "https://shafaq.example/2", "Shafaq News",
                 T0 + timedelta(hours=1)),
    StoryArticle("Attack on Ain al-Asad", "https://alfassel.example/3?a=1&b=2", "Al-Fassel",
                 T0 + timedelta(hours=2)),
)
HOSTILE_ARTICLE = StoryArticle(
    title="<!channel> <script>alert(1)</script>\r\nBcc: evil@x.example & <http://evil|click>",
    url="https://evil.example/x?a=1&b=<2>|3",
    outlet="<!here> Outlet\r\nX-Injected: 1\x1b[2J\u202e",
    published=T0 + timedelta(hours=3),
)
SECRET = "whsec_" + base64.b64encode(b"a test secret of thirty-two byte").decode()


def story_alert(kind: AlertKind = "update", *, severity: Severity = "high",
                articles: tuple[StoryArticle, ...] = ARTICLES, changes: str = CHANGES,
                story_id: int = 7, target: str = "mail", key: str | None = None,
                story_title: str = STORY_TITLE) -> Alert:
    last = articles[-1] if articles else ARTICLES[-1]
    return Alert(
        key=key or f"nm_{kind}_{story_id}_{target}", target=target, story_id=story_id,
        severity=severity, title=last.title, url=last.url, feed="feed", site=last.outlet,
        published=last.published, snippet="Rockets struck the base housing US forces.",
        matches=(Match("us-forces-attack", "Attack on US forces", severity, ("iraq",),
                       ("Ain al-Asad",), ("rocket",)),),
        created_at=T0 + timedelta(hours=4), kind=kind, story_title=story_title,
        story_started=T0, articles=articles,
        sources=tuple(a.outlet for a in articles[:-1]), changes=changes)


def many_articles(n: int, *, size: int = 1) -> tuple[StoryArticle, ...]:
    return tuple(StoryArticle(f"<!channel> article {i} " + "t" * size,
                              f"https://outlet{i}.example/" + "p" * size, f"Outlet {i} & co",
                              T0 + timedelta(minutes=i)) for i in range(n))


# --- console -----------------------------------------------------------------------------------


def console(alert: Alert) -> str:
    stream = io.StringIO()
    _build_target("console", ConsoleSettings(), FakePoster(), stream=stream).send(alert)
    return stream.getvalue()


def test_console_update_names_the_story_outlets_articles_and_change() -> None:
    out = console(story_alert())
    lines = out.splitlines()
    assert lines[0] == "[HIGH] UPDATE: Attack on Ain al-Asad"
    assert f"  Story:     {STORY_TITLE} (since 2024-01-20 10:00 UTC)" in lines
    assert f"  Changed:   {CHANGES}" in lines
    assert "  Reported by: Wire Service, Shafaq News, Al-Fassel" in lines
    assert "  Articles (3):" in lines
    assert "    - 2024-01-20 11:00 UTC · Shafaq News · Rockets hit base in Anbar" in lines
    assert "      https://alfassel.example/3?a=1&b=2" in lines


def test_console_escalation_is_loud() -> None:
    out = console(story_alert("escalation", severity="critical",
                              changes="severity high → critical"))
    assert out.startswith("[CRITICAL] !!! ESCALATION !!! ")
    assert "  Changed:   severity high → critical" in out.splitlines()
    empty = console(story_alert("escalation", severity="critical", changes=""))
    assert "  Changed:   severity raised to CRITICAL" in empty.splitlines()


def test_console_new_alert_is_unchanged_and_caps_a_long_list() -> None:
    out = console(story_alert("new", articles=ARTICLES[:1], changes=""))
    assert out.startswith(f"[HIGH] {STORY_TITLE}\n")
    assert "Story:" not in out and "Articles" not in out and "Reported by" not in out
    out = console(story_alert(articles=many_articles(200)))
    assert "  Articles (200):" in out and "    … and 190 more" in out
    assert out.count("    - ") == 10


def test_console_hostile_article_text_cannot_drive_the_terminal() -> None:
    out = console(story_alert(articles=(*ARTICLES, HOSTILE_ARTICLE),
                              changes="1 more outlet: <!here>\r\nX-Injected: 2\x1b]0;t\x07"))
    assert not any(c in out for c in "\r\x1b\x07\u202e")
    assert not any(line.startswith(("Bcc:", "X-Injected")) for line in out.splitlines())


# --- Slack -------------------------------------------------------------------------------------


def mrkdwn(payload: dict[str, Any]) -> list[str]:
    texts = [payload["text"]]
    for block in payload["blocks"]:
        if block["type"] == "section":
            texts.append(block["text"]["text"])
        elif block["type"] == "context":
            texts.extend(e["text"] for e in block["elements"])
    return texts


def test_slack_update_shows_story_articles_and_change() -> None:
    payload = render_slack(story_alert())
    header = payload["blocks"][0]["text"]["text"]
    assert header == f"UPDATE · HIGH: {STORY_TITLE}"
    assert payload["text"].startswith(f"UPDATE · HIGH: {STORY_TITLE} — {CHANGES}")
    story = payload["blocks"][1]["text"]["text"]
    assert "*Update to story #7* · first seen 2024-01-20 10:00 UTC" in story
    assert f"*What changed:* {CHANGES}" in story
    assert "*Reported by:* Wire Service, Shafaq News, Al-Fassel" in story
    assert payload["blocks"][2]["text"]["text"].startswith("*Latest report:* *<https://alfassel")
    listing = payload["blocks"][3]["text"]["text"]
    assert listing.startswith("*Articles in this story (3)*")
    assert "• <https://shafaq.example/2|Rockets hit base in Anbar> — Shafaq News · " \
           "2024-01-20 11:00 UTC" in listing
    assert "<https://alfassel.example/3?a=1&amp;b=2|Attack on Ain al-Asad>" in listing


def test_slack_escalation_is_marked() -> None:
    payload = render_slack(story_alert("escalation", severity="critical",
                                       changes="severity high → critical"))
    assert payload["blocks"][0]["text"]["text"] == f"ESCALATION · CRITICAL: {STORY_TITLE}"
    assert payload["text"].startswith("ESCALATION · CRITICAL:")
    story = payload["blocks"][1]["text"]["text"]
    assert story.startswith(":rotating_light: *Escalation of story #7*")
    assert "severity high → critical" in story


def test_slack_hostile_article_titles_and_outlets_stay_harmless() -> None:
    alert = story_alert(articles=(*ARTICLES, HOSTILE_ARTICLE),
                        changes="1 more outlet: <!here> & <@U1>",
                        story_title="<!channel> & <http://evil|x>")
    payload = render_slack(alert)
    for text in mrkdwn(payload):
        assert "<!" not in text and "<@" not in text and "<http://evil" not in text
        assert "&amp;amp;" not in text and "&amp;lt;" not in text
    listing = payload["blocks"][3]["text"]["text"]
    assert listing.count("<") == 4  # our four links, nothing else
    assert ("<https://evil.example/x?a=1&amp;b=%3C2%3E%7C3|&lt;!channel&gt; &lt;script&gt;"
            "alert(1)&lt;/script&gt; Bcc: evil@x.example &amp; &lt;http://evil¦click&gt;>"
            in listing)
    assert "&lt;!here&gt; Outlet X-Injected: 1" in listing
    assert "\r" not in json.dumps(payload) and "\\u001b" not in json.dumps(payload)
    assert "link_names" not in payload


@pytest.mark.parametrize("size", [1, 400, 3000])
def test_slack_limits_hold_with_200_articles(size: int) -> None:
    alert = story_alert(articles=many_articles(200, size=size), story_title="<" * 400,
                        changes="& " * 5000)
    payload = render_slack(alert)
    assert len(payload["blocks"]) <= 50
    for block in payload["blocks"]:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        elif block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
        else:
            assert all(len(e["text"]) <= 3000 for e in block["elements"])
    listing = payload["blocks"][3]["text"]["text"]
    assert listing.startswith("*Articles in this story (200)*") and " more" in listing
    assert len(payload["text"]) <= 3000
    assert len(json.dumps(payload, ensure_ascii=False)) < 40_000


def test_slack_new_alert_lists_articles_only_when_it_groups_several() -> None:
    single = render_slack(story_alert("new", articles=ARTICLES[:1], changes=""))
    assert [b["type"] for b in single["blocks"]] == [
        "header", "section", "section", "section", "context"]
    assert single["blocks"][0]["text"]["text"].startswith("HIGH: ")
    grouped = render_slack(story_alert("new", changes=""))
    assert grouped["blocks"][2]["text"]["text"].startswith("*Articles in this story (3)*")


# --- e-mail ------------------------------------------------------------------------------------

MAIL = EmailSettings(host="h", port=25, sender="m@ops.example", recipients=("a@ops.example",))
BASE_HEADERS = ["auto-submitted", "content-type", "date", "from", "message-id", "mime-version",
                "subject", "to"]


def reparse(alert: Alert) -> EmailMessage:
    parsed = email.message_from_bytes(build_message(alert, MAIL).as_bytes(),
                                      policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def parts(msg: EmailMessage) -> tuple[str, str]:
    plain, markup = msg.get_body(("plain",)), msg.get_body(("html",))
    assert plain is not None and markup is not None
    return (plain.get_content().replace("\r\n", "\n"),
            markup.get_content().replace("\r\n", "\n"))


def test_email_update_threads_under_the_story_first_alert() -> None:
    first = reparse(story_alert("new", articles=ARTICLES[:1], changes=""))
    assert sorted(k.lower() for k in first.keys()) == BASE_HEADERS
    assert first["Message-ID"] == story_message_id(7, "mail")
    for kind in ("update", "escalation"):
        later = reparse(story_alert(kind))
        assert sorted(k.lower() for k in later.keys()) == sorted(
            [*BASE_HEADERS, "in-reply-to", "references"])
        assert later["In-Reply-To"] == later["References"] == first["Message-ID"]
        assert later["Message-ID"] == message_id(f"nm_{kind}_7_mail") != first["Message-ID"]
    assert reparse(story_alert())["Message-ID"] == reparse(story_alert())["Message-ID"]


def test_email_threads_differ_across_stories_and_targets() -> None:
    parent = reparse(story_alert())["In-Reply-To"]
    assert reparse(story_alert(story_id=8))["In-Reply-To"] != parent
    assert reparse(story_alert(target="other-mail"))["In-Reply-To"] != parent
    assert story_message_id(7, "mail") == story_message_id(7, "mail")
    assert story_message_id(7, "mail\r\nBcc: x").count("\n") == 0


def test_email_subjects_are_prefixed() -> None:
    assert str(reparse(story_alert())["Subject"]) == f"[UPDATE] [HIGH] {STORY_TITLE}"
    escalated = reparse(story_alert("escalation", severity="critical"))
    assert str(escalated["Subject"]) == f"[ESCALATION] [CRITICAL] {STORY_TITLE}"
    new = reparse(story_alert("new", articles=ARTICLES[:1], changes=""))
    assert str(new["Subject"]) == f"[HIGH] {STORY_TITLE}"


def test_email_bodies_show_story_articles_and_change() -> None:
    text, markup = parts(reparse(story_alert()))
    assert text.startswith(f"UPDATE [HIGH] {STORY_TITLE}\n")
    for part in (f"Story:       {STORY_TITLE} (#7)", "First seen:  2024-01-20 10:00 UTC",
                 f"Changed:     {CHANGES}",
                 "Reported by: Wire Service, Shafaq News, Al-Fassel",
                 "Latest report: Attack on Ain al-Asad", "Articles in this story (3):",
                 "  2. Rockets hit base in Anbar", "     Shafaq News · 2024-01-20 11:00 UTC",
                 "     https://shafaq.example/2"):
        assert part in text
    assert '<a href="https://alfassel.example/3?a=1&amp;b=2">Attack on Ain al-Asad</a>' in markup
    assert f"<td>{CHANGES}</td>" in markup and "Shafaq News · 2024-01-20 11:00 UTC" in markup
    _, loud = parts(reparse(story_alert("escalation", severity="critical")))
    assert '<p style="color:#b00000"><b>ESCALATION [CRITICAL]</b>' in loud


def test_email_caps_a_long_article_list() -> None:
    text, markup = parts(reparse(story_alert(articles=many_articles(200))))
    assert "  … and 175 more" in text and "<p>… and 175 more</p>" in markup
    assert markup.count("<li><a href=") == 25


def test_email_hostile_article_text_cannot_inject_headers_or_markup() -> None:
    alert = story_alert(articles=(*ARTICLES, HOSTILE_ARTICLE),
                        story_title="Attack\r\nBcc: evil@x.example\n=?UTF-8?Q?=0A?=Cc: y",
                        changes="<script>x</script>\r\nBcc: z@x.example")
    msg = reparse(alert)
    assert sorted(k.lower() for k in msg.keys()) == sorted(
        [*BASE_HEADERS, "in-reply-to", "references"])
    assert "Bcc" not in msg and "Cc" not in msg and "X-Injected" not in msg
    subj = str(msg["Subject"])
    assert subj.startswith("[UPDATE] [HIGH] Attack Bcc: evil@x.example") and "\n" not in subj
    text, markup = parts(msg)
    assert "<script" not in markup and "<!channel>" not in markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Bcc: evil@x.example" in markup
    assert "&lt;!here&gt; Outlet X-Injected: 1" in markup
    assert 'href="https://evil.example/x?a=1&amp;b=&lt;2&gt;|3"' in markup
    assert "\x1b" not in text and "\u202e" not in text
    assert not any(line.startswith(("Bcc:", "X-Injected")) for line in text.splitlines())


# --- webhook -----------------------------------------------------------------------------------


def test_webhook_payload_carries_event_story_and_changes() -> None:
    payload = json.loads(render_payload(story_alert()))
    assert payload["event"] == "update" and payload["type"] == "alert.update"
    assert payload["changes"] == CHANGES
    assert payload["story"] == {
        "id": 7, "title": STORY_TITLE, "started": "2024-01-20T10:00:00Z",
        "sources": ["Wire Service", "Shafaq News"],
        "articles": [
            {"title": STORY_TITLE, "url": "https://wire.example/1", "outlet": "Wire Service",
             "published": "2024-01-20T10:00:00Z"},
            {"title": "Rockets hit base in Anbar", "url": "https://shafaq.example/2",
             "outlet": "Shafaq News", "published": "2024-01-20T11:00:00Z"},
            {"title": "Attack on Ain al-Asad", "url": "https://alfassel.example/3?a=1&b=2",
             "outlet": "Al-Fassel", "published": "2024-01-20T12:00:00Z"},
        ],
        "articles_total": 3, "articles_truncated": False,
    }
    escalated = json.loads(render_payload(story_alert("escalation", changes="")))
    assert escalated["event"] == "escalation" and escalated["type"] == "alert.escalation"
    assert escalated["changes"] == "severity raised to HIGH"
    hostile = json.loads(render_payload(story_alert(articles=(HOSTILE_ARTICLE,))))
    assert hostile["story"]["articles"][0]["outlet"] == "<!here> Outlet X-Injected: 1"


@pytest.mark.parametrize("snippet", ["short", "x" * 1_000_000])
def test_webhook_stays_under_20_kb_with_500_articles(snippet: str) -> None:
    alert = story_alert(articles=many_articles(500, size=40))
    body = render_payload(Alert(**{**alert.__dict__, "snippet": snippet}))
    assert len(body) <= MAX_PAYLOAD_BYTES
    payload = json.loads(body)
    story = payload["story"]
    assert story["articles_total"] == 500 and story["articles_truncated"] is True
    assert story["articles"][0]["title"].startswith("<!channel> article 0 ")  # first first
    if snippet == "short":  # the articles go first; the snippet is kept whole
        assert payload["article"]["snippet"] == "short" and len(story["articles"]) > 10
        assert payload["article"]["snippet_truncated"] is False
    else:  # a few articles stay; the snippet is cut to fit the rest of the budget
        assert len(story["articles"]) == 10 and payload["article"]["snippet_truncated"]
        assert len(payload["article"]["snippet"]) > 5000
    assert len(body) > MAX_PAYLOAD_BYTES - 500


def test_webhook_cap_holds_with_huge_article_fields() -> None:
    body = render_payload(story_alert(articles=many_articles(500, size=3000)))
    assert len(body) <= MAX_PAYLOAD_BYTES
    assert json.loads(body)["story"]["articles_truncated"] is True


def test_webhook_signature_covers_the_exact_bytes_sent() -> None:
    poster = FakePoster()
    target = WebhookTarget("hook", WebhookSettings("https://r.example/h", (SECRET,)), poster)
    target.send(story_alert(articles=many_articles(500, size=40)))
    (call,) = poster.calls
    body, headers = call["content"], call["headers"]
    assert len(body) <= MAX_PAYLOAD_BYTES and json.loads(body)["event"] == "update"
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == expected
