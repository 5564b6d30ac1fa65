"""One field of an article (its title or its body): split into sentences, normalised, and searched
once with the rule set's lexicon.

The normalised sentences are joined with line breaks (never part of a key, and not a word
character) into one text, which the lexicon's automaton reads once; each hit is then placed in
its sentence. Entity mentions do not overlap: where they do, the longest wins, so "Hezbollah"
inside "Kataib Hezbollah", or "Iraq" inside "Islamic Resistance in Iraq", is not a mention of its
own. Within a term list, hits are read left to right, the longest at each place. A term hit
that lies inside a hit of a mask list (the rule files' ``masks``: "attack" in "heart attack") is
dropped.

Only the sentences, their normalised text and the raw hits are made at once: most fields hold
nothing a rule needs (:meth:`FieldText.holds` tells), and placing the hits (sentence and word of
each) and each sentence's map back to the original text (:func:`normalise_with_map`, for
evidence) are left until they are asked for.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import cached_property

from monitor.match.lexicon import Hit, Lexicon, leftmost_longest
from monitor.match.normalise import dropped, normalise, normalise_with_map
from monitor.match.ruleset import Part
from monitor.match.sentences import split_sentences

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class FieldHit:
    sentence: int
    start: int  # in the sentence's normalised text
    end: int
    word: int  # position of the word it starts on, counted across the field
    label: str  # entity id, or the term as its list writes it
    key: str  # the list: "kind:<kind>" or "terms:<name>"

    @property
    def is_entity(self) -> bool:
        return self.key.startswith("kind:")


class FieldText:
    """A field's sentences (``spans``: their offsets in ``text``) and every hit of every list in
    it, by list key."""

    def __init__(self, text: str, lexicon: Lexicon) -> None:
        self.text = text
        self.spans = tuple(split_sentences(text))  # (start, end) of each sentence in ``text``
        self._norms = [normalise(text[start:end]) for start, end in self.spans]
        self._bases: list[int] = []
        position = 0
        for norm in self._norms:
            self._bases.append(position)
            position += len(norm) + 1
        joined = "\n".join(self._norms)
        self._size = len(joined)
        self._order = {key: i for i, key in enumerate(lexicon.keys)}
        self._masks = lexicon.masks
        self._raw = lexicon.scan(joined)
        self._found = {(hit.key, hit.label) for hit in self._raw}
        self._lists = {key for key, _ in self._found}
        self._origins: dict[int, list[int]] = {}
        self._parts: dict[Part, tuple[FieldHit, ...]] = {}

    def holds(self, part: Part) -> bool:
        """False when ``part`` is found nowhere in the field (True does not mean it is kept:
        a longer mention may take its place)."""
        if part.label is None:
            return part.key in self._lists
        return (part.key, part.label) in self._found

    @cached_property
    def _words(self) -> list[tuple[int, list[int]]]:
        """For each sentence, the position of its first word in the field and where in its
        normalised text its words start."""
        out = []
        words = 0
        for norm in self._norms:
            starts = [m.start() for m in _WORD.finditer(norm)]
            out.append((words, starts))
            words += len(starts)
        return out

    def _origin(self, index: int) -> list[int]:
        origin = self._origins.get(index)
        if origin is None:
            start, end = self.spans[index]
            norm, origin = normalise_with_map(self.text[start:end])
            assert norm == self._norms[index]
            self._origins[index] = origin
        return origin

    @cached_property
    def _hits(self) -> dict[str, tuple[FieldHit, ...]]:
        by_key: dict[str, list[Hit]] = {}
        for hit in self._raw:
            by_key.setdefault(hit.key, []).append(hit)
        terms = {key: leftmost_longest(hits) for key, hits in by_key.items()
                 if not key.startswith("kind:")}
        if masks := self._masks & terms.keys():
            terms = _unmasked(terms, masks, self._size)
        out: dict[str, tuple[FieldHit, ...]] = {
            key: tuple(self._place(h) for h in hits) for key, hits in terms.items() if hits}
        order = self._order
        entities = sorted(
            (h for key, hits in by_key.items() if key.startswith("kind:") for h in hits),
            key=lambda h: (h.start - h.end, h.start, h.folded, not h.exact, order[h.key]),
        )
        taken = bytearray(self._size)
        kept: dict[str, list[FieldHit]] = {}
        for hit in entities:
            if taken.find(1, hit.start, hit.end) != -1:
                continue
            taken[hit.start : hit.end] = b"\x01" * (hit.end - hit.start)
            kept.setdefault(hit.key, []).append(self._place(hit))
        for key, placed in kept.items():
            out[key] = tuple(sorted(placed, key=lambda h: (h.sentence, h.start)))
        return out

    @cached_property
    def entities(self) -> tuple[FieldHit, ...]:
        return tuple(
            sorted(
                (h for key, hits in self._hits.items() if key.startswith("kind:") for h in hits),
                key=lambda h: (h.sentence, h.start),
            )
        )

    def _place(self, hit: Hit) -> FieldHit:
        index = bisect.bisect_right(self._bases, hit.start) - 1
        start = hit.start - self._bases[index]
        first_word, word_starts = self._words[index]
        local = bisect.bisect_right(word_starts, start) - 1
        word = first_word + max(local, 0)
        return FieldHit(index, start, hit.end - self._bases[index], word, hit.label, hit.key)

    def hits(self, key: str) -> tuple[FieldHit, ...]:
        return self._hits.get(key, ())

    def part_hits(self, part: Part) -> tuple[FieldHit, ...]:
        hits = self._parts.get(part)
        if hits is None:
            hits = self.hits(part.key)
            if part.label is not None:
                hits = tuple(h for h in hits if h.label == part.label)
            self._parts[part] = hits
        return hits

    def span(self, hit: FieldHit) -> tuple[int, int]:
        """The hit's offsets in the original text of the field, with the characters the folding
        dropped at either end ("النجباء" folds to "النجبا": its hamza is still part of it)."""
        start, end = self.spans[hit.sentence]
        origin = self._origin(hit.sentence)
        low, high = start + origin[hit.start], start + origin[hit.end - 1] + 1
        text = self.text
        while low > start and dropped(text[low - 1]):
            low -= 1
        while high < end and dropped(text[high]):
            high += 1
        return low, high


def _unmasked(terms: dict[str, list[Hit]], masks: AbstractSet[str],
              size: int) -> dict[str, list[Hit]]:
    """The term hits that no hit of a mask list covers whole: "attack" in "heart attack" and
    "struck" in "struck a deal" are no attack words when those phrases are a mask's."""
    covered = bytearray(size)
    for key in masks:
        for hit in terms[key]:
            covered[hit.start : hit.end] = b"\x01" * (hit.end - hit.start)
    return {key: hits if key in masks else
            [h for h in hits if covered.find(0, h.start, h.end) != -1]  # a byte left bare
            for key, hits in terms.items()}
