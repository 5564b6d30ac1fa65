"""The compiled rule set: entities, term lists, rules and examples, as frozen values."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from typing import Literal

from monitor.match.lexicon import Lexicon
from monitor.model import Severity

EntityKind = Literal["base", "militia", "armed-group", "force", "person", "place"]
ENTITY_KINDS: tuple[EntityKind, ...] = (
    "base",
    "militia",
    "armed-group",
    "force",
    "person",
    "place",
)
PartKind = Literal["kind", "entity", "terms"]
Field = Literal["title", "body", "any"]
FIELDS: tuple[Field, ...] = ("title", "body", "any")


@dataclass(frozen=True)
class Entity:
    """Something with a name: a base, a militia, a place… and the ways it is written."""

    id: str
    kind: EntityKind
    name: str
    aliases: tuple[str, ...]
    country: str | None = None
    transliterated: bool = False  # names written from Arabic: spelling variants fold together
    within: str | None = None  # a base: the id of the place it lies in (``in`` in the files)


@dataclass(frozen=True)
class Part:
    """One thing a rule looks for: any entity of a kind, one entity, or any term of a list.
    ``weight`` counts toward the score of a rule with a threshold (1 unless the file says)."""

    kind: PartKind
    ref: str
    key: str  # the lexicon list it is found with: "kind:<kind>" or "terms:<name>"
    label: str | None = None  # for an entity part, the entity id the hits must carry
    weight: Fraction = Fraction(1)
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:  # parts are dict keys in every evaluation: hash them once
        object.__setattr__(self, "_hash", hash((self.kind, self.ref, self.key, self.label)))

    def __hash__(self) -> int:
        return self._hash

    def __str__(self) -> str:
        return f"{self.kind}: {self.ref}"


@dataclass(frozen=True)
class Rule:
    """A compiled rule. ``within`` is ``None`` for one sentence, else a number of words.
    With a ``threshold``, the weights of the ``all`` and ``any`` parts found in a scope must
    reach it there (instead of one ``any`` part being found); see :mod:`monitor.match.weights`.
    A ``title_none`` part found in the article's headline vetoes the whole article for the rule:
    an analysis, a review or an anniversary piece retells an old attack in its body."""

    id: str
    title: str
    severity: Severity
    tags: tuple[str, ...] = ()
    all: tuple[Part, ...] = ()
    any: tuple[Part, ...] = ()
    none: tuple[Part, ...] = ()
    within: int | None = None
    field: Field = "any"
    source: str = ""  # "path:line" where the rule is written
    threshold: Fraction | None = None
    title_none: tuple[Part, ...] = ()  # found in the headline: the rule matches nowhere


@dataclass(frozen=True)
class Example:
    """A text carried by a rule file with the rule ids it must match (exactly)."""

    text: str
    expect: tuple[str, ...]
    title: str = ""
    source: str = ""


@dataclass(frozen=True)
class RuleSet:
    """Everything loaded from a rules directory, ready for :func:`monitor.match.match`."""

    rules: tuple[Rule, ...]
    examples: tuple[Example, ...] = ()
    entities: tuple[Entity, ...] = ()
    terms: tuple[tuple[str, tuple[str, ...]], ...] = ()
    lexicon: Lexicon = field(default_factory=Lexicon, repr=False, compare=False)

    @cached_property
    def names(self) -> dict[str, str]:
        """Entity id → canonical name."""
        return {e.id: e.name for e in self.entities}

    def entity(self, entity_id: str) -> Entity | None:
        for entity in self.entities:
            if entity.id == entity_id:
                return entity
        return None
