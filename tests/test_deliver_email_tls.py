"""TLS with a real certificate (security case 60, and the ``ca_file`` setting): an aiosmtpd
server on 127.0.0.1 that requires STARTTLS and offers AUTH only over TLS (or speaks implicit
TLS), its certificate (for IP 127.0.0.1 and DNS localhost) issued by a CA made at test time with
the ``openssl`` command.

Without ``ca_file``, ``mail.py`` verifies with ``ssl.create_default_context()`` (the system
store); there the test CA is trusted through ``SSL_CERT_FILE`` (read by OpenSSL each time a
default context loads its verify paths), set before the target builds its context. With
``ca_file``, the system store (and so ``SSL_CERT_FILE``) must play no part.
"""

from __future__ import annotations

import email
import email.policy
import ipaddress
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from monitor.deliver.mail import story_message_id
from monitor.errors import DeliveryError
from tests.test_deliver_email import (
    PASSWORD,
    RECIPIENTS,
    Recorder,
    RecordingController,
    RecordingSMTP,
    free_port,
    make_alert,
    settings,
    target,
)

USER = "monitor"


@dataclass
class Pki:
    ca: Path  # the CA that issued the server certificate
    other_ca: Path  # a CA that did not
    cert: Path
    key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _make_ca(d: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
             "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test CA (cryptography is not "
                    "installed)")
    d = tmp_path_factory.mktemp("pki")
    _make_ca(d, "test-ca")
    _make_ca(d, "other-ca")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1", cwd=d)
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                               "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
                               encoding="ascii")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "test-ca.pem", "-CAkey", "test-ca.key",
             "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)
    return Pki(ca=d / "test-ca.pem", other_ca=d / "other-ca.pem", cert=d / "server.pem",
               key=d / "server.key")


class TlsRecordingSMTP(RecordingSMTP):
    async def smtp_STARTTLS(self, arg: str) -> None:
        self.event_handler.commands.append("STARTTLS")
        await super().smtp_STARTTLS(arg)

    async def smtp_AUTH(self, arg: str) -> None:
        # what matters: AUTH arrives only once the session is encrypted
        self.event_handler.commands.append("AUTH" if self._tls_protocol else "AUTH-in-clear")
        await SMTP.smtp_AUTH(self, arg)


class TlsController(RecordingController):
    def factory(self) -> SMTP:
        return TlsRecordingSMTP(self.handler, **self.SMTP_kwargs)


def authenticator(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                  auth_data: Any) -> AuthResult:
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode()
          and auth_data.password == PASSWORD.encode())
    return AuthResult(success=ok, handled=False)


@dataclass
class TlsServer:
    port: int
    handler: Recorder


@pytest.fixture
def tls_server(pki: Pki) -> Iterator[TlsServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.cert, pki.key)
    handler = Recorder()
    port = free_port()
    controller = TlsController(handler, hostname="127.0.0.1", port=port,
                               server_hostname="mx.test", tls_context=context,
                               require_starttls=True, authenticator=authenticator,
                               auth_require_tls=True)
    controller.start()
    try:
        yield TlsServer(port, handler)
    finally:
        controller.stop()


