"""Loading rule files: the shipped watchlist loads; every kind of mistake is a RuleError that
names the file and the line."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from monitor.errors import RuleError
from monitor.match import load_rules

ROOT = Path(__file__).resolve().parents[1]

GOOD = """\
entities:
  - id: ain-al-asad
    kind: base
    name: Ain al-Asad Air Base
    aliases: [Ain al-Asad, عين الأسد]
terms:
  attack: [rocket, drone]
rules:
  - id: base-attack
    title: Attack on a base
    severity: high
    all: [{kind: base}, {terms: attack}]
examples:
  - text: Rockets hit Ain al-Asad.
    expect: [base-attack]
"""


SEV = "    severity: high\n"  # line 11 of GOOD: what is added after it is on line 12


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(directory: Path) -> RuleError:
    with pytest.raises(RuleError) as info:
        load_rules(directory)
    return info.value


def assert_error(directory: Path, file: str, line: int, *words: str) -> None:
    error = load_error(directory)
    message = str(error)
    assert f"{file}:{line}:" in message, message
    assert error.line == line
    assert error.path is not None and error.path.endswith(file)
    for word in words:
        assert word in message, message


# ---------------------------------------------------------------- the shipped watchlist


def test_shipped_rules_load() -> None:
    ruleset = load_rules(ROOT / "rules")
    ids = {rule.id for rule in ruleset.rules}
    assert {
        "coalition-base-attack",
        "coalition-base-attack-casualties",
        "us-personnel-casualties",
        "militia-attack-on-us-forces",
        "militia-linked-base-attack",
        "attack-on-us-forces",
        "militia-claims-attack",
    } <= ids
    for rule in ruleset.rules:
        assert rule.title and rule.severity in ("critical", "high", "medium", "low")
        assert isinstance(rule.tags, tuple)
    assert len(ruleset.examples) >= 5 + 8
    assert sum(1 for e in ruleset.examples if not e.expect) >= 8
    kinds = {e.kind for e in ruleset.entities}
    assert {"base", "militia", "force", "place"} <= kinds


def test_shipped_rules_carry_arabic_aliases_for_every_base_and_militia() -> None:
    ruleset = load_rules(ROOT / "rules")
    arabic = re.compile("[\u0600-\u06ff]")
    missing = [
        e.id
        for e in ruleset.entities
        if e.kind in ("base", "militia")
        and e.id not in ("union-iii", "mss-euphrates")
        and not any(arabic.search(a) for a in e.aliases)
    ]
    assert missing == []


def test_good_file_loads_recursively_in_sorted_order(tmp_path: Path) -> None:
    head, tail = GOOD.split("rules:\n")
    write(tmp_path, "a.yaml", head)  # entities and terms
    write(tmp_path, "b/rules.yml", "rules:\n" + tail)  # rules using them, in a subfolder
    write(tmp_path, "notes.txt", "not a rule file: ignored")
    ruleset = load_rules(tmp_path)
    assert [r.id for r in ruleset.rules] == ["base-attack"]
    assert ruleset.rules[0].source == f"{tmp_path / 'b' / 'rules.yml'}:2"
    assert len(ruleset.examples) == 1
    assert ruleset.entity("ain-al-asad") is not None


def test_entity_name_is_an_alias(tmp_path: Path) -> None:
    write(tmp_path, "r.yaml", GOOD)
    entity = load_rules(tmp_path).entity("ain-al-asad")
    assert entity is not None and entity.aliases[0] == "Ain al-Asad Air Base"


# ---------------------------------------------------------------- errors, with file and line


def test_bad_yaml(tmp_path: Path) -> None:
    write(tmp_path, "bad.yaml", "terms:\n  attack: [rocket, drone\nrules: []\n")
    error = load_error(tmp_path)
    assert "bad.yaml:3:" in str(error) and "invalid YAML" in str(error)


def test_bad_indentation(tmp_path: Path) -> None:
    write(tmp_path, "bad.yaml", "terms:\n  attack:\n    - rocket\n   - drone\n")
    error = load_error(tmp_path)
    assert "bad.yaml:4:" in str(error)


def test_unknown_top_level_key(tmp_path: Path) -> None:
    write(tmp_path, "r.yaml", GOOD + "rulez: []\n")
    assert_error(tmp_path, "r.yaml", 16, "unknown key 'rulez'")


def test_unknown_key_in_rule(tmp_path: Path) -> None:
    write(tmp_path, "r.yaml", GOOD.replace(SEV, SEV + "    withn: 5\n"))
    assert_error(tmp_path, "r.yaml", 12, "unknown key 'withn'", "within")


def test_unknown_key_in_entity(tmp_path: Path) -> None:
    write(tmp_path, "r.yaml", GOOD.replace("    kind: base\n", "    kind: base\n    alias: [x]\n"))
    assert_error(tmp_path, "r.yaml", 4, "unknown key 'alias'")


def test_unknown_term_list(tmp_path: Path) -> None:
    write(tmp_path, "watch.yaml", GOOD.replace("{terms: attack}]", "{terms: atack}]"))
    message = "rule 'base-attack' refers to unknown term list 'atack'"
    assert_error(tmp_path, "watch.yaml", 12, message)


def test_unknown_entity(tmp_path: Path) -> None:
    write(tmp_path, "r.yaml", GOOD.replace("{kind: base}", "{entity: ain-al-assad}"))
    assert_error(tmp_path, "r.yaml", 12, "unknown entity 'ain-al-assad'")


def test_unknown_kind_in_rule_part(tmp_path: Path) -> None:
    write(tmp_path, "r.yaml", GOOD.replace("{kind: base}", "{kind: bases}"))
    assert_error(tmp_path, "r.yaml", 12, "unknown entity kind 'bases'")


def test_kind_without_entities(tmp_path: Path) -> None:
    write(tmp_path, "r.yaml", GOOD.replace("{kind: base}", "{kind: militia}"))
    assert_error(tmp_path, "r.yaml", 12, "no entity has that kind")


def test_unknown_entity_kind(tmp_path: Path) -> None:
    write(tmp_path, "r.yaml", GOOD.replace("kind: base\n", "kind: airbase\n"))
    assert_error(tmp_path, "r.yaml", 3, "unknown kind 'airbase'")


def test_part_with_two_keys(tmp_path: Path) -> None:
    write(tmp_path, "r.yaml", GOOD.replace("{kind: base}", "{kind: base, terms: attack}"))
    assert_error(tmp_path, "r.yaml", 12, "one key")


def test_duplicate_rule_id_across_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", GOOD)
    write(
        tmp_path,
        "b.yaml",
        """\
        rules:
          - id: other
            title: Other
            severity: low
            any: [{terms: attack}]
          - id: base-attack
            title: Again
            severity: low
            any: [{terms: attack}]
        """,
    )
    assert_error(tmp_path, "b.yaml", 6, "duplicate rule id 'base-attack'", "a.yaml:9")


def test_duplicate_entity_id(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", GOOD)
    write(
        tmp_path,
        "b.yaml",
        """\
        entities:
          - id: ain-al-asad
            kind: base
            name: Another
            aliases: [Another base]
        """,
    )
    assert_error(tmp_path, "b.yaml", 2, "duplicate entity id 'ain-al-asad'")


def test_duplicate_term_list(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", GOOD)
    write(tmp_path, "b.yaml", "terms:\n  other: [bomb]\n  attack: [mortar]\n")
    assert_error(tmp_path, "b.yaml", 3, "duplicate term list 'attack'")


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    write(tmp_path, "r.yaml", GOOD.replace(SEV, SEV + "    severity: low\n"))
    assert_error(tmp_path, "r.yaml", 12, "duplicate key 'severity'")


def test_alias_shared_by_two_entities(tmp_path: Path) -> None:
    extra = """\
