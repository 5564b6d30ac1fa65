"""STARTTLS with a real certificate (security case 60): an aiosmtpd server on 127.0.0.1 that
requires STARTTLS and offers AUTH only over TLS, its certificate issued by a CA made at test
time with the ``openssl`` command.

``mail.py`` verifies with ``ssl.create_default_context()``, which has no knob for an extra CA;
the test CA is trusted through ``SSL_CERT_FILE`` (read by OpenSSL each time a default context
loads its verify paths), set before the target builds its context.
"""

from __future__ import annotations

import email
import email.policy
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from monitor.deliver import EmailTarget
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
    target = EmailTarget("mail", settings(tls_server.port, security="starttls", username=USER,
                                          password=PASSWORD))
    target.send(make_alert(kind="update", key="alert-9-update-1"))
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
    target = EmailTarget("mail", settings(tls_server.port, security="starttls", username=USER,
                                          password=PASSWORD))
    with pytest.raises(DeliveryError) as caught:
        target.send(make_alert())
    assert caught.value.transient is False
    assert "certificate" in str(caught.value)
    assert PASSWORD not in str(caught.value)
    commands = tls_server.handler.commands
    assert "STARTTLS" in commands
    assert not {"AUTH", "AUTH-in-clear", "MAIL", "DATA"} & set(commands), commands
    assert tls_server.handler.messages == []
