"""The apprise target: a real Apprise json:// delivery to a local receiver, the URL allowlist,
and secrets kept out of errors."""

from __future__ import annotations

import logging
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.config import load_config
from monitor.deliver import AppriseSettings, AppriseTarget, build_target
from monitor.deliver.apprise_target import check_url, render_title
from monitor.deliver.console import render_console
from monitor.errors import ConfigError, DeliveryError
from monitor.model import Alert, Match
from tests.conftest import Receiver
from tests.fakes import FakePoster

TOKEN = "SECRETTOKEN123"


def make_alert(**changes: Any) -> Alert:
    alert = Alert(
        key="alert-7-apprise", target="teams", story_id=7, severity="critical",
        title="Drone attack on Tower 22", url="https://news.example/t22",
        feed="example-feed", site="News Example",
        published=datetime(2024, 1, 28, 9, 0, tzinfo=UTC),
        snippet="A one-way drone struck Tower 22 in Jordan.",
        matches=(Match("us-forces-attack", "Attack on US forces", "critical", ("jordan",),
                       ("Tower 22",), ("drone", "struck")),),
        created_at=datetime(2024, 1, 28, 9, 5, tzinfo=UTC),
    )
    return replace(alert, **changes)


def config_text(allow_private: str = "[]", source: str = 'url_env = "APPRISE_URL"') -> str:
    return f"""
[network]
allow_private = {allow_private}

[[feeds]]
name = "a"
url = "https://example.org/feed.xml"

[targets.teams]
type = "apprise"
{source}
"""


def load(tmp_path: Path, url: str, allow_private: str = "[]", **kw: Any) -> Any:
    path = tmp_path / "monitor.toml"
    path.write_text(config_text(allow_private, **kw), encoding="utf-8")
    return load_config(path, env={"APPRISE_URL": url})


def apprise_url(receiver: Receiver) -> str:
    # json://user:token@127.0.0.1:PORT/hook: the token stands for a service credential
    return receiver.url.replace("http://", f"json://bot:{TOKEN}@")


def target_for(tmp_path: Path, receiver: Receiver) -> AppriseTarget:
    config = load(tmp_path, apprise_url(receiver), '["127.0.0.1"]')
    settings = config.targets["teams"]
    assert isinstance(settings, AppriseSettings)
    assert TOKEN not in repr(settings)
    target = build_target("teams", settings, FakePoster())
    assert isinstance(target, AppriseTarget)
    return target


def test_delivers_title_and_plain_text_body(tmp_path: Path, receiver: Receiver) -> None:
    target = target_for(tmp_path, receiver)
    alert = make_alert(title="Drone\r\nX-Injected: 1\x1b[31m attack\x07")
    target.send(alert)
    assert len(receiver.requests) == 1
    sent = receiver.requests[0].json()
    assert sent["title"] == "[CRITICAL] Drone X-Injected: 1 attack" == render_title(alert)
    assert sent["message"] == render_console(alert).rstrip()  # Apprise trims the end
    assert "Tower 22" in sent["message"]
    assert not any(c in sent["title"] + sent["message"] for c in "\r\x1b\x07")
    assert "X-Injected" not in receiver.requests[0].headers


def test_refused_notification_is_transient_and_quotes_no_url(
        tmp_path: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    target = target_for(tmp_path, receiver)
    receiver.status = 500
    with caplog.at_level(logging.WARNING), pytest.raises(DeliveryError) as info:
        target.send(make_alert())
    err = info.value
    assert err.transient and not err.gone
    port = receiver.url.split(":")[2].split("/")[0]
    assert "teams" in str(err)
    for secret in (TOKEN, port, "json://", "127.0.0.1"):
        assert secret not in str(err)
    assert TOKEN not in caplog.text
    assert TOKEN not in repr(target)


@pytest.mark.parametrize("url", [
    f"pover://{TOKEN}@app",                      # a scheme not in the allowlist
    f"http://{TOKEN}@example.org/hook",          # not an Apprise scheme we accept
    f"json://bot:{TOKEN}@127.0.0.1/hook",        # private address, not in allow_private
    f"jsons://bot:{TOKEN}@10.0.0.5/hook",
    f"xml://{TOKEN}@[::1]:8080/hook",
    f"json://{TOKEN}@localhost/hook",            # local names
    f"form://{TOKEN}@intranet/hook",
    f"matrix://user:{TOKEN}@synapse.internal/#room",
    f"json://{TOKEN}@hooks.example.org/x?redirect=yes",
    f"discord://id/{TOKEN} extra",
    TOKEN,
])
def test_refused_urls_name_the_key_not_the_token(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, url)
    assert info.value.key == "targets.teams.url_env"
    assert TOKEN not in str(info.value)
    assert "monitor.toml" in str(info.value)


def test_url_from_a_file_names_that_key(tmp_path: Path) -> None:
    (tmp_path / "apprise-url").write_text(f"pover://{TOKEN}@app\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "", source='url_file = "apprise-url"')
    assert info.value.key == "targets.teams.url_file" and TOKEN not in str(info.value)


@pytest.mark.parametrize("url", [
    f"discord://1234567890/{TOKEN}",
    f"tgram://123456789:{TOKEN}/-100123",
    f"json://{TOKEN}@hooks.example.org/news",
    f"jsons://{TOKEN}@8.8.8.8:8443/news",
    f"matrixs://user:{TOKEN}@matrix.example.org/#alerts",
])
def test_accepted_urls(url: str) -> None:
    assert check_url(url) is None


def test_private_address_accepted_when_listed() -> None:
    assert check_url(f"json://{TOKEN}@10.0.0.5/hook", ("10.0.0.0/8",)) is None
    assert check_url(f"json://{TOKEN}@10.0.0.5/hook", ("192.168.0.0/16",)) is not None


def test_without_the_library_the_config_says_what_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "apprise", None)  # import apprise → ImportError
    with pytest.raises(ConfigError) as info:
        load(tmp_path, f"discord://1234567890/{TOKEN}")
    assert "news-monitor[apprise]" in str(info.value)
    assert info.value.key == "targets.teams.type" and TOKEN not in str(info.value)


def test_a_url_apprise_cannot_parse_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG), pytest.raises(ConfigError) as info:
        AppriseTarget("teams", AppriseSettings(url=f"discord://{TOKEN}"))
    assert info.value.key == "targets.teams"
    assert TOKEN not in str(info.value) and TOKEN not in caplog.text
    assert not logging.getLogger("apprise").disabled
