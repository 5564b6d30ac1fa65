"""A feed's ``full_text``: "always" reads every new entry's page; "when_candidate" reads it
only when the entry's title and summary hold a part of a rule (issue 8, point 4).

A real HTTP server on 127.0.0.1 serves the feed and the pages and counts what is asked; the
shipped rules decide.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from monitor import match
from monitor.cli import build_context
from monitor.config import load_config
from monitor.errors import ConfigError
from monitor.metrics import Metrics, install
from monitor.pipeline import NOT_A_CANDIDATE, Context, poll_feed
from monitor.store import Store
from tests.conftest import ScriptedServer

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2024, 8, 6, 12, 0, tzinfo=UTC)
ATTACK_PAGE = (
    "Several rockets struck Ain al-Asad air base in western Iraq on Monday evening, wounding "
    "five US service members, US officials said. The base hosts US and coalition forces. "
    "Kataib Hezbollah has claimed similar attacks on US forces in the past months, and the "
    "Pentagon said it was assessing the damage to the base and the condition of the wounded.")
OTHER_PAGE = (
    "The city council of Erbil approved the new budget for public parks on Monday, after a "
    "long debate about playgrounds, trees and the cost of water. The mayor said the first "
    "works would start in the spring and that the parks would open to families by the summer, "
    "with new benches, lights and a library kiosk near the old citadel.")
# guid → (title, feed summary, page text)
ENTRIES = {
    "base": ("Rockets hit Ain al-Asad air base", "Five US service members were hurt.",
             ATTACK_PAGE),
    "vague": ("Pentagon statement on Monday night",
              "Kataib Hezbollah is suspected in a drone attack, officials said.", ATTACK_PAGE),
    "parks": ("Erbil approves the parks budget", "Playgrounds and trees for the city.",
              OTHER_PAGE),
    "buried": ("Council news from Erbil", "A budget for the parks, and more.", ATTACK_PAGE),
}


def feed_xml(base: str) -> bytes:
    items = "".join(
        f'<item><guid isPermaLink="false">{guid}</guid><title>{escape(title)}</title>'
        f"<link>{base}/{guid}</link><description>{escape(summary)}</description>"
        f"<pubDate>{format_datetime(NOW - timedelta(minutes=10 + i))}</pubDate></item>"
        for i, (guid, (title, summary, _)) in enumerate(ENTRIES.items()))
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{items}'
            f"</channel></rss>").encode()


def page(title: str, text: str) -> bytes:
    return (f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
            f"<p>{text}</p></article></body></html>").encode()


class Site:
    """The feed and its pages on a scripted server, with what was asked of it."""

    def __init__(self, server: ScriptedServer) -> None:
        self.server = server
        self.base = server.url("").rstrip("/")
        body = feed_xml(self.base)
        server.routes["/feed"] = lambda h: h.reply(
            200, body, {"Content-Type": "application/rss+xml"})
        for guid, (title, _, text) in ENTRIES.items():
            html = page(title, text)
            server.routes[f"/{guid}"] = lambda h, html=html: h.reply(
                200, html, {"Content-Type": "text/html"})

    def hits(self, guid: str) -> int:
        return self.server.paths().count(f"/{guid}")


@pytest.fixture
def site(scripted_server: ScriptedServer) -> Site:
    return Site(scripted_server)


def context(tmp_path: Path, site: Site, full_text: str | None) -> Context:
    setting = f'full_text = "{full_text}"' if full_text else ""
    path = tmp_path / "monitor.toml"
    path.write_text(f"""
