"""Rule files → a validated, compiled :class:`RuleSet` (or a ``RuleError`` naming file and line).

Every ``*.yaml`` / ``*.yml`` under the directory is read, recursively, in sorted order. Names are
global across files: a rule in one file may use an entity or a term list written in another.
Nothing is returned unless every file is valid, so a rule set is never half loaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from monitor.errors import RuleError
from monitor.match.lexicon import Lexicon, alias_key
from monitor.match.normalise import normalise
from monitor.match.ruleset import (
    ENTITY_KINDS,
    FIELDS,
    Entity,
    Example,
    Part,
    Rule,
    RuleSet,
)
from monitor.match.weights import ONE, as_number, check_parts
from monitor.match.yamltree import (
    Located,
    as_list,
    as_mapping,
    as_str,
    as_str_list,
    read,
    type_name,
)
from monitor.model import SEVERITIES

_TOP = {"entities", "terms", "masks", "rules", "examples"}
_ENTITY = {"id", "kind", "name", "country", "in", "aliases", "note", "transliterated"}
_RULE = {
    "id",
    "title",
    "severity",
    "tags",
    "all",
    "any",
    "none",
    "title_none",
    "within",
    "field",
    "threshold",
    "note",
}
_EXAMPLE = {"text", "title", "expect", "note"}
_PART = ("kind", "entity", "terms")
_ID = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
MIN_ALIAS = 3  # characters, once normalised: shorter ones ("KH", "al") are too ambiguous
MAX_WITHIN = 200  # words


def _where(item: Located) -> str:
    return f"{item.path}:{item.line}"


@dataclass
class _Collected:
    entities: dict[str, tuple[Entity, Located]] = field(default_factory=dict)
    aliases: dict[str, tuple[str, Located]] = field(default_factory=dict)  # alias key → entity
    terms: dict[str, tuple[tuple[str, ...], Located]] = field(default_factory=dict)
    rules: list[tuple[dict[str, Located], Located]] = field(default_factory=list)
    examples: list[tuple[dict[str, Located], Located]] = field(default_factory=list)
    masks: list[tuple[str, Located]] = field(default_factory=list)  # term lists that mask


def rule_files(directory: Path) -> list[Path]:
    """The rule files under ``directory``, sorted by their path."""
    if not directory.is_dir():
        raise RuleError("not a directory of rule files", path=str(directory))
    files = [p for p in directory.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()]
    return sorted(files, key=lambda p: p.relative_to(directory).as_posix())


def load_rules(directory: Path) -> RuleSet:
    """Load, validate and compile every rule file under ``directory``."""
    files = rule_files(directory)
    if not files:
        raise RuleError("no *.yaml or *.yml rule files found", path=str(directory))
    collected = _Collected()
    for path in files:
        doc = read(path)
        if doc is not None:
            _collect(doc, collected)
    return _build(collected, directory)


def _collect(doc: Located, into: _Collected) -> None:
    top = as_mapping(doc, "a rule file", _TOP, set())
    if "entities" in top:
        for item in as_list(top["entities"], "entities"):
            _entity(item, into)
    if "terms" in top:
        listed_terms = top["terms"]
        if not isinstance(listed_terms.value, dict):
            raise listed_terms.error(
                f"terms must be a mapping, not {type_name(listed_terms.value)}"
            )
        terms: dict[str, Located] = listed_terms.value
        for name, words in terms.items():
            _check_id(name, words, "term list")
            if name in into.terms:
                first = _where(into.terms[name][1])
                raise words.error(f"duplicate term list '{name}' (first written at {first})")
            listed = as_str_list(words, f"term list '{name}'")
            if not listed:
                raise words.error(f"term list '{name}' is empty")
            for word, where in listed:
                _check_length(word, where, f"term list '{name}'")
            into.terms[name] = (tuple(w for w, _ in listed), words)
    if "masks" in top:
        into.masks.extend(as_str_list(top["masks"], "masks"))
    if "rules" in top:
        for item in as_list(top["rules"], "rules"):
            into.rules.append(
                (as_mapping(item, "a rule", _RULE, {"id", "title", "severity"}), item)
            )
    if "examples" in top:
        for item in as_list(top["examples"], "examples"):
            into.examples.append(
                (as_mapping(item, "an example", _EXAMPLE, {"text", "expect"}), item)
            )


def _check_id(value: str, where: Located, what: str) -> None:
    if not _ID.fullmatch(value):
        raise where.error(f"{what} id '{value}' must be lower-case letters, digits and dashes")


def _check_length(text: str, where: Located, what: str) -> None:
    if len(normalise(text).replace(" ", "")) < MIN_ALIAS:
        raise where.error(
            f"{what}: '{text}' is too short to match safely (fewer than {MIN_ALIAS} letters)"
        )


def _entity(item: Located, into: _Collected) -> None:
    fields = as_mapping(item, "an entity", _ENTITY, {"id", "kind", "name", "aliases"})
    entity_id = as_str(fields["id"], "entity id")
    _check_id(entity_id, fields["id"], "entity")
    if entity_id in into.entities:
        first = _where(into.entities[entity_id][1])
        raise fields["id"].error(f"duplicate entity id '{entity_id}' (first defined at {first})")
    kind = as_str(fields["kind"], f"entity '{entity_id}' kind")
    if kind not in ENTITY_KINDS:
        known = ", ".join(ENTITY_KINDS)
        raise fields["kind"].error(
            f"entity '{entity_id}' has unknown kind '{kind}' (known: {known})"
        )
    name = as_str(fields["name"], f"entity '{entity_id}' name")
    country = (
        as_str(fields["country"], f"entity '{entity_id}' country") if "country" in fields else None
    )
    aliases = as_str_list(fields["aliases"], f"entity '{entity_id}' aliases")
    spellings: list[str] = []
    for alias, where in [(name, fields["name"]), *aliases]:
        _check_length(alias, where, f"entity '{entity_id}'")
        norm = alias_key(alias)
        owner = into.aliases.get(norm)
        if owner is not None and owner[0] != entity_id:
            raise where.error(
                f"alias '{alias}' of entity '{entity_id}' is already an alias of entity "
                f"'{owner[0]}' ({_where(owner[1])})"
            )
        into.aliases[norm] = (entity_id, where)
        if alias not in spellings:
            spellings.append(alias)
    transliterated = False
    if "transliterated" in fields:
        value = fields["transliterated"]
        if not isinstance(value.value, bool):
            raise value.error(f"entity '{entity_id}' transliterated must be true or false")
        transliterated = value.value
    within = as_str(fields["in"], f"entity '{entity_id}' in") if "in" in fields else None
    entity = Entity(entity_id, kind, name, tuple(spellings), country, transliterated, within)
    into.entities[entity_id] = (entity, item)


def _check_within(entity: Entity, item: Located, into: _Collected) -> None:
    """An entity's ``in`` names a place entity (a base lies in a province, a province in a part
    of the country), and following ``in`` from place to place never comes back. A person's
    ``in`` names the group he speaks for (a militia or an armed group)."""
    if entity.within is None:
        return
    where = item.value["in"] if isinstance(item.value, dict) else item
    if entity.kind == "person":
        group = into.entities.get(entity.within)
        if group is None or group[0].kind not in ("militia", "armed-group"):
            raise where.error(f"entity '{entity.id}' in: '{entity.within}' is not the id of a "
                              "militia or armed-group entity")
        return
    place = into.entities.get(entity.within)
    if place is None or place[0].kind != "place":
        raise where.error(f"entity '{entity.id}' in: '{entity.within}' is not the id of a "
                          "place entity")
    chain = [entity.id]  # a place in a place…: never back to where it started
    while place is not None and place[0].id not in chain:
        chain.append(place[0].id)
        place = into.entities.get(place[0].within or "")
    if place is not None:
        loop = " → ".join([*chain, place[0].id])
        raise where.error(f"entity '{entity.id}' in: '{entity.within}' makes a loop ({loop})")


def _part(item: Located, rule_id: str, group: str, weighted: bool, into: _Collected) -> Part:
    """One part of a rule's ``group`` (all, any, none or title_none); ``weighted``: the rule has a
    threshold, so an ``all`` or ``any`` part may carry a weight."""
    if not isinstance(item.value, dict):
        raise item.error(
            f"rule '{rule_id}': each part must be a mapping with one key "
            f"(kind, entity or terms), not {type_name(item.value)}"
        )
    fields = as_mapping(item, f"rule '{rule_id}' part", {*_PART, "weight"}, set())
    named = [(k, v) for k, v in fields.items() if k != "weight"]
    if len(named) != 1:
        raise item.error(
            f"rule '{rule_id}': each part must be a mapping with one key "
            f"(kind, entity or terms), and optionally a weight, not {len(named)} keys"
        )
    ((kind, value),) = named
    ref = as_str(value, f"rule '{rule_id}' part '{kind}'")
    weight = ONE
    if "weight" in fields:
        at = fields["weight"]
        if group in ("none", "title_none"):
            raise at.error(
                f"rule '{rule_id}': a part of '{group}' vetoes, it takes no weight ({kind}: {ref})"
            )
        if not weighted:
            raise at.error(
                f"rule '{rule_id}': part '{kind}: {ref}' has a weight, but the rule has no "
                "threshold (add 'threshold: <number>' to the rule, or drop the weight)"
            )
        weight = as_number(at, f"rule '{rule_id}' part '{kind}: {ref}' weight")
    if kind == "terms":
        if ref not in into.terms:
            raise value.error(f"rule '{rule_id}' refers to unknown term list '{ref}'")
        return Part("terms", ref, f"terms:{ref}", weight=weight)
    if kind == "entity":
        if ref not in into.entities:
            raise value.error(f"rule '{rule_id}' refers to unknown entity '{ref}'")
        return Part(
            "entity", ref, f"kind:{into.entities[ref][0].kind}", label=ref, weight=weight
        )
    if ref not in ENTITY_KINDS:
        known = ", ".join(ENTITY_KINDS)
        raise value.error(
            f"rule '{rule_id}' refers to unknown entity kind '{ref}' (known: {known})"
        )
    if not any(e.kind == ref for e, _ in into.entities.values()):
        raise value.error(f"rule '{rule_id}' refers to kind '{ref}', but no entity has that kind")
    return Part("kind", ref, f"kind:{ref}", weight=weight)


def _rule(
    fields: dict[str, Located], item: Located, into: _Collected, seen: dict[str, Located]
) -> Rule:
    rule_id = as_str(fields["id"], "rule id")
    _check_id(rule_id, fields["id"], "rule")
    if rule_id in seen:
        raise fields["id"].error(
            f"duplicate rule id '{rule_id}' (first defined at {_where(seen[rule_id])})"
        )
    seen[rule_id] = fields["id"]
    title = as_str(fields["title"], f"rule '{rule_id}' title")
    severity = as_str(fields["severity"], f"rule '{rule_id}' severity")
    if severity not in SEVERITIES:
        raise fields["severity"].error(
            f"rule '{rule_id}' has unknown severity '{severity}' (known: {', '.join(SEVERITIES)})"
        )
    tags = (
        tuple(t for t, _ in as_str_list(fields["tags"], f"rule '{rule_id}' tags"))
        if "tags" in fields
        else ()
    )
    threshold = (
        as_number(fields["threshold"], f"rule '{rule_id}' threshold")
        if "threshold" in fields
        else None
    )
    parts: dict[str, tuple[Part, ...]] = {}
    located: list[tuple[Part, Located]] = []
    for key in ("all", "any", "none", "title_none"):
        listed = as_list(fields[key], f"rule '{rule_id}' {key}") if key in fields else []
        parts[key] = tuple(_part(p, rule_id, key, threshold is not None, into) for p in listed)
        if key in ("all", "any"):
            located.extend(zip(parts[key], listed, strict=True))
    if not parts["all"] and not parts["any"]:
        raise item.error(f"rule '{rule_id}' needs at least one part in 'all' or 'any'")
    if threshold is not None:
        check_parts(rule_id, (threshold, fields["threshold"]), located)
    within = _within(fields.get("within"), rule_id)
    scope = as_str(fields["field"], f"rule '{rule_id}' field") if "field" in fields else "any"
    if scope not in FIELDS:
        raise fields["field"].error(
            f"rule '{rule_id}' has unknown field '{scope}' (known: {', '.join(FIELDS)})"
        )
    return Rule(
        id=rule_id,
        title=title,
        severity=severity,
        tags=tags,
        all=parts["all"],
        any=parts["any"],
        none=parts["none"],
        within=within,
        field=scope,
        source=_where(item),
        threshold=threshold,
        title_none=parts["title_none"],
    )


def _within(item: Located | None, rule_id: str) -> int | None:
    if item is None or item.value == "sentence":
        return None
    value = item.value
    if isinstance(value, bool) or not isinstance(value, int):
        raise item.error(
            f"rule '{rule_id}': within must be 'sentence' or a number of words, "
            f"not {type_name(value) if not isinstance(value, str) else repr(value)}"
        )
    if not 1 <= value <= MAX_WITHIN:
        raise item.error(f"rule '{rule_id}': within must be between 1 and {MAX_WITHIN} words")
    return value


def _example(fields: dict[str, Located], item: Located, rule_ids: set[str]) -> Example:
    text = as_str(fields["text"], "example text")
    title = as_str(fields["title"], "example title") if "title" in fields else ""
    expect = as_str_list(fields["expect"], "example expect")
    for rule_id, where in expect:
        if rule_id not in rule_ids:
            raise where.error(f"example expects unknown rule '{rule_id}'")
    return Example(text=text, expect=tuple(r for r, _ in expect), title=title, source=_where(item))


def _build(collected: _Collected, directory: Path) -> RuleSet:
    seen: dict[str, Located] = {}
    rules = tuple(_rule(fields, item, collected, seen) for fields, item in collected.rules)
    if not rules:
        raise RuleError("the rule files define no rules", path=str(directory))
    examples = tuple(_example(f, item, set(seen)) for f, item in collected.examples)
    entities = tuple(e for e, _ in collected.entities.values())
    for entity, item in collected.entities.values():
        _check_within(entity, item, collected)
    terms = tuple((name, words) for name, (words, _) in collected.terms.items())
    kinds: dict[str, list[tuple[str, str]]] = {}
    for entity in entities:
        kinds.setdefault(entity.kind, []).extend((a, entity.id) for a in entity.aliases)
    folded = {e.id for e in entities if e.transliterated}
    for name, where in collected.masks:
        if name not in collected.terms:
            raise where.error(f"masks: unknown term list '{name}'")
    masks = {name for name, _ in collected.masks}
    lexicon = Lexicon(kinds=kinds, terms=dict(terms), transliterated=folded, masks=masks)
    return RuleSet(rules=rules, examples=examples, entities=entities, terms=terms, lexicon=lexicon)
