"""The e-mail target: one multipart/alternative message per alert, over SMTP, with an outcome
per recipient.

Named ``mail`` so it does not shadow the standard library's ``email`` package.

Where it connects: the relay's host is resolved here and every address it resolves to is
classified by ``monitor.net.address_allowed``, as in the guarded HTTP client: a non-public one
is refused (permanent error naming the host) unless ``[network] allow_private`` lists it. The
connection goes to one of those very addresses; TLS still verifies against the host name.

Transport security (``EmailSettings.security``):

- ``starttls`` (default): EHLO; the server must offer STARTTLS, else a permanent error and
  nothing else is sent (no AUTH, no MAIL); the certificate is verified with
  ``ssl.create_default_context()`` (with ``ca_file``: ``cafile=ca_file``, that PEM bundle
  instead of the system store); EHLO again; then AUTH when a username is configured.
- ``tls``: implicit TLS with the same context.
- ``none``: plain SMTP, refused (permanently) when credentials are configured.

Every network wait has ``EmailSettings.timeout``: the DNS lookup, the connection, the TLS
handshake, each command and each reply, the one after DATA included; and the whole send has
``total_timeout`` (``mail_session``: a relay trickling its replies is cut there, the outcome
transient, and "unknown" once DATA was sent).

The message (Subject, bodies, headers, the Message-ID that threads a story and stays the same
across retries) comes from ``mail_render.build_message``.

Recipients (case 61): the envelope holds the configured recipients not in
``Alert.delivered_to`` (those the store recorded as having accepted it); the To header names
them all. Each outcome comes from the reply to the recipient's RCPT and, if accepted, to DATA:

- all accepted, or some refused with 5xx (permanent for them) → returns the receipt,
  recipient → ``"accepted"`` / ``"refused: 550 5.1.1 …"``;
- some deferred with 4xx → transient ``DeliveryError`` whose ``recipients`` hold every outcome,
  the accepted ones included (so they are recorded, and not sent it again), and
  ``recipients_only`` (so the relay does not pause the target: a full mailbox delays only the
  alerts to it), also when every recipient was refused at RCPT, unless with 421;
- all refused → permanent if all with 5xx, else transient; DATA refused → 4xx transient, 5xx
  permanent, each recipient taking that reply;
- nothing left to send (all in ``delivered_to``) → ``{}`` at once, without connecting.

Outcome unknown (case 62): when the connection drops or times out once DATA was sent but before
the server's reply, the message may or may not have been taken. That is transient, every
recipient ``"deferred: outcome unknown …"``, and the retry sends the same message with the same
Message-ID: at-least-once, a possible duplicate rather than a silent loss.

Other outcomes: authentication failure, missing STARTTLS, bad certificate, an unreadable
``ca_file``, a refused address → permanent; disconnects, timeouts, refused connections, DNS
failures → transient; other replies: 4xx transient, 5xx permanent. The password never appears in
a message, a log line or an outcome.
"""

from __future__ import annotations

import ipaddress
import logging
import smtplib
import ssl
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from email.message import EmailMessage

from monitor.deliver.base import clean_line, truncate
from monitor.deliver.mail_render import (
    build_message,
    html_body,
    message_id,
    plain_body,
    story_message_id,
    subject,
    thread_ids,
)
from monitor.deliver.mail_session import Session, Trace, close
from monitor.deliver.settings import EmailSettings
from monitor.errors import DeliveryError
from monitor.model import Alert
from monitor.net import Resolver, address_allowed, default_resolver, parse_allowlist

__all__ = ["EmailTarget", "build_message", "html_body", "message_id", "plain_body",
           "story_message_id", "subject", "thread_ids"]

log = logging.getLogger("monitor.deliver")

_ACCEPTED = (250, 251)


def _outcome(code: int, detail: str) -> str:
    """An outcome line from an SMTP reply: accepted, refused (5xx) or deferred (anything else,
    so it is tried again)."""
    if code in _ACCEPTED:
        return "accepted"
    return f"{'refused' if 500 <= code < 600 else 'deferred'}: {code} {detail}".rstrip()


def _code_error(where: str, code: int, what: str,
                recipients: Mapping[str, str] | None = None) -> DeliveryError:
    return DeliveryError(f"{where}: {what} (SMTP {code})", transient=not 500 <= code < 600,
                         recipients=recipients)


