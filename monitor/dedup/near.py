"""Near-duplicate text: MinHash fingerprints of word shingles, and LSH bands to find them.

Pure code, no I/O: the store keeps the fingerprints and answers band lookups.

**Words.** The text is decomposed (NFKD), combining marks are dropped (Latin accents, Arabic
harakat) and the Arabic tatweel with them, it is case-folded, and the words are the runs of
``\\w``: punctuation, quotes and spacing count for nothing.

**Shingles and signature** (``SCHEME`` 2). The set of word 3-grams (``SHINGLE``) is summarised
by a signature of ``PERMUTATIONS`` = 96 values, by one-permutation hashing (Li, Owen & Zhang
2012): each shingle is hashed once, BLAKE2b-512 of ``_SEED``, a space and its words
(space-separated, UTF-8); the digest's first 64-bit word *h* (little-endian) puts it in bin
``96h >> 64``, and each bin keeps the smallest *h* that falls in it, as its 32-bit offset in
the bin, ``(96h mod 2**64) >> 32``. A bin that no shingle falls in is filled by the next round:
the digest's second word puts every shingle in a bin again, each bin still empty keeps the
smallest of that round, and so on (words 3-8, then BLAKE2b personalised with 1, 2, … for
rounds 8 and on) until none is empty: the densification of fast similarity sketching
(Dahlgaard, Knudsen & Thorup 2017). A bin's value is thus the smallest (round, offset) over the
text's shingles, a function of the shingle set alone; two texts' values agree where that
smallest over the union of their shingles is a shared shingle, which is so with probability J,
the sets' Jaccard similarity: the share of equal values estimates J, without bias. The hashes
depend on nothing but the bytes (never Python's salted ``hash()``), so a signature is the same
in every process, run and machine. Round 0 leaves ~0.07 bins empty in a 700-word text, ~4 at
300 words, ~35 at 100 (filled from the same hash call: it gives 8 rounds), ~80 at
``MIN_WORDS``.

Measured on random pairs of shingle sets (``bench/near_quality.py``, 400 per size and J): the
estimate's error has a mean within ±0.004 and a standard deviation of 0.028-0.038 for 18 to 100
shingles, 0.035-0.048 at 300, 0.037-0.05 at 700: at most ``sqrt(J(1-J)/96)`` (0.041 at J = 0.2
or 0.8, 0.051 at 0.5), that of 96 independent hash functions (scheme 1), and less for shorter
texts, whose bins draw distinct shingles. Filling an empty bin with a copy of another bin's
value instead (optimal densification, Shrivastava 2017) was measured at 0.039-0.057 for 18 to
40 shingles (0.036-0.046 at 100): a copy repeats a sample, a new round draws another.

**Why 3-word shingles.** Measured on the seed articles (``tests/data/seeds``): two outlets
retelling one event in their own words (seeds 000 and 001) share 6.5 % of their 3-grams (3.7 %
of 4-grams; estimated 0.05); unrelated sample pages at most 2.8 % (estimated at most 0.031). A
copy with a sentence added or cut is above 0.9. A light rewrite with 10 % of its words changed
here and there keeps 0.585 of 3-grams (mean of 300 trials) but only 0.50 of 4-grams and 0.43 of
5-grams (15 %: 0.46, 0.37, 0.30); rewritten sentences (the changes in runs) keep more, 0.71-0.77
at 15 %. 3-grams keep light rewrites far above the retellings, with room for the estimate's
error on both sides.

**Thresholds** (on the estimated Jaccard of 3-grams), used by ``classify``:

* ``DUPLICATE`` = 0.75: the same text. Two texts at 0.75 share 86 % of their shingles each
  (``2J / (1 + J)``), Feedly's "85 % overlap". The sample site's pages, extracted, against the
  seed captures of the same articles (other boilerplate kept or cut: a caption, a "do you like
  this article" box, the headline) are at 0.80, 0.865, 0.885, 0.885 and 1.0 (exact: 0.825,
  0.85, 0.92, 0.93, 1.0).
* ``EDIT`` = 0.4: the same text, edited. Words changed here and there, 300 trials on the seeds
  (each with another ``_SEED``, so that the numbers are the scheme's, not five texts' luck):
  10 % of them, 0.45-0.71 (mean 0.58), always found; 15 %, mean 0.46, at ``EDIT`` or above 90 %
  of the time (88 % also sharing a bucket); 20 %, 19 % (scheme 1: 99.7 %, 87 %, 21 %). Sentences
  rewritten (15-20 % of the words, in three runs): 0.53-0.84, always found. Whether it is *this*
  article's edit (same canonical URL or guid) or another outlet's light rewrite is the caller's
  business; ``classify`` judges text only.
* below: distinct texts (other words about the same event are the story stage's business).

**LSH.** The signature is cut into ``BANDS`` = 32 bands of ``ROWS`` = 3 values; each band is
hashed to a 63-bit bucket. Two texts are candidates when they share a bucket in any band, with
probability ``1 - (1 - J**3)**32`` (the S-curve, steepest near ``(1/32)**(1/3)`` = 0.31)::

    J          0.05   0.1    0.2    0.3    0.4    0.5    0.6    0.75
    candidate  0.004  0.03   0.23   0.58   0.88   0.99   0.9996 1.0
    measured   0.004  0.026  0.22   0.59   0.88   0.99   1.0    1.0

(measured: 2,000 pairs of 300-shingle sets per J), so an edit at the ``EDIT`` line is found 88 %
of the time, one at 0.5 99 %, a duplicate always, while a retelling (~0.065) costs a
verification 1 % of the time and unrelated texts almost never.

**Cost.** Standard library only: ``fingerprint`` of a 700-word text takes ~0.52 ms (scheme 1:
~3.2 ms, 96 SHAKE-128 words per shingle and their column minima): the words ~0.15 ms (the marks
dropped by one regular expression), the shingles' bytes 0.07 ms, one BLAKE2b call per shingle
0.2 ms (called bare: keyword arguments would cost a third more, hence the seed in the hashed
bytes), sorting the hashes and one bisection per bin 0.08 ms; ``bands`` ~0.02 ms. A text of
20-40 words takes ~0.2 ms (scheme 1: ~0.1 ms): its bins fill over some 20-30 rounds. A MinHash
library (datasketch, with numpy and scipy) is not worth its weight. ``Store.find_near`` takes
~0.14 ms at 10,000 stored articles and ~0.27 ms at 1,000,000 (``bench/bench_dedup.py``).

**Short texts.** Under ``MIN_WORDS`` words (a bare feed item, a headline) a few shared phrases
would make a false near-duplicate: such a fingerprint has no signature and no bands, and is
matched only by its exact ``content_hash``. An empty text matches nothing.
"""

