"""What a lexicon scan returns: one occurrence of a listed word in a normalised text."""

from __future__ import annotations

from typing import NamedTuple


class Hit(NamedTuple):
    """One occurrence in a normalised text: character span and label (entity id or term).

    A named tuple, so a scan that finds tens of thousands of them stays cheap."""

    start: int
    end: int
    label: str
    key: str = ""  # the list: "kind:<kind>" or "terms:<name>"
    exact: bool = True  # False when found through an allowance (proclitic, plural)
    folded: bool = False  # True when found through transliteration folding


Payload = tuple[str, str, bool]  # (list key, label, exact), as the word lists give them

new_hit = tuple.__new__  # Hit(...) without the Python-level __new__: new_hit(Hit, (s, e, ...))
