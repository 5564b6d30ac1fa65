"""The one automaton: every alias and term of the rule set, searched once, with word boundaries,
Arabic proclitics, Latin plurals and longest-match-wins kept; the seeds' spelling variants reach
their entities."""

from __future__ import annotations

import textwrap
from functools import cache
from pathlib import Path

import pytest

from monitor.match import RuleSet, load_rules, match, normalise
from monitor.match.examples import example_article
from monitor.match.field import FieldText
from monitor.match.lexicon import Lexicon

ROOT = Path(__file__).resolve().parents[1]


@cache
def shipped() -> RuleSet:
    return load_rules(ROOT / "rules")


def entity_ids(text: str, ruleset: RuleSet | None = None) -> list[str]:
    """The entities the engine keeps in ``text`` (longest mention wins), in reading order."""
    field = FieldText(text, (ruleset or shipped()).lexicon)
    return [h.label for h in field.entities]


# ---------------------------------------------------------------- the seeds' spelling variants


@pytest.mark.parametrize(
    ("text", "entity"),
    [
        ("Rockets hit Ain Al Asad on Monday.", "ain-al-asad"),
        ("Rockets hit Ain Al-Asad on Monday.", "ain-al-asad"),
        ("Rockets hit Ain al-Asad on Monday.", "ain-al-asad"),
        ("Five rockets hit Al-Asad air base.", "ain-al-asad"),
        ("Kataib Hezbollah denied it.", "kataib-hezbollah"),
        ("Kataib Hizbullah denied it.", "kataib-hezbollah"),
        ("The Hezbollah Brigades denied it.", "kataib-hezbollah"),
        ("The Sayyid Al Shuhada Brigades denied it.", "kataib-sayyid-al-shuhada"),
        ("Kataeb Sayyid al-Shuhada denied it.", "kataib-sayyid-al-shuhada"),
        ("Sayed al-Shuhada denied it.", "kataib-sayyid-al-shuhada"),
        ("Drones were shot down near Harir.", "harir"),
        ("Drones were shot down near Hareer.", "harir"),
        ("A group calling themselves the Revolutionaries claimed it.", "thawriyoun"),
        ("It was claimed by Thawriyoun.", "thawriyoun"),
        ("The Popular Mobilisation Forces said so.", "popular-mobilization-forces"),
        ("The Popular Mobilization Forces said so.", "popular-mobilization-forces"),
        ("The PMF said so.", "popular-mobilization-forces"),
    ],
)
def test_seed_spelling_variants_reach_their_entity(text: str, entity: str) -> None:
    assert entity_ids(text) == [entity]


@pytest.mark.parametrize(
    "text",
    [
        "The Revolutionaries, a theatre troupe, performed.",  # not in context
        "Hezbollah fired rockets at Israel.",  # Lebanese, not Kataib Hezbollah
        "Bashar al-Assad spoke.",
        "Lawmaker Mohammed al-Asad spoke.",
    ],
)
def test_look_alikes_do_not_reach_the_seed_entities(text: str) -> None:
    found = entity_ids(text)
    assert not {"thawriyoun", "kataib-hezbollah", "ain-al-asad"} & set(found), found


# ---------------------------------------------------------------- one automaton, searched once

SMALL = """\
entities:
  - {id: tanf, kind: base, name: Al-Tanf Garrison, aliases: [Tanf, التنف]}
  - {id: asad, kind: base, name: Ain al-Asad, aliases: [Ain al-Asad, عين الأسد]}
  - {id: kh, kind: militia, name: Kataib Hezbollah, aliases: [Kataib Hezbollah]}
  - {id: hezbollah, kind: armed-group, name: Hezbollah, aliases: [Hezbollah]}
  - {id: iraq, kind: place, name: Iraq, aliases: [Iraq]}
  - {id: iri, kind: militia, name: IRI, aliases: [Islamic Resistance in Iraq]}
terms:
  attack: [rocket, rocket attack, drone, strike, strikes on, صواريخ]
  veto: [US strike]
rules:
  - {id: r, title: R, severity: low, all: [{kind: base}, {terms: attack}]}
"""


