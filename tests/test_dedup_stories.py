"""Story assignment across outlets: the real matcher on the seeds and on wire-style reports, fed
through ``assign`` the way a pipeline would (a fold over ``updated_view``), with a fixed clock."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache
from pathlib import Path

import pytest

from monitor.dedup.stories import (
    COUNTRIES,
    StoryDecision,
    StoryView,
    assign,
    entity_kinds,
    entity_regions,
    text_sample,
    updated_view,
)
from monitor.match import RuleSet, lead, load_rules, match
from monitor.model import Article, Entry, Match

ROOT = Path(__file__).resolve().parents[1]
SEEDS = Path(__file__).parent / "data" / "seeds"
AA = "Ain al-Asad Air Base"


@cache
def rules() -> RuleSet:
    return load_rules(ROOT / "rules")


@cache
def kinds() -> dict[str, str]:
    return entity_kinds(rules().entities)


@cache
def regions() -> dict[str, str]:
    return entity_regions(rules().entities)


def article(key: str, title: str, text: str, published: datetime, outlet: str = "") -> Article:
    entry = Entry(feed=outlet or key, guid=key, link=f"https://example.org/{key}", title=title,
                  summary="", published=published)
    return Article(entry=entry, url=entry.link, title=title, text=text, published=published,
                   site=outlet or key, source="page")


class Pipeline:
    """The fold a pipeline does: assign, then keep the story's view for the next article."""

    def __init__(self, window: timedelta = timedelta(days=7)) -> None:
        self.window = window
        self.views: dict[int, StoryView] = {}
        self.story: dict[str, int] = {}  # article key → story id
        self.decisions: dict[str, StoryDecision] = {}
        self.clock: datetime | None = None

    def feed(self, items: Iterable[Article]) -> Pipeline:
        for a in items:
            self.add(a)
        return self

    def add(self, a: Article, matches: Sequence[Match] | None = None) -> StoryDecision:
        assert a.published is not None
        self.clock = max(self.clock or a.published, a.published)  # the clock never goes back
        now = self.clock + timedelta(hours=1)
        found = match(a, rules()) if matches is None else matches
        decision = assign(a, found, list(self.views.values()), now, kinds=kinds(),
                          window=self.window, lead=lead(a, rules()), regions=regions())
        assert decision is not None, f"{a.entry.guid} matched nothing"
        sid = decision.story_id if decision.story_id is not None else len(self.views) + 1
        self.views[sid] = updated_view(self.views.get(sid), sid, decision, a, now)
        self.story[a.entry.guid] = sid
        self.decisions[a.entry.guid] = decision
        return decision

    def grouping(self) -> set[frozenset[str]]:
        by_story: dict[int, set[str]] = {}
        for key, sid in self.story.items():
            by_story.setdefault(sid, set()).add(key)
        return {frozenset(keys) for keys in by_story.values()}


# ---------------------------------------------------------------- the seed reports

SEED_PUBLISHED = {
    "000": datetime(2024, 8, 6, 14, 12, tzinfo=timezone(timedelta(hours=4))),
    "001": datetime(2024, 8, 7, 20, 53, 19, tzinfo=UTC),
    "002": datetime(2019, 12, 7, 7, 30, tzinfo=UTC),
    "003": datetime(2024, 8, 8, 10, 0, tzinfo=timezone(timedelta(hours=3))),
    "004": datetime(2023, 10, 25, 12, 40, tzinfo=timezone(timedelta(hours=1))),
}
SEED_STORIES = {frozenset({"000", "001", "003"}), frozenset({"002"}), frozenset({"004"})}


@cache
def seeds() -> dict[str, Article]:
    found = {}
    for path in sorted(SEEDS.glob("*.txt")):
        key = path.name[:3]
        text = path.read_text(encoding="utf-8")
        title = next(line for line in text.splitlines() if line.strip()).strip()
        found[key] = article(key, title, text, SEED_PUBLISHED[key])
    return found


@cache
def seed_matches(key: str) -> tuple[Match, ...]:
    return match(seeds()[key], rules())


def run_seeds(order: Iterable[str], window: timedelta = timedelta(days=7)) -> Pipeline:
    p = Pipeline(window)
    for key in order:
        p.add(seeds()[key], seed_matches(key))
    return p


