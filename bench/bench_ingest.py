"""Benchmark: what the monitor process itself spends per article, step by step, in one thread.

The end-to-end check (``bench_e2e.py``) gives each stage's share of the CPU with every thread
and process running at once. This part takes the steps of :func:`monitor.ingest.ingest` apart on
one thread, with no network and no extraction, so each one's cost per article can be read
without the noise of the rest: the bench corpus' first ``--articles`` articles (their body text
as the extractor would give it, one paragraph per line), each matched against the shipped rules,
fingerprinted when a rule matches it, and written to a fresh SQLite file in its own write
transaction, as the pipeline does (``BEGIN IMMEDIATE``, the entry, the article and its full-text
row, the matches, then for a matching article the near-duplicate lookup, the fingerprint and its
band rows; ``COMMIT``). Per-step figures are averaged over all the articles, so the
fingerprint's is its cost on a matching article times the share that match. The story decision is
measured by ``bench_stories.py``, feed parsing and HTTP by ``bench_e2e.py``'s stage shares.

Each step's process CPU is summed over the articles; the best of ``--repeat`` runs (each on a
fresh database) is reported, in ms per article. Results: bench/results/ingest.json; nothing is
asserted.

    .venv/bin/python bench/bench_ingest.py [--articles 2000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from corpus import Corpus, Spec

from monitor import match
from monitor.dedup import near
from monitor.model import Article, Entry, Feed
from monitor.store import Store

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "ingest.json"


def articles(n: int) -> list[Article]:
    corpus = Corpus(Spec(articles=n), 8000)
    out = []
    for i in range(n):
        a = corpus.article(i)
        link = f"http://127.1.0.1:8000{a.path}"
        entry = Entry(feed=f"news-{a.feed}", guid=f"bench-{i}", link=link, title=a.title,
                      summary="", published=None)
        out.append(Article(entry=entry, url=link, title=a.title, text="\n".join(a.paragraphs),
                           published=None, site=None, source="page"))
    return out


def one_run(items: list[Article], ruleset: match.RuleSet) -> tuple[Counter[str], float]:
    spent: Counter[str] = Counter()

    def timed(step: str, call: Callable[..., Any], *args: Any) -> Any:
        start = time.process_time()
        value = call(*args)
        spent[step] += time.process_time() - start
        return value

    now = datetime.now(UTC)
    feeds = sorted({a.entry.feed for a in items})
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        store = Store.open(Path(tmp) / "monitor.db")
        store.sync_feeds([Feed(name=f, url=f"http://127.1.0.1/{f}", interval=900) for f in feeds])
        start = time.process_time()
        for article in items:
            entry = article.entry
            found = timed("match", match.match, article, ruleset)
            # as ingest does: only an article that matches a rule is fingerprinted and compared
            fingerprint = timed("fingerprint", near.fingerprint, article.text) if found else None
            transaction = store.transaction()
            timed("BEGIN", transaction.__enter__)
            timed("find_seen", store.find_seen, entry.feed, entry.guid, entry.link, entry)
            entry_id = timed("add_entry", store.add_entry, entry, entry.link, now)
            timed("add_article (+ full-text row)", store.add_article, entry_id, article, now)
            timed("add_matches", store.add_matches, entry_id, found)
            if fingerprint is not None:
                copies = timed("find_near", store.find_near, fingerprint, near.DUPLICATE)
                for copy, _ in copies:
                    timed("has_matches", store.has_matches, copy)
                timed("add_fingerprint (+ band rows)", store.add_fingerprint, entry_id,
                      fingerprint)
            timed("COMMIT", transaction.__exit__, None, None, None)
        total = time.process_time() - start
        store.close()
    return spent, total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    ruleset = match.load_rules(ROOT / "rules")
    items = articles(args.articles)
    words = sum(len(a.text.split()) for a in items) / len(items)
    runs = [one_run(items, ruleset) for _ in range(args.repeat)]
    spent, total = min(runs, key=lambda run: run[1])
    per = {step: round(1000 * seconds / len(items), 3) for step, seconds in spent.most_common()}
    result = {
        "benchmark": "the monitor's own work per article (ingest's steps), one thread",
        "articles": len(items),
        "words_per_article": round(words),
        "ms_per_article_total": round(1000 * total / len(items), 3),
        "ms_per_article": per,
        "runs_ms_per_article": [round(1000 * t / len(items), 3) for _, t in runs],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"  {result['ms_per_article_total']} ms per article ({round(words)} words): "
          + ", ".join(f"{k} {v}" for k, v in per.items()), flush=True)


if __name__ == "__main__":
    main()
