r"""A small sentence splitter for the ``within: sentence`` scope.

Lines are always separate sentences. Inside a line a sentence ends at ``.``, ``!``, ``?`` or
``؟`` (with any closing quotes or brackets) followed by white space, unless the word before the
full stop is an abbreviation ("Brig.", "Gen.", "Mr.", "approx."), an initial ("Lloyd J."), or a
dotted acronym ("U.S.", "e.g."), or the next word starts with a lower-case letter.

Two or more full stops followed by white space and an Arabic letter do not end a sentence: in
Arabic news writing ".." joins the parts of a headline or a sentence ("عاجل.. قصف يستهدف قاعدة
عين الأسد", "في ذكراه السنوية.. ماذا تبقى من القصف"), where English would put a dash or a colon.

:func:`dateline_end` finds where a wire dateline ("BAGHDAD, May 27 (Reuters) - ") ends.

Every line break (``\n``, ``\r``, U+2028, U+2029) is read as ``\n``, which keeps the offsets.
For each stop character one expression, searched for by that character, finds the runs of stops
followed by white space or a line break. Where the text around a run settles it (a line break
after it; a run that starts with ``!``, ``?``, ``؟`` or ``..``, or a full stop after a word that
cannot be an abbreviation, initial or acronym, followed by a character that cannot be lower
case), the expression alone ends the sentence there; after a plain abbreviation, initial or short
acronym it finds nothing; :func:`_keeps_going` decides the others.
"""

from __future__ import annotations

import re
from itertools import chain

_ABBREVIATIONS = frozenset(
    """
    mr mrs ms dr prof rev hon sr jr st mt no nos vs etc approx est dept govt
    gen brig col lt maj capt cpt sgt cpl pvt spc adm cmdr cdr sen rep gov pres amb
    jan feb mar apr jun jul aug sep sept oct nov dec
    inc ltd co corp
    """.split()
)
_OPENING = "\"'“‘(«["
_ACRONYM = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]?")


_LENGTHS = sorted({len(a) for a in _ABBREVIATIONS})


def _abbreviations(n: int) -> str:
    """The abbreviations of ``n`` letters, in any case."""
    return "|".join("".join(f"[{c.upper()}{c}]" for c in a)
                    for a in sorted(_ABBREVIATIONS) if len(a) == n)


def _plain_word() -> str:
    """Lookbehinds at a full stop (included), one of which holds only when the word before it
    (from white space to the stop, opening quotes and brackets at its start left out) is no
    abbreviation, initial or acronym:

    * the word has 7 characters or more and no dot next to last;
    * there is no word, or it does not end in a letter;
    * it ends in two ASCII letters, the last one ending no abbreviation;
    * it ends in two ASCII letters and is no abbreviation, in any case (a veto for each length:
      the abbreviation after white space, an opening quote or bracket, or at the start);
    * its next-to-last character is no white space, dot or ASCII letter, nor the Kelvin sign
      (the only other character with an ASCII lower case).

    The facts about Unicode these rely on are checked in ``tests/test_match_sentences_fast.py``.
    """
    free = "".join(sorted(set("abcdefghijklmnopqrstuvwxyz") - {a[-1] for a in _ABBREVIATIONS}))
    vetoes = "".join(rf"(?<!(?<![^\s\"'“‘(«\[])(?:{_abbreviations(n)})\.)" for n in _LENGTHS)
    return "|".join([r"(?<=[^\s\"'“‘(«\[]\S{4}[^\s.]\S\.)", r"(?<![^\W\d_]\.)",
                     rf"(?<=[A-Za-z][{free}{free.upper()}]\.)", r"(?<=[A-Za-z]{2}\.)" + vetoes,
                     r"(?<=[^\s\"'“‘(«\[.A-Za-z\u212a]\S\.)"])


def _stops(stop: str) -> re.Pattern[str]:
    """The expression for a run of stops that starts with ``stop`` (and not after another stop),
    then closing quotes or brackets: group 1 when it ends the sentence whatever the words (a line
    break after it, or white space where the stop and the word before settle it, and a character
    after that cannot be lower case), group 2 when it may (the white space after it)."""
    tail = r"[.!?؟]*[\"'”’»)\]]*"
    settled = kept = ""
    if stop == ".":
        settled = rf"(?:{_plain_word()}|\.|(?={tail}\n))"
        # A lone full stop after an abbreviation, an initial or an acronym of 2 or 3 letters
        # (ASCII, after white space or at the start) never ends the sentence: not even group 2.
        kept = "|".join([*(rf"(?<=(?<!\S)(?:{_abbreviations(n)})\.)" for n in _LENGTHS),
                         *(r"(?<=(?<!\S)" + r"[A-Za-z]\." * n + ")" for n in (1, 2, 3))])
        kept = rf"(?!(?!\.)(?:{kept}))"
    return re.compile(
        re.escape(stop) + rf"(?<![.!?؟][.!?؟])(?:{settled}{tail}"
        rf"(\n\s*|[^\S\n]+(?=[A-Z0-9\"'“‘(«\[\u0600-\u06ff\n]|\Z))|{kept}{tail}([^\S\n]+))"
    )


