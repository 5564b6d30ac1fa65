"""The fast matcher finds what the plain one finds: hit for hit, match for match.

The plain ways are kept here as the reference: for a scan, one automaton over the text with the
words as written and a check of both ends of every raw hit, then the folded automaton over the
whole folded view (``fold_view``); for ``normalise``, ``normalise_with_map``; for ``match`` and
``explain``, the evaluation without its whole-field shortcut. They are run over the seed reports,
the demo site pages, the examples of the shipped rules, hostile texts, and the benchmark's
synthetic 10,000-alias rule set (and, in ``test_match_fast_fold``, odd and random transliterated
names).
"""

from __future__ import annotations

import html
import importlib.util
import random
import re
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any
from weakref import WeakKeyDictionary

import pytest

from monitor.match import RuleSet, explain, load_rules, match
from monitor.match import engine as engine_module
from monitor.match.bounded import boundary_view, is_word, plain_automaton
from monitor.match.examples import example_article
from monitor.match.fold import ARTICLES, fold_view
from monitor.match.lexicon import Lexicon
from monitor.match.normalise import normalise, normalise_with_map

ROOT = Path(__file__).resolve().parents[1]
SEEDS = Path(__file__).parent / "data" / "seeds"
DEMO = ROOT / "monitor" / "demo" / "site"

Row = tuple[int, int, str, str, bool, bool]


# ---------------------------------------------------------------- the reference


def _ends_free(text: str, start: int, end: int) -> bool:
    before = start == 0 or not (text[start - 1].isalnum() or text[start - 1] == "_")
    return before and (end == len(text) or not (text[end].isalnum() or text[end] == "_"))


def _plain_hits(automaton: Any, text: str) -> Iterator[tuple[int, int, Any]]:
    for last, (size, payloads) in automaton.iter(text):
        start, end = last + 1 - size, last + 1
        if _ends_free(text, start, end):
            yield start, end, payloads


_REFERENCE: WeakKeyDictionary[Lexicon, tuple[Any, Any]] = WeakKeyDictionary()


def reference_scan(lexicon: Lexicon, text: str) -> list[Row]:
    """The scan as it was: raw hits checked one by one, then the whole text folded."""
    if lexicon not in _REFERENCE:
        _REFERENCE[lexicon] = (plain_automaton(lexicon._rows),
                                 plain_automaton(lexicon._folded_rows))
    exact, folded = _REFERENCE[lexicon]
    rows: list[Row] = []
    if exact is not None and text:
        for start, end, payloads in _plain_hits(exact, text):
            rows += [(start, end, label, key, ex, False) for key, label, ex in payloads]
    if folded is not None and text:
        view = fold_view(text)
        for start, end, payloads in _plain_hits(folded, view.text):
            lo, hi = view.span(start, end)
            rows += [(lo, hi, label, key, False, True) for key, label, _ in payloads]
    return rows


def fast_scan(lexicon: Lexicon, text: str) -> list[Row]:
    return [tuple(hit) for hit in lexicon.scan(text)]  # type: ignore[misc]


# ---------------------------------------------------------------- the texts


@cache
def shipped() -> RuleSet:
    return load_rules(ROOT / "rules")


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_match", ROOT / "bench" / "bench_match.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_match"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[RuleSet, list[dict[str, Any]]]:
    bench = _bench()
    entities = bench.synthetic_entities(10_000)
    directory = bench.rules_dir(shipped(), entities, tmp_path_factory.mktemp("bench"))
    return load_rules(directory), entities


def seeds() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))]


def demo_pages() -> list[str]:
    pages = []
    for page in sorted(DEMO.rglob("*.html")):
        text = re.sub(r"<[^>]+>", "\n", page.read_text(encoding="utf-8"))
        pages.append(html.unescape(text))
    return pages


def examples() -> list[str]:
    return [e.title + "\n" + e.text for e in shipped().examples]


