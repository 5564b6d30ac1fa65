"""Migration ``0012_fingerprints_v2``: a database whose fingerprints are scheme 1 (96 SHAKE-128
minima per text) gets every fingerprint recomputed from its article's text, in batches, and its
LSH index rebuilt; a fingerprint whose text was pruned keeps only its exact-copy hash."""

from __future__ import annotations

import hashlib
import random
import struct
import sys
from array import array
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.dedup.near import (
    BANDS,
    DUPLICATE,
    EDIT,
    PERMUTATIONS,
    ROWS,
    Fingerprint,
    bands,
    content_hash,
    fingerprint,
    words,
)
from monitor.model import Feed
from monitor.store import Store
from monitor.store.schema import MIGRATIONS

NOW = datetime(2024, 8, 7, 12, 0, tzinfo=UTC)
FEED = Feed(name="f", url="https://example.org/feed.xml", interval=3600)
SEEDS = sorted((Path(__file__).parent / "data" / "seeds").glob("*.txt"))
NAME = "0012_fingerprints_v2"


def seed(n: int) -> str:
    return SEEDS[n].read_text()


# --- scheme 1, as the 0003-0011 code stored it ----------------------------------------------


def v1_fingerprint(text: str) -> Fingerprint:
    ws = words(text)
    if len(ws) < 20:
        return Fingerprint((), content_hash(text), len(ws))
    shingles = {" ".join(ws[i:i + 3]) for i in range(len(ws) - 2)}
    buf = array("I")
    buf.frombytes(b"".join([hashlib.shake_128(b"news-monitor/near/1\x00" + s.encode())
                            .digest(4 * PERMUTATIONS) for s in shingles]))
    if sys.byteorder == "big":
        buf.byteswap()
    return Fingerprint(tuple([min(buf[i::PERMUTATIONS]) for i in range(PERMUTATIONS)]),
                       content_hash(text), len(ws))


def v1_bands(fp: Fingerprint) -> list[int]:
    if fp.short:
        return []
    band = struct.Struct(f"<{ROWS}I")
    return [int.from_bytes(hashlib.blake2b(band.pack(*fp.signature[b * ROWS:(b + 1) * ROWS]),
                                           digest_size=8, person=b"nm/near/band/1").digest(),
                           "little") >> 1 for b in range(BANDS)]


def scattered(text: str, share: float, rng: random.Random) -> str:
    ws = text.split()
    for i in rng.sample(range(len(ws)), int(len(ws) * share)):
        ws[i] = rng.choice(["lantern", "quarry", "velvet", "ember", "orchard"])
    return " ".join(ws)


# --- a database at 0011 ----------------------------------------------------------------------


def old_entry(store: Store, guid: str, text: str | None, *, pruned: bool = False,
              fp_text: str | None = None) -> int:
    """An entry as the scheme-1 code stored it: its article (``text``; None: no article row;
    ``pruned``: emptied by retention) and the scheme-1 fingerprint of ``fp_text`` (default:
    ``text``) with its band rows. Plain SQL, as the code of that schema wrote it."""
    db = store.db
    entry_id = db.execute(
        "INSERT INTO entries (feed, guid, title, summary, first_seen_at) VALUES (?, ?, 't', 's',"
        " ?)", ["f", guid, NOW.isoformat()]).lastrowid
    assert entry_id is not None
    if text is not None:
        db.execute("INSERT INTO articles (entry_id, title, text, source, extracted_at,"
                   " text_pruned_at) VALUES (?, 't', ?, 'page', ?, ?)",
                   [entry_id, "" if pruned else text, NOW.isoformat(),
                    NOW.isoformat() if pruned else None])
    fp = v1_fingerprint(fp_text if fp_text is not None else text or "")
    db.execute("INSERT INTO fingerprints (entry_id, signature, content_hash, words)"
               " VALUES (?, ?, ?, ?)", [entry_id, fp.signature_bytes(), fp.content_hash, fp.words])
    db.conn.executemany("INSERT INTO fingerprint_bands (band, bucket, entry_id) VALUES (?, ?, ?)",
                        [(b, bucket, entry_id) for b, bucket in enumerate(v1_bands(fp))])
    return entry_id


