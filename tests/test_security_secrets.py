"""Secret hygiene, security case 50 (tests/SECURITY_CASES.md): failures forced on every target
that holds a secret (Slack: the hook path; webhook: a token in the URL and the signing secret;
SMTP: the password), and every place an operator can read about them searched for the secrets:
the DeliveryError (message, repr, chained causes, formatted traceback), every log record at
DEBUG (formatted, with exc_info), the outbox's database (last errors, operator alerts' payloads),
the operator alerts printed by a console target, and `monitor alerts list` (table and JSON).

The failures: DNS error, connection refused, a receiver that accepts and never answers
(timeout), a server error whose body echoes the request path and query (as "Cannot POST /…"
pages do), and a host resolving to a refused address. For SMTP, with TLS (a CA made with the
``openssl`` command): an authentication failure and a refused DATA."""

from __future__ import annotations

import base64
import io
import logging
import random
import shutil
import socket
import sqlite3
import ssl
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from click.testing import CliRunner

from monitor.cli import cli
from monitor.config import DeliveryConfig
from monitor.deliver import (
    ConsoleSettings,
    ConsoleTarget,
    EmailSettings,
    EmailTarget,
    SlackSettings,
    SlackTarget,
    WebhookSettings,
    WebhookTarget,
)
from monitor.deliver.base import body_code, redact
from monitor.deliver.outbox import deliver
from monitor.errors import DeliveryError
from monitor.net import GuardedClient, NetConfig
from tests.conftest import serve
from tests.test_deliver_email import free_port
from tests.test_deliver_email_tls import _make_ca, _openssl
from tests.test_deliver_outbox import Clock
from tests.test_deliver_pacing import fill
from tests.test_deliver_webhook import make_alert

SLACK_PATH = "/services/T0SECRET1/B0SECRET2/SlackHookSecret3"
HOOK_PATH = "/hooks/news-SECRET5"
HOOK_QUERY = "token=HookQueryToken4"
KEY = b"a webhook signing key, 32 bytes"
WHSEC = "whsec_" + base64.b64encode(KEY).decode()
PASSWORD = "SmtpPassw0rd-SECRET6"
SECRETS = (SLACK_PATH, "SlackHookSecret3", "B0SECRET2", HOOK_PATH, "HookQueryToken4",
           "news-SECRET5", WHSEC, WHSEC.removeprefix("whsec_"), KEY.decode(), PASSWORD,
           base64.b64encode(PASSWORD.encode()).decode())
LOOPBACK = ("127.0.0.1",)
TIMEOUT = 10.0  # seconds: the bound on every server wait


def assert_clean(where: str, text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{where} shows a secret ({secret!r}): {text[:300]!r}"


def error_texts(error: BaseException) -> str:
    """The message, repr, chained causes and the formatted traceback of ``error``."""
    texts = ["".join(traceback.format_exception(error))]
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args),
                  str(getattr(current, "url", ""))]
        current = current.__cause__ or current.__context__
    return "\n".join(texts)


# --- servers -------------------------------------------------------------------------------------


@contextmanager
def echo_server() -> Iterator[int]:
    """HTTP 500 whose body quotes the request line's path and query."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = f"Cannot POST {self.path}".encode()
            self.send_response(500)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serve(Handler) as base:
        yield int(base.rsplit(":", 1)[1])


@contextmanager
def refusing_smtp() -> Iterator[int]:
    """An SMTP server that greets every connection with 554 and hangs up."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                try:
                    conn.sendall(b"554 5.3.2 no service here\r\n")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


