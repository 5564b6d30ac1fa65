"""Shared delivery helpers: feed-text cleaning, truncation, Retry-After, redaction, the seam."""

from __future__ import annotations

import email.utils
import io

import pytest

from monitor.deliver import (
    SETTINGS_TYPES,
    TARGET_TYPES,
    AppriseSettings,
    AppriseTarget,
    ConsoleSettings,
    ConsoleTarget,
    EmailSettings,
    EmailTarget,
    SlackSettings,
    SlackTarget,
    WebhookSettings,
    WebhookTarget,
    build_target,
)
from monitor.deliver.base import (
    clean_line,
    clean_text,
    grapheme_floor,
    parse_retry_after,
    redact,
    truncate,
)


class NoPoster:
    def post(self, url: str, *, content: bytes, headers: object = None,
             secret_url: bool = True) -> object:
        raise AssertionError("no request expected")


def test_clean_line_and_text() -> None:
    assert clean_line("a\r\nb\u2028c\u2029d\x85e\tf\x0bg") == "a b c d e f g"
    assert clean_line("\x1b[31mred\x1b[0m \x1b]0;title\x07x") == "red x"
    assert clean_line("x\u202ey\u2066z") == "xyz"
    assert clean_line("👨\u200d👩 e\u0301") == "👨\u200d👩 e\u0301"  # ZWJ, marks kept
    assert clean_line("bad \ud800 surrogate") == "bad surrogate"
    assert clean_line(None) == ""
    assert clean_text("one\r\ntwo\rthree\u2028four\n\n\n\nfive") == "one\ntwo\nthree\nfour\n\nfive"


def test_truncate() -> None:
    assert truncate("short", 10) == "short"
    assert truncate("abcdefghij", 5) == "abcd…"
    assert truncate("ab cd ef", 6) == "ab cd…"
    assert truncate("x", 0) == ""
    family = "👨\u200d👩\u200d👧"
    assert truncate("ab" + family, 4) == "ab…"
    assert grapheme_floor("🇺🇸🇮🇶", 3) == 2
    assert grapheme_floor("e\u0301e\u0301", 3) == 2


def test_parse_retry_after() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 120 ") == 120.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") is None
    assert parse_retry_after("1.5") is None
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 90, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(90.0)
    assert parse_retry_after(email.utils.formatdate(now - 90, usegmt=True), now=now) == 0.0


def test_redact() -> None:
    url = "https://hooks.slack.com/services/T0/B0/SECRET"
    text = f"error posting {url} (path /services/T0/B0/SECRET)"
    assert "SECRET" not in redact(text, url)
    assert redact("nothing here", None, "") == "nothing here"


def test_seam_maps_are_explicit_and_agree() -> None:
    assert TARGET_TYPES == {"console": ConsoleTarget, "slack": SlackTarget,
                            "webhook": WebhookTarget, "email": EmailTarget,
                            "apprise": AppriseTarget}
    assert set(SETTINGS_TYPES) == set(TARGET_TYPES)
    stream = io.StringIO()
    settings = {
        "console": ConsoleSettings(),
        "slack": SlackSettings(webhook_url="https://hooks.slack.com/services/x"),
        "webhook": WebhookSettings(url="https://r.example/h"),
        "email": EmailSettings(host="127.0.0.1", port=25, sender="a@b.example",
                               recipients=("c@d.example",)),
        "apprise": AppriseSettings(url="json://hooks.example.org/h"),
    }
    for kind, s in settings.items():
        assert isinstance(s, SETTINGS_TYPES[kind])
        target = build_target(f"t-{kind}", s, NoPoster(), stream=stream)  # type: ignore[arg-type]
        assert isinstance(target, TARGET_TYPES[kind]) and target.name == f"t-{kind}"


def test_unknown_settings_type_is_refused() -> None:
    with pytest.raises(TypeError):
        build_target("x", object(), NoPoster())  # type: ignore[arg-type]
