"""SIGHUP: the rules and the config file reloaded, swapped in together only when the config
loads, the rule folder loads and its examples pass; otherwise the daemon goes on as it was."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from monitor import daemon_context, match, pipeline, scheduler
from monitor.cli import build_context
from monitor.config import load_config
from monitor.dispatch import Dispatcher
from monitor.pipeline import Context
from monitor.store import Store
from tests.conftest import ROOT, ScriptedServer
from tests.test_pipeline_e2e import Site

RULES_V1 = """\
terms:
  attack: [attack, rocket attack]
  budget: [budget]
rules:
  - id: attack
    title: An attack
    severity: high
    all: [{terms: attack}]
examples:
  - text: A rocket attack hit the base.
    expect: [attack]
"""
GOOD_EXTRA = """\
rules:
  - id: budget-news
    title: Budget news
    severity: low
    all: [{terms: budget}]
examples:
  - text: Parliament passed the budget.
    expect: [budget-news]
"""
BROKEN_EXTRA = """\
rules:
  - id: broken
    title: Broken
    severity: urgent
    all: [{terms: budget}]
"""
FAILING_EXTRA = """\
rules:
  - id: budget-news
    title: Budget news
    severity: low
    all: [{terms: budget}]
examples:
  - text: A rocket attack hit the base.
    expect: [budget-news]
"""


def write_setup(tmp_path: Path, feeds: str = "") -> Path:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "main.yaml").write_text(RULES_V1, encoding="utf-8")
    config = tmp_path / "monitor.toml"
    config.write_text(f"""
database = "monitor.db"
rules = "rules"

[network]
allow_private = ["127.0.0.1"]
{feeds}
[targets.console]
type = "console"
""", encoding="utf-8")
    return config


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[Context]:
    config = load_config(write_setup(tmp_path))
    store = Store.open(config.database)
    context = build_context(config, store)
    yield context
    context.client.close()
    store.close()


def rule_ids(ctx: Context) -> list[str]:
    return [r.id for r in ctx.ruleset.rules]


def test_a_good_set_is_swapped_in(ctx: Context, caplog: pytest.LogCaptureFixture) -> None:
    (ctx.config.rules / "extra.yaml").write_text(GOOD_EXTRA, encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="monitor.daemon"):
        assert scheduler.reload_rules(ctx) is True
    assert sorted(rule_ids(ctx)) == ["attack", "budget-news"]
    assert [r.getMessage() for r in caplog.records] == ["rules=reloaded rules=2 examples=2"]


def test_a_broken_file_keeps_the_old_set(ctx: Context, caplog: pytest.LogCaptureFixture) -> None:
    before = ctx.ruleset
    extra = ctx.config.rules / "extra.yaml"
    extra.write_text(BROKEN_EXTRA, encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="monitor.daemon"):
        assert scheduler.reload_rules(ctx) is False
    assert ctx.ruleset is before
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert message.startswith("rules=reload-refused reason=")
    assert f"{extra}:4" in message and "urgent" in message and "\n" not in message


def test_a_failing_example_keeps_the_old_set(ctx: Context,
                                             caplog: pytest.LogCaptureFixture) -> None:
    before = ctx.ruleset
    (ctx.config.rules / "extra.yaml").write_text(FAILING_EXTRA, encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="monitor.daemon"):
        assert scheduler.reload_rules(ctx) is False
    assert ctx.ruleset is before
    (record,) = caplog.records
    message = record.getMessage()
    assert message.startswith("rules=reload-refused reason=")
    assert "example" in message and "budget-news" in message and "\n" not in message


def test_a_poll_keeps_the_set_it_started_with(tmp_path: Path, sample_site: Site,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    base, _ = sample_site
    config = load_config(write_setup(tmp_path, f'[[feeds]]\nname = "rss"\n'
                                                f'url = "{base}/feeds/rss.xml"\n'))
    store = Store.open(config.database)
    ctx = build_context(config, store)
    first = ctx.ruleset
    (config.rules / "extra.yaml").write_text(GOOD_EXTRA, encoding="utf-8")
    seen: list[match.RuleSet] = []
    real_match = match.match

    def spying_match(article: Any, ruleset: match.RuleSet) -> Any:
        if not seen:
            assert scheduler.reload_rules(ctx)  # a SIGHUP handled in the middle of the poll
        seen.append(ruleset)
        return real_match(article, ruleset)

    monkeypatch.setattr(pipeline.match, "match", spying_match)
    store.sync_feeds(config.feeds)
    try:
        report = pipeline.poll_feed(ctx, config.feeds[0])
        assert report.new > 1 and len(seen) == report.new
        assert all(r is first for r in seen)
        assert ctx.ruleset is not first
    finally:
        ctx.client.close()
        store.close()


# --- the daemon, as systemd runs it --------------------------------------------------------------


def hup_and_wait(proc: subprocess.Popen[str], sock: socket.socket) -> None:
    proc.send_signal(signal.SIGHUP)
    assert sock.recv(256).startswith(b"RELOADING=1\nMONOTONIC_USEC=")
    assert sock.recv(64) == b"READY=1"


@dataclass
class Daemon:
    proc: subprocess.Popen[str]
    err: str = ""  # its stderr, once stopped


@contextmanager
def running(config: Path, notify: socket.socket) -> Iterator[Daemon]:
    """``monitor run --config`` in a child process, once it said READY=1; stopped with SIGTERM
    when the block ends (killed if it does not stop within 60 s), exit code 0 required."""
    env = {k: v for k, v in os.environ.items() if k != "MONITOR_CONFIG"}
    daemon = Daemon(subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config",
                                      str(config)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True))
    try:
        assert notify.recv(64) == b"READY=1"
        yield daemon
        daemon.proc.send_signal(signal.SIGTERM)
        _, daemon.err = daemon.proc.communicate(timeout=60)
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.communicate()
    assert daemon.proc.returncode == 0, daemon.err


def test_sighup_reloads_the_running_daemon(tmp_path: Path,
                                           notify_socket: socket.socket) -> None:
    config = write_setup(tmp_path)
    with running(config, notify_socket) as daemon:
        extra = tmp_path / "rules" / "extra.yaml"
        extra.write_text(GOOD_EXTRA, encoding="utf-8")
        hup_and_wait(daemon.proc, notify_socket)
        extra.write_text(BROKEN_EXTRA, encoding="utf-8")
        hup_and_wait(daemon.proc, notify_socket)
    err = daemon.err
    lines = err.splitlines()
    reloaded = [line for line in lines if "rules=reloaded" in line]
    refused = [line for line in lines if "rules=reload-refused" in line]
    assert len(reloaded) == 1 and "rules=reloaded rules=2" in reloaded[0]
    assert len(refused) == 1 and f"{extra}:4" in refused[0]
    assert lines.index(reloaded[0]) < lines.index(refused[0])
    assert "signal=SIGTERM" in err and "daemon=stopped" in err


# --- SIGHUP reloads the config file too ----------------------------------------------------------


def feed(name: str, url: str = "http://127.0.0.1:9/feed.xml") -> str:
    return f'[[feeds]]\nname = "{name}"\nurl = "{url}"\n'


def rewrite(config: Path, feeds: str = "", network: str = "", top: str = "",
            routes: str = "") -> None:
    config.write_text(f"""{top}
