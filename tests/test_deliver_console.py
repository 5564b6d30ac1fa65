"""Console target: readable output, feed text unable to drive the terminal."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from monitor.deliver import ConsoleSettings, ConsoleTarget, build_target
from monitor.errors import DeliveryError
from monitor.model import Alert, Match


def make_alert(**changes: Any) -> Alert:
    alert = Alert(
        key="alert-1-console", target="console", story_id=3, severity="critical",
        title="Drone attack on al-Tanf garrison", url="https://news.example/tanf",
        feed="example-feed", site="News Example",
        published=datetime(2024, 2, 1, 6, 30, tzinfo=UTC),
        snippet="A drone targeted the al-Tanf garrison where US troops are based.",
        matches=(Match("us-forces-attack", "Attack on US forces", "critical", ("syria",),
                       ("al-Tanf",), ("drone", "targeted")),),
        created_at=datetime(2024, 2, 1, 6, 35, tzinfo=UTC),
    )
    return replace(alert, **changes)


def render(alert: Alert, color: bool = False) -> str:
    stream = io.StringIO()
    build_target("console", ConsoleSettings(color=color), object(),  # type: ignore[arg-type]
                 stream=stream).send(alert)
    return stream.getvalue()


def test_output_has_the_essentials() -> None:
    out = render(make_alert())
    assert out.startswith("[CRITICAL] Drone attack on al-Tanf garrison\n")
    for part in ("News Example", "2024-02-01T06:30:00+00:00", "https://news.example/tanf",
                 "us-forces-attack", "al-Tanf", "drone, targeted", "US troops are based"):
        assert part in out
    assert "\x1b" not in out


def test_ansi_and_control_sequences_are_stripped() -> None:
    hostile = make_alert(
        title="\x1b[2J\x1b[HFake\x1b]0;pwned\x07 title\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\"
              "\r\nInjected line\x08\x08\u202eevil\x9b31m",
        site="Out\x1b[31mlet", url="https://news.example/\x1b[1mx",
        snippet="line one\x1bc\nline two\x00\x07",
        matches=(Match("r\x1b[5m1", "T\x1b[0m", "low", (), ("E\x1b[1m",), ("t\x07",)),),
    )
    out = render(hostile)
    assert "\x1b" not in out and "\x9b" not in out and "\x07" not in out
    assert "\x08" not in out and "\x00" not in out and "\u202e" not in out and "\r" not in out
    first = out.splitlines()[0]
    assert first == "[CRITICAL] Fake titlelink Injected lineevil"
    assert "pwned" not in out and "http://evil" not in out
    assert "Outlet" in out and "https://news.example/x" in out and "r1" in out


def test_color_only_on_severity_when_enabled() -> None:
    out = render(make_alert(title="plain"), color=True)
    assert out.startswith("[\x1b[1;31mCRITICAL\x1b[0m] plain\n")
    assert out.count("\x1b") == 2


def test_defaults_to_stdout_at_send_time(capsys: pytest.CaptureFixture[str]) -> None:
    ConsoleTarget("console", ConsoleSettings()).send(make_alert())
    assert "Drone attack" in capsys.readouterr().out


def test_a_closed_stream_is_a_transient_delivery_error() -> None:
    stream = io.StringIO()
    stream.close()
    with pytest.raises(DeliveryError) as info:
        ConsoleTarget("console", ConsoleSettings(), stream=stream).send(make_alert())
    assert info.value.transient is True
