"""Transliteration folding: Latin spellings of one Arabic name meet on a *skeleton*.

Only the aliases of entities marked ``transliterated: true`` are folded, and only those long
enough to stay specific (see :func:`foldable`); the article text gets a second, folded view
(:func:`fold_view`) that keeps a map back to the normalised text. Both sides are normalised first
(so apostrophes inside words are already gone: "Kata'ib", "Kata’ib", "Kataʿib" → "kataib"). A
lexicon folds only the stretches of a text where a folded alias could be (:mod:`.foldgate`), which
finds what folding the whole text would.

Folding a text, word by word:

* Arabic article words joined to the next word are dropped: "al", "el", "ul", "il" and the
  sun-letter forms "ad", "an", "ar", "as", "ash", "at", "az", "ed", "es", "et", "ez"
  ("Harakat el-Nujaba" → "harakat nujaba", "Al-Thawriyoun" → "thawriyoun");
* in a word of Latin letters, doubled letters are one ("Haqq" → "haq", "Sayyid" → "sayid",
  "Assad" → "asad"); "y" is a vowel after a letter when no vowel follows it ("Ayn", "Asayb"),
  otherwise a consonant ("Sayid", "Thawriyoun");
* the first letter of a word is kept as written, a vowel one with the vowels that follow it
  ("Ain", "Ayn" → "an"; "in" stays "in", so "in al-Assad" is not "Ain al-Asad");
* every other run of vowels is one "a" ("Kataib", "Kataeb" → "katab"; "Hezbollah", "Hizballah",
  "Hizbullah" → "hazbalah"; "Shuhada", "Shohada" → "shahada"; "Thawriyoun", "Thawriyun" →
  "thawrayan").

Consonants are never changed (q/k, dh/z, kh/h stay apart), no content word is ever dropped, and a
skeleton is only made of an alias with at least :data:`MIN_LETTERS` letters outside article words
and generic English words ("base", "air", "brigades"…) and :data:`MIN_SKELETON` characters once
folded: "Asad base" is not folded (so "Assad base" is not Ain al-Asad), nor are "al-Nujaba" or
"Ain al-Asad" (7 letters); "Ain Assad", "Harakat al-Nujaba" and "Thawriyoun" are.
"""

from __future__ import annotations

import bisect
import re
from functools import lru_cache
from itertools import accumulate

from monitor.match.normalise import is_arabic, normalise

MIN_LETTERS = 8  # letters of an alias outside generic English words
MIN_SKELETON = 6  # characters of its skeleton, spaces left out

ARTICLES = frozenset(
    {"al", "el", "ul", "il", "ad", "an", "ar", "as", "ash", "at", "az", "ed", "es", "et", "ez"}
)
GENERIC = frozenset(
    """
    air airbase airfield airport base bases camp field gas oil site station military garrison
    brigade brigades battalion battalions company corps force forces group movement organization
    organisation committee units unit front the of in and for
    """.split()
)
_VOWELS = frozenset("aeiou")
_LATIN = re.compile(r"[a-z]+")
_TOKEN = re.compile(r"\w+")

Spans = tuple[tuple[int, int], ...]  # per folded character, its span in the folded word


@lru_cache(maxsize=65536)
def fold_word(word: str) -> tuple[str, Spans]:
    """The skeleton of one normalised word, and for each of its characters the span of the
    letters of ``word`` it stands for. Words not made of Latin letters only are kept as they are."""
    if not _LATIN.fullmatch(word):
        return word, tuple((i, i + 1) for i in range(len(word)))
    letters: list[tuple[str, int, int]] = []
    for i, ch in enumerate(word):
        if letters and letters[-1][0] == ch:
            letters[-1] = (ch, letters[-1][1], i + 1)
        else:
            letters.append((ch, i, i + 1))
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    previous_vowel = False
    for j, (ch, lo, hi) in enumerate(letters):
        after = letters[j + 1][0] if j + 1 < len(letters) else ""
        vowel = ch in _VOWELS or (ch == "y" and j > 0 and after not in _VOWELS)
        if vowel and previous_vowel:
            spans[-1] = (spans[-1][0], hi)  # the run goes on
        else:
            out.append(ch if not vowel or j == 0 else "a")
            spans.append((lo, hi))
        previous_vowel = vowel
    return "".join(out), tuple(spans)


_SPLIT = re.compile(r"((?<!\w)(?:" + "|".join(sorted(ARTICLES)) + r") (?=\w)|\w+)")
_MEMO: dict[str, str] = {}


def _fold_piece(word: str) -> str:
    folded = _MEMO.get(word)
    if folded is None:
        if len(_MEMO) > 100_000:
            _MEMO.clear()
        folded = _MEMO[word] = "" if word[-1] == " " else fold_word(word)[0]
    return folded


class FoldedView:
    """A normalised text folded, with a map back: ``span`` turns a span of the folded text into
    the span of the normalised text it came from. Words are folded (article words dropped with
    the space after them), the gaps between them kept as they are."""

    def __init__(self, text: str) -> None:
        self._source = _SPLIT.split(text)  # gap, word, gap, word, …, gap
        self._pieces = list(self._source)
        self._pieces[1::2] = [_fold_piece(w) for w in self._source[1::2]]
        self.text = "".join(self._pieces)
        self._ends: list[int] = []
        self._starts: list[int] = []

    def _origin(self, offset: int) -> tuple[int, int]:
        if not self._ends:  # made on the first call: folded hits are rare
            self._ends = list(accumulate(map(len, self._pieces)))
            self._starts = [0, *accumulate(map(len, self._source))]
        index = bisect.bisect_right(self._ends, offset)
        local = offset - (self._ends[index] - len(self._pieces[index]))
        start = self._starts[index]
        if index % 2 == 0:  # a gap, kept as it is
            return start + local, start + local + 1
        lo, hi = fold_word(self._source[index])[1][local]
        return start + lo, start + hi

    def span(self, start: int, end: int) -> tuple[int, int]:
        return self._origin(start)[0], self._origin(end - 1)[1]


def fold_view(text: str) -> FoldedView:
    """Fold a normalised text (see the module docstring), keeping the map back to it."""
    return FoldedView(text)


def skeleton(alias: str) -> str:
    """The folded form of an alias, as it is looked for in the folded view of a text."""
    return fold_view(normalise(alias)).text.strip()


def foldable(alias: str) -> bool:
    """True when ``alias`` is long and specific enough to be matched through folding."""
    norm = normalise(alias)
    if not norm or is_arabic(norm):
        return False
    words = _TOKEN.findall(norm)
    if not all(_LATIN.fullmatch(w) or w.isdigit() for w in words):
        return False
    words = [w for w in words if not w.isdigit()]
    letters = sum(len(w) for w in words if w not in GENERIC and w not in ARTICLES)
    return letters >= MIN_LETTERS and len(skeleton(alias).replace(" ", "")) >= MIN_SKELETON
