"""Transliteration folding: spellings of one Arabic name that the alias lists do not hold meet
through folding, for entities marked ``transliterated``; folding makes no false matches."""

from __future__ import annotations

import pytest

from monitor.match import RuleSet, load_rules, match, normalise
from monitor.match.examples import example_article
from monitor.match.field import FieldText
from monitor.match.fold import fold_view, foldable, skeleton
from monitor.match.lexicon import alias_key

# One alias each, on purpose: every other spelling below must be found through folding.
RULES = """\
entities:
  - {id: kh, kind: militia, name: Kataib Hezbollah, transliterated: true,
     aliases: [Kataib Hezbollah, Hezbollah Brigades]}
  - {id: nujaba, kind: militia, name: Harakat al-Nujaba, transliterated: true,
     aliases: [Harakat al-Nujaba, al-Nujaba]}
  - {id: aah, kind: militia, name: Asaib Ahl al-Haq, transliterated: true, aliases: []}
  - {id: kss, kind: militia, name: Kataib Sayyid al-Shuhada, transliterated: true,
     aliases: [Sayyid al-Shuhada]}
  - {id: thawriyoun, kind: militia, name: Thawriyoun, transliterated: true, aliases: []}
  - {id: asad, kind: base, name: Ain Assad, transliterated: true,
     aliases: [Ain al-Asad, Asad base, Al-Asad Air Base]}
  - {id: hezbollah, kind: armed-group, name: Hezbollah, transliterated: true, aliases: []}
  - {id: plain, kind: militia, name: Saraya Awliya al-Dam, aliases: []}
terms:
  attack: [rocket, drone]
rules:
  - {id: militia-attack, title: M, severity: high, all: [{kind: militia}, {terms: attack}]}
  - {id: base-attack, title: B, severity: high, all: [{kind: base}, {terms: attack}]}
"""


