"""Matches that explain themselves: evidence with offsets into the article, a snippet cut on word
boundaries around the strongest hit, and marks of the evidence inside it."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from monitor.match import RuleSet, load_rules, match
from monitor.match.examples import example_article
from monitor.match.snippet import SNIPPET_LIMIT
from monitor.model import Article, Match

ROOT = Path(__file__).resolve().parents[1]
SEEDS = Path(__file__).parent / "data" / "seeds"


@cache
def shipped() -> RuleSet:
    return load_rules(ROOT / "rules")


def seed(name: str) -> Article:
    text = (SEEDS / name).read_text(encoding="utf-8")
    title = next(line for line in text.splitlines() if line.strip())
    return example_article(text, title)


def articles() -> list[Article]:
    found = [seed(p.name) for p in sorted(SEEDS.glob("*.txt"))]
    found += [example_article(e.text, e.title) for e in shipped().examples]
    return found


def check(article: Article, m: Match) -> None:
    assert m.evidence, m.rule_id
    for e in m.evidence:
        source = article.title if e.field == "title" else article.text
        assert source[e.start : e.end] == e.text, e
        assert e.text.strip() == e.text and e.text
        assert e.start == 0 or not source[e.start - 1].isalnum(), e
        assert e.end == len(source) or not source[e.end].isalnum(), e
        if e.kind == "entity":
            assert shipped().entity(e.ref) is not None
            assert e.label in m.entities
        else:
            assert e.label in m.terms
            assert e.ref in dict(shipped().terms)
    assert len(m.snippet) <= SNIPPET_LIMIT
    assert m.marks, m.rule_id
    previous = -1
    for start, end in m.marks:
        assert previous <= start < end <= len(m.snippet), m.marks
        previous = end
    squashed = [" ".join(e.text.split()) for e in m.evidence]
    for start, end in m.marks:
        marked = m.snippet[start:end]
        assert any(text in marked for text in squashed), (marked, squashed)
    marked_text = " ".join(m.snippet[a:b] for a, b in m.marks)
    for text in squashed:
        if text in m.snippet:
            assert text in marked_text, (text, m.marks)


def test_evidence_points_at_the_text_over_seeds_and_examples() -> None:
    count = 0
    for article in articles():
        for m in match(article, shipped()):
            check(article, m)
            count += 1
    assert count > 40


def test_evidence_of_one_match() -> None:
    text = "Oil prices rose. Three rockets hit Ain al-Asad air base in Anbar overnight."
    article = example_article(text, title="Quiet day")
    (m,) = [m for m in match(article, shipped()) if m.rule_id == "coalition-base-attack"]
    assert [(e.kind, e.ref, e.label, e.text, e.field) for e in m.evidence] == [
        ("term", "attack", "rocket", "rockets", "body"),
        ("term", "attack", "hit", "hit", "body"),
        ("entity", "ain-al-asad", "Ain al-Asad Air Base", "Ain al-Asad air base", "body"),
    ]
    assert m.snippet == "Three rockets hit Ain al-Asad air base in Anbar overnight."
    assert [m.snippet[a:b] for a, b in m.marks] == ["rockets", "hit", "Ain al-Asad air base"]


def test_title_evidence_offsets_are_into_the_title() -> None:
    article = example_article("Nothing here.", title="Rockets hit the Green Zone in Baghdad")
    (m,) = [m for m in match(article, shipped()) if m.rule_id == "coalition-base-attack"]
    assert {e.field for e in m.evidence} == {"title"}
    for e in m.evidence:
        assert article.title[e.start : e.end] == e.text


def test_offsets_survive_folding_of_the_text() -> None:
    text = "Tuesday:  U.S.   forces\tat the Ain Al‐Asad airbase in Iraq came under attack."
    article = example_article(text)
    matches = match(article, shipped())
    assert matches
    for m in matches:
        check(article, m)
    texts = {e.text for m in matches for e in m.evidence}
    assert "Ain Al‐Asad airbase" in texts
    assert "U.S.   forces" in texts


def test_evidence_keeps_the_characters_folding_drops_at_its_ends() -> None:
    # a final hamza (النجباء folds to النجبا), harakat and tatweel are part of the word
    text = "توعدت حركة النجباء باستهداف القواتِ الأمريكيةِ ومصالحـها في العراق"
    article = example_article(text)
    matches = match(article, shipped())
    assert [m.rule_id for m in matches] == ["militia-threat"]
    check(article, matches[0])
    texts = {e.text for e in matches[0].evidence}
    assert "حركة النجباء" in texts
    assert "القواتِ الأمريكيةِ" in texts


def test_window_evidence_spans_sentences() -> None:
    text = "Rockets hit Ain al-Asad on Monday. Two US soldiers were wounded, officials said."
    article = example_article(text)
    (m,) = [m for m in match(article, shipped()) if m.rule_id == "coalition-base-attack-casualties"]
    check(article, m)
    assert m.snippet == text
    assert {e.text for e in m.evidence} >= {"Rockets", "Ain al-Asad", "wounded"}


# ---------------------------------------------------------------- long snippets

PAD = " ".join(f"word{i}" for i in range(80))


def test_long_sentence_is_cut_on_word_boundaries_with_marks() -> None:
    text = f"{PAD} then three rockets hit Ain al-Asad and {PAD} end."
    article = example_article(text)
    (m,) = [m for m in match(article, shipped()) if m.rule_id == "coalition-base-attack"]
    assert len(m.snippet) <= SNIPPET_LIMIT
    assert m.snippet.startswith("…") and m.snippet.endswith("…")
    inner = m.snippet[1:-1]
    assert inner in text
    start = text.index(inner)
    assert text[start - 1] == " " and text[start + len(inner)] == " "  # whole words
    assert [m.snippet[a:b] for a, b in m.marks] == ["rockets", "hit", "Ain al-Asad"]


def test_evidence_too_far_apart_centres_on_the_strongest_hit() -> None:
    text = f"Ain al-Asad was quiet as {PAD} {PAD} until rockets flew."
    article = example_article(text)
    ruleset = shipped()
    (m,) = [m for m in match(article, ruleset) if m.rule_id == "coalition-base-attack"]
    assert "Ain al-Asad" in m.snippet  # the entity, not the term at the far end
    assert len(m.snippet) <= SNIPPET_LIMIT
    marked = [m.snippet[a:b] for a, b in m.marks]
    assert marked == ["Ain al-Asad"]
    assert {e.text for e in m.evidence} == {"Ain al-Asad", "rockets"}  # evidence is all of it


@pytest.mark.parametrize("spaces", ["\t", "   ", "\u00a0", "\u2009", " \t "])
def test_marks_follow_collapsed_white_space(spaces: str) -> None:
    text = f"Three{spaces}rockets hit{spaces}Ain{spaces}al-Asad today."
    article = example_article(text)
    (m,) = [m for m in match(article, shipped()) if m.rule_id == "coalition-base-attack"]
    assert m.snippet == "Three rockets hit Ain al-Asad today."
    assert [m.snippet[a:b] for a, b in m.marks] == ["rockets", "hit", "Ain al-Asad"]
