"""Evaluate a rule set against an article. Pure: no I/O, no clock, no state between calls.

A rule matches in one *scope* of one field (the title or the body): a sentence, or, for a rule
with ``within: N``, a stretch of N words that may cross sentences. In that scope every ``all``
part and at least one ``any`` part must be found; a sentence where a ``none`` part is found gives
no evidence, and a stretch may not reach into it. One sentence is the preferred evidence; a
stretch is used when no single sentence qualifies. Title comes before body, then reading order.
The evidence gives the match its entities (all named there), terms (the rule's) and snippet.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from monitor.match.lexicon import Hit, Lexicon
from monitor.match.normalise import normalise_with_map
from monitor.match.ruleset import Part, Rule, RuleSet
from monitor.match.sentences import split_sentences
from monitor.model import Article, Match, severity_rank

SNIPPET_LIMIT = 300
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class _Sentence:
    start: int  # offsets in the field's original text
    end: int
    norm: str
    origin: tuple[int, ...]  # per character of ``norm``, its offset in the original text
    first_word: int  # position of the sentence's first word in the field
    word_starts: tuple[int, ...]  # offsets in ``norm`` where its words start


@dataclass(frozen=True)
class _Hit:
    sentence: int
    start: int  # in the sentence's normalised text
    end: int
    word: int  # position of the word it starts on, counted across the field
    label: str


class _Field:
    """One field of an article, split, normalised, and searched lazily per lexicon list."""

    def __init__(self, text: str, lexicon: Lexicon) -> None:
        self.text = text
        self.lexicon = lexicon
        sentences = []
        words = 0
        for start, end in split_sentences(text):
            norm, origin = normalise_with_map(text[start:end])
            word_starts = tuple(m.start() for m in _WORD.finditer(norm))
            sentences.append(
                _Sentence(start, end, norm, tuple(start + o for o in origin), words, word_starts)
            )
            words += len(word_starts)
        self.sentences = tuple(sentences)
        self._hits: dict[str, tuple[_Hit, ...]] = {}
        self._entities: tuple[_Hit, ...] | None = None

    def hits(self, key: str) -> tuple[_Hit, ...]:
        if key not in self._hits:
            if key.startswith("kind:"):
                self._find_entities()
            else:
                self._hits[key] = tuple(self._hit(i, h) for i, h in self._find(key))
        return self._hits.get(key, ())

    def _find(self, key: str) -> list[tuple[int, Hit]]:
        return [
            (index, hit)
            for index, sentence in enumerate(self.sentences)
            for hit in self.lexicon.find(key, sentence.norm)
        ]

    def _hit(self, index: int, hit: Hit) -> _Hit:
        sentence = self.sentences[index]
        local = bisect.bisect_right(sentence.word_starts, hit.start) - 1
        return _Hit(index, hit.start, hit.end, sentence.first_word + max(local, 0), hit.label)

    def _find_entities(self) -> None:
        """Entity mentions do not overlap: the longest wins, so "Hezbollah" inside "Kataib
        Hezbollah", or "Iraq" inside "Islamic Resistance in Iraq", is not a mention of its own."""
        keys = [k for k in self.lexicon.keys if k.startswith("kind:")]
        found = [(key, index, hit) for key in keys for index, hit in self._find(key)]
        found.sort(key=lambda f: (f[2].start - f[2].end, f[1], f[2].start))
        taken: dict[int, list[Hit]] = {}
        kept: dict[str, list[_Hit]] = {key: [] for key in keys}
        for key, index, hit in found:
            if any(hit.start < t.end and t.start < hit.end for t in taken.get(index, [])):
                continue
            taken.setdefault(index, []).append(hit)
            kept[key].append(self._hit(index, hit))
        for key, hits in kept.items():
            self._hits[key] = tuple(sorted(hits, key=lambda h: (h.sentence, h.start)))

    def entity_hits(self) -> tuple[_Hit, ...]:
        """Every entity mention, of any kind, in reading order."""
        if self._entities is None:
            hits = (h for k in self.lexicon.keys if k.startswith("kind:") for h in self.hits(k))
            self._entities = tuple(sorted(hits, key=lambda h: (h.sentence, h.start)))
        return self._entities

    def part_hits(self, part: Part) -> tuple[_Hit, ...]:
        hits = self.hits(part.key)
        if part.label is not None:
            hits = tuple(h for h in hits if h.label == part.label)
        return hits


@dataclass(frozen=True)
class _Evidence:
    hits: tuple[_Hit, ...]  # the rule's all/any hits in the scope
    terms: tuple[_Hit, ...]  # those of them that are terms
    first_sentence: int
    last_sentence: int
    low_word: int | None = None  # the window, for a ``within: N`` rule
    high_word: int | None = None

    def covers(self, hit: _Hit) -> bool:
        if not self.first_sentence <= hit.sentence <= self.last_sentence:
            return False
        if self.low_word is None or self.high_word is None:
            return True
        return self.low_word <= hit.word <= self.high_word


