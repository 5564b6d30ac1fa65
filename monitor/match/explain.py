"""Why each rule did or did not match an article.

::

    explain(article, ruleset) -> tuple[RuleCheck, ...]   one per rule, in rule-set order; pure

Each :class:`RuleCheck` lists every part of the rule (``all``, then ``any``, then ``none``, then
``title_none``) with whether it was found anywhere in the field(s) the rule reads (a
``title_none`` part: in the headline) and where (at most :data:`MAX_HITS`), and a one-line
reason. It is computed by the same evaluation as :func:`monitor.match.match`, so the rules it
says matched are exactly the ones ``match`` returns, with the same :class:`~monitor.model.Match`.
For a rule with a threshold the reason gives the score of the scope it matched in (or of its
best scope: every ``all`` part, the highest score) and the threshold, with the weighed parts
found and missing there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from monitor.match.engine import (
    Outcome,
    Scope,
    evaluate,
    evidence_of,
    has_all,
    scopes,
    vetoed,
)
from monitor.match.field import FieldText
from monitor.match.ruleset import Part, Rule, RuleSet
from monitor.match.weights import show, weighed
from monitor.model import Article, Evidence, Match, MatchField, Severity

MAX_HITS = 5

Group = Literal["all", "any", "none", "title_none"]


@dataclass(frozen=True)
class PartCheck:
    group: Group
    part: str  # str(Part), e.g. "kind: base", "entity: ain-al-asad", "terms: attack"
    found: bool  # found anywhere in the rule's field(s) of the article
    hits: tuple[Evidence, ...]  # where (at most MAX_HITS)


@dataclass(frozen=True)
class RuleCheck:
    rule_id: str
    title: str
    severity: Severity
    matched: bool
    reason: str  # one line
    parts: tuple[PartCheck, ...]
    match: Match | None  # the Match when matched


def _names(parts: tuple[Part, ...]) -> str:
    return ", ".join(str(p) for p in parts)


def _part_check(
    group: Group, part: Part, fields: tuple[tuple[MatchField, FieldText], ...],
    names: dict[str, str],
) -> PartCheck:
    hits: list[Evidence] = []
    for name, field in fields:
        hits.extend(evidence_of(field, name, field.part_hits(part), names))
    return PartCheck(group, str(part), bool(hits), tuple(hits[:MAX_HITS]))


def _tally(scope: Scope) -> str:
    """``found terms: attack (2), kind: base (2); missing terms: casualty (3)``."""
    found = [p for p, hits in scope.found if hits]
    missing = [p for p, hits in scope.found if not hits]
    return f"found {weighed(found)}" + (f"; missing {weighed(missing)}" if missing else "")


def _where(name: MatchField, outcome: Outcome) -> str:
    scope = outcome.scope
    assert scope is not None
    first, last = scope.first_sentence + 1, scope.last_sentence + 1
    if scope.low_word is None:
        where = f"matched in {name} sentence {first}"
    else:
        sentences = f"sentence {first}" if first == last else f"sentences {first}-{last}"
        where = f"matched in {name}, a {outcome.rule.within}-word window over {sentences}"
    threshold = outcome.rule.threshold
    if threshold is None:
        return where
    return f"{where} with score {show(scope.score)} ({show(threshold)} needed): {_tally(scope)}"


def _best(outcome: Outcome) -> Scope | None:
    """The scope (not vetoed, every ``all`` part found) with the highest score; the first in
    reading order among equals."""
    best: Scope | None = None
    for _, field in outcome.fields:
        veto = vetoed(outcome.rule, field)
        for scope in scopes(outcome.rule, field, veto, has_all):
            if best is None or scope.score > best.score:
                best = scope
    return best


def _veto(rule: Rule, field: FieldText) -> tuple[Part, ...] | None:
    """The ``none`` parts found in the scopes where the rule would match without its vetoes,
    or ``None`` when it would not match even then."""
    sentences = {
        index
        for scope in scopes(rule, field, set())
        for index in range(scope.first_sentence, scope.last_sentence + 1)
    }
    if not sentences:
        return None
    return tuple(p for p in rule.none if any(h.sentence in sentences for h in field.part_hits(p)))


def _scope_words(rule: Rule) -> str:
    scope = "sentence" if rule.within is None else f"sentence or {rule.within}-word window"
    if rule.field != "any":
        scope += f" of the {rule.field}"
    return scope


def _reason(outcome: Outcome, parts: tuple[PartCheck, ...]) -> str:
    rule = outcome.rule
    if outcome.match is not None and outcome.where is not None:
        return _where(outcome.where, outcome)
    if outcome.title_veto:
        return f"vetoed by the headline, which holds title_none: {_names(outcome.title_veto)}"
    if not outcome.fields:
        empty = "title and body are" if rule.field == "any" else f"{rule.field} is"
        return f"nothing to read: the {empty} empty"
    found = {(c.group, c.part): c.found for c in parts}
    missing = [p for p in rule.all if not found[("all", str(p))]]
    if missing:
        return f"not found: {_names(tuple(missing))}"
    if rule.threshold is None and rule.any and not any(found[("any", str(p))] for p in rule.any):
        return f"none found of any: {_names(rule.any)}"
    vetoes: dict[Part, None] = {}
    vetoed_somewhere = False
    for _, field in outcome.fields:
        parts_vetoing = _veto(rule, field)
        if parts_vetoing is not None:
            vetoed_somewhere = True
            vetoes.update(dict.fromkeys(parts_vetoing))
    if vetoed_somewhere:
        return f"every qualifying {_scope_words(rule)} vetoed by none: {_names(tuple(vetoes))}"
    if rule.threshold is not None:
        best = _best(outcome)
        if best is not None:
            return f"score {show(best.score)} of {show(rule.threshold)} needed: {_tally(best)}"
    wanted = f"all of: {_names(rule.all)}" if rule.all else ""
    if rule.threshold is not None:
        counted = weighed(dict.fromkeys((*rule.all, *rule.any)))
        wanted += (" and " if wanted else "") + f"a score of {show(rule.threshold)} from: {counted}"
    elif rule.any:
        wanted += (" and " if wanted else "") + f"one of: {_names(rule.any)}"
    return f"no {_scope_words(rule)} has {wanted}"


def _check(outcome: Outcome, headline: FieldText | None, names: dict[str, str]) -> RuleCheck:
    rule = outcome.rule
    groups: tuple[tuple[Group, tuple[Part, ...]], ...] = (
        ("all", rule.all),
        ("any", rule.any),
        ("none", rule.none),
    )
    parts = tuple(
        _part_check(g, p, outcome.fields, names) for g, listed in groups for p in listed
    )
    in_title: tuple[tuple[MatchField, FieldText], ...] = (
        () if headline is None else (("title", headline),))
    parts += tuple(_part_check("title_none", p, in_title, names) for p in rule.title_none)
    return RuleCheck(
        rule_id=rule.id,
        title=rule.title,
        severity=rule.severity,
        matched=outcome.match is not None,
        reason=_reason(outcome, parts),
        parts=parts,
        match=outcome.match,
    )


def explain(article: Article, ruleset: RuleSet) -> tuple[RuleCheck, ...]:
    """One :class:`RuleCheck` per rule of ``ruleset``, in rule-set order. Pure."""
    names = ruleset.names
    outcomes = evaluate(article, ruleset)
    # the headline as the evaluation read it (a rule of the title or both fields), else read here
    headline = next((field for o in outcomes for name, field in o.fields if name == "title"),
                    None)
    if headline is None and article.title.strip():
        headline = FieldText(article.title, ruleset.lexicon)
    return tuple(_check(o, headline, names) for o in outcomes)


__all__ = ["MAX_HITS", "PartCheck", "RuleCheck", "explain"]
