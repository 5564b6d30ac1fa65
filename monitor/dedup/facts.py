"""What an article says, as the story decision (:mod:`monitor.dedup.stories`) weighs it. Pure.

::

    facts(article, matches, now, kinds, lead) -> Facts   where, who, what kind, which day, words
    tells_strikes(title)                      -> the headline tells US strikes and no attack
    entity_kinds(ruleset.entities)            -> {entity id and canonical name: kind}
    entity_regions(ruleset.entities)          -> {base or place id and name: the place it lies in}
    text_sample(article)                      -> the title and lead compared for similarity
    tokens(text), similarity(a, b)            -> content words; their Jaccard similarity

The article's kind of event (attack, threat, strike) is its headline's matches', else its
lede's, else attack before threat before strike; a headline no rule read that tells US strikes
and no attack (:func:`tells_strikes`: "Iraqi army says US strikes killed soldiers…") makes a
strike report, whatever attack its body retells; its names are those of the matches of that
kind, with the places of the headline and lede (:func:`monitor.match.lead`) and, in an attack
report, the one base its headline and lede name, but for a later
paragraph that tells another event: one naming only other bases than the lead's, or, naming no
base, placed only elsewhere than the lead (:func:`told`). Its event day is read with the lede's
days first (:func:`monitor.dedup.dates.primary_event_date`), and :data:`REPEAT` tells a headline
or lede that reports a repeat ("a day after", "again").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Literal, Protocol

from monitor.dedup.dates import primary_event_date
from monitor.dedup.toll import us_dead
from monitor.match.lead import Lead
from monitor.match.normalise import is_arabic, normalise
from monitor.model import Article, Match

__all__ = ["BROAD", "COUNTRIES", "NO_LEAD", "REPEAT", "STRIKE_HEADLINE", "EventClass", "Facts",
           "Regions", "entity_kinds", "entity_regions", "event_class", "facts", "finest",
           "lies_in", "local_places", "main_class", "overlap", "parts", "similarity",
           "smallest_places", "speaks_for", "split", "tells_strikes", "text_sample", "tokens",
           "told"]

# The theatre's countries (canonical names in rules/entities/places.yaml): sharing one is too
# little to stand for the words that two reports in two scripts cannot share.
COUNTRIES = frozenset({"Iraq", "Syria", "Jordan"})
BROAD = 3  # bases named: a round-up
NO_LEAD = Lead(frozenset())
LEAD_WORDS = 60  # words of the text after the title in the sample

# A headline or lede that tells a repeat: "the second attack on the base in as many days",
# "Ain al-Asad targeted again", "a day after drone attack foiled", للمرة الثانية, مجددا. Not "a
# day after the attack" (بعد يوم من الهجوم): that is the attack the report tells, looked back on
# ("…troops suffered brain injuries, officials said on Sunday, a day after the attack").
_THE_ATTACK = (r"(?!\s+the\s+(?:attack|strike|barrage|assault|bombardment|raid)\b"
               r"|\s+(?:ال|بال)(?:هجوم|استهداف|قصف|ضربة|اعتداء)(?!\w))")
REPEAT = re.compile(
    r"\b(?:second|third|fourth|another|new|fresh)\s+(?:such\s+)?(?:attack|strike|barrage|rocket"
    r"|drone)|\bagain\b|\b(?:a|one)\s+day\s+after\b" + _THE_ATTACK + r"|\bfor\s+the\s+second"
    r"\s+time\b|للمرة\s+الثانية|مجدد|من\s+جديد|هجوم\s+جديد|ثاني\s+هجوم|الثاني\s+من\s+نوعه"
    r"|بعد\s+يوم\s+من" + _THE_ATTACK,
    re.I,
)

# A headline that tells US strikes, in the normalised text: "US strikes kill…", "Iraq condemns US
# airstrikes", الضربات الأمريكية, غارات جوية أمريكية, القصف الأمريكي.
STRIKE_HEADLINE = re.compile(
    r"\b(?:us|american)\s+(?:air\s?|drone\s|military\s)?strikes?\b"
    r"|(?<!\w)(?:ال)?(?:ضربات|ضربه|غارات|غاره|قصف)\s+(?:ال)?(?:جويه\s+(?:ال)?)?(?:امريكي|اميركي)"
)

# What a headline that tells an attack says, once its US strikes are taken out ("…come under
# rocket attack, day after U.S. strikes")
_HEADLINE_ATTACK = re.compile(
    r"\b(?:attack\w*|rockets?|drones?|missiles?|mortars?|ieds?|barrage|shelling|come\s+under)\b"
    r"|هجوم|هجمات|صاروخ|صواريخ|مسير|قذائف|قصف"
)


def tells_strikes(title: str) -> bool:
    """Whether a headline tells US strikes and no attack: "Iraqi army says US strikes killed
    soldiers", "العمليات المشتركة: القصف الأمريكي أودى بحياة عسكريين"."""
    folded = normalise(title)
    return bool(STRIKE_HEADLINE.search(folded)) and not _HEADLINE_ATTACK.search(
        STRIKE_HEADLINE.sub(" ", folded))


