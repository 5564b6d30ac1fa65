"""Security cases 61 and 62 end to end: the outbox relay, a real store and a real SMTP server on
127.0.0.1. One of three recipients refused with 550 and one deferred with 451: the outcomes are
recorded, the alert is retried later, and the retry does not go to the recipient that accepted;
a recipient that keeps deferring holds only the alerts it has not taken, not the target's
others (a 421 does pause the target); a connection lost after DATA is retried with the same
Message-ID."""

from __future__ import annotations

import email
import email.policy
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from monitor.cli_alerts import send_test
from monitor.config import DeliveryConfig, load_config
from monitor.deliver.outbox import deliver
from monitor.store import Store
from tests.test_deliver_email import (
    PASSWORD,
    Recorder,
    RecordingController,
    free_port,
    make_alert,
    settings,
    target,
)
from tests.test_deliver_email_drop import RawSMTP
from tests.test_store_recipients import NOW, store_with_alert

A, B, C = "a@ops.example", "b@ops.example", "c@ops.example"
POLICY = DeliveryConfig(max_attempts=5, backoff_base=30, backoff_max=600)
LATER = NOW + timedelta(hours=1)  # past any backoff of the first failure


@dataclass
class RcptLog(Recorder):
    """Also logs every RCPT address, accepted or not, per connection."""

    tried: list[str] = field(default_factory=list)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        self.tried.append(address)
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


