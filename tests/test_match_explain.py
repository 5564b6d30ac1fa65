"""explain(article, ruleset): one check per rule, parts found or not and where, a one-line reason;
the rules it says matched are always exactly match()'s. And a broken rule file still fails with
file and line."""

from __future__ import annotations

import textwrap
from functools import cache
from pathlib import Path

import pytest

from monitor.errors import RuleError
from monitor.match import PartCheck, RuleCheck, RuleSet, explain, load_rules, match
from monitor.match.examples import example_article
from monitor.match.explain import MAX_HITS
from monitor.model import Article
from tests.fakes import small_rules

ROOT = Path(__file__).resolve().parents[1]
SEEDS = Path(__file__).parent / "data" / "seeds"
DEMO = ROOT / "monitor" / "demo" / "site"


@cache
def shipped() -> RuleSet:
    return load_rules(ROOT / "rules")


def seed(name: str) -> Article:
    text = (SEEDS / name).read_text(encoding="utf-8")
    title = next(line for line in text.splitlines() if line.strip())
    return example_article(text, title)


def corpus() -> list[Article]:
    found = [seed(p.name) for p in sorted(SEEDS.glob("*.txt"))]
    found += [example_article(e.text, e.title) for e in shipped().examples]
    for example in shipped().examples:  # and each sentence-ish piece alone
        found += [example_article(piece) for piece in example.text.split(", ")]
    return found


def test_explain_agrees_with_match_over_seeds_and_examples() -> None:
    articles = corpus()
    assert len(articles) > 100
    for article in articles:
        checks = explain(article, shipped())
        assert [c.rule_id for c in checks] == [r.id for r in shipped().rules]
        matches = {m.rule_id: m for m in match(article, shipped())}
        assert {c.rule_id: c.match for c in checks if c.matched} == matches
        for c in checks:
            assert c.matched == (c.match is not None)
            assert c.reason and "\n" not in c.reason
            assert c.reason.startswith("matched in ") == c.matched, c.reason


def test_explain_is_pure() -> None:
    article = seed("003_c4c6268c7a218cda.txt")
    assert explain(article, shipped()) == explain(article, shipped())


def checks(text: str, ruleset: RuleSet, title: str = "") -> dict[str, RuleCheck]:
    return {c.rule_id: c for c in explain(example_article(text, title), ruleset)}


def test_a_match_says_where(small: RuleSet) -> None:
    got = checks("Quiet. A drone hit Tanf.", small)
    assert got["sentence"].matched
    assert got["sentence"].reason == "matched in body sentence 2"
    assert got["sentence"].severity == "low" and got["sentence"].title == "S"
    near = checks("Kataib Hezbollah spoke. A drone hit US forces.", small)["window"]
    assert near.reason == "matched in body, a 8-word window over sentences 1-2"
    assert checks("x", small, title="Tanf")["title-only"].reason == "matched in title sentence 1"


def test_parts_in_rule_order_with_where_they_were_found(small: RuleSet) -> None:
    text = "A US strike hit a drone site at Tanf."
    check = checks(text, small)["sentence"]
    assert not check.matched and check.match is None
    assert [(p.group, p.part, p.found) for p in check.parts] == [
        ("all", "kind: base", True),
        ("all", "terms: attack", True),
        ("none", "terms: veto", True),
    ]
    base = check.parts[0].hits
    assert [(e.kind, e.ref, e.label, e.text, e.field) for e in base] == [
        ("entity", "tanf", "Al-Tanf Garrison", "Tanf", "body"),
    ]
    assert text[base[0].start : base[0].end] == "Tanf"
    assert [e.text for e in check.parts[2].hits] == ["US strike"]


def test_reasons_for_no_match(small: RuleSet) -> None:
    assert checks("A drone flew.", small)["sentence"].reason == "not found: kind: base"
    assert (
        checks("Nothing.", small)["sentence"].reason == "not found: kind: base, terms: attack"
    )
    assert (
        checks("A drone flew. Tanf is quiet.", small)["sentence"].reason
        == "no sentence has all of: kind: base, terms: attack"
    )
    assert (
        checks("A US strike hit a drone site at Tanf.", small)["sentence"].reason
        == "every qualifying sentence vetoed by none: terms: veto"
    )
    far = "Kataib Hezbollah spoke. One two three four five six seven. A drone hit US forces."
    assert (
        checks(far, small)["window"].reason == "no sentence or 8-word window has all of: "
        "kind: militia, terms: attack, terms: us"
    )
    vetoed = "Kataib Hezbollah: US strike. Drone hit US forces."
    assert checks(vetoed, small)["window"].reason == (
        "every qualifying sentence or 8-word window vetoed by none: terms: veto"
    )
    assert checks("Tanf", small)["title-only"].reason == "nothing to read: the title is empty"
    assert checks("Nothing.", small)["any-of"].reason == (
        "none found of any: entity: kh, terms: us"
    )
    assert checks("", small)["sentence"].reason == "nothing to read: the title and body are empty"


def test_hits_are_capped(small: RuleSet) -> None:
    text = " ".join(["A drone flew."] * (MAX_HITS + 3))
    (attack,) = [p for p in checks(text, small)["sentence"].parts if p.part == "terms: attack"]
    assert attack == PartCheck("all", "terms: attack", True, attack.hits)
    assert len(attack.hits) == MAX_HITS


def test_field_any_reads_title_then_body(small: RuleSet) -> None:
    check = checks("Tanf was hit.", small, title="A drone")["sentence"]
    assert {e.field for p in check.parts for e in p.hits} == {"title", "body"}
    assert check.reason == "no sentence has all of: kind: base, terms: attack"


def test_explain_over_the_demo_site_pages() -> None:
    import re

    for page in sorted(DEMO.rglob("*.html")):
        html = page.read_text(encoding="utf-8")
        text = re.sub(r"<[^>]+>", "\n", html)
        article = example_article(text)
        got = {c.rule_id for c in explain(article, shipped()) if c.matched}
        assert got == {m.rule_id for m in match(article, shipped())}, page


# ---------------------------------------------------------------- broken rule files


def test_transliterated_must_be_a_boolean(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        textwrap.dedent(
            """\
            entities:
              - id: kh
                kind: militia
                name: Kataib Hezbollah
                transliterated: "yes"
                aliases: [Kataib Hezbollah]
            terms:
              attack: [drone]
            rules:
              - {id: r, title: R, severity: low, all: [{kind: militia}, {terms: attack}]}
            """
        ),
        encoding="utf-8",
    )
    with pytest.raises(RuleError) as info:
        load_rules(tmp_path)
    assert "r.yaml:5:" in str(info.value)
    assert "transliterated must be true or false" in str(info.value)


def test_a_broken_rule_file_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("entities: []\n", encoding="utf-8")
    (tmp_path / "b.yaml").write_text(
        "terms:\n  attack: [drone]\nrules:\n  - id: r\n    title: R\n    severity: low\n"
        "    all: [{terms: atack}]\n",
        encoding="utf-8",
    )
    with pytest.raises(RuleError) as info:
        load_rules(tmp_path)
    assert "b.yaml:7:" in str(info.value) and "atack" in str(info.value)


@pytest.fixture
def small(tmp_path: Path) -> RuleSet:
    return small_rules(tmp_path)
