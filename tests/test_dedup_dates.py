"""Event dates read from an article's text, resolved against its publication date (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from monitor.dedup.dates import date_mentions, event_dates, primary_event_date

SEEDS = Path(__file__).parent / "data" / "seeds"
WED = datetime(2024, 8, 7, 12, 0, tzinfo=UTC)  # Wednesday 7 August 2024
MON = datetime(2024, 8, 5, 12, 0, tzinfo=UTC)  # Monday 5 August 2024


def seed(prefix: str) -> str:
    return next(SEEDS.glob(f"{prefix}_*.txt")).read_text(encoding="utf-8")


# ---------------------------------------------------------------- the seed reports

def test_seed_000_mondays_attack_is_5_august() -> None:
    published = datetime(2024, 8, 6, 14, 12, tzinfo=timezone(timedelta(hours=4)))
    assert event_dates(seed("000"), published)[0] == date(2024, 8, 5)
    assert primary_event_date(seed("000"), published) == date(2024, 8, 5)


def test_seed_001_on_monday_in_a_wednesday_piece() -> None:
    published = datetime(2024, 8, 7, 20, 53, 19, tzinfo=UTC)
    days = event_dates(seed("001"), published)
    assert days[0] == date(2024, 8, 5)
    assert date(2024, 8, 7) not in days  # the ISO stamp in the page chrome is no event
    assert primary_event_date(seed("001"), published) == date(2024, 8, 5)


def test_seed_002_december_3_and_late_thursday() -> None:
    published = datetime(2019, 12, 7, 7, 30, tzinfo=UTC)
    days = event_dates(seed("002"), published)
    assert date(2019, 12, 3) in days
    assert date(2019, 12, 5) in days  # "late Thursday", "Thursday's attack"
    assert date(2019, 12, 7) not in days  # "Saturday, 7 December, 2019 - 07:30" is a dateline


def test_seed_003_three_attacks_of_2024() -> None:
    published = datetime(2024, 8, 8, 10, 0, tzinfo=timezone(timedelta(hours=3)))
    days = event_dates(seed("003"), published)
    assert [d for d in days if d.year == 2024] == [
        date(2024, 7, 16), date(2024, 7, 25), date(2024, 8, 5)]
    assert date(2020, 1, 13) in days  # a written year is kept (the photo caption)
    assert primary_event_date(seed("003"), published) == date(2024, 8, 5)


def test_seed_004_on_23_october_and_on_monday() -> None:
    published = datetime(2023, 10, 25, 12, 40, tzinfo=timezone(timedelta(hours=1)))
    text = seed("004")
    assert event_dates(text, published)[0] == date(2023, 10, 23)
    assert {m.first for m in date_mentions(text, published)
            if m.text in ("Monday", "23 October")} == {date(2023, 10, 23)}
    assert date(2023, 10, 12) in event_dates(text, published)  # "On Wednesday, 12 October"
    assert primary_event_date(text, published) == date(2023, 10, 23)


# ---------------------------------------------------------------- explicit days

@pytest.mark.parametrize("phrase", [
    "on 5 August", "on August 5", "on Aug. 5", "on Aug 5", "on the 5th of August",
    "on August 5th", "on Monday, 5 August", "on 5 August 2024", "on August 5, 2024",
    "في 5 آب/أغسطس", "يوم 5 أغسطس 2024", "في ٥ آب",
])
def test_explicit_days(phrase: str) -> None:
    assert event_dates(f"Rockets hit the base {phrase}.", WED) == (date(2024, 8, 5),)


def test_a_yearless_day_is_the_most_recent_one() -> None:
    assert event_dates("Five rockets hit Al-Asad air base on December 3.",
                       datetime(2019, 12, 7, tzinfo=UTC)) == (date(2019, 12, 3),)
    # across the year boundary
    assert event_dates("Rockets hit the base on December 30.",
                       datetime(2024, 1, 2, tzinfo=UTC)) == (date(2023, 12, 30),)
    # a day far ahead in the calendar year is last year's
    assert event_dates("The attack of 3 December.", datetime(2024, 3, 1, tzinfo=UTC)) == (
        date(2023, 12, 3),)


def test_future_references_are_no_event_dates() -> None:
    text = "Talks resume on August 20. Elections are due on 10 September 2024."
    assert event_dates(text, WED) == ()
    # a day after publication is still taken: the outlet's clock may be behind the region's
    assert event_dates("Rockets hit the base on August 8.", WED) == (date(2024, 8, 8),)


def test_may_the_verb_and_ambiguous_numbers_are_no_dates() -> None:
    assert event_dates("The attack may 5 times derail talks; 5/8/2024; 2024-08-05", WED) == ()


# ---------------------------------------------------------------- weekdays and relative days

@pytest.mark.parametrize(("phrase", "day"), [
    ("on Monday", 5), ("Monday's attack", 5), ("late on Monday", 5), ("on Saturday night", 3),
    ("late Tuesday", 6), ("on Wednesday", 7), ("last Monday", 5), ("last Wednesday", 31),
    ("yesterday", 6), ("last night", 6), ("the day before yesterday", 5), ("two days ago", 5),
    ("earlier today", 7), ("this morning", 7),
    ("يوم الاثنين", 5), ("مساء الخميس", 1), ("الاثنين الماضي", 5), ("أمس", 6),
    ("اليوم الأربعاء", 7), ("فجر الثلاثاء", 6),
    ("الليلة الماضية", 6), ("، الثلاثاء،", 6), ("صباح اليوم", 7), ("صباح هذا اليوم", 7),
])
def test_weekdays_and_relative_days(phrase: str, day: int) -> None:
    month = 7 if day > 7 else 8
    assert event_dates(f"Rockets hit the base {phrase}.", WED) == (date(2024, month, day),)


def test_arabic_bare_days_only_in_the_wire_style() -> None:
    # "a security source said, on Tuesday, that…": a bare day between commas
    text = "أفاد مصدر أمني في محافظة الديوانية، الثلاثاء، بانفجار عبوة ناسفة"
    assert event_dates(text, WED) == (date(2024, 8, 6),)
    # "the two" (الاثنين) in running text, and "on this day" of an earlier year, are no days
    assert event_dates("اتفق الاثنين على الهدنة", WED) == ()
    assert event_dates("في مثل هذا اليوم من عام 2020 قصفت الصواريخ القاعدة", WED) == ()
    # "this morning, Tuesday" in a piece stamped late Monday UTC is the weekday's day
    late = datetime(2024, 8, 5, 22, 0, tzinfo=UTC)
    assert event_dates("انفجرت عبوة صباح اليوم الثلاثاء", late) == (date(2024, 8, 6),)


def test_a_wire_dateline_is_the_day_of_filing() -> None:
    text = ("BAGHDAD, May 27 (Reuters) - A roadside bomb struck a convoy in Babil province on "
            "May 26, Iraqi security officials said on Thursday.")
    published = datetime(2021, 5, 27, 8, 15, tzinfo=UTC)
    assert event_dates(text, published) == (date(2021, 5, 26), date(2021, 5, 27))
    assert [m.text for m in date_mentions(text, published)] == ["May 26", "Thursday"]
    assert primary_event_date(text, published) == date(2021, 5, 26)
    # two cities, as Reuters writes a story filed from both
    text = ("WASHINGTON/BAGHDAD, Feb 26 (Reuters) - The United States carried out air strikes in "
            "Syria on Thursday against facilities belonging to Iran-backed militia.")
    assert event_dates(text, datetime(2021, 2, 26, 8, 0, tzinfo=UTC)) == (date(2021, 2, 25),)
    # in Arabic: the dateline's day is the filing's, the lede's the event's
    text = ("بغداد - 27 أيار: انفجرت عبوة ناسفة على رتل للتحالف في محافظة بابل يوم 26 أيار، "
            "بحسب مصدر أمني.")
    assert primary_event_date(text, published) == date(2021, 5, 26)
    # a date after a city in running text is not a dateline
    text = "Rockets hit BAGHDAD, May 27 - the second attack in a week."
    assert event_dates(text, published) == (date(2021, 5, 27),)


def test_monday_in_a_monday_piece_is_that_day() -> None:
    assert event_dates("Rockets hit the base on Monday.", MON) == (date(2024, 8, 5),)
    assert event_dates("Rockets hit the base last Monday.", MON) == (date(2024, 7, 29),)


def test_next_monday_is_no_event_date() -> None:
    assert event_dates("Talks resume next Monday; the coming Friday is a holiday.", WED) == ()


@pytest.mark.parametrize("text", [
    "Kataib Hezbollah told Iraqi forces to keep away from US bases starting Sunday at 5 pm.",
    "The embassy stays closed until Monday.",
    "حذرت الكتائب القوات العراقية من البقاء قرب القواعد اعتباراً من مساء الأحد.",
    "ودعت إلى الابتعاد عن القواعد ابتداءً من يوم الأحد.",
])
def test_a_deadline_s_weekday_is_no_event_date(text: str) -> None:
    """A threat's deadline ("from Sunday evening") is not the past Sunday."""
    assert event_dates(text, WED) == ()