database = "monitor.db"
rules = "rules"

[network]
allow_private = ["127.0.0.1"]
{network}
{feeds}
[targets.console]
type = "console"
{routes}
""", encoding="utf-8")


@pytest.fixture
def daemon_ctx(tmp_path: Path) -> Iterator[Context]:
    config = load_config(write_setup(tmp_path, feed("a")))
    store = Store.open(config.database)
    context = build_context(config, store, daemon=True)
    store.sync_feeds(config.feeds)
    yield context
    context.client.close()
    store.close()


class Recorder:
    def __init__(self) -> None:
        self.submitted: list[str] = []

    def submit(self, feed: Any, url: str | None = None) -> object:
        self.submitted.append(feed.name)
        return object()


def test_a_good_config_is_swapped_in_feeds_targets_and_client(
        daemon_ctx: Context, caplog: pytest.LogCaptureFixture) -> None:
    ctx = daemon_ctx
    old_client, old_console, old_rules = ctx.client, ctx.targets["console"], ctx.ruleset
    (ctx.config.rules / "extra.yaml").write_text(GOOD_EXTRA, encoding="utf-8")
    rewrite(ctx.config.path, feed("b"), network="total_timeout = 30")
    retired: list[Any] = []
    with caplog.at_level(logging.INFO, logger="monitor.daemon"):
        assert daemon_context.reload(ctx, retired) is True
    try:
        assert [f.name for f in ctx.config.feeds] == ["b"]
        assert ctx.config.network.total_timeout == 30
        assert ctx.client is not old_client and retired == [old_client], "[network] changed"
        assert ctx.targets["console"] is not old_console, "targets rebuilt"
        assert ctx.ruleset is not old_rules and sorted(rule_ids(ctx)) == ["attack",
                                                                          "budget-news"]
        assert ctx.group_wait.total_seconds() == ctx.config.stories.group_wait
        recorder = Recorder()
        scheduler.dispatch_due(ctx, cast(Dispatcher, recorder))
        assert recorder.submitted == ["b"], "the new feed at the next dispatch, not the old"
        assert [row.name for row in ctx.store.feed_rows()] == ["b"], "a: marked removed"
        assert "a" in ctx.store.feed_names(), "its row (and entries) stay"
        messages = [r.getMessage() for r in caplog.records]
        assert "rules=reloaded rules=2 examples=2" in messages
        assert any(m.startswith("config=reloaded") and "feeds=1 removed=1 targets=1 "
                   "network=rebuilt" in m for m in messages)
    finally:
        old_client.close()


def test_an_unchanged_network_keeps_its_client(daemon_ctx: Context) -> None:
    ctx = daemon_ctx
    client = ctx.client
    rewrite(ctx.config.path, feed("a") + feed("c", "http://127.0.0.1:9/c.xml"))
    retired: list[Any] = []
    assert daemon_context.reload(ctx, retired) is True
    assert ctx.client is client and retired == []
    assert [f.name for f in ctx.config.feeds] == ["a", "c"]


@pytest.mark.parametrize(("change", "reason"), [
    ({"network": "allow_privat = []"}, "network.allow_privat: unknown key"),
    ({"top": 'database = "elsewhere.db"'}, "database"),
    ({"routes": '[[routes]]\ntargets = ["console"]\nrules = ["no-such-rule"]'},
     "no-such-rule"),
])
def test_a_config_that_does_not_load_is_refused_and_nothing_changes(
        daemon_ctx: Context, caplog: pytest.LogCaptureFixture, change: dict[str, str],
        reason: str) -> None:
    ctx = daemon_ctx
    before = (ctx.config, ctx.client, ctx.targets, ctx.ruleset)
    (ctx.config.rules / "extra.yaml").write_text(GOOD_EXTRA, encoding="utf-8")  # not taken
    if "top" in change:  # a second `database` key is a TOML error: replace the first
        ctx.config.path.write_text(ctx.config.path.read_text().replace(
            'database = "monitor.db"', change["top"]), encoding="utf-8")
    else:
        rewrite(ctx.config.path, feed("b"), **change)
    with caplog.at_level(logging.INFO, logger="monitor.daemon"):
        assert daemon_context.reload(ctx, []) is False
    assert (ctx.config, ctx.client, ctx.targets, ctx.ruleset) == before
    (record,) = caplog.records
    message = record.getMessage()
    assert record.levelno == logging.WARNING and message.startswith("config=reload-refused")
    assert reason in message and str(ctx.config.path) in message


def test_good_config_with_rules_that_fail_is_refused_whole(
        daemon_ctx: Context, caplog: pytest.LogCaptureFixture) -> None:
    ctx = daemon_ctx
    before = ctx.config
    (ctx.config.rules / "extra.yaml").write_text(FAILING_EXTRA, encoding="utf-8")
    rewrite(ctx.config.path, feed("b"))
    with caplog.at_level(logging.INFO, logger="monitor.daemon"):
        assert daemon_context.reload(ctx, []) is False
    assert ctx.config is before, "the config waits for rules that pass"
    (record,) = caplog.records
    assert record.getMessage().startswith("rules=reload-refused")


def test_sighup_reloads_the_config_of_the_running_daemon(
        tmp_path: Path, notify_socket: socket.socket, scripted_server: ScriptedServer) -> None:
    config = write_setup(tmp_path)
    scripted_server.routes["/new.xml"] = lambda h: h.reply(
        200, b"<rss version='2.0'><channel><title>t</title></channel></rss>",
        {"Content-Type": "application/rss+xml"})
    env = {k: v for k, v in os.environ.items() if k != "MONITOR_CONFIG"}
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(config)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert notify_socket.recv(64) == b"READY=1"
        rewrite(config, network="allow_privat = []")
        hup_and_wait(proc, notify_socket)
        rewrite(config, feed("new", scripted_server.url("/new.xml")))
        hup_and_wait(proc, notify_socket)
        deadline = time.monotonic() + 60
        while "/new.xml" not in scripted_server.paths() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "/new.xml" in scripted_server.paths(), "the feed added was polled"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    refused = [line for line in err.splitlines() if "config=reload-refused" in line]
    assert len(refused) == 1 and "allow_privat" in refused[0]
    assert "config=reloaded" in err and "feeds=1" in err
