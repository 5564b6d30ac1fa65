"""US strike reports: one operation told by outlets that name its target each their own way joins
one story; operations in different provinces on consecutive days stay apart; a strike report's
day is its own, not that of the attack it answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.dedup.facts import lies_in
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
