"""Full-text search (`monitor search`, ``monitor.store.search``): the spellings of a place
name in English and Arabic, hostile query text, pruned texts leaving the index, an older
database indexed by its migration, and the command end to end on the sample news site."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.model import Article, Entry, Feed
from monitor.store import Store
from monitor.store.schema import MIGRATIONS
from monitor.store.search import fold, match_query
from tests.conftest import Receiver
from tests.fakes import story_view
from tests.test_pipeline_e2e import Site, write_config

NOW = datetime(2024, 8, 7, 12, 0, tzinfo=UTC)
FEED = Feed(name="wire", url="https://example.org/feed.xml", interval=3600)

# guid → (title, text, age in days): what each query must find is listed in SPELLINGS.
ARTICLES = {
    "en": ("Rockets hit base", "Three rockets struck Ain al-Asad air base in Anbar.", 1),
    "caps": ("Base attacked", "A drone targeted the Ain Al Asad airbase on Monday.", 2),
    "accent": ("Attack reported", "Officials said Aïn al-Asad was hit overnight.", 3),
    "ar": ("هجوم صاروخي", "سقطت صواريخ على قاعدة عين الأسد الجوية في الأنبار.", 4),
    "ar-vowels": ("هجوم", "قصف قاعدةِ عَيْنِ الأَسَد فجر اليوم.", 5),
    "ar-plain": ("قصف", "سقوط صواريخ على قاعدة عين الاسد غرب العراق.", 6),
    "assad": ("Syria", "Bashar al-Assad met the delegation in Damascus.", 7),
    "other": ("Erbil", "A drone was shot down near Erbil airport.", 8),
}
SPELLINGS = {
    "Ain al-Asad": {"en", "caps", "accent"},
    "Ain Al Asad": {"en", "caps", "accent"},
    "al-Asad": {"en", "caps", "accent"},
    "AIN AL-ASAD": {"en", "caps", "accent"},
    "عين الأسد": {"ar", "ar-vowels", "ar-plain"},
    "عين الاسد": {"ar", "ar-vowels", "ar-plain"},
    "عَيْن الأَسَد": {"ar", "ar-vowels", "ar-plain"},
}


def add_article(store: Store, guid: str, title: str, text: str, when: datetime) -> int:
    entry = Entry(feed=FEED.name, guid=guid, link=f"https://example.org/{guid}", title=title,
                  summary="", published=when)
    with store.transaction():
        entry_id = store.add_entry(entry, entry.link, when)
        store.add_article(entry_id, Article(entry=entry, url=entry.link, title=title, text=text,
                                            published=when, site="Example Wire",
                                            source="page"), when)
    return entry_id


def filled(path: Path, *, old: bool = False) -> tuple[Store, dict[str, int]]:
    """A database with the articles; ``old``: one of an older schema, whose feeds table may
    lack columns ``sync_feeds`` writes today, so the feed row is inserted as it was then."""
    store = Store.open(path)
    if old:
        with store.transaction() as db:
            db.execute("INSERT INTO feeds (name, url) VALUES (?, ?)", [FEED.name, FEED.url])
    else:
        store.sync_feeds([FEED])
    ids = {guid: add_article(store, guid, title, text, NOW - timedelta(days=age))
           for guid, (title, text, age) in ARTICLES.items()}
    return store, ids


def found(store: Store, *phrases: str, **kwargs: object) -> list[int]:
    return [h.entry_id for h in store.search(phrases, **kwargs)]  # type: ignore[arg-type]


def fts_integrity(store: Store) -> None:
    """FTS5's own check of the index against its content; raises if they differ."""
    store.db.execute("INSERT INTO articles_fts (articles_fts, rank) VALUES ('integrity-check', 1)")


@pytest.mark.parametrize(("query", "expected"), SPELLINGS.items(), ids=list(SPELLINGS))
def test_every_spelling_of_the_base_finds_its_reports_and_nothing_else(
        tmp_path: Path, query: str, expected: set[str]) -> None:
    store, ids = filled(tmp_path / "m.db")
    newest_first = [ids[g] for g in sorted(expected, key=lambda g: ARTICLES[g][2])]
    assert found(store, query) == newest_first


def test_snippets_mark_the_phrase_and_results_carry_the_story(tmp_path: Path) -> None:
    store, ids = filled(tmp_path / "m.db")
    with store.transaction():
        story = store.open_story(ids["en"], story_view("Ain al-Asad attack", NOW), NOW)
        store.attach(story, ids["en"], "new", "first report", NOW)
    (hit, *_) = store.search(["Ain al-Asad"])
    assert hit.entry_id == ids["en"] and hit.story_id == story
    assert "«Ain al-Asad»" in hit.snippet
    assert hit.outlet == "Example Wire" and hit.feed == "wire"
    assert hit.url == "https://example.org/en" and hit.title == "Rockets hit base"
    (arabic, *_) = store.search(["عين الأسد"])
    assert "«عين الاسد»" in arabic.snippet  # the folded text: hamza unified
    assert arabic.story_id is None


def test_since_and_limit(tmp_path: Path) -> None:
    store, ids = filled(tmp_path / "m.db")
    assert found(store, "al-Asad", since=NOW - timedelta(days=2, hours=1)) == [ids["en"],
                                                                               ids["caps"]]
    assert found(store, "al-Asad", limit=1) == [ids["en"]]
    assert found(store, "Asad", "drone") == [ids["caps"]], "several phrases: all required"


