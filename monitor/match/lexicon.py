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
second automaton, which finds them where the folded view of the text has them.

How a scan stays cheap: the automaton reads the text's boundary view, so it reports only hits on
word boundaries (:mod:`.bounded`); the text is folded only around the few places a cheap
projection says a folded key could be (:mod:`.foldgate`); hits are named tuples (:class:`Hit`).
The hits are the same, in the same order, as one automaton over the text with a check of both
ends of each raw hit, followed by the folded automaton over the whole folded view.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from monitor.match.bounded import Bounded, Payloads, boundary_view
from monitor.match.fold import foldable, skeleton
from monitor.match.foldgate import FoldGate
from monitor.match.hit import Hit, Payload
from monitor.match.normalise import is_arabic, normalise

__all__ = ["Hit", "Lexicon", "Payload", "alias_key", "leftmost_longest"]

_PROCLITICS = tuple(
    first + second
    for first in ("", "و", "ف")
    for second in ("", "ال", "بال", "كال", "لل", "ب", "ك", "ل")
)[1:]


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


class _Table:
    """Key text → the lists it belongs to; the first label a list gives a key wins."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, tuple[str, bool]]] = {}

    def add(self, text: str, key: str, label: str, exact: bool) -> None:
        if text:
            self.rows.setdefault(text, {}).setdefault(key, (label, exact))

    def payloads(self) -> dict[str, Payloads]:
        """Key text → its payloads, ``(list key, label, exact)`` for each list that holds it."""
        return {
            text: tuple((key, label, exact) for key, (label, exact) in lists.items())
            for text, lists in self.rows.items()
        }


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
        masks: Collection[str] = (),
    ) -> None:
        # term lists whose phrases hide the other lists' words inside them ("heart attack")
        self.masks = frozenset(f"terms:{name}" for name in masks)
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
        self._rows = table.payloads()
        self._folded_rows = folded.payloads()
        self._gate = FoldGate(self._folded_rows) if self._folded_rows else None
        marks = self._gate.marks if self._gate is not None else ()
        self._exact = Bounded(self._rows, marks)

    @property
    def keys(self) -> tuple[str, ...]:
        return self._keys

    def scan(self, text: str) -> list[Hit]:
        """Every hit of every list in the normalised ``text``, overlapping ones included: by end
        offset, longest first, the folded hits last."""
        if not text:
            return []
        view = boundary_view(text)
        hits, chains = self._exact.scan(text, view)
        if self._gate is not None:
            hits += self._gate.hits(text, view, chains)
        return hits

    def find(self, key: str, text: str) -> list[Hit]:
        """Hits of list ``key`` in the normalised ``text``, leftmost-longest, not overlapping;
        none for an unknown key."""
        return leftmost_longest(h for h in self.scan(text) if h.key == key)
