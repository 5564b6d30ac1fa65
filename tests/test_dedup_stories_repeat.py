"""A report that tells a repeat ("a day after", للمرة الثانية) is another event than the story of
the day before, at the same base; without the words, a day apart is the same event."""

from __future__ import annotations

from datetime import timedelta

from monitor.model import Article
from tests.test_dedup_stories import WED, Pipeline, article

THU = WED + timedelta(days=1)


def rockets_next_day(title: str) -> Article:
    return article("aa-rudaw", title,
                   "Rockets struck Ain al-Asad airbase in western Iraq on Thursday, a security "
                   "source said, causing no casualties.", THU + timedelta(hours=6), "Rudaw")


def wednesday() -> Article:
    return article("aa-wed", "Drones target Ain al-Asad air base",
                   "Drones targeted Ain al-Asad air base on Wednesday, officials said.",
                   WED + timedelta(hours=2), "AFP")


def test_the_second_attack_in_as_many_days_opens_its_own_story() -> None:
    for title in ("Ain al-Asad targeted by rockets a day after drone attack",
                  "Rockets hit Ain al-Asad again",
                  "للمرة الثانية.. صواريخ تستهدف قاعدة عين الأسد"):
        p = Pipeline().feed([wednesday(), rockets_next_day(title)])
        assert len(p.grouping()) == 2, title
        assert "told as another attack" in p.decisions["aa-rudaw"].reason


def test_a_day_apart_without_the_words_is_the_same_event() -> None:
    p = Pipeline().feed([wednesday(),
                         rockets_next_day("Rockets and drones hit Ain al-Asad air base")])
    assert len(p.grouping()) == 1


def test_a_day_after_the_attack_looks_back_on_the_attack_told() -> None:
    """"…officials said on Thursday, a day after the attack": the report's own attack, not a
    repeat (بعد يوم من الهجوم likewise); "a day after drone attack" still tells one."""
    from monitor.dedup.facts import REPEAT

    assert not REPEAT.search("US troops suffered brain injuries, officials said on Thursday, "
                             "a day after the attack on Ain al-Asad")
    assert not REPEAT.search("أعلن البنتاغون بعد يوم من الهجوم إصابة جنود")
    assert REPEAT.search("Ain al-Asad targeted by rockets a day after drone attack")
    assert REPEAT.search("بعد يوم من هجوم استهدف قاعدة عين الأسد")
    p = Pipeline().feed([wednesday(), article(
        "aa-thu", "US troops suffer brain injuries in Ain al-Asad drone attack",
        "Several US troops suffered traumatic brain injuries when drones struck Ain al-Asad air "
        "base, officials said on Thursday, a day after the attack.",
        THU + timedelta(hours=3), "Reuters")])
    assert len(p.grouping()) == 1, p.decisions["aa-thu"].reason