def test_the_weekday_of_an_event_beside_a_deadline_stays() -> None:
    assert event_dates("Rockets hit the base on Sunday, until then a quiet post.", WED) == (
        date(2024, 8, 4),)
    assert event_dates("هاجمت مسيرة القاعدة مساء الأحد.", WED) == (date(2024, 8, 4),)


def test_late_utc_stamp_takes_the_regions_day() -> None:
    # 22:00 UTC on Monday is already Tuesday in Baghdad
    late = datetime(2024, 8, 5, 22, 0, tzinfo=UTC)
    assert event_dates("Drones targeted the base on Tuesday.", late) == (date(2024, 8, 6),)
    local = datetime(2024, 8, 5, 22, 0, tzinfo=timezone(timedelta(hours=3)))
    assert event_dates("Drones targeted the base on Tuesday.", local) == (date(2024, 7, 30),)


def test_spans_are_mentions_but_not_event_dates() -> None:
    mentions = date_mentions("Militias attacked US forces five times this week.", WED)
    assert [(m.first, m.last, m.day) for m in mentions] == [
        (date(2024, 8, 5), date(2024, 8, 7), None)]
    assert event_dates("Militias attacked US forces five times this week.", WED) == ()


def test_order_of_appearance_each_day_once() -> None:
    text = "On Monday rockets hit Ain al-Asad. On 30 July a US strike. Monday's attack wounded."
    assert event_dates(text, WED) == (date(2024, 8, 5), date(2024, 7, 30))


