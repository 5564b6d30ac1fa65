"""Weighted rules: parts carry a ``weight``, a rule a ``threshold``; in one scope every ``all``
part must be found, no ``none`` part, and the weights of the distinct parts found must reach the
threshold. explain() gives the score; every mistake is a RuleError with file and line; a rule
without a threshold keeps its plain meaning."""

from __future__ import annotations

import dataclasses
import textwrap
from fractions import Fraction
from functools import cache
from pathlib import Path

import pytest

from monitor.errors import RuleError
from monitor.match import RuleCheck, RuleSet, explain, load_rules, match
from monitor.match.examples import example_article

ROOT = Path(__file__).resolve().parents[1]
SEEDS = Path(__file__).parent / "data" / "seeds"

WEIGHTED = """\
entities:
  - {id: tanf, kind: base, name: Al-Tanf Garrison, aliases: [Tanf, al-Tanf]}
terms:
  attack: [drone, rocket]
  us: [US forces]
  casualty: [wounded, killed]
  veto: [US strike]
  small: [militants]
  smaller: [fighters]
rules:
  - id: sentence
    title: S
    severity: high
    threshold: 5
    all: [{terms: attack, weight: 2}]
    any: [{kind: base, weight: 2}, {terms: casualty, weight: 3}, {terms: us}]
    none: [{terms: veto}]
  - id: window
    title: W
    severity: high
    threshold: 5
    within: 12
    all: [{terms: attack, weight: 2}]
    any: [{kind: base, weight: 2}, {terms: casualty, weight: 3}, {terms: us}]
    none: [{terms: veto}]
  - id: unit-weights
    title: U
    severity: low
    threshold: 2
    any: [{kind: base}, {terms: casualty}, {terms: us}]
  - id: decimals
    title: D
    severity: low
    threshold: 0.3
    any: [{terms: small, weight: 0.1}, {terms: smaller, weight: 0.2}]
"""


@pytest.fixture
def weighted(tmp_path: Path) -> RuleSet:
    (tmp_path / "w.yaml").write_text(WEIGHTED, encoding="utf-8")
    return load_rules(tmp_path)


def matched(text: str, ruleset: RuleSet, title: str = "") -> set[str]:
    return {m.rule_id for m in match(example_article(text, title), ruleset)}


def checks(text: str, ruleset: RuleSet) -> dict[str, RuleCheck]:
    article = example_article(text)
    got = {c.rule_id: c for c in explain(article, ruleset)}
    # explain and match always agree
    assert {r: c.match for r, c in got.items() if c.matched} == {
        m.rule_id: m for m in match(article, ruleset)
    }
    return got


def test_loaded_weights_and_thresholds(weighted: RuleSet) -> None:
    rule = weighted.rules[0]
    assert rule.threshold == 5
    assert [p.weight for p in (*rule.all, *rule.any)] == [2, 2, 3, 1]
    assert [p.weight for p in rule.none] == [1]
    assert weighted.rules[3].threshold == Fraction(3, 10)
    assert [p.weight for p in weighted.rules[3].any] == [Fraction(1, 10), Fraction(2, 10)]


def test_score_reached_in_one_sentence(weighted: RuleSet) -> None:
    # attack 2 + casualty 3 = 5
    assert {"sentence", "window"} <= matched("A drone hit the camp and two were wounded.", weighted)
    # attack 2 + base 2 + us 1 = 5
    assert {"sentence", "window"} <= matched("A drone hit US forces at Tanf.", weighted)
    # attack 2 + base 2 = 4
    assert matched("A drone hit Tanf.", weighted) == set()


def test_parts_spread_over_two_sentences_need_a_window(weighted: RuleSet) -> None:
    text = "A drone hit Tanf. Two soldiers were wounded."
    assert matched(text, weighted) == {"window"}
    far = "A drone hit Tanf. One two three four five six seven eight nine ten. Two were wounded."
    assert "window" not in matched(far, weighted)
    got = checks(text, weighted)["window"]
    assert got.reason == (
        "matched in body, a 12-word window over sentences 1-2 with score 7 (5 needed): "
        "found terms: attack (2), kind: base (2), terms: casualty (3); missing terms: us (1)"
    )


