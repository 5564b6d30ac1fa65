"""Benchmark: the match stage with 100, 1,000 and 10,000 entity aliases.

Rule sets: the shipped term lists and rules (entity parts turned into their kind) with N
synthetic aliases: multi-word transliterated militia names (marked ``transliterated``), bases,
places and Arabic-script names, written into a temporary rules directory and loaded with
``load_rules``. The sets are nested (the 100 are in the 1,000, which are in the 10,000).

Corpus: the text of the 21 sample pages of the demo site (extracted once, with the project's
extractor), repeated, plus synthetic attack reports naming aliases of the first 100, so every
scale has hits; a few MB in all, the same at every scale.

Measured at each scale, each row reading the same text and each saying what it includes:

* ``regex``: one compiled ``re`` alternation of the same aliases and terms (normalised, longest
  first, ``(?<!\\w)(?:…)(?!\\w)``) over the *already normalised* texts (title and body joined
  by a line break): it only finds the words. It is slow with many aliases, so it runs on the
  corpus until a time budget is spent and says how much it read.
* ``scan``: ``ruleset.lexicon.scan`` over the same normalised texts: the like-for-like
  comparison with the regex, since it too finds the aliases and terms in normalised text, on word
  boundaries. It does more than the regex: Arabic proclitic and Latin plural allowances,
  transliteration folding of the marked aliases, and a hit (span, list, label) for every list a
  word belongs to. Best of ``--repeat`` passes.
* ``match``: ``match(article, ruleset)`` per article, from the raw title and text: normalising,
  sentence splitting, the scan, the rules, and evidence and snippets for what matches. Best of
  ``--repeat`` passes; articles/s and MB/s (UTF-8 of title and text).

Ratios: time per MB at 10,000 aliases ÷ at 100, for each row; ``regex_vs_scan_at_N`` and
``regex_vs_match_at_N``, the regex's time per MB ÷ the scan's or match's (how many times faster
they read than the regex). Results are written to bench/results/match.json and printed; nothing is
asserted.

    .venv/bin/python bench/bench_match.py [--mb 3] [--regex-budget 30] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from monitor.extract import extract_html
from monitor.match import RuleSet, load_rules, match, normalise
from monitor.match.examples import example_article
from monitor.model import Article, Entry

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "monitor" / "demo" / "site"
RESULTS = Path(__file__).parent / "results" / "match.json"
SCALES = (100, 1_000, 10_000)

_HEADS = "Kataib Saraya Harakat Liwa Asaib Ansar Jaish Usbat Tashkil Firqat Quwat Jabhat".split()
_SYLLABLES = "mu ja hid een na sir ab bas dar ku fah ra tha waq di sha bak ham zay qas".split()
_BASE_FORMS = [
    "{} Air Base",
    "Camp {}",
    "{} airfield",
    "Forward Operating Base {}",
    "{} base",
    "Mission Support Site {}",
    "{} Landing Zone",
]
_ARABIC = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"
_ARABIC_HEADS = ["كتائب", "سرايا", "حركة", "قاعدة", "لواء", "عصائب"]


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def _arabic_word(rng: random.Random) -> str:
    return "".join(rng.choice(_ARABIC) for _ in range(rng.randint(3, 6)))


def synthetic_entities(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Entities whose aliases add up to ``count``; the first ones are the same for every count."""
    rng = random.Random(seed)
    entities: list[dict[str, Any]] = []
    seen: set[str] = set()
    total = 0
    while total < count:
        index = len(entities)
        kind = ("militia", "base", "place", "militia", "base")[index % 5]
        name = _word(rng)
        if kind == "militia":
            aliases = [
                f"{rng.choice(_HEADS)} al-{name}",
                f"{rng.choice(_HEADS)} {name}",
                f"{name} Brigades",
                f"{rng.choice(_ARABIC_HEADS)} {_arabic_word(rng)}",
            ]
        elif kind == "base":
            forms = rng.sample(_BASE_FORMS, 3)
            aliases = [f.format(name) for f in forms] + [f"قاعدة {_arabic_word(rng)}"]
        else:
            aliases = [
                f"{name}{rng.choice(['iyah', 'abad', 'ville', 'an'])}",
                _arabic_word(rng) + " " + _arabic_word(rng),
            ]
        fresh = []
        for alias in aliases:
            key = normalise(alias)
            if key not in seen and total + len(fresh) < count:
                seen.add(key)
                fresh.append(alias)
        if not fresh:
            continue
        total += len(fresh)
        entities.append(
            {
                "id": f"e{index}",
                "kind": kind,
                "name": fresh[0],
                "aliases": fresh,
                "transliterated": kind == "militia",
            }
        )
    for kind in ("force", "armed-group", "person"):  # kinds the shipped rules may name
        entities.append(
            {"id": f"any-{kind}", "kind": kind, "name": f"Zzq {kind} Xyw", "aliases": []}
        )
    return entities


