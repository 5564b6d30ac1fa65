"""The apprise target's total deadline: a real Apprise json:// send to a local server that trickles
its answer (each read inside Apprise's own timeout, the whole never ending) fails as transient
after ``total_timeout``, and nothing more is sent while that send still runs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.deliver import AppriseSettings, AppriseTarget, build_target
from monitor.errors import ConfigError, DeliveryError
from tests.conftest import serve
from tests.fakes import FakePoster
from tests.test_deliver_apprise import TOKEN, config_text, make_alert

BODY = b'{"ok": true}'


class Trickler:
    """A server whose answer comes a byte at a time until ``release`` is set."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.posts = 0
        self.lock = threading.Lock()


@pytest.fixture
def trickler() -> Iterator[tuple[Trickler, str]]:
    state = Trickler()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with state.lock:
                state.posts += 1
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            sent = 0
            while sent < len(BODY) - 1 and not state.release.wait(0.3):
                self.wfile.write(BODY[sent:sent + 1])  # one byte, well inside each read timeout
                self.wfile.flush()
                sent = min(sent + 1, len(BODY) - 2)
            self.wfile.write(BODY[sent:] if state.release.is_set() else b"")
            self.wfile.flush()

        def log_message(self, *args: object) -> None:
            pass

    with serve(Handler) as url:
        try:
            yield state, url
        finally:
            state.release.set()


def load(tmp_path: Path, url: str, total: str) -> AppriseSettings:
    path = tmp_path / "monitor.toml"
    path.write_text(config_text('["127.0.0.1"]', f'url_env = "APPRISE_URL"\n{total}'),
                    encoding="utf-8")
    settings = load_config(path, env={"APPRISE_URL": url}).targets["teams"]
    assert isinstance(settings, AppriseSettings)
    return settings


def test_a_send_past_total_timeout_fails_and_none_follows_while_it_runs(
        tmp_path: Path, trickler: tuple[Trickler, str]) -> None:
    state, base = trickler
    url = base.replace("http://", f"json://bot:{TOKEN}@") + "/hook"
    settings = load(tmp_path, url, "total_timeout = 1")
    assert settings.total_timeout == 1
    target = build_target("teams", settings, FakePoster())
    assert isinstance(target, AppriseTarget)

    with pytest.raises(DeliveryError) as first:
        target.send(make_alert())
    assert first.value.transient
    assert "did not finish within total_timeout (1 s)" in str(first.value)
    assert TOKEN not in str(first.value)
    assert state.posts == 1 and not state.release.is_set()  # the answer is still trickling

    with pytest.raises(DeliveryError) as second:
        target.send(make_alert(key="alert-8-apprise"))
    assert second.value.transient and "still running" in str(second.value)
    assert state.posts == 1  # nothing sent while the first may still arrive

    state.release.set()
    running = target._running
    assert running is not None
    running.join(10)
    assert not running.is_alive()
    target.send(make_alert(key="alert-9-apprise"))  # the server answers at once now
    assert state.posts == 2


def test_total_timeout_defaults_and_its_bound(tmp_path: Path) -> None:
    url = f"json://bot:{TOKEN}@127.0.0.1:9/hook"
    assert load(tmp_path, url, "").total_timeout == 120.0
    with pytest.raises(ConfigError) as info:
        load(tmp_path, url, "total_timeout = 300")
    assert info.value.key == "targets.teams.total_timeout"
    assert "at most 240" in str(info.value) and TOKEN not in str(info.value)
