"""`monitor explain`: one page, every rule with MATCHED or not and each condition found or not."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner, Result

from monitor import match
from monitor.cli import cli
from monitor.demo import SITE, shipped_rules
from monitor.extract import extract_html
from monitor.model import Entry
from tests.conftest import DATA
from tests.test_pipeline_e2e import Site

SEED_PAGE = "the-national/2024/08/06/rocket-attack-on-us-forces-could-derail-withdrawal-talks.html"
TRAP_PAGE = ("the-national/2023/11/21/"
             "israeli-strikes-hit-south-lebanon-as-hezbollah-fires-rockets-and-drones.html")
LINE = re.compile(r"^(MATCHED|not matched)\s+(\S+) \[(CRITICAL|HIGH|MEDIUM|LOW)\] ", re.M)
CONDITION = re.compile(r"^  (all|any|none)\s+(found|not found)\s+(kind|entity|terms): ", re.M)


def explain(*args: str) -> Result:
    return CliRunner().invoke(cli, ["explain", *args], env={"MONITOR_CONFIG": None})


def expected(page: Path) -> set[str]:
    entry = Entry(feed="t", guid="t", link=None, title="", summary="", published=None)
    article = extract_html(entry, page.read_bytes(), page.resolve().as_uri())
    assert article is not None
    return {m.rule_id for m in match.match(article, match.load_rules(shipped_rules()))}


def verdicts(output: str) -> dict[str, str]:
    return {rule: word for word, rule, _ in LINE.findall(output)}


def all_rule_ids() -> list[str]:
    return [r.id for r in match.load_rules(shipped_rules()).rules]


def test_explain_a_saved_seed_page() -> None:
    page = SITE / SEED_PAGE
    result = explain(str(page))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith(f"source:  {page}\ntitle:   ")
    assert "Ain Al Asad airbase" in out  # the head of the text
    seen = verdicts(out)
    assert list(seen) == all_rule_ids(), "every rule, in order"
    want = expected(page)
    assert "coalition-base-attack" in want
    assert {rule for rule, word in seen.items() if word == "MATCHED"} == want
    conditions = CONDITION.findall(out)
    assert ("all", "found", "kind") in conditions and ("none", "not found", "terms") in conditions
    where = r"^  all\s+found\s+terms: attack — \"[^\"]*attack[^\"]*\" \((title|body) @\d+\)"
    assert re.search(where, out, re.M | re.I), "a found condition shows where"
    assert "«" in out, "the evidence is marked in the snippet"
    assert "reason: " in out


def test_explain_a_trap_page_matches_nothing() -> None:
    result = explain(str(SITE / TRAP_PAGE))
    assert result.exit_code == 0, result.output
    seen = verdicts(result.stdout)
    assert list(seen) == all_rule_ids()
    assert set(seen.values()) == {"not matched"}


def test_explain_a_text_file_first_line_is_the_title(tmp_path: Path) -> None:
    seed = sorted((DATA / "seeds").glob("000_*.txt"))[0]
    text = seed.read_text(encoding="utf-8")
    path = tmp_path / "seed.txt"
    path.write_text("\x1b]0;pwned\x07Rocket attack on Ain al-Asad\x1b[2J\n" + text,
                    encoding="utf-8")
    result = explain(str(path), "--rules", str(shipped_rules()))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "title:   Rocket attack on Ain al-Asad\n" in out
    assert "\x1b" not in out and "\x07" not in out and "pwned" not in out
    seen = verdicts(out)
    assert seen["coalition-base-attack"] == "MATCHED"
    assert list(seen) == all_rule_ids()


def test_explain_names_the_headline_veto(tmp_path: Path) -> None:
    path = tmp_path / "analysis.txt"
    path.write_text("Analysis: Attack on Tower 22 leaves Biden with few good options\n"
                    "The drone that killed three US soldiers at Tower 22 in Jordan on Sunday "
                    "was the first deadly strike on US forces in months.\n", encoding="utf-8")
    result = explain(str(path), "--rules", str(shipped_rules()))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert set(verdicts(out).values()) == {"not matched"}
    assert ("  reason: vetoed by the headline, which holds title_none: terms: not_a_report\n"
            in out)
    assert '  title_none found     terms: not_a_report — "Analysis" (title @0)\n' in out
    unvetoed = tmp_path / "report.txt"
    unvetoed.write_text(path.read_text(encoding="utf-8").replace("Analysis: ", ""),
                        encoding="utf-8")
    result = explain(str(unvetoed), "--rules", str(shipped_rules()))
    assert verdicts(result.stdout)["coalition-base-attack"] == "MATCHED"


def test_explain_a_url_allowed_by_the_config(tmp_path: Path, sample_site: Site) -> None:
    base, requests = sample_site
    config = tmp_path / "monitor.toml"
    config.write_text(f'rules = "{shipped_rules().as_posix()}"\n[network]\n'
                      'allow_private = ["127.0.0.1"]\n[targets.console]\ntype = "console"\n',
                      encoding="utf-8")
    url = f"{base}/{SEED_PAGE}"
    result = explain(url, "--config", str(config))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"source:  {url}\n")
    assert [path for path, _ in requests] == [f"/{SEED_PAGE}"]
    assert verdicts(result.stdout)["coalition-base-attack"] == "MATCHED"


def test_explain_a_private_url_is_refused_by_default(sample_site: Site) -> None:
    base, requests = sample_site
    result = explain(f"{base}/{SEED_PAGE}")
    assert result.exit_code == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ") and "127.0.0.1" in line and "allow_private" in line
    assert requests == []


def test_explain_neither_url_nor_file(tmp_path: Path) -> None:
    result = explain(str(tmp_path / "missing.html"))
    assert result.exit_code == 2
    assert "neither an http(s) URL nor a file" in result.stderr