@pytest.fixture
def migrated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
             ) -> tuple[Store, dict[str, int], dict[int, str]]:
    """A database built at 0011 with scheme-1 fingerprints, then opened with every migration
    (0012 in batches of 2 fingerprints)."""
    path = tmp_path / "old.db"
    upto = [name for name, _ in MIGRATIONS].index(NAME)
    monkeypatch.setattr("monitor.store.MIGRATIONS", MIGRATIONS[:upto])
    old = Store.open(path)  # written to in plain SQL only, as the code of that schema did
    old.db.execute("INSERT INTO feeds (name, url) VALUES (?, ?)", [FEED.name, FEED.url])
    texts = {f"seed{n}": seed(n) for n in range(len(SEEDS))}
    texts["edit0"] = scattered(seed(0), 0.05, random.Random(1))
    texts["short"] = "Breaking: rockets hit a base in western Iraq"
    with old.transaction():
        ids = {key: old_entry(old, key, text) for key, text in texts.items() if key != "seed3"}
        ids["pruned"] = old_entry(old, "pruned", seed(3), pruned=True)
        ids["no-article"] = old_entry(old, "no-article", None, fp_text=seed(4) + " Updated.")
    (before,) = old.db.execute("SELECT signature FROM fingerprints WHERE entry_id = ?",
                               [ids["seed1"]]).fetchone()
    assert before == v1_fingerprint(seed(1)).signature_bytes()
    assert before != fingerprint(seed(1)).signature_bytes()
    old.close()
    monkeypatch.setattr("monitor.store.MIGRATIONS", MIGRATIONS)
    monkeypatch.setattr("monitor.store.near.MIGRATE_BATCH", 2)
    store = Store.open(path)
    return store, ids, {ids[k]: t for k, t in texts.items() if k in ids}


def test_every_fingerprint_is_recomputed_from_its_text(
        migrated: tuple[Store, dict[str, int], dict[int, str]]) -> None:
    store, ids, texts = migrated
    for entry_id, text in texts.items():
        assert store.get_fingerprint(entry_id) == fingerprint(text), entry_id
    rows = set(store.db.execute("SELECT band, bucket, entry_id FROM fingerprint_bands"))
    assert rows == {(b, bucket, entry_id) for entry_id, text in texts.items()
                    for b, bucket in enumerate(bands(fingerprint(text)))}
    assert store.get_fingerprint(ids["short"]) == fingerprint("Breaking: rockets hit a base in"
                                                              " western Iraq")
    assert NAME in {r[0] for r in store.db.execute("SELECT name FROM _migrations")}


def test_near_duplicates_are_still_found(
        migrated: tuple[Store, dict[str, int], dict[int, str]]) -> None:
    store, ids, _ = migrated
    sentences = [s for s in seed(0).split("\n") if s.strip()]
    copy = fingerprint("\n".join([*sentences[1:], "Reporting by our correspondent."]))
    found = dict(store.find_near(copy, EDIT))
    assert found[ids["seed0"]] >= DUPLICATE
    assert ids["edit0"] in found  # the stored light edit of the same text
    edit = fingerprint(scattered(seed(2), 0.10, random.Random(2)))
    assert [e for e, _ in store.find_near(edit, EDIT)] == [ids["seed2"]]


def test_a_fingerprint_whose_text_is_gone_keeps_only_its_exact_copy_hash(
        migrated: tuple[Store, dict[str, int], dict[int, str]]) -> None:
    """Retention empties texts before it deletes fingerprints: such a one cannot be recomputed,
    so it matches exact copies only (its scheme-1 signature would mean nothing now)."""
    store, ids, _ = migrated
    old = v1_fingerprint(seed(3))
    assert store.get_fingerprint(ids["pruned"]) == Fingerprint((), old.content_hash, old.words)
    assert store.db.execute("SELECT count(*) FROM fingerprint_bands WHERE entry_id = ?",
                            [ids["pruned"]]).fetchone() == (0,)
    assert store.find_near(fingerprint(seed(3).upper()), DUPLICATE) == [(ids["pruned"], 1.0)]
    assert store.find_near(fingerprint(scattered(seed(3), 0.05, random.Random(3))), EDIT) == []
    no_article = store.get_fingerprint(ids["no-article"])
    assert no_article is not None and no_article.short
    assert no_article.content_hash == content_hash(seed(4) + " Updated.")


def test_the_migration_runs_once(migrated: tuple[Store, dict[str, int], dict[int, str]],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    store = migrated[0]
    before = store.db.execute("SELECT * FROM fingerprints ORDER BY entry_id").fetchall()
    assert store.migrate() == []
    monkeypatch.setattr("monitor.store.near.fingerprint", None)  # would fail if called again
    store.close()
    again = Store.open(store.path)
    assert again.db.execute("SELECT * FROM fingerprints ORDER BY entry_id").fetchall() == before
