"""E-mail target against a real aiosmtpd server on 127.0.0.1: headers, parts, TLS policy, errors."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from monitor.deliver import EmailSettings, EmailTarget, build_target
from monitor.deliver.mail import build_message, message_id, story_message_id, subject
from monitor.errors import DeliveryError
from monitor.model import Alert, Match
from monitor.net import GuardedClient, NetConfig

SENDER = "monitor@ops.example"
RECIPIENTS = ("analyst1@ops.example", "analyst2@ops.example")
PASSWORD = "hunter2-very-secret"  # not a real credential
LOOPBACK = ("127.0.0.1",)  # the test servers' address, allowed as [network] allow_private
HOSTILE_TITLE = ("Attack\r\nBcc: evil@x.example\nX-Injected: 1\rZ\u2028Line\u2029Para\u0085Next "
                 "=?UTF-8?Q?=0A?=Bcc: evil2@x.example <script>alert(1)</script>\n")
EXPECTED_HEADERS = ["auto-submitted", "content-type", "date", "from", "message-id",
                    "mime-version", "subject", "to"]


def make_alert(**changes: Any) -> Alert:
    alert = Alert(
        key="alert-9-email", target="mail", story_id=9, severity="high",
        title="Rocket attack on Erbil air base", url="https://news.example/erbil",
        feed="example-feed", site="News Example",
        published=datetime(2024, 3, 2, 18, 0, tzinfo=UTC),
        snippet="Rockets struck near the base hosting US forces.\nNo injuries were reported.",
        matches=(Match("us-forces-attack", "Attack on US forces", "high", ("iraq",),
                       ("Erbil",), ("rocket",)),),
        created_at=datetime(2024, 3, 2, 18, 5, tzinfo=UTC),
    )
    return replace(alert, **changes)


@dataclass
class Recorder:
    """The aiosmtpd handler: records commands and messages; replies can be scripted."""

    commands: list[str] = field(default_factory=list)
    messages: list[Envelope] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data_reply: str = "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        reply = self.rcpt_replies.get(address, "250 OK")
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server: SMTP, session: Session,
                          envelope: Envelope) -> str:
        if self.data_reply.startswith("250"):
            self.messages.append(envelope)
        return self.data_reply


class RecordingSMTP(SMTP):
    async def smtp_EHLO(self, arg: str) -> None:
        self.event_handler.commands.append("EHLO")
        await super().smtp_EHLO(arg)

    async def smtp_AUTH(self, arg: str) -> None:
        self.event_handler.commands.append("AUTH")
        await super().smtp_AUTH(arg)

    async def smtp_MAIL(self, arg: str) -> None:
        self.event_handler.commands.append("MAIL")
        await super().smtp_MAIL(arg)

    async def smtp_DATA(self, arg: str) -> None:
        self.event_handler.commands.append("DATA")
        await super().smtp_DATA(arg)


class RecordingController(Controller):
    def factory(self) -> SMTP:
        return RecordingSMTP(self.handler, **self.SMTP_kwargs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    port: int
    handler: Recorder


@contextmanager
def running_server() -> Iterator[Server]:
    """A recording aiosmtpd server on 127.0.0.1, stopped on exit."""
    handler = Recorder()
    port = free_port()
    controller = RecordingController(handler, hostname="127.0.0.1", port=port,
                                     server_hostname="mx.test")
    controller.start()
    try:
        yield Server(port, handler)
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[Server]:
    with running_server() as server:
        yield server


def settings(port: int, **changes: Any) -> EmailSettings:
    base = EmailSettings(host="127.0.0.1", port=port, sender=SENDER, recipients=RECIPIENTS,
                         security="none", timeout=5.0)
    return replace(base, **changes)


def target(s: EmailSettings, **options: Any) -> EmailTarget:
    """The target, with the test servers' loopback address allowlisted."""
    return EmailTarget("mail", s, allow_private=LOOPBACK, **options)