# ---------------------------------------------------------------- the primary day

def test_primary_prefers_the_day_next_to_the_attack() -> None:
    text = ("The prime minister condemned the attack in a statement on Tuesday. "
            "Two rockets struck Ain al-Asad air base late on Sunday, officials said.")
    assert primary_event_date(text, WED) == date(2024, 8, 4)


def test_primary_follows_the_anchors() -> None:
    text = "A drone hit Harir on Monday. Rockets hit Ain al-Asad on Tuesday."
    start = text.index("Ain al-Asad")
    assert primary_event_date(text, WED, [(start, start + 11)]) == date(2024, 8, 6)


def test_primary_reads_sentences_as_the_matcher_does() -> None:
    # "a.m.", "Fla." and "U.S." end no sentence: the strikes are in the sentence of Jan. 23
    text = ("U.S. Forces Conduct Strikes on Kata'ib Hizballah Facilities in Iraq\n"
            "TAMPA, Fla. - At approximately 12:15 a.m. (Baghdad time) on Jan. 23, U.S. Central "
            "Command forces conducted necessary and proportionate strikes on three facilities.\n"
            "These precision strikes are in response to the series of escalatory attacks, "
            "including the ballistic missile attack on Al-Asad Airbase on Jan. 20.")
    published = datetime(2024, 1, 22, 23, 50, tzinfo=UTC)
    assert primary_event_date(text, published) == date(2024, 1, 23)


def test_primary_ignores_old_background_dates() -> None:
    text = "Ain al-Asad was struck by Iranian missiles on January 8, 2020, and again on Monday."
    assert primary_event_date(text, WED) == date(2024, 8, 5)
    assert primary_event_date("No date is given here.", WED) is None


