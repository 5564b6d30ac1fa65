"""The store's half of near-duplicate detection: fingerprints and their LSH band index.

Mixed into ``Store``. A lookup reads the rows of the query's 32 band buckets and of its content
hash, each through its index (the ``fingerprint_bands`` primary key, ``fingerprints_content_hash``)
and each capped at ``BUCKET_CAP`` rows, so its cost does not grow with the history: it never scans.
The candidates are then verified in Python by their estimated similarity.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from monitor.dedup.near import BANDS, Fingerprint, bands, similarity

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["BUCKET_CAP", "NearIndex"]

# The most rows one bucket (or one content hash) contributes to a lookup: its most recent ones.
# Only a text repeated hundreds of times fills a bucket; its latest copies are as good as any.
BUCKET_CAP = 100
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


class NearIndex:
    """Fingerprint methods of ``Store``."""

    if TYPE_CHECKING:
        @property
        def db(self) -> sqlite_utils.Database: ...

    def add_fingerprint(self, entry_id: int, fp: Fingerprint) -> None:
        """Store (or replace) the fingerprint of an entry and its band rows, inside the
        caller's transaction. Replacing one (an edited text) moves its buckets."""
        conn = self.db.conn
        old = self.get_fingerprint(entry_id)
        if old is not None:
            conn.executemany(
                "DELETE FROM fingerprint_bands WHERE band = ? AND bucket = ? AND entry_id = ?",
                [(band, bucket, entry_id) for band, bucket in enumerate(bands(old))])
        conn.execute(
            "INSERT INTO fingerprints (entry_id, signature, content_hash, words)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (entry_id) DO UPDATE SET"
            " signature = excluded.signature, content_hash = excluded.content_hash,"
            " words = excluded.words",
            [entry_id, fp.signature_bytes(), fp.content_hash, fp.words])
        conn.executemany(
            "INSERT INTO fingerprint_bands (band, bucket, entry_id) VALUES (?, ?, ?)",
            [(band, bucket, entry_id) for band, bucket in enumerate(bands(fp))])

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
