"""The evidence marked in the snippet (``Match.marks``), as each target shows it."""

from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest

from monitor.deliver.console import render_console
from monitor.deliver.mail import build_message, html_body, plain_body
from monitor.deliver.marks import cut, segments, snippet_marks
from monitor.deliver.settings import EmailSettings
from monitor.deliver.slack_render import SECTION_LIMIT, render_slack
from monitor.model import Alert, Match

SNIPPET = "Rockets struck Ain al-Asad air base, wounding five US troops."
#          0         1         2         3         4         5         6
#          0123456789012345678901234567890123456789012345678901234567890
MARKS = ((8, 14), (15, 35), (37, 45))  # struck, Ain al-Asad air base, wounding


def make_alert(snippet: str = SNIPPET, marks: tuple[tuple[int, int], ...] = MARKS,
               **changes: Any) -> Alert:
    m = Match("coalition-base-attack", "Attack on a base", "high", ("iraq-syria",),
              ("Ain al-Asad",), ("struck",), snippet=snippet, marks=marks)
    alert = Alert(
        key="alert-marks", target="t", story_id=1, severity="high",
        title="Rockets hit Ain al-Asad", url="https://news.example/a", feed="feed",
        site="News Example", published=datetime(2024, 8, 6, 12, 0, tzinfo=UTC),
        snippet=snippet, matches=(m,), created_at=datetime(2024, 8, 6, 12, 5, tzinfo=UTC))
    return replace(alert, **changes)


def slack_snippet(alert: Alert) -> str:
    blocks = render_slack(alert)["blocks"]
    texts = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    return str(texts[-1])


# --- the segments --------------------------------------------------------------------------------


def test_segments_follow_the_marks_through_cleaning() -> None:
    text = "Rockets\x1b[31m  struck \x00Ain al-Asad."
    # "struck" is text[14:20], "Ain al-Asad" text[22:33]
    parts = segments(text, [(14, 20), (22, 33)])
    assert parts == [("Rockets ", False), ("struck", True), (" ", False),
                     ("Ain al-Asad", True), (".", False)]


def test_segments_with_overlapping_reversed_and_out_of_range_marks() -> None:
    assert segments("abcdef", [(4, 99), (1, 3), (2, 5), (3, 3), (-5, 0)]) == [
        ("a", False), ("bcdef", True)]


def test_text_carrying_the_private_boundary_characters_cannot_forge_marks() -> None:
    parts = segments("a\ue000b\ue001c", [])
    assert parts == [("a\ufffdb\ufffdc", False)]


def test_white_space_at_the_edges_of_a_mark_is_moved_out() -> None:
    assert segments("one  two  three", [(3, 10)]) == [("one ", False), ("two", True),
                                                      (" three", False)]


def test_cut_counts_markup_and_never_ends_a_mark_in_white_space() -> None:
    parts = [("aaaa ", False), ("bbbb cccc", True), (" dddd", False)]
    for limit in (12, 13):  # 13 would keep "bbbb " (a mark ending in a space) without the strip
        assert cut(parts, limit, markup=2) == [("aaaa ", False), ("bbbb", True), ("…", False)]
    assert cut(parts, 14, markup=2) == [("aaaa ", False), ("bbbb c", True), ("…", False)]
    assert cut(parts, 21, markup=2) == parts


def test_marks_of_the_match_whose_snippet_is_shown() -> None:
    alert = make_alert()
    other = Match("x", "X", "critical", snippet="something else", marks=((0, 4),))
    assert snippet_marks(replace(alert, matches=(other, *alert.matches))) == MARKS
    assert snippet_marks(replace(alert, snippet="not the match's snippet")) == ()


# --- console -------------------------------------------------------------------------------------


def test_console_wraps_marks_in_guillemets() -> None:
    out = render_console(make_alert())
    assert "Rockets «struck» «Ain al-Asad air base», «wounding» five US troops." in out


def test_console_without_marks_is_unchanged() -> None:
    assert render_console(make_alert(marks=())) == render_console(
        replace(make_alert(), matches=(replace(make_alert().matches[0], marks=()),)))
    assert "«" not in render_console(make_alert(marks=()))


# --- Slack ---------------------------------------------------------------------------------------


def test_slack_bolds_marks_after_escaping_once() -> None:
    snippet = "A & B: <rockets> struck Ain al-Asad."
    #          0123456789012345678901234567890123456
    text = slack_snippet(make_alert(snippet, ((7, 16), (24, 35))))
    assert text == "> A &amp; B: *&lt;rockets&gt;* struck *Ain al-Asad*."


def test_slack_asterisks_in_feed_text_cannot_pair_with_ours() -> None:
    snippet = "a *bold* claim: rockets* hit *the base"
    #          01234567890123456789012345678901234567
    text = slack_snippet(make_alert(snippet, ((16, 24), (34, 38))))
    assert text.count("*") == 4
    assert text == "> a ∗bold∗ claim: *rockets∗* hit ∗the *base*"


def test_slack_mark_inside_a_word_is_set_off_with_zero_width_spaces() -> None:
    text = slack_snippet(make_alert("anti-US groups", ((5, 7),)))
    assert text == "> anti-*US* groups"
    text = slack_snippet(make_alert("antiUSgroups", ((4, 6),)))
    assert text == "> anti\u200b*US*\u200bgroups"


def test_slack_without_marks_is_as_before() -> None:
    assert slack_snippet(make_alert("a *b* & c", ())) == "> a *b* &amp; c"


def test_slack_marked_snippet_stays_within_the_section_limit() -> None:
    snippet = "<&> *" * 2000
    marks = tuple((i, i + 3) for i in range(0, len(snippet), 10))
    text = slack_snippet(make_alert(snippet, marks))
    assert len(text) <= SECTION_LIMIT
    assert text.endswith("…")
    assert "&amp;" in text and "&amp;amp;" not in text
    body = text[2:-1]
    assert body.count("*") % 2 == 0


# --- email ---------------------------------------------------------------------------------------


def test_email_html_uses_mark_elements_after_escaping() -> None:
    snippet = "<b>Rockets</b> & struck Ain al-Asad."
    #          012345678901234567890123456789012345
    html = html_body(make_alert(snippet, ((3, 10), (24, 35))))
    assert ("<blockquote>&lt;b&gt;<mark>Rockets</mark>&lt;/b&gt; &amp; struck "
            "<mark>Ain al-Asad</mark>.</blockquote>") in html


def test_email_plain_part_uses_guillemets() -> None:
    assert "  Rockets «struck» «Ain al-Asad air base», «wounding» five US troops." in (
        plain_body(make_alert()))


def test_email_without_marks_is_unchanged() -> None:
    html = html_body(make_alert(marks=()))
    assert "<mark>" not in html and f"<blockquote>{SNIPPET}</blockquote>" in html


@pytest.mark.parametrize("snippet", ["x\n\ny", "line one\nline two"])
def test_email_multiline_snippet_with_marks_round_trips(snippet: str) -> None:
    settings = EmailSettings(host="127.0.0.1", port=25, sender="a@example.org",
                             recipients=("b@example.org",), security="none")
    msg = build_message(make_alert(snippet, ((0, 1),)), settings)
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    parts = [p.get_content() for p in parsed.iter_parts()]
    assert any("<mark>" in p for p in parts) and any("«" in p for p in parts)
