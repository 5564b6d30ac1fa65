"""The dates an article's text gives for its event, resolved against its publication date. Pure.

::

    date_mentions(text, published)  -> tuple[DateMention]  every date expression, reading order
    event_dates(text, published)    -> tuple[date]         the days named, in order, each once
    primary_event_date(text, published, anchors=()) -> date | None   the likeliest event day

What is read (English, case as written; Arabic where cheap):

- explicit days: ``5 August``, ``August 5``, ``Aug. 5``, ``5th of August``, ``December 3, 2019``,
  ``Wednesday, 12 October`` (one mention), ``5 آب/أغسطس 2024``, ``٣ كانون الأول``. A day without
  a year takes the publication year, unless that puts it more than a day after publication:
  up to 60 days ahead it is a future reference (a meeting, a deadline) and is dropped; further
  ahead it is last year's ("December 30" in a 2 January piece). A written year is kept.
- weekdays: ``on Monday``, ``Monday's attack``, ``late on Monday``, ``Saturday night``, ``last
  Monday``, ``يوم الاثنين``, ``اليوم الخميس`` (today, Thursday), ``مساء الخميس``: the most
  recent such day on or before publication (``last``: strictly before). The wire style's bare
  day between commas (``مصدر أمني، الأربعاء، بانفجار``) too.
  ``next``/``coming``/``following`` Monday is not an event date.
  Stamped in UTC at 21:00 or later, the next day's name is taken as that day: the region is
  three hours ahead of UTC, and it is already that day there.
- relative days: ``yesterday``, ``last night``, ``the day before yesterday``, ``two days ago``,
  ``today``, ``tonight``, ``this morning``, ``أمس``, ``الليلة الماضية``, ``صباح اليوم``,
  ``هذا اليوم`` (not ``في مثل هذا اليوم``, on this day in an earlier year).
- spans (:attr:`DateMention.first` < :attr:`DateMention.last`, never in :func:`event_dates`):
  ``overnight``, ``this week``, ``last week``, ``over the weekend``.

Not read: numeric dates (``5/8/2024`` is 5 August in Baghdad and 8 May in Washington; ISO
stamps in page chrome are the publication time, not an event), ordinal words (``الخامس من آب``),
months without a day. A line that is only a date (and a time, a weekday) is a dateline and is
skipped: it says when the page was published, not when anything happened; so is the date of a
wire dateline ("BAGHDAD, May 27 (Reuters) - …"), the day the story was filed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from monitor.match.sentences import dateline_end, split_sentences

__all__ = ["DateMention", "date_mentions", "event_dates", "primary_event_date"]

FUTURE_SLACK = 1  # days: a date this far after publication is still taken (time zones)
FUTURE_HORIZON = 60  # days: a yearless date up to this far ahead is a future reference
RECENT = 31  # days: older dates are background for primary_event_date
LEDE = 1.5  # what a day named in the headline or lede adds (``lead``: where the lede ends)
FILED = 1.5  # what a wire dateline's day scores in primary_event_date (about a bare recent day)

_EN_MONTHS = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4,
    "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sept": 9, "sep": 9, "october": 10, "oct": 10, "november": 11, "nov": 11,
    "december": 12, "dec": 12,
}  # fmt: skip
_AR_MONTHS = {
    "كانون الثاني": 1, "يناير": 1, "شباط": 2, "فبراير": 2, "آذار": 3, "اذار": 3, "مارس": 3,
    "نيسان": 4, "أبريل": 4, "ابريل": 4, "إبريل": 4, "أيار": 5, "ايار": 5, "مايو": 5,
    "حزيران": 6, "يونيو": 6, "يونيه": 6, "تموز": 7, "يوليو": 7, "يوليه": 7, "آب": 8, "اب": 8,
    "أغسطس": 8, "اغسطس": 8, "أيلول": 9, "ايلول": 9, "سبتمبر": 9, "تشرين الأول": 10,
    "تشرين الاول": 10, "أكتوبر": 10, "اكتوبر": 10, "تشرين الثاني": 11, "نوفمبر": 11,
    "كانون الأول": 12, "كانون الاول": 12, "ديسمبر": 12,
}  # fmt: skip
_EN_WEEKDAYS = {
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5,
    "sunday": 6,
}  # fmt: skip
_AR_WEEKDAYS = {
    "اثنين": 0, "إثنين": 0, "أثنين": 0, "ثلاثاء": 1, "أربعاء": 2, "اربعاء": 2, "خميس": 3,
    "جمعة": 4, "سبت": 5, "أحد": 6, "احد": 6,
}  # fmt: skip
_NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6}


def _alt(words: Sequence[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_EN_MONTH = "(?P<m>" + "|".join(
    re.escape(w) + (r"\.?" if len(w) <= 4 and w not in ("may", "june", "july") else "")
    for w in sorted(_EN_MONTHS, key=len, reverse=True)
) + ")"
_WEEKDAY = rf"(?:{_alt(list(_EN_WEEKDAYS))})"
_DAY = r"(?P<d>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?:,?\s+(?P<y>(?:19|20)\d\d)\b)?"
_LEAD = rf"(?:{_WEEKDAY},?\s+(?:the\s+)?)?"
_EN_DMY = re.compile(rf"\b{_LEAD}{_DAY}\s+(?:of\s+)?{_EN_MONTH}(?![\w-]){_YEAR}", re.I)
_EN_MDY = re.compile(rf"\b{_LEAD}{_EN_MONTH}\s+{_DAY}(?![\w:-]){_YEAR}", re.I)
_AR_DMY = re.compile(
    rf"(?<!\w)(?P<d>\d{{1,2}})\s+(?:من\s+)?(?P<m>{_alt(list(_AR_MONTHS))})(?!\w)"
    rf"(?:\s*[/(]\s*(?:{_alt(list(_AR_MONTHS))})\s*\)?)?(?:\s+(?:عام\s+|سنة\s+)?(?P<y>\d{{4}}))?"
)
_EN_WEEKDAY = re.compile(
    rf"\b(?:(?P<pre>next|coming|following|last|this)\s+)?(?P<w>{_WEEKDAY})(?:['’]s)?\b", re.I
)
_AR_WEEKDAY = re.compile(
    r"(?<!\w)[وفب]?(?:(?:اليوم|يوم|مساء|صباح|ليلة|فجر|ظهر|عصر|ليل)\s+ال"
    rf"(?P<w>{_alt(list(_AR_WEEKDAYS))})(?!\w)|ال(?P<w2>{_alt(list(_AR_WEEKDAYS))})\s+الماضي"
    # the wire style "أفاد مصدر أمني، الأربعاء، بانفجار…": a bare day between commas
    rf"|(?<=[،,])\s*ال(?P<w3>{_alt(list(_AR_WEEKDAYS))})(?=\s*[،,]))"
)
# what makes the weekday after it a deadline: "starting Sunday", "until Monday", "as of
# Tuesday", اعتباراً من مساء الأحد, ابتداءً من, حتى مساء الأحد
_FROM_ON = re.compile(
    r"\b(?:starting|beginning|as\s+of|until|till)\s+(?:on\s+)?(?:(?:this|next)\s+)?$"
    r"|(?:اعتبارا?|ابتداءا?|بدءا?)[\u064b-\u0652]*\s+من\s+$|(?<!\w)حتى\s+$",
    re.I,
)
_RELATIVE = re.compile(
    r"\b(?P<en>the\s+day\s+before\s+yesterday|yesterday|last\s+night|tonight|today"
    r"|this\s+(?:morning|afternoon|evening)|overnight|(?:earlier\s+)?this\s+week|last\s+week"
    r"|over\s+the\s+weekend|last\s+weekend|(?P<n>two|three|four|five|six|[2-6])\s+days\s+ago)"
    r"(?:['’]s)?\b"
    r"|(?<!\w)(?P<ar>أمس\s+الأول|[وفب]?(?:ال)?أمس|امس|البارحة|الليلة\s+الماضية)(?!\w)"
    # this morning, this evening, this day ("في مثل هذا اليوم", on this day years ago, is not)
    r"|(?<!\w)(?P<ar0>(?:صباح|مساء|ظهر|عصر|فجر|ليلة)\s+(?:هذا\s+)?اليوم|(?<!مثل\s)هذا\s+اليوم)"
    rf"(?!\w)(?!\s+ال(?:{_alt(list(_AR_WEEKDAYS))}))",
    re.I,
)
_ATTACK = re.compile(
    r"\b(?:attack\w*|strikes?|struck|rockets?|drones?|missiles?|mortars?|shell(?:s|ing|ed)"
    r"|bomb\w*|explosi\w*|blasts?|hit|target(?:ed|ing)|launch\w*|IEDs?|wound\w*|injur\w*"
    r"|kill\w*)\b|(?:هجوم|هجمات|استهداف|استهدف|قصف|صاروخ|صواريخ|مسيرة|مسيّرة|انفجار)",
    re.I,
)
# the day of an attack, as a strike report names the attack it answers: "the Dec. 27 rocket
# attack", "Wednesday's attack", "a rocket attack on Wednesday"
_ATTACK_NOUN_AFTER = re.compile(r"(?:'s|’s)?\s+(?:[\w-]+\s+){0,2}?(?:attacks?|bombings?)\b", re.I)
_ATTACK_NOUN = re.compile(r"\b(?:attacks?|bombings?)\b", re.I)
_STRIKE_WORD = re.compile(r"\b(?:strikes?|struck|airstrikes?|raids?|retaliat\w*)\b", re.I)
_ON_BEFORE = re.compile(r"\b(?:on|of)\s+(?:the\s+)?$", re.I)
_SPEECH_WORDS = (
    r"(?:said|says|told|statement|announced|confirmed|acknowledged|identified|condemned|denounced|meeting"
    r"|met|call|visit|talks|interview|briefing|conference|reported|قال|أعلن|بيان|صرح)"
)
_SPEECH_BEFORE = re.compile(rf"(?<!\w){_SPEECH_WORDS}\s+(?:\S+\s+){{0,2}}$", re.I)
_SPEECH_AFTER = re.compile(rf"[\s,]*{_SPEECH_WORDS}(?!\w)", re.I)
_DATELINE_NOISE = re.compile(
    rf"{_WEEKDAY}|\d{{1,2}}:\d\d(?::\d\d)?|\b(?:[ap]\.?m\.?|gmt|utc|updated|published|last"
    r"|update|posted|on|at)\b|[\d\s,|/:.\-–—()+]",
    re.I,
)


@dataclass(frozen=True)
class DateMention:
    """One date expression of a text: the day (or span of days) it names, and where."""

    first: date
    last: date
    start: int
    end: int
    text: str
    explicit: bool  # a day of a month was written (not a weekday or "yesterday")

    @property
    def day(self) -> date | None:
        """The day named, or None for a span such as "this week"."""
        return self.first if self.first == self.last else None


def _yearless(published: date, month: int, day: int) -> date | None:
    try:
        candidate = date(published.year, month, day)
    except ValueError:
        candidate = None
    if candidate is not None and (candidate - published).days <= FUTURE_SLACK:
        return candidate
    if candidate is not None and (candidate - published).days <= FUTURE_HORIZON:
        return None
    try:
        return date(published.year - 1, month, day)
    except ValueError:
        return None


def _explicit(published: date, match: re.Match[str], months: dict[str, int]) -> date | None:
    month = months[" ".join(match["m"].lower().rstrip(".").split())]
    day = int(match["d"])
    if not 1 <= day <= 31:
        return None
    if match["y"]:
        try:
            found = date(int(match["y"]), month, day)
        except ValueError:
            return None
        return found if (found - published).days <= FUTURE_SLACK else None
    return _yearless(published, month, day)


def _weekday(published: datetime, weekday: int, strictly_before: bool) -> date:
    today = published.date()
    offset = today.weekday() - weekday
    ahead = published.utcoffset() == timedelta(0) and published.hour >= 21
    if ahead and offset in (-1, 6) and not strictly_before:
        return today + timedelta(days=1)
    offset %= 7
    if offset == 0 and strictly_before:
        offset = 7
    return today - timedelta(days=offset)


def _relative(published: date, match: re.Match[str]) -> tuple[date, date] | None:
    one = timedelta(days=1)
    if match["ar0"]:
        return published, published
    if match["ar"]:
        word = match["ar"]
        back = 2 if "الأول" in word else 1
        return published - back * one, published - back * one
    phrase = " ".join(match["en"].lower().split())
    monday = published - timedelta(days=published.weekday())
    if match["n"]:
        n = _NUMBERS.get(match["n"].lower()) or int(match["n"])
        return published - n * one, published - n * one
    if phrase == "the day before yesterday":
        return published - 2 * one, published - 2 * one
    if phrase in ("yesterday", "last night"):
        return published - one, published - one
    if phrase == "overnight":
        return published - one, published
    if phrase.endswith("this week"):
        return monday, published
    if phrase == "last week":
        return monday - 7 * one, monday - one
    if phrase.endswith("weekend"):
        sunday = published - timedelta(days=(published.weekday() + 1) % 7)
        return sunday - one, sunday
    return published, published  # today, tonight, this morning …


def _is_month(word: str) -> bool:
    """Month names are written capitalised: "may derail" is no date."""
    return word[:1].isupper() or not word[:1].isascii()


def _candidates(text: str, published: datetime) -> Iterator[tuple[int, DateMention]]:
    """(priority, mention) for every pattern hit; lower priority wins an overlap."""
    day = published.date()
    for pattern, months in ((_EN_DMY, _EN_MONTHS), (_EN_MDY, _EN_MONTHS), (_AR_DMY, _AR_MONTHS)):
        for m in pattern.finditer(text):
            found = _explicit(day, m, months) if _is_month(m["m"]) else None
            if found is not None:
                yield 0, DateMention(found, found, m.start(), m.end(), m[0], True)
    for m in _RELATIVE.finditer(text):
        span = _relative(day, m)
        if span is not None:
            yield 1, DateMention(span[0], span[1], m.start(), m.end(), m[0], False)
    for m in _EN_WEEKDAY.finditer(text):
        pre = (m["pre"] or "").lower()
        if pre in ("next", "coming", "following") or not m["w"][:1].isupper():
            continue
        if _FROM_ON.search(text, max(0, m.start() - 30), m.start()):
            continue  # "starting Sunday", "until Monday": a deadline, not an event
        found = _weekday(published, _EN_WEEKDAYS[m["w"].lower()], pre == "last")
        yield 2, DateMention(found, found, m.start(), m.end(), m[0], False)
    for m in _AR_WEEKDAY.finditer(text):
        if _FROM_ON.search(text, max(0, m.start() - 30), m.start()):
            continue  # اعتباراً من مساء الأحد: from Sunday evening on
        name = m["w"] or m["w2"] or m["w3"]
        found = _weekday(published, _AR_WEEKDAYS[name], bool(m["w2"]))
        yield 2, DateMention(found, found, m.start(), m.end(), m[0], False)


def _line(text: str, start: int, end: int) -> str:
    return text[text.rfind("\n", 0, start) + 1 : (text.find("\n", end) + 1 or len(text) + 1) - 1]


def _is_wire_dateline(text: str, mention: DateMention) -> bool:
    """The date of a wire story's dateline ("BAGHDAD, May 27 (Reuters) -"): when it was filed."""
    line_start = text.rfind("\n", 0, mention.start) + 1
    return mention.end <= dateline_end(text, line_start, mention.end + 60)


