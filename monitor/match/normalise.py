"""Text folding shared by aliases and article text, so that spellings meet.

Both sides go through :func:`normalise`: Unicode NFKC, casefold, combining marks (Latin accents,
Arabic harakat) stripped, Arabic letter variants unified (أ إ آ ٱ → ا, ى → ي, ة → ه, tatweel
dropped, Persian ی ک → ي ك, Arabic-Indic digits → 0-9), apostrophes and dashes unified, quotes
read as spaces (قاعدة "حرير" is قاعدة حرير: the press quotes a base's name),
"U.S." and "United States" → "us", apostrophes inside words dropped ("kata'ib" → "kataib",
but "iraq's" → "iraq s"), hyphens → spaces ("al-asad" → "al asad"), "airbase" → "air base",
whitespace collapsed.

:func:`normalise_with_map` also returns, for every character of the folded text, the index of the
character of the original text it came from, so evidence can be cut out of the original;
:func:`normalise` makes the same text without the map, at C speed where it can (``str.translate``
and the same regex substitutions).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

_APOSTROPHES = "'’‘ʼʻ`´′ʹʾʿ"  # look-alikes, on purpose
_QUOTES = '"“”„‟«»″'
_DASHES = "‐‑‒–—―−﹘﹣－"
_ZERO_WIDTH = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u200e", "\u200f", "\u00ad"}

_ARABIC_MAP = {
    "أ": "ا",
    "إ": "ا",
    "آ": "ا",
    "ٱ": "ا",
    "ى": "ي",
    "ی": "ي",
    "ئ": "ي",
    "ؤ": "و",
    "ة": "ه",
    "ک": "ك",
    "ـ": "",  # tatweel
    "ء": "",  # lone hamza: spelled or not
}
_DIGITS = {chr(0x0660 + i): str(i) for i in range(10)} | {
    chr(0x06F0 + i): str(i) for i in range(10)
}


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    """Fold one character; may return "" (dropped) or several characters."""
    if ch in _APOSTROPHES:
        return "'"
    if ch in _QUOTES:
        return " "  # a quoted name is the name: قاعدة "حرير", the "Victory" base
    if ch in _DASHES:
        return "-"
    if ch in _ZERO_WIDTH:
        return ""
    if ch.isspace():
        return " "
    if ch in _DIGITS:
        return _DIGITS[ch]
    text = unicodedata.normalize("NFKC", ch).casefold()
    text = unicodedata.normalize("NFD", text)
    out = []
    for c in text:
        if unicodedata.category(c) == "Mn":
            continue
        if c in _ARABIC_MAP:
            out.append(_ARABIC_MAP[c])
        elif unicodedata.category(c) == "Cf":
            continue
        else:
            out.append(c)
    return unicodedata.normalize("NFC", "".join(out))


_ASCII = {i: _fold_char(chr(i)) for i in range(128)}  # one character each


class _Folds(dict[int, str]):
    """Code point → its fold, filled as characters are met (a table for ``str.translate``)."""

    def __missing__(self, code: int) -> str:
        if len(self) > 100_000:
            self.clear()
            self.update(_ASCII)
        folded = self[code] = _fold_char(chr(code))
        return folded


_FOLDS = _Folds(_ASCII)


def _fold_chars(text: str) -> tuple[str, list[int]]:
    """Fold each character of ``text``, with the origin of each folded character."""
    if text.isascii():
        return text.translate(_ASCII), list(range(len(text)))
    out: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        folded = _ASCII[ord(ch)] if ch.isascii() else _fold_char(ch)
        out.append(folded)
        origin.extend([i] * len(folded))
    return "".join(out), origin


def _spread(size: int, replaced: list[int]) -> list[int]:
    """The origins of a replacement of ``size`` characters, spread over the origins of the
    characters it replaces: its first on the first, its last on the last ("U.S." → "us": "s" on
    the last "."; "airbase" → "air base": "e" on "e"), so spans cut from the original keep their
    ends."""
    if not replaced or size == 0:
        return []
    if size == 1:
        return [replaced[0]]
    last = len(replaced) - 1
    return [replaced[round(k * last / (size - 1))] for k in range(size)]


Mapped = tuple[str, list[int]]  # a folded text and, per character, its original index


def _sub(pattern: re.Pattern[str], repl: Callable[[re.Match[str]], str], mapped: Mapped) -> Mapped:
    """Apply a regex substitution to a mapped text, keeping the map."""
    text, origin = mapped
    if pattern.search(text) is None:
        return mapped
    parts: list[str] = []
    out: list[int] = []
    pos = 0
    for m in pattern.finditer(text):
        replacement = repl(m)
        parts += [text[pos : m.start()], replacement]
        out += origin[pos : m.start()]
        out += _spread(len(replacement), origin[m.start() : m.end()])
        pos = m.end()
    parts.append(text[pos:])
    out += origin[pos:]
    return "".join(parts), out


_US = re.compile(r"(?<![\w.])u\.\s?s\.(?:\s?a\.)?(?!\w)|(?<![\w.])u\.s(?=[\s\-,;:\"')]|$)")
_UK = re.compile(r"(?<![\w.])u\.k\.(?!\w)")
_UNITED_STATES = re.compile(r"(?<!\w)united states(?!\w)")
_APOS = re.compile("'")  # inside a word or not: _apostrophe looks at the characters around it
_HYPHEN = re.compile(r"-+")
_AIRBASE = re.compile(r"(?<!\w)air(base|field)(s?)(?!\w)")
_SPACES = re.compile(r" {2,}")


def _us(m: re.Match[str]) -> str:
    return "usa" if m.group().rstrip(".").endswith("a") else "us"


def _apostrophe(m: re.Match[str]) -> str:
    text = m.string
    start, end = m.start(), m.end()
    inside = start > 0 and end < len(text) and text[start - 1].isalnum() and text[end].isalnum()
    if not inside:
        return " "
    possessive = text[end] == "s" and (end + 1 == len(text) or not text[end + 1].isalnum())
    return " " if possessive else ""


def _airbase(m: re.Match[str]) -> str:
    return f"air {m.group(1)}{m.group(2)}"


def normalise_with_map(text: str) -> tuple[str, list[int]]:
    """Fold ``text``; return the folded text and, per folded character, its original index."""
    mapped = _fold_chars(text)
    if "u." in mapped[0]:
        mapped = _sub(_US, _us, mapped)
        mapped = _sub(_UK, lambda m: "uk", mapped)
    if "'" in mapped[0]:
        mapped = _sub(_APOS, _apostrophe, mapped)
    if "-" in mapped[0]:
        mapped = _sub(_HYPHEN, lambda m: " ", mapped)
    if "united states" in mapped[0]:
        mapped = _sub(_UNITED_STATES, lambda m: "us", mapped)
    if "airbase" in mapped[0] or "airfield" in mapped[0]:
        mapped = _sub(_AIRBASE, _airbase, mapped)
    if "  " in mapped[0]:
        mapped = _sub(_SPACES, lambda m: " ", mapped)
    folded, origin = mapped
    start = len(folded) - len(folded.lstrip(" "))
    end = len(folded.rstrip(" "))
    if start >= end:
        return "", []
    return folded[start:end], origin[start:end]


def normalise(text: str) -> str:
    """Fold ``text`` for matching (see the module docstring): ``normalise_with_map(text)[0]``."""
    folded = text.translate(_ASCII if text.isascii() else _FOLDS)
    if "u." in folded:
        folded = _US.sub(_us, folded)
        if "u.k." in folded:
            folded = _UK.sub("uk", folded)
    if "'" in folded:
        folded = _APOS.sub(_apostrophe, folded)
    if "-" in folded:
        folded = _HYPHEN.sub(" ", folded)
    if "united states" in folded:
        folded = _UNITED_STATES.sub("us", folded)
    if "airbase" in folded or "airfield" in folded:
        folded = _AIRBASE.sub(_airbase, folded)
    if "  " in folded:
        folded = _SPACES.sub(" ", folded)
    return folded.strip(" ")


def dropped(ch: str) -> bool:
    """True for a character the folding leaves out (a lone hamza, tatweel, harakat, a zero-width
    character): it belongs to the word it touches."""
    return not ch.isascii() and _FOLDS[ord(ch)] == "" and not ch.isspace()


def is_arabic(text: str) -> bool:
    """True when the first letter of ``text`` is in the Arabic script."""
    for ch in text:
        if ch.isalpha():
            return "\u0600" <= ch <= "\u06ff" or "\u0750" <= ch <= "\u077f"
    return False
