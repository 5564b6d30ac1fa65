"""One field of an article (its title or its body): split into sentences, normalised, and searched
once with the rule set's lexicon.

The normalised sentences are joined with line breaks (never part of a key, and not a word
character) into one text, which the lexicon's automaton reads once; each hit is then placed in
its sentence. Entity mentions do not overlap: where they do, the longest wins, so "Hezbollah"
inside "Kataib Hezbollah", or "Iraq" inside "Islamic Resistance in Iraq", is not a mention of its
own. Within a term list, hits are read left to right, the longest at each place.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from monitor.match.lexicon import Hit, Lexicon, leftmost_longest
from monitor.match.normalise import normalise_with_map
from monitor.match.ruleset import Part
from monitor.match.sentences import split_sentences

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Sentence:
    start: int  # offsets in the field's original text
    end: int
    norm: str
    origin: list[int]  # per character of ``norm``, its offset in the sentence's original text
    first_word: int  # position of the sentence's first word in the field
    word_starts: list[int]  # offsets in ``norm`` where its words start


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
    """A field's sentences and every hit of every list in it, by list key."""

    def __init__(self, text: str, lexicon: Lexicon) -> None:
        self.text = text
        sentences = []
        words = 0
        for start, end in split_sentences(text):
            norm, origin = normalise_with_map(text[start:end])
            word_starts = [m.start() for m in _WORD.finditer(norm)]
            sentences.append(Sentence(start, end, norm, origin, words, word_starts))
            words += len(word_starts)
        self.sentences = tuple(sentences)
        self._bases: list[int] = []
        position = 0
        for sentence in self.sentences:
            self._bases.append(position)
            position += len(sentence.norm) + 1
        joined = "\n".join(s.norm for s in self.sentences)
        self._hits = self._sort(lexicon, lexicon.scan(joined), len(joined))
        self.entities = tuple(
            sorted(
                (h for key, hits in self._hits.items() if key.startswith("kind:") for h in hits),
                key=lambda h: (h.sentence, h.start),
            )
        )

    def _sort(self, lexicon: Lexicon, raw: list[Hit], size: int) -> dict[str, tuple[FieldHit, ...]]:
        order = {key: i for i, key in enumerate(lexicon.keys)}
        by_key: dict[str, list[Hit]] = {}
        for hit in raw:
            by_key.setdefault(hit.key, []).append(hit)
        out: dict[str, tuple[FieldHit, ...]] = {}
        for key, hits in by_key.items():
            if not key.startswith("kind:"):
                out[key] = tuple(self._place(h) for h in leftmost_longest(hits))
        entities = sorted(
            (h for key, hits in by_key.items() if key.startswith("kind:") for h in hits),
            key=lambda h: (h.start - h.end, h.start, h.folded, not h.exact, order[h.key]),
        )
        taken = bytearray(size)
        kept: dict[str, list[FieldHit]] = {}
        for hit in entities:
            if taken.find(1, hit.start, hit.end) != -1:
                continue
            taken[hit.start : hit.end] = b"\x01" * (hit.end - hit.start)
            kept.setdefault(hit.key, []).append(self._place(hit))
        for key, placed in kept.items():
            out[key] = tuple(sorted(placed, key=lambda h: (h.sentence, h.start)))
        return out

    def _place(self, hit: Hit) -> FieldHit:
        index = bisect.bisect_right(self._bases, hit.start) - 1
        sentence = self.sentences[index]
        start = hit.start - self._bases[index]
        local = bisect.bisect_right(sentence.word_starts, start) - 1
        word = sentence.first_word + max(local, 0)
        return FieldHit(index, start, hit.end - self._bases[index], word, hit.label, hit.key)

    def hits(self, key: str) -> tuple[FieldHit, ...]:
        return self._hits.get(key, ())

    def part_hits(self, part: Part) -> tuple[FieldHit, ...]:
        hits = self.hits(part.key)
        if part.label is not None:
            hits = tuple(h for h in hits if h.label == part.label)
        return hits

    def span(self, hit: FieldHit) -> tuple[int, int]:
        """The hit's offsets in the original text of the field."""
        sentence = self.sentences[hit.sentence]
        return sentence.start + sentence.origin[hit.start], sentence.start + sentence.origin[
            hit.end - 1
        ] + 1
