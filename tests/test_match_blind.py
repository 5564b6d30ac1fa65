"""The shipped rules on the blind sets of 2026-11-22 (tests/data/blind/README.md): what they
reached when the rules were last changed is the floor. The watchlist is English and Arabic: the
French and German headlines are counted apart and not held to anything."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

from monitor.extract import without_related
from monitor.match import RuleSet, load_rules, match
from monitor.match.examples import example_article

ROOT = Path(__file__).resolve().parents[1]
BLIND = Path(__file__).parent / "data" / "blind"
# file: (positives, of which at least this many match; traps, of which at most this many alert)
FLOOR = {"english": (55, 55, 35, 0), "arabic": (45, 44, 25, 0), "syria": (50, 50, 35, 0),
         "headlines": (53, 52, 46, 0), "arabic2": (45, 45, 30, 0),
         # the third session's sets (README: "The third round"); us_press 33 → 32 and strikes
         # 24 → 23 in the eighth session: two US strike reports matched only on the sentence
         # recalling the attack before them ("in recent weeks", "earlier this month"), now
         # background (README: "Leaders and recalled attacks"); both back in the ninth, the
         # strike rule reading its group in the next sentences (README: "US strikes over two
         # sentences")
         "us_press": (33, 33, 22, 0), "arabic3": (33, 33, 22, 0), "flashes": (36, 36, 24, 0),
         "syria_kurdistan": (33, 33, 22, 0),
         # held out from the third round's changes, then used (README: "The fourth round")
         "regional_en": (36, 36, 24, 0), "panarab_ar": (36, 35, 24, 1),
         # US strike reports, held out from "likely American" (README: "US strikes")
         "strikes": (28, 25, 22, 2),
         # the fourth session's, held out from its first changes (README: "The fifth round")
         "wires": (42, 41, 28, 2), "longform": (28, 28, 32, 2),
         # held out from every other change of the fourth session (README)
         "final-mix": (40, 40, 30, 2),
         # trap-heavy, held out from every other change of the session (README)
         "traps2": (25, 25, 55, 5),
         # held out from every change of the fourth session, and left as measured; the fifth
         # session read its false alerts when it wrote the headline vetoes (README)
         "traps3": (20, 20, 50, 3),
         # the fifth session's (README: "The sixth round: headlines"): genre pieces, held out
         # from the headline vetoes' first list, then used; a week's mix, held out, one word
         # list made from it; genre pieces again, held out from the second list, then used
         "genre": (28, 24, 42, 7), "week": (24, 24, 46, 1), "genre2": (30, 29, 50, 5),
         # a month of coverage in which every trap retells an attack: held out from the
         # headline vetoes, then used for the background lists
         "month": (32, 32, 48, 11),
         # another month (August 2024): held out from every change above, then used for
         # other_story
         "month2": (30, 30, 50, 19),
         # written after every change of the session, measured once and left as measured
         "final": (30, 30, 50, 9),
         # the seventh session's (README: "The coalition's other armies"): written blind after
         # the change, measured before and after it; nothing else changed from them
         "partners": (28, 25, 22, 2), "recent": (40, 38, 30, 4),
         # the eighth session's (README: "Leaders and recalled attacks"): written blind, measured
         # before the changes made from them, then used
         "leaders": (30, 24, 30, 0), "recalls": (30, 29, 30, 6), "mixed": (30, 29, 30, 2),
         # written after every change of the session, measured once and left as measured
         "final2": (30, 30, 30, 1),
         # the ninth session's (README: "US strikes over two sentences"): measured first on the
         # rules of its start, then used. threats2's t2-034 is a US strike on Kataib Hezbollah its
         # helper labelled a trap, which the retaliation rule reports by design
         "strikes2": (30, 27, 30, 0), "threats2": (30, 26, 30, 1),
         # written after every change of the ninth session, measured once and left as measured
         "final3": (30, 30, 30, 3)}
# sets of whole pages as an extractor gives them: the extract stage's cleaning applies
EXTRACTED = {"longform"}


@cache
def rules() -> RuleSet:
    return load_rules(ROOT / "rules")


@pytest.mark.parametrize("name", sorted(FLOOR))
def test_the_blind_set_stays_at_its_floor(name: str) -> None:
    items = [json.loads(line) for line in (BLIND / f"{name}.jsonl").read_text(
        encoding="utf-8").splitlines()]
    missed, alerted, positives, traps = [], [], 0, 0
    for item in items:
        if item.get("lang", "en") not in ("en", "ar"):
            continue
        text = without_related(item["text"]) if name in EXTRACTED else item["text"]
        found = match(example_article(text, item["title"]), rules())
        if item["expect"] == "alert":
            positives += 1
            if not found:
                missed.append(f"{item['id']}: {item['title']}")
        else:
            traps += 1
            if found:
                alerted.append(f"{item['id']}: {item['title']} ({found[0].rule_id})")
    want_positives, floor, want_traps, ceiling = FLOOR[name]
    assert (positives, traps) == (want_positives, want_traps)
    assert positives - len(missed) >= floor, "\n".join(missed)
    assert len(alerted) <= ceiling, "\n".join(alerted)
