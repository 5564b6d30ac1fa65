"""The fold gate finds every folded alias folding the whole text finds: keys with more gaps than a
gate key covers, gaps of punctuation and digits, a key with no consonant to see, articles in a
row, brackets at the edges, and random transliterated names respelled (see ``test_match_fast``
for the reference scan)."""

from __future__ import annotations

import random
from itertools import pairwise
from pathlib import Path

from monitor.errors import RuleError
from monitor.match import RuleSet, load_rules
from monitor.match.fold import ARTICLES, fold_word
from monitor.match.foldgate import project
from monitor.match.normalise import normalise
from tests.test_match_fast import fast_scan, hostile_random, reference_scan, respelled

RULE = """\
terms:
  attack: [rocket]
rules:
  - {id: r, title: R, severity: low, all: [{kind: militia}, {terms: attack}]}
"""  # one rule: a militia and an attack word

ODD = """\
entities:
  - {id: long, kind: militia, name: Long, transliterated: true,
     aliases: ["Harakat Hezbollah al-Nujaba Kataib Sayyid al-Shuhada wal-Thawriyoun"]}
  - {id: gap, kind: militia, name: Gap, transliterated: true,
     aliases: ["(Kataib) Hezbollah, Brigades", "Saraya Awliya al-Dam 313"]}
  - {id: vowels, kind: militia, name: Vowels, transliterated: true,
     aliases: [Yayayaya Yoyoyoyo]}
  - {id: tail, kind: militia, name: Tail, transliterated: true, aliases: [Thawriyoun al]}
""" + RULE

ODD_TEXTS = [
    "harakat al hizballah el-nujabaa kataeb as an sayyed al-shohada wal thawriyun said",
    "Harakat Hizbullah an-Nujaba Kata'ib Sayed ash-Shuhada wal-Thawriyyoun, then a rocket",
    "(Kataeb) Hizballah, brigades; (kataib) hezbollah, as an brigades; (Kata'ib) al Hizbollah,",
    "saraya awliyaa al-dam 313 and saraya el dam 313, yayayaya yoyoyoyo, Yeyeyeye yuyuyu",
    "thawriyoon al kataib; thawriyoun al; Thawriyyoun al-Nujaba; thawriyoun el, al al al",
]


def militias(directory: Path, entities: str) -> RuleSet:
    """The rule set of ``entities`` (YAML) and :data:`RULE`, written to ``directory``."""
    (directory / "r.yaml").write_text(entities + RULE, encoding="utf-8")
    return load_rules(directory)


def test_scan_equals_the_reference_for_odd_keys(tmp_path: Path) -> None:
    """A key with more gaps than a gate key covers, gaps of punctuation, digits, a key with no
    consonant to see (every text is folded whole), a key that ends on an article."""
    (tmp_path / "r.yaml").write_text(ODD, encoding="utf-8")
    ruleset = load_rules(tmp_path)
    gate = ruleset.lexicon._gate
    assert gate is not None and gate.whole
    texts = ODD_TEXTS + hostile_random(4, 100)
    for text in texts + [normalise(t) for t in texts]:
        assert fast_scan(ruleset.lexicon, text) == reference_scan(ruleset.lexicon, text), text
    (tmp_path / "r.yaml").write_text(ODD.replace("aliases: [Yayayaya Yoyoyoyo]", "aliases: []"))
    ruleset = load_rules(tmp_path)
    gate = ruleset.lexicon._gate
    assert gate is not None and not gate.whole
    folded = 0
    for text in texts + [normalise(t) for t in texts]:
        rows = reference_scan(ruleset.lexicon, text)
        assert fast_scan(ruleset.lexicon, text) == rows, text
        folded += sum(1 for row in rows if row[5])
    assert folded >= 5


def test_articles_in_a_row_inside_a_key_with_brackets(tmp_path: Path) -> None:
    """Two articles in a row leave the gate key; the text around them is folded, as far as the
    bracket a key may start or end with."""
    ruleset = militias(tmp_path, """\
entities:
  - {id: kh, kind: militia, name: Kataib Hezbollah, transliterated: true,
     aliases: ["(Kataib) Hezbollah Brigades", "Harakat Nujaba (Iraq)"]}
""")
    texts = [
        "(kataeb) hizballah as an brigades",
        "x (kataeb) hizballah as an al brigades.",
        "harakat as an nujabaa (iraq)",
        "said harakat al an nujabaa (iraq) today",
    ]
    for text in texts:
        rows = reference_scan(ruleset.lexicon, text)
        assert [row for row in rows if row[5]], text
        assert fast_scan(ruleset.lexicon, text) == rows, text


