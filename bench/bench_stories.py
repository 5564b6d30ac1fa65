"""Benchmark: the story decision per article against a growing history.

A history of N articles (10,000, 100,000, 1,000,000) is bulk-loaded into a real SQLite file, at a
steady rate of ARTICLES_PER_DAY with one story per STORY_EVERY articles, so a bigger history is a
longer one, not a denser one (as in production: the window holds the last days, whatever the
age of the database). Then, for a stream of new matched articles (the seed reports with fresh
dates), it measures what the pipeline does per article to decide its story: load the recent
stories (an indexed range on ``last_seen``) and run ``dedup.stories.assign`` over them. The
near-duplicate lookup is measured by ``bench_dedup.py``; matching by ``bench_match.py``.
Results go to bench/results/stories.json; nothing is asserted.

    .venv/bin/python bench/bench_stories.py [--sizes 10000,100000,1000000]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from monitor.dedup import stories
from monitor.match import load_rules, match
from monitor.model import Article, Entry, Match
from monitor.store import Store

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "stories.json"
ARTICLES_PER_DAY = 1000
STORY_EVERY = 10  # one story per this many articles (the rest match nothing, or join)
WINDOW = timedelta(days=7)
NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
BASES = ["Ain al-Asad Air Base", "Harir Air Base", "Al-Tanf Garrison", "Erbil Air Base",
         "Victory Base (Baghdad airport)", "Conoco gas field base", "Tower 22"]
GROUPS = ["Kataib Hezbollah", "Islamic Resistance in Iraq", "Harakat al-Nujaba"]


def view_json(i: int, last: datetime, rng: random.Random) -> str:
    return json.dumps({
        "title": f"Rocket attack {i} on {rng.choice(BASES)}", "severity": "high",
        "first_seen": last.isoformat(timespec="seconds"),
        "last_seen": last.isoformat(timespec="seconds"),
        "event_date": last.date().isoformat(), "entities": [], "sites": [rng.choice(BASES)],
        "groups": [rng.choice(GROUPS)], "rules": ["coalition-base-attack"],
        "outlets": [f"outlet-{rng.randrange(40)}"], "text_sample": "rockets struck the base",
    })


def build(path: Path, size: int, rng: random.Random) -> float:
    """Bulk-load ``size`` entries and size/STORY_EVERY stories ending at NOW (bench DB only:
    journal off, no sync)."""
    start = time.perf_counter()
    Store.open(path).close()  # the real schema
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("INSERT INTO feeds (name, url) VALUES ('f', 'https://f.example/')")
    step = timedelta(days=1) / ARTICLES_PER_DAY
    first = NOW - step * size

    def entries() -> object:
        for i in range(size):
            t = (first + step * i).isoformat(timespec="seconds")
            yield (i + 1, "f", f"g{i}", f"https://f.example/{i}", "t", "s", t, t)

    conn.executemany("INSERT INTO entries (id, feed, guid, link, title, summary, published,"
                     " first_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", entries())

    def story_rows() -> object:
        for n, i in enumerate(range(0, size, STORY_EVERY)):
            last = first + step * i
            t = last.isoformat(timespec="seconds")
            yield (n + 1, "t", "high", i + 1, t, t, view_json(n, last, rng), t)

    conn.executemany("INSERT INTO stories (id, title, severity, first_entry_id, created_at,"
                     " updated_at, view, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     story_rows())
    conn.commit()
    conn.close()
    return time.perf_counter() - start


def stream(rules_dir: Path) -> list[tuple[Article, tuple[Match, ...]]]:
    ruleset = load_rules(rules_dir)
    out = []
    for p in sorted((ROOT / "tests" / "data" / "seeds").glob("*.txt")):
        entry = Entry(feed="f", guid=p.stem, link=None, title="", summary="", published=NOW)
        article = Article(entry=entry, url=None, title="", text=p.read_text(encoding="utf-8"),
                          published=NOW, site="bench", source="page")
        out.append((article, match(article, ruleset)))
    return out


def measure(path: Path, articles: list[tuple[Article, tuple[Match, ...]]],
            kinds: dict[str, str], rounds: int,
            regions: dict[str, str] | None = None) -> dict[str, object]:
    store = Store.open(path)
    load_us, assign_us, in_window = [], [], 0
    for _ in range(rounds):
        for article, matches in articles:
            t0 = time.perf_counter()
            recent = store.recent_stories(NOW - WINDOW)
            t1 = time.perf_counter()
            stories.assign(article, matches, recent, NOW, kinds=kinds, window=WINDOW,
                           regions=regions)
            t2 = time.perf_counter()
            load_us.append((t1 - t0) * 1e6)
            assign_us.append((t2 - t1) * 1e6)
            in_window = len(recent)
    store.close()
    total = [a + b for a, b in zip(load_us, assign_us, strict=True)]
    return {
        "stories_in_window": in_window,
        "decisions": len(total),
        "recent_load_us_median": round(statistics.median(load_us), 1),
        "assign_us_median": round(statistics.median(assign_us), 1),
        "per_article_us_median": round(statistics.median(total), 1),
        "per_article_us_mean": round(statistics.fmean(total), 1),
        "db_mib": round(path.stat().st_size / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    rng = random.Random(7)
    ruleset = load_rules(ROOT / "rules")
    kinds = stories.entity_kinds(ruleset.entities)
    regions = stories.entity_regions(ruleset.entities)
    articles = stream(ROOT / "rules")
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="bench-stories-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            path = Path(tmp) / f"h{size}.db"
            built = build(path, size, rng)
            row = measure(path, articles, kinds, args.rounds, regions)
            row["build_seconds"] = round(built, 1)
            results[str(size)] = row
            path.unlink()
            print(size, row, flush=True)
    report = {
        "benchmark": "story decision per article (recent stories loaded + assign) vs history",
        "history": f"{ARTICLES_PER_DAY} articles/day, one story per {STORY_EVERY}; "
                   f"window {WINDOW.days} days",
        "stream": "the five seed reports, matched with the shipped rules, dated now",
        "scales": results,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "date": date.today().isoformat(),
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