def test_seeds_in_publication_order() -> None:
    order = sorted(seeds(), key=lambda k: SEED_PUBLISHED[k])
    p = run_seeds(order)
    assert p.grouping() == SEED_STORIES
    assert p.decisions["002"].story_id is None
    assert p.decisions["004"].story_id is None
    assert p.decisions["000"].story_id is None
    story = p.views[p.story["000"]]
    assert story.event_date == date(2024, 8, 5)
    assert story.sites == {AA}
    assert story.outlets == {"000", "001", "003"}
    assert story.severity == "critical"
    for key in ("001", "003"):
        reason = p.decisions[key].reason
        assert reason.startswith(f"joined story {story.id}: same base ({AA})")
        assert "event 2024-08-05 same day" in reason
    assert "same group (Al-Thawriyoun (the Revolutionaries))" in p.decisions["003"].reason
    assert p.views[p.story["002"]].event_date == date(2019, 12, 5)
    assert p.views[p.story["004"]].event_date == date(2023, 10, 23)


@pytest.mark.parametrize("order", list(itertools.permutations(sorted(SEED_PUBLISHED))))
def test_seeds_in_any_arrival_order(order: tuple[str, ...]) -> None:
    assert run_seeds(order).grouping() == SEED_STORIES


def test_seeds_the_dates_keep_other_years_apart_without_the_window() -> None:
    p = run_seeds(["000", "001", "003", "002", "004"], window=timedelta(days=5000))
    assert p.grouping() == SEED_STORIES
    assert "event 2019-12-05 vs 2024-08-05, 1705 days apart" in p.decisions["002"].reason
    assert "event 2023-10-23 vs 2024-08-05, 287 days apart" in p.decisions["004"].reason


def test_new_story_reason_says_where_and_when() -> None:
    p = run_seeds(["000"])
    assert p.decisions["000"].reason == (
        f"new story: attack at {AA}, event 2024-08-05; no recent story")


# ---------------------------------------------------------------- wire-style reports

WED = datetime(2024, 1, 17, 6, 0, tzinfo=UTC)  # Wednesday 17 January 2024


def aa_drones(key: str = "aa-ap", at: datetime = WED) -> Article:
    return article(key, "Drones target US forces at Ain al-Asad air base in Iraq",
                   "Two drones targeted Ain al-Asad air base in western Iraq late on Tuesday, a "
                   "US defence official said. There were no immediate reports of casualties, the "
                   "official said, speaking on condition of anonymity.", at, "AP")


def aa_reuters(at: datetime = WED + timedelta(hours=4)) -> Article:
    return article("aa-reuters", "Ain al-Asad airbase hit by drone attack, no casualties - US",
                   "A drone attack struck Ain Al-Asad airbase in Iraq's Anbar province on "
                   "Tuesday, causing no casualties, a US official told Reuters on Wednesday.",
                   at, "Reuters")


def harir(at: datetime = WED + timedelta(hours=2)) -> Article:
    return article("harir", "Rockets fired at Harir base hosting US troops in Kurdistan",
                   "Three rockets were fired at Harir air base north of Erbil on Tuesday night, "
                   "the Kurdistan Region's counter-terrorism service said in a statement. The "
                   "base hosts US-led coalition troops.", at, "Rudaw")


def test_two_bases_attacked_the_same_night_are_two_stories() -> None:
    p = Pipeline().feed([aa_drones(), harir(), aa_reuters()])
    assert p.grouping() == {frozenset({"aa-ap", "aa-reuters"}), frozenset({"harir"})}
    assert "different bases (Harir Air Base / Ain al-Asad Air Base)" in p.decisions["harir"].reason


def test_an_arabic_report_joins_the_english_story_by_base_and_day() -> None:
    arabic = article("ar", "هجوم بطائرات مسيرة على قاعدة عين الأسد",
                     "استهدفت طائرات مسيرة قاعدة عين الأسد الجوية التي تضم قوات أمريكية في غرب "
                     "العراق مساء الثلاثاء، بحسب مصدر أمني.", WED + timedelta(hours=3), "Shafaq")
    p = Pipeline().feed([aa_drones(), harir(), arabic])
    assert frozenset({"aa-ap", "ar"}) in p.grouping()
    assert "event 2024-01-16 same day" in p.decisions["ar"].reason


