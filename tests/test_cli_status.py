"""`monitor status`: the picture of the database in the terminal and as JSON, read only (it
works while a writer holds the database), exit 1 when something needs attention."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from monitor.cli import cli
from monitor.model import Feed, PollResult
from monitor.store import Store
from tests.conftest import Receiver
from tests.test_metrics_store import operator_alert
from tests.test_pipeline_e2e import Site, write_config

CONSOLE = '[targets.console]\ntype = "console"\n'


def status(config: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["status", "--config", str(config), *args], env=env)
    return result.exit_code, result.output


def test_after_a_check_all_is_well_and_the_last_alert_is_shown(
        tmp_path: Path, sample_site: Site, receiver: Receiver) -> None:
    base, _ = sample_site
    config = write_config(tmp_path, base)
    env = {"TEST_SLACK_WEBHOOK_URL": receiver.url}
    result = CliRunner().invoke(cli, ["check", "--config", str(config)], env=env)
    assert result.exit_code == 0, result.output
    code, out = status(config, env=env)
    assert code == 0, out
    assert "feeds:     2 ok, 0 failing, 0 gone (2 in all)" in out
    assert "outbox:    0 pending, 0 sending, 0 dead" in out
    assert "last poll: 20" in out and "ago)" in out
    last = next(line for line in out.splitlines() if line.startswith("last sent:"))
    assert "to slack: '" in last
    code, out = status(config, "--json", env=env)
    data = json.loads(out)
    assert code == 0 and data["attention"] is False
    assert data["feeds"] == {"ok": 2, "failing": 0, "gone": 0, "problems": []}
    assert data["last_sent"]["target"] == "slack" and data["last_sent"]["title"]
    assert data["stories"] >= 1 and data["outbox"]["pending"] == 0
    assert receiver.url not in out


def troubled(tmp_path: Path) -> Path:
    """A database with a failing feed, a gone one, a dead alert and a disabled target."""
    now = datetime.now(UTC).replace(microsecond=0)
    config = tmp_path / "monitor.toml"
    config.write_text('database = "monitor.db"\n[[feeds]]\nname = "a"\n'
                      'url = "https://example.org/a.xml"\n[targets.console]\n'
                      'type = "console"\n', encoding="utf-8")
    store = Store.open(tmp_path / "monitor.db")
    store.sync_feeds([Feed("a", "https://example.org/a.xml", 3600),
                      Feed("b", "https://example.org/b.xml", 3600),
                      Feed("c", "https://example.org/c.xml", 3600)])
    for _ in range(3):
        store.record_poll(PollResult(feed="a", status="error",
                                     error="HTTP 503 from https://example.org/a.xml\x1b[31m"),
                          now, now, status="failing")
    store.record_poll(PollResult(feed="c", status="error", error="HTTP 410"), now, None,
                      status="gone")
    with store.transaction():
        store.add_alert(operator_alert("d1", "console", now - timedelta(hours=2)))
        store.add_alert(operator_alert("p1", "siem", now - timedelta(minutes=10)))
    dead = next(r.id for r in store.list_alerts() if r.key == "d1")
    store.mark_failed(dead, "HTTP 400", None)
    store.disable_target("siem", "HTTP 410 Gone", now)
    store.close()
    return config


def test_trouble_is_listed_and_exits_1(tmp_path: Path) -> None:
    config = troubled(tmp_path)
    code, out = status(config)
    assert code == 1
    assert "feeds:     1 ok, 1 failing, 1 gone (3 in all)" in out
    assert "  a: failing, 3 failure(s) in a row, never succeeded" in out
    assert "    error: HTTP 503 from https://example.org/a.xml" in out
    assert "\x1b" not in out, "feed text is cleaned for the terminal"
    assert "  c: gone" in out
    assert "outbox:    1 pending, 0 sending, 1 dead" in out
    waiting = next(line for line in out.splitlines() if "oldest waiting" in line)
    assert waiting.startswith("  oldest waiting: queued 20") and waiting.endswith(" min ago)")
    assert "target siem is disabled: HTTP 410 Gone (`monitor alerts enable siem`)" in out
    assert "last sent: never" in out
    code, out = status(config, "--json")
    data = json.loads(out)
    assert code == 1 and data["attention"] is True
    assert [p["name"] for p in data["feeds"]["problems"]] == ["a", "c"]
    assert data["feeds"]["problems"][0]["consecutive_failures"] == 3
    assert data["outbox"]["by_target"] == {"console": {"dead": 1}, "siem": {"pending": 1}}
    assert 590 <= data["outbox"]["oldest_waiting_seconds"] < 3600
    assert data["disabled_targets"] == {"siem": "HTTP 410 Gone"}
    assert data["last_sent"] is None


def test_it_reads_while_a_writer_holds_the_database(tmp_path: Path) -> None:
    config = troubled(tmp_path)
    with closing(sqlite3.connect(tmp_path / "monitor.db", isolation_level=None)) as writer:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE feeds SET consecutive_failures = 99 WHERE name = 'a'")
        code, out = status(config, "--json")
        writer.execute("ROLLBACK")
    assert code == 1
    assert json.loads(out)["feeds"]["problems"][0]["consecutive_failures"] == 3, \
        "the last commit, not the writer's transaction in progress"


def test_a_missing_database_is_exit_1_and_creates_nothing(tmp_path: Path) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text('database = "state/monitor.db"\n' + CONSOLE, encoding="utf-8")
    code, out = status(config)
    assert code == 1 and "no database at" in out
    assert not (tmp_path / "state").exists()


def test_a_database_that_is_not_news_monitors_is_exit_1(tmp_path: Path) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text('database = "other.db"\n' + CONSOLE, encoding="utf-8")
    with closing(sqlite3.connect(tmp_path / "other.db")) as conn:
        conn.execute("CREATE TABLE t (a)")
        conn.commit()
    code, out = status(config)
    assert code == 1 and "no such table" in out and "news-monitor's database" in out


def test_a_config_error_is_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text('databse = "x.db"\n', encoding="utf-8")
    assert status(config)[0] == 2