EventClass = Literal["attack", "threat", "strike"]
GROUP_KINDS = frozenset({"militia", "armed-group", "person"})  # a leader speaks for his group


class NamedEntity(Protocol):
    """An entity of a rule set (``monitor.match.Entity``): what :func:`entity_kinds` reads."""
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def country(self) -> str | None: ...
    @property
    def within(self) -> str | None: ...


def entity_kinds(entities: Iterable[NamedEntity]) -> dict[str, str]:
    """``{id: kind, name: kind}``: ``assign(..., kinds=entity_kinds(ruleset.entities))``.

    A placeholder entity (id ``unnamed-…``: "an Iran-backed militia") gets the kind
    ``generic``: it is no group to join stories on.
    """
    kinds: dict[str, str] = {}
    for e in entities:
        kind = "generic" if e.id.startswith("unnamed") else e.kind
        kinds[e.id] = kinds[e.name] = kind
    return kinds


def entity_regions(entities: Iterable[NamedEntity]) -> Regions:
    """``{id: region, name: region}``: the canonical name of the place each base or place lies
    in. A base or place lies in the place its ``in`` names (Ain al-Asad in Anbar province, Anbar
    in western Iraq), any other place smaller than a country in the place of :data:`COUNTRIES`
    with its country code (western Iraq in Iraq, Deir ez-Zor in Syria): ``assign(...,
    regions=entity_regions(ruleset.entities))``; :func:`lies_in` follows the chain. A person
    is "in" the group he speaks for (:func:`speaks_for`)."""
    listed = list(entities)
    names = {e.id: e.name for e in listed if e.kind == "place"}
    groups = {e.id: e.name for e in listed if e.kind in GROUP_KINDS}
    country = {e.country: e.name for e in listed if e.kind == "place" and e.name in COUNTRIES}
    regions = Regions()
    for e in listed:
        if e.kind in ("base", "place") and e.within in names:
            regions[e.id] = regions[e.name] = names[e.within]
        elif e.kind == "person" and e.within in groups:
            regions[e.id] = regions[e.name] = groups[e.within]
        elif e.kind == "place" and e.name not in COUNTRIES and e.country in country:
            regions[e.id] = regions[e.name] = country[e.country]
    return regions