HOSTILE = [
    "",
    " ",
    "\n\n",
    "U.S. forces, the U.S and the U.K. — U.S.A. troops; US-led strikes (u.s.).",
    "Kata'ib Hizballah, Kata’ib Hizbullah and Kataeb Hezbollah: al-Nujaba, el-Nujabaa.",
    "كتائب حزب الله قصفت قاعدة عين الأسد بصواريخ، وبالصواريخ، فالتنف والتنف.",
    "قَصَفَتْ كَتَائِبُ حِزْبِ اللهِ قَاعِدَةَ عَيْنِ الأَسَدِ",
    'ولكتايب "حزب الله" و(الحشد الشعبي) popular mobilization forces (pmf)',
    "Rockets hit Ain al-Asad airbase!!!…??? ...---... ''' ``` Ayn al-Assad airfield.",
    "al al al Kataib al al Hezbollah as an at Asaib as an Ahl al al Haq al",
    "the al kataib as hezbollah at an thawriyoun ash-sham az-zawra ed-din el",
    "x" * 5000 + " Kataib Hezbollah " + "ab" * 3000,
    "Kataib_Hezbollah kataib9hezbollah KATAIB HEZBOLLAH Kataib\u200bHezbollah kh-kh",
    "Ｋａｔａｉｂ Ｈｅｚｂｏｌｌａｈ ﬁrst ǅemal İstanbul straße ß",
    "Mixed кириллица Ελληνικά 中文 Kataib 한국어 Hezbollah ١٢٣ ۴۵۶ and ❤ emoji 🚀 rockets",
    "drone, drones; rocket-attack / rockets\tattack\r\nstrike\u2028strikes",
    "Sayyid, Sayyed, Seyyed, Sayyyyid al-Shuhada; Thawriyoun Thawriyyoun Thawriyooun",
    "'Hezbollah' \"Hezbollah\" «Hezbollah» (Hezbollah) [Hezbollah] {Hezbollah}",
    "Iraq's al-Assad's Asad's — it's the Assad base, not Asad base",
    "\x00Kataib\x00Hezbollah\x00 \ufeffAin\u00adal-Asad",
    "a" * 300 + " " + "al " * 200 + "hezbollah",
]


def hostile_random(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    words = (
        "kataib kata'ib kataeb hezbollah hizballah hizbullah harakat nujaba nujabaa asaib ahl "
        "haq haqq sayyid sayed shuhada thawriyoun thawriyun ain ayn asad assad base air "
        "airbase rocket rockets drone attack us forces troops iraq syria brigades the in of "
        "كتائب حزب الله عين الأسد صواريخ بصواريخ قاعدة u.s. u.k. united states"
    ).split() + sorted(ARTICLES)
    glue = [" ", " ", " ", ", ", "-", ". ", "\n", " (", ") ", "'", "’", ": ", "  ", "/", "…"]
    texts = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, 30)):
            word = rng.choice(words)
            if rng.random() < 0.2:
                word = word.capitalize()
            parts += [word, rng.choice(glue)]
        texts.append("".join(parts))
    return texts


# ---------------------------------------------------------------- the scan


def scan_texts() -> list[str]:
    raw = seeds() + demo_pages() + examples() + HOSTILE + hostile_random(1, 300)
    return raw + [normalise(t) for t in raw]


@pytest.mark.parametrize("rules", ["shipped", "fold-test"])
def test_scan_equals_the_reference(rules: str, tmp_path: Path) -> None:
    if rules == "shipped":
        ruleset = shipped()
    else:
        from tests.test_match_fold import RULES

        (tmp_path / "r.yaml").write_text(RULES, encoding="utf-8")
        ruleset = load_rules(tmp_path)
    for text in scan_texts():
        assert fast_scan(ruleset.lexicon, text) == reference_scan(ruleset.lexicon, text), text


def respelled(alias: str, rng: random.Random) -> str:
    """An alias respelled as transliterations differ: vowels, doubled letters, articles."""
    out = []
    for ch in alias:
        roll = rng.random()
        if ch in "aeiou" and roll < 0.3:
            out.append(rng.choice(["a", "e", "i", "o", "u", "aa", "ei", "y"]))
        elif ch.isalpha() and roll < 0.15:
            out.append(ch * 2)
        elif ch in " -" and roll < 0.3:
            out.append(rng.choice([" al-", " el ", " as an ", " ", "-", ", "]))
        else:
            out.append(ch)
    return "".join(out)