database = "monitor.db"
rules = "{ROOT / 'rules'}"
[network]
allow_private = ["127.0.0.1"]
[polling]
first_poll_max_age = "1d"
[[feeds]]
name = "f"
url = "{site.base}/feed"
{setting}
[targets.out]
type = "console"
""", encoding="utf-8")
    config = load_config(path)
    ctx = build_context(config, Store.open(config.database))
    ctx.store.sync_feeds(config.feeds)
    ctx.clock = lambda: NOW
    return ctx


def articles(ctx: Context) -> dict[str, tuple[str, str | None, int]]:
    """guid → (source, note, matches) as stored."""
    rows = ctx.store.db.execute(
        "SELECT e.guid, a.source, a.note, (SELECT count(*) FROM matches m WHERE m.entry_id ="
        " e.id) FROM entries e JOIN articles a ON a.entry_id = e.id").fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def poll(tmp_path: Path, site: Site, full_text: str | None
         ) -> tuple[dict[str, tuple[str, str | None, int]], float]:
    ctx = context(tmp_path, site, full_text)
    previous = install(Metrics())
    try:
        report = poll_feed(ctx, ctx.config.feeds[0])
        skipped = install(previous).pages_skipped._value.get()
        assert report.new == len(ENTRIES)
        return articles(ctx), skipped
    finally:
        ctx.client.close()
        ctx.store.close()


def test_always_is_the_default_and_reads_every_page(tmp_path: Path, site: Site) -> None:
    stored, skipped = poll(tmp_path, site, None)
    assert [site.hits(g) for g in ENTRIES] == [1, 1, 1, 1]
    assert skipped == 0
    assert {g: s for g, (s, _, _) in stored.items()} == dict.fromkeys(ENTRIES, "page")
    assert stored["buried"][2] > 0, "the page told of the attack the title and summary hid"


def test_when_candidate_reads_only_the_pages_of_entries_that_could_match(
        tmp_path: Path, site: Site) -> None:
    stored, skipped = poll(tmp_path, site, "when_candidate")
    assert {g: site.hits(g) for g in ENTRIES} == {"base": 1, "vague": 1, "parks": 0,
                                                   "buried": 0}
    assert skipped == 2
    assert stored["base"][0] == "page" and stored["base"][2] > 0, "read and matched"
    assert stored["vague"][0] == "page" and stored["vague"][2] > 0, \
        "a candidate through its summary alone"
    for guid in ("parks", "buried"):
        source, note, matches = stored[guid]
        assert (source, note, matches) == ("summary", NOT_A_CANDIDATE, 0), \
            "stored from the feed, so it is seen and never fetched again"


def test_a_skipped_entry_is_not_fetched_on_the_next_poll(tmp_path: Path, site: Site) -> None:
    poll(tmp_path, site, "when_candidate")
    ctx = context(tmp_path, site, "when_candidate")
    try:
        report = poll_feed(ctx, ctx.config.feeds[0])
    finally:
        ctx.client.close()
        ctx.store.close()
    assert report.new == 0
    assert site.hits("parks") == 0 and site.hits("buried") == 0


@pytest.mark.parametrize(("title", "summary", "expected"), [
    ("Rocket attack on Ain Al Asad", "", True),
    ("Statement", "Hezbollah Brigades claim the attack", True),  # all in the summary
    ("Statement", "كتائب حزب الله تتبنى الهجوم", True),  # Arabic: Kataib Hezbollah claims
    ("Drone strike reported", "", False),  # an attack word alone
    ("Erbil approves the parks budget", "Playgrounds and trees.", False),  # a place alone
    ("Bashar al-Assad meets envoy", "Talks in Damascus.", False),  # not Ain al-Asad
    ("", "", False),
])
def test_candidate_is_two_parts_of_a_rule_in_title_and_summary(
        title: str, summary: str, expected: bool) -> None:
    ruleset = match.load_rules(ROOT / "rules")
    assert match.candidate(title, summary, ruleset) is expected


def test_a_wrong_full_text_names_the_feed_key(tmp_path: Path) -> None:
    path = tmp_path / "monitor.toml"
    path.write_text('[[feeds]]\nname = "f"\nurl = "https://example.org/rss"\n'
                    'full_text = "sometimes"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "feeds[0].full_text" in message and "when_candidate" in message
    assert str(path) in message