def rules_dir(shipped: RuleSet, entities: list[dict[str, Any]], directory: Path) -> Path:
    kinds = {e.id: e.kind for e in shipped.entities}

    def part(p: Any) -> dict[str, str]:
        return {"kind": kinds[p.ref]} if p.kind == "entity" else {p.kind: p.ref}

    rules = []
    for r in shipped.rules:
        rule: dict[str, Any] = {"id": r.id, "title": r.title, "severity": r.severity}
        for group in ("all", "any", "none"):
            if getattr(r, group):
                rule[group] = [part(p) for p in getattr(r, group)]
        rule["within"] = r.within if r.within is not None else "sentence"
        rule["field"] = r.field
        rules.append(rule)
    doc = {"entities": entities, "terms": {n: list(w) for n, w in shipped.terms}, "rules": rules}
    (directory / "bench.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), "utf-8")
    return directory


def corpus(megabytes: float, core: list[dict[str, Any]], seed: int = 11) -> list[Article]:
    pages = []
    for path in sorted(SITE.rglob("*.html")):
        entry = Entry(feed="bench", guid=path.name, link=None, title="", summary="", published=None)
        article = extract_html(entry, path.read_bytes(), "http://127.0.0.1/" + path.name)
        if article is not None and article.text.strip():
            pages.append(article)
    rng = random.Random(seed)
    bases = [a for e in core if e["kind"] == "base" for a in e["aliases"]]
    militias = [a for e in core if e["kind"] == "militia" for a in e["aliases"]]
    articles: list[Article] = []
    size = 0
    while size < megabytes * 1_000_000:
        for page in pages:
            articles.append(page)
            size += len(page.text.encode()) + len(page.title.encode())
            report = (
                f"Rockets struck {rng.choice(bases)} on Monday, wounding two US soldiers. "
                f"{rng.choice(militias)} claimed the attack on US forces in a statement. "
                + " ".join(p for p in page.text.split(". ")[:6])
            )
            articles.append(example_article(report, f"Attack on {rng.choice(bases)}"))
            size += len(report.encode())
    return articles


def _rate(seconds: float, articles: int, size: int) -> dict[str, Any]:
    return {
        "seconds": round(seconds, 3),
        "articles": articles,
        "mb": round(size / 1e6, 3),
        "articles_per_s": round(articles / seconds, 1),
        "mb_per_s": round(size / 1e6 / seconds, 3),
    }


def _best(repeat: int, run: Any) -> tuple[float, int]:
    """The shortest of ``repeat`` timed calls of ``run()``, and what it returned."""
    best, value = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        value = run()
        best = min(best, time.perf_counter() - start)
    return best, value


def regex_of(ruleset: RuleSet) -> re.Pattern[str]:
    words = {normalise(a) for e in ruleset.entities for a in e.aliases}
    words |= {normalise(w) for _, listed in ruleset.terms for w in listed}
    ordered = sorted((w for w in words if w), key=lambda w: (-len(w), w))
    return re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, ordered)) + r")(?!\w)")