def test_primary_passes_over_the_day_of_the_telling() -> None:
    text = "The Pentagon said on Tuesday that rockets hit Ain al-Asad air base on Sunday."
    assert primary_event_date(text, WED) == date(2024, 8, 4)
    text = "US officials said Monday's rocket attack on Ain al-Asad wounded five."
    assert primary_event_date(text, WED) == date(2024, 8, 5)  # "Monday's attack": no telling
    text = ("The Pentagon on Friday identified the two U.S. service members killed in "
            "Wednesday's rocket attack on Camp Taji.")
    assert primary_event_date(text, datetime(2020, 3, 13, 21, 0, tzinfo=UTC)) == date(2020, 3, 11)
    text = "The group on Tuesday said it would respond."
    assert primary_event_date(text, WED) is None  # only a telling, no event day
    text = "More than 60 attacks since October 17; the latest hit Ain al-Asad on Monday."
    assert primary_event_date(text, datetime(2023, 11, 8, tzinfo=UTC)) == date(2023, 11, 6)


def test_primary_prefers_the_day_the_lede_tells() -> None:
    # Taji hit again on Saturday (a blind story set): the background names Wednesday, the first
    # attack, twice beside attack words; the lede names Saturday once
    title = "Coalition troops wounded in second rocket barrage on Camp Taji this week"
    body = (
        "Three coalition service members and two Iraqi troops were wounded Saturday when "
        "rockets again struck Camp Taji, Iraq, the U.S.-led coalition said.\n"
        "Iraqi Security Forces discovered the rocket launchers used in the attack, Operation "
        "Inherent Resolve spokesman Col. Myles B. Caggins III said on Twitter, adding that "
        "the coalition was assessing damage.\n"
        "The attack came days after a similar barrage on Wednesday killed Army Spc. Juan "
        "Miguel Mendez Covarrubias, Air National Guard Staff Sgt. Marshal D. Roberts and "
        "British Army Lance Cpl. Brodie Gillon.\n"
        "The U.S. launched strikes late Thursday against five weapons storage facilities tied"
        " to Kataib Hezbollah, which Pentagon officials blamed for the Wednesday attack.\n"
        "The nationalities of the wounded were not released, and no group immediately claimed"
        " the latest attack."
    )
    text = f"{title}\n{body}"
    published = datetime(2020, 3, 14, 17, 30, tzinfo=UTC)
    first, second = text.index("Camp Taji"), text.index("Camp Taji", len(title))
    anchors = [(first, first + 9), (second, second + 9)]  # the matcher's evidence
    lede_end = len(title) + 1 + body.index("\n")
    assert primary_event_date(text, published, anchors) == date(2020, 3, 11)
    assert primary_event_date(text, published, anchors, lede_end) == date(2020, 3, 14)
    # a day of the telling in the lede gains nothing ("US officials said on Friday")
    told = ("Militias attacked US forces five times, officials said on Friday. Drones hit Harir "
            "on Monday.")
    assert primary_event_date(told, published, lead=len(told)) == date(2020, 3, 9)


STRIKE_PUBLISHED = datetime(2024, 11, 13, 15, 50, tzinfo=UTC)  # a Wednesday


@pytest.mark.parametrize("text", [
    "The strikes follow the Nov. 12 rocket attack on Patrol Base Shaddadi.",
    "The strikes answer Tuesday's attack on Patrol Base Shaddadi.",
    "The strikes came in retaliation for a rocket attack on Tuesday on Patrol Base Shaddadi.",
    "The strikes respond to a rocket attack on U.S. personnel at Patrol Base Shaddadi on "
    "November 12.",
])
def test_a_strike_report_does_not_take_the_day_of_the_attack_it_answers(text: str) -> None:
    assert primary_event_date(text, STRIKE_PUBLISHED) == date(2024, 11, 12)  # an attack report
    assert primary_event_date(text, STRIKE_PUBLISHED, strike=True) is None


def test_a_strike_report_keeps_its_own_day_beside_the_attacks() -> None:
    text = ("Washington said it carried out the strikes late on Wednesday in retaliation for a "
            "rocket attack on Tuesday on Patrol Base Shaddadi.")
    assert primary_event_date(text, STRIKE_PUBLISHED, strike=True) == date(2024, 11, 13)
    # another sentence: "on Tuesday" there is the day of the strikes, not of the attack
    text = ("Militants fired rockets in an attack on Patrol Base Shaddadi. US forces responded "
            "on Tuesday with strikes on the launch site.")
    assert primary_event_date(text, STRIKE_PUBLISHED, strike=True) == date(2024, 11, 12)
