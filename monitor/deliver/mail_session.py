"""One SMTP session of the e-mail target: it dials the relay's addresses already checked, wraps
them in TLS, records each recipient's reply, and ends at a total deadline.

The deadline: ``timeout`` bounds each wait, but a relay that trickles its replies a byte at a
time, each under ``timeout``, would hold the send for ever, past the outbox's lease, and then a
second process could send the alert again. So a timer shuts the connection down at the deadline
(``_Session.cut``); the wait in progress ends at once, with an error, and ``Trace.expired`` says
why. The shutdown goes to the socket by its file descriptor, so it also reaches a TLS handshake
in progress (implicit TLS or STARTTLS), and never a descriptor closed and given to another
socket: closing the session and the cut take the same lock.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Trace:
    """What one SMTP session did: each RCPT's reply, whether DATA was sent, and whether the
    total deadline cut it."""

    rcpt: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    data_sent: bool = False
    expired: bool = False


class Session(smtplib.SMTP):
    """``smtplib.SMTP`` that dials the addresses already checked (never looking the host up
    again), wraps the socket in TLS at once when ``tls`` is given (implicit TLS), verifies
    certificates against ``host`` (STARTTLS too: smtplib uses ``_host``), keeps a trace, and is
    shut down at ``deadline`` (``time.monotonic()``)."""

    def __init__(self, host: str, addresses: Sequence[str], timeout: float,
                 tls: ssl.SSLContext | None, trace: Trace, deadline: float) -> None:
        self._addresses = tuple(addresses)
        self._tls = tls
        self.trace = trace
        self._deadline = deadline
        self._lock = threading.Lock()
        self._fd: int | None = None  # the connection's descriptor while it is open
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self.cut)
        self._timer.daemon = True
        self._timer.start()
        super().__init__(timeout=timeout)  # no host: the caller connects, and closes on error
        self._host = host

    def cut(self) -> None:
        """The deadline: shut the connection down (whatever object holds it now)."""
        with self._lock:
            self.trace.expired = True
            if self._fd is None:
                return
            try:
                dup = socket.socket(fileno=socket.dup(self._fd))
            except OSError:
                return
            with dup:
                try:
                    dup.shutdown(socket.SHUT_RDWR)  # acts on the connection, not the descriptor
                except OSError:
                    pass

    def _wait(self, timeout: float) -> float:
        """``timeout`` cut to what is left of the deadline."""
        left = self._deadline - time.monotonic()
        if left <= 0 or self.trace.expired:
            raise TimeoutError("total deadline exceeded")
        return min(timeout, left)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        last: OSError | None = None
        for address in self._addresses:  # like socket.create_connection: the first that answers
            try:
                sock = socket.create_connection((address, port), self._wait(timeout))
                break
            except OSError as e:
                last = e
        else:
            raise last or OSError(f"no address to connect to for {host}")
        with self._lock:
            self._fd = sock.fileno()
        if self.trace.expired:
            self._forget()
            sock.close()
            raise TimeoutError("total deadline exceeded")
        if self._tls is None:
            return sock
        try:
            return self._tls.wrap_socket(sock, server_hostname=self._host)
        except BaseException:
            self._forget()
            sock.close()
            raise

    def _forget(self) -> None:
        with self._lock:
            self._fd = None

    def close(self) -> None:
        self._timer.cancel()
        self._forget()
        super().close()

    def rcpt(self, recip: str, options: Sequence[str] = ()) -> tuple[int, bytes]:
        reply = super().rcpt(recip, options)
        self.trace.rcpt[recip] = reply
        return reply

    def getreply(self) -> tuple[int, bytes]:
        reply = super().getreply()
        if self.trace.expired:
            # the cut ended the reply where it was, and smtplib reads a "250" cut from
            # "250-still queueing" as a whole reply: no reply read past the deadline counts
            raise TimeoutError("total deadline exceeded")
        return reply

    def data(self, msg: bytes | str) -> tuple[int, bytes]:  # type: ignore[override]
        self.trace.data_sent = True
        return super().data(msg)


def close(smtp: smtplib.SMTP) -> None:
    """QUIT politely; a failure here must not turn a delivered message into an error."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
