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