def test_same_base_ten_days_apart_is_two_stories() -> None:
    later = article("aa-jan27", "Rockets strike Ain al-Asad air base",
                    "Several rockets struck Ain al-Asad air base in western Iraq on Saturday, "
                    "the Iraqi security media cell said.", WED + timedelta(days=10), "AFP")
    p = Pipeline().feed([aa_drones(), later])
    assert len(p.grouping()) == 2
    assert "away (window 7 days)" in p.decisions["aa-jan27"].reason
    wide = Pipeline(window=timedelta(days=30)).feed([aa_drones(), later])
    assert len(wide.grouping()) == 2  # the dates alone keep them apart
    assert "event 2024-01-27 vs 2024-01-16, 11 days apart" in wide.decisions["aa-jan27"].reason


def test_same_base_two_days_apart_by_the_dates_is_two_stories() -> None:
    again = article("aa-thu", "New drone attack on Ain al-Asad",
                    "Another drone attack targeted Ain al-Asad air base on Thursday, two days "
                    "after Tuesday's attack, a US official said.",
                    WED + timedelta(days=1, hours=12), "AFP")
    p = Pipeline().feed([aa_drones(), again])
    assert len(p.grouping()) == 2
    assert "event 2024-01-18 vs 2024-01-16" in p.decisions["aa-thu"].reason


def test_follow_up_two_days_later_about_mondays_attack_joins() -> None:
    tue = datetime(2024, 8, 6, 9, 0, tzinfo=UTC)
    first = article("aa-mon", "Rocket attack on Ain al-Asad wounds US troops",
                    "Rockets struck Ain al-Asad air base in western Iraq late on Monday, wounding "
                    "several US personnel, officials said.", tue, "Reuters")
    follow = article("aa-follow", "Pentagon says Monday's attack on Ain al-Asad wounded five",
                     "US officials said on Wednesday that Monday's rocket attack on Ain al-Asad "
                     "air base in western Iraq wounded five US service members and two "
                     "contractors, and blamed Iran-backed militias.", tue + timedelta(days=1,
                     hours=10), "AP")
    p = Pipeline().feed([first, follow])
    assert p.grouping() == {frozenset({"aa-mon", "aa-follow"})}
    assert "event 2024-08-05 same day" in p.decisions["aa-follow"].reason


def tanf(at: datetime) -> Article:
    return article("tanf", "Drone attack targets US garrison at Tanf in Syria",
                   "A one-way attack drone struck al-Tanf garrison in southeastern Syria on "
                   "Sunday, a US military official said. No US personnel were injured.", at, "AP")


def test_a_militias_claim_joins_the_attack_it_claims() -> None:
    mon = datetime(2024, 1, 29, 8, 0, tzinfo=UTC)
    claim = article("claim", "Iraqi armed group claims drone attack on Tanf base",
                    "The Islamic Resistance in Iraq claimed responsibility for a drone attack on "
                    "the al-Tanf garrison in Syria on Sunday, the group said in a statement on "
                    "Telegram.", mon + timedelta(hours=5), "Shafaq News")
    p = Pipeline().feed([tanf(mon), claim])
    assert p.grouping() == {frozenset({"tanf", "claim"})}
    reason = p.decisions["claim"].reason
    assert "same base (Al-Tanf Garrison)" in reason and "event 2024-01-28 same day" in reason
    view = p.views[p.story["tanf"]]
    assert view.groups == {"Islamic Resistance in Iraq"}  # the claimant is now one of its keys
    assert "Iran-aligned armed group (unnamed)" not in view.groups


SAT = datetime(2024, 1, 20, 9, 0, tzinfo=UTC)  # the week of Monday 15 January


def week_reports() -> list[Article]:
    return [
        article("r-aa", "Drones target Ain al-Asad air base",
                "Drones targeted Ain al-Asad air base in western Iraq on Monday, officials said.",
                datetime(2024, 1, 15, 20, 0, tzinfo=UTC), "AP"),
        harir(datetime(2024, 1, 17, 1, 0, tzinfo=UTC)),
        article("r-tanf", "Drone hits US garrison at Tanf",
                "A drone hit the al-Tanf garrison in Syria on Wednesday, a US official said.",
                datetime(2024, 1, 17, 18, 0, tzinfo=UTC), "Reuters"),
    ]