@contextmanager
def silent_listener() -> Iterator[int]:
    """Accepts TCP connections (the kernel does) and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def ports(mode: str) -> Iterator[tuple[int, int]]:
    """(HTTP port, SMTP port) for a failure mode."""
    if mode == "server-error":
        with echo_server() as http, refusing_smtp() as smtp:
            yield http, smtp
    elif mode == "timeout":
        with silent_listener() as port:
            yield port, port
    else:  # dns, refused, blocked: nothing listens
        port = closed_port()
        yield port, port


def resolver_for(mode: str) -> Callable[[str, int], list[str]]:
    def resolve(host: str, port: int) -> list[str]:
        if mode == "dns":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return ["10.0.0.5" if mode == "blocked" else "127.0.0.1"]
    return resolve


# --- the targets, the outbox, the CLI ------------------------------------------------------------


@dataclass
class Setup:
    slack_url: str
    hook_url: str
    smtp_port: int
    client: GuardedClient
    mail: EmailSettings


def targets(s: Setup, mode: str) -> dict[str, Any]:
    return {
        "slack": SlackTarget("slack", SlackSettings(s.slack_url), s.client),
        "hook": WebhookTarget("hook", WebhookSettings(s.hook_url, (WHSEC,)), s.client),
        "mail": EmailTarget("mail", s.mail, allow_private=LOOPBACK, resolver=resolver_for(mode)),
    }


def write_config(tmp_path: Path, smtp_port: int) -> Path:
    config = tmp_path / "monitor.toml"
    config.write_text(f"""
