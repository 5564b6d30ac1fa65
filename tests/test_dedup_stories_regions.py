"""A base and the place it lies in: a first report that names only the place ("a base hosting US
forces in Anbar", "western Iraq", "northeast Jordan") and a later one naming the base are one
story when told within a day, whatever their words; a base elsewhere is not. A province and the
part of the country that holds it ("southern Iraq" and Diwaniyah) are one place, unless the
story names another province there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.dedup.facts import lies_in
from monitor.dedup.stories import entity_regions
from monitor.model import Article
from tests.test_dedup_stories import Pipeline, article, rules

SAT = datetime(2024, 1, 20, 15, 50, tzinfo=UTC)  # Saturday 20 January 2024


def flash() -> Article:
    return article("flash", "انفجارات تهز قاعدة عسكرية تضم قوات أمريكية في الأنبار",
                   "أفاد مصدر أمني مساء اليوم السبت بسماع دوي انفجارات داخل قاعدة عسكرية تضم "
                   "قوات أمريكية في محافظة الأنبار إثر سقوط صواريخ.", SAT, "Baghdad Today")


def claim() -> Article:
    return article("claim", "المقاومة الإسلامية في العراق: استهدفنا قاعدة عين الأسد",
                   "استهدف مجاهدو المقاومة الإسلامية في العراق مساء اليوم السبت قاعدة الاحتلال "
                   "الأمريكي في عين الأسد برشقة من الصواريخ البالستية.",
                   SAT + timedelta(minutes=45), "IRI Telegram")


def test_a_base_named_later_joins_the_report_of_its_province() -> None:
    p = Pipeline().feed([flash(), claim()])
    assert len(p.grouping()) == 1, p.decisions["claim"].reason
    assert "base in a place named (Ain al-Asad Air Base)" in p.decisions["claim"].reason


def harir() -> Article:
    return article("harir", "صواريخ تستهدف قاعدة حرير الجوية في أربيل",
                   "استهدفت صواريخ مساء اليوم السبت قاعدة حرير التي تضم قوات أمريكية في محافظة "
                   "أربيل.", SAT + timedelta(minutes=30), "Rudaw")


def test_a_base_in_another_province_the_same_evening_opens_its_own_story() -> None:
    p = Pipeline().feed([flash(), harir()])
    assert len(p.grouping()) == 2
    assert "base in a place named" not in p.decisions["harir"].reason


def test_regions_are_a_base_s_place_and_a_place_s_country() -> None:
    found = entity_regions(rules().entities)
    assert found["Ain al-Asad Air Base"] == found["ain-al-asad"] == "Anbar province"
    assert found["Anbar province"] == "Western Iraq" and found["Western Iraq"] == "Iraq"
    assert found["Tower 22 (Jordan)"] == "Jordan–Syria border"
    assert found["Deir ez-Zor"] == found["deir-ez-zor"] == "Eastern and northeastern Syria"
    assert found["Jordan–Syria border"] == "Jordan"
    assert "Syria" not in found and "Muwaffaq Salti Air Base (Jordan)" not in found


def test_a_base_lies_in_its_province_the_part_of_the_country_and_the_country() -> None:
    found = entity_regions(rules().entities)
    assert lies_in("Harir Air Base", found) == {
        "Erbil", "Kurdistan Region of Iraq", "Northern Iraq", "Iraq"}
    assert lies_in("Iraq", found) == frozenset()


def western_flash() -> Article:
    return article("west", "Explosions at a base hosting US forces in western Iraq",
                   "Several explosions were heard on Saturday evening inside a military base "
                   "hosting US forces in western Iraq, a security source said, without giving "
                   "details of casualties.", SAT, "Al Sumaria")


def english_claim() -> Article:
    return article("drones", "Drones target Ain al-Asad base",
                   "Two drones targeted Ain al-Asad air base on Saturday evening, a US official "
                   "said. One was shot down. No one claimed responsibility.",
                   SAT + timedelta(hours=2), "Reuters")


def test_a_base_joins_the_report_of_the_part_of_the_country_it_lies_in() -> None:
    """"Western Iraq" holds Anbar, which holds Ain al-Asad: different words, one event."""
    p = Pipeline().feed([western_flash(), english_claim()])
    assert len(p.grouping()) == 1, p.decisions["drones"].reason
    assert "base in a place named (Ain al-Asad Air Base)" in p.decisions["drones"].reason


def test_a_report_of_kurdistan_joins_harir_through_erbil() -> None:
    flash = article("krg", "Drone attack reported on base in Iraq's Kurdistan region",
                    "A drone attacked a base hosting US-led coalition forces in the Kurdistan "
                    "Region on Saturday evening, a Kurdish security official said.",
                    SAT, "Rudaw")
    p = Pipeline().feed([flash, harir()])
    assert len(p.grouping()) == 1, p.decisions["harir"].reason


def test_a_base_outside_the_province_a_story_names_is_not_held_by_its_region() -> None:
    """"A base in Hasakah, north-east Syria" and a base of Deir ez-Zor the next day: the region
    holds both, but the first report's province is not the second base's."""
    hasakah = article("hasakah", "Drone kills US contractor at base in northeast Syria",
                      "A drone struck a coalition base in Hasakah, northeast Syria, on Thursday, "
                      "killing a US contractor and wounding five US troops.",
                      datetime(2023, 3, 23, 21, tzinfo=UTC), "AP")
    green = article("green", "Rockets fired at US base in eastern Syria",
                    "Rockets were fired at the US base at the al-Omar oil field in eastern Syria "
                    "on Friday morning, causing no casualties, the coalition said.",
                    datetime(2023, 3, 24, 9, tzinfo=UTC), "Reuters")
    p = Pipeline().feed([hasakah, green])
    assert len(p.grouping()) == 2
    assert "base in a place named" not in p.decisions["green"].reason


NOV = datetime(2020, 11, 17, 10, tzinfo=UTC)


def convoy(key: str, title: str, text: str, hours: int) -> Article:
    return article(key, title, text, NOV + timedelta(hours=hours), "AFP")


def test_a_report_of_the_south_joins_the_lone_convoy_of_a_southern_province() -> None:
    p = Pipeline().feed([
        convoy("diwaniyah", "IED hits coalition supply convoy in Diwaniyah",
               "A roadside bomb hit a convoy carrying supplies for the US-led coalition in "
               "Diwaniyah on Tuesday, a security source said.", 0),
        convoy("south", "Roadside bomb targets coalition convoy in southern Iraq",
               "A roadside bomb targeted a convoy of trucks carrying equipment for the US-led "
               "coalition in southern Iraq on Tuesday, officials said.", 2)])
    assert len(p.grouping()) == 1, p.decisions["south"].reason
    assert "same place (Diwaniyah (Qadisiyah province))" in p.decisions["south"].reason


def test_a_story_of_one_southern_province_does_not_take_a_convoy_in_another() -> None:
    """The first story names Nasiriyah and "southern Iraq"; Diwaniyah's convoy lies in the
    south too, but not in Nasiriyah: two convoys, two stories."""
    p = Pipeline().feed([
        convoy("nasiriyah", "Roadside bomb hits coalition convoy in southern Iraq",
               "A roadside bomb hit a convoy carrying supplies for the US-led coalition near "
               "Nasiriyah in southern Iraq on Tuesday, a security source said.", 0),
        convoy("diwaniyah", "IED hits coalition supply convoy in Diwaniyah",
               "A roadside bomb hit a convoy carrying supplies for the US-led coalition in "
               "Diwaniyah on Tuesday, a security source said.", 2)])
    assert len(p.grouping()) == 2, p.decisions["diwaniyah"].reason


def test_arabic_words_are_compared_without_their_proclitics_and_function_words() -> None:
    """بالقاعدة, والقاعدة and القاعدة are one word; في, من, على are none."""
    from monitor.dedup.facts import similarity, tokens

    a = tokens("سقوط صواريخ بالقاعدة في الأنبار")
    b = tokens("وسقطت الصواريخ على القاعدة والأنبار")
    assert {"قاعده", "انبار"} <= a & b
    assert not {"في", "على"} & (a | b)
    assert similarity(a, b) >= 0.5
    assert tokens("Rockets hit the bases") == {"rocket", "hit"}  # Latin words as before


def rmeilan_flash() -> Article:
    return article("rmeilan", "Drone strikes coalition base in Hasakah countryside",
                   "A drone struck a base of the US-led coalition in the countryside of "
                   "Hasakah on Thursday afternoon, a military source told North Press. The number "
                   "of casualties was not immediately known.",
                   datetime(2023, 3, 23, 14, 5, tzinfo=UTC), "North Press")


def pentagon_toll(title: str = "US contractor killed, five troops wounded in Syria drone attack",
                  ) -> Article:
    return article("dod", title,
                   "A one-way attack drone struck a maintenance facility on a coalition base near "
                   "Hasakah at about 1:38 p.m. local time on Thursday, killing a US contractor and "
                   "wounding five service members, the Pentagon said.",
                   datetime(2023, 3, 23, 22, 10, tzinfo=UTC), "DoD")


def test_the_same_province_and_day_join_in_other_words() -> None:
    """One province, one day, one kind of event, and nothing told as a repeat: the flash and
    the Pentagon's account share a place and a day, not their words."""
    p = Pipeline().feed([rmeilan_flash(), pentagon_toll()])
    assert len(p.grouping()) == 1, p.decisions["dod"].reason


def test_an_attack_told_as_a_repeat_the_same_day_opens_its_own_story() -> None:
    p = Pipeline().feed([rmeilan_flash(),
                         pentagon_toll("Coalition base in Hasakah hit again by a drone")])
    assert len(p.grouping()) == 2
