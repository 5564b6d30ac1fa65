"""How many US or coalition personnel a report says were killed. Pure.

::

    us_dead(text) -> int | None   "3 US troops killed", "a drone attack kills three American
                                  soldiers", مقتل ثلاثة جنود أمريكيين → 3; "a US contractor
                                  killed", مقتل متعاقد أمريكي → 1

Deaths of US personnel in this theatre are rare, and each is told by dozens of outlets in their
own words ("3 US troops killed, dozens hurt in drone attack in Jordan" / "Three U.S. service
members killed in one-way UAS attack in northeast Jordan"), so the same toll the same day is a
strong sign of one event (:mod:`monitor.dedup.stories`). It is read in a story's text sample,
the title and lead, where a report gives its own event's toll; a later paragraph's may be an
earlier attack's. The wounded are not counted: their number changes from report to report ("at
least 34", "more than 40").
"""

from __future__ import annotations

import re
from functools import lru_cache

from monitor.match.normalise import normalise

__all__ = ["us_dead"]

_EN = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
       "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}
_AR = {normalise(w): n for w, n in {
    "اثنين": 2, "اثنان": 2, "ثلاثة": 3, "ثلاث": 3, "أربعة": 4, "أربع": 4, "خمسة": 5, "خمس": 5,
    "ستة": 6, "سبعة": 7, "ثمانية": 8, "تسعة": 9, "عشرة": 10}.items()}
_NUMBER = r"(\d{1,3}|" + "|".join(_EN) + r"|an?)"
_WHO = (r"(?:(?:us|american|coalition|army|navy|marine|air\s+force|national\s+guard|british)\s+)"
        r"{0,3}(?:soldiers?|troops?|service\s*members?|servicem[ae]n|personnel|americans?"
        r"|marines?|sailors?|airmen|reservists?|contractors?|civilian\s+contractors?)\b")
_KILLED = re.compile(
    # "3 us troops killed", "three us service members were killed", "two us soldiers and a
    # british soldier killed": a few words between, within the sentence, none of them the
    # wounded's ("three … were wounded in the attack, which killed no one") nor a clause's ("a
    # soldier who survived the attack that killed three iraqis")
    _NUMBER + r"\s+" + _WHO
    + r"(?:\s+(?!wounded|injured|hurt|who\b|which\b|that\b)[^\s.;:!?]+){0,6}?"
    r"\s+(?:killed|dead|died|slain)\b"
    # "kills three american soldiers", "killing 2 us troops", "killed at least three troops"
    r"|\bkill(?:s|ed|ing)?\s+(?:at\s+least\s+)?" + _NUMBER + r"\s+" + _WHO
    # a headline's singular, without an article: "us contractor killed in drone attack"
    + r"|(?:^|[:;,.\n]\s*)((?:us|american)\s+(?:civilian\s+)?(?:soldier|contractor"
    r"|service\s*member|servicem[ae]n|marine|sailor|airman|troop))\s+(?:was\s+)?"
    r"(?:killed|dies|died|dead)\b")
_AR_KILLED = re.compile(
    r"(?:مقتل|قتل|مصرع)\s+(?:(\d{1,3}|" + "|".join(_AR) + r")\s+(?:من\s+)?(?:جنود|عسكريين|افراد)"
    r"|(جنديين|جنديان|عسكريين\s+اثنين)|(جندي|عسكري|متعاقد|موظف)\s+(?:امريكي|اميركي))")


@lru_cache(maxsize=4096)
def us_dead(text: str) -> int | None:
    """The first count of US or coalition personnel killed that ``text`` gives, else None."""
    folded = normalise(text)
    found = _KILLED.search(folded)
    if found is not None:
        word = found.group(1) or found.group(2)
        if word is None:  # the headline's singular
            return 1
        return int(word) if word.isdigit() else _EN.get(word, 1)  # "a", "an": one
    found = _AR_KILLED.search(folded)
    if found is None:
        return None
    if found.group(1):
        return int(found.group(1)) if found.group(1).isdigit() else _AR[found.group(1)]
    return 2 if found.group(2) else 1