def round_up(title: str = "Iran-backed militias step up attacks on US forces") -> Article:
    return article("roundup", title,
                   "Iran-backed militias have attacked US forces at least five times this week, "
                   "US officials said on Friday. Drones targeted Ain al-Asad air base on Monday, "
                   "rockets struck Harir air base on Tuesday and a drone hit the al-Tanf "
                   "garrison on Wednesday.", SAT, "The National")


def harir_more() -> Article:
    return article("harir-2", "Kurdistan: investigation into rocket attack on Harir",
                   "Kurdish security forces opened an investigation into Tuesday's rocket "
                   "attack on Harir air base, an official said.", SAT + timedelta(hours=2),
                   "Kurdistan24")


def test_a_weekly_round_up_glues_no_stories_together() -> None:
    p = Pipeline().feed([*week_reports(), round_up(), harir_more()])
    assert p.grouping() == {frozenset({"r-aa"}), frozenset({"harir", "harir-2"}),
                            frozenset({"r-tanf"}), frozenset({"roundup"})}
    assert "joins only a story of a base its headline names" in p.decisions["roundup"].reason


def test_a_round_up_headlining_one_attack_joins_that_story_only() -> None:
    p = Pipeline().feed([*week_reports(), round_up("Drones hit Ain al-Asad as attacks mount"),
                         harir_more()])
    stories = p.grouping()
    assert frozenset({"r-aa", "roundup"}) in stories
    assert frozenset({"harir", "harir-2"}) in stories
    assert p.views[p.story["r-aa"]].sites == {AA}  # the round-up's other bases were not added
    assert "same base (Ain al-Asad Air Base)" in p.decisions["roundup"].reason


@pytest.mark.parametrize("order", list(itertools.permutations(range(5))))
def test_a_round_up_first_does_not_capture_the_reports(order: tuple[int, ...]) -> None:
    items = [*week_reports(), round_up(), harir_more()]
    p = Pipeline().feed(items[i] for i in order)
    assert p.grouping() == {frozenset({"r-aa"}), frozenset({"harir", "harir-2"}),
                            frozenset({"r-tanf"}), frozenset({"roundup"})}


def country_only(at: datetime = WED + timedelta(hours=1)) -> Article:
    return article("country", "Drones target US forces in Iraq",
                   "Drones targeted US forces in Iraq late on Tuesday, a US official said.", at,
                   "Al Arabiya")


def test_a_report_naming_only_the_country_joins_a_lone_same_day_story() -> None:
    p = Pipeline().feed([aa_drones(), country_only()])
    assert p.grouping() == {frozenset({"aa-ap", "country"})}
    reason = p.decisions["country"].reason
    assert "same place (Iraq)" in reason and "event 2024-01-16 same day" in reason
    assert "same base" not in reason


def test_a_report_naming_only_the_country_between_two_stories_opens_its_own() -> None:
    ain_al_asad_too = article("aa-2", "Drones target US forces in western Iraq base",
                              "Drones targeted US forces at Ain al-Asad in western Iraq late on "
                              "Tuesday, a US official said.", WED, "AFP")
    erbil = article("erbil", "Drones target US forces at Erbil air base in Iraq",
                    "Drones targeted US forces at Erbil air base in northern Iraq late on "
                    "Tuesday, a US official said.", WED, "Kurdistan24")
    p = Pipeline().feed([ain_al_asad_too, erbil, country_only()])
    assert len(p.grouping()) == 3  # two as likely: no guess
    assert "stories 1 and 2 as likely" in p.decisions["country"].reason


THU = datetime(2023, 12, 14, 10, 0, tzinfo=UTC)  # Thursday 14 December 2023


def convoy(key: str, place: str, at: datetime = THU) -> Article:
    return article(key, f"IED targets coalition logistics convoy in {place}",
                   f"A roadside bomb hit a convoy carrying supplies for the US-led coalition in "
                   f"{place} on Thursday morning, a security source said.", at, key)


