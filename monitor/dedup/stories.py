"""Which story a matched article belongs to: a recent story of the same event, or a new one. Pure.

::

    assign(article, matches, recent, now, *, kinds, regions, window) -> StoryDecision | None
    entity_kinds(ruleset.entities)            -> {entity id and canonical name: kind}
    entity_regions(ruleset.entities)          -> {base or place id and name: the place it lies in}
    text_sample(article)                      -> the title and lead compared for similarity
    updated_view(view, story_id, decision, article, now) -> StoryView  the story after the decision
    story_kinds(view)                         -> the kinds of event its reports told

An article is weighed against every recent story (:class:`StoryView`, what the store keeps of a
story) and joins the best one that passes, else opens a story. The weighing:

- **window**: a story whose articles are all more than ``window`` away from the article's time
  (its publication, else ``now``) cannot be joined. Publication time, not ``now``, so a late or
  backfilled article is judged by when it was written.
- **place of the event**: the names where the rules matched, and the places of the headline and
  lede (:func:`monitor.match.lead`: "…convoy in south Iraq" / "…in the province of Dhi Qar");
  a later paragraph that names no base and is placed only elsewhere than the lede ("Earlier,
  another convoy was hit in Muthanna") is background and lends none. The same base (+3; +2
  from an article naming three bases or more);
  the same named militia or armed group (+1.5: umbrella claimants claim many attacks); the same
  town, province or force (+0.5), a province counting as the part of its country that holds it
  ("southern Iraq" and Diwaniyah) when that side names nothing smaller there. Both naming
  bases, none in common: a different event (veto): two bases hit the same night are two
  stories. A base one side names that lies in every place the other names (the rules' ``in``,
  followed from place to place: Ain al-Asad in Anbar, in western Iraq; Tower 22 on the
  Jordan–Syria border, "northeast Jordan"), within a day: +:data:`HELD`, and it may join
  without similar wording (a first flash that names only the province, then the claim naming
  the base).
- **day of the event** (:func:`monitor.dedup.dates.primary_event_date`, the day named nearest the
  matcher's evidence): both known and equal +2, a day apart +1 ("late Monday" / "overnight"), two
  days or more apart: a different event (veto): attacks on Ain al-Asad in 2019, 2023 and 2024,
  or on two days of one week, stay apart. A day later and told as a repeat in the headline or
  lede ("a day after", "again", للمرة الثانية: :data:`monitor.dedup.facts.REPEAT`): a different
  event (veto). When a side gives no day, its publication day stands in, more loosely: within a
  day +1, three days or more -1.5.
- **kind of event**: an attack, a threat and a US strike are different stories (-2); the
  headline's matches tell the article's kind, else the lede's, else attack before threat
  before strike, and a headline no rule read that tells US strikes and no attack makes a strike
  report (the Iraqi army's statement on the strikes, which retells the attack they answered);
  the names that place the event are those of its kind's matches. A story's kind is that of
  its reports (``StoryView.kinds``, attack before threat before strike), so a strike report no
  strike rule read still makes a strike story. A US strike
  report weighed against a US strike story gets +:data:`STRIKES` and needs no similar wording
  to join on a shared place (a country will do, and a strike report's province stands for its
  country too: Deir ez-Zor meets Syria): strike operations come days apart, and their
  reports name the target each its own way (the militia, "Iran-backed groups", a province), in
  words that do not meet. When both name places smaller than a country and none in common,
  there is no such credit on the same day, and on another day it is another operation (veto:
  Abu Ghraib one night, Jurf al-Sakhar the next). A strike report's own day is read without the
  day of the attack it answers (:func:`monitor.dedup.dates.primary_event_date`). A threat
  report against a threat story by the same group, within a day, gets +:data:`THREATS`: one
  statement, told by several outlets in their own words. Attack reports whose title and lead
  give the same count of US or coalition dead (:func:`monitor.dedup.toll.us_dead`: "3 US troops
  killed…" / "Three U.S. service members killed…"), within a day, get +:data:`TOLL` and may
  join without a shared place or similar wording: such deaths are rare, and each is told by
  dozens of outlets (not a report that tells a repeat: its toll is the earlier attack's).
- **wording**: +4 × the Jaccard similarity of the content words of title and lead (at most +2).
- To join, a story needs a score of :data:`JOIN` and the same base or group; without either,
  a focused article may join on a shared place, the same kind of event, a day in common and
  similar wording (similarity ≥ 0.15; or the same event day read in both and a shared place
  smaller than a country: an Arabic and a Latin-script report share no words, a flash and the
  Pentagon's account few; in one script, not for a report that tells a repeat), and then only
  the clear best (by :data:`MARGIN`).
- **round-ups**: an article naming three bases or more (a weekly summary) joins only a story
  of a base its headline names, on the same day (±1), and then adds only what it shares to
  the story's keys (:attr:`StoryDecision.sites` …), so it cannot glue stories together. A
  story a round-up opened is no place for the report of one event: that opens its own.

Ties go to the nearer event day, then the more recently updated story, then the lower id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from monitor.dedup.facts import (
    BROAD,
    COUNTRIES,
    NO_LEAD,
    EventClass,
    Facts,
    entity_kinds,
    entity_regions,
    event_class,
    facts,
    lies_in,
    local_places,
    main_class,
    overlap,
    similarity,
    smallest_places,
    speaks_for,
    split,
    text_sample,
    tokens,
)
from monitor.dedup.toll import us_dead
from monitor.match.lead import Lead
from monitor.match.normalise import is_arabic
from monitor.model import Article, Match, Severity, StoryView, severity_rank

__all__ = ["COUNTRIES", "JOIN", "NO_LEAD", "StoryDecision", "StoryView", "assign",
           "entity_kinds", "entity_regions", "story_kinds", "text_sample", "updated_view"]

JOIN = 3.0  # the score a story needs to be joined
MARGIN = 0.5  # how far ahead a story joined on a shared place alone must be
STRIKES = 1.5  # a US strike report and a US strike story: strike operations are days apart
SIMILAR = 0.15  # the wording similarity a story joined on a shared place alone needs
THREATS = 1.0  # threats by the same group within a day: its one statement, told again
HELD = 1.5  # a base one side names lies in a place the other names (Tower 22, northeast Jordan)
TOLL = 2.0  # attack reports giving the same count of US dead, within a day (rare, and told alike)


@dataclass(frozen=True)
class StoryDecision:
    """Open a story (``story_id`` None) or join one; what the story is after it, and why.

    ``sites``, ``groups``, ``entities``, ``rules`` and ``kind`` are what this article adds to the
    story's keys (a round-up that joins adds only what it shares; ``rules``: the rules of the
    article's kind of event, as its headline's matches tell, else attack before threat before
    strike); a :class:`StoryView` is the union of its decisions' keys.
    """

    story_id: int | None
    title: str
    severity: Severity  # the story's severity with this article
    event_date: date | None  # the story's event day with this article
    reason: str
    score: float = 0.0
    sites: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    entities: frozenset[str] = frozenset()
    rules: frozenset[str] = frozenset()
    kind: EventClass = "attack"  # the kind of event the article tells


@dataclass(frozen=True)
class _Weighed:
    story: StoryView
    score: float
    notes: tuple[str, ...]
    veto: Callable[[], str] | None = None  # why it cannot be joined, told only when asked
    anchored: bool = False
    day_gap: int = 99


def _names(items: Iterable[str]) -> str:
    return ", ".join(sorted(items))


def _days(n: int) -> str:  # "1 day", "3 days"
    return "1 day" if n == 1 else f"{n} days"


def _weigh(f: Facts, s: StoryView, kinds: Mapping[str, str], window: timedelta,
           regions: Mapping[str, str]) -> _Weighed:
    gap = max(s.first_seen - f.time, f.time - s.last_seen, timedelta(0))
    if gap > window:
        return _Weighed(s, 0.0, (), lambda: f"its last report is {_days(gap.days)} away "
                        f"(window {_days(window.days)})")
    s_sites, s_groups, s_others = split(s.entities | s.sites | s.groups, kinds)
    s_sites, s_groups = s_sites | s.sites, s_groups | s.groups
    if f.sites and s_sites and not f.sites & s_sites:
        return _Weighed(s, 0.0, (), lambda: f"different bases ({_names(f.sites)} / "
                        f"{_names(s_sites)})")
    score, notes = 0.0, []
    if shared := f.sites & s_sites:
        score += 2.0 if f.broad else 3.0
        notes.append(f"same base ({_names(shared)})")
    if shared_groups := speaks_for(f.groups, regions) & speaks_for(s_groups, regions):
        score += 1.5
        said = (g for g in shared_groups if regions.get(g) not in shared_groups)  # his group
        notes.append(f"same group ({_names(said)})")
    if shared_others := _common_places(f.others, s_others, regions, f.sites, s_sites):
        score += 0.5
        notes.append(f"same place ({_names(shared_others)})")
    day_gap, same_day = 99, False
    if f.day is not None and s.event_date is not None:
        day_gap = abs((f.day - s.event_date).days)
        if day_gap >= 2:
            return _Weighed(s, 0.0, tuple(notes), lambda: f"event {f.day} vs "
                            f"{s.event_date}, {_days(day_gap)} apart", day_gap=day_gap)
        if day_gap == 1 and (f.repeat and f.day > s.event_date):
            return _Weighed(s, 0.0, tuple(notes), lambda: f"event {f.day}, told as another "
                            f"attack, the day after {s.event_date}", day_gap=day_gap)
        same_day = True
        score += 2.0 if day_gap == 0 else 1.0
        notes.append(f"event {s.event_date}" + (" same day" if day_gap == 0 else " within 1 day"))
    else:
        mine = f.day or f.time.date()
        theirs = s.event_date or s.first_seen.date()
        day_gap = abs((mine - theirs).days)
        if day_gap <= 1:
            score += 1.0
            notes.append(f"reported within {_days(day_gap)} of {theirs}")
        elif day_gap >= 3:
            score -= 1.5
            notes.append(f"{_days(day_gap)} from {theirs}, no dates to compare")
    s_cls = main_class(story_kinds(s))
    if s_cls != f.cls:
        score -= 2.0
        notes.append(f"{f.cls} vs {s_cls}")
    strikes = f.cls == s_cls == "strike"
    here, there = local_places(f.others, kinds), local_places(s_others, kinds)
    if strikes and here and there and not overlap(here, there, regions):
        if day_gap:  # another day, another province: another operation
            return _Weighed(s, 0.0, tuple(notes), lambda: f"US strikes in other places "
                            f"({_names(here)} / {_names(there)}) on another day",
                            day_gap=day_gap)
        strikes = False
    if strikes:
        score += STRIKES
        notes.append("both US strikes")
    tolled = (f.dead is not None and f.cls == s_cls == "attack" and day_gap <= 1
              and not f.repeat and us_dead(s.text_sample) == f.dead)
    if tolled:  # "3 US troops killed…" / "Three U.S. service members killed…" the same day
        score += TOLL
        notes.append(f"same toll ({f.dead} dead)")
    if f.cls == s_cls == "threat" and shared_groups and day_gap <= 1:
        score += THREATS  # one group's warning, told by several outlets the same day
        notes.append("both threats by the group")
    if common := sorted(f.rules & s.rules):
        notes.append(f"rule {common[0]}")
    sim = similarity(f.tokens, tokens(s.text_sample))
    score += min(2.0, 4.0 * sim)
    notes.append(f"similarity {sim:.2f}")
    weighed = _Weighed(s, round(score, 2), tuple(notes), None, bool(shared or shared_groups),
                       day_gap)
    if f.broad and not (shared & f.headline_sites and same_day):
        return replace(weighed, veto=lambda: f"a round-up of {len(f.sites)} bases joins only "
                       "a story of a base its headline names, on the same day")
    if not f.broad and len(s_sites) >= BROAD:
        return replace(weighed, veto=lambda: f"a round-up of {len(s_sites)} bases; a report "
                       "of one event opens its own story")
    if not weighed.anchored:
        # A base one side names lies in every place the other names, within a day: the first
        # report's "a base in Anbar" (or "in western Iraq") and the next one's Ain al-Asad.
        held = ({b for b in f.sites if _placed(b, there, regions)}
                | {b for b in s_sites if _placed(b, here, regions)}) if day_gap <= 1 else set()
        if held:
            weighed = replace(weighed, score=round(weighed.score + HELD, 2),
                              notes=(*weighed.notes, f"base in a place named ({_names(held)})"))
        # The same place smaller than a country and the same event day, read in both, stand for
        # the wording, credited as the least similar wording that passes: an Arabic report and
        # an English one share no words, a flash and the Pentagon's account few. Not for a
        # report that tells a repeat ("hit again") in the same script.
        other_script = f.arabic != is_arabic(s.text_sample)
        unworded = (same_day and day_gap == 0 and bool(shared_others - COUNTRIES)
                    and (other_script or not f.repeat))
        worded = sim >= SIMILAR or unworded or strikes or bool(held) or tolled
        weak = (shared_others or held or tolled) and f.cls == s_cls and day_gap <= 1 and worded
        if not weak:
            return replace(weighed, veto=lambda: "no base or group in common")
        if unworded and sim < SIMILAR:
            why = "another script" if other_script else "same place"
            weighed = replace(weighed, score=round(weighed.score + 4.0 * SIMILAR, 2),
                              notes=(*weighed.notes, f"{why}: same event day"))
    return weighed


def _common_places(mine: frozenset[str], theirs: frozenset[str], regions: Mapping[str, str],
                   my_bases: frozenset[str], their_bases: frozenset[str]) -> frozenset[str]:
    """The places both name, and a place one names that lies in a part of a country the other
    names and names nothing smaller in, its bases' places included ("south Iraq" and Diwaniyah:
    the smaller is kept; not "south Iraq, Nasiriyah" and Diwaniyah, nor "eastern Syria" at a
    base of Deir ez-Zor and Hasakah). Countries count only when both name them."""
    a = smallest_places(mine, my_bases, regions)
    b = smallest_places(theirs, their_bases, regions)
    inner = {p for one, other in ((a, b), (b, a)) for p in one
             if (lies_in(p, regions) - COUNTRIES) & other}
    return ((mine & theirs & COUNTRIES) | (a & b) | frozenset(inner)) & (mine | theirs)


def _placed(base: str, places: frozenset[str], regions: Mapping[str, str]) -> bool:
    """Whether ``places`` (smaller than a country) are all places ``base`` lies in: "a base in
    western Iraq" and Ain al-Asad, not "a base in Hasakah, north-east Syria" and a base of Deir
    ez-Zor."""
    return bool(places) and places <= lies_in(base, regions)


def _order(w: _Weighed) -> tuple[float, int, float, int]:
    return (-w.score, w.day_gap, -w.story.last_seen.timestamp(), w.story.id)


def _pick(weighed: Sequence[_Weighed]) -> tuple[_Weighed | None, str]:
    """The story to join, or None and why not."""
    ranked = sorted(weighed, key=_order)
    passing = [w for w in ranked if w.veto is None and w.score >= JOIN]
    if not passing:
        return None, _rejected(ranked)
    best = passing[0]
    rivals = [w for w in ranked if w is not best and w.veto is None]
    if best.anchored or not rivals or best.score - rivals[0].score >= MARGIN:
        return best, ""
    return None, (f"stories {best.story.id} and {rivals[0].story.id} as likely, and neither "
                  f"shares a base or group (scores {best.score:.2f}, {rivals[0].score:.2f})")


def _severity(matches: Iterable[Match]) -> Severity:
    return min((m.severity for m in matches), key=severity_rank)


def _describe(f: Facts) -> str:
    where = (f"at {_names(f.sites)}" if f.sites else f"by {_names(f.groups)}" if f.groups
             else f"in {_names(f.others)}" if f.others else "")
    when = f"event {f.day}" if f.day else "no event day given"
    return " ".join(p for p in (f.cls, where) if p) + f", {when}"


def _rejected(ranked: Sequence[_Weighed]) -> str:
    if not ranked:
        return "no recent story"
    near = sorted(ranked, key=lambda w: (not w.notes, *_order(w)))[0]
    why = near.veto() if near.veto else f"score {near.score:.2f} < {JOIN}"
    notes = "; ".join(near.notes)
    return f"closest story {near.story.id}: {why}" + (f" ({notes})" if notes else "")


def assign(
    article: Article,
    matches: Sequence[Match],
    recent: Sequence[StoryView],
    now: datetime,
    *,
    kinds: Mapping[str, str],
    window: timedelta = timedelta(days=7),
    lead: Lead = NO_LEAD,
    regions: Mapping[str, str] | None = None,
) -> StoryDecision | None:
    """Decide the story of a newly seen article; None when nothing matched.

    ``kinds`` maps entity canonical names (and ids) to their kind (``base``, ``militia``,
    ``armed-group``, ``force``, ``place``, ``person``, ``generic``): pass
    ``entity_kinds(ruleset.entities)``. A name it lacks counts as a place. ``recent`` are the
    stories to consider (any order); ``now`` stands in for a missing publication time and caps
    one in the future. ``lead`` (:func:`monitor.match.lead`): the places of the headline and
    lede, which place the event. ``regions`` (:func:`entity_regions`): the place each base lies
    in (which a report naming only that place may share with it), and the country of each
    province and town (which a US strike report's places stand for too).
    """
    if not matches:
        return None
    known = dict(kinds)  # names by the ids of the evidence, should ``kinds`` hold ids only
    for e in (e for m in matches for e in m.evidence if e.kind == "entity" and e.ref in kinds):
        known.setdefault(e.label, kinds[e.ref])
    f = facts(article, matches, now, known, lead, regions)
    weighed = [_weigh(f, s, known, window, regions or {}) for s in recent]
    best, why_not = _pick(weighed)
    rules = f.rules
    if best is None:
        return StoryDecision(
            story_id=None, title=article.title or article.entry.title,
            severity=_severity(matches), event_date=f.day,
            reason=f"new story: {_describe(f)}; {why_not}",
            sites=f.sites, groups=f.groups, entities=f.sites | f.groups | f.others, rules=rules,
            kind=f.cls,
        )
    s = best.story
    sites, groups, others = f.sites, f.groups, f.others
    mine = list(matches)
    if f.broad:  # a round-up adds only what it shares, and its severity only from that
        sites, groups, others = sites & s.sites, groups & s.groups, frozenset()
        keys = sites | groups
        mine = [m for m in matches if keys & set(m.entities)] or mine
    severity = min(s.severity, _severity(mine), key=severity_rank)
    return StoryDecision(
        story_id=s.id, title=s.title, severity=severity,
        event_date=s.event_date or f.day, score=best.score,
        reason=f"joined story {s.id}: {'; '.join(best.notes)}; score {best.score:.2f}",
        sites=sites, groups=groups, entities=sites | groups | others, rules=rules, kind=f.cls,
    )


def updated_view(view: StoryView | None, story_id: int, decision: StoryDecision,
                 article: Article, now: datetime) -> StoryView:
    """The story after ``decision`` put ``article`` in it (``view`` None: a new story)."""
    time = min(article.published or article.entry.published or now, now)
    outlet = article.site or article.entry.feed
    if view is None:
        return StoryView(
            id=story_id, title=decision.title, severity=decision.severity, first_seen=time,
            last_seen=time, event_date=decision.event_date, entities=decision.entities,
            sites=decision.sites, groups=decision.groups, rules=decision.rules,
            outlets=frozenset({outlet}), text_sample=text_sample(article),
            kinds=frozenset({decision.kind}),
        )
    return StoryView(
        id=view.id, title=view.title,
        severity=min(view.severity, decision.severity, key=severity_rank),
        first_seen=min(view.first_seen, time), last_seen=max(view.last_seen, time),
        event_date=view.event_date or decision.event_date,
        entities=view.entities | decision.entities, sites=view.sites | decision.sites,
        groups=view.groups | decision.groups, rules=view.rules | decision.rules,
        outlets=view.outlets | {outlet}, text_sample=view.text_sample,
        kinds=story_kinds(view) | {decision.kind},
    )


def story_kinds(view: StoryView) -> frozenset[str]:
    """The kinds of event the story's reports told; for a view stored before they were kept, as
    its rules tell them (a report with no rule of its kind told none)."""
    return view.kinds or frozenset(event_class(r) for r in view.rules)
