"""Benchmark: the cheap path, ``full_text = "when_candidate"`` against ``"always"`` (issue 8,
point 4).

The same feed farm as ``bench_e2e.py`` (same corpus, same delay); two ``monitor check`` runs,
each in its own child process on a fresh database, every feed set to ``full_text = "always"``
(the default) in one and ``"when_candidate"`` in the other. Each run reports its time,
articles/s, the CPU of the monitor and its extraction processes, and the pages the farm
served. Then, against the ``always`` run as the truth:

* **article recall**: of the articles that matched a rule, the share that matched too;
* **story recall**: of the stories that alerted, the share whose event also alerted (a story
  counts as found when one of its articles is in an alerted story of the other run);
* what was saved: pages not fetched, time and CPU.

Feeds in the corpus summarise an article by their first 40 words, their first sentence or not
at all (``corpus.SUMMARY_STYLES``), so a third of the attack reports are seen through the
headline alone. Results go to ``bench/results/cheap.json``; nothing is asserted.

    .venv/bin/python bench/bench_cheap.py [--articles 2000] [--delay-ms 150]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from corpus import Spec
from farm import FarmProcess
from stages import process_cpu, tree_cpu

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "cheap.json"
PAGE = "news-monitor news-page 200"
MODES = ("always", "when_candidate")


def write_config(directory: Path, feeds: list[tuple[str, str]], hook_url: str,
                 full_text: str) -> Path:
    lines = [f'database = "{directory / "monitor.db"}"', f'rules = "{ROOT / "rules"}"', "",
             "[network]", 'allow_private = ["127.0.0.0/8"]', "", "[targets.sink]",
             'type = "webhook"', f'url = "{hook_url}"', ""]
    for name, url in feeds:
        lines += ["[[feeds]]", f'name = "{name}"', f'url = "{url}"', 'interval = "15m"',
                  f'full_text = "{full_text}"', ""]
    path = directory / "monitor.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def child(config_path: Path, now: float, out: Path) -> None:
    """One ``check`` (in this process), its time and CPU written to ``out``."""
    from datetime import UTC, datetime

    from monitor.cli import check_once
    from monitor.config import load_config

    clock = datetime.fromtimestamp(now, UTC)
    cpu0, wall0 = process_cpu(), time.perf_counter()
    summary = check_once(load_config(config_path), dry_run=False,
                         clock=lambda: clock).summary()
    wall = time.perf_counter() - wall0
    result = {"seconds": round(wall, 2), "summary": summary,
              "cpu_seconds_in_process": round(process_cpu() - cpu0, 2),
              "cpu_seconds_child_processes": round(tree_cpu(), 2)}
    out.write_text(json.dumps(result), encoding="utf-8")


def outcome(database: Path) -> dict[str, Any]:
    """What a run decided: matched articles (guids) and the guids of each alerted story."""
    db = sqlite3.connect(database)
    try:
        matched = {r[0] for r in db.execute(
            "SELECT DISTINCT e.guid FROM matches m JOIN entries e ON e.id = m.entry_id")}
        stories: dict[int, set[str]] = {}
        for story, guid in db.execute(
                "SELECT s.story_id, e.guid FROM story_entries s JOIN entries e"
                " ON e.id = s.entry_id WHERE s.story_id IN"
                " (SELECT story_id FROM alerts WHERE story_id IS NOT NULL)"):
            stories.setdefault(story, set()).add(guid)
        skipped = db.execute("SELECT count(*) FROM articles WHERE note LIKE"
                             " 'page not fetched: full_text%'").fetchone()[0]
    finally:
        db.close()
    return {"matched": matched, "stories": list(stories.values()), "skipped": skipped}


def run_mode(farm: FarmProcess, spec: Spec, mode: str) -> tuple[dict[str, Any], dict[str, Any]]:
    corpus = farm.corpus
    feeds = [(f"news-{f}", corpus.feed_url(f)) for f in range(spec.feeds)]
    with tempfile.TemporaryDirectory(prefix=f"bench-cheap-{mode}-") as tmp:
        config = write_config(Path(tmp), feeds, farm.hook_url, mode)
        out = Path(tmp) / "child.json"
        pages0 = farm.stats()["stats"].get(PAGE, 0)
        subprocess.run([sys.executable, __file__, "--child", str(config), "--now",
                        str(spec.now), "--child-out", str(out)], check=True)
        result = json.loads(out.read_text())
        result["pages_fetched"] = farm.stats()["stats"].get(PAGE, 0) - pages0
        result["articles_per_s"] = round(spec.articles / result["seconds"], 1)
        result["cpu_seconds_total"] = round(result["cpu_seconds_in_process"]
                                            + result["cpu_seconds_child_processes"], 2)
        decided = outcome(Path(tmp) / "monitor.db")
    result["matched_articles"] = len(decided["matched"])
    result["alerted_stories"] = len(decided["stories"])
    result["pages_skipped"] = decided["skipped"]
    print(f"  {mode}: {result['seconds']} s, {result['articles_per_s']} articles/s, "
          f"{result['pages_fetched']} pages, {result['summary']}", flush=True)
    return result, decided


def recall(truth: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    matched = truth["matched"]
    found = matched & other["matched"]
    alerted = set().union(*other["stories"]) if other["stories"] else set()
    stories_found = sum(1 for guids in truth["stories"] if guids & alerted)
    missed = sorted(matched - other["matched"])
    return {
        "article_recall": round(len(found) / len(matched), 3) if matched else None,
        "articles_matched": len(matched), "articles_also_matched": len(found),
        "story_recall": (round(stories_found / len(truth["stories"]), 3)
                         if truth["stories"] else None),
        "stories_alerted": len(truth["stories"]), "stories_also_alerted": stories_found,
        "missed_examples": missed[:10],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--delay-ms", type=float, default=150.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--now", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.now, args.child_out)
        return
    spec = Spec(articles=args.articles, seed=args.seed, delay_ms=args.delay_ms)
    runs: dict[str, Any] = {}
    decided: dict[str, Any] = {}
    with FarmProcess(spec) as farm:
        farm.call("/_farm/prerender", "POST")
        for mode in MODES:
            runs[mode], decided[mode] = run_mode(farm, spec, mode)
    always, cheap = runs["always"], runs["when_candidate"]
    result = {
        "benchmark": "full_text = when_candidate against always: what it saves, what it "
                     "costs in recall",
        "articles": spec.articles, "feeds": spec.feeds, "delay_ms": spec.delay_ms,
        "runs": runs,
        "saved": {
            "pages_share": round(1 - cheap["pages_fetched"] / always["pages_fetched"], 3),
            "speedup": round(always["seconds"] / cheap["seconds"], 2),
            "cpu_share": round(1 - cheap["cpu_seconds_total"] / always["cpu_seconds_total"],
                               3),
        },
        "recall": recall(decided["always"], decided["when_candidate"]),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: result[k] for k in ("saved", "recall")}, indent=2), flush=True)


if __name__ == "__main__":
    main()
