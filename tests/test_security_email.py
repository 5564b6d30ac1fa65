"""E-mail, security cases 59, 60 and 63 (tests/SECURITY_CASES.md): an odd sender address refused
at config load; a STARTTLS that is refused (454) or answered without TLS aborts before AUTH;
the HTML alert loads nothing from anywhere (no feed-controlled images or other resources)."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.deliver import EmailSettings, EmailTarget
from monitor.deliver.mail import build_message
from monitor.deliver.mail_render import html_body
from monitor.errors import ConfigError, DeliveryError
from monitor.model import Alert, AlertKind, Match, StoryArticle

PASSWORD = "hunter2-very-secret"  # not a real credential
TIMEOUT = 10.0  # seconds: the bound on every wait of the server below

# --- 59: configured addresses ---------------------------------------------------------------------


@pytest.mark.parametrize("sender", ["a@b.example.org\r\nBcc: x@evil.example",
                                    "a@b.example.org\nBcc: x@evil.example",
                                    "Eve <eve@x.example.org>", '"a b"@x.example.org',
                                    "a@b.example.org, c@d.example.org"])
def test_case_59_an_odd_sender_address_is_refused_at_load(tmp_path: Path, sender: str) -> None:
    config = tmp_path / "c.toml"
    quoted = sender.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "\\r") \
        .replace("\n", "\\n")
    config.write_text('[targets.m]\ntype = "email"\nhost = "smtp.example.org"\n'
                      f'from = "{quoted}"\nto = ["b@example.org"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(config, env={})
    assert info.value.key == "targets.m.from"


# --- 60: STARTTLS refused, or answered without TLS ----------------------------------------------


@dataclass
class FakeSmtp:
    """A hand-written SMTP server on 127.0.0.1 that offers STARTTLS and then, to STARTTLS,
    replies ``starttls_reply``; when that reply is 220 it goes on in plain text (a downgrade by
    whoever stripped TLS). It records every command line and says 250 to anything else."""

    starttls_reply: bytes
    port: int = 0
    lines: list[bytes] = field(default_factory=list)


@contextmanager
def fake_smtp(starttls_reply: bytes) -> Iterator[FakeSmtp]:
    server = FakeSmtp(starttls_reply)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(TIMEOUT)
    server.port = int(listener.getsockname()[1])

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(TIMEOUT)
            reader = conn.makefile("rb")
            try:
                conn.sendall(b"220 mx.test ESMTP\r\n")
                for line in reader:
                    server.lines.append(line.rstrip(b"\r\n"))
                    verb = line[:8].upper()
                    if verb.startswith(b"EHLO"):
                        conn.sendall(b"250-mx.test\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n"
                                     b"250 8BITMIME\r\n")
                    elif verb.startswith(b"STARTTLS"):
                        conn.sendall(starttls_reply)
                        if starttls_reply.startswith(b"220"):
                            conn.sendall(b"250 no TLS here, carry on in the clear\r\n")
                    elif verb.startswith(b"QUIT"):
                        conn.sendall(b"221 bye\r\n")
                        return
                    else:
                        conn.sendall(b"250 OK\r\n")
            except OSError:
                return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        listener.close()
        thread.join(timeout=TIMEOUT)


def make_alert(kind: AlertKind = "new", text: str = "Rocket attack") -> Alert:
    return Alert(
        key="sec-mail-1", target="mail", story_id=9, severity="high", title=text,
        url="https://news.example/erbil", feed="feed", site="News Example",
        published=datetime(2024, 3, 2, 18, 0, tzinfo=UTC), snippet=text,
        matches=(Match("us-forces-attack", "Attack on US forces", "high", ("iraq",),
                       ("Erbil",), ("rocket",)),),
        created_at=datetime(2024, 3, 2, 18, 5, tzinfo=UTC), kind=kind)


@pytest.mark.parametrize("reply", [b"454 4.7.0 TLS not available due to temporary reason\r\n",
                                   b"502 5.5.1 command not implemented\r\n",
                                   b"220 2.0.0 ready to start TLS\r\n"],
                         ids=["454", "502", "220-but-no-tls"])
def test_case_60_a_refused_or_stripped_starttls_stops_before_auth(reply: bytes) -> None:
    with fake_smtp(reply) as server:
        settings = EmailSettings(host="127.0.0.1", port=server.port, sender="m@ops.example.org",
                                 recipients=("a@ops.example.org",), security="starttls",
                                 username="monitor", password=PASSWORD, timeout=5.0)
        target = EmailTarget("mail", settings, allow_private=("127.0.0.1",))
        with pytest.raises(DeliveryError) as info:
            target.send(make_alert())
    verbs = [line.split(b" ")[0].upper() for line in server.lines]
    assert verbs[:2] == [b"EHLO", b"STARTTLS"], server.lines
    assert not {b"AUTH", b"MAIL", b"RCPT", b"DATA"} & set(verbs), "nothing sent in the clear"
    assert all(PASSWORD.encode() not in line for line in server.lines)
    assert PASSWORD not in str(info.value)


# --- 63: the HTML part loads nothing ------------------------------------------------------------

HOSTILE = ('<img src="https://tracker.example/p.gif"> <IMG SRC=//tracker.example/x> '
           '<link rel=stylesheet href=https://evil.example/s.css> <style>@import url(https://'
           'evil.example/i.css); body{background:url(https://evil.example/b.png)}</style> '
           '<svg><image href="https://evil.example/s.png"/></svg> <video poster=https://evil.'
           'example/v.png></video> <iframe src=https://evil.example/></iframe> '
           '<object data=https://evil.example/o></object> <embed src=https://evil.example/e> '
           '<table background=https://evil.example/t.png> <meta http-equiv=refresh '
           'content="0;url=https://evil.example/"> <base href=https://evil.example/> '
           '<a href="javascript:alert(1)">x</a> <picture><source srcset=https://evil.example/'
           's.png></picture>')
OUR_TAGS = {"html", "head", "meta", "body", "p", "b", "a", "br", "table", "tr", "th", "td",
            "ol", "ul", "li", "blockquote", "mark"}


class Inventory(HTMLParser):
    """Every tag and attribute of a document."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def hostile_alert(kind: AlertKind) -> Alert:
    article = StoryArticle(HOSTILE, "https://outlet.example/a", HOSTILE, None)
    bad_link = StoryArticle(HOSTILE, "javascript:alert(1)", HOSTILE, None)
    m = Match(HOSTILE, HOSTILE, "high", (HOSTILE,), (HOSTILE,), (HOSTILE,), snippet=HOSTILE,
              marks=((0, 40),))
    return Alert(
        key="sec-mail-63", target="mail", story_id=3, severity="critical", title=HOSTILE,
        url="https://news.example/x?a=<img src=x>", feed=HOSTILE, site=HOSTILE,
        published=None, snippet=HOSTILE, matches=(m,),
        created_at=datetime(2024, 3, 2, 18, 5, tzinfo=UTC), kind=kind, sources=(HOSTILE,),
        story_title=HOSTILE, articles=(article, bad_link), changes=HOSTILE)


