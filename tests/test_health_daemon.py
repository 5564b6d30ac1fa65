"""`monitor run` as a real process with `[health] listen` on 127.0.0.1: /healthz answers 200
with JSON once the scheduler ticks, /metrics shows the counters move after the polls of the
sample site, and the listener goes away with the daemon."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT, Receiver
from tests.test_pipeline_e2e import Site, write_config

T = TypeVar("T")
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str) -> tuple[int, str, str]:
    """(status, content type, body) of a GET; an HTTP error status is an answer too."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.headers["Content-Type"], e.read().decode()


def samples(text: str) -> Samples:
    """Every sample of a Prometheus exposition: (name, labels) → value."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def wait_for(probe: Callable[[], T | None], what: str, seconds: float = 90.0) -> T:
    """Call ``probe`` until it returns something truthy, for at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_daemon_serves_healthz_and_metrics_that_move_with_the_polls(
        tmp_path: Path, sample_site: Site, receiver: Receiver) -> None:
    base, _ = sample_site
    port = free_port()
    config = write_config(tmp_path, base)
    text = config.read_text(encoding="utf-8").replace(
        "[stories]\n", '[stories]\ngroup_wait = "0s"\n')
    config.write_text(text + f'\n[health]\nlisten = "127.0.0.1:{port}"\n', encoding="utf-8")
    env = {**os.environ, "TEST_SLACK_WEBHOOK_URL": receiver.url}
    env.pop("MONITOR_CONFIG", None)
    env.pop("NOTIFY_SOCKET", None)
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(config)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        def healthy() -> tuple[int, str, str] | None:
            if proc.poll() is not None:
                raise AssertionError(f"the daemon exited: {proc.communicate()[1]}")
            try:
                answer = get(f"{url}/healthz")
            except OSError:  # not listening yet
                return None
            return answer if answer[0] == 200 else None

        _, kind, body = wait_for(healthy, "/healthz to answer 200")
        assert kind == "application/json"
        report = json.loads(body)
        assert report["status"] == "ok"
        assert {"scheduler", "dispatch", "deliver", "database"} <= set(report["checks"])
        assert all(check["ok"] for check in report["checks"].values())

        def sent() -> Samples | None:
            status, kind, text = get(f"{url}/metrics")
            assert status == 200 and kind.startswith("text/plain")
            found = samples(text)
            return found if (value(found, "monitor_alerts_sent_total", target="slack") or 0) \
                >= 1 else None

        found = wait_for(sent, "an alert to be sent")
        assert (value(found, "monitor_polls_total", status="ok") or 0) >= 2  # rss and atom
        assert value(found, "monitor_polls_total", status="error") == 0
        assert (value(found, "monitor_new_entries_total") or 0) > 0
        assert (value(found, "monitor_stories") or 0) > 0
        assert (value(found, "monitor_extract_seconds_count") or 0) > 0
        assert (value(found, "monitor_delivery_latency_seconds_count", target="slack") or 0) >= 1
        assert value(found, "monitor_feeds", status="active") == 2
        assert value(found, "monitor_feeds", status="failing") == 0
        assert value(found, "monitor_database_up") == 1
        assert value(found, "monitor_target_last_sent_timestamp_seconds", target="slack")
        assert receiver.requests, "the metric says sent: the receiver got it"
        assert get(f"{url}/nothing-here")[0] == 404
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, err
    assert "health=listening" in err
    try:
        get(f"{url}/healthz")
    except OSError:
        pass
    else:
        raise AssertionError("the listener still answers after the daemon stopped")


def test_metrics_before_and_after_a_poll_in_process(tmp_path: Path, sample_site: Site,
                                                    receiver: Receiver) -> None:
    """The same counters, read before and after one pass: absent or zero, then above zero."""
    from monitor import metrics
    from monitor.cli import check_once
    from monitor.config import load_config

    base, _ = sample_site
    config = load_config(write_config(tmp_path, base), env={"TEST_SLACK_WEBHOOK_URL":
                                                            receiver.url})
    fresh = metrics.Metrics()
    previous = metrics.install(fresh)
    try:
        fresh.watch(config.database)
        before = samples(fresh.render()[0].decode())
        assert value(before, "monitor_polls_total", status="ok") == 0
        assert value(before, "monitor_new_entries_total") == 0
        assert value(before, "monitor_database_up") == 0, "no database yet"
        check_once(config, dry_run=False)
        text = fresh.render()[0].decode()
        after = samples(text)
    finally:
        metrics.install(previous)
    assert receiver.url not in text and "/hook" not in text, "no secret URL in any label"
    assert any(name == "monitor_matches_total" and value > 0
               for (name, _), value in after.items()), "matches by rule and severity"
    assert value(after, "monitor_polls_total", status="ok") == 2
    assert (value(after, "monitor_new_entries_total") or 0) > 0
    assert value(after, "monitor_database_up") == 1
    assert (value(after, "monitor_alerts_sent_total", target="slack") or 0) >= 1
    assert value(after, "monitor_outbox_depth") == 0