def test_starttls_with_a_trusted_certificate_authenticates_and_delivers(
        tls_server: TlsServer, pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))
    mail = target(settings(tls_server.port, security="starttls", username=USER,
                           password=PASSWORD))
    mail.send(make_alert(kind="update", key="alert-9-update-1"))
    commands = tls_server.handler.commands
    assert commands == ["EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "DATA"], commands
    (envelope,) = tls_server.handler.messages
    assert sorted(envelope.rcpt_tos) == sorted(RECIPIENTS)
    assert isinstance(envelope.content, bytes)
    msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
    parent = story_message_id(9, "mail")
    assert msg["In-Reply-To"] == parent and msg["References"] == parent
    assert msg["Message-ID"] != parent
    assert PASSWORD.encode() not in envelope.content


@pytest.mark.parametrize("trusted", ["other-ca", "none"])
def test_starttls_with_an_untrusted_certificate_stops_before_auth(
        tls_server: TlsServer, pki: Pki, monkeypatch: pytest.MonkeyPatch, trusted: str) -> None:
    # "none": an empty trust store; "other-ca": a CA that did not issue the certificate
    if trusted == "none":
        empty = pki.ca.parent / "empty.pem"
        empty.write_text("", encoding="ascii")
        monkeypatch.setenv("SSL_CERT_FILE", str(empty))
    else:
        monkeypatch.setenv("SSL_CERT_FILE", str(pki.other_ca))
    monkeypatch.setenv("SSL_CERT_DIR", str(pki.ca.parent / "no-such-dir"))
    mail = target(settings(tls_server.port, security="starttls", username=USER,
                           password=PASSWORD))
    with pytest.raises(DeliveryError) as caught:
        mail.send(make_alert())
    assert caught.value.transient is False
    assert "certificate" in str(caught.value)
    assert PASSWORD not in str(caught.value)
    commands = tls_server.handler.commands
    assert "STARTTLS" in commands
    assert not {"AUTH", "AUTH-in-clear", "MAIL", "DATA"} & set(commands), commands
    assert tls_server.handler.messages == []


# --- ca_file: a private CA instead of the system store ------------------------------------------


def system_store(monkeypatch: pytest.MonkeyPatch, pki: Pki, bundle: Path | None) -> None:
    """Make the system store ``bundle`` (None: an empty one) and nothing else."""
    if bundle is None:
        bundle = pki.ca.parent / "empty.pem"
        bundle.write_text("", encoding="ascii")
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.setenv("SSL_CERT_DIR", str(pki.ca.parent / "no-such-dir"))


def test_ca_file_is_trusted_without_the_system_store(
        tls_server: TlsServer, pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    system_store(monkeypatch, pki, None)  # the system store trusts nothing
    mail = target(settings(tls_server.port, security="starttls", username=USER,
                           password=PASSWORD, ca_file=str(pki.ca)))
    receipt = mail.send(make_alert())
    assert receipt == {r: "accepted" for r in RECIPIENTS}
    assert tls_server.handler.commands == ["EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "DATA"]
    (envelope,) = tls_server.handler.messages
    assert sorted(envelope.rcpt_tos) == sorted(RECIPIENTS)


def test_ca_file_replaces_the_system_store(
        tls_server: TlsServer, pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    system_store(monkeypatch, pki, pki.ca)  # the system store alone would trust the server
    mail = target(settings(tls_server.port, security="starttls", username=USER,
                           password=PASSWORD, ca_file=str(pki.other_ca)))
    with pytest.raises(DeliveryError) as caught:
        mail.send(make_alert())
    assert caught.value.transient is False and "certificate" in str(caught.value)
    assert PASSWORD not in str(caught.value)
    assert not {"AUTH", "AUTH-in-clear", "MAIL"} & set(tls_server.handler.commands)
    assert tls_server.handler.messages == []


def test_a_missing_ca_file_is_permanent_and_connects_to_nothing(
        tls_server: TlsServer, pki: Pki) -> None:
    missing = pki.ca.parent / "no-such-ca.pem"
    mail = target(settings(tls_server.port, security="starttls", ca_file=str(missing)))
    with pytest.raises(DeliveryError) as caught:
        mail.send(make_alert())
    assert caught.value.transient is False
    assert "ca_file" in str(caught.value) and str(missing) in str(caught.value)
    assert tls_server.handler.commands == []


# --- the host is resolved once, the address pinned, the certificate checked against the host ---


@pytest.fixture
def no_name_lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``socket.getaddrinfo`` refuses host names (IP literals pass): a connection made by name
    would fail. Returns the names that were asked for."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def numeric_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            asked.append(str(host))
            raise socket.gaierror(socket.EAI_NONAME, "name lookups are refused here") from None
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", numeric_only)
    return asked


@pytest.mark.parametrize(("host", "delivered"), [("localhost", True), ("mx.test", False)])
def test_connects_to_the_checked_address_and_verifies_the_host_name(
        tls_server: TlsServer, pki: Pki, no_name_lookups: list[str], host: str,
        delivered: bool) -> None:
    # the certificate names IP 127.0.0.1 and DNS localhost, not mx.test
    looked_up: list[tuple[str, int]] = []

    def resolver(name: str, port: int) -> list[str]:
        looked_up.append((name, port))
        return ["127.0.0.1"]

    mail = target(settings(tls_server.port, host=host, security="starttls", username=USER,
                           password=PASSWORD, ca_file=str(pki.ca)), resolver=resolver)
    if delivered:
        assert mail.send(make_alert()) == {r: "accepted" for r in RECIPIENTS}
        assert len(tls_server.handler.messages) == 1
    else:
        with pytest.raises(DeliveryError) as caught:
            mail.send(make_alert())
        assert caught.value.transient is False and "mismatch" in str(caught.value)
        assert "AUTH" not in tls_server.handler.commands and tls_server.handler.messages == []
        assert "STARTTLS" in tls_server.handler.commands  # the pinned address was reached
    assert looked_up == [(host, tls_server.port)]  # one lookup, through the guard's resolver
    assert no_name_lookups == []  # and the connection never looked the name up again


@pytest.fixture
def smtps_server(pki: Pki) -> Iterator[TlsServer]:
    """Implicit TLS (SMTPS) on 127.0.0.1."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.cert, pki.key)
    handler = Recorder()
    port = free_port()
    controller = RecordingController(handler, hostname="127.0.0.1", port=port,
                                     server_hostname="mx.test", ssl_context=context)
    controller.start()
    try:
        yield TlsServer(port, handler)
    finally:
        controller.stop()


@pytest.mark.parametrize("trusted", ["test-ca", "other-ca"])
def test_implicit_tls_pins_the_address_and_verifies_with_ca_file(
        smtps_server: TlsServer, pki: Pki, trusted: str) -> None:
    ca = pki.ca if trusted == "test-ca" else pki.other_ca
    mail = target(settings(smtps_server.port, host="localhost", security="tls",
                           ca_file=str(ca)), resolver=lambda host, port: ["127.0.0.1"])
    if trusted == "test-ca":
        assert mail.send(make_alert()) == {r: "accepted" for r in RECIPIENTS}
        assert len(smtps_server.handler.messages) == 1
        return
    with pytest.raises(DeliveryError) as caught:
        mail.send(make_alert())
    assert caught.value.transient is False and "certificate" in str(caught.value)
    assert smtps_server.handler.commands == [] and smtps_server.handler.messages == []
