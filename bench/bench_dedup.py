"""Benchmark: near-duplicate lookups against a history of 10,000, 100,000 and 1,000,000 articles.

One SQLite file with the project's schema grows from size to size; each size's history is kept
in ``bench/.cache/`` (``--cache``; git-ignored; ~1.4 GB for the three), keyed by the
fingerprint scheme (``near.SCHEME``, in the file name) and a hash of what decides its content
(the schema of its tables, the fingerprint code, this builder), so it is built once (~3 min for
1M on 2 cores) and a later run only measures; a history of another key is deleted. At each size
a copy (in a temporary directory, or ``--dir``) is measured: a fresh process opens it with the real
``Store`` (WAL, ``synchronous=FULL``, default page cache) and runs a stream of new articles
through what the pipeline does with each one, timed apart:

* ``fingerprint``: ``fingerprint(text)`` of a ~300-word text;
* ``find_near``: ``store.find_near(fp, EDIT)`` (band and content-hash lookups, verification);
* ``insert``: one transaction with ``add_entry`` + ``add_fingerprint``, committed (an fsync).

Reported per size: mean, median and p95 µs of each and of ``lookup`` = fingerprint + find_near,
whether the near copies in the stream were found (and nothing for the new articles), the file
size with its tables, and the peak RSS of the measuring process.

The history: entry rows (as the pipeline stores them, with minimal fields), and for each one a
fingerprint. The first ``--pool`` are fingerprints of real generated texts (Zipf-distributed
words from a 20,000-word synthetic vocabulary, ~300 words in sentences); the stream's near copies
are edits of those. The others are random signatures: the MinHash values of unrelated texts are
independent uniform minima, so random values give the index the same shape (one row per band,
buckets spread evenly) at a tiny fraction of the cost of hashing a million texts in Python.
Their band buckets are computed by the real ``bands()``.

The build is a bulk load, not the measured path: ``executemany`` in chunks of 50,000 articles on
a plain connection with ``journal_mode=OFF``, ``synchronous=OFF`` and a 1 GB page cache, for the
bench database only (the measuring process uses the store's own settings). Results go to
bench/results/dedup.json and are printed; nothing is asserted.

    .venv/bin/python bench/bench_dedup.py [--sizes 10000 100000 1000000] [--stream 500]
        [--dir DIR] [--out FILE] [--cache DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.dedup.near import EDIT, PERMUTATIONS, SCHEME, Fingerprint, bands, fingerprint
from monitor.model import Entry
from monitor.store import Store

RESULTS = Path(__file__).parent / "results" / "dedup.json"
CACHE = Path(__file__).parent / ".cache"
ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2024, 8, 7, 12, 0, tzinfo=UTC)
CHUNK = 50_000
_SYLLABLES = ("ba da ka la ma na ra sa ta wa qa ha fa ja za ri mi ni si ti ku lu mu nu ru su "
              "tu ab al an ar as ir in ul un").split()


def vocabulary(size: int = 20_000, seed: int = 11) -> tuple[list[str], list[float]]:
    """Pseudo-words of 2-5 syllables with Zipf cumulative weights."""
    rng = random.Random(seed)
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < size:
        w = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 5)))
        if w not in seen:
            seen.add(w)
            words.append(w)
    cum, total = [], 0.0
    for rank in range(1, size + 1):
        total += 1.0 / rank
        cum.append(total)
    return words, cum


VOCAB, CUM = vocabulary()


def text(seed: int, n_words: int = 300) -> str:
    """A synthetic article: ~``n_words`` words in sentences, the same for the same seed."""
    rng = random.Random(seed)
    ws = rng.choices(VOCAB, cum_weights=CUM, k=n_words + rng.randint(-40, 40))
    out, i = [], 0
    while i < len(ws):
        n = rng.randint(8, 25)
        sentence = ws[i:i + n]
        out.append(sentence[0].capitalize() + " " + " ".join(sentence[1:]) + ".")
        i += n
    return " ".join(out)


def edited(source: str, share: float, rng: random.Random) -> str:
    """``share`` of the words replaced, here and there (the hardest kind of light edit)."""
    ws = source.split()
    for i in rng.sample(range(len(ws)), int(len(ws) * share)):
        ws[i] = rng.choice(VOCAB)
    return " ".join(ws)


# --- building the history ------------------------------------------------------------------


def _entry_row(i: int) -> tuple[Any, ...]:
    return (i, "bench", f"h{i}", None, None, "t", "", None, NOW.isoformat(), None)


def _random_fingerprint(rng: random.Random) -> Fingerprint:
    sig = tuple(rng.getrandbits(32) for _ in range(PERMUTATIONS))
    return Fingerprint(signature=sig, content_hash=rng.randbytes(16).hex(), words=300)


def _history(start: int, stop: int, pool: int) -> Iterator[tuple[int, Fingerprint]]:
    for i in range(start, stop):
        if i <= pool:
            yield i, fingerprint(text(i))
        else:
            yield i, _random_fingerprint(random.Random(i))


def build(path: Path, start: int, stop: int, pool: int) -> float:
    """Add history entries ``start`` … ``stop - 1`` (ids) in bulk; return seconds."""
    began = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -1000000")
    conn.execute("INSERT OR IGNORE INTO feeds (name, url) VALUES ('bench', 'http://bench/')")
    for lo in range(start, stop, CHUNK):
        hi = min(stop, lo + CHUNK)
        fps = list(_history(lo, hi, pool))
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO entries (id, feed, guid, link, canonical_url, title,"
                         " summary, published, first_seen_at, duplicate_of)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         [_entry_row(i) for i, _ in fps])
        conn.executemany("INSERT INTO fingerprints (entry_id, signature, content_hash, words)"
                         " VALUES (?, ?, ?, ?)",
                         [(i, fp.signature_bytes(), fp.content_hash, fp.words) for i, fp in fps])
        conn.executemany("INSERT INTO fingerprint_bands (band, bucket, entry_id) VALUES (?, ?, ?)",
                         [(b, bucket, i) for i, fp in fps for b, bucket in enumerate(bands(fp))])
        conn.execute("COMMIT")
        print(f"  built {hi - 1:,} ({time.perf_counter() - began:.0f} s)", flush=True)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    return time.perf_counter() - began


def cache_key(pool: int) -> str:
    """Changes with what decides a built history's content: the fingerprint scheme (its
    version leads the key, so a history of another scheme is never taken for this one's), the
    schema of the tables it fills (as the store creates them), the fingerprint and band code,
    and this builder. A change to other tables does not invalidate it (the store migrates the
    copy it opens)."""
    digest = hashlib.sha256(f"{pool} scheme {SCHEME}".encode())
    with tempfile.TemporaryDirectory() as tmp:
        Store.open(Path(tmp) / "schema.db").close()
        conn = sqlite3.connect(Path(tmp) / "schema.db")
        rows = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE tbl_name IN"
                            " ('entries', 'fingerprints', 'fingerprint_bands') ORDER BY name")
        digest.update(repr(rows.fetchall()).encode())
        conn.close()
    source = Path(__file__).read_text(encoding="utf-8")
    digest.update(source[source.index("def vocabulary"):source.index("def cache_key")].encode())
    digest.update((ROOT / "monitor" / "dedup" / "near.py").read_bytes())
    return f"s{SCHEME}-{digest.hexdigest()[:12]}"


# --- measuring (in a fresh process) --------------------------------------------------------


def peak_rss_mib() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: on Linux a child's ru_maxrss keeps the
    high-water mark of the parent it was forked from, across exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _stats(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {"mean_us": round(statistics.fmean(values) * 1e6, 1),
            "median_us": round(statistics.median(values) * 1e6, 1),
            "p95_us": round(values[int(len(values) * 0.95)] * 1e6, 1)}


def measure(path: Path, stream: int, pool: int, near_share: float, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    articles: list[tuple[str, int | None]] = []  # (text, the pool entry it copies)
    for k in range(stream + 20):
        if rng.random() < near_share:
            copied = rng.randint(1, pool)
            articles.append((edited(text(copied), rng.choice((0.02, 0.05, 0.10)), rng), copied))
        else:
            articles.append((text(10**9 + seed * 10**6 + k), None))
    store = Store.open(path)
    times: dict[str, list[float]] = {"fingerprint": [], "find_near": [], "insert": []}
    found = expected = false_hits = 0
    for k, (body, source) in enumerate(articles):
        t0 = time.perf_counter()
        fp = fingerprint(body)
        t1 = time.perf_counter()
        near = store.find_near(fp, EDIT)
        t2 = time.perf_counter()
        with store.transaction():
            entry_id = store.add_entry(Entry(feed="bench", guid=f"s{seed}-{k}", link=None,
                                             title="t", summary="", published=None), None, NOW)
            store.add_fingerprint(entry_id, fp)
        t3 = time.perf_counter()
        if k < 20:
            continue  # warm-up: imports, first page reads
        times["fingerprint"].append(t1 - t0)
        times["find_near"].append(t2 - t1)
        times["insert"].append(t3 - t2)
        if source is not None:
            expected += 1
            found += any(e == source for e, _ in near)
        else:
            false_hits += bool(near)
    store.close()
    lookup = [a + b for a, b in zip(times["fingerprint"], times["find_near"], strict=True)]
    return {"articles": stream, "near_copies": expected, "near_copies_found": found,
            "new_articles_with_a_false_hit": false_hits,
            "lookup": _stats(lookup), **{name: _stats(v) for name, v in times.items()},
            "peak_rss_mib": peak_rss_mib()}


def sizes_on_disk(path: Path) -> dict[str, float]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
    finally:
        conn.close()
    mib = {name: round(size / 2**20, 1) for name, size in rows if size >= 2**20}
    mib["file"] = round(path.stat().st_size / 2**20, 1)
    return mib


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--stream", type=int, default=500)
    parser.add_argument("--pool", type=int, default=2_000)
    parser.add_argument("--near-share", type=float, default=0.1)
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary DB goes")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the results file")
    parser.add_argument("--cache", type=Path, default=CACHE,
                        help="where built histories are kept for the next run ('' for none)")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.stream, args.pool, args.near_share,
                                 args.seed)))
        return

    began = time.perf_counter()
    cache = args.cache if args.cache else None
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        keep = cache or Path(tmp)
        keep.mkdir(parents=True, exist_ok=True)
        key = cache_key(args.pool)
        for stale in keep.glob("dedup-*"):  # built by other code: of no use now
            if not stale.name.startswith(f"dedup-{key}-"):
                stale.unlink()
        scales: dict[str, Any] = {}
        previous: tuple[int, Path] | None = None
        for k, size in enumerate(sorted(args.sizes)):
            history = keep / f"dedup-{key}-{size}.db"
            seconds, cached = 0.0, history.exists()
            if not cached:
                print(f"history {size:,}: building", flush=True)
                part = history.with_suffix(".part")
                if previous is None:
                    part.unlink(missing_ok=True)
                    Store.open(part).close()
                else:
                    shutil.copyfile(previous[1], part)
                seconds = build(part, (previous[0] if previous else 0) + 1, size + 1, args.pool)
                part.rename(history)
            previous = (size, history)
            path = Path(tmp) / "bench.db"  # the stream's writes go to a copy
            shutil.copyfile(history, path)
            out = subprocess.run(
                [sys.executable, __file__, "--measure", str(path), "--stream", str(args.stream),
                 "--pool", str(args.pool), "--near-share", str(args.near_share),
                 "--seed", str(k + 1)], check=True, capture_output=True, text=True)
            result = json.loads(out.stdout)
            scales[str(size)] = {"build_seconds": round(seconds, 1), "cached": cached, **result,
                                 "mib": sizes_on_disk(path)}
            path.unlink()
            print(json.dumps(scales[str(size)]), flush=True)
    lo, hi = str(min(args.sizes)), str(max(args.sizes))
    summary = {"benchmark": "near-duplicate lookup against a growing history (MinHash + LSH in"
                            " SQLite)",
               "stream": f"{args.stream} new articles of ~300 words per size"
                         f" ({args.near_share:.0%} edits of history items with 2-10 % of words"
                         " changed, the rest new), after 20 warm-up articles",
               "history": f"{args.pool} real fingerprints of generated texts + random"
                          " signatures; bulk-loaded",
               "scales": scales,
               "lookup_median_ratio_largest_to_smallest": round(
                   scales[hi]["lookup"]["median_us"] / scales[lo]["lookup"]["median_us"], 2),
               "find_near_median_ratio_largest_to_smallest": round(
                   scales[hi]["find_near"]["median_us"] / scales[lo]["find_near"]["median_us"],
                   2),
               "build_peak_rss_mib": peak_rss_mib(),
               "seconds_total": round(time.perf_counter() - began, 1),
               "machine": f"{platform.machine()}, {os.cpu_count()} cpu,"
                          f" Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"}
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "scales"}, indent=2))


if __name__ == "__main__":
    main()
