"""The store's half of near-duplicate detection: fingerprints and their LSH band index.

Mixed into ``Store``. A lookup reads the rows of the query's 32 band buckets and of its content
hash, each through its index (the ``fingerprint_bands`` primary key, ``fingerprints_content_hash``)
and each capped at ``BUCKET_CAP`` rows, so its cost does not grow with the history: it never scans.
The candidates are then verified in Python by their estimated similarity.

``migrate_fingerprints_v2`` (migration ``0012_fingerprints_v2``) recomputed the stored
fingerprints when the signature scheme changed (``monitor.dedup.near.SCHEME`` 2).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING

from monitor.dedup.near import BANDS, Fingerprint, bands, fingerprint, similarity

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["BUCKET_CAP", "MIGRATE_BATCH", "NearIndex", "migrate_fingerprints_v2"]

# The most rows one bucket (or one content hash) contributes to a lookup: its most recent ones.
# Only a text repeated hundreds of times fills a bucket; its latest copies are as good as any.
BUCKET_CAP = 100
# Fingerprints recomputed at a time by ``migrate_fingerprints_v2``: its memory does not grow
# with the history.
MIGRATE_BATCH = 1000
# An exact content-hash hit outranks any number of shared bands.
_EXACT = BANDS + 1

_HASH_PART = ("SELECT * FROM (SELECT entry_id, ? AS w FROM fingerprints WHERE content_hash = ?"
              " ORDER BY entry_id DESC LIMIT ?)")
_BAND_PART = ("SELECT * FROM (SELECT entry_id, 1 AS w FROM fingerprint_bands"
              " WHERE band = ? AND bucket = ? ORDER BY entry_id DESC LIMIT ?)")


@cache
def _candidates_sql(n_bands: int) -> str:
    """Candidates ranked by evidence: exact hash first, then the number of shared buckets."""
    parts = " UNION ALL ".join([_HASH_PART] + [_BAND_PART] * n_bands)
    return (f"SELECT f.entry_id, f.signature, f.content_hash, f.words FROM ("  # noqa: S608
            f"SELECT entry_id, sum(w) AS score FROM ({parts}) GROUP BY entry_id"  # (constants)
            " ORDER BY score DESC, entry_id DESC LIMIT ?) AS c"
            " JOIN fingerprints AS f ON f.entry_id = c.entry_id"
            " ORDER BY c.score DESC, c.entry_id DESC")


def delete_fingerprints(db: sqlite_utils.Database,
                        stored: Sequence[tuple[int, Fingerprint]]) -> int:
    """Delete these (entry id, its stored fingerprint) and their band rows, inside the caller's
    transaction; return how many band rows went."""
    cur = db.conn.executemany(
        "DELETE FROM fingerprint_bands WHERE band = ? AND bucket = ? AND entry_id = ?",
        [(band, bucket, entry_id) for entry_id, fp in stored
         for band, bucket in enumerate(bands(fp))])
    db.execute("DELETE FROM fingerprints WHERE entry_id IN (SELECT value FROM json_each(?))",
               [json.dumps([entry_id for entry_id, _ in stored])])
    return max(cur.rowcount, 0)


class NearIndex:
    """Fingerprint methods of ``Store``."""

    if TYPE_CHECKING:
        @property
        def db(self) -> sqlite_utils.Database: ...

    def add_fingerprint(self, entry_id: int, fp: Fingerprint) -> None:
        """Store (or replace) the fingerprint of an entry and its band rows, inside the
        caller's transaction. Replacing one (an edited text) moves its buckets."""
        conn = self.db.conn
        self.drop_fingerprint(entry_id)
        conn.execute(
            "INSERT INTO fingerprints (entry_id, signature, content_hash, words)"
            " VALUES (?, ?, ?, ?)", [entry_id, fp.signature_bytes(), fp.content_hash, fp.words])
        conn.executemany(
            "INSERT INTO fingerprint_bands (band, bucket, entry_id) VALUES (?, ?, ?)",
            [(band, bucket, entry_id) for band, bucket in enumerate(bands(fp))])

    def drop_fingerprint(self, entry_id: int) -> None:
        """Delete an entry's fingerprint and its band rows, if it has one (inside the caller's
        transaction): an edited article that no longer matches any rule, or one whose
        fingerprint ``add_fingerprint`` replaces."""
        old = self.get_fingerprint(entry_id)
        if old is not None:
            delete_fingerprints(self.db, [(entry_id, old)])

    def get_fingerprint(self, entry_id: int) -> Fingerprint | None:
        row = self.db.execute(
            "SELECT signature, content_hash, words FROM fingerprints WHERE entry_id = ?",
            [entry_id]).fetchone()
        return Fingerprint.from_bytes(row[0], row[1], row[2]) if row else None

    def near_candidates(self, fp: Fingerprint, limit: int = 50) -> list[tuple[int, Fingerprint]]:
        """Stored entries that share an LSH bucket or the content hash with ``fp``, the
        strongest evidence first (exact copies, then most shared buckets, then the most recent);
        at most ``limit``. A short fingerprint finds exact copies only; an empty text, nothing."""
        if not fp.words:
            return []
        buckets = bands(fp)
        params: list[object] = [_EXACT, fp.content_hash, BUCKET_CAP]
        for band, bucket in enumerate(buckets):
            params += [band, bucket, BUCKET_CAP]
        params.append(limit)
        rows = self.db.execute(_candidates_sql(len(buckets)), params).fetchall()
        return [(int(r[0]), Fingerprint.from_bytes(r[1], r[2], r[3])) for r in rows]

    def find_near(self, fp: Fingerprint, threshold: float,
                  limit: int = 50) -> list[tuple[int, float]]:
        """Stored entries whose text is at least ``threshold`` similar to ``fp`` (estimated
        Jaccard, see ``monitor.dedup.near``), most similar first, the earliest first on a tie."""
        found = [(entry_id, similarity(fp, other))
                 for entry_id, other in self.near_candidates(fp, limit)]
        return sorted([(e, s) for e, s in found if s >= threshold], key=lambda r: (-r[1], r[0]))