def received(server: Server) -> EmailMessage:
    (envelope,) = server.handler.messages
    content = envelope.original_content or envelope.content
    assert isinstance(content, bytes)
    message = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_hostile_title_cannot_add_headers(smtp_server: Server) -> None:
    alert = make_alert(title=HOSTILE_TITLE, snippet="<img src=http://evil/x.png> & <b>bold</b>",
                       site="<i>Outlet</i>", url="javascript:alert(1)")
    with GuardedClient(NetConfig(allow_private=LOOPBACK)) as client:
        receipt = build_target("mail", settings(smtp_server.port), client).send(alert)
    assert receipt == {r: "accepted" for r in RECIPIENTS}
    (envelope,) = smtp_server.handler.messages
    assert envelope.mail_from == SENDER and envelope.rcpt_tos == list(RECIPIENTS)
    msg = received(smtp_server)
    assert sorted(k.lower() for k in msg.keys()) == EXPECTED_HEADERS
    assert msg.get_all("Subject") is not None and len(msg.get_all("Subject") or []) == 1
    assert "Bcc" not in msg and "X-Injected" not in msg
    assert msg["From"] == SENDER and msg["To"] == ", ".join(RECIPIENTS)
    assert msg["Message-ID"] == story_message_id(9, "mail")  # a new alert: the story's first
    subj = str(msg["Subject"])
    assert subj.startswith("[HIGH] Attack Bcc: evil@x.example X-Injected: 1 Z Line Para Next")
    assert "\n" not in subj and "\r" not in subj and "\u2028" not in subj and len(subj) <= 200
    assert "UTF-8?Q?=0A" in subj  # shown as text, never decoded into a line break
    assert msg.get_content_type() == "multipart/alternative"
    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert plain is not None and html is not None
    text, markup = plain.get_content(), html.get_content()
    assert "<script>alert(1)</script>" in text  # plain text is plain: shown as written
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup and "<script" not in markup
    assert "&lt;img src=http://evil/x.png&gt;" in markup and "<img" not in markup
    assert "&lt;i&gt;Outlet&lt;/i&gt;" in markup
    assert "javascript:" not in markup and "href" not in markup
    assert "us-forces-attack" in text and "us-forces-attack" in markup


def test_links_and_message_id_are_stable(smtp_server: Server) -> None:
    mail = target(settings(smtp_server.port))
    mail.send(make_alert())
    first = received(smtp_server)
    smtp_server.handler.messages.clear()
    mail.send(make_alert())
    second = received(smtp_server)
    assert first["Message-ID"] == second["Message-ID"]
    html = first.get_body(("html",))
    assert html is not None and '<a href="https://news.example/erbil">' in html.get_content()


def test_starttls_required_but_not_offered_is_permanent_and_sends_nothing(
        smtp_server: Server) -> None:
    mail = target(settings(smtp_server.port, security="starttls", username="monitor",
                           password=PASSWORD))
    with pytest.raises(DeliveryError) as info:
        mail.send(make_alert())
    assert info.value.transient is False
    assert "does not offer STARTTLS" in str(info.value)
    assert PASSWORD not in str(info.value)
    assert smtp_server.handler.commands == ["EHLO"]  # no AUTH, no MAIL, no DATA
    assert smtp_server.handler.messages == []


def test_implicit_tls_against_a_plain_server_fails_without_sending(smtp_server: Server) -> None:
    mail = target(settings(smtp_server.port, security="tls", username="monitor",
                           password=PASSWORD))
    with pytest.raises(DeliveryError) as info:
        mail.send(make_alert())
    assert PASSWORD not in str(info.value)
    assert "AUTH" not in smtp_server.handler.commands and smtp_server.handler.messages == []


def test_credentials_with_security_none_are_refused_before_connecting() -> None:
    closed = free_port()
    mail = target(settings(closed, username="monitor", password=PASSWORD))
    with pytest.raises(DeliveryError) as info:
        mail.send(make_alert())
    assert info.value.transient is False and PASSWORD not in str(info.value)


def test_connection_refused_is_transient() -> None:
    mail = target(settings(free_port()))
    with pytest.raises(DeliveryError) as info:
        mail.send(make_alert())
    assert info.value.transient is True


