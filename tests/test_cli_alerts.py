"""`monitor alerts list`, `monitor alerts retry` and `monitor send-test`, against real
receivers on 127.0.0.1 and alerts produced by `monitor check` on the sample news site."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from tests.conftest import Receiver
from tests.test_pipeline_e2e import STORIES, Site, alert_states, monitor, write_config

SLACK_TARGET = '[targets.slack]\ntype = "slack"\nwebhook_url_env = "TEST_SLACK_WEBHOOK_URL"\n'
WEBHOOK_TARGET = '[targets.hook]\ntype = "webhook"\nurl_env = "TEST_SLACK_WEBHOOK_URL"\n'


def database(tmp_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(tmp_path / "state" / "monitor.db")


def test_list_shows_pending_then_sent(tmp_path: Path, sample_site: Site,
                                      receiver: Receiver) -> None:
    base, _ = sample_site
    config = write_config(tmp_path, base)
    receiver.status, receiver.body = 500, b"internal \x1b[31merror"
    assert monitor("check", "-c", str(config), hook=receiver.url).returncode == 1

    listed = monitor("alerts", "list", "-c", str(config), "--json", hook=receiver.url)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert len(rows) == len(STORIES)
    assert {r["state"] for r in rows} == {"pending"} and {r["target"] for r in rows} == {"slack"}
    failed = [r for r in rows if r["attempts"]]
    assert failed and all("HTTP 500" in r["last_error"] for r in failed)
    assert all(r["title"] and r["next_attempt_at"] and r["sent_at"] is None for r in rows)
    assert all(r["key"] and r["severity"] in ("critical", "high") for r in rows)
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)

    table = monitor("alerts", "list", "-c", str(config), hook=receiver.url)
    assert table.returncode == 0, table.stderr
    head, *lines = table.stdout.splitlines()
    assert head.split()[:5] == ["ID", "STATE", "TARGET", "KIND", "TRIES"] and len(lines) == 3
    assert all(line.split()[1:4] == ["pending", "slack", "new"] for line in lines)
    assert all(len(line) <= 120 for line in table.stdout.splitlines())
    assert "\x1b" not in table.stdout and receiver.url not in table.stdout + listed.stdout

    receiver.status, receiver.body = 200, b"ok"
    time.sleep(1.1)  # past the one-second backoff
    assert monitor("check", "-c", str(config), hook=receiver.url).returncode == 0
    states = alert_states(tmp_path)
    assert states.get("sent")
    sent = json.loads(monitor("alerts", "list", "-c", str(config), "--json", "--status", "sent",
                              hook=receiver.url).stdout)
    assert len(sent) == states["sent"] and all(r["sent_at"] for r in sent)
    assert all(r["next_attempt_at"] is None and r["last_error"] is None for r in sent)
    pending = monitor("alerts", "list", "-c", str(config), "--status", "pending",
                      hook=receiver.url).stdout.strip()
    assert (pending == "no alerts") == ("pending" not in states)
    assert monitor("alerts", "list", "-c", str(config), "--limit", "1", "--json",
                   hook=receiver.url).stdout.count('"key"') == 1


def test_retry_requeues_a_dead_alert_with_the_same_key(tmp_path: Path, sample_site: Site,
                                                       receiver: Receiver) -> None:
    base, _ = sample_site
    config = write_config(tmp_path, base)
    config.write_text(config.read_text().replace(SLACK_TARGET, WEBHOOK_TARGET))
    assert monitor("check", "-c", str(config), hook=receiver.url).returncode == 0
    first = {r.headers["webhook-id"]: r.json() for r in receiver.requests}
    assert len(first) == len(STORIES)
    with database(tmp_path) as db:
        alert_id, key = db.execute("SELECT id, key FROM alerts ORDER BY id LIMIT 1").fetchone()
        db.execute("UPDATE alerts SET state = 'dead', sent_at = NULL, last_error = 'gone'"
                   " WHERE id = ?", [alert_id])

    retried = monitor("alerts", "retry", str(alert_id), "-c", str(config), hook=receiver.url)
    assert retried.returncode == 0, retried.stderr
    assert f"requeued alert {alert_id}" in retried.stdout
    assert alert_states(tmp_path) == {"sent": len(STORIES) - 1, "pending": 1}
    assert len(receiver.requests) == len(STORIES), "retry itself sends nothing"

    again = monitor("check", "-c", str(config), hook=receiver.url)
    assert again.returncode == 0, again.stderr
    assert alert_states(tmp_path) == {"sent": len(STORIES)}
    (resent,) = receiver.requests[len(STORIES):]
    assert resent.headers["webhook-id"] in first, "the same webhook-id: receivers dedupe"
    assert resent.json()["alert"]["key"] == key
    with database(tmp_path) as db:
        assert db.execute("SELECT key, attempts FROM alerts WHERE id = ?",
                          [alert_id]).fetchone() == (key, 2)

    sent = monitor("alerts", "retry", str(alert_id), "-c", str(config), hook=receiver.url)
    assert sent.returncode == 1 and "is sent" in sent.stderr
    unknown = monitor("alerts", "retry", "999", "-c", str(config), hook=receiver.url)
    assert unknown.returncode == 1 and "no alert 999" in unknown.stderr
    assert monitor("alerts", "retry", "-c", str(config), hook=receiver.url).returncode == 2

    with database(tmp_path) as db:
        db.execute("UPDATE alerts SET state = 'dead'")
    every = monitor("alerts", "retry", "--dead", "-c", str(config), hook=receiver.url)
    assert every.returncode == 0, every.stderr
    assert every.stdout.count("requeued alert ") == len(STORIES)
    assert alert_states(tmp_path) == {"pending": len(STORIES)}


def test_send_test_delivers_a_labelled_alert(tmp_path: Path, receiver: Receiver) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9")
    result = monitor("send-test", "slack", "-c", str(config), hook=receiver.url)
    assert result.returncode == 0, result.stderr
    assert "sent" in result.stdout
    (request,) = receiver.requests
    assert "news-monitor test alert" in json.dumps(request.json())
    assert not (tmp_path / "state").exists(), "send-test bypasses the outbox"


def test_send_test_refused_shows_the_code_not_the_url(tmp_path: Path,
                                                      receiver: Receiver) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9")
    hook = receiver.url + "/T0123ABCD/B0456EFGH/xoxbSecretToken1234567890"
    receiver.status, receiver.body = 404, b"no_service"
    result = monitor("send-test", "slack", "-c", str(config), hook=hook)
    assert result.returncode == 1
    assert "no_service" in result.stderr and "404" in result.stderr
    assert "permanent" in result.stderr
    out = result.stdout + result.stderr
    assert "xoxbSecretToken" not in out and "T0123ABCD" not in out and "127.0.0.1" not in out
    assert len(receiver.requests) == 1


def test_send_test_unknown_target_or_bad_config_exits_2(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9")
    unknown = monitor("send-test", "pager", "-c", str(config), hook="http://127.0.0.1:9/x")
    assert unknown.returncode == 2 and "no target 'pager'" in unknown.stderr
    assert "slack" in unknown.stderr
    missing = monitor("send-test", "slack", "-c", str(tmp_path / "nope.toml"),
                      hook="http://127.0.0.1:9/x")
    assert missing.returncode == 2


def test_a_gone_target_is_disabled_then_enabled_by_the_cli(tmp_path: Path, sample_site: Site,
                                                           receiver: Receiver) -> None:
    base, _ = sample_site
    config = write_config(tmp_path, base)
    receiver.status, receiver.body = 404, b"no_service"  # Slack: the hook was removed
    first = monitor("check", "--config", str(config), hook=receiver.url)
    assert first.returncode == 1
    tried = len(receiver.requests)
    listed = monitor("alerts", "enable", "--config", str(config), hook=receiver.url)
    assert listed.returncode == 0 and "disabled: slack:" in listed.stdout
    assert receiver.url not in listed.stdout
    receiver.status, receiver.body = 200, b"ok"
    still = monitor("check", "--config", str(config), hook=receiver.url)
    assert len(receiver.requests) == tried, "a disabled target is not tried"
    assert still.returncode == 1 and alert_states(tmp_path).get("sent") is None
    enabled = monitor("alerts", "enable", "slack", "--config", str(config), hook=receiver.url)
    assert enabled.returncode == 0 and "enabled: slack" in enabled.stdout
    after = monitor("check", "--config", str(config), hook=receiver.url)
    assert after.returncode == 0 and alert_states(tmp_path) == {"sent": len(STORIES)}
    again = monitor("alerts", "enable", "slack", "--config", str(config), hook=receiver.url)
    assert again.returncode == 1
