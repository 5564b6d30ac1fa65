"""One group's warning told by several outlets the same day is one story, whatever their words;
the same group's warning a week later is another."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.model import Article
from tests.test_dedup_stories import Pipeline, article

SAT = datetime(2020, 1, 4, 18, 0, tzinfo=UTC)  # Saturday 4 January 2020


def statement() -> Article:
    return article("kh-ar", "بيان كتائب حزب الله: تحذير للقوات الأمنية العراقية",
                   "حذرت كتائب حزب الله القوات الأمنية العراقية من البقاء قرب القواعد الأمريكية، "
                   "وقالت إن على الجميع الابتعاد عن القواعد الأمريكية.",
                   SAT, "Al Sumaria")


def wire(at: datetime = SAT + timedelta(hours=3)) -> Article:
    return article("kh-en", "Iraqi militia tells Iraqi troops to stay away from U.S. bases",
                   "Kataib Hezbollah warned Iraqi security forces to stay away from bases "
                   "hosting American troops, in a statement posted on Telegram.", at, "Reuters")


def test_one_group_s_warning_told_twice_the_same_day_is_one_story() -> None:
    p = Pipeline().feed([statement(), wire()])
    assert len(p.grouping()) == 1, p.decisions["kh-en"].reason
    assert "both threats by the group" in p.decisions["kh-en"].reason


def test_the_same_group_s_warning_a_week_later_is_another_story() -> None:
    p = Pipeline().feed([statement(), wire(SAT + timedelta(days=7))])
    assert len(p.grouping()) == 2
    assert "both threats by the group" not in p.decisions["kh-en"].reason
