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

from dataclasses import dataclass

from monitor.match.field import FieldText
from monitor.match.ruleset import RuleSet
from monitor.match.sentences import dateline_end, split_sentences
from monitor.model import Article

__all__ = ["LEDE_WORDS", "Lead", "lead"]

LEDE_WORDS = 8  # a body sentence shorter than this is a dateline or a byline, not the lede


@dataclass(frozen=True)
class Lead:
    """The places and bases of an article's headline and lede, and where the lede ends."""

    places: frozenset[str]  # canonical names of place entities
    lede_end: int = 0  # body offset: evidence before it is in the lede
    bases: frozenset[str] = frozenset()  # canonical names of the bases named there


def _named(text: str, ruleset: RuleSet) -> tuple[set[str], set[str]]:
    """The places and the bases named in ``text``."""
    field = FieldText(text, ruleset.lexicon)
    names = ruleset.names
    return ({names.get(h.label, h.label) for h in field.hits("kind:place")},
            {names.get(h.label, h.label) for h in field.hits("kind:base")})


def lead(article: Article, ruleset: RuleSet) -> Lead:
    """The places and bases named in the headline and the body's lede, dateline left out."""
    places: set[str] = set()
    bases: set[str] = set()
    title = article.title or article.entry.title
    if title.strip():
        places, bases = _named(title, ruleset)
    body = article.text
    for start, stop in split_sentences(body):
        after = dateline_end(body, start, stop)
        if len(body[after:stop].split()) >= LEDE_WORDS:
            more_places, more_bases = _named(body[after:stop], ruleset)
            return Lead(frozenset(places | more_places), stop, frozenset(bases | more_bases))
    return Lead(frozenset(places), 0, frozenset(bases))
