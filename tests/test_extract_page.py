"""The extract stage: page text via trafilatura, boilerplate left out, summary as the fallback."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.demo import SITE
from monitor.extract import extract, extract_html
from monitor.match import load_rules, match
from monitor.model import Entry
from monitor.net import GuardedClient, NetConfig

NATIONAL = "the-national/2024/08/06/rocket-attack-on-us-forces-could-derail-withdrawal-talks.html"
SHAFAQ = ("shafaq-news/2024/08/07/"
          "rocket-attack-on-us-forces-in-iraq-may-derail-withdrawal-talks.html")
FASSEL = ("al-fassel/2024/08/08/"
          "iran-linked-attacks-on-coalition-base-in-iraq-undermine-iraqi-government.html")
LOCAL = NetConfig(allow_private=("127.0.0.1",), total_timeout=10)
PUBLISHED = datetime(2024, 8, 6, 9, 0, tzinfo=UTC)


def entry(link: str | None, summary: str = "Feed summary of the report.") -> Entry:
    return Entry(feed="f", guid="g", link=link, title="Feed title", summary=summary,
                 published=PUBLISHED)


def page(path: str) -> bytes:
    return (SITE / path).read_bytes().replace(b"{{BASE}}", b"http://127.0.0.1:8000")


@pytest.mark.parametrize(("path", "present", "absent"), [
    (NATIONAL, ["Iraq’s vast Ain Al Asad airbase", "Kataib Hezbollah who have launched"],
     ["Privacy", "Related"]),
    (SHAFAQ, ["Ain Al-Asad Airbase in western Iraq", "violates Iraq's sovereignty"],
     ["Radio radio icon"]),
    (FASSEL, ["claimed by \"Thawriyoun,\"", "launched from the town of Haditha"],
     ["Captcha", "Is it possible for you to publish an announcement"]),
])
def test_article_text_without_page_boilerplate(path: str, present: list[str],
                                               absent: list[str]) -> None:
    article = extract_html(entry("x"), page(path), f"http://127.0.0.1:8000/{path}")
    assert article is not None and article.source == "page"
    for phrase in present:
        assert phrase in article.text
    for phrase in absent:
        assert phrase not in article.text
    assert article.site and article.title != "Feed title"
    assert article.published == PUBLISHED  # the feed's precise time wins over the page's day


def test_page_date_used_when_the_feed_gives_none() -> None:
    e = Entry(feed="f", guid="g", link="x", title="t", summary="s", published=None)
    article = extract_html(e, page(NATIONAL), "http://127.0.0.1:8000/x")
    assert article is not None and article.published == datetime(2024, 8, 6, tzinfo=UTC)


def test_fetch_through_the_guarded_client(
        sample_site: tuple[str, list[tuple[str, dict[str, str]]]]) -> None:
    base, seen = sample_site
    with GuardedClient(LOCAL) as client:
        article = extract(entry(f"{base}/{NATIONAL}"), client)
    assert article.source == "page" and article.url == f"{base}/{NATIONAL}"
    assert "Ain Al Asad" in article.text
    assert seen[-1][1]["User-Agent"].startswith("news-monitor/")


@pytest.mark.parametrize(("link", "note"), [
    ("/missing.html", "HTTP 404"),
    ("/feeds/rss.xml", "not HTML"),
    (None, "no link"),
])
def test_summary_fallback_says_why(sample_site: tuple[str, list[tuple[str, dict[str, str]]]],
                                   link: str | None, note: str) -> None:
    base, _ = sample_site
    with GuardedClient(LOCAL) as client:
        article = extract(entry(f"{base}{link}" if link else None), client)
    assert article.source == "summary" and article.text == "Feed summary of the report."
    assert article.note and note in article.note


def test_blocked_page_falls_back_without_fetching(
        sample_site: tuple[str, list[tuple[str, dict[str, str]]]]) -> None:
    base, seen = sample_site
    with GuardedClient(NetConfig()) as client:  # loopback not allowlisted
        article = extract(entry(f"{base}/{NATIONAL}"), client)
    assert article.source == "summary" and article.note
    assert article.note.startswith("blocked_url: refused: non-public address 127.0.0.1")
    assert seen == []


def test_a_page_with_no_article_text_falls_back(tmp_path: Path) -> None:
    html = b"<html><body><nav><a href='/'>Home</a></nav></body></html>"
    assert extract_html(entry("x", summary="A long enough summary " * 20), html, "http://h/") \
        is None


def test_a_more_news_list_of_dated_teasers_is_left_out() -> None:
    html = (Path(__file__).parent / "data" / "pages" / "more-news.html").read_bytes()
    article = extract_html(entry("x"), html, "https://www.aljazeera.net/news/2024/12/19/x")
    assert article.source == "page"
    assert "ردا على اغتيال القيادي في الحزب محمد نعمة ناصر" in article.text
    assert "قاعدة التنف" not in article.text  # a teaser of 19/10/2023
    assert "سنواصل عملياتنا" not in article.text  # and one of 25/1/2024
    assert not match(article, load_rules(Path(__file__).parents[1] / "rules"))


def test_without_teasers_keeps_undated_items_and_dates_inside_lines() -> None:
    from monitor.extract import without_teasers

    text = ("Rockets hit the base on 19/10/2023, officials said.\n- Three rockets\n"
            "- Two drones, one shot down\n- Old story 19.10.2023\n- Older one 2019-12-27 21:05")
    assert without_teasers(text) == ("Rockets hit the base on 19/10/2023, officials said.\n"
                                     "- Three rockets\n- Two drones, one shot down\n")
    # one line at a time: an item and a dateline under it stay
    assert without_teasers("- Three rockets\n19/10/2023\n") == "- Three rockets\n19/10/2023\n"


OIL = "".join(
    f"<p>Paragraph {i}: Baghdad and Erbil are near a deal to restart oil exports through Turkey, "
    "officials said, after months of talks over payment guarantees.</p>" for i in range(5))


@pytest.mark.parametrize("related", [
    ('<h3>Related</h3><ul><li><a href="/a">Rockets hit Iraq\'s Ain al-Asad air base hosting '
     'U.S. troops</a> (Reuters)</li><li><a href="/b">Central bank to end dollar auction</a> '
     '(AFP)</li></ul>'),
    ('<p><strong>Read more:</strong> <a href="/a">Rockets hit Iraq\'s Ain al-Asad air base '
     'hosting U.S. troops</a></p>'),
    '<p>اقرأ أيضاً:</p><p><a href="/a">صواريخ تستهدف قاعدة عين الأسد غربي الأنبار</a></p>',
])
def test_a_read_more_block_is_left_out(related: str) -> None:
    """trafilatura keeps these blocks in the text: the old headline in them is not this story."""
    html = (f"<html><body><article><h1>Oil deal near</h1>{OIL}{related}"
            "<p>The ministry declined to give a timeline.</p></article></body></html>")
    article = extract_html(entry("x"), html, "https://example.org/oil")
    assert article is not None and article.source == "page"
    assert "Paragraph 4" in article.text
    assert "The ministry declined to give a timeline." in article.text
    assert "Asad" not in article.text and "الأسد" not in article.text
    assert not match(article, load_rules(Path(__file__).parents[1] / "rules"))


def test_without_related_keeps_prose_that_starts_like_a_marker() -> None:
    from monitor.extract import without_related

    text = ("Read more about the attack in our explainer, which has the details.\n"
            "Related news: the base was hit again on Tuesday, officials said.\n"
            "Relatedly, three rockets hit the base\n"
            "Read also:\n\n- An old headline\n• Another one\nThe last paragraph.")
    assert without_related(text) == (
        "Read more about the attack in our explainer, which has the details.\n"
        "Related news: the base was hit again on Tuesday, officials said.\n"
        "Relatedly, three rockets hit the base\nThe last paragraph.")