def convoy_in_arabic(at: datetime = THU + timedelta(minutes=25),
                     place: str = "محافظة الديوانية") -> Article:
    return article("sumaria", f"انفجار عبوة ناسفة على رتل للتحالف الدولي في {place}",
                   "أفاد مصدر أمني، اليوم الخميس، بانفجار عبوة ناسفة استهدفت رتلاً ينقل معدات "
                   f"لوجستية تابعة للتحالف الدولي على الطريق الدولي في {place}.", at,
                   "Al Sumaria")


def test_an_arabic_report_without_a_base_joins_by_place_and_event_day() -> None:
    # no base or group to share and no words in common: the same place and the same event day
    p = Pipeline().feed([convoy("shafaq", "Diwaniyah"), convoy_in_arabic()])
    assert p.grouping() == {frozenset({"shafaq", "sumaria"})}
    assert "another script: same event day" in p.decisions["sumaria"].reason
    # the day of the week before is another event
    p = Pipeline().feed([convoy("shafaq", "Diwaniyah", THU - timedelta(days=7)),
                         convoy_in_arabic()])
    assert len(p.grouping()) == 2


def test_across_scripts_a_shared_country_is_not_enough() -> None:
    p = Pipeline().feed([convoy("afp", "Iraq"), convoy_in_arabic(place="العراق")])
    assert len(p.grouping()) == 2
    assert "no base or group in common" in p.decisions["sumaria"].reason
    places = {e.name for e in rules().entities if e.kind == "place"}
    assert COUNTRIES <= places  # the names the weighing leaves out are the rules' own


def test_convoys_hit_the_same_day_in_two_provinces_are_two_stories() -> None:
    # the same wire wording, two provinces: two events; the Arabic report joins its province's
    p = Pipeline().feed([convoy("shafaq", "Diwaniyah"), convoy("ina", "Nasiriyah"),
                         convoy_in_arabic()])
    assert p.grouping() == {frozenset({"shafaq", "sumaria"}), frozenset({"ina"})}


def test_an_arabic_report_between_two_convoy_stories_opens_its_own() -> None:
    second = article("rudaw", "Coalition trucks hit again near Diwaniyah",
                     "An explosive device struck trucks hauling equipment of the international "
                     "coalition on the Diwaniyah road on Thursday; nobody was hurt.", THU,
                     "Rudaw")
    p = Pipeline().feed([convoy("shafaq", "Diwaniyah"), second, convoy_in_arabic()])
    assert len(p.grouping()) == 3  # two convoy stories in Diwaniyah that day: no guess
    assert "as likely" in p.decisions["sumaria"].reason


# ---------------------------------------------------------------- the decision itself

def test_no_match_no_decision() -> None:
    assert assign(aa_drones(), [], [], WED, kinds=kinds()) is None


def test_empty_recent_opens_a_story() -> None:
    a = aa_drones()
    decision = assign(a, match(a, rules()), [], WED, kinds=kinds())
    assert decision is not None
    assert decision.story_id is None
    assert decision.event_date == date(2024, 1, 16)
    assert decision.sites == {AA}
    assert decision.reason.endswith("no recent story")


def view(story_id: int, last: datetime, **over: object) -> StoryView:
    base = StoryView(
        id=story_id, title="Drones target US forces at Ain al-Asad", severity="high",
        first_seen=last, last_seen=last, event_date=last.date() - timedelta(days=1),
        entities=frozenset({AA, "Iraq"}), sites=frozenset({AA}), groups=frozenset(),
        rules=frozenset({"coalition-base-attack"}), outlets=frozenset({"AP"}),
        text_sample=text_sample(aa_drones()),
    )
    return StoryView(**{**base.__dict__, **over})  # type: ignore[arg-type]


def test_a_story_outside_the_window_is_not_joined() -> None:
    a = aa_reuters()
    stale = view(3, WED - timedelta(days=8), event_date=date(2024, 1, 16))
    decision = assign(a, match(a, rules()), [stale], WED + timedelta(hours=5), kinds=kinds())
    assert decision is not None and decision.story_id is None
    assert "closest story 3: its last report is 8 days away (window 7 days)" in decision.reason