def _qualifies(rule: Rule, found: dict[Part, list[_Hit]]) -> bool:
    if any(not found[p] for p in rule.all):
        return False
    return not rule.any or any(found[p] for p in rule.any)


def _evidence(
    rule: Rule, found: dict[Part, list[_Hit]], low: int | None, high: int | None
) -> _Evidence:
    required = (*rule.all, *rule.any)
    hits = tuple(h for p in required for h in found[p])
    terms = tuple(h for p in required if p.kind == "terms" for h in found[p])
    sentences = [h.sentence for h in hits]
    return _Evidence(hits, terms, min(sentences), max(sentences), low, high)


def _vetoed(rule: Rule, field: _Field) -> set[int]:
    """The sentences where a ``none`` part is found: no evidence is taken from them."""
    return {h.sentence for p in rule.none for h in field.part_hits(p)}


def _in_sentence(rule: Rule, field: _Field, vetoed: set[int]) -> _Evidence | None:
    required = (*rule.all, *rule.any)
    for index in range(len(field.sentences)):
        if index in vetoed:
            continue
        found = {p: [h for h in field.part_hits(p) if h.sentence == index] for p in required}
        if _qualifies(rule, found):
            return _evidence(rule, found, None, None)
    return None


def _in_window(rule: Rule, field: _Field, size: int, vetoed: set[int]) -> _Evidence | None:
    """The first stretch of ``size`` words holding the parts; it may cross sentences, but not
    reach into or across a sentence where a ``none`` part is found."""
    required = (*rule.all, *rule.any)
    # per sentence, the run of consecutive unvetoed sentences it belongs to (-1: vetoed)
    segment: list[int] = []
    run = 0
    for index in range(len(field.sentences)):
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
        if _qualifies(rule, found):
            return _evidence(rule, found, low, high)
    return None


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _squash(text: str) -> str:
    return " ".join(text.split())


def _snippet(field: _Field, evidence: _Evidence) -> str:
    text = field.text
    lo = field.sentences[evidence.first_sentence].start
    hi = field.sentences[evidence.last_sentence].end
    whole = _squash(text[lo:hi])
    if len(whole) <= SNIPPET_LIMIT:
        return whole
    spans = []
    for hit in evidence.hits:
        origin = field.sentences[hit.sentence].origin
        spans.append((origin[hit.start], origin[hit.end - 1] + 1))
    ev_lo = min(s for s, _ in spans)
    ev_hi = max(e for _, e in spans)
    room = SNIPPET_LIMIT - 2  # an ellipsis at each end
    if ev_hi - ev_lo >= room:
        start, end = ev_lo, ev_lo + room
    else:
        start = max(lo, ev_lo - (room - (ev_hi - ev_lo)) // 2)
        end = min(hi, start + room)
        start = max(lo, end - room)
    while lo < start < ev_lo and not text[start - 1].isspace():
        start += 1
    while ev_hi < end < hi and not text[end].isspace():
        end -= 1
    piece = ("…" if start > lo else "") + _squash(text[start:end]) + ("…" if end < hi else "")
    return piece[:SNIPPET_LIMIT]


def _evaluate(rule: Rule, field: _Field, names: dict[str, str]) -> Match | None:
    vetoed = _vetoed(rule, field)
    evidence = _in_sentence(rule, field, vetoed)
    if evidence is None and rule.within is not None:
        evidence = _in_window(rule, field, rule.within, vetoed)
    if evidence is None:
        return None
    entities = _unique(names[h.label] for h in field.entity_hits() if evidence.covers(h))
    term_hits = sorted(evidence.terms, key=lambda h: (h.sentence, h.start))
    return Match(
        rule_id=rule.id,
        title=rule.title,
        severity=rule.severity,
        tags=rule.tags,
        entities=entities,
        terms=_unique(h.label for h in term_hits),
        snippet=_snippet(field, evidence),
    )


def _fields(article: Article, rule: Rule) -> Sequence[str]:
    if rule.field == "title":
        return (article.title,)
    if rule.field == "body":
        return (article.text,)
    return (article.title, article.text)


def match(article: Article, ruleset: RuleSet) -> tuple[Match, ...]:
    """The rules of ``ruleset`` that match ``article``, most severe first, then by rule id."""
    names = {e.id: e.name for e in ruleset.entities}
    fields: dict[str, _Field] = {}
    matches = []
    for rule in ruleset.rules:
        for text in _fields(article, rule):
            if not text.strip():
                continue
            if text not in fields:
                fields[text] = _Field(text, ruleset.lexicon)
            found = _evaluate(rule, fields[text], names)
            if found is not None:
                matches.append(found)
                break
    return tuple(sorted(matches, key=lambda m: (severity_rank(m.severity), m.rule_id)))
