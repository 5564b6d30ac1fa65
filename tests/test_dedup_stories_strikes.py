"""US strike reports: one operation told by outlets that name its target each their own way joins
one story; operations in different provinces on consecutive days stay apart; a strike report's
day is its own, not that of the attack it answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.dedup.facts import lies_in, tells_strikes
from monitor.dedup.stories import entity_regions
from monitor.model import Article
from tests.test_dedup_stories import Pipeline, article, rules

MON = datetime(2024, 11, 11, 17, 0, tzinfo=UTC)  # Monday 11 November 2024


def pentagon() -> Article:
    return article("syria-dod", "US strikes Iran-backed militias in Syria",
                   "U.S. military forces struck nine targets used by Iran-backed militias in "
                   "Syria on Monday, the Pentagon said.", MON + timedelta(hours=5), "DoD")


def monitor_group() -> Article:
    return article("syria-sohr", "War monitor: US warplanes pound Fatemiyoun positions",
                   "American warplanes pounded positions of the Fatemiyoun Brigade in Syria on "
                   "Monday night, killing at least six fighters, a Britain-based war monitor "
                   "reported.", MON + timedelta(hours=9), "SOHR")


def test_one_operation_named_two_ways_is_one_story() -> None:
    p = Pipeline().feed([pentagon(), monitor_group()])
    assert len(p.grouping()) == 1
    assert "both US strikes" in p.decisions["syria-sohr"].reason


def abu_ghraib() -> Article:
    return article("kh-tue", "US gunship strikes Kataib Hezbollah vehicle west of Baghdad",
                   "A US AC-130 gunship struck a vehicle of Kataib Hezbollah fighters near Abu "
                   "Ghraib in Baghdad province on Tuesday, officials said.",
                   MON + timedelta(days=1, hours=4), "AP")


def jurf() -> Article:
    return article("kh-wed", "US strikes Kataib Hezbollah sites in Babil",
                   "US airstrikes hit two Kataib Hezbollah facilities in Jurf al-Sakhar in Babil "
                   "province on Wednesday, the Pentagon said.", MON + timedelta(days=2, hours=4),
                   "Reuters")


def test_strikes_in_two_provinces_on_consecutive_days_stay_apart() -> None:
    p = Pipeline().feed([abu_ghraib(), jurf()])
    assert len(p.grouping()) == 2
    assert "US strikes in other places (Babil province / Baghdad) on another day" in (
        p.decisions["kh-wed"].reason)


def statement_retelling_the_attack() -> Article:
    return article("shaddadi-centcom", "CENTCOM strikes Iran-backed militias in Syria",
                   "U.S. military forces struck a weapons depot used by Iran-backed militias in "
                   "Syria. The strikes respond to a rocket attack on U.S. personnel at Patrol Base "
                   "Shaddadi on November 12.", MON + timedelta(days=2, hours=15), "CENTCOM")


def test_a_strike_two_days_on_is_not_joined_on_the_day_of_the_attack_it_answers() -> None:
    p = Pipeline().feed([pentagon(), statement_retelling_the_attack()])
    assert len(p.grouping()) == 2
    decision = p.decisions["shaddadi-centcom"]
    assert decision.event_date != MON.date() + timedelta(days=1), decision.reason


def mayadin() -> Article:
    return article("syria-local", "US warplanes hit militia positions near al-Mayadin",
                   "US warplanes struck positions of Iranian-backed militias near al-Mayadin in "
                   "Deir ez-Zor countryside on Monday night, local sources said.",
                   MON + timedelta(hours=8), "Deir ez-Zor 24")


def test_a_province_stands_for_its_country_in_a_strike_report() -> None:
    """The Pentagon names only Syria, the local outlet only the province: one operation."""
    p = Pipeline().feed([pentagon(), mayadin()])
    assert len(p.grouping()) == 1, p.decisions["syria-local"].reason
    assert "same place (Syria)" in p.decisions["syria-local"].reason


def test_countries_are_those_of_places_smaller_than_a_country() -> None:
    found = entity_regions(rules().entities)
    assert "Syria" in lies_in("Deir ez-Zor", found) and "Iraq" in lies_in("Anbar province", found)
    assert "Syria" not in found


def test_an_attack_report_gains_no_country() -> None:
    """Attacks in two provinces on one day are two events: a shared country must not join them."""
    decision = Pipeline().add(article(
        "hasakah", "Drone attack on coalition base in Hasakah",
        "A drone attacked a US-led coalition base in Hasakah countryside on Monday, wounding "
        "two US soldiers.", MON, "North Press"))
    assert "Syria" not in decision.entities


WED = datetime(2020, 3, 11, 19, 0, tzinfo=UTC)  # Wednesday 11 March 2020, Camp Taji


def taji(key: str, at: datetime, title: str) -> Article:
    return article(key, title, f"Around 30 rockets struck Camp Taji north of Baghdad on "
                   f"{at:%A}, wounding several coalition service members.", at, "Reuters")


def army_statement() -> Article:
    """The Iraqi army's statement on the US strikes: its headline tells them, its last sentence
    the attack they answer (which is what the rules read)."""
    return article("joc", "Iraqi army says US strikes killed soldiers, police and a civilian",
                   "The Joint Operations Command said on Friday that US airstrikes at dawn hit "
                   "army, police and PMF positions in Jurf al-Sakhar and at Karbala's airport, "
                   "killing three soldiers, two policemen and a civilian worker. It called the "
                   "strikes an aggression. The US side justified them as a response to the rocket "
                   "attack on Camp Taji that wounded coalition troops.",
                   WED + timedelta(days=1, hours=13), "INA")


def test_a_report_headlined_on_us_strikes_tells_the_strikes_not_the_attack_it_answers() -> None:
    """The army's statement names Camp Taji only as the attack the strikes answered: it takes no
    base from it, so the second attack on Taji, on Saturday, is not joined to it."""
    p = Pipeline().feed([taji("first", WED, "Rockets hit Iraq's Taji base hosting US troops"),
                         army_statement(),
                         taji("second", WED + timedelta(days=3),
                              "Rockets strike Camp Taji base housing coalition troops")])
    assert "strike" in p.decisions["joc"].reason.split(";")[0], p.decisions["joc"].reason
    assert "Camp Taji" not in p.decisions["joc"].reason.split(";")[0]
    groups = p.grouping()
    assert not any({"joc", "second"} <= g for g in groups), groups
    assert not any({"first", "second"} <= g for g in groups), groups


def test_the_strikes_a_statement_told_with_no_strike_rule_are_joined_by_the_wire_report() -> None:
    """The statement's story is one of US strikes though no strike rule read it (its headline
    told them): the Pentagon's account of the same strikes, the same day, joins it."""
    wire = article("wire", "US strikes Kataib Hezbollah weapons sites in Iraq",
                   "US aircraft struck five Kataib Hezbollah weapons storage facilities in Iraq "
                   "early on Friday, including sites at Jurf al-Sakhar, the Pentagon said.",
                   WED + timedelta(days=1, hours=15), "Reuters")
    p = Pipeline().feed([army_statement(), wire])
    assert p.grouping() == {frozenset({"joc", "wire"})}, p.decisions["wire"].reason
    assert "both US strikes" in p.decisions["wire"].reason


@pytest.mark.parametrize(("title", "strikes"), [
    ("Iraqi army says US strikes killed soldiers, police and a civilian", True),
    ("العمليات المشتركة: القصف الأمريكي أودى بحياة عسكريين ومدني", True),
    ("Iraq militia death toll from U.S. air strikes rises to 25", True),
    ("US drone strike kills Kataib Hezbollah commander in Baghdad", True),
    ("U.S. forces in Syria come under rocket attack, day after U.S. strikes on militias", False),
    ("غارات أمريكية على القائم بعد قصف قاعدة عين الأسد", False),
    ("Rockets hit Iraq's Taji base hosting US troops", False),
])
def test_a_headline_tells_us_strikes_and_no_attack(title: str, strikes: bool) -> None:
    assert tells_strikes(title) is strikes
