"""The e-mail target's total deadline (``total_timeout``): a relay that keeps answering, one byte
at a time under the per-wait ``timeout``, is cut at the deadline, so a send always ends inside
the outbox's lease and is never sent twice by a second process meanwhile.

Servers: the scripted raw SMTP server of ``test_deliver_email_drop`` (plain), and the aiosmtpd
server with STARTTLS and a real certificate of ``test_deliver_email_tls``, its replies delayed,
each under ``timeout``, so that the cut reaches a TLS connection.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from monitor.config import load_config
from monitor.deliver.outbox import LEASE
from monitor.deliver.settings import MAX_SEND_SECONDS
from monitor.errors import ConfigError, DeliveryError
from tests import test_deliver_email_drop, test_deliver_email_tls
from tests.test_deliver_email import PASSWORD, RECIPIENTS, make_alert, settings, target
from tests.test_deliver_email_drop import RawSMTP, outcome_unknown
from tests.test_deliver_email_tls import USER, Pki, TlsServer

# the servers of the two modules, as fixtures here too
raw_server = test_deliver_email_drop.raw_server
pki = test_deliver_email_tls.pki
tls_server = test_deliver_email_tls.tls_server

GENEROUS = 10  # seconds: an upper bound that only a send not cut at all would reach


@pytest.mark.parametrize("raw_server", [["trickle"]], indirect=True)
def test_a_greeting_trickled_under_the_timeout_is_cut_at_the_total_deadline(
        raw_server: RawSMTP) -> None:
    mail = target(settings(raw_server.port, timeout=0.5, total_timeout=1.5))
    started = time.monotonic()
    with pytest.raises(DeliveryError) as caught:
        mail.send(make_alert())
    assert time.monotonic() - started < GENEROUS
    error = caught.value
    assert error.transient is True
    assert "total deadline of 1.5s exceeded" in str(error), str(error)
    assert error.recipients == {}  # no recipient was tried
    assert raw_server.messages == []
    deadline = time.monotonic() + GENEROUS
    while not raw_server.trickle_ended and time.monotonic() < deadline:
        time.sleep(0.05)
    assert raw_server.trickle_ended  # the connection was cut, not left open


@pytest.mark.parametrize("raw_server", [["trickle-data", "accept"]], indirect=True)
def test_a_reply_to_data_trickled_under_the_timeout_is_cut_and_the_outcome_unknown(
        raw_server: RawSMTP) -> None:
    mail = target(settings(raw_server.port, timeout=0.5, total_timeout=1.5))
    alert = make_alert()
    error = outcome_unknown(mail, alert, "total deadline")
    assert "total deadline of 1.5s exceeded" in str(error)
    assert len(raw_server.messages) == 1
    # the retry (a second session, its own deadline) goes through
    assert mail.send(alert) == {r: "accepted" for r in RECIPIENTS}
    assert len(raw_server.messages) == 2


@pytest.mark.parametrize("raw_server", [["cut-at-250"]], indirect=True)
def test_a_reply_to_data_the_deadline_cut_after_its_code_is_not_taken_for_accepted(
        raw_server: RawSMTP) -> None:
    """The cut ends the reply where it was: "250" of "250-still queueing", which smtplib reads as
    a whole reply. It is no acceptance: the outcome is unknown (a one-in-twenty race of the
    trickle above, made certain here by a per-wait timeout longer than the deadline)."""
    mail = target(settings(raw_server.port, timeout=5.0, total_timeout=1.0))
    error = outcome_unknown(mail, make_alert(), "total deadline")
    assert "total deadline of 1s exceeded" in str(error), str(error)
    assert len(raw_server.messages) == 1


def test_the_cut_reaches_a_session_inside_starttls(
        tls_server: TlsServer, pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))
    handler = tls_server.handler
    plain_rcpt, plain_data = handler.handle_RCPT, handler.handle_DATA

    async def slow_rcpt(server: SMTP, session: Session, envelope: Envelope, address: str,
                        options: list[str]) -> str:
        await asyncio.sleep(0.4)  # under the timeout (0.8), each
        return await plain_rcpt(server, session, envelope, address, options)

    async def slow_data(server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(0.6)
        return await plain_data(server, session, envelope)

    monkeypatch.setattr(handler, "handle_RCPT", slow_rcpt)
    monkeypatch.setattr(handler, "handle_DATA", slow_data)
    mail = target(settings(tls_server.port, security="starttls", username=USER,
                           password=PASSWORD, timeout=0.8, total_timeout=1.0))
    started = time.monotonic()
    with pytest.raises(DeliveryError) as caught:
        mail.send(make_alert())
    assert time.monotonic() - started < GENEROUS
    assert caught.value.transient is True
    assert "total deadline of 1s exceeded" in str(caught.value), str(caught.value)
    assert PASSWORD not in str(caught.value)
    assert handler.commands[:4] == ["EHLO", "STARTTLS", "EHLO", "AUTH"]  # cut inside TLS


def test_a_send_ends_inside_the_lease() -> None:
    assert timedelta(seconds=MAX_SEND_SECONDS) < LEASE


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "monitor.toml"
    path.write_text(text, encoding="utf-8")
    return path


EMAIL = ('[targets.mail]\ntype = "email"\nhost = "smtp.example.org"\n'
         'from = "monitor@example.org"\nto = ["a@example.org"]\n')


def test_email_total_timeout_is_read_and_bounded(tmp_path: Path) -> None:
    default = load_config(_config(tmp_path, EMAIL), env={}).targets["mail"]
    assert (default.timeout, default.total_timeout) == (30.0, 120.0)  # type: ignore[union-attr]
    read = load_config(_config(tmp_path, EMAIL + "total_timeout = 45\ntimeout = 10\n"), env={})
    assert read.targets["mail"].total_timeout == 45.0  # type: ignore[union-attr]
    short = load_config(_config(tmp_path, EMAIL + "total_timeout = 20\n"), env={})
    assert short.targets["mail"].timeout == 20.0  # type: ignore[union-attr]
    for extra, key, says in [("total_timeout = 600\n", "targets.mail.total_timeout",
                              "at most 240"),
                             ("total_timeout = 20\ntimeout = 30\n", "targets.mail.timeout",
                              "at most total_timeout (20)")]:
        with pytest.raises(ConfigError) as caught:
            load_config(_config(tmp_path, EMAIL + extra), env={})
        assert caught.value.key == key and says in str(caught.value), str(caught.value)


def test_network_total_timeout_must_leave_the_send_inside_the_lease(tmp_path: Path) -> None:
    ok = load_config(_config(tmp_path, "[network]\ntotal_timeout = 200\n"
                                       "connect_timeout = 40\n" + EMAIL), env={})
    assert ok.network.total_timeout + ok.network.connect_timeout == MAX_SEND_SECONDS
    with pytest.raises(ConfigError) as caught:
        load_config(_config(tmp_path, "[network]\ntotal_timeout = 235\n" + EMAIL), env={})
    assert caught.value.key == "network.total_timeout"
    assert "lease" in str(caught.value) and "monitor.toml" in str(caught.value)