def migrate_fingerprints_v2(db: sqlite_utils.Database) -> None:
    """Every stored fingerprint recomputed with the current scheme from its article's text, and
    the LSH index (``fingerprint_bands``) rebuilt, ``MIGRATE_BATCH`` fingerprints at a time
    (inside the migration's one transaction: what is in memory is one batch, not the history).

    A fingerprint whose article text is gone (pruned by retention, which keeps fingerprints
    longer than texts) cannot be recomputed: it keeps its content hash and word count and loses
    its signature and bands, like a short text's, so it still finds (and is found by) exact
    copies, never near ones. An old signature kept beside new ones would be compared with them
    value by value, and mean nothing.
    """
    conn = db.conn
    conn.execute("DELETE FROM fingerprint_bands")
    last = -(1 << 63)  # SQLite's smallest integer: entry ids (rowids, from 1) are above it
    while True:
        rows = conn.execute(
            "SELECT f.entry_id, f.content_hash, f.words, a.text, a.text_pruned_at"
            " FROM fingerprints AS f LEFT JOIN articles AS a ON a.entry_id = f.entry_id"
            " WHERE f.entry_id > ? ORDER BY f.entry_id LIMIT ?", [last, MIGRATE_BATCH]).fetchall()
        if not rows:
            return
        updates: list[tuple[bytes, str, int, int]] = []
        band_rows: list[tuple[int, int, int]] = []
        for entry_id, digest, words, text, pruned_at in rows:
            if text is None or pruned_at is not None:
                fp = Fingerprint(signature=(), content_hash=digest, words=words)
            else:
                fp = fingerprint(text)
            updates.append((fp.signature_bytes(), fp.content_hash, fp.words, entry_id))
            band_rows += [(band, bucket, entry_id) for band, bucket in enumerate(bands(fp))]
        conn.executemany("UPDATE fingerprints SET signature = ?, content_hash = ?, words = ?"
                         " WHERE entry_id = ?", updates)
        band_rows.sort()  # fewer page changes in the index than in entry order
        conn.executemany("INSERT INTO fingerprint_bands (band, bucket, entry_id) VALUES (?, ?, ?)",
                         band_rows)
        last = rows[-1][0]