@pytest.fixture
def log_server() -> Iterator[tuple[int, RcptLog]]:
    handler = RcptLog()
    port = free_port()
    controller = RecordingController(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, handler
    finally:
        controller.stop()


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def outcomes(store: Store, alert_id: int) -> dict[str, tuple[str, str | None]]:
    return {o.recipient: (o.outcome, o.detail) for o in store.recipients(alert_id)}


def state(store: Store, alert_id: int) -> tuple[str, str | None]:
    row = store.get_alert(alert_id)
    assert row is not None
    return row.state, row.last_error


def test_one_refused_one_deferred_accepted_ones_are_not_sent_again(
        tmp_path: Path, log_server: tuple[int, RcptLog]) -> None:
    port, handler = log_server
    handler.rcpt_replies = {B: "550 5.1.1 no such user", C: "451 4.3.0 try later"}
    store, alert_id = store_with_alert(tmp_path)
    mail = target(settings(port, recipients=(A, B, C), password=None))
    clock = Clock()

    report = deliver(store, {"mail": mail}, POLICY, clock=clock, rng=random.Random(1),
                     sleep=None)
    assert (report.sent, report.retrying, report.dead) == (0, 1, 0)
    assert handler.tried == [A, B, C] and [e.rcpt_tos for e in handler.messages] == [[A]]
    assert outcomes(store, alert_id) == {A: ("accepted", None),
                                         B: ("refused", "550 5.1.1 no such user"),
                                         C: ("deferred", "451 4.3.0 try later")}
    assert state(store, alert_id)[0] == "pending"

    handler.tried.clear()
    handler.rcpt_replies = {B: "550 5.1.1 no such user"}  # c's mailbox is back
    clock.now = LATER
    report = deliver(store, {"mail": mail}, POLICY, clock=clock, rng=random.Random(1),
                     sleep=None)
    assert (report.sent, report.retrying, report.dead) == (1, 0, 0)
    assert handler.tried == [B, C], "the recipient that accepted is not sent it again"
    assert [e.rcpt_tos for e in handler.messages] == [[A], [C]]
    assert outcomes(store, alert_id) == {A: ("accepted", None),
                                         B: ("refused", "550 5.1.1 no such user"),
                                         C: ("accepted", None)}
    assert state(store, alert_id) == ("sent", None)


def add_alert(store: Store, key: str, at: datetime) -> int:
    """Another pending alert to "mail", of the story of the first."""
    story_id = store.list_alerts()[0].story_id
    with store.transaction():
        assert store.add_alert(make_alert(key=key, story_id=story_id, created_at=at))
    return next(row.id for row in store.list_alerts() if row.key == key)


def paused_until(store: Store) -> str | None:
    row = store.db.execute("SELECT paused_until FROM target_state WHERE name = 'mail'").fetchone()
    return row[0] if row else None


def test_a_full_mailbox_holds_only_the_alerts_it_has_not_taken(
        tmp_path: Path, log_server: tuple[int, RcptLog]) -> None:
    """c's mailbox is full for hours: every alert still reaches a at once, and each waits for c
    on its own backoff. The target used to be paused by c's 452, holding a's alerts too."""
    port, handler = log_server
    handler.rcpt_replies = {C: "452 4.2.2 mailbox full"}
    store, first = store_with_alert(tmp_path)
    second = add_alert(store, "alert-second", NOW)
    mail = target(settings(port, recipients=(A, C), password=None))
    clock = Clock()
    report = deliver(store, {"mail": mail}, POLICY, clock=clock, rng=random.Random(1),
                     sleep=None)
    assert (report.sent, report.retrying, report.deferred) == (0, 2, 0), report
    assert [e.rcpt_tos for e in handler.messages] == [[A], [A]]
    assert paused_until(store) is None
    for alert_id in (first, second):
        assert outcomes(store, alert_id) == {A: ("accepted", None),
                                             C: ("deferred", "452 4.2.2 mailbox full")}

    clock.now = LATER  # both are due again; c's mailbox is still full; a third alert comes
    third = add_alert(store, "alert-third", LATER)
    handler.tried.clear()
    report = deliver(store, {"mail": mail}, POLICY, clock=clock, rng=random.Random(1),
                     sleep=None)
    assert (report.sent, report.retrying, report.deferred) == (0, 3, 0), report
    assert handler.tried == [C, C, A, C], "the retries go to c alone; the new alert to both"
    assert [e.rcpt_tos for e in handler.messages] == [[A], [A], [A]]
    assert outcomes(store, third)[A] == ("accepted", None)
    assert paused_until(store) is None


def test_a_421_at_rcpt_pauses_the_target(tmp_path: Path,
                                         log_server: tuple[int, RcptLog]) -> None:
    """421 is the server closing the session, not one recipient's answer: the target waits."""
    port, handler = log_server
    handler.rcpt_replies = {A: "421 4.3.2 shutting down"}
    store, first = store_with_alert(tmp_path)
    add_alert(store, "alert-second", NOW)
    mail = target(settings(port, recipients=(A, C), password=None))
    report = deliver(store, {"mail": mail}, POLICY, clock=Clock(), rng=random.Random(1),
                     sleep=None)
    assert (report.sent, report.retrying, report.deferred) == (0, 1, 1), report
    assert handler.tried == [A] and handler.messages == []
    assert paused_until(store) is not None
    assert state(store, first)[0] == "pending"


def test_all_refused_with_5xx_is_dead_with_each_outcome(
        tmp_path: Path, log_server: tuple[int, RcptLog]) -> None:
    port, handler = log_server
    handler.rcpt_replies = {A: "550 5.1.1 no such user", B: "553 5.1.3 bad address"}
    store, alert_id = store_with_alert(tmp_path)
    mail = target(settings(port, recipients=(A, B), username=None, password=None))
    report = deliver(store, {"mail": mail}, POLICY, clock=Clock(), rng=random.Random(1),
                     sleep=None)
    assert report.dead == 1 and handler.messages == []
    assert outcomes(store, alert_id) == {A: ("refused", "550 5.1.1 no such user"),
                                         B: ("refused", "553 5.1.3 bad address")}
    status, error = state(store, alert_id)
    assert status == "dead" and error is not None and "recipients refused" in error
    assert PASSWORD not in error


def test_everyone_accepted_before_a_crash_is_marked_sent_without_connecting(
        tmp_path: Path) -> None:
    # the outcomes were recorded, then the process died before the row was marked sent
    store, alert_id = store_with_alert(tmp_path)
    store.record_recipients(alert_id, {A: "accepted", B: "accepted"}, NOW)
    closed = free_port()  # nothing listens: connecting would fail
    mail = target(settings(closed, recipients=(A, B)))
    report = deliver(store, {"mail": mail}, POLICY, clock=Clock(), rng=random.Random(1),
                     sleep=None)
    assert report.sent == 1 and state(store, alert_id) == ("sent", None)


def test_a_connection_lost_after_data_is_retried_with_the_same_message_id(
        tmp_path: Path) -> None:
    server = RawSMTP(["drop", "accept"])
    try:
        store, alert_id = store_with_alert(tmp_path)
        mail = target(settings(server.port, recipients=(A, B)))
        clock = Clock()
        report = deliver(store, {"mail": mail}, POLICY, clock=clock, rng=random.Random(1),
                         sleep=None)
        assert (report.sent, report.retrying) == (0, 1)
        status, error = state(store, alert_id)
        assert status == "pending" and error is not None and "after DATA" in error
        assert {o for o, _ in outcomes(store, alert_id).values()} == {"deferred"}

        clock.now = LATER
        report = deliver(store, {"mail": mail}, POLICY, clock=clock, rng=random.Random(1),
                         sleep=None)
        assert report.sent == 1 and state(store, alert_id) == ("sent", None)
        ids = [str(email.message_from_bytes(m, policy=email.policy.default)["Message-ID"])
               for m in server.messages]
        assert len(ids) == 2 and ids[0] == ids[1]
        assert server.rcpts == [[A, B], [A, B]]  # nobody was known to have it: both again
        assert outcomes(store, alert_id) == {A: ("accepted", None), B: ("accepted", None)}
    finally:
        server.close()


def test_send_test_reaches_a_loopback_relay_of_the_config_and_names_refusals(
        tmp_path: Path, log_server: tuple[int, RcptLog]) -> None:
    port, handler = log_server
    handler.rcpt_replies = {B: "550 5.1.1 no such user"}
    path = tmp_path / "monitor.toml"
    path.write_text(f"""
[network]
allow_private = ["127.0.0.1"]

[[feeds]]
name = "a"
url = "https://example.org/feed.xml"

[targets.mail]
type = "email"
host = "127.0.0.1"
port = {port}
security = "none"
from = "monitor@ops.example"
to = ["{A}", "{B}"]
""", encoding="utf-8")
    line = send_test(load_config(path, env={}), "mail", NOW)
    assert line == f"send-test: target 'mail': sent; {B} refused: 550 5.1.1 no such user"
    assert [e.rcpt_tos for e in handler.messages] == [[A]]
