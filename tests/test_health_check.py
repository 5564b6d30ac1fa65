"""/healthz at unit level: a fake clock on the Heartbeat makes a part stale, a missing or
broken database fails its check; the listener answers 200/503 with the reason, 404 for any
other path, 405 for any method but GET and HEAD, and refuses an address it cannot bind."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from monitor import health
from monitor.config import HealthConfig
from monitor.errors import MonitorError
from monitor.heartbeat import Heartbeat
from monitor.metrics import Metrics
from monitor.pipeline import Context
from monitor.store import Store
from monitor.write_pause import WritePause

LIMITS = {"scheduler": 30.0, "dispatch": 120.0, "deliver": 900.0}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "monitor.db"
    Store.open(path).close()
    return path


@pytest.fixture
def beating() -> tuple[Heartbeat, FakeClock]:
    clock = FakeClock()
    heartbeat = Heartbeat(clock)
    for part in LIMITS:
        heartbeat.beat(part)
    return heartbeat, clock


def test_fresh_beats_and_a_database_that_answers_are_healthy(
        beating: tuple[Heartbeat, FakeClock], database: Path) -> None:
    heartbeat, clock = beating
    clock.now += 10
    report = health.check(heartbeat, database, LIMITS)
    assert report["status"] == "ok"
    assert report["checks"]["scheduler"] == {"ok": True, "age_seconds": 10.0,
                                             "limit_seconds": 30.0}
    assert report["checks"]["database"] == {"ok": True}


def test_a_stale_part_is_unhealthy_and_says_which_and_how_old(
        beating: tuple[Heartbeat, FakeClock], database: Path) -> None:
    heartbeat, clock = beating
    clock.now += 31
    heartbeat.beat("dispatch")
    heartbeat.beat("deliver")
    report = health.check(heartbeat, database, LIMITS)
    assert report["status"] == "unhealthy"
    assert report["checks"]["scheduler"]["ok"] is False
    assert report["checks"]["scheduler"]["error"] == "no beat for 31 s (limit 30 s)"
    assert report["checks"]["dispatch"]["ok"] is True


def test_a_part_that_never_beat_is_unhealthy(database: Path) -> None:
    report = health.check(Heartbeat(FakeClock()), database, LIMITS)
    assert report["status"] == "unhealthy"
    assert report["checks"]["deliver"] == {"ok": False, "age_seconds": None,
                                           "limit_seconds": 900.0, "error": "no beat yet"}


def test_a_missing_database_is_unhealthy(beating: tuple[Heartbeat, FakeClock],
                                         tmp_path: Path) -> None:
    heartbeat, _ = beating
    missing = tmp_path / "gone.db"
    report = health.check(heartbeat, missing, LIMITS)
    assert report["status"] == "unhealthy"
    assert report["checks"]["database"]["ok"] is False
    assert "no database at" in report["checks"]["database"]["error"]
    assert not missing.exists(), "a health check creates nothing"


def test_a_database_that_is_not_one_is_unhealthy(beating: tuple[Heartbeat, FakeClock],
                                                 tmp_path: Path) -> None:
    heartbeat, _ = beating
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not an SQLite file" * 200)
    report = health.check(heartbeat, junk, LIMITS)
    assert report["checks"]["database"]["ok"] is False
    assert "not a database" in report["checks"]["database"]["error"]


@pytest.fixture
def listener(beating: tuple[Heartbeat, FakeClock],
             database: Path) -> Iterator[tuple[health.Listener, FakeClock, Path]]:
    heartbeat, clock = beating
    served = health.Listener("127.0.0.1", 0, heartbeat, database, Metrics(), LIMITS)
    try:
        yield served, clock, database
    finally:
        served.stop()


def request(address: tuple[str, int], method: str, path: str) -> tuple[int, dict[str, str],
                                                                       bytes]:
    conn = http.client.HTTPConnection(*address, timeout=10)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_listener_answers_200_then_503_with_the_reason(
        listener: tuple[health.Listener, FakeClock, Path]) -> None:
    served, clock, _ = listener
    status, headers, body = request(served.address, "GET", "/healthz")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["status"] == "ok"
    clock.now += 1000  # every part is stale now
    status, _, body = request(served.address, "GET", "/healthz")
    report = json.loads(body)
    assert status == 503 and report["status"] == "unhealthy"
    assert report["checks"]["scheduler"]["error"] == "no beat for 1000 s (limit 30 s)"
    assert report["checks"]["database"] == {"ok": True}


def test_listener_answers_503_when_the_database_is_unreachable(
        listener: tuple[health.Listener, FakeClock, Path]) -> None:
    served, _, database = listener
    for path in database.parent.glob(database.name + "*"):
        path.unlink()
    status, _, body = request(served.address, "GET", "/healthz?verbose=1")
    report = json.loads(body)
    assert status == 503
    assert report["checks"]["database"]["ok"] is False
    assert report["checks"]["scheduler"]["ok"] is True
    status, _, body = request(served.address, "GET", "/metrics")
    assert status == 200 and b"monitor_database_up 0.0" in body


def test_listener_serves_metrics_head_and_refuses_the_rest(
        listener: tuple[health.Listener, FakeClock, Path]) -> None:
    served, _, _ = listener
    status, headers, body = request(served.address, "GET", "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=")
    assert b'monitor_polls_total{status="ok"} 0.0' in body
    assert b"monitor_database_up 1.0" in body
    status, headers, body = request(served.address, "HEAD", "/healthz")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 0
    for path in ("/", "/healthz/", "/metrics.txt", "/../etc/passwd"):
        assert request(served.address, "GET", path)[0] == 404, path
    status, headers, _ = request(served.address, "POST", "/healthz")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    assert request(served.address, "DELETE", "/metrics")[0] == 405


def test_stop_closes_the_port(beating: tuple[Heartbeat, FakeClock], database: Path) -> None:
    heartbeat, _ = beating
    served = health.Listener("127.0.0.1", 0, heartbeat, database, Metrics(), LIMITS)
    address = served.address
    served.stop()
    with pytest.raises(OSError), socket.create_connection(address, timeout=5):
        pass


def fake_context(tmp_path: Path, database: Path, host: str | None, port: int) -> Context:
    config = SimpleNamespace(health=HealthConfig(host=host, port=port), database=database,
                             path=tmp_path / "monitor.toml")
    return cast(Context, SimpleNamespace(config=config, heartbeat=Heartbeat(),
                                         writes=WritePause()))


def test_no_listen_address_means_no_listener(tmp_path: Path, database: Path) -> None:
    assert health.start_listener(fake_context(tmp_path, database, None, 0)) is None


def test_an_address_in_use_is_a_clear_error(tmp_path: Path, database: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MonitorError) as info:
            health.start_listener(fake_context(tmp_path, database, "127.0.0.1", port))
    message = str(info.value)
    assert "health.listen" in message and f"127.0.0.1:{port}" in message
    assert "in use" in message


def test_a_database_that_takes_no_writes_is_unhealthy_until_a_poll_stores(
        beating: tuple[Heartbeat, FakeClock], database: Path) -> None:
    """Case 68 seen from outside: the daemon's write pause (``monitor.write_pause``) makes
    ``/healthz`` answer 503 with the last error, from the first failed write until a poll
    stores again, over the pause and between pauses."""
    heartbeat, _ = beating
    writes = WritePause()
    served = health.Listener("127.0.0.1", 0, heartbeat, database, Metrics(), LIMITS,
                             writes=writes)
    try:
        assert request(served.address, "GET", "/healthz")[0] == 200
        writes.failed(OSError("database or disk is full"), datetime(2026, 11, 21, tzinfo=UTC))
        status, _, body = request(served.address, "GET", "/healthz")
        assert status == 503
        assert json.loads(body)["checks"]["database"] == {
            "ok": False,
            "error": "a write failed and no poll or drain has stored since (polls pause): "
                     "database or disk is full"}
        writes.stored()
        assert request(served.address, "GET", "/healthz")[0] == 200
    finally:
        served.stop()
