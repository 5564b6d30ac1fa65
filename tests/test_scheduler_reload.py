"""Rules reload on SIGHUP: swapped only when the new folder loads and its examples pass."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor import match, pipeline, scheduler
from monitor.cli import build_context
from monitor.config import load_config
from monitor.pipeline import Context
from monitor.store import Store
from tests.conftest import ROOT
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
    with caplog.at_level(logging.INFO, logger="monitor.scheduler"):
        assert scheduler.reload_rules(ctx) is True
    assert sorted(rule_ids(ctx)) == ["attack", "budget-news"]
    assert [r.getMessage() for r in caplog.records] == ["rules=reloaded rules=2 examples=2"]


def test_a_broken_file_keeps_the_old_set(ctx: Context, caplog: pytest.LogCaptureFixture) -> None:
    before = ctx.ruleset
    extra = ctx.config.rules / "extra.yaml"
    extra.write_text(BROKEN_EXTRA, encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="monitor.scheduler"):
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
    with caplog.at_level(logging.INFO, logger="monitor.scheduler"):
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


def test_sighup_reloads_the_running_daemon(tmp_path: Path,
                                           notify_socket: socket.socket) -> None:
    config = write_setup(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "MONITOR_CONFIG"}
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(config)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert notify_socket.recv(64) == b"READY=1"
        extra = tmp_path / "rules" / "extra.yaml"
        extra.write_text(GOOD_EXTRA, encoding="utf-8")
        hup_and_wait(proc, notify_socket)
        extra.write_text(BROKEN_EXTRA, encoding="utf-8")
        hup_and_wait(proc, notify_socket)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    lines = err.splitlines()
    reloaded = [line for line in lines if "rules=reloaded" in line]
    refused = [line for line in lines if "rules=reload-refused" in line]
    assert len(reloaded) == 1 and "rules=reloaded rules=2" in reloaded[0]
    assert len(refused) == 1 and f"{extra}:4" in refused[0]
    assert lines.index(reloaded[0]) < lines.index(refused[0])
    assert "signal=SIGTERM" in err and "daemon=stopped" in err
