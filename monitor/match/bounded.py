"""Keys found on word boundaries by one automaton pass, with no Python check per raw hit.

A hit counts only with no word character (``\\w``: ``str.isalnum()`` or ``_``) right before and
right after it. Rather than test that for every raw hit, the automaton reads the text's
*boundary view* (:func:`boundary_view`): a space, the text with every non-word character turned
into a space, and a space, so that offset ``i + 1`` of the view is offset ``i`` of the text. A key
made of word characters and single inner spaces is looked for as ``" key "``: the automaton then
reports only occurrences with a non-word character (or an edge of the text) on both sides, and
never the raw hits inside longer words, which also keeps its walk short. In the view a key's
inner space stands for any non-word character, so a hit of a key with inner spaces is kept only
where the text itself has the key (one ``str.startswith``).

The few keys with other non-word characters (``"popular mobilization forces (pmf)"``, quotes)
are looked for in the view too, as their own boundary view (each non-word character a space, a
space on each side), and a hit is kept only where the text has the key itself: the view's spaces
around it are the non-word characters (or edges) on both sides. Only such a key whose view is
another key's (``"a.b"`` beside ``"a b"``), or that has no word character at all, is looked for
in the text itself, by a second automaton over raw keys with an explicit check of both ends
(:func:`plain_scan`); its hits are merged into the others in the order one automaton over every
key gives: by end offset, then longest first (the view's order too, every key being two
characters longer there).

The automaton can also carry *marks*: extra keys whose hits are reported apart (the folding uses
them to learn where two article words follow each other, see :mod:`.foldgate`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from operator import attrgetter
from typing import Any

import ahocorasick

from monitor.match.hit import Hit, Payload, new_hit

Payloads = tuple[Payload, ...]
Span = tuple[int, int]

_ASCII = bytes(range(128))
_VIEW = bytes(i if i >= 128 or chr(i).isalnum() or chr(i) == "_" else 0x20 for i in range(256))
_OTHER_NON_WORD = re.compile(r"[^\w\x00-\x7f]")  # a non-word character outside ASCII
_BY_END = attrgetter("end", "start")


def is_word(ch: str) -> bool:
    """A word character, as ``\\w`` has it."""
    return ch.isalnum() or ch == "_"


def bounded(text: str, start: int, end: int) -> bool:
    """No word character right before ``start`` or right at ``end``."""
    return (start == 0 or not is_word(text[start - 1])) and (
        end == len(text) or not is_word(text[end])
    )


def boundary_view(text: str) -> str:
    """``" " + text + " "`` with every non-word character of ``text`` made a space."""
    if text.isascii():
        body = text.encode("ascii").translate(_VIEW).decode("ascii")
    else:
        raw = text.encode("utf-8", "surrogatepass")
        body = raw.translate(_VIEW).decode("utf-8", "surrogatepass")
        if not raw.translate(None, _ASCII).decode("utf-8", "surrogatepass").isalnum():
            body = _OTHER_NON_WORD.sub(" ", body)
    return " " + body + " "


def clean(key: str) -> bool:
    """A key the boundary view can find: word characters and single inner spaces."""
    return (
        bool(key)
        and key[0] != " "
        and key[-1] != " "
        and "  " not in key
        and all(ch == " " or is_word(ch) for ch in key)
    )


def _made(payloads: Payloads) -> tuple[Payload, ...]:
    return tuple((label, key, exact) for key, label, exact in payloads)


def plain_automaton(rows: Mapping[str, Payloads]) -> Any | None:
    """An automaton over the keys as written; a key's value is its length and payloads."""
    if not rows:
        return None
    automaton = ahocorasick.Automaton()
    for text, payloads in rows.items():
        automaton.add_word(text, (len(text), payloads))
    automaton.make_automaton()
    return automaton


def plain_scan(automaton: Any, text: str) -> Iterator[tuple[int, int, Payloads]]:
    """The hits of a :func:`plain_automaton` in ``text`` that are on word boundaries, in the
    automaton's order (by end, longest first)."""
    for last, (size, payloads) in automaton.iter(text):
        start, end = last + 1 - size, last + 1
        if bounded(text, start, end):
            yield start, end, payloads


class Bounded:
    """Every key of ``rows`` (key text → payloads), found on word boundaries; plus ``marks``."""

    def __init__(self, rows: Mapping[str, Payloads], marks: Iterable[str] = ()) -> None:
        entries: dict[str, tuple[int, tuple[Payload, ...], str | None, bool]] = {}
        others: dict[str, Payloads] = {}
        for text, payloads in rows.items():
            if clean(text):
                entries[" " + text + " "] = (
                    len(text) + 1, _made(payloads), text if " " in text else None, False)
            else:
                others[text] = payloads
        for text in marks:
            form = " " + text + " "
            size, made, verify, _ = entries.get(form, (len(text) + 1, (), text, True))
            entries[form] = (size, made, verify, True)
        for text, payloads in list(others.items()):  # read in the view too, where theirs is free
            form = boundary_view(text)
            if form not in entries and any(map(is_word, text)):
                entries[form] = (len(text) + 1, _made(payloads), text, False)
                del others[text]
        self._automaton: Any | None = None
        if entries:
            self._automaton = ahocorasick.Automaton()
            for form in sorted(entries):  # sorted: the trie's children in a useful order
                self._automaton.add_word(form, entries[form])
            self._automaton.make_automaton()
        self._others = plain_automaton(others)

    def scan(self, text: str, view: str) -> tuple[list[Hit], list[Span]]:
        """The hits in ``text`` (whose boundary view is ``view``), and the spans of the marks."""
        hits: list[Hit] = []
        marked: list[Span] = []
        if self._automaton is not None:
            for last, (size, made, verify, mark) in self._automaton.iter(view):
                start = last - size
                if verify is not None and not text.startswith(verify, start):
                    continue
                if mark:
                    marked.append((start, last - 1))
                for label, key, exact in made:
                    hits.append(new_hit(Hit, (start, last - 1, label, key, exact, False)))
        if self._others is not None:
            extra = [
                new_hit(Hit, (start, end, label, key, exact, False))
                for start, end, payloads in plain_scan(self._others, text)
                for key, label, exact in payloads
            ]
            if extra:
                hits += extra
                hits.sort(key=_BY_END)  # stable: each key's payloads keep their order
        return hits, marked