class Regions(dict[str, str]):
    """What :func:`entity_regions` gives: each base's or place's place (and each leader's
    group), and the chain each lies in, followed once per name (the story stage asks for it per
    story weighed)."""

    def __init__(self) -> None:
        super().__init__()
        self._chains: dict[str, frozenset[str]] = {}
        self._smallest: dict[tuple[frozenset[str], frozenset[str]], frozenset[str]] = {}

    def chain(self, name: str) -> frozenset[str]:
        found = self._chains.get(name)
        if found is None:
            found = self._chains[name] = _walk(name, self)
        return found

    def smallest(self, names: frozenset[str], bases: frozenset[str]) -> frozenset[str]:
        key = (names, bases)
        found = self._smallest.get(key)
        if found is None:
            if len(self._smallest) >= 65536:
                self._smallest.clear()
            found = self._smallest[key] = _smallest(names, bases, self)
        return found


def _walk(name: str, regions: Mapping[str, str]) -> frozenset[str]:
    found: list[str] = []
    while (name := regions.get(name, "")) and name not in found:
        found.append(name)
    return frozenset(found)


def _smallest(names: frozenset[str], bases: frozenset[str],
              regions: Mapping[str, str]) -> frozenset[str]:
    return finest(names | {p for b in bases for p in lies_in(b, regions)}, regions) - COUNTRIES


def smallest_places(names: frozenset[str], bases: frozenset[str],
                    regions: Mapping[str, str]) -> frozenset[str]:
    """The smallest places smaller than a country among ``names`` and the places ``bases`` lie
    in (Deir ez-Zor for "eastern Syria" at Green Village), remembered by a :class:`Regions`."""
    if isinstance(regions, Regions):
        return regions.smallest(names, bases)
    return _smallest(names, bases, regions)


def speaks_for(groups: Iterable[str], regions: Mapping[str, str]) -> frozenset[str]:
    """``groups`` and the group each leader among them speaks for (his ``in``): a report of
    Khazali's threat and one of Asaib Ahl al-Haq's tell of one group."""
    return frozenset(groups) | {regions[g] for g in groups if g in regions}


def lies_in(name: str, regions: Mapping[str, str]) -> frozenset[str]:
    """Every place ``name`` lies in, by ``regions`` (:func:`entity_regions`): Ain al-Asad in
    Anbar province, western Iraq and Iraq."""
    return regions.chain(name) if isinstance(regions, Regions) else _walk(name, regions)


def parts(regions: Mapping[str, str], kinds: Mapping[str, str]) -> frozenset[str]:
    """The parts of a country that hold provinces ("western Iraq", "eastern Syria"): naming one
    is naming its country too, as naming a province (an attack's, two of which are two events)
    is not."""
    return frozenset(r for p, r in regions.items()
                     if kinds.get(p) == "place" and r not in COUNTRIES)


def finest(places: Iterable[str], regions: Mapping[str, str]) -> frozenset[str]:
    """``places`` but those that hold another of them (Dhi Qar, not also southern Iraq)."""
    listed = set(places)
    held = {r for p in listed for r in lies_in(p, regions)}
    return frozenset(p for p in listed if p not in held)


def overlap(here: Iterable[str], there: Iterable[str], regions: Mapping[str, str]) -> bool:
    """Whether a place of ``here`` is a place of ``there``, or lies in one, or holds one
    (Anbar and western Iraq; not Anbar and Baghdad, nor Deir ez-Zor and Hasakah)."""
    theirs = set(there)
    return any(p in theirs or lies_in(p, regions) & theirs
               or any(p in lies_in(q, regions) for q in theirs) for p in here)


_WORD = re.compile(r"[^\W\d_]{3,}|\d+")
_STOP = frozenset(
    "the and for with that this from have has had was were are been its their they them said"
    " says say told into over after about than which who whom also but not would could will may"
    " more most other some such only when where while there these those what out off under"
    " against between during since amid near per via including according report reported"
    " reports news one two new last week day days year years monday tuesday wednesday thursday"
    " friday saturday sunday attack attacks attacked forces force troops base bases iraq iraqi"
    " syria syrian american military coalition official officials source sources".split()
)


