"""Masks: a term list whose phrases hide the words of the other lists inside them ("attack" in
"heart attack"), while the rest of the sentence still counts."""

from __future__ import annotations

from pathlib import Path

from monitor.match import load_rules, match
from monitor.match.examples import example_article
from tests.test_match_load import GOOD, assert_error, write

MASKED = GOOD.replace("  attack: [rocket, drone]\n",
                      "  attack: [rocket, drone, attack, struck]\n"
                      "  other_senses: [heart attack, struck a deal]\n"
                      "masks: [other_senses]\n")


def rules_matching(directory: Path, text: str) -> list[str]:
    return [m.rule_id for m in match(example_article(text), load_rules(directory))]


def test_a_masked_word_is_no_hit_but_the_sentence_still_counts(tmp_path: Path) -> None:
    write(tmp_path, "rules.yaml", MASKED)
    assert rules_matching(tmp_path, "A contractor at Ain al-Asad died of a heart attack.") == []
    assert rules_matching(tmp_path, "Baghdad struck a deal on Ain al-Asad.") == []
    # the sentence that also reports the attack is not vetoed, as a `none` list would veto it
    assert rules_matching(tmp_path, "A contractor died of a heart attack during a rocket attack "
                                    "on Ain al-Asad.") == ["base-attack"]


def test_without_the_mask_the_phrase_is_an_attack(tmp_path: Path) -> None:
    write(tmp_path, "rules.yaml", MASKED.replace("masks: [other_senses]\n", ""))
    assert rules_matching(tmp_path, "A contractor at Ain al-Asad died of a heart attack.") == [
        "base-attack"]


def test_a_mask_names_a_term_list(tmp_path: Path) -> None:
    write(tmp_path, "rules.yaml", GOOD.replace("rules:\n", "masks: [other_sense]\nrules:\n"))
    assert_error(tmp_path, "rules.yaml", 8, "masks: unknown term list 'other_sense'")


def test_the_shipped_rules_mask_other_senses() -> None:
    shipped = load_rules(Path(__file__).resolve().parents[1] / "rules")
    assert shipped.lexicon.masks == {"terms:other_senses"}
    text = ("A U.S. civilian contractor died of an apparent heart attack while sheltering "
            "during a rocket attack on al-Asad air base in western Iraq.")
    assert "coalition-base-attack" in {m.rule_id for m in match(example_article(text), shipped)}
    assert not match(example_article("A US soldier died of a heart attack at Ain al-Asad air "
                                     "base on Sunday, the coalition said."), shipped)
