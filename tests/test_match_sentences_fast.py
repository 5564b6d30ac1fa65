"""The fast sentence splitter gives exactly what the plain one gave, for every text.

``_reference_split`` is the plain splitter as it was (a ``re.finditer`` per line, the sentence so
far sliced and split for every candidate end), kept here verbatim as the reference. Both are run
over the demo site pages (their text as trafilatura extracts it), the seed reports, the
benchmark corpus, hand-written edge cases, 10,000 random texts made of the pieces that matter
(stops, closing quotes, abbreviations, initials, acronyms, odd white space and line breaks) and a
1 MB line. The facts about Python's Unicode tables that the fast expressions rely on are checked
for every code point.
"""

from __future__ import annotations

import importlib.util
import random
import re
import string
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest
import trafilatura

from monitor.match.sentences import _STOPS, arabic_joins, split_sentences

ROOT = Path(__file__).resolve().parents[1]
SEEDS = (Path(__file__).parent / "data" / "seeds", Path("/work/shared/seeds"))

# --- the reference: monitor/match/sentences.py before it was made fast, verbatim -------------

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


def _reference_split(text: str) -> list[tuple[int, int]]:
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


# --- texts ----------------------------------------------------------------------------------


def _same(texts: list[str]) -> None:
    for text in texts:  # the reference predates arabic_joins: it is given its output
        assert split_sentences(text) == _reference_split(arabic_joins(text)), text[:200]


def _extract(page: bytes | str) -> list[str]:
    """The text and title of a page, as the extract stage takes them."""
    doc = trafilatura.bare_extraction(page, url="http://127.0.0.1/", with_metadata=True,
                                      include_comments=False, include_tables=False)
    fields = [getattr(doc, name, None) for name in ("text", "title")] if doc else []
    return [value for value in fields if isinstance(value, str)]


@cache
def _demo_texts() -> list[str]:
    pages = sorted((ROOT / "monitor" / "demo" / "site").rglob("*.html"))
    return [text for page in pages for text in _extract(page.read_bytes())]


