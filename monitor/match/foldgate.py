"""Folded aliases found without folding the whole text: a cheap projection of the text points at
the few places where one could be, and only those places are folded (:mod:`.fold`).

The *projection* of a boundary view (:func:`project`, three C-level passes over its bytes) keeps
``#`` for each space and, of each run of consonants (``bcdfghjklmnpqrstvwxz``), its first letter
as a capital; vowels, ``y``, digits, other letters and everything else are left out. Folding a
word of Latin letters never changes its projection: it keeps the word's first letter, writes each
run of one consonant once and each run of vowels (``y`` included when it is a vowel) as one vowel,
and keeps a ``y`` that is a consonant, so the runs of consonants, the vowels and ``y`` between
them and the first consonant of each run stay as they were ("Hizballah", "Hezbollah" and
"hazbalah" are all ``HZLH``; "Kata'ib" and "Kataeb" are ``KTB``). Words that are not all Latin
letters are not folded at all. So wherever the folded view holds a folded key, the projection of
the text holds the key's projection, with, in each gap between its words (and after a gap it
starts with), the article words folding leaves out (``al``, ``el``, ``as``, ``ash``… project to
``L``, ``S``…): the gate automaton is given each key's projection with no article or one article
in each such gap (a key with more than :data:`MAX_GAPS` such gaps is given its first words only).
Two article words in a row are found by the main automaton (they are its *marks*), and the text
around them is folded too.

Each gate hit is taken back to the text through the spaces (the n-th ``#`` of the projection is
the n-th space of the view) and widened to the whole key (for a gate key of its first words only,
to the words left out and one more, for a gap the key may end with), and on until its last word is
not an article; around two articles in a row, as many words on each side as a key has, and one
more. These stretches are folded exactly as :func:`monitor.match.fold.fold_view` folds the
whole text: a stretch that starts after a non-word character and ends before one, on a word that
is not an article, folds to the same characters as that part of the whole text, and a key is on
word boundaries there exactly when it is in the whole folded text. What a stretch holds is
remembered (the same phrases come back: a name and the words around it). A rule set with a folded
key whose projection has no letter at all folds every text whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from itertools import product
from operator import attrgetter
from typing import Any

import ahocorasick

from monitor.match.bounded import Payloads, Span, boundary_view, plain_automaton, plain_scan
from monitor.match.fold import ARTICLES, FoldedView
from monitor.match.hit import Hit, new_hit

MAX_GAPS = 3  # gaps (where an article may stand) a gate key covers: 8 ** 3 variants at most

_CONSONANTS = frozenset("bcdfghjklmnpqrstvwxz")
_PROJECT = bytes(
    i if chr(i) in _CONSONANTS else 0x23 if i == 0x20 else 0x30 for i in range(256)
)  # consonants kept, spaces → "#", the rest → "0" (no case: it ends a run of consonants)
_DROP = bytes(i for i in range(256) if not (0x41 <= i <= 0x5A or i == 0x23))
_TOKENS = re.compile(r" +|[^ ]+")
_WORD = re.compile(r"[^ ]+")
_BY_END = attrgetter("end", "start")


def project(view: str) -> str:
    """The projection of a boundary view (see the module docstring)."""
    raw = view.encode("utf-8", "surrogatepass")
    return raw.translate(_PROJECT).title().translate(None, _DROP).decode("ascii")


def _word(word: str) -> str:
    return project(" " + word + " ")[1:-1]


_ARTICLE_MARKS = tuple(sorted({_word(a) + "#" for a in ARTICLES}))


def _gate_keys(key: str) -> tuple[list[str], int, int]:
    """The gate keys of a folded key, how many of its words they leave out (on the right), and
    how many words it has."""
    tokens = _TOKENS.findall(boundary_view(key))  # spaces, word, spaces, …, word, spaces
    pieces: list[tuple[str, ...]] = []
    gaps = taken = 0
    for index, token in enumerate(tokens):
        if index % 2:  # a word
            pieces.append((_word(token),))
            taken += 1
            continue
        pieces.append(("#" * len(token),))
        if index + 1 < len(tokens) and (index > 0 or len(token) > 1):  # an article may follow
            if gaps == MAX_GAPS:
                break
            pieces.append(("", *_ARTICLE_MARKS))
            gaps += 1
    words = len(tokens) // 2
    return ["".join(choice) for choice in product(*pieces)], words - taken, words


_SKIP = tuple(re.compile(f"(?:[^ ]* ){{{k}}}") for k in range(1, 65))  # past k spaces


def _past(view: str, at: int, spaces: int) -> int:
    """The offset right after the ``spaces``-th space from ``at`` on (there are that many)."""
    while spaces > len(_SKIP):
        at = _past(view, at, len(_SKIP))
        spaces -= len(_SKIP)
    match = _SKIP[spaces - 1].match(view, at)
    assert match is not None
    return match.end()


def _nth_space(view: str, n: int, at: tuple[int, int]) -> int:
    """The offset in ``view`` of its ``n``-th space (counting from 0), found from ``at``: an
    offset in ``view`` and how many spaces are before it."""
    start, before = at
    while before > n:  # back, space by space: the gate's hits step back by a key at most
        start = view.rfind(" ", 0, start)
        before -= 1
    return _past(view, start, n - before + 1) - 1


def _right(view: str, at: int, words: int) -> int:
    """From the space at ``at``, past ``words`` words that are not articles and then on until the
    last word passed is not an article: the offset of the space after the last word passed (the
    view's last space when the words run out)."""
    trailing = view[view.rfind(" ", 0, at) + 1 : at] in ARTICLES  # the word that ends at ``at``
    if words <= 0 and not trailing:
        return at
    for match in _WORD.finditer(view, at):
        trailing = match.group() in ARTICLES
        if not trailing:
            words -= 1
        if words <= 0 and not trailing:
            return match.end()
    return len(view) - 1  # out of words: the end of the text


def _left(view: str, at: int, words: int) -> int:
    """From the space at ``at``, back past ``words`` words that are not articles: the offset
    of the space before the last one."""
    while words > 0 and at > 0:
        end = at
        while end > 0 and view[end - 1] == " ":
            end -= 1
        if end == 0:
            return 0
        at = view.rfind(" ", 0, end)
        if view[at + 1 : end] not in ARTICLES:
            words -= 1
    return at


class FoldGate:
    """The folded keys of a lexicon (skeleton → payloads), found in a text without folding it."""

    def __init__(self, rows: Mapping[str, Payloads]) -> None:
        self._folded = plain_automaton(rows)
        self._gate: Any = ahocorasick.Automaton()
        self.whole = False  # fold every text whole: some key has no letter to be seen by
        self._reach = 0  # the most words a key has on either side of a gap
        self._done: dict[str, tuple[tuple[int, int, str, str], ...]] = {}  # stretch → its hits
        gate: dict[str, int] = {}
        for key in rows:
            variants, left_out, words = _gate_keys(key)
            if len(variants) > 1:  # an article may stand in one of its gaps
                self._reach = max(self._reach, words - 1, 1)
            if not any(ch.isupper() for ch in variants[0]):
                self.whole = True
            for variant in variants:
                gate[variant] = max(gate.get(variant, 0), left_out)
        for variant in sorted(gate):
            self._gate.add_word(variant, (len(variant), variant.count("#"), gate[variant]))
        if gate:
            self._gate.make_automaton()

    @property
    def marks(self) -> tuple[str, ...]:
        """Two article words in a row, when a key has a gap an article may stand in: the main
        automaton's hits of these are the ``chains`` given to :meth:`hits`."""
        if not self._reach:
            return ()
        return tuple(f"{a} {b}" for a in sorted(ARTICLES) for b in sorted(ARTICLES))

    def _stretches(self, text: str, view: str, chains: Iterable[Span]) -> list[Span]:
        """Where a folded key could be: spans of ``text`` that start after a non-word character
        and end before one, on a word that is not an article."""
        if self.whole:
            return [(0, len(text))]
        found: list[Span] = []
        projected = project(view)
        at, n = 0, 0  # an offset in the projection, and the spaces before it
        first = 0  # the view's n-th space
        for last, (size, spaces, left_out) in self._gate.iter(projected):
            key_at = last - size + 1  # the gate's hits are by end: they seldom step back
            spaces_at = n + projected.count("#", at, key_at) - projected.count("#", key_at, at)
            first = _nth_space(view, spaces_at, (first, n))
            at, n = key_at, spaces_at
            end = _past(view, first + 1, spaces - 1) - 1 if spaces > 1 else first
            if left_out:  # the words left out, and one more for the gap a key may end with
                end = _right(view, end, left_out + 1)
            found.append((first, _right(view, end, 0) - 1))
        reach = self._reach + 1  # one more word on each side for a gap a key may start or end with
        for start, end in chains:  # text offsets: the view's are one more
            found.append((_left(view, start, reach), _right(view, end + 1, reach) - 1))
        return found

    def hits(self, text: str, view: str, chains: Iterable[Span] = ()) -> list[Hit]:
        """The folded hits in ``text`` (boundary view ``view``), as folding it whole finds them;
        ``chains`` are the spans of two article words in a row (:attr:`marks`)."""
        if self._folded is None:
            return []
        merged: list[list[int]] = []
        for a, b in sorted(self._stretches(text, view, chains)):
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        hits: list[Hit] = []
        for a, b in merged:
            hits += [
                new_hit(Hit, (lo + a, hi + a, label, key, False, True))
                for lo, hi, label, key in self._fold(text[a:b])
            ]
        if len(merged) > 1:
            hits.sort(key=_BY_END)
        return hits

    def _fold(self, piece: str) -> tuple[tuple[int, int, str, str], ...]:
        """The folded hits in ``piece`` (start, end, label, list key), remembered: the same
        phrases come back (a name and the words around it)."""
        found = self._done.get(piece)
        if found is None:
            view = FoldedView(piece)
            found = tuple(
                (*view.span(start, stop), label, key)
                for start, stop, payloads in plain_scan(self._folded, view.text)
                for key, label, _ in payloads
            )
            if len(piece) <= 400:  # phrases only: a whole text would not come back
                if len(self._done) >= 4096:
                    self._done.clear()
                self._done[piece] = found
        return found