@pytest.fixture(scope="module")
def ruleset(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    directory = tmp_path_factory.mktemp("rules")
    (directory / "r.yaml").write_text(RULES, encoding="utf-8")
    return load_rules(directory)


def entity_ids(text: str, ruleset: RuleSet) -> list[str]:
    return [h.label for h in FieldText(text, ruleset.lexicon).entities]


def listed(ruleset: RuleSet) -> set[str]:
    return {alias_key(a) for e in ruleset.entities for a in e.aliases}


# ---------------------------------------------------------------- spellings that meet


@pytest.mark.parametrize(
    ("spellings", "entity"),
    [
        (["Kata'ib Hizballah", "Kataeb Hizbullah", "Kata’ib Hizbullah", "Kataib Hizbollah"], "kh"),
        (["Hizballah Brigades", "Hizbullah brigades"], "kh"),
        (
            ["Harakat Nujaba", "Harakat el-Nujabaa", "Harakat an-Nujaba", "Harakat al Nujabaa"],
            "nujaba",
        ),
        (
            ["Asa'ib Ahl al-Haqq", "Asaeb Ahl al-Haq", "Asayb Ahl el-Haqq", "Asa’ib Ahl ul-Haq"],
            "aah",
        ),
        (["Sayed al-Shuhada", "Seyyed al-Shohada", "Sayyed el-Shuhadaa"], "kss"),
        (["Thawriyun", "al-Thawriyoon", "Al-Thawriyyoun"], "thawriyoun"),
        (["Ayn al-Assad", "Ain al-Assad", "Ayn el-Asad", "Ain Asad"], "asad"),
        (["Hizbollah", "Hezballah", "Hizbullah"], "hezbollah"),
    ],
)
def test_unlisted_transliterations_meet(
    spellings: list[str], entity: str, ruleset: RuleSet
) -> None:
    for spelling in spellings:
        assert alias_key(spelling) not in listed(ruleset), spelling  # not an alias: folding
        assert entity_ids(f"A rocket was fired by {spelling} on Monday.", ruleset) == [entity], (
            spelling
        )


def test_the_skeletons_the_brief_names_meet() -> None:
    groups = [
        ["Kataib Hezbollah", "Kata'ib Hizballah", "Kataeb Hizbullah", "Kata’ib Hizbullah"],
        ["Harakat al-Nujaba", "Harakat Nujaba", "Harakat el-Nujabaa"],
        ["Asaib Ahl al-Haq", "Asa'ib Ahl al-Haqq"],
        ["Sayyid al-Shuhada", "Sayed al-Shuhada", "Seyyed al-Shohada"],
        ["Thawriyoun", "Thawriyun"],
        ["Ain al-Asad", "Ayn al-Assad"],
    ]
    for group in groups:
        assert len({skeleton(s) for s in group}) == 1, [skeleton(s) for s in group]


def test_a_folded_match_explains_itself(ruleset: RuleSet) -> None:
    text = "Fighters of Kataeb Hizbullah fired a drone."
    (m,) = match(example_article(text), ruleset)
    assert m.rule_id == "militia-attack"
    assert m.entities == ("Kataib Hezbollah",)
    evidence = {e.ref: e for e in m.evidence}
    assert evidence["kh"].text == "Kataeb Hizbullah"
    assert text[evidence["kh"].start : evidence["kh"].end] == "Kataeb Hizbullah"
    assert [m.snippet[a:b] for a, b in m.marks] == ["Kataeb Hizbullah", "drone"]


def test_folded_article_words_are_left_out_of_the_evidence(ruleset: RuleSet) -> None:
    text = "A drone attack was claimed by al-Thawriyoon."
    (m,) = match(example_article(text), ruleset)
    (e,) = [e for e in m.evidence if e.kind == "entity"]
    assert e.text == "Thawriyoon" and text[e.start : e.end] == e.text


def test_the_folded_view_maps_back() -> None:
    norm = normalise("Rockets hit Ayn al-Assad, and al-Nujabaa (the group) said so.")
    view = fold_view(norm)
    for wanted, original in [("an asad", "ayn al assad"), ("najaba", "nujabaa")]:
        start = view.text.index(wanted)
        lo, hi = view.span(start, start + len(wanted))
        assert norm[lo:hi] == original
    start = view.text.index("(tha")
    assert norm[slice(*view.span(start, start + 4))] == "(the"


# ---------------------------------------------------------------- no false matches


@pytest.mark.parametrize(
    "text",
    [
        "Hezbollah fired rockets at Israel.",  # Lebanese Hezbollah is not Kataib Hezbollah
        "Hizbollah fired a drone.",
        "Bashar al-Assad fired a drone.",  # "al-Assad" is not Ain al-Asad
        "Assad fired a drone.",
        "Rebels made gains in al-Assad's heartland, firing a drone.",
        "An al-Assad loyalist fired a drone.",
        "The Assad base of support fired a drone.",
        "The al-Asad family fired a drone.",
        "Nujaba, Najiba and Najaba fired a drone.",  # single short words never fold
        "the al base el of in an at as the",
        "Sayyid fired a rocket; Shuhada fired a drone.",
        "Saraya Awliyaa al-Dam fired a drone.",  # not marked transliterated: no folding
    ],
)
def test_folding_makes_no_false_matches(text: str, ruleset: RuleSet) -> None:
    found = entity_ids(text, ruleset)
    assert found in ([], ["hezbollah"]), found


def test_short_or_generic_aliases_are_not_folded() -> None:
    for alias in [
        "Nujaba",
        "al-Nujaba",
        "Asad base",
        "Al-Asad Air Base",
        "KSS",
        "Harir",
        "Ain al-Asad",
        "كتائب حزب الله",
        "Hasakah",
        "the base",
        "al",
    ]:
        assert not foldable(alias), alias
    for alias in ["Harakat al-Nujaba", "Kataib Hezbollah", "Thawriyoun", "Ain Assad", "Hezbollah"]:
        assert foldable(alias), alias


def test_no_skeleton_is_a_short_common_word(ruleset: RuleSet) -> None:
    common = {skeleton(w) for w in ["al", "the", "base", "air", "in", "an", "of", "said"]}
    for entity in ruleset.entities:
        for alias in entity.aliases:
            if foldable(alias):
                folded = skeleton(alias)
                assert len(folded.replace(" ", "")) >= 6 and folded not in common, alias


def test_in_al_assad_is_not_ain_al_asad() -> None:
    assert skeleton("in al-Assad") != skeleton("Ain al-Asad")
    assert skeleton("Bashar al-Assad") != skeleton("Ain al-Asad")
    assert skeleton("Assad") != skeleton("Asad base")
