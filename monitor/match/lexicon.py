"""Every word list of a rule set in one Aho-Corasick automaton (pyahocorasick, a C library).

Each alias of each entity and each term of each term list is normalised like the text and added
to one automaton, which is built once, when the rules are loaded, and run once over a text: the
cost grows with the text and the hits, not with the number of lists or words. Each key carries
the lists it belongs to (``kind:<kind>`` with the entity id as label, ``terms:<name>`` with the
term as the list writes it). A hit counts only on word boundaries (no ``\\w`` character before or
after it), so "asad" is not found inside "assad" and no alias is found inside a longer word.

Two small morphological allowances, so the lists stay short, are added as extra keys:

* an alias or term written in Arabic script may carry the proclitics و ف ب ك ل and the article
  ال (so "عين الأسد" is found in "بعين الأسد", "حرير" in "الحرير", "صواريخ" in "بصواريخ");
* in term lists (not entity aliases) a term ending in a Latin letter also matches with a
  trailing "s" ("rocket" → "rockets", "US strike" → "US strikes").

A key written as a word or phrase of its own wins over the same text made by an allowance.
The aliases of entities marked ``transliterated`` are also added, folded (:mod:`.fold`), to a
second automaton that runs over the folded view of the text.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import ahocorasick

from monitor.match.fold import fold_view, foldable, skeleton
from monitor.match.normalise import is_arabic, normalise

_PROCLITICS = tuple(
    first + second
    for first in ("", "و", "ف")
    for second in ("", "ال", "بال", "كال", "لل", "ب", "ك", "ل")
)[1:]


@dataclass(frozen=True)
class Hit:
    """One occurrence in a normalised text: character span and label (entity id or term)."""

    start: int
    end: int
    label: str
    key: str = ""  # the list: "kind:<kind>" or "terms:<name>"
    exact: bool = True  # False when found through an allowance (proclitic, plural)
    folded: bool = False  # True when found through transliteration folding


def _core(alias: str) -> str:
    """The part of a normalised alias the keys are built on (Arabic article stripped)."""
    if is_arabic(alias) and alias.startswith("ال") and len(alias) > 4:
        return alias[2:]
    return alias


def alias_key(text: str) -> str:
    """What an alias is looked up by: two aliases with the same key are the same words."""
    return _core(normalise(text))


def _latin_end(text: str) -> bool:
    return text[-1].isascii() and text[-1].isalpha()


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _bounded(text: str, start: int, end: int) -> bool:
    return (start == 0 or not _is_word(text[start - 1])) and (
        end == len(text) or not _is_word(text[end])
    )


Payload = tuple[str, str, bool]  # (list key, label, exact)


class _Table:
    """Key text → the lists it belongs to; the first label a list gives a key wins."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, tuple[str, bool]]] = {}

    def add(self, text: str, key: str, label: str, exact: bool) -> None:
        if text:
            self.rows.setdefault(text, {}).setdefault(key, (label, exact))

    def automaton(self) -> Any | None:
        if not self.rows:
            return None
        automaton = ahocorasick.Automaton()
        for text, lists in self.rows.items():
            payloads = tuple((key, label, exact) for key, (label, exact) in lists.items())
            automaton.add_word(text, (len(text), payloads))
        automaton.make_automaton()
        return automaton


def _scan(automaton: Any, text: str) -> Iterable[tuple[int, int, tuple[Payload, ...]]]:
    for last, (size, payloads) in automaton.iter(text):
        start, end = last + 1 - size, last + 1
        if _bounded(text, start, end):
            yield start, end, payloads


def leftmost_longest(hits: Iterable[Hit]) -> list[Hit]:
    """Hits that do not overlap, read left to right, the longest at each place (as a regex
    alternation sorted longest first would find them)."""
    kept: list[Hit] = []
    end = -1
    for hit in sorted(hits, key=lambda h: (h.start, -h.end, not h.exact)):
        if hit.start >= end:
            kept.append(hit)
            end = hit.end
    return kept


class Lexicon:
    """All word lists of a rule set, by key: ``kind:<kind>`` or ``terms:<name>``."""

    def __init__(
        self,
        kinds: Mapping[str, Iterable[tuple[str, str]]] | None = None,
        terms: Mapping[str, Iterable[str]] | None = None,
        transliterated: Collection[str] = (),
    ) -> None:
        lists: list[tuple[str, list[tuple[str, str]], bool]] = []
        for kind, entries in (kinds or {}).items():
            lists.append((f"kind:{kind}", list(entries), False))
        for name, words in (terms or {}).items():
            lists.append((f"terms:{name}", [(w, w) for w in words], True))
        self._keys = tuple(key for key, _, _ in lists)
        table, folded = _Table(), _Table()
        for key, entries, _ in lists:  # the words as written first: they win over allowances
            for text, label in entries:
                table.add(alias_key(text), key, label, exact=True)
        for key, entries, plural in lists:
            for text, label in entries:
                core = alias_key(text)
                if not core:
                    continue
                if is_arabic(core):
                    for prefix in _PROCLITICS:
                        table.add(prefix + core, key, label, exact=False)
                elif plural and _latin_end(core):
                    table.add(core + "s", key, label, exact=False)
                if not plural and label in transliterated and foldable(text):
                    folded.add(skeleton(text), key, label, exact=False)
        self.size = len(table.rows) + len(folded.rows)  # keys in the automata
        self._automaton = table.automaton()
        self._folded = folded.automaton()

    @property
    def keys(self) -> tuple[str, ...]:
        return self._keys

    def scan(self, text: str) -> list[Hit]:
        """Every hit of every list in the normalised ``text``, overlapping ones included."""
        hits: list[Hit] = []
        if self._automaton is not None and text:
            for start, end, payloads in _scan(self._automaton, text):
                hits.extend(Hit(start, end, label, key, exact) for key, label, exact in payloads)
        if self._folded is not None and text:
            view = fold_view(text)
            for start, end, payloads in _scan(self._folded, view.text):
                lo, hi = view.span(start, end)
                hits.extend(Hit(lo, hi, label, key, False, True) for key, label, _ in payloads)
        return hits

    def find(self, key: str, text: str) -> list[Hit]:
        """Hits of list ``key`` in the normalised ``text``, leftmost-longest, not overlapping;
        none for an unknown key."""
        return leftmost_longest(h for h in self.scan(text) if h.key == key)