# Arabic: the proclitics and article taken off a word (the longest first), and function words
_AR_PREFIXES = ("وال", "بال", "فال", "كال", "لل", "ال", "و", "ب", "ل", "ف")
_AR_STOP = frozenset(normalise(w) for w in (
    "في من على الى إلى عن مع ان أن إن التي الذي الذين هذا هذه ذلك تلك كان كانت قد لم لا ما بعد"
    " قبل عند حتى او أو ثم كما قال قالت اليوم أمس مساء صباح فجر ليل ليلة خلال بين حول ضد منذ"
    " وفق بحسب وفقا أي كل").split())


def text_sample(article: Article) -> str:
    """The article's title and the first words of its text: what similarity compares."""
    title = article.title or article.entry.title
    return " ".join([title, *article.text.split()[:LEAD_WORDS]]).strip()


@lru_cache(maxsize=1024)  # a story's sample is compared with every article while it is recent
def tokens(text: str) -> frozenset[str]:
    """The content words of ``text``: Latin words lower-cased, a plural "s" off; Arabic words
    normalised, without one proclitic or the article (والقاعدة, بالقاعدة → قاعده), and neither
    side's function words (:data:`_STOP`, :data:`_AR_STOP`)."""
    if is_arabic(text):
        text = normalise(text)
    found = set()
    for word in _WORD.findall(text):
        word = word.lower()
        if word.isascii():
            if len(word) > 4 and word[-1] == "s" and word[-2] != "s":
                word = word[:-1]
        elif is_arabic(word):
            word = next((word[len(p):] for p in _AR_PREFIXES
                         if word.startswith(p) and len(word) - len(p) >= 3), word)
        if word not in _STOP and word not in _AR_STOP:
            found.add(word)
    return frozenset(found)


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def event_class(rule_id: str, tags: Iterable[str] = ()) -> EventClass:
    words = {*tags, *rule_id.split("-")}
    if words & {"retaliation", "strike"} and "attack" not in words:
        return "strike"
    return "threat" if "threat" in words else "attack"


def main_class(classes: Iterable[str]) -> EventClass:
    found = set(classes)
    return next((c for c in ("attack", "threat", "strike") if c in found), "attack")


@dataclass(frozen=True)
class Facts:
    """What an article says, as the weighing reads it."""

    time: datetime
    sites: frozenset[str]
    groups: frozenset[str]
    others: frozenset[str]
    rules: frozenset[str]
    cls: EventClass
    day: date | None
    tokens: frozenset[str]
    headline_sites: frozenset[str]
    arabic: bool = False  # the title and lead are in Arabic script
    repeat: bool = False  # the headline or lede says it is another attack ("a day after …")
    dead: int | None = None  # US or coalition personnel killed, as the title and lead say

    @property
    def broad(self) -> bool:
        return len(self.sites) >= BROAD


def split(names: Iterable[str], kinds: Mapping[str, str]) -> tuple[frozenset[str], ...]:
    """Bases, groups (a militia, an armed group, or a leader who speaks for one) and the other
    names (generic ones left out)."""
    sites: list[str] = []
    groups: list[str] = []
    others: list[str] = []
    for name in names:
        kind = kinds.get(name)
        if kind == "base":
            sites.append(name)
        elif kind in GROUP_KINDS:
            groups.append(name)
        elif kind != "generic":
            others.append(name)
    return frozenset(sites), frozenset(groups), frozenset(others)


def local_places(names: Iterable[str], kinds: Mapping[str, str]) -> frozenset[str]:
    """The places smaller than a country among ``names`` (a name ``kinds`` lacks is a place)."""
    return frozenset(n for n in names if n not in COUNTRIES and kinds.get(n, "place") == "place")


def in_lead(m: Match, lead: Lead) -> bool:
    return any(e.field == "title" or e.start < lead.lede_end for e in m.evidence)