def test_a_part_found_twice_counts_once(weighted: RuleSet) -> None:
    text = "A drone and a rocket hit Tanf, al-Tanf."
    assert matched(text, weighted) == set()
    assert checks(text, weighted)["sentence"].reason == (
        "score 4 of 5 needed: found terms: attack (2), kind: base (2); "
        "missing terms: casualty (3), terms: us (1)"
    )
    assert matched("US forces at Tanf: two wounded.", weighted) == {"unit-weights"}
    assert matched("Two were wounded and two more wounded.", weighted) == set()


def test_none_still_vetoes(weighted: RuleSet) -> None:
    text = "After a US strike a drone hit Tanf and two were wounded."
    assert matched(text, weighted) == {"unit-weights"}
    assert checks(text, weighted)["sentence"].reason == (
        "every qualifying sentence vetoed by none: terms: veto"
    )
    # a window may not reach into a vetoed sentence
    spread = "A drone hit Tanf. That was a US strike. Two were wounded."
    assert "window" not in matched(spread, weighted)


def test_all_parts_are_still_required(weighted: RuleSet) -> None:
    # base 2 + casualty 3 + us 1 = 6, but no attack
    text = "At Tanf two US forces were wounded."
    assert matched(text, weighted) == {"unit-weights"}
    assert checks(text, weighted)["sentence"].reason == "not found: terms: attack"
    elsewhere = "A drone flew over the desert. At Tanf two US forces were wounded."
    assert "sentence" not in matched(elsewhere, weighted)
    assert checks(elsewhere, weighted)["sentence"].reason == (
        "score 2 of 5 needed: found terms: attack (2); "
        "missing kind: base (2), terms: casualty (3), terms: us (1)"
    )


def test_explain_gives_the_score(weighted: RuleSet) -> None:
    got = checks("A drone hit the camp and two were wounded.", weighted)
    assert got["sentence"].reason == (
        "matched in body sentence 1 with score 5 (5 needed): found terms: attack (2), "
        "terms: casualty (3); missing kind: base (2), terms: us (1)"
    )
    assert got["unit-weights"].reason == (
        "score 1 of 2 needed: found terms: casualty (1); missing kind: base (1), terms: us (1)"
    )
    assert checks("Nothing here.", weighted)["unit-weights"].reason == (
        "no sentence has a score of 2 from: kind: base (1), terms: casualty (1), terms: us (1)"
    )
    apart = "Tanf is quiet. Two were wounded in a car crash."
    assert checks(apart, weighted)["unit-weights"].reason == (
        "score 1 of 2 needed: found kind: base (1); missing terms: casualty (1), terms: us (1)"
    )


def test_decimal_weights_add_up_exactly(weighted: RuleSet) -> None:
    assert matched("Militants and fighters gathered.", weighted) == {"decimals"}
    assert checks("Militants gathered.", weighted)["decimals"].reason == (
        "score 0.1 of 0.3 needed: found terms: small (0.1); missing terms: smaller (0.2)"
    )


def test_match_and_explain_agree_on_weighted_rules(weighted: RuleSet) -> None:
    texts = [
        "A drone hit Tanf and two were wounded.",
        "A drone hit Tanf. Two were wounded.",
        "US forces at Tanf. A rocket. Two killed.",
        "After a US strike a drone hit Tanf and two were wounded. US forces at Tanf.",
        "Militants and fighters. A drone. Tanf.",
        "",
    ]
    for text in texts:
        for check in checks(text, weighted).values():
            assert check.reason.startswith("matched in ") == check.matched, check.reason


# ---------------------------------------------------------------- rules without a threshold


@cache
def shipped() -> RuleSet:
    return load_rules(ROOT / "rules")