def test_scan_equals_the_reference_with_10000_aliases(
    synthetic: tuple[RuleSet, list[dict[str, Any]]],
) -> None:
    ruleset, entities = synthetic
    rng = random.Random(5)
    militias = [a for e in entities if e.get("transliterated") for a in e["aliases"]]
    bases = [a for e in entities if e["kind"] == "base" for a in e["aliases"]]
    texts = demo_pages()[:6] + seeds()[:2]
    for _ in range(60):
        texts.append(
            f"Rockets struck {rng.choice(bases)} on Monday. {rng.choice(militias)} claimed it; "
            f"{respelled(rng.choice(militias), rng)} and {respelled(rng.choice(militias), rng)} "
            f"denied it, as an al-{rng.choice(militias)} spokesman said."
        )
    for text in texts:
        for form in (text, normalise(text)):
            assert fast_scan(ruleset.lexicon, form) == reference_scan(ruleset.lexicon, form)


ODD_KEYS = [
    "hezbollah (lebanon)", "(pmf)", '"the base"', "a.b", "a,b", "a b", "a/b.", "...", "'",
    "«حزب الله»", 'كتايب "حزب الله"', "x  y", "k-1 (kirkuk)", "ab_c (d)", "_", "(", "c (d)",
]


def test_keys_with_other_non_word_characters_are_found_as_the_reference_finds_them() -> None:
    lexicon = Lexicon(kinds={"place": [(k, k) for k in ODD_KEYS]}, terms={"odd": ODD_KEYS})
    assert lexicon._exact._others is not None  # a.b and a,b share a view; "..." has no word
    rng = random.Random(3)
    pieces = [*ODD_KEYS, "a", "b", "c", "d", "hezbollah", "lebanon", "pmf", "x", "y", "حزب الله"]
    glue = ["", " ", "  ", "(", ")", ".", ",", '"', "«", "»", "\n", "_", "-", "/", "a", "é"]
    texts = [" ".join(ODD_KEYS), "".join(ODD_KEYS), *ODD_KEYS]
    for _ in range(2000):
        texts.append("".join(rng.choice(pieces) + rng.choice(glue) for _ in range(12)))
    found = 0
    for text in texts:
        fast = fast_scan(lexicon, text)
        assert fast == reference_scan(lexicon, text), text
        found += len(fast)
    assert found > 10_000


def test_the_boundary_view_marks_exactly_the_non_word_characters() -> None:
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    view = boundary_view(every)
    assert len(view) == len(every) + 2
    assert all((v == " ") != is_word(c) for v, c in zip(view[1:-1], every, strict=True))
    assert all(is_word(c) == bool(re.fullmatch(r"\w", c)) for c in every)
    assert boundary_view("\ud800a\udfff") == "  a  "


# ---------------------------------------------------------------- normalise


def test_normalise_equals_normalise_with_map() -> None:
    rng = random.Random(2)
    alphabet = list("aU.s -'’‘`ʼAirbase uniTed States\t\n\u200b\u00adéßﬁİكیةأـً٣۴“”«»—–‐x_9")
    texts = scan_texts() + ["".join(rng.choice(alphabet) for _ in range(40)) for _ in range(3000)]
    texts += ["u.s.a. u.k. u.s united states airbases airfield", "\ud800x\udfff"]
    for text in texts:
        assert normalise(text) == normalise_with_map(text)[0], text


# ---------------------------------------------------------------- match and explain


def _articles() -> list[Any]:
    texts = seeds() + demo_pages() + examples() + HOSTILE + hostile_random(3, 120)
    found = [example_article(t) for t in texts]
    found += [example_article(t, title=t.split("\n")[0][:200]) for t in texts[:40]]
    return found


def _outcomes(ruleset: RuleSet, articles: list[Any]) -> list[Any]:
    return [(match(a, ruleset), explain(a, ruleset)) for a in articles]


def test_match_and_explain_equal_the_reference(
    synthetic: tuple[RuleSet, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    articles = _articles()
    for ruleset in (shipped(), synthetic[0]):
        fast = _outcomes(ruleset, articles)
        with monkeypatch.context() as patch:  # every rule looked for in every field
            patch.setattr(engine_module, "possible", lambda rule, field: True)
            plain = _outcomes(ruleset, articles)
        assert fast == plain
        assert any(m for m, _ in fast)  # the texts do match something


def test_a_field_that_cannot_match_is_not_placed() -> None:
    from monitor.match.field import FieldText

    field = FieldText("Nothing here but weather in Erbil.", shipped().lexicon)
    for rule in shipped().rules:
        assert not engine_module.possible(rule, field)
    assert "_hits" not in vars(field) and "sentences" not in vars(field)
