"""The SMTP relay's address goes through the same classification as the guarded HTTP client:
a host on a non-public address is refused (permanently, naming the host, before any connection)
unless ``[network] allow_private`` lists it. The test server listens on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest

from monitor.deliver import EmailTarget, build_target
from monitor.errors import DeliveryError
from monitor.net import GuardedClient, NetConfig
from tests.test_deliver_email import (
    PASSWORD,
    RECIPIENTS,
    Server,
    make_alert,
    running_server,
    settings,
)


@pytest.fixture
def smtp_server() -> Iterator[Server]:
    with running_server() as server:
        yield server


def resolving_to(*addresses: str) -> tuple[list[str], Callable[[str, int], list[str]]]:
    asked: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return list(addresses)

    return asked, resolver


def test_loopback_relay_is_refused_without_the_allowlist(smtp_server: Server) -> None:
    with GuardedClient(NetConfig()) as client:  # [network] allow_private = []
        mail = build_target("mail", settings(smtp_server.port, security="starttls",
                                             username="monitor", password=PASSWORD), client)
        with pytest.raises(DeliveryError) as caught:
            mail.send(make_alert())
    error = caught.value
    assert error.transient is False
    assert "SMTP host 127.0.0.1" in str(error) and "allow_private" in str(error)
    assert PASSWORD not in str(error) and error.recipients == {}
    assert smtp_server.handler.commands == []  # no SMTP session at all


@pytest.mark.parametrize("allow", [("127.0.0.1",), ("127.0.0.0/8",)])
def test_the_network_allowlist_reaches_the_email_target(smtp_server: Server,
                                                        allow: tuple[str, ...]) -> None:
    with GuardedClient(NetConfig(allow_private=allow)) as client:
        receipt = build_target("mail", settings(smtp_server.port), client).send(make_alert())
    assert receipt == {r: "accepted" for r in RECIPIENTS}
    assert len(smtp_server.handler.messages) == 1


@pytest.mark.parametrize("addresses", [("10.0.0.25",), ("93.184.216.34", "192.168.1.25"),
                                       ("169.254.169.254",), ("::ffff:127.0.0.1",),
                                       ("not-an-ip",)])
def test_a_name_resolving_to_any_non_public_address_is_refused(
        smtp_server: Server, addresses: tuple[str, ...]) -> None:
    asked, resolver = resolving_to(*addresses)
    mail = EmailTarget("mail", settings(smtp_server.port, host="relay.example"),
                       resolver=resolver)
    with pytest.raises(DeliveryError) as caught:
        mail.send(make_alert())
    assert caught.value.transient is False
    assert "SMTP host relay.example resolves to non-public address" in str(caught.value)
    assert asked == ["relay.example"]
    assert smtp_server.handler.commands == []


def test_an_allowlisted_name_connects_to_the_address_checked(smtp_server: Server) -> None:
    # "relay.example" does not resolve anywhere: only the pinned address can be reached
    asked, resolver = resolving_to("127.0.0.1")
    mail = EmailTarget("mail", settings(smtp_server.port, host="relay.example"),
                       allow_private=["127.0.0.1"], resolver=resolver)
    assert mail.send(make_alert()) == {r: "accepted" for r in RECIPIENTS}
    assert asked == ["relay.example"] and len(smtp_server.handler.messages) == 1


def test_resolution_failures() -> None:
    def unknown(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    mail = EmailTarget("mail", settings(25, host="relay.example"), resolver=unknown)
    with pytest.raises(DeliveryError) as caught:
        mail.send(make_alert())
    assert caught.value.transient is True and "cannot resolve relay.example" in str(caught.value)

    empty = EmailTarget("mail", settings(25, host="relay.example"), resolver=lambda h, p: [])
    with pytest.raises(DeliveryError) as caught:
        empty.send(make_alert())
    assert caught.value.transient is True and "no address" in str(caught.value)