entities:
  - id: asad-2
    kind: base
    name: Another base
    aliases: [Other, "AIN AL ASAD"]
"""
    write(tmp_path, "a.yaml", GOOD)
    write(tmp_path, "b.yaml", extra)
    assert_error(tmp_path, "b.yaml", 5, "'AIN AL ASAD'", "already an alias of entity 'ain-al-asad'")


def test_alias_too_short(tmp_path: Path) -> None:
    write(tmp_path, "r.yaml", GOOD.replace("[Ain al-Asad, عين الأسد]", "[Ain al-Asad, KH]"))
    assert_error(tmp_path, "r.yaml", 5, "'KH' is too short")


@pytest.mark.parametrize(
    ("old", "new", "line", "words"),
    [
        (SEV, SEV + "    within: yes\n", 12, ("within",)),
        (SEV, SEV + "    within: 0\n", 12, ("between 1",)),
        (SEV, SEV + "    within: paragraph\n", 12, ("within",)),
        (SEV, SEV + "    tags: web\n", 12, ("tags must be a list",)),
        (SEV, SEV + "    field: headline\n", 12, ("unknown field",)),
        ("severity: high", "severity: urgent", 11, ("unknown severity 'urgent'",)),
        ("severity: high", "severity: 3", 11, ("must be a string, not an integer",)),
        ("aliases: [Ain al-Asad, عين الأسد]", "aliases: Ain al-Asad", 5, ("must be a list",)),
        ("attack: [rocket, drone]", "attack: rocket", 7, ("must be a list",)),
        ("attack: [rocket, drone]", "attack: [rocket, 7]", 7, ("must be a string",)),
        ("attack: [rocket, drone]", "attack: []", 7, ("is empty",)),
        ("expect: [base-attack]", "expect: base-attack", 15, ("must be a list",)),
        ("expect: [base-attack]", "expect: [base-atack]", 15, ("unknown rule 'base-atack'",)),
        ("  - text: Rockets", "  - txt: Rockets", 14, ("unknown key 'txt'",)),
        ("    all: [{kind: base}, {terms: attack}]\n", "", 9, ("at least one part",)),
        ("  - id: base-attack", "  - id: Base Attack", 9, ("lower-case",)),
        ("rules:\n", "rules:\n  - just a string\n", 9, ("a rule must be a mapping",)),
    ],
)
def test_wrong_types_and_values(
    tmp_path: Path, old: str, new: str, line: int, words: tuple[str, ...]
) -> None:
    assert old in GOOD
    write(tmp_path, "r.yaml", GOOD.replace(old, new, 1))
    assert_error(tmp_path, "r.yaml", line, *words)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    write(tmp_path, "r.yaml", "- id: x\n")
    assert_error(tmp_path, "r.yaml", 1, "must be a mapping")


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_bytes(b"terms:\n  attack: [\xff]\n")
    assert "UTF-8" in str(load_error(tmp_path))


def test_empty_directory_and_missing_directory(tmp_path: Path) -> None:
    assert "no *.yaml" in str(load_error(tmp_path))
    assert "not a directory" in str(load_error(tmp_path / "missing"))


def test_files_without_rules(tmp_path: Path) -> None:
    write(tmp_path, "r.yaml", "terms:\n  attack: [rocket]\n")
    assert "no rules" in str(load_error(tmp_path))


def test_an_error_in_any_file_loads_nothing(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", GOOD)
    write(tmp_path, "z.yaml", "examples:\n  - text: x\n    expect: [nope]\n")
    assert_error(tmp_path, "z.yaml", 3, "unknown rule 'nope'")


def test_a_base_lies_in_a_place(tmp_path: Path) -> None:
    write(tmp_path, "r.yaml", GOOD.replace(
        "    name: Ain al-Asad Air Base\n",
        "    name: Ain al-Asad Air Base\n    in: anbar\n").replace(
        "terms:\n", "  - id: anbar\n    kind: place\n    name: Anbar province\n"
        "    aliases: [Anbar]\nterms:\n", 1))
    entity = load_rules(tmp_path).entity("ain-al-asad")
    assert entity is not None and entity.within == "anbar"


def test_a_place_lies_in_a_place(tmp_path: Path) -> None:
    write(tmp_path, "r.yaml", GOOD.replace(
        "    name: Ain al-Asad Air Base\n",
        "    name: Ain al-Asad Air Base\n    in: anbar\n").replace(
        "terms:\n", "  - id: anbar\n    kind: place\n    name: Anbar province\n    in: west\n"
        "    aliases: [Anbar]\n  - id: west\n    kind: place\n    name: Western Iraq\n"
        "    aliases: [western Iraq]\nterms:\n", 1))
    anbar = load_rules(tmp_path).entity("anbar")
    assert anbar is not None and anbar.within == "west"


def test_places_in_each_other_are_an_error(tmp_path: Path) -> None:
    """Anbar in the west and the west in Anbar: the line of the ``in`` that closes the loop."""
    write(tmp_path, "r.yaml", GOOD.replace(
        "terms:\n", "  - id: anbar\n    kind: place\n    name: Anbar province\n    in: west\n"
        "    aliases: [Anbar]\n  - id: west\n    kind: place\n    name: Western Iraq\n"
        "    in: anbar\n    aliases: [western Iraq]\nterms:\n", 1))
    line = GOOD.split("terms:\n")[0].count("\n") + 4
    assert_error(tmp_path, "r.yaml", line, "in: 'west' makes a loop (anbar → west → anbar)")


@pytest.mark.parametrize("target", ["nowhere", "ain-al-asad"])
def test_in_must_name_a_place(tmp_path: Path, target: str) -> None:
    """An unknown id, or an entity that is not a place, is an error on the line of ``in``."""
    write(tmp_path, "r.yaml", GOOD.replace("    name: Ain al-Asad Air Base\n",
                                           f"    name: Ain al-Asad Air Base\n    in: {target}\n"))
    assert_error(tmp_path, "r.yaml", 5, f"in: '{target}'", "place entity")


PEOPLE = ("  - id: kh\n    kind: militia\n    name: Kataib Hezbollah\n"
          "    aliases: [Kataib Hezbollah]\n"
          "  - id: askari\n    kind: person\n    name: Abu Ali al-Askari\n    in: {target}\n"
          "    aliases: [Abu Ali al-Askari]\nterms:\n")


def test_a_person_is_in_the_group_he_speaks_for(tmp_path: Path) -> None:
    write(tmp_path, "r.yaml", GOOD.replace("terms:\n", PEOPLE.format(target="kh"), 1))
    askari = load_rules(tmp_path).entity("askari")
    assert askari is not None and askari.within == "kh"


@pytest.mark.parametrize("target", ["nowhere", "ain-al-asad"])
def test_a_persons_in_must_name_a_group(tmp_path: Path, target: str) -> None:
    """A person is not in a base or an unknown id: the line of his ``in``."""
    write(tmp_path, "r.yaml", GOOD.replace("terms:\n", PEOPLE.format(target=target), 1))
    line = GOOD.split("terms:\n")[0].count("\n") + 8
    assert_error(tmp_path, "r.yaml", line, f"in: '{target}'", "militia or armed-group entity")