from __future__ import annotations

import hashlib
import re
import struct
import sys
import unicodedata
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache, partial
from itertools import groupby, repeat
from operator import eq
from typing import Literal

__all__ = [
    "BANDS",
    "DUPLICATE",
    "EDIT",
    "MIN_WORDS",
    "PERMUTATIONS",
    "ROWS",
    "SCHEME",
    "SHINGLE",
    "Fingerprint",
    "Nearness",
    "bands",
    "classify",
    "content_hash",
    "fingerprint",
    "similarity",
    "words",
]

SHINGLE = 3
PERMUTATIONS = 96  # values in a signature: the bins the shingle hashes are split into
BANDS = 32
ROWS = 3
MIN_WORDS = 20
DUPLICATE = 0.75
EDIT = 0.4

assert BANDS * ROWS == PERMUTATIONS

Nearness = Literal["duplicate", "edit", "distinct"]

# The version of the signature scheme. Changing it, the seeds, SHINGLE, PERMUTATIONS or the
# normalisation changes every signature: the stored fingerprints must then be recomputed by a
# migration (``0012_fingerprints_v2`` in ``monitor.store.near`` did it for version 2).
SCHEME = 2
_SEED = "news-monitor/near/2\x00"  # hashed before each shingle (a space between)
_BAND_SEED = b"nm/near/band/2"
_ROUNDS = 8  # rounds per hash call: a BLAKE2b-512 digest is eight 64-bit hashes
_MASK = (1 << 64) - 1
# Bin b holds the 64-bit hashes h in [_BOUNDS[b], _BOUNDS[b + 1]), i.e. h * 96 >> 64 == b.
_BOUNDS = tuple(-(-(b << 64) // PERMUTATIONS) for b in range(PERMUTATIONS + 1))
_DIGEST = hashlib.blake2b.digest
_WORD = re.compile(r"\w+")
_SIGNATURE = struct.Struct(f"<{PERMUTATIONS}I")
_BAND_SLICES = [slice(4 * ROWS * b, 4 * ROWS * (b + 1)) for b in range(BANDS)]
_band_hash = partial(hashlib.blake2b, digest_size=8, person=_BAND_SEED)


@dataclass(frozen=True)
class Fingerprint:
    """The MinHash signature of a text's word shingles, its exact content hash, its length.

    ``signature`` is empty for a text under ``MIN_WORDS`` words (``short``), and for a stored
    one whose text was pruned before a change of scheme: such a one is matched only by
    ``content_hash``.
    """

    signature: tuple[int, ...]
    content_hash: str
    words: int

    @property
    def short(self) -> bool:
        return not self.signature

    def signature_bytes(self) -> bytes:
        """The signature as little-endian unsigned 32-bit words (empty when short)."""
        return _SIGNATURE.pack(*self.signature) if self.signature else b""

    @classmethod
    def from_bytes(cls, signature: bytes, content_hash: str, words: int) -> Fingerprint:
        """The inverse of ``signature_bytes``, for the store."""
        values = _SIGNATURE.unpack(signature) if signature else ()
        return cls(signature=values, content_hash=content_hash, words=words)


@cache
def _strip_table() -> dict[int, None]:
    """Combining marks of the Basic Multilingual Plane, and the tatweel: deleted."""
    table: dict[int, None] = {c: None for c in range(0x300, 0x10000)
                              if unicodedata.category(chr(c)) == "Mn"}
    table[0x0640] = None
    return table


@cache
def _strip() -> re.Pattern[str]:
    """The characters of ``_strip_table`` as one character class: ``sub`` deletes them as
    ``translate`` would, some 5 times faster on a mostly Latin text."""
    ranges = []
    for _, run in groupby(enumerate(sorted(_strip_table())), lambda p: p[1] - p[0]):
        cps = [cp for _, cp in run]
        ranges.append(f"\\u{cps[0]:04x}-\\u{cps[-1]:04x}")
    return re.compile(f"[{''.join(ranges)}]+")


def words(text: str) -> list[str]:
    """The normalised words of ``text``: decomposed, marks dropped, case-folded, ``\\w`` runs."""
    decomposed = unicodedata.normalize("NFKD", text)
    if not decomposed.isascii():
        decomposed = _strip().sub("", decomposed)
    return _WORD.findall(decomposed.casefold())


def _content_hash(ws: list[str]) -> str:
    return hashlib.blake2b(" ".join(ws).encode(), digest_size=16).hexdigest()


def content_hash(text: str) -> str:
    """An exact-copy hash of the normalised words (blind to case, punctuation, spacing)."""
    return _content_hash(words(text))


def _shingles(ws: Sequence[str]) -> list[bytes]:
    """What is hashed of each word ``SHINGLE``-gram: ``_SEED``, a space, its words
    space-separated, UTF-8 (repeats kept: they change nothing)."""
    columns = [ws[k:] for k in range(SHINGLE)]
    return list(map(str.encode, map(" ".join, zip(repeat(_SEED), *columns))))


def _hashes(shingles: list[bytes], call: int) -> array[int]:
    """Rounds ``8 * call`` … ``8 * call + 7`` of every shingle, 64-bit hashes shingle by
    shingle (round ``8 * call + k`` is ``[k::8]``): its BLAKE2b-512 digest personalised with
    ``call`` (little-endian; for call 0 that is BLAKE2b's default, which is faster called bare)."""
    digest: Callable[[bytes], hashlib.blake2b] = (
        partial(hashlib.blake2b, person=call.to_bytes(16, "little")) if call else hashlib.blake2b)
    buf = array("Q")
    assert buf.itemsize == 8
    buf.frombytes(b"".join(map(_DIGEST, map(digest, shingles))))
    if sys.byteorder == "big":
        buf.byteswap()
    return buf


def _fill(hashes: Iterable[int], bins: Iterable[int], sig: list[int]) -> list[int]:
    """Set each of ``bins`` in ``sig`` to the smallest of ``hashes`` that falls in it (as its
    offset in the bin, 32 bits); return the bins none falls in."""
    hs = sorted(hashes)
    n = len(hs)
    empty = []
    for b in bins:
        i = bisect_left(hs, _BOUNDS[b])
        if i < n and hs[i] < _BOUNDS[b + 1]:
            sig[b] = ((hs[i] * PERMUTATIONS) & _MASK) >> 32
        else:
            empty.append(b)
    return empty


def _sketch(shingles: list[bytes]) -> tuple[int, ...]:
    """The signature of a set of shingles (at least one): round 0 of each one's hash puts it
    in a bin, each bin keeps its smallest; the bins left empty take the smallest of round 1,
    then of round 2, and so on until none is empty."""
    if not shingles:
        raise ValueError("no shingle: every bin would stay empty")
    sig = [0] * PERMUTATIONS
    empty: list[int] = list(range(PERMUTATIONS))
    hashes = array("Q")
    rnd = 0
    while empty:
        call, k = divmod(rnd, _ROUNDS)
        if k == 0:
            hashes = _hashes(shingles, call)
        empty = _fill(hashes[k::_ROUNDS], empty, sig)
        rnd += 1
    return tuple(sig)


def _minhash(ws: list[str]) -> tuple[int, ...]:
    return _sketch(_shingles(ws))


def fingerprint(text: str) -> Fingerprint:
    """The fingerprint of an article's text."""
    ws = words(text)
    signature = _minhash(ws) if len(ws) >= MIN_WORDS else ()
    return Fingerprint(signature=signature, content_hash=_content_hash(ws), words=len(ws))


@lru_cache(maxsize=256)  # an article's buckets are looked up, then stored: computed once
def bands(fp: Fingerprint) -> tuple[int, ...]:
    """The LSH bucket of each of the ``BANDS`` bands (63-bit ints, to fit SQLite's INTEGER):
    the little-endian BLAKE2b-64 (personalised ``_BAND_SEED``) of the band's ``ROWS`` values as
    little-endian uint32s, shifted right by one. None for a short fingerprint, so it is never an
    LSH candidate."""
    if fp.short:
        return ()
    packed = _SIGNATURE.pack(*fp.signature)
    buf = array("Q")
    buf.frombytes(b"".join(map(_DIGEST, map(_band_hash, map(packed.__getitem__, _BAND_SLICES)))))
    if sys.byteorder == "big":
        buf.byteswap()
    return tuple([h >> 1 for h in buf])


def similarity(a: Fingerprint, b: Fingerprint) -> float:
    """The estimated Jaccard similarity of two texts' shingle sets, 0.0 … 1.0.

    Equal content hashes are 1.0; a short fingerprint is 0.0 to anything else.
    """
    if a.content_hash == b.content_hash and a.words and b.words:
        return 1.0
    if a.short or b.short or len(a.signature) != len(b.signature):
        return 0.0
    same: int = sum(map(eq, a.signature, b.signature))
    return same / len(a.signature)


def classify(sim: float) -> Nearness:
    """What a ``similarity`` says of two texts: the same (``duplicate``), the same edited
    (``edit``), or ``distinct``. Text only: URLs, guids and dates are the caller's."""
    if sim >= DUPLICATE:
        return "duplicate"
    if sim >= EDIT:
        return "edit"
    return "distinct"