def _is_dateline(text: str, mention: DateMention) -> bool:
    """A line holding nothing but this date, a weekday, a time: when the page was published."""
    line = _line(text, mention.start, mention.end)
    rest = line.replace(mention.text, " ", 1)
    return not _DATELINE_NOISE.sub("", rest).strip()


def date_mentions(text: str, published: datetime) -> tuple[DateMention, ...]:
    """Every date expression of ``text`` (datelines left out), resolved, in reading order.

    ``published`` should be timezone-aware; its own local date is the reference day.
    """
    return tuple(m for m in _all_mentions(text, published)
                 if not _is_dateline(text, m) and not _is_wire_dateline(text, m))


def _all_mentions(text: str, published: datetime) -> list[DateMention]:
    taken: list[DateMention] = []
    ranked = sorted(_candidates(text, published), key=lambda c: (c[0], c[1].start))
    for _, mention in ranked:
        if not any(mention.start < m.end and m.start < mention.end for m in taken):
            taken.append(mention)
    return sorted(taken, key=lambda m: m.start)


def event_dates(text: str, published: datetime) -> tuple[date, ...]:
    """The days ``text`` names, resolved against ``published``: in order of appearance, once."""
    days = (m.day for m in date_mentions(text, published))
    return tuple(dict.fromkeys(d for d in days if d is not None))


