"""A small sentence splitter for the ``within: sentence`` scope.

Lines are always separate sentences. Inside a line a sentence ends at ``.``, ``!``, ``?`` or
``؟`` (with any closing quotes or brackets) followed by white space, unless the word before the
full stop is an abbreviation ("Brig.", "Gen.", "Mr.", "approx."), an initial ("Lloyd J."), or a
dotted acronym ("U.S.", "e.g."), or the next word starts with a lower-case letter.
"""

from __future__ import annotations

import re

_ABBREVIATIONS = frozenset(
    """
    mr mrs ms dr prof rev hon sr jr st mt no nos vs etc approx est dept govt
    gen brig col lt maj capt cpt sgt cpl pvt spc adm cmdr cdr sen rep gov pres amb
    jan feb mar apr jun jul aug sep sept oct nov dec
    inc ltd co corp
    """.split()
)
_END = re.compile(r"[.!?؟]+[\"'”’»)\]]*\s+")
_ACRONYM = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]?")


def _keeps_going(before: str, after: str, punct: str) -> bool:
    """True when the full stop at the end of ``before`` does not end the sentence (``after``:
    the character that follows the stop and the white space after it, if any)."""
    if after.islower():
        return True
    if not punct.startswith(".") or punct.startswith(".."):
        return False
    if not before or before[-1].isspace():  # no word right before the stop
        return False
    word = before.rsplit(None, 1)[-1].lstrip("\"'“‘(«[")
    if word.lower() in _ABBREVIATIONS:
        return True
    if len(word) == 1 and word.isalpha():
        return True  # an initial
    return _ACRONYM.fullmatch(word + ".") is not None and "." in word


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Return ``(start, end)`` offsets of the sentences of ``text``, blank ones left out."""
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n\r\u2028\u2029]+", text):
        base = line.start()
        body = line.group()
        start = 0
        for m in _END.finditer(body):
            punct = m.group().rstrip()
            cut = m.start() + len(punct)
            if _keeps_going(body[start : m.start()], body[m.end() : m.end() + 1], punct):
                continue
            _add(spans, text, base + start, base + cut)
            start = m.end()
        _add(spans, text, base + start, base + len(body))
    return spans


def _add(spans: list[tuple[int, int]], text: str, start: int, end: int) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        spans.append((start, end))
