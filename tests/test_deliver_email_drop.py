"""Security case 62: the connection drops (or the server falls silent) after DATA, before its
reply. The outcome is unknown: the attempt is transient, never a success and never dropped, and
the retry sends the same message with the same Message-ID. Every wait has a timeout.

The server is a scripted raw SMTP server on 127.0.0.1 (aiosmtpd always answers DATA), one
script step per connection: ``accept`` answers 250, ``drop`` reads the whole message and closes
the connection, ``hang`` reads it and says nothing more, ``mute`` accepts the connection and
never sends its greeting; ``trickle`` sends its greeting, and ``trickle-data`` its reply to the
message, as endless continuation lines, one byte at a time, and ``cut-at-250`` the first three
bytes of its reply, then nothing (``test_deliver_email_deadline``).
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from monitor.deliver.mail import EmailTarget
from monitor.errors import DeliveryError
from monitor.model import Alert
from tests.test_deliver_email import RECIPIENTS, make_alert, settings, target

UNKNOWN = "deferred: outcome unknown: connection lost after DATA"


class RawSMTP:
    """A minimal SMTP server in a thread, following ``script`` (one step per connection;
    ``accept`` once the script is used up). ``messages``: every DATA received in full."""

    def __init__(self, script: list[str]) -> None:
        self.script = list(script)
        self.messages: list[bytes] = []
        self.rcpts: list[list[str]] = []  # the RCPT addresses of each connection
        self.trickle_ended = False  # the client cut a trickle short
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = int(self._listener.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, name="raw-smtp", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._listener.close()
        assert not self._thread.is_alive()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with conn:
                self._session(conn, self.script.pop(0) if self.script else "accept")

    TRICKLE_EVERY = 0.05  # seconds between two bytes: far under any timeout a test sets
    TRICKLE_FOR = 20.0  # then give up: a client that does not cut it fails, and does not hang

    def _trickle(self, conn: socket.socket, line: bytes) -> None:
        """Send ``line`` over and over, a byte at a time, until the client goes away."""
        give_up = time.monotonic() + self.TRICKLE_FOR
        try:
            while time.monotonic() < give_up:
                for byte in line:
                    if self._stop.wait(self.TRICKLE_EVERY):
                        return
                    conn.sendall(bytes([byte]))
        except OSError:  # the client cut the connection
            self.trickle_ended = True

    def _session(self, conn: socket.socket, step: str) -> None:
        conn.settimeout(5)
        if step == "mute":
            self._stop.wait()
            return
        if step == "trickle":
            self._trickle(conn, b"220-raw.test is warming up\r\n")
            return
        rcpts: list[str] = []
        self.rcpts.append(rcpts)
        with conn.makefile("rb") as lines:
            conn.sendall(b"220 raw.test ESMTP\r\n")
            for line in lines:
                verb = line[:4].upper()
                if verb == b"EHLO":
                    conn.sendall(b"250-raw.test\r\n250 8BITMIME\r\n")
                elif verb == b"RCPT":
                    rcpts.append(line.split(b":", 1)[1].strip().strip(b"<>").decode())
                    conn.sendall(b"250 OK\r\n")
                elif verb == b"DATA":
                    conn.sendall(b"354 go ahead\r\n")
                    body = b"".join(iter(lines.readline, b".\r\n"))
                    self.messages.append(body)
                    if step == "drop":
                        conn.shutdown(socket.SHUT_RDWR)
                        return
                    if step == "hang":
                        self._stop.wait()
                        return
                    if step == "trickle-data":
                        self._trickle(conn, b"250-still queueing\r\n")
                        return
                    if step == "cut-at-250":  # a reply the client's deadline cuts after "250"
                        conn.sendall(b"250")
                        self._stop.wait()
                        return
                    conn.sendall(b"250 2.0.0 queued\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:  # HELO, MAIL, RSET, NOOP
                    conn.sendall(b"250 OK\r\n")


@pytest.fixture
def raw_server(request: pytest.FixtureRequest) -> Iterator[RawSMTP]:
    server = RawSMTP(request.param)
    try:
        yield server
    finally:
        server.close()


def outcome_unknown(mail: EmailTarget, alert: Alert, why: str) -> DeliveryError:
    """Send ``alert``; it must fail once DATA was sent: transient, every recipient's outcome
    unknown for ``why``."""
    with pytest.raises(DeliveryError) as caught:
        mail.send(alert)
    error = caught.value
    assert error.transient is True and "after DATA" in str(error), str(error)
    assert error.recipients == {r: f"{UNKNOWN} ({why})" for r in RECIPIENTS}
    return error


def message_id(raw: bytes) -> str:
    return str(email.message_from_bytes(raw, policy=email.policy.default)["Message-ID"])


@pytest.mark.parametrize("raw_server", [["drop", "accept"]], indirect=True)
def test_drop_after_data_is_transient_and_the_retry_has_the_same_message_id(
        raw_server: RawSMTP) -> None:
    mail = target(settings(raw_server.port))
    alert = make_alert(kind="update", key="alert-9-update-2")
    error = outcome_unknown(mail, alert, "SMTPServerDisconnected")
    assert "delivery unknown" in str(error)
    assert len(raw_server.messages) == 1  # the server did get the whole message

    # nothing was recorded as accepted, so the retry goes to everyone: a possible duplicate
    assert mail.send(replace(alert, delivered_to=())) == {r: "accepted" for r in RECIPIENTS}
    first, second = raw_server.messages
    assert message_id(first) == message_id(second) == "<alert-9-update-2@news-monitor>"
    assert raw_server.rcpts == [list(RECIPIENTS), list(RECIPIENTS)]


@pytest.mark.parametrize("raw_server", [["hang"]], indirect=True)
def test_silence_after_data_times_out_as_transient(raw_server: RawSMTP) -> None:
    mail = target(settings(raw_server.port, timeout=0.5))
    started = time.monotonic()
    with pytest.raises(DeliveryError) as caught:
        mail.send(make_alert())
    assert time.monotonic() - started < 4
    assert caught.value.transient is True
    assert "after DATA" in str(caught.value) and "timed out" in str(caught.value)
    assert set(caught.value.recipients) == set(RECIPIENTS)
    assert all(o.startswith(UNKNOWN) for o in caught.value.recipients.values())
    assert len(raw_server.messages) == 1


@pytest.mark.parametrize("raw_server", [["mute"]], indirect=True)
def test_a_server_that_never_greets_times_out_as_transient(raw_server: RawSMTP) -> None:
    mail = target(settings(raw_server.port, timeout=0.5))
    started = time.monotonic()
    with pytest.raises(DeliveryError) as caught:
        mail.send(make_alert())
    assert time.monotonic() - started < 4
    assert caught.value.transient is True and "after DATA" not in str(caught.value)
    assert caught.value.recipients == {}  # no recipient was even tried
    assert raw_server.messages == []


def test_a_dns_lookup_that_hangs_times_out_as_transient() -> None:
    release = threading.Event()

    def stuck(host: str, port: int) -> list[str]:
        release.wait(10)
        return ["127.0.0.1"]

    mail = target(settings(25, host="relay.example", timeout=0.3), resolver=stuck)
    started = time.monotonic()
    try:
        with pytest.raises(DeliveryError) as caught:
            mail.send(make_alert())
    finally:
        release.set()
    assert time.monotonic() - started < 3
    assert caught.value.transient is True and "DNS lookup of relay.example" in str(caught.value)