def _load(name: str) -> ModuleType:
    """A module of bench/ (which imports its siblings by their bare names)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_PIECES = [
    # words: plain, short, long, abbreviations in any case, initials, acronyms, odd letters
    "said", "Iraq", "base", "forces", "attack", "Revolutionaries", "x" * 40, "2024", "3.5", "_",
    "Mr", "mr", "MR", "Mrs", "Brig", "Gen", "approx", "APPROX", "Sept", "sept", "Co", "etc", "no",
    "J", "j", "É", "é", "U.S", "e.g", "a.b.c", "A.B", "ab.cdefgh", "abcdef", "abcdefg", "Asad’s",
    "K\u212a", "\u212ao", "ſt", "İnc", "Σ", "ª", "ⓐ", "ع", "كتائب", "Türkiye", "al-Asad", "x_y",
    # stops and what may follow them
    ".", ".", ".", "..", "...", "…", "!", "?", "?!", "!?", "؟", ".!", "!.", ".?",
    '."', ".)", ".»", ".”", ".’", ".]", "’", "”", "»", ")", "]",
    '"', "'", "“", "‘", "(", "«", "[", '("', "(((", '"' * 20,
    # white space and line breaks
    " ", " ", " ", " ", "  ", "\t", "\xa0", "\u2009", "\x0b", "\x0c", "\x1c", "\x85", "\u3000",
    "\n", "\r\n", "\r", "\u2028", "\u2029", "\n\n", " \n ",
    # what starts the next word
    "A", "B", "Z", "z", "1", "The", "the", "Al", "“The",
]

EDGE_CASES = [
    "",
    " ",
    "\n",
    " \t\xa0\u2028\u2029\r\n ",
    "Pentagon Press Secretary Brig. Gen. Pat Ryder said it. Injuries were reported.",
    "Defense Secretary Lloyd J. Austin III spoke. He left.",
    "U.S. forces were hit. The U.S. said so. Iraq, e.g. this one. And E.G. That.",
    "Was it?! Yes... No… Maybe?? Fine!!! Then. So.? What.! Now",
    'He said "stop." Then (see below.) And «fin.» Puis ’quote.’ More [sic.] Last.',
    "هل هذا صحيح؟ نعم. قال مسؤول؟ لا",
    "it ended. then it went on. And then it stopped.",
    ". Starts with a stop. ? And another. ! Third",
    "Ends with a stop.",
    "Ends with stops and space.   ",
    "One\r\nTwo.\rThree\u2028Four.\u2029Five.\n\nSix\n \nSeven.  \n  Eight",
    "Tabs.\tNext.\t\tOne\xa0more.\xa0Then\u3000the.\u3000End",
    "x" * 5000 + ". Next one. " + "(" * 100 + "J. Still " + "é" * 300 + ". Then",
    "a word . Next",
    "no stops at all in this text at all",
    "Mr.\nSmith came. U.S.\nThen Mr.   \nJones. U.S.  \n Then.",
    "Approx. ten. APPROX. Ten. Sept. Ten. Co. Ltd. Inc. Corp. The End.",
    "Kelvin \u212ao. Next. Long ſt. Next. İnc. Next. Σ. Next. ª. Next. ⓐ. ⓐnd.",
    "In 2024. Next. It was 3.5. Next. A.B. Next. a.b. next. x_. Next. _. Next",
    "...\n...\n. . . Next. ..",
    '"Hi." "There." (Yes.) [No.] «Oui.» “Si.” ‘No.’ Done.',
    "?",
    "!",
    "؟",
    ".",
    "...",
    "A.",
    "Mr.. Next. Mr.! Next. J.. Next. J.? Next. U.S.. Next. U.S.! Next. He said. Then he said. É",
    "Mr.. Élan. Mr.! Élan. J.. Élan. U.S.. Élan. U.S.! Élan. Mr.. élan. Gen. Élan",
    "Mr. ",
    " Mr. Smith",
]


@pytest.mark.parametrize("text", EDGE_CASES)
def test_same_as_reference_on_edge_cases(text: str) -> None:
    _same([text])


def test_some_edge_cases_split_as_the_rules_say() -> None:
    text = "Brig. Gen. Smith met Lloyd J. Austin. U.S. forces left!\nIt was 3.5 km. ok?! Yes"
    assert [text[a:b] for a, b in split_sentences(text)] == [
        "Brig. Gen. Smith met Lloyd J. Austin.", "U.S. forces left!", "It was 3.5 km. ok?!", "Yes"]
    assert split_sentences("") == [] and split_sentences(" \n\t ") == []


def test_two_stops_join_arabic_words_and_end_other_sentences() -> None:
    headline = "في ذكراه السنوية.. ماذا تبقى من القصف الإيراني على عين الأسد؟"
    assert split_sentences(headline) == [(0, len(headline))]
    urgent = "عاجل... قصف يستهدف قاعدة عين الأسد. وتبنت فصائل الهجوم"
    assert [urgent[a:b] for a, b in split_sentences(urgent)] == [
        "عاجل... قصف يستهدف قاعدة عين الأسد.", "وتبنت فصائل الهجوم"]
    english = "Rockets hit the base.. Then drones came... Nobody was hurt.. عاجل"
    assert [english[a:b] for a, b in split_sentences(english)] == [
        "Rockets hit the base..", "Then drones came...", "Nobody was hurt.. عاجل"]
    assert split_sentences("قصف.. \nعاجل") == [(0, 5), (7, 11)]  # a line break still ends it


def test_same_as_reference_on_demo_site_pages() -> None:
    texts = _demo_texts()
    assert len(texts) >= 40  # the 21 pages' texts and titles
    _same(texts)


def test_same_as_reference_on_seed_reports() -> None:
    texts = [path.read_text(encoding="utf-8") for folder in SEEDS if folder.is_dir()
             for path in sorted(folder.glob("*.txt"))]
    assert len(texts) >= 5
    _same(texts)


def test_same_as_reference_on_bench_corpus() -> None:
    _load("layouts")
    corpus = _load("corpus")
    articles = corpus.Corpus(corpus.Spec(articles=200), 8000)
    texts = []
    for i in range(200):
        article = articles.article(i)
        texts += [article.title, "\n".join(article.paragraphs), "\n\n".join(article.paragraphs),
                  " ".join(article.paragraphs)]
        if i % 20 == 0:
            texts += _extract(articles.page(i))
    _same(texts)


def test_same_as_reference_on_random_texts() -> None:
    rng = random.Random(20240805)
    texts = []
    for _ in range(10_000):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(0, 40)))
        if rng.random() < 0.2:  # shuffled characters: runs and pairs no piece has
            text = "".join(rng.sample(text, len(text)))
        if rng.random() < 0.1:  # any character at all, here and there
            chars = list(text)
            for _ in range(rng.randint(1, 4)):
                chars.insert(rng.randint(0, len(chars)), chr(rng.randrange(0x110000)))
            text = "".join(chars)
        texts.append(text)
    _same(texts)


def test_same_as_reference_for_every_abbreviation() -> None:
    texts = []
    for word in sorted(_ABBREVIATIONS):
        for form in (word, word.capitalize(), word.upper(), word[:-1] + word[-1].upper()):
            texts.append(f"{form}. Next {form}. next ({form}. Next x{form}. Next “{form}.” Next")
            texts.append(f'"{form}. Next x({form}. Next {form}.\n{form}. 1 {form}.')
    _same(texts)


@pytest.mark.parametrize(("letters", "longest"), [("aA.1é(\u212a_", 4), ("a.(", 8)])
def test_same_as_reference_on_every_short_word(letters: str, longest: int) -> None:
    words = [""]
    for _ in range(longest):
        words += [word + c for word in words if len(word) == len(words[-1]) for c in letters]
    _same([f"{word}. Next x {word}. next {word}.) Next" for word in words])


def test_same_as_reference_on_a_megabyte_line() -> None:
    rng = random.Random(7)
    pieces = [p for p in _PIECES if not re.search(r"[\n\r\u2028\u2029]", p)]
    parts: list[str] = []
    size = 0
    while size < 1_000_000:
        sentence = " ".join(rng.choice(pieces) for _ in range(rng.randint(3, 25))) + ". The"
        parts.append(sentence)
        size += len(sentence) + 1
    text = " ".join(parts)
    spans = split_sentences(text)
    assert len(spans) > 10_000
    assert spans == _reference_split(arabic_joins(text))


def test_unicode_facts_the_expressions_rely_on() -> None:
    """What the lookbehinds and lookaheads of ``_STOPS`` take for granted, for every character:
    ``\\s`` is ``str.isspace``; a character that is no letter for ``re`` is not alphabetic; only
    ASCII letters and the Kelvin sign have a lower case made of ASCII letters (or ending in one),
    and no lower case is empty; nothing the "not lower case" class takes is lower case."""
    space = re.compile(r"\s")
    letter = re.compile(r"[^\W\d_]")
    ascii_letters = set(string.ascii_letters + "\u212a")
    lower = set(string.ascii_lowercase)
    after = re.compile(r"[A-Z0-9\"'“‘(«\[\u0600-\u06ff\n]")
    assert after.pattern[1:-1] in _STOPS[0][1].pattern
    for c in map(chr, range(0x110000)):
        assert (space.match(c) is not None) is c.isspace()
        assert letter.match(c) or not c.isalpha()
        low = c.lower()
        assert low
        if c not in ascii_letters:
            assert low[-1] not in lower and not set(low) <= lower
        assert not (after.match(c) and c.islower())
