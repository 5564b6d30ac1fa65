"""The store decodes a story's view once while it stays the same (the story decision reads every
story of its window for each matched article), and never hands back a stale or another file's
view."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from monitor.dedup.stories import story_kinds
from monitor.model import StoryView
from monitor.store import Store
from monitor.store import stories as store_stories

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def view(title: str, sites: frozenset[str] = frozenset({"Ain al-Asad"})) -> StoryView:
    return StoryView(
        id=0, title=title, severity="high", first_seen=NOW - timedelta(hours=2), last_seen=NOW,
        event_date=date(2026, 11, 21), entities=sites, sites=sites, groups=frozenset(),
        rules=frozenset({"attack-on-base"}), outlets=frozenset({"a"}), text_sample=title)


def open_store(path: Path, titles: list[str]) -> tuple[Store, list[int]]:
    store = Store.open(path)
    store.db.execute("PRAGMA foreign_keys = OFF")  # stories without their entries: views only
    with store.transaction():
        ids = [store.open_story(1000 + i, view(t), NOW) for i, t in enumerate(titles)]
    return store, ids


def test_a_saved_story_is_read_anew_and_an_unchanged_one_is_not_decoded_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, ids = open_store(tmp_path / "a.db", ["first", "second"])
    decoded: list[int] = []
    real = store_stories._decode

    def counted(story_id: int, text: str) -> StoryView:
        decoded.append(story_id)
        return real(story_id, text)

    monkeypatch.setattr(store_stories, "_decode", counted)
    store_stories._DECODED.clear()
    before = store.recent_stories(NOW - timedelta(days=7))
    assert [v.title for v in before] == ["first", "second"] and decoded == ids
    again = store.recent_stories(NOW - timedelta(days=7))
    assert again == before and decoded == ids  # the same texts: nothing decoded
    changed = replace(before[0], title="first, updated", sites=frozenset({"Al-Tanf"}),
                      last_seen=NOW + timedelta(minutes=5))
    with store.transaction():
        store.save_story(changed, NOW)
    after = store.recent_stories(NOW - timedelta(days=7))
    assert after[0] == changed and after[1] == before[1]
    assert decoded == [*ids, ids[0]]
    assert store.story_view(ids[0]) == changed
    store.close()


def test_another_file_with_the_same_story_ids_gets_its_own_views(tmp_path: Path) -> None:
    one, ids_one = open_store(tmp_path / "one.db", ["one", "two"])
    other, ids_other = open_store(tmp_path / "other.db", ["three", "four"])
    assert ids_one == ids_other
    for _ in range(2):
        assert [v.title for v in one.recent_stories(NOW - timedelta(days=1))] == ["one", "two"]
        assert [v.title for v in other.recent_stories(NOW - timedelta(days=1))] == [
            "three", "four"]
    one.close()
    other.close()


def test_the_decoded_views_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_stories, "DECODED_MAX", 5)
    store, ids = open_store(tmp_path / "a.db", [f"story {i}" for i in range(12)])
    for _ in range(3):
        views = store.recent_stories(NOW - timedelta(days=1))
        assert [v.title for v in views] == [f"story {i}" for i in range(12)]
        assert [v.id for v in views] == ids
        assert len(store_stories._DECODED) <= 5
    store.close()


def test_a_story_keeps_the_kinds_its_reports_told_and_an_older_view_reads_them_from_its_rules(
    tmp_path: Path,
) -> None:
    store = Store.open(tmp_path / "a.db")
    store.db.execute("PRAGMA foreign_keys = OFF")
    strike = replace(view("Iraqi army says US strikes killed soldiers"), rules=frozenset(),
                     kinds=frozenset({"strike"}))
    with store.transaction():
        story_id = store.open_story(1000, strike, NOW)
        older = store.open_story(1001, view("Rockets hit Ain al-Asad"), NOW)
    store.db.execute("UPDATE stories SET view = json_remove(view, '$.kinds') WHERE id = ?",
                     [older])
    store_stories._DECODED.clear()
    assert store.story_view(story_id).kinds == {"strike"}
    assert story_kinds(store.story_view(story_id)) == {"strike"}
    assert store.story_view(older).kinds == frozenset()
    assert story_kinds(store.story_view(older)) == {"attack"}  # its rule attack-on-base
    store.close()
