"""The store's fingerprint index: round trip, lookups through the indexes (never a scan),
replacing an edited text, short texts, bounded lookups, and an idempotent migration."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.dedup.near import BANDS, EDIT, Fingerprint, bands, fingerprint
from monitor.model import Entry, Feed
from monitor.store import Store
from monitor.store.near import BUCKET_CAP, _candidates_sql
from monitor.store.schema import MIGRATIONS

NOW = datetime(2024, 8, 7, 12, 0, tzinfo=UTC)
FEED = Feed(name="f", url="https://example.org/feed.xml", interval=3600)
SEEDS = sorted((Path(__file__).parent / "data" / "seeds").glob("*.txt"))


def seed(n: int) -> str:
    return SEEDS[n].read_text()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path / "m.db")
    s.sync_feeds([FEED])
    return s


def add(store: Store, guid: str, text: str) -> int:
    """An entry with the fingerprint of ``text``, as the pipeline would add it."""
    with store.transaction():
        entry_id = store.add_entry(Entry(feed="f", guid=guid, link=None, title="t", summary="s",
                                         published=NOW), None, NOW)
        store.add_fingerprint(entry_id, fingerprint(text))
    return entry_id


def band_rows(store: Store, entry_id: int) -> int:
    row = store.db.execute("SELECT count(*) FROM fingerprint_bands WHERE entry_id = ?",
                           [entry_id]).fetchone()
    return int(row[0])


def test_round_trip_and_lookup(store: Store) -> None:
    ids = [add(store, f"g{n}", seed(n)) for n in range(len(SEEDS))]
    assert store.get_fingerprint(ids[2]) == fingerprint(seed(2))
    assert store.get_fingerprint(9999) is None
    assert band_rows(store, ids[0]) == BANDS

    copy = fingerprint(seed(2).replace("\n", " ") + " Reporting by the desk.")
    candidates = store.near_candidates(copy)
    assert candidates[0] == (ids[2], fingerprint(seed(2)))
    assert all(isinstance(fp, Fingerprint) for _, fp in candidates)
    near = store.find_near(copy, EDIT)
    assert [e for e, _ in near] == [ids[2]] and near[0][1] > 0.9
    # the same event retold (seeds 000 and 001) is not near
    assert [e for e, _ in store.find_near(fingerprint(seed(1)), EDIT)] == [ids[1]]


def test_find_near_orders_best_first_then_earliest(store: Store) -> None:
    text = seed(3)
    words = text.split()
    first = add(store, "a", text)
    edited = add(store, "b", " ".join(words[: len(words) * 3 // 4]))  # a quarter cut
    again = add(store, "c", text.upper())  # the same text again
    found = store.find_near(fingerprint(text), EDIT)
    assert [e for e, _ in found] == [first, again, edited]
    assert found[0][1] == found[1][1] == 1.0 and EDIT <= found[2][1] < 1.0


def test_an_edited_text_replaces_its_fingerprint_and_buckets(store: Store) -> None:
    entry_id = add(store, "g", seed(0))
    with store.transaction():
        store.add_fingerprint(entry_id, fingerprint(seed(4)))  # the page now says something else
    assert store.get_fingerprint(entry_id) == fingerprint(seed(4))
    assert band_rows(store, entry_id) == BANDS
    assert store.near_candidates(fingerprint(seed(0))) == []
    assert [e for e, _ in store.find_near(fingerprint(seed(4)), EDIT)] == [entry_id]


def test_short_texts_are_found_by_their_exact_hash_only(store: Store) -> None:
    headline = "Rocket attack on US forces in Iraq may derail withdrawal talks"
    entry_id = add(store, "g", headline)
    assert band_rows(store, entry_id) == 0
    assert store.find_near(fingerprint(headline.upper() + "."), EDIT) == [(entry_id, 1.0)]
    assert store.near_candidates(fingerprint(headline.replace("may", "could"))) == []
    empty = add(store, "e", "")
    assert store.near_candidates(fingerprint("")) == []
    assert store.get_fingerprint(empty) == fingerprint("")


def test_a_fingerprint_needs_its_entry(store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError), store.transaction():
        store.add_fingerprint(4242, fingerprint(seed(0)))


def test_lookups_are_bounded_by_limit_and_bucket_cap(store: Store) -> None:
    text = seed(1)
    with store.transaction():
        for i in range(BUCKET_CAP + 20):
            entry_id = store.add_entry(Entry(feed="f", guid=f"g{i}", link=None, title="t",
                                             summary="s", published=NOW), None, NOW)
            store.add_fingerprint(entry_id, fingerprint(text))
    assert len(store.near_candidates(fingerprint(text), limit=7)) == 7
    found = store.near_candidates(fingerprint(text), limit=1000)
    assert len(found) == BUCKET_CAP  # the most recent copies of a text repeated 120 times
    assert [e for e, _ in found] == list(range(BUCKET_CAP + 20, 20, -1))


def test_lookups_use_the_indexes_and_never_scan_a_table(store: Store) -> None:
    for n in range(len(SEEDS)):
        add(store, f"g{n}", seed(n))
    store.db.execute("ANALYZE")
    fp = fingerprint(seed(0))
    params: list[object] = [BANDS + 1, fp.content_hash, BUCKET_CAP]
    for band, bucket in enumerate(bands(fp)):
        params += [band, bucket, BUCKET_CAP]
    params.append(50)
    plan = [row[3] for row in store.db.execute(
        "EXPLAIN QUERY PLAN " + _candidates_sql(BANDS), params).fetchall()]
    assert sum("SEARCH fingerprint_bands USING PRIMARY KEY (band=? AND bucket=?)" in p
               for p in plan) == BANDS
    assert any("USING COVERING INDEX fingerprints_content_hash (content_hash=?)" in p
               for p in plan)
    assert any("SEARCH f USING INTEGER PRIMARY KEY (rowid=?)" in p for p in plan)
    assert not [p for p in plan if p.startswith("SCAN") and "subquery" not in p
                and p != "SCAN c"], plan


def test_the_migration_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    Store.open(path).close()
    with sqlite3.connect(path) as conn:
        before = conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
    assert {"fingerprints", "fingerprint_bands", "fingerprints_content_hash"} <= {
        n for n, _ in before}
    again = Store.open(path)
    assert again.migrate() == []
    assert again.db.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == [
        (sql,) for _, sql in before]
    assert "0003_fingerprints" in [name for name, _ in MIGRATIONS]


def test_a_database_without_fingerprints_is_migrated_in_place(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.store import schema as schema_module

    path = tmp_path / "old.db"
    upto = [name for name, _ in schema_module.MIGRATIONS].index("0003_fingerprints")
    monkeypatch.setattr("monitor.store.MIGRATIONS", schema_module.MIGRATIONS[:upto])
    old = Store.open(path)
    old.db.execute("INSERT INTO feeds (name, url) VALUES (?, ?)", [FEED.name, FEED.url])
    with old.transaction():
        entry_id = old.add_entry(Entry(feed="f", guid="g", link=None, title="t", summary="s",
                                       published=NOW), None, NOW)
    old.close()
    monkeypatch.setattr("monitor.store.MIGRATIONS", schema_module.MIGRATIONS)
    new = Store.open(path)
    with new.transaction():
        new.add_fingerprint(entry_id, fingerprint(seed(0)))
    assert new.find_near(fingerprint(seed(0)), EDIT) == [(entry_id, 1.0)]
