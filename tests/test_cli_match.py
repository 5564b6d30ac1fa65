"""`monitor match`: JSON lines in, one verdict per line out, for backtesting."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from monitor.model import severity_rank
from tests.conftest import DATA, ROOT

SEED_TEXTS = sorted((DATA / "seeds").glob("*.txt"))
TRAP = {"id": "trap-hezbollah",
        "title": "Hezbollah fires rockets into northern Israel",
        "text": "Lebanese Hezbollah fired a barrage of rockets into northern Israel on Tuesday, "
                "the Israeli military said, and Israeli jets struck targets in south Lebanon in "
                "response. No casualties were reported in the town of Kiryat Shmona."}
BARE = {"id": 42, "title": "Rocket attack on Ain al-Asad air base hosting US troops in Iraq",
        "summary": "Rockets struck Ain al-Asad air base in western Iraq, which hosts US forces.",
        "url": "https://news.example/bare", "published": "2024-08-05T20:00:00Z"}


def run_match(lines: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MONITOR_CONFIG"}
    return subprocess.run([sys.executable, "-m", "monitor", "match", *args],
                          input="".join(line + "\n" for line in lines), capture_output=True,
                          text=True, encoding="utf-8", timeout=300, env=env, cwd=ROOT)


def records(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def test_seeds_match_and_the_trap_does_not() -> None:
    lines = [json.dumps({"id": p.stem, "title": "", "text": p.read_text(encoding="utf-8")})
             for p in SEED_TEXTS]
    lines.append(json.dumps(TRAP))
    result = run_match(lines)
    assert result.returncode == 0, result.stderr
    out = records(result.stdout)
    assert [r["id"] for r in out] == [p.stem for p in SEED_TEXTS] + ["trap-hezbollah"]
    assert len(SEED_TEXTS) == 5
    for seed in out[:5]:
        assert seed["matched"] is True, seed["id"]
        severities = [r["severity"] for r in seed["rules"]]
        assert severity_rank(severities[0]) <= severity_rank("medium"), seed
        assert [severity_rank(s) for s in severities] == sorted(
            severity_rank(s) for s in severities), "most severe first"
        assert seed["snippet"] and seed["entities"]
        assert len(set(seed["entities"])) == len(seed["entities"])
    assert out[5] == {"id": "trap-hezbollah", "matched": False, "rules": [], "entities": [],
                      "snippet": ""}


def test_a_bare_feed_item_title_and_summary_only() -> None:
    result = run_match([json.dumps(BARE)])
    assert result.returncode == 0, result.stderr
    (out,) = records(result.stdout)
    assert out["id"] == 42 and out["matched"] is True
    assert "Ain al-Asad Air Base" in out["entities"]


def test_bad_lines_are_reported_and_the_rest_is_processed() -> None:
    lines = [
        json.dumps(BARE),
        "{not json",
        json.dumps({"title": "no id"}),
        json.dumps({"id": "typed", "title": ["not", "a", "string"]}),
        json.dumps({"id": "when", "title": "x", "published": "last Tuesday"}),
        "",  # blank lines are skipped
        json.dumps(TRAP),
    ]
    result = run_match(lines)
    assert result.returncode == 1
    out = records(result.stdout)
    assert [r["id"] for r in out] == [42, None, None, "typed", "when", "trap-hezbollah"]
    assert out[0]["matched"] is True and out[-1]["matched"] is False
    for bad in out[1:5]:
        assert set(bad) == {"id", "error"} and bad["error"]
    assert "line 2" in out[1]["error"] and "JSON" in out[1]["error"]
    assert "'id'" in out[2]["error"]
    assert "'title'" in out[3]["error"]
    assert "published" in out[4]["error"]
    err = result.stderr.splitlines()
    assert [line.split(":")[1].split()[1] for line in err] == ["2", "3", "4", "5"]
    assert all(line.startswith("error: line ") for line in err)


def test_invalid_utf8_is_a_bad_line() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MONITOR_CONFIG"}
    result = subprocess.run([sys.executable, "-m", "monitor", "match"],
                            input=b'{"id": "a", "title": "\xff"}\n' + json.dumps(TRAP).encode()
                            + b"\n", capture_output=True, timeout=300, env=env, cwd=ROOT)
    assert result.returncode == 1
    out = records(result.stdout.decode())
    assert out[0]["id"] is None and "UTF-8" in out[0]["error"]
    assert out[1]["id"] == "trap-hezbollah"


def test_a_broken_rules_folder_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    (rules / "broken.yaml").write_text(
        "rules:\n  - id: broken\n    title: Broken\n    severity: urgent\n"
        "    all: [{terms: attack}]\n", encoding="utf-8")
    result = run_match([json.dumps(BARE)], "--rules", str(rules))
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"{rules / 'broken.yaml'}:4:" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_rules_default_to_the_folder_of_config(tmp_path: Path) -> None:
    rules = tmp_path / "watch"
    rules.mkdir()
    (rules / "only.yaml").write_text(
        "terms:\n  budget: [budget]\nrules:\n  - id: budget-news\n    title: Budget\n"
        "    severity: low\n    all: [{terms: budget}]\n", encoding="utf-8")
    config = tmp_path / "monitor.toml"
    config.write_text('rules = "watch"\n[targets.console]\ntype = "console"\n',
                      encoding="utf-8")
    item = {"id": "b", "title": "Parliament passes the budget", "text": ""}
    result = run_match([json.dumps(item), json.dumps(BARE)], "--config", str(config))
    assert result.returncode == 0, result.stderr
    out = records(result.stdout)
    assert out[0]["rules"] == [{"id": "budget-news", "severity": "low"}]
    assert out[1]["matched"] is False


# The severity a reader gives each seed report: US personnel wounded → critical; an attack on a
# base or on US forces with no casualty reported → high.
SEED_SEVERITY = {"000": "critical", "001": "high", "002": "high", "003": "critical",
                 "004": "critical"}


def test_each_seed_gets_the_severity_a_reader_would_give_it() -> None:
    lines = [json.dumps({"id": p.stem[:3], "title": "", "text": p.read_text(encoding="utf-8")})
             for p in SEED_TEXTS]
    out = records(run_match(lines).stdout)
    assert {r["id"]: r["rules"][0]["severity"] for r in out} == SEED_SEVERITY


def test_lines_that_break_python_limits_are_bad_lines_not_a_crash() -> None:
    lines = ['{"id": ' + "9" * 5000 + "}",
             json.dumps({"id": "old", "text": "x", "published": "0001-01-01T00:00:00+01:00"}),
             json.dumps(BARE)]
    result = run_match(lines)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    out = records(result.stdout)
    assert [("error" in r) for r in out] == [True, True, False]
    assert out[2]["id"] == 42 and out[2]["matched"] is True
