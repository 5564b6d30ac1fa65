"""``title_none``: parts that, found in an article's headline, keep a rule from matching anywhere in
the article. An analysis, a review or an anniversary piece retells an old attack in a body
sentence that reads like news; its headline says what it is. Loaded with file and line like every
other part; and explained."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from monitor.errors import RuleError
from monitor.match import RuleSet, explain, load_rules, match
from monitor.match.examples import example_article

RULES = """\
entities:
  - id: ain-al-asad
    kind: base
    name: Ain al-Asad Air Base
    aliases: [Ain al-Asad]
terms:
  attack: [rocket, drone]
  not_a_report: [analysis, book review, years after]
rules:
  - id: base-attack
    title: Attack on a base
    severity: high
    all: [{kind: base}, {terms: attack}]
    title_none: [{terms: not_a_report}]
"""

BODY = "The base was quiet for months. Then rockets hit Ain al-Asad, wounding two soldiers."


def small(tmp_path: Path, text: str = RULES) -> RuleSet:
    (tmp_path / "r.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return load_rules(tmp_path)


def ids(text: str, title: str, rules: RuleSet) -> set[str]:
    return {m.rule_id for m in match(example_article(text, title), rules)}


def test_a_headline_part_vetoes_the_rule_in_the_whole_article(tmp_path: Path) -> None:
    rules = small(tmp_path)
    assert ids(BODY, "Rockets hit Iraqi base", rules) == {"base-attack"}
    assert ids(BODY, "Analysis: what the militias want", rules) == set()
    assert ids(BODY, "Book review: a platoon's year at the base", rules) == set()
    assert ids(BODY, "", rules) == {"base-attack"}


def test_the_part_in_the_body_alone_vetoes_nothing(tmp_path: Path) -> None:
    rules = small(tmp_path)
    text = "Years after the war, rockets hit Ain al-Asad again. Analysis of the debris goes on."
    assert ids(text, "Rockets hit Iraqi base", rules) == {"base-attack"}


def test_a_rule_without_title_none_is_not_vetoed(tmp_path: Path) -> None:
    rules = small(tmp_path, RULES.replace("    title_none: [{terms: not_a_report}]\n", ""))
    assert ids(BODY, "Analysis: what the militias want", rules) == {"base-attack"}


def test_explain_names_the_headline_and_the_part(tmp_path: Path) -> None:
    rules = small(tmp_path)
    (check,) = explain(example_article(BODY, "Five years after the strikes"), rules)
    assert not check.matched and check.match is None
    assert check.reason == (
        "vetoed by the headline, which holds title_none: terms: not_a_report")
    (veto,) = [p for p in check.parts if p.group == "title_none"]
    assert veto.found and veto.part == "terms: not_a_report"
    assert [(h.field, h.text) for h in veto.hits] == [("title", "years after")]
    (clear,) = explain(example_article(BODY, "Rockets hit Iraqi base"), rules)
    assert clear.matched
    (unfound,) = [p for p in clear.parts if p.group == "title_none"]
    assert not unfound.found and unfound.hits == ()


def test_unknown_list_in_title_none_names_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(RuleError) as info:
        small(tmp_path, RULES.replace("{terms: not_a_report}", "{terms: not_a_reprot}"))
    assert "r.yaml:14:" in str(info.value)
    assert "unknown term list 'not_a_reprot'" in str(info.value)


def test_a_weight_in_title_none_is_refused(tmp_path: Path) -> None:
    text = RULES.replace("    title_none: [{terms: not_a_report}]\n",
                         "    threshold: 2\n    title_none: [{terms: not_a_report, weight: 2}]\n")
    with pytest.raises(RuleError) as info:
        small(tmp_path, text)
    assert "r.yaml:15:" in str(info.value)
    assert "a part of 'title_none' vetoes, it takes no weight" in str(info.value)
