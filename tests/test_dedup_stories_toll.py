"""The same count of US dead, within a day: two reports of one deadly attack that share no place
name and few words ("3 US troops killed … in Jordan near Syrian border" / "Three U.S. service
members killed … in northeast Jordan") are one story; the toll is read in English and Arabic, and
never from the wounded or from other countries' soldiers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.dedup.toll import us_dead
from monitor.model import Article
from tests.test_dedup_stories import Pipeline, article

SUN = datetime(2024, 1, 28, 14, 0, tzinfo=UTC)  # Sunday 28 January 2024, Tower 22


@pytest.mark.parametrize(("text", "dead"), [
    ("3 US troops killed, dozens hurt in drone attack in Jordan", 3),
    ("Three U.S. service members killed in one-way UAS attack", 3),
    ("A drone attack kills three American soldiers at a base in Jordan", 3),
    ("Three US soldiers were killed and 34 wounded", 3),
    ("The barrage killed at least two US troops", 2),
    ("Two US soldiers and a British soldier killed at Camp Taji", 2),
    ("مقتل ثلاثة جنود أمريكيين بهجوم بطائرة مسيرة", 3),
    ("مقتل 3 جنود أمريكيين في الأردن", 3),
    ("مقتل جنديين أمريكيين وجندي بريطاني", 2),
    ("مقتل جندي أمريكي بهجوم صاروخي", 1),
    ("U.S. contractor killed, five troops hurt in drone attack in Syria", 1),
    ("A US soldier died of wounds after the rocket attack", 1),
    ("مقتل متعاقد أمريكي وإصابة 5 عسكريين بهجوم مسيرة", 1),
    ("The US soldier killed last year was honored on Friday", None),
    ("A US soldier who survived the attack that killed three Iraqis spoke", None),
    ("ISIS attack kills two Iraqi soldiers", None),
    ("Three US service members were wounded in the attack, which killed no one", None),
    ("Rockets hit Ain al-Asad; no casualties were reported", None),
    ("إصابة ثلاثة جنود أمريكيين بجروح طفيفة", None),
])
def test_the_toll_of_us_dead(text: str, dead: int | None) -> None:
    assert us_dead(text) == dead


def flash() -> Article:
    return article("flash", "3 US troops killed, dozens hurt in drone attack in Jordan near Syrian "
                   "border", "A drone struck a small outpost before dawn on Sunday, officials "
                   "said, in the first deadly attack of its kind in months.", SUN, "AP")


def centcom() -> Article:
    return article("centcom", "Three U.S. service members killed in one-way UAS attack",
                   "On Jan. 28, three U.S. Service members were killed and 25 injured during a "
                   "one-way unmanned aerial system attack on a base in northeast Jordan.",
                   SUN + timedelta(hours=2), "CENTCOM")


def test_reports_giving_the_same_toll_the_same_day_are_one_story() -> None:
    p = Pipeline().feed([flash(), centcom()])
    assert len(p.grouping()) == 1, p.decisions["centcom"].reason
    assert "same toll (3 dead)" in p.decisions["centcom"].reason


def test_another_toll_or_another_week_stays_apart() -> None:
    taji = article("taji", "Two US soldiers killed in rocket attack on Iraq base",
                   "Rockets struck a base north of Baghdad late on Sunday, killing two US "
                   "soldiers, officials said.", SUN + timedelta(hours=3), "Reuters")
    later = article("later", "Three US service members killed in drone attack on Syria base",
                    "A drone struck a base in eastern Syria on Sunday, killing three US service "
                    "members, officials said.", SUN + timedelta(days=7), "AFP")
    p = Pipeline().feed([flash(), taji, later])
    assert len(p.grouping()) == 3
    assert "same toll" not in p.decisions["taji"].reason + p.decisions["later"].reason


def test_a_report_told_as_a_repeat_does_not_join_on_the_toll_it_retells() -> None:
    """"…hit again hours after deadly drone strike": the contractor killed is the earlier
    attack's, so the toll it gives is no sign of one event."""
    thu = datetime(2023, 3, 23, 14, 0, tzinfo=UTC)
    first = article("drone", "US contractor killed in drone attack on base in Syria",
                    "A drone attack on a coalition base in Syria killed a US contractor on "
                    "Thursday, the Pentagon said.", thu, "AP")
    rockets = article("rockets", "Rockets target US troops in Syria again",
                      "Rockets landed near US troops in Syria late on Thursday without causing "
                      "injuries, hours after a strike that killed one US contractor.",
                      thu + timedelta(hours=8), "Reuters")
    p = Pipeline().feed([first, rockets])
    assert len(p.grouping()) == 2, p.decisions["rockets"].reason
    assert "same toll" not in p.decisions["rockets"].reason
