"""Evaluate a rule set against an article. Pure: no I/O, no clock, no state between calls.

A rule matches in one *scope* of one field (the title or the body): a sentence, or, for a rule
with ``within: N``, a stretch of N words that may cross sentences. In that scope every ``all``
part and at least one ``any`` part must be found (for a rule with a ``threshold``: every ``all``
part, and parts whose weights reach the threshold); a sentence where a ``none`` part is found gives
no evidence, and a stretch may not reach into it. One sentence is the preferred evidence; a
stretch is used when no single sentence qualifies. Title comes before body, then reading order.
A ``title_none`` part found in the headline vetoes the rule in the whole article (title and
body): the body of an analysis or an anniversary piece retells old attacks sentence by sentence.
The scope gives the match its entities (all named there), terms (the rule's), evidence (the hits
of the rule's ``all`` and ``any`` parts there, with their offsets in the article), snippet and
marks. :func:`evaluate` is shared by :func:`match` and :func:`monitor.match.explain.explain`, so
the two always agree.

Most fields hold nothing a rule needs, so a rule is looked for in a field's scopes only when the
parts found anywhere in the field could qualify it (:func:`possible`): a scope holds no more than
its field, so this changes no outcome, and a field where no rule is possible is never split into
placed hits or mapped back to its original text (see :mod:`.field`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction

from monitor.match.field import FieldHit, FieldText
from monitor.match.ruleset import Part, Rule, RuleSet
from monitor.match.snippet import SNIPPET_LIMIT, cut
from monitor.match.weights import score
from monitor.model import Article, Evidence, Match, MatchField, severity_rank

__all__ = ["SNIPPET_LIMIT", "Outcome", "Scope", "evaluate", "match"]

Found = dict[Part, list[FieldHit]]
Test = Callable[[Rule, Found], bool]


@dataclass(frozen=True)
class Scope:
    """Where a rule's parts were found together: sentences, and a window of words."""

    found: tuple[tuple[Part, tuple[FieldHit, ...]], ...]  # the all/any parts' hits in it
    first_sentence: int
    last_sentence: int
    low_word: int | None = None  # the window, for a ``within: N`` rule
    high_word: int | None = None

    @property
    def score(self) -> Fraction:
        """The weights of the distinct parts found in the scope (their number, unweighted)."""
        return score(self.found)

    @property
    def hits(self) -> tuple[FieldHit, ...]:
        return tuple(h for _, hits in self.found for h in hits)

    def covers(self, hit: FieldHit) -> bool:
        if not self.first_sentence <= hit.sentence <= self.last_sentence:
            return False
        if self.low_word is None or self.high_word is None:
            return True
        return self.low_word <= hit.word <= self.high_word


def has_all(rule: Rule, found: Found) -> bool:
    """Every ``all`` part is found."""
    return all(found[p] for p in rule.all)


def possible(rule: Rule, field: FieldText) -> bool:
    """The parts of ``rule`` found anywhere in ``field`` could qualify it: every ``all`` part,
    and one ``any`` part or the threshold. A scope holds no more than its field, so a rule that
    is not possible has no scope there; most fields hold nothing a rule needs."""
    if not all(field.holds(p) for p in rule.all):
        return False
    if rule.threshold is not None:
        held = {p: p.weight for p in (*rule.all, *rule.any) if field.holds(p)}
        return sum(held.values(), Fraction(0)) >= rule.threshold
    return not rule.any or any(field.holds(p) for p in rule.any)


def qualifies(rule: Rule, found: Found) -> bool:
    """The rule matches on ``found``: every ``all`` part, and one ``any`` part or the threshold."""
    if not has_all(rule, found):
        return False
    if rule.threshold is not None:
        return score(found.items()) >= rule.threshold
    return not rule.any or any(found[p] for p in rule.any)


def _scope(rule: Rule, found: Found, low: int | None, high: int | None) -> Scope:
    required = (*rule.all, *rule.any)
    pairs = tuple((p, tuple(found[p])) for p in dict.fromkeys(required))
    sentences = [h.sentence for _, hits in pairs for h in hits]
    return Scope(pairs, min(sentences), max(sentences), low, high)


def vetoed(rule: Rule, field: FieldText) -> set[int]:
    """The sentences where a ``none`` part is found: no evidence is taken from them."""
    return {h.sentence for p in rule.none for h in field.part_hits(p)}


def sentence_scopes(
    rule: Rule, field: FieldText, vetoed: set[int], test: Test = qualifies
) -> Iterator[Scope]:
    """Every sentence (not vetoed) where the rule's parts pass ``test``, in reading order."""
    required = tuple(dict.fromkeys((*rule.all, *rule.any)))
    by_sentence: dict[int, list[list[FieldHit]]] = {}
    for i, p in enumerate(required):
        for h in field.part_hits(p):
            by_sentence.setdefault(h.sentence, [[] for _ in required])[i].append(h)
    for index in sorted(by_sentence):
        if index not in vetoed:
            found = dict(zip(required, by_sentence[index], strict=True))
            if test(rule, found):
                yield _scope(rule, found, None, None)