@pytest.mark.parametrize("kind", ["new", "update", "escalation", "operator"])
def test_case_63_the_html_alert_loads_nothing_and_has_a_plain_alternative(
        kind: AlertKind) -> None:
    alert = hostile_alert(kind)
    markup = html_body(alert)
    inventory = Inventory()
    inventory.feed(markup)
    inventory.close()
    tags = {tag for tag, _ in inventory.tags}
    assert tags <= OUR_TAGS, tags - OUR_TAGS
    for tag, attrs in inventory.tags:
        for name, value in attrs:
            # only links (followed when the reader clicks) and our own presentation
            assert name in ("href", "align", "style", "charset"), (tag, name, value)
            if name == "href":
                assert tag == "a" and (value or "").startswith(("https://", "http://")), value
            if name == "style":
                assert "url" not in (value or "").lower() and "@import" not in (value or "")
    assert "<img" not in markup.lower() and "<style" not in markup.lower()
    assert "&lt;img src=&quot;https://tracker.example/p.gif&quot;&gt;" in markup  # as text

    settings = EmailSettings(host="h", port=25, sender="m@ops.example.org",
                             recipients=("a@ops.example.org",))
    parsed = email.message_from_bytes(build_message(alert, settings).as_bytes(),
                                      policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in parsed.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    plain = parsed.get_body(("plain",))
    assert plain is not None and "tracker.example" in plain.get_content(), \
        "the plain part carries the same text, as text"