def _sentence(bounds: Sequence[int], offset: int) -> int:
    lo, hi = 0, len(bounds)
    while lo < hi:
        mid = (lo + hi) // 2
        if bounds[mid] <= offset:
            lo = mid + 1
        else:
            hi = mid
    return lo


def primary_event_date(
    text: str, published: datetime, anchors: Sequence[tuple[int, int]] = (), lead: int = 0,
    strike: bool = False,
) -> date | None:
    """The day ``text`` most likely gives for its event, or None when it names no recent day.

    Each day named at most :data:`RECENT` days before publication scores: +2 for an attack word
    within 80 characters in its sentence (+1 further off in it), +2 for an ``anchor`` span (the
    matcher's evidence, offsets into ``text``) in its sentence (+0.5 within 250 characters),
    +1 when it is at most a week old, +0.5 in the first 500 characters, +0.25 when written as a
    date, -1.5 right after or before a word of speech ("said on Tuesday", "a statement on
    Monday", "on Tuesday told": the day of the telling, not of the event) or after "since",
    else +:data:`LEDE` before offset ``lead`` (the headline and lede: a report tells when in its
    first sentence, and retells earlier attacks further down). A
    day named several times adds up its mentions; the best wins if it scores above 0, and a tie
    goes to the first named. A wire dateline's day ("BAGHDAD, May 27 (Reuters) -") is the day
    the story was filed, the event's or the next: it scores :data:`FILED` and nothing more.
    In a report of a US ``strike``, the day of an attack ("the Dec. 27 rocket attack", "a rocket
    attack on Wednesday") is the day of the attack it answers, not a candidate.
    """
    # the matcher's sentences: "Jan. 23, U.S. Central Command…" is one sentence, not three
    bounds = [start for start, _ in split_sentences(text)[1:]]
    attacks = [(m.start(), m.end()) for m in _ATTACK.finditer(text)]
    scores: dict[date, float] = {}
    for mention in _all_mentions(text, published):
        day = mention.day
        age = (published.date() - day).days if day is not None else -1
        if day is None or not -FUTURE_SLACK <= age <= RECENT or _is_dateline(text, mention):
            continue
        if _is_wire_dateline(text, mention):
            scores[day] = scores.get(day, 0.0) + FILED
            continue
        sentence = _sentence(bounds, mention.start)
        if strike and _of_attack(text, mention, bounds[sentence - 1] if sentence else 0):
            continue  # the day of the attack a strike answers
        score = 1.0 if age <= 7 else 0.0
        score += 0.5 if mention.start < 500 else 0.0
        score += 0.25 if mention.explicit else 0.0
        near = [_gap(mention, a) for a in attacks if _sentence(bounds, a[0]) == sentence]
        score += (2.0 if min(near) <= 80 else 1.0) if near else 0.0
        if _spoken(text, mention):
            score -= 1.5
        elif mention.start < lead:
            score += LEDE  # the headline or lede tells when ("…struck the base on Saturday")
        if any(_sentence(bounds, a[0]) == sentence for a in anchors):
            score += 2.0
        elif any(_gap(mention, a) <= 250 for a in anchors):
            score += 0.5
        scores[day] = scores.get(day, 0.0) + score
    if not scores or max(scores.values()) <= 0:
        return None
    return max(scores, key=lambda d: scores[d])  # dicts keep reading order: ties go to the first