def window_scopes(
    rule: Rule, field: FieldText, size: int, vetoed: set[int], test: Test = qualifies
) -> Iterator[Scope]:
    """Every stretch of ``size`` words whose parts pass ``test``, in reading order; it may cross
    sentences, but not reach into or across a sentence where a ``none`` part is found."""
    required = (*rule.all, *rule.any)
    # per sentence, the run of consecutive unvetoed sentences it belongs to (-1: vetoed)
    segment: list[int] = []
    run = 0
    for index in range(len(field.spans)):
        if index in vetoed:
            segment.append(-1)
            run += 1
        else:
            segment.append(run)
    hits = {p: [h for h in field.part_hits(p) if segment[h.sentence] >= 0] for p in required}
    anchors = sorted({(segment[h.sentence], h.word) for p in required for h in hits[p]})
    candidates = sorted({(run, w) for run, a in anchors for w in (a - size + 1, a)})
    for run, low in candidates:
        high = low + size - 1
        found = {
            p: [h for h in hits[p] if segment[h.sentence] == run and low <= h.word <= high]
            for p in required
        }
        if test(rule, found):
            yield _scope(rule, found, low, high)


def scopes(
    rule: Rule, field: FieldText, veto: set[int], test: Test = qualifies
) -> Iterator[Scope]:
    """The scopes of ``field`` where ``rule`` matches (or whose parts pass ``test``): sentences
    first, then windows."""
    yield from sentence_scopes(rule, field, veto, test)
    if rule.within is not None:
        yield from window_scopes(rule, field, rule.within, veto, test)


def find_scope(rule: Rule, field: FieldText, veto: set[int]) -> Scope | None:
    """The first scope of ``field`` where ``rule`` matches, sentences before windows."""
    return next(scopes(rule, field, veto), None)


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _evidence(field: FieldText, name: MatchField, hit: FieldHit, names: dict[str, str]) -> Evidence:
    start, end = field.span(hit)
    if hit.is_entity:
        return Evidence(
            "entity",
            hit.label,
            names.get(hit.label, hit.label),
            field.text[start:end],
            name,
            start,
            end,
        )
    return Evidence(
        "term", hit.key.removeprefix("terms:"), hit.label, field.text[start:end], name, start, end
    )


def evidence_of(
    field: FieldText, name: MatchField, hits: Iterable[FieldHit], names: dict[str, str]
) -> tuple[Evidence, ...]:
    """Evidence records of ``hits``, in reading order, each once."""
    ordered = sorted(set(hits), key=lambda h: (h.sentence, h.start, -h.end, h.key))
    return tuple(dict.fromkeys(_evidence(field, name, h, names) for h in ordered))


def _strongest(hits: Iterable[FieldHit]) -> FieldHit:
    """The hit a long snippet is centred on: the first entity, else the first term."""
    return min(hits, key=lambda h: (not h.is_entity, h.sentence, h.start))


def _build(
    rule: Rule, field: FieldText, name: MatchField, scope: Scope, names: dict[str, str]
) -> Match:
    entities = _unique(names.get(h.label, h.label) for h in field.entities if scope.covers(h))
    terms = sorted(
        (h for part, hits in scope.found if part.kind == "terms" for h in hits),
        key=lambda h: (h.sentence, h.start),
    )
    evidence = evidence_of(field, name, scope.hits, names)
    lo = field.spans[scope.first_sentence][0]
    hi = field.spans[scope.last_sentence][1]
    spans = [(e.start, e.end) for e in evidence]
    snippet, marks = cut(field.text, lo, hi, spans, field.span(_strongest(scope.hits)))
    return Match(
        rule_id=rule.id,
        title=rule.title,
        severity=rule.severity,
        tags=rule.tags,
        entities=entities,
        terms=_unique(h.label for h in terms),
        snippet=snippet,
        marks=marks,
        evidence=evidence,
    )


@dataclass(frozen=True)
class Outcome:
    """How one rule went on one article: the fields it read, and where it matched."""

    rule: Rule
    fields: tuple[tuple[MatchField, FieldText], ...]  # the non-blank fields the rule reads
    match: Match | None = None
    where: MatchField | None = None
    scope: Scope | None = None
    title_veto: tuple[Part, ...] = ()  # the rule's ``title_none`` parts found in the headline


def _wanted(article: Article, rule: Rule) -> tuple[tuple[MatchField, str], ...]:
    if rule.field == "title":
        return (("title", article.title),)
    if rule.field == "body":
        return (("body", article.text),)
    return (("title", article.title), ("body", article.text))


def evaluate(article: Article, ruleset: RuleSet) -> tuple[Outcome, ...]:
    """One outcome per rule of ``ruleset``, in rule-set order."""
    names = ruleset.names
    cache: dict[str, FieldText] = {}

    def read(text: str) -> FieldText:
        if text not in cache:
            cache[text] = FieldText(text, ruleset.lexicon)
        return cache[text]

    outcomes = []
    for rule in ruleset.rules:
        fields = tuple((name, read(text)) for name, text in _wanted(article, rule) if text.strip())
        if rule.title_none and article.title.strip():
            headline = read(article.title)
            veto = tuple(p for p in rule.title_none if headline.holds(p) and headline.part_hits(p))
            if veto:
                outcomes.append(Outcome(rule, fields, title_veto=veto))
                continue
        outcome = Outcome(rule, fields)
        for name, field in fields:
            if not possible(rule, field):
                continue
            scope = find_scope(rule, field, vetoed(rule, field))
            if scope is not None:
                found = _build(rule, field, name, scope, names)
                outcome = Outcome(rule, fields, found, name, scope)
                break
        outcomes.append(outcome)
    return tuple(outcomes)


def match(article: Article, ruleset: RuleSet) -> tuple[Match, ...]:
    """The rules of ``ruleset`` that match ``article``, most severe first, then by rule id."""
    matches = [o.match for o in evaluate(article, ruleset) if o.match is not None]
    return tuple(sorted(matches, key=lambda m: (severity_rank(m.severity), m.rule_id)))