def test_the_same_story_wins_whatever_the_order_of_recent() -> None:
    a = aa_reuters()
    stories = [view(i, WED - timedelta(hours=i)) for i in (4, 2, 7)]
    picks = {assign(a, match(a, rules()), order, WED + timedelta(hours=5), kinds=kinds())
             for order in itertools.permutations(stories)}
    assert len(picks) == 1
    assert next(iter(picks)).story_id == 2  # equal scores: the most recently updated


def test_a_threat_does_not_join_an_attack() -> None:
    a = article("threat", "Kataib Hezbollah threatens US forces",
                "Kataib Hezbollah warned on Tuesday that US bases in Iraq would be legitimate "
                "targets.", WED, "Al Mayadeen")
    found = match(a, rules())
    assert {m.rule_id for m in found} == {"militia-threat"}
    attack = view(5, WED, groups=frozenset({"Kataib Hezbollah"}),
                  entities=frozenset({AA, "Kataib Hezbollah"}),
                  rules=frozenset({"militia-linked-base-attack"}))
    decision = assign(a, found, [attack], WED, kinds=kinds())
    assert decision is not None and decision.story_id is None
    assert "threat vs attack" in decision.reason


def test_a_leaders_threat_is_the_leaders_story_and_two_reports_of_it_join_by_him() -> None:
    """A leader (kind person) speaks for his group: his threat is told "by" him, and the
    Arabic report naming him with his group joins the English one naming him alone; another
    leader's threat the same day is another story."""
    en = article("kh-en", "Khazali warns US troops will face attacks if they stay in Iraq",
                 "Qais al-Khazali said on Sunday that US forces who stay past the deadline "
                 "would be treated as occupiers.", WED, "Reuters")
    ar = article("kh-ar", "الخزعلي يهدد القوات الأمريكية",
                 "هدد الأمين العام لعصائب أهل الحق قيس الخزعلي، الأحد، القوات الأمريكية "
                 "باستئناف العمليات إذا لم تنسحب.", WED + timedelta(hours=3), "Shafaq News")
    other = article("kb-en", "Kaabi vows attacks on US bases unless troops leave",
                    "Akram al-Kaabi said on Sunday that US bases in Syria would be legitimate "
                    "targets.", WED + timedelta(hours=4), "AP")
    p = Pipeline().feed([en, ar, other])
    assert p.grouping() == {frozenset({"kh-en", "kh-ar"}), frozenset({"kb-en"})}
    assert "threat by Qais al-Khazali (Asaib Ahl al-Haq)" in p.decisions["kh-en"].reason
    assert "same group (Asaib Ahl al-Haq)" in p.decisions["kh-ar"].reason


def test_a_leaders_threat_and_his_groups_join_as_one_groups() -> None:
    """A report naming only the leader and one naming only his group (people.yaml's ``in``)
    tell one group's threat; another group's leader the same day opens his own story."""
    group = article("aah-en", "Asaib Ahl al-Haq threatens US forces over withdrawal deadline",
                    "Asaib Ahl al-Haq warned on Sunday that US forces who stay in Iraq past the "
                    "deadline would be legitimate targets.", WED, "Al Mayadeen")
    leader = article("kh-en", "Khazali warns US troops will face attacks if they stay in Iraq",
                     "Qais al-Khazali said on Sunday that US forces who stay past the deadline "
                     "would be treated as occupiers.", WED + timedelta(hours=2), "Reuters")
    other = article("kb-en", "Kaabi vows attacks on US bases unless troops leave",
                    "Akram al-Kaabi said on Sunday that US bases in Iraq would be legitimate "
                    "targets.", WED + timedelta(hours=4), "AP")
    p = Pipeline().feed([group, leader, other])
    assert p.grouping() == {frozenset({"aah-en", "kh-en"}), frozenset({"kb-en"})}
    assert "same group (Asaib Ahl al-Haq)" in p.decisions["kh-en"].reason
    assert "no base or group in common" in p.decisions["kb-en"].reason


def test_kinds_by_id_only_are_enough_for_the_article() -> None:
    a = aa_reuters()
    by_id = {k: v for k, v in kinds().items() if k == k.lower() and " " not in k}
    decision = assign(a, match(a, rules()), [view(2, WED)], WED + timedelta(hours=5),
                      kinds=by_id)
    assert decision is not None and decision.story_id == 2
    assert f"same base ({AA})" in decision.reason