@pytest.mark.parametrize(("replies", "transient"), [
    ({a: "550 5.1.1 no such user" for a in RECIPIENTS}, False),
    ({RECIPIENTS[0]: "450 4.2.1 try later", RECIPIENTS[1]: "550 5.1.1 no such user"}, True),
])
def test_all_recipients_refused(smtp_server: Server, replies: dict[str, str],
                                transient: bool) -> None:
    smtp_server.handler.rcpt_replies = replies
    with pytest.raises(DeliveryError) as info:
        target(settings(smtp_server.port)).send(make_alert())
    assert info.value.transient is transient
    assert "refused" in str(info.value)
    assert smtp_server.handler.messages == []
    assert info.value.recipients == {
        a: f"{'refused' if r.startswith('5') else 'deferred'}: {r}" for a, r in replies.items()}


def test_partial_refusal_5xx_succeeds_and_4xx_retries(smtp_server: Server) -> None:
    smtp_server.handler.rcpt_replies = {RECIPIENTS[1]: "550 5.1.1 no such user"}
    receipt = target(settings(smtp_server.port)).send(make_alert())
    assert receipt == {RECIPIENTS[0]: "accepted",
                       RECIPIENTS[1]: "refused: 550 5.1.1 no such user"}
    (envelope,) = smtp_server.handler.messages
    assert envelope.rcpt_tos == [RECIPIENTS[0]]
    smtp_server.handler.rcpt_replies = {RECIPIENTS[1]: "452 4.2.2 mailbox full"}
    with pytest.raises(DeliveryError) as info:
        target(settings(smtp_server.port)).send(make_alert())
    assert info.value.transient is True and RECIPIENTS[1] in str(info.value)
    assert info.value.recipients == {RECIPIENTS[0]: "accepted",
                                     RECIPIENTS[1]: "deferred: 452 4.2.2 mailbox full"}


@pytest.mark.parametrize(("reply", "transient"), [("451 4.3.0 local error", True),
                                                  ("554 5.6.0 rejected as spam", False)])
def test_data_replies(smtp_server: Server, reply: str, transient: bool) -> None:
    smtp_server.handler.data_reply = reply
    with pytest.raises(DeliveryError) as info:
        target(settings(smtp_server.port)).send(make_alert())
    assert info.value.transient is transient
    word = "deferred" if transient else "refused"  # every recipient takes the DATA reply
    assert info.value.recipients == {a: f"{word}: {reply}" for a in RECIPIENTS}


def test_subject_rules() -> None:
    assert subject(make_alert(title="x" * 1000)).endswith("…")
    assert len(subject(make_alert(title="x" * 1000))) <= 200
    assert subject(make_alert(title="a\x00b\tc\x7fd")) == "[HIGH] a b c d"
    assert "=?" not in subject(make_alert(title="=?utf-8?b?Cg==?="))
    assert subject(make_alert(kind="update", title="t")) == "[UPDATE] [HIGH] t"
    assert subject(make_alert(kind="update", title="t", story_title="s")) == "[UPDATE] [HIGH] s"
    assert subject(make_alert(kind="operator", title="t")) == "[HIGH OPERATOR] t"


def test_message_id_is_sanitised_and_stable() -> None:
    assert message_id("alert-1") == "<alert-1@news-monitor>"
    odd = message_id("a>b\r\n<c@d")
    assert odd == message_id("a>b\r\n<c@d")
    assert odd.startswith("<a-b---c-d-") and odd.count("@") == 1 and "\n" not in odd


def test_addresses_with_line_breaks_are_refused() -> None:
    bad = EmailSettings(host="h", port=25, sender="a@b.example\r\nBcc: x@y.example",
                        recipients=("c@d.example",))
    with pytest.raises(DeliveryError) as info:
        build_message(make_alert(), bad)
    assert info.value.transient is False


@pytest.mark.parametrize("title", [HOSTILE_TITLE, "\u0645\u0631\u062d\u0628\u0627 " * 80,
                                   "👨‍👩‍👧 " * 100, "=?UTF-8?B?DQpCY2M6IHhAeQ==?=" * 10,
                                   "a" * 150, "http://x.example/" + "c" * 150 + " tail",
                                   "Bcc: x@y " * 10])
def test_round_trip_header_set_for_many_titles(title: str) -> None:
    msg = build_message(make_alert(title=title), settings(25))
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert sorted(k.lower() for k in parsed.keys()) == EXPECTED_HEADERS
    assert str(parsed["Subject"]) == subject(make_alert(title=title))
    head = msg.as_bytes().split(b"\r\n\r\n")[0]
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
