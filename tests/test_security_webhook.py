"""Generic webhook, security cases 55 and 57 (tests/SECURITY_CASES.md): a receiver that accepts
and never answers (timeout, a retry with the same ``webhook-id``, never two attempts of one id in
flight at once), and a webhook host name that resolves to a private address."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from monitor.config import DeliveryConfig, load_config
from monitor.deliver import SlackSettings, SlackTarget, WebhookSettings, WebhookTarget
from monitor.deliver.outbox import LEASE, deliver
from monitor.errors import DeliveryError
from monitor.net import GuardedClient, NetConfig
from tests.conftest import Receiver, serve
from tests.test_deliver_outbox import Clock
from tests.test_deliver_pacing import fill
from tests.test_deliver_webhook import make_alert

TIMEOUT = 10.0  # seconds: the bound on every wait of the servers below


@dataclass
class SlowReceiver:
    """Records every request; holds it while ``hold`` is set (until ``release`` or TIMEOUT), then
    answers 200, or drops it unanswered when ``drop`` is set. Tracks requests in flight per
    ``webhook-id``."""

    url: str = ""
    ids: list[str] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    hold: bool = False
    drop: bool = False
    release: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)
    in_flight: dict[str, int] = field(default_factory=dict)
    most_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def slow_receiver() -> Iterator[SlowReceiver]:
    rec = SlowReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            msg_id = self.headers.get("webhook-id", "")
            with rec.lock:
                rec.ids.append(msg_id)
                rec.bodies.append(body)
                rec.in_flight[msg_id] = rec.in_flight.get(msg_id, 0) + 1
                rec.most_in_flight = max(rec.most_in_flight, rec.in_flight[msg_id])
                hold, drop = rec.hold, rec.drop
            rec.arrived.set()
            try:
                if hold:
                    rec.release.wait(TIMEOUT)
                if not drop:
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
            except OSError:
                pass  # the client gave up (its timeout): nothing to answer
            finally:
                with rec.lock:
                    rec.in_flight[msg_id] -= 1
            self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serve(Handler) as base:
        rec.url = f"{base}/hook"
        try:
            yield rec
        finally:
            rec.release.set()


# --- 55: the timeout -----------------------------------------------------------------------------


def test_case_55_the_default_timeout_for_a_silent_receiver_is_15_to_30_seconds(
        tmp_path: Path) -> None:
    """A receiver that accepts and never answers is cut by the read timeout (the inactivity
    timer: nothing arrives), 20 s by default, whether or not the config sets [network]; the
    outbox lease outlives any attempt, so a slow attempt is never claimed a second time."""
    config = tmp_path / "c.toml"
    config.write_text('[targets.hook]\ntype = "webhook"\nurl = "https://siem.example.org/h"\n',
                      encoding="utf-8")
    for network in (NetConfig(), load_config(config, env={}).network):
        assert 15 <= network.read_timeout <= 30
        assert network.connect_timeout <= 30
        assert LEASE.total_seconds() > network.total_timeout + network.connect_timeout


def test_case_55_a_silent_receiver_is_cut_by_the_read_timeout_not_the_total_deadline(
        slow_receiver: SlowReceiver) -> None:
    slow_receiver.hold, slow_receiver.drop = True, True
    config = NetConfig(allow_private=("127.0.0.1",), connect_timeout=2.0, read_timeout=0.3,
                       total_timeout=30.0)
    with GuardedClient(config) as client:
        started = time.monotonic()
        with pytest.raises(DeliveryError) as info:
            WebhookTarget("hook", WebhookSettings(slow_receiver.url), client).send(make_alert())
        waited = time.monotonic() - started
    assert info.value.transient is True
    assert "read timeout" in str(info.value) and "total deadline" not in str(info.value)
    assert waited >= 0.3, "not before the read timeout"  # a lower bound only: no flakiness
    assert slow_receiver.ids == ["alert-42-webhook"]


def test_case_55_a_timed_out_attempt_is_retried_with_the_same_id(
        tmp_path: Path, slow_receiver: SlowReceiver) -> None:
    store = fill(tmp_path, ["hook"], 1)
    clock = Clock()
    policy = DeliveryConfig(max_attempts=5, backoff_base=30, backoff_max=600)
    config = NetConfig(allow_private=("127.0.0.1",), connect_timeout=2.0, read_timeout=0.3,
                       total_timeout=10.0)
    with GuardedClient(config) as client:
        targets = {"hook": WebhookTarget("hook", WebhookSettings(slow_receiver.url), client)}
        slow_receiver.hold, slow_receiver.drop = True, True
        first = deliver(store, targets, policy, clock=clock, rng=random.Random(1))
        assert first.retrying == 1 and "read timeout" in first.errors[0]
        (row,) = store.list_alerts()
        assert row.state == "pending" and row.attempts == 1
        slow_receiver.release.set()
        slow_receiver.hold, slow_receiver.drop = False, False
        assert row.next_attempt_at is not None
        clock.now = row.next_attempt_at + timedelta(seconds=1)
        assert deliver(store, targets, policy, clock=clock, rng=random.Random(1)).sent == 1
    assert slow_receiver.ids == [row.key, row.key], "the retry carries the same webhook-id"
    assert slow_receiver.bodies[0] == slow_receiver.bodies[1]
    assert store.alert_counts() == {"sent": 1}


def test_case_55_never_two_attempts_of_one_id_in_flight(
        tmp_path: Path, slow_receiver: SlowReceiver) -> None:
    """Two relays (the daemon's drain and a `monitor check`, say) run at once on one database:
    the rows one of them leased are not attempted by the other while its request is held."""
    store = fill(tmp_path, ["hook"], 3)
    slow_receiver.hold = True
    results: dict[str, int] = {}
    errors: list[BaseException] = []

    def relay(name: str) -> None:
        try:
            with GuardedClient(NetConfig(allow_private=("127.0.0.1",),
                                         total_timeout=TIMEOUT)) as client:
                target = WebhookTarget("hook", WebhookSettings(slow_receiver.url), client)
                report = deliver(store, {"hook": target}, DeliveryConfig(), clock=Clock(),
                                 rng=random.Random(2))
                results[name] = report.sent
        except BaseException as e:  # reported below
            errors.append(e)
        finally:
            store.close()

    first = threading.Thread(target=relay, args=("first",))
    first.start()
    try:
        assert slow_receiver.arrived.wait(TIMEOUT), "the first relay's request arrived"
        second = threading.Thread(target=relay, args=("second",))
        second.start()
        second.join(TIMEOUT)  # it finds every row leased: returns while the request is held
        assert not second.is_alive()
    finally:
        slow_receiver.release.set()
        first.join(TIMEOUT)
    assert not first.is_alive() and not errors, errors
    assert results == {"first": 3, "second": 0}
    assert slow_receiver.most_in_flight == 1
    assert sorted(slow_receiver.ids) == sorted(set(slow_receiver.ids)) and \
        len(slow_receiver.ids) == 3, "each id attempted once"
    assert store.alert_counts() == {"sent": 3}


# --- 57: a webhook host name that resolves to a private address ---------------------------------


def test_case_57_a_host_name_resolving_to_a_private_address_is_blocked_unless_allowlisted(
        receiver: Receiver) -> None:
    port = receiver.url.split(":")[2].split("/")[0]
    url = f"http://siem.example.org:{port}/hook?token=SECRETTOKEN"
    slack_url = f"http://hooks.example.org:{port}/services/T0/B0/SECRET"
    looked_up: list[str] = []

    def resolver(host: str, port: int) -> list[str]:  # a config typo or a DNS change
        looked_up.append(host)
        return ["127.0.0.1"]

    with GuardedClient(NetConfig(total_timeout=10.0), resolver=resolver) as client:
        for target in (WebhookTarget("hook", WebhookSettings(url), client),
                       SlackTarget("slack", SlackSettings(slack_url), client)):
            with pytest.raises(DeliveryError) as info:
                target.send(make_alert())
            assert info.value.transient is False, "permanent: retrying will not help"
            assert "network guard" in str(info.value) and "127.0.0.1" in str(info.value)
            assert "SECRET" not in str(info.value)
    assert looked_up == ["siem.example.org", "hooks.example.org"]
    assert receiver.requests == [], "no packet reached the private address"

    allowed = NetConfig(total_timeout=10.0, allow_private=("127.0.0.1",))
    with GuardedClient(allowed, resolver=resolver) as client:
        WebhookTarget("hook", WebhookSettings(url), client).send(make_alert())
    assert [r.path for r in receiver.requests] == ["/hook?token=SECRETTOKEN"]
