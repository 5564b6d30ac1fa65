"""Compiled word lists: one regex alternation per entity kind and per term list.

Aliases and terms are normalised like the text, sorted longest first and joined into one
alternation per list, anchored on word boundaries (``(?<!\\w)`` … ``(?!\\w)``), so "asad" is not
found inside "assad" and no alias is found inside a longer word. Each hit is mapped back to its
label (an entity id, or a term as written in the rule file).

Two small morphological allowances, so the lists stay short:

* an alias or term written in Arabic script may carry the proclitics و ف ب ك ل and the article
  ال (so "عين الأسد" is found in "بعين الأسد", "حرير" in "الحرير", "صواريخ" in "بصواريخ");
* in term lists (not entity aliases) a term ending in a Latin letter also matches with a
  trailing "s" ("rocket" → "rockets", "US strike" → "US strikes").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from monitor.match.normalise import is_arabic, normalise

_ARABIC_PROCLITICS = "(?:[وف]?(?:[بك]?ال|لل|[بكل])?)"


@dataclass(frozen=True)
class Hit:
    """One occurrence in a normalised text: character span and label."""

    start: int
    end: int
    label: str


def _core(alias: str) -> str:
    """The part of a normalised alias the pattern is built on (Arabic article stripped)."""
    if is_arabic(alias) and alias.startswith("ال") and len(alias) > 4:
        return alias[2:]
    return alias


def alias_key(text: str) -> str:
    """What an alias is looked up by: two aliases with the same key are the same words."""
    return _core(normalise(text))


def _latin_end(text: str) -> bool:
    return text[-1].isascii() and text[-1].isalpha()


class _List:
    def __init__(self, entries: Iterable[tuple[str, str]], plural: bool) -> None:
        self.table: dict[str, str] = {}
        for text, label in entries:
            core = alias_key(text)
            if core:
                self.table.setdefault(core, label)
        self.plural = plural
        arabic = sorted((c for c in self.table if is_arabic(c)), key=lambda c: (-len(c), c))
        latin = sorted((c for c in self.table if not is_arabic(c)), key=lambda c: (-len(c), c))
        branches = []
        if arabic:
            branches.append(_ARABIC_PROCLITICS + "(?P<ar>" + "|".join(map(re.escape, arabic)) + ")")
        if latin:
            pieces = [re.escape(c) + ("s?" if plural and _latin_end(c) else "") for c in latin]
            branches.append("(?P<la>" + "|".join(pieces) + ")")
        self.pattern = (
            re.compile(r"(?<!\w)(?:" + "|".join(branches) + r")(?!\w)") if branches else None
        )

    def find(self, text: str) -> list[Hit]:
        if self.pattern is None:
            return []
        hits = []
        for m in self.pattern.finditer(text):
            groups = m.groupdict()
            found = groups.get("ar") or groups.get("la") or ""
            label = self.table.get(found)
            if label is None and self.plural and found.endswith("s"):
                label = self.table.get(found[:-1])
            if label is not None:
                hits.append(Hit(m.start(), m.end(), label))
        return hits


class Lexicon:
    """All compiled lists of a rule set, by key: ``kind:<kind>`` or ``terms:<name>``."""

    def __init__(
        self,
        kinds: Mapping[str, Iterable[tuple[str, str]]] | None = None,
        terms: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self._lists: dict[str, _List] = {}
        for kind, entries in (kinds or {}).items():
            self._lists[f"kind:{kind}"] = _List(entries, plural=False)
        for name, words in (terms or {}).items():
            self._lists[f"terms:{name}"] = _List(((w, w) for w in words), plural=True)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self._lists)

    def find(self, key: str, text: str) -> list[Hit]:
        """Hits of list ``key`` in the normalised ``text``; none for an unknown key."""
        found = self._lists.get(key)
        return found.find(text) if found is not None else []