database = "m.db"
[targets.slack]
type = "slack"
webhook_url_env = "SEC_SLACK_URL"
[targets.hook]
type = "webhook"
url_env = "SEC_HOOK_URL"
secret_env = "SEC_HOOK_SECRET"
[targets.mail]
type = "email"
host = "smtp.mail.test"
port = {smtp_port}
from = "monitor@ops.example.org"
to = ["analyst@ops.example.org"]
username = "monitor"
password_env = "SEC_SMTP_PASSWORD"
""", encoding="utf-8")
    return config


def cli_outputs(config: Path, s: Setup) -> str:
    env = {"SEC_SLACK_URL": s.slack_url, "SEC_HOOK_URL": s.hook_url, "SEC_HOOK_SECRET": WHSEC,
           "SEC_SMTP_PASSWORD": PASSWORD}
    out = []
    for extra in ([], ["--json"], ["--status", "dead"]):
        result = CliRunner().invoke(cli, ["alerts", "list", "-c", str(config), *extra], env=env)
        assert result.exit_code == 0, result.output
        out.append(result.output)
    return "\n".join(out)


def database_dump(path: Path) -> str:
    with closing(sqlite3.connect(path)) as conn:
        return "\n".join(conn.iterdump())


def log_text(caplog: pytest.LogCaptureFixture) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(r) for r in caplog.records)


@pytest.mark.parametrize("mode", ["dns", "refused", "timeout", "server-error", "blocked"])
def test_case_50_no_secret_in_errors_logs_database_or_cli(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: str) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, the HTTP libraries' included
    with ports(mode) as (http_port, smtp_port):
        config = NetConfig(allow_private=LOOPBACK, connect_timeout=1.0, read_timeout=0.3,
                           total_timeout=5.0)
        with GuardedClient(config, resolver=resolver_for(mode)) as client:
            s = Setup(
                slack_url=f"http://hooks.slack.test:{http_port}{SLACK_PATH}",
                hook_url=f"http://siem.hook.test:{http_port}{HOOK_PATH}?{HOOK_QUERY}",
                smtp_port=smtp_port, client=client,
                mail=EmailSettings(host="smtp.mail.test", port=smtp_port,
                                   sender="monitor@ops.example.org",
                                   recipients=("analyst@ops.example.org",),
                                   security="starttls", username="monitor", password=PASSWORD,
                                   timeout=0.5))
            # 1. each target's error, as raised
            for name, target in targets(s, mode).items():
                with pytest.raises(DeliveryError) as info:
                    target.send(make_alert(target=name))
                assert_clean(f"{name} {mode} error", error_texts(info.value))
                assert_clean(f"{name} repr", repr(target))
            # 2. through the outbox: one attempt each, so each dies and the operator is told
            store = fill(tmp_path, ["slack", "hook", "mail"], 1)
            stream = io.StringIO()
            every = {**targets(s, mode),
                     "ops": ConsoleTarget("ops", ConsoleSettings(), stream=stream)}
            report = deliver(store, every, DeliveryConfig(max_attempts=1), clock=Clock(),
                             rng=random.Random(1))
    assert report.dead >= 3 and len(report.errors) >= 3
    assert_clean("report", "\n".join(report.errors))
    assert stream.getvalue().count("could not be delivered") == 3, "the operator was told"
    assert_clean("operator alerts", stream.getvalue())
    assert_clean("log records", log_text(caplog))
    assert any(r.name == "monitor.deliver" for r in caplog.records)
    store.close()
    assert_clean("database", database_dump(tmp_path / "m.db"))
    assert_clean("monitor alerts list", cli_outputs(write_config(tmp_path, s.smtp_port), s))


def test_case_50_a_quoted_secret_is_redacted_before_the_cut() -> None:
    url = f"https://hooks.slack.com{SLACK_PATH}"
    for limit in range(10, 90, 3):  # wherever the cut falls, no piece of the path is left
        code = body_code(f"Cannot POST {SLACK_PATH} now".encode(), limit, secret=url)
        assert len(code) <= limit
        assert not any(p in code for p in ("T0SEC", "B0SEC", "SlackHook", "services/T"))
    hook = f"https://siem.example.org{HOOK_PATH}?{HOOK_QUERY}&x=1"
    quoted = "bad token HookQueryToken4 for news-SECRET5; /hooks/news-SECRET5?token=Hook…"
    assert_clean("redacted", redact(quoted, hook))
    assert redact("HTTP 500 'no_service'", url) == "HTTP 500 'no_service'"


# --- SMTP: authentication refused, DATA refused (over TLS) ----------------------------------------


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key) for 127.0.0.1, made with openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test CA")
    d = tmp_path_factory.mktemp("secrets-pki")
    _make_ca(d, "ca")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1", cwd=d)
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                               "extendedKeyUsage=serverAuth\n", encoding="ascii")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)
    return d / "ca.pem", d / "server.pem", d / "server.key"


class Handler:
    def __init__(self, data_reply: str) -> None:
        self.data_reply = data_reply
        self.logins: list[bytes] = []

    async def handle_DATA(self, server: SMTPServer, session: Session,
                          envelope: Envelope) -> str:
        return self.data_reply


@pytest.mark.parametrize("failure", ["auth", "data"])
def test_case_50_smtp_refusals_after_tls_never_show_the_password(
        ca: tuple[Path, Path, Path], caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch, failure: str) -> None:
    caplog.set_level(logging.DEBUG)
    ca_pem, cert, key = ca
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_pem))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = Handler("554 5.7.1 message refused" if failure == "data" else "250 OK")

    def authenticator(server: SMTPServer, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        handler.logins.append(auth_data.password)
        return AuthResult(success=failure != "auth", handled=False)

    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, server_hostname="mx.test",
                            tls_context=context, require_starttls=True,
                            authenticator=authenticator, auth_require_tls=True)
    controller.start()
    try:
        settings = EmailSettings(host="127.0.0.1", port=port, sender="monitor@ops.example.org",
                                 recipients=("analyst@ops.example.org",), security="starttls",
                                 username="monitor", password=PASSWORD, timeout=TIMEOUT)
        mail = EmailTarget("mail", settings, allow_private=LOOPBACK)
        with pytest.raises(DeliveryError) as info:
            mail.send(make_alert(target="mail"))
    finally:
        controller.stop()
    # sent over TLS only (auth_require_tls), once per mechanism smtplib tries
    assert handler.logins and set(handler.logins) == {PASSWORD.encode()}
    assert info.value.transient is False
    assert ("authentication" in str(info.value)) == (failure == "auth")
    assert_clean("smtp error", error_texts(info.value))
    assert_clean("log records", log_text(caplog))