def test_a_key_inside_a_longer_key_steps_the_gate_back(tmp_path: Path) -> None:
    """A longer key ending after a shorter one that it holds is reported after it but starts
    before it: the gate steps back to the longer key's first space, and both are found."""
    ruleset = militias(tmp_path, """\
entities:
  - {id: hz, kind: militia, name: Hezbollah, transliterated: true, aliases: [Hezbollah]}
  - {id: kh, kind: militia, name: Kataib Hezbollah Brigades, transliterated: true,
     aliases: ["Kataib Hezbollah Brigades", "Nujaba Sayyid al-Shuhada Forces Harakat"]}
  - {id: sy, kind: militia, name: Sayyid, transliterated: true, aliases: [Sayyid]}
""")
    gate = ruleset.lexicon._gate
    assert gate is not None
    words = ["kataeb hizballah brigades", "nujabaa sayed as-shuhada forces harakat", "hizbollah",
             "sayyed", "said", "kata'ib", "rocket", "al"]
    rng = random.Random(2)
    stepped = 0
    for _ in range(200):
        text = ", ".join(rng.choice(words) for _ in range(rng.randint(1, 40)))
        starts = [last - size for last, (size, _, _) in gate._gate.iter(project(f" {text} "))]
        stepped += sum(1 for a, b in pairwise(starts) if b < a)
        for form in (text, normalise(text)):
            rows = reference_scan(ruleset.lexicon, form)
            assert fast_scan(ruleset.lexicon, form) == rows, form
    assert stepped > 100


_SYLLABLES = (
    "ka ta ib hez bol lah ha ra kat nu ja ba sa yy id shu da thaw ri you n ai as ad al el an "
    "ash ud di in qa su lay ma ni ya yo"
).split()


def _random_rules(rng: random.Random) -> str:
    """Transliterated aliases of many words, with articles, commas and brackets in them."""
    def word() -> str:
        return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))

    lines = ["entities:"]
    for index in range(rng.randint(1, 10)):
        aliases = []
        for _ in range(rng.randint(1, 3)):
            count = rng.randint(1, 6)
            glue = [" ", " ", " al-", " el ", ", ", " (", ") ", "-", " as an "]
            alias = "".join(
                word().capitalize() + (rng.choice(glue) if i < count - 1 else "")
                for i in range(count)
            )
            alias = "(" + alias + ")" if rng.random() < 0.2 else alias
            aliases.append(alias + (" al" if rng.random() < 0.1 else ""))
        lines.append(
            f"  - {{id: e{index}, kind: militia, name: Entity number {index}, "
            f"transliterated: true, aliases: {aliases!r}}}"
        )
    lines += ["terms:", "  t: [rocket]", "rules:"]
    lines.append("  - {id: r, title: R, severity: low, all: [{kind: militia}, {terms: t}]}")
    return "\n".join(lines) + "\n"


def test_scan_equals_the_reference_for_random_transliterated_names(tmp_path: Path) -> None:
    rng = random.Random(11)
    folded = 0
    for trial in range(12):
        directory = tmp_path / str(trial)
        directory.mkdir()
        while True:  # a rule set that loads (an alias may be too short, or taken twice)
            (directory / "r.yaml").write_text(_random_rules(rng), encoding="utf-8")
            try:
                ruleset = load_rules(directory)
                break
            except RuleError:
                continue
        aliases = [a for e in ruleset.entities for a in e.aliases]
        glue = [" ", " ", ", ", " al ", "-", ". ", "\n", " as an ", "  ", ") ("]
        for _ in range(25):
            pieces = []
            for _ in range(rng.randint(1, 12)):
                roll = rng.random()
                if roll < 0.4:
                    alias = rng.choice(aliases)
                    pieces.append(respelled(alias, rng) if rng.random() < 0.7 else alias)
                elif roll < 0.6:
                    pieces.append(rng.choice(sorted(ARTICLES)))
                else:
                    pieces.append(rng.choice(_SYLLABLES) + rng.choice(_SYLLABLES))
                pieces.append(rng.choice(glue))
            text = "".join(pieces)
            for form in (text, normalise(text), text.rstrip()):
                rows = reference_scan(ruleset.lexicon, form)
                assert fast_scan(ruleset.lexicon, form) == rows, form
                folded += sum(1 for row in rows if row[5])
    assert folded > 300


def test_folding_a_word_keeps_its_projection() -> None:
    letters = "abeiouyhlrs"
    rng = random.Random(9)
    words = {"".join(rng.choice(letters) for _ in range(rng.randint(1, 9))) for _ in range(20000)}
    words |= {"hizballah", "kataeb", "sayyid", "thawriyyoun", "ayn", "aaa", "yyy", "sayyyyid"}
    for word in words:
        folded = fold_word(word)[0]
        assert project(f" {word} ") == project(f" {folded} "), (word, folded)