def _refusals(where: str, refused: Mapping[str, tuple[int, bytes]],
              recipients: Mapping[str, str]) -> DeliveryError:
    """The error for recipients refused at RCPT. Each got its own answer, so it is theirs, not
    the server's (``recipients_only``: a full mailbox does not hold the alerts of the others),
    unless one was 421, the server closing the session."""
    codes = ", ".join(f"{addr} {code}" for addr, (code, _) in sorted(refused.items()))
    temporary = any(not 500 <= code < 600 for code, _ in refused.values())
    return DeliveryError(f"{where}: recipients refused: {codes}", transient=temporary,
                         recipients=recipients,
                         recipients_only=all(code != 421 for code, _ in refused.values()))


class EmailTarget:
    """Sends each alert as one e-mail to every configured recipient that does not have it yet.

    ``allow_private``: the ``[network] allow_private`` entries (the relay may be on one of
    them); ``resolver(host, port)`` returns IP strings (default: ``getaddrinfo``)."""

    def __init__(self, name: str, settings: EmailSettings, *,
                 allow_private: Iterable[str] = (), resolver: Resolver | None = None) -> None:
        self.name = name
        self._settings = settings
        self._allow = parse_allowlist(allow_private)
        self._resolver = resolver or default_resolver

    def __repr__(self) -> str:
        return f"EmailTarget(name={self.name!r}, host={self._settings.host!r})"

    def _scrub(self, text: str) -> str:
        password = self._settings.password
        return text.replace(password, "<redacted>") if password else text

    def _detail(self, raw: bytes | str) -> str:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return truncate(clean_line(self._scrub(text)), 200)

    def _outcomes(self, trace: Trace, after: str | None) -> dict[str, str]:
        """Recipient → outcome line for each one tried; those accepted at RCPT take ``after``
        (what became of the message), or "accepted" when it is None."""
        return {address: (after or "accepted") if code in _ACCEPTED
                else _outcome(code, self._detail(raw))
                for address, (code, raw) in trace.rcpt.items()}

    def send(self, alert: Alert) -> dict[str, str]:
        s = self._settings
        where = f"email target {self.name!r}"
        pending = [r for r in s.recipients if r not in alert.delivered_to]
        if not pending:
            return {}
        if s.security == "none" and (s.username or s.password):
            raise DeliveryError(f"{where}: credentials are configured with security 'none'; "
                                "use 'starttls' or 'tls'", transient=False)
        msg = build_message(alert, s)
        context = self._context(where)
        trace = Trace()
        deadline = time.monotonic() + s.total_timeout  # the lookup's timeout is within it
        try:
            self._deliver(msg, pending, self._addresses(where), context, trace, deadline)
        except DeliveryError:
            raise
        except (smtplib.SMTPException, OSError) as e:
            raise self._failure(where, e, trace) from e
        outcomes = self._outcomes(trace, None)
        refused = {a: r for a, r in trace.rcpt.items() if r[0] not in _ACCEPTED}
        if refused:
            partial = _refusals(where, refused, outcomes)
            log.warning("target=%s alert=%s partial_refusal=%r", self.name, alert.key,
                        str(partial))
            if partial.transient:
                raise partial
        return outcomes

    def _failure(self, where: str, e: smtplib.SMTPException | OSError,
                 trace: Trace) -> DeliveryError:
        """The DeliveryError for what went wrong in the session, with every recipient's
        outcome so far."""
        if trace.expired:  # whatever the cut made the wait in progress raise
            failure = f"total deadline of {self._settings.total_timeout:g}s exceeded"
        elif isinstance(e, smtplib.SMTPAuthenticationError):
            return _code_error(where, e.smtp_code, "authentication failed")
        elif isinstance(e, smtplib.SMTPNotSupportedError):
            return DeliveryError(f"{where}: {self._scrub(str(e))}", transient=False)
        elif isinstance(e, smtplib.SMTPRecipientsRefused):  # all of them, or a 421 among them
            return _refusals(where, e.recipients, self._outcomes(
                trace, "deferred: not sent: the server refused the session"))
        elif isinstance(e, smtplib.SMTPSenderRefused):
            return _code_error(where, e.smtp_code, "sender refused")
        elif isinstance(e, smtplib.SMTPResponseException):  # DATA refused, greeting, STARTTLS
            reply = self._detail(e.smtp_error)
            after = _outcome(e.smtp_code, reply) if trace.data_sent else None
            outcomes = self._outcomes(trace, after) if after else {}
            return _code_error(where, e.smtp_code, reply, outcomes)
        elif isinstance(e, ssl.SSLCertVerificationError):
            return DeliveryError(f"{where}: TLS certificate not trusted: {e.verify_message}",
                                 transient=False)
        else:  # disconnects, timeouts, refused connections, TLS
            failure = f"{type(e).__name__}: {self._scrub(str(e))}"
        why = "total deadline" if trace.expired else type(e).__name__
        if trace.data_sent:
            return DeliveryError(
                f"{where}: connection lost after DATA, before the server's reply; delivery "
                f"unknown, retried with the same Message-ID: {failure}", transient=True,
                recipients=self._outcomes(trace, "deferred: outcome unknown: connection "
                                                 f"lost after DATA ({why})"))
        return DeliveryError(f"{where}: {failure}", transient=True, recipients=self._outcomes(
            trace, f"deferred: not sent: {why}"))

    def _context(self, where: str) -> ssl.SSLContext | None:
        """The verifying TLS context: ``ca_file`` alone when set, else the system store."""
        s = self._settings
        if s.security == "none":
            return None
        try:
            return ssl.create_default_context(cafile=s.ca_file)
        except OSError as e:  # ssl.SSLError included: not a PEM bundle
            raise DeliveryError(f"{where}: cannot load ca_file {s.ca_file}: {e}",
                                transient=False) from e

    def _addresses(self, where: str) -> list[str]:
        """The relay's addresses, every one of them allowed (else a permanent error)."""
        host = self._settings.host
        try:
            found, says = [str(ipaddress.ip_address(host))], "is a"
        except ValueError:
            found, says = self._lookup(where), "resolves to"
        for address in found:
            if not address_allowed(address, self._allow):
                shown = "" if says == "is a" else f" {address}"
                raise DeliveryError(f"{where}: refused: SMTP host {host} {says} non-public "
                                    f"address{shown} (not in [network] allow_private)",
                                    transient=False)
        return found

    def _lookup(self, where: str) -> list[str]:
        # getaddrinfo cannot be interrupted, so it runs in a daemon thread we stop waiting for.
        s = self._settings
        answer: list[str] = []
        failure: list[BaseException] = []

        def lookup() -> None:
            try:
                answer.extend(self._resolver(s.host, s.port))
            except BaseException as e:
                failure.append(e)

        worker = threading.Thread(target=lookup, name=f"resolve {s.host}", daemon=True)
        worker.start()
        worker.join(s.timeout)
        if worker.is_alive():
            raise DeliveryError(f"{where}: DNS lookup of {s.host} timed out", transient=True)
        if failure and not isinstance(failure[0], OSError | UnicodeError):
            raise failure[0]
        if failure or not answer:  # UnicodeError: a label too long, say; it will not change
            raise DeliveryError(f"{where}: cannot resolve {s.host}: "
                                f"{failure[0] if failure else 'no address'}",
                                transient=not failure or isinstance(failure[0], OSError)
                                ) from (failure[0] if failure else None)
        return answer

    def _open(self, addresses: Sequence[str], context: ssl.SSLContext | None,
              trace: Trace, deadline: float) -> Session:
        s = self._settings
        smtp = Session(s.host, addresses, s.timeout, context if s.security == "tls" else None,
                       trace, deadline)
        try:
            code, reply = smtp.connect(s.host, s.port)
            if code != 220:
                raise smtplib.SMTPConnectError(code, reply)
            if s.security == "starttls":
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    raise DeliveryError(f"email target {self.name!r}: server does not offer "
                                        "STARTTLS; refusing to send credentials in clear",
                                        transient=False)
                smtp.starttls(context=context)
                smtp.ehlo()
        except BaseException:
            close(smtp)
            raise
        return smtp

    def _deliver(self, msg: EmailMessage, pending: Sequence[str], addresses: Sequence[str],
                 context: ssl.SSLContext | None, trace: Trace, deadline: float) -> None:
        s = self._settings
        smtp = self._open(addresses, context, trace, deadline)
        try:
            if s.username:
                smtp.login(s.username, s.password or "")
            smtp.send_message(msg, from_addr=s.sender, to_addrs=list(pending))
        finally:
            close(smtp)