def _of_attack(text: str, mention: DateMention, sentence_start: int) -> bool:
    """ "the Dec. 27 rocket attack", "Wednesday's attack", "an attack on Wednesday", "a rocket
    attack on U.S. personnel at Patrol Base Shaddadi on November 12": in one sentence, with no
    strike word between."""
    if _ATTACK_NOUN_AFTER.match(text, mention.end):
        return True
    before = text[max(sentence_start, mention.start - 100) : mention.start]
    nouns = list(_ATTACK_NOUN.finditer(before))
    if not nouns or not _ON_BEFORE.search(before):
        return False
    between = before[nouns[-1].end() :]  # "attack on U.S. personnel at … on November 12"
    return not _STRIKE_WORD.search(between) and "\n" not in between


def _spoken(text: str, mention: DateMention) -> bool:
    """ "said on Tuesday", "a statement on Monday", "on Tuesday told": the day of a telling;
    "since October 17": the start of a count."""
    if mention.text.endswith(("'s", "’s")):
        return False  # "said Monday's attack": the day of the attack
    before = text[max(0, mention.start - 40) : mention.start]
    if before.rstrip().lower().endswith(("since", "until", "منذ")):
        return True  # "attacks since October 17": where a count starts
    return bool(_SPEECH_BEFORE.search(before) or _SPEECH_AFTER.match(text, mention.end))


def _gap(mention: DateMention, span: tuple[int, int]) -> int:
    return max(0, span[0] - mention.end, mention.start - span[1])
