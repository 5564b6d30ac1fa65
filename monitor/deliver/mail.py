"""The e-mail target: one multipart/alternative message per alert, over SMTP.

Named ``mail`` so it does not shadow the standard library's ``email`` package.

Transport security (``EmailSettings.security``):

- ``starttls`` (default): EHLO; the server must offer STARTTLS, else a permanent error and
  nothing else is sent (no AUTH, no MAIL); the certificate is verified with
  ``ssl.create_default_context()``; EHLO again; then AUTH when a username is configured.
- ``tls``: implicit TLS (SMTP_SSL) with the default context.
- ``none``: plain SMTP, refused (permanently) when credentials are configured.

Every socket operation has ``EmailSettings.timeout``.

The Subject and the bodies come from ``mail_render`` (``[UPDATE]`` / ``[ESCALATION]`` prefixes,
the story and its articles for a follow-up).

Headers: the feed title reaches the Subject only after every control character and line
separator (CR, LF, U+0085, U+2028, U+2029 …) became a space and every ``=?`` was broken with a
word joiner (so a title cannot smuggle an RFC 2047 encoded newline); we encode and fold the
Subject ourselves. Before sending, the message is generated and parsed back, and it is refused
unless the header set is exactly the one built and the Subject and the ids read back unchanged.
(This Python, 3.11.7, predates the CVE-2024-6923 fix, so none of this relies on the library
refusing line breaks.)

Threading: the ids are stable across retries, and no feed text reaches them.

- ``new`` (a story's first alert): ``Message-ID`` is
  ``<story-{story_id}-{first 12 hex of sha256(target name)}@news-monitor>``, derived from the
  story and the target alone.
- ``update`` / ``escalation``: ``Message-ID`` is ``<key@news-monitor>`` (``Alert.key``), and
  ``In-Reply-To`` and ``References`` are the story's first id above, so mail readers thread
  them under the first alert.
- ``operator``: ``<key@news-monitor>``, no thread.

Outcomes: accepted → delivered (recipients refused with 5xx are logged); some recipient
refused with 4xx → transient (the whole message is retried; per-recipient tracking is left for
later); all refused → permanent if all 5xx, else transient; authentication failure, missing
STARTTLS, bad certificate → permanent; disconnects, timeouts, refused connections → transient;
other replies: 4xx transient, 5xx permanent. The password never appears in a message.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import logging
import re
import smtplib
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime

from monitor.deliver import story
from monitor.deliver.base import clean_line, truncate
from monitor.deliver.mail_render import html_body, plain_body, subject
from monitor.deliver.settings import EmailSettings
from monitor.errors import DeliveryError
from monitor.model import Alert

log = logging.getLogger("monitor.deliver")

_HEADER_NAMES = ("Subject", "From", "To", "Date", "Message-ID", "Auto-Submitted",
                 "MIME-Version", "Content-Type")
_THREAD_HEADERS = ("In-Reply-To", "References")
_UNSAFE_ADDRESS = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029,;<>\"()\\]")


# --- the message -------------------------------------------------------------------------------


def message_id(key: str) -> str:
    """``<key@news-monitor>``, the key reduced to safe characters (plus a digest if it changed)."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "-", key)[:100]
    if safe != key:
        safe += "-" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:12]
    return f"<{safe}@news-monitor>"


def story_message_id(story_id: int, target: str) -> str:
    """The Message-ID of a story's first alert to a target: from the story and the target
    name alone, so a later alert of the story can refer to it."""
    digest = hashlib.sha256(target.encode("utf-8", "replace")).hexdigest()[:12]
    return f"<story-{int(story_id)}-{digest}@news-monitor>"


def thread_ids(alert: Alert) -> tuple[str, str | None]:
    """``(Message-ID, parent)``: a new alert is the story's first message; an update or an
    escalation has its own id (from its key) and replies to the first; an operator notice
    stands alone."""
    if alert.kind == "new":
        return story_message_id(alert.story_id, alert.target), None
    if story.is_followup(alert):
        return message_id(alert.key), story_message_id(alert.story_id, alert.target)
    return message_id(alert.key), None


def build_message(alert: Alert, settings: EmailSettings, *,
                  now: datetime | None = None) -> EmailMessage:
    """The message, checked by a generate-and-parse round trip (permanent error if it fails)."""
    for address in (settings.sender, *settings.recipients):
        if not address or _UNSAFE_ADDRESS.search(address):
            raise DeliveryError("email: a configured address holds characters that are not "
                                "allowed in a plain address", transient=False)
    msg = EmailMessage(policy=email.policy.SMTP)
    title = subject(alert)
    msg.set_raw("Subject", _encoded_subject(title))
    msg["From"] = settings.sender
    msg["To"] = ", ".join(settings.recipients)
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    own, parent = thread_ids(alert)
    msg["Message-ID"] = own
    if parent is not None:
        msg["In-Reply-To"] = parent
        msg["References"] = parent
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(plain_body(alert), cte="quoted-printable")
    msg.add_alternative(html_body(alert), subtype="html", cte="quoted-printable")
    _check_round_trip(msg, title, own, parent)
    return msg


