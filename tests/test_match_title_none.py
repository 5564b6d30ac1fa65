"""``title_none``: parts that, found in an article's headline, keep a rule from matching anywhere in
the article. An analysis, a review or an anniversary piece retells an old attack in a body
sentence that reads like news; its headline says what it is. Loaded with file and line like every
other part; explained; and the shipped rules use it without losing the attack reports whose
headlines share a word with such pieces."""

from __future__ import annotations

import textwrap
from functools import cache
from pathlib import Path

import pytest

from monitor.errors import RuleError
from monitor.match import RuleSet, explain, load_rules, match
from monitor.match.examples import example_article

ROOT = Path(__file__).resolve().parents[1]

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


@cache
def shipped() -> RuleSet:
    return load_rules(ROOT / "rules")


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


# ---------------------------------------------------------------- the shipped watchlist

ATTACK = ("Two rockets struck Ain al-Asad air base in Anbar province late on Monday, wounding "
          "several US service members, US officials said.")


@pytest.mark.parametrize("title", [
    "Analysis: why Iraq's militias went quiet after Tower 22",
    "Book review: a platoon leader's memoir of the night the missiles fell",
    "A year after Tower 22, a Georgia town remembers its fallen soldiers",
    "Families of soldiers wounded at Ain al-Asad sue Iran in federal court",
    "Soldiers killed in Jordan drone attack laid to rest at Arlington",
    "Coalition holds live-fire exercise at Ain al-Asad",
    "تحليل | كيف غيّر هجوم البرج 22 قواعد الاشتباك",
    "بغداد تحيي الذكرى الثانية لاغتيال سليماني",
])
def test_shipped_rules_leave_pieces_headlined_as_no_report(title: str) -> None:
    assert ids(ATTACK, "Rockets hit Ain al-Asad", shipped())  # the body alone alerts
    assert ids(ATTACK, title, shipped()) == set()


@pytest.mark.parametrize("title", [
    "Drones target Ain al-Asad on Soleimani anniversary",
    "Iraq opens investigation into rocket attack on Ain al-Asad",
    "هجوم صاروخي على عين الأسد في ذكرى اغتيال سليماني",
    "Iraqi militias threaten US troops over withdrawal timeline",
    "Rocket attack on Ain al-Asad: what we know",
    # a page title carrying the site's tagline or masthead
    "Asharq Al-awsat English Middle-east and International News and Opinion from Asharq Al-awsat",
    "Rockets hit Ain al-Asad | Breaking News, Analysis & Opinion",
    "صواريخ على قاعدة عين الأسد - رأي اليوم",
    "صواريخ على قاعدة عين الأسد | الرأي",
])
def test_shipped_rules_keep_reports_whose_headline_shares_a_word(title: str) -> None:
    assert ids(ATTACK, title, shipped())


def test_a_threat_made_at_a_funeral_still_alerts() -> None:
    text = ("Kataib Hezbollah vowed at the funeral to target American forces in Iraq and said US "
            "bases would not be safe.")
    found = ids(text, "Thousands attend funeral of Kataib Hezbollah fighters in Baghdad", shipped())
    assert "militia-threat" in found