_STOPS = [(c, _stops(c)) for c in ".!?؟"]
_NON_SPACE = re.compile(r"\S")
_ARABIC_JOIN = re.compile(r"\.{2,}(?=[^\S\n]+[\u0620-\u064a\u066e-\u06d3])")


def arabic_joins(text: str) -> str:
    """``text`` with each run of full stops that joins Arabic words (see the module docstring)
    written as as many U+2025 (two dot leader, no stop): the same offsets."""
    if ".." not in text:
        return text
    return _ARABIC_JOIN.sub(lambda m: "\u2025" * len(m.group()), text)


def _keeps_going(text: str, stop: int, end: int) -> bool:
    """True when the stop at ``text[stop]`` (white space after it up to ``end``) does not end
    the sentence."""
    if text[end : end + 1].islower():
        return True
    if text[stop] != "." or text[stop + 1] == "." or stop == 0 or text[stop - 1].isspace():
        return False  # not a lone full stop, or no word right before it
    width = 16
    while True:  # the word before the stop: widen the window until it holds white space
        chunk = text[max(0, stop - width) : stop]
        word = chunk.rsplit(None, 1)[-1]
        if len(word) < len(chunk) or width >= stop:
            break
        width *= 8
    word = word.lstrip(_OPENING)
    if word.lower() in _ABBREVIATIONS:
        return True
    if len(word) == 1 and word.isalpha():
        return True  # an initial
    return _ACRONYM.fullmatch(word + ".") is not None and "." in word


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Return ``(start, end)`` offsets of the sentences of ``text``, blank ones left out."""
    # Each line break as "\n" (same offsets): a sentence ends at a stop, a "\n" or the end.
    t = text.replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    t = arabic_joins(t)
    spans: list[tuple[int, int]] = []
    start = len(t) - len(t.lstrip())  # where the sentence being read starts
    newline = t.find("\n", start) % (len(t) + 1)  # the next line break from there (or the end)
    scans = [stops.finditer(t, start) for c, stops in _STOPS if c in t]
    for m in scans[0] if len(scans) == 1 else sorted(chain(*scans), key=re.Match.start):
        cut, end = m.span(1)
        if cut < 0:
            cut, end = m.span(2)
            if _keeps_going(t, m.start(), end):
                continue
        if cut <= newline:
            spans.append((start, cut))
        else:
            _add(spans, t, start, cut)
        if end > newline:
            newline = t.find("\n", end) % (len(t) + 1)
        start = end
    _add(spans, t, start, len(t))
    return spans


def _add(spans: list[tuple[int, int]], t: str, start: int, end: int) -> None:
    """Add each line of ``t[start:end]`` as a sentence, without the white space around it."""
    while found := _NON_SPACE.search(t, start, end):
        start = found.start()
        stop = t.find("\n", start, end)
        stop = end if stop < 0 else stop
        if t[stop - 1].isspace():
            stop = start + len(t[start:stop].rstrip())
        spans.append((start, stop))
        start = stop


# "BAGHDAD, May 27 (Reuters) - ", "ERBIL, Kurdistan Region — ", "DEIR EZ-ZOR, Syria (North
# Press) – ", "Shafaq News/ ", "Baghdad (AFP) - ": a first word in capitals (three letters or
# more, not an acronym such as ISIS) or an agency in brackets, at most 60 characters, ending in
# a dash or a slash. In Arabic (no capitals): one or two words, an agency in brackets, then a
# dash or a slash, a day and month and a colon or dash, an agency and a slash ("واشنطن - 24
# مارس: ", "بغداد (رويترز) - ", "بغداد/ شفق نيوز/ ", "دمشق - سانا - "): an Arabic sentence does
# not open with a dash after its second word.
_AR = "\u0621-\u064a"
_DATELINE = re.compile(
    r"\s*(?:(?!(?:ISIS|NATO|CENTCOM|IRGC|PMF)\b)[A-Z]{2}[A-Z'’.\-]+(?:\s+[A-Z][A-Z'’.\-]+)*\b"
    r"[^\n]{0,50}?\s[-–—]\s"
    r"|[A-Z][\w'’.\- ]{0,40}\([^()\n]{1,40}\)\s*[-–—:]\s"
    r"|[A-Z][\w'’.\- ]{0,30}/\s"
    rf"|[{_AR}]{{3,}}(?:\s[{_AR}]{{2,}})?\s*(?:\([^()\n]{{1,30}}\)\s*)?[-–—/]"
    rf"(?:\s*\d{{1,2}}\s+[{_AR}]+(?:\s+\d{{4}})?\s*[:،\-–—]"
    rf"|\s*[{_AR}]+(?:\s[{_AR}]+)?\s*[/\-–—])?\s)"
)


def dateline_end(text: str, start: int = 0, stop: int | None = None) -> int:
    """Where the wire dateline that opens ``text[start:stop]`` ends ("BAGHDAD, May 27 (Reuters)
    - "), or ``start`` when it opens with none: the place and day a story was filed, not its
    event's."""
    found = _DATELINE.match(text, start, len(text) if stop is None else stop)
    return found.end() if found else start
