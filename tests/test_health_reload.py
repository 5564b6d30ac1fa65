"""``[health] listen`` changed by a reload (``health.move_listener``): the listener moves to the
new address, stops when the setting is removed, starts when it is added, and stays where it was
(with an error line) when the new address cannot be bound. Real listeners on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from monitor import health
from monitor.config import HealthConfig
from monitor.pipeline import Context
from tests import test_health_check
from tests.test_health_check import fake_context, request
from tests.test_scheduler_reload import hup_and_wait, running, write_setup

database = test_health_check.database  # the fixture, here too


def answers(address: tuple[str, int]) -> bool:
    try:
        return request(address, "GET", "/healthz")[0] in (200, 503)
    except OSError:  # refused: nothing listens there
        return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def taken_port() -> Iterator[int]:
    """A port another program listens on, while the block runs."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


@pytest.fixture
def ctx(tmp_path: Path, database: Path) -> Iterator[Context]:
    context = fake_context(tmp_path, database, "127.0.0.1", 0)
    yield context


def moved(ctx: Context, listener: health.Listener | None,
          new: HealthConfig) -> health.Listener | None:
    before = ctx.config.health
    ctx.config.health = new  # type: ignore[misc]  # what a reload swaps in
    return health.move_listener(ctx, listener, before)


def test_the_listener_moves_to_a_new_port_and_the_old_one_stops(ctx: Context) -> None:
    old = health.start_listener(ctx)
    assert old is not None and answers(old.address)
    new = moved(ctx, old, HealthConfig("127.0.0.1", 0))
    assert new is old, "the same address (port 0 twice): nothing to move"
    port = free_port()
    new = moved(ctx, old, HealthConfig("127.0.0.1", port))
    try:
        assert new is not None and new.address == ("127.0.0.1", port)
        assert answers(new.address) and not answers(old.address) and old.stopped
    finally:
        if new is not None:
            new.stop()


def test_removed_it_stops_and_added_it_starts(ctx: Context,
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    old = health.start_listener(ctx)
    assert old is not None
    assert moved(ctx, old, HealthConfig(None, 0)) is None
    assert not answers(old.address)
    assert any(m.startswith("health=stopped") for m in caplog.messages)
    new = moved(ctx, None, HealthConfig("127.0.0.1", 0))
    try:
        assert new is not None and answers(new.address)
    finally:
        if new is not None:
            new.stop()


def test_an_address_that_cannot_be_bound_keeps_the_listener_where_it_was(
        ctx: Context, caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    ctx.config.health = HealthConfig("127.0.0.1", port)  # type: ignore[misc]
    old = health.start_listener(ctx)
    assert old is not None
    current = old
    try:
        with taken_port() as taken:
            current = moved(ctx, old, HealthConfig("127.0.0.1", taken)) or old
            assert any(m.startswith("health=reload-failed") and f":{taken}" in m
                       for m in caplog.messages), caplog.messages
            assert current.address == ("127.0.0.1", port) and answers(current.address)
    finally:
        current.stop()


def test_sighup_moves_the_daemons_listener_and_resizes_its_polling(
        tmp_path: Path, notify_socket: socket.socket) -> None:
    """The daemon as systemd runs it: a SIGHUP with a new [health] listen and new [polling]
    limits, no restart."""
    config = write_setup(tmp_path)
    base = config.read_text(encoding="utf-8")
    first, second = free_port(), free_port()

    def settings(port: int, concurrency: int) -> None:
        config.write_text(base.replace('rules = "rules"\n', f'rules = "rules"\n[health]\n'
                                       f'listen = "127.0.0.1:{port}"\n[polling]\n'
                                       f"concurrency = {concurrency}\n"), encoding="utf-8")

    settings(first, 4)
    with running(config, notify_socket) as daemon:
        assert answers(("127.0.0.1", first))
        settings(second, 8)
        hup_and_wait(daemon.proc, notify_socket)
        assert answers(("127.0.0.1", second)), "the listener moved"
        assert not answers(("127.0.0.1", first)), "the old address is free"
    err = daemon.err
    assert "polling=resized concurrency=8 per_host=2" in err
    assert f"health=listening url=http://127.0.0.1:{second}/healthz" in err
