"""The benchmark corpus' pages (``bench/layouts.py``): the pipeline's extraction finds the
article in them and none of the page's chrome, and the reporter a page names is the one of its
byline, so that the pages cost trafilatura what real news pages do and are read as they are."""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import lxml.html
import pytest

from monitor.extract import _fields

ROOT = Path(__file__).resolve().parent.parent
PAGES = range(0, 2000, 50)  # 40 pages of a 2,000-article corpus, every layout among them
CHROME = ("More stories", "hours ago", "Trending", "Advertisement", "Share:", "All rights",
          "Comments (", "We use cookies", "Get our morning briefing")


def _load(name: str) -> ModuleType:
    """A module of bench/ (which imports its siblings by their bare names)."""
    if name not in sys.modules:
        sys.path.insert(0, str(ROOT / "bench"))
        try:
            spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(ROOT / "bench"))
    return sys.modules[name]


@cache
def _corpus() -> object:
    corpus = _load("corpus")
    return corpus.Corpus(corpus.Spec(articles=2000))


def test_the_pages_come_in_every_layout() -> None:
    corpus = _corpus()
    assert {corpus.article(i).layout for i in PAGES} == {0, 1, 2, 3}  # type: ignore[attr-defined]


@pytest.mark.parametrize("i", PAGES)
def test_the_pipeline_reads_the_article_and_no_chrome(i: int) -> None:
    corpus = _corpus()
    article = corpus.article(i)  # type: ignore[attr-defined]
    fields = _fields(corpus.page(i), corpus.url(i), False)  # type: ignore[attr-defined]
    assert fields is not None
    text = fields["text"]
    assert article.paragraphs[0][:60] in text and article.paragraphs[-1][-60:] in text
    assert [c for c in CHROME if c in text] == []
    assert fields["title"] == article.title


def test_nine_pages_in_ten_name_their_reporter_as_their_byline_does() -> None:
    corpus = _corpus()
    named = 0
    for i in range(0, 2000, 10):
        page = corpus.page(i)  # type: ignore[attr-defined]
        tree = lxml.html.fromstring(page)
        meta = tree.xpath('//meta[@name="author"]/@content')
        bylines = tree.xpath('//*[@class="author"]/text()')
        if meta:
            named += 1
            assert bylines[:1] == [f"By {meta[0]}"]
        else:
            assert not [b for b in bylines if b.startswith("By ")]
    assert 160 <= named <= 195  # of 200 pages: about nine in ten