def _encoded_subject(title: str) -> str:
    """The Subject value, folded and RFC 2047-encoded by us.

    The modern header folder of Python 3.11 drops the space between two encoded words when it
    folds a long non-ASCII subject (the words run together on the reader's side), so the value
    is encoded with ``email.header.Header`` into lines short enough to be emitted unchanged.
    """
    charset = "us-ascii" if title.isascii() else "utf-8"
    return Header(title, charset, header_name="Subject", maxlinelen=76).encode(linesep="\r\n")


def _check_round_trip(msg: EmailMessage, title: str, own: str, parent: str | None) -> None:
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    names = sorted(k.lower() for k in parsed.keys())
    expected = sorted(k.lower() for k in _HEADER_NAMES + (_THREAD_HEADERS if parent else ()))
    ids_ok = str(parsed["Message-ID"]) == own and all(
        str(parsed[h]) == parent for h in (_THREAD_HEADERS if parent else ()))
    if names != expected or str(parsed["Subject"]) != title or not ids_ok:
        raise DeliveryError("email: refusing to send a message whose headers do not survive "
                            "a generate-and-parse round trip", transient=False)


# --- the transport -----------------------------------------------------------------------------


def _code_error(where: str, code: int, what: str) -> DeliveryError:
    return DeliveryError(f"{where}: {what} (SMTP {code})", transient=not 500 <= code < 600)


def _refusals(where: str, refused: Mapping[str, tuple[int, bytes]]) -> DeliveryError:
    codes = ", ".join(f"{addr} {code}" for addr, (code, _) in sorted(refused.items()))
    temporary = any(400 <= code < 500 for code, _ in refused.values())
    return DeliveryError(f"{where}: recipients refused: {codes}", transient=temporary)


class EmailTarget:
    """Sends each alert as one e-mail to every configured recipient."""

    def __init__(self, name: str, settings: EmailSettings) -> None:
        self.name = name
        self._settings = settings

    def __repr__(self) -> str:
        return f"EmailTarget(name={self.name!r}, host={self._settings.host!r})"

    def _scrub(self, text: str) -> str:
        password = self._settings.password
        return text.replace(password, "<redacted>") if password else text

    def _open(self) -> smtplib.SMTP:
        s = self._settings
        if s.security == "tls":
            return smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout,
                                    context=ssl.create_default_context())
        smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        if s.security != "starttls":
            return smtp
        try:
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                raise DeliveryError(f"email target {self.name!r}: server does not offer "
                                    "STARTTLS; refusing to send credentials in clear",
                                    transient=False)
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        except BaseException:
            _close(smtp)
            raise
        return smtp

    def send(self, alert: Alert) -> None:
        s = self._settings
        where = f"email target {self.name!r}"
        if s.security == "none" and (s.username or s.password):
            raise DeliveryError(f"{where}: credentials are configured with security 'none'; "
                                "use 'starttls' or 'tls'", transient=False)
        msg = build_message(alert, s)
        try:
            refused = self._deliver(msg)
        except DeliveryError:
            raise
        except smtplib.SMTPAuthenticationError as e:
            raise _code_error(where, e.smtp_code, "authentication failed") from e
        except smtplib.SMTPNotSupportedError as e:
            raise DeliveryError(f"{where}: {self._scrub(str(e))}", transient=False) from e
        except smtplib.SMTPRecipientsRefused as e:
            raise _refusals(where, e.recipients) from e
        except smtplib.SMTPSenderRefused as e:
            raise _code_error(where, e.smtp_code, "sender refused") from e
        except smtplib.SMTPResponseException as e:
            raw = e.smtp_error
            reply = self._scrub(raw.decode("utf-8", "replace") if isinstance(raw, bytes)
                                else str(raw))
            raise _code_error(where, e.smtp_code, truncate(clean_line(reply), 200)) from e
        except ssl.SSLCertVerificationError as e:
            raise DeliveryError(f"{where}: TLS certificate not trusted: {e.verify_message}",
                                transient=False) from e
        except (smtplib.SMTPException, OSError) as e:  # disconnects, timeouts, refused, TLS
            raise DeliveryError(f"{where}: {type(e).__name__}: {self._scrub(str(e))}",
                                transient=True) from e
        if refused:
            partial = _refusals(where, refused)
            log.warning("target=%s alert=%s partial_refusal=%r", self.name, alert.key,
                        str(partial))
            if partial.transient:
                raise partial

    def _deliver(self, msg: EmailMessage) -> dict[str, tuple[int, bytes]]:
        s = self._settings
        smtp = self._open()
        try:
            if s.username:
                smtp.login(s.username, s.password or "")
            return smtp.send_message(msg, from_addr=s.sender, to_addrs=list(s.recipients))
        finally:
            _close(smtp)


def _close(smtp: smtplib.SMTP) -> None:
    """QUIT politely; a failure here must not turn a delivered message into an error."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