def told(matches: Sequence[Match], lead: Lead, kinds: Mapping[str, str],
         regions: Mapping[str, str] | None = None) -> list[Match]:
    """The matches that tell the lead's event. Outside the headline and lede, a match that
    names only other bases than the lead's ("…and two rockets hit Balad air base" in a report
    of the embassy attack) or, naming no base, is placed only elsewhere than the lead's
    provinces and towns ("Earlier on Tuesday, another convoy was hit in Muthanna. Ashab al-Kahf
    claimed…") tells another event, and its names are not this story's. The lead's places are
    its smallest ones, its bases' provinces counted, and a place lying in one of them or holding
    one is no elsewhere ("western Iraq", then Anbar; not Green Village, then Hasakah). A base
    named later when the lead names none stays: the headline may say only "western Iraq"."""
    regions = regions or {}
    where = smallest_places(local_places(lead.places, kinds), lead.bases, regions)
    kept = []
    for m in matches:
        bases = {e for e in m.entities if kinds.get(e) == "base"}
        places = local_places(m.entities, kinds)
        if in_lead(m, lead):
            kept.append(m)
        elif bases:
            if not lead.bases or bases & lead.bases:
                kept.append(m)
        elif not where or not places or overlap(places, where, regions):
            kept.append(m)
    return kept or list(matches)


def facts(article: Article, matches: Sequence[Match], now: datetime,
          kinds: Mapping[str, str], lead: Lead = NO_LEAD,
          regions: Mapping[str, str] | None = None) -> Facts:
    time = min(article.published or article.entry.published or now, now)
    title = article.title or article.entry.title
    headline = [m for m in matches if any(e.field == "title" for e in m.evidence)]
    leading = headline or [m for m in matches if in_lead(m, lead)]
    cls = main_class(event_class(m.rule_id, m.tags) for m in leading or matches)
    if not headline and tells_strikes(title):
        # the headline tells US strikes, no attack, and no rule read it: a report of the
        # strikes, whose attack matches are the attacks they answer ("…the US side said they
        # answered the rocket attack on Camp Taji"): their names and rules are not its own. With
        # no strike match it has no rules, and a story it opens reads as an attack to the next
        # reports (StoryView keeps rules, not a kind): such a story has no base to be joined on
        cls = "strike"
    kind = [m for m in matches if event_class(m.rule_id, m.tags) == cls]
    # the names of the article's kind of event: a strike's report retells the attack it
    # answers ("…killed in a March 11 rocket attack on Camp Taji"), and that base is not its
    mine = told(kind, lead, kinds, regions)
    sites, groups, others = split((e for m in mine for e in m.entities), kinds)
    others |= {p for p in lead.places if kinds.get(p, "place") == "place"}
    if regions:  # the country of a part of it ("western Iraq": Iraq), and of a strike's
        # province: another report may name only the country
        named = local_places(others, kinds) if cls == "strike" else others & parts(regions, kinds)
        others |= {c for p in named for c in lies_in(p, regions) if c in COUNTRIES}
    if cls == "attack" and len(lead.bases) == 1:  # the base the lede says was hit
        sites |= {b for b in lead.bases if kinds.get(b) == "base"}
    text = f"{title}\n{article.text}"
    sample = text_sample(article)
    shift = {"title": 0, "body": len(title) + 1}  # evidence offsets → offsets into ``text``
    anchors = [(e.start + shift[e.field], e.end + shift[e.field]) for m in kind for e in m.evidence]
    return Facts(
        time=time, sites=sites, groups=groups, others=others,
        rules=frozenset(m.rule_id for m in kind), cls=cls,
        day=primary_event_date(text, time, anchors, len(title) + 1 + lead.lede_end,
                               strike=cls == "strike"),
        tokens=tokens(sample),
        arabic=is_arabic(sample),
        repeat=bool(REPEAT.search(f"{title}\n{article.text[: lead.lede_end]}")),
        dead=us_dead(sample),
        headline_sites=sites & {e.label for m in matches for e in m.evidence
                                if e.field == "title" and e.kind == "entity"},
    )
