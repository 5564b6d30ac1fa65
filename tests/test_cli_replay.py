"""`monitor replay`: the story decisions on saved articles, with a scratch database and the
clock following the articles."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import DATA, ROOT

SEEDS = {p.stem[:3]: p.read_text(encoding="utf-8") for p in (DATA / "seeds").glob("*.txt")}
# The real publication dates and outlets of the five seed reports.
META = {"000": ("2024-08-06", "The National"), "001": ("2024-08-07T20:53:19Z", "Shafaq News"),
        "002": ("2019-12-07", "Asharq Al-Awsat"), "003": ("2024-08-08", "Al-Fassel"),
        "004": ("2023-10-25", "The New Arab")}
UNRELATED = {"id": "budget", "title": "Iraq's parliament passes the 2024 budget",
             "text": "Iraq's parliament passed the federal budget on Sunday after months of "
                     "wrangling between the blocs over the share of the Kurdistan Region.",
             "url": "https://rudaw.example/budget", "outlet": "Rudaw",
             "published": "2024-08-06T08:00:00Z"}
COPY = {"id": "wire-copy", "title": "", "text": SEEDS["000"], "url": "https://wire.example/a1",
        "outlet": "Wire", "published": "2024-08-06T12:00:00Z"}


def seed_lines() -> list[str]:
    records: list[dict[str, Any]] = [
        {"id": key, "title": "", "text": SEEDS[key], "outlet": outlet, "published": published,
         "url": f"https://{outlet.replace(' ', '-').lower()}.example/{key}"}
        for key, (published, outlet) in META.items()]
    return [json.dumps(r) for r in [*records, UNRELATED, COPY]]


def replay(lines: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MONITOR_CONFIG"}
    return subprocess.run([sys.executable, "-m", "monitor", "replay", "-", *args],
                          input="".join(line + "\n" for line in lines), capture_output=True,
                          text=True, encoding="utf-8", timeout=300, env=env, cwd=ROOT)


def by_id(out: str) -> dict[Any, dict[str, Any]]:
    return {r["id"]: r for r in map(json.loads, out.splitlines())}


def grouping(results: dict[Any, dict[str, Any]]) -> set[frozenset[Any]]:
    stories: dict[int, set[Any]] = {}
    for record_id, r in results.items():
        if r.get("story_id") is not None:
            stories.setdefault(r["story_id"], set()).add(record_id)
    return {frozenset(s) for s in stories.values()}


EXPECTED = {frozenset({"000", "001", "003", "wire-copy"}), frozenset({"002"}),
            frozenset({"004"})}


def test_the_seed_reports_make_three_stories() -> None:
    result = replay(seed_lines())
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in out] == ["002", "004", "000", "budget", "wire-copy", "001", "003"], \
        "processing order: oldest first, a date meaning midnight UTC"
    results = by_id(result.stdout)
    assert grouping(results) == EXPECTED
    assert results["000"]["decision"] == "new"
    assert {results[k]["decision"] for k in ("001", "003")} <= {"update", "escalation"}
    assert "joined story" in results["001"]["reason"]
    assert results["002"]["decision"] == results["004"]["decision"] == "new"
    assert results["budget"] == {"id": "budget", "story_id": None, "decision": "no-match",
                                 "reason": "no rule matched"}
    copy = results["wire-copy"]
    assert copy["decision"] == "duplicate" and copy["story_id"] == results["000"]["story_id"]
    assert 'near-duplicate of id "000"' in copy["reason"], "input ids, not scratch entry ids"
    for r in out:
        assert set(r) == {"id", "story_id", "decision", "reason"}


def test_shuffled_input_gives_the_same_grouping(tmp_path: Path) -> None:
    lines = seed_lines()
    random.Random(7).shuffle(lines)
    path = tmp_path / "articles.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "MONITOR_CONFIG"}
    result = subprocess.run([sys.executable, "-m", "monitor", "replay", str(path)],
                            capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    results = by_id(result.stdout)
    assert grouping(results) == EXPECTED
    assert results["wire-copy"]["decision"] == "duplicate"
    assert results["budget"]["decision"] == "no-match"


def test_a_bad_line_is_reported_and_the_rest_processed() -> None:
    lines = seed_lines()
    lines.insert(2, "{not json")
    lines.insert(4, json.dumps({"id": "when", "text": "x", "published": "last Tuesday"}))
    lines.insert(5, json.dumps({"id": "who", "text": "x", "outlet": 7}))
    result = replay(lines)
    assert result.returncode == 1
    out = [json.loads(line) for line in result.stdout.splitlines()]
    errors = [r for r in out if "error" in r]
    assert [(r["id"], r["error"].split(":")[0]) for r in errors] == [
        (None, "line 3"), ("when", "line 5"), ("who", "line 6")]
    assert "'outlet'" in errors[2]["error"]
    assert [line.split(":")[1].split()[1] for line in result.stderr.splitlines()] == \
        ["3", "5", "6"]
    assert grouping(by_id(result.stdout)) == EXPECTED


def test_missing_fields_are_tolerated() -> None:
    lines = [json.dumps({"id": 1, "summary": "Rockets struck Ain al-Asad air base in western "
                         "Iraq, which hosts US forces, late on Monday.",
                         "published": "2024-08-05T21:00:00+03:00"}),
             json.dumps({"id": 2, "title": "Rocket attack on Ain al-Asad air base hosting US "
                         "troops in Iraq", "outlet": "Wire"}),
             json.dumps({"id": 2, "title": "Rockets hit Ain al-Asad air base", "outlet": "Wire"})]
    result = replay(lines, "--max-age", "3d")
    assert result.returncode == 0, result.stderr
    first, second, again = map(json.loads, result.stdout.splitlines())
    assert first["id"] == 1 and first["decision"] == "new", "summary stands in for text"
    assert second["story_id"] == first["story_id"], "undated: the clock of the one before"
    assert again == {"id": 2, "story_id": first["story_id"], "decision": "duplicate",
                     "reason": "the same outlet and id as an earlier article"}


def test_config_stories_settings_and_a_bad_max_age(tmp_path: Path) -> None:
    config = tmp_path / "monitor.toml"
    config.write_text(f'rules = "{(ROOT / "rules").as_posix()}"\n[targets.console]\n'
                      'type = "console"\n[stories]\nwindow = "1h"\n', encoding="utf-8")
    result = replay(seed_lines(), "--config", str(config))
    assert result.returncode == 0, result.stderr
    results = by_id(result.stdout)
    assert results["001"]["story_id"] != results["000"]["story_id"], "a one-hour window"
    bad = replay(seed_lines(), "--max-age", "soon")
    assert bad.returncode == 2 and "--max-age" in bad.stderr and bad.stdout == ""


def test_a_resurfaced_report_seen_years_later_is_stale_with_max_age() -> None:
    text = (DATA / "seeds" / "002_840e1a71817bf54d.txt").read_text(encoding="utf-8")
    line = json.dumps({"id": "old", "outlet": "Asharq Al-Awsat", "text": text,
                        "published": "2019-12-07", "seen": "2024-08-07T12:00:00Z"})
    result = subprocess.run([sys.executable, "-m", "monitor", "replay", "-", "--max-age", "3d"],
                            input=line + "\n", capture_output=True, text=True, timeout=120,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr
    (out,) = [json.loads(x) for x in result.stdout.splitlines()]
    assert out["decision"] == "stale" and out["story_id"] is not None
