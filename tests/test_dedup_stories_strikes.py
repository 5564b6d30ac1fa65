"""US strike reports: one operation told by outlets that name its target each their own way joins
one story; operations in different provinces on consecutive days stay apart; a strike report's
day is its own, not that of the attack it answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.model import Article
from tests.test_dedup_stories import Pipeline, article

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