def measure(
    ruleset: RuleSet, articles: list[Article], texts: list[str], budget: float, repeat: int
) -> dict[str, Any]:
    size = sum(len(a.title.encode()) + len(a.text.encode()) for a in articles)
    seconds, matched = _best(repeat, lambda: sum(1 for a in articles if match(a, ruleset)))
    full = _rate(seconds, len(articles), size)
    full["articles_matched"] = matched
    norm_size = sum(len(t.encode()) for t in texts)
    seconds, hits = _best(repeat, lambda: sum(len(ruleset.lexicon.scan(t)) for t in texts))
    scan = _rate(seconds, len(texts), norm_size)
    scan["hits"] = hits
    start = time.perf_counter()
    pattern = regex_of(ruleset)
    compile_s = time.perf_counter() - start
    done, read, found = 0, 0, 0
    start = time.perf_counter()
    for text in texts:
        found += sum(1 for _ in pattern.finditer(text))
        done += 1
        read += len(text.encode())
        if time.perf_counter() - start > budget:
            break
    regex = _rate(time.perf_counter() - start, done, read)
    regex.update(
        hits=found,
        compile_seconds=round(compile_s, 3),
        capped=done < len(texts),
        of_articles=len(texts),
    )
    return {"match": full, "scan": scan, "regex": regex}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=3.0, help="corpus size, MB of text")
    parser.add_argument("--regex-budget", type=float, default=30.0, help="seconds per scale")
    parser.add_argument("--repeat", type=int, default=2, help="best of N for match and scan")
    args = parser.parse_args()
    shipped = load_rules(ROOT / "rules")
    every = synthetic_entities(max(SCALES))
    core = synthetic_entities(SCALES[0])
    articles = corpus(args.mb, core)
    results: dict[str, Any] = {}
    for scale in SCALES:
        entities = synthetic_entities(scale)
        assert [e["aliases"] for e in entities[:5]] == [e["aliases"] for e in every[:5]]
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            ruleset = load_rules(rules_dir(shipped, entities, Path(tmp)))
            load_s = time.perf_counter() - start
        texts = [normalise(a.title) + "\n" + normalise(a.text) for a in articles]
        aliases = sum(len(e.aliases) for e in ruleset.entities)
        row = {
            "aliases": aliases,
            "terms": sum(len(w) for _, w in ruleset.terms),
            "automaton_keys": ruleset.lexicon.size,
            "load_seconds": round(load_s, 3),
        }
        row.update(measure(ruleset, articles, texts, args.regex_budget, args.repeat))
        results[str(scale)] = row
        print(
            f"{scale:>6} aliases: match {row['match']['mb_per_s']} MB/s, "
            f"scan {row['scan']['mb_per_s']} MB/s, regex {row['regex']['mb_per_s']} MB/s "
            f"(regex/scan {row['scan']['mb_per_s'] / row['regex']['mb_per_s']:.0f}x, "
            f"regex/match {row['match']['mb_per_s'] / row['regex']['mb_per_s']:.0f}x)",
            flush=True,
        )

    def per_mb(scale: int, kind: str) -> float:
        r = results[str(scale)][kind]
        return float(r["seconds"]) / float(r["mb"])

    low, high = SCALES[0], SCALES[-1]
    result = {
        "benchmark": "match stage: shipped rules and term lists + N synthetic aliases",
        "corpus": f"{len(articles)} articles, "
        f"{sum(len(a.text.encode()) + len(a.title.encode()) for a in articles) / 1e6:.2f} MB "
        "(21 sample pages repeated + synthetic attack reports)",
        "scales": results,
        "ratios": {
            f"match_time_{high}_vs_{low}": round(per_mb(high, "match") / per_mb(low, "match"), 2),
            f"scan_time_{high}_vs_{low}": round(per_mb(high, "scan") / per_mb(low, "scan"), 2),
            f"regex_time_{high}_vs_{low}": round(per_mb(high, "regex") / per_mb(low, "regex"), 2),
            **{
                f"regex_vs_scan_at_{s}": round(per_mb(s, "regex") / per_mb(s, "scan"), 1)
                for s in SCALES
            },
            **{
                f"regex_vs_match_at_{s}": round(per_mb(s, "regex") / per_mb(s, "match"), 1)
                for s in SCALES
            },
        },
        "rows": {
            "regex": "one re alternation of the normalised aliases and terms over the "
            "normalised texts: finds the words only",
            "scan": "Lexicon.scan over the same normalised texts (like-for-like with regex): "
            "words on boundaries, plus Arabic proclitics, Latin plurals, transliteration "
            "folding, a hit per list",
            "match": "match(article, ruleset) from the raw article: normalising, sentence "
            "splitting, scan, rules, evidence and snippets",
        },
        "note": "regex rows read the corpus until --regex-budget seconds were spent "
        "(capped: true); MB/s is over what they read. regex_vs_X_at_N: the regex's time per "
        "MB over X's, i.e. how many times faster X reads",
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
