"""Canonical URLs and the story decision (pure functions, literal inputs, a fixed clock)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.dedup import canonical_url

NOW = datetime(2024, 8, 7, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("a", "b"), [
    ("https://example.org/news/a.html?utm_source=atom&utm_medium=feed",
     "https://example.org/news/a.html"),
    ("https://EXAMPLE.org/news/a.html#comments", "https://example.org/news/a.html"),
    ("https://example.org/news/story/", "https://example.org/news/story"),
    ("https://example.org:443/news/a?b=2&a=1&fbclid=x", "https://example.org/news/a?a=1&b=2"),
    ("http://127.0.0.1:8000/x.html?utm_campaign=y", "http://127.0.0.1:8000/x.html"),
    ("https://www.example.org/news/a", "https://example.org/news/a"),
    ("https://m.example.org/news/a", "https://example.org/news/a"),
    ("https://amp.example.org/news/a", "https://example.org/news/a"),
    ("https://example.org/news/a/amp/", "https://example.org/news/a"),
    ("https://example.org/news/a.amp.html", "https://example.org/news/a.html"),
    ("https://example.org/news/a?outputType=amp", "https://example.org/news/a"),
    ("https://example.org/news/a?amp=1&id=4", "https://example.org/news/a?id=4"),
])
def test_variants_of_one_url_meet(a: str, b: str) -> None:
    assert canonical_url(a) == canonical_url(b)


def test_variant_folding_keeps_real_differences() -> None:
    assert canonical_url("https://m.example.org/a") != canonical_url("https://mm.example.org/a")
    assert canonical_url("https://m.com/a") == "https://m.com/a"  # a bare domain stays
    assert canonical_url("https://example.org/camp") == "https://example.org/camp"
    assert canonical_url("https://example.org/news/amplifier") == \
        "https://example.org/news/amplifier"


def test_different_articles_stay_apart() -> None:
    assert canonical_url("https://example.org/a?id=1") != canonical_url("https://example.org/a?id=2")
    assert canonical_url("https://example.org/a") != canonical_url("https://example.com/a")


@pytest.mark.parametrize("bad", [None, "", "javascript:alert(1)", "ftp://example.org/a",
                                 "/relative/path", "http://"])
def test_missing_or_unsafe_urls_have_no_canonical_form(bad: str | None) -> None:
    assert canonical_url(bad) is None