ASAD = {"en", "caps", "accent"}
# hostile text → the articles it finds, searched as the words it holds
HOSTILE: dict[str, set[str]] = {
    '"': set(), 'Ain "al-Asad': ASAD, '"Ain al-Asad"': ASAD, "NEAR(": {"other"},
    "NEAR(Ain Asad, 2)": set(), "*": set(), "Asad*": ASAD, "title:Asad": set(), "text:": set(),
    "{title text}:Asad": set(), "Ain OR Erbil": set(), "NOT Erbil": set(), "^Ain": ASAD,
    "-Asad": ASAD, "+Asad": ASAD, "(": set(), ")": set(), "'": set(), "Ain AND": set(),
    "\\": set(), "Erbil\u0000": {"other"}, "a" * 5000: set(), "''\"\"": set(),
    'al-Asad"); DROP TABLE articles; --': set(), "Damascus.": {"assad"},
}


@pytest.mark.parametrize(("query", "expected"), HOSTILE.items(), ids=range(len(HOSTILE)))
def test_hostile_query_text_is_searched_as_words_never_as_syntax(
        tmp_path: Path, query: str, expected: set[str]) -> None:
    store, ids = filled(tmp_path / "m.db")
    assert set(found(store, query)) == {ids[g] for g in expected}
    assert store.db.execute("SELECT count(*) FROM articles").fetchone()[0] == len(ARTICLES)


def test_query_building_quotes_every_phrase() -> None:
    assert match_query(["Ain al-Asad"]) == '"Ain al-Asad"'
    assert match_query(['say "hi"', "x"]) == '"say ""hi""" AND "x"'
    assert match_query(["*", "  ", "-"]) is None
    assert fold("قاعدةِ الأَسَد") == "قاعده الاسد"


def test_pruned_texts_and_rewritten_articles_keep_the_index_exact(tmp_path: Path) -> None:
    store, ids = filled(tmp_path / "m.db")
    pruned = store.prune_texts(NOW - timedelta(days=2, hours=12), NOW, pause=0)
    assert pruned == len(ARTICLES) - 2  # all but the articles of 1 and 2 days ago
    fts_integrity(store)
    assert found(store, "Ain al-Asad") == [ids["en"], ids["caps"]], "pruned texts left the index"
    assert found(store, "عين الأسد") == []
    assert found(store, "هجوم صاروخي") == [ids["ar"]], "a pruned article is found by its title"
    (hit,) = store.search(["هجوم صاروخي"])
    assert hit.text_pruned and "«هجوم صاروخي»" in hit.snippet
    entry = Entry(feed=FEED.name, guid="en", link="https://example.org/en", title="Edited",
                  summary="", published=NOW)
    with store.transaction():  # an edited article: its row deleted and written again
        store.revise_entry(ids["en"], entry, Article(
            entry=entry, url=entry.link, title="Edited", text="Now about Erbil only.",
            published=NOW, site=None, source="page"), (), NOW)
    fts_integrity(store)
    assert found(store, "Ain al-Asad") == [ids["caps"]]
    assert found(store, "Erbil only") == [ids["en"]]


def test_the_migration_indexes_the_articles_of_an_older_database(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "m.db"
    names = [name for name, _ in MIGRATIONS]
    before = names.index("0011_search")
    with monkeypatch.context() as patch:
        patch.setattr("monitor.store.MIGRATIONS", MIGRATIONS[:before])
        old, ids = filled(db, old=True)
        old.close()
    with sqlite3.connect(db) as conn:
        assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'articles_fts'"
                                ).fetchone()
    store = Store.open(db)
    fts_integrity(store)
    assert set(found(store, "Ain al-Asad")) == {ids["en"], ids["caps"], ids["accent"]}
    assert store.migrate() == []


# --- the command ---------------------------------------------------------------------------------


def test_search_command_on_the_sample_site(tmp_path: Path, sample_site: Site,
                                           receiver: Receiver) -> None:
    base, _ = sample_site
    config = write_config(tmp_path, base)
    env = {"TEST_SLACK_WEBHOOK_URL": receiver.url}
    runner = CliRunner()
    assert runner.invoke(cli, ["check", "-c", str(config)], env=env).exit_code == 0
    result = runner.invoke(cli, ["search", "Ain al-Asad", "-c", str(config), "--json"], env=env)
    assert result.exit_code == 0, result.output
    hits = json.loads(result.output)
    assert len(hits) >= 3
    assert all("«" in h["snippet"] and h["url"].startswith(base) for h in hits)
    times = [h["time"] for h in hits]
    assert times == sorted(times, reverse=True)
    assert {h["story_id"] for h in hits} - {None}, "the attack reports belong to a story"
    text = runner.invoke(cli, ["search", "Ain al-Asad", "--limit", "2", "-c", str(config)],
                         env=env)
    assert text.exit_code == 0, text.output
    first = text.output.split("\n\n")[0].splitlines()
    assert first[0].startswith(hits[0]["time"][:10]) and f"story {hits[0]['story_id']}" in first[0]
    assert first[1].strip() == hits[0]["title"] and first[2].strip() == hits[0]["url"]
    assert "«" in first[3] and "more may match (--limit)" in text.output
    none = runner.invoke(cli, ["search", "zzzunheardof", "-c", str(config)], env=env)
    assert none.exit_code == 0 and none.output.strip() == "no article matches"
    since = runner.invoke(cli, ["search", "Ain al-Asad", "--since", "2099-01-01", "-c",
                                str(config)], env=env)
    assert since.exit_code == 0 and since.output.strip() == "no article matches"
    for query in HOSTILE:
        hostile = runner.invoke(cli, ["search", query, "-c", str(config)], env=env)
        assert hostile.exit_code in (0, 2), (query, hostile.output)
        assert hostile.exception is None or isinstance(hostile.exception, SystemExit), query
        if match_query([query]) is None:
            assert "no word to search for" in hostile.output
    bad = runner.invoke(cli, ["search", "x", "--since", "last week", "-c", str(config)],
                        env=env)
    assert bad.exit_code == 2 and "--since" in bad.output