def test_unit_weights_and_a_threshold_of_all_plus_one_is_the_plain_rule() -> None:
    """Every shipped rule with ``any`` parts (none also in ``all``) is rebuilt with a threshold
    of len(all) + 1: over the seeds and the examples it matches exactly as the plain rule, with
    the same evidence."""
    plain = shipped()
    assert all(r.threshold is None for r in plain.rules)
    assert all(p.weight == 1 for r in plain.rules for p in (*r.all, *r.any, *r.none))
    rebuilt = tuple(
        dataclasses.replace(r, threshold=Fraction(len(r.all) + 1))
        if r.any and not set(r.any) & set(r.all)
        else r
        for r in plain.rules
    )
    assert sum(r.threshold is not None for r in rebuilt) >= 3
    scored = dataclasses.replace(plain, rules=rebuilt)
    articles = [example_article(e.text, e.title) for e in plain.examples]
    for path in sorted(SEEDS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        articles.append(example_article(text, next(x for x in text.splitlines() if x.strip())))
    for article in articles:
        assert match(article, scored) == match(article, plain)


# ---------------------------------------------------------------- mistakes, with file and line

RULE = """\
terms:
  attack: [drone]
  casualty: [wounded]
  veto: [drill]
rules:
  - id: r
    title: R
    severity: low
    threshold: 3
    all:
      - terms: attack
        weight: 2
    any:
      - terms: casualty
        weight: 1
    none:
      - terms: veto
"""
# lines: 9 threshold, 11 all[0], 12 its weight, 14 any[0], 15 its weight, 17 none[0]


def load_error(tmp_path: Path, text: str) -> RuleError:
    (tmp_path / "w.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(RuleError) as info:
        load_rules(tmp_path)
    return info.value


def test_the_template_loads(tmp_path: Path) -> None:
    (tmp_path / "w.yaml").write_text(RULE, encoding="utf-8")
    (rule,) = load_rules(tmp_path).rules
    assert rule.threshold == 3 and [p.weight for p in (*rule.all, *rule.any)] == [2, 1]


@pytest.mark.parametrize(
    ("old", "new", "line", "words"),
    [
        ("weight: 2", "weight: 0", 12, "weight must be a positive number, not 0"),
        ("weight: 2", "weight: -1", 12, "weight must be a positive number, not -1"),
        ("weight: 2", "weight: two", 12, "weight must be a positive number, not 'two'"),
        ("weight: 2", "weight: true", 12, "weight must be a positive number"),
        ("weight: 2", "weight: .inf", 12, "weight must be a positive number"),
        ("weight: 1", "weight: [1]", 15, "weight must be a positive number, not a list"),
        ("threshold: 3", "threshold: 0", 9, "threshold must be a positive number, not 0"),
        ("threshold: 3", "threshold: high", 9, "threshold must be a positive number"),
        (
            "threshold: 3",
            "threshold: 9",
            9,
            "rule 'r' can never reach threshold 9: its parts weigh 3 at most",
        ),
        (
            "threshold: 3",
            "threshold: 3.5",
            9,
            "rule 'r' can never reach threshold 3.5: its parts weigh 3 at most",
        ),
        ("      - terms: veto\n", "      - terms: veto\n        weight: 2\n", 18, "no weight"),
        ("    threshold: 3\n", "", 11, "has a weight, but the rule has no threshold"),
        ("        weight: 2", "        wieght: 2", 12, "unknown key 'wieght'"),
        ("- terms: casualty", "- terms: attack", 14, "lists part 'terms: attack' twice"),
        (
            "      - terms: attack\n        weight: 2",
            "      - {terms: attack, kind: base, weight: 2}",
            11,
            "one key",
        ),
    ],
)
def test_mistakes_name_file_and_line(
    tmp_path: Path, old: str, new: str, line: int, words: str
) -> None:
    assert old in RULE
    error = load_error(tmp_path, RULE.replace(old, new, 1))
    assert f"w.yaml:{line}:" in str(error), str(error)
    assert error.line == line
    assert words in str(error), str(error)


def test_a_threshold_without_weights_counts_parts(tmp_path: Path) -> None:
    text = textwrap.dedent(
        """\
        terms:
          a: [alpha]
          b: [bravo]
          c: [charlie]
        rules:
          - {id: two-of-three, title: T, severity: low, threshold: 2,
             any: [{terms: a}, {terms: b}, {terms: c}]}
        """
    )
    (tmp_path / "w.yaml").write_text(text, encoding="utf-8")
    ruleset = load_rules(tmp_path)
    assert matched("Alpha and charlie.", ruleset) == {"two-of-three"}
    assert matched("Alpha. Charlie.", ruleset) == set()
    assert matched("Alpha alpha.", ruleset) == set()
    error = load_error(tmp_path, text.replace("threshold: 2", "threshold: 4"))
    assert "w.yaml:6:" in str(error) and "its parts weigh 3 at most" in str(error)
