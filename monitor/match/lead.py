"""Where an article's lead places its event: the places named in the headline and in the body's
lede, the first sentence of the body that tells something. Pure.

::

    lead(article, ruleset) -> Lead   places and bases (canonical names); where the lede ends

A news report puts its event's place in the headline or the first sentence ("A roadside bomb
struck a convoy … in Babil province on May 26"); a rule may match in the headline alone ("…in
south Iraq"), so the story decision (:mod:`monitor.dedup.facts`) reads the lede's places too,
and takes a later paragraph placed elsewhere for background.

The lede is the first body sentence of :data:`LEDE_WORDS` words or more after its dateline: a
short line ("السومرية نيوز – الديوانية", "By Reuters staff") is chrome, and a wire dateline
("BAGHDAD, May 27 (Reuters) -", "ERBIL, Kurdistan Region —", "Shafaq News/") names where the
story was filed, not where the event was, so its places are left out. Only the headline and
the lede are read: called for matched articles only, so the cost is two short scans.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from monitor.match.field import FieldText
from monitor.match.ruleset import RuleSet
from monitor.match.sentences import split_sentences
from monitor.model import Article

__all__ = ["LEDE_WORDS", "Lead", "lead"]

LEDE_WORDS = 8  # a body sentence shorter than this is a dateline or a byline, not the lede
# "BAGHDAD, May 27 (Reuters) - ", "ERBIL, Kurdistan Region — ", "DEIR EZ-ZOR, Syria (North
# Press) – ", "Shafaq News/ ", "Baghdad (AFP) - ": a capitalised first word, at most 60
# characters, ending in a dash or a slash.
_DATELINE = re.compile(
    r"\s*(?:[A-Z][A-Z'’.\-]+(?:\s+[A-Z][A-Z'’.\-]+)*\b[^\n]{0,50}?\s[-–—]\s"
    r"|[A-Z][\w'’.\- ]{0,40}\([^()\n]{1,40}\)\s*[-–—:]\s"
    r"|[A-Z][\w'’.\- ]{0,30}/\s)"
)


@dataclass(frozen=True)
class Lead:
    """The places and bases of an article's headline and lede, and where the lede ends."""

    places: frozenset[str]  # canonical names of place entities
    lede_end: int = 0  # body offset: evidence before it is in the lede
    bases: frozenset[str] = frozenset()  # canonical names of the bases named there


def _named(field: FieldText, kind: str, names: dict[str, str], sentence: int | None,
           after: int = 0) -> set[str]:
    found = set()
    for hit in field.hits(f"kind:{kind}"):
        if sentence is None or (hit.sentence == sentence and field.span(hit)[0] >= after):
            found.add(names.get(hit.label, hit.label))
    return found


def lead(article: Article, ruleset: RuleSet) -> Lead:
    """The places and bases named in the headline and the body's lede, dateline left out."""
    names = ruleset.names
    places: set[str] = set()
    bases: set[str] = set()
    title = article.title or article.entry.title
    if title.strip():
        field = FieldText(title, ruleset.lexicon)
        places |= _named(field, "place", names, None)
        bases |= _named(field, "base", names, None)
    body = article.text
    end = 0
    for index, (start, stop) in enumerate(split_sentences(body)):
        dateline = _DATELINE.match(body, start, stop)
        after = dateline.end() if dateline else start
        if len(body[after:stop].split()) < LEDE_WORDS:
            continue
        field = FieldText(body[:stop], ruleset.lexicon)
        places |= _named(field, "place", names, index, after)
        bases |= _named(field, "base", names, index, after)
        end = stop
        break
    return Lead(frozenset(places), end, frozenset(bases))