@pytest.fixture
def small(tmp_path: Path) -> RuleSet:
    (tmp_path / "r.yaml").write_text(SMALL, encoding="utf-8")
    return load_rules(tmp_path)


def test_one_scan_finds_every_list(small: RuleSet) -> None:
    hits = small.lexicon.scan(normalise("A US strike and rockets hit Tanf in Iraq."))
    keys = {h.key for h in hits}
    assert {"terms:attack", "terms:veto", "kind:base", "kind:place"} <= keys
    assert small.lexicon.keys == (
        "kind:base",
        "kind:militia",
        "kind:armed-group",
        "kind:place",
        "terms:attack",
        "terms:veto",
    )


def test_words_only_on_boundaries(small: RuleSet) -> None:
    assert small.lexicon.find("kind:base", normalise("Tanfield and Tanf_x and xTanf")) == []
    assert small.lexicon.find("kind:place", normalise("Iraqi forces")) == []
    assert [h.label for h in small.lexicon.find("kind:base", "tanf, tanf.")] == ["tanf", "tanf"]
    assert small.lexicon.find("terms:attack", normalise("dronescape rocketry")) == []


def test_latin_plural_on_terms_only(small: RuleSet) -> None:
    found = small.lexicon.find("terms:attack", normalise("Rockets and drones"))
    assert [(h.label, h.exact) for h in found] == [("rocket", False), ("drone", False)]
    assert small.lexicon.find("kind:base", normalise("Tanfs")) == []


def test_arabic_proclitics(small: RuleSet) -> None:
    for text in ("بعين الأسد", "وبعين الأسد", "لعين الأسد", "فالتنف", "بالتنف", "التنف"):
        assert [h.label for h in small.lexicon.find("kind:base", normalise(text))] != [], text
    found = small.lexicon.find("terms:attack", normalise("وبالصواريخ"))
    assert [h.label for h in found] == ["صواريخ"]
    assert small.lexicon.find("kind:base", normalise("عينالأسد")) == []


def test_leftmost_longest_within_a_term_list(small: RuleSet) -> None:
    found = small.lexicon.find("terms:attack", normalise("a rocket attack, then strikes on it"))
    assert [h.label for h in found] == ["rocket attack", "strikes on"]


def test_longest_entity_mention_wins_across_kinds(small: RuleSet) -> None:
    assert entity_ids("Kataib Hezbollah and Hezbollah", small) == ["kh", "hezbollah"]
    assert entity_ids("the Islamic Resistance in Iraq, in Iraq", small) == ["iri", "iraq"]


def test_empty_lexicon_and_text() -> None:
    assert Lexicon().scan("anything") == []
    assert Lexicon().keys == ()
    assert Lexicon(terms={"a": ["drone"]}).scan("") == []


def test_a_written_term_wins_over_an_allowance(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        textwrap.dedent(
            """\
            entities:
              - {id: tanf, kind: base, name: Tanf, aliases: [Tanf]}
            terms:
              attack: [rocket, rockets]
            rules:
              - {id: r, title: R, severity: low, all: [{kind: base}, {terms: attack}]}
            """
        ),
        encoding="utf-8",
    )
    ruleset = load_rules(tmp_path)
    (m,) = match(example_article("Rockets hit Tanf."), ruleset)
    assert m.terms == ("rockets",)


def test_the_automaton_grows_with_the_lists_not_the_rules(small: RuleSet) -> None:
    # every alias and term once, plus its allowances (Arabic proclitics, Latin plurals)
    assert small.lexicon.size > len(small.terms) + len(small.entities)
    words = Lexicon(terms={f"l{i}": ["drone"] for i in range(50)})
    assert words.size == 2  # "drone" and "drones", however many lists hold them
    assert {h.key for h in words.scan("drones")} == {f"terms:l{i}" for i in range(50)}
