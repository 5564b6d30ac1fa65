"""A base and the place it lies in: a first report that names only the place ("a base hosting US
forces in Anbar", "northeast Jordan") and a later one naming the base are one story when
told within a day, whatever their words; a base elsewhere is not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
    assert found["Tower 22 (Jordan)"] == "Jordan–Syria border"
    assert found["Deir ez-Zor"] == found["deir-ez-zor"] == "Syria"
    assert found["Jordan–Syria border"] == "Jordan"
    assert "Syria" not in found and "Muwaffaq Salti Air Base (Jordan)" not in found


def test_arabic_words_are_compared_without_their_proclitics_and_function_words() -> None:
    """بالقاعدة, والقاعدة and القاعدة are one word; في, من, على are none."""
    from monitor.dedup.facts import similarity, tokens

    a = tokens("سقوط صواريخ بالقاعدة في الأنبار")
    b = tokens("وسقطت الصواريخ على القاعدة والأنبار")
    assert {"قاعده", "انبار"} <= a & b
    assert not {"في", "على"} & (a | b)
    assert similarity(a, b) >= 0.5
    assert tokens("Rockets hit the bases") == {"rocket", "hit"}  # Latin words as before
